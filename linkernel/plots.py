"""Every figure of linkernel, matplotlib only (Agg backend: no display needed).

Each function takes results (dataclasses of the package) and a path, writes a
PNG and returns the path; each draws in the package's figure style
(:func:`linkernel.figures.style.figure_style`: two-column-paper sizes, 8 pt text, 7 pt legends, mathtext).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from linkernel.figures.style import COLUMN, TEXTWIDTH, styled  # noqa: E402  (the package's one figure style)
from linkernel.problem import time_slice  # noqa: E402
from linkernel.display import segments  # noqa: E402  (one home of the stable/unstable split)


def save(fig, path):
    """Write ``fig`` to ``path`` (PNG, 150 dpi) and close it."""
    fig.savefig(path, dpi=200, bbox_inches="tight")
    plt.close(fig)
    return path


# --- continuation: traces and landscape (Fig. 4) -----------------------------------
def _last_diagonal(branch, T, P):
    """Pattern-averaged H^{T-1,T-1} along a branch."""
    return branch.diagonal()[:, time_slice(T - 1, P)].mean(axis=1)


def _smooth(x, y, per: int = 8):
    """A cubic spline through the points (x, y) in their cumulative chord length, ``per`` points per
    interval: the branches are exact at the points and smooth between (not a polyline)."""
    import numpy as np
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 4:
        return x, y
    from scipy.interpolate import CubicSpline
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x) / (np.ptp(x) or 1.0), np.diff(y) / (np.ptp(y) or 1.0)))])
    keep = np.concatenate([[True], np.diff(s) > 0])
    s, x, y = s[keep], x[keep], y[keep]
    if len(s) < 4:
        return x, y
    fine = np.linspace(0.0, s[-1], per * len(s))
    return CubicSpline(s, x)(fine), CubicSpline(s, y)(fine)


def _draw_traces(ax, traces, colours, quantity):
    """Branches and special points of ``traces`` on ``ax``: quantity 'm' or 'diag' (H^{T-1,T-1})."""
    for tr in traces:
        T, P, arch = tr.problem.T, tr.problem.P, tr.problem.arch
        c = colours[T]

        def value(sp):
            H = sp.kernel
            return sp.order_parameter if quantity == "m" else \
                H[time_slice(T - 1, P), time_slice(T - 1, P)].diagonal().mean()
        for bi, b in enumerate(tr.branches):
            y = b.m if quantity == "m" else _last_diagonal(b, T, P)
            if arch.is_dnn:
                ax.plot(*_smooth(b.lam, y), ls=":", lw=2.2, color=c, alpha=0.9)
                continue
            bounds = [(sp.lam, value(sp)) for sp in tr.special_points
                      if sp.branch == bi and sp.kind in ("branch_point", "fold")]
            for lam, yy, s_ in segments(b.lam, y, b.stable, bounds):
                ax.plot(*_smooth(lam, yy), ls="-" if s_ else "--", lw=1.8 if s_ else 1.2, color=c)
        for sp in tr.special_points:
            y = value(sp)
            if sp.kind == "branch_point" and sp.z2 and sp.branch == 0:
                ax.plot(sp.lam, y, "o", color=c, ms=6, mec="k", zorder=5)
            elif sp.kind == "branch_point":
                ax.plot(sp.lam, y, "d", mfc="none", mec=c, ms=6, zorder=5)
            elif sp.kind == "fold":
                ax.plot(sp.lam, y, "X", color=c, ms=8, mec="k", zorder=5)
            else:
                ax.axvline(sp.lam, color=c, ls=":", lw=1)


@styled
def plot_trace(traces, path, title=None):
    """The paper's Fig. 4a (theory): m = H^{T-1,T-2} and H^{T-1,T-1} vs lambda.

    ``traces`` are :class:`linkernel.theory.continuation.Trace` objects (any mix of T
    and architectures).  One colour per T; RNN stable branches solid, unstable
    dashed; DNN dotted; symmetry-breaking branch points (dots), folds
    (crosses) and coexistence (a vertical dotted line) marked.  When a trace
    has a fold (a first-order transition), an inset zooms on it.
    """
    Ts = sorted({tr.problem.T for tr in traces})
    colours = {T: plt.cm.tab10(k % 10) for k, T in enumerate(Ts)}
    fig, axes = plt.subplots(1, 2, figsize=(TEXTWIDTH, 2.9))
    _draw_traces(axes[0], traces, colours, "m")
    _draw_traces(axes[1], traces, colours, "diag")
    handles = [plt.Line2D([], [], color=colours[T], lw=2, label=f"$T={T}$") for T in Ts]
    handles += [plt.Line2D([], [], color="k", ls="-", label="RNN, stable"),
                plt.Line2D([], [], color="k", ls="--", lw=1.2, label="RNN, unstable"),
                plt.Line2D([], [], color="k", ls=":", lw=2.2, label="DNN"),
                plt.Line2D([], [], color="w", marker="o", mfc="gray", mec="k", label="symmetry breaking"),
                plt.Line2D([], [], color="w", marker="X", mfc="gray", mec="k", ms=8, label="fold"),
                plt.Line2D([], [], color="gray", ls=":", lw=1, label="coexistence"),
                plt.Line2D([], [], color="w", marker="d", mfc="none", mec="gray", label="other branch point")]
    axes[0].set_ylabel(r"order parameter $m = H^{T-1,T-2}$")
    axes[1].set_ylabel(r"kernel diagonal $H^{T-1,T-1}$")
    for ax in axes:
        ax.set_xlabel(r"signal strength $\lambda$")
        ax.grid(alpha=0.3)
    axes[1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    first = [tr for tr in traces if tr.problem.arch.is_rnn and tr.points_of("fold")]
    if first:  # zoom on the first-order region of the first such trace
        tr = first[0]
        fold = tr.points_of("fold")[0]
        bp = [s for s in tr.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
        hi = bp[0].lam if bp else fold.lam
        pad = 0.5 * max(hi - fold.lam, 1e-3)
        coex = tr.points_of("coexistence")
        m_top = 2.0 * (coex[0].order_parameter if coex else fold.order_parameter)
        ins = axes[0].inset_axes([0.08, 0.46, 0.4, 0.42])
        _draw_traces(ins, [t for t in traces if t.problem.T == tr.problem.T], colours, "m")
        ins.set_xlim(fold.lam - pad, hi + pad)
        ins.set_ylim(-0.1 * m_top, m_top)
        ins.set_title(f"$T={tr.problem.T}$: first order", fontsize=8)
        ins.tick_params(labelsize=7)
        ins.grid(alpha=0.3)
    pr = traces[0].problem
    fig.suptitle(title or f"Saddle-point branches, endpoint task ($\\kappa$={pr.kappa:g}, $w$={pr.w:g}, "
                 f"$v$={pr.v:g}, $u$={pr.u:g}, $P$={pr.P})", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def _local_minima(c):
    """Grid values of m >= 0 where S_m has a local minimum (the slope dS_m/dm turns from - to +)."""
    out = [c.m[0]] if len(c.m) > 1 and c.m[0] == 0 and c.action[1] > c.action[0] else []
    for k in range(len(c.m) - 1):
        if c.slope[k] < 0 <= c.slope[k + 1]:
            out.append(c.m[k] if abs(c.slope[k]) < abs(c.slope[k + 1]) else c.m[k + 1])
    return out


@styled
def plot_landscape(land, path, lambda_c=None, title=None):
    """The paper's Fig. 4b: S minimised at fixed m, minus its value at m = 0, for several lambda.

    ``land`` is a :class:`linkernel.theory.landscape.Landscape`.  Z2 problems are
    drawn mirrored to m < 0; local minima are marked.  Left: every lambda
    over the whole range; right: the middle lambda alone, zoomed on its
    wells (the quartic well at a second-order lambda_c, the three equal
    minima at a first-order coexistence point).
    """
    import numpy as np

    curves = land.curves
    colours = plt.cm.plasma(np.linspace(0.0, 0.8, len(curves)))
    fig, axes = plt.subplots(1, 2, figsize=(TEXTWIDTH, 2.8))
    z2 = land.problem.has_z2
    mid = len(curves) // 2
    for k, (c, col) in enumerate(zip(curves, colours)):
        m, dS = c.m, c.delta_action
        if z2:
            m, dS = np.concatenate([-m[:0:-1], m]), np.concatenate([dS[:0:-1], dS])
        label = rf"$\lambda$ = {c.lam:.6g}"
        if lambda_c is not None:
            label += f" ({c.lam / lambda_c:.3g} $\\lambda_c$)"
        mins = _local_minima(c)
        if z2:
            mins = sorted(set(mins) | {-x for x in mins})
        S0 = c.action[np.argmin(np.abs(c.m))]
        for ax in (axes if k == mid else axes[:1]):
            ax.plot(m, dS, color=col, lw=2, label=label)
            ax.plot(mins, np.interp(mins, m, dS) if z2 else [np.interp(x, c.m, c.action) - S0 for x in mins],
                    "o", color=col, mec="k", zorder=5)
        if k == mid:
            reach = max([abs(x) for x in mins] + [0.0])
            zoom_x = 1.5 * reach if reach > 0 else 0.5 * c.m.max()
            window = np.abs(m) <= zoom_x
            lo, hi = dS[window].min(), dS[window].max()
            axes[1].set_xlim(-zoom_x if z2 else m.min(), zoom_x)
            axes[1].set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
            axes[1].set_title(rf"zoom: $\lambda$ = {c.lam:.6g}", fontsize=8)
    for ax in axes:
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel(r"order parameter $m = H^{T-1,T-2}$")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$S_m - S_0$,   $S_m = \min_{H:\,m(H)=m} S(H)$")
    axes[0].legend(fontsize=8)
    pr = land.problem
    fig.suptitle(title or f"Landau landscape, {pr.arch.label} endpoint task T={pr.T} "
                 f"($\\kappa$={pr.kappa:g}, $P$={pr.P})", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


# --- exact reduction: finite-size scaling -------------------------------------------
@styled
def plot_finite_size_scaling(fss, path, rounding=None, collapse=None, theory=None):
    """Finite-size scaling at the RNN transition (exact finite-N posterior).

    ``fss``: :class:`linkernel.finite_n.finite_size.FiniteSizeScaling` (E|m| at lam_c
    against N, the fitted power and the Landau prediction
    ``Gamma(1/2)/Gamma(1/4) (N b)^{-1/4}``); ``rounding``: a
    :class:`linkernel.finite_n.finite_size.Rounding` on a common lam grid (m(lam) at
    several N and at N = infinity); ``collapse``: a scaled Rounding
    (N^{1/4} E|m| against x = (lam - lam_c) N^{1/2}); ``theory``: (x, y) of the
    limiting scaling function drawn over the collapse.
    """
    import numpy as np
    panels = 1 + (rounding is not None) + (collapse is not None)
    fig, axes = plt.subplots(1, panels, figsize=(TEXTWIDTH * panels / 3, 2.6), squeeze=False)
    axes = list(axes[0])
    ax = axes.pop(0)
    N = np.asarray(fss.N, dtype=float)
    ax.errorbar(N, fss.m, yerr=fss.m_stderr, fmt="o", ms=4, capsize=2, label=r"exact posterior $E|m|$")
    grid = np.geomspace(N.min(), N.max(), 100)
    ax.plot(grid, fss.predicted_amplitude * grid ** -0.25, "k--", lw=1,
            label=r"Landau $\frac{\Gamma(1/2)}{\Gamma(1/4)}(Nb)^{-1/4}$")
    sel = grid >= fss.fit_min_N
    ax.plot(grid[sel], fss.amplitude * grid[sel] ** fss.exponent, "r-", lw=1.5,
            label=f"fit $N\\geq${fss.fit_min_N:.0e}: $N^{{{fss.exponent:.4f}\\pm{fss.exponent_stderr:.4f}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width $N$")
    ax.set_ylabel(r"$E|m|$ at $\lambda_c$")
    ax.set_title(f"{fss.problem.arch.label} T={fss.problem.T}, $\\lambda_c$={fss.lam_c:.10f}", fontsize=8)
    ax.legend(fontsize=8)
    if rounding is not None:
        ax = axes.pop(0)
        for k, n in enumerate(rounding.N):
            ax.errorbar(rounding.lam[k], rounding.m[k], yerr=rounding.m_stderr[k], fmt="o-", ms=3, lw=1,
                        capsize=2, label=f"N = {int(n)}")
        if rounding.m_infinite is not None:
            ax.plot(rounding.lam[0], rounding.m_infinite, "k-", lw=2, label=r"$N=\infty$ (saddle point)")
        ax.axvline(rounding.lam_c, color="gray", ls=":", lw=1)
        ax.set_xlabel(r"signal $\lambda$")
        ax.set_ylabel(r"$E|m|$ (sign fixed per draw)")
        ax.set_title("rounding of the transition", fontsize=8)
        ax.legend(fontsize=8)
    if collapse is not None:
        ax = axes.pop(0)
        for k, n in enumerate(collapse.N):
            ax.errorbar(collapse.x[k], collapse.m[k] * n ** 0.25, yerr=collapse.m_stderr[k] * n ** 0.25,
                        fmt="o", ms=3, capsize=2, label=f"N = {int(n)}")
        if theory is not None:
            ax.plot(theory[0], theory[1], "k-", lw=1.5, label="quartic Landau limit")
        ax.set_xlabel(r"$(\lambda-\lambda_c)\,N^{1/2}$")
        ax.set_ylabel(r"$N^{1/4}\,E|m|$")
        ax.set_title("scaling collapse", fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


# --- SGLD: theory vs simulation (Fig. 2a, 4a) ---------------------------------------
@styled
def plot_sgld_order_parameter(theory: dict, points: dict, path, N: int | None = None, baseline: dict | None = None,
                              exact: dict | None = None, source: str = "sampled networks"):
    """Fig. 4a: order parameter m = H^{T-1,T-2} vs lambda.

    ``theory``: T -> (lams, m) curves (saddle point); ``points``: T -> (lams,
    m, m_stderr) from sampled networks of width N; ``baseline`` (optional):
    T -> (lams, E|m|) the finite-N value of |m| on the symmetric branch that
    the per-sample Z2 sign fix produces (dotted); ``exact`` (optional): T ->
    (lams, m) of the exact finite-N posterior at the same N (crosses); ``source``: what the points are
    ("sampled networks", or "exact finite-N posterior draws" where no network was sampled).
    """
    import numpy as np
    from matplotlib.lines import Line2D
    fig, ax = plt.subplots(figsize=(COLUMN, 2.5))
    handles = []
    for i, T in enumerate(sorted(theory)):
        color = f"C{i}"
        lam, m = theory[T]
        handles += ax.plot(lam, m, "-", color=color, lw=1.6, label=f"theory T={T}")
        if baseline and T in baseline:
            ax.plot(*baseline[T], ":", color=color, lw=1.0)
        if exact and T in exact:
            ax.plot(*exact[T], "x", color=color, ms=6)
        if T in points:
            pl, pm, pe = (np.asarray(a) for a in points[T])
            ax.errorbar(pl, pm, yerr=pe, fmt="o", ms=4, color=color, mfc="white", capsize=2)
    n = f" N={N}" if N else ""
    handles += [Line2D([], [], marker="o", ls="", color="k", mfc="white", label=f"{source}{n}"),
                Line2D([], [], marker="x", ls="", color="k", label=f"exact finite-N posterior{n}")] if exact else \
        [Line2D([], [], marker="o", ls="", color="k", mfc="white", label=f"{source}{n}")]
    if baseline:
        handles.append(Line2D([], [], ls=":", color="k", label=r"finite-N $E|m|$ (sign fix), theory"))
    ax.set_xlabel(r"signal strength $\lambda$")
    ax.set_ylabel(r"$m = H^{T-1,T-2}$")
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_title(f"RNN order parameter: theory vs {source}", fontsize=8)
    return save(fig, path)


@styled
def plot_sgld_speed(rows: list, path):
    """Benchmark figure: seconds per step and seconds to 2% agreement vs N for each sampler.

    ``rows``: dicts with keys method, N, seconds_per_step, seconds_to_2pct, estimated (bool).
    """
    import numpy as np
    fig, axes = plt.subplots(1, 2, figsize=(TEXTWIDTH, 2.7))
    methods = sorted({r["method"] for r in rows})
    for i, m in enumerate(methods):
        rs = sorted((r for r in rows if r["method"] == m), key=lambda r: r["N"])
        N = np.array([r["N"] for r in rs], float)
        axes[0].loglog(N, [r["seconds_per_step"] for r in rs], "o-", color=f"C{i}", label=m)
        t2 = np.array([r["seconds_to_2pct"] if r["seconds_to_2pct"] is not None else np.nan for r in rs], float)
        est = np.array([bool(r.get("estimated")) for r in rs])
        axes[1].loglog(N, t2, "-", color=f"C{i}", label=m)
        axes[1].loglog(N[~est], t2[~est], "o", color=f"C{i}")
        axes[1].loglog(N[est], t2[est], "o", color=f"C{i}", mfc="white")
    axes[1].axhline(600, color="gray", ls="--", lw=0.8)
    axes[1].text(axes[1].get_xlim()[0] * 1.05, 640, "10 min", fontsize=7, color="gray")
    axes[0].set_ylabel("seconds per step / sweep")
    axes[1].set_ylabel("seconds to 2% agreement (open: estimated)")
    Ns = sorted({r["N"] for r in rows})
    for ax in axes:
        ax.set_xlabel("width N")
        ax.set_xticks(Ns, [str(n) for n in Ns], minor=False)
        ax.set_xticks([], minor=True)
        ax.legend(fontsize=7)
    return save(fig, path)


# --- sequence tasks (Fig. 5) ----------------------------------------------------------
@styled
def sequence_figure(result, path, title=None):
    """Fig. 5: targets, supervised points and RNN/DNN predictions at every step, and both time-by-time kernels.

    ``result`` is a :class:`linkernel.sequence.SequenceResult` holding both
    architectures.  Left: the teacher's targets ``lam * yhat^t`` (grey),
    the supervised ones (black dots), the posterior-mean predictions of the RNN
    and the DNN; right: the saddle kernels ``H^{tt'}`` on one colour scale
    centred at 0.
    """
    import numpy as np
    from matplotlib.gridspec import GridSpec

    archs = [a for a in ("rnn", "dnn") if a in result.archs]
    fig = plt.figure(figsize=(TEXTWIDTH * (1.5 + len(archs)) / 3.5, 2.6))
    gs = GridSpec(1, 1 + len(archs), width_ratios=[1.5] + [1.0] * len(archs), figure=fig, wspace=0.35)
    ax = fig.add_subplot(gs[0, 0])
    t = np.arange(result.T)
    ts = np.linspace(0, result.T - 1, 400)
    y_fine = result.lam * result.radius ** ts * np.cos(2 * np.pi * ts / result.period)
    ax.plot(ts, y_fine, color="0.75", lw=3, label="teacher", zorder=1)
    sup = list(result.supervised)
    unsup = [s for s in t if s not in result.supervised]
    ax.plot(sup, result.targets[sup], "o", color="k", ms=7, label="supervised", zorder=4)
    ax.plot(unsup, result.targets[unsup], "o", mfc="none", mec="0.45", ms=7, label="unsupervised target",
            zorder=4)
    style = {"rnn": dict(color="C0", marker="s", label="RNN"), "dnn": dict(color="C1", marker="^", label="DNN")}
    for a in archs:
        ax.plot(t, result.predictions[a], lw=1.5, ms=5, zorder=3, **style[a])
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("timestep t")
    ax.set_ylabel("output")
    ax.set_xticks(t)
    errs = ", ".join(f"{a.upper()} {result.gen_error[a]:.3g}" for a in archs)
    ax.set_title(title or f"$\\lambda$={result.lam:g}, L: {errs}", fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=3, frameon=False)
    vmax = max(np.abs(result.kernels[a]).max() for a in archs)
    for k, a in enumerate(archs):
        kax = fig.add_subplot(gs[0, 1 + k])
        im = kax.imshow(result.kernels[a], cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="upper")
        kax.set_title(f"{a.upper()} kernel $H^{{tt'}}$", fontsize=8)
        kax.set_xlabel("t'")
        kax.set_ylabel("t")
        for s in result.supervised:  # mark the supervised steps on the axes
            kax.plot([-0.5], [s], ">", color="k", ms=4, clip_on=False)
            kax.plot([s], [-0.5], "v", color="k", ms=4, clip_on=False)
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8)
    return save(fig, path)


@styled
def sequence_sweep_figure(sweeps, path, simulation=None, title=None):
    """Generalisation error vs the swept variable, RNN and DNN, one panel per sweep.

    ``sweeps``: a :class:`linkernel.sequence.SequenceSweep` or a list of them
    (each panel titled by its supervision pattern, given as ``sweep.label``
    when set via a ``(label, sweep)`` pair).  ``simulation``: optional list
    (one per panel, or None) of dicts ``{arch: (values, mean, err)}``, drawn
    as points with error bars.
    """
    import numpy as np

    items = sweeps if isinstance(sweeps, (list, tuple)) else [sweeps]
    items = [it if isinstance(it, tuple) else (None, it) for it in items]
    sims = simulation if simulation is not None else [None] * len(items)
    fig, axes = plt.subplots(1, len(items), figsize=(min(TEXTWIDTH, COLUMN * len(items)), 2.5), squeeze=False)
    style = {"rnn": dict(color="C0", marker="s", label="RNN theory"),
             "dnn": dict(color="C1", marker="^", label="DNN theory")}
    for ax, (label, sw), sim in zip(axes[0], items, sims):
        for a, e in sw.gen_error.items():
            ax.plot(sw.values, e, lw=1.5, ms=5, mfc="none", **style[a])
        if sim:
            for a, (x, m, err, lab) in sim.items():
                ax.errorbar(x, m, yerr=err, fmt="o", color=style[a]["color"], ms=4, capsize=3,
                            label=lab, zorder=5)
        ax.set_xlabel("number of supervised steps k" if sw.variable == "n_supervised" else r"$\lambda$")
        ax.set_ylabel(r"generalisation error $L = \frac{1}{2T}\sum_t (y^t - f^t)^2$")
        if sw.variable == "n_supervised":
            ax.set_xticks(np.asarray(sw.values, dtype=int))
        ax.set_yscale("log")
        if label:
            ax.set_title(label, fontsize=8)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return save(fig, path)

"""Fig. 4: the RNN's phase transition on the endpoint task (P = 1, kappa = 0.1, w = v = u = 1).

(a) the order parameter ``m = H^{T-1,T-2}`` against lambda for several T, theory from the continuation
    (:func:`linkernel.theory.continuation.trace`): the symmetric branch m = 0 and the broken branch
    from its branch point lambda_c (exact kinks: 2.864 for T = 3, 1.622 for T = 4), stable solid,
    unstable dashed; for T = 5 the first-order transition: fold (cross), coexistence (the jump,
    dotted vertical).  Diamonds: finite-width networks at N (full: sampled networks, N = 2048; quick:
    exact finite-N posterior draws, N = 64; the legend says which), each sample's Z2 sign fixed
    (m >= 0); error bars: the caption's residual fluctuation, the posterior standard deviation of m
    over the draws.  Below lambda_c the sign fix turns m into |m| > 0: the exact finite-N posterior
    (crosses, full version) is the finite-N expectation these points scatter around.  Inset: beta = 1/2,
    ``m`` against ``lambda - lambda_c`` on log axes along the T = 4 broken branch with slope 1/2.
(b) the Landau landscape ``min_{H: m(H) = m} S(H) - S(m = 0)`` at T = 4 around lambda_c
    (:func:`linkernel.theory.landscape.landscape`).

Also writes the library's standalone panels (:func:`linkernel.plots.plot_sgld_order_parameter`,
:func:`linkernel.plots.plot_landscape`) as fig4a.png and fig4b.png.
"""

from __future__ import annotations

import os
import time

import numpy as np

from linkernel import tasks
from linkernel.progress import progress_bar
from linkernel.figures.common import (CHAINS, EXACT, Sampling, elapsed, estimate_minutes, network_kernels, say,
                                      write)
from linkernel.display import segments
from linkernel.figures.style import TEXTWIDTH, new_figure, outside_legend, panel_letter
from linkernel.plots import plot_landscape, plot_sgld_order_parameter
from linkernel.problem import order_parameter
from linkernel.theory.continuation import trace
from linkernel.theory.landscape import landscape
from linkernel.theory.special_points import critical_lambda

LAM_RANGE = (0.5, 4.0)


def theory_curves(T: int, quick: bool = False) -> dict:
    """The continuation's branches and special points of the RNN endpoint task at T (panel a's theory)."""
    tr = trace(tasks.endpoint("rnn", T=T), lam_range=LAM_RANGE, ds_max=0.1 if quick else 0.03)
    return {"transition": tr.transition,
            "branches": [{"kind": b.kind, "lam": b.lam, "m": b.m, "stable": b.stable} for b in tr.branches],
            "special_points": [{"kind": s.kind, "lam": s.lam, "m": s.order_parameter, "z2": bool(s.z2),
                                "branch": s.branch} for s in tr.special_points]}


def _draw_theory(ax, th, color) -> None:
    for b in th["branches"]:
        for lam, m, s in segments(b["lam"], b["m"], b["stable"]):
            ax.plot(lam, m, "-" if s else "--", color=color, lw=1.3 if s else 0.8)
    for s in th["special_points"]:
        if s["kind"] == "fold":
            ax.plot(s["lam"], s["m"], "x", color=color, ms=5, mew=1.2, zorder=5)
        elif s["kind"] == "coexistence":
            ax.plot([s["lam"], s["lam"]], [0.0, s["m"]], ":", color=color, lw=1.2)
        elif s["kind"] == "branch_point" and s["z2"] and s["branch"] == 0:
            ax.plot(s["lam"], 0.0, "o", color=color, ms=3.5, mec="k", mew=0.5, zorder=5)


def _networks(Ts, pts, N, quick, seed, sampling, progress) -> dict:
    """Finite-width m at the points: mean, residual fluctuation (sd over draws), Monte Carlo stderr."""
    res = {}
    for T in Ts:
        pm, sd, se, src = [], [], [], ""
        for lam in progress_bar(progress, iterable=pts, desc=f"fig4 T={T} N={N}"):
            pr = tasks.endpoint("rnn", T=T, lam=lam)
            K, stderr, draws, _, src, _ = network_kernels(pr, N, quick, seed, sampling=sampling)
            m = np.array([order_parameter(H, T, 1) for H in draws])
            pm.append(float(m.mean()))
            sd.append(float(m.std(ddof=1)))
            se.append(float(stderr[T - 1, T - 2]))
        res[T] = {"lam": list(pts), "m": pm, "residual_fluctuation": sd, "stderr": se, "source": src}
    return res


def _exact_reference(Ts, pts, N, seed) -> dict:
    """E m (sign fixed per draw) of the exact finite-N posterior at the networks' points (full version)."""
    import warnings
    from linkernel.finite_n.exact import exact_posterior
    out = {}
    for T in Ts:
        ms = []
        for lam in pts:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ex = exact_posterior(tasks.endpoint("rnn", T=T, lam=lam), N, chains=2, samples=200, warmup=200,
                                     seed=seed, progress=False, warn=False)
            ms.append(float(ex.order_parameter))
        out[T] = {"lam": list(pts), "m": ms}
    return out


def make(N=None, quick=False, out="figures", progress=True, seed=0, sweeps=None, max_minutes=None):
    t0 = time.perf_counter()
    Ts = [3, 4] if quick else [3, 4, 5]
    N = N or (64 if quick else 2048)
    pts = [1.0, 2.0, 3.0] if quick else [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    sampling = Sampling(n_runs=len(Ts) * len(pts), sweeps=sweeps, max_minutes=max_minutes)
    if not quick:
        est = estimate_minutes([tasks.endpoint("rnn", T=T) for T in Ts for _ in pts], N, seed, sweeps)
        sampling.estimated_minutes = est
        say(f"Fig. 4: {len(pts) * len(Ts)} network posteriors at N = {N} ({CHAINS} chains, "
            f"{sweeps or 'until R-hat < 1.01 and ESS >= 400'} sweeps); estimated {est + 0.3:.1f} min here "
            "(a short calibration run)", progress)
    theory = {T: theory_curves(T, quick) for T in progress_bar(progress, iterable=Ts, desc="fig4 theory")}
    lam_c = {T: critical_lambda(tasks.endpoint("rnn", T=T)) for T in Ts}
    nets = _networks(Ts, pts, N, quick, seed, sampling, progress)
    src = nets[Ts[0]]["source"].split(" (")[0]
    exact = None if quick else _exact_reference(Ts, pts, N, seed)
    T4 = tasks.endpoint("rnn", T=4)
    lc = lam_c[4]
    lams_b = [0.8 * lc, lc, 1.2 * lc] if quick else [0.8 * lc, 0.9 * lc, lc, 1.1 * lc, 1.2 * lc]
    land = landscape(T4, lams_b, points=15 if quick else 41)

    fig = new_figure(TEXTWIDTH, 2.5)
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1.0]})
    from matplotlib.lines import Line2D
    handles = []
    for i, T in enumerate(Ts):
        c = f"C{i}"
        _draw_theory(ax_a, theory[T], c)
        n = nets[T]
        ax_a.errorbar(n["lam"], n["m"], yerr=n["residual_fluctuation"], fmt="D", color=c, mfc="white", ms=3,
                      capsize=1.5, elinewidth=0.7, mew=0.8, zorder=6)
        if exact is not None:
            ax_a.plot(exact[T]["lam"], exact[T]["m"], "+", color=c, ms=5, mew=0.9, zorder=7)
        handles.append(Line2D([], [], color=c, label=f"$T={T}$"))
    handles += [Line2D([], [], color="k", lw=1.3, label="theory, stable"),
                Line2D([], [], color="k", ls="--", lw=0.8, label="theory, unstable"),
                Line2D([], [], color="k", marker="o", ls="", ms=3.5, mec="k", mfc="0.6", label=r"$\lambda_c$"),
                *([Line2D([], [], color="k", marker="x", ls="", ms=5, label="fold"),
                   Line2D([], [], color="k", ls=":", label="first-order jump")] if 5 in Ts else []),
                Line2D([], [], color="k", marker="D", ls="", mfc="white", ms=3, label=f"{src}, $N={N}$")]
    if exact is not None:
        handles.append(Line2D([], [], color="k", marker="+", ls="", ms=5, label=f"{EXACT}, $N={N}$"))
    ax_a.set_xlabel(r"$\lambda$")
    ax_a.set_ylabel(r"$\mathbb{H}^{T-1,T-2}$")
    ax_a.set_xlim(*LAM_RANGE)
    outside_legend(ax_a, handles, anchor=(1.01, 1.0))
    panel_letter(ax_a, "a")
    pb = _panel_b(ax_b, land, lc)
    beta = _beta_inset(ax_a, theory.get(4), lc) if 4 in theory else None
    pa = {f"T={T}": {"theory": theory[T], "lambda_c": lam_c[T], "networks": nets[T],
                     "exact_finite_N": None if exact is None else exact[T]} for T in Ts}
    data = {"title": "Fig. 4: second-order transition of the linear RNN, endpoint task", "N": N,
            "panels": {"a": pa, "a_inset_beta": beta, "b": pb},
            "sampling": sampling.summary() if not quick else {"source": EXACT, "runs": []},
            "notes": ["lambda_c: " + ", ".join(f"T={T}: {lam_c[T]:.6g}" for T in Ts),
                      f"points: {src}, N = {N}; error bars: residual fluctuation (sd of m over the draws)",
                      "m sign-fixed per draw (|m| below lambda_c: a positive O(N^-1/2) offset)"]}
    if not quick:
        sampling.warn_if_cut(4)
    paths = write(fig, 4, out, data)
    th_lines = {T: (np.concatenate([b["lam"] for b in theory[T]["branches"] if b["kind"] == "broken"]),
                    np.concatenate([b["m"] for b in theory[T]["branches"] if b["kind"] == "broken"])) for T in Ts}
    points = {T: (nets[T]["lam"], nets[T]["m"], nets[T]["residual_fluctuation"]) for T in Ts}
    extra = (plot_sgld_order_parameter(th_lines, points, os.path.join(out, "fig4a.png"), N=N, source=src),
             plot_landscape(land, os.path.join(out, "fig4b.png"), lambda_c=lc))
    return paths + tuple(extra), data, N, elapsed(t0)


def _panel_b(ax, land, lc) -> dict:
    import matplotlib.pyplot as plt
    pb = {}
    cols = plt.cm.plasma(np.linspace(0, 0.8, len(land.curves)))
    for c, col in zip(land.curves, cols):
        m = np.concatenate([-c.m[:0:-1], c.m])
        d = np.concatenate([c.delta_action[:0:-1], c.delta_action])
        ax.plot(m, d, color=col, label=rf"${c.lam / lc:.2f}\,\lambda_c$")
        pb[f"{c.lam:.10g}"] = {"m": c.m, "delta_action": c.delta_action, "lam_over_lambda_c": c.lam / lc}
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel(r"$\mathbb{H}^{-} = \mathbb{H}^{T-1,T-2}$")
    ax.set_ylabel(r"$S(\mathbb{H}^{-}) - S(0)$")
    ax.set_title(rf"RNN, $T=4$, $\lambda_c={lc:.4g}$")
    outside_legend(ax, anchor=(1.01, 1.0))
    panel_letter(ax, "b")
    return {"T": 4, "lambda_c": lc, "curves": pb}


def _beta_inset(ax, th, lc) -> dict | None:
    """beta = 1/2: m against lambda - lambda_c on log axes along the T = 4 broken branch, slope-1/2 guide."""
    br = [b for b in th["branches"] if b["kind"] == "broken"]
    if not br:
        return None
    lam, m = np.asarray(br[0]["lam"]), np.asarray(br[0]["m"])
    sel = (lam > lc + 1e-6) & (m > 0) & (lam < lc + 1.0)
    if sel.sum() < 3:
        return None
    x, y = lam[sel] - lc, m[sel]
    ins = ax.inset_axes([0.08, 0.56, 0.25, 0.3])      # above the symmetric branch, left of the broken ones
    ins.yaxis.tick_right()
    ins.loglog(x, y, "-", color="C1", lw=1.0)
    ins.loglog(x, y[0] * (x / x[0]) ** 0.5, ":", color="k", lw=0.8)
    ins.set_xlabel(r"$\lambda-\lambda_c$ ($T=4$)", fontsize=7, labelpad=0)
    ins.tick_params(labelsize=7, which="both")
    ins.set_title(r"$\propto(\lambda-\lambda_c)^{1/2}$", fontsize=7, pad=2)
    slope = float(np.polyfit(np.log(x[:3]), np.log(y[:3]), 1)[0])
    return {"T": 4, "lam_minus_lambda_c": x, "m": y, "fitted_slope_near_lambda_c": slope}

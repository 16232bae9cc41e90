"""Fig. 5: sequence regression on a linear teacher RNN; weight sharing interpolates unsupervised steps.

Teacher: a rotation by 2 pi / period with radius 1 (eigenvalues on the unit circle), input x^0 = 1,
outputs ``yhat^t = cos(2 pi t / period)`` (:func:`linkernel.tasks.teacher_outputs`); the student is
supervised at the first k steps (``"first:k"``, :func:`linkernel.sequence.supervised_steps`) and scored
at every step.  Full: T = 10, period 10, lam = 1, k = 1..10, networks at N = 2048 (sampled networks);
quick: T = 6, period 6, k = 1..6, exact finite-N posterior at N = 64.

(a) the label kernel ``Y = y y^T`` (top left), the teacher's spectrum (top right), its output (bottom);
(b) the generalisation error against k, RNN and DNN: theory dashed, networks points; drawn is the
    caption's loss ``L = 1/(2T) sum_{t=2}^T (y^t - f^t)^2`` (our t = 1..T-1); the JSON also has the
    loss over every step;
(c) DNN and (d) RNN cells, one row per k: the kernel H^{tt'} (theory), the weight eigenvalues (the
    finite-width posterior at N) against the theory's bulk and outliers, and the target y^t (black
    line) against the prediction f^t (orange: networks, thin: theory), supervised targets as black
    markers.  Networks: sampled networks in the full version, exact finite-N posterior draws in the
    quick one (named on the figure).
"""

from __future__ import annotations

import time

import numpy as np

from linkernel.progress import progress_bar
from linkernel.figures.common import (CHAINS, Sampling, estimate_minutes, elapsed, kernel_panel, network_kernels, say,
                                      spectra_from_draws, spectrum_panel, write)
from linkernel.figures.style import TEXTWIDTH, new_figure, outside_legend, panel_letter
from linkernel.sequence import sequence_problem, solve_sequence
from linkernel.theory.spectrum import weight_spectrum


def losses(targets, predictions) -> tuple:
    """(L over all steps, L over t = 1..T-1: the paper's t = 2..T), each 1/2 the mean squared error."""
    y, f = np.asarray(targets, float).ravel(), np.asarray(predictions, float).ravel()
    return 0.5 * float(np.mean((y - f) ** 2)), 0.5 * float(np.mean((y[1:] - f[1:]) ** 2))


def _network(arch, k, T, period, lam, N, quick, seed, sampling):
    """Finite-width posterior-mean outputs (T,), the kernel draws and the source, for supervision first:k."""
    pr = sequence_problem(arch, T=T, period=period, supervised=f"first:{k}", lam=lam)
    K, se, draws, _, src, res = network_kernels(pr, N, quick, seed, sampling=sampling)
    return pr, np.asarray(res.predictions).ravel(), draws, src.split(" (")[0]


def _cells(sub, letter, arch, show_ks, th, net, y, *, T, period, lam, N, seed) -> dict:
    """Panel c (DNN) or d (RNN), one row per k: the kernel H^{tt'} (top left), the weight eigenvalues
    (top right), the target y^t (black line) against the prediction f^t (orange: networks, thin: theory)
    with the supervised targets as black markers (bottom).  Returns its numbers."""
    out = {}
    rows = sub.subfigures(len(show_ks), 1)
    for r, k in enumerate(show_ks):
        res = th[k]
        axs = rows[r].subplot_mosaic([["K", "W"], ["f", "f"]], height_ratios=[1.3, 1.0])
        kernel_panel(axs["K"], res.kernels[arch], rf"$\mathbb{{H}}^{{tt'}}$, $k={k}$")
        pr = sequence_problem(arch, T=T, period=period, supervised=f"first:{k}", lam=lam)
        ws = weight_spectrum(pr, kernel=res.kernels[arch])
        ev = spectra_from_draws(pr, net[arch][k][2], N, seed + k) if k in net[arch] else {}
        pooled = np.concatenate([np.ravel(v) for v in ev.values()]) if ev else np.array([])
        name = ws.names[0]
        shown = ws
        if arch == "dnn":     # every layer: bulk sqrt(w); all outliers drawn on one panel
            from dataclasses import replace
            shown = replace(ws, outliers={name: np.concatenate([ws.outliers[n] for n in ws.names])})
        spectrum_panel(axs["W"], pooled, shown, name, r"$\{W^{(t)}\}_t$" if arch == "dnn" else r"$W$")
        ax = axs["f"]
        ax.plot(range(T), y, "k-", lw=1.0)
        ax.plot(range(k), y[:k], "ko", ms=3)
        ax.plot(range(T), res.predictions[arch], "-", color="C1", lw=0.6, alpha=0.7)
        if k in net[arch]:
            ax.plot(range(T), net[arch][k][1], "o-", color="C1", ms=2.5, lw=0.9)
        ax.set_xticks(range(0, T, 2))
        ax.set_xlabel(r"$t$", labelpad=0)
        if r == 0:
            panel_letter(axs["K"], letter, x=-0.4)
        out[f"k={k}"] = {"kernel_theory": res.kernels[arch], "predictions_theory": res.predictions[arch],
                         "predictions_networks": net[arch][k][1] if k in net[arch] else None,
                         "outliers_theory": ws.to_dict()["outliers"], "bulk_radius": ws.to_dict()["bulk_radius"],
                         "eigenvalues_sampled": [[float(z.real), float(z.imag)] for z in pooled]}
    return out


def make(N=None, quick=False, out="figures", progress=True, seed=0, lam: float = 1.0, sweeps=None, max_minutes=None):
    t0 = time.perf_counter()
    T, period = (6, 6.0) if quick else (10, 10.0)
    N = N or (64 if quick else 2048)
    ks = list(range(1, T + 1))
    net_ks = [2, 4] if quick else [1, 2, 3, 4, 5, 6, 8, 10]
    show_ks = [2, 4] if quick else [2, 4, 6]
    archs = ("rnn", "dnn")
    sampling = Sampling(n_runs=len(archs) * len(net_ks), sweeps=sweeps, max_minutes=max_minutes)
    if not quick:
        runs = [sequence_problem(a, T=T, period=period, supervised=f"first:{k}", lam=lam)
                for a in archs for k in net_ks]
        groups = sum(len(arch.W) for arch in dict.fromkeys(p.arch for p in runs))     # W groups: RNN 1, DNN T - 1
        est = estimate_minutes(runs, N, seed, sweeps, eigenproblems=len(show_ks) * groups)
        sampling.estimated_minutes = est
        say(f"Fig. 5: theory at k = 1..{T}; {2 * len(net_ks)} network posteriors at N = {N} (T = {T}, {CHAINS} "
            f"chains, {sweeps or 'until R-hat < 1.01 and ESS >= 400'} sweeps); estimated {est + 0.3:.1f} min here "
            "(a short calibration run)", progress)
    th = {}
    for k in progress_bar(progress, iterable=ks, desc="fig5 theory"):
        th[k] = solve_sequence(T=T, period=period, supervised=f"first:{k}", lam=lam, archs=archs)
    y = th[ks[0]].targets
    net = {a: {} for a in archs}
    for a in archs:
        for k in progress_bar(progress, iterable=net_ks, desc=f"fig5 {a} N={N}"):
            net[a][k] = _network(a, k, T, period, lam, N, quick, seed + k, sampling)
    src = net["rnn"][net_ks[0]][3]

    fig = new_figure(TEXTWIDTH, 2.0 + 1.9 * len(show_ks))
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.0, 1.9 * len(show_ks)])
    ta, tb = top.subfigures(1, 2, width_ratios=[1.0, 1.1])
    axs = ta.subplot_mosaic([["Y", "W"], ["y", "y"]], height_ratios=[1.3, 1.0])
    kernel_panel(axs["Y"], np.outer(y, y), r"$\mathbb{Y}$", labels=(r"$t'$", r"$t$"))
    panel_letter(axs["Y"], "a", x=-0.4)
    z_t = np.exp(np.array([1j, -1j]) * 2 * np.pi / period)
    phi = np.linspace(0, 2 * np.pi, 200)
    ax = axs["W"]
    ax.plot(np.cos(phi), np.sin(phi), "--", color="0.6", lw=0.8)
    ax.plot(z_t.real, z_t.imag, "o", color="C2", ms=4)
    ax.set_aspect("equal")
    ax.set_title(r"spectrum of $W^\star$")
    ax.set_xlabel(r"$\mathrm{Re}\,z$")
    ax.set_ylabel(r"$\mathrm{Im}\,z$", labelpad=0)
    ts = np.linspace(0, T - 1, 200)
    axs["y"].plot(ts, lam * np.cos(2 * np.pi * ts / period), "k-", lw=1.0)
    axs["y"].plot(range(T), y, "ko", ms=3)
    axs["y"].set_xlabel(r"$t$", labelpad=0)
    axs["y"].set_ylabel(r"teacher $y^t$")
    ax = tb.subplots()
    pb = {}
    for i, a in enumerate(archs):
        L = np.array([losses(y, th[k].predictions[a]) for k in ks])
        Ln = np.array([losses(y, net[a][k][1]) for k in net_ks])
        ax.plot(ks, L[:, 1], "--", color=f"C{i}", label=f"{a.upper()} theory")
        ax.plot(net_ks, Ln[:, 1], "o-", color=f"C{i}", mfc="white", ms=3.5, label=f"{a.upper()} networks")
        pb[a] = {"k": ks, "loss_all_theory": L[:, 0], "loss_t2_theory": L[:, 1], "k_networks": net_ks,
                 "loss_all_networks": Ln[:, 0], "loss_t2_networks": Ln[:, 1]}
    ax.set_yscale("log")
    ax.set_xlabel("supervised steps $k$ (the first $k$)")
    ax.set_ylabel(r"$\mathcal{L} = \langle (y^t-f^t)^2 \rangle_{t=2..T}/2$")
    outside_legend(ax, title=f"networks: {src},\n$N={N}$")
    panel_letter(ax, "b")
    c_fig, d_fig = bottom.subfigures(1, 2)
    kw = dict(T=T, period=period, lam=lam, N=N, seed=seed)
    pc = _cells(c_fig, "c", "dnn", show_ks, th, net, y, **kw)
    pd = _cells(d_fig, "d", "rnn", show_ks, th, net, y, **kw)
    c_fig.suptitle("DNN", fontsize=8)
    d_fig.suptitle("RNN", fontsize=8)
    pa = {"teacher_eigenvalues": [[z.real, z.imag] for z in z_t], "Y": np.outer(y, y), "targets": y}
    data = {"title": f"Fig. 5: teacher sequence, T = {T}, period {period:g}, lam = {lam:g} (linear networks)",
            "panels": {"a": pa, "b": pb, "c": pc, "d": pd}, "panel_a": pa, "panel_b": pb,
            "sampling": sampling.summary() if not quick else {"source": src, "runs": []},
            "notes": [f"finite width: {src}, N = {N}",
                      "panel b plots the caption's loss over t = 2..T (ours 1..T-1); the JSON has both"]}
    if not quick:
        sampling.warn_if_cut(5)
    return write(fig, 5, out, data), data, N, elapsed(t0)

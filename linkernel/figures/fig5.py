"""Fig. 5: sequence regression on a linear teacher RNN; weight sharing interpolates unsupervised steps.

Teacher: a rotation by 2 pi / period with radius 1 (eigenvalues on the unit circle), input x^0 = 1,
outputs ``yhat^t = cos(2 pi t / period)`` (:func:`linkernel.tasks.teacher_outputs`); the student is
supervised at the first k steps (``"first:k"``, :func:`linkernel.sequence.supervised_steps`) and scored
at every step.  Full: T = 10, period 10, lam = 1, k = 1..10, networks at N = 2048 (sampled networks);
quick: T = 6, period 6, k = 1..6, exact finite-N posterior at N = 64.

(a) the teacher's spectrum and the target kernel ``Y = y y^T``;
(b) the generalisation error vs k, RNN and DNN: theory lines, finite-width points; the loss over
    every step ``L = 1/(2T) sum_t (y^t - f^t)^2`` (solid) and, next to it, the paper caption's loss over
    its steps t = 2..T, i.e. our ``t = 1..T-1`` (dashed, same normalisation per step counted);
(c) for several k: the RNN kernel (theory), the outputs (targets, RNN and DNN theory, networks) and
    the eigenvalues of the RNN's W (exact posterior draw at width N) with the theory's bulk circle and
    outliers (:func:`linkernel.theory.spectrum.weight_spectrum`).
"""

from __future__ import annotations

import time

import numpy as np

from linkernel.progress import progress_bar
from linkernel.figures.common import (SWEEPS, estimate_minutes, elapsed, kernel_panel, say, spectra_from_draws, spectrum_panel,
                                      write)
from linkernel.sequence import sequence_problem, solve_sequence
from linkernel.theory.spectrum import weight_spectrum


def losses(targets, predictions) -> tuple:
    """(L over all steps, L over t = 1..T-1: the paper's t = 2..T), each 1/2 the mean squared error."""
    y, f = np.asarray(targets, float).ravel(), np.asarray(predictions, float).ravel()
    return 0.5 * float(np.mean((y - f) ** 2)), 0.5 * float(np.mean((y[1:] - f[1:]) ** 2))


def _network(arch, k, T, period, lam, N, quick, seed):
    """Finite-width posterior-mean outputs (T,) and the kernel draws, for supervision first:k."""
    import warnings
    pr = sequence_problem(arch, T=T, period=period, supervised=f"first:{k}", lam=lam)
    if quick:
        from linkernel.finite_n.exact import exact_posterior
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = exact_posterior(pr, N, chains=2, samples=100, warmup=150, seed=seed, progress=False, warn=False)
        return pr, ex.predictions.ravel(), ex.draws.reshape(-1, pr.n, pr.n), "exact finite-N posterior"
    from linkernel.finite_n.network_sampler import sample_networks
    r = sample_networks(pr, N, sweeps=SWEEPS, chains=2, seed=seed, progress=False)
    return pr, r.predictions.ravel(), r.draws.reshape(-1, pr.n, pr.n), "sampled networks"


def _panel_c(fig, gs, show_ks, th, net, y, z_t, *, T, period, lam, N, seed) -> dict:
    """Panel (c), one row per k of ``show_ks``: the RNN kernel, the outputs of theory and networks,
    the eigenvalues of the RNN's W against the theory's bulk and outliers.  Returns its numbers."""
    archs = tuple(net)
    pc = {}
    for r, k in enumerate(show_ks, start=1):
        res = th[k]
        ax = fig.add_subplot(gs[r, 0])
        kernel_panel(ax, res.kernels["rnn"], f"(c) RNN kernel, k = {k} (theory)", labels=("t'", "t"))
        ax = fig.add_subplot(gs[r, 1])
        ax.plot(range(T), y, "k-", lw=1, label="target")
        for i, a in enumerate(archs):
            ax.plot(range(T), res.predictions[a], "-", color=f"C{i}", label=f"{a.upper()} theory")
            if k in net[a]:
                ax.plot(range(T), net[a][k][1], "o", color=f"C{i}", mfc="white", ms=3)
        ax.axvspan(-0.3, k - 0.7, color="0.9", zorder=0)
        ax.set_title(f"(c) outputs, supervised t < {k} (shaded)", fontsize=8)
        ax.tick_params(labelsize=6)
        if r == 1:
            ax.legend(fontsize=5)
        ax = fig.add_subplot(gs[r, 2])
        pr = sequence_problem("rnn", T=T, period=period, supervised=f"first:{k}", lam=lam)
        ws = weight_spectrum(pr, kernel=res.kernels["rnn"])
        if k in net["rnn"]:
            ev = spectra_from_draws(pr, net["rnn"][k][2], N, seed + k)["W"]
        else:
            ev = np.array([])
        spectrum_panel(ax, ev, ws, "W", f"(c) eigenvalues of the RNN's W, k = {k}")
        ax.plot(z_t.real, z_t.imag, "x", color="C2", ms=5)
        pc[f"k={k}"] = {"kernel_rnn_theory": res.kernels["rnn"], "kernel_dnn_theory": res.kernels["dnn"],
                        "predictions_theory": res.predictions,
                        "predictions_networks": {a: net[a][k][1] for a in archs if k in net[a]},
                        "outliers_theory": ws.to_dict()["outliers"], "bulk_radius": ws.to_dict()["bulk_radius"],
                        "propagator_eigenvalues": ws.to_dict()["propagator_eigenvalues"],
                        "eigenvalues_sampled": [[float(z.real), float(z.imag)] for z in np.ravel(ev)]}
    return pc


def make(N=None, quick=False, out="figures", progress=True, seed=0, lam: float = 1.0):
    t0 = time.perf_counter()
    T, period = (6, 6.0) if quick else (10, 10.0)
    N = N or (64 if quick else 2048)
    ks = list(range(1, T + 1))
    net_ks = [2, 4] if quick else [1, 2, 3, 4, 5, 6, 8, 10]
    show_ks = [2, 4] if quick else [2, 4, 6]
    if not quick:
        est = estimate_minutes([sequence_problem(a, T=T, period=period, supervised=f"first:{k}", lam=lam)
                                for a in ("rnn", "dnn") for k in net_ks], N, seed)
        say(f"Fig. 5: theory at k = 1..{T}; {2 * len(net_ks)} network posteriors at N = {N} (T = {T}, {SWEEPS} "
            f"sweeps x 2 chains); estimated {est + 0.5:.0f} min here (a short calibration run)", progress)
    archs = ("rnn", "dnn")
    th = {}
    for k in progress_bar(progress, iterable=ks, desc="fig5 theory"):
        th[k] = solve_sequence(T=T, period=period, supervised=f"first:{k}", lam=lam, archs=archs, n_starts=4)
    y = th[ks[0]].targets
    net = {a: {} for a in archs}
    for a in archs:
        for k in progress_bar(progress, iterable=net_ks, desc=f"fig5 {a} N={N}"):
            net[a][k] = _network(a, k, T, period, lam, N, quick, seed + k)
    src = net["rnn"][net_ks[0]][3]

    import matplotlib.pyplot as plt
    rows = 1 + len(show_ks)
    fig = plt.figure(figsize=(11, 3.1 * rows))
    gs = fig.add_gridspec(rows, 3, hspace=0.55, wspace=0.4)
    # (a) teacher
    ax = fig.add_subplot(gs[0, 0])
    z_t = np.exp(np.array([1j, -1j]) * 2 * np.pi / period)
    phi = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(phi), np.sin(phi), "--", color="0.6", lw=0.8)
    ax.plot(z_t.real, z_t.imag, "o", color="C2")
    ax.set_aspect("equal")
    ax.set_title("(a) teacher W* eigenvalues", fontsize=8)
    ax.tick_params(labelsize=6)
    ax = fig.add_subplot(gs[0, 1])
    kernel_panel(ax, np.outer(y, y), "(a) target kernel Y = y y^T", labels=("t'", "t"))
    # (b) generalisation error vs k
    ax = fig.add_subplot(gs[0, 2])
    pb = {}
    for i, a in enumerate(archs):
        L = np.array([losses(y, th[k].predictions[a]) for k in ks])
        Ln = np.array([losses(y, net[a][k][1]) for k in net_ks])
        ax.plot(ks, L[:, 0], "-", color=f"C{i}", label=f"{a.upper()} theory, all t")
        ax.plot(ks, L[:, 1], "--", color=f"C{i}", lw=0.9, label=f"{a.upper()} theory, t = 2..T")
        ax.plot(net_ks, Ln[:, 0], "o", color=f"C{i}", mfc="white", ms=4)
        ax.plot(net_ks, Ln[:, 1], "s", color=f"C{i}", mfc="white", ms=3)
        pb[a] = {"k": ks, "loss_all_theory": L[:, 0], "loss_t2_theory": L[:, 1], "k_networks": net_ks,
                 "loss_all_networks": Ln[:, 0], "loss_t2_networks": Ln[:, 1]}
    ax.plot([], [], "o", color="k", mfc="white", label=f"{src}, N={N}")
    ax.set_yscale("log")
    ax.set_xlabel("supervised steps k (first k)", fontsize=8)
    ax.set_ylabel("generalisation error", fontsize=8)
    ax.set_title("(b) error vs supervised steps", fontsize=8)
    ax.legend(fontsize=5)
    data = {"title": f"Fig. 5: teacher sequence, T = {T}, period {period:g}, lam = {lam:g}",
            "panel_a": {"teacher_eigenvalues": [[z.real, z.imag] for z in z_t], "Y": np.outer(y, y), "targets": y},
            "panel_b": pb, "notes": [f"finite width: {src}, N = {N}",
                                     "loss over all steps and over the caption's t = 2..T (ours 1..T-1)"]}
    # (c) several k
    pc = _panel_c(fig, gs, show_ks, th, net, y, z_t, T=T, period=period, lam=lam, N=N, seed=seed)
    data["panel_c"] = pc
    fig.suptitle(data["title"] + " (linear networks)", fontsize=10)
    return write(fig, 5, out, data), data, N, elapsed(t0)

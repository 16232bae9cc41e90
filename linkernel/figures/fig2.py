"""Fig. 2, linear analogue: the sinusoidal response task, finite-width kernels converging to the theory.

Task: one input at t = 0, targets ``y^t = lam cos(2 pi t / T)`` at every step, T = 10, P = 1
(:func:`linkernel.tasks.sinusoid`).  The paper's network uses erf; this is the linear network of
the package, and the figure says so.

(a) CKA(finite-N kernel, theory kernel) vs N, RNN and DNN (1 - CKA on a log scale);
(b) the RNN kernel H^{tt'} at a few N next to the theory (one colour scale), the anti-diagonal
    cells that panel c reads marked in green;
(c) the anti-diagonal autocorrelation: the normalised kernel ``H^{t,t'} / sqrt(H^{tt} H^{t't'})`` along
    the anti-diagonal through the centre, ``t + t' = T - 1`` (odd lags) and ``T - 2`` (even lags), as a
    function of the lag ``tau = t - t'``; networks full, theory dashed (the caption's convention), at
    the largest N.
"""

from __future__ import annotations

import time

import numpy as np

from linkernel import tasks
from linkernel.progress import progress_bar
from linkernel.figures.common import CHAINS, Sampling, elapsed, estimate_minutes, network_kernels, say, write
from linkernel.figures.style import TEXTWIDTH, heatmap, new_figure, outside_legend, panel_letter
from linkernel.finite_n.network_posterior import cka
from linkernel.theory.saddle import saddle_point

TITLE = "Fig. 2 (linear analogue of the paper's erf network): sinusoid target, T = 10"


def antidiagonal(H: np.ndarray) -> tuple:
    """(lags, normalised kernel) along the central anti-diagonals (module docstring, panel c)."""
    H = np.asarray(H, dtype=float)
    T = H.shape[0]
    d = np.sqrt(np.diag(H))
    lags, vals = [], []
    for tau in range(-(T - 1), T):
        s = T - 1 if tau % 2 else T - 2          # t + t' with the parity of tau, through the centre
        t = (s + tau) // 2
        tp = t - tau
        if 0 <= t < T and 0 <= tp < T:
            lags.append(tau)
            vals.append(H[t, tp] / (d[t] * d[tp]))
    return np.array(lags), np.array(vals)


def antidiagonal_cells(T: int) -> list:
    """(t, t') of the central anti-diagonal cells that :func:`antidiagonal` reads (marked in panel b)."""
    cells = []
    for tau in range(-(T - 1), T):
        s = T - 1 if tau % 2 else T - 2
        t = (s + tau) // 2
        if 0 <= t < T and 0 <= t - tau < T:
            cells.append((t, t - tau))
    return cells


def make(N=None, quick=False, out="figures", progress=True, seed=0, lam: float = 1.0, sweeps=None, max_minutes=None):
    t0 = time.perf_counter()
    T = 10
    Ns = [16, 32, 64] if quick else [64, 128, 256, 512, 1024, N or 2048]
    Ns = sorted(set(Ns if N is None or quick else [n for n in Ns if n <= N]))
    if quick and N is not None:
        Ns = sorted(set(Ns + [int(N)]))
    archs = ("rnn", "dnn")
    sampling = Sampling(n_runs=len(archs) * len(Ns), sweeps=sweeps, max_minutes=max_minutes)
    if not quick:
        # one run per architecture and width: each pays its own set-up (it was scaled with the sweeps, and
        # the estimate came out 2.7x under the sampling time)
        est = estimate_minutes([tasks.sinusoid(a, T=T, lam=lam) for a in archs], Ns[-1], seed, sweeps, widths=Ns)
        sampling.estimated_minutes = est
        say(f"Fig. 2: sampling RNN and DNN networks at N = {Ns} (T = 10, {CHAINS} chains, "
            f"{sweeps or 'until R-hat < 1.01 and ESS >= 400'} sweeps); estimated {est:.1f} min here "
            "(a short calibration run)", progress)
    theory, fin = {}, {a: {} for a in archs}
    for a in archs:
        pr = tasks.sinusoid(a, T=T, lam=lam)
        theory[a] = saddle_point(pr).kernel
        for n in progress_bar(progress, iterable=Ns, desc=f"fig2 {a}"):
            K, se, _, _, src, _ = network_kernels(pr, n, quick, seed, sampling=sampling)
            fin[a][n] = (K, se, src)
    src = fin["rnn"][Ns[0]][2].split(" (")[0]

    fig = new_figure(TEXTWIDTH, 3.9)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1.0])
    ax_a, ax_c = top.subplots(1, 2)
    data = {"title": TITLE, "task": tasks.sinusoid("rnn", T=T, lam=lam).to_dict(), "Ns": Ns,
            "notes": ["linear network (the paper's Fig. 2 network uses erf)", f"finite-N kernels: {src}"]}
    pa = {}
    for i, a in enumerate(archs):
        c = [cka(fin[a][n][0], theory[a]) for n in Ns]
        pa[a] = {"N": Ns, "cka": c, "one_minus_cka": [1 - x for x in c]}
        ax_a.loglog(Ns, np.maximum(1 - np.array(c), 1e-12), "o-", color=f"C{i}", label=a.upper())
    ax_a.loglog(Ns, 0.5 * (1 - pa["rnn"]["cka"][0]) * Ns[0] / np.array(Ns, float), ":", color="0.5",
                label=r"$\propto 1/N$")
    ax_a.set_xlabel(r"width $N$")
    ax_a.set_ylabel(r"$1-\mathrm{CKA}(\mathbb{H}_{\mathrm{exp.}}, \mathbb{H}_{\mathrm{theory}})$")
    outside_legend(ax_a, title=f"linear networks,\n{src}")
    panel_letter(ax_a, "a")
    pc = {}
    for i, a in enumerate(archs):
        lt, vt = antidiagonal(theory[a])
        lf, vf = antidiagonal(fin[a][Ns[-1]][0])
        ax_c.plot(lf, vf, "-", color=f"C{i}", label=f"{a.upper()}, $N={Ns[-1]}$")
        ax_c.plot(lt, vt, "--", color=f"C{i}", lw=0.9, label=f"{a.upper()} theory")
        pc[a] = {"lag": lt, "theory": vt, "finite_N": vf, "N": Ns[-1]}
    ax_c.axhline(0, color="0.7", lw=0.5)
    ax_c.set_xlabel(r"$t-t'$ (anti-diagonal)")
    ax_c.set_ylabel(r"$\mathbb{H}^{tt'}/\sqrt{\mathbb{H}^{tt}\mathbb{H}^{t't'}}$")
    outside_legend(ax_c)
    panel_letter(ax_c, "c")
    data["panel_a"], data["panel_c"] = pa, pc
    show = [Ns[0], Ns[len(Ns) // 2], Ns[-1]]
    pb = {"theory": theory["rnn"], "finite_N": {}, "antidiagonal_cells": antidiagonal_cells(T)}
    axs = bottom.subplots(1, 4)
    vl = (-float(np.max(np.abs(theory["rnn"]))) * 1.05, float(np.max(np.abs(theory["rnn"]))) * 1.05)
    for j, (ax, K, ttl) in enumerate(zip(axs, [fin["rnn"][n][0] for n in show] + [theory["rnn"]],
                                          [f"RNN, $N={n}$" for n in show] + [r"theory, $N\to\infty$"])):
        heatmap(ax, K, vlim=vl, colorbar=j == 3)
        ax.set_title(ttl)
        ax.set_xlabel(r"$t'$")
        if j == 0:
            ax.set_ylabel(r"$t$")
            panel_letter(ax, "b")
        tt = np.array(pb["antidiagonal_cells"])
        ax.plot(tt[:, 1], tt[:, 0], "s", mfc="none", mec="C2", ms=3.2, mew=0.8)     # the cells panel c reads
    for n in show:
        pb["finite_N"][str(n)] = {"kernel": fin["rnn"][n][0], "stderr": fin["rnn"][n][1]}
    data["panel_b"] = pb
    data["theory_kernels"] = theory
    data["panels"] = {"a": pa, "b": pb, "c": pc}
    data["sampling"] = sampling.summary() if not quick else {"source": src, "runs": []}
    if not quick:
        sampling.warn_if_cut(2)
    return write(fig, 2, out, data), data, Ns[-1], elapsed(t0)

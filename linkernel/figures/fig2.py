"""Fig. 2, linear analogue: the sinusoidal response task, finite-width kernels converging to the theory.

Task: one input at t = 0, targets ``y^t = lam cos(2 pi t / T)`` at every step, T = 10, P = 1
(:func:`linkernel.tasks.sinusoid`).  The paper's network uses erf; this is the linear network of
the package, and the figure says so.

(a) CKA(finite-N kernel, theory kernel) vs N, RNN and DNN (1 - CKA on a log scale);
(b) the RNN kernel H^{tt'} at a few N next to the theory;
(c) the anti-diagonal autocorrelation: the normalised kernel ``H^{t,t'} / sqrt(H^{tt} H^{t't'})`` along
    the anti-diagonal through the centre, ``t + t' = T - 1`` (odd lags) and ``T - 2`` (even lags), as a
    function of the lag ``tau = t - t'``; theory lines, finite-N points at the largest N.
"""

from __future__ import annotations

import time

import numpy as np

from linkernel import tasks
from linkernel.progress import progress_bar
from linkernel.figures.common import SWEEPS, elapsed, estimate_minutes, kernel_panel, network_kernels, say, write
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


def make(N=None, quick=False, out="figures", progress=True, seed=0, lam: float = 1.0):
    t0 = time.perf_counter()
    T = 10
    Ns = [16, 32, 64] if quick else [64, 128, 256, 512, 1024, N or 2048]
    Ns = sorted(set(Ns if N is None or quick else [n for n in Ns if n <= N]))
    if quick and N is not None:
        Ns = sorted(set(Ns + [int(N)]))
    if not quick:
        est = estimate_minutes([tasks.sinusoid(a, T=T, lam=lam) for a in ("rnn", "dnn")], Ns[-1], seed)
        est *= sum((n / Ns[-1]) ** 2 for n in Ns)
        say(f"Fig. 2: sampling RNN and DNN networks at N = {Ns} (T = 10, {SWEEPS} sweeps x 2 chains each); "
            f"estimated {est:.0f} min here (a short calibration run)", progress)
    archs = ("rnn", "dnn")
    theory, fin = {}, {a: {} for a in archs}
    for a in archs:
        pr = tasks.sinusoid(a, T=T, lam=lam)
        theory[a] = saddle_point(pr).kernel
        for n in progress_bar(progress, iterable=Ns, desc=f"fig2 {a}"):
            K, se, _, _, src = network_kernels(pr, n, quick, seed)
            fin[a][n] = (K, se, src)

    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(11, 6.4))
    gs = fig.add_gridspec(2, 4, height_ratios=[1, 1], hspace=0.45, wspace=0.5)
    ax_a = fig.add_subplot(gs[0, 0:2])
    data = {"title": TITLE, "task": tasks.sinusoid("rnn", T=T, lam=lam).to_dict(), "Ns": Ns,
            "notes": ["linear network (the paper's Fig. 2 network uses erf)",
                      f"finite-N kernels: {fin['rnn'][Ns[0]][2].split(' (')[0]}"]}
    pa = {}
    for i, a in enumerate(archs):
        c = [cka(fin[a][n][0], theory[a]) for n in Ns]
        pa[a] = {"N": Ns, "cka": c, "one_minus_cka": [1 - x for x in c]}
        ax_a.loglog(Ns, np.maximum(1 - np.array(c), 1e-12), "o-", color=f"C{i}", label=a.upper())
    ax_a.loglog(Ns, 0.5 * (1 - pa["rnn"]["cka"][0]) * Ns[0] / np.array(Ns, float), ":", color="0.5",
                label=r"$\propto 1/N$")
    ax_a.set_xlabel("width N", fontsize=8)
    ax_a.set_ylabel("1 - CKA(finite N, theory)", fontsize=8)
    ax_a.set_title("(a) kernel alignment vs width", fontsize=9)
    ax_a.legend(fontsize=7)
    data["panel_a"] = pa

    # (c) anti-diagonal autocorrelation
    ax_c = fig.add_subplot(gs[0, 2:4])
    pc = {}
    for i, a in enumerate(archs):
        lt, vt = antidiagonal(theory[a])
        lf, vf = antidiagonal(fin[a][Ns[-1]][0])
        ax_c.plot(lt, vt, "-", color=f"C{i}", label=f"{a.upper()} theory")
        ax_c.plot(lf, vf, "o", color=f"C{i}", mfc="none", ms=4, label=f"{a.upper()} N={Ns[-1]}")
        pc[a] = {"lag": lt, "theory": vt, "finite_N": vf, "N": Ns[-1]}
    ax_c.axhline(0, color="0.7", lw=0.6)
    ax_c.set_xlabel(r"lag $\tau = t - t'$ (central anti-diagonal)", fontsize=8)
    ax_c.set_ylabel(r"$H^{tt'} / \sqrt{H^{tt} H^{t't'}}$", fontsize=8)
    ax_c.set_title("(c) anti-diagonal autocorrelation", fontsize=9)
    ax_c.legend(fontsize=6, ncol=2)
    data["panel_c"] = pc

    # (b) RNN kernels vs N
    show = [Ns[0], Ns[len(Ns) // 2], Ns[-1]]
    pb = {"theory": theory["rnn"], "finite_N": {}}
    for j, n in enumerate(show):
        ax = fig.add_subplot(gs[1, j])
        kernel_panel(ax, fin["rnn"][n][0], f"(b) RNN, N = {n}", labels=("t'", "t"))
        pb["finite_N"][str(n)] = {"kernel": fin["rnn"][n][0], "stderr": fin["rnn"][n][1]}
    ax = fig.add_subplot(gs[1, 3])
    kernel_panel(ax, theory["rnn"], "(b) RNN, theory (N = inf)", labels=("t'", "t"))
    data["panel_b"] = pb
    data["theory_kernels"] = theory
    fig.suptitle(TITLE, fontsize=10)
    return write(fig, 2, out, data), data, Ns[-1], elapsed(t0)

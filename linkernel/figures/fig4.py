"""Fig. 4: the RNN's phase transition on the endpoint task (P = 1).

(a) the order parameter ``m = H^{T-1,T-2}`` vs lambda for several T: theory (saddle point on a
    lambda grid) and finite-width points (quick: the exact finite-N posterior; full: sampled networks,
    :func:`linkernel.finite_n.network_sampler.sample_networks`), each sample's Z2 sign fixed (m >= 0);
    on a second axis the theory's weight-spectrum outlier of W (:mod:`linkernel.theory.spectrum`);
(b) the Landau landscape ``min_{H: m(H) = m} S(H) - S(m = 0)`` at T = 4 around lambda_c
    (:func:`linkernel.theory.landscape.landscape`).

Also writes the library's own standalone panels (:func:`linkernel.plots.plot_sgld_order_parameter`,
:func:`linkernel.plots.plot_landscape`) as fig4a.png and fig4b.png.
"""

from __future__ import annotations

import os
import time

import numpy as np

from linkernel import tasks
from linkernel.progress import progress_bar
from linkernel.figures.common import SWEEPS, elapsed, estimate_minutes, network_kernels, say, write
from linkernel.plots import plot_landscape, plot_sgld_order_parameter
from linkernel.problem import order_parameter
from linkernel.theory.landscape import landscape
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import critical_lambda
from linkernel.theory.spectrum import weight_spectrum


def make(N=None, quick=False, out="figures", progress=True, seed=0):
    t0 = time.perf_counter()
    Ts = [3, 4] if quick else [3, 4, 5]
    N = N or (64 if quick else 512)
    grid = np.round(np.arange(0.5, 4.0 + 1e-9, 0.5 if quick else 0.1), 10)
    pts = [1.0, 2.0, 3.0] if quick else [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    if not quick:
        est = estimate_minutes([tasks.endpoint("rnn", T=T) for T in Ts for _ in pts], N, seed)
        say(f"Fig. 4: theory on {len(grid)} lambdas x {len(Ts)} T, {len(pts) * len(Ts)} network posteriors at "
            f"N = {N} ({SWEEPS} sweeps x 2 chains); estimated {est + 1:.0f} min here (a short calibration run)",
            progress)
    theory, points, outl = {}, {}, {}
    pa = {}
    for T in progress_bar(progress, iterable=Ts, desc="fig4 theory"):
        ms, zs = [], []
        for lam in grid:
            sp = saddle_point(tasks.endpoint("rnn", T=T, lam=float(lam)), n_starts=4)
            ms.append(sp.order_parameter)
            o = weight_spectrum(sp).outliers["W"]
            zs.append(float(np.abs(o[0])) if len(o) else None)
        theory[T], outl[T] = (grid, np.array(ms)), zs
        pl, pm, pe = [], [], []
        for lam in progress_bar(progress, iterable=pts, desc=f"fig4 T={T} N={N}"):
            pr = tasks.endpoint("rnn", T=T, lam=lam)
            K, se, draws, _, src = network_kernels(pr, N, quick, seed)
            m = np.array([order_parameter(H, T, 1) for H in draws])
            pl.append(lam), pm.append(float(m.mean())), pe.append(float(se[T - 1, T - 2]))
        points[T] = (pl, pm, pe)
        pa[f"T={T}"] = {"lam": grid, "m_theory": ms, "outlier_theory": zs, "lam_points": pl, "m_points": pm,
                        "m_stderr": pe, "lambda_c": critical_lambda(tasks.endpoint("rnn", T=T)), "source": src}

    T4 = tasks.endpoint("rnn", T=4)
    lc = critical_lambda(T4)
    lams_b = [0.8 * lc, lc, 1.2 * lc] if quick else [0.8 * lc, 0.9 * lc, lc, 1.1 * lc, 1.2 * lc]
    land = landscape(T4, lams_b, points=15 if quick else 41)

    import matplotlib.pyplot as plt
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, T in enumerate(Ts):
        c = f"C{i}"
        ax_a.plot(*theory[T], "-", color=c, label=f"theory T={T}")
        ax_a.errorbar(points[T][0], points[T][1], yerr=points[T][2], fmt="o", color=c, mfc="white", ms=4, capsize=2)
    ax_a.plot([], [], "o", color="k", mfc="white", label=f"{src.split(' (')[0]}, N={N}")
    ax_a.set_xlabel(r"signal strength $\lambda$", fontsize=8)
    ax_a.set_ylabel(r"$m = H^{T-1,T-2}$", fontsize=8)
    ax2 = ax_a.twinx()
    for i, T in enumerate(Ts):
        ax2.plot(grid, [np.nan if z is None else z for z in outl[T]], "--", color=f"C{i}", lw=0.9)
    ax2.set_ylabel("outlier of W (theory, dashed; bulk radius 1)", fontsize=8)
    ax2.set_ylim(bottom=1.0)
    ax_a.legend(fontsize=7, loc="upper left")
    ax_a.set_title("(a) order parameter and weight outlier vs lambda", fontsize=9)
    pb = {}
    cols = plt.cm.plasma(np.linspace(0, 0.8, len(land.curves)))
    for c, col in zip(land.curves, cols):
        m = np.concatenate([-c.m[:0:-1], c.m])
        d = np.concatenate([c.delta_action[:0:-1], c.delta_action])
        ax_b.plot(m, d, color=col, label=rf"$\lambda$ = {c.lam / lc:.2f} $\lambda_c$")
        pb[f"{c.lam:.10g}"] = {"m": c.m, "delta_action": c.delta_action, "lam_over_lambda_c": c.lam / lc}
    ax_b.axhline(0, color="0.7", lw=0.6)
    ax_b.set_xlabel(r"$m = H^{T-1,T-2}$", fontsize=8)
    ax_b.set_ylabel(r"$S_m - S_0$", fontsize=8)
    ax_b.set_title(f"(b) Landau landscape, RNN T = 4 (lambda_c = {lc:.5g})", fontsize=9)
    ax_b.legend(fontsize=7)
    fig.suptitle("Fig. 4: the RNN's transition on the endpoint task (linear network, kappa = 0.1)", fontsize=10)
    fig.tight_layout()
    data = {"panel_a": pa, "panel_b": {"T": 4, "lambda_c": lc, "curves": pb},
            "notes": [f"lambda_c(T=4) = {lc:.8g}; points: {src}"]}
    paths = write(fig, 4, out, data)
    extra = (plot_sgld_order_parameter(theory, points, os.path.join(out, "fig4a.png"), N=N),
             plot_landscape(land, os.path.join(out, "fig4b.png"), lambda_c=lc))
    return paths + tuple(extra), data, N, elapsed(t0)

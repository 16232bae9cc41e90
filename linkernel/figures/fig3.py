"""Fig. 3: endpoint classification with P pairwise orthogonal inputs, RNN vs DNN, weak and strong signal.

Paper's sizes (full): P = 4 inputs ``x_p^0 = 2 e_p`` in D = 4, T = 8, labels +-1, w = v = u = 1,
kappa = 0.1, N = 2048; weak signal 0.5 lambda_c, strong 2.5 lambda_c (lambda_c of the RNN,
:func:`linkernel.theory.special_points.critical_lambda`).  Quick: T = 4, P = D = 2, N = 128.

The paper's layout: (a) the label kernels ``Y_00^{tt'}`` (pattern 0, T x T) and ``Y_pp'^{TT}``
(P x P); cells (b, c) the DNN, (d, e) the RNN, weak signal in the upper row (b, d), strong in the
lower (c, e).  Each cell, left to right: the temporal kernel ``H_00^{tt'}`` (pattern 0), the sample
kernel ``H_pp'^{T-1,T-1}`` of the finite networks, with the theory as lower-left inset on the same
colour scale, and the eigenvalues of W (RNN) or of every W^(t) pooled (DNN) in the complex plane,
with the theory's bulk circle sqrt(w) and predicted outliers
(:func:`linkernel.theory.spectrum.weight_spectrum`; the sign of W is arbitrary, so the mirror -z is
drawn too).  The finite networks are sampled networks in the full version, exact finite-N
posterior draws (no network sampled) in the quick one; the figure says which.
"""

from __future__ import annotations

import time

import numpy as np

from linkernel import tasks
from linkernel.problem import index
from linkernel.progress import progress_bar
from linkernel.figures.common import (CHAINS, Sampling, estimate_minutes, elapsed, kernel_panel, network_kernels, say,
                                      spectra_of, spectrum_panel, write)
from linkernel.figures.style import TEXTWIDTH, new_figure, panel_letter
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import critical_lambda
from linkernel.theory.spectrum import weight_spectrum

WEAK, STRONG = 0.5, 2.5


CELLS = {"b": ("dnn", "weak"), "c": ("dnn", "strong"), "d": ("rnn", "weak"), "e": ("rnn", "strong")}


def label_kernels(problem) -> dict:
    """Panel a: ``Y_00^{tt'} = y_0^t y_0^{t'}`` (T x T, pattern 0) and ``Y_pp'^{TT} = y_p^T y_p'^T`` (P x P)."""
    y = np.asarray(problem.targets, dtype=float)            # (T, P): the label at the last step only
    return {"Y_00_tt": np.outer(y[:, 0], y[:, 0]), "Y_pp_TT": np.outer(y[-1], y[-1])}


def _cell(sub, letter, arch, sig, K, Hth, th, ev, T, P) -> None:
    """One cell (b-e): temporal kernel H_00^{tt'}, sample kernel H_pp'^{T-1,T-1}, eigenvalues; theory insets."""
    temporal, sample = K[0::P, 0::P], K[index(T - 1, 0, P):, index(T - 1, 0, P):]
    axs = sub.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1]})
    kernel_panel(axs[0], temporal, r"$\mathbb{H}_{00}^{tt'}$", labels=(r"$t'$", r"$t$"), inset=Hth[0::P, 0::P],
                 inset_title="")
    kernel_panel(axs[1], sample, r"$\mathbb{H}_{pp'}^{T_-T_-}$", labels=(r"$p'$", r"$p$"),
                 inset=Hth[index(T - 1, 0, P):, index(T - 1, 0, P):], inset_title="")
    show = th.names[0]
    if arch == "dnn":          # every layer: bulk radius sqrt(w), and (theory) no outlier: one panel for all W^(t)
        from dataclasses import replace
        th = replace(th, outliers={show: np.concatenate([th.outliers[n] for n in th.names])})
    pooled = np.concatenate([np.asarray(v).ravel() for v in ev.values()])
    spectrum_panel(axs[2], pooled, th, show, r"$\{W^{(t)}\}_t$" if arch == "dnn" else r"$W$")
    axs[1].set_title(f"{arch.upper()}, {sig} signal\n" + axs[1].get_title(), fontsize=8)
    panel_letter(axs[0], letter, x=-0.35)


def make(N=None, quick=False, out="figures", progress=True, seed=0, sweeps=None, max_minutes=None):
    t0 = time.perf_counter()
    T, P = (4, 2) if quick else (8, 4)
    N = N or (128 if quick else 2048)
    base = tasks.endpoint("rnn", T=T, P=P, D=P)
    sampling = Sampling(n_runs=4, sweeps=sweeps, max_minutes=max_minutes)
    if not quick:
        est = 2 * estimate_minutes([tasks.endpoint(a, T=T, P=P, D=P) for a in ("rnn", "dnn")], N, seed, sweeps,
                                   spectra=1)
        sampling.estimated_minutes = est
        say(f"Fig. 3: T = {T}, P = {P}, N = {N}: 4 network posteriors ({CHAINS} chains, "
            f"{sweeps or 'until R-hat < 1.01 and ESS >= 400'} sweeps) and their weight spectra; estimated "
            f"{est + 0.3:.1f} min here (a short calibration run)", progress)
    lam_c = critical_lambda(base)
    fig = new_figure(TEXTWIDTH, 4.6)
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.75, 2.0])
    a_fig = top.subfigures(1, 3, width_ratios=[1, 1, 1.4])
    Y = label_kernels(base)
    ax = a_fig[0].subplots()
    kernel_panel(ax, Y["Y_00_tt"], r"$\mathbb{Y}_{00}^{tt'}$", labels=(r"$t'$", r"$t$"))
    panel_letter(ax, "a", x=-0.35)
    ax = a_fig[1].subplots()
    kernel_panel(ax, Y["Y_pp_TT"], r"$\mathbb{Y}_{pp'}^{TT}$", labels=(r"$p'$", r"$p$"))
    cells = bottom.subfigures(2, 2)
    data = {"title": f"Fig. 3: endpoint task, P = {P} orthogonal inputs, T = {T}, N = {N}", "lambda_c": lam_c, "N": N,
            "panels": {"a": {"Y_00_tt": Y["Y_00_tt"], "Y_pp_TT": Y["Y_pp_TT"]}},
            "notes": [f"lambda_c = {lam_c:.6g} (RNN); weak = {WEAK} lambda_c, strong = {STRONG} lambda_c"]}
    src = ""
    for k, (letter, (arch, sig)) in enumerate(progress_bar(progress, iterable=list(CELLS.items()), desc="fig3")):
        lam = (WEAK if sig == "weak" else STRONG) * lam_c
        pr = tasks.endpoint(arch, T=T, P=P, D=P, lam=lam)
        sp = saddle_point(pr)
        from linkernel.problem import fix_z2_sign
        Hth = fix_z2_sign(pr, sp.kernel)
        th = weight_spectrum(sp)
        row = ("rnn", "dnn").index(arch) * 2 + ("weak", "strong").index(sig)      # seeds as before
        K, se, draws, spectra, src, _ = network_kernels(pr, N, quick, seed + row, spectra=1, sampling=sampling)
        ev = spectra_of(spectra, pr, draws, N, seed + row)
        _cell(cells[("weak", "strong").index(sig), ("dnn", "rnn").index(arch)], letter, arch, sig, K, Hth, th, ev,
              T, P)
        temporal = lambda H: H[0::P, 0::P]                          # noqa: E731  pattern 0, all t
        sample = lambda H: H[index(T - 1, 0, P):, index(T - 1, 0, P):]            # noqa: E731  t = t' = T-1
        data["panels"][letter] = {
            "arch": arch, "signal": sig, "lam": lam, "source": src,
            "temporal_kernel": temporal(K), "temporal_kernel_theory": temporal(Hth),
            "temporal_kernel_stderr": temporal(se),
            "sample_kernel": sample(K), "sample_kernel_theory": sample(Hth), "sample_kernel_stderr": sample(se),
            "kernel": K, "kernel_theory": Hth,
            "spectrum_theory": th.to_dict()["outliers"], "bulk_radius": th.to_dict()["bulk_radius"],
            "eigenvalues": {n: [[float(z.real), float(z.imag)] for z in np.asarray(v).ravel()]
                            for n, v in ev.items()},
            "spectral_radius": {n: float(np.max(np.abs(np.asarray(v)))) for n, v in ev.items()}}
        rad = max(data["panels"][letter]["spectral_radius"].values())
        out_txt = ", ".join(f"{z.real:.4g}" for n in th.names for z in th.outliers[n]) or "none"
        data["notes"].append(f"({letter}) {arch.upper()} {sig}: predicted outliers {out_txt}; sampled spectral "
                             f"radius {rad:.4g}")
    a_fig[2].text(0.0, 0.5, f"$P={P}$ orthogonal inputs, $D={P}$, $T={T}$\n"
                  f"$w=v=u=1$, $\\kappa=0.1$, $\\lambda_c={lam_c:.4g}$\n"
                  f"weak ${WEAK}\\,\\lambda_c$, strong ${STRONG}\\,\\lambda_c$\n"
                  f"{src.split(' (')[0]}, $N={N}$\ninsets (lower left): theory\n$T_- = T-1$ (the last hidden step)", fontsize=7, va="center")
    data["sampling"] = sampling.summary() if not quick else {"source": src.split(" (")[0], "runs": []}
    if not quick:
        sampling.warn_if_cut(3)
    return write(fig, 3, out, data), data, N, elapsed(t0)

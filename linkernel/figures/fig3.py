"""Fig. 3: endpoint classification with P pairwise orthogonal inputs, RNN vs DNN, weak and strong signal.

Paper's sizes (full): P = 4 inputs ``x_p^0 = 2 e_p`` in D = 4, T = 8, labels +-1, w = v = u = 1,
kappa = 0.1, N = 2048; weak signal 0.5 lambda_c, strong 2.5 lambda_c (lambda_c of the RNN,
:func:`linkernel.theory.special_points.critical_lambda`).  Quick: T = 4, P = D = 2, N = 128.

Rows: RNN weak, RNN strong, DNN weak, DNN strong.  Columns: (a) the label kernel
``Y = y y^T`` over patterns; (b) the temporal kernel ``H_00^{tt'}`` (pattern 0) of the finite
networks with the theory as inset; (c) the sample kernel ``H_pp'^{T-1,T-1}``, same; (d) the
eigenvalues of W (RNN) or of every W^(t) pooled (DNN) in the complex plane, with the theory's bulk
circle sqrt(w) and predicted outliers (:func:`linkernel.theory.spectrum.weight_spectrum`; the sign
of W is arbitrary, so the mirror -z is drawn too).
"""

from __future__ import annotations

import time

import numpy as np

from linkernel import tasks
from linkernel.problem import index
from linkernel.progress import progress_bar
from linkernel.figures.common import (SWEEPS, estimate_minutes, elapsed, kernel_panel, network_kernels, say, spectra_of,
                                      spectrum_panel, write)
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import critical_lambda
from linkernel.theory.spectrum import weight_spectrum

WEAK, STRONG = 0.5, 2.5


def make(N=None, quick=False, out="figures", progress=True, seed=0):
    t0 = time.perf_counter()
    T, P = (4, 2) if quick else (8, 4)
    N = N or (128 if quick else 2048)
    base = tasks.endpoint("rnn", T=T, P=P, D=P)
    if not quick:
        est = 2 * estimate_minutes([tasks.endpoint(a, T=T, P=P, D=P) for a in ("rnn", "dnn")], N, seed)
        say(f"Fig. 3: T = {T}, P = {P}, N = {N}: 4 network posteriors ({SWEEPS} sweeps x 2 chains) and their weight "
            f"spectra; estimated {est + 0.5:.0f} min here (a short calibration run)", progress)
    lam_c = critical_lambda(base)
    cases = [(a, s) for a in ("rnn", "dnn") for s in ("weak", "strong")]
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(4, 4, figsize=(11, 11.5))
    data = {"title": f"Fig. 3: endpoint task, P = {P} orthogonal inputs, T = {T}, N = {N}", "lambda_c": lam_c,
            "notes": [f"lambda_c = {lam_c:.6g} (RNN); weak = {WEAK} lambda_c, strong = {STRONG} lambda_c"]}
    for row, (arch, sig) in enumerate(progress_bar(progress, iterable=cases, desc="fig3")):
        lam = (WEAK if sig == "weak" else STRONG) * lam_c
        pr = tasks.endpoint(arch, T=T, P=P, D=P, lam=lam)
        sp = saddle_point(pr)
        from linkernel.problem import fix_z2_sign
        Hth = fix_z2_sign(pr, sp.kernel)
        th = weight_spectrum(sp)
        K, se, draws, spectra, src = network_kernels(pr, N, quick, seed + row, spectra=1)
        ev = spectra_of(spectra, pr, draws, N, seed + row)
        y = pr.targets[T - 1]
        Y = np.outer(y, y)
        temporal = lambda H: H[0::P, 0::P]                          # noqa: E731  pattern 0, all t
        sample = lambda H: H[index(T - 1, 0, P):, index(T - 1, 0, P):]            # noqa: E731  t = t' = T-1
        name = f"{arch.upper()} {sig} (lambda = {lam:.3g})"
        kernel_panel(axes[row, 0], Y, f"(a) Y = y y^T, {name}", labels=("p'", "p"))
        kernel_panel(axes[row, 1], temporal(K), f"(b) $H_{{00}}^{{tt'}}$, {src}", labels=("t'", "t"),
                     inset=temporal(Hth))
        kernel_panel(axes[row, 2], sample(K), "(c) $H_{pp'}^{T-1,T-1}$", labels=("p'", "p"), inset=sample(Hth))
        pooled = np.concatenate([np.asarray(v).ravel() for v in ev.values()])
        # the DNN's layers all have bulk radius sqrt(w) and (theory) no outlier: one panel for all W^(t)
        show = th.names[0]
        if arch == "dnn":
            from dataclasses import replace
            outl = np.concatenate([th.outliers[n] for n in th.names])
            th_show = replace(th, outliers={show: outl})
        else:
            th_show = th
        spectrum_panel(axes[row, 3], pooled, th_show, show,
                       f"(d) eigenvalues of {'W' if arch == 'rnn' else 'all W^(t)'}")
        if row == 1:
            axes[row, 3].legend(fontsize=5, loc="lower left")
        data[f"panel_{arch}_{sig}"] = {
            "arch": arch, "lam": lam, "source": src, "Y": Y,
            "temporal_kernel": temporal(K), "temporal_kernel_theory": temporal(Hth),
            "temporal_kernel_stderr": temporal(se),
            "sample_kernel": sample(K), "sample_kernel_theory": sample(Hth), "sample_kernel_stderr": sample(se),
            "kernel": K, "kernel_theory": Hth,
            "spectrum_theory": th.to_dict()["outliers"], "bulk_radius": th.to_dict()["bulk_radius"],
            "eigenvalues": {n: [[float(z.real), float(z.imag)] for z in np.asarray(v).ravel()]
                            for n, v in ev.items()},
            "spectral_radius": {n: float(np.max(np.abs(np.asarray(v)))) for n, v in ev.items()}}
        rad = max(data[f"panel_{arch}_{sig}"]["spectral_radius"].values())
        out_txt = ", ".join(f"{z.real:.4g}" for n in th.names for z in th.outliers[n]) or "none"
        data["notes"].append(f"{arch.upper()} {sig}: predicted outliers {out_txt}; sampled spectral radius {rad:.4g}")
    fig.suptitle(data["title"], fontsize=10)
    fig.tight_layout()
    return write(fig, 3, out, data), data, N, elapsed(t0)

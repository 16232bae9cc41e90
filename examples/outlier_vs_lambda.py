"""The spectral signature of the transition: the outlier of the trained W vs lambda, theory and networks.

Theory (linkernel.theory.spectrum, derivations/weight_spectrum.tex): the outliers of a W group are
the eigenvalues of the kernel's one-step propagator M = H_prev^-1 H_prev,next outside the bulk disc
of radius sqrt(w).  Networks: exact posterior draws of W at width N (kernel draws of the exact
reduction completed to N x N matrices), their eigenvalue of largest modulus.  Prints the table of
the sampled outlier against the prediction at lambda = 2 lambda_c for N = 256 .. 4096, and draws
the outlier vs lambda (T = 4, P = 1, kappa = 0.1) to examples/figures/outlier_vs_lambda.{png,pdf}.

    python examples/outlier_vs_lambda.py            # ~8 min on 2 busy cores (N = 4096: ~3 s per matrix)
    python examples/outlier_vs_lambda.py --quick    # < 1 min
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from linkernel import tasks
from linkernel.serialize import dumps
from linkernel.theory.special_points import critical_lambda
from linkernel.finite_n.spectra import sampled_spectrum
from linkernel.theory.spectrum import spectral_threshold, weight_spectrum


def theory_curve(problem, lams):
    """Largest |outlier| (or the bulk radius where there is none) and the largest |eigenvalue of M|, per lambda."""
    top, prop = [], []
    for lam in lams:
        th = weight_spectrum(problem.with_(lam=float(lam)))
        out = th.outliers["W"]
        top.append(float(np.abs(out[0])) if len(out) else None)
        prop.append(float(np.abs(th.eigenvalues["W"][0])))
    return top, prop


def sampled_top(problem, N, draws, seed):
    """Mean and standard error of the sampled spectral radius (the outlier where there is one)."""
    s = sampled_spectrum(problem, N, draws=draws, top=1, seed=seed)
    r = s.spectral_radius["W"]
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--kappa", type=float, default=0.1)
    ap.add_argument("--Ns", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    ap.add_argument("--N-curve", type=int, default=512, help="width of the sampled points vs lambda")
    ap.add_argument("--draws", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="N <= 512, few draws (< 1 min)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures"))
    args = ap.parse_args(argv)
    if args.quick:
        args.Ns, args.N_curve, args.draws = [128, 256, 512], 256, 8

    t0 = time.perf_counter()
    base = tasks.endpoint("rnn", T=args.T, kappa=args.kappa)
    lam_c = critical_lambda(base)
    pr = base.with_(lam=2 * lam_c)
    (z,) = weight_spectrum(pr).outliers["W"][:1]
    print(f"T={args.T} kappa={args.kappa:g}: lambda_c = {lam_c:.6f}; predicted outlier at lambda = 2 lambda_c: "
          f"{z.real:.6f} (bulk radius 1)")
    lam_s = spectral_threshold(base)
    print(f"the outlier leaves the bulk at lambda_s = {lam_s:.6f} = {lam_s / lam_c:.4f} lambda_c")
    # two gaps: of the mean over draws (the bias, within its error bar at every N), and of one network
    # (rms over draws of sampled - predicted: what a single trained network shows; -> 0 like N^-1/2)
    print(f"{'N':>6} {'sampled':>10} {'stderr':>8} {'gap':>8} {'gap/se':>7} {'rms gap':>8}")
    table = []
    for N in args.Ns:
        s = sampled_spectrum(pr, N, draws=args.draws, top=3 if N <= 400 else 1, seed=args.seed)
        near = s.nearest("W", z).real
        mean, se = near.mean(), near.std(ddof=1) / np.sqrt(len(near))
        gap = (mean - z.real) / z.real
        rms = float(np.sqrt(np.mean((near - z.real) ** 2)) / z.real)
        table.append({"N": N, "sampled": mean, "stderr": se, "relative_gap": gap, "sd": near.std(ddof=1),
                      "rms_relative_gap": rms, "draws": len(near), "seconds": s.seconds})
        print(f"{N:6d} {mean:10.5f} {se:8.5f} {gap:8.2%} {abs(mean - z.real) / se:7.2f} {rms:8.2%}", flush=True)
    slope = np.polyfit(np.log([r["N"] for r in table]), np.log([r["rms_relative_gap"] for r in table]), 1)[0]
    print(f"one network's gap (rms over draws) falls like N^{slope:.2f} (a network at width N: sd ~ N^-1/2)")

    lams = np.union1d(np.linspace(0.5, 3.0, 26) * lam_c, [lam_c * (1 + 1e-9), lam_s])
    top, prop = theory_curve(base, lams)
    pts_l = np.array([0.5, 0.8, 1.2, 1.5, 2.0, 2.5, 3.0]) * lam_c
    pts = [sampled_top(base.with_(lam=float(lam)), args.N_curve, max(4, args.draws // 2), args.seed)
           for lam in pts_l]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    lr = lams / lam_c
    ax.plot(lr, [p for p in prop], color="0.6", lw=1, ls=":", label="largest |eig M| (theory)")
    ax.plot(lr, [np.nan if t is None else t for t in top], color="C3", lw=2, label="outlier (theory, N = inf)")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="bulk radius sqrt(w)")
    ax.axvline(1.0, color="0.8", lw=0.8)
    ax.axvline(lam_s / lam_c, color="C3", lw=0.8, ls=":")
    ax.text(lam_s / lam_c, 0.05, r" $\lambda_s$", color="C3", fontsize=8)
    ax.text(1.0, 0.05, r" $\lambda_c$", color="0.4", fontsize=8)
    ax.errorbar(pts_l / lam_c, [p[0] for p in pts], yerr=[2 * p[1] for p in pts], fmt="o", color="C0",
                label=f"sampled networks, N = {args.N_curve} (largest |z|, 2 se)")
    ax.set_xlabel(r"$\lambda / \lambda_c$")
    ax.set_ylabel("largest |eigenvalue| of W")
    ax.set_title(f"Weight-spectrum outlier, linear RNN, T = {args.T}, kappa = {args.kappa:g}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    paths = [os.path.join(args.out, f"outlier_vs_lambda.{e}") for e in ("png", "pdf")]
    for p in paths:
        fig.savefig(p, dpi=150)
    data = {"T": args.T, "kappa": args.kappa, "lambda_c": lam_c, "lambda_s": lam_s, "predicted_at_2lambda_c": [z.real, z.imag],
            "table": table, "rms_gap_slope": slope, "curve": {"lam": lams, "outlier": top, "largest_propagator_eigenvalue": prop},
            "points": {"N": args.N_curve, "lam": pts_l, "mean": [p[0] for p in pts], "stderr": [p[1] for p in pts]},
            "seconds": time.perf_counter() - t0}
    jpath = os.path.join(args.out, "outlier_vs_lambda.json")
    with open(jpath, "w") as fh:
        fh.write(dumps(data))
    print("wrote " + ", ".join(paths + [jpath]) + f" ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

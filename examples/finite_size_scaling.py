"""Finite-size scaling at the RNN transition with the exact finite-N posterior.

Endpoint task, T = 4, kappa = 0.1, w = v = u = 1 (the paper's minimal case).
Computes lambda_c (smallest Z2-odd Hessian eigenvalue on the symmetric branch),
the quartic Landau coefficient b, then E|m| at lambda_c for N = 64 .. 6.7e7,
the fitted power of N, m(lambda) at several N, and the scaling collapse.

    python examples/finite_size_scaling.py [--out finite_size_scaling.png] [--quick]

Writes the PNG and a JSON file with every number next to it.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from linkernel.finite_n.finite_size import (critical_lambda, finite_size_scaling, landau_quadratic, rounding,
                                   scaling_function)
from linkernel.plots import plot_finite_size_scaling
from linkernel.tasks import endpoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="finite_size_scaling.png")
    ap.add_argument("--quick", action="store_true", help="fewer widths and draws (about a minute)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    p = endpoint("rnn", T=4, kappa=0.1, w=1.0, v=1.0, u=1.0)

    lam_c = critical_lambda(p)
    print(f"lambda_c = {lam_c:.13f}")
    if args.quick:
        Ns, samples, fit_min = [64, 1024, 16384, 262144, 4194304], 400, 16384
        lam_grid, round_N = np.linspace(1.2, 2.2, 6), [64, 4096]
        x_grid, coll_N = np.linspace(-6, 10, 5), [10 ** 4, 10 ** 6]
    else:
        Ns, samples, fit_min = [int(64 * 4 ** k) for k in range(12)], 1000, 10 ** 5
        lam_grid, round_N = np.linspace(1.0, 2.4, 15), [64, 1024, 16384]
        x_grid, coll_N = np.linspace(-8, 12, 11), [10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6]

    fss = finite_size_scaling(p, Ns, lam_c=lam_c, fit_min_N=fit_min, samples=samples, warmup=samples,
                              seed=args.seed)
    print(f"Landau quartic coefficient b = {fss.landau_b:.8e} (b > 0: second order)")
    print(f"{'N':>10} {'E|m|':>10} {'stderr':>9} {'Landau':>9} {'R-hat':>7} {'ESS':>7}")
    for N, m, se, rh, es in zip(fss.N, fss.m, fss.m_stderr, fss.max_rhat, fss.min_ess):
        print(f"{N:>10d} {m:>10.5f} {se:>9.5f} {fss.predicted_amplitude * N ** -0.25:>9.5f} {rh:>7.4f} {es:>7.0f}")
    print(f"fit N >= {fss.fit_min_N}: E|m| = {fss.amplitude:.4f} N^({fss.exponent:.4f} +- {fss.exponent_stderr:.4f})"
          f"  chi2/dof = {fss.chi2_dof:.2f};  Landau amplitude {fss.predicted_amplitude:.4f}, exponent -1/4")

    rnd = rounding(p, lam_grid, round_N, lam_c=lam_c, samples=samples // 2, warmup=samples // 2, seed=args.seed)
    col = rounding(p, x_grid, coll_N, lam_c=lam_c, scaled=True, samples=samples // 2, warmup=samples // 2,
                   seed=args.seed)
    alpha = landau_quadratic(p, lam_c, fss.landau_b)
    xs = np.linspace(x_grid.min(), x_grid.max(), 200)
    theory = (xs, scaling_function(xs, alpha, fss.landau_b))
    print(f"Landau quadratic coefficient alpha = {alpha:.6e}  (f(m) = -alpha (lam - lam_c) m^2 + b m^4)")
    print("scaling collapse N^(1/4) E|m| at x = (lam - lam_c) sqrt(N):")
    print("   x:     " + " ".join(f"{x:7.2f}" for x in x_grid))
    for k, N in enumerate(col.N):
        print(f"   N={N:<8d}" + " ".join(f"{v:7.3f}" for v in col.m[k] * N ** 0.25))
    print("   limit: " + " ".join(f"{v:7.3f}" for v in scaling_function(x_grid, alpha, fss.landau_b)))

    path = plot_finite_size_scaling(fss, args.out, rounding=rnd, collapse=col, theory=theory)
    with open(str(args.out).rsplit(".", 1)[0] + ".json", "w") as f:
        json.dump({"fss": fss.to_dict(), "rounding": rnd.to_dict(), "collapse": col.to_dict(),
                   "alpha": alpha, "seconds": time.perf_counter() - t0}, f, indent=1)
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

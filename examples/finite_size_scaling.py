"""Finite-size scaling at the RNN transition with the exact finite-N posterior.

Endpoint task, T = 4, kappa = 0.1, w = v = u = 1 (the paper's minimal case).
Computes lambda_c (smallest Z2-odd Hessian eigenvalue on the symmetric branch),
the quartic Landau coefficient b, then E|m| at lambda_c for N = 64 .. 6.7e7,
the fitted power of N, m(lambda) at several N, and the scaling collapse.

Every exact posterior runs as a point of a sweep (linkernel.sweep): on a
LocalCluster of 2 worker processes by default, on a running dask cluster with
--scheduler ADDRESS, in this process with --serial; the points are cached next to
the output (``<out>.nc.cache/``), so an interrupted run resumes where it stopped.

    python examples/finite_size_scaling.py [--out finite_size_scaling.png] [--quick] [--scheduler ADDR]

Writes the PNG, a JSON file with every number and the sweeps' NetCDF files
(``<out>_fss.nc``, ``<out>_rounding.nc``, ``<out>_collapse.nc``) next to it.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import numpy as np

from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.finite_size import (QUARTIC_MEAN_ABS, FiniteSizeScaling, Rounding, critical_lambda,
                                            landau_quadratic, landau_quartic, power_law_fit, scaling_function)
from linkernel.plots import plot_finite_size_scaling
from linkernel.sweep import sweep
from linkernel.tasks import endpoint
from linkernel.theory.saddle import saddle_point

PROBLEM = dict(T=4, kappa=0.1, w=1.0, v=1.0, u=1.0)


def exact_point(N, lam=None, x=None, *, lam_c, samples, seed):
    """One exact posterior at width N and signal lam (or lam_c + x / sqrt(N)): E|m| and the diagnostics."""
    lam = lam_c + x / np.sqrt(N) if lam is None else lam
    r = exact_posterior(endpoint("rnn", lam=float(lam), **PROBLEM), int(N), chains=4, samples=samples,
                        warmup=samples, seed=seed, progress=False)
    return {"m": r.order_parameter, "m_stderr": r.order_parameter_stderr, "max_rhat": r.max_rhat,
            "min_ess": r.min_ess, "signal": float(lam)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="finite_size_scaling.png")
    ap.add_argument("--quick", action="store_true", help="fewer widths and draws (about a minute)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    ap.add_argument("--serial", action="store_true", help="no dask: run the points in this process")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    p = endpoint("rnn", **PROBLEM)
    stem = str(args.out).rsplit(".", 1)[0]
    engine = dict(seed=args.seed, scheduler=args.scheduler, serial=args.serial)

    # 12 digits: lambda_c is a cache key of the sweeps, and its last digits move with the solver's rounding
    lam_c = float(f"{critical_lambda(p):.12g}")
    print(f"lambda_c = {lam_c:.13f}")
    if args.quick:
        Ns, samples, fit_min = [64, 1024, 16384, 262144, 4194304], 400, 16384
        lam_grid, round_N = np.linspace(1.2, 2.2, 6), [64, 4096]
        x_grid, coll_N = np.linspace(-6, 10, 5), [10 ** 4, 10 ** 6]
    else:
        Ns, samples, fit_min = [int(64 * 4 ** k) for k in range(12)], 1000, 10 ** 5
        lam_grid, round_N = np.linspace(1.0, 2.4, 15), [64, 1024, 16384]
        x_grid, coll_N = np.linspace(-8, 12, 11), [10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6]

    pc = p.with_(lam=lam_c)
    run = sweep(partial(exact_point, lam=lam_c, lam_c=lam_c, samples=samples), {"N": Ns},
                output=stem + "_fss.nc", name=f"fss-exact-lam{lam_c:.15g}-s{samples}", **engine)
    print(run.summary())
    ds = run.dataset
    N, m, se = ds["N"].values, ds["m"].values, ds["m_stderr"].values
    sel = N >= fit_min
    alpha_, err, A, chi2 = power_law_fit(N[sel], m[sel], se[sel])
    b, _ = landau_quartic(pc)
    fss = FiniteSizeScaling(problem=pc, lam_c=lam_c, N=N, m=m, m_stderr=se, max_rhat=ds["max_rhat"].values,
                            min_ess=ds["min_ess"].values, exponent=alpha_, exponent_stderr=err, amplitude=A,
                            chi2_dof=chi2, fit_min_N=int(fit_min), landau_b=b,
                            predicted_amplitude=QUARTIC_MEAN_ABS * b ** -0.25 if b > 0 else float("nan"),
                            seconds=run.seconds)
    print(f"Landau quartic coefficient b = {fss.landau_b:.8e} (b > 0: second order)")
    print(f"{'N':>10} {'E|m|':>10} {'stderr':>9} {'Landau':>9} {'R-hat':>7} {'ESS':>7}")
    for N, m, se, rh, es in zip(fss.N, fss.m, fss.m_stderr, fss.max_rhat, fss.min_ess):
        print(f"{N:>10d} {m:>10.5f} {se:>9.5f} {fss.predicted_amplitude * N ** -0.25:>9.5f} {rh:>7.4f} {es:>7.0f}")
    print(f"fit N >= {fss.fit_min_N}: E|m| = {fss.amplitude:.4f} N^({fss.exponent:.4f} +- {fss.exponent_stderr:.4f})"
          f"  chi2/dof = {fss.chi2_dof:.2f};  Landau amplitude {fss.predicted_amplitude:.4f}, exponent -1/4")

    half = samples // 2
    r1 = sweep(partial(exact_point, lam_c=lam_c, samples=half), {"N": round_N, "lam": list(lam_grid)},
               output=stem + "_rounding.nc", name=f"rounding-exact-s{half}", **engine).dataset
    minf = np.array([saddle_point(p.with_(lam=float(v))).order_parameter for v in lam_grid])
    rnd = Rounding(lam=r1["signal"].values, N=np.asarray(round_N), m=r1["m"].values, m_stderr=r1["m_stderr"].values,
                   m_infinite=minf, lam_c=lam_c)
    r2 = sweep(partial(exact_point, lam_c=lam_c, samples=half), {"N": coll_N, "x": list(x_grid)},
               output=stem + "_collapse.nc", name=f"collapse-exact-lam{lam_c:.15g}-s{half}", **engine).dataset
    col = Rounding(lam=r2["signal"].values, N=np.asarray(coll_N), m=r2["m"].values, m_stderr=r2["m_stderr"].values,
                   m_infinite=None, lam_c=lam_c)
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

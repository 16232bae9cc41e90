"""Fig. 4a: the RNN's order parameter m = H^{T-1,T-2} vs lambda, theory and sampled networks.

Theory curves for T = 3, 4, 5 come from :func:`linkernel.theory.saddle.saddle_point`
on a lambda grid; points with error bars are posterior means of real width-N
linear RNNs sampled with :func:`linkernel.finite_n.network_sampler.sample_networks` (exact blocked
Gibbs + Metropolis); crosses are the exact finite-N posterior at the same N
(:func:`linkernel.finite_n.exact.exact_posterior`), which the network samples must
match, including the finite-N rounding of the transition.  The per-sample Z2 sign fix (m >= 0) turns the symmetric
phase's m into |m| ~ N^-1/2: the dotted lines are the theory's prediction of
that offset, sqrt(2/pi) times the Gaussian width of m under exp(-N S(H))
(from the Hessian of S on the symmetric branch).

The sampled points (networks and exact posterior at each T, lambda) run as one
sweep (linkernel.sweep): a LocalCluster of 2 worker processes by default,
``--scheduler ADDRESS`` for a running dask cluster, ``--serial`` in this process;
finished points are cached in ``<out>.nc.cache/`` and the grid is written to ``<out>.nc``.

    python examples/fig4a_sgld.py --N 512 --out fig4a_sgld.png        # ~5-10 min on 2 busy cores
    python examples/fig4a_sgld.py --quick                              # T = 3, 4; a few points; N = 64
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np

from linkernel import tasks
from linkernel.theory.hessian import hessian
from linkernel.finite_n.exact import exact_posterior
from linkernel.plots import plot_sgld_order_parameter
from linkernel.theory.saddle import saddle_point
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.sweep import sweep


def sampled_point(T, lam, *, N, sweeps, chains, exact, seed, exact_samples=1000):
    """Width-N networks (and the exact finite-N posterior) at one (T, lambda): the numbers of one point."""
    p = tasks.endpoint("rnn", T=T, lam=lam)
    r = sample_networks(p, N, sweeps=sweeps, chains=chains, dtype=np.float32, seed=seed, progress=False)
    m_ex = m_ex_se = float("nan")
    if exact:
        ex = exact_posterior(p, N, chains=4, samples=exact_samples, warmup=exact_samples // 2, seed=seed,
                             progress=False)
        m_ex, m_ex_se = ex.order_parameter, ex.order_parameter_stderr
    acc = r.acceptance.get("W")
    return {"m": r.order_parameter, "m_stderr": r.order_parameter_stderr, "m_exact": m_ex,
            "m_exact_stderr": m_ex_se, "tau_m": r.tau_m, "rhat": r.max_rhat,
            "acceptance_W": float("nan") if acc is None else acc, "seconds": r.seconds}


def m_width(problem, sp, N):
    """sqrt(2/pi) * std(m) under exp(-N S) (Gaussian approximation at the saddle point)."""
    n = problem.n
    cov = np.linalg.inv(hessian(problem, sp.kernel)) / N
    i, j = np.triu_indices(n)
    a, b = (problem.T - 1) * problem.P, (problem.T - 2) * problem.P   # P = 1 here
    k = int(np.flatnonzero((i == b) & (j == a))[0])
    return float(np.sqrt(2 / np.pi) * np.sqrt(max(cov[k, k], 0.0) / 2))   # off-diagonal coordinate is sqrt2 H_ab


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=512)
    ap.add_argument("--Ts", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--lams", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    ap.add_argument("--sweeps", type=int, default=600)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--no-exact", action="store_true", help="skip the exact finite-N points")
    ap.add_argument("--grid", type=float, default=0.1, help="lambda spacing of the theory curves")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="fig4a_sgld.png")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    ap.add_argument("--replot", default=None, metavar="JSON",
                    help="redraw from the points of an earlier --json output (recomputes only the theory)")
    ap.add_argument("--quick", action="store_true", help="T = 3, 4, four signals, N = 64, short chains")
    ap.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    ap.add_argument("--serial", action="store_true", help="no dask: run the points in this process")
    args = ap.parse_args(argv)
    if args.quick:
        args.Ts, args.lams, args.N, args.sweeps, args.grid = [3, 4], [1.0, 2.0, 3.0, 4.0], 64, 150, 0.25
    exact_samples = 300 if args.quick else 1000
    for path in (args.out, args.json):
        if path:
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
    old = json.load(open(args.replot))["points"] if args.replot else None
    if old:
        args.Ts = sorted({r["T"] for r in old})
        args.lams = sorted({r["lam"] for r in old})
        args.N = old[0]["N"]

    theory, baseline, points, exact, rows = {}, {}, {}, {}, []
    res = None
    if not old:
        run = sweep(partial(sampled_point, N=args.N, sweeps=args.sweeps, chains=args.chains, exact=not args.no_exact,
                            exact_samples=exact_samples),
                    {"T": args.Ts, "lam": args.lams}, seed=args.seed, output=str(args.out).rsplit(".", 1)[0] + ".nc",
                    scheduler=args.scheduler, serial=args.serial,
                    name=f"fig4a-N{args.N}-s{args.sweeps}-c{args.chains}-x{int(not args.no_exact) * exact_samples}")
        print(run.summary(), flush=True)
        res = run.dataset
    grid = np.round(np.arange(0.5, max(args.lams) + 1e-9, args.grid), 10)
    for T in args.Ts:
        t0 = time.perf_counter()
        ms, base_l, base_m = [], [], []
        for lam in grid:
            p = tasks.endpoint("rnn", T=T, lam=lam)
            sp = saddle_point(p, n_starts=4)
            ms.append(sp.order_parameter)
            if sp.order_parameter < 1e-8 and sp.hessian_eigenvalues[0] > 1e-3:
                base_l.append(lam)
                base_m.append(m_width(p, sp, args.N))
        theory[T], baseline[T] = (grid, np.array(ms)), (np.array(base_l), np.array(base_m))
        print(f"T={T}: theory curve ({len(grid)} lambdas) in {time.perf_counter() - t0:.1f} s", flush=True)
        pl, pm, pe, em = [], [], [], []
        for lam in args.lams:
            if old:
                row = next(r for r in old if r["T"] == T and r["lam"] == lam)
            else:
                pt = res.sel(T=T, lam=lam)
                row = {"T": T, "lam": lam, "N": args.N, **{k: float(pt[k]) for k in res.data_vars},
                       "m_theory": float(np.interp(lam, *theory[T]))}
                print(f"  T={T} lambda={lam:<4g} m = {row['m']:8.4f} +- {row['m_stderr']:.4f}  "
                      f"exact {row['m_exact']:8.4f} +- {row['m_exact_stderr']:.4f}  theory {row['m_theory']:8.4f}  "
                      f"tau_m = {row['tau_m']:5.1f} sweeps  R-hat = {row['rhat']:.3f}  {row['seconds']:.1f} s",
                      flush=True)
            pl.append(lam), pm.append(row["m"]), pe.append(row["m_stderr"])
            if np.isfinite(row["m_exact"]):
                em.append(row["m_exact"])
            rows.append(row)
        points[T] = (pl, pm, pe)
        if em:
            exact[T] = (pl, em)
    plot_sgld_order_parameter(theory, points, args.out, N=args.N, baseline=baseline, exact=exact)
    print(f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"points": rows, "theory": {T: [list(map(float, a)) for a in c] for T, c in theory.items()}},
                      fh, indent=1)


if __name__ == "__main__":
    main()

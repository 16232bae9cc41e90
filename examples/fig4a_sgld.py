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

    python examples/fig4a_sgld.py --N 512 --out fig4a_sgld.png        # ~5-10 min on 2 busy cores
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from linkernel import tasks
from linkernel.theory.action import hessian
from linkernel.finite_n.exact import exact_posterior
from linkernel.plots import plot_sgld_order_parameter
from linkernel.theory.saddle import saddle_point
from linkernel.finite_n.network_sampler import sample_networks


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
    args = ap.parse_args(argv)
    old = json.load(open(args.replot))["points"] if args.replot else None
    if old:
        args.Ts = sorted({r["T"] for r in old})
        args.lams = sorted({r["lam"] for r in old})
        args.N = old[0]["N"]

    theory, baseline, points, exact, rows = {}, {}, {}, {}, []
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
                pl.append(lam), pm.append(row["m"]), pe.append(row["m_stderr"])
                if np.isfinite(row["m_exact"]):
                    em.append(row["m_exact"])
                rows.append(row)
                continue
            p = tasks.endpoint("rnn", T=T, lam=lam)
            r = sample_networks(p, args.N, sweeps=args.sweeps, chains=args.chains, dtype=np.float32,
                                seed=args.seed, progress=False)
            pl.append(lam)
            pm.append(r.order_parameter)
            pe.append(r.order_parameter_stderr)
            m_th = float(np.interp(lam, *theory[T]))
            m_ex = m_ex_se = float("nan")
            if not args.no_exact:
                ex = exact_posterior(p, args.N, chains=4, samples=1000, warmup=500, seed=args.seed, progress=False)
                m_ex, m_ex_se = ex.order_parameter, ex.order_parameter_stderr
                em.append(m_ex)
            rows.append({"T": T, "lam": lam, "N": args.N, "m": r.order_parameter, "m_stderr": r.order_parameter_stderr,
                         "m_theory": m_th, "m_exact": m_ex, "m_exact_stderr": m_ex_se, "tau_m": r.tau_m,
                         "rhat": r.rhat, "acceptance_W": r.acceptance.get("W"), "seconds": r.seconds})
            print(f"  T={T} lambda={lam:<4g} m = {r.order_parameter:8.4f} +- {r.order_parameter_stderr:.4f}  "
                  f"exact {m_ex:8.4f} +- {m_ex_se:.4f}  theory {m_th:8.4f}  tau_m = {r.tau_m:5.1f} sweeps  "
                  f"R-hat = {r.rhat:.3f}  {r.seconds:.1f} s", flush=True)
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

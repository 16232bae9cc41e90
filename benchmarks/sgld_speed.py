"""Benchmark: sampling a real width-N RNN's weight posterior to 2% agreement with the theory.

Side by side, on the same problem (endpoint task, RNN, T = 4, lambda = 3.2,
kappa = 0.1: above the transition), the same chains and float32 weights:

* ``naive``: preconditioned unadjusted Langevin (SGLD at temperature 1, every
  weight's step scaled by its prior variance), step 1e-3 (the project notes on sampling:
  larger steps are biased by several percent);
* ``gibbs``: linkernel's sampler (exact Gaussian block conditionals for v, U;
  Metropolis-adjusted Gauss-Newton row-block updates of W, incremental passes).

Printed per N: wall seconds per step (naive: one Langevin step of all
weights; gibbs: one sweep, every weight refreshed once) and seconds until the
running posterior-mean kernel stays within 2% of the exact finite-N posterior
mean at the same N (:func:`linkernel.finite_n.exact.exact_posterior`;
``max |H - H_exact| / max |H_exact| < 0.02`` at every later checkpoint,
burn-in included).  Gibbs runs ``sweeps * max(1, 1024 / N)`` sweeps: per-sample
fluctuations of H are O(N^-1/2), so small N needs more samples.  The naive sampler is run to 2% only at ``--naive-N``;
at larger N its time is *estimated* as (steps it needed there) x (its
measured seconds per step at N), since its step-size limit and relaxation
time (in Langevin time) do not depend on N.

The machine is shared: timings are inflated by other processes; the load
average is printed.  Rerun:

    OPENBLAS_NUM_THREADS=1 python benchmarks/sgld_speed.py --out sgld_speed.png --json sgld_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from linkernel import tasks
from linkernel.finite_n.exact import exact_posterior
from linkernel.theory.saddle import saddle_point
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.finite_n.network_posterior import max_rel_error


def time_to(checkpoints, ref, tol):
    """Seconds at the first checkpoint after which the running mean stays within ``tol`` of ``ref``."""
    ok = [max_rel_error(K, ref) < tol for _, _, K in checkpoints]
    for i in range(len(ok)):
        if all(ok[i:]):
            return checkpoints[i][1], checkpoints[i][0]
    return None, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--Ns", type=int, nargs="+", default=[256, 512, 1024, 2048])
    ap.add_argument("--arch", default="rnn")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--lam", type=float, default=3.2)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--sweeps", type=int, default=100, help="gibbs sweeps per N")
    ap.add_argument("--naive-step", type=float, default=1e-3)
    ap.add_argument("--naive-N", type=int, default=256, help="width at which naive SGLD is run to 2%%")
    ap.add_argument("--naive-steps", type=int, default=100000, help="naive steps at --naive-N")
    ap.add_argument("--timing-steps", type=int, default=10, help="naive steps timed at every N")
    ap.add_argument("--tol", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="PNG of the two panels")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    p = tasks.endpoint(args.arch, T=args.T, lam=args.lam)
    theory = saddle_point(p).kernel
    refs = {}
    for N in sorted(set(args.Ns) | {args.naive_N}):
        ex = exact_posterior(p, N, chains=4, samples=2000, warmup=500, seed=args.seed, progress=False)
        refs[N] = ex.kernel
        print(f"exact reference N={N}: max rel stderr {np.max(ex.stderr) / np.max(np.abs(ex.kernel)):.4f}, "
              f"R-hat {ex.max_rhat:.3f}, vs theory {max_rel_error(ex.kernel, theory):.4f}", flush=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (shared: timings inflated), numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"problem: {args.arch.upper()} endpoint T={args.T} lambda={args.lam} kappa={p.kappa}, {args.chains} chains, "
          f"float32; reference: exact finite-N posterior (linkernel.finite_n.exact); agreement: max rel error < {args.tol}")
    rows = []

    t0 = time.perf_counter()
    naive = sample_networks(p, args.naive_N, sweeps=args.naive_steps, burn=0, chains=args.chains,
                            method="langevin", step=args.naive_step, dtype=np.float32, seed=args.seed,
                            n_checkpoints=200)
    t_naive, steps_naive = time_to(naive.checkpoints, refs[args.naive_N], args.tol)
    reached = f"2% reached after {steps_naive} steps" if steps_naive else "2% not reached"
    print(f"naive SGLD at N={args.naive_N}, step {args.naive_step:g}: {args.naive_steps} steps in "
          f"{time.perf_counter() - t0:.0f} s, final max rel error {max_rel_error(naive.kernel, refs[args.naive_N]):.4f}, "
          f"{reached}", flush=True)

    for N in args.Ns:
        nt = sample_networks(p, N, sweeps=args.timing_steps + 2, burn=0, chains=args.chains, method="langevin",
                             step=args.naive_step, dtype=np.float32, seed=args.seed, progress=False)
        per_step = nt.seconds_per_sweep
        if N == args.naive_N:
            t2, est = t_naive, False
        else:
            t2, est = (steps_naive * per_step if steps_naive else None), True
        rows.append({"method": "naive SGLD", "N": N, "seconds_per_step": per_step, "seconds_to_2pct": t2,
                     "estimated": est})
        ref = refs[N]
        sweeps = int(args.sweeps * max(1, 1024 / N))
        g = sample_networks(p, N, sweeps=sweeps, chains=args.chains, dtype=np.float32, seed=args.seed,
                            n_checkpoints=sweeps)
        tg, sweeps_g = time_to(g.checkpoints, ref, args.tol)
        rows.append({"method": "linkernel gibbs", "N": N, "seconds_per_step": g.seconds_per_sweep,
                     "seconds_to_2pct": tg, "estimated": False, "sweeps_to_2pct": sweeps_g,
                     "final_max_rel_error": max_rel_error(g.kernel, ref), "sweeps": sweeps,
                     "final_vs_theory": max_rel_error(g.kernel, theory), "tau": g.tau, "rhat": g.max_rhat,
                     "acceptance_W": g.acceptance.get("W"), "block_rows": g.block_rows})
        fmt = lambda t: "   n/a" if t is None else f"{t:8.1f}"  # noqa: E731
        print(f"N={N:5d}  naive: {per_step * 1e3:8.1f} ms/step, to 2%: {fmt(t2)} s{' (est.)' if est else ''}   "
              f"gibbs: {g.seconds_per_sweep * 1e3:8.1f} ms/sweep, to 2%: {fmt(tg)} s ({sweeps_g} sweeps), "
              f"final error {max_rel_error(g.kernel, ref):.4f}, tau {g.tau:.1f}, R-hat {g.max_rhat:.3f}, "
              f"W acceptance {g.acceptance.get('W', 1.0):.2f} ({g.block_rows} rows/step)", flush=True)
    if args.out:
        from linkernel.plots import plot_sgld_speed
        plot_sgld_speed(rows, args.out)
        print(f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "load_average": os.getloadavg()[0], "args": vars(args)}, fh, indent=1)


if __name__ == "__main__":
    main()

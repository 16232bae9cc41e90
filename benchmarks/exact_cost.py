"""Cost per effective sample of the exact finite-N posterior, N = 1e2 .. 1e6 (and beyond).

Target: independent of N.  The reduced posterior has O(T^2 P^2) variables at
every N, one log-density gradient costs O(K^3) (K = T P for the endpoint
task) whatever N, and the HMC metric is the posterior covariance (Laplace at
the mode, then adapted), so the standardised target has an N-independent shape.

Printed per N: gradient evaluations per effective sample (the N-independent
measure), wall seconds per effective sample (machine-dependent), the minimum
ESS over kernel entries and the maximum R-hat.

Peer, side by side (``--full``, RNN only): the same HMC sampler on all N^2 + N
weights of the network (the reference of tests/test_exact.py), whose cost per
effective sample grows with N (N^2 dimensions, O(N^2) per gradient, a dense metric).

    python benchmarks/exact_cost.py [--arch rnn] [--lam 3.2] [--samples 1000] [--Nmax 1e6] [--full 8,16,32]
    python benchmarks/exact_cost.py --lam c      # at the critical point lambda_c (the sheared coordinates)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from linkernel.finite_n.exact import exact_posterior
from linkernel.tasks import endpoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="rnn")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--lam", default="3.2", help="lambda, or 'c' for the critical point lambda_c")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--Nmax", type=float, default=1e6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", default="", help="comma-separated widths for the full-network HMC peer (RNN)")
    args = ap.parse_args(argv)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"python {platform.python_version()}, numpy {np.__version__}; load {os.getloadavg()}")
    p = endpoint(args.arch, T=args.T)
    if args.lam.strip().lower() in ("c", "lambda_c", "lam_c"):
        from linkernel.theory.special_points import critical_lambda
        lam = critical_lambda(p)
    else:
        try:
            lam = float(args.lam)
        except ValueError:
            raise ValueError(f"--lam={args.lam!r} is invalid; --lam must be a number or 'c' (lambda_c)") from None
    p = p.with_(lam=lam)
    print(f"{args.arch.upper()} endpoint T={args.T} lambda={lam:.6g}: {args.chains} chains x "
          f"({args.samples} warm-up + {args.samples} draws)")
    print(f"{'N':>9} {'grad/ESS':>9} {'ms/ESS':>8} {'min ESS':>8} {'max Rhat':>9} {'accept':>7} {'seconds':>8}")
    N = 100
    while N <= args.Nmax * 1.0001:
        t0 = time.perf_counter()
        r = exact_posterior(p, N, chains=args.chains, samples=args.samples, warmup=args.samples,
                            seed=args.seed, progress=False)
        sec = time.perf_counter() - t0
        # gradient evaluations per chain; ESS pooled over chains; the least-mixed entry sets the cost
        grads = r.n_gradients * args.chains
        print(f"{N:>9d} {grads / r.min_ess:>9.1f} {1e3 * sec / r.min_ess:>8.2f} {r.min_ess:>8.0f} "
              f"{r.max_rhat:>9.4f} {r.acceptance:>7.2f} {sec:>8.2f}  divergences {r.divergences}")
        N *= 10
    if args.full:
        import sys
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        from tests.test_exact import full_network_rnn_posterior
        print("peer: the same HMC on all N^2 + N network weights (no reduction)")
        print(f"{'N':>9} {'grad/ESS':>9} {'ms/ESS':>8} {'min ESS':>8} {'max Rhat':>9} {'accept':>7} {'seconds':>8}")
        for N in (int(v) for v in args.full.split(",")):
            t0 = time.perf_counter()
            _, _, rh, es, ch = full_network_rnn_posterior(p, N, chains=args.chains, samples=args.samples,
                                                          warmup=args.samples, seed=args.seed)
            sec = time.perf_counter() - t0
            print(f"{N:>9d} {ch.n_grad * args.chains / es:>9.1f} {1e3 * sec / es:>8.2f} {es:>8.0f} "
                  f"{rh:>9.4f} {ch.accept.mean():>7.2f} {sec:>8.2f}")


if __name__ == "__main__":
    main()

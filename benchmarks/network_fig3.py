"""The network sampler at the paper's Fig. 3 size (RNN, T = 8, P = 4, N = 2048) against the exact reduction.

Printed per sampler: seconds, seconds per sweep, the largest integrated
autocorrelation time over kernel entries (sweeps per effective sample:
chains x kept sweeps / min bulk ESS) and of m, max R-hat, and the agreement
with the exact finite-N posterior at the same N (``exact_posterior``):
``max |H - H_exact| / max |H_exact|`` (target: 2%), the largest deviation of
a kernel entry and of an output f in combined error bars (z; ~N(0,1) each,
so the maximum over 528 entries is ~3-3.5 when they agree).

Samplers, side by side: ``reduced`` (the current default for the RNN: the
collapsed kernel move of the exact reduction on the network's own weights,
plus the blocked Gibbs sweep) and ``plain`` (the previous blocked Gibbs
sweep alone: exact v and U conditionals, Metropolis-adjusted Gauss-Newton
row blocks of W).  Targets: autocorrelation time < 10 sweeps; within 2% of
the exact posterior in under 10 minutes; T = 4, P = 1 still in seconds.

    python benchmarks/network_fig3.py                  # N = 2048, T = 8, P = 4 (about 10-20 minutes)
    python benchmarks/network_fig3.py --quick          # < 1 min: T = 4, P = 1, N = 256
    python benchmarks/network_fig3.py --N 256 --sweeps 200
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

from linkernel.errors import SamplerWarning
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.finite_n.network_posterior import max_rel_error
from linkernel.tasks import endpoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--N", type=int, default=2048)
    ap.add_argument("--T", type=int, default=8)
    ap.add_argument("--P", type=int, default=4)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--sweeps", type=int, default=120)
    ap.add_argument("--plain-sweeps", type=int, default=None, help="sweeps of the plain sampler (default: same)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--no-plain", action="store_true", help="skip the previous sampler")
    args = ap.parse_args(argv)
    if args.quick:
        args.N, args.T, args.P, args.sweeps = 256, 4, 1, 100
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"numpy {np.__version__}; load {os.getloadavg()}")
    pr = endpoint("rnn", T=args.T, P=args.P, lam=args.lam)
    print(f"RNN endpoint T={args.T} P={args.P} lambda={args.lam} N={args.N}, {args.chains} chains", flush=True)
    t0 = time.perf_counter()
    ex = exact_posterior(pr, args.N, chains=4, samples=1000, warmup=1000, seed=1, progress=False)
    print(f"exact reduction: {time.perf_counter() - t0:.1f} s, min ESS {ex.min_ess:.0f}, max R-hat "
          f"{ex.max_rhat:.4f}, divergences {ex.divergences}", flush=True)
    runs = [("reduced", True, args.sweeps)]
    if not args.no_plain:
        runs.append(("plain", False, args.plain_sweeps or args.sweeps))
    print(f"{'sampler':<8} {'sweeps':>6} {'seconds':>8} {'s/sweep':>8} {'tau max':>8} {'tau m':>6} {'R-hat':>7} "
          f"{'rel err':>8} {'max z H':>8} {'max z f':>8}")
    for label, reduced, sweeps in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)
            r = sample_networks(pr, args.N, sweeps=sweeps, chains=args.chains, seed=2, progress=False,
                                reduced_moves=reduced, spectra=1)
        zH = np.max(np.abs(r.kernel - ex.kernel) / np.sqrt(r.stderr ** 2 + ex.stderr ** 2 + 1e-300))
        zf = np.max(np.abs(r.predictions - ex.predictions)
                    / np.sqrt(r.predictions_stderr ** 2 + ex.predictions_stderr ** 2 + 1e-300))
        tau = "n/a" if r.tau is None else f"{r.tau:.2f}"
        taum = "n/a" if r.tau_m is None else f"{r.tau_m:.2f}"
        rh = "n/a" if r.max_rhat is None else f"{r.max_rhat:.4f}"
        print(f"{label:<8} {sweeps:>6d} {r.seconds:>8.1f} {r.seconds_per_sweep:>8.2f} {tau:>8} {taum:>6} {rh:>7} "
              f"{max_rel_error(r.kernel, ex.kernel):>8.4f} {zH:>8.2f} {zf:>8.2f}", flush=True)
        if r.spectra is not None:
            print("   ", r.spectra.summary().replace("\n", "\n    "))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

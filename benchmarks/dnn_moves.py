"""DNN against RNN network runs, side by side, at the paper's Fig. 3 size (T = 8, P = 4, N = 2048).

For each of ``rnn`` (collapsed Krylov move, :class:`~linkernel.finite_n.network_moves.ReducedMove`),
``dnn`` (collapsed layer move, :class:`~linkernel.finite_n.network_moves.LayerMove`) and, unless
``--no-gibbs``, ``dnn-gibbs`` (the previous DNN path: exact Gibbs draws of every layer,
``reduced_moves=False``): seconds per sweep, the largest autocorrelation time over kernel entries,
f and m (sweeps per effective sample) and seconds per effective sample; the target is DNN / RNN
<= 1.5 in seconds per sweep and per effective sample.  ``--exact`` also runs the exact finite-N
posterior (:func:`~linkernel.finite_n.exact.exact_posterior`) of each architecture at the same N and
prints the largest deviation of a kernel entry in combined error bars (z; ~3-3.5 over 528 entries
when they agree).  One process, sequential runs, the BLAS-thread policy of the package; the load
average is printed with the numbers.

    python benchmarks/dnn_moves.py                      # N = 2048, 60 sweeps x 2 chains each (a few minutes)
    python benchmarks/dnn_moves.py --N 256 --sweeps 400 --exact
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from linkernel.errors import SamplerWarning
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.tasks import endpoint


def run(arch: str, N: int, sweeps: int, chains: int, reduced: bool, seed: int):
    pr = endpoint(arch, T=8, P=4, D=4, lam=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        r = sample_networks(pr, N, sweeps=sweeps, chains=chains, seed=seed, progress=False, spectra=0,
                            reduced_moves=reduced)
    tau = r.tau if r.tau is not None else float("nan")
    return pr, r, r.seconds_per_sweep, tau


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=2048)
    ap.add_argument("--sweeps", type=int, default=60)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--no-gibbs", action="store_true", help="skip the previous DNN path (exact layer Gibbs)")
    ap.add_argument("--exact", action="store_true", help="compare each with the exact reduction at the same N")
    a = ap.parse_args(argv)
    rows = {}
    cases = [("rnn", "rnn", True), ("dnn", "dnn", True)] + ([] if a.no_gibbs else [("dnn-gibbs", "dnn", False)])
    print(f"T = 8, P = 4, N = {a.N}, {a.sweeps} sweeps x {a.chains} chains; load {os.getloadavg()}")
    for name, arch, reduced in cases:
        pr, r, sps, tau = run(arch, a.N, a.sweeps, a.chains, reduced, seed=1)
        rows[name] = (sps, tau)
        line = (f"{name:10s} {sps:8.3f} s/sweep  tau {tau:6.2f} sweeps  {sps * tau:8.3f} s per effective sample  "
                f"{r.diagnostics.line()}")
        if a.exact:
            from linkernel.finite_n.exact import exact_posterior
            ex = exact_posterior(pr, a.N, chains=4, samples=1000, warmup=1000, seed=2, progress=False)
            z = np.max(np.abs(r.kernel - ex.kernel) / np.sqrt(r.stderr ** 2 + ex.stderr ** 2 + 1e-300))
            line += f"  vs exact: max z {z:.2f} ({ex.diagnostics.line()})"
        print(line, flush=True)
    s_r, t_r = rows["rnn"]
    s_d, t_d = rows["dnn"]
    print(f"DNN / RNN: {s_d / s_r:.2f}x per sweep, {s_d * t_d / (s_r * t_r):.2f}x per effective sample "
          f"(target <= 1.5); load {os.getloadavg()}")
    if "dnn-gibbs" in rows:
        s_g, t_g = rows["dnn-gibbs"]
        print(f"previous DNN path / RNN: {s_g / s_r:.2f}x per sweep, {s_g * t_g / (s_r * t_r):.2f}x per effective sample")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")

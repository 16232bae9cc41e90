"""The exact finite-N reduction at the paper's Fig. 3 size (T = 8, P = 4: 528 variables), new HMC vs the previous one.

Printed per case, for the previous sampler (``linkernel/finite_n/mcmc.py`` at
git HEAD~ or the file given by --old: per-chain metric from each chain's own
warm-up draws, per-chain step size) and the current one (Stan's windowed
adaptation of one dense metric pooled over chains, shrunk towards the Laplace
covariance; one step size), both from the same mode, Laplace metric and
starting points, both judged by the same diagnostics
(:mod:`linkernel.finite_n.diagnostics`: bulk ESS and rank R-hat over every
kernel entry, f and m): seconds, min ESS, max R-hat, divergences, ESS per
second and gradient evaluations per effective sample.

Targets (2 shared cores): T = 8, P = 4, N = 256 .. 1e6: R-hat < 1.01 and
ESS >= 400 for every entry in under 2 minutes; at lambda_c, T = 4: cost per
effective sample at N = 2^20 within 1.5x of N = 256, no divergences.

    python benchmarks/exact_fig3.py            # full (several minutes)
    python benchmarks/exact_fig3.py --quick    # < 1 min: N = 256 at T = 8, P = 4 with 300 + 300 iterations
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from linkernel.finite_n import mcmc as new_mcmc
from linkernel.finite_n.diagnostics import assess
from linkernel.finite_n.exact import Reduction, summarize_draws
from linkernel.problem import fix_z2_sign
from linkernel.tasks import endpoint
from linkernel.theory.special_points import critical_lambda

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def old_mcmc(path=None):
    """The previous HMC module (from git unless a file is given)."""
    if path is None:
        for rev in ("HEAD", "HEAD~1"):
            src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:linkernel/finite_n/mcmc.py"],
                                 capture_output=True, text=True).stdout
            if "reset_da" in src and "_pooled_cov" not in src:
                break
        else:
            return None
        fd, path = tempfile.mkstemp(suffix="_old_mcmc.py")
        with os.fdopen(fd, "w") as f:
            f.write(src)
    spec = importlib.util.spec_from_file_location("old_mcmc", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_mcmc"] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def run(problem, N, sampler, chains, samples, warmup, seed=0, **kw):
    """Mode + Laplace metric + ``sampler.hmc``; returns (seconds, diagnostics, gradients per chain)."""
    t0 = time.perf_counter()
    red = Reduction(problem, N)
    rng = np.random.default_rng(seed)
    theta0, _ = red.mode(seed=int(rng.integers(2 ** 31)))
    w, V = np.linalg.eigh(red.neg_hessian(theta0))
    w = np.maximum(w, 1e-6 * w.max())
    Lc = np.linalg.cholesky((V / w) @ V.T)
    init = theta0 + 1.5 * rng.normal(size=(chains, red.dim)) @ Lc.T
    ch = sampler.hmc(red.log_posterior_and_grad, init, Lc, n_samples=samples, n_warmup=warmup,
                     seed=int(rng.integers(2 ** 31)), progress=False, **kw)
    st = summarize_draws(problem, fix_z2_sign(problem, red.kernel(ch.theta)))
    sec = time.perf_counter() - t0
    return sec, assess(st["ess_all"], st["rhat_all"], ch.divergences, chains, samples), ch.n_grad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--old", default=None, help="path of the previous mcmc.py (default: from git)")
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args(argv)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"numpy {np.__version__}; load {os.getloadavg()}")
    old = old_mcmc(args.old)
    samplers = [("previous", old, {}), ("current", new_mcmc, {"target_accept": 0.9})]
    if old is None:
        print("(previous sampler not found in git: showing the current one only)")
        samplers = samplers[1:]
    fig3 = endpoint("rnn", T=8, P=4, lam=1.0)
    cases = [("T=8 P=4 lam=1", fig3, 256, 300, 300)] if args.quick else [
        ("T=8 P=4 lam=1", fig3, N, 1000, 1000) for N in (256, 2048, 10 ** 6)]
    if not args.quick:
        crit = endpoint("rnn", T=4)
        lc = critical_lambda(crit)
        crit = crit.with_(lam=lc)
        cases += [(f"T=4 lam_c={lc:.4f}", crit, N, 1000, 1000) for N in (256, 2 ** 20)]
    print(f"{'case':<20} {'N':>8} {'sampler':<9} {'seconds':>8} {'min ESS':>8} {'max Rhat':>9} {'div':>4} "
          f"{'ESS/s':>7} {'grad/ESS':>9}")
    sys.stdout.flush()
    for name, pr, N, samples, warmup in cases:
        for label, mod, kw in samplers:
            sec, d, ng = run(pr, N, mod, args.chains, samples, warmup, **kw)
            ess = d.min_ess or 0.0
            rh = "n/a" if d.max_rhat is None else f"{d.max_rhat:.4f}"
            print(f"{name:<20} {N:>8d} {label:<9} {sec:>8.1f} {ess:>8.0f} {rh:>9} {d.divergences:>4d} "
                  f"{ess / sec:>7.1f} {ng * args.chains / max(ess, 1e-9):>9.1f}", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

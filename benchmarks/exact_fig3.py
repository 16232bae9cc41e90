"""The exact finite-N reduction: Fig. 3 size (T = 8, P = 4: 528 variables) and the critical point, new HMC vs previous.

Printed per case, for the previous sampler (``linkernel/finite_n/mcmc.py`` at
git HEAD, or the first earlier commit without the sheared coordinates, or the
file given by --old, started as ``exact_posterior`` then did: Laplace metric,
eigenvalues floored) and the current one (``exact_posterior`` now:
:func:`~linkernel.finite_n.exact.initial_metric`, the Laplace metric corrected
along a soft direction by its relaxed profile, and, where that direction is
non-Gaussian, HMC in the sheared coordinates of
:class:`~linkernel.finite_n.mcmc.ShearMap`), both from the same mode, seeds and
standard-normal starting draws, both judged by the same diagnostics
(:mod:`linkernel.finite_n.diagnostics`: bulk ESS and rank R-hat over every
kernel entry, f and m): seconds, min ESS, max R-hat, divergences, gradient
evaluations and milliseconds per effective sample (the least-mixed quantity
sets the cost).  At lambda_c also the ratio N = 2^20 / N = 256 of both costs,
per sampler and seed.

Targets (2 shared cores): T = 8, P = 4, N = 256 .. 1e6: R-hat < 1.01 and
ESS >= 400 for every entry in under 2 minutes; at lambda_c, T = 4 (P = 1 RNN
endpoint): cost per effective sample at N = 2^20 within 1.5x of N = 256, no
divergences.

    python benchmarks/exact_fig3.py                   # full (several minutes)
    python benchmarks/exact_fig3.py --part critical   # lambda_c only (about 2 minutes)
    python benchmarks/exact_fig3.py --quick           # < 1 min: lambda_c, 500 + 500 iterations, seed 0
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
from linkernel.finite_n.draws import summarize_draws
from linkernel.finite_n.exact import initial_metric
from linkernel.finite_n.reduction import Reduction
from linkernel.problem import fix_z2_sign
from linkernel.tasks import endpoint
from linkernel.theory.special_points import critical_lambda

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def old_mcmc(path=None):
    """The previous HMC module: the newest committed mcmc.py without the sheared coordinates (or a given file)."""
    if path is None:
        for rev in ("HEAD", "HEAD~1", "HEAD~2", "HEAD~3", "HEAD~4", "HEAD~5"):
            src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:linkernel/finite_n/mcmc.py"],
                                 capture_output=True, text=True).stdout
            if "_pooled_cov" in src and "soft_direction" not in src:
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


def run(problem, N, sampler, chains, samples, warmup, seed=0, new=True, **kw):
    """Mode + starting metric + ``sampler.hmc``, as ``exact_posterior`` does (``new``) or did (Laplace);
    returns (seconds, diagnostics, gradients per chain, whether the shear was used)."""
    t0 = time.perf_counter()
    red = Reduction(problem, N)
    rng = np.random.default_rng(seed)
    theta0, _ = red.mode(seed=int(rng.integers(2 ** 31)))
    Hs = red.neg_hessian(theta0)
    if new:
        Lc, soft = initial_metric(red, theta0, Hs)
        if soft is not None:
            kw["soft_direction"] = soft
    else:
        w, V = np.linalg.eigh(Hs)
        w = np.maximum(w, 1e-6 * w.max())
        Lc, soft = np.linalg.cholesky((V / w) @ V.T), None
    init = theta0 + 1.5 * rng.normal(size=(chains, red.dim)) @ Lc.T
    ch = sampler.hmc(red.log_posterior_and_grad, init, Lc, n_samples=samples, n_warmup=warmup,
                     seed=int(rng.integers(2 ** 31)), progress=False, **kw)
    st = summarize_draws(problem, fix_z2_sign(problem, red.kernel(ch.theta)))
    sec = time.perf_counter() - t0
    return sec, assess(st["ess_all"], st["rhat_all"], ch.divergences, chains, samples), ch.n_grad, soft is not None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", choices=["all", "fig3", "critical"], default="all")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds of the lambda_c runs")
    ap.add_argument("--old", default=None, help="path of the previous mcmc.py (default: from git)")
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args(argv)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"numpy {np.__version__}; load {os.getloadavg()}")
    old = old_mcmc(args.old)
    samplers = [("previous", old, False), ("current", new_mcmc, True)]
    if old is None:
        print("(previous sampler not found in git: showing the current one only)")
        samplers = samplers[1:]
    seeds = [0] if args.quick else [int(v) for v in args.seeds.split(",")]
    cases = []
    if args.part in ("all", "fig3") and not args.quick:
        fig3 = endpoint("rnn", T=8, P=4, lam=1.0)
        cases += [("T=8 P=4 lam=1", fig3, N, 1000, 1000, 0) for N in (256, 2048, 10 ** 6)]
    crit = endpoint("rnn", T=4)
    lc = critical_lambda(crit)
    crit = crit.with_(lam=lc)
    if args.part in ("all", "critical") or args.quick:
        it = 500 if args.quick else 1000
        cases += [(f"T=4 lam_c={lc:.4f}", crit, N, it, it, seed) for seed in seeds for N in (256, 2 ** 20)]
    print(f"{'case':<20} {'N':>8} {'seed':>4} {'sampler':<9} {'shear':>5} {'seconds':>8} {'min ESS':>8} "
          f"{'max Rhat':>9} {'div':>4} {'grad/ESS':>9} {'ms/ESS':>8}")
    sys.stdout.flush()
    cost = {}
    for name, pr, N, samples, warmup, seed in cases:
        for label, mod, new in samplers:
            sec, d, ng, sheared = run(pr, N, mod, args.chains, samples, warmup, seed=seed, new=new,
                                      target_accept=0.9)
            ess = d.min_ess or 0.0
            rh = "n/a" if d.max_rhat is None else f"{d.max_rhat:.4f}"
            gpe, spe = ng * args.chains / max(ess, 1e-9), 1e3 * sec / max(ess, 1e-9)
            cost[(name, seed, label, N)] = (gpe, spe, d.divergences)
            print(f"{name:<20} {N:>8d} {seed:>4d} {label:<9} {'yes' if sheared else 'no':>5} {sec:>8.1f} "
                  f"{ess:>8.0f} {rh:>9} {d.divergences:>4d} {gpe:>9.1f} {spe:>8.2f}", flush=True)
    crit_rows = sorted({(name, seed, label) for (name, seed, label, N) in cost if name.startswith("T=4")})
    if crit_rows:
        print("\nlambda_c, T = 4: cost per effective sample at N = 2^20 over N = 256 (target <= 1.5, no divergences)")
        print(f"{'sampler':<9} {'seed':>4} {'grad/ESS ratio':>15} {'s/ESS ratio':>12} {'divergences (256, 2^20)':>24}")
        for label in [lab for lab, _, _ in samplers]:
            for name, seed, lab in crit_rows:
                if lab != label:
                    continue
                a, b = cost[(name, seed, label, 256)], cost[(name, seed, label, 2 ** 20)]
                print(f"{label:<9} {seed:>4d} {b[0] / a[0]:>15.2f} {b[1] / a[1]:>12.2f} {f'{a[2]}, {b[2]}':>24}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""Benchmark: the theory on real data through the span reduction (issue 29's targets), full TP side by side.

    python benchmarks/realdata.py [--quick] [--only saddle,critical,trace,all-digits,T10] [--full-max 400]

Targets (2 cores): digits 0 vs 1 (P = 360, D = 64), T = 4: saddle point < 5 s, lambda_c < 30 s, a trace
through the transition < 2 min; all 1797 digits (even vs odd), T = 4: saddle point < 30 s; T = 10 < 2 min.
The first line names the machine and its load average; each result line prints the reduced size Tr
against the full TP, the time, the target "met" or "NOT MET", the load when it ended, and for the saddle
point the held-out error of ``predict``.  The full TP computation runs only where it exists and fits: a
full Problem needs independent inputs at t = 0 (P <= D), so on digits (P > D) there is none -- the full
action is singular and equals the reduced one on its support (tests/theory/test_span.py).  Side by side
we therefore time the full computation on a P <= D subset of the same data (``--full-P`` images, default
24, D = 64: TP = 96 against Tr = 4 r) up to ``--full-max`` kernel rows, and check the lifted reduced
kernel against it.

``--quick``: the smallest sizes only (P = 48 and P = 120 digits, T = 4), for a smoke run.

``--exact``: the exact finite-N target (T = 4, P = 360 digits 0 vs 1, N = 2048: R-hat < 1.01, ESS >= 400
in under 15 minutes).  Prints the reduced size (K = T r fresh directions, K (K + 1) / 2 variables, the
dense HMC metric's memory), the time of one log-density gradient, what the dense-metric sampler needs at
this size (memory, the Hessian's gradients, its eigendecomposition, the HMC gradients: :func:`exact_budget`),
then runs :func:`~linkernel.finite_n.exact.exact_posterior` once in a child process under a wall-clock cap
(``--exact-cap`` s) and an address-space cap (``--exact-mem-gb``), and reports R-hat, ESS and the
time, or where it was when a cap stopped it (the child's stack at the cap).  ``--exact-components k``
runs the same on the digits projected on their k leading principal components (r = k).

    python benchmarks/realdata.py --only none --exact [--exact-N 2048] [--exact-cap 600] [--exact-components 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


def cpu_timed(fn, *a, **kw):
    """(result, CPU seconds of this process): a cost that the load (or nice) does not inflate, on one thread."""
    t0 = time.process_time()
    out = fn(*a, **kw)
    return out, time.process_time() - t0


def line(label, seconds, target=None, extra=""):
    """One result: what, wall time, the target met or not, the load average when it ended."""
    import os
    ok = "" if target is None else (f"  target < {target:g} s: " + ("met" if seconds < target else "NOT MET"))
    print(f"{label:58s} {seconds:8.2f} s{ok}  [load {os.getloadavg()[0]:.2f}]  {extra}", flush=True)


def machine() -> str:
    """The machine in one line: CPU model, cores this process may use, memory, BLAS, load average."""
    import os
    import platform
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    from linkernel.threads import cpu_count
    return (f"machine: {model}, {cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
            f"numpy {np.__version__}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _exact_task(args):
    from linkernel import datasets
    return datasets.digits((0, 1), T=4, lam=args.exact_lam, components=args.exact_components)


def exact_child(args):
    """In the child: caps, then one exact_posterior run; prints one result line."""
    import faulthandler
    import resource
    import sys
    lim = int(args.exact_mem_gb * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    faulthandler.dump_traceback_later(args.exact_cap, exit=True, file=sys.stdout)
    from linkernel.finite_n.exact import exact_posterior
    task = _exact_task(args)
    t0 = time.perf_counter()
    ex = exact_posterior(task.problem, args.exact_N, chains=4, samples=args.exact_samples,
                         warmup=args.exact_samples, progress=False, warn=False)
    print(f"exact_posterior done: {time.perf_counter() - t0:.1f} s, max R-hat {ex.max_rhat:.4f}, min ESS "
          f"{ex.min_ess:.0f}, divergences {ex.divergences}, converged {ex.converged}, "
          f"target (R-hat < 1.01, ESS >= 400) {'met' if ex.max_rhat < 1.01 and ex.min_ess >= 400 else 'NOT MET'}",
          flush=True)


def exact_budget(red, grad_seconds: float, chains: int, iterations: int) -> str:
    """What the dense-metric exact sampler needs at this size, measured and extrapolated (the limiting factor).

    ``grad_seconds``: one log-density gradient of ``chains`` points (CPU seconds, one thread; the eigh
    timing too, so that the estimate is what the work costs, not what the load made of it).
    exact_posterior's steps: the mode (L-BFGS), the Hessian at the mode by central differences (2 dim
    gradients), its eigendecomposition
    (timed at n = 1500 and scaled by n^3) and the Laplace covariance, then HMC, whose dense metric is
    held per chain ((chains + 1) dim^2 floats next to the Hessian's two) and applied twice per leapfrog
    step; the leapfrog steps per transition are at least pi / (2 eps) with eps ~ dim^-1/4 for a
    Gaussian target at the acceptance 0.9 it adapts to.
    """
    import math
    d = red.dim
    a = np.random.default_rng(1).normal(size=(1500, 1500))
    from linkernel.threads import blas_threads
    with blas_threads(1):
        _, t_eig = cpu_timed(np.linalg.eigh, a + a.T)
    eig = t_eig * (d / 1500) ** 3
    hess = 2 * d * grad_seconds / chains
    steps = math.ceil((math.pi / 2) / (0.8 * d ** -0.25))
    hmc = iterations * steps * grad_seconds
    mem = (chains + 4) * d * d * 8 / 2 ** 30
    return (f"dense-metric budget at dim = {d}: memory ~{mem:.0f} GiB ((chains + 4) dim^2 floats: the per-chain "
            f"metric copies, the Hessian, its eigenvectors, the covariance); Hessian by differences {2 * d} "
            f"gradients ~{hess:.0f} s; its eigh ~{eig:.0f} s (eigh(1500) {t_eig:.2f} s x (dim/1500)^3); HMC "
            f"{iterations} iterations x ~{steps} leapfrog steps x {grad_seconds * 1e3:.0f} ms ~{hmc:.0f} s "
            f"(before the dense metric's 2 dim^2 flops per chain and step); total ~{(hess + eig + hmc) / 60:.0f} min")


def exact_target(args):
    """The parent: sizes and one gradient's cost here, the run itself in a capped child process."""
    import os
    import subprocess
    import sys
    from linkernel.finite_n.reduction import Reduction
    task = _exact_task(args)
    pr = task.problem
    red = Reduction(pr, args.exact_N)
    th = red.prior_mode + 0.01 * np.random.default_rng(0).normal(size=(4, red.dim))
    from linkernel.threads import blas_threads
    with blas_threads(1):                     # CPU seconds on one thread: the cost, whatever the load or nice
        red.log_posterior_and_grad(th)
        _, s = cpu_timed(red.log_posterior_and_grad, th)
    print(f"exact target: {task.description}, P = {task.reduction.P} -> r = {task.reduction.r}, N = {args.exact_N}: "
          f"K = {red.K} fresh directions, {red.dim} variables; dense metric {red.dim ** 2 * 8 / 2 ** 30:.2f} GiB "
          f"(the Hessian at the mode by finite differences: {red.dim} gradients, batch memory "
          f"~{red.dim * red.K ** 2 * 8 * 4 / 2 ** 30:.1f} GiB); one gradient of 4 chains {s * 1e3:.0f} ms CPU; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(exact_budget(red, s, chains=4, iterations=2 * args.exact_samples), flush=True)
    cmd = [sys.executable, __file__, "--exact-child"] + [a for a in (sys.argv[1:] if args.argv is None else args.argv)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=args.exact_cap + 120)
    wall = time.perf_counter() - t0
    out = (res.stdout + res.stderr).strip().splitlines()
    if res.returncode == 0:
        print(out[-1] if out else "exact_posterior: no output")
    else:
        frames = [ln.strip() for ln in out if ln.strip().startswith("File")]
        # faulthandler (the time cap) prints the innermost frame first, a traceback prints it last
        stack = frames[:4] if any("Timeout" in ln for ln in out) else frames[-4:] + out[-1:]
        why = ("wall-clock cap" if any("Timeout" in ln for ln in out) else
               "memory cap (MemoryError)" if any("MemoryError" in ln for ln in out) else f"exit {res.returncode}")
        print(f"exact_posterior stopped by the {why} after {wall:.0f} s (cap {args.exact_cap} s, "
              f"{args.exact_mem_gb:g} GiB); innermost frames:\n  " + "\n  ".join(stack))
    print(f"exact target wall time {wall:.1f} s; load {os.getloadavg()[0]:.2f}")


def _parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="saddle,critical,trace,all-digits,T10,full")
    ap.add_argument("--full-max", type=int, default=400, help="largest full TP to run side by side")
    ap.add_argument("--full-P", type=int, default=24, help="images in the full side-by-side problem (P <= D)")
    ap.add_argument("--lam", type=float, default=None, help="signal for the saddle points (default: 1.2 lambda_c)")
    ap.add_argument("--exact", action="store_true", help="the exact finite-N target (module doc)")
    ap.add_argument("--exact-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--exact-N", type=int, default=2048)
    ap.add_argument("--exact-lam", type=float, default=1.0)
    ap.add_argument("--exact-samples", type=int, default=1000, help="warm-up and draws per chain (4 chains)")
    ap.add_argument("--exact-cap", type=int, default=600, help="wall-clock cap of the exact run, seconds")
    ap.add_argument("--exact-mem-gb", type=float, default=8.0, help="address-space cap of the exact run, GiB")
    ap.add_argument("--exact-components", type=int, default=None, help="principal components kept (default all)")
    return ap


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    args.argv = argv
    if args.exact_child:
        exact_child(args)
        return 0
    only = set(args.only.split(","))
    print(machine(), flush=True)
    if args.exact:
        exact_target(args)
    if only <= {"none", ""}:
        return 0

    from linkernel import datasets
    from linkernel.problem import Problem, fix_z2_sign
    from linkernel.theory.continuation.tracing import trace
    from linkernel.theory.saddle import saddle_point
    from linkernel.theory.span import reduce_to_span
    from linkernel.theory.special_points import critical_lambda

    P01 = 120 if args.quick else None                     # None: all 360 images of 0 and 1
    task = datasets.digits((0, 1), P=P01, test=0 if P01 is None else 60, T=4, lam=1.0)
    print(task.reduction.summary())
    pr = task.problem
    lc = None
    if "critical" in only or args.lam is None:
        lc, s = timed(critical_lambda, pr, lam_min=0.01)
        line(f"digits 0v1 P={task.reduction.P} T=4: lambda_c = {lc:.10g}  (Tr={pr.n}, TP={4 * task.reduction.P})",
             s, 30)
    lam = args.lam if args.lam is not None else 1.2 * lc
    if "saddle" in only:
        sp, s = timed(saddle_point, pr.with_(lam=lam))
        extra = f"m = {sp.order_parameter:.4g}, S_full = {task.reduction.full_action(sp.action, lam):.8g}"
        if task.x_test.shape[1]:
            extra += f", held-out error rate {task.test_error(sp)['error_rate']:.3f}"
        line(f"digits 0v1 P={task.reduction.P} T=4 saddle point at lambda = {lam:.4g} (Tr={pr.n})", s, 5, extra)
    if "trace" in only and lc is not None:
        tr, s = timed(trace, pr, (0.8 * lc, 1.3 * lc))
        # 13 digits: the branch point is located to ~1e-14 (what a faster trace must reproduce, to 1e-8)
        bps = [f"{p.lam:.13g}" for p in tr.special_points if p.kind == "branch_point"]
        labels = " | ".join(f"{b.kind} {''.join('s' if q.stable else 'u' for q in b.points)}" for b in tr.branches)
        line(f"digits 0v1 T=4 trace lambda {0.8 * lc:.3g}..{1.3 * lc:.3g}", s, 120,
             f"transition {tr.transition}, branch points {bps}, {tr.steps} steps, stability {labels}")
    if "all-digits" in only and not args.quick:
        for T, target in ((4, 30), (10, 120)):
            if T == 10 and "T10" not in only:
                continue
            big = datasets.digits("even-odd", T=T, lam=1.0)
            sp, s = timed(saddle_point, big.problem)
            line(f"all 1797 digits even/odd T={T} saddle point (Tr={big.problem.n}, TP={T * 1797})", s, target,
                 f"m = {sp.order_parameter:.4g}")
    if "full" in only:
        # the full computation side by side, where a full Problem exists (P <= D) and fits
        from sklearn.datasets import load_digits
        NF = args.full_P
        dg = load_digits()
        keep = np.isin(dg.target, (0, 1))
        rows = np.random.default_rng(0).permutation(int(keep.sum()))[:NF]
        Xs = dg.data[keep][rows].astype(float)
        X = np.zeros((4, NF, 64))
        X[0] = Xs / Xs.std()                                   # not centred: centring 48 images drops a rank
        yhat = np.zeros((4, NF))
        yhat[3] = np.where(dg.target[keep][rows] == 0, 1.0, -1.0)
        try:
            full = Problem(arch="rnn", T=4, x=X, supervised=[(3, p) for p in range(NF)], yhat=yhat, lam=1.0)
        except ValueError as e:
            print(f"full side by side: no full Problem ({e})")
            return 0
        red = reduce_to_span(full, force=True)
        print(red.summary())
        if full.n <= args.full_max:
            try:
                spf, sf = timed(saddle_point, full)
            except Exception as e:                  # the full TP problem may be beyond float64 (nearly collinear images)
                print(f"full TP={full.n}: {type(e).__name__}: {str(e)[:200]}")
                return 0
            spr, sr = timed(saddle_point, red.problem)
            d = np.abs(fix_z2_sign(full, red.lift(spr.kernel)) - fix_z2_sign(full, spf.kernel)).max()
            line(f"digits 0v1 P={NF} T=4 saddle, full TP={full.n}", sf)
            line(f"digits 0v1 P={NF} T=4 saddle, reduced Tr={red.problem.n}", sr, None, f"max |H_full - lift(Q)| = {d:.2e}")
            lcf, sf = timed(critical_lambda, full, lam_min=0.01)
            lcr, sr = timed(critical_lambda, red.problem, lam_min=0.01)
            line(f"digits 0v1 P={NF} T=4 lambda_c, full: {lcf:.12g}", sf)
            line(f"digits 0v1 P={NF} T=4 lambda_c, reduced: {lcr:.12g}", sr, None, f"difference {abs(lcf - lcr):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

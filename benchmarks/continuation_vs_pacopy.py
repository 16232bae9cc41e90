"""Benchmark: linkernel's continuation against pacopy on the same saddle-point equations.

    python benchmarks/continuation_vs_pacopy.py [--T 4] [--kappa 0.1] [--repeats 3] [--quick]

Both codes solve F(x, lambda) = to_vector(dS/dH) = 0 with the same analytic
Jacobian (the Hessian of S, assembled by :func:`linkernel.theory.hessian.dense_hessian`)
and dF/dlambda, from the same start, with the same initial and maximal step
(0.05, 0.25) and Newton tolerance.  Printed, with the ratio pacopy / linkernel:

* time per traced branch: the symmetric branch lambda = 0.5 .. 3 and the
  broken branch lambda = 1.7 .. 3 (best of ``--repeats``), with the number of
  points and the largest residual |dS/dH| of the points each code returns;
* accuracy of the located branch point against an independent reference
  (bisection to 1e-15 on the smallest Z2-odd Hessian eigenvalue of the
  symmetric branch, solved by Newton from a diagonal start).  pacopy locates
  it with ``euler_newton(..., converge_onto_zero_eigenvalue=True)`` tracking
  the same test function (its stopping rule is |eigenvalue| < 1e-10).

pacopy is a benchmark-only dependency.  PyPI has only the licensed binary
releases 0.2.16 and 0.2.29 (``pip install pacopy`` installs 0.2.29, which
fails at import without a licence; ``pip install "pacopy<0.2"`` finds
nothing).  This script needs the open-source pacopy 0.1.x (GPL-3.0, pure
Python, no dependencies for ``euler_newton``): its source at
github.com/nschloe/pacopy (tag v0.1.3, the last commit; its setup.cfg says 0.1.4),
with the ``pacopy/`` directory on PYTHONPATH, e.g.

    git clone https://github.com/nschloe/pacopy /tmp/pacopy_src
    PYTHONPATH=/tmp/pacopy_src python benchmarks/continuation_vs_pacopy.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkernel.errors import KernelError
from linkernel.theory.action import Pieces, from_vector, gradient, odd_coordinates, prior_kernel, to_vector  # noqa: E402
from linkernel.theory.hessian import dense_hessian, hessian  # noqa: E402
from linkernel.theory.continuation import follow, gradient_lambda, trace  # noqa: E402
from linkernel.theory.saddle import saddle_point
from linkernel.theory.minimize import stationary_point
from linkernel.tasks import endpoint  # noqa: E402


class Stop(Exception):
    pass


class PacopyProblem:
    """The saddle-point equations in pacopy's problem interface."""

    def __init__(self, problem):
        import pacopy
        self.problem, self.n = problem, problem.n
        self.odd = odd_coordinates(problem)
        # pacopy 0.1.3 has no JacobianSolverError: a zero step then fails its Newton test, which retries
        self.error = getattr(pacopy, "JacobianSolverError", None)
        self.last = None

    def _at(self, u, lmbda):
        return self.problem.with_(lam=float(lmbda)), from_vector(u, self.n)

    def inner(self, a, b):
        return float(np.dot(a, b))

    def norm2_r(self, a):
        return float(np.dot(a, a))

    def f(self, u, lmbda):
        try:
            return to_vector(Pieces(*self._at(u, lmbda)).gradient())
        except (KernelError, np.linalg.LinAlgError):
            return np.full(len(u), 1e10)  # outside the PD cone: a huge residual makes pacopy retry

    def df_dlmbda(self, u, lmbda):
        return to_vector(gradient_lambda(*self._at(u, lmbda)))

    def jacobian_solver(self, u, lmbda, rhs):
        try:
            return np.linalg.solve(dense_hessian(*self._at(u, lmbda)), rhs)
        except (KernelError, np.linalg.LinAlgError) as e:
            if self.error is None:
                return np.zeros_like(rhs)
            raise self.error(str(e)) from None

    def jacobian_eigenvalue(self, u, lmbda):
        self.last = (u.copy(), float(lmbda))
        Hs = dense_hessian(*self._at(u, lmbda))
        w, V = np.linalg.eigh(Hs[np.ix_(self.odd, self.odd)])
        vec = np.zeros(len(u))
        vec[self.odd] = V[:, 0]
        return float(w[0]), vec


def pacopy_branch(problem, H0, lam0, lam_hi, **kw):
    import pacopy
    pp = PacopyProblem(problem)
    pts = []

    def callback(k, lmbda, u):
        pts.append((float(lmbda), u.copy()))
        if lmbda >= lam_hi:
            raise Stop

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its first Newton solve always prints
            pacopy.euler_newton(pp, to_vector(H0), lam0, callback, verbose=False, newton_tol=1e-12,
                                max_newton_steps=5, stepsize0=0.05, stepsize_max=0.25, max_steps=5000, **kw)
    except Stop:
        pass
    return pts


def pacopy_branch_point(problem, H0, lam0):
    import pacopy
    pp = PacopyProblem(problem)
    with contextlib.redirect_stdout(io.StringIO()):
        pacopy.euler_newton(pp, to_vector(H0), lam0, lambda k, l, u: None, verbose=False, newton_tol=1e-12,
                            max_newton_steps=5, stepsize0=0.05, stepsize_max=0.25, max_steps=5000,
                            converge_onto_zero_eigenvalue=True)
    return pp.last[1]


def reference_branch_point(problem, lo, hi):
    odd = odd_coordinates(problem)

    def f(lam):
        p = problem.with_(lam=lam)
        H, _, ok = stationary_point(p, np.diag(np.diag(prior_kernel(p))), tol=1e-13)
        Hs = hessian(p, H)
        return np.linalg.eigvalsh(Hs[np.ix_(odd, odd)])[0]

    assert f(lo) > 0 > f(hi)
    while hi - lo > 1e-15 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def max_residual(problem, pts):
    return max(np.linalg.norm(gradient(problem.with_(lam=l), from_vector(u, problem.n))) for l, u in pts)


def m_end(problem, u):
    H = from_vector(u, problem.n)
    return abs(H[problem.T - 1, problem.T - 2])


def best(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--kappa", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat (under a minute)")
    args = ap.parse_args()
    if args.quick:
        args.repeats = 1
    try:
        import pacopy  # noqa: F401
    except Exception as e:  # the 0.2.x binaries fail at import without a licence
        sys.exit(f"pacopy 0.1.x is needed for this benchmark ({type(e).__name__}: {e}); see the docstring")

    from linkernel.threads import blas_threads
    stack = contextlib.ExitStack()
    stack.enter_context(blas_threads(1))  # both codes: small matrices, one thread
    print(f"machine: {platform.platform()}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (shared: timings under contention are inflated), "
          f"pacopy from {Path(pacopy.__file__).parent}")
    p = endpoint("rnn", T=args.T, kappa=args.kappa)
    lo, hi = 0.5, 3.0
    p0 = p.with_(lam=lo)
    H_sym, _, _ = stationary_point(p0, prior_kernel(p0), tol=1e-13)
    H_brk = saddle_point(p.with_(lam=1.7)).kernel

    rows = []
    t, br = best(lambda: follow(p, H_sym, lo, (lo, hi)), args.repeats)
    rows.append(("symmetric 0.5..3", "linkernel", t, len(br.points), max(q.residual for q in br.points),
                 br.lam[-1], br.m[-1]))
    t, pts = best(lambda: pacopy_branch(p, H_sym, lo, hi), args.repeats)
    rows.append(("symmetric 0.5..3", "pacopy", t, len(pts), max_residual(p, pts), pts[-1][0], m_end(p, pts[-1][1])))
    t, br = best(lambda: follow(p, H_brk, 1.7, (1.7, hi)), args.repeats)
    rows.append(("broken 1.7..3", "linkernel", t, len(br.points), max(q.residual for q in br.points),
                 br.lam[-1], br.m[-1]))
    t, pts = best(lambda: pacopy_branch(p, H_brk, 1.7, hi), args.repeats)
    rows.append(("broken 1.7..3", "pacopy", t, len(pts), max_residual(p, pts), pts[-1][0], m_end(p, pts[-1][1])))
    t, tr = best(lambda: trace(p, (lo, hi)), args.repeats)
    rows.append(("whole trace (2 branches, BP, switching)", "linkernel", t,
                 sum(len(b.points) for b in tr.branches),
                 max(q.residual for b in tr.branches for q in b.points), tr.branches[1].lam[-1],
                 tr.branches[1].m[-1]))
    print(f"\nendpoint task T={args.T} kappa={args.kappa}: time per traced branch (best of {args.repeats})")
    print(f"{'branch':40s} {'code':10s} {'seconds':>8s} {'points':>7s} {'max |dS/dH|':>12s} {'last lambda':>12s} "
          f"{'last m':>10s}")
    for r in rows:
        print(f"{r[0]:40s} {r[1]:10s} {r[2]:8.3f} {r[3]:7d} {r[4]:12.1e} {r[5]:12.6f} {r[6]:10.6f}")
    for k in (0, 2):
        print(f"  {rows[k][0]}: pacopy / linkernel = {rows[k + 1][2] / rows[k][2]:.1f}x")
    print("(pacopy stops at its first point beyond lambda = 3; linkernel lands on lambda = 3 exactly)")

    ref = reference_branch_point(p, 1.5, 1.7)
    lk = [s for s in tr.special_points if s.kind == "branch_point" and s.z2][0].lam
    t_pc, pc = best(lambda: pacopy_branch_point(p, H_sym, lo), 1)
    print(f"\nbranch point: reference (bisection on the odd eigenvalue) lambda_c = {ref:.16f}")
    print(f"  linkernel trace:   {lk:.16f}   relative error {abs(lk / ref - 1):.1e}")
    print(f"  pacopy (zero-eigenvalue stop, {t_pc:.2f} s): {pc:.16f}   relative error {abs(pc / ref - 1):.1e}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

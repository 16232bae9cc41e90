"""Tracing the saddle points of a problem in lambda: every branch, its special points, the coexistence.

:func:`trace` starts on the symmetric saddle at the low end of the range (or the global
minimum when the problem has no Z2 symmetry), continues it with
:func:`~linkernel.theory.continuation.stepper.continue_branch`, switches onto the broken
branch at every Z2 branch point (traced in the representative with m >= 0) and locates
the coexistence points (:mod:`~linkernel.theory.continuation.coexistence`).  A branch that
stops before the end of the range (``max_steps``) is flagged (:attr:`Branch.complete`,
``stop_reason``) and one :class:`~linkernel.errors.ContinuationWarning` is emitted.
:func:`follow` continues one branch from a given kernel; :func:`point_at` solves a traced
branch at one lambda.

BLAS threads: the package policy (:func:`linkernel.threads.entry_point`: one thread below
n = T*P = 512).  Each step runs many small products and factorisations; on a shared
machine a second thread whose core is busy made them 10-40x slower (measured at dim = 528:
eigvalsh 1.2 s instead of 0.03 s).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from linkernel.errors import ContinuationWarning, ConvergenceError
from linkernel.problem import Problem
from linkernel.progress import progress_bar
from linkernel.theory.action import to_vector
from linkernel.theory.branches import Branch, ContinuationPoint, Trace
from linkernel.theory.continuation.coexistence import _coexistence, _loses_stability
from linkernel.theory.continuation.stepper import _State, correct, _point, _start, continue_branch, switch_branch
from linkernel.theory.equations import Equations
from linkernel.theory.saddle import saddle_point
from linkernel.threads import entry_point
from linkernel.validation import count, instance, interval, positive, tolerance

#: ``ds_max=None``: the largest arclength step, 0.25 up to this many unknowns, 0.5 above.  Each point
#: costs O(dim^3) factorisations there, and the special points are located to ``tol`` whatever the step
#: (T = 8, P = 4 and T = 16, P = 4: the same points to 2e-12 at 0.25 and 0.5; T = 16: 217 -> 166 s,
#: 300 -> 210 points on one core).  Smaller problems keep the denser sampling of their branches.
LONG_STEP_DIM = 1000


def _check_range(lam_range, name: str = "lam_range"):
    """Two finite numbers 0 < lo < hi (:func:`linkernel.validation.interval`)."""
    return interval(name, lam_range)


def _check_problem(problem) -> None:
    instance("problem", problem, Problem, "a linkernel Problem (e.g. linkernel.tasks.endpoint('rnn', T=4))")


def _automatic_ds_max(problem: Problem) -> float:
    """``ds_max=None``: 0.25, or 0.5 above :data:`LONG_STEP_DIM` unknowns n(n+1)/2."""
    n = problem.n
    return 0.25 if n * (n + 1) // 2 <= LONG_STEP_DIM else 0.5


def _check_steps(ds, ds_max, tol, max_steps):
    ds, ds_max, tol = positive("ds", ds), positive("ds_max", ds_max), tolerance("tol", tol)
    max_steps = count("max_steps", max_steps)
    return min(ds, ds_max), ds_max, tol, max_steps


def _warn_incomplete(branches) -> None:
    cut = [b for b in branches if not b.complete]
    if cut:
        warnings.warn(ContinuationWarning(
            f"{len(cut)} of {len(branches)} branches stopped before the end of the range: "
            + "; ".join(f"{b.kind}: {b.stop_reason}" for b in cut)), stacklevel=3)


# --- the whole picture ------------------------------------------------------------
@entry_point
def trace(problem: Problem, lam_range=(0.5, 3.0), ds: float = 0.05, ds_max: float | None = None,
          tol: float = 1e-11, max_steps: int = 2000, progress: bool = False) -> Trace:
    """Trace the saddle points of ``problem`` for lambda in ``lam_range`` (``problem.lam`` is ignored).

    Starts on the symmetric saddle at ``lam_range[0]`` (or the global minimum
    when the problem has no Z2 symmetry), detects and refines folds and branch
    points, switches onto the broken branch at every Z2 branch point (traced
    in the representative with m >= 0) and locates coexistence points.
    Branch 0 is the starting branch; broken branches follow.  ``ds`` and
    ``ds_max`` are arclength steps in units of max(1, |X|_inf), X = (to_vector(H), lambda); ``ds_max=None``:
    0.25, or 0.5 above :data:`LONG_STEP_DIM` unknowns (where each point is expensive); ``max_steps``
    bounds the steps per branch.  A branch cut short by ``max_steps`` is
    marked (``Branch.complete``, ``Trace.complete``) with one
    :class:`ContinuationWarning`.
    """
    _check_problem(problem)
    lo, hi = _check_range(lam_range)
    ds_max = _automatic_ds_max(problem) if ds_max is None else ds_max
    ds, ds_max, tol, max_steps = _check_steps(ds, ds_max, tol, max_steps)
    return _trace(problem, lo, hi, ds, ds_max, tol, max_steps, progress)


def _trace(problem, lo, hi, ds, ds_max, tol, max_steps, progress):
    t0 = time.perf_counter()
    eq = Equations(problem.with_(lam=lo))
    X0, sym = _start(eq, lo, tol)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    bar = progress_bar(progress, desc=f"trace {problem.arch} T={problem.T}", unit="step")

    def make_branch(kind, run):
        return Branch(problem.arch, kind, tuple(run.points), complete=run.complete, stop_reason=run.reason)

    try:
        run = continue_branch(eq, X0, e, (lo, hi), sym, 0, ds, 1e-7, ds_max, max_steps, tol, bar)
        Xs, pts, specials, steps = run.X, run.points, list(run.specials), run.steps
        branches = [make_branch("symmetric" if sym else "regular", run)]
        transition = "none"
        for bp in [s for s in specials if s.z2]:
            X_bp, X1, tau = switch_branch(eq, bp, tol)
            k = len(branches)
            rb = continue_branch(eq, X1, tau, (lo, hi), False, k, ds, 1e-7, ds_max, max_steps, tol, bar)
            bp_pt = _point(eq, _State(eq, X_bp, tau, False))
            rb.X.insert(0, X_bp)
            rb.points.insert(0, bp_pt)
            steps += rb.steps
            branches.append(make_branch("broken", rb))
            specials += [s for s in rb.specials
                         if not (s.kind == "branch_point" and abs(s.lam - bp.lam) < 1e-6 * max(1.0, bp.lam))]
            supercritical = rb.X[1][-1] > X_bp[-1]
            if transition == "none" and _loses_stability(pts, bp.lam):
                transition = "second order" if supercritical else "first order"
            if not supercritical:
                specials += _coexistence(eq, Xs, pts, rb.X, rb.points, k, tol)
        if sym and not pts[0].stable and len(branches) == 1:
            # the range starts above the transition: follow the broken minimum found by minimisation
            H = saddle_point(eq.at(lo), n_starts=4).kernel
            rb = continue_branch(eq, np.append(to_vector(H), lo), e, (lo, hi), False, 1, ds, 1e-7, ds_max,
                                 max_steps, tol, bar)
            steps += rb.steps
            branches.append(make_branch("broken", rb))
            specials += rb.specials
    finally:
        bar.close()
    specials.sort(key=lambda s: (s.lam, s.kind))
    _warn_incomplete(branches)
    return Trace(problem=problem, lam_range=(lo, hi), branches=tuple(branches),
                 special_points=tuple(specials), transition=transition, steps=steps,
                 seconds=time.perf_counter() - t0)


# --- single branches and points on them ------------------------------------------
@entry_point
def follow(problem: Problem, H0, lam0: float, lam_range, direction: int = 1, ds: float = 0.05,
           ds_max: float = 0.25, tol: float = 1e-11, max_steps: int = 2000) -> Branch:
    """Continue the branch through the stationary point H0 at lam0 in the direction of ``direction * lambda``.

    H0 is first polished by Newton's method at lam0.  A Z2-symmetric H0 (all
    odd-lag entries below 1e-12) is continued inside the symmetric subspace.
    Stops when lambda leaves ``lam_range`` (or at ``max_steps``: then
    ``complete`` is False and a :class:`ContinuationWarning` is emitted).
    """
    if direction not in (1, -1):
        raise ValueError(f"direction={direction!r} is invalid; direction must be +1 or -1")
    _check_problem(problem)
    lo, hi = _check_range(lam_range)
    ds, ds_max, tol, max_steps = _check_steps(ds, ds_max, tol, max_steps)
    try:
        lam0 = float(lam0)
    except (TypeError, ValueError):
        lam0 = float("nan")
    if not (math.isfinite(lam0) and lam0 > 0):
        raise ValueError(f"lam0={lam0!r} is invalid; lam0 must be a positive finite number")
    eq = Equations(problem.with_(lam=lam0))
    try:
        X = np.append(to_vector(np.asarray(H0, dtype=float)), lam0)
    except (TypeError, ValueError, IndexError):
        X = None
    if X is None or X.shape != (eq.dim + 1,):
        raise ValueError(f"H0 is invalid; H0 must be a symmetric ({eq.n}, {eq.n}) kernel")
    sym = bool(eq.odd.any()) and np.abs(X[:-1][eq.odd]).max() < 1e-12 * max(1.0, np.abs(X).max())
    if sym:
        X[:-1][eq.odd] = 0.0
    e = np.zeros_like(X)
    e[-1] = 1.0
    res = correct(eq, X, e, sym, tol, maxiter=30)
    if res is None:
        raise ConvergenceError(f"H0 is not close to a stationary point at lambda={lam0:g}")
    run = continue_branch(eq, res[0], direction * e, (lo, hi), sym, 0, ds, 1e-7, ds_max, max_steps, tol)
    b = Branch(problem.arch, "symmetric" if sym else ("broken" if eq.odd.any() else "regular"),
               tuple(run.points), complete=run.complete, stop_reason=run.reason)
    _warn_incomplete([b])
    return b


@entry_point
def point_at(trace_: Trace, lam: float, branch: int = 0, tol: float = 1e-11) -> ContinuationPoint:
    """The saddle on ``trace_.branches[branch]`` at exactly ``lam``, by Newton from the traced neighbours.

    Where the branch folds, the first stretch (in the traced order) covering
    ``lam`` is used.
    """
    if not (isinstance(branch, (int, np.integer)) and not isinstance(branch, bool)
            and 0 <= branch < len(trace_.branches)):
        raise ValueError(f"branch={branch!r} is invalid; the trace has branches 0..{len(trace_.branches) - 1}")
    b = trace_.branches[branch]
    lams = b.lam
    eq = Equations(trace_.problem.with_(lam=lams[0]))
    for k in range(1, len(lams)):
        if min(lams[k - 1], lams[k]) <= lam <= max(lams[k - 1], lams[k]):
            f = 0.0 if lams[k] == lams[k - 1] else (lam - lams[k - 1]) / (lams[k] - lams[k - 1])
            H = (1 - f) * b.points[k - 1].kernel + f * b.points[k].kernel
            X = np.append(to_vector(H), lam)
            sym = b.kind == "symmetric"
            e = np.zeros_like(X)
            e[-1] = 1.0
            res = correct(eq, X, e, sym, tol, maxiter=30)
            if res is None:
                raise ConvergenceError(f"Newton failed at lambda={lam:g} on branch {branch}")
            return _point(eq, _State(eq, res[0], e, sym))
    raise ValueError(f"lam={lam!r} is not covered by branch {branch} "
                     f"(lambda from {lams.min():g} to {lams.max():g})")


def trace_endpoint(Ts, archs=("rnn",), lam_range=(0.5, 3.0), P: int = 1, progress: bool = False,
                   **hyper) -> list:
    """:func:`trace` of the endpoint task (:func:`linkernel.tasks.endpoint`) for every T and architecture.

    ``hyper`` are ``w, v, u, kappa``.  Returns the traces, T-major.
    """
    from linkernel.tasks import endpoint
    _check_range(lam_range)
    return [trace(endpoint(arch, T=T, P=P, **hyper), lam_range, progress=progress)
            for T in Ts for arch in archs]

"""Tracing the saddle points of a problem in lambda: every branch, its special points, the coexistence.

:func:`trace` starts on the symmetric saddle at the low end of the range (or the global
minimum when the problem has no Z2 symmetry), continues it with
:func:`~linkernel.theory.continuation.stepper.continue_branch`, switches onto the broken
branch at every Z2 branch point (traced in the representative with m >= 0) and locates
the coexistence points (:mod:`~linkernel.theory.continuation.coexistence`).  Where several odd
modes go critical at one lambda (a sharing pattern), the coincident branch points are merged into one
with ``multiplicity`` k and the branches leave along the directions of the reduced equation on the
k-dimensional null space (:mod:`~linkernel.theory.continuation.degenerate`).  A branch that
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
from dataclasses import replace

import numpy as np

from linkernel.errors import ContinuationWarning, ConvergenceError
from linkernel.problem import Problem
from linkernel.progress import progress_bar
from linkernel.theory.action import m_vector, to_vector
from linkernel.theory.branches import Branch, ContinuationPoint, Trace
from linkernel.theory.continuation.landau import quartic_terms
from linkernel.theory.continuation.coexistence import _coexistence, _loses_stability
from linkernel.theory.continuation.degenerate import QuarticScan, characters, reduced_equation
from linkernel.theory.continuation.stepper import _LINALG, _State, correct, _point, _start, continue_branch, switch_branch
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
def trace(problem: Problem, lam_range: tuple[float, float] = (0.5, 3.0), ds: float = 0.05,
          ds_max: float | None = None, tol: float = 1e-11, max_steps: int = 2000,
          progress: bool = False) -> Trace:
    """Trace the saddle points of ``problem`` for lambda in ``lam_range`` (``problem.lam`` is ignored).

    Pseudo-arclength continuation of the saddle-point equations ``dS/dH = 0`` in
    ``X = (to_vector(H), lambda)``.  Starts on the symmetric saddle at ``lam_range[0]`` (or the
    global minimum when the problem has no Z2 symmetry), detects and refines folds and branch
    points, switches onto the broken branch at every Z2 branch point (traced in the
    representative with m >= 0) and locates coexistence points.  Branch 0 is the starting
    branch; broken branches follow.  A branch cut short by ``max_steps`` is marked
    (``Branch.complete``, ``Trace.complete``) with one :class:`~linkernel.ContinuationWarning`.

    ``Trace.transition`` is one of second order, first order, tricritical, none or unknown
    (defined in :class:`~linkernel.Trace`): 'none' only where the trace shows
    there is no transition in the range (no Z2 symmetry; or the symmetric saddle stable throughout
    and symmetric global minimum at ``lam_range[1]``), 'unknown' where it cannot tell (cut short,
    the whole range on the broken side, ...), with ``Trace.transition_note`` saying which case and,
    for a range above the transition, a range that contains it.  A broken branch's
    ``order_parameter`` is the breaking W group's m_g (``Branch.group``).  A Z2 branch point with
    k > 1 odd null directions (``SpecialPoint.multiplicity``) has a broken branch along each mode,
    each transcritical half of a cubic invariant and each two-mode mixture the quartic terms select;
    a cubic invariant makes the transition first order (``transition_note`` names the modes and
    the branches).  A branch along a mode that excites no shared group's m_g has ``group`` None.

    Parameters
    ----------
    problem : Problem
        The problem; its ``lam`` is ignored.
    lam_range : tuple of float, default (0.5, 3.0)
        ``(lo, hi)`` with ``0 < lo < hi``: the lambda interval (signal strength, targets
        ``y = lam * yhat``).
    ds : float, default 0.05
        First arclength step, in units of ``max(1, |X|_inf)``.
    ds_max : float, optional
        Largest arclength step (same units); default 0.25, or 0.5 above ``LONG_STEP_DIM``
        unknowns ``n(n+1)/2`` (where each point is expensive).
    tol : float, default 1e-11
        Newton tolerance on the residual of the saddle-point equations at each point.
    max_steps : int, default 2000
        Most continuation steps per branch.
    progress : bool, default False
        Show the progress bar (on stderr).

    Returns
    -------
    Trace
        The branches (each point's kernel of shape (T*P, T*P)), the special points, the
        transition's order and ``critical_lambda``.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).
    ConvergenceError
        If the continuation stalls or a branch switch fails (the message says what to change).

    Warns
    -----
    ContinuationWarning
        When a branch stopped before the end of the range.

    Examples
    --------
    >>> import linkernel as lk
    >>> tr = lk.trace(lk.endpoint("rnn", T=3, kappa=0.1), lam_range=(0.5, 3.0))
    >>> tr.transition, [b.kind for b in tr.branches]
    ('second order', ['symmetric', 'broken'])
    >>> round(tr.critical_lambda, 6)
    2.863782
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

    def make_branch(kind, run, group=None):
        return Branch(problem.arch, kind, _with_group(problem, run.points, group), complete=run.complete,
                      stop_reason=run.reason, group=group)

    transition, note = None, ""
    try:
        run = continue_branch(eq, X0, e, (lo, hi), sym, 0, ds, 1e-7, ds_max, max_steps, tol, bar)
        _merge_coincident(run)
        Xs, pts, specials, steps = run.X, run.points, list(run.specials), run.steps
        branches = [make_branch("symmetric" if sym else "regular", run)]
        for bp in [s for s in specials if s.z2]:
            if bp.multiplicity > 1:
                deg = _Degenerate(eq, bp, (lo, hi), (ds, ds_max, max_steps, tol), bar)
                specials[specials.index(bp)] = deg.bp      # with its null space
                for rb, group in deg.follow(len(branches)):
                    steps += rb.steps
                    branches.append(make_branch("broken", rb, group))
                    specials += _with_group(problem, deg.specials(rb), group)
                    if rb.X[1][-1] < bp.lam:
                        specials += _coexistence(eq, Xs, pts, rb.X, rb.points, len(branches) - 1, tol)
                if transition is None and _loses_stability(pts, bp.lam):
                    transition, note = deg.order(specials)
                continue
            X_bp, X1, tau = switch_branch(eq, bp, tol)
            k = len(branches)
            rb = continue_branch(eq, X1, tau, (lo, hi), False, k, ds, 1e-7, ds_max, max_steps, tol, bar)
            bp_pt = _point(eq, _State(eq, X_bp, tau, False))
            rb.X.insert(0, X_bp)
            rb.points.insert(0, bp_pt)
            steps += rb.steps
            group = _breaking_group(problem, bp.null_vector)
            branches.append(make_branch("broken", rb, group))
            specials += _with_group(problem, [s for s in rb.specials if not (
                s.kind == "branch_point" and abs(s.lam - bp.lam) < 1e-6 * max(1.0, bp.lam))], group)
            supercritical = rb.X[1][-1] > X_bp[-1]
            if transition is None and _loses_stability(pts, bp.lam):
                transition = _order_at(eq, bp, supercritical)
                note = _TRANSITION_NOTES[transition].format(lam=bp.lam)
            if not supercritical:
                specials += _coexistence(eq, Xs, pts, rb.X, rb.points, k, tol)
        if sym and not pts[0].stable and len(branches) == 1:
            # the range starts above the transition: follow the broken minimum found by minimisation
            H = saddle_point(eq.at(lo)).kernel
            rb = continue_branch(eq, np.append(to_vector(H), lo), e, (lo, hi), False, 1, ds, 1e-7, ds_max,
                                 max_steps, tol, bar)
            steps += rb.steps
            group = _largest_group(problem, rb.points[0]) if rb.points else None
            branches.append(make_branch("broken", rb, group))
            specials += _with_group(problem, rb.specials, group)
        if transition is None:
            transition, note = _without_transition(eq, branches[0], sym, lo, hi, tol)
    finally:
        bar.close()
    specials.sort(key=lambda s: (s.lam, s.kind))
    _warn_incomplete(branches)
    return Trace(problem=problem, lam_range=(lo, hi), branches=tuple(branches),
                 special_points=tuple(specials), transition=transition, steps=steps,
                 seconds=time.perf_counter() - t0, transition_note=note)


# --- several odd modes critical at once ---------------------------------------------
def _merge_coincident(run) -> None:
    """Merge the Z2 branch points of ``run`` that lie at one lambda (several odd eigenvalues crossing
    zero together, each located separately) into one with ``multiplicity``, and drop their copies
    from the branch's points (the coexistence search needs lambda strictly increasing)."""
    z2 = [s for s in run.specials if s.z2]
    drop = set()
    for a in z2:
        if id(a) in drop:
            continue
        same = [b for b in z2 if b is not a and id(b) not in drop
                and abs(b.lam - a.lam) <= 1e-9 * max(1.0, abs(a.lam))]
        if not same:
            continue
        drop |= {id(b) for b in same}
        run.specials[run.specials.index(a)] = replace(a, multiplicity=1 + len(same))
    if not drop:
        return
    gone = {id(b.kernel) for b in z2 if id(b) in drop}
    keep = [k for k, p in enumerate(run.points) if id(p.kernel) not in gone]
    run.X, run.points = [run.X[k] for k in keep], [run.points[k] for k in keep]
    run.specials = [s for s in run.specials if id(s) not in drop]


class _Degenerate:
    """The broken branches of a Z2 branch point with ``bp.multiplicity`` > 1 odd null directions, and the order.

    The reduced equation on the null space (:func:`~linkernel.theory.continuation.degenerate.reduced_equation`)
    gives the directions to switch along (each mode alone, each cubic invariant's two transcritical
    halves); ``steps`` = (ds, ds_max, max_steps, tol) of the continuation.
    """

    def __init__(self, eq: Equations, bp, lam_range, steps, bar):
        self.eq, self.lam_range, self.steps, self.bar = eq, lam_range, steps, bar
        X = np.append(to_vector(bp.kernel), bp.lam)
        X[:-1][eq.odd] = 0.0
        e = np.zeros(eq.dim + 1)
        e[-1] = 1.0
        self.X, self.Hd = X, eq.hessian(X)
        self.red = reduced_equation(eq, X, self.Hd, _State(eq, X, e, True).tau, bp.multiplicity)
        self.bp = replace(bp, null_space=self.red.phi, null_vector=self.red.phi[0])
        self.labels, self.failed, self.runs = [], [], []
        self.scan = None if self.red.cubic_triples else QuarticScan(eq, X, self.Hd, self.red)

    def follow(self, first: int):
        """Yield (run, group) for each direction's branch, indexed from ``first``; a direction whose
        switch fails, or whose first point repeats an earlier branch's, is skipped (and named in the note)."""
        eq, (ds, ds_max, max_steps, tol) = self.eq, self.steps
        for v, slope, label in self.red.directions() + (self.scan.directions if self.scan else []):
            try:
                X_bp, X1, tau = switch_branch(eq, self.bp, tol, direction=v, slope=slope)
            except ConvergenceError:
                self.failed.append(label)
                continue
            if any(np.linalg.norm(X1 - r.X[1]) <= 1e-8 * _norm(X1) for r in self.runs):
                continue
            rb = continue_branch(eq, X1, tau, self.lam_range, False, first + len(self.runs), ds, 1e-7, ds_max,
                                 max_steps, tol, self.bar)
            rb.X.insert(0, X_bp)
            rb.points.insert(0, _point(eq, _State(eq, X_bp, tau, False)))
            self.labels.append(f"branch {first + len(self.runs)}: {label}")
            self.runs.append(rb)
            yield rb, _excited_group(eq.problem, v)

    def specials(self, rb) -> list:
        """The run's special points other than the branch point it starts from."""
        lam = self.bp.lam
        return [s for s in rb.specials if not (s.kind == "branch_point" and abs(s.lam - lam) < 1e-6 * max(1.0, lam))]

    def order(self, specials) -> tuple:
        """(transition, note): first order with a cubic invariant, else the quartic form's sign."""
        red, lam, k = self.red, self.bp.lam, self.red.k
        modes = "; ".join(f"mode {i}: odd under {_flips(self.eq.problem, red.phi[i])}" for i in range(k))
        head = f"at the Z2 branch point {lam:.10g} {k} odd modes go critical together ({modes})"
        tail = f" ({'; '.join(self.labels)})" + (
            f"; branch switching failed along: {', '.join(self.failed)}" if self.failed else "")
        if red.cubic_triples:
            i, j, m, C = max(red.cubic_triples, key=lambda t: abs(t[3]))
            folds = [s.lam for s in specials if s.kind == "fold" and s.branch > 0]
            coex = [s.lam for s in specials if s.kind == "coexistence"]
            where = (f"; the broken phase appears at the fold {min(folds):.10g}" if folds else "") + (
                f" and takes over at the coexistence point {min(coex):.10g}" if coex else "")
            return "first order", (
                f"{head}, and the reduced equation on their null space has the cubic invariant "
                f"D^3S[phi_{i}, phi_{j}, phi_{m}] = {C:.6g} (relative {abs(C) / red.scale:.2g}): the broken "
                f"branches leave transcritically, one half towards smaller lambda, and the symmetric phase is "
                f"metastable below the branch point{where}{tail}")
        order, b = self.scan.order()
        if order is None:
            return "unknown", f"{head}, no cubic invariant, and the quartic form is not computable{tail}"
        return order, (f"{head}, no cubic invariant; the quartic Landau form on their null space has minimum "
                       f"b = {b:.6g} over directions (second order where it is positive){tail}")


def _norm(X) -> float:
    return max(1.0, float(np.abs(X).max()))


def _excited_group(problem: Problem, v):
    """The shared W group whose m_g the direction v excites most; None where it excites none (a mode that
    breaks only unshared flips, or whose characters differ from every m_g's)."""
    groups = problem.arch.shared_groups()
    proj = [abs(v @ m_vector(problem, g)) for g in groups]
    if not proj or max(proj) <= 1e-8 * float(np.linalg.norm(v)):
        return None
    return groups[int(np.argmax(proj))]


def _flips(problem: Problem, v) -> str:
    """Which W group flips the mode v changes sign under, e.g. 'W_0 and W_1'."""
    big = np.abs(v) > 1e-8 * np.abs(v).max()
    ch = characters(problem)[big][0]
    names = [f"W_{g}" for (g, _), c in zip(problem.symmetries, ch) if c < 0]
    return " and ".join(names) if names else "the joint flip of every W"


# --- which order, which group -------------------------------------------------------
_TRANSITION_NOTES = {
    "second order": "the symmetric saddle loses stability at the Z2 branch point lambda_c = {lam:.10g}, "
                    "from which a stable broken branch leaves towards larger lambda",
    "first order": "the symmetric saddle loses stability at the Z2 branch point {lam:.10g}, from which the "
                   "broken branch leaves towards smaller lambda (subcritical): the broken phase appears at its "
                   "fold and takes over at the coexistence point",
    "tricritical": "the symmetric saddle loses stability at the Z2 branch point {lam:.10g}, where the quartic "
                   "Landau coefficient vanishes (b = 0 within rounding, TRICRITICAL_TOL)",
}

#: |b_s| below this fraction of its two terms' size (quartic_terms) counts as b = 0: a tricritical
#: branch point.  The terms are Richardson-extrapolated differences, accurate to ~1e-9 of their size
#: (measured |b_s| / scale: T = 3 at the tricritical kappa = 56/3 rounded to 12 digits 3e-12, at
#: kappa = 18.6 2e-3; T = 4 at its tricritical kappa = 5.0625 (phase diagram) 2e-11, at kappa = 5.0
#: and 5.2, 1.2% and 2.7% away, 2e-3 and 4e-3)
TRICRITICAL_TOL = 1e-7


def _order_at(eq: Equations, bp, supercritical: bool) -> str:
    """'second order' or 'first order' from the side the broken branch leaves on; 'tricritical' where
    the quartic Landau coefficient at the branch point vanishes within :data:`TRICRITICAL_TOL`."""
    order = "second order" if supercritical else "first order"
    X = np.append(to_vector(bp.kernel), bp.lam)
    X[:-1][eq.odd] = 0.0
    phi = bp.null_vector / np.linalg.norm(bp.null_vector)
    try:
        if eq.dense:
            bs, d4, cac = quartic_terms(eq, X[:-1], bp.lam, phi, eq.hessian(X))
        else:
            # matrix-free: the even block's solve by MINRES (refined) instead of assembling the whole
            # Hessian (digits 0 vs 1, T = 4, dim = 20910: 31 s to assemble and 12 s to solve, 3.5 GB)
            jac = eq.jacobian(X, True)
            bs, d4, cac = quartic_terms(eq, X[:-1], bp.lam, phi, None, solve=jac.solve_refined)
    except _LINALG:
        return order
    if math.isfinite(bs) and abs(bs) <= TRICRITICAL_TOL * max(abs(d4), abs(cac)):
        return "tricritical"
    return order


def _breaking_group(problem: Problem, phi):
    """The shared W group whose order parameter m_g the odd null vector ``phi`` excites most (None: no
    shared group, the order parameter is m = H^{T-1,T-2}); as :func:`switch_branch` orients phi."""
    groups = problem.arch.shared_groups()
    if not groups or phi is None:
        return None
    proj = [abs(phi @ m_vector(problem, g)) for g in groups]
    return groups[int(np.argmax(proj))]


def _largest_group(problem: Problem, pt):
    """The shared group with the largest |m_g| at a broken point (None where there is none)."""
    if not pt.order_parameters:
        return None
    return max(pt.order_parameters, key=lambda g: abs(pt.order_parameters[g]))


def _with_group(problem: Problem, points, group):
    """The points (ContinuationPoint or SpecialPoint) with ``order_parameter`` the group's m_g."""
    if group is None:
        return list(points)
    return [replace(p, order_parameter=problem.order_parameters(p.kernel)[group]) for p in points]


def _without_transition(eq: Equations, sym_branch: Branch, sym: bool, lo: float, hi: float, tol: float):
    """(transition, note) where the symmetric branch met no Z2 branch point at which it loses stability:
    'none' where that is shown (no Z2 symmetry; or the symmetric saddle stable across the whole range
    and the global minimum at its top symmetric), else 'unknown' and why (the docstring of :func:`trace`)."""
    pts = sym_branch.points
    if not sym:
        return "none", "the problem has no Z2 symmetry: there is no symmetric phase to break (one regular branch)"
    if not sym_branch.complete:
        return "unknown", (f"cut short: the symmetric branch stops at lambda = {pts[-1].lam:.6g} "
                           f"(max_steps) before the end of the range, with no transition below it; "
                           "raise max_steps or ds_max")
    if not pts[0].stable:
        below = _stable_symmetric_below(eq, lo, tol)
        hint = (f"; the symmetric saddle is stable at lambda = {below:.3g}: trace lam_range=({below:.3g}, {hi:g})"
                if below is not None else
                f"; no stable symmetric saddle found down to lambda = {lo * _DOWN[-1]:.3g}")
        return "unknown", (f"the whole range lies on the broken side: the symmetric saddle is already unstable "
                           f"at lambda = {lo:g}, so the transition lies below {lo:g}{hint}")
    lost = next((p.lam for p in pts if not p.stable), None)
    if lost is not None:
        return "unknown", (f"the symmetric saddle loses stability near lambda = {lost:.6g} without a Z2 branch "
                           "point (a fold or another bifurcation of the symmetric branch): not a symmetry-"
                           "breaking transition this trace can classify")
    sp = saddle_point(eq.at(hi))
    S_sym = pts[-1].action
    broken = np.abs(to_vector(sp.kernel)[eq.odd]).max() > 1e-6 * max(1.0, np.abs(sp.kernel).max())
    if broken and sp.action < S_sym - 1e-9 * max(1.0, abs(S_sym)):
        return "unknown", (f"the symmetric saddle is stable across the range, but at lambda = {hi:g} the global "
                           f"minimum is broken (S lower by {S_sym - sp.action:.3g}): a first-order transition whose "
                           f"coexistence lies below {hi:g} and whose branch point lies above it; trace a range "
                           f"reaching above {hi:g}")
    return "none", (f"the symmetric saddle is stable across the whole range with no branch point, and the "
                    f"global minimum at lambda = {hi:g} is symmetric: no transition in the range (any lies above "
                    f"{hi:g})")


#: where :func:`_stable_symmetric_below` looks: lo times these factors, in turn
_DOWN = tuple(2.0 ** -k for k in range(1, 11))


def _stable_symmetric_below(eq: Equations, lo: float, tol: float):
    """The largest lambda = lo / 2^k (k = 1..10) at which the symmetric saddle is stable, or None."""
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    for f in _DOWN:
        try:
            X, _ = _start(eq, lo * f, tol)
            if _point(eq, _State(eq, X, e, True)).stable:
                return lo * f
        except (*_LINALG, ConvergenceError):
            continue
    return None


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

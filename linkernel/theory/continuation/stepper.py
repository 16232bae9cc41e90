"""Pseudo-arclength stepping along one branch of F(x, lambda) = 0, with event location.

The unknowns are ``X = (x, lam)`` (:mod:`linkernel.theory.equations`).  Each step
predicts along the unit tangent ``tau`` (the null vector of ``[dF/dx | dF/dlam]``) and
corrects on ``F = 0`` plus the arclength condition ``tau . (X - X_pred) = 0``
(:func:`correct`); the step length is adapted to the corrector's iteration count and to
the turning of the tangent, and is measured relative to ``max(1, |X|_inf)`` so that wide
ranges (lambda = 100 .. 1000) take as many steps as narrow ones.

Every accepted point carries its residual |dS/dH|, its smallest Hessian eigenvalue, the
number of negative ones and its stability (none negative: a local minimum of S).  Three
test functions are watched between consecutive points and their zeros refined along the
arclength (:func:`_locate`: Illinois regula falsi; the side of the zero is decided by the
integer eigenvalue count, the interpolation uses the eigenvalue nearest zero):

* ``tau_lam`` (the lambda component of the tangent) changes sign at a *fold*;
* on a Z2-symmetric branch the number of negative eigenvalues of the *odd* block changes
  at a symmetry-breaking *branch point*; its odd null vector is the direction of the
  broken branch (:func:`switch_branch`);
* ``sign det [[dF/dx, dF/dlam], [tau]] = (-1)^(negative eigenvalues) * sign(tau_lam)``
  changes at any other simple branch point (``branch_point`` with ``z2 = False``).

:func:`correct_damped` is the corrector for general systems G(X) = 0 on a hyperplane (the
minimally augmented systems of :mod:`linkernel.theory.continuation.codim2`), with step halving.
"""

from __future__ import annotations

import numpy as np

from linkernel.errors import ConvergenceError, KernelError
from linkernel.problem import fix_z2_sign, order_parameter
from linkernel.theory.action import m_vector, prior_kernel, to_vector
from linkernel.theory.branches import ContinuationPoint, SpecialPoint
from linkernel.theory.continuation.bordered import Jacobian
from linkernel.theory.equations import Equations
from linkernel.theory.newton import damped_newton
from linkernel.theory.action import from_vector as _mat, to_vector as _vec
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import symmetric_saddle

_LINALG = (KernelError, np.linalg.LinAlgError)
#: the matrix-free eigenpairs' LOBPCG tolerance at the points that refine a zero crossing
#: (:func:`_locate`): there the eigenvalue nearest zero is what locates the special point, and its
#: error (~ residual^2 / gap) moves it.  Digits 0 vs 1 on 9 components, T = 4: the branch point
#: 4e-9 (relative) from the dense trace's at 1e-9 with warm starts, 6e-16 at 1e-12.
LOCATE_PAIRS_TOL = 1e-12
#: above this many coordinates the corrector reuses one factorisation (chord Newton)
_CHORD_MIN_DIM = 150


# --- one converged point ------------------------------------------------------------
class _State:
    """A converged point X with its Jacobian, unit tangent (oriented along ``ref``) and eigenvalue counts.

    ``neg``: negative eigenvalues of the kept Hessian block (the even block on
    the symmetric branch), ``neg_odd``: of the odd block (symmetric branch
    only, else None).  The Jacobian's border is the tangent, ready for the
    chord corrector of the next step.  ``pairs_tol``: the matrix-free eigenpairs' LOBPCG tolerance
    (None: :data:`~linkernel.theory.continuation.spectra.PAIRS_TOL`; tighter where a zero crossing
    is refined, :data:`LOCATE_PAIRS_TOL`).
    """

    def __init__(self, eq: Equations, X, ref, sym: bool, jac: Jacobian | None = None, pairs_tol=None):
        self.X, self.sym = X, sym
        self.jac = Jacobian(eq, X, sym) if jac is None or jac.X is not X else jac
        if pairs_tol is not None:
            self.jac.pairs_tol = pairs_tol
        self.tau = self.jac.tangent(ref)
        self.jac.set_border(self.tau)
        self.neg, self.neg_odd = self.jac.counts()

    @property
    def fold(self) -> float:
        return float(self.tau[-1])

    @property
    def det_sign(self) -> int:
        """sign det [[dF/dx, dF/dlam], [tau]] = (-1)^neg sign(tau_lam): flips at branch points, not at folds."""
        return (-1) ** self.neg * (1 if self.tau[-1] >= 0 else -1)


def correct(eq: Equations, X_pred, tau, sym: bool, tol: float, maxiter: int = 15, jac=None, cache=None):
    """Newton on [F(X) = 0, tau.(X - X_pred) = 0]; returns (X, iterations) or None.

    Where the Jacobian is expensive (``dim > _CHORD_MIN_DIM``): a chord
    iteration on ``jac`` (the factorised bordered Jacobian at a nearby point
    whose border is ``tau``) when given, refreshed at the current iterate
    whenever it contracts by less than a factor 4 per step.  Small systems
    take plain Newton steps (a new Jacobian costs less than the iterations
    it saves).  ``cache`` (a dict) keeps the last Jacobian for the next call
    with the same border ``tau`` (repeated solves at nearby points).
    """
    if cache is not None and jac is None and eq.dim > _CHORD_MIN_DIM:
        jac = cache.get("jac")
    X = np.array(X_pred, dtype=float)
    k = eq.keep(sym)
    scale = max(1.0, np.abs(X).max())
    newton = eq.dim <= _CHORD_MIN_DIM
    refresh = jac is None or newton
    prev = np.inf
    F = None
    for it in range(1, maxiter + 1):
        try:
            if refresh:
                jac = Jacobian(eq, X, sym)
                jac.set_border(tau)
                F = _vec(jac.pc.gradient())
                refresh = False
                if cache is not None:
                    cache["jac"] = jac
            elif F is None:
                F = eq.F(X)
        except _LINALG:
            return None
        z = jac.bordered_solve(-F[k], -(tau @ (X - X_pred)))
        if z is None:
            return None
        dX = np.zeros_like(X)
        dX[k] = z[:-1]
        dX[-1] = z[-1]
        X = X + dX
        F = None
        nd = float(np.linalg.norm(dX))
        if not np.isfinite(nd):
            return None
        if nd < 1e-10 * scale:
            try:
                F = eq.F(X)
            except _LINALG:
                return None
            if _converged(eq, X, F, tol, scale):
                return X, it
        elif newton or nd > 0.25 * prev:
            refresh = True
        prev = nd
    try:
        ok = _converged(eq, X, eq.F(X), tol, scale)
    except _LINALG:
        return None
    return (X, maxiter) if ok else None


def _converged(eq: Equations, X, F, tol: float, scale: float) -> bool:
    """|F| < tol * scale, or else the whitened residual |L^T (dS/dH) L|_F < tol (H = L L^T).

    On graded kernels (w = 1e-3: diagonal entries over many decades) dS/dH ~ H^-1 rounds far above
    tol in Frobenius coordinates (stalling at 2e-6 while the whitened residual is 2e-15); the whitened
    residual is scale-free, the same test the saddle-point search uses.  It is only consulted where
    the Frobenius test fails, so a point that passed before passes the same way.
    """
    if np.linalg.norm(F) < tol * scale:
        return True
    return _whitened_residual(eq.at(X[-1]), _mat(X[:-1], eq.n)) < tol


#: the damped corrector's step search (:func:`linkernel.theory.newton.damped_newton`): halve from 1
#: while the residual does not decrease, take a quarter step or less regardless, give up below
#: 1e-4; a failed search (or no Newton step) is a failure however small the residual
_DAMPING = dict(min_step=1e-4, accept_step=0.25)
_FAILED = ("line search failed", "no direction", "not evaluable")


def correct_damped(system, X0, tol: float, maxiter: int = 40):
    """The corrector with step damping, for a general system G(X) = 0 on a hyperplane; returns (X, state) or None.

    ``system`` (a protocol: :class:`~linkernel.theory.continuation.codim2.FixedLambda`,
    :class:`~linkernel.theory.continuation.codim2.MinimallyAugmented`) has
    ``evaluate(X) -> (|G|, state)`` (None outside its domain, the positive-definite
    cone), ``step(X, state) -> dX`` (the Newton step with the bordered constraint
    built in: the hyperplane's coordinate held) and ``params`` (how many trailing
    coordinates of X are parameters).  Used where :func:`correct` would lose points:
    away from a smooth branch (the phase diagram's lines, polishing a point from a
    rough guess), the full step may leave the cone, so it is halved
    (:func:`~linkernel.theory.newton.damped_newton`, constants ``_DAMPING``); the
    residual is measured against max(1, |x|_inf), the parameters excluded.
    """
    X0 = np.asarray(X0, dtype=float)
    res = damped_newton(system.evaluate, system.step, X0, tol=tol, maxiter=maxiter,
                        scale=max(1.0, np.abs(X0[:-system.params]).max()), **_DAMPING)
    if res.reason in _FAILED or not res.converged:
        return None
    return res.x, res.state


def _stability_threshold(jac: Jacobian) -> float:
    rho = jac.row_norm() if jac.dense and jac.A.size else 1.0
    return 1e-9 * max(1.0, rho)


def _point(eq: Equations, st: _State) -> ContinuationPoint:
    X, jac = st.X, st.jac
    p, H = eq.problem, _mat(X[:-1], eq.n)  # the Z2 sign and m do not depend on lambda
    low = jac.lowest(st.neg, st.neg_odd)
    n_neg = st.neg + (st.neg_odd or 0)
    if low >= -_stability_threshold(jac):
        n_neg = 0  # eigenvalues at rounding level (at a branch point itself) do not count
    Hz = fix_z2_sign(p, H)
    return ContinuationPoint(
        lam=float(X[-1]), kernel=Hz, action=jac.pc.action(),
        residual=float(np.linalg.norm(_vec(jac.pc.gradient()))),
        stable=n_neg == 0, order_parameter=order_parameter(Hz, p.T, p.P),
        order_parameters=p.order_parameters(Hz), min_eigenvalue=low, n_negative=int(n_neg))


def _locate(eq, Sa: _State, Sb: _State, sym, tol, side, value):
    """The zero of a test function between the consecutive points Sa, Sb, along Sa's tangent.

    ``side(state)`` says on which side of the zero a state lies (compared
    with Sb), ``value(state) >= 0`` is the distance from it (an eigenvalue
    or tau_lam): Illinois regula falsi on the signed value, the bracket kept
    by ``side``.  Returns the refined state nearer the zero.
    """
    X, tau = Sa.X, Sa.tau
    target = side(Sb)

    def g(st):
        v = abs(value(st))
        return v if side(st) == target else -v

    a, b = 0.0, float(tau @ (Sb.X - X))
    ga, gb = g(Sa), g(Sb)
    fa, fb = Sa, Sb
    stop = 2e-15 * max(1.0, np.abs(X).max())
    sgn = 0
    for _ in range(80):
        if b - a <= stop or ga == 0 or gb == 0:
            break
        s = b - gb * (b - a) / (gb - ga) if gb != ga else 0.5 * (a + b)
        if not a < s < b:
            s = 0.5 * (a + b)
        res = correct(eq, X + s * tau, tau, sym, tol, jac=Sa.jac)
        if res is None:
            s = 0.5 * (a + b)
            res = correct(eq, X + s * tau, tau, sym, tol)
            if res is None:
                break
        try:
            st = _State(eq, res[0], tau, sym, pairs_tol=LOCATE_PAIRS_TOL)
        except (*_LINALG, ConvergenceError):
            break
        gs = g(st)
        if gs >= 0:
            b, gb, fb = s, gs, st
            if sgn == 1:
                ga *= 0.5
            sgn = 1
        else:
            a, ga, fa = s, gs, st
            if sgn == -1:
                gb *= 0.5
            sgn = -1
    return fa if abs(value(fa)) <= abs(value(fb)) else fb


def _special(eq, kind: str, st: _State, branch: int, z2: bool = False):
    pt = _point(eq, st)
    phi = None
    if z2:
        value, phi = st.jac.nearest_zero(odd=True)
    elif kind == "fold":
        value = st.fold
    else:
        value = st.jac.nearest_zero(odd=False)[0]
    sp = SpecialPoint(kind=kind, lam=pt.lam, kernel=pt.kernel, action=pt.action,
                      residual=pt.residual, order_parameter=pt.order_parameter,
                      test_value=float(value), branch=branch, z2=z2, null_vector=phi)
    return sp, pt, st.X


class _Run:
    """What :func:`continue_branch` returns: points, their X, special points, steps, and whether it finished."""

    def __init__(self):
        self.X, self.points, self.specials, self.steps = [], [], [], 0
        self.complete, self.reason = True, ""


def _scale(X) -> float:
    """Steps are relative to max(1, |X|_inf): a step in log lambda (and log H) where they are large."""
    return max(1.0, float(np.abs(X).max()))


def _events(eq: Equations, S: _State, Sn: _State, sym: bool, tol: float, branch: int) -> list:
    """The special points between the consecutive states S and Sn, located, ordered along S's tangent.

    A fold where tau_lam changes sign, a branch point where ``det_sign`` flips and, on the
    symmetric branch, a Z2 branch point for each odd eigenvalue that crosses zero.  Items are
    :func:`_special`'s (SpecialPoint, ContinuationPoint, X).
    """
    found = []
    if np.sign(S.fold) * np.sign(Sn.fold) < 0:
        found.append(_special(eq, "fold", _locate(
            eq, S, Sn, sym, tol, lambda st: st.fold > 0, lambda st: st.fold), branch))
    if S.det_sign != Sn.det_sign:
        found.append(_special(eq, "branch_point", _locate(
            eq, S, Sn, sym, tol, lambda st: st.det_sign,
            lambda st: st.jac.nearest_zero(odd=False)[0]), branch))
    if S.neg_odd is not None and Sn.neg_odd is not None:
        for j in range(min(S.neg_odd, Sn.neg_odd), max(S.neg_odd, Sn.neg_odd)):
            # the (j+1)-th odd eigenvalue crosses zero
            found.append(_special(eq, "branch_point", _locate(
                eq, S, Sn, sym, tol, lambda st, j=j: st.neg_odd > j,
                lambda st: st.jac.nearest_zero(odd=True)[0]), branch, z2=True))
    return sorted(found, key=lambda f: S.tau @ (f[2] - S.X))


def _end_at_bound(eq: Equations, run: _Run, S: _State, Sn: _State, sym: bool, tol: float, lam_range):
    """Append to ``run`` the point at the end of ``lam_range`` that the step S -> Sn jumped over.

    Corrected at fixed lambda (border e_lambda) from the linear interpolation; nothing is
    appended when that fails.
    """
    lam_n = Sn.X[-1]
    bound = lam_range[1] if lam_n > lam_range[1] else lam_range[0]
    f = (bound - S.X[-1]) / (lam_n - S.X[-1])
    guess = S.X + f * (Sn.X - S.X)
    guess[-1] = bound
    e = np.zeros_like(guess)
    e[-1] = 1.0
    end = correct(eq, guess, e, sym, tol, maxiter=30)
    if end is not None:
        try:
            run.points.append(_point(eq, _State(eq, end[0], S.tau, sym)))
            run.X.append(end[0])
        except (*_LINALG, ConvergenceError):
            pass


def continue_branch(eq: Equations, X0, tau0, lam_range, sym: bool, branch: int = 0,
                    ds: float = 0.05, ds_min: float = 1e-7, ds_max: float = 0.25,
                    max_steps: int = 2000, tol: float = 1e-11, bar=None) -> _Run:
    """Pseudo-arclength continuation from (X0, tau0) until lambda leaves ``lam_range``.

    ``ds`` (initial), ``ds_min`` and ``ds_max`` are in units of
    ``max(1, |X|_inf)`` (X = (to_vector(H), lambda)).  ``sym`` keeps the Z2-odd coordinates at zero (the
    symmetric branch, an invariant subspace).  Stops after ``max_steps``
    accepted or rejected steps with ``complete = False``.
    """
    lo, hi = lam_range
    run = _Run()
    S = _State(eq, np.asarray(X0, dtype=float), tau0, sym)
    run.X.append(S.X)
    run.points.append(_point(eq, S))
    while True:
        if run.steps >= max_steps:
            run.complete = False
            run.reason = (f"max_steps={max_steps} reached at lambda={S.X[-1]:.10g} before the end of "
                          f"lam_range=({lo:g}, {hi:g}); raise max_steps or ds_max")
            break
        run.steps += 1
        h = ds * _scale(S.X)
        res = correct(eq, S.X + h * S.tau, S.tau, sym, tol, jac=S.jac)
        Sn = None
        if res is not None:
            Xn, its = res
            try:
                Sn = _State(eq, Xn, S.tau, sym)
            except (*_LINALG, ConvergenceError):
                Sn = None
        if Sn is None or (Sn.tau @ S.tau < 0.97 and ds > 2 * ds_min):
            ds *= 0.5
            if ds < ds_min:
                raise ConvergenceError(f"continuation stalled at lambda={S.X[-1]:.8g} (step below "
                                       f"ds_min={ds_min:g}); try a smaller tol or a different range")
            continue
        if bar is not None:
            bar.update(1)
        for sp, pt, Xsp in _events(eq, S, Sn, sym, tol, branch):
            if np.linalg.norm(Xsp - S.X) > 1e-12 and lo <= Xsp[-1] <= hi:
                run.specials.append(sp)
                run.X.append(Xsp)
                run.points.append(pt)
        if not lo <= Sn.X[-1] <= hi:
            _end_at_bound(eq, run, S, Sn, sym, tol, lam_range)
            break
        run.X.append(Sn.X)
        run.points.append(_point(eq, Sn))
        S = Sn
        fast, slow = (4, 9) if eq.dim <= _CHORD_MIN_DIM else (7, 12)  # chord steps contract linearly
        ds = min(ds * 1.5, ds_max) if its <= fast else (ds * 0.6 if its >= slow else ds)
    return run


# --- starting points and branch switching -----------------------------------------
def _start(eq: Equations, lam0: float, tol: float):
    """The symmetric saddle at lam0 (problems with a Z2) or the global minimum of S (otherwise).

    Newton in Frobenius coordinates (``symmetric_saddle``, :func:`correct`) tests |dS/dH| against
    tol max(1, |H|): on a graded kernel (small w, H_tt ~ w^2t) dS/dH ~ 1/H rounds far above that
    (w = 1e-3, T = 4: 2e-6 at a point whose whitened residual is 2e-15).  So where Newton does not
    reach the branch, the trust-region descent from the prior kernel (which stays on the symmetric
    set and converges in the whitened residual) gives the start, accepted when its whitened residual
    |L^T (dS/dH) L| is below ``tol``.
    """
    p = eq.at(lam0)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    if eq.odd.any():
        try:
            H = symmetric_saddle(p, tol=tol)
        except ConvergenceError:
            H = _symmetric_descent(p, tol)
        X = np.append(to_vector(H), lam0)
        X[:-1][eq.odd] = 0.0
        res = correct(eq, X, e, True, tol, maxiter=30)
        if res is not None:
            return res[0], True
        H = _symmetric_descent(p, tol)
        X = np.append(to_vector(H), lam0)
        X[:-1][eq.odd] = 0.0
        if _whitened_residual(p, _mat(X[:-1], p.n)) <= tol:
            return X, True
        raise ConvergenceError(f"no symmetric saddle found at lambda={lam0:g}; "
                               "start the range at a smaller lambda")
    H = saddle_point(p).kernel
    return np.append(to_vector(H), lam0), False


def _symmetric_descent(p, tol: float) -> np.ndarray:
    """The end of the trust-region descent from the prior kernel (on the symmetric set), odd entries zeroed."""
    from linkernel.theory.minimize import minimize_action
    H = minimize_action(p, prior_kernel(p), tol=tol).kernel.copy()
    H[p.odd_mask] = 0.0
    return H


def _whitened_residual(p, H) -> float:
    """|L^T (dS/dH) L|_F (H = L L^T): the dimensionless residual; inf outside the positive-definite cone."""
    from linkernel.theory.action import Pieces
    try:
        pc = Pieces(p, H)
    except KernelError:
        return float("inf")
    return float(np.linalg.norm(pc.LH.T @ pc.gradient() @ pc.LH))


def switch_branch(eq: Equations, bp: SpecialPoint, tol: float = 1e-11, h: float = 1e-2,
                  direction=None, slope: float = 0.0):
    """First point and tangent of the broken branch leaving a Z2 branch point along +phi (m > 0).

    The corrector fixes the distance along (phi, 0) and frees lambda, so the
    broken branch (lambda - lambda_c ~ h^2) is reached, not the symmetric one.
    ``direction`` (dim,): leave along it instead of ``bp.null_vector``, as given (not
    re-oriented: a branch point with several null directions,
    :mod:`~linkernel.theory.continuation.degenerate`); ``slope``: the branch's
    dlambda per unit distance along it (a transcritical branch), used in the first guess.
    """
    phi = (bp.null_vector if direction is None else direction)
    phi = phi / np.linalg.norm(phi)
    # orient along +m_g of the group the null vector excites most (for the RNN: m = H^{T-1,T-2} > 0)
    proj = [phi @ m_vector(eq.problem, g) for g in eq.problem.arch.shared_groups()] or [phi @ m_vector(eq.problem)]
    if direction is None and proj[int(np.argmax(np.abs(proj)))] < 0:
        phi = -phi
    X_bp = np.append(to_vector(bp.kernel), bp.lam)
    X_bp[:-1][eq.odd] = 0.0
    tau = np.append(phi, 0.0)
    step = np.append(phi, slope)
    scale = max(1.0, np.abs(X_bp).max())
    for k in range(6):
        res = correct(eq, X_bp + h * scale * 2.0 ** k * step, tau, False, tol, maxiter=30)
        if res is not None and abs((res[0][:-1] - X_bp[:-1]) @ phi) > 0.5 * h * scale:
            return X_bp, res[0], tau
    raise ConvergenceError(f"branch switching at lambda={bp.lam:.10g} failed; try a larger h")

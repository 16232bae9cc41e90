"""One home for the symmetric saddle, the numerical critical point and the constrained minimum at fixed m.

For every weight-sharing pattern (:class:`linkernel.architecture.Architecture`):

* the **symmetric saddle** is the stationary point of S whose Z2-odd entries
  vanish (odd under some ``W_g -> -W_g``, :attr:`Problem.odd_mask`): Newton
  from the prior kernel, which keeps the odd subspace invariant;
* the **critical point** ``lambda_c`` is where the smallest eigenvalue of the
  Hessian's odd block on that saddle crosses zero (Brent's method in lambda);
* the **constrained minimum** is ``min { S(H) : a . to_vector(H) = m }`` for a
  linear order parameter ``a`` (by default the gradient of m = H^{T-1,T-2}),
  the building block of the Landau landscape and of the numerical Landau
  coefficients.

The closed forms of :mod:`linkernel.symbolic` (RNN endpoint task) are checked
against these in the tests; continuation (:mod:`linkernel.theory.continuation`),
landscape and finite-size scaling call them rather than re-deriving them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize

from linkernel.errors import ConvergenceError, KernelError
from linkernel.problem import Problem
from linkernel.theory.action import (action, from_vector, gradient, m_vector, odd_coordinates, prior_kernel, to_vector)
from linkernel.theory.equations import Equations
from linkernel.theory.hessian import dense_hessian, lowest_eigenpairs
from linkernel.theory.newton import damped_newton
from linkernel.threads import entry_point
from linkernel.validation import interval, positive


def require_symmetry(problem: Problem) -> np.ndarray:
    """The odd coordinates of ``problem`` (:func:`odd_coordinates`); ValueError when no W flip is a symmetry."""
    odd = odd_coordinates(problem)
    if not odd.any():
        raise ValueError(f"problem {problem.name!r} (arch {problem.arch}) has no Z2 symmetry W_g -> -W_g; "
                         "the symmetric saddle and its transition are defined only for problems with one "
                         "(inputs at one parity of time per group, targets of consistent sign)")
    return odd


@entry_point
def symmetric_saddle(problem: Problem, tol: float = 1e-13, H0=None) -> np.ndarray:
    """The symmetric (Z2-even) stationary point of S at ``problem.lam``, shape (TP, TP).

    Damped Newton inside the even subspace (an invariant subspace of the
    gradient flow), from ``H0`` (default: the prior kernel) with the odd
    entries zeroed; the linear systems use the even block of the Hessian only
    (dense up to ``_DENSE_NEWTON_MAX_DIM`` coordinates, above MINRES on the
    Hessian-vector product preconditioned by the Fisher metric, with a dense
    retry if that fails).  Raises
    ConvergenceError if it does not converge.
    """
    odd = require_symmetry(problem)
    H0 = prior_kernel(problem) if H0 is None else np.array(H0, dtype=float)
    # MINRES with the Fisher preconditioner beats assembling the Hessian from a few hundred
    # coordinates on (T = 8, P = 4: 0.17 s instead of 1.8 s; T = 16, P = 4: 0.5 s instead of 27 s)
    eq = Equations(problem, dense=problem.n * (problem.n + 1) // 2 <= _DENSE_NEWTON_MAX_DIM)
    X = np.append(to_vector(H0), problem.lam)
    X[:-1][odd] = 0.0
    H, r, ok = _damped_even_newton(eq, X, tol)
    if not ok and not eq.dense:
        H, r, ok = _damped_even_newton(Equations(problem, dense=True), X, tol)
    if not ok:
        raise ConvergenceError(f"Newton from the prior kernel did not reach the symmetric branch at "
                               f"lam={problem.lam} (residual {r:.2e}); try a smaller lam or continue "
                               "the branch in small steps")
    return H


#: Newton for the symmetric saddle assembles the even Hessian block up to this many coordinates
_DENSE_NEWTON_MAX_DIM = 300


def _damped_even_newton(eq: Equations, X, tol, maxiter=100):
    """Newton in the even coordinates with step halving (H stays positive definite, |dS/dH| decreases).

    :func:`linkernel.theory.newton.damped_newton` on X = (x, lam) with lambda and the odd
    coordinates held (their step is zero); the step solves the even Hessian block
    (:class:`linkernel.theory.equations.Jacobian`, least squares where the dense block is
    singular).  Returns (H, residual norm, converged); a failed MINRES solve ends it unconverged
    so that the caller can retry with dense linear algebra.
    """
    k = eq.keep(True)

    def evaluate(X):
        F = eq.F(X)
        return np.linalg.norm(F), F

    def direction(X, F):
        jac = eq.jacobian(X, True)
        step = jac.solve(F[k])
        if step is None:
            if not eq.dense:
                return None  # MINRES failed: the caller retries with dense linear algebra
            step = np.linalg.lstsq(jac.A, F[k], rcond=None)[0]
        dX = np.zeros_like(X)
        dX[k] = -step
        return dX

    res = damped_newton(evaluate, direction, X.copy(), tol=tol, maxiter=maxiter, min_step=1e-6, accept_step=1e-3)
    return from_vector(res.x[:-1], eq.n), float(res.residual), res.converged


def odd_hessian_minimum(problem: Problem, H=None) -> float:
    """Smallest eigenvalue of the Z2-odd block of the Hessian of S on the symmetric saddle.

    :func:`linkernel.theory.hessian.lowest_eigenpairs` (dense ``eigh`` for small
    blocks, preconditioned Lanczos/LOBPCG for large ones).
    """
    require_symmetry(problem)
    H = symmetric_saddle(problem) if H is None else H
    return float(lowest_eigenpairs(problem, H, k=1, sector="odd")[0][0])


class _OddCurvature:
    """mu(lambda): the lowest eigenvalue of the Z2-odd Hessian block on the symmetric saddle at lambda.

    Each symmetric saddle is warm-started by secant extrapolation from the two nearest solved
    (kept in ``warm``), so a walk in lambda costs a few Newton steps per point.
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.warm = {}

    def saddle(self, lam):
        """Symmetric saddle at lam, warm-started by secant extrapolation from the two nearest solved."""
        warm = self.warm
        near = sorted(warm, key=lambda l: abs(l - lam))[:2]
        H0 = None
        if len(near) == 2 and near[0] != near[1]:
            l1, l0 = near
            H0 = warm[l1] + (lam - l1) / (l1 - l0) * (warm[l1] - warm[l0])
            if np.linalg.eigvalsh(H0)[0] <= 0:
                H0 = warm[l1]
        elif near:
            H0 = warm[near[0]]
        try:
            H = symmetric_saddle(self.problem.with_(lam=lam), H0=H0)
        except ConvergenceError:
            if not near:
                raise
            H = symmetric_saddle(self.problem.with_(lam=lam), H0=warm[near[0]])
        warm[lam] = H
        return H

    def __call__(self, lam):
        p = self.problem.with_(lam=lam)
        return float(lowest_eigenpairs(p, self.saddle(lam), k=1, sector="odd")[0][0])

    def step_to(self, lam, target):
        """mu at target, reached in smaller steps from lam if Newton fails on the way."""
        start = lam
        for _ in range(12):
            try:
                return self(target)
            except ConvergenceError:
                mid = 0.5 * (lam + target)
                try:
                    self(mid)
                    lam = mid
                except ConvergenceError:
                    target = mid
        raise ConvergenceError(
            f"the symmetric branch ends between lam={lam:.8g} and {target:.8g} (a fold: Newton on it fails "
            f"in ever smaller steps from lam={start:.8g}) while the Z2-odd Hessian block is still positive; "
            "the symmetric phase has no symmetry-breaking critical point there (trace the problem to see "
            "the fold)")

    def bracket(self, lam_min: float, lam_max: float) -> tuple:
        """(lo, hi) with mu(lo) > 0 >= mu(hi): walking up from lam_min in steps of 0.1 (10% beyond
        lambda = 1) to lam_max, or halving lambda where the saddle is already unstable at lam_min."""
        problem, lam, bracket = self.problem, lam_min, None
        prev = (lam, self(lam))
        while prev[1] <= 0:  # already unstable: walk down
            if lam < 1e-8:
                raise ConvergenceError(f"the symmetric saddle is unstable down to lam={lam:g}; "
                                       "no transition from a stable symmetric phase")
            lam *= 0.5
            cur = (lam, self(lam))
            if cur[1] > 0:
                bracket = (cur[0], prev[0])
            prev = cur
        while bracket is None:
            new = lam + (0.1 if lam < 1.0 else 0.1 * lam)
            if new > lam_max:
                raise ConvergenceError(f"the symmetric branch stays stable up to lambda = {lam_max:g}: this problem "
                                       f"(T={problem.T}, arch {problem.arch.label}) has no symmetry-breaking "
                                       "transition there (the RNN endpoint task needs T >= 3; the DNN has none); "
                                       "in Python, critical_lambda(lam_max=...) looks further")
            cur = (new, self.step_to(lam, new))
            lam = new
            if cur[1] <= 0:
                bracket = (prev[0], cur[0])
            prev = cur
        return bracket


@entry_point
def critical_lambda(problem: Problem, bracket: tuple[float, float] | None = None, xtol: float = 1e-13,
                    lam_max: float = 20.0, lam_min: float = 0.1) -> float:
    """lambda_c: where the symmetric saddle loses stability to a Z2-odd mode, for any sharing pattern.

    The root in lambda of the lowest Hessian eigenvalue of S on the symmetric branch restricted
    to the Z2-odd coordinates (:func:`odd_hessian_minimum`), by Brent's method.  Without a
    bracket one is found by walking up from ``lam_min`` in steps of 0.1 (10% beyond lambda = 1)
    to ``lam_max`` (or halving lambda where the saddle is already unstable at ``lam_min``), each
    symmetric saddle warm-started from the nearest one solved.  For the T = 4 RNN endpoint task
    the eigenvalue is computed to ~1e-16 and its slope in lambda is ~4e-3, so lambda_c is good to
    ~1e-12.  The closed form is :func:`~linkernel.critical_point` (small T, P).

    Parameters
    ----------
    problem : Problem
        A problem with a Z2 symmetry ``W_g -> -W_g``; its ``lam`` is ignored.
    bracket : tuple of float, optional
        ``(lo, hi)`` with the odd eigenvalue positive at ``lo`` and negative at ``hi``.
    xtol : float, default 1e-13
        Absolute tolerance on lambda_c.
    lam_max : float, default 20.0
        Largest lambda the bracket search tries.
    lam_min : float, default 0.1
        Where the bracket search starts.

    Returns
    -------
    float
        lambda_c, in the units of ``lam`` (targets ``y = lam * yhat``).

    Raises
    ------
    ValueError
        If the problem has no Z2 symmetry, or ``bracket`` does not bracket a sign change.
    ConvergenceError
        If the symmetric saddle stays stable up to ``lam_max`` (the DNN: no transition).

    Examples
    --------
    >>> import linkernel as lk
    >>> round(lk.critical_lambda(lk.endpoint("rnn", T=4, kappa=0.1)), 8)
    1.62241723
    """
    require_symmetry(problem)
    lam_max, lam_min, xtol = positive("lam_max", lam_max), positive("lam_min", lam_min), positive("xtol", xtol)
    mu = _OddCurvature(problem)
    if bracket is None:
        bracket = mu.bracket(lam_min, lam_max)
    lo, hi = interval("bracket", bracket)
    if not mu(lo) > 0 > mu(hi):
        raise ValueError(f"bracket={bracket!r} is invalid; the odd Hessian eigenvalue must be > 0 at "
                         f"{lo} and < 0 at {hi}")
    return float(brentq(mu, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200))


@dataclass(frozen=True, eq=False)
class ConstrainedMinimum:
    """``min { S(H) : a . to_vector(H) = m }``: the kernel, S there, |projected gradient|, the smallest
    projected Hessian eigenvalue, ``slope = dS_m/dm`` (envelope theorem) and the free coordinates ``y``."""

    m: float
    kernel: np.ndarray
    action: float
    residual: float
    curvature: float
    slope: float
    y: np.ndarray


def constraint_basis(a: np.ndarray) -> np.ndarray:
    """An orthonormal basis Q of the complement of ``a`` (columns): ``x = m a/|a|^2 + Q y``."""
    return np.linalg.svd(np.asarray(a, dtype=float)[None, :])[2][1:].T


@entry_point
def constrained_minimum(problem: Problem, m: float, y0=None, a=None, Q=None,
                        gtol: float = 1e-10) -> ConstrainedMinimum:
    """S minimised at fixed order parameter ``a . to_vector(H) = m`` (default a: m = H^{T-1,T-2}).

    Trust-region Newton on the free coordinates (exact Hessian ``Q^T Hess Q``,
    which copes with the indefinite Hessian of an unstable symmetric saddle),
    then Newton polish to rounding level.  ``y0`` defaults to the projection
    of the symmetric saddle (or of the prior kernel where there is none).
    """
    n = problem.n
    a = m_vector(problem) if a is None else np.asarray(a, dtype=float)
    Q = constraint_basis(a) if Q is None else Q
    if y0 is None:
        try:
            H0 = symmetric_saddle(problem)
        except (ValueError, ConvergenceError):
            H0 = prior_kernel(problem)
        y0 = Q.T @ to_vector(H0)
    base = m * a / (a @ a)

    def H_of(y):
        return from_vector(base + Q @ y, n)

    def f(y):
        try:
            return action(problem, H_of(y))
        except (KernelError, np.linalg.LinAlgError):
            return np.inf

    def jac(y):
        try:
            return Q.T @ to_vector(gradient(problem, H_of(y)))
        except (KernelError, np.linalg.LinAlgError):
            return np.zeros_like(y)

    def hess(y):
        try:
            return Q.T @ dense_hessian(problem, H_of(y)) @ Q
        except (KernelError, np.linalg.LinAlgError):
            return np.eye(len(y))

    res = minimize(f, y0, jac=jac, hess=hess, method="trust-exact", options={"gtol": gtol, "maxiter": 500})
    y = res.x
    for _ in range(3):  # trust-exact stops at gtol, Newton reaches rounding level
        g, B = jac(y), hess(y)
        if np.linalg.eigvalsh(B)[0] <= 0:
            break
        y_new = y - np.linalg.solve(B, g)
        if not np.linalg.norm(jac(y_new)) < np.linalg.norm(g):
            break
        y = y_new
    H = H_of(y)
    slope = float(to_vector(gradient(problem, H)) @ a / (a @ a))
    return ConstrainedMinimum(m=float(m), kernel=H, action=float(f(y)), residual=float(np.linalg.norm(jac(y))),
                              curvature=float(np.linalg.eigvalsh(hess(y))[0]), slope=slope, y=y)

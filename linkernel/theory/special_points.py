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

from linkernel.problem import Problem
from linkernel.theory.action import (KernelError, action, from_vector, gradient, hessian, m_vector,
                                     odd_coordinates, prior_kernel, to_vector)
from linkernel.theory.saddle import ConvergenceError, stationary_point


def require_symmetry(problem: Problem) -> np.ndarray:
    """The odd coordinates of ``problem`` (:func:`odd_coordinates`); ValueError when no W flip is a symmetry."""
    odd = odd_coordinates(problem)
    if not odd.any():
        raise ValueError(f"problem {problem.name!r} (arch {problem.arch}) has no Z2 symmetry W_g -> -W_g; "
                         "the symmetric saddle and its transition are defined only for problems with one "
                         "(inputs at one parity of time per group, targets of consistent sign)")
    return odd


def symmetric_saddle(problem: Problem, tol: float = 1e-13) -> np.ndarray:
    """The symmetric (Z2-even) stationary point of S at ``problem.lam``, shape (TP, TP).

    Newton from the prior kernel with the odd entries zeroed; raises
    ConvergenceError if it does not converge or leaves the even subspace.
    """
    odd = from_vector(require_symmetry(problem).astype(float), problem.n) > 0
    H0 = prior_kernel(problem)
    H0[odd] = 0.0
    H, res, ok = stationary_point(problem, H0, tol=tol)
    if not ok or np.abs(H[odd]).max(initial=0.0) > 1e-8 * np.abs(H).max():
        raise ConvergenceError(f"Newton from the prior kernel did not reach the symmetric branch at lam={problem.lam} "
                               f"(residual {res:.2e}); try a smaller lam or continue the branch in small steps")
    H = H.copy()
    H[odd] = 0.0
    return H


def odd_hessian_minimum(problem: Problem, H=None) -> float:
    """Smallest eigenvalue of the Z2-odd block of the Hessian of S on the symmetric saddle."""
    odd = require_symmetry(problem)
    H = symmetric_saddle(problem) if H is None else H
    return float(np.linalg.eigvalsh(hessian(problem, H)[np.ix_(odd, odd)])[0])


def critical_lambda(problem: Problem, bracket=None, xtol: float = 1e-13, lam_max: float = 20.0) -> float:
    """lambda_c: where the symmetric saddle loses stability to a Z2-odd mode, for any sharing pattern.

    Root of :func:`odd_hessian_minimum` in lambda by Brent's method inside
    ``bracket``; without one, lambda is scanned in steps of 0.1 from 0.1 up to
    ``lam_max`` for a sign change.  For the T = 4 RNN endpoint task the
    eigenvalue is computed to ~1e-16 and its slope in lambda is ~4e-3, so
    lambda_c is good to ~1e-12.  Raises ConvergenceError when the symmetric
    saddle stays stable up to ``lam_max`` (the DNN: no transition).
    """
    require_symmetry(problem)

    def mu(lam):
        return odd_hessian_minimum(problem.with_(lam=lam))

    if bracket is None:
        grid = np.arange(0.1, lam_max + 1e-9, 0.1)
        vals = [mu(grid[0])]
        for k in range(1, len(grid)):
            vals.append(mu(grid[k]))
            if vals[-2] > 0 >= vals[-1]:
                bracket = (grid[k - 1], grid[k])
                break
        else:
            raise ConvergenceError(f"the symmetric branch stays stable up to lam={lam_max}; no transition found")
    lo, hi = bracket
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
            return Q.T @ hessian(problem, H_of(y)) @ Q
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

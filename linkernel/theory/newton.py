"""The one damped Newton of linkernel: step halving that keeps the kernel positive definite.

Every solver of the saddle-point equations (the stationary point of the search, the symmetric
saddle, the phase diagram's augmented systems) is this loop with its own residual and step:

    result = damped_newton(evaluate, direction, x0, tol=1e-12, maxiter=40)

``evaluate(x)`` returns ``(r, state)``: the residual norm at x and whatever ``direction`` needs
there (a Cholesky factor, the Jacobian); it raises :class:`~linkernel.errors.KernelError` or
``LinAlgError``, or returns None, where x leaves the domain (a kernel that is not positive
definite).  ``direction(x, state)`` returns the full Newton step dx (x + dx solves the
linearised equations), or None where it cannot be computed.

The step x + alpha dx is halved from alpha = 1 until the residual decreases; a step no longer
than ``accept_step`` is taken even without a decrease, and the search gives up below
``min_step``.  The residual is measured against ``scale`` = max(1, max |x0|).  Newton stops
converged when r < tol * scale, or at the rounding floor: when a step no longer lowers r while
r < floor * tol * scale (the last digits of a double cannot be pushed further).  Wherever it
stops, a point with r < floor * tol * scale counts as converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkernel.errors import KernelError

_LINALG = (KernelError, np.linalg.LinAlgError)


@dataclass(frozen=True, eq=False)
class NewtonResult:
    """Where Newton stopped: the point, the ``state`` evaluate gave there, its residual norm, whether it
    converged (below tol * scale, or stalled at the rounding floor), the iterations and why it stopped
    ("converged", "rounding floor", "line search failed", "no direction", "maxiter", "not evaluable")."""

    x: object
    state: object
    residual: float
    converged: bool
    iterations: int
    reason: str


def _evaluate(evaluate, x):
    try:
        got = evaluate(x)
    except _LINALG:
        return None
    if got is None or not np.isfinite(got[0]):
        return None
    return got


def damped_newton(evaluate, direction, x0, *, tol: float, maxiter: int, scale: float | None = None,
                  floor: float = 1e3, min_step: float = 1e-6, accept_step: float = 1e-3) -> NewtonResult:
    """Damped Newton from ``x0`` (see the module docstring for ``evaluate`` and ``direction``)."""
    x = x0
    if scale is None:
        scale = max(1.0, float(np.abs(np.asarray(x0, dtype=float)).max()))
    got = _evaluate(evaluate, x)
    if got is None:
        return NewtonResult(x, None, np.inf, False, 0, "not evaluable")
    r, state = got
    r = float(r)

    def finish(reason, it):     # converged: below tol, or within the rounding floor however it stopped
        return NewtonResult(x, state, r, bool(r < floor * tol * scale), it, reason)

    for it in range(maxiter):
        if r < tol * scale:
            return finish("converged", it)
        try:
            dx = direction(x, state)
        except _LINALG:
            dx = None
        if dx is None:
            return finish("no direction", it)
        alpha, trial = 1.0, None
        while alpha > min_step:
            trial = _evaluate(evaluate, x + alpha * dx)
            if trial is not None and (trial[0] < r or alpha <= accept_step):
                break
            trial = None
            alpha *= 0.5
        if trial is None:
            return finish("line search failed", it)
        if trial[0] >= r and r < floor * tol * scale:
            return finish("rounding floor", it)
        x, (r, state) = x + alpha * dx, trial
        r = float(r)
    return finish("maxiter", maxiter)

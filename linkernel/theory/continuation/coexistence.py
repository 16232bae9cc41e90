"""Coexistence: the lambda where a broken branch and the stable symmetric branch have equal action.

A first-order transition (subcritical pitchfork) has both minima over a range of lambda;
the transition itself is where their actions S are equal.  Located by Brent's method on
the action difference along the broken branch (parametrised by arclength, so its folds do
no harm), the symmetric branch solved at the same lambda by the corrector.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from linkernel.errors import ConvergenceError
from linkernel.theory.branches import SpecialPoint
from linkernel.theory.continuation.stepper import _State, correct, _point

def _action(eq, X):
    return eq.pieces(X).action()


def _solve_at(eq, Xs, lam, sym, tol, cache=None):
    """The saddle on a traced (monotone) segment at lambda, from linear interpolation."""
    lams = np.array([X[-1] for X in Xs])
    k = int(np.clip(np.searchsorted(lams, lam) if lams[-1] >= lams[0] else
                    len(lams) - np.searchsorted(lams[::-1], lam), 1, len(lams) - 1))
    f = (lam - lams[k - 1]) / (lams[k] - lams[k - 1])
    guess = Xs[k - 1] + f * (Xs[k] - Xs[k - 1])
    guess[-1] = lam
    e = np.zeros_like(guess)
    e[-1] = 1.0
    res = correct(eq, guess, e, sym, tol, maxiter=30, cache=cache)
    if res is None and cache:
        cache.clear()
        res = correct(eq, guess, e, sym, tol, maxiter=30)
    if res is None:
        raise ConvergenceError(f"Newton failed at lambda={lam:.8g} while locating coexistence")
    return res[0]


def _coexistence(eq, sym_X, sym_pts, brk_X, brk_pts, branch, tol):
    """Points of equal action between stable stretches of the symmetric and the broken branch.

    Walks the broken branch (parametrised by arclength, so its folds do no
    harm) and solves the symmetric branch at the same lambda; Brent's method
    on the action difference refines each sign change.
    """
    seg = list(sym_X)
    lams = [X[-1] for X in seg]
    if len(seg) < 2 or np.any(np.diff(lams) <= 0):
        return []  # a folded symmetric branch: not handled
    lo, hi = lams[0], lams[-1]
    stable = [p.lam for p in sym_pts if p.stable]
    if not stable:
        return []
    hi_stable = max(stable)  # the symmetric phase exists as a minimum only up to here

    sym_cache = {}

    def diff(Xb):
        Xa = _solve_at(eq, seg, Xb[-1], True, tol, sym_cache)
        return _action(eq, Xb) - _action(eq, Xa)

    out = []
    for k in range(len(brk_X) - 1):
        X0, X1 = brk_X[k], brk_X[k + 1]
        if not (brk_pts[k].stable and brk_pts[k + 1].stable and lo <= X0[-1] <= hi and lo <= X1[-1] <= hi):
            continue
        if min(X0[-1], X1[-1]) > hi_stable:
            continue
        d0, d1 = diff(X0), diff(X1)
        if np.sign(d0) * np.sign(d1) >= 0:
            continue
        L = np.linalg.norm(X1 - X0)
        u = (X1 - X0) / L

        brk_cache = {}

        def on_branch(s, brk_cache=brk_cache):
            res = correct(eq, X0 + s * u, u, False, tol, cache=brk_cache)
            if res is None and brk_cache:
                brk_cache.clear()
                res = correct(eq, X0 + s * u, u, False, tol)
            if res is None:
                raise ConvergenceError("corrector failed while locating coexistence; try a smaller ds_max")
            return res[0]

        s = brentq(lambda s: diff(on_branch(s)), 0.0, L, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        Xc = on_branch(s)
        if Xc[-1] > hi_stable + 1e-12 * hi_stable:
            continue  # equal action with the unstable continuation of the symmetric branch
        pt = _point(eq, _State(eq, Xc, u, False))
        out.append(SpecialPoint(kind="coexistence", lam=pt.lam, kernel=pt.kernel, action=pt.action,
                                residual=pt.residual, order_parameter=pt.order_parameter,
                                test_value=float(diff(Xc)), branch=branch))
    return out


def _loses_stability(pts, lam):
    """Whether the symmetric branch is stable just below lam (the transition's branch point)."""
    below = [p for p in pts if p.lam < lam - 1e-9]
    return bool(below) and below[-1].stable

"""The phase diagram's numerical building blocks: the equations at one param value, the minimally
augmented system (branch point, fold) and F = 0 at fixed lambda solved by the continuation stepper's
damped corrector (:mod:`linkernel.theory.continuation.codim2`), and the quartic Landau coefficient b.

Coordinates: ``x = to_vector(H)`` (:mod:`linkernel.theory.equations`), kernel rows ``t*P + p``;
the Z2 sectors from :func:`linkernel.theory.action.odd_coordinates`.
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.errors import KernelError
from linkernel.problem import Problem
from linkernel.theory.action import m_vector, odd_coordinates
from linkernel.theory.continuation.codim2 import FixedLambda, MinimallyAugmented, lowest
from linkernel.theory.continuation.landau import quartic_terms
from linkernel.theory.continuation.stepper import correct_damped
from linkernel.theory.equations import Equations

_LINALG = (KernelError, np.linalg.LinAlgError)


class _Point:
    """One problem at one param value: the saddle-point equations in the (x, lam) form the lines use.

    A view of :class:`linkernel.theory.equations.Equations` (dense) with x and lambda apart:
    ``F(x, lam)``, the dense Hessian ``hess``, Hessian-vector products ``hv``, the test function
    of the lines ``mu`` and ``s``, the log of the param value (the last coordinate of
    :mod:`~linkernel.theory.continuation.codim2`'s X).
    """

    def __init__(self, problem: Problem, s: float = 0.0):
        self.p, self.s = problem, float(s)   # s: log of the param value (the codim-2 coordinate)
        self.eq = Equations(problem, dense=True)
        self.n = problem.n
        self.odd = self.eq.odd
        self.i_odd, self.i_even = self.eq.i_odd, self.eq.i_even
        self.dim = len(self.odd)
        self.sectors = _sectors(problem)

    def at(self, lam: float) -> Problem:
        return self.eq.at(lam)

    def F(self, x, lam):
        return self.eq.F(np.append(x, lam))

    def hess(self, x, lam):
        return self.eq.hessian(np.append(x, lam))

    def hv(self, x, lam, phi):
        return self.eq.hessian_vector(np.append(x, lam), phi)

    def mu(self, Hd, sector):
        """(smallest eigenvalue of the block ``sector``, its unit eigenvector in full coordinates)."""
        return lowest(Hd, sector)


def _sectors(problem: Problem) -> dict:
    """The Z2-odd coordinates grouped by their character under the flips (one block each of the Hessian
    on the symmetric saddle): {character tuple: coordinate indices}.  The RNN has a single odd sector."""
    gens = [s for _, s in problem.symmetries]
    if problem.has_z2:
        gens.append(problem.parity_signs)
    i, j = np.triu_indices(problem.n)
    chars = np.array([s[i] * s[j] for s in gens]).T if gens else np.ones((len(i), 0))
    odd = odd_coordinates(problem)
    out = {}
    for k in np.flatnonzero(odd):
        out.setdefault(tuple(int(c) for c in chars[k]), []).append(k)
    return {key: np.array(v) for key, v in sorted(out.items())}


def _critical_point(pt: _Point, x, lam, keep, sector, tol=1e-12, maxiter=40):
    """The minimally augmented system (F[keep] = 0, mu_sector = 0) at pt's param from (x, lam); returns
    (x, lam, mu, phi, Hd) or None.

    ``sector`` is the block whose smallest eigenvalue is the test function (odd
    coordinates: the branch point; all: the fold of a broken branch).
    :class:`~linkernel.theory.continuation.codim2.MinimallyAugmented` corrected at fixed
    param by the stepper's damped corrector (the coordinates outside ``keep`` held).
    """
    system = MinimallyAugmented(lambda s: pt.eq, keep, sector)
    got = correct_damped(system, np.append(np.asarray(x, dtype=float), [float(lam), pt.s]), tol, maxiter)
    if got is None:
        return None
    X, (_, Hd, mu, phi) = got
    return X[:-2], float(X[-2]), mu, phi, Hd


def _at_lambda(pt: _Point, x, lam, keep, tol=1e-12, maxiter=40):
    """F[keep] = 0 at fixed lambda (the other coordinates held) from x; returns x or None.

    :class:`~linkernel.theory.continuation.codim2.FixedLambda` by the stepper's damped corrector.
    """
    got = correct_damped(FixedLambda(pt.eq, keep), np.append(np.asarray(x, dtype=float), float(lam)), tol, maxiter)
    return None if got is None else got[0][:-1]


def _breaking_vector(problem: Problem, phi) -> np.ndarray:
    """Gradient a of the order parameter the odd null vector excites most (m = H^{T-1,T-2} for the RNN)."""
    groups = problem.arch.shared_groups()
    cands = [m_vector(problem, g) for g in groups] if groups else [m_vector(problem)]
    return max(cands, key=lambda a: abs(a @ phi))


def landau_quartic(pt: _Point, x, lam, phi, Hd, levels: int = 4) -> tuple:
    """(b, b_s): the quartic Landau coefficient at a branch point, per m and per unit length along phi.

    ``b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8`` with ``c = D^3S[phi, phi, .]`` on
    the even coordinates (the even modes solved out to second order in s);
    ``b = b_s / (a . phi)^4`` for ``m = a . x``
    (:func:`linkernel.theory.continuation.landau.quartic_terms`).
    """
    bs = quartic_terms(pt.eq, x, lam, phi, Hd, levels)[0]
    if math.isnan(bs):
        return math.nan, math.nan   # the even block is singular: a fold of the symmetric branch, b has a pole
    a = _breaking_vector(pt.p, phi)
    return bs / float(a @ phi) ** 4, bs

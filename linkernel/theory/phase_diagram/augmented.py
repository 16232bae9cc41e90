"""The phase diagram's numerical building blocks: the equations at one param value, the minimally
augmented Newton (branch point, fold), Newton at fixed lambda and the quartic Landau coefficient b.

Coordinates: ``x = to_vector(H)`` (:mod:`linkernel.theory.equations`), kernel rows ``t*P + p``;
the Z2 sectors from :func:`linkernel.theory.action.odd_coordinates`.  Both Newtons are
:func:`linkernel.theory.newton.damped_newton` with the step search of ``_NEWTON``.
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.errors import KernelError
from linkernel.numerics import richardson
from linkernel.problem import Problem
from linkernel.theory.action import from_vector, m_vector, odd_coordinates
from linkernel.theory.equations import Equations
from linkernel.theory.newton import damped_newton

_LINALG = (KernelError, np.linalg.LinAlgError)


class _Point:
    """One problem at one param value: the saddle-point equations in the (x, lam) form the lines use.

    A view of :class:`linkernel.theory.equations.Equations` (dense) with x and lambda apart:
    ``F(x, lam)``, the dense Hessian ``hess``, Hessian-vector products ``hv``, the analytic
    ``F_lam = dF/dlam``, and the test functions of the lines (``mu``, ``dmu``).
    """

    def __init__(self, problem: Problem):
        self.p = problem
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

    def F_lam(self, x, lam):
        return self.eq.Fl(np.append(x, lam))

    def mu(self, Hd, sector):
        """(smallest eigenvalue of the block ``sector``, its unit eigenvector in full coordinates)."""
        w, V = np.linalg.eigh(Hd[np.ix_(sector, sector)])
        phi = np.zeros(self.dim)
        phi[sector] = V[:, 0]
        return float(w[0]), phi

    def dmu(self, x, lam, phi):
        """(d mu/dx = D^3S[phi, phi, .], d mu/d lam) by central differences of Hessian-vector products."""
        h = 1e-5 * max(1.0, np.abs(x).max())
        dx = (self.hv(x + h * phi, lam, phi) - self.hv(x - h * phi, lam, phi)) / (2 * h)
        d = 1e-3 * max(1.0, abs(lam))
        dl = phi @ (self.hv(x, lam + d, phi) - self.hv(x, lam - d, phi)) / (2 * d)
        return dx, float(dl)


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


def _is_pd(x, n) -> bool:
    try:
        np.linalg.cholesky(from_vector(x, n))
        return True
    except np.linalg.LinAlgError:
        return False


#: the step search of the phase diagram's Newton solvers (:func:`linkernel.theory.newton.damped_newton`):
#: halve from 1 while the residual does not decrease, take a quarter step or less regardless, give
#: up below 1e-4; a failed search (or no Newton step) is a failure however small the residual
_NEWTON = dict(min_step=1e-4, accept_step=0.25)
_FAILED = ("line search failed", "no direction", "not evaluable")


def _augmented_newton(pt: _Point, x, lam, keep, sector, tol=1e-12, maxiter=40):
    """Newton on (F[keep] = 0, mu_sector = 0) in (x[keep], lambda); returns (x, lam, mu, phi, Hd) or None.

    ``sector`` is the block whose smallest eigenvalue is the test function
    (odd coordinates: the branch point; all: the fold of a broken branch).
    :func:`~linkernel.theory.newton.damped_newton` on z = (x, lam) (the coordinates
    outside ``keep`` held), steps halved while they leave the positive-definite
    cone or do not reduce the residual; the residual scale is max(1, |x|_inf).
    """
    x = np.array(x, dtype=float)
    z0 = np.append(x, float(lam))

    def evaluate(z):
        xz, lz = z[:-1], z[-1]
        if not (lz > 0 and _is_pd(xz, pt.n)):
            return None
        Hd = pt.hess(xz, lz)
        mu, phi = pt.mu(Hd, sector)
        R = np.append(pt.F(xz, lz)[keep], mu)
        return np.linalg.norm(R), (R, Hd, mu, phi)

    def direction(z, state):
        xz, lz = z[:-1], z[-1]
        R, Hd, mu, phi = state
        dx, dl = pt.dmu(xz, lz, phi)
        J = np.zeros((len(keep) + 1, len(keep) + 1))
        J[:-1, :-1] = Hd[np.ix_(keep, keep)]
        J[:-1, -1] = pt.F_lam(xz, lz)[keep]
        J[-1, :-1] = dx[keep]
        J[-1, -1] = dl
        try:
            step = np.linalg.solve(J, -R)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(J, -R, rcond=None)[0]
        dz = np.zeros_like(z)
        dz[keep] = step[:-1]
        dz[-1] = step[-1]
        return dz

    # the initial point is not tested for the cone: a kernel outside it fails in evaluate's Hessian
    res = damped_newton(evaluate, direction, z0, tol=tol, maxiter=maxiter, scale=max(1.0, np.abs(x).max()),
                        **_NEWTON)
    if res.reason in _FAILED or not res.converged:
        return None
    R, Hd, mu, phi = res.state
    return res.x[:-1], float(res.x[-1]), mu, phi, Hd


def _newton_at(pt: _Point, x, lam, keep, tol=1e-12, maxiter=40):
    """Newton on F[keep] = 0 at fixed lambda (the other coordinates fixed); returns x or None.

    :func:`~linkernel.theory.newton.damped_newton` with the phase diagram's step search.
    """
    x0 = np.array(x, dtype=float)

    def evaluate(xz):
        if not _is_pd(xz, pt.n):
            return None
        F = pt.F(xz, lam)[keep]
        return np.linalg.norm(F), F

    def direction(xz, F):
        A = pt.hess(xz, lam)[np.ix_(keep, keep)]
        dx = np.zeros_like(xz)
        dx[keep] = np.linalg.solve(A, -F)
        return dx

    res = damped_newton(evaluate, direction, x0, tol=tol, maxiter=maxiter, **_NEWTON)
    return None if res.reason in _FAILED or not res.converged else res.x


def _breaking_vector(problem: Problem, phi) -> np.ndarray:
    """Gradient a of the order parameter the odd null vector excites most (m = H^{T-1,T-2} for the RNN)."""
    groups = problem.arch.shared_groups()
    cands = [m_vector(problem, g) for g in groups] if groups else [m_vector(problem)]
    return max(cands, key=lambda a: abs(a @ phi))


def landau_quartic(pt: _Point, x, lam, phi, Hd, levels: int = 4) -> tuple:
    """(b, b_s): the quartic Landau coefficient at a branch point, per m and per unit length along phi.

    ``b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8`` with ``c = D^3S[phi, phi, .]`` on
    the even coordinates (the even modes solved out to second order in s);
    ``b = b_s / (a . phi)^4`` for ``m = a . x``.  Both from Hessian-vector
    products at ``x + h phi`` (h = h0 / 2^k, k < levels), Richardson-extrapolated.
    """
    n, ev = pt.n, pt.i_even
    H = from_vector(x, n)
    h0 = 0.2 * float(np.linalg.eigvalsh(H)[0])
    mu = float(phi @ pt.hv(x, lam, phi))
    cs, fs = [], []
    for k in range(levels):
        h = h0 / 2 ** k
        r = pt.hv(x + h * phi, lam, phi)
        cs.append(r[ev] / h)               # odd in h: c + O(h^2)
        fs.append(2 * (phi @ r - mu) / h ** 2)   # even in h: D4 + O(h^2)
    c, D4 = richardson(cs, 4)[-1], float(richardson(fs, 4)[-1])
    A = Hd[np.ix_(ev, ev)]
    try:
        bs = D4 / 24 - float(c @ np.linalg.solve(A, c)) / 8
    except np.linalg.LinAlgError:
        return math.nan, math.nan   # the even block is singular: a fold of the symmetric branch, b has a pole

    a = _breaking_vector(pt.p, phi)
    return bs / float(a @ phi) ** 4, bs

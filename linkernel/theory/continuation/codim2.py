"""Codimension-two continuation: the minimally augmented system of a line of bifurcations in (param, lambda).

A line of branch points (or folds) in the (param, lambda) plane is the solution curve of

    G(X) = (F[keep](x, lambda), mu(x, lambda)) = 0,   X = (x, lambda, s),   s = log(param),

where ``F = to_vector(dS/dH)`` at the param ``exp(s)`` (:class:`linkernel.theory.equations.Equations`),
``keep`` the coordinates solved for (the Z2-even ones on the symmetric saddle, all on a broken
branch) and ``mu`` the *test function*: the smallest eigenvalue of the Hessian block ``sector``
(the odd block: a symmetry-breaking branch point; the whole Hessian: a fold).  One equation
more than :class:`Equations` and one unknown more (s): the curve is one-dimensional, as
BifurcationKit.jl's ``BorderedProblem`` / Govaerts' minimally augmented systems.  The eigenvalue
(not the bordered scalar ``sigma`` of ``[[J, b], [c^T, 0]] [v; sigma] = [0; 1]``) is the test
function because the lines' Landau analysis needs the null vector ``phi`` anyway and the
dimensions are small (dense Hessians); its gradient is ``D^3S[phi, phi, .]`` by central
differences of Hessian-vector products.

The curve is followed by natural-parameter continuation in s: :meth:`Codim2Line.predict`
extrapolates along the secant in X of the two nearest points solved, and each point is
corrected on the hyperplane s = log(param) fixed (the border ``e_s``) by the stepper's damped
corrector :func:`~linkernel.theory.continuation.stepper.correct_damped`, so that the user's
param grid values are hit exactly.  There is no Newton here: the systems below only evaluate
G and its Newton step.  Not yet: the stepper's pseudo-arclength loop
(:func:`~linkernel.theory.continuation.stepper.continue_branch`) on G with the codim-2 tangent,
which needs ``dG/ds`` (the equations at neighbouring params) and would let a line turn in param.
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.theory.action import from_vector
from linkernel.theory.equations import Equations


def positive_definite(x, n: int) -> bool:
    """Whether ``from_vector(x, n)`` is inside the positive-definite cone (a Cholesky factorisation exists)."""
    try:
        np.linalg.cholesky(from_vector(x, n))
        return True
    except np.linalg.LinAlgError:
        return False


def lowest(Hd, sector) -> tuple:
    """(smallest eigenvalue of the block ``Hd[sector, sector]``, its unit eigenvector in full coordinates)."""
    w, V = np.linalg.eigh(Hd[np.ix_(sector, sector)])
    phi = np.zeros(Hd.shape[0])
    phi[sector] = V[:, 0]
    return float(w[0]), phi


def lowest_gradient(eq: Equations, x, lam, phi) -> tuple:
    """(d mu/dx = D^3S[phi, phi, .], d mu/d lam) for mu = phi^T Hess phi, by central differences.

    Hessian-vector products at ``x +- h phi`` (h = 1e-5 max(1, |x|_inf)) and at
    ``lambda +- d`` (d = 1e-3 max(1, lambda)); the eigenvector's own variation does not
    enter (Hellmann-Feynman).
    """
    def hv(xz, lz):
        return eq.hessian_vector(np.append(xz, lz), phi)
    h = 1e-5 * max(1.0, np.abs(x).max())
    dx = (hv(x + h * phi, lam) - hv(x - h * phi, lam)) / (2 * h)
    d = 1e-3 * max(1.0, abs(lam))
    dl = phi @ (hv(x, lam + d) - hv(x, lam - d)) / (2 * d)
    return dx, float(dl)


class FixedLambda:
    """F[keep](x, lambda) = 0 at fixed lambda, for the stepper's damped corrector: X = (x, lambda).

    The coordinates outside ``keep`` and lambda are held (the border ``e_lambda``); the
    Newton step solves the kept Hessian block.  ``params = 1``: X ends with one parameter
    (the corrector's residual scale is max(1, |x|_inf), the parameters excluded).
    """

    params = 1

    def __init__(self, eq: Equations, keep):
        self.eq, self.keep = eq, np.asarray(keep)

    def evaluate(self, X):
        if not positive_definite(X[:-1], self.eq.n):
            return None
        F = self.eq.F(X)[self.keep]
        return np.linalg.norm(F), F

    def step(self, X, F):
        A = self.eq.hessian(X)[np.ix_(self.keep, self.keep)]
        dX = np.zeros_like(X)
        dX[self.keep] = np.linalg.solve(A, -F)
        return dX


class MinimallyAugmented:
    """G(X) = (F[keep], mu_sector) with X = (x, lambda, s): the minimally augmented system (module docstring).

    ``equations(s)`` gives the :class:`Equations` at the param of ``s``; ``keep`` and
    ``sector`` are coordinate indices (the same at every param).  :meth:`evaluate` returns
    (|G|, (G, Hessian, mu, phi)) or None outside lambda > 0 and the positive-definite cone;
    :meth:`step` the Newton step with s held (the border ``e_s``: dX[-1] = 0).
    """

    params = 2   # X ends with (lambda, s)

    def __init__(self, equations, keep, sector):
        self.equations, self.keep, self.sector = equations, np.asarray(keep), np.asarray(sector)

    def evaluate(self, X):
        eq = self.equations(X[-1])
        x, lam = X[:-2], X[-2]
        if not (lam > 0 and positive_definite(x, eq.n)):
            return None
        Hd = eq.hessian(X[:-1])
        mu, phi = lowest(Hd, self.sector)
        G = np.append(eq.F(X[:-1])[self.keep], mu)
        return np.linalg.norm(G), (G, Hd, mu, phi)

    def step(self, X, state):
        eq = self.equations(X[-1])
        G, Hd, mu, phi = state
        x, lam = X[:-2], X[-2]
        k = self.keep
        dx, dl = lowest_gradient(eq, x, lam, phi)
        J = np.zeros((len(k) + 1, len(k) + 1))
        J[:-1, :-1] = Hd[np.ix_(k, k)]
        J[:-1, -1] = eq.Fl(X[:-1])[k]
        J[-1, :-1] = dx[k]
        J[-1, -1] = dl
        try:
            z = np.linalg.solve(J, -G)
        except np.linalg.LinAlgError:
            z = np.linalg.lstsq(J, -G, rcond=None)[0]
        dX = np.zeros_like(X)
        dX[k] = z[:-1]
        dX[-2] = z[-1]
        return dX


class Codim2Line:
    """The points of one line of the minimally augmented system solved so far, and its predictor.

    ``points``: [(param, x, lam)] in the order solved.  :meth:`predict` is the secant
    predictor in s = log(param) through the two nearest points of distinct param (the
    nearest alone where there is one; the nearest alone too where the extrapolated
    kernel leaves the positive-definite cone).
    """

    def __init__(self, n: int):
        self.n, self.points = n, []

    def nearest(self, value):
        return min(self.points, key=lambda d: abs(math.log(d[0] / value)))

    def predict(self, value) -> tuple:
        """(x, lam) predicted at ``value``."""
        near = sorted(self.points, key=lambda d: abs(math.log(d[0] / value)))
        if len(near) < 2 or near[0][0] == value:
            return near[0][1], near[0][2]
        (p1, x1, l1) = near[0]
        far = [d for d in near[1:] if d[0] != p1]
        if not far:
            return x1, l1
        (p0, x0, l0) = far[0]
        f = math.log(value / p1) / math.log(p1 / p0)
        x = x1 + f * (x1 - x0)
        return (x, l1 + f * (l1 - l0)) if positive_definite(x, self.n) else (x1, l1)

    def add(self, value, x, lam, unique: bool = True):
        """Record a point solved at ``value`` (once per value unless ``unique`` is False: a restart there)."""
        if not unique or all(d[0] != float(value) for d in self.points):
            self.points.append((float(value), x, lam))

"""The bordered linear algebra of the continuation: tangents and ``[[A, dF/dlam], [tau^T]]`` systems.

The structure of BifurcationKit.jl's and LOCA's bordered solvers, in two flavours on the
:class:`linkernel.theory.equations.Jacobian` (the kept Hessian block A at one point):

* **dense**: block elimination on the LDL^T of A with iterative refinement
  (Govaerts' mixed block elimination: backward stable also at folds, where A is
  singular), an LU of the bordered matrix as the fallback;
* **matrix-free**: block elimination by two MINRES solves with A.

Coordinates: a bordered vector is ``(kept coordinates of x, lambda)``; a full one
``X = (x, lambda)`` of length ``dim + 1`` (:mod:`linkernel.theory.equations`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import lu_factor, lu_solve

from linkernel.errors import ConvergenceError
from linkernel.theory import equations
from linkernel.theory.continuation.spectra import Spectra


class Jacobian(equations.Jacobian, Spectra):
    """The Jacobian at one point X with a border: tangent, bordered solves and (:class:`Spectra`) eigenvalues.

    ``border`` is the last row ``tau`` of ``[[A, dF/dlam], [tau]]`` (kept coordinates,
    then lambda), set by :meth:`set_border`; the chord corrector reuses one bordered
    factorisation for several Newton steps.
    """

    def __init__(self, eq: equations.Equations, X, sym: bool):
        super().__init__(eq, X, sym)
        self.border = None
        self._odd = None
        self._pairs = {}
        self._norm = self._lu = self._rows = None

    def row_norm(self) -> float:
        """Row-sum norm of the kept Hessian block A (dense path), computed once."""
        if self._rows is None:
            self._rows = float(np.abs(self.A).sum(axis=1).max(initial=0.0))
        return self._rows

    def norm(self) -> float:
        """A bound on the row-sum norm of the bordered matrix: the scale of the refinement's residual test."""
        if self._norm is None:
            self._norm = max(self.row_norm() + float(np.abs(self.b).max(initial=0.0)),
                             float(np.abs(self.border).sum()))
        return self._norm

    # --- the tangent and the bordered systems
    def tangent(self, ref) -> np.ndarray:
        """Unit null vector of [A | dF/dlam] (kept coordinates and lambda), oriented along ``ref``."""
        eq = self.eq
        y = self.solve_b()
        tk = None if y is None else np.append(-y, 1.0)
        if tk is None or not np.all(np.isfinite(tk)) or np.linalg.norm(tk) > 1e12:
            if not self.dense:
                raise ConvergenceError("the Jacobian is singular at lambda="
                                       f"{self.X[-1]:.10g} and the matrix-free tangent failed")
            tk = self._bordered_tangent(ref)
        t = np.zeros(eq.dim + 1)
        t[self.k] = tk[:-1]
        t[-1] = tk[-1]
        t /= np.linalg.norm(t)
        if t @ ref < 0:
            t = -t
        return t

    def _bordered_tangent(self, ref):
        """Null vector of [A | b] where A is (nearly) singular: [[A, b], [ref]] t = (0, 1), Keller's tangent.

        The bordered matrix stays regular at a fold; at a branch point (two
        null vectors) it is singular too and the smallest right singular
        vector of [A | b] is taken (any null vector; an SVD, the expensive
        last resort).
        """
        J = np.column_stack([self.A, self.b])
        c = np.append(ref[self.k], ref[-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LinAlgWarning on an exactly singular matrix
            rhs = np.zeros(len(c))
            rhs[-1] = 1.0
            t = lu_solve(lu_factor(np.vstack([J, c]), check_finite=False), rhs, check_finite=False)
        if np.all(np.isfinite(t)) and np.linalg.norm(t) > 0:
            t /= np.linalg.norm(t)
            if np.abs(J @ t).max() <= 1e-12 * np.abs(J).sum(axis=1).max():
                return t
        return np.linalg.svd(J)[2][-1]

    def set_border(self, tau):
        """Set the border row tau of [[A, dF/dlam], [tau]] for the chord corrector."""
        self.border = np.append(tau[self.k], tau[-1])
        self._lu = self._norm = None

    def _bordered_lu(self):
        """LU of the whole bordered matrix: the fallback where block elimination is inaccurate."""
        if self._lu is None:
            B = np.vstack([np.column_stack([self.A, self.b]), self.border])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LinAlgWarning on an exactly singular matrix
                self._lu = lu_factor(B, check_finite=False)
        return self._lu

    def _eliminate(self, r, r_last):
        """Block elimination with the LDL^T of A (two solves, the one with b cached)."""
        c, d = self.border[:-1], self.border[-1]
        y1, y2 = self.solve(r), self.solve_b()
        if y1 is None or y2 is None or abs(d - c @ y2) < 1e-300:
            return None
        dl = (r_last - c @ y1) / (d - c @ y2)
        return np.append(y1 - dl * y2, dl)

    def bordered_solve(self, r, r_last):
        """[[A, b], [border]] z = [r, r_last]; returns z (kept coordinates, then lambda) or None.

        Dense: block elimination on the LDL^T of A with iterative refinement
        (Govaerts' mixed block elimination: backward stable also where A is
        nearly singular, at a fold), falling back to an LU of the bordered
        matrix if the refined residual stays above 1e-13 of the scale.
        Matrix-free: block elimination with MINRES.
        """
        if not self.dense:
            return self._eliminate(r, r_last)
        if self._lu is None and self.ldl is not None:
            rhs = np.append(r, r_last)
            z = self._eliminate(r, r_last)
            for _ in range(3):
                if z is None or not np.all(np.isfinite(z)):
                    break
                res = rhs - np.append(self.A @ z[:-1] + self.b * z[-1], self.border @ z)
                size = self.norm() * np.abs(z).max() + np.abs(rhs).max() + 1e-300
                if np.abs(res).max() <= 1e-13 * size:
                    return z
                dz = self._eliminate(res[:-1], res[-1])
                if dz is None:
                    break
                z = z + dz
        z = lu_solve(self._bordered_lu(), np.append(r, r_last), check_finite=False)
        return z if np.all(np.isfinite(z)) else None


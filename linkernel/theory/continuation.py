"""Pseudo-arclength continuation of the saddle-point equations dS/dH = 0 in lambda.

The unknowns are ``X = (x, lam)`` with ``x = to_vector(H)`` (the kernel in the
Frobenius-orthonormal coordinates of :mod:`linkernel.theory.action`, kernel
rows ``t*P + p``, ``dim = n(n+1)/2`` with ``n = TP``), so that the Jacobian
``dF/dx`` of ``F(x, lam) = to_vector(dS/dH)`` is the Hessian of S.  Each step
predicts along the unit tangent ``tau`` (the null vector of
``[dF/dx | dF/dlam]``) and corrects on ``F = 0`` plus the arclength condition
``tau . (X - X_pred) = 0``; the step length is adapted to the corrector's
iteration count and to the turning of the tangent, and is measured relative
to ``max(1, |X|_inf)`` so that wide ranges (lambda = 100 .. 1000) take as many
steps as narrow ones.

Linear algebra (the structure of BifurcationKit.jl's and LOCA's bordered
solvers, in its two flavours):

* **dense** (``dim <= DENSE_MAX_DIM``): one Hessian assembly per accepted point
  and one Bunch-Kaufman factorisation ``A = L D L^T`` of the kept block.  On
  the symmetric branch the Z2-even and Z2-odd blocks decouple and each is
  assembled alone (:func:`linkernel.theory.hessian.dense_hessian_block`:
  half the fill of the whole Hessian, an eighth of the factorisation work
  each).  The bordered systems ``[[A, dF/dlam], [tau^T]]`` are solved by
  block elimination on that LDL^T with iterative refinement (backward
  stable also at folds, where A is singular; an LU of the bordered matrix
  is the fallback).  The corrector of the *next* step is a chord Newton on
  that factorisation (no new assembly while it contracts); the inertia of
  ``D`` (Sylvester's law) gives the number of negative Hessian eigenvalues
  per sector exactly, at every accepted point;
* **matrix-free** (larger dim): the bordered systems are solved by
  bordering (two solves with the Hessian) with MINRES on
  :func:`linkernel.theory.hessian.hessian_operator`, preconditioned by the
  inverse of the KL term's curvature (the Fisher metric ``E -> 2 H E H``);
  the eigenvalue counts come from the few lowest eigenpairs per sector
  (:func:`linkernel.theory.hessian.lowest_eigenpairs`, Lanczos/LOBPCG).

Along a branch every point carries its residual |dS/dH|, its smallest
Hessian eigenvalue, the number of negative ones and its stability (none
negative: a local minimum of S).  Three test functions are watched between
consecutive points and their zeros refined along the arclength (Illinois
regula falsi; the side of the zero is decided by the integer eigenvalue
count, the interpolation uses the eigenvalue nearest zero):

* ``tau_lam`` (the lambda component of the tangent) changes sign at a *fold*
  (limit point, a spinodal of a first-order transition);
* on a Z2-symmetric branch (``problem.has_z2`` or a group symmetry, all odd
  entries zero) the number of negative eigenvalues of the *odd* block
  changes at a symmetry-breaking *branch point*.  Its odd null vector gives
  the direction of the broken branch (branch switching); the broken branch
  is traced in the Z2 representative with ``m = H^{T-1,T-2} >= 0``;
* ``sign det [[dF/dx, dF/dlam], [tau]] = (-1)^(negative eigenvalues of dF/dx)
  * sign(tau_lam)`` changes at any other simple branch point (reported as
  ``branch_point`` with ``z2 = False``; folds leave it unchanged).

When a broken branch coexists with the stable symmetric branch (first-order
transition), the lambda of equal action (*coexistence*) is located by Brent's
method on the action difference.  A branch that stops before the end of the
range (``max_steps``) is flagged (:attr:`Branch.complete`, ``stop_reason``)
and one :class:`~linkernel.theory.branches.ContinuationWarning` is emitted.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve, lapack, lu_factor, lu_solve
from scipy.optimize import brentq
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh, minres

from linkernel.errors import ContinuationWarning, ConvergenceError, KernelError
from linkernel.problem import Problem, fix_z2_sign, order_parameter
from linkernel.theory.action import (from_vector, m_vector, odd_coordinates, prior_kernel, readout_kernel, to_vector)
from linkernel.theory.branches import Branch, ContinuationPoint, SpecialPoint, Trace
from linkernel.theory.hessian import Pieces, dense_hessian_block, hessian_operator, lowest_eigenpairs
from linkernel.theory.hessian import mat as _mat, vec as _vec
from linkernel.theory.saddle import saddle_point
from linkernel.threads import blas_threads_for

#: dense Hessian + factorisations up to this many coordinates, matrix-free above.
#: Measured on 2 shared cores (load ~6, one thread): at dim = 2080 (T = 16, P = 4)
#: the whole Hessian assembles in 0.5-0.7 s (5.5 s by the sandwich gathers before),
#: its even block in 0.12-0.19 s; LDL^T 0.25 s (whole), 0.05 s (a Z2 block).
DENSE_MAX_DIM = 2500
#: blocks up to this size get their smallest eigenvalue from a full ``eigvalsh``.
_EIGH_MAX = 600
_LINALG = (KernelError, np.linalg.LinAlgError)
#: dense systems from this size may use every core (threadpoolctl); below it one thread (see _threads)
_PARALLEL_DIM = 4000
#: above this many coordinates the corrector reuses one factorisation (chord Newton)
_CHORD_MIN_DIM = 150
#: ``ds_max=None``: the largest arclength step, 0.25 up to this many unknowns, 0.5 above.  Each point
#: costs O(dim^3) factorisations there, and the special points are located to ``tol`` whatever the step
#: (T = 8, P = 4 and T = 16, P = 4: the same points to 2e-12 at 0.25 and 0.5; T = 16: 217 -> 166 s,
#: 300 -> 210 points on one core).  Smaller problems keep the denser sampling of their branches.
LONG_STEP_DIM = 1000


# --- the equations ----------------------------------------------------------------
def gradient_lambda(problem: Problem, H) -> np.ndarray:
    """d(dS/dH)/dlam at fixed H: only the likelihood depends on lam (y = lam * yhat).

    ``-v lam E_S(K^-1 yhat_S yhat_S^T K^-1)``, ``K = v H_SS + kappa I``; a
    symmetric (TP, TP) matrix.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    K = readout_kernel(problem, H)
    a = np.linalg.solve(K, np.array([problem.yhat[t, p] for t, p in problem.supervised]))
    out = np.zeros_like(H)
    out[np.ix_(idx, idx)] = -problem.v * problem.lam * np.outer(a, a)
    return out


class _Constants:
    """The arrays of a Problem that S, its gradient and Hessian read, computed once; ``y_S`` per lambda.

    Stands in for the Problem in :class:`linkernel.theory.hessian.Pieces` and
    :func:`~linkernel.theory.hessian.dense_hessian`: Problem recomputes its
    derived arrays on every access and is re-validated by ``with_(lam=...)``,
    which at T = 4 costs more than the linear algebra.  Any other attribute
    is read from the real Problem at this lambda.
    """

    def __init__(self, problem: Problem):
        self._base = problem
        self.n, self.P, self.T = problem.n, problem.P, problem.T
        self.odd_mask = problem.odd_mask
        self.v, self.kappa = problem.v, problem.kappa
        self.recurrent_mask = problem.recurrent_mask
        self.input_kernel = problem.input_kernel
        self.supervised_index = problem.supervised_index
        self.yhat_S = np.array([problem.yhat[t, p] for t, p in problem.supervised])
        self.lam = float(problem.lam)
        self.y_S = self.lam * self.yhat_S

    def at(self, lam: float) -> "_Constants":
        out = object.__new__(_Constants)
        out.__dict__.update(self.__dict__)
        out.lam = float(lam)
        out.y_S = out.lam * self.yhat_S
        out.__dict__.pop("_real", None)
        return out

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_base", "_real"):
            raise AttributeError(name)
        real = self.__dict__.get("_real")
        if real is None:
            real = self.__dict__["_real"] = self._base.with_(lam=self.lam)
        return getattr(real, name)


class _Equations:
    """F(x, lam) = to_vector(dS/dH) and its Jacobian, for one base problem.

    ``dense`` chooses the linear algebra (None: by :data:`DENSE_MAX_DIM`).
    """

    def __init__(self, problem: Problem, dense: bool | None = None):
        self.problem = problem
        self.consts = _Constants(problem)
        self.n = problem.n
        self.dim = self.n * (self.n + 1) // 2
        self.odd = odd_coordinates(problem)
        self.i_odd = np.flatnonzero(self.odd)
        self.i_even = np.flatnonzero(~self.odd)
        self.dense = self.dim <= DENSE_MAX_DIM if dense is None else bool(dense)
        self._problems = {}
        #: the last smallest eigenvalue per (symmetric branch, odd block): the next point's shift
        self.lowest_guess = {}

    def at(self, lam: float) -> Problem:
        lam = float(lam)
        p = self._problems.get(lam)
        if p is None:
            if len(self._problems) > 64:
                self._problems.clear()
            p = self._problems[lam] = self.problem.with_(lam=lam)
        return p

    def pieces(self, X) -> Pieces:
        """:class:`Pieces` at X; raises KernelError outside the positive-definite cone."""
        if not np.all(np.isfinite(X)):
            raise KernelError("kernel has non-finite entries")
        # _mat is symmetric by construction: Pieces' own Cholesky factorisations are the whole check
        return Pieces(self.consts.at(X[-1]), _mat(X[:-1], self.n), check=False)

    def F(self, X):
        """The residual to_vector(dS/dH)."""
        return _vec(self.pieces(X).gradient())

    def Fl(self, X, pc: Pieces | None = None):
        """dF/dlam = to_vector(-v lam E_S(K^-1 yhat yhat^T K^-1)) (see :func:`gradient_lambda`)."""
        pc = self.pieces(X) if pc is None else pc
        a = pc.Kinv @ self.consts.yhat_S
        out = np.zeros((self.n, self.n))
        idx = self.consts.supervised_index
        out[np.ix_(idx, idx)] = -self.consts.v * float(X[-1]) * np.outer(a, a)
        return _vec(out)

    def keep(self, sym: bool) -> np.ndarray:
        """Coordinates of x solved for: all, or (on the symmetric branch) the Z2-even ones."""
        return self.i_even if sym else np.arange(self.dim)

    def jacobian(self, X, sym: bool) -> "_Jacobian":
        return _Jacobian(self, X, sym)


def _ldl(A: np.ndarray):
    """Bunch-Kaufman ``A = L D L^T``: (factors, ipiv, number of negative eigenvalues) or None if singular."""
    m = A.shape[0]
    if m == 0:
        return None, None, 0
    lw = int(lapack.dsytrf_lwork(m, lower=1)[0])
    ldu, ipiv, info = lapack.dsytrf(A, lower=1, lwork=max(lw, 1))
    if info != 0:
        return None
    d = np.diag(ldu).copy()
    neg, k = 0, 0
    while k < m:  # 1x1 pivots: their sign; 2x2 pivots: the signs of the block's eigenvalues
        if ipiv[k] > 0:
            neg += d[k] < 0
            k += 1
        else:
            b = ldu[k + 1, k]
            tr, det = d[k] + d[k + 1], d[k] * d[k + 1] - b * b
            neg += 1 if det < 0 else (2 if tr < 0 else 0)
            k += 2
    return ldu, ipiv, int(neg)


def _fisher_preconditioner(pc: Pieces, idx: np.ndarray, n: int, dim: int) -> LinearOperator:
    """E -> 2 H E H on the coordinates idx: the inverse of the KL term's curvature 1/2 H^-1 E H^-1.

    It maps each Z2 sector to itself (H is even on the symmetric branch) and
    is positive definite, as MINRES needs.
    """
    H = pc.H

    def mv(y):
        x = np.zeros(dim)
        x[idx] = np.ravel(y)
        return to_vector(2.0 * H @ from_vector(x, n) @ H)[idx]

    return LinearOperator((len(idx), len(idx)), matvec=mv, dtype=float)


class _Jacobian:
    """The Jacobian at one point X: the Hessian block on the kept coordinates and dF/dlam.

    Dense: the block (the even one alone on the symmetric branch, the odd
    one assembled on demand), its LDL^T (inertia, solves, block elimination
    for the bordered systems).  Matrix-free: the Hessian operator and MINRES.  ``neg`` is the number of negative eigenvalues of the kept block,
    ``neg_odd`` that of the odd block on the symmetric branch (None where not
    computed).
    """

    def __init__(self, eq: _Equations, X, sym: bool):
        self.eq, self.X, self.sym = eq, np.array(X, dtype=float), sym
        self.pc = eq.pieces(X)
        p, H = self.pc.problem, self.pc.H
        self.k = eq.keep(sym)
        self.Fl = eq.Fl(X, self.pc)
        self.b = self.Fl[self.k]
        self.border = None
        self._odd = None
        self._Ab = self._norm = self._lu = self._rows = None
        self.dense = eq.dense
        if self.dense:
            # on the symmetric branch only the even block is solved with; the odd one is built on demand
            self.A = dense_hessian_block(p, H, self.k if sym else None, pieces=self.pc)
            self.ldl = _ldl(self.A)
            self.neg = None if self.ldl is None else self.ldl[2]
        else:
            self.op = hessian_operator(eq.at(X[-1]), H, pieces=self.pc)
            self.M = _fisher_preconditioner(self.pc, self.k, eq.n, eq.dim)
            self.neg = None

    # --- solves with the kept Hessian block
    def matvec(self, y):
        if self.dense:
            return self.A @ y
        x = np.zeros(self.eq.dim)
        x[self.k] = y
        return self.op.matvec(x)[self.k]

    def solve(self, r):
        """A^-1 r (None where A is singular or MINRES fails)."""
        if self.dense:
            if self.ldl is None:
                return None
            x, info = lapack.dsytrs(self.ldl[0], self.ldl[1], r, lower=1)
            return x if info == 0 and np.all(np.isfinite(x)) else None
        m = len(self.k)
        op = LinearOperator((m, m), matvec=self.matvec, dtype=float)
        x, info = minres(op, r, M=self.M, rtol=1e-13, maxiter=20 * m)
        return x if info == 0 else None

    def solve_b(self):
        """A^-1 dF/dlam (cached: the tangent and every block elimination use it)."""
        if self._Ab is None:
            self._Ab = self.solve(self.b)
        return self._Ab

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

    # --- spectra
    def odd_block(self):
        """(odd block, its LDL^T) of the full Hessian (dense path, symmetric branch)."""
        if self._odd is None:
            B = dense_hessian_block(self.pc.problem, self.pc.H, self.eq.i_odd, pieces=self.pc)
            self._odd = (B, _ldl(B))
        return self._odd

    def counts(self):
        """(negative eigenvalues of the kept block, of the odd block or None off the symmetric branch).

        Exact (Sylvester's law on the LDL^T) on the dense path; matrix-free,
        counted among the 4 lowest eigenvalues per sector, so a crossing of
        the 5th or a higher one is not seen there.
        """
        sym_odd = self.sym and len(self.eq.i_odd) > 0
        if self.dense:
            neg = self.neg if self.neg is not None else int(np.sum(np.linalg.eigvalsh(self.A) < 0))
            if not sym_odd:
                return neg, None
            B, f = self.odd_block()
            return neg, (f[2] if f is not None else int(np.sum(np.linalg.eigvalsh(B) < 0)))
        p, H = self.eq.at(self.X[-1]), self.pc.H
        sec = "even" if self.sym else None
        w, _ = lowest_eigenpairs(p, H, k=4, sector=sec, pieces=self.pc)
        neg = int(np.sum(w < 0))
        if not sym_odd:
            return neg, None
        wo, _ = lowest_eigenpairs(p, H, k=4, sector="odd", pieces=self.pc)
        return neg, int(np.sum(wo < 0))

    def nearest_zero(self, odd: bool):
        """(eigenvalue of the kept (or odd) block nearest zero, its eigenvector in full coordinates)."""
        eq = self.eq
        idx = eq.i_odd if odd else self.k
        if self.dense:
            B, f = self.odd_block() if odd else (self.A, self.ldl)
            if len(idx) <= 150 or f is None:
                w, V = np.linalg.eigh(B)
                j = int(np.argmin(np.abs(w)))
                val, v = w[j], V[:, j]
            else:
                w, V = eigsh(B, k=1, sigma=0.0, OPinv=_ldl_operator(f, len(B)), which="LM", tol=1e-14)
                val, v = w[0], V[:, 0]
        else:
            p, H = eq.at(self.X[-1]), self.pc.H
            w, V = lowest_eigenpairs(p, H, k=4, sector="odd" if odd else ("even" if self.sym else None),
                                     pieces=self.pc)
            j = int(np.argmin(np.abs(w)))
            return float(w[j]), V[:, j]
        full = np.zeros(eq.dim)
        full[idx] = v
        return float(val), full

    def lowest(self, neg=None, neg_odd=None) -> float:
        """Smallest eigenvalue of the whole Hessian (both blocks on the symmetric branch).

        ``neg``, ``neg_odd``: the blocks' negative-eigenvalue counts where known
        (the LDL^T inertia).  A block with ``c`` negative eigenvalues has its
        smallest among the eigenvalues nearest zero: shift-invert Lanczos on
        the factorisation for the ``c + 2`` nearest, accepted once they hold
        all ``c`` negative ones (then the smallest of them is the block's
        smallest); once a previous point gave a negative smallest eigenvalue,
        shift-invert at a shift below it instead (:func:`_smallest_by_shift`).
        Both are far cheaper than ``eigvalsh`` or Lanczos for the smallest
        algebraic eigenvalue, which the wide KL spectrum makes slow.
        """
        if not self.dense:
            return float(lowest_eigenpairs(self.eq.at(self.X[-1]), self.pc.H, k=1, pieces=self.pc)[0][0])
        blocks = [(self.A, self.ldl, neg, False)]
        if self.sym and len(self.eq.i_odd):
            blocks.append((*self.odd_block(), neg_odd, True))
        out = []
        for B, f, count, odd in blocks:
            low = None
            if count == 0 and len(B) > 150:
                low = self.nearest_zero(odd)[0]
            elif count is not None and f is not None and len(B) > 150:
                guess = self.eq.lowest_guess.get((self.sym, odd))
                if guess is not None and guess < 0:
                    low = _smallest_by_shift(B, guess)
                k = count + 2
                while low is None and k < min(len(B) - 1, 4 * count + 16):
                    w = _nearest_zero_eigenvalues(B, f, k)
                    if np.sum(w < 0) == count:
                        low = float(w[0])
                    k *= 2
                if low is not None:
                    self.eq.lowest_guess[(self.sym, odd)] = low
            if low is None:
                low = (np.linalg.eigvalsh(B)[0] if len(B) <= _EIGH_MAX else
                       eigsh(B, k=1, which="SA", tol=1e-12, maxiter=50 * len(B))[0][0])
            out.append(low)
        return float(min(out))


def _ldl_operator(f, m: int) -> LinearOperator:
    """r -> A^-1 r from the LDL^T factors ``f`` of :func:`_ldl`."""
    return LinearOperator((m, m), dtype=float, matvec=lambda r: lapack.dsytrs(f[0], f[1], r, lower=1)[0])


def _smallest_by_shift(B, guess: float, tries: int = 6):
    """Smallest eigenvalue of B by shift-invert Lanczos at a shift below it; None if none found.

    The shift starts at 1.5 * guess (the previous point's smallest eigenvalue,
    negative) and doubles until ``B - sigma I`` has a Cholesky factor: then
    every eigenvalue lies above sigma and the one nearest sigma is the
    smallest (exact: the Cholesky factor is the proof).
    """
    sigma, m = 1.5 * guess, len(B)
    for _ in range(tries):
        S = B - sigma * np.eye(m)
        try:
            c = cho_factor(S, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            sigma *= 2.0
            continue
        op = LinearOperator((m, m), dtype=float, matvec=lambda r: cho_solve(c, r, check_finite=False))
        try:
            w = eigsh(B, k=1, sigma=sigma, OPinv=op, which="LM", tol=1e-13, return_eigenvectors=False)
        except ArpackNoConvergence:
            return None
        return float(w[0])
    return None


def _nearest_zero_eigenvalues(B, f, k: int) -> np.ndarray:
    """The k eigenvalues of the symmetric B nearest zero, ascending (shift-invert Lanczos on its LDL^T f)."""
    w = eigsh(B, k=k, sigma=0.0, OPinv=_ldl_operator(f, len(B)), which="LM", tol=1e-14,
              return_eigenvectors=False)
    return np.sort(w)


# --- one converged point ------------------------------------------------------------
class _State:
    """A converged point X with its Jacobian, unit tangent (oriented along ``ref``) and eigenvalue counts.

    ``neg``: negative eigenvalues of the kept Hessian block (the even block on
    the symmetric branch), ``neg_odd``: of the odd block (symmetric branch
    only, else None).  The Jacobian's border is the tangent, ready for the
    chord corrector of the next step.
    """

    def __init__(self, eq: _Equations, X, ref, sym: bool, jac: _Jacobian | None = None):
        self.X, self.sym = X, sym
        self.jac = eq.jacobian(X, sym) if jac is None or jac.X is not X else jac
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


def _correct(eq: _Equations, X_pred, tau, sym: bool, tol: float, maxiter: int = 15, jac=None, cache=None):
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
                jac = eq.jacobian(X, sym)
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
            if np.linalg.norm(F) < tol * scale:
                return X, it
        elif newton or nd > 0.25 * prev:
            refresh = True
        prev = nd
    try:
        ok = np.linalg.norm(eq.F(X)) < tol * scale
    except _LINALG:
        return None
    return (X, maxiter) if ok else None


def _stability_threshold(jac: _Jacobian) -> float:
    rho = jac.row_norm() if jac.dense and jac.A.size else 1.0
    return 1e-9 * max(1.0, rho)


def _point(eq: _Equations, st: _State) -> ContinuationPoint:
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
        res = _correct(eq, X + s * tau, tau, sym, tol, jac=Sa.jac)
        if res is None:
            s = 0.5 * (a + b)
            res = _correct(eq, X + s * tau, tau, sym, tol)
            if res is None:
                break
        try:
            st = _State(eq, res[0], tau, sym)
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


def continue_branch(eq: _Equations, X0, tau0, lam_range, sym: bool, branch: int = 0,
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
        res = _correct(eq, S.X + h * S.tau, S.tau, sym, tol, jac=S.jac)
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
        for sp, pt, Xsp in sorted(found, key=lambda f: S.tau @ (f[2] - S.X)):
            if np.linalg.norm(Xsp - S.X) > 1e-12 and lo <= Xsp[-1] <= hi:
                run.specials.append(sp)
                run.X.append(Xsp)
                run.points.append(pt)
        lam_n = Sn.X[-1]
        if not lo <= lam_n <= hi:
            bound = hi if lam_n > hi else lo
            f = (bound - S.X[-1]) / (lam_n - S.X[-1])
            guess = S.X + f * (Sn.X - S.X)
            guess[-1] = bound
            e = np.zeros_like(guess)
            e[-1] = 1.0
            end = _correct(eq, guess, e, sym, tol, maxiter=30)
            if end is not None:
                try:
                    run.points.append(_point(eq, _State(eq, end[0], S.tau, sym)))
                    run.X.append(end[0])
                except (*_LINALG, ConvergenceError):
                    pass
            break
        run.X.append(Sn.X)
        run.points.append(_point(eq, Sn))
        S = Sn
        fast, slow = (4, 9) if eq.dim <= _CHORD_MIN_DIM else (7, 12)  # chord steps contract linearly
        ds = min(ds * 1.5, ds_max) if its <= fast else (ds * 0.6 if its >= slow else ds)
    return run


# --- starting points and branch switching -----------------------------------------
def _start(eq: _Equations, lam0: float, tol: float):
    """The symmetric saddle at lam0 (problems with a Z2) or the global minimum of S (otherwise)."""
    p = eq.at(lam0)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    if eq.odd.any():
        from linkernel.theory.special_points import symmetric_saddle
        try:
            H = symmetric_saddle(p, tol=tol)
        except ConvergenceError:
            H = prior_kernel(p)
        X = np.append(to_vector(H), lam0)
        X[:-1][eq.odd] = 0.0
        res = _correct(eq, X, e, True, tol, maxiter=30)
        if res is None:
            raise ConvergenceError(f"no symmetric saddle found at lambda={lam0:g}; "
                                   "start the range at a smaller lambda")
        return res[0], True
    H = saddle_point(p, n_starts=4).kernel
    return np.append(to_vector(H), lam0), False


def switch_branch(eq: _Equations, bp: SpecialPoint, tol: float = 1e-11, h: float = 1e-2):
    """First point and tangent of the broken branch leaving a Z2 branch point along +phi (m > 0).

    The corrector fixes the distance along (phi, 0) and frees lambda, so the
    broken branch (lambda - lambda_c ~ h^2) is reached, not the symmetric one.
    """
    phi = bp.null_vector / np.linalg.norm(bp.null_vector)
    # orient along +m_g of the group the null vector excites most (for the RNN: m = H^{T-1,T-2} > 0)
    proj = [phi @ m_vector(eq.problem, g) for g in eq.problem.arch.shared_groups()] or [phi @ m_vector(eq.problem)]
    if proj[int(np.argmax(np.abs(proj)))] < 0:
        phi = -phi
    X_bp = np.append(to_vector(bp.kernel), bp.lam)
    X_bp[:-1][eq.odd] = 0.0
    tau = np.append(phi, 0.0)
    scale = max(1.0, np.abs(X_bp).max())
    for k in range(6):
        res = _correct(eq, X_bp + h * scale * 2.0 ** k * tau, tau, False, tol, maxiter=30)
        if res is not None and abs((res[0][:-1] - X_bp[:-1]) @ phi) > 0.5 * h * scale:
            return X_bp, res[0], tau
    raise ConvergenceError(f"branch switching at lambda={bp.lam:.10g} failed; try a larger h")


# --- coexistence ------------------------------------------------------------------
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
    res = _correct(eq, guess, e, sym, tol, maxiter=30, cache=cache)
    if res is None and cache:
        cache.clear()
        res = _correct(eq, guess, e, sym, tol, maxiter=30)
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
            res = _correct(eq, X0 + s * u, u, False, tol, cache=brk_cache)
            if res is None and brk_cache:
                brk_cache.clear()
                res = _correct(eq, X0 + s * u, u, False, tol)
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


def _threads(problem: Problem):
    """One BLAS thread unless the dense systems are large (dim >= _PARALLEL_DIM).

    Each step runs many small products and factorisations; on a shared
    machine a second thread whose core is busy made them 10-40x slower
    (measured at dim = 528: eigvalsh 1.2 s instead of 0.03 s).
    """
    dim = problem.n * (problem.n + 1) // 2
    return blas_threads_for(problem.n) if dim < _PARALLEL_DIM else blas_threads_for(dim)


# --- input checks -------------------------------------------------------------------
def _check_range(lam_range, name: str = "lam_range"):
    """Two finite numbers 0 < lo < hi."""
    try:
        vals = [float(v) for v in lam_range]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={lam_range!r} is invalid; {name} must be two numbers (lo, hi) "
                         "with 0 < lo < hi") from None
    if len(vals) != 2 or not all(math.isfinite(v) for v in vals) or not vals[1] > vals[0]:
        raise ValueError(f"{name}={lam_range!r} is invalid; {name} must be two finite numbers (lo, hi) "
                         "with 0 < lo < hi")
    if vals[0] <= 0:
        raise ValueError(f"{name}={lam_range!r} is invalid; lambda must be > 0 (use a small lo)")
    return vals[0], vals[1]


def _check_problem(problem) -> None:
    if not isinstance(problem, Problem):
        raise ValueError(f"problem={problem!r} is invalid; problem must be a linkernel Problem "
                         "(e.g. linkernel.tasks.endpoint('rnn', T=4))")


def _automatic_ds_max(problem: Problem) -> float:
    """``ds_max=None``: 0.25, or 0.5 above :data:`LONG_STEP_DIM` unknowns n(n+1)/2."""
    n = problem.n
    return 0.25 if n * (n + 1) // 2 <= LONG_STEP_DIM else 0.5


def _check_steps(ds, ds_max, tol, max_steps):
    from linkernel.validation import count, positive, tolerance
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
def trace(problem: Problem, lam_range=(0.5, 3.0), ds: float = 0.05, ds_max: float | None = None,
          tol: float = 1e-11, max_steps: int = 2000, progress: bool = False) -> Trace:
    """Trace the saddle points of ``problem`` for lambda in ``lam_range`` (``problem.lam`` is ignored).

    Starts on the symmetric saddle at ``lam_range[0]`` (or the global minimum
    when the problem has no Z2 symmetry), detects and refines folds and branch
    points, switches onto the broken branch at every Z2 branch point (traced
    in the representative with m >= 0) and locates coexistence points.
    Branch 0 is the starting branch; broken branches follow.  ``ds`` and
    ``ds_max`` are arclength steps in units of max(1, |X|_inf), X = (to_vector(H), lambda); ``ds_max=None``:
    0.25, or 0.5 above :data:`LONG_STEP_DIM` unknowns (where each point is expensive); ``max_steps``
    bounds the steps per branch.  A branch cut short by ``max_steps`` is
    marked (``Branch.complete``, ``Trace.complete``) with one
    :class:`ContinuationWarning`.
    """
    _check_problem(problem)
    lo, hi = _check_range(lam_range)
    ds_max = _automatic_ds_max(problem) if ds_max is None else ds_max
    ds, ds_max, tol, max_steps = _check_steps(ds, ds_max, tol, max_steps)
    with _threads(problem):
        return _trace(problem, lo, hi, ds, ds_max, tol, max_steps, progress)


def _trace(problem, lo, hi, ds, ds_max, tol, max_steps, progress):
    t0 = time.perf_counter()
    eq = _Equations(problem.with_(lam=lo))
    X0, sym = _start(eq, lo, tol)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=f"trace {problem.arch} T={problem.T}", unit="step", leave=False)

    def make_branch(kind, run):
        return Branch(problem.arch, kind, tuple(run.points), complete=run.complete, stop_reason=run.reason)

    try:
        run = continue_branch(eq, X0, e, (lo, hi), sym, 0, ds, 1e-7, ds_max, max_steps, tol, bar)
        Xs, pts, specials, steps = run.X, run.points, list(run.specials), run.steps
        branches = [make_branch("symmetric" if sym else "regular", run)]
        transition = "none"
        for bp in [s for s in specials if s.z2]:
            X_bp, X1, tau = switch_branch(eq, bp, tol)
            k = len(branches)
            rb = continue_branch(eq, X1, tau, (lo, hi), False, k, ds, 1e-7, ds_max, max_steps, tol, bar)
            bp_pt = _point(eq, _State(eq, X_bp, tau, False))
            rb.X.insert(0, X_bp)
            rb.points.insert(0, bp_pt)
            steps += rb.steps
            branches.append(make_branch("broken", rb))
            specials += [s for s in rb.specials
                         if not (s.kind == "branch_point" and abs(s.lam - bp.lam) < 1e-6 * max(1.0, bp.lam))]
            supercritical = rb.X[1][-1] > X_bp[-1]
            if transition == "none" and _loses_stability(pts, bp.lam):
                transition = "second order" if supercritical else "first order"
            if not supercritical:
                specials += _coexistence(eq, Xs, pts, rb.X, rb.points, k, tol)
        if sym and not pts[0].stable and len(branches) == 1:
            # the range starts above the transition: follow the broken minimum found by minimisation
            H = saddle_point(eq.at(lo), n_starts=4).kernel
            rb = continue_branch(eq, np.append(to_vector(H), lo), e, (lo, hi), False, 1, ds, 1e-7, ds_max,
                                 max_steps, tol, bar)
            steps += rb.steps
            branches.append(make_branch("broken", rb))
            specials += rb.specials
    finally:
        if bar is not None:
            bar.close()
    specials.sort(key=lambda s: (s.lam, s.kind))
    _warn_incomplete(branches)
    return Trace(problem=problem, lam_range=(lo, hi), branches=tuple(branches),
                 special_points=tuple(specials), transition=transition, steps=steps,
                 seconds=time.perf_counter() - t0)


# --- single branches and points on them ------------------------------------------
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
    eq = _Equations(problem.with_(lam=lam0))
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
    with _threads(problem):
        res = _correct(eq, X, e, sym, tol, maxiter=30)
        if res is None:
            raise ConvergenceError(f"H0 is not close to a stationary point at lambda={lam0:g}")
        run = continue_branch(eq, res[0], direction * e, (lo, hi), sym, 0, ds, 1e-7, ds_max, max_steps, tol)
    b = Branch(problem.arch, "symmetric" if sym else ("broken" if eq.odd.any() else "regular"),
               tuple(run.points), complete=run.complete, stop_reason=run.reason)
    _warn_incomplete([b])
    return b


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
    eq = _Equations(trace_.problem.with_(lam=lams[0]))
    for k in range(1, len(lams)):
        if min(lams[k - 1], lams[k]) <= lam <= max(lams[k - 1], lams[k]):
            f = 0.0 if lams[k] == lams[k - 1] else (lam - lams[k - 1]) / (lams[k] - lams[k - 1])
            H = (1 - f) * b.points[k - 1].kernel + f * b.points[k].kernel
            X = np.append(to_vector(H), lam)
            sym = b.kind == "symmetric"
            e = np.zeros_like(X)
            e[-1] = 1.0
            res = _correct(eq, X, e, sym, tol, maxiter=30)
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

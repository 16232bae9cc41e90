"""The saddle-point equations F(X) = 0 of one problem as functions of the kernel and lambda.

Coordinates: ``X = (x, lam)``, a vector of length ``dim + 1`` with
``x = to_vector(H)`` the upper triangle of the kernel H (shape (n, n),
``n = T*P``, kernel rows ``t*P + p``) in the Frobenius-orthonormal coordinates
of :mod:`linkernel.theory.action` (off-diagonal entries scaled by sqrt 2, so
that the Euclidean norm of x is the Frobenius norm of H), ``dim = n(n+1)/2``,
and ``lam = X[-1]`` the target scale (y = lam * yhat).

* ``F(X) = to_vector(dS/dH)`` at (H, lam), shape (dim,): zero at a saddle point;
* ``dF/dx`` is the Hessian of S in the same coordinates (symmetric, (dim, dim));
* ``dF/dlam = to_vector(-v lam E_S(K^-1 yhat_S yhat_S^T K^-1))``, K = v H_SS + kappa I,
  analytic (only the likelihood depends on lambda), shape (dim,).

On the Z2-symmetric branch (all odd coordinates :func:`~linkernel.theory.action.odd_coordinates`
zero, an invariant subspace) only the even coordinates are solved for: ``keep(sym=True)``.

:class:`Equations` is what the continuation, the special points, the landscape and the phase
diagram share; :class:`Jacobian` is its Hessian block at one point, factorised once (dense:
Bunch-Kaufman LDL^T, whose inertia counts the negative eigenvalues; matrix-free: MINRES on the
Hessian-vector product, preconditioned by the prior metric).  The lambda cache is the problem's
:class:`linkernel.theory.action.Constants` (its H-independent arrays, computed once; ``.at(lam)``
re-scales the targets): ``Problem.with_(lam=...)`` re-validates the whole problem, which at T = 4
costs more than the linear algebra.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.sparse.linalg import LinearOperator, minres

from linkernel.errors import KernelError
from linkernel.problem import Problem
from linkernel.theory.action import Pieces, from_vector, odd_coordinates, readout_kernel, static, to_vector
from linkernel.theory.hessian import dense_hessian_block, hessian_operator

_vec, _mat = to_vector, from_vector

#: dense Hessian + factorisations up to this many coordinates, matrix-free above.
#: Measured on 2 shared cores (load ~6, one thread): at dim = 2080 (T = 16, P = 4)
#: the whole Hessian assembles in 0.5-0.7 s (5.5 s by the sandwich gathers before),
#: its even block in 0.12-0.19 s; LDL^T 0.25 s (whole), 0.05 s (a Z2 block).
DENSE_MAX_DIM = 2500


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


class Equations:
    """F(X) = to_vector(dS/dH), its lambda derivative and Jacobian for one base problem (module docstring).

    ``problem.lam`` is only the starting value: every method reads lambda from ``X[-1]``.
    ``dense`` chooses the linear algebra of :meth:`jacobian` (None: dense up to
    :data:`DENSE_MAX_DIM` coordinates).  Attributes: ``n`` (= T*P), ``dim`` (= n(n+1)/2),
    ``odd`` (bool (dim,), the Z2-odd coordinates), ``i_odd``, ``i_even`` (their indices).
    """

    def __init__(self, problem: Problem, dense: bool | None = None):
        self.problem = problem
        self.consts = static(problem)
        self.n = problem.n
        self.dim = self.n * (self.n + 1) // 2
        self.odd = odd_coordinates(problem)
        self.i_odd = np.flatnonzero(self.odd)
        self.i_even = np.flatnonzero(~self.odd)
        self.dense = self.dim <= DENSE_MAX_DIM if dense is None else bool(dense)
        self._problems = {}
        #: the last smallest eigenvalue per (symmetric branch, odd block): the continuation's next
        #: shift for its shift-invert eigenvalue search (:meth:`continuation.bordered.Jacobian.lowest`)
        self.lowest_guess = {}
        #: the last lowest Hessian eigenvectors (dim, k) per sector ("even", "odd", None: all) on the
        #: matrix-free path: the start of the next point's LOBPCG (:meth:`continuation.spectra.Spectra.sector_pairs`)
        self.eigenvectors = {}

    def at(self, lam: float) -> Problem:
        """The base problem at this lambda (a real, validated Problem; the last 64 are kept)."""
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

    def F(self, X) -> np.ndarray:
        """The residual to_vector(dS/dH), shape (dim,)."""
        return _vec(self.pieces(X).gradient())

    def Fl(self, X, pc: Pieces | None = None) -> np.ndarray:
        """dF/dlam = to_vector(-v lam E_S(K^-1 yhat yhat^T K^-1)) (see :func:`gradient_lambda`), shape (dim,)."""
        pc = self.pieces(X) if pc is None else pc
        a = pc.Kinv @ self.consts.yhat_S
        out = np.zeros((self.n, self.n))
        idx = self.consts.supervised_index
        # v (a a^T) first: v lam alone overflows for v = 1e308 where the product with a a^T does not
        out[np.ix_(idx, idx)] = -(self.consts.v * np.outer(a, a)) * float(X[-1])
        return _vec(out)

    def hessian_vector(self, X, phi) -> np.ndarray:
        """The Hessian of S at X applied to the coordinate vector ``phi`` (shape (dim,))."""
        return _vec(self.pieces(X).hessian_vector(_mat(np.asarray(phi, dtype=float), self.n)))

    def hessian(self, X, sel=None) -> np.ndarray:
        """The dense Hessian dF/dx at X, or its principal block on the coordinates ``sel``."""
        pc = self.pieces(X)
        return dense_hessian_block(self.at(X[-1]), pc.H, sel, pieces=pc)

    def keep(self, sym: bool) -> np.ndarray:
        """Coordinates of x solved for: all, or (on the symmetric branch) the Z2-even ones."""
        return self.i_even if sym else np.arange(self.dim)

    def jacobian(self, X, sym: bool) -> "Jacobian":
        """The Hessian block on the kept coordinates at X, factorised (:class:`Jacobian`)."""
        return Jacobian(self, X, sym)


def ldl(A: np.ndarray):
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


def prior_metric_preconditioner(pc: Pieces, idx: np.ndarray, n: int, dim: int) -> LinearOperator:
    """E -> M^-1 E on the coordinates idx, M the prior metric (:meth:`Pieces.prior_metric_inverse`).

    The inverse of the KL term's Gauss-Newton curvature with the temporal coupling (1 - shift)
    taken out as well as H^-1 (x) H^-1: MINRES on the continuation's Hessian blocks needs about
    half the products it needs with the Fisher metric's inverse E -> 2 H E H, which it replaced
    (digits 0 vs 1, T = 4, Tr = 204: 13 against 29 for A^-1 dF/dlam; tests/theory/test_trace_speed.py
    compares the two), and reaches a smaller residual.  Symmetric positive definite (so is its
    restriction to a sector), as MINRES needs.
    """

    def mv(y):
        x = np.zeros(dim)
        x[idx] = np.ravel(y)
        return to_vector(pc.prior_metric_inverse(from_vector(x, n)))[idx]

    return LinearOperator((len(idx), len(idx)), matvec=mv, dtype=float)


class Jacobian:
    """The Jacobian at one point X: the Hessian block ``A`` on the kept coordinates ``k`` and dF/dlam.

    Dense (``eq.dense``): ``A`` (the even block alone on the symmetric branch,
    ``sym=True``) and its LDL^T ``ldl`` (None where singular), ``neg`` the number
    of its negative eigenvalues.  Matrix-free: ``op`` the Hessian operator and ``M``
    the MINRES preconditioner (:func:`prior_metric_preconditioner`), ``neg`` None.  ``Fl`` is
    dF/dlam (all coordinates), ``b`` its kept part; ``pc`` the :class:`Pieces` at X.
    """

    def __init__(self, eq: Equations, X, sym: bool):
        self.eq, self.X, self.sym = eq, np.array(X, dtype=float), sym
        self.pc = eq.pieces(X)
        p, H = self.pc.problem, self.pc.H
        self.k = eq.keep(sym)
        self.Fl = eq.Fl(X, self.pc)
        self.b = self.Fl[self.k]
        self._Ab = None
        self.dense = eq.dense
        if self.dense:
            # on the symmetric branch only the even block is solved with; the odd one is built on demand
            self.A = dense_hessian_block(p, H, self.k if sym else None, pieces=self.pc)
            self.ldl = ldl(self.A)
            self.neg = None if self.ldl is None else self.ldl[2]
        else:
            self.op = hessian_operator(eq.at(X[-1]), H, pieces=self.pc)
            self.M = prior_metric_preconditioner(self.pc, self.k, eq.n, eq.dim)
            self.neg = None

    def matvec(self, y):
        """A y on the kept coordinates."""
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

    def solve_refined(self, r, rel: float = 1e-12, steps: int = 5):
        """A^-1 r to the relative residual ``rel`` (|r - A x| <= rel |r|), None where that fails.

        MINRES stops on a backward-error test (its residual against |A| |x|), which on the wide
        spectrum of these Hessians leaves |r - A x| / |r| near 1e-11 at its tightest setting;
        a few steps of iterative refinement (solving for the residual again) bring it to ``rel``.
        The dense path's LDL^T solve is returned as it is.
        """
        x = self.solve(r)
        if self.dense or x is None:
            return x
        size = float(np.linalg.norm(r))
        for _ in range(steps):
            res = r - self.matvec(x)
            if float(np.linalg.norm(res)) <= rel * size:
                return x
            dx = self.solve(res)
            if dx is None:
                return None
            x = x + dx
        return x if float(np.linalg.norm(r - self.matvec(x))) <= rel * size else None

    def solve_b(self):
        """A^-1 dF/dlam (cached: the tangent and every block elimination use it)."""
        if self._Ab is None:
            self._Ab = self.solve(self.b)
        return self._Ab

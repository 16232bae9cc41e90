"""Eigenvalues of the Hessian along a branch: negative-eigenvalue counts, the eigenvalue nearest zero, the smallest.

A mixin of :class:`linkernel.theory.continuation.bordered.Jacobian`.  On the dense path the
counts are exact (Sylvester's law of inertia on the LDL^T of each block); the smallest
eigenvalue comes from shift-invert Lanczos on that factorisation (far cheaper than
``eigvalsh`` or Lanczos for the smallest algebraic eigenvalue, which the wide KL spectrum
makes slow).  Matrix-free: the 4 lowest eigenpairs per sector
(:func:`linkernel.theory.hessian.lowest_eigenpairs`), computed once per point and shared by the
counts, the eigenvalue nearest zero and the smallest eigenvalue, LOBPCG started from the previous
point's eigenvectors (:meth:`Spectra.sector_pairs`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, lapack
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from linkernel.theory.equations import ldl as _ldl
from linkernel.theory.hessian import dense_hessian_block, lowest_eigenpairs

#: LOBPCG's residual tolerance for the matrix-free sector eigenpairs (absolute, Frobenius coordinates)
PAIRS_TOL = 1e-9

#: blocks up to this size get their smallest eigenvalue from a full ``eigvalsh``.
_EIGH_MAX = 600


class Spectra:
    """Eigenvalue queries on a Jacobian (needs ``eq``, ``X``, ``sym``, ``pc``, ``k``, ``dense``, ``A``, ``ldl``,
    ``neg``, ``_odd``, the cached odd block, and ``_pairs``, a dict of the cached sector eigenpairs;
    ``pairs_tol``, if set, overrides :data:`PAIRS_TOL` for this Jacobian)."""

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
        w, _ = self.sector_pairs("even" if self.sym else None)
        neg = int(np.sum(w < 0))
        if not sym_odd:
            return neg, None
        wo, _ = self.sector_pairs("odd")
        return neg, int(np.sum(wo < 0))

    def sector_pairs(self, sector):
        """The 4 lowest eigenpairs of a sector's Hessian block at this point (matrix-free path).

        Computed once per Jacobian (the counts, the eigenvalue nearest zero and the smallest one all
        read them), by LOBPCG started from the last eigenvectors of the same sector that this
        :class:`~linkernel.theory.equations.Equations` computed (``eq.eigenvectors``): the previous
        continuation point's, a step away, so it converges in a fraction of a random start's
        iterations (``tests/theory/test_trace_speed.py`` checks the values against dense ``eigh``).

        Parameters
        ----------
        sector : {"even", "odd", None}
            The Z2 block (None: the whole Hessian, off the symmetric branch).

        Returns
        -------
        vals : ndarray, shape (4,)
            Ascending eigenvalues (units of S per unit squared Frobenius norm of dH), to LOBPCG's
            residual ``pairs_tol`` (default :data:`PAIRS_TOL`).
        vecs : ndarray, shape (dim, 4)
            Unit eigenvectors in :func:`~linkernel.theory.action.to_vector` coordinates, zero
            outside the sector.
        """
        got = self._pairs.get(sector)
        if got is None:
            eq = self.eq
            start = eq.eigenvectors.get(sector)
            got = lowest_eigenpairs(eq.at(self.X[-1]), self.pc.H, k=4, sector=sector, pieces=self.pc,
                                    start=start, tol=getattr(self, "pairs_tol", PAIRS_TOL))
            self._pairs[sector] = got
            eq.eigenvectors[sector] = got[1]
        return got

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
            w, V = self.sector_pairs("odd" if odd else ("even" if self.sym else None))
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
            # on the symmetric branch the Hessian is block diagonal in the Z2 sectors: its smallest
            # eigenvalue is the smaller of the two blocks' (the counts computed both already)
            secs = ("even", "odd") if self.sym and len(self.eq.i_odd) else (None,)
            return float(min(self.sector_pairs(s)[0][0] for s in secs))
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
                       eigsh(B, k=1, which="SA", tol=1e-12, maxiter=50 * len(B), v0=_start_vector(len(B)))[0][0])
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
            w = eigsh(B, k=1, sigma=sigma, OPinv=op, which="LM", tol=1e-13, return_eigenvectors=False,
                      v0=_start_vector(len(B)))
        except ArpackNoConvergence:
            return None
        return float(w[0])
    return None


def _nearest_zero_eigenvalues(B, f, k: int) -> np.ndarray:
    """The k eigenvalues of the symmetric B nearest zero, ascending (shift-invert Lanczos on its LDL^T f)."""
    w = eigsh(B, k=k, sigma=0.0, OPinv=_ldl_operator(f, len(B)), which="LM", tol=1e-14,
              return_eigenvectors=False)
    return np.sort(w)


def _start_vector(m: int) -> np.ndarray:
    """A fixed ARPACK start vector: the same eigenvalues to the last digit on every run (ARPACK's own
    random start made a graded-kernel run fail in some runs and not in others)."""
    return np.random.default_rng(0).standard_normal(m)

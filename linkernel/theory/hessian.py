"""The Hessian of S(H) at one kernel: matrix-free, dense, and its lowest eigenpairs.

Coordinates are those of :func:`linkernel.theory.action.to_vector` (upper
triangle row by row, off-diagonals times sqrt(2): an orthonormal basis of the
symmetric matrices for the Frobenius metric), ``dim = n(n+1)/2`` with
``n = TP`` and kernel rows ``t*P + p``.

The second variation (:func:`linkernel.theory.action.hessian_vector`) along a
symmetric E is, with A = Sigma^-1, K = v H_SS + kappa I, a = K^-1 y_S and the
shift L (``L(E)^{tt'} = w_g M^{tt'} E^{t-1,t'-1}``) and its adjoint L*,

    d2S[E] = 1/2 (dA + H^-1 E H^-1) + 1/2 L*(dA - dA H A - A H dA - A E A)
             + v^2/2 E_S(K^-1 E_SS a a^T + a a^T E_SS K^-1),     dA = -A L(E) A.

Every term is a sandwich ``X E Y``.  In the orthonormal basis B_ij the
sandwich has the matrix

    <B_ij, X B_kl Y> = s_ij s_kl (X_jk Y_li + X_jl Y_ki + X_ik Y_lj + X_il Y_kj),

(s = 1/2 on the diagonal, 1/sqrt(2) off it), and L is a weighted
permutation of coordinates ((i, j) -> (i+P, j+P)), so the dense Hessian is a
few gathers of n x n matrices: O(dim^2) work and memory, no dim matvecs.

:func:`hessian_operator` precomputes the H-dependent matrices once; one
matvec is a handful of n x n products (O(n^3), O(n^2) memory).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh, lobpcg

from linkernel import validation
from linkernel.errors import KernelError
from linkernel.problem import Problem
from linkernel.theory.action import Pieces, from_vector, static, to_vector, upper_triangle

#: dense ``eigh`` up to this many coordinates, LOBPCG above (``eigh`` costs dim^3,
#: a matvec O(n^3) = O(dim^1.5)).  Measured on 2 cores (one thread, lightly
#: loaded): n = 32 (dim = 528) dense assembly 74 ms + eigh 130 ms against
#: 0.13 s for the lowest eigenvalue to 8 digits by LOBPCG; n = 64 (dim = 2080)
#: 1.9 s + 5.4 s dense.  At dim = 300 (n = 24) dense costs ~30 ms and gives the
#: whole spectrum.
DENSE_EIG_MAX_DIM = 300


# --- matrix-free -------------------------------------------------------------------
def hessian_operator(problem: Problem, H, pieces: Pieces | None = None) -> LinearOperator:
    """The Hessian of S at H as a symmetric LinearOperator on the ``dim = n(n+1)/2`` coordinates.

    Each matvec costs a few n x n products with the pieces computed once here.
    """
    pc = Pieces(problem, H) if pieces is None else pieces
    n = problem.n
    dim = n * (n + 1) // 2

    def mv(x):
        x = np.asarray(x, dtype=float)
        if x.ndim == 2:
            return np.column_stack([to_vector(pc.hessian_vector(from_vector(c, n))) for c in x.T])
        return to_vector(pc.hessian_vector(from_vector(x.ravel(), n)))

    return LinearOperator((dim, dim), matvec=mv, matmat=mv, rmatvec=mv, dtype=float)


# --- dense ----------------------------------------------------------------------------
def _sandwich(X: np.ndarray, Y: np.ndarray, n: int, sel=None) -> np.ndarray:
    """The matrix of E -> X E Y projected on the symmetric basis: <B_ij, X B_kl Y>, (m, m).

    ``s_ij s_kl (X_jk Y_li + X_jl Y_ki + X_ik Y_lj + X_il Y_kj) / 4`` with rows
    (i, j), columns (k, l), both over the coordinates ``sel`` (None: all, m = dim).
    Each factor is a row gather of a column gather (``X[:, k_c][j_r]``), so no
    index array of size m^2 is built.
    """
    i, j, s = upper_triangle(n)
    if sel is not None:
        i, j, s = i[sel], j[sel], s[sel]
    Yt = Y.T
    Xk, Xl, Yk, Yl = X[:, i], X[:, j], Yt[:, i], Yt[:, j]    # X[a, k_c], X[a, l_c], Y[k_c, a], Y[l_c, a]
    T = Xk[j] * Yl[i]
    T += Xl[j] * Yk[i]
    T += Xk[i] * Yl[j]
    T += Xl[i] * Yk[j]
    T *= np.outer(0.25 * s, s)
    return T


def hessian(problem: Problem, H) -> np.ndarray:
    """The Hessian of S at H in the coordinates of :func:`~linkernel.theory.action.to_vector`: (dim, dim), symmetric.

    Its eigenvalues are those of the second variation of S with respect to
    the Frobenius metric on symmetric matrices; all > 0 at a minimum.  Same
    matrix as :func:`linkernel.theory.action.hessian_vector` on every basis
    element (:func:`dense_hessian`).
    """
    return dense_hessian(problem, H)


def dense_hessian(problem: Problem, H, pieces: Pieces | None = None) -> np.ndarray:
    """The Hessian of S at H in to_vector coordinates, (dim, dim), symmetric.

    Same matrix as applying :func:`linkernel.theory.action.hessian_vector` to
    every basis element, in O(dim^2) instead of O(dim n^3); it is
    :func:`dense_hessian_block` on all coordinates.  Its entries scale like H^-2: where that
    overflows float64 (a kernel near 1e-200 I) a KernelError says so, instead of NaN entries.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = dense_hessian_block(problem, H, None, pieces=pieces)
    if not np.all(np.isfinite(out)):
        d = np.diag(np.asarray(H, dtype=float))
        raise KernelError(f"the Hessian at this kernel (diagonal from {d.min():.3g} to {d.max():.3g}) overflows "
                          "float64 (its entries scale like 1/H^2); the whitened Hessian "
                          "(linkernel.theory.hessian.whitened_dense) is finite there")
    return out


@lru_cache(maxsize=16)
def _block_layout(n: int, P: int, mask_key: bytes, sel_key: bytes | None):
    """Coordinates (i, j, s) of a principal block and the shift weights w of its coordinates.

    ``w[c] = R[k+P, l+P]`` for the coordinate c = (k, l) (zero past the end):
    the weight with which the shift L maps E_kl to E_{k+P, l+P}.
    """
    R = np.frombuffer(mask_key).reshape(n, n)
    i, j, s = upper_triangle(n)
    if sel_key is not None:
        sel = np.frombuffer(sel_key, dtype=np.intp)
        i, j, s = i[sel], j[sel], s[sel]
    w = np.zeros(len(i))
    inside = j + P < n
    w[inside] = R[i[inside] + P, j[inside] + P]
    for x in (i, j, s, w):
        x.setflags(write=False)
    return i, j, s, w


#: rows of a Hessian block assembled at once (temporaries of a few MB at dim = 2080)
_BLOCK_ROWS = 96


def dense_hessian_block(problem: Problem, H, sel=None, pieces: Pieces | None = None) -> np.ndarray:
    """The principal block ``dense_hessian(problem, H)[np.ix_(sel, sel)]``, assembled alone.

    ``sel``: to_vector coordinates (e.g. :func:`sector_coordinates`), None for
    all.  On a Z2-symmetric kernel the Hessian is block diagonal in the odd
    and even sectors, so the two blocks carry all of it at half the fill of
    the whole matrix.

    Each term of the module docstring's second variation is a sandwich, and
    the shift L folds into the sandwiched matrices: with Sh the n x n shift
    by P (``(A Sh)_ab = A_{a, b+P}``),

        S(A, A) L = w_c S(A Sh, Sh^T A),   L* S(A, A) = w_r S(Sh^T A, A Sh),
        L* S(A, B) L = w_r w_c S(Sh^T A Sh, Sh^T B Sh),   B = 2 A H A - A,

    (w the shift weights of row r = (i, j) and column c = (k, l)), and the
    likelihood term ``v^2 S(K^-1, a a^T)`` lives on the supervised
    coordinates only.  The entries ``X_jk, X_jl`` of row r = (i, j) are row
    j of the column gathers ``X[:, k_c], X[:, l_c]``: every entry is a few
    products of gathered rows, with no index arrays of size dim^2.
    """
    pc = Pieces(problem, H) if pieces is None else pieces
    n, P = problem.n, problem.P
    key = None if sel is None else np.ascontiguousarray(sel, dtype=np.intp).tobytes()
    ii, jj, s, w = _block_layout(n, P, static(problem).R.tobytes(), key)
    A, Hinv = pc.A, pc.Hinv
    B = 2.0 * (pc.AH @ A) - A
    X = np.zeros((n, n))
    X[:, :n - P] = A[:, P:]                 # A Sh
    Z = np.ascontiguousarray(X.T)           # Sh^T A
    As = np.zeros((n, n))
    As[:n - P, :n - P] = A[P:, P:]          # Sh^T A Sh
    Bs = np.zeros((n, n))
    Bs[:n - P, :n - P] = B[P:, P:]

    def columns(M):   # (M[:, k_c], M[:, l_c])
        return np.ascontiguousarray(M[:, ii]), np.ascontiguousarray(M[:, jj])

    (Hk, Hl), (Xk, Xl), (Zk, Zl), (Ak, Al), (Bk, Bl) = map(columns, (Hinv, X, Z, As, Bs))
    m = len(ii)
    out = np.empty((m, m))
    for r0 in range(0, m, _BLOCK_ROWS):
        r1 = min(m, r0 + _BLOCK_ROWS)
        r, c = slice(r0, r1), slice(0, r1)   # the lower triangle and the diagonal block
        i, j, wr, wc = ii[r], jj[r], w[r, None], w[c]
        # the rows r = (i, j) of the four terms of the docstring, times 4 / (s_r s_c)
        T = Hk[j, c] * Hl[i, c]
        T += Hl[j, c] * Hk[i, c]
        U = Xk[j, c] * Xl[i, c]
        U += Xl[j, c] * Xk[i, c]
        U *= wc
        T -= U
        U = Zk[j, c] * Zl[i, c]
        U += Zl[j, c] * Zk[i, c]
        U *= wr
        T -= U
        U = Ak[j, c] * Bl[i, c]
        U += Al[j, c] * Bk[i, c]
        U += Bl[j, c] * Ak[i, c]
        U += Bk[j, c] * Al[i, c]
        U *= wc
        U *= 0.5 * wr
        T += U
        T *= s[c]
        T *= 0.25 * s[r, None]
        out[r, c] = T
    _add_likelihood_term(out, pc, ii, jj, s)
    _symmetrize_blocks(out)
    return out


def _add_likelihood_term(out: np.ndarray, pc: Pieces, ii, jj, s) -> None:
    """Add ``v^2 S(K^-1, a a^T)`` on the block's supervised coordinates (both ends in S) to ``out``."""
    n, idx = pc.n, pc.idx
    if not len(idx):
        return
    loc = np.flatnonzero(np.isin(ii, idx) & np.isin(jj, idx))
    if not len(loc):
        return
    # v^2 S(K^-1, a a^T) = S(v K^-1, v a a^T): v K^-1 and v a are O(1) whatever v (K = v H_SS + kappa I),
    # while v ** 2 overflows a float from v ~ 1e154 (the CLI's --v 1e308)
    Ks = np.zeros((n, n))
    Ks[np.ix_(idx, idx)] = pc.v * pc.Kinv
    Aa = np.zeros((n, n))
    Aa[np.ix_(idx, idx)] = np.outer(pc.v * pc.a, pc.a)
    i, j = ii[loc, None], jj[loc, None]
    k, l = ii[None, loc], jj[None, loc]
    Sv = Ks[j, k] * Aa[l, i] + Ks[j, l] * Aa[k, i] + Ks[i, k] * Aa[l, j] + Ks[i, l] * Aa[k, j]
    out[np.ix_(loc, loc)] += 0.25 * np.outer(s[loc], s[loc]) * Sv


def _symmetrize_blocks(out: np.ndarray) -> None:
    """The block rows hold the lower triangle and the diagonal blocks: average those, mirror the rest."""
    m = out.shape[0]
    for r0 in range(0, m, _BLOCK_ROWS):
        r = slice(r0, min(m, r0 + _BLOCK_ROWS))
        D = out[r, r]
        D += D.T.copy()
        D *= 0.5
        out[r, r0 + _BLOCK_ROWS:] = out[r0 + _BLOCK_ROWS:, r].T


# --- lowest eigenpairs ------------------------------------------------------------------
def sector_coordinates(problem: Problem, sector) -> np.ndarray | None:
    """Indices of the coordinates of a sector: None (all), "odd" or "even" (Z2 blocks)."""
    if sector is None:
        return None
    validation.choice("sector", sector, (None, "odd", "even"))
    i, j, _ = upper_triangle(problem.n)
    odd = static(problem).odd[i, j]
    return np.flatnonzero(odd if sector == "odd" else ~odd)


def _sector_size(problem: Problem, sector) -> tuple:
    """(n, dim, sel, m): kernel size, coordinates n(n+1)/2, the sector's coordinates (None: all) and their number."""
    n = problem.n
    dim = n * (n + 1) // 2
    sel = sector_coordinates(problem, sector)
    return n, dim, sel, (dim if sel is None else len(sel))


def lowest_eigenpairs(problem: Problem, H, k: int = 1, sector=None, pieces: Pieces | None = None,
                      method: str = "auto", tol: float = 1e-9, start=None):
    """The k smallest eigenvalues (ascending, shape (k,)) and eigenvectors (dim, k) of the Hessian at H.

    ``sector``: None (the whole Hessian), "odd" or "even": the principal block on
    the Z2-odd or -even coordinates of :func:`linkernel.theory.action.odd_coordinates`
    (eigenvectors are returned in full coordinates, zero outside the sector).
    ``method``: "dense" (assemble and ``eigh``), "lanczos" (``eigsh`` on the
    operator: LOBPCG preconditioned by the prior metric's inverse, eigsh as fallback;
    ``tol`` its residual tolerance) or "auto": dense when the sector has at most
    :data:`DENSE_EIG_MAX_DIM` coordinates.
    A sector with fewer than k coordinates returns what it has.
    ``start``: (dim, j) vectors in full coordinates that LOBPCG starts from (e.g. the eigenvectors
    of a nearby kernel: a continuation step moves them little, so it converges in a fraction of the
    iterations a random start needs); columns past j are random, as without it.  Ignored by the
    dense path.
    """
    k = validation.count("k", k)
    validation.choice("method", method, ("auto", "dense", "lanczos"))
    pc = Pieces(problem, H) if pieces is None else pieces
    n, dim, sel, m = _sector_size(problem, sector)
    if m == 0:
        return np.zeros(0), np.zeros((dim, 0))
    k = min(int(k), m)
    if method == "dense" or (method == "auto" and m <= DENSE_EIG_MAX_DIM) or k >= m - 1:
        Hd = dense_hessian(problem, H, pieces=pc)
        if sel is not None:
            Hd = Hd[np.ix_(sel, sel)]
        vals, vecs = np.linalg.eigh(Hd)
        vals, vecs = vals[:k], vecs[:, :k]
    else:
        X0 = None
        if start is not None:
            start = np.asarray(start, dtype=float).reshape(dim, -1)[:, :k]
            X0 = np.random.default_rng(0).normal(size=(m, k))
            X0[:, :start.shape[1]] = start if sel is None else start[sel]
        vals, vecs = _lanczos_lowest(pc, n, dim, sel, k, tol=tol, X0=X0)
    if sel is None:
        return vals, vecs
    full = np.zeros((dim, len(vals)))
    full[sel] = vecs
    return vals, full


def _sector_operator(f, n: int, dim: int, sel) -> LinearOperator:
    """A map f of symmetric n x n matrices as a LinearOperator on a sector's coordinates (all: sel None)."""
    m = dim if sel is None else len(sel)

    def apply(x):
        out = []
        for c in np.atleast_2d(x.T):          # the columns of x (one, for a vector)
            full = c.ravel() if sel is None else np.zeros(dim)
            if sel is not None:
                full[sel] = c.ravel()
            y = to_vector(f(from_vector(full, n)))
            out.append(y if sel is None else y[sel])
        return np.column_stack(out)

    return LinearOperator((m, m), matvec=apply, matmat=apply, dtype=float)


def _lobpcg_or_none(op, X0, M, tol: float, maxiter: int, Y=None):
    """(vals, vecs) of the smallest eigenpairs by LOBPCG from X0, preconditioned by M; None if it breaks down.

    ``Y``: (m, j) orthonormal vectors the search is kept orthogonal to (deflation), or None.

    Its convergence warnings are silenced: the callers check what they need
    (a sign, a residual) or fall back to eigsh.
    """
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return lobpcg(op, X0, M=M, Y=Y, largest=False, tol=tol, maxiter=maxiter)
        except (np.linalg.LinAlgError, ValueError):
            return None


def _lanczos_lowest(pc: Pieces, n: int, dim: int, sel, k: int, tol: float = 1e-9, X0=None):
    """Smallest eigenpairs of the (sector) Hessian by LOBPCG preconditioned with the prior metric's inverse.

    :meth:`Pieces.prior_metric_inverse` undoes both the KL term's H^-1 (x) H^-1
    and the temporal coupling (1 - shift), so the preconditioned operator is
    close to the identity and LOBPCG converges in tens of iterations where plain
    Lanczos ('SA') needs hundreds.  eigsh('SA') is the fallback if LOBPCG fails.
    ``tol`` is LOBPCG's residual tolerance (absolute, Frobenius coordinates); ``X0`` (m, k) its start
    (None: a fixed random block).
    """
    m = dim if sel is None else len(sel)
    op = _sector_operator(pc.hessian_vector, n, dim, sel)
    M = _sector_operator(pc.prior_metric_inverse, n, dim, sel)
    if X0 is None:
        X0 = np.random.default_rng(0).normal(size=(m, k))
    got = _lobpcg_or_none(op, X0, M, tol=tol, maxiter=500 if tol < 1e-6 else 40)
    if got is not None:
        vals, vecs = got
        order = np.argsort(vals)[:k]
        return vals[order], vecs[:, order]
    # a fixed start vector: from eigsh's random one a hard case failed in one run and not the next
    v0 = np.random.default_rng(0).normal(size=m)
    vals, vecs = eigsh(op, k=k, which="SA", tol=1e-10, v0=v0, maxiter=20 * m)
    order = np.argsort(vals)
    return vals[order], vecs[:, order]


def whitened_dense(problem: Problem, pc: Pieces, sel=None) -> np.ndarray:
    """The whitened Hessian (:meth:`Pieces.whitened_hessian_vector`) as a matrix, (m, m).

    ``sel``: a sector's coordinates (:func:`sector_coordinates`; None: all).  A
    sector block is exact only at a Z2-symmetric kernel, where the Cholesky
    factor L is Z2-even and X -> L X L^T keeps the sectors apart.
    """
    Mx = _sandwich(pc.LH, pc.LH.T, problem.n, sel)      # coordinates of X -> L X L^T
    B = Mx.T @ dense_hessian_block(problem, pc.H, sel, pieces=pc) @ Mx
    return 0.5 * (B + B.T)


def _arpack(op, k: int, v0, maxiter: int):
    """The k lowest eigenpairs by eigsh('SA', tol 1e-6) within ``maxiter`` restarts (raises ArpackNoConvergence)."""
    return eigsh(op, k=k, which="SA", tol=1e-6, v0=v0, ncv=min(op.shape[0], max(2 * k + 1, 20)), maxiter=maxiter)


def _arpack_or_none(op, k: int, v0, maxiter: int):
    """:func:`_arpack`, or None where it does not converge within ``maxiter`` restarts."""
    from scipy.sparse.linalg import ArpackNoConvergence
    try:
        return _arpack(op, k, v0, maxiter)
    except ArpackNoConvergence:
        return None


def _lobpcg_pairs(op, M, X0, tol: float, maxiter: int, Y=None):
    """(vals, orthonormal vecs, residuals in the complement of Y) by LOBPCG, or None if it breaks down."""
    got = _lobpcg_or_none(op, X0, M, tol=tol, maxiter=maxiter, Y=Y)
    if got is None:
        return None
    vals, V = np.atleast_1d(got[0]), np.linalg.qr(got[1])[0]
    R = op @ V - V * vals
    if Y is not None and Y.shape[1]:
        R -= Y @ (Y.T @ R)
    return vals, V, np.linalg.norm(R, axis=0)


def _negative_pairs(op, M, m: int, k: int, stop_above: float, found=None, tol: float = 1e-6):
    """Up to k eigenpairs below ``stop_above`` (lowest first); if fewer than two, proof that there are no more.

    Negative curvature needs no converged eigenpairs: by Courant-Fischer, j
    orthonormal vectors whose Ritz values are all below ``stop_above`` prove at
    least j eigenvalues below it.  So a loose LOBPCG block (residual 1e-4)
    comes first: at T = 32, P = 4 the symmetric saddle has 8 negative
    eigenvalues within 5e-5 of each other, which tight solves would resolve one
    by one for tens of seconds, and any k of its Ritz vectors do as
    directions (a saddle with two or more: those the block shows, without proof
    that it has no more).  Where the block shows fewer than two, the lowest pair is
    refined to residual ``tol`` and the smallest Rayleigh quotient on its
    orthogonal complement, also to ``tol``, settles the sign of the next
    eigenvalue (at T = 16, P = 4 saddles a cluster 5e-5..2e-4 sits just above
    the one negative eigenvalue: deflated against a converged eigenvector it
    takes ~30 products, against a loose one hundreds).  ``found``: (vals, vecs)
    of the lowest pair, if known (from Lanczos).  Returns (vals, vecs), or None
    where LOBPCG breaks down or misses ``tol``.
    """
    X0 = np.random.default_rng(0).normal(size=(m, k))
    if found is not None:
        X0[:, 0] = found[1][:, 0]
    got = _lobpcg_pairs(op, M, X0, tol=1e-4, maxiter=100)
    if got is None:
        return None
    neg = got[0] < stop_above
    if neg.sum() >= 2 or k == 1 and neg.sum() == 1:
        return got[0][neg], got[1][:, neg]
    vals, V = np.zeros(0), np.zeros((m, 0))
    start = got[1][:, np.argmin(got[0])][:, None]
    while len(vals) < k:           # the lowest pair, then the lowest on the complement, to tol
        got = _lobpcg_pairs(op, M, start, tol=tol, maxiter=200, Y=V if len(vals) else None)
        if got is None or got[2][0] > 10.0 * tol:
            return None
        vals, V = np.append(vals, got[0][0]), np.column_stack([V, got[1][:, 0]])
        if got[0][0] >= stop_above:
            break
        start = X0[:, len(vals):len(vals) + 1]
    return vals, V


def lowest_whitened_eigenpairs(problem: Problem, pc: Pieces, k: int = 1, sector=None, dense_max: int = 120,
                               stop_above: float | None = None):
    """Smallest eigenpairs of the whitened Hessian ``L^T d2S[L X L^T] L`` (same inertia as the Hessian).

    Well conditioned (its KL part is the identity / 2).  Returns (vals (k,),
    vecs (dim, k)) in to_vector coordinates of X; ``L X L^T`` is the
    direction in H.  ``sector`` as in :func:`lowest_eigenpairs` (the whitening
    keeps the Z2 sectors apart at a Z2-symmetric kernel, whose Cholesky factor
    is symmetric too).  Up to ``dense_max`` coordinates the matrix is
    assembled and LAPACK gives all k; above, Lanczos on a budget, then LOBPCG
    preconditioned by :meth:`Pieces.whitened_preconditioner`.  With
    ``stop_above`` (a sign test) it returns fewer: up to k below stop_above,
    not necessarily converged but proven below it (:func:`_negative_pairs`),
    then, where fewer than two are below, the lowest eigenvalue above it.
    """
    n, dim, sel, m = _sector_size(problem, sector)
    if m == 0:
        return np.zeros(0), np.zeros((dim, 0))
    k = min(k, m)
    if m <= dense_max or k >= m - 1:
        from scipy.linalg import eigh as _eigh
        vals, vecs = _eigh(whitened_dense(problem, pc, sel), subset_by_index=[0, k - 1], driver="evr")
    else:
        op = _sector_operator(pc.whitened_hessian_vector, n, dim, sel)
        v0 = np.random.default_rng(0).normal(size=m)
        # the sign is what matters: 1e-6 relative accuracy (the spectrum is O(1), its KL part 1/2).
        # Lanczos first, on a budget of three restarts (~60 products): where the low end of the spectrum
        # is spread (endpoint tasks, T = 4) it converges in ~20 products, half the cost of LOBPCG's
        # preconditioned ones; where it is crowded (T = 16, P = 4) LOBPCG takes over (_negative_pairs)
        if stop_above is None:
            got = _arpack_or_none(op, k, v0, maxiter=3)
            done = got is not None
        else:
            got = _arpack_or_none(op, 1, v0, maxiter=3)
            if got is not None and k > 1 and got[0][0] < stop_above:
                more = _arpack_or_none(op, k, got[1][:, 0], maxiter=3)
                got = got if more is None else more
            done = got is not None and (len(got[0]) == k or float(got[0].max()) >= stop_above)
        if not done:
            M = _sector_operator(pc.whitened_preconditioner, n, dim, sel)
            if stop_above is None:
                got = _lobpcg_pairs(op, M, np.random.default_rng(0).normal(size=(m, k)), tol=1e-6, maxiter=200)
                got = None if got is None or got[2].max() > 1e-5 else got[:2]
            else:
                got = _negative_pairs(op, M, m, k, stop_above, found=got)
        if got is None:
            got = _arpack(op, k, v0, maxiter=50 * m)
        vals, vecs = got
        order = np.argsort(vals)
        vals, vecs = vals[order], vecs[:, order]
    if sel is None:
        return vals, vecs
    full = np.zeros((dim, len(vals)))
    full[sel] = vecs
    return vals, full

"""The certificate of a minimum: a small whitened residual and positive curvature beyond its rounding error.

A stationary point H of S is called a minimum only when

1. its whitened residual ``|L^T (dS/dH) L|_F`` (H = L L^T) is below the
   caller's tolerance (dimensionless: invariant under rescaling H), and
2. the smallest eigenvalue ``mu`` of the pencil (Hessian, M) is positive
   beyond its error bound, M the prior metric
   ((1 - shift)* (H^-1 (x) H^-1)/2 (1 - shift),
   :meth:`linkernel.theory.action.Pieces.prior_metric_inverse`).

M is positive definite, so by Sylvester's law of inertia the pencil has the
same inertia as the Hessian (and as the whitened Hessian): the sign of ``mu``
is the sign the minimum needs.  Unlike the Hessian's eigenvalues in
Frobenius coordinates (condition 1e12-1e58 at nearly singular or graded
kernels, where a true eigenvalue of 1e-40 comes out of LAPACK as -2.5e-18),
the pencil's eigenvalues are independent of the coordinates and O(1): at
the prior kernel (Sigma(H) = H) M *is* the KL term's Hessian and mu = 1 +
the likelihood's curvature.

``mu`` comes from Lanczos on the pencil in the M^-1 inner product
(:func:`pencil_lowest`; one Hessian-vector product and one application of
M^-1 per step, full reorthogonalisation, ~10-30 steps since M^-1 B is close
to the identity), or, up to :data:`DENSE_CERTIFICATE_MAX_DIM` coordinates
(per Z2 sector), from the assembled matrices by LAPACK.  Its error bound is
the Lanczos residual ``|B x - theta M x|_{M^-1}`` (an eigenvalue lies within
it of theta) plus the rounding of the products,
``ROUNDING_FACTOR * n * eps * max(1, |mu_max|)`` (the products sum n terms
of size up to the largest eigenvalue's).  Verdicts (:class:`Certificate`):

``"minimum"``         residual below tol and mu > error
``"degenerate"``      residual below tol and |mu| <= error: zero within rounding; not called a minimum
``"saddle"``          mu < -error (the directions of negative curvature are kept for leaving it)
``"not stationary"``  no negative curvature, but the residual is above tol

At a Z2-symmetric kernel the Hessian and M are block diagonal in the odd
and even sectors; each sector is certified apart (a saddle can be unstable in
either, and the direction to leave it along should be of one parity).
Lanczos from a random start can in principle miss the lowest eigenvalue of a
large pencil (if the start is orthogonal to its eigenvector); the start is a
fixed pseudo-random matrix, so the result is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.problem import Problem
from linkernel.theory.action import (Pieces, frobenius as frobenius_inner, frobenius_norm, from_vector,
                                     static, to_vector, upper_triangle)
from linkernel.threads import one_thread

#: per sector, assemble the whitened Hessian and preconditioner and take the pencil's eigenvalues by
#: LAPACK up to this many coordinates (dim = n(n+1)/2); Lanczos above.
DENSE_CERTIFICATE_MAX_DIM = 66
#: Lanczos steps at most per sector (the pencil is close to the identity: 10-30 are typical).
LANCZOS_MAXITER = 120
#: Lanczos runs on dH (Frobenius coordinates, 9 n x n products a step against 15) while
#: cond_2(H) <= this (:attr:`Pieces.condition_bound`, an upper bound; its products round like
#: eps cond(H)^2 ~ 2e-8), then the Ritz vectors are
#: re-evaluated in whitened coordinates (:func:`_whitened_ritz`), which the verdict rests on.
FROBENIUS_MAX_COND = 1e4
#: the rounding error of the pencil's eigenvalue is estimated as ROUNDING_FACTOR * n * eps * max(1, |mu_max|).
ROUNDING_FACTOR = 64.0
_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True, eq=False)
class Certificate:
    """The evidence that a point is (or is not) a minimum: residual, lowest pencil eigenvalue, its error.

    ``status``: "minimum", "degenerate", "saddle" or "not stationary" (module
    docstring).  ``lowest``: the smallest eigenvalue of the pencil
    (Hessian, M) over the sectors; ``error``: its error bound;
    ``by_sector``: {sector: (lowest, error)} (sector None, "odd" or "even");
    ``directions``: (mu, dH, sector) of negative curvature, lowest first, dH a
    direction in H (not serialised); ``products``: Hessian-vector products spent.
    """

    status: str
    whitened_residual: float
    tol: float
    lowest: float
    error: float
    by_sector: dict = field(default_factory=dict)
    directions: tuple = ()
    products: int = 0
    method: str = ""

    @property
    def is_minimum(self) -> bool:
        return self.status == "minimum"

    @property
    def evidence(self) -> str:
        """One line: the residual and the curvature against its error, per sector."""
        parts = [f"{'all' if s is None else s}: mu = {v:.3e} +- {e:.1e}" for s, (v, e) in self.by_sector.items()]
        return (f"{self.status}: whitened residual {self.whitened_residual:.1e} (tol {self.tol:.0e}); "
                f"lowest eigenvalue of the pencil (Hessian, prior metric) " + "; ".join(parts)
                + f" [{self.method}]")

    def to_dict(self) -> dict:
        return {"status": self.status, "whitened_residual": self.whitened_residual, "tol": self.tol,
                "lowest": self.lowest, "error": self.error, "products": self.products, "method": self.method,
                "by_sector": {str(k): list(v) for k, v in self.by_sector.items()}}


def _sector_mask(problem, sector):
    """(n, n) float mask of the whitened coordinates of a sector (None: all)."""
    if sector is None:
        return None
    odd = static(problem).odd
    return (odd if sector == "odd" else ~odd).astype(float)


def _dense_pencil(problem, pc: Pieces, sector, k: int):
    """(eigenvalues ascending, eigenvectors X (n, n) list) of the pencil on a sector, assembled densely."""
    from scipy.linalg import eigh
    from linkernel.theory.hessian import sector_coordinates, whitened_dense
    n = problem.n
    sel = sector_coordinates(problem, sector)
    dim = n * (n + 1) // 2
    idx = np.arange(dim) if sel is None else sel
    Bw = whitened_dense(problem, pc, sel)
    Mi = np.empty((len(idx), len(idx)))
    e = np.zeros(dim)
    for c, j in enumerate(idx):
        e[j] = 1.0
        Mi[:, c] = to_vector(pc.whitened_preconditioner(from_vector(e, n)))[idx]
        e[j] = 0.0
    Mi = 0.5 * (Mi + Mi.T)
    C = np.linalg.cholesky(Mi)
    vals, W = eigh(C.T @ Bw @ C)
    V = C @ W                                   # pencil eigenvectors, M-normalised
    out = []
    for j in range(min(k, len(vals))):
        full = np.zeros(dim)
        full[idx] = V[:, j]
        out.append(from_vector(full, n))
    return vals, out


def _packing(problem, sector):
    """(i, j, s): the Frobenius-orthonormal coordinates of a sector (None: all), ``c -> s_c X[i_c, j_c]``.

    The upper triangle (i <= j) of the sector's entries, ``s = 1`` on the diagonal and sqrt(2) off it
    (:func:`linkernel.theory.action.upper_triangle`), so that the Euclidean product of two packed
    symmetric matrices is their Frobenius product.
    """
    i, j, s = upper_triangle(problem.n)
    if sector is None:
        return i, j, s
    odd = static(problem).odd[i, j]
    keep = odd if sector == "odd" else ~odd
    return i[keep], j[keep], s[keep]


def pencil_lowest(problem: Problem, pc: Pieces, sector=None, k: int = 1, tol: float = 1e-8,
                  maxiter: int = LANCZOS_MAXITER, frobenius: bool = False):
    """Lowest eigenpairs of the pencil (Hessian, M) on a sector by M^-1-Lanczos.

    Returns (thetas (k,), Xs (list of n x n directions), residual bounds (k,), theta_max, steps, Ys)
    with Ys = M Xs (the dual vectors).  Coordinates: whitened (X, ``pc.whitened_*``) or, with
    ``frobenius``, dH itself (:meth:`Pieces.hessian_vector`, :meth:`Pieces.prior_metric_inverse`:
    9 n x n products a step against 15; the pencil and its eigenvalues are the same, congruent).
    Lanczos in the M inner product needs only M^-1: the dual vectors y = M v are
    carried along (y_{j+1} = r / beta, v_{j+1} = M^-1 r / beta), with full
    reorthogonalisation (classical Gram-Schmidt twice, as two matrix products).  Stops when the k
    lowest Ritz values have residual bounds below ``tol * max(1, |theta|)`` or after ``maxiter`` steps.
    """
    from scipy.linalg import eigh_tridiagonal
    n = problem.n
    # The Lanczos vectors are kept packed (:func:`_packing`: the sector's upper triangle, a quarter of
    # the n x n entries in a sector), and the bookkeeping runs on one BLAS thread: at n = 610 the
    # reorthogonalisation over full n x n rows, the dot products and eigh of the tridiagonal matrix on
    # two threads of a busy machine (eigh of 100 x 100: 0.2 s against 2 ms on one thread) cost more
    # than the Hessian products of a step (issue 29, all digits at T = 10).
    ii, jj, sc = _packing(problem, sector)

    def pack(X):
        return sc * X[ii, jj]

    def unpack(x):
        X = np.zeros((n, n))
        X[ii, jj] = x / sc
        X[jj, ii] = x / sc
        return X

    hv, pm = ((pc.hessian_vector, pc.prior_metric_inverse) if frobenius else
              (pc.whitened_hessian_vector, pc.whitened_preconditioner))
    rng = np.random.default_rng(12345)
    A = rng.normal(size=(n, n))
    dim = len(sc)
    maxiter = min(maxiter, dim)
    y = pack(0.5 * (A + A.T))
    v = pack(pm(unpack(y)))
    cap = min(maxiter + 1, 32)                # grown by doubling
    V = np.empty((cap, dim))
    Y = np.empty((cap, dim))
    with one_thread(n):
        b = np.sqrt(max(float(y @ v), 1e-300))
        V[0], Y[0] = v / b, y / b
    alpha, beta = [], []
    steps = 0
    thetas = S = None
    for j in range(maxiter):
        w = pack(hv(unpack(V[j])))
        steps += 1
        with one_thread(n):
            a = float(V[j] @ w)
            alpha.append(a)
            w = w - a * Y[j]
            if j:
                w = w - beta[-1] * Y[j - 1]
            for _ in range(2):                   # full reorthogonalisation in the M inner product
                w -= (V[:j + 1] @ w) @ Y[:j + 1]
        s = pack(pm(unpack(w)))
        with one_thread(n):
            bb = float(w @ s)
            b = np.sqrt(max(bb, 0.0))
            thetas, S = eigh_tridiagonal(np.array(alpha), np.array(beta))
        kk = min(k, len(thetas))
        res = b * np.abs(S[-1, :kk])
        if (j + 1 >= min(k + 2, maxiter) and np.all(res <= tol * np.maximum(1.0, np.abs(thetas[:kk])))) \
                or b <= 1e-14 * max(1.0, abs(thetas[-1])):
            break
        beta.append(b)
        if j + 1 == len(V):
            V = np.concatenate([V, np.empty_like(V)])
            Y = np.concatenate([Y, np.empty_like(Y)])
        V[j + 1], Y[j + 1] = s / b, w / b
    kk = min(k, len(thetas))
    m = len(alpha)
    Xs = [unpack(S[:, c] @ V[:m]) for c in range(kk)]
    Ys = [unpack(S[:, c] @ Y[:m]) for c in range(kk)]
    res = b * np.abs(S[-1, :kk])
    return thetas[:kk], Xs, res, float(thetas[-1]), steps, Ys


def _whitened_ritz(problem: Problem, pc: Pieces, sector, Y):
    """(theta, residual bound, whitened X) of the dual vector Y = M X (Frobenius) re-evaluated in whitened coordinates.

    x = M_w^-1 y_w (y_w = L^T Y L), theta = <x, B_w x> / <x, y_w> and the bound
    |B_w x - theta y_w|_{M_w^-1} / |x|_{M_w}: an eigenvalue of the pencil lies within it of theta
    (exact for any x); the products are the whitened ones, whose rounding the certificate's
    rounding term covers.  Three products (two M_w^-1, one B_w).
    """
    mask = _sector_mask(problem, sector)
    proj = (lambda X: X) if mask is None else (lambda X: X * mask)
    L = pc.LH
    yw = proj(L.T @ Y @ L)
    yw = 0.5 * (yw + yw.T)
    x = proj(pc.whitened_preconditioner(yw))
    bx = proj(pc.whitened_hessian_vector(x))
    xy = frobenius_inner(x, yw)
    theta = frobenius_inner(x, bx) / xy
    r = bx - theta * yw
    res = np.sqrt(max(frobenius_inner(r, proj(pc.whitened_preconditioner(r))), 0.0) / xy)
    return theta, float(res), x


def certify(problem: Problem, H, tol: float = 1e-13, pc: Pieces | None = None, k: int = 1,
            sectors=None, dense_max: int = DENSE_CERTIFICATE_MAX_DIM, whitened_residual: float | None = None
            ) -> Certificate:
    """The :class:`Certificate` of H (module docstring): residual, lowest pencil eigenvalue(s), verdict.

    ``k``: how many negative directions to keep per sector (for leaving a
    saddle).  ``sectors``: None (the odd and even sectors apart at a
    Z2-symmetric kernel, else the whole space) or a tuple of sectors.
    ``whitened_residual``: if known (a 50-digit polish), used instead of the
    float64 one.
    """
    from linkernel.theory.curvature import is_symmetric_point
    pc = Pieces(problem, H) if pc is None else pc
    n = problem.n
    if whitened_residual is None:
        whitened_residual = frobenius_norm(pc.LH.T @ pc.gradient() @ pc.LH)
    if sectors is None:
        sectors = ("odd", "even") if is_symmetric_point(problem, pc.H) else (None,)
    by_sector, dirs = {}, []
    products = 0
    frobenius_coordinates = pc.condition_bound <= FROBENIUS_MAX_COND
    methods = set()
    for sector in sectors:
        from linkernel.theory.hessian import sector_coordinates
        sel = sector_coordinates(problem, sector)
        m = n * (n + 1) // 2 if sel is None else len(sel)
        if m == 0:
            continue
        if m <= dense_max:
            vals, Xs = _dense_pencil(problem, pc, sector, k)
            res = np.zeros(len(Xs))
            top = float(vals[-1])
            vals = vals[:len(Xs)]
            methods.add("dense pencil (LAPACK)")
            products += m
        elif frobenius_coordinates:     # Lanczos on dH (cheaper products), each Ritz vector re-evaluated whitened
            vals, _, res, top, steps, Ys = pencil_lowest(problem, pc, sector, k=k, frobenius=True)
            got = [_whitened_ritz(problem, pc, sector, Yc) for Yc in Ys]
            vals = np.array([g[0] for g in got])
            res = np.maximum(np.array([g[1] for g in got]), res)
            Xs = [g[2] for g in got]
            products += steps + len(Ys)
            methods.add("M^-1-Lanczos on the pencil, Ritz vectors checked in whitened coordinates")
        else:
            vals, Xs, res, top, steps, _ = pencil_lowest(problem, pc, sector, k=k)
            products += steps
            methods.add("M^-1-Lanczos on the pencil")
        err = res + ROUNDING_FACTOR * n * _EPS * max(1.0, abs(top))
        by_sector[sector] = (float(vals[0]), float(err[0]))
        for j in range(len(vals)):
            if vals[j] < -err[j]:
                X = Xs[j]
                dirs.append((float(vals[j]), pc.LH @ X @ pc.LH.T, sector))
    lowest_sector = min(by_sector, key=lambda s: by_sector[s][0])
    lowest, error = by_sector[lowest_sector]
    if any(v < -e for v, e in by_sector.values()):
        status = "saddle"
    elif whitened_residual > tol:
        status = "not stationary"
    elif any(abs(v) <= e for v, e in by_sector.values()):
        status = "degenerate"
    else:
        status = "minimum"
    dirs.sort(key=lambda d: d[0])
    return Certificate(status=status, whitened_residual=float(whitened_residual), tol=float(tol),
                       lowest=float(lowest), error=float(error), by_sector=by_sector, directions=tuple(dirs),
                       products=int(products), method=", ".join(sorted(methods)))

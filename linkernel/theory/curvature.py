"""The curvature of S at a stationary point: the sign tests and the reported Hessian spectrum.

A stationary point of S is a minimum when the Hessian has no negative
eigenvalue.  The sign is read from the *whitened* Hessian
``X -> L^T d2S[L X L^T] L`` (H = L L^T): congruent to the Hessian, so it has
the same inertia (Sylvester), but its KL part is the identity / 2, so it is
well conditioned where the Hessian in Frobenius coordinates has condition
1e12-1e17.  A whitened eigenvalue below ``-NEG_TOL`` is negative curvature.

At a Z2-symmetric kernel (every odd entry zero) the Hessian is block
diagonal in the Z2-odd and -even coordinates, and a saddle can be unstable in
either, so the two sectors are tested apart (:func:`negative_directions`).

The eigenvalues a :class:`~linkernel.theory.saddle.SaddlePoint` reports are
those of the Hessian in Frobenius-orthonormal coordinates
(:func:`reported_spectrum`): the whole spectrum up to
:data:`linkernel.theory.hessian.DENSE_EIG_MAX_DIM` coordinates, the few
smallest and the largest above.
"""

from __future__ import annotations

import numpy as np

from linkernel.problem import Problem
from linkernel.theory.action import Pieces, from_vector, static
from linkernel.theory.hessian import (DENSE_EIG_MAX_DIM, dense_hessian, hessian_operator, lowest_eigenpairs,
                                      lowest_whitened_eigenpairs)

#: a whitened Hessian eigenvalue below -NEG_TOL is negative curvature (the KL part alone is 1/2).
NEG_TOL = 1e-8
#: the sign tests assemble the whitened Hessian (of a sector, at a Z2-symmetric kernel) up to this
#: many coordinates and take its lowest eigenpairs by LAPACK; Lanczos/LOBPCG above.  At T = 8, P = 4
#: (sectors of 256 and 272) a sector costs 16 ms dense against ~45 ms by Lanczos, and dense also
#: resolves the degenerate pairs that Lanczos returns once; at T = 16, P = 4 (1024, 1056) dense
#: costs ~0.35 s, no less than Lanczos (benchmarks/sign_tests.py).
DENSE_SIGN_MAX_DIM = 600


def scale(H) -> float:
    """max(1, max |H_ij|): the size against which residuals and zero tests of H are relative."""
    return max(1.0, float(np.abs(H).max()))


def largest_eigenvalue(problem: Problem, pc: Pieces) -> float:
    """The largest Hessian eigenvalue (Frobenius coordinates) by Lanczos, to 1e-3 relative (a fixed start vector)."""
    from scipy.sparse.linalg import eigsh
    op = hessian_operator(problem, pc.H, pieces=pc)
    v0 = np.random.default_rng(0).normal(size=op.shape[0])
    return float(eigsh(op, k=1, which="LA", tol=1e-3, v0=v0, return_eigenvectors=False)[0])


#: above this cond_F(H) = |H|_F |H^-1|_F the Frobenius Hessian's spectrum spans more than Lanczos resolves
#: (eps cond^2 > 1e-4: T = 30, w = 1e-3 has cond 1e87 and ARPACK did not converge, from a random start):
#: the spectrum is taken from the whitened Hessian's inverse (:func:`_inverse_spectrum`) up to
#: INVERSE_SPECTRUM_MAX_DIM coordinates.
GRADED_COND = 1e6
INVERSE_SPECTRUM_MAX_DIM = 3000


def reported_spectrum(problem: Problem, H, k: int = 4, pc: Pieces | None = None, tol: float = 1e-9):
    """(the Hessian eigenvalues reported in SaddlePoint, smallest, largest) at H, Frobenius coordinates.

    Up to DENSE_EIG_MAX_DIM coordinates the whole spectrum, ascending; above,
    the k smallest (residual tolerance ``tol``) followed by the largest.  At a
    graded kernel (cond_F(H) > GRADED_COND) at a minimum, from the inverse
    (:func:`_inverse_spectrum`, relative accuracy); eigenvalues beyond float64
    come out as inf.  Deterministic (fixed start vectors).
    """
    n = problem.n
    pc = Pieces(problem, H) if pc is None else pc
    dim = n * (n + 1) // 2
    graded = float(np.linalg.norm(pc.H) * np.linalg.norm(pc.Hinv)) > GRADED_COND
    if graded and dim <= INVERSE_SPECTRUM_MAX_DIM:
        ev = _inverse_spectrum(problem, pc)
        if ev is not None:
            out = ev if dim <= DENSE_EIG_MAX_DIM else np.append(ev[:k], ev[-1])
            return out, ev[0], ev[-1]
    if dim <= DENSE_EIG_MAX_DIM:
        ev = _graded_spectrum(problem, pc, np.linalg.eigvalsh(dense_hessian(problem, H, pieces=pc)))
        return ev, ev[0], ev[-1]
    low, _ = lowest_eigenpairs(problem, H, k=k, pieces=pc, tol=tol)
    top = largest_eigenvalue(problem, pc)
    return np.append(low, top), low[0], top


def _inverse_spectrum(problem: Problem, pc: Pieces):
    """Every eigenvalue of the Frobenius-coordinate Hessian F, ascending, from F^-1 = G G^T; None unless B is PD.

    G = Mx C^-T (B = C C^T the whitened Hessian, Mx the coordinates of X -> L X L^T):
    lambda_i(F) = 1 / sigma_i(G)^2, each to relative accuracy, where F itself
    (entries ~ 1/H^2) may not even be representable; a sigma below 1e-154 gives inf.
    """
    from scipy.linalg import solve_triangular
    from linkernel.theory.hessian import _sandwich, whitened_dense
    try:
        C = np.linalg.cholesky(whitened_dense(problem, pc))
    except np.linalg.LinAlgError:
        return None
    Mx = _sandwich(pc.LH, pc.LH.T, problem.n)
    G = solve_triangular(C, Mx.T, lower=True).T
    sv = np.linalg.svd(G, compute_uv=False)
    with np.errstate(over="ignore", divide="ignore"):
        return np.sort(1.0 / sv ** 2)


def _graded_spectrum(problem: Problem, pc: Pieces, ev: np.ndarray) -> np.ndarray:
    """The dense Frobenius spectrum ``ev`` with its low end recomputed from the inverse where that is more accurate.

    LAPACK gives every eigenvalue of the Frobenius-coordinate Hessian F to an
    absolute error ~eps |F|, so where F is graded (a kernel with eigenvalues
    from 1 to 1e19, T = 20, w = 10: F's spectrum spans 1e-40..1) its small
    eigenvalues are rounding noise, -2.5e-18 for a true 1e-40.  Where the
    whitened Hessian B is positive definite (congruent to F, well conditioned),
    F^-1 = Mx B^-1 Mx^T (Mx: the coordinates of X -> L X L^T, H = L L^T) has
    those as its *largest* eigenvalues, which LAPACK gives to relative accuracy:
    lambda_i = 1 / sigma_i(Mx C^-T)^2 (B = C C^T).  Eigenvalue i is taken from
    the inverse where that bound is the smaller one, i.e. below the geometric mean
    of F's largest and smallest eigenvalue (relative errors eps lambda_max / lambda
    and eps lambda / lambda_min).  Unchanged where B is not positive definite or
    the spectrum is not graded.
    """
    eps = np.finfo(float).eps
    if ev[0] > 1e3 * eps * len(ev) * abs(ev[-1]):
        return ev                                   # well resolved already
    from scipy.linalg import solve_triangular
    from linkernel.theory.hessian import _sandwich, whitened_dense
    try:
        C = np.linalg.cholesky(whitened_dense(problem, pc))
    except np.linalg.LinAlgError:
        return ev                                   # not a minimum: nothing to refine
    Mx = _sandwich(pc.LH, pc.LH.T, problem.n)
    G = solve_triangular(C, Mx.T, lower=True).T     # Mx C^-T
    sv = np.linalg.svd(G, compute_uv=False)
    inv = np.sort(1.0 / sv ** 2)
    use = inv ** 2 < inv[0] * ev[-1]
    out = ev.copy()
    out[use] = inv[use]
    return np.sort(out)


def condition_estimate(problem: Problem, pc: Pieces) -> float:
    """Condition number of the Hessian in Frobenius coordinates (dense for small n, else of H^-1 (x) H^-1)."""
    n = problem.n
    if n * (n + 1) // 2 <= DENSE_EIG_MAX_DIM:
        ev = np.abs(np.linalg.eigvalsh(dense_hessian(problem, pc.H, pieces=pc)))
        return float(ev.max() / max(ev.min(), 1e-300))
    return float(np.linalg.cond(pc.H) ** 2)


def is_symmetric_point(problem: Problem, H) -> bool:
    """Whether H lies on the Z2-symmetric set (every odd entry zero), where the Hessian splits into sectors."""
    odd = static(problem).odd
    return bool(odd.any()) and float(np.abs(H[odd]).max()) <= 1e-9 * scale(H)


def negative_directions(problem: Problem, H, pc: Pieces | None = None, k: int = 1) -> list:
    """(whitened eigenvalue, direction dH, sector) of negative curvature at H, up to k per sector.

    The sign test uses the whitened Hessian (module docstring); at a
    Z2-symmetric kernel the odd and even sectors are tested apart, since a
    saddle can be unstable in either.  Lowest eigenvalue first within each
    sector; ``sector`` is "odd", "even" or None (not a symmetric point).
    """
    pc = Pieces(problem, H) if pc is None else pc
    sectors = ("odd", "even") if is_symmetric_point(problem, H) else (None,)
    out = []
    for sector in sectors:
        # dense: the k lowest at once (the same cost for any k); matrix-free: only the negative ones
        vals, vecs = lowest_whitened_eigenpairs(problem, pc, k, sector, dense_max=DENSE_SIGN_MAX_DIM,
                                                stop_above=-NEG_TOL)
        for j in range(len(vals)):
            if vals[j] < -NEG_TOL:
                X = from_vector(vecs[:, j], problem.n)
                out.append((float(vals[j]), pc.LH @ X @ pc.LH.T, sector))
    return out

"""The quartic Landau coefficient at a Z2 branch point, from Hessian-vector products of the equations.

Along the odd null vector ``phi`` (unit, to_vector coordinates) of a branch point (x_c, lambda_c),
with the even modes solved out to second order in the amplitude s,

    S(x_c + s phi + O(s^2)) - S(x_c) = b_s s^4 + O(s^6),   b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8,

``c = D^3S[phi, phi, .]`` on the even coordinates and ``A_ee`` the even block of the Hessian.
b_s > 0: a supercritical pitchfork (second order); b_s < 0: subcritical (first order); b_s = 0:
tricritical.  Used by :func:`~linkernel.theory.continuation.tracing.trace` (the order at each branch
point) and the phase diagram (:func:`linkernel.theory.phase_diagram.augmented.landau_quartic`).

Where k > 1 odd modes phi_1..phi_k go critical together (a weight-sharing pattern whose odd blocks of
several characters turn singular at the same lambda), the reduced (Lyapunov-Schmidt) equation on the
null space, s the amplitudes and delta = lambda - lambda_c, is

    g_i(s, delta) = delta (B s)_i + C_ijl s_j s_l / 2 + O(|s|^3, delta^2 |s|),

``B = d(Phi^T A Phi)/dlambda`` along the symmetric branch (:func:`reduced_linear`) and
``C_ijl = D^3S[phi_i, phi_j, phi_l]`` (:func:`reduced_quadratic`; the range modes enter at O(s^2) and
first change the reduced potential at O(s^4)).  The symmetry allows C_ijl != 0 only where the modes'
characters multiply to the identity (a cubic invariant): then the broken branches leave transcritically
and the transition is first order.  Without one the order is the sign of the quartic form
(:func:`quartic_form`, the range modes, odd ones included, solved out).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lu_factor, lu_solve

from linkernel.numerics import richardson
from linkernel.theory.action import from_vector
from linkernel.theory.equations import Equations


def quartic_terms(eq: Equations, x, lam, phi, Hd, levels: int = 4, solve=None) -> tuple:
    """(b_s, D^4S[phi^4]/24, c^T A_ee^-1 c / 8) at the branch point (x, lam); NaNs where A_ee is singular.

    Both derivatives from Hessian-vector products at ``x + h phi`` (h = h0 / 2^k, k < levels,
    h0 a fifth of the kernel's smallest eigenvalue, so every point stays in the positive-definite
    cone), Richardson-extrapolated; ``Hd`` is the dense Hessian at (x, lam).  The two terms
    are the scale against which b_s = 0 (a tricritical point) is judged.  ``solve``: c -> A_ee^-1 c
    on the even coordinates (None where it fails) in place of ``Hd`` (then None), for problems too
    large for a dense Hessian (:meth:`linkernel.theory.equations.Jacobian.solve_refined`).
    """
    ev = eq.i_even
    X = np.append(x, lam)
    h0 = 0.2 * float(np.linalg.eigvalsh(from_vector(x, eq.n))[0])
    mu = float(phi @ eq.hessian_vector(X, phi))
    cs, fs = [], []
    for k in range(levels):
        h = h0 / 2 ** k
        r = eq.hessian_vector(np.append(x + h * phi, lam), phi)
        cs.append(r[ev] / h)               # odd in h: c + O(h^2)
        fs.append(2 * (phi @ r - mu) / h ** 2)   # even in h: D4 + O(h^2)
    c, D4 = richardson(cs, 4)[-1], float(richardson(fs, 4)[-1])
    try:
        y = np.linalg.solve(Hd[np.ix_(ev, ev)], c) if solve is None else solve(c)
    except np.linalg.LinAlgError:
        y = None
    if y is None:
        return math.nan, math.nan, math.nan   # the even block is singular: a fold of the symmetric branch
    cAc = float(c @ y)
    return D4 / 24 - cAc / 8, D4 / 24, cAc / 8


def _derivative_levels(x, n: int) -> float:
    """The first finite-difference step: a fifth of the kernel's smallest eigenvalue (x +- h v stays in
    the positive-definite cone for every unit v)."""
    return 0.2 * float(np.linalg.eigvalsh(from_vector(x, n))[0])


def reduced_quadratic(eq: Equations, x, lam, Phi, levels: int = 4) -> tuple:
    """(C, scale): ``C[i, j, l] = D^3S[phi_i, phi_j, phi_l]`` for the rows phi_i of ``Phi`` (k, dim), and
    the size of D^3S[phi_j, phi_l, .] over all coordinates (the scale against which C = 0 is judged).

    Central differences of Hessian-vector products along phi_j (error O(h^2), Richardson-extrapolated
    over ``levels`` halvings of h); symmetric in (j, l) by construction, 2 k(k+1)/2 levels products.
    """
    k = len(Phi)
    h0 = _derivative_levels(x, eq.n)
    C = np.zeros((k, k, k))
    scale = 0.0
    for j in range(k):
        for m in range(j, k):
            ds = []
            for lev in range(levels):
                h = h0 / 2 ** lev
                ds.append((eq.hessian_vector(np.append(x + h * Phi[j], lam), Phi[m])
                           - eq.hessian_vector(np.append(x - h * Phi[j], lam), Phi[m])) / (2 * h))
            r = richardson(ds, 4)[-1]
            scale = max(scale, float(np.linalg.norm(r)))
            C[:, j, m] = C[:, m, j] = Phi @ r
    return C, scale


def reduced_linear(eq: Equations, X, Phi, tau, levels: int = 4) -> np.ndarray:
    """B (k, k) = d(Phi A Phi^T)/dlambda along the symmetric branch, whose unit tangent at X is ``tau``
    (tau_lambda != 0): the rate at which each critical eigenvalue crosses zero (B_ii < 0: it turns
    negative with growing lambda)."""
    h0 = _derivative_levels(X[:-1], eq.n)
    ds = []
    for lev in range(levels):
        h = h0 / 2 ** lev
        r = np.array([eq.hessian_vector(X + h * tau, f) - eq.hessian_vector(X - h * tau, f) for f in Phi])
        ds.append(Phi @ r.T / (2 * h * tau[-1]))
    B = richardson(ds, 4)[-1]
    return 0.5 * (B + B.T)


def quartic_form(eq: Equations, x, lam, Phi, Hd, u, levels: int = 4, solve=None) -> tuple:
    """(b(u), its two terms' size) for the unit direction u (k,) in the span of the rows of ``Phi``.

    b(u) = D^4S[v^4]/24 - c^T A_r^+ c / 8 with v = u Phi, ``c = D^3S[v, v, .]`` on the range of the
    Hessian ``Hd`` (the null space Phi projected out, odd and even coordinates alike) and A_r^+ its
    inverse there: :func:`quartic_terms` for several modes (for k = 1 the same number).  ``solve``:
    c -> (Hd + Phi^T Phi s)^-1 c, factorised once by the caller (:func:`range_solver`) for many u.
    """
    v = np.asarray(u, dtype=float) @ Phi
    v = v / np.linalg.norm(v)
    X = np.append(x, lam)
    h0 = _derivative_levels(x, eq.n)
    mu = float(v @ eq.hessian_vector(X, v))
    cs, fs = [], []
    for lev in range(levels):     # central differences: errors in powers of h^2
        h = h0 / 2 ** lev
        rp, rm = eq.hessian_vector(np.append(x + h * v, lam), v), eq.hessian_vector(np.append(x - h * v, lam), v)
        cs.append((rp - rm) / (2 * h))
        fs.append((v @ (rp + rm) - 2 * mu) / h ** 2)
    c, D4 = richardson(cs, 4)[-1], float(richardson(fs, 4)[-1])
    c = c - Phi.T @ (Phi @ c)
    try:
        y = (solve or range_solver(Hd, Phi))(c)
    except np.linalg.LinAlgError:
        return math.nan, math.nan
    cAc = float(c @ y)
    return D4 / 24 - cAc / 8, max(abs(D4 / 24), abs(cAc / 8))


def range_solver(Hd, Phi):
    """c -> A_r^+ c for c in the range of the Hessian ``Hd`` whose null space the rows of Phi span: the
    solve with Hd + Phi^T Phi s (s = max|Hd|, which moves the null eigenvalues to s, regular)."""
    lu = lu_factor(Hd + Phi.T @ Phi * max(1.0, float(np.abs(Hd).max())), check_finite=False)
    return lambda c: lu_solve(lu, c, check_finite=False)

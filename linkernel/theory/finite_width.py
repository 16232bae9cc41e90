"""Finite-width theory: the 1/N correction to the kernel and the predictions, and the fluctuations.

This module holds the analytic pieces of the expansion (the O(1) terms R, the third and fourth
derivatives of S, the derivatives of the predictions, the Z2 phase, :func:`laplace_terms` and the
Wishart route :meth:`LaplaceTerms.kernel_correction`).  The public entry point,
:func:`linkernel.finite_n.finite_width.finite_width`, and its result
:class:`~linkernel.finite_n.finite_width.FiniteWidth` are in the finite-N layer, which also holds
the ``method="reduced"`` route (it needs the exact reduction; theory/ does not import finite_n/).

Derivation: ``derivations/finite_width.tex``.  At width N the posterior of the
kernel H (TP x TP, rows ``t*P + p``, t = 0..T-1) has the exact density, with
respect to Lebesgue measure on its independent entries,

    log p_N(H) = -N S(H) + R(H) + const,
    R(H) = -(TP + 1)/2 ln det H - 1/2 ln det(v H_SS + kappa I),

whenever the hidden states have the exact density ``prod_i N(h_i; 0, Sigma(H))``
(neurons i = 1..N given their own kernel): the ``(TP + 1)/2`` is the
Wishart volume factor ``det H^{(N - TP - 1)/2}`` of the map ``h -> H = h^T h/N``
beyond ``det H^{N/2}`` (which is in ``-N S``), the log-determinant is the
readout integrated out (``derivations/exact_reduction.tex``).  That holds for
every problem whose exact reduction (:mod:`linkernel.finite_n.reduction`) has
``K = TP`` fresh Gaussian directions: inputs at ``t = 0`` only (any sharing
pattern), or, at a step ``t >= 1`` with an input, fresh (unshared) ``W^(t)``
and ``U^(t)`` (the DNN).  For the other problems (an input at ``t >= 1``
through shared weights) the marginal of H is not of this form and the
expansion is done in the reduction's own variables instead (``method =
"reduced"``, same formulas with theta for H, see below).

Laplace expansion about the minimum H* (the ``m >= 0`` representative in a
broken phase, :func:`linkernel.problem.fix_z2_sign`, as the samplers fix the
sign per draw), in the Frobenius-orthonormal coordinates of
:func:`linkernel.theory.action.to_vector` (a linear map, so the density
changes by a constant only):

    <H>_N = H* + delta_H / N + O(N^-2),
    delta_H = A^-1 [ grad R - 1/2 S''' : A^-1 ],        A = Hess S(H*),
    N Cov(H) = A^-1 + O(1/N),

``(S''' : A^-1)_a = sum_bc S'''_abc (A^-1)_bc`` (signs: ``log p = -N S + R``;
a 1-D check is ``exp(-N x^2/2 + r x)``, mean ``r/N``).  The predictions
``f(H) = v H_{:,S} (v H_SS + kappa I)^-1 y_S`` (exact given H, so the
posterior mean prediction is ``<f(H)>_N``) are nonlinear in H:

    <f>_N = f(H*) + [ f'(delta_H) + 1/2 f'' : A^-1 ] / N,

with f' and f'' analytic.  ``S''' : A^-1`` is ``sum_k S'''(., e_k, e_k)/mu_k``
over the eigenpairs of A, each ``S'''(., e, e)`` the central difference of the
analytic Hessian-vector product (:func:`linkernel.theory.action.hessian_vector`)
along e, Richardson-extrapolated (error O(eps^4), eps = 1e-3 times the
smallest eigenvalue of H*; :attr:`~linkernel.finite_n.finite_width.FiniteWidth.third_error` is the size of the
last Richardson step, a bound on the error of the unextrapolated difference).

Where it breaks down: the expansion is in powers of ``1/(N mu)`` times the
couplings of the softest mode e_0 (eigenvalue mu_0 of A).  With the massive
modes solved out, the effective potential along e_0 is
``mu_0 phi^2/2 + g3 phi^3/6 + V4 phi^4``, ``V4 = S''''_0000/24 -
sum_{k>0} S'''_00k^2/(8 mu_k)``; the loop parameter is

    G = max( g3^2 / mu_0^3, 12 |V4| / mu_0^2 ) / N,

and the result is flagged ``valid = False`` (one :class:`~linkernel.errors.FiniteWidthWarning`)
when ``G > G_MAX``: within ``O(N^-1/2)`` of a critical point lambda_c, where
``mu_0 ~ N^-1/2``, the correction is not analytic in 1/N; use finite-size
scaling there (:mod:`linkernel.finite_n.finite_size`).

What the samplers report: :func:`linkernel.finite_n.exact.exact_posterior`
brings every draw to the representative with ``m >= 0`` before averaging.
In a broken phase this is the expansion about the m > 0 minimum (up to
exponentially small tunnelling).  On a symmetric minimum (the DNN, the RNN
below lambda_c) the Z2-odd entries have mean 0, but their sign-fixed mean is
``E[sign(m) H_ij] = sqrt(2/pi) Cov(H_ij, m) / sd(m) = O(N^-1/2)``:
:attr:`~linkernel.finite_n.finite_width.FiniteWidth.sampler_kernel` gives that (the even entries are the same
in both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from linkernel.numerics import richardson
from linkernel.problem import Problem, z2_generators, kernel_entry
from linkernel.theory.action import from_vector, hessian_vector, readout_kernel, to_vector
from linkernel.theory.hessian import hessian

#: loop parameter above which the 1/N expansion is flagged invalid
G_MAX = 0.25



# --- the O(1) terms of the exact log-density of H ------------------------------------------
def wishart_form(problem: Problem) -> bool:
    """Whether the exact density of H is ``exp(-N S(H) + R(H))`` with :func:`one_loop_terms` R.

    True when every step ``t >= 1`` that receives an input has a fresh W^(t)
    and a fresh U^(t) (its own groups): then given the past each h^t is one
    Gaussian draw, the hidden states have the density ``prod_i N(h_i; 0,
    Sigma(H))`` and the exact reduction has K = TP directions.
    """
    arch = problem.arch
    for t in range(1, problem.T):
        if np.any(problem.x[t] != 0):
            u = next(g for g in arch.U if t in g)
            if len(u) != 1 or len(arch.W[arch.w_group(t)]) != 1:
                return False
    return True


def one_loop_terms(problem: Problem, H) -> float:
    """R(H) = -(TP + 1)/2 ln det H - 1/2 ln det(v H_SS + kappa I): the O(1) part of log p_N(H)."""
    H = np.asarray(H, dtype=float)
    ld_h = np.linalg.slogdet(H)[1]
    ld_k = np.linalg.slogdet(readout_kernel(problem, H))[1]
    return float(-0.5 * (problem.n + 1) * ld_h - 0.5 * ld_k)


def one_loop_gradient(problem: Problem, H) -> np.ndarray:
    """dR/dH as the symmetric matrix G with dR = tr(G dH): ``-(TP+1)/2 H^-1 - v/2 E_S((v H_SS + kappa I)^-1)``."""
    H = np.asarray(H, dtype=float)
    G = -0.5 * (problem.n + 1) * np.linalg.inv(H)
    idx = problem.supervised_index
    G[np.ix_(idx, idx)] -= 0.5 * problem.v * np.linalg.inv(readout_kernel(problem, H))
    return 0.5 * (G + G.T)


# --- derivatives of S beyond the Hessian ----------------------------------------------------
def third_derivative(problem: Problem, H, e, eps: float | None = None) -> tuple:
    """``S'''(., e, e)`` in :func:`to_vector` coordinates, e a coordinate vector: returns (value, error estimate).

    Central difference of the analytic Hessian-vector product along e,
    Richardson-extrapolated from steps eps and eps/2 (error O(eps^4));
    default eps = 1e-3 * |e| * smallest eigenvalue of H.  The error estimate
    is |extrapolated - plain difference at eps/2|.
    """
    H = np.asarray(H, dtype=float)
    n = problem.n
    E = from_vector(np.asarray(e, dtype=float), n)
    if eps is None:
        eps = 1e-3 * np.linalg.eigvalsh(H)[0] / max(np.linalg.norm(E), 1e-300)

    def d(h):
        return to_vector(hessian_vector(problem, H + h * E, E) - hessian_vector(problem, H - h * E, E)) / (2 * h)

    d1, d2 = d(eps), d(eps / 2)
    rich = richardson([d1, d2], 4)[-1]          # error O(eps^2) -> O(eps^4)
    return rich, float(np.max(np.abs(rich - d2)))


def fourth_derivative(problem: Problem, H, e, eps: float | None = None) -> float:
    """``S''''(e, e, e, e)``: second difference of ``e . HVP(H + h e, e)`` (a diagnostic, ~1e-6 relative)."""
    H = np.asarray(H, dtype=float)
    n = problem.n
    E = from_vector(np.asarray(e, dtype=float), n)
    if eps is None:
        eps = 1e-2 * np.linalg.eigvalsh(H)[0] / max(np.linalg.norm(E), 1e-300)

    def q(h):
        return float(np.sum(E * hessian_vector(problem, H + h * E, E)))

    return (q(eps) - 2 * q(0.0) + q(-eps)) / eps ** 2


# --- the predictions and their derivatives --------------------------------------------------
def prediction_derivatives(problem: Problem, H, dirs, weights, dH):
    """f'(dH) and sum_k w_k f''(V_k, V_k) for f = v H_{:,S} K^-1 y_S, and f'(V_k) for each k.

    Returns (f'(dH) (n,), sum_k w_k f''(V_k,V_k) (n,), F (k, n) with F[k] = f'(V_k)).
    """
    v = problem.v
    idx = problem.supervised_index
    Kinv = np.linalg.inv(readout_kernel(problem, H))
    a = Kinv @ problem.y_S
    HS = H[:, idx]

    def d1(E):
        return v * E[:, idx] @ a - v ** 2 * HS @ Kinv @ E[np.ix_(idx, idx)] @ a

    def d2(E):
        Ess = E[np.ix_(idx, idx)]
        return (-2 * v ** 2 * E[:, idx] @ Kinv @ Ess @ a
                + 2 * v ** 3 * HS @ Kinv @ Ess @ Kinv @ Ess @ a)

    F = np.array([d1(V) for V in dirs])
    curv = sum(wk * d2(V) for wk, V in zip(weights, dirs))
    return d1(dH), curv, F


# --- the phase and the sign-fixed moments ----------------------------------------------------------------------------
def z2_phase(problem: Problem, H) -> str:
    """The phase: "no symmetry", "symmetric" (every sign-fixed m_g = 0), "broken" (all nonzero), "partly broken"."""
    gens = z2_generators(problem)
    if not gens:
        return "no symmetry"
    scale = np.abs(H).max()
    nonzero = [abs(float(kernel_entry(H, t, u, problem.P))) > 1e-8 * scale for _, (t, u) in gens]
    return "broken" if all(nonzero) else "symmetric" if not any(nonzero) else "partly broken"


def sign_fixed_means(problem: Problem, kernel_N, cov4, N, f_N, F, weights, dirs):
    """Mean kernel and predictions of a sampler that fixes the sign per draw, on a symmetric minimum.

    One sign convention (generator s with entry m, :func:`linkernel.problem.fix_z2_sign`): for x odd
    under s, E[sign(m) x] = sqrt(2/pi) Cov(x, m) / sd(m) at the Gaussian level (an O(N^-1/2) term);
    even x are unchanged.  None, None where several conventions combine.
    """
    gens = z2_generators(problem)
    if len(gens) != 1:
        return None, None
    s, (t, u) = gens[0]
    P, n = problem.P, problem.n
    am = np.zeros((n, n))                                  # m = sum am * H
    for p in range(P):
        am[t * P + p, u * P + p] += 0.5 / P
        am[u * P + p, t * P + p] += 0.5 / P
    cov_xm = np.einsum("ijkl,kl->ij", cov4, am)            # N Cov(H_ij, m)
    var_m = float(np.sum(cov_xm * am))
    if not var_m > 0:
        return None, None
    c = math.sqrt(2 / math.pi) / math.sqrt(N * var_m)
    K = np.array(kernel_N, dtype=float)
    odd = np.outer(s, s) < 0
    K[odd] = c * cov_xm[odd]
    # f_i(D H D) = s_i sigma f_i(H) with D_S y_S = sigma y_S: f_i is odd where s_i sigma = -1
    ys = s[problem.supervised_index] * problem.y_S
    sigma = 1.0 if np.allclose(ys, problem.y_S) else -1.0
    mk = np.array([np.sum(am * V) for V in dirs])
    cov_fm = np.einsum("k,kn,k->n", weights, F, mk)        # N Cov(f_i, m)
    f = np.array(f_N, dtype=float)
    fodd = s * sigma < 0
    f[fodd] = c * cov_fm[fodd]
    return K, f.reshape(problem.T, problem.P)




# --- the N-independent terms of the expansion about H* -----------------------------------
@dataclass(frozen=True, eq=False)
class LaplaceTerms:
    """The pieces of the 1/N expansion of ``exp(-N S(H) + R(H))`` about H* that do not depend on N.

    ``kernel`` H* (as given: the caller fixes its Z2 sign); ``mu``, ``V``: the eigenvalues (ascending)
    and eigenvectors (columns, :func:`to_vector` coordinates) of A = Hess S(H*); ``mu_safe`` ``mu``
    with the non-positive eigenvalues replaced by NaN when H* is not a minimum (the expansion is then
    undefined and its numbers say so); ``dirs`` the eigenvectors as symmetric matrices; ``third`` the
    vector ``S''' : A^-1``; ``third_error`` the size of the last Richardson step of the third
    derivatives; ``coupling`` ``N G``, the loop parameter times N (module doc: G = coupling / N).
    """

    problem: Problem
    kernel: np.ndarray
    mu: np.ndarray
    V: np.ndarray
    mu_safe: np.ndarray
    dirs: list
    third: np.ndarray
    third_error: float
    coupling: float

    def loop_parameter(self, N) -> float:
        """G at width N."""
        return float(self.coupling / N)

    def kernel_correction(self) -> tuple:
        """The Wishart route (:func:`wishart_form` problems): ``(delta_H, N Cov(H))``, the latter
        (TP, TP, TP, TP) with ``[i, j, k, l] = N Cov(H_ij, H_kl)`` at leading order."""
        problem, H, V, mu_safe = self.problem, self.kernel, self.V, self.mu_safe
        n = problem.n
        dim = n * (n + 1) // 2
        gR = to_vector(one_loop_gradient(problem, H))
        dvec = V @ ((V.T @ (gR - 0.5 * self.third)) / mu_safe)
        dH = from_vector(dvec, n)
        B = np.stack([from_vector(np.eye(dim)[a], n) for a in range(dim)], axis=-1)    # H_ij = B_ij,a vec_a
        cov4 = np.einsum("ija,ab,klb->ijkl", B, (V / mu_safe) @ V.T, B)
        return dH, cov4


def laplace_terms(problem: Problem, H) -> LaplaceTerms:
    """The Hessian of S at ``H``, ``S''' : A^-1`` and the softest mode's couplings (module doc).

    ``S''' : A^-1 = sum_k S'''(., e_k, e_k) / mu_k`` over the eigenpairs of A; the loop coupling
    ``N G = max(g3^2 / mu_0^3, 12 |V4| / mu_0^2)`` with ``g3 = S'''_000`` and
    ``V4 = S''''_0000 / 24 - sum_{k>0} S'''_00k^2 / (8 mu_k)``.
    """
    H = np.asarray(H, dtype=float)
    n = problem.n
    dim = n * (n + 1) // 2
    A = hessian(problem, H)
    mu, V = np.linalg.eigh(A)
    mu_safe = np.where(mu > 0, mu, np.nan) if mu[0] <= 0 else mu
    D3, err = [], 0.0
    for k in range(dim):
        d, e = third_derivative(problem, H, V[:, k])
        D3.append(d)
        err = max(err, e)
    D3 = np.array(D3)                                 # D3[k] = S'''(., e_k, e_k)
    contr = np.sum(D3 / mu_safe[:, None], axis=0)     # (S''' : A^-1)_a
    g3 = float(D3[0] @ V[:, 0])
    s00k = V.T @ D3[0]
    V4 = fourth_derivative(problem, H, V[:, 0]) / 24 - np.sum(s00k[1:] ** 2 / mu_safe[1:]) / 8
    coupling = max(g3 ** 2 / mu_safe[0] ** 3, 12 * abs(V4) / mu_safe[0] ** 2)
    return LaplaceTerms(problem=problem, kernel=H, mu=mu, V=V, mu_safe=mu_safe,
                        dirs=[from_vector(V[:, k], n) for k in range(dim)], third=contr, third_error=err,
                        coupling=coupling)

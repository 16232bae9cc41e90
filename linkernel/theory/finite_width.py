"""Finite-width theory: the 1/N correction to the kernel and the predictions, and the fluctuations.

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
every problem whose exact reduction (:mod:`linkernel.finite_n.exact`) has
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
smallest eigenvalue of H*; :attr:`FiniteWidth.third_error` is the size of the
last Richardson step, a bound on the error of the unextrapolated difference).

Where it breaks down: the expansion is in powers of ``1/(N mu)`` times the
couplings of the softest mode e_0 (eigenvalue mu_0 of A).  With the massive
modes solved out, the effective potential along e_0 is
``mu_0 phi^2/2 + g3 phi^3/6 + V4 phi^4``, ``V4 = S''''_0000/24 -
sum_{k>0} S'''_00k^2/(8 mu_k)``; the loop parameter is

    G = max( g3^2 / mu_0^3, 12 |V4| / mu_0^2 ) / N,

and the result is flagged ``valid = False`` (one :class:`FiniteWidthWarning`)
when ``G > G_MAX``: within ``O(N^-1/2)`` of a critical point lambda_c, where
``mu_0 ~ N^-1/2``, the correction is not analytic in 1/N; use finite-size
scaling there (:mod:`linkernel.finite_n.finite_size`).

What the samplers report: :func:`linkernel.finite_n.exact.exact_posterior`
brings every draw to the representative with ``m >= 0`` before averaging.
In a broken phase this is the expansion about the m > 0 minimum (up to
exponentially small tunnelling).  On a symmetric minimum (the DNN, the RNN
below lambda_c) the Z2-odd entries have mean 0, but their sign-fixed mean is
``E[sign(m) H_ij] = sqrt(2/pi) Cov(H_ij, m) / sd(m) = O(N^-1/2)``:
:attr:`FiniteWidth.sampler_kernel` gives that (the even entries are the same
in both).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from linkernel.errors import FiniteWidthWarning
from linkernel.formatting import format_matrix, hyper_text, task_name
from linkernel.problem import Problem, z2_generators, fix_z2_sign, kernel_entry
from linkernel.serialize import jsonable
from linkernel.theory.action import (from_vector, hessian, hessian_vector, predictions, readout_kernel,
                                     to_vector)
from linkernel.validation import count

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
    rich = (4 * d2 - d1) / 3
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
def _prediction_derivatives(problem: Problem, H, dirs, weights, dH):
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


# --- the result -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FiniteWidth:
    """The finite-width theory of one problem at width N, to O(1/N) (derivations/finite_width.tex).

    Shapes: kernels (TP, TP) with rows ``t*P + p``; predictions (T, P).

    ``saddle_kernel`` H* (the N -> infinity kernel; m >= 0 representative);
    ``correction`` delta_H, so that ``kernel_N = H* + delta_H / N`` is the
    posterior mean of H to O(1/N^2); ``covariance`` N Cov(H) at leading order,
    (TP, TP, TP, TP) with ``covariance[i, j, k, l] = N Cov(H_ij, H_kl)``;
    ``kernel_N_std`` the posterior standard deviation of each entry at width
    N, ``sqrt(covariance[i, j, i, j] / N)``.  ``predictions`` f(H*),
    ``prediction_correction`` delta_f, ``predictions_N = f* + delta_f / N``,
    ``predictions_N_std`` their posterior standard deviations (of f(H), the
    exact conditional mean).  ``sampler_kernel`` / ``sampler_predictions``:
    what a sampler that fixes the Z2 sign per draw (m >= 0) reports, to the
    same order (differs from ``kernel_N`` only in Z2-odd entries on a
    symmetric minimum, by O(N^-1/2); None where several sign conventions
    combine).  ``hessian_eigenvalues`` of S at H* (to_vector coordinates);
    ``loop_parameter`` G (module doc), ``valid`` False with a ``reason`` when
    G > G_MAX or H* is not a minimum or the expansion is otherwise not to be
    trusted; ``phase`` "broken" (expanded about the m >= 0 minimum),
    "symmetric", "partly broken" (some groups only) or "no symmetry"; ``method`` "kernel" (the density of H,
    Wishart form) or "reduced" (the reduction's variables);
    ``third_error`` the estimated error of the third derivatives.
    """

    problem: Problem
    N: int
    saddle_kernel: np.ndarray
    correction: np.ndarray
    kernel_N: np.ndarray
    kernel_N_std: np.ndarray
    covariance: np.ndarray
    predictions: np.ndarray
    prediction_correction: np.ndarray
    predictions_N: np.ndarray
    predictions_N_std: np.ndarray
    sampler_kernel: np.ndarray | None
    sampler_predictions: np.ndarray | None
    hessian_eigenvalues: np.ndarray
    loop_parameter: float
    valid: bool
    reason: str
    phase: str
    method: str
    third_error: float
    seconds: float

    @property
    def order_parameter_N(self) -> float:
        """m = H^{T-1,T-2} of ``kernel_N`` (pattern-averaged); 0.0 for T = 1."""
        pr = self.problem
        return float(kernel_entry(self.kernel_N, pr.T - 1, pr.T - 2, pr.P)) if pr.T > 1 else 0.0

    def to_dict(self) -> dict:
        """Strict JSON; the keys ``kernel_N``, ``correction``, ``kernel_N_std`` are those of ``linkernel solve --N``."""
        return jsonable({
            "problem": self.problem.to_dict(), "N": self.N, "saddle_kernel": self.saddle_kernel,
            "correction": self.correction, "kernel_N": self.kernel_N, "kernel_N_std": self.kernel_N_std,
            "covariance": self.covariance, "predictions": self.predictions,
            "prediction_correction": self.prediction_correction, "predictions_N": self.predictions_N,
            "predictions_N_std": self.predictions_N_std, "sampler_kernel": self.sampler_kernel,
            "sampler_predictions": self.sampler_predictions,
            "hessian_eigenvalues": self.hessian_eigenvalues, "loop_parameter": self.loop_parameter,
            "valid": self.valid, "reason": self.reason, "phase": self.phase, "method": self.method,
            "third_error": self.third_error, "seconds": self.seconds,
        })

    def summary(self) -> str:
        """The text ``linkernel solve --N`` prints: H_N, delta_H, the standard deviations, f_N, validity."""
        pr = self.problem
        lines = [f"{task_name(pr)} at width N={self.N}: T={pr.T} P={pr.P} "
                 f"{hyper_text(pr, ('lam', 'kappa', 'w', 'v', 'u'))}",
                 f"finite-width kernel H_N = H* + delta_H/N (rows t*P+p, t = 0..{pr.T - 1}; {self.phase} phase"
                 + (", m >= 0 minimum" if self.phase == "broken" else "") + "):",
                 format_matrix(self.kernel_N),
                 "correction delta_H = N (<H>_N - H*) + O(1/N):", format_matrix(self.correction, "{:10.4g}"),
                 "posterior standard deviation of each entry at this N:",
                 format_matrix(self.kernel_N_std, "{:10.3e}"),
                 "predictions f_N(t, p): " + " ".join(f"{f:.6g}" for f in self.predictions_N.ravel())
                 + "   (+- " + " ".join(f"{s:.2g}" for s in self.predictions_N_std.ravel()) + ")",
                 "correction delta_f: " + " ".join(f"{f:.4g}" for f in self.prediction_correction.ravel()),
                 f"loop parameter G = {self.loop_parameter:.3g} (valid below {G_MAX:g}); smallest Hessian "
                 f"eigenvalue {self.hessian_eigenvalues[0]:.4e}; method {self.method}"]
        if not self.valid:
            lines.append(f"NOT VALID: {self.reason}")
        return "\n".join(lines)

    __str__ = summary


# --- the expansion ----------------------------------------------------------------------------
def _phase(problem: Problem, H) -> str:
    """The phase: "no symmetry", "symmetric" (every sign-fixed m_g = 0), "broken" (all nonzero), "partly broken"."""
    gens = z2_generators(problem)
    if not gens:
        return "no symmetry"
    scale = np.abs(H).max()
    nonzero = [abs(float(kernel_entry(H, t, u, problem.P))) > 1e-8 * scale for _, (t, u) in gens]
    return "broken" if all(nonzero) else "symmetric" if not any(nonzero) else "partly broken"


def _sign_fixed(problem: Problem, kernel_N, cov4, N, f_N, F, weights, dirs):
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


def _richardson(d, eps):
    """(4 d(eps/2) - d(eps)) / 3 for a difference quotient d of error O(eps^2)."""
    return (4 * d(eps / 2) - d(eps)) / 3


def _reduced_expansion(problem: Problem, H, N):
    """delta_H and N Cov(H) from the exact reduction's variables theta (any problem).

    ``log p_N(theta) = N l(theta) + r(theta)`` exactly (derivations/exact_reduction.tex), with
    ``r = -sum_k k s_k - 1/2 ln det(v H_SS + kappa I)`` independent of N.  With B = -l'' at the
    mode theta*: ``delta_theta = B^-1 [r' + 1/2 l''' : B^-1]``,
    ``delta_H = J delta_theta + 1/2 H'' : B^-1``, ``N Cov(H) = J B^-1 J^T`` (J = dH/dtheta).
    B by central differences of the analytic gradient, l''' and H'' by Richardson-extrapolated
    second differences along B's eigenvectors.
    Returns (delta_H, covariance (n,n,n,n), directions V_k = J u_k, weights 1/beta_k).
    """
    from linkernel.finite_n.exact import Reduction   # the finite-N layer: only for this route

    red = Reduction(problem, N)
    theta, _ = red.mode(n_starts=6, limit=True)
    for _ in range(30):
        _, g = red.log_posterior_and_grad(theta, limit=True)
        if np.linalg.norm(g) < 1e-12:
            break
        theta = theta + np.linalg.lstsq(red.neg_hessian(theta, limit=True), g, rcond=None)[0]
    Hth = red.kernel(theta)
    d = _relative_signs(Hth, H)
    if not np.allclose(d[:, None] * Hth * d[None, :], H, rtol=1e-6, atol=1e-9 * np.abs(H).max()):
        raise _convergence_error("the mode of the exact reduction's limit is not the saddle point H*; "
                                 "pass the SaddlePoint of the global minimum, or use method='kernel'")
    B = red.neg_hessian(theta, limit=True)
    beta, U = np.linalg.eigh(B)
    red_small = Reduction(problem, red.K)                  # r is N-independent: no O(N) cancellation
    _, gK = red_small.log_posterior_and_grad(theta)
    _, gl = red_small.log_posterior_and_grad(theta, limit=True)
    r_grad = gK - red.K * gl

    def grad_l(th):
        return red.log_posterior_and_grad(th, limit=True)[1]

    g0, H0 = grad_l(theta), red.kernel(theta)
    contr = np.zeros(red.dim)
    Hcurv = np.zeros_like(H0)
    dirs = []
    for k in range(red.dim):
        u = U[:, k]
        contr += _richardson(lambda h: (grad_l(theta + h * u) - 2 * g0 + grad_l(theta - h * u)) / h ** 2,
                             2e-3) / beta[k]
        Hcurv += _richardson(lambda h: (red.kernel(theta + h * u) - 2 * H0 + red.kernel(theta - h * u)) / h ** 2,
                             2e-3) / beta[k]
        dirs.append(_richardson(lambda h: (red.kernel(theta + h * u) - red.kernel(theta - h * u)) / (2 * h), 2e-3))
    dtheta = U @ ((U.T @ (r_grad + 0.5 * contr)) / beta)
    Jd = _richardson(lambda h: (red.kernel(theta + h * dtheta) - red.kernel(theta - h * dtheta)) / (2 * h), 2e-3)
    dH = Jd + 0.5 * Hcurv
    D = np.outer(d, d)
    dirs = [D * V for V in dirs]
    cov4 = np.einsum("k,kij,kab->ijab", 1.0 / beta, np.array(dirs), np.array(dirs))
    return D * dH, cov4, dirs, 1.0 / beta


def _relative_signs(A, B):
    """d = +-1 per row with d_i d_j A_ij = B_ij on the nonzero entries (a spanning tree from row 0)."""
    n = A.shape[0]
    d = np.zeros(n)
    d[0] = 1.0
    tol = 1e-8 * np.abs(B).max()
    todo = [0]
    while todo:
        i = todo.pop()
        for j in range(n):
            if d[j] == 0 and abs(B[i, j]) > tol and abs(A[i, j]) > tol:
                d[j] = d[i] * np.sign(B[i, j] * A[i, j])
                todo.append(j)
    d[d == 0] = 1.0
    return d


def _convergence_error(msg):
    from linkernel.errors import ConvergenceError
    return ConvergenceError(msg)


def finite_width(problem_or_saddle, N, method: str | None = None, g_max: float = G_MAX) -> FiniteWidth:
    """The 1/N theory at width ``N`` for a :class:`Problem` (its saddle point is found) or a SaddlePoint.

    ``method``: "kernel" (the density of H, needs :func:`wishart_form`) or
    "reduced" (the exact reduction's variables; any problem); default: "kernel"
    where it applies.  Emits one :class:`FiniteWidthWarning` when the result
    is not valid (see :class:`FiniteWidth` ``reason``).
    """
    t0 = time.perf_counter()
    if isinstance(problem_or_saddle, Problem):
        from linkernel.theory.saddle import saddle_point
        problem = problem_or_saddle
        H = saddle_point(problem).kernel
    elif hasattr(problem_or_saddle, "kernel") and isinstance(getattr(problem_or_saddle, "problem", None), Problem):
        problem, H = problem_or_saddle.problem, np.asarray(problem_or_saddle.kernel, dtype=float)
    else:
        raise ValueError(f"problem_or_saddle={problem_or_saddle!r} is invalid; pass a Problem or a SaddlePoint")
    N = count("N", N, problem.n + 1)
    if method is None:
        method = "kernel" if wishart_form(problem) else "reduced"
    if method not in ("kernel", "reduced"):
        raise ValueError(f"method={method!r} is invalid; method must be 'kernel' or 'reduced'")
    if method == "kernel" and not wishart_form(problem):
        raise ValueError("method='kernel' is invalid for this problem: an input at t >= 1 enters through shared "
                         "weights, so the density of H is not of Wishart form; use method='reduced'")
    H = fix_z2_sign(problem, H)
    n = problem.n
    dim = n * (n + 1) // 2
    A = hessian(problem, H)
    mu, V = np.linalg.eigh(A)
    dirs = [from_vector(V[:, k], n) for k in range(dim)]
    reasons = []
    if mu[0] <= 0:
        reasons.append(f"H* is not a minimum of S (smallest Hessian eigenvalue {mu[0]:.3e} <= 0)")
        mu_safe = np.where(mu > 0, mu, np.nan)
    else:
        mu_safe = mu

    # S''' contracted with A^-1 and the softest mode's couplings
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
    G = float(max(g3 ** 2 / mu_safe[0] ** 3, 12 * abs(V4) / mu_safe[0] ** 2) / N)

    if method == "kernel":
        gR = to_vector(one_loop_gradient(problem, H))
        dvec = V @ ((V.T @ (gR - 0.5 * contr)) / mu_safe)
        dH = from_vector(dvec, n)
        B = np.stack([from_vector(np.eye(dim)[a], n) for a in range(dim)], axis=-1)    # H_ij = B_ij,a vec_a
        cov4 = np.einsum("ija,ab,klb->ijkl", B, (V / mu_safe) @ V.T, B)
        fdirs, fweights = dirs, 1.0 / mu_safe
    else:
        dH, cov4, fdirs, fweights = _reduced_expansion(problem, H, N)

    # predictions: f' along delta_H, f'' contracted with N Cov(H) = sum_k w_k V_k (x) V_k
    f1, f2, F = _prediction_derivatives(problem, H, fdirs, fweights, dH)
    f_star = predictions(problem, H).ravel()
    df = f1 + 0.5 * f2
    f_var = np.einsum("k,kn->n", fweights, F ** 2)          # N Var f_i

    kernel_N = H + dH / N
    std = np.sqrt(np.maximum(np.einsum("ijij->ij", cov4), 0.0) / N)
    phase = _phase(problem, H)
    samp_K, samp_f = None, None
    if phase == "symmetric":
        samp_K, samp_f = _sign_fixed(problem, kernel_N, cov4, N, f_star + df / N, F, fweights, fdirs)
    elif phase in ("broken", "no symmetry"):            # (partly broken: no single convention, None)
        samp_K, samp_f = kernel_N, (f_star + df / N).reshape(problem.T, problem.P)

    if G > g_max:
        reasons.append(f"loop parameter G = {G:.3g} > {g_max:g}: the softest mode (Hessian eigenvalue "
                       f"{mu[0]:.3e}) is too flat for the 1/N expansion at N={N} (within the critical window "
                       "of a transition, lambda - lambda_c = O(N^-1/2)); use finite-size scaling "
                       "(linkernel.finite_n.finite_size) instead")
    if method == "kernel" and not np.all(np.isfinite(dH)):
        reasons.append("the correction is not finite")
    valid = not reasons
    reason = "; ".join(reasons) if reasons else ""
    if not valid:
        warnings.warn(f"finite_width at N={N}: {reason}", FiniteWidthWarning, stacklevel=2)
    T, P = problem.T, problem.P
    return FiniteWidth(
        problem=problem, N=N, saddle_kernel=H, correction=dH, kernel_N=kernel_N, kernel_N_std=std,
        covariance=cov4, predictions=f_star.reshape(T, P), prediction_correction=df.reshape(T, P),
        predictions_N=(f_star + df / N).reshape(T, P), predictions_N_std=np.sqrt(f_var / N).reshape(T, P),
        sampler_kernel=samp_K, sampler_predictions=samp_f, hessian_eigenvalues=mu, loop_parameter=G,
        valid=valid, reason=reason, phase=phase, method=method, third_error=err,
        seconds=time.perf_counter() - t0)

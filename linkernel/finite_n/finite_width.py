"""The finite-width theory of one problem at width N, to O(1/N): :func:`finite_width` and its result.

The formulas are those of :mod:`linkernel.theory.finite_width` (derivations/finite_width.tex):
``<H>_N = H* + delta_H / N``, ``N Cov(H) = A^-1``, ``<f>_N = f(H*) + delta_f / N``, the loop
parameter G that says where the expansion holds.  Two routes give delta_H and the covariance:

* ``method="kernel"``: the density of H itself, ``exp(-N S(H) + R(H))``, where it is of that
  Wishart form (:func:`~linkernel.theory.finite_width.wishart_form`); all of it lives in theory/
  (:func:`~linkernel.theory.finite_width.laplace_terms`).
* ``method="reduced"``: the same expansion in the variables theta of the exact rotation-invariant
  reduction (:class:`~linkernel.finite_n.reduction.Reduction`), valid for every problem; it needs the
  finite-N layer, hence this module's place (theory/ does not import finite_n/).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from linkernel.display import Display, kernel_lines
from linkernel.errors import ConvergenceError, FiniteWidthWarning
from linkernel.finite_n.reduction import Reduction
from linkernel.formatting import hyper_text, task_name
from linkernel.numerics import richardson
from linkernel.problem import Problem, fix_z2_sign, kernel_entry
from linkernel.serialize import jsonable
from linkernel.theory.action import predictions
from linkernel.theory.finite_width import (G_MAX, laplace_terms, prediction_derivatives, sign_fixed_means,
                                           wishart_form, z2_phase)
from linkernel.threads import entry_point
from linkernel.validation import choice, count, positive

if TYPE_CHECKING:       # only for annotations (strings under ``from __future__ import annotations``)
    from linkernel.theory.saddle import SaddlePoint


# --- the result -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FiniteWidth(Display):
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

    Attributes
    ----------
    problem : Problem
        The problem.
    N : int
        The width.
    saddle_kernel : numpy.ndarray, shape (T*P, T*P)
        H*, the N -> infinity kernel (m >= 0 representative).
    correction : numpy.ndarray, shape (T*P, T*P)
        delta_H: ``kernel_N = H* + delta_H / N``.
    kernel_N : numpy.ndarray, shape (T*P, T*P)
        The posterior mean of H to O(1/N^2).
    kernel_N_std : numpy.ndarray, shape (T*P, T*P)
        Posterior standard deviation of each entry at width N.
    covariance : numpy.ndarray, shape (T*P, T*P, T*P, T*P)
        ``covariance[i, j, k, l] = N Cov(H_ij, H_kl)`` at leading order.
    predictions : numpy.ndarray, shape (T, P)
        ``f(H*)``, the infinite-width posterior-mean outputs.
    prediction_correction : numpy.ndarray, shape (T, P)
        delta_f: ``predictions_N = f* + delta_f / N``.
    predictions_N : numpy.ndarray, shape (T, P)
        Posterior-mean outputs at width N, to O(1/N^2).
    predictions_N_std : numpy.ndarray, shape (T, P)
        Their posterior standard deviations (of f(H), the exact conditional mean).
    sampler_kernel : numpy.ndarray or None, shape (T*P, T*P)
        What a sampler that fixes the Z2 sign per draw (m >= 0) reports; None where several
        sign conventions combine.
    sampler_predictions : numpy.ndarray or None, shape (T, P)
        The same for the predictions.
    hessian_eigenvalues : numpy.ndarray, shape (n(n+1)/2,)
        Eigenvalues of the Hessian of S at H* (to_vector coordinates, ``n = T*P``), ascending.
    loop_parameter : float
        G, the size of the loop corrections (valid only below ``g_max``).
    valid : bool
        Whether the expansion is to be trusted.
    reason : str
        Why not (empty when valid).
    phase : str
        "broken", "symmetric", "partly broken" or "no symmetry".
    method : str
        "kernel" or "reduced".
    third_error : float
        Estimated error of the third derivatives.
    seconds : float
        Wall time, in seconds.
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
                 *kernel_lines(self.kernel_N, pr.P),
                 "correction delta_H = N (<H>_N - H*) + O(1/N):", *kernel_lines(self.correction, pr.P, "{:10.4g}"),
                 "posterior standard deviation of each entry at this N:",
                 *kernel_lines(self.kernel_N_std, pr.P, "{:10.3e}"),
                 "predictions f_N(t, p): " + " ".join(f"{f:.6g}" for f in self.predictions_N.ravel())
                 + "   (+- " + " ".join(f"{s:.2g}" for s in self.predictions_N_std.ravel()) + ")",
                 "correction delta_f: " + " ".join(f"{f:.4g}" for f in self.prediction_correction.ravel()),
                 f"loop parameter G = {self.loop_parameter:.3g} (valid below {G_MAX:g}); smallest Hessian "
                 f"eigenvalue {self.hessian_eigenvalues[0]:.4e}; method {self.method}"]
        if not self.valid:
            lines.append(f"NOT VALID: {self.reason}")
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        return [("problem", self.problem), ("N", self.N), ("valid", self.valid), ("reason", self.reason or None),
                ("loop parameter G", self.loop_parameter), ("phase", self.phase), ("method", self.method),
                ("m of H_N", self.order_parameter_N), ("third-derivative error", self.third_error),
                ("kernel H_N (rows t*P+p)", self.kernel_N), ("correction delta_H", self.correction),
                ("covariance N Cov(H)", self.covariance), ("predictions f_N (T, P)", self.predictions_N),
                ("seconds", self.seconds)]


def _step_richardson(d, eps):
    """A difference quotient ``d`` of error O(eps^2) at eps and eps/2, extrapolated: error O(eps^4)."""
    return richardson([d(eps), d(eps / 2)], 4)[-1]


def _reduced_mode(red: Reduction):
    """The mode theta* of the reduction's N -> infinity limit: L-BFGS from 6 starts, polished by up to 30
    Newton steps with the finite-difference Hessian (full steps: at a mode already found, no damping)."""
    theta, _ = red.mode(n_starts=6, limit=True)
    for _ in range(30):
        _, g = red.log_posterior_and_grad(theta, limit=True)
        if np.linalg.norm(g) < 1e-12:
            break
        theta = theta + np.linalg.lstsq(red.neg_hessian(theta, limit=True), g, rcond=None)[0]
    return theta


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
    red = Reduction(problem, N)
    theta = _reduced_mode(red)
    Hth = red.kernel(theta)
    d = _relative_signs(Hth, H)
    if not np.allclose(d[:, None] * Hth * d[None, :], H, rtol=1e-6, atol=1e-9 * np.abs(H).max()):
        raise ConvergenceError("the mode of the exact reduction's limit is not the saddle point H*; "
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
        contr += _step_richardson(lambda h: (grad_l(theta + h * u) - 2 * g0 + grad_l(theta - h * u)) / h ** 2,
                                  2e-3) / beta[k]
        Hcurv += _step_richardson(lambda h: (red.kernel(theta + h * u) - 2 * H0 + red.kernel(theta - h * u))
                                  / h ** 2, 2e-3) / beta[k]
        dirs.append(_step_richardson(lambda h: (red.kernel(theta + h * u) - red.kernel(theta - h * u)) / (2 * h),
                                     2e-3))
    dtheta = U @ ((U.T @ (r_grad + 0.5 * contr)) / beta)
    Jd = _step_richardson(lambda h: (red.kernel(theta + h * dtheta) - red.kernel(theta - h * dtheta)) / (2 * h),
                          2e-3)
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


def _problem_of(problem_or_saddle) -> Problem:
    """The Problem of a Problem or of a SaddlePoint (checked before any work)."""
    if isinstance(problem_or_saddle, Problem):
        return problem_or_saddle
    if hasattr(problem_or_saddle, "kernel") and isinstance(getattr(problem_or_saddle, "problem", None), Problem):
        return problem_or_saddle.problem
    raise ValueError(f"problem_or_saddle={problem_or_saddle!r} is invalid; pass a Problem or a SaddlePoint")


def _kernel_of(problem_or_saddle) -> np.ndarray:
    """H* of a SaddlePoint, or of a Problem (its saddle point is found)."""
    if isinstance(problem_or_saddle, Problem):
        from linkernel.theory.saddle import saddle_point
        return saddle_point(problem_or_saddle).kernel
    return np.asarray(problem_or_saddle.kernel, dtype=float)


def _method(problem: Problem, method):
    """The route: the given one, checked, or "kernel" where the density of H is of Wishart form."""
    if method is None:
        method = "kernel" if wishart_form(problem) else "reduced"
    choice("method", method, ("kernel", "reduced"))
    if method == "kernel" and not wishart_form(problem):
        raise ValueError("method='kernel' is invalid for this problem: an input at t >= 1 enters through shared "
                         "weights, so the density of H is not of Wishart form; use method='reduced'")
    return method


@entry_point
def finite_width(problem_or_saddle: Problem | SaddlePoint, N: int, method: str | None = None,
                 g_max: float = G_MAX) -> FiniteWidth:
    """The 1/N theory at width ``N`` for a :class:`Problem` (its saddle point is found) or a SaddlePoint.

    The Laplace expansion of ``exp(-N S(H) + O(1))`` about the saddle point H*, to O(1/N): the
    posterior mean of H and of the predictions, and their covariances
    (derivations/finite_width.tex).  It holds away from a transition; inside the critical window
    (``lambda - lambda_c = O(N^-1/2)``) the loop parameter G is large and finite-size scaling
    (:mod:`linkernel.finite_n.finite_size`) applies instead.

    Parameters
    ----------
    problem_or_saddle : Problem or SaddlePoint
        A problem (its saddle point is found with :func:`~linkernel.saddle_point`) or a saddle
        point already found.
    N : int
        The width, greater than ``T*P``.
    method : {"kernel", "reduced"}, optional
        "kernel": the density of H (needs
        :func:`~linkernel.theory.finite_width.wishart_form`); "reduced": the exact reduction's
        variables (any problem).  Default: "kernel" where it applies.
    g_max : float, default 0.25
        Largest loop parameter G for which the result counts as valid.

    Returns
    -------
    FiniteWidth
        ``kernel_N`` (shape (T*P, T*P)), ``predictions_N`` (shape (T, P)), their standard
        deviations, the covariance and ``valid``.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it), or ``method="kernel"`` where the density of H is
        not of Wishart form.
    ConvergenceError
        If the mode of the exact reduction's limit is not the saddle point (method "reduced").

    Warns
    -----
    FiniteWidthWarning
        When the result is not valid (``FiniteWidth.reason`` says why).

    Examples
    --------
    >>> import linkernel as lk
    >>> fw = lk.finite_width(lk.endpoint("rnn", T=3, lam=1.0), N=256)
    >>> fw.kernel_N.shape, fw.covariance.shape, fw.valid, fw.phase
    ((3, 3), (3, 3, 3, 3), True, 'symmetric')
    >>> round(float(fw.predictions[-1, 0]), 5), round(float(fw.predictions_N[-1, 0]), 5)
    (0.96212, 0.96176)
    """
    t0 = time.perf_counter()
    problem = _problem_of(problem_or_saddle)
    N = count("N", N, problem.n + 1)
    g_max = positive("g_max", g_max)     # a NaN g_max would make every G "valid" (G > nan is False)
    method = _method(problem, method)
    H = _kernel_of(problem_or_saddle)
    H = fix_z2_sign(problem, H)
    lt = laplace_terms(problem, H)
    mu = lt.mu
    reasons = []
    if mu[0] <= 0:
        reasons.append(f"H* is not a minimum of S (smallest Hessian eigenvalue {mu[0]:.3e} <= 0)")
    G = lt.loop_parameter(N)
    if method == "kernel":
        dH, cov4 = lt.kernel_correction()
        fdirs, fweights = lt.dirs, 1.0 / lt.mu_safe
    else:
        dH, cov4, fdirs, fweights = _reduced_expansion(problem, H, N)

    # predictions: f' along delta_H, f'' contracted with N Cov(H) = sum_k w_k V_k (x) V_k
    f1, f2, F = prediction_derivatives(problem, H, fdirs, fweights, dH)
    f_star = predictions(problem, H).ravel()
    df = f1 + 0.5 * f2
    f_var = np.einsum("k,kn->n", fweights, F ** 2)          # N Var f_i

    kernel_N = H + dH / N
    std = np.sqrt(np.maximum(np.einsum("ijij->ij", cov4), 0.0) / N)
    phase = z2_phase(problem, H)
    samp_K, samp_f = None, None
    if phase == "symmetric":
        samp_K, samp_f = sign_fixed_means(problem, kernel_N, cov4, N, f_star + df / N, F, fweights, fdirs)
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
        # stacklevel 3: past this function and its entry_point wrapper, at the caller
        warnings.warn(f"finite_width at N={N}: {reason}", FiniteWidthWarning, stacklevel=3)
    T, P = problem.T, problem.P
    return FiniteWidth(
        problem=problem, N=N, saddle_kernel=H, correction=dH, kernel_N=kernel_N, kernel_N_std=std,
        covariance=cov4, predictions=f_star.reshape(T, P), prediction_correction=df.reshape(T, P),
        predictions_N=(f_star + df / N).reshape(T, P), predictions_N_std=np.sqrt(f_var / N).reshape(T, P),
        sampler_kernel=samp_K, sampler_predictions=samp_f, hessian_eigenvalues=mu, loop_parameter=G,
        valid=valid, reason=reason, phase=phase, method=method, third_error=lt.third_error,
        seconds=time.perf_counter() - t0)

"""The kernel: minimise the action S(H) over positive-definite H.

Strategy (each step chosen for robustness, then accuracy):

1. unconstrained L-BFGS in log-Cholesky coordinates ``H = L L^T`` with
   ``L_ii = exp(theta_ii)``, so every iterate is positive definite;
2. Newton's method on the saddle-point equations ``dS/dH = 0`` with the
   analytic Hessian (:func:`linkernel.theory.action.hessian`) to polish the result
   to machine precision;
3. several starts (the prior kernel and random Wishart kernels with
   cross-time entries of both signs), because above the RNN transition the
   symmetric saddle is unstable and S has a Z2 pair of minima, and in
   first-order regions metastable minima coexist.

Distinct minima are reported lowest action first, each in the Z2
representative with ``m = H^{T-1,T-2} >= 0`` (:func:`linkernel.problem.fix_z2_sign`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from linkernel.theory.action import (KernelError, action, from_vector, gradient, hessian, kl_term,
                              likelihood_term, predictions, prior_kernel, to_vector)
from linkernel.problem import Problem, fix_z2_sign, order_parameter


class ConvergenceError(RuntimeError):
    """A numerical method did not converge; the message says what to change."""


@dataclass(frozen=True, eq=False)
class Minimum:
    """One local minimum of S: the kernel (TP, TP), its action and how sure we are of it."""

    kernel: np.ndarray
    action: float
    grad_norm: float
    hessian_min_eigenvalue: float
    order_parameter: float
    is_minimum: bool = True

    def to_dict(self) -> dict:
        return {"kernel": self.kernel.tolist(), "action": self.action, "grad_norm": self.grad_norm,
                "hessian_min_eigenvalue": self.hessian_min_eigenvalue,
                "order_parameter": self.order_parameter, "is_minimum": self.is_minimum}

    def summary(self) -> str:
        return (f"S = {self.action:.12g}  m = {self.order_parameter:.6g}  "
                f"min Hessian eig = {self.hessian_min_eigenvalue:.3e}")

    __str__ = summary


@dataclass(frozen=True, eq=False)
class SaddlePoint:
    """The theory's kernel for one problem: the global minimum of S and every other minimum found.

    ``kernel`` is (TP, TP) in the ordering ``t * P + p``; ``predictions`` is
    (T, P), the posterior-mean outputs f*; ``hessian_eigenvalues`` are those of
    the Hessian in Frobenius-orthonormal coordinates (all > 0 at a minimum);
    ``grad_norm`` is the Frobenius norm of dS/dH (the residual of the
    saddle-point equations); ``minima`` lists every distinct local minimum,
    lowest action first (``minima[0]`` is this one).
    """

    problem: Problem
    kernel: np.ndarray
    action: float
    kl: float
    likelihood: float
    grad_norm: float
    hessian_eigenvalues: np.ndarray
    predictions: np.ndarray
    order_parameter: float
    minima: tuple
    n_starts: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "problem": self.problem.to_dict(),
            "kernel": self.kernel.tolist(),
            "action": self.action,
            "kl": self.kl,
            "likelihood": self.likelihood,
            "grad_norm": self.grad_norm,
            "hessian_eigenvalues": self.hessian_eigenvalues.tolist(),
            "predictions": self.predictions.tolist(),
            "order_parameter": self.order_parameter,
            "minima": [m.to_dict() for m in self.minima],
            "n_starts": self.n_starts,
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """The problem, the kernel, m, the action, how well converged, and every minimum found."""
        from linkernel.formatting import format_matrix, hyper_text, task_name
        pr = self.problem
        lines = [f"{task_name(pr)}: T={pr.T} P={pr.P} {hyper_text(pr, ('lam', 'kappa', 'w', 'v', 'u'))}",
                 f"kernel H (rows t*P+p, t = 0..{pr.T - 1}):",
                 format_matrix(self.kernel),
                 f"order parameter m = H^(T-1,T-2) = {self.order_parameter:.10g}",
                 *self._group_lines(),
                 f"action S = {self.action:.12g}   (KL {self.kl:.8g} + likelihood {self.likelihood:.8g})",
                 f"residual |dS/dH| = {self.grad_norm:.2e}   smallest Hessian eigenvalue = "
                 f"{self.hessian_eigenvalues[0]:.4e}",
                 "predictions f*(t, p): " + " ".join(f"{f:.6g}" for f in self.predictions.ravel()),
                 f"distinct minima found: {len(self.minima)} (from {self.n_starts} starts, {self.seconds:.2f} s)"]
        lines += [f"  [{k}] {m.summary()}" for k, m in enumerate(self.minima)]
        return "\n".join(lines)

    __str__ = summary

    def _group_lines(self) -> list:
        """One line per shared W group when the pattern is not the plain RNN (whose one m_g is m)."""
        arch = self.problem.arch
        if arch.is_rnn or not arch.shared_groups():
            return []
        parts = [f"W{list(arch.W[g])} H^({arch.order_pair(g)[0]},{arch.order_pair(g)[1]}) = {m:.10g}"
                 for g, m in self.order_parameters.items()]
        return ["order parameters m_g of the shared W groups: " + ", ".join(parts)]

    @property
    def order_parameters(self) -> dict:
        """Each shared W group's m_g = H^{t_g, t_g-1} (:meth:`Problem.order_parameters`), by group index."""
        return self.problem.order_parameters(self.kernel)


# --- log-Cholesky coordinates -------------------------------------------------
def _theta_to_L(theta: np.ndarray, n: int) -> np.ndarray:
    L = np.zeros((n, n))
    L[np.tril_indices(n)] = theta
    d = np.arange(n)
    L[d, d] = np.exp(np.clip(L[d, d], -350.0, 350.0))
    return L


def _L_to_theta(L: np.ndarray) -> np.ndarray:
    L = L.copy()
    d = np.arange(L.shape[0])
    L[d, d] = np.log(L[d, d])
    return L[np.tril_indices(L.shape[0])]


def _lbfgs(problem: Problem, H0: np.ndarray, gtol: float = 1e-10, maxiter: int = 5000) -> np.ndarray:
    n = problem.n

    def fun(theta):
        L = _theta_to_L(theta, n)
        H = L @ L.T
        try:
            S = action(problem, H)
            G = gradient(problem, H)
        except (KernelError, np.linalg.LinAlgError):
            return 1e100, np.zeros_like(theta)
        dL = np.tril(2.0 * G @ L)
        d = np.arange(n)
        dL[d, d] *= L[d, d]
        return S, dL[np.tril_indices(n)]

    res = minimize(fun, _L_to_theta(np.linalg.cholesky(H0)), jac=True, method="L-BFGS-B",
                   options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15, "maxcor": 30})
    L = _theta_to_L(res.x, n)
    return L @ L.T


def stationary_point(problem: Problem, H0, tol: float = 1e-11, maxiter: int = 100) -> tuple:
    """Newton's method on dS/dH = 0 from H0 (finds minima *and* saddles).

    Returns ``(H, grad_norm, converged)``.  Steps are damped so that H stays
    positive definite and the residual decreases.
    """
    H = np.array(H0, dtype=float)
    n = problem.n
    g = gradient(problem, H)
    res = np.linalg.norm(g)
    scale = max(1.0, np.abs(H).max())
    for _ in range(maxiter):
        if res < tol * scale:
            return H, float(res), True
        step = from_vector(np.linalg.lstsq(hessian(problem, H), to_vector(g), rcond=None)[0], n)
        alpha = 1.0
        while alpha > 1e-6:
            Hn = H - alpha * step
            try:
                gn = gradient(problem, Hn)
            except (KernelError, np.linalg.LinAlgError):
                alpha *= 0.5
                continue
            if np.linalg.norm(gn) < res or alpha < 1e-3:
                break
            alpha *= 0.5
        else:
            return H, float(res), False
        H, g = Hn, gn
        res_new = np.linalg.norm(g)
        if res_new >= res and res < 1e3 * tol * scale:
            return H, float(min(res, res_new)), True  # stalled at rounding level
        res = res_new
    return H, float(res), bool(res < 1e3 * tol * scale)


def _starts(problem: Problem, n_starts: int, rng: np.random.Generator) -> list:
    H0 = prior_kernel(problem)
    starts = [H0]
    L0 = np.linalg.cholesky(H0)
    n = problem.n
    while len(starts) < n_starts:
        B = rng.normal(size=(n, n + 2))
        W = B @ B.T / (n + 2)
        starts.append(np.exp(rng.normal()) * L0 @ W @ L0.T)
    return starts


def _is_new(H: np.ndarray, found: list, rtol: float = 1e-6) -> bool:
    return all(np.linalg.norm(H - K) > rtol * max(1.0, np.linalg.norm(K)) for K in found)


def _kick(H: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """H moved along a unit direction by a tenth of its smallest eigenvalue (so it stays positive definite)."""
    return H + 0.1 * np.linalg.eigvalsh(H)[0] * direction / np.linalg.norm(direction)


def local_minimum(problem: Problem, H0, tol: float = 1e-13, escapes: int = 4) -> Minimum:
    """Minimise S from H0: L-BFGS, then Newton polish.

    A start on a symmetry-invariant set (a diagonal kernel above the RNN
    transition, say) converges to a saddle, since the gradient never leaves
    that set.  Such a saddle is detected by a negative Hessian eigenvalue and
    left along its eigenvector, up to ``escapes`` times; the result is then a
    minimum unless the escapes ran out (``hessian_min_eigenvalue < 0``).
    """
    H = np.asarray(H0, dtype=float)
    for attempt in range(escapes + 1):
        H = _lbfgs(problem, H)
        H, res, _ = stationary_point(problem, H, tol=tol)
        eig, vec = np.linalg.eigh(hessian(problem, H))
        if eig[0] >= -1e-7 * np.abs(eig).max() or attempt == escapes:
            break
        H = _kick(H, from_vector(vec[:, 0], problem.n))
    H = fix_z2_sign(problem, H)
    return Minimum(kernel=H, action=action(problem, H), grad_norm=float(res),
                   hessian_min_eigenvalue=float(eig[0]),
                   order_parameter=order_parameter(H, problem.T, problem.P),
                   is_minimum=bool(eig[0] >= -1e-7 * np.abs(eig).max()))


def saddle_point(problem: Problem, n_starts: int = 6, seed: int = 0, tol: float = 1e-13) -> SaddlePoint:
    """The kernel of the theory: the global minimum of S(H), with every distinct minimum found.

    ``n_starts`` minimisations (the prior kernel plus random Wishart kernels
    drawn with ``seed``), each escaping saddles (:func:`local_minimum`).  A
    stationary point counts as a minimum when the smallest Hessian eigenvalue
    is > -1e-7 times the largest; saddles are dropped.  Raises :class:`ConvergenceError` if no start converged to a
    minimum.
    """
    if n_starts < 1:
        raise ValueError(f"n_starts={n_starts!r} is invalid; n_starts must be >= 1")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    found: list[Minimum] = []
    worst = 0.0
    for H0 in _starts(problem, n_starts, rng):
        m = local_minimum(problem, H0, tol=tol)
        scale = max(1.0, np.abs(m.kernel).max())
        worst = max(worst, m.grad_norm / scale)
        if m.grad_norm > 1e3 * tol * scale or not m.is_minimum:
            continue
        if _is_new(m.kernel, [f.kernel for f in found]):
            found.append(m)
    if not found:
        raise ConvergenceError(
            f"no start converged to a minimum of S (smallest relative residual {worst:.2e}); "
            "try more starts (n_starts), another seed, or check that the problem is well conditioned")
    found.sort(key=lambda m: m.action)
    best = found[0]
    H = best.kernel
    return SaddlePoint(
        problem=problem, kernel=H, action=best.action, kl=kl_term(problem, H),
        likelihood=likelihood_term(problem, H), grad_norm=best.grad_norm,
        hessian_eigenvalues=np.linalg.eigvalsh(hessian(problem, H)),
        predictions=predictions(problem, H), order_parameter=best.order_parameter,
        minima=tuple(found), n_starts=n_starts, seconds=time.perf_counter() - t0)

"""The kernel: minimise the action S(H) over positive-definite H.

The local minimiser (trust-region Newton-CG in whitened coordinates) is
:func:`linkernel.theory.minimize.minimize_action`; the sign tests and the
reported spectrum are in :mod:`linkernel.theory.curvature`.  This module holds
the results (:class:`Minimum`, :class:`SaddlePoint`), :func:`local_minimum`
(a descent that leaves saddles) and the global search.

Every minimum, systematically (:func:`saddle_point`):

1. The prior kernel is minimised first.  Its descent never leaves the sets the
   symmetries of the problem keep invariant (the Z2-even set, and for endpoint
   tasks the time-diagonal kernels), so it ends at the most symmetric
   stationary point.
2. From every stationary point with negative Hessian eigenvalues in a sector
   (the Z2-odd and Z2-even blocks of the whitened Hessian, tested apart at a
   Z2-symmetric kernel) the solver is restarted along each of the (up to
   :data:`NEG_DIRECTIONS`) most negative eigenvectors (both signs in the even
   sector; in the odd one they are Z2 mirrors), which descends into the less
   symmetric minima (the broken minima along odd directions, metastable
   symmetric ones along even ones; with P patterns a saddle has several: at
   T = 8, P = 4, lambda = 2.5 three odd and two even); the tree is followed
   until only minima remain.
3. ``n_starts - 1`` random starts follow (:func:`_starts`: near the tree's
   saddles and far out, in turn); a start is abandoned as soon
   as it enters the neighbourhood of a known minimum or saddle (whitened
   distance < :data:`linkernel.theory.minimize.BASIN_RADIUS`, Z2 mirrors included).  They find minima
   the tree misses in crowded landscapes (at T = 16, P = 4, lambda = 2.5 one
   of eight; at T = 8, P = 4 the tree finds all four) and cost 0.1-1x the
   tree's time (benchmarks/scaling.py).

A result called a minimum has a whitened residual ``|L^T (dS/dH) L|_F`` below
``tol`` (``1e3 tol`` where float64 rounding stalls it) and a whitened Hessian
with no eigenvalue below ``-NEG_TOL`` (congruent to the Hessian: the same
inertia, but well conditioned, so the sign test is reliable where the Hessian
in Frobenius coordinates has condition 1e12-1e17).  The sign tests take the
whitened Hessian's lowest eigenpairs (:func:`linkernel.theory.curvature.negative_directions`): densely by
LAPACK up to :data:`DENSE_SIGN_MAX_DIM` coordinates per sector (exact, degenerate
pairs included), above that by Lanczos on a budget of three restarts and, where
the low end of the spectrum is crowded, by LOBPCG looking for the negative
directions only (:func:`linkernel.theory.hessian._negative_pairs`; the sign of
the lowest eigenvalue at a minimum is converged to 1e-6).  Where float64 stalls above
that (a nearly singular kernel), the stationary point is refined to 50 digits
by :func:`linkernel.theory.highprec.polish_minimum` (TP <= POLISH_MAX_N), or
the run counts as failed and the ConvergenceError says why.

Distinct minima are reported lowest action first, each in the Z2
representative with ``m = H^{T-1,T-2} >= 0`` (:func:`linkernel.problem.fix_z2_sign`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace

import numpy as np

from linkernel import validation
from linkernel.errors import ConvergenceError, KernelError, SaddleWarning
from linkernel.problem import Problem, fix_z2_sign, order_parameter, require_problem
from linkernel.theory import minimize as _minimize
from linkernel.theory.action import Pieces, action, prior_kernel
from linkernel.theory.curvature import condition_estimate, negative_directions, reported_spectrum
# minimize_action and stationary_point are imported here too: users find them in this module (and the
# search calls minimize_action through this module's name, which tests replace)
from linkernel.theory.minimize import Solve, minimize_action, stationary_point  # noqa: F401
from linkernel.threads import entry_point

__all__ = ["Minimum", "SaddlePoint", "local_minimum", "saddle_point", "stationary_point", "minimize_action"]

#: a run stalled by rounding counts as stationary when its whitened residual |L^T G L| is below this.
FLOOR_WHITENED = 1e-6
#: minima that float64 cannot converge are polished in POLISH_DPS digits up to TP = POLISH_MAX_N.
POLISH_DPS = 50
POLISH_MAX_N = 40
#: a saddle is left along each of its (up to) this many most negative directions per sector.
NEG_DIRECTIONS = 4


@dataclass(frozen=True, eq=False)
class Minimum:
    """One local minimum of S: the kernel (TP, TP), its action and how sure we are of it."""

    kernel: np.ndarray
    action: float
    grad_norm: float
    hessian_min_eigenvalue: float
    order_parameter: float
    is_minimum: bool = True
    converged: bool = True
    iterations: int = 0
    origin: str = ""
    precision: str = "float64"

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({"kernel": self.kernel, "action": self.action, "grad_norm": self.grad_norm,
                         "hessian_min_eigenvalue": self.hessian_min_eigenvalue,
                         "order_parameter": self.order_parameter, "is_minimum": self.is_minimum,
                         "converged": self.converged, "iterations": self.iterations, "origin": self.origin,
                         "precision": self.precision})

    def summary(self) -> str:
        how = f"  ({self.origin})" if self.origin else ""
        return (f"S = {self.action:.12g}  m = {self.order_parameter:.6g}  "
                f"min Hessian eig = {self.hessian_min_eigenvalue:.3e}{how}")

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

    ``hessian_eigenvalues`` is the whole spectrum (ascending) when the Hessian
    has at most :data:`linkernel.theory.hessian.DENSE_EIG_MAX_DIM` coordinates;
    above, the few smallest followed by the largest.  ``method`` names the
    solver ("trust-region Newton-CG, dense" or "... matrix-free"),
    ``iterations`` the Newton steps and ``hessian_products`` the
    Hessian-vector products over all solves, ``converged`` whether the
    global minimum met ``tol`` (if not, one :class:`SaddleWarning` was
    emitted), ``precision`` "float64" or the digits of a high-precision polish,
    ``unconverged_runs`` how many descents hit the step limit (then one
    :class:`SaddleWarning`: a minimum may be missing).

    The finite-width theory about it is ``linkernel.finite_n.finite_width(saddle, N)``
    (this layer does not reach into finite_n/).
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
    method: str = ""
    iterations: int = 0
    hessian_products: int = 0
    converged: bool = True
    precision: str = "float64"
    unconverged_runs: int = 0

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({
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
            "method": self.method,
            "iterations": self.iterations,
            "hessian_products": self.hessian_products,
            "converged": self.converged,
            "precision": self.precision,
            "unconverged_runs": self.unconverged_runs,
        })

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
                 f"distinct minima found: {len(self.minima)} (from {self.n_starts} starts, {self.seconds:.2f} s; "
                 f"{self.method}, {self.iterations} Newton steps, {self.hessian_products} Hessian products"
                 + ("" if self.converged else "; NOT CONVERGED") + ")"]
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


# --- one minimum from one start -----------------------------------------------------------
def _kick(H: np.ndarray, direction: np.ndarray, size: float = 0.1) -> np.ndarray:
    """H moved along a direction by ``size`` in the whitened metric (so it stays positive definite)."""
    pc_L = np.linalg.cholesky(H)
    from scipy.linalg import solve_triangular
    X = solve_triangular(pc_L, solve_triangular(pc_L, direction, lower=True).T, lower=True)
    return H + size * direction / max(np.linalg.norm(0.5 * (X + X.T)), 1e-300)


def _as_minimum(problem: Problem, sol: Solve, origin: str, is_minimum: bool, spectrum: bool = True) -> Minimum:
    """The Minimum of a converged solve; ``spectrum=False`` leaves its Hessian eigenvalue for later (NaN)."""
    H = fix_z2_sign(problem, sol.kernel)
    low = reported_spectrum(problem, H, k=1, tol=1e-6)[1] if spectrum else float("nan")
    return Minimum(kernel=H, action=float(action(problem, H)), grad_norm=float(sol.grad_norm),
                   hessian_min_eigenvalue=float(low), order_parameter=order_parameter(H, problem.T, problem.P),
                   is_minimum=bool(is_minimum), converged=sol.converged, iterations=sol.iterations, origin=origin)


@entry_point
def local_minimum(problem: Problem, H0, tol: float = 1e-13, escapes: int = 4) -> Minimum:
    """Minimise S from H0 (:func:`minimize_action`), leaving saddles along negative curvature.

    A start on a symmetry-invariant set (a diagonal kernel above the RNN
    transition, say) converges to a saddle, since the gradient never leaves
    that set.  Such a saddle is detected by a negative Hessian eigenvalue and
    left along its eigenvector, up to ``escapes`` times; the result is then a
    minimum unless the escapes ran out (``is_minimum`` False).
    """
    require_problem("problem", problem)
    tol = validation.tolerance("tol", tol)
    escapes = validation.count("escapes", escapes, low=0)
    H = np.asarray(H0, dtype=float)
    iters = 0
    for attempt in range(escapes + 1):
        sol = minimize_action(problem, H, tol=tol)
        iters += sol.iterations
        neg = negative_directions(problem, sol.kernel)
        if not neg or attempt == escapes:
            break
        H = _kick(sol.kernel, min(neg, key=lambda e: e[0])[1])
    m = _as_minimum(problem, sol, "local", is_minimum=not neg and sol.converged)
    return Minimum(**{**m.__dict__, "iterations": iters})


# --- every minimum ---------------------------------------------------------------------------
def _starts(problem: Problem, n: int, rng: np.random.Generator, near=()) -> list:
    """Random starts: near the stationary points the tree met (even k), far and correlated (odd k).

    Even k: ``K + L X L^T`` around ``near[k/2 mod len(near)]`` (K = L L^T: the
    prior kernel and the tree's saddles, cycled), X a random symmetric matrix
    with the semicircle spectrum on [-2, 2] clipped below at -0.8, so that
    1 + X spreads the eigenvalues over [0.2, 3] in K's own metric.  Odd k: a
    Wishart kernel around the prior kernel with n + 2 degrees of freedom (its
    smallest eigenvalues ~1/n^2 of the largest) plus a strongly correlated rank
    one part: in first-order regions the broken minimum can sit far out
    (entries 50x the prior's), beyond the basin of near starts.  Measured over
    8 seeds (T = 6 and 8 near their first-order transitions, T = 8, P = 4 and
    the P = 16 endpoint task): the same minima, as often, as with Wishart starts
    for every k (the metastable S = 0.591945 of T = 8, P = 4 in 5 of 8 seeds with
    both) in 1.3-1.5x less time, since a start near K stops after fewer Newton
    steps than a Wishart start far out (40-65).  Without ``near``: the prior kernel.
    """
    H0 = prior_kernel(problem)
    L0 = np.linalg.cholesky(H0)
    bases = list(near) or [H0]
    size = problem.n
    out = []
    dof = size + 2
    for k in range(n):
        if k % 2 == 0:
            K = bases[(k // 2) % len(bases)]
            A = rng.normal(size=(size, size))
            w, V = np.linalg.eigh((A + A.T) / np.sqrt(2.0 * size))
            L = np.linalg.cholesky(K)
            out.append(K + L @ ((V * np.maximum(w, -0.8)) @ V.T) @ L.T)
            continue
        B = rng.normal(size=(size, dof))
        c = np.abs(rng.normal(size=size)) if k % 4 == 1 else rng.normal(size=size)
        W = B @ B.T / dof + np.exp(rng.uniform(0.0, 8.0)) * np.outer(c, c) / size
        out.append(np.exp(rng.normal()) * L0 @ W @ L0.T)
    return out


def _is_new(H: np.ndarray, found: list, rtol: float = 1e-6) -> bool:
    return all(np.linalg.norm(H - K) > rtol * max(1.0, np.linalg.norm(K)) for K in found)


class _Search:
    """Bookkeeping of one saddle_point call: the minima found, the stationary points visited, the cost."""

    def __init__(self, problem, tol):
        self.problem, self.tol = problem, tol
        self.minima: list[Minimum] = []
        self.saddles: list[np.ndarray] = []
        self.iterations = 0
        self.products = 0
        self.method = ""
        self.worst = 0.0   # largest relative residual among the runs that failed
        self.floor_failures: list[str] = []
        self.unconverged = 0

    def kernels(self):
        return [m.kernel for m in self.minima] + self.saddles

    def descend(self, H0, origin: str, depth: int = 0, stop_near=False):
        """Minimise from H0; at a saddle, restart along each sector's negative directions (both signs).

        ``stop_near``: abandon the run near a known minimum or saddle (True, random starts), near a
        known minimum only ("minima": a run leaving a saddle, whose nearest broken minimum can lie
        within the basin radius of the saddle itself close to a transition), or never (False).
        """
        pr = self.problem
        try:
            known = {False: (), True: self.kernels(), "minima": [m.kernel for m in self.minima]}[stop_near]
            sol = minimize_action(pr, H0, tol=self.tol, known=known)
        except (KernelError, np.linalg.LinAlgError):
            return
        self.iterations += sol.iterations
        self.products += sol.hessian_products
        self.method = sol.method
        if sol.stopped_near is not None:
            return
        at_floor = not sol.converged and sol.at_floor and sol.whitened_grad_norm < FLOOR_WHITENED
        if not sol.converged and not at_floor:
            self.worst = max(self.worst, sol.whitened_grad_norm)
            self.unconverged += 1
            return
        H = sol.kernel
        if not _is_new(fix_z2_sign(pr, H), [fix_z2_sign(pr, K) for K in self.kernels()]):
            return
        neg = negative_directions(pr, H, k=NEG_DIRECTIONS)
        if not neg:
            m = self.polished(sol, origin) if at_floor else _as_minimum(pr, sol, origin, is_minimum=True,
                                                                         spectrum=False)
            if m is not None and _is_new(m.kernel, [f.kernel for f in self.minima]):
                self.minima.append(m)
            return
        self.saddles.append(H)
        if depth >= 4:
            return
        for val, E, sector in neg:
            signs = (1.0,) if sector == "odd" else (1.0, -1.0)   # odd: the two signs are Z2 mirrors
            for sgn in signs:
                self.descend(_kick(H, sgn * E), f"{origin}, left along {sector or 'negative'} curvature",
                             depth + 1, stop_near="minima")

    def polished(self, sol: Solve, origin: str) -> Minimum | None:
        """A minimum float64 could not converge (rounding floor) refined to 50 digits, or None (reason kept)."""
        pr = self.problem
        cond = condition_estimate(pr, Pieces(pr, sol.kernel))
        what = (f"float64 stalled at |dS/dH| = {sol.grad_norm:.2e} (whitened residual "
                f"{sol.whitened_grad_norm:.1e}, Hessian condition ~{cond:.0e})")
        if pr.n > POLISH_MAX_N:
            self.floor_failures.append(f"{what}; TP={pr.n} is too large for the 50-digit polish "
                                       f"(TP <= {POLISH_MAX_N})")
            return None
        from linkernel.theory import highprec
        try:
            pm = highprec.polish_minimum(pr, sol.kernel, dps=POLISH_DPS)
        except ConvergenceError as e:
            self.floor_failures.append(f"{what}; the {POLISH_DPS}-digit polish failed: {e}")
            return None
        H = fix_z2_sign(pr, pm.kernel_float)
        _, low, _ = reported_spectrum(pr, H, k=1, tol=1e-6)
        return Minimum(kernel=H, action=float(pm.action), grad_norm=float(pm.residual),
                       hessian_min_eigenvalue=float(low), order_parameter=order_parameter(H, pr.T, pr.P),
                       is_minimum=True, converged=True, iterations=sol.iterations + pm.iterations,
                       origin=f"{origin}, {what}; polished to {POLISH_DPS} digits (residual "
                              f"{float(pm.residual):.1e}, whitened Hessian min eigenvalue "
                              f"{pm.whitened_min_eigenvalue:.3g})",
                       precision=f"mpmath {POLISH_DPS} digits")

    def failure(self) -> ConvergenceError:
        """The error when no start converged to a minimum, saying what stalled and what to change."""
        if self.floor_failures:
            return ConvergenceError(
                "no minimum of S could be converged: " + "; ".join(sorted(set(self.floor_failures)))
                + ". The problem is ill-conditioned (a nearly singular kernel); rescale it (u, w) or "
                "call linkernel.theory.highprec.polish_minimum(problem, H, dps=...) on the float64 kernel "
                "with more digits")
        return ConvergenceError(
            f"no start converged to a minimum of S (largest whitened residual |L^T dS/dH L| of the "
            f"unconverged runs {self.worst:.2e}, tol={self.tol:g}); try more starts (n_starts), another "
            "seed, a looser tol, or, if the problem is ill-conditioned, "
            "linkernel.theory.highprec.polish_minimum")


@entry_point
def saddle_point(problem: Problem, n_starts: int = 6, seed: int = 0, tol: float = 1e-13) -> SaddlePoint:
    """The kernel of the theory: the global minimum of S(H), with every distinct minimum found.

    The search (module docstring): the prior kernel, then every saddle left
    along its negative curvature in the Z2-odd and -even sectors, then
    ``n_starts - 1`` random starts drawn with ``seed`` (abandoned
    inside a known basin).  A stationary point counts as a minimum when its
    whitened residual is below ``tol`` and its whitened Hessian has no negative
    eigenvalue (module docstring); saddles are dropped.  BLAS threads follow
    the package policy (:func:`linkernel.threads.entry_point`: one thread for small kernels).
    Raises :class:`ConvergenceError` if no start converged to a minimum.
    """
    require_problem("problem", problem)
    n_starts = validation.count("n_starts", n_starts)
    seed = validation.seed("seed", seed)
    tol = validation.tolerance("tol", tol)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    H_prior = prior_kernel(problem)
    search = _Search(problem, tol)
    search.descend(H_prior, "prior kernel")
    for H0 in _starts(problem, n_starts - 1, rng, near=[H_prior] + search.saddles):
        search.descend(H0, "random start", stop_near=True)
    found = sorted(search.minima, key=lambda m: m.action)
    if not found:
        raise search.failure()
    if search.unconverged:
        warnings.warn(
            f"saddle_point: {search.unconverged} descent(s) stopped after {_minimize.MAXITER} Newton steps "
            f"without converging (largest whitened residual {search.worst:.2e}); a minimum they were heading "
            "for may be missing from .minima (SaddlePoint.unconverged_runs)", SaddleWarning, stacklevel=3)
    # the Hessian spectrum once per minimum: the reported one for the global minimum, its
    # smallest eigenvalue for the others.  LOBPCG's residual tolerance 1e-6 (absolute) gives the
    # eigenvalues to ~1e-7 relative even where they are 1e-5 (TP = 256), at 2/3 the cost of 1e-9
    H = found[0].kernel
    eigs, _, _ = reported_spectrum(problem, H, tol=1e-6)
    found = [replace(m, hessian_min_eigenvalue=float(eigs[0])) if k == 0 else
             m if np.isfinite(m.hessian_min_eigenvalue) else
             replace(m, hessian_min_eigenvalue=float(reported_spectrum(problem, m.kernel, k=1, tol=1e-6)[1]))
             for k, m in enumerate(found)]
    best = found[0]
    pc = Pieces(problem, H)
    return SaddlePoint(
        problem=problem, kernel=H, action=best.action, kl=pc.kl_term(),
        likelihood=pc.likelihood_term(), grad_norm=best.grad_norm,
        hessian_eigenvalues=eigs, predictions=pc.predictions().reshape(problem.T, problem.P),
        order_parameter=best.order_parameter, minima=tuple(found), n_starts=n_starts,
        seconds=time.perf_counter() - t0, method=search.method, iterations=search.iterations,
        hessian_products=search.products, converged=best.converged, precision=best.precision,
        unconverged_runs=search.unconverged)

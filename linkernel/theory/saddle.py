"""The kernel: the global minimum of the action S(H) over positive-definite H, certified.

The local minimiser (trust-region Newton-CG in whitened coordinates,
preconditioned by the prior metric M from the first step) is
:func:`linkernel.theory.minimize.minimize_action`; the certificate of a
minimum is :func:`linkernel.theory.certificate.certify`; the default search is
:class:`linkernel.theory.search.GlobalSearch`.  This module holds the results
(:class:`Minimum`, :class:`SaddlePoint`), :func:`local_minimum` (a descent that
leaves saddles) and :func:`saddle_point`.

:func:`saddle_point` (``minima="global"``, the default) returns the global
minimum by a search whose coverage is systematic and stated in
``SaddlePoint.coverage`` (:mod:`linkernel.theory.search`): (a) one certified
descent from the prior kernel, (b) saddles left along the lowest
negative-curvature direction of each Z2 sector, (c) a lambda-probe for
first-order regions (descend from the prior at 2, 4, .. lambda, follow what is
found back to lambda).  ``n_starts - 1`` random starts can be added.  Where the
patterns' inputs are orthogonal and the targets of rank one (the endpoint task,
P >= 16) S is invariant under the orthogonal maps of the patterns that fix the
labels' direction, and this search runs on three patterns, its minima lifted
to P and re-evaluated there (:mod:`linkernel.theory.pattern_symmetry`).

``minima="all"`` is the catalogue: the default search (leaving saddles along
the canonical basis of each sector's lowest cluster), then the tree of every
saddle met, left along each of its negative-curvature directions (up to
:data:`NEG_DIRECTIONS` a sector) and along every pair ``(E_i +- E_j)/sqrt 2``
of the :data:`PAIR_DIRECTIONS` lowest, then ``n_starts - 1`` random starts
(:func:`_starts`, drawn with ``seed``, abandoned inside a known basin).  The
directions do not depend on the eigensolver
(:func:`linkernel.theory.search.escape_directions`): converged eigenpairs of
the whitened Hessian, grouped into clusters of equal eigenvalues (never split),
each cluster in a canonical basis of its span (a pivoted QR of its projector),
pairs with both signs.  On the chain tasks (P = 4, T = 8 and 16) the tree alone
finds every minimum that a long multi-start run finds
(tests/theory/test_catalogue.py), whatever the seed or the eigensolver's start.

A point is called a minimum only when certified
(:mod:`linkernel.theory.certificate`): whitened residual ``|L^T (dS/dH) L|_F``
below ``tol`` (``1e3 tol`` where float64 rounding stalls it, then polished
to 50 digits up to TP = POLISH_MAX_N) and the lowest eigenvalue of the pencil
(Hessian, prior metric M) (same inertia as the Hessian, by Sylvester)
positive beyond its error bound.  A point whose eigenvalue is zero within
that bound is *degenerate*: it is listed in ``SaddlePoint.degenerate`` with its
evidence, never in ``minima``.

Distinct minima are reported lowest action first, each in the Z2
representative with ``m = H^{T-1,T-2} >= 0`` (:func:`linkernel.problem.fix_z2_sign`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from linkernel import validation
from linkernel.display import (FULL_KERNEL_MAX, Display, axes, first_values, kernel_image, kernel_lines,
                               pattern_entries)
from linkernel.errors import ConvergenceError, KernelError, SaddleWarning
from linkernel.problem import Problem, fix_z2_sign, order_parameter, require_problem
from linkernel.theory import minimize as _minimize
from linkernel.theory.action import Pieces, prior_kernel
from linkernel.theory.certificate import Certificate, certify
from linkernel.theory.curvature import GRADED_COND, reported_spectrum
# stationary_point is imported here too: users find it beside saddle_point
from linkernel.theory.minimize import minimize_action, stationary_point  # noqa: F401
from linkernel.theory.pattern_symmetry import pattern_reduction, reduced_search
from linkernel.theory.search import (CATALOGUE_DIRECTIONS, ESCAPE_DEPTH, FLOOR_WHITENED, Found, GlobalSearch,
                                      escape_directions, is_new, kick as _kick)
from linkernel.threads import entry_point

__all__ = ["Minimum", "SaddlePoint", "local_minimum", "saddle_point", "stationary_point", "minimize_action"]

#: a saddle of the catalogue's tree is left along each of its (up to) this many lowest directions per sector
#: (every negative one on the chain tasks up to T = 16; a cluster of equal eigenvalues is never split).
NEG_DIRECTIONS = CATALOGUE_DIRECTIONS
#: the tree leaves a saddle along every pair (E_i +- E_j) / sqrt 2 of its PAIR_DIRECTIONS lowest directions
#: per sector too: the unstable manifold's basins lie between the eigen-directions (chain T = 16, P = 4:
#: the minimum with m = 11.22 lies only between the 3rd and 4th odd directions, or the 4th and 5th)
PAIR_DIRECTIONS = 8
#: random starts of the catalogue (``minima="all"``) when n_starts is not given.
CATALOGUE_STARTS = 6
#: the most starts one call takes (the command line states the same limit)
MAX_STARTS = 1000


@dataclass(frozen=True, eq=False)
class Minimum(Display):
    """One certified local minimum of S: the kernel (TP, TP), its action and the evidence.

    ``hessian_min_eigenvalue``: the lowest eigenvalue of the pencil (Hessian,
    prior metric M), the certificate's (dimensionless, the sign of the
    Hessian's lowest eigenvalue); ``curvature_error`` its error bound;
    ``status`` the certificate's verdict ("minimum"; "degenerate" for a point
    listed in ``SaddlePoint.degenerate``); ``origin`` how it was reached.
    """

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
    status: str = "minimum"
    curvature_error: float = float("nan")
    certificate: Certificate | None = None

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({"kernel": self.kernel, "action": self.action, "grad_norm": self.grad_norm,
                         "hessian_min_eigenvalue": self.hessian_min_eigenvalue,
                         "order_parameter": self.order_parameter, "is_minimum": self.is_minimum,
                         "converged": self.converged, "iterations": self.iterations, "origin": self.origin,
                         "precision": self.precision, "status": self.status,
                         "curvature_error": self.curvature_error,
                         "certificate": None if self.certificate is None else self.certificate.to_dict()})

    def summary(self) -> str:
        how = f"  ({self.origin})" if self.origin else ""
        tag = "" if self.status == "minimum" else f"  [{self.status.upper()}, not a minimum]"
        return (f"S = {self.action:.12g}  m = {self.order_parameter:.6g}  "
                f"min curvature (pencil) = {self.hessian_min_eigenvalue:.3e} +- {self.curvature_error:.1e}"
                f"{tag}{how}")

    __str__ = summary

    def _display_rows(self) -> list:
        return [("action S", self.action), ("order parameter m", self.order_parameter), ("status", self.status),
                ("converged", self.converged), ("min curvature (pencil)", self.hessian_min_eigenvalue),
                ("curvature error", self.curvature_error), ("residual |dS/dH|", self.grad_norm),
                ("iterations", self.iterations), ("origin", self.origin), ("precision", self.precision),
                ("kernel", self.kernel)]


def _minimum(problem: Problem, f: Found) -> Minimum:
    c = f.certificate
    return Minimum(kernel=f.kernel, action=f.action, grad_norm=f.grad_norm, hessian_min_eigenvalue=c.lowest,
                   order_parameter=order_parameter(f.kernel, problem.T, problem.P), is_minimum=c.is_minimum,
                   converged=f.converged, iterations=f.iterations, origin=f.origin, precision=f.precision,
                   status=c.status, curvature_error=c.error, certificate=c)


@dataclass(frozen=True, eq=False)
class SaddlePoint(Display):
    """The theory's kernel for one problem: the global minimum of S and the other minima found.

    Returned by :func:`~linkernel.saddle_point`.  The kernel is the minimiser of the large-N
    action ``S(H)`` (THEORY.md section 2; derivations/rnn_T4_P1.tex, "The action"); its rows are
    ordered ``t * P + p``.

    Attributes
    ----------
    problem : Problem
        The problem solved.
    kernel : numpy.ndarray, shape (T*P, T*P)
        The saddle-point kernel ``H*`` (symmetric positive definite).
    action : float
        ``S(H*) = kl + likelihood``, per neuron (the posterior is ``exp(-N S)``).
    kl, likelihood : float
        The two terms of the action: ``KL(N(0, H) || N(0, Sigma(H)))`` and
        ``1/2 y_S^T (v H_SS + kappa I)^{-1} y_S``.
    grad_norm : float
        Frobenius norm of ``dS/dH`` at ``kernel`` (the residual of the saddle-point equations).
    hessian_eigenvalues : numpy.ndarray, shape (k,)
        Eigenvalues of the Hessian of S in Frobenius-orthonormal coordinates
        (:func:`linkernel.theory.curvature.reported_spectrum`), ascending: the whole spectrum up to
        :data:`linkernel.theory.hessian.DENSE_EIG_MAX_DIM` coordinates, above it the few
        smallest followed by the largest.  Computed on first access.
    predictions : numpy.ndarray, shape (T, P)
        Posterior-mean outputs ``f*(t, p) = v H_{*S} (v H_SS + kappa I)^{-1} y_S``.
    order_parameter : float
        ``m = H^{T-1,T-2}`` (pattern-averaged for ``P > 1``), with the sign convention ``m >= 0``.
    minima : tuple of Minimum
        The distinct certified minima found, lowest action first (``minima[0]`` is this one).
    n_starts : int
        Starts used (1 plus the random starts).
    seconds : float
        Wall time of the search, in seconds.
    method : str
        The solver's name.
    iterations : int
        Newton steps over all descents.
    hessian_products : int
        Hessian-vector products over all descents and certificates.
    converged : bool
        Whether the global minimum met ``tol`` and is certified (if not, one
        :class:`~linkernel.SaddleWarning` was emitted).
    precision : str
        ``"float64"`` or the digits of a high-precision polish.
    unconverged_runs : int
        Descents that hit the step limit.
    certificate : Certificate or None
        The global minimum's :class:`linkernel.theory.certificate.Certificate`: residual, lowest
        eigenvalue of the pencil (Hessian, prior metric) and its error, verdict.
    coverage : tuple of str
        What the search covered and what it cannot exclude.
    degenerate : tuple of Minimum
        Stationary points whose curvature is zero within rounding (never called minima).
    search : str
        ``"global"`` (the default) or ``"all"`` (the catalogue).

    Notes
    -----
    Also ``status`` (the certificate's verdict), ``order_parameters`` (each shared W group's
    ``m_g``), ``to_dict()`` (strict JSON) and ``summary()`` (the text the CLI prints).  The
    finite-width theory about it is :func:`linkernel.finite_width` ``(saddle, N)``.
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
    certificate: Certificate | None = None
    coverage: tuple = ()
    degenerate: tuple = ()
    search: str = "global"

    def __post_init__(self):
        if self.__dict__.get("hessian_eigenvalues") is None:
            object.__delattr__(self, "hessian_eigenvalues")      # computed on first access (__getattr__)

    def __getattr__(self, name):
        if name != "hessian_eigenvalues":
            raise AttributeError(name)
        eigs = _pattern_spectrum(self.problem, self.kernel)
        if eigs is None:
            eigs = reported_spectrum(self.problem, self.kernel, tol=1e-6)[0]
        object.__setattr__(self, "hessian_eigenvalues", eigs)
        return eigs

    @property
    def status(self) -> str:
        """The global minimum's certificate verdict ("minimum", "degenerate", ...)."""
        return "minimum" if self.certificate is None else self.certificate.status

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
            "degenerate": [m.to_dict() for m in self.degenerate],
            "certificate": None if self.certificate is None else self.certificate.to_dict(),
            "coverage": list(self.coverage),
            "search": self.search,
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
        """The problem, the kernel, m, the action, the certificate, the search's coverage and every minimum found."""
        from linkernel.formatting import hyper_text, task_name
        pr = self.problem
        cert = self.certificate
        lines = [f"{task_name(pr)}: T={pr.T} P={pr.P} {hyper_text(pr, ('lam', 'kappa', 'w', 'v', 'u'))}",
                 f"kernel H (rows t*P+p, t = 0..{pr.T - 1}):",
                 *kernel_lines(self.kernel, pr.P),
                 f"order parameter m = H^(T-1,T-2) = {self.order_parameter:.10g}" + self._per_pattern(),
                 *self._group_lines(),
                 f"action S = {self.action:.12g}   (KL {self.kl:.8g} + likelihood {self.likelihood:.8g})",
                 f"residual |dS/dH| = {self.grad_norm:.2e}   smallest Hessian eigenvalue = "
                 f"{self.hessian_eigenvalues[0]:.4e} (Frobenius coordinates)"]
        if cert is not None:
            lines.append(f"certificate: {cert.evidence}")
        lines += [self._prediction_line(),
                  f"distinct minima found: {len(self.minima)} (from {self.n_starts} starts, {self.seconds:.2f} s; "
                  f"{self.method}, {self.iterations} Newton steps, {self.hessian_products} Hessian products"
                  + ("" if self.converged else "; NOT CONVERGED") + ")"]
        lines += [f"  [{k}] {m.summary()}" for k, m in enumerate(self.minima)]
        if self.degenerate:
            lines.append(f"degenerate stationary points (curvature zero within rounding; not minima): "
                         f"{len(self.degenerate)}")
            lines += [f"  [d{k}] {m.summary()}; {m.certificate.evidence}" for k, m in enumerate(self.degenerate)]
        if self.coverage:
            lines.append(f"search ({self.search}):")
            lines += [f"  {c}" for c in self.coverage]
        return "\n".join(lines)

    __str__ = summary

    def _prediction_line(self) -> str:
        """f* at every (t, p) up to FULL_KERNEL_MAX of them, else at the last step only (all in to_dict())."""
        f = self.predictions
        if f.size <= FULL_KERNEL_MAX:
            return "predictions f*(t, p): " + " ".join(f"{x:.6g}" for x in f.ravel())
        return (f"predictions f*(t, p), {f.shape[0]} x {f.shape[1]} (all in to_dict() and --json); at the last step "
                f"t = {f.shape[0] - 1}: " + first_values([f"{x:.6g}" for x in f[-1]], " "))

    def _per_pattern(self) -> str:
        """For P > 1, what m is: the mean over patterns of the blocks' diagonal entries, each listed (up to 8)."""
        pr = self.problem
        if pr.P == 1 or pr.T < 2:
            return ""
        each = first_values([f"{v:.10g}" for v in pattern_entries(self.kernel, pr.T - 1, pr.T - 2, pr.P)], ", ")
        return f"   (the mean over the {pr.P} patterns of H^(T-1,T-2)_(p,p) = {each})"

    def _display_rows(self) -> list:
        pr = self.problem
        rows = [("problem", pr), ("order parameter m = H^(T-1,T-2)", self.order_parameter)]
        if pr.P > 1 and pr.T > 1:
            rows.append(("m per pattern, H^(T-1,T-2)_(p,p)", pattern_entries(self.kernel, pr.T - 1, pr.T - 2, pr.P)))
        if not pr.arch.is_rnn and pr.arch.shared_groups():
            rows.append(("m_g of the shared W groups", self.order_parameters))
        return rows + [("action S", self.action), ("KL", self.kl), ("likelihood", self.likelihood),
                       ("residual |dS/dH|", self.grad_norm), ("status", self.status), ("converged", self.converged),
                       ("minima found", len(self.minima)), ("degenerate points", len(self.degenerate)),
                       ("search", self.search), ("starts", self.n_starts), ("method", self.method),
                       ("Newton steps", self.iterations), ("Hessian products", self.hessian_products),
                       ("precision", self.precision), ("kernel H (rows t*P+p)", self.kernel),
                       ("predictions f* (T, P)", self.predictions), ("seconds", self.seconds)]

    def plot(self, ax=None):
        """The kernel H (TP, TP) as a heat map with its colour bar; returns the matplotlib Axes.

        ``ax``: the axes to draw in (None: a new figure).
        """
        ax = axes(ax)
        kernel_image(ax, self.kernel, title=f"saddle-point kernel, m = {self.order_parameter:.6g}")
        return ax

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


def _pattern_spectrum(problem: Problem, H) -> np.ndarray | None:
    """The reported Hessian spectrum from the three-pattern reduction (exact, with multiplicities), or None.

    None where the problem has no pattern reduction, H is not invariant, or H is graded (there the
    full-space route computes the low end from the inverse, to relative accuracy).
    """
    red = pattern_reduction(problem)
    if red is None or not red.is_invariant(H) or red.frobenius_condition(H) > GRADED_COND:
        return None
    return red.reported_spectrum(H)


# --- one minimum from one start -----------------------------------------------------------
@entry_point
def local_minimum(problem: Problem, H0, tol: float = 1e-13, escapes: int = 4) -> Minimum:
    """Minimise S from H0 (:func:`minimize_action`), leaving saddles along negative curvature.

    A start on a symmetry-invariant set (a diagonal kernel above the RNN
    transition, say) converges to a saddle, since the gradient never leaves
    that set.  Such a saddle is detected by the certificate (negative
    eigenvalue of the pencil (Hessian, prior metric)) and left along its lowest
    eigenvector, up to ``escapes`` times; the result is a minimum
    (``is_minimum``) only if certified (:mod:`linkernel.theory.certificate`).
    """
    require_problem("problem", problem)
    tol = validation.tolerance("tol", tol)
    escapes = validation.count("escapes", escapes, low=0)
    H = np.asarray(H0, dtype=float)
    iters = 0
    for attempt in range(escapes + 1):
        sol = minimize_action(problem, H, tol=tol)
        iters += sol.iterations
        cert = certify(problem, sol.kernel, tol=tol if sol.converged else max(tol, sol.whitened_grad_norm))
        if not cert.directions or attempt == escapes:
            break
        H = _kick(sol.kernel, cert.directions[0][1])
    Hz = fix_z2_sign(problem, sol.kernel)
    ok = cert.is_minimum and sol.converged
    return Minimum(kernel=Hz, action=float(sol.action), grad_norm=float(sol.grad_norm),
                   hessian_min_eigenvalue=cert.lowest, order_parameter=order_parameter(Hz, problem.T, problem.P),
                   is_minimum=ok, converged=sol.converged, iterations=iters, origin="local",
                   status=cert.status if sol.converged else "not stationary", curvature_error=cert.error,
                   certificate=cert)


# --- the catalogue: every minimum -----------------------------------------------------------------
def _starts(problem: Problem, n: int, rng: np.random.Generator, near=()) -> list:
    """Random starts: near the stationary points the tree met (even k), far and correlated (odd k).

    Even k: ``K + L X L^T`` around ``near[k/2 mod len(near)]`` (K = L L^T: the
    prior kernel and the tree's saddles, cycled), X a random symmetric matrix
    with the semicircle spectrum on [-2, 2] clipped below at -0.8, so that
    1 + X spreads the eigenvalues over [0.2, 3] in K's own metric.  Odd k: a
    Wishart kernel around the prior kernel with n + 2 degrees of freedom (its
    smallest eigenvalues ~1/n^2 of the largest) plus a strongly correlated rank
    one part: in first-order regions the broken minimum can sit far out
    (entries 50x the prior's), beyond the basin of near starts.
    Without ``near``: the prior kernel.
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


class _Catalogue:
    """The catalogue's tree and random starts on top of a :class:`GlobalSearch` (its minima and costs)."""

    def __init__(self, gs: GlobalSearch):
        self.gs = gs
        self.problem, self.tol = gs.problem, gs.tol

    def kernels(self):
        return [m.kernel for m in self.gs.minima] + self.gs.saddles

    def descend(self, H0, origin: str, depth: int = 0, stop_near=False):
        """Minimise from H0; at a new saddle, restart along each of :meth:`kicks` (up to ESCAPE_DEPTH deep).

        ``stop_near``: abandon the run near a known minimum or saddle (True, random starts), near a
        known minimum only ("minima": a run leaving a saddle), or never (False).
        """
        pr, gs = self.problem, self.gs
        try:
            known = {False: (), True: self.kernels(), "minima": [m.kernel for m in gs.minima]}[stop_near]
            sol = minimize_action(pr, H0, tol=self.tol, known=known)
        except (KernelError, np.linalg.LinAlgError):
            return
        gs.descents += 1
        gs.iterations += sol.iterations
        gs.products += sol.hessian_products
        gs.method = sol.method
        if sol.stopped_near is not None:
            return
        at_floor = not sol.converged and sol.at_floor and sol.whitened_grad_norm < FLOOR_WHITENED
        if not sol.converged and not at_floor:
            gs.worst = max(gs.worst, sol.whitened_grad_norm)
            gs.unconverged += 1
            return
        H = sol.kernel
        if not is_new(pr, H, self.kernels() + [d.kernel for d in gs.degenerate]):
            return
        pc = sol.pieces if sol.pieces is not None else Pieces(pr, H)
        cert = certify(pr, H, tol=1e3 * self.tol if sol.at_floor else self.tol, pc=pc)
        gs.certificate_products += cert.products
        if cert.status != "saddle":
            f = gs._found(pr, sol, cert, origin, at_floor)
            if f is None:
                return
            if f.certificate.is_minimum:
                if is_new(pr, f.kernel, [m.kernel for m in gs.minima]):
                    gs.minima.append(f)
            elif is_new(pr, f.kernel, [m.kernel for m in gs.degenerate]):
                gs.degenerate.append(f)
            return
        gs.saddles.append(H)
        if depth >= ESCAPE_DEPTH:
            return
        for E, sector, what in self.kicks(H, pc):
            for sgn in ((1.0,) if sector == "odd" else (1.0, -1.0)):     # odd: the two signs are Z2 mirrors
                self.descend(_kick(H, sgn * E), f"{origin}, left along {what}", depth + 1, stop_near="minima")

    def kicks(self, H, pc) -> list:
        """[(direction, sector, description)] to leave the saddle H along, none depending on the eigensolver.

        Every negative cluster of each sector (up to NEG_DIRECTIONS directions, :func:`escape_directions`:
        an eigenvector, or the canonical basis of a degenerate cluster's span), then every pair
        ``(E_i + E_j) / sqrt 2`` and ``(E_i - E_j) / sqrt 2`` of the PAIR_DIRECTIONS lowest of a sector:
        both signs, so the set does not depend on the signs the solver gave the eigenvectors either.
        """
        dirs = escape_directions(self.problem, H, pc, most=NEG_DIRECTIONS)
        out = [(E, sector, f"{sector or 'negative'} curvature {val:.3g}") for val, E, sector in dirs]
        for sector in dict.fromkeys(s for _, _, s in dirs):
            low = [(val, E / np.linalg.norm(E)) for val, E, s in dirs if s == sector][:PAIR_DIRECTIONS]
            for i in range(len(low)):
                for j in range(i + 1, len(low)):
                    for sgn, name in ((1.0, "+"), (-1.0, "-")):
                        out.append(((low[i][1] + sgn * low[j][1]) / np.sqrt(2.0), sector,
                                    f"{sector or 'negative'} curvature {low[i][0]:.3g} {name} {low[j][0]:.3g}"))
        return out


def _failure(gs: GlobalSearch) -> ConvergenceError:
    """The error when no start converged to a certified minimum, saying what stalled and what to change."""
    if gs.floor_failures:
        return ConvergenceError(
            "no minimum of S could be converged: " + "; ".join(sorted(set(gs.floor_failures)))
            + ". The problem is ill-conditioned (a nearly singular kernel); rescale it (u, w) or "
            "call linkernel.theory.highprec.polish_minimum(problem, H, dps=...) on the float64 kernel "
            "with more digits")
    return ConvergenceError(
        f"no start converged to a minimum of S (largest whitened residual |L^T dS/dH L| of the "
        f"unconverged runs {gs.worst:.2e}, tol={gs.tol:g}); try more starts (n_starts), another "
        "seed, a looser tol, or, if the problem is ill-conditioned, "
        "linkernel.theory.highprec.polish_minimum")


@entry_point
def saddle_point(problem: Problem, n_starts: int | None = None, seed: int = 0, tol: float = 1e-13,
                 minima: str = "global") -> SaddlePoint:
    """The kernel of the theory: the global minimum of S(H), certified, with the minima met on the way.

    Minimises the large-N action ``S(H) = KL(N(0, H) || N(0, Sigma(H))) + 1/2 y_S^T (v H_SS +
    kappa I)^{-1} y_S`` over positive-definite ``(T*P, T*P)`` kernels (THEORY.md section 2).
    Only certified points are minima: a stationary point whose lowest curvature is positive
    beyond its error bound; the others are saddles (dropped) or degenerate
    (``SaddlePoint.degenerate``).  BLAS threads follow the package policy
    (:func:`linkernel.threads.entry_point`).

    Parameters
    ----------
    problem : Problem
        The problem; its ``lam`` is the signal strength.
    n_starts : int, optional
        ``n_starts - 1`` random starts drawn with ``seed`` (abandoned inside a known basin) are
        added to the search; default 1 (none) in the global search and
        ``CATALOGUE_STARTS`` in the catalogue.
    seed : int, default 0
        Seed of the random starts.
    tol : float, default 1e-13
        Tolerance on the (whitened) residual of the saddle-point equations.
    minima : {"global", "all"}, default "global"
        ``"global"``: the systematic search of :mod:`linkernel.theory.search` (the prior's
        certified descent, saddles left along their lowest negative curvature, a lambda-probe
        for first-order regions), a few descents; on three patterns where the problem has the
        orthogonal-pattern symmetry (:mod:`linkernel.theory.pattern_symmetry`).  ``"all"``: the
        catalogue, the same plus the tree of every saddle met, left along each negative
        direction (up to ``NEG_DIRECTIONS`` a sector) and each pair of the ``PAIR_DIRECTIONS``
        lowest, in a basis that does not depend on the eigensolver, and random starts.

    Returns
    -------
    SaddlePoint
        The kernel (shape (T*P, T*P)), predictions (shape (T, P)), order parameter, action,
        certificate and every minimum found.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).
    ConvergenceError
        If no start converged to a stationary point that is not a saddle.

    Warns
    -----
    SaddleWarning
        When the result is not fully converged (``SaddlePoint.converged`` is False).

    See Also
    --------
    trace : the saddle point followed in lambda.
    critical_lambda : where the symmetric saddle loses stability.

    Examples
    --------
    >>> import linkernel as lk
    >>> sp = lk.saddle_point(lk.endpoint("rnn", T=4, lam=3.0))
    >>> sp.kernel.shape, sp.predictions.shape, sp.status
    ((4, 4), (4, 1), 'minimum')
    >>> round(sp.order_parameter, 3)
    7.613
    """
    require_problem("problem", problem)
    validation.choice("minima", minima, ("global", "all"))
    if n_starts is None:
        n_starts = CATALOGUE_STARTS if minima == "all" else 1
    n_starts = validation.integer("n_starts", n_starts, 1, MAX_STARTS)
    seed = validation.seed("seed", seed)
    tol = validation.tolerance("tol", tol)
    t0 = time.perf_counter()
    # orthogonal patterns (the endpoint task): the default search on three, lifted (theory.pattern_symmetry)
    gs = reduced_search(problem, tol) if minima == "global" else None
    if gs is None:
        gs = GlobalSearch(problem, tol, canonical=minima == "all")
        gs.run()
    if minima == "all" or n_starts > 1:
        cat = _Catalogue(gs)
        before = len(gs.minima)
        if minima == "all":
            saddles = list(gs.saddles)
            gs.saddles.clear()
            for H in saddles:             # the tree: every saddle of the default search, all its directions
                cat.descend(H, "prior kernel, tree")
            gs.coverage.append(f"tree: from the search's {len(saddles)} saddle(s), {len(gs.saddles)} saddle(s) each left "
                               f"along every negative direction (up to {NEG_DIRECTIONS} a sector; a cluster of equal "
                               "eigenvalues whole, in a canonical basis of its span) and every pair E_i +- E_j of "
                               f"the {PAIR_DIRECTIONS} lowest of a sector (both signs outside the odd sector), "
                               f"{ESCAPE_DEPTH} saddles deep at most: {len(gs.minima) - before} more minima")
        before = len(gs.minima)
        rng = np.random.default_rng(seed)
        for H0 in _starts(problem, n_starts - 1, rng, near=[prior_kernel(problem)] + gs.saddles):
            cat.descend(H0, "random start", stop_near=True)
        if n_starts > 1:
            gs.coverage.append(f"random starts: {n_starts - 1} (seed {seed}): {len(gs.minima) - before} more minima")
    found = sorted(gs.minima, key=lambda m: m.action)
    degenerate = sorted(gs.degenerate, key=lambda m: m.action)
    if not found and not degenerate:
        raise _failure(gs)
    if gs.unconverged:
        warnings.warn(
            f"saddle_point: {gs.unconverged} descent(s) stopped after {_minimize.MAXITER} Newton steps "
            f"without converging (largest whitened residual {gs.worst:.2e}); a minimum they were heading "
            "for may be missing from .minima (SaddlePoint.unconverged_runs)", SaddleWarning, stacklevel=3)
    mins = tuple(_minimum(problem, f) for f in found)
    degs = tuple(_minimum(problem, f) for f in degenerate)
    best = mins[0] if mins else degs[0]
    if not mins:
        warnings.warn(f"saddle_point: no certified minimum; the lowest stationary point found is degenerate "
                      f"({best.certificate.evidence})", SaddleWarning, stacklevel=3)
    elif degs and degs[0].action < best.action:
        warnings.warn(f"saddle_point: a degenerate stationary point lies below the lowest certified minimum "
                      f"(S = {degs[0].action:.12g} < {best.action:.12g}; {degs[0].certificate.evidence})",
                      SaddleWarning, stacklevel=3)
    H = best.kernel
    pc = Pieces(problem, H)
    return SaddlePoint(
        problem=problem, kernel=H, action=best.action, kl=pc.kl_term(),
        likelihood=pc.likelihood_term(), grad_norm=best.grad_norm,
        hessian_eigenvalues=None, predictions=pc.predictions().reshape(problem.T, problem.P),
        order_parameter=best.order_parameter, minima=mins, n_starts=n_starts,
        seconds=time.perf_counter() - t0, method=gs.method, iterations=gs.iterations,
        hessian_products=gs.products + gs.certificate_products, converged=best.converged and best.is_minimum,
        precision=best.precision, unconverged_runs=gs.unconverged, certificate=best.certificate,
        coverage=tuple(gs.coverage), degenerate=degs, search=minima)

"""The kernel: minimise the action S(H) over positive-definite H.

Solver (:func:`minimize_action`): a trust-region Newton method in *whitened*
coordinates.  At the iterate H = L L^T (Cholesky) the step is H -> H + L X L^T
with X symmetric; in X the KL term's curvature (the Fisher metric
1/2 H^-1 (x) H^-1) is 1/2 the identity, so the whitened Hessian
``X -> L^T d2S[L X L^T] L`` is well conditioned and conjugate gradients need
few iterations.  The trust region ``||X||_F <= Delta <= MAX_RADIUS`` bounds
the step; a trial point that is not positive definite (Cholesky fails) is
rejected and the radius quartered, so every iterate is positive definite.  The
subproblem is solved by Steihaug's truncated CG with a forcing term
``min(0.1, sqrt|g|)`` (superlinear, then quadratic convergence); a direction of
negative curvature is followed to the trust-region boundary, which is how the
solver leaves saddles that its Krylov space can see.

Whitening takes out the KL term's H^-1 (x) H^-1 but not the temporal coupling:
the prior kernel enters through Sigma(H) = C + shift(H), and (1 - shift) has
singular values down to ~1/T, so the whitened Hessian's condition still grows
with T (184 at T = 8, P = 4; 485 for the T = 16 sequence).  Once the whitened
residual is below :data:`PRECONDITION_BELOW` the CG is preconditioned by the
Gauss-Newton form of the KL curvature, M = (1 - shift)* (H^-1 (x) H^-1)/2 (1 - shift)
(exact where Sigma(H) = H; :meth:`linkernel.theory.hessian.Pieces.prior_metric_inverse`),
which brings the condition to 4-17 and the Hessian products per solve down
3-10x; the trust region is then measured in M's norm.  Far from a minimum that
norm does not bound the step in the whitened metric, so a step is shortened
along its direction until H + L X L^T keeps every eigenvalue of 1 + X above
1 - :data:`TO_BOUNDARY` (fraction to the boundary).

Each CG iteration is one Hessian-vector product, a few n x n products
(:func:`linkernel.theory.hessian.hessian_operator`); memory is O(n^2), n = TP.
For small n (``dim = n(n+1)/2 <= DENSE_NEWTON_MAX_DIM``) the whitened Hessian is
assembled densely once per step (:func:`linkernel.theory.hessian.dense_hessian`)
and CG runs on the matrix, which is faster there.

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
   distance < :data:`BASIN_RADIUS`, Z2 mirrors included).  They find minima
   the tree misses in crowded landscapes (at T = 16, P = 4, lambda = 2.5 one
   of eight; at T = 8, P = 4 the tree finds all four) and cost 0.1-1x the
   tree's time (benchmarks/scaling.py).

A result called a minimum has a whitened residual ``|L^T (dS/dH) L|_F`` below
``tol`` (``1e3 tol`` where float64 rounding stalls it) and a whitened Hessian
with no eigenvalue below ``-NEG_TOL`` (congruent to the Hessian: the same
inertia, but well conditioned, so the sign test is reliable where the Hessian
in Frobenius coordinates has condition 1e12-1e17).  The sign tests take the
whitened Hessian's lowest eigenpairs (:func:`_negative_directions`): densely by
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

from linkernel.errors import ConvergenceError, KernelError, SaddleWarning
from linkernel.theory.action import action, kl_term, likelihood_term, predictions, prior_kernel
from linkernel.theory.hessian import (Pieces, dense_hessian, static, lowest_eigenpairs, lowest_whitened_eigenpairs, mat,
                                      vec, whitened_dense)
from linkernel.problem import Problem, fix_z2_sign, order_parameter, require_problem
from linkernel.threads import blas_threads_for

#: dense whitened Hessian (CG on a matrix) up to this many coordinates, matrix-free above.
#: Assembling it costs two dim^3 products (~1 ms at dim = 120, n = 15), about as
#: much as the ~20 matrix-free products (Python-bound at small n) of one CG solve.
DENSE_NEWTON_MAX_DIM = 120
#: a random start is abandoned once its whitened distance to a known minimum is below this.
BASIN_RADIUS = 5e-2
#: a run stalled by rounding counts as stationary when its whitened residual |L^T G L| is below this.
FLOOR_WHITENED = 1e-6
#: minima that float64 cannot converge are polished in POLISH_DPS digits up to TP = POLISH_MAX_N.
POLISH_DPS = 50
POLISH_MAX_N = 40
#: a saddle is left along each of its (up to) this many most negative directions per sector.
NEG_DIRECTIONS = 4
#: Newton steps per descent.
MAXITER = 200
#: the trust region's largest radius in whitened coordinates (< 1 keeps H positive definite).
MAX_RADIUS = 2.0




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

    def at_width(self, N: int, **kw):
        """The finite-width theory about this saddle point: H_N = H* + delta_H / N and the fluctuations.

        :func:`linkernel.theory.finite_width.finite_width` (derivations/finite_width.tex); ``kw`` go there.
        """
        from linkernel.theory.finite_width import finite_width
        return finite_width(self, N, **kw)


# --- the trust-region Newton-CG solver ---------------------------------------------
def _inner(X, Y) -> float:
    return float(np.vdot(X, Y))


def _boundary(zz, zd, dd, radius) -> float:
    """tau >= 0 with |z + tau d|_M = radius, from <z, M z>, <z, M d>, <d, M d>."""
    return (-zd + np.sqrt(max(zd * zd + dd * (radius ** 2 - zz), 0.0))) / dd


def _steihaug(hw, g, radius: float, eta: float, maxcg: int, prec=None):
    """Steihaug-Toint truncated preconditioned CG for min <g, X> + 1/2 <X, B X>, |X|_M <= radius.

    ``hw(X)`` applies B to a symmetric matrix, ``prec(R)`` applies M^-1 (None:
    M = 1).  The trust region is measured in the preconditioner's norm
    |X|_M = <X, M X>^1/2, in which the CG iterates grow monotonically (Conn,
    Gould & Toint, Trust-Region Methods, sec. 7.5.1); its norms are carried by
    recurrences, so M itself is never applied.  Stops when the preconditioned
    residual <r, M^-1 r> has fallen by eta^2.
    Returns (X, B X, products, hit_boundary, |X|_M).
    """
    z = np.zeros_like(g)
    Bz = np.zeros_like(g)
    r = g.copy()
    y = r if prec is None else prec(r)
    d = -y
    ry = _inner(r, y)
    stop = (eta ** 2) * ry
    zz = zd = 0.0
    dd = ry
    for k in range(1, maxcg + 1):
        Bd = hw(d)
        dBd = _inner(d, Bd)
        if dBd <= 1e-300 * dd:           # negative curvature: go to the boundary along d
            tau = _boundary(zz, zd, dd, radius)
            return z + tau * d, Bz + tau * Bd, k, True, radius
        alpha = ry / dBd
        zz_new = zz + 2.0 * alpha * zd + alpha * alpha * dd
        if zz_new >= radius ** 2:
            tau = _boundary(zz, zd, dd, radius)
            return z + tau * d, Bz + tau * Bd, k, True, radius
        z, Bz, zz = z + alpha * d, Bz + alpha * Bd, zz_new
        r = r + alpha * Bd
        y = r if prec is None else prec(r)
        ry_new = _inner(r, y)
        if ry_new <= stop:
            return z, Bz, k, False, np.sqrt(zz)
        beta = ry_new / ry
        zd = beta * (zd + alpha * dd)
        dd = ry_new + beta * beta * dd
        d = -y + beta * d
        ry = ry_new
    return z, Bz, maxcg, False, np.sqrt(zz)


@dataclass(frozen=True, eq=False)
class Solve:
    """The outcome of one minimisation (:func:`minimize_action`): kernel, residual and its cost."""

    kernel: np.ndarray
    action: float
    grad_norm: float
    converged: bool
    iterations: int
    hessian_products: int
    method: str
    stopped_near: int | None = None   # index into ``known`` when abandoned near a known minimum
    at_floor: bool = False            # stopped because float64 rounding stalled the residual
    whitened_grad_norm: float = float("nan")   # |L^T (dS/dH) L|_F, the dimensionless residual


#: the whitened residual below which CG is preconditioned (:meth:`Pieces.whitened_preconditioner`).
PRECONDITION_BELOW = 1.0
#: a step may shrink H along any direction by at most this fraction (H + L X L^T needs X > -1).
TO_BOUNDARY = 0.8


def _fraction_to_boundary(X) -> float:
    """The factor s <= 1 with s X >= -TO_BOUNDARY (eigenvalues): H + L sX L^T stays well inside the PD cone.

    The preconditioned trust region bounds the step in the Hessian's metric,
    not the whitened one, so far from a minimum it can ask for a step across
    the cone's boundary; shortening it along its own direction keeps the model
    decrease positive (interior-point methods' fraction-to-the-boundary rule).
    """
    if np.linalg.norm(X) < TO_BOUNDARY:      # |eigenvalues| <= |X|_F
        return 1.0
    low = float(np.linalg.eigvalsh(X)[0])
    return 1.0 if low >= -TO_BOUNDARY else TO_BOUNDARY / -low


def _scale(H) -> float:
    return max(1.0, float(np.abs(H).max()))


def minimize_action(problem: Problem, H0, tol: float = 1e-13, maxiter: int = None, dense: bool | None = None,
                    known=(), basin_radius: float = BASIN_RADIUS, precondition: bool = True) -> Solve:
    """Minimise S from H0 by trust-region Newton-CG in whitened coordinates (module docstring).

    Converged when the whitened residual ``|L^T (dS/dH) L|_F <= tol`` (H = L L^T;
    dimensionless and invariant under rescaling H, unlike |dS/dH|, whose
    entries carry units 1/H), or when it has stopped decreasing below ``1e3 tol``
    (the rounding floor).  A step that beats its quadratic model (rho > 1.1)
    is extended by doubling while S keeps dropping: far from the minimum the
    likelihood's 1/H makes a plain Newton step grow H by only 3/2.
    ``dense``: CG on the assembled whitened Hessian (None: when
    ``dim <= DENSE_NEWTON_MAX_DIM``).  ``known``: kernels of minima already
    found; the run stops (``stopped_near``) once the iterate's whitened distance
    ``|L^-1 (H - K) L^-T|_F`` to one of them, or to its Z2 mirror, is below
    ``basin_radius``.  Raises KernelError if H0 is not positive definite.
    """
    maxiter = MAXITER if maxiter is None else maxiter
    n = problem.n
    dim = n * (n + 1) // 2
    dense = dim <= DENSE_NEWTON_MAX_DIM if dense is None else bool(dense)
    method = "trust-region Newton-CG, " + ("dense" if dense else "matrix-free")
    pc = Pieces(problem, H0)
    H = pc.H
    S, G = pc.action(), pc.gradient()
    res = float(np.linalg.norm(G))
    radius = 0.25
    products = 0
    stall = 0
    gn = float("nan")
    mirrors = _mirrors(problem, known)

    def done(conv, it, **kw):
        return Solve(H, S, res, bool(conv), it, products, method, whitened_grad_norm=gn, **kw)

    for it in range(maxiter + 1):
        L = pc.LH
        g = L.T @ G @ L
        gn = float(np.linalg.norm(g))
        if gn <= tol:
            return done(True, it)
        if mirrors:
            hn = np.linalg.norm(H)     # >= the largest eigenvalue of H: |D|/|H| bounds the whitened distance below
            for k, K in mirrors:
                D = H - K
                if np.linalg.norm(D) < basin_radius * hn and np.linalg.norm(pc.whiten(D)) < basin_radius:
                    return done(False, it, stopped_near=k)
        if it == maxiter:
            break
        if dense:
            Bw = whitened_dense(problem, pc)

            def hw(X, Bw=Bw):
                return mat(Bw @ vec(X), n)
        else:
            hw = pc.whitened_hessian_vector
        eta = min(0.1, np.sqrt(gn))
        # the radius is kept when the preconditioner switches on: both norms are O(1) steps in S's own
        # curvature near a minimum, and the ratio test resizes it within a step or two
        while True:
            X, BX, k, hit, xn = _steihaug(hw, g, radius, eta, maxcg=min(dim, 500),
                                          prec=pc.whitened_preconditioner if precondition and gn < PRECONDITION_BELOW else None)
            products += k
            frac = _fraction_to_boundary(X)
            if frac < 1.0:
                X, BX, xn = frac * X, frac * BX, frac * xn
            pred = -(_inner(g, X) + 0.5 * _inner(X, BX))
            step = L @ X @ L.T
            Hn = H + 0.5 * (step + step.T)
            try:
                pcn = Pieces(problem, Hn, check=False)
                Sn = pcn.action()
            except (KernelError, np.linalg.LinAlgError):
                radius *= 0.25
                if radius < 1e-12:
                    return done(False, it)
                continue
            Gn = pcn.gradient()
            resn = float(np.linalg.norm(Gn))
            ared = S - Sn
            # near convergence S changes at its rounding level: judge the step by the residual
            tiny = abs(pred) < 1e-12 * max(1.0, abs(S))
            rho = ared / pred if pred > 0 else -1.0
            ok = (resn < res) if tiny else (rho > 1e-4)
            if not ok:
                if tiny:     # the model is exact, yet the residual does not drop: rounding floor
                    return done(gn <= 1e3 * tol, it, at_floor=True)
                radius = 0.25 * xn
                if radius < 1e-12:
                    return done(False, it)
                continue
            if rho < 0.25 and not tiny:
                radius = 0.25 * xn
            elif (rho > 0.75 or tiny) and hit:
                radius = min(2.0 * radius, MAX_RADIUS)
            stall = stall + 1 if (tiny and resn > 0.5 * res) else 0
            if rho > 1.1 and not hit and xn > 1e-2:
                # S falls faster than its quadratic model (e.g. the likelihood's 1/H far from the
                # minimum, where Newton only multiplies H by 3/2): extend the step while S drops
                sym = 0.5 * (step + step.T)
                for alpha in (2.0, 4.0, 8.0, 16.0, 32.0):
                    try:
                        pct = Pieces(problem, H + alpha * sym, check=False)
                        St = pct.action()
                    except (KernelError, np.linalg.LinAlgError):
                        break
                    if not St < Sn:
                        break
                    Hn, pcn, Sn = pct.H, pct, St
                Gn = pcn.gradient()
                resn = float(np.linalg.norm(Gn))
            H, pc, S, G, res = Hn, pcn, Sn, Gn, resn
            break
        if stall >= 3:
            gn = float(np.linalg.norm(pc.LH.T @ G @ pc.LH))
            return done(gn <= 1e3 * tol, it + 1, at_floor=True)
    return done(gn <= tol, maxiter)


def _mirrors(problem: Problem, known) -> list:
    """(index, kernel) for every known minimum and its images under the problem's sign flips."""
    out = []
    flips = [s for _, s in problem.symmetries]
    if problem.has_z2:
        flips.append(problem.parity_signs)
    for k, K in enumerate(known):
        out.append((k, K))
        for s in flips:
            out.append((k, s[:, None] * K * s[None, :]))
    return out


# --- Newton on the stationarity equations (minima and saddles) ---------------------------
def stationary_point(problem: Problem, H0, tol: float = 1e-11, maxiter: int = 100) -> tuple:
    """Newton's method on dS/dH = 0 from H0 (finds minima *and* saddles).

    Returns ``(H, grad_norm, converged)``.  Steps are damped so that H stays
    positive definite and the residual decreases.  The Newton system is solved
    densely (:func:`linkernel.theory.hessian.dense_hessian`) for small kernels
    and by MINRES on the whitened Hessian-vector product above
    :data:`DENSE_NEWTON_MAX_DIM` coordinates.
    """
    H = np.array(H0, dtype=float)
    n = problem.n
    dim = n * (n + 1) // 2
    pc = Pieces(problem, H)
    g = pc.gradient()
    res = float(np.linalg.norm(g))
    scale = _scale(H)
    for _ in range(maxiter):
        if res < tol * scale:
            return H, float(res), True
        step = _newton_step(problem, pc, g, dense=dim <= 4 * DENSE_NEWTON_MAX_DIM)
        alpha = 1.0
        while alpha > 1e-6:
            Hn = H - alpha * step
            try:
                pcn = Pieces(problem, Hn, check=False)
                gn = pcn.gradient()
            except (KernelError, np.linalg.LinAlgError):
                alpha *= 0.5
                continue
            if np.linalg.norm(gn) < res or alpha < 1e-3:
                break
            alpha *= 0.5
        else:
            return H, float(res), False
        H, g, pc = Hn, gn, pcn
        res_new = float(np.linalg.norm(g))
        if res_new >= res and res < 1e3 * tol * scale:
            return H, float(min(res, res_new)), True  # stalled at rounding level
        res = res_new
    return H, float(res), bool(res < 1e3 * tol * scale)


def _newton_step(problem: Problem, pc: Pieces, G, dense: bool) -> np.ndarray:
    """The Newton step E with d2S[E] = G (least squares where the Hessian is singular)."""
    n = problem.n
    if dense:
        return mat(np.linalg.lstsq(dense_hessian(problem, pc.H, pieces=pc), vec(G), rcond=None)[0], n)
    from scipy.sparse.linalg import LinearOperator, minres
    L = pc.LH
    dim = n * (n + 1) // 2

    def mv(x):
        X = mat(x, n)
        Y = L.T @ pc.hessian_vector(L @ X @ L.T) @ L
        return vec(0.5 * (Y + Y.T))

    op = LinearOperator((dim, dim), matvec=mv, dtype=float)
    x, _ = minres(op, vec(L.T @ G @ L), rtol=1e-12, maxiter=10 * dim)
    X = mat(x, n)
    return L @ X @ L.T


# --- checks on a stationary point --------------------------------------------------------
#: a whitened Hessian eigenvalue below -NEG_TOL is negative curvature (the KL part alone is 1/2).
NEG_TOL = 1e-8
#: the sign tests assemble the whitened Hessian (of a sector, at a Z2-symmetric kernel) up to this
#: many coordinates and take its lowest eigenpairs by LAPACK; Lanczos/LOBPCG above.  At T = 8, P = 4
#: (sectors of 256 and 272) a sector costs 16 ms dense against ~45 ms by Lanczos, and dense also
#: resolves the degenerate pairs that Lanczos returns once; at T = 16, P = 4 (1024, 1056) dense
#: costs ~0.35 s, no less than Lanczos (benchmarks/sign_tests.py).
DENSE_SIGN_MAX_DIM = 600


def _largest_eigenvalue(problem: Problem, pc: Pieces) -> float:
    from scipy.sparse.linalg import eigsh
    from linkernel.theory.hessian import hessian_operator
    return float(eigsh(hessian_operator(problem, pc.H, pieces=pc), k=1, which="LA", tol=1e-3,
                       return_eigenvectors=False)[0])


def _spectrum(problem: Problem, H, k: int = 4, pc: Pieces | None = None, tol: float = 1e-9):
    """(the Hessian eigenvalues reported in SaddlePoint, smallest, largest) at H, Frobenius coordinates."""
    from linkernel.theory.hessian import DENSE_EIG_MAX_DIM
    n = problem.n
    pc = Pieces(problem, H) if pc is None else pc
    if n * (n + 1) // 2 <= DENSE_EIG_MAX_DIM:
        ev = np.linalg.eigvalsh(dense_hessian(problem, H, pieces=pc))
        return ev, ev[0], ev[-1]
    low, _ = lowest_eigenpairs(problem, H, k=k, pieces=pc, tol=tol)
    top = _largest_eigenvalue(problem, pc)
    return np.append(low, top), low[0], top


def _condition_estimate(problem: Problem, pc: Pieces) -> float:
    """Condition number of the Hessian in Frobenius coordinates (dense for small n, else of H^-1 (x) H^-1)."""
    from linkernel.theory.hessian import DENSE_EIG_MAX_DIM
    n = problem.n
    if n * (n + 1) // 2 <= DENSE_EIG_MAX_DIM:
        ev = np.abs(np.linalg.eigvalsh(dense_hessian(problem, pc.H, pieces=pc)))
        return float(ev.max() / max(ev.min(), 1e-300))
    return float(np.linalg.cond(pc.H) ** 2)


def _is_symmetric_point(problem: Problem, H) -> bool:
    """Whether H lies on the Z2-symmetric set (every odd entry zero), where the Hessian splits into sectors."""
    odd = static(problem).odd
    return bool(odd.any()) and float(np.abs(H[odd]).max()) <= 1e-9 * _scale(H)


def _negative_directions(problem: Problem, H, pc: Pieces | None = None, k: int = 1) -> list:
    """(whitened eigenvalue, direction dH, sector) of negative curvature at H, up to k per sector.

    The sign test uses the whitened Hessian (congruent to the Hessian, so the
    same inertia, and well conditioned); at a Z2-symmetric kernel the odd and
    even sectors are tested apart, since a saddle can be unstable in either.
    Lowest eigenvalue first within each sector.
    """
    pc = Pieces(problem, H) if pc is None else pc
    sectors = ("odd", "even") if _is_symmetric_point(problem, H) else (None,)
    out = []
    for sector in sectors:
        # dense: the k lowest at once (the same cost for any k); matrix-free: only the negative ones
        vals, vecs = lowest_whitened_eigenpairs(problem, pc, k, sector, dense_max=DENSE_SIGN_MAX_DIM,
                                                stop_above=-NEG_TOL)
        for j in range(len(vals)):
            if vals[j] < -NEG_TOL:
                X = mat(vecs[:, j], problem.n)
                out.append((float(vals[j]), pc.LH @ X @ pc.LH.T, sector))
    return out


def _kick(H: np.ndarray, direction: np.ndarray, size: float = 0.1) -> np.ndarray:
    """H moved along a direction by ``size`` in the whitened metric (so it stays positive definite)."""
    pc_L = np.linalg.cholesky(H)
    from scipy.linalg import solve_triangular
    X = solve_triangular(pc_L, solve_triangular(pc_L, direction, lower=True).T, lower=True)
    return H + size * direction / max(np.linalg.norm(0.5 * (X + X.T)), 1e-300)


def _as_minimum(problem: Problem, sol: Solve, origin: str, is_minimum: bool, spectrum: bool = True) -> Minimum:
    """The Minimum of a converged solve; ``spectrum=False`` leaves its Hessian eigenvalue for later (NaN)."""
    H = fix_z2_sign(problem, sol.kernel)
    low = _spectrum(problem, H, k=1, tol=1e-6)[1] if spectrum else float("nan")
    return Minimum(kernel=H, action=float(action(problem, H)), grad_norm=float(sol.grad_norm),
                   hessian_min_eigenvalue=float(low), order_parameter=order_parameter(H, problem.T, problem.P),
                   is_minimum=bool(is_minimum), converged=sol.converged, iterations=sol.iterations, origin=origin)


def local_minimum(problem: Problem, H0, tol: float = 1e-13, escapes: int = 4) -> Minimum:
    """Minimise S from H0 (:func:`minimize_action`), leaving saddles along negative curvature.

    A start on a symmetry-invariant set (a diagonal kernel above the RNN
    transition, say) converges to a saddle, since the gradient never leaves
    that set.  Such a saddle is detected by a negative Hessian eigenvalue and
    left along its eigenvector, up to ``escapes`` times; the result is then a
    minimum unless the escapes ran out (``is_minimum`` False).
    """
    H = np.asarray(H0, dtype=float)
    with blas_threads_for(problem.n):
        iters = 0
        for attempt in range(escapes + 1):
            sol = minimize_action(problem, H, tol=tol)
            iters += sol.iterations
            neg = _negative_directions(problem, sol.kernel)
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
        neg = _negative_directions(pr, H, k=NEG_DIRECTIONS)
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
        from linkernel.theory.hessian import Pieces as _P
        cond = _condition_estimate(pr, _P(pr, sol.kernel))
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
        _, low, _ = _spectrum(pr, H, k=1, tol=1e-6)
        return Minimum(kernel=H, action=float(pm.action), grad_norm=float(pm.residual),
                       hessian_min_eigenvalue=float(low), order_parameter=order_parameter(H, pr.T, pr.P),
                       is_minimum=True, converged=True, iterations=sol.iterations + pm.iterations,
                       origin=f"{origin}, {what}; polished to {POLISH_DPS} digits (residual "
                              f"{float(pm.residual):.1e}, whitened Hessian min eigenvalue "
                              f"{pm.whitened_min_eigenvalue:.3g})",
                       precision=f"mpmath {POLISH_DPS} digits")


def saddle_point(problem: Problem, n_starts: int = 6, seed: int = 0, tol: float = 1e-13) -> SaddlePoint:
    """The kernel of the theory: the global minimum of S(H), with every distinct minimum found.

    The search (module docstring): the prior kernel, then every saddle left
    along its negative curvature in the Z2-odd and -even sectors, then
    ``n_starts - 1`` random starts drawn with ``seed`` (abandoned
    inside a known basin).  A stationary point counts as a minimum when its
    whitened residual is below ``tol`` and its whitened Hessian has no negative
    eigenvalue (module docstring); saddles are dropped.  BLAS runs
    single-threaded for small kernels (:func:`linkernel.threads.blas_threads_for`).
    Raises :class:`ConvergenceError` if no start converged to a minimum.
    """
    from linkernel.validation import count
    from linkernel import validation
    require_problem("problem", problem)
    n_starts = count("n_starts", n_starts)
    seed = validation.seed("seed", seed)
    tol = validation.tolerance("tol", tol)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    H_prior = prior_kernel(problem)
    search = _Search(problem, tol)
    with blas_threads_for(problem.n):
        search.descend(H_prior, "prior kernel")
        for H0 in _starts(problem, n_starts - 1, rng, near=[H_prior] + search.saddles):
            search.descend(H0, "random start", stop_near=True)
        found = sorted(search.minima, key=lambda m: m.action)
        if not found:
            if search.floor_failures:
                raise ConvergenceError(
                    "no minimum of S could be converged: " + "; ".join(sorted(set(search.floor_failures)))
                    + ". The problem is ill-conditioned (a nearly singular kernel); rescale it (u, w) or "
                    "call linkernel.theory.highprec.polish_minimum(problem, H, dps=...) on the float64 kernel "
                    "with more digits")
            raise ConvergenceError(
                f"no start converged to a minimum of S (largest whitened residual |L^T dS/dH L| of the "
                f"unconverged runs {search.worst:.2e}, tol={tol:g}); try more starts (n_starts), another "
                "seed, a looser tol, or, if the problem is ill-conditioned, "
                "linkernel.theory.highprec.polish_minimum")
        if search.unconverged:
            warnings.warn(
                f"saddle_point: {search.unconverged} descent(s) stopped after {MAXITER} Newton steps without "
                f"converging (largest whitened residual {search.worst:.2e}); a minimum they were heading for "
                "may be missing from .minima (SaddlePoint.unconverged_runs)", SaddleWarning, stacklevel=2)
        # the Hessian spectrum once per minimum: the reported one for the global minimum, its
        # smallest eigenvalue for the others.  LOBPCG's residual tolerance 1e-6 (absolute) gives the
        # eigenvalues to ~1e-7 relative even where they are 1e-5 (TP = 256), at 2/3 the cost of 1e-9
        H = found[0].kernel
        eigs, _, _ = _spectrum(problem, H, tol=1e-6)
        found = [replace(m, hessian_min_eigenvalue=float(eigs[0])) if k == 0 else
                 m if np.isfinite(m.hessian_min_eigenvalue) else
                 replace(m, hessian_min_eigenvalue=float(_spectrum(problem, m.kernel, k=1, tol=1e-6)[1]))
                 for k, m in enumerate(found)]
        best = found[0]
    return SaddlePoint(
        problem=problem, kernel=H, action=best.action, kl=kl_term(problem, H),
        likelihood=likelihood_term(problem, H), grad_norm=best.grad_norm,
        hessian_eigenvalues=eigs, predictions=predictions(problem, H), order_parameter=best.order_parameter,
        minima=tuple(found), n_starts=n_starts, seconds=time.perf_counter() - t0,
        method=search.method, iterations=search.iterations, hessian_products=search.products,
        converged=best.converged, precision=best.precision, unconverged_runs=search.unconverged)

"""The local minimiser of S(H): trust-region Newton-CG in whitened coordinates, and Newton on dS/dH = 0.

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
(exact where Sigma(H) = H; :meth:`linkernel.theory.action.Pieces.prior_metric_inverse`),
which brings the condition to 4-17 and the Hessian products per solve down
3-10x; the trust region is then measured in M's norm.  Far from a minimum that
norm does not bound the step in the whitened metric, so a step is shortened
along its direction until H + L X L^T keeps every eigenvalue of 1 + X above
1 - :data:`TO_BOUNDARY` (fraction to the boundary).

Each CG iteration is one Hessian-vector product, a few n x n products
(:meth:`linkernel.theory.action.Pieces.whitened_hessian_vector`); memory is
O(n^2), n = TP.  For small n (``dim = n(n+1)/2 <= DENSE_NEWTON_MAX_DIM``) the
whitened Hessian is assembled densely once per step
(:func:`linkernel.theory.hessian.whitened_dense`) and CG runs on the matrix,
which is faster there.

:func:`stationary_point` is plain damped Newton on the saddle-point equations
(:func:`linkernel.theory.newton.damped_newton`): it converges to minima *and*
saddles, whichever is near.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from linkernel import validation
from linkernel.errors import KernelError
from linkernel.problem import Problem, require_problem
from linkernel.theory.action import (Pieces, frobenius as frobenius_inner, frobenius_norm, from_vector,
                                     lower_sandwich, to_vector)
from linkernel.theory.hessian import dense_hessian, whitened_dense
from linkernel.theory.newton import damped_newton
from linkernel.threads import entry_point, one_thread

#: dense whitened Hessian (CG on a matrix) up to this many coordinates, matrix-free above.
#: Assembling it costs two dim^3 products (~1 ms at dim = 120, n = 15), about as
#: much as the ~20 matrix-free products (Python-bound at small n) of one CG solve.
DENSE_NEWTON_MAX_DIM = 120
#: a random start is abandoned once its whitened distance to a known minimum is below this.
BASIN_RADIUS = 5e-2
#: Newton steps per descent.
MAXITER = 200
#: the trust region's largest radius in whitened coordinates (< 1 keeps H positive definite).
MAX_RADIUS = 2.0
#: the whitened residual below which CG is preconditioned (:meth:`Pieces.whitened_preconditioner`).
#: Not from the first step: far from a minimum the prior metric can be a poor model of the curvature
#: (a T = 2 problem at lambda = 0 started from 2 + H_prior crawled for 200 steps preconditioned, 15 not),
#: and near one it costs nothing extra (endpoint TP = 64: 0.10 s either way).
PRECONDITION_BELOW = 1.0
#: the preconditioned CG runs on dH (Frobenius coordinates) while cond_2(H) <= this (eps cond^2 ~ 2e-8),
#: on the whitened X above (:meth:`_Descent._frobenius_ok`).
FROBENIUS_MAX_COND = 1e4
#: the CG of a step stops once its (preconditioned) residual has fallen to FORCING_MARGIN tol / |g|
#: relative, if that is looser than the superlinear forcing term: enough to bring |g| below tol.
FORCING_MARGIN = 0.1
#: a step may shrink H along any direction by at most this fraction (H + L X L^T needs X > -1).
TO_BOUNDARY = 0.8


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
    pieces: Pieces | None = None      # the Pieces at ``kernel`` (so a certificate need not factor it again)


# --- Steihaug's truncated CG ---------------------------------------------------------------
def _inner(X, Y) -> float:
    return frobenius_inner(X, Y)


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


def _fraction_to_boundary(X) -> float:
    """The factor s <= 1 with s X >= -TO_BOUNDARY (eigenvalues): H + L sX L^T stays well inside the PD cone.

    The preconditioned trust region bounds the step in the Hessian's metric,
    not the whitened one, so far from a minimum it can ask for a step across
    the cone's boundary; shortening it along its own direction keeps the model
    decrease positive (interior-point methods' fraction-to-the-boundary rule).
    """
    if frobenius_norm(X) < TO_BOUNDARY:      # |eigenvalues| <= |X|_F
        return 1.0
    with one_thread(X.shape[0]):
        low = float(np.linalg.eigvalsh(X)[0])
    return 1.0 if low >= -TO_BOUNDARY else TO_BOUNDARY / -low


# --- the trust-region descent ------------------------------------------------------------------
class _Descent:
    """One trust-region descent: the iterate H with its Pieces, S, dS/dH, |dS/dH|, the radius and the cost.

    :meth:`step` moves to the next iterate (the inner loop of the trust
    region: shrink until a step is accepted); :func:`minimize_action` runs the
    outer loop and decides when to stop.
    """

    def __init__(self, problem: Problem, H0, dense: bool, precondition: bool):
        self.problem, self.dense, self.precondition = problem, dense, precondition
        self.n = problem.n
        self.dim = self.n * (self.n + 1) // 2
        self.pc = Pieces(problem, H0)
        self.H = self.pc.H
        self.S, self.G = self.pc.action(), self.pc.gradient()
        self.res = frobenius_norm(self.G)
        self.radius = 0.25
        self.products = 0
        self.stall = 0          # consecutive steps at the rounding level that barely lowered |dS/dH|

    def whitened_gradient(self) -> np.ndarray:
        """L^T (dS/dH) L at the iterate (H = L L^T)."""
        L = self.pc.LH
        return lower_sandwich(L, self.G, transpose=True)

    def near(self, mirrors, basin_radius: float):
        """The index of the known minimum (or mirror) within whitened distance ``basin_radius``, or None."""
        hn = frobenius_norm(self.H)     # >= the largest eigenvalue of H: |D|/|H| bounds the whitened distance below
        for k, K in mirrors:
            D = self.H - K
            if frobenius_norm(D) < basin_radius * hn and frobenius_norm(self.pc.whiten(D)) < basin_radius:
                return k
        return None

    def _whitened_hessian(self):
        """X -> whitened Hessian applied to X: on the assembled matrix (dense) or matrix-free."""
        if not self.dense:
            return self.pc.whitened_hessian_vector
        Bw = whitened_dense(self.problem, self.pc)
        n = self.n
        return lambda X: from_vector(Bw @ to_vector(X), n)

    def _frobenius_ok(self) -> bool:
        """Whether the CG may run on dH itself (:meth:`Pieces.hessian_vector`, M^-1) instead of whitened X.

        In exact arithmetic the preconditioned CG iterates are the same (congruent, E = L X L^T), and
        the products are cheaper (7 + 2 n x n products per iteration against 9 + 6); but H^-1 E H^-1
        rounds like eps cond_2(H)^2, so only while an upper bound on cond_2(H)
        (:attr:`Pieces.condition_bound`) is <= FROBENIUS_MAX_COND.
        """
        return self.pc.condition_bound <= FROBENIUS_MAX_COND

    def step(self, g: np.ndarray, gn: float, tol: float = 0.0) -> str:
        """Take one accepted trust-region step from the iterate; returns "moved", or "failed" / "floor".

        ``g``, ``gn``: the whitened gradient and its norm.  A trial outside the
        PD cone quarters the radius; a trial the ratio test rejects sets it to
        a quarter of the step.  "failed": the radius fell below 1e-12.
        "floor": the quadratic model is exact at rounding level, yet the
        residual does not drop.  ``tol``: the run's target whitened residual; the CG's forcing term
        is not made smaller than :data:`FORCING_MARGIN` ``tol / gn``, all the last step needs.
        """
        # superlinear forcing min(0.1, sqrt|g|), but a last step from |g| = 1e-11 to tol = 1e-13 needs
        # a relative CG residual of 1e-2, not sqrt|g| = 3e-6 (7-12 products, where 4-5 do)
        eta = max(min(0.1, np.sqrt(gn)), FORCING_MARGIN * tol / gn)
        L, H, S, res = self.pc.LH, self.H, self.S, self.res
        precondition = self.precondition == "always" or (self.precondition and gn < PRECONDITION_BELOW)
        frobenius = precondition and not self.dense and self._frobenius_ok()
        if frobenius:       # the same CG iterates, congruent (E = L X L^T): 9 products per iteration, not 15
            hw, prec, g = self.pc.hessian_vector, self.pc.prior_metric_inverse, self.G
        else:
            hw = self._whitened_hessian()
            prec = self.pc.whitened_preconditioner if precondition else None
        # the radius is kept when the preconditioner switches on: both norms are O(1) steps in S's own
        # curvature near a minimum, and the ratio test resizes it within a step or two
        while True:
            X, BX, k, hit, xn = _steihaug(hw, g, self.radius, eta, maxcg=min(self.dim, 500), prec=prec)
            self.products += k
            if frobenius:   # |L^-1 X L^-T|_F <= |H^-1|_2 |X|_F: most steps are short, and need no whitening
                short = frobenius_norm(X) * self.pc.inverse_norm_bound < TO_BOUNDARY
                frac = 1.0 if short else _fraction_to_boundary(self.pc.whiten(X))
            else:
                frac = _fraction_to_boundary(X)
            if frac < 1.0:
                X, BX, xn = frac * X, frac * BX, frac * xn
            pred = -(_inner(g, X) + 0.5 * _inner(X, BX))
            step = X if frobenius else lower_sandwich(L, X)
            Hn = H + 0.5 * (step + step.T)
            try:
                pcn = Pieces(self.problem, Hn, check=False)
                Sn = pcn.action()
            except (KernelError, np.linalg.LinAlgError):
                self.radius *= 0.25
                if self.radius < 1e-12:
                    return "failed"
                continue
            Gn = pcn.gradient()
            resn = frobenius_norm(Gn)
            ared = S - Sn
            # near convergence S changes at its rounding level: judge the step by the residual
            tiny = abs(pred) < 1e-12 * max(1.0, abs(S))
            rho = ared / pred if pred > 0 else -1.0
            ok = (resn < res) if tiny else (rho > 1e-4)
            if not ok:
                if tiny:     # the model is exact, yet the residual does not drop: rounding floor
                    return "floor"
                self.radius = 0.25 * xn
                if self.radius < 1e-12:
                    return "failed"
                continue
            if rho < 0.25 and not tiny:
                self.radius = 0.25 * xn
            elif (rho > 0.75 or tiny) and hit:
                self.radius = min(2.0 * self.radius, MAX_RADIUS)
            self.stall = self.stall + 1 if (tiny and resn > 0.5 * res) else 0
            if rho > 1.1 and not hit and xn > 1e-2:
                Hn, pcn, Sn = _extend(self.problem, H, 0.5 * (step + step.T), Hn, pcn, Sn)
                Gn = pcn.gradient()
                resn = frobenius_norm(Gn)
            self.H, self.pc, self.S, self.G, self.res = Hn, pcn, Sn, Gn, resn
            return "moved"


def _extend(problem: Problem, H, sym, Hn, pcn, Sn):
    """(Hn, pcn, Sn) after extending the step H -> H + sym to H + alpha sym, alpha = 2, 4, ..., 32, while S drops.

    S can fall faster than its quadratic model (e.g. the likelihood's 1/H far
    from the minimum, where Newton only multiplies H by 3/2).
    """
    for alpha in (2.0, 4.0, 8.0, 16.0, 32.0):
        try:
            pct = Pieces(problem, H + alpha * sym, check=False)
            St = pct.action()
        except (KernelError, np.linalg.LinAlgError):
            break
        if not St < Sn:
            break
        Hn, pcn, Sn = pct.H, pct, St
    return Hn, pcn, Sn


@entry_point
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
    ``basin_radius``.  ``precondition``: True, CG preconditioned by the prior metric below a whitened
    residual of PRECONDITION_BELOW (and, where the run uses up its steps, redone preconditioned
    throughout); "always"; False, never.  Raises KernelError if H0 is not positive definite.
    """
    require_problem("problem", problem)
    validation.choice("precondition", precondition, (True, False, "always"))
    tol = validation.tolerance("tol", tol)
    maxiter = MAXITER if maxiter is None else validation.count("maxiter", maxiter, low=0)
    n = problem.n
    dim = n * (n + 1) // 2
    dense = dim <= DENSE_NEWTON_MAX_DIM if dense is None else bool(dense)
    sol = _descend(problem, H0, tol, maxiter, dense, known, basin_radius, precondition)
    if not sol.converged and sol.stopped_near is None and precondition is True:
        # Far from a minimum the prior metric can mislead the CG (hence PRECONDITION_BELOW), but some
        # ill-conditioned problems need it from the first step: without it ill_conditioned_18 of
        # tests/data stalls at a whitened residual of 5e-6, with it at 3e-9, where the search's 50-digit
        # polish takes over.  A run that did not converge is redone preconditioned throughout.
        retry = _descend(problem, H0, tol, maxiter, dense, known, basin_radius, "always")
        return replace(retry, iterations=sol.iterations + retry.iterations,
                       hessian_products=sol.hessian_products + retry.hessian_products)
    return sol


def _descend(problem: Problem, H0, tol: float, maxiter: int, dense: bool, known, basin_radius: float,
             precondition) -> Solve:
    """The loop of :func:`minimize_action` (its arguments checked)."""
    method = "trust-region Newton-CG, " + ("dense" if dense else "matrix-free")
    d = _Descent(problem, H0, dense, precondition)
    gn = float("nan")
    mirrors = _mirrors(problem, known)

    def done(conv, it, **kw):
        return Solve(d.H, d.S, d.res, bool(conv), it, d.products, method, whitened_grad_norm=gn, pieces=d.pc, **kw)

    for it in range(maxiter + 1):
        g = d.whitened_gradient()
        gn = frobenius_norm(g)
        if gn <= tol:
            return done(True, it)
        k = d.near(mirrors, basin_radius) if mirrors else None
        if k is not None:
            return done(False, it, stopped_near=k)
        if it == maxiter:
            break
        how = d.step(g, gn, tol)
        if how == "failed":
            return done(False, it)
        if how == "floor":
            return done(gn <= 1e3 * tol, it, at_floor=True)
        # at the rounding floor a step barely lowers |dS/dH|; three such steps in a row stop the run, one
        # already where the whitened residual is within the floor's band (<= 1e3 tol, accepted as converged):
        # more steps there only confirm the floor (a T = 128 sequence spent 32 of its 87 products on them)
        if d.stall >= 3 or (d.stall and gn <= 1e3 * tol):
            gn = frobenius_norm(d.whitened_gradient())
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
@entry_point
def stationary_point(problem: Problem, H0, tol: float = 1e-11, maxiter: int = 100) -> tuple:
    """Newton's method on dS/dH = 0 from H0 (finds minima *and* saddles).

    Returns ``(H, grad_norm, converged)``: converged when |dS/dH|_F <
    ``tol * max(1, max|H0|)``, or where a step no longer lowers it below 1e3
    times that (the rounding floor).  The steps are damped by
    :func:`linkernel.theory.newton.damped_newton` (halving from the full
    step until the residual drops, any step <= 1e-3 taken, none below 1e-6)
    so that H stays positive definite.  The Newton system is solved densely
    (:func:`linkernel.theory.hessian.dense_hessian`) for small kernels and by
    MINRES on the whitened Hessian-vector product above
    ``4 DENSE_NEWTON_MAX_DIM`` coordinates.  Raises KernelError if H0 is not
    positive definite.
    """
    require_problem("problem", problem)
    tol = validation.tolerance("tol", tol)
    maxiter = validation.count("maxiter", maxiter, low=0)
    H = np.array(H0, dtype=float)
    n = problem.n
    dense = n * (n + 1) // 2 <= 4 * DENSE_NEWTON_MAX_DIM
    first = Pieces(problem, H)      # checks H0 (raises KernelError) and symmetrises it
    last = []                       # the last point evaluated: the step a rounding-floor stop refused

    def evaluate(x):
        pc = first if x is H else Pieces(problem, x, check=False)
        g = pc.gradient()
        r = float(np.linalg.norm(g))
        if np.isfinite(r):
            last[:] = [x, r]
        return r, (pc, g)

    def direction(x, state):
        pc, g = state
        return -_newton_step(problem, pc, g, dense=dense)

    out = damped_newton(evaluate, direction, H, tol=tol, maxiter=maxiter, min_step=1e-6, accept_step=1e-3)
    if out.reason == "rounding floor":
        # the step that no longer lowered the residual is taken, as this solver always has
        return last[0], float(min(out.residual, last[1])), True
    return out.x, float(out.residual), bool(out.converged and out.reason != "line search failed")


def _newton_step(problem: Problem, pc: Pieces, G, dense: bool) -> np.ndarray:
    """The Newton step E with d2S[E] = G (least squares where the Hessian is singular)."""
    n = problem.n
    if dense:
        return from_vector(np.linalg.lstsq(dense_hessian(problem, pc.H, pieces=pc), to_vector(G), rcond=None)[0], n)
    from scipy.sparse.linalg import LinearOperator, minres
    L = pc.LH
    dim = n * (n + 1) // 2

    def mv(x):
        X = from_vector(x, n)
        Y = L.T @ pc.hessian_vector(L @ X @ L.T) @ L
        return to_vector(0.5 * (Y + Y.T))

    op = LinearOperator((dim, dim), matvec=mv, dtype=float)
    x, _ = minres(op, to_vector(L.T @ G @ L), rtol=1e-12, maxiter=10 * dim)
    return L @ from_vector(x, n) @ L.T

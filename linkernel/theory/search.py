"""The default search for the global minimum of S: systematic, certified, a few descents.

:func:`linkernel.theory.saddle.saddle_point` runs :class:`GlobalSearch` by
default.  Its coverage, in order (each step says what it found in
``SaddlePoint.coverage``):

(a) **One certified descent from the prior kernel** (trust-region Newton-CG,
    :func:`linkernel.theory.minimize.minimize_action`).  Its iterates never
    leave the sets the problem's symmetries keep invariant (the Z2-even
    kernels; time-diagonal ones on endpoint tasks), so it ends at the most
    symmetric stationary point.  The end point is certified
    (:func:`linkernel.theory.certificate.certify`: whitened residual, and the
    lowest eigenvalue of the pencil (Hessian, prior metric) against its error).

(b) **Leaving saddles along negative curvature.**  Where the certificate finds
    negative curvature, the descent restarts along the *lowest* eigenvector of
    each sector (at a Z2-symmetric kernel the odd and even sectors apart): one
    sign in the odd sector (the other is its Z2 mirror), both signs elsewhere;
    up to :data:`ESCAPE_DEPTH` saddles deep.  Deterministic: the Lanczos start
    is a fixed pseudo-random matrix.  In the catalogue (``canonical=True``) the
    lowest direction is replaced by a basis of the lowest *cluster* that does
    not depend on the eigensolver at all (:func:`escape_directions`): where the
    lowest eigenvalue is degenerate, the one vector Lanczos returns depends on
    its start.

(c) **A lambda-probe for first-order regions.**  Where the prior's descent
    ends at a certified minimum at lambda > 0, a lower minimum can still lie on
    another branch, born in a fold (a first-order transition): the symmetric
    point of the Z2 endpoint tasks below lambda_c (T = 4, kappa = 50 at
    0.95 lambda_c), or, without any symmetry, the far minimum of
    ``ill_conditioned_6`` (tests/data/ill_conditioned.json), which appears in a
    fold between 0.8 and 0.9 lambda and which no descent from the prior kernel
    at the target lambda reaches (192 of 200 random starts miss it too: it lies
    65 whitened units away, along the one direction in which the kernel grows
    to align its predictions with the labels).  Above the fold's lambda the
    prior's descent *does* reach that branch (at 1.5 lambda it is the only
    minimum).  So the probe descends from the prior kernel at ``f lambda`` for
    f = 2, 4, 8, 16 (:data:`PROBE_FACTORS`; where the problem has a Z2 symmetry
    it stops at the first f where the symmetric point is unstable, or where
    its odd curvature has not decreased since the previous factor (the DNN's
    is 1 at every lambda: a symmetric point that is not losing stability
    gives birth to no broken branch ahead -- a heuristic for curvatures that
    are monotone in lambda, said in the coverage); without a symmetry after
    f = 2, its descent converged to :data:`FOLLOW_TOL` only: what it finds is a
    starting point), leaving saddles as in (b), and follows each minimum found there
    back to the target lambda by warm-started descents (:data:`FOLLOW_STEPS`
    geometric steps per doubling, a secant predictor); what arrives is
    certified at lambda and is a candidate, unless it enters the basin of a
    minimum already found (then it stops there).  A followed Z2
    branch that turns symmetric on the way has died (its fold or pitchfork
    lies above lambda) and is dropped.

(d) The even-sector metastable minima (correlations at even lags only, P >= 2)
    are reached in (b), along the even sector's lowest direction.

Where the problem has the orthogonal-pattern symmetry (the endpoint task with
P >= 16), :func:`linkernel.theory.saddle.saddle_point` runs this search on its
three-pattern stand-in and lifts what it finds
(:mod:`linkernel.theory.pattern_symmetry`): the same points, verdicts and
coverage at the cost of TP = 3T.

What it cannot exclude (said in the result): minima on branches that are
connected neither to the prior's descent at lambda nor to the probe's
(isolated branches), minima reached only along non-lowest negative
directions, and on Z2 problems a broken branch born beyond a stretch where
the symmetric point's odd curvature did not decrease; the catalogue (``saddle_point(problem, minima="all")``) searches
those too, with random starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkernel.errors import ConvergenceError, KernelError
from linkernel.problem import Problem, fix_z2_sign
from linkernel.theory.action import Pieces, from_vector, prior_kernel
from linkernel.theory.certificate import Certificate, certify
from linkernel.theory.curvature import condition_estimate, is_symmetric_point
from linkernel.theory.minimize import minimize_action

#: saddles left in a row, at most, along negative curvature.
ESCAPE_DEPTH = 4
#: the lambda-probe's factors (a doubling walk).
PROBE_FACTORS = (2.0, 4.0, 8.0, 16.0)
#: warm-started descents per doubling of lambda when following a probe's minimum back.
FOLLOW_STEPS = 4
#: the whitened residual of the intermediate descents of a follow (the last one is certified at tol).
FOLLOW_TOL = 1e-9
#: a run stalled by rounding counts as stationary when its whitened residual |L^T G L| is below this.
FLOOR_WHITENED = 1e-6
#: minima that float64 cannot converge are polished in POLISH_DPS digits up to TP = POLISH_MAX_N.
POLISH_DPS = 50
POLISH_MAX_N = 40
#: whitened-Hessian eigenvalues closer than this form one cluster (its spectrum is O(1): the KL part is 1/2;
#: the eigensolvers resolve eigenvalues far below it, and a gap this wide keeps their eigenvectors to ~1e-2 rad)
CLUSTER_GAP = 1e-4
#: the most negative directions per sector the catalogue leaves a saddle along (a cluster is never split)
CATALOGUE_DIRECTIONS = 16


@dataclass(frozen=True, eq=False)
class Found:
    """A certified stationary point: kernel (Z2 representative), S, |dS/dH|, its certificate and history."""

    kernel: np.ndarray
    action: float
    grad_norm: float
    certificate: Certificate
    origin: str
    iterations: int
    converged: bool
    precision: str = "float64"


def kick(H: np.ndarray, direction: np.ndarray, size: float = 0.1) -> np.ndarray:
    """H moved along a direction by ``size`` in the whitened metric (so it stays positive definite)."""
    from scipy.linalg import solve_triangular
    pc_L = np.linalg.cholesky(H)
    X = solve_triangular(pc_L, solve_triangular(pc_L, direction, lower=True).T, lower=True)
    return H + size * direction / max(np.linalg.norm(0.5 * (X + X.T)), 1e-300)


def mirrors(problem: Problem, H: np.ndarray) -> list:
    """H and its images under the problem's sign flips (the Z2 and pattern symmetries)."""
    flips = [s for _, s in problem.symmetries]
    if problem.has_z2:
        flips.append(problem.parity_signs)
    return [H] + [s[:, None] * H * s[None, :] for s in flips]


def is_new(problem: Problem, H: np.ndarray, known, rtol: float = 1e-6) -> bool:
    """Whether H differs from every known kernel and its mirrors by more than ``rtol`` (relative, Frobenius)."""
    return all(np.linalg.norm(H - M) > rtol * max(1.0, np.linalg.norm(K)) for K in known for M in mirrors(problem, K))


def canonical_basis(vecs: list) -> list:
    """An orthonormal basis of span(vecs) that does not depend on which basis the eigensolver returned.

    The span's projector Pi = Q Q^T is basis independent; a QR factorisation
    of Q^T with column pivoting picks coordinates by the norms of Pi's columns
    (invariant under Q -> Q W), and ``Q U`` (Q^T[:, piv] = U R) is the same for
    every orthonormal Q of the span.  Each vector's sign makes its pivot
    coordinate positive.  One vector: itself, normalised.
    """
    from scipy.linalg import qr
    if len(vecs) <= 1:
        return [d / np.linalg.norm(d) for d in vecs]
    shape = vecs[0].shape
    Q, _ = np.linalg.qr(np.column_stack([d.ravel() for d in vecs]))
    U, _, piv = qr(Q.T, pivoting=True, mode="economic")
    D = Q @ U
    return [(D[:, j] if D[piv[j], j] >= 0 else -D[:, j]).reshape(shape) for j in range(D.shape[1])]


def clusters(vals) -> list:
    """Index ranges [(start, stop)] of ascending ``vals`` whose neighbours lie within :data:`CLUSTER_GAP`."""
    out, start = [], 0
    for j in range(1, len(vals) + 1):
        if j == len(vals) or vals[j] - vals[j - 1] > CLUSTER_GAP:
            out.append((start, j))
            start = j
    return out


def escape_directions(problem: Problem, H, pc: Pieces | None = None, most: int = CATALOGUE_DIRECTIONS,
                      lowest_only: bool = False) -> list:
    """Directions of negative curvature at H that do not depend on the eigensolver: [(eigenvalue, dH, sector)].

    Per sector (odd and even apart at a Z2-symmetric kernel, else the whole
    space, ``sector`` None) the lowest eigenpairs of the whitened Hessian
    (:func:`linkernel.theory.hessian.lowest_whitened_eigenpairs`, converged, not
    a sign test) are grouped into clusters (:func:`clusters`); every negative
    cluster is kept whole, up to ``most`` directions (the lowest cluster even
    if larger), or only the lowest with ``lowest_only``.  A simple eigenvalue
    gives its eigenvector; a cluster the :func:`canonical_basis` of its span,
    the same whatever basis or order the solver returned within it (its start
    vector, a degenerate cluster).  The window of eigenpairs is doubled until
    it reaches past the kept clusters, so that none is split.  ``dH = L X L^T``
    (X whitened, unit norm); eigenvalue: the cluster's lowest.
    """
    from linkernel.theory.curvature import DENSE_SIGN_MAX_DIM, NEG_TOL
    from linkernel.theory.hessian import lowest_whitened_eigenpairs, sector_coordinates
    pc = Pieces(problem, H) if pc is None else pc
    n = problem.n
    out = []
    for sector in (("odd", "even") if is_symmetric_point(problem, pc.H) else (None,)):
        sel = sector_coordinates(problem, sector)
        size = n * (n + 1) // 2 if sel is None else len(sel)
        k = min(size, 4 if lowest_only else 8)
        while True:
            # dense (LAPACK, exact) up to the sign test's size, converged Lanczos/LOBPCG (1e-6) above
            vals, vecs = lowest_whitened_eigenpairs(problem, pc, k, sector, dense_max=DENSE_SIGN_MAX_DIM)
            keep, count = [], 0
            for a, b in clusters(vals):
                if vals[b - 1] >= -NEG_TOL or keep and (lowest_only or count + b - a > most):
                    break
                keep.append((a, b))
                count += b - a
            # complete: the window reaches past the kept clusters (or holds the whole sector, or is at the cap)
            if not keep or keep[-1][1] < len(vals) or k >= size or k >= 2 * most:
                break
            k = min(size, 2 * k)
        if keep and keep[-1][1] == len(vals) and k < size and len(keep) > 1:
            keep.pop()            # the window ended inside the last cluster (the cap): it may be split
        for a, b in keep:
            for x in canonical_basis([vecs[:, j] for j in range(a, b)]):
                X = from_vector(x, n)
                out.append((float(vals[a]), pc.LH @ X @ pc.LH.T, sector))
    return out


def _odd_curvature(cert: Certificate | None):
    """(lowest eigenvalue, error) of the pencil in the odd sector of a symmetric point's certificate, or None."""
    if cert is None or "odd" not in cert.by_sector:
        return None
    return cert.by_sector["odd"]


class GlobalSearch:
    """One default search (module docstring): the minima, degenerate points and saddles met, and the cost."""

    def __init__(self, problem: Problem, tol: float, canonical: bool = False):
        self.problem, self.tol = problem, tol
        # canonical: leave a saddle along the canonical basis of each sector's lowest cluster
        # (escape_directions, the catalogue's), not along the certificate's one lowest vector
        self.canonical = canonical
        self.minima: list[Found] = []
        self.degenerate: list[Found] = []
        self.saddles: list[np.ndarray] = []
        self.coverage: list[str] = []
        self.iterations = 0
        self.products = 0
        self.certificate_products = 0
        self.descents = 0
        self.method = ""
        self.worst = 0.0
        self.unconverged = 0
        self.floor_failures: list[str] = []
        self.last_certificate: Certificate | None = None

    # --- one certified descent, leaving saddles -----------------------------------------------------
    def settle(self, problem: Problem, H0, origin: str, sink: list, depth: int = 0, tol: float | None = None,
               escapes: bool = True, saddles: list | None = None, stop_at=None) -> str:
        """Descend from H0 at ``problem`` (its lambda), certify, leave saddles; minima go to ``sink``.

        Returns what the first descent ended at: "minimum", "saddle", "degenerate" or "failed".
        ``stop_at``: kernels of minima already known at this lambda; the descent is abandoned in
        their basin (:data:`linkernel.theory.minimize.BASIN_RADIUS`) and returns "minimum" (default:
        the sink's minima when leaving a saddle, none for the first descent).  The certificate of
        the first descent's end point is kept in ``self.last_certificate``.
        """
        tol = self.tol if tol is None else tol
        if depth == 0:
            self.last_certificate = None
        try:
            known = ([f.kernel for f in sink] if depth else ()) if stop_at is None else stop_at
            sol = minimize_action(problem, H0, tol=tol, known=known)
        except (KernelError, np.linalg.LinAlgError):
            return "failed"
        self.descents += 1
        self.iterations += sol.iterations
        self.products += sol.hessian_products
        self.method = sol.method
        if sol.stopped_near is not None:
            return "minimum"
        at_floor = not sol.converged and sol.at_floor and sol.whitened_grad_norm < FLOOR_WHITENED
        if not sol.converged and not at_floor:
            self.worst = max(self.worst, sol.whitened_grad_norm)
            self.unconverged += 1
            return "failed"
        H = sol.kernel
        pc = sol.pieces if sol.pieces is not None else Pieces(problem, H)
        # float64 can stall above tol (nearly singular kernels): judge the curvature first, polish minima
        cert = certify(problem, H, tol=1e3 * tol if sol.at_floor else tol, pc=pc)
        self.certificate_products += cert.products
        if depth == 0:
            self.last_certificate = cert
        if cert.status == "saddle":
            (self.saddles if saddles is None else saddles).append(H)
            if escapes and depth < ESCAPE_DEPTH:
                if self.canonical:
                    lowest = [(sector, E) for _, E, sector in escape_directions(problem, H, pc, lowest_only=True)]
                else:
                    first_of = {}
                    for val, E, sector in cert.directions:      # lowest first
                        first_of.setdefault(sector, E)
                    lowest = list(first_of.items())
                for sector, E in lowest:
                    for sgn in ((1.0,) if sector == "odd" else (1.0, -1.0)):
                        self.settle(problem, kick(H, sgn * E),
                                    f"{origin}, left along the lowest {sector or 'negative'} curvature direction",
                                    sink, depth + 1, tol=tol, escapes=escapes, saddles=saddles)
            return "saddle"
        found = self._found(problem, sol, cert, origin, at_floor)
        if found is None:
            return "failed"
        if found.certificate.status == "minimum":
            if is_new(problem, found.kernel, [f.kernel for f in sink]):
                sink.append(found)
            return "minimum"
        if is_new(problem, found.kernel, [f.kernel for f in self.degenerate]):
            self.degenerate.append(found)
        return found.certificate.status

    def _found(self, problem, sol, cert: Certificate, origin: str, at_floor: bool) -> Found | None:
        """The Found of a stationary point; float64-stalled minima polished to 50 digits (None if that fails)."""
        H = fix_z2_sign(problem, sol.kernel)
        if not at_floor or cert.status == "degenerate" and cert.lowest < 0:
            return Found(kernel=H, action=float(sol.action), grad_norm=float(sol.grad_norm), certificate=cert,
                         origin=origin, iterations=sol.iterations, converged=sol.converged or at_floor)
        pc = Pieces(problem, sol.kernel)
        what = (f"float64 stalled at |dS/dH| = {sol.grad_norm:.2e} (whitened residual "
                f"{sol.whitened_grad_norm:.1e}, Hessian condition ~{condition_estimate(problem, pc):.0e})")
        if problem.n > POLISH_MAX_N:
            self.floor_failures.append(f"{what}; TP={problem.n} is too large for the 50-digit polish "
                                       f"(TP <= {POLISH_MAX_N})")
            return None
        from linkernel.theory import highprec
        try:
            pm = highprec.polish_minimum(problem, sol.kernel, dps=POLISH_DPS)
        except ConvergenceError as e:
            self.floor_failures.append(f"{what}; the {POLISH_DPS}-digit polish failed: {e}")
            return None
        Hp = fix_z2_sign(problem, pm.kernel_float)
        # the residual at 50 digits, whitened: |L^T G L| <= lambda_max(H) |G|
        wres = float(pm.residual) * float(np.linalg.eigvalsh(Hp)[-1])
        cert = certify(problem, Hp, tol=self.tol, whitened_residual=wres)
        self.certificate_products += cert.products
        return Found(kernel=Hp, action=float(pm.action), grad_norm=float(pm.residual), certificate=cert,
                     origin=f"{origin}, {what}; polished to {POLISH_DPS} digits (residual "
                            f"{float(pm.residual):.1e}, whitened Hessian min eigenvalue "
                            f"{pm.whitened_min_eigenvalue:.3g})",
                     iterations=sol.iterations + pm.iterations, converged=True,
                     precision=f"mpmath {POLISH_DPS} digits")

    # --- the lambda-probe -------------------------------------------------------------------------
    def follow(self, H: np.ndarray, lam_from: float, origin: str) -> None:
        """Follow the minimum H at lam_from down to the target lambda by warm-started descents; certify there."""
        pr = self.problem
        lam = float(pr.lam)
        steps = max(1, int(np.ceil(FOLLOW_STEPS * np.log2(lam_from / lam))))
        lams = lam * (lam_from / lam) ** (1.0 - np.arange(1, steps + 1) / steps)
        prev, prev_lam = None, lam_from
        for k, lk in enumerate(lams[:-1]):
            pred = H if prev is None else H + (H - prev) * (lk - prev_lam) / (prev_lam - lams[k - 1] if k else 1.0)
            try:
                np.linalg.cholesky(pred)
            except np.linalg.LinAlgError:
                pred = H
            try:
                sol = minimize_action(pr.with_(lam=float(lk)), pred, tol=FOLLOW_TOL)
            except (KernelError, np.linalg.LinAlgError):
                self.coverage.append(f"  {origin}: lost at lambda = {lk:.6g} (kernel left the PD cone)")
                return
            self.descents += 1
            self.iterations += sol.iterations
            self.products += sol.hessian_products
            prev, prev_lam = H, (lams[k - 1] if k else lam_from)
            H = sol.kernel
            if pr.has_z2 and is_symmetric_point(pr, H):
                self.coverage.append(f"  {origin}: the branch turns Z2-symmetric at lambda = {lk:.6g} "
                                     "(its fold or pitchfork lies above the target): dropped")
                return
        sink: list = []
        # a descent that enters the basin of a minimum already found stops there: no second certificate
        got = self.settle(pr, H, f"{origin}, followed back to lambda = {lam:.6g} in {steps} steps", sink,
                          stop_at=[m.kernel for m in self.minima])
        if got == "minimum" and not sink:
            self.coverage.append(f"  {origin}: followed back in {steps} warm-started descents, ends in the basin "
                                 "of a minimum already found")
            return
        new = [f for f in sink if is_new(pr, f.kernel, [m.kernel for m in self.minima])]
        self.minima.extend(new)
        self.coverage.append(f"  {origin}: followed back in {steps} warm-started descents, ends at a {got}"
                             + (f"; new minimum S = {new[0].action:.12g}" if new else
                                (f" (S = {sink[0].action:.12g}, already found)" if sink else "")))

    def probe(self, base: Certificate | None = None) -> None:
        """Step (c): descend from the prior at f lambda (f = 2, 4, ...) and follow each minimum back.

        ``base``: the certificate of the prior's descent at lambda.  On a Z2 problem the walk stops
        at the first f where the symmetric point is unstable, or where its odd curvature (the
        pencil's lowest eigenvalue in the odd sector) has not decreased from the previous factor's
        (within their error bounds): the symmetric point is not on its way to losing stability
        (the DNN's is 1 at every lambda), so no broken branch is born ahead within the probe's reach.
        """
        pr = self.problem
        lam = float(pr.lam)
        prev = _odd_curvature(base)
        for f in PROBE_FACTORS:
            pl = pr.with_(lam=f * lam)
            sink: list = []
            saddles: list = []
            # the probe's minima are starting points, followed back and certified at lambda: without a Z2 they
            # are converged to FOLLOW_TOL only (with one, the odd curvatures compared below need tol)
            tol = self.tol if pr.has_z2 else max(self.tol, FOLLOW_TOL)
            first = self.settle(pl, prior_kernel(pl), f"lambda-probe at {f:g} lambda", sink, saddles=saddles, tol=tol)
            self.coverage.append(f"(c) lambda-probe at {f:g} lambda = {f * lam:.6g}: the prior's descent ends at a "
                                 f"{first}; {len(sink)} minim{'um' if len(sink) == 1 else 'a'} there")
            for m in sink:
                if pr.has_z2 and is_symmetric_point(pr, m.kernel):
                    continue          # the symmetric branch: the target's own prior descent already has it
                self.follow(m.kernel, f * lam, f"lambda-probe minimum of {f:g} lambda (S there {m.action:.8g})")
            if not pr.has_z2 or first == "saddle":
                return
            now = _odd_curvature(self.last_certificate) if first == "minimum" else None
            if prev is not None and now is not None and now[0] + now[1] >= prev[0] - prev[1]:
                self.coverage.append(f"  the symmetric point's odd curvature does not decrease with lambda "
                                     f"({prev[0]:.6g} -> {now[0]:.6g} at {f:g} lambda): no broken branch is "
                                     "born ahead; probe stopped")
                return
            prev = now
        self.coverage.append(f"  the symmetric point stays stable up to {PROBE_FACTORS[-1]:g} lambda: no broken "
                             "branch within the probe's reach")

    # --- the whole default search -----------------------------------------------------------------
    def run(self) -> None:
        pr = self.problem
        H0 = prior_kernel(pr)
        first = self.settle(pr, H0, "prior kernel", self.minima)
        n_saddles = len(self.saddles)
        self.coverage.append(f"(a) one certified descent from the prior kernel: ends at a {first}"
                             + ("" if first in ("minimum", "saddle") else " point"))
        if n_saddles:
            self.coverage.append(f"(b) left {n_saddles} saddle(s) along the lowest negative-curvature direction of "
                                 "each sector (odd: one sign, the other is its Z2 mirror; even/no symmetry: both "
                                 f"signs): {len(self.minima)} minim{'um' if len(self.minima) == 1 else 'a'}")
        if first == "minimum" and float(pr.lam) > 0:
            self.probe(self.last_certificate)
        elif float(pr.lam) == 0:
            self.coverage.append("(c) lambda = 0: S is minimised by the prior kernel alone; no probe")
        elif first == "saddle":
            self.coverage.append("(c) no lambda-probe: the prior's descent ended at a saddle, left along negative "
                                 "curvature")
        else:
            self.coverage.append(f"(c) no lambda-probe: the prior's descent ended at a {first} point")
        self.coverage.append("cannot exclude: minima on branches connected neither to the prior's descent at lambda "
                             "nor to the probe's (isolated branches), nor minima reached only along non-lowest "
                             "negative directions (saddle_point(problem, minima='all') searches those)"
                             + (", nor a broken branch born beyond a stretch of lambda where the symmetric point's "
                                "odd curvature did not decrease" if any("does not decrease" in c for c in self.coverage)
                                else ""))

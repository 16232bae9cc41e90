"""Phase diagrams: the transition's lines in the plane of lambda and one more parameter, by continuation.

For a problem (task + sharing pattern) with a Z2 symmetry ``W_g -> -W_g`` and
a second parameter ``param`` (``kappa``, ``w``, ``v`` or ``u``), the lines are
computed by continuing the special points themselves in ``param`` (the
codimension-two approach of AUTO and BifurcationKit.jl), never by a grid of
traces:

* the **branch-point line** ``lambda_c(param)``: the minimally augmented system
  ``F_e(x_e, lambda) = 0`` (the saddle-point equations dS/dH = 0 in the Z2-even
  coordinates, the odd ones zero) plus the test function
  ``g(x_e, lambda) = mu_odd`` (smallest eigenvalue of the odd block of the
  Hessian) ``= 0``, solved by Newton's method in ``(x_e, lambda)`` at each
  ``param``, warm-started by secant extrapolation from the two previous points
  (natural-parameter continuation in ``log param``: lambda_c is a graph over
  param).  The row ``dg/dx = D^3 S[phi, phi, .]`` (Hellmann-Feynman, phi the
  unit odd null vector) is a central difference of Hessian-vector products
  along phi; the residual is exact, so the Jacobian's accuracy only affects
  the rate of convergence;
* the **Landau coefficient b** along that line, from the fourth derivative
  along the odd null vector with the even modes solved out:
  ``S(x_c + s phi + y) = S_0 + b_s s^4 + O(s^6)``,
  ``b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8``, ``c = D^3S[phi, phi, .]_even``;
  reported per order parameter, ``b = b_s / (a . phi)^4`` with ``m = a . x``
  (:func:`linkernel.theory.action.m_vector` of the breaking group).  ``c`` and
  ``D^4S[phi^4]`` come from ``hessian_vector(H + h Phi, Phi)`` at four step
  sizes with Richardson extrapolation (error ~h^8; the Z2 symmetry makes the
  even part odd in h and the odd part even);
* the **tricritical point**: the zero of b along the branch-point line,
  refined by Brent's method in param (each evaluation a converged branch point);
* patterns with several W groups have several odd sectors (characters under
  the flips, :func:`_sectors`), each a block of the Hessian on the symmetric
  saddle: the line follows the critical sector's block, and where another
  sector's smallest eigenvalue crosses zero first (a double branch point,
  ``mode_crossing``) it is refined and the line switches sector.  Sectors
  critical together along the whole line (``tied_blocks(5, 2)``: both tied
  pairs break at the same lambda_c) are reported in ``sectors`` with one
  warning; b is then the quartic coefficient of the followed mode alone;
* where the symmetric saddle at lambda_c is itself unstable in the even
  sector (its smallest even eigenvalue < 0): the branch point is no longer
  a phase boundary; the crossing is reported (``symmetric_fold`` point);
* in first-order regions (b < 0) the **spinodal** (fold of the broken branch):
  the minimally augmented system ``F(x, lambda) = 0`` (all coordinates) plus
  ``g = smallest eigenvalue of the whole Hessian = 0``, continued in param; and
  the **coexistence line** (equal action of the symmetric and the broken
  minimum): Newton in lambda on ``S_broken - S_symmetric`` (its lambda
  derivative is ``dS/dlam`` at fixed H, envelope theorem), both saddles
  solved by Newton at each lambda.  Both are seeded at one param by walking
  the broken branch from the branch point along its odd null vector (the
  arclength-free parametrisation ``phi . (x - x_c) = s``), and both end at the
  tricritical point.

Linear algebra is dense (the Hessian from :func:`linkernel.theory.action.hessian`,
``eigh`` of its sector blocks): meant for kernels up to ``T*P`` of a few
dozen (the T = 12 endpoint task: ~0.1 s per branch point on one core).

Coordinates: ``x = to_vector(H)`` (:mod:`linkernel.theory.action`), kernel
rows ``t*P + p``, ``t = 0..T-1``; Z2 sectors from
:func:`linkernel.theory.action.odd_coordinates`.  The closed forms of
:mod:`linkernel.symbolic.order` / :mod:`linkernel.symbolic.critical` (RNN
endpoint task) are used only by the tests and :meth:`PhaseDiagram.summary`'s
cross-check, never by the computation.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from linkernel.errors import ConvergenceError, KernelError, PhaseDiagramWarning
from linkernel.problem import Problem, fix_z2_sign
from linkernel.theory.action import (action, from_vector, gradient, hessian, hessian_vector, likelihood_term, m_vector, odd_coordinates, to_vector)
from linkernel.validation import count, positive

PARAMS = ("kappa", "w", "v", "u")
_LINALG = (KernelError, np.linalg.LinAlgError)



# --- the numerical building blocks ------------------------------------------------------
class _Point:
    """One problem at one param value: the residual, Jacobian pieces and the test functions."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.n = problem.n
        self.odd = odd_coordinates(problem)
        self.i_odd = np.flatnonzero(self.odd)
        self.i_even = np.flatnonzero(~self.odd)
        self.dim = len(self.odd)
        self.sectors = _sectors(problem)
        self._at = {}

    def at(self, lam: float) -> Problem:
        lam = float(lam)
        q = self._at.get(lam)
        if q is None:
            if len(self._at) > 32:
                self._at.clear()
            q = self._at[lam] = self.p.with_(lam=lam)
        return q

    def F(self, x, lam):
        return to_vector(gradient(self.at(lam), from_vector(x, self.n)))

    def hess(self, x, lam):
        return hessian(self.at(lam), from_vector(x, self.n))

    def hv(self, x, lam, phi):
        return to_vector(hessian_vector(self.at(lam), from_vector(x, self.n), from_vector(phi, self.n)))

    def F_lam(self, x, lam):
        # the gradient is quadratic in lambda at fixed H: the central difference is exact up to rounding
        d = 1e-3 * max(1.0, abs(lam))
        return (self.F(x, lam + d) - self.F(x, lam - d)) / (2 * d)

    def mu(self, Hd, sector):
        """(smallest eigenvalue of the block ``sector``, its unit eigenvector in full coordinates)."""
        w, V = np.linalg.eigh(Hd[np.ix_(sector, sector)])
        phi = np.zeros(self.dim)
        phi[sector] = V[:, 0]
        return float(w[0]), phi

    def dmu(self, x, lam, phi):
        """(d mu/dx = D^3S[phi, phi, .], d mu/d lam) by central differences of Hessian-vector products."""
        h = 1e-5 * max(1.0, np.abs(x).max())
        dx = (self.hv(x + h * phi, lam, phi) - self.hv(x - h * phi, lam, phi)) / (2 * h)
        d = 1e-3 * max(1.0, abs(lam))
        dl = phi @ (self.hv(x, lam + d, phi) - self.hv(x, lam - d, phi)) / (2 * d)
        return dx, float(dl)


def _sectors(problem: Problem) -> dict:
    """The Z2-odd coordinates grouped by their character under the flips (one block each of the Hessian
    on the symmetric saddle): {character tuple: coordinate indices}.  The RNN has a single odd sector."""
    gens = [s for _, s in problem.symmetries]
    if problem.has_z2:
        gens.append(problem.parity_signs)
    i, j = np.triu_indices(problem.n)
    chars = np.array([s[i] * s[j] for s in gens]).T if gens else np.ones((len(i), 0))
    odd = odd_coordinates(problem)
    out = {}
    for k in np.flatnonzero(odd):
        out.setdefault(tuple(int(c) for c in chars[k]), []).append(k)
    return {key: np.array(v) for key, v in sorted(out.items())}


def _is_pd(x, n) -> bool:
    try:
        np.linalg.cholesky(from_vector(x, n))
        return True
    except np.linalg.LinAlgError:
        return False


def _backtrack(trial, r):
    """The damped Newton step of both Newton solvers: halve alpha from 1 until ``trial(alpha)`` lowers r.

    ``trial`` returns ``(residual, payload)``, or None where the step leaves the
    positive-definite cone (a linear-algebra failure counts the same); a step
    of at most a quarter is taken even without a decrease.  None when alpha
    falls below 1e-4.
    """
    alpha = 1.0
    while alpha > 1e-4:
        try:
            got = trial(alpha)
        except _LINALG:
            got = None
        if got is not None and (got[0] < r or alpha <= 0.25):
            return got
        alpha *= 0.5
    return None


def _augmented_newton(pt: _Point, x, lam, keep, sector, tol=1e-12, maxiter=40):
    """Newton on (F[keep] = 0, mu_sector = 0) in (x[keep], lambda); returns (x, lam, mu, phi, Hd) or None.

    ``sector`` is the block whose smallest eigenvalue is the test function
    (odd coordinates: the branch point; all: the fold of a broken branch).
    Steps are halved while they leave the positive-definite cone or do not
    reduce the residual.
    """
    x = np.array(x, dtype=float)
    lam = float(lam)
    scale = max(1.0, np.abs(x).max())

    def residual(x, lam):
        F = pt.F(x, lam)[keep]
        Hd = pt.hess(x, lam)
        mu, phi = pt.mu(Hd, sector)
        return np.append(F, mu), Hd, mu, phi

    try:
        R, Hd, mu, phi = residual(x, lam)
    except _LINALG:
        return None
    r = np.linalg.norm(R)
    for _ in range(maxiter):
        if r < tol * scale:
            return x, lam, mu, phi, Hd
        dx, dl = pt.dmu(x, lam, phi)
        J = np.zeros((len(keep) + 1, len(keep) + 1))
        J[:-1, :-1] = Hd[np.ix_(keep, keep)]
        J[:-1, -1] = pt.F_lam(x, lam)[keep]
        J[-1, :-1] = dx[keep]
        J[-1, -1] = dl
        try:
            step = np.linalg.solve(J, -R)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(J, -R, rcond=None)[0]
        def trial(alpha, step=step):
            xn = x.copy()
            xn[keep] += alpha * step[:-1]
            ln = lam + alpha * step[-1]
            if not (ln > 0 and _is_pd(xn, pt.n)):
                return None
            Rn, Hn, mun, phin = residual(xn, ln)
            return np.linalg.norm(Rn), (xn, ln, Rn, Hn, mun, phin)

        got = _backtrack(trial, r)
        if got is None:
            return None
        rn, (xn, ln, Rn, Hn, mun, phin) = got
        if not np.isfinite(rn) or (rn >= r and r < 1e3 * tol * scale):
            return (x, lam, mu, phi, Hd) if r < 1e3 * tol * scale else None
        x, lam, R, Hd, mu, phi, r = xn, ln, Rn, Hn, mun, phin, rn
    return (x, lam, mu, phi, Hd) if r < 1e3 * tol * scale else None


def _newton_at(pt: _Point, x, lam, keep, tol=1e-12, maxiter=40):
    """Newton on F[keep] = 0 at fixed lambda (the other coordinates fixed); returns x or None."""
    x = np.array(x, dtype=float)
    scale = max(1.0, np.abs(x).max())
    try:
        F = pt.F(x, lam)[keep]
    except _LINALG:
        return None
    r = np.linalg.norm(F)
    for _ in range(maxiter):
        if r < tol * scale:
            return x
        A = pt.hess(x, lam)[np.ix_(keep, keep)]
        try:
            step = np.linalg.solve(A, -F)
        except np.linalg.LinAlgError:
            return None
        def trial(alpha, step=step):
            xn = x.copy()
            xn[keep] += alpha * step
            if not _is_pd(xn, pt.n):
                return None
            Fn = pt.F(xn, lam)[keep]
            return np.linalg.norm(Fn), (xn, Fn)

        got = _backtrack(trial, r)
        if got is None:
            return None
        rn, (xn, Fn) = got
        if rn >= r and r < 1e3 * tol * scale:
            return x
        x, F, r = xn, Fn, rn
    return x if r < 1e3 * tol * scale else None


def _richardson(vals) -> float:
    """Extrapolate a sequence at h, h/2, h/4, ... of a series in h^2 to h = 0 (vals may be arrays)."""
    T = [np.asarray(v, dtype=float) for v in vals]
    k = 1
    while len(T) > 1:
        T = [(4 ** k * T[i + 1] - T[i]) / (4 ** k - 1) for i in range(len(T) - 1)]
        k += 1
    return T[0]


def _breaking_vector(problem: Problem, phi) -> np.ndarray:
    """Gradient a of the order parameter the odd null vector excites most (m = H^{T-1,T-2} for the RNN)."""
    groups = problem.arch.shared_groups()
    cands = [m_vector(problem, g) for g in groups] if groups else [m_vector(problem)]
    return max(cands, key=lambda a: abs(a @ phi))


def landau_quartic(pt: _Point, x, lam, phi, Hd, levels: int = 4) -> tuple:
    """(b, b_s): the quartic Landau coefficient at a branch point, per m and per unit length along phi.

    ``b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8`` with ``c = D^3S[phi, phi, .]`` on
    the even coordinates (the even modes solved out to second order in s);
    ``b = b_s / (a . phi)^4`` for ``m = a . x``.  Both from Hessian-vector
    products at ``x + h phi`` (h = h0 / 2^k, k < levels), Richardson-extrapolated.
    """
    n, ev = pt.n, pt.i_even
    H = from_vector(x, n)
    h0 = 0.2 * float(np.linalg.eigvalsh(H)[0])
    mu = float(phi @ pt.hv(x, lam, phi))
    cs, fs = [], []
    for k in range(levels):
        h = h0 / 2 ** k
        r = pt.hv(x + h * phi, lam, phi)
        cs.append(r[ev] / h)               # odd in h: c + O(h^2)
        fs.append(2 * (phi @ r - mu) / h ** 2)   # even in h: D4 + O(h^2)
    c, D4 = _richardson(cs), float(_richardson(fs))
    A = Hd[np.ix_(ev, ev)]
    try:
        bs = D4 / 24 - float(c @ np.linalg.solve(A, c)) / 8
    except np.linalg.LinAlgError:
        return math.nan, math.nan   # the even block is singular: a fold of the symmetric branch, b has a pole

    a = _breaking_vector(pt.p, phi)
    return bs / float(a @ phi) ** 4, bs


# --- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodimTwoPoint:
    """A codimension-two point of the diagram: ``kind`` "tricritical" (b = 0 on the branch-point line)
    or "symmetric_fold" (the symmetric saddle at lambda_c loses even-sector stability), at (param, lam)."""

    kind: str
    param: float
    lam: float
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({"kind": self.kind, "param": self.param, "lam": self.lam, **self.detail})


@dataclass(frozen=True, eq=False)
class PhaseDiagram:
    """The lines of one problem's phase diagram in the (param, lambda) plane.

    Arrays run along increasing param.  ``branch_*``: the branch-point line
    (``branch_b`` the quartic Landau coefficient per m there, ``branch_even_min``
    the smallest even-sector Hessian eigenvalue of the symmetric saddle at
    lambda_c: < 0 where the symmetric saddle is not a minimum there).
    ``fold_*`` (the spinodal where the broken branch appears) and
    ``coexistence_*`` exist only in first-order regions (b < 0).  ``points``:
    the codimension-two points.  ``complete`` is False (and one
    :class:`PhaseDiagramWarning` was emitted) when a line stopped early;
    ``notes`` say why.  ``restarts``: params at which the continuation of the
    spinodal/coexistence lost its point and it was found again by walking the
    broken branch from that param's branch point.  ``checks``: the spot checks
    by :func:`linkernel.theory.saddle.saddle_point` (``spot_checks``).
    ``sectors``: the character (signs under each flip ``W_g -> -W_g``, then
    under all at once) of the critical odd sector at ``param_range[0]``, then
    of any sector critical together with it (a double branch point, e.g.
    ``tied_blocks(5, 2)``: b then describes the followed mode alone).
    """

    problem: Problem
    param: str
    param_range: tuple
    lam_range: tuple | None
    branch_param: np.ndarray
    branch_lam: np.ndarray
    branch_b: np.ndarray
    branch_even_min: np.ndarray
    fold_param: np.ndarray
    fold_lam: np.ndarray
    coexistence_param: np.ndarray
    coexistence_lam: np.ndarray
    points: tuple
    complete: bool = True
    notes: tuple = ()
    seconds: float = 0.0
    checks: tuple = ()
    restarts: int = 0
    sectors: tuple = ()

    @property
    def tricritical(self) -> list:
        return [p for p in self.points if p.kind == "tricritical"]

    def order_at(self, value: float) -> str:
        """'second order' or 'first order' at param = value, from the sign of b (and the even stability)."""
        b = float(np.interp(np.log(value), np.log(self.branch_param), self.branch_b))
        e = float(np.interp(np.log(value), np.log(self.branch_param), self.branch_even_min))
        return "first order" if (b < 0 or e < 0) else "second order"

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({
            "problem": self.problem.to_dict(), "param": self.param, "param_range": list(self.param_range),
            "lam_range": None if self.lam_range is None else list(self.lam_range),
            "branch_point_line": {"param": self.branch_param, "lam": self.branch_lam, "b": self.branch_b,
                                  "even_min_eigenvalue": self.branch_even_min},
            "fold_line": {"param": self.fold_param, "lam": self.fold_lam},
            "coexistence_line": {"param": self.coexistence_param, "lam": self.coexistence_lam},
            "codimension_two_points": [p.to_dict() for p in self.points],
            "spot_checks": list(self.checks),
            "critical_sectors": list(self.sectors),
            "complete": self.complete, "notes": list(self.notes), "restarts": self.restarts,
            "seconds": self.seconds,
        })

    def summary(self) -> str:
        from linkernel.formatting import hyper_text, task_name
        pr, par = self.problem, self.param
        keys = tuple(k for k in PARAMS if k != par)
        lines = [f"{task_name(pr)}: T={pr.T} P={pr.P} {hyper_text(pr, keys)}; phase diagram in ({par}, lambda), "
                 f"{par} in [{self.param_range[0]:g}, {self.param_range[1]:g}]",
                 f"branch-point line lambda_c({par}): {len(self.branch_param)} points"]
        sel = np.unique(np.linspace(0, len(self.branch_param) - 1, min(7, len(self.branch_param))).astype(int))
        for k in sel:
            lines.append(f"  {par}={self.branch_param[k]:<12.6g} lambda_c={self.branch_lam[k]:<14.10g} "
                         f"b={self.branch_b[k]:<+12.5g} ({self.order_at(self.branch_param[k])})")
        if len(self.sectors) > 1:
            lines.append(f"{len(self.sectors)} odd sectors critical together (double branch point): "
                         + ", ".join(self.sectors) + "; b is along the first alone")
        if not self.points:
            lines.append("no codimension-two point in the range")
        for p in self.points:
            extra = "; ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.detail.items())
            lines.append(f"{p.kind} point: {par}={p.param:.12g} lambda={p.lam:.12g}" + (f"  ({extra})" if extra else ""))
        for name, P_, L_ in (("spinodal (fold of the broken branch)", self.fold_param, self.fold_lam),
                             ("coexistence", self.coexistence_param, self.coexistence_lam)):
            if len(P_):
                lines.append(f"{name} line: {len(P_)} points, {par} {P_.min():.6g}..{P_.max():.6g}, "
                             f"lambda {L_.min():.8g}..{L_.max():.8g}")
        for c in self.checks:
            lines.append(f"spot check {par}={c['param']:.6g}: saddle_point m={c['m_below']:.3g} at lambda="
                         f"{c['lam_below']:.6g}, m={c['m_above']:.3g} at lambda={c['lam_above']:.6g}: "
                         + ("ok" if c["ok"] else "FAILED"))
        lines.append(("complete" if self.complete else "INCOMPLETE: " + "; ".join(self.notes))
                     + f" ({self.seconds:.1f} s)")
        return "\n".join(lines)

    __str__ = summary

    def plot(self, path, title=None):
        """Write the diagram (phases shaded) to ``path`` (PNG); returns the path."""
        return plot_phase_diagram(self, path, title=title)


# --- the lines ------------------------------------------------------------------------------
def _check_param(param) -> str:
    if param not in PARAMS:
        raise ValueError(f"param={param!r} is invalid; param must be one of {', '.join(PARAMS)}")
    return param


def _check_range(name, rng):
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={rng!r} is invalid; {name} must be two numbers (lo, hi) with 0 < lo < hi") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"{name}={rng!r} is invalid; {name} must be two finite numbers with 0 < lo < hi")
    return lo, hi


class _Line:
    """The branch-point line of one odd sector: continuation state and the solve at one param value.

    ``sector`` is the character (a key of :func:`_sectors`) of the odd block whose
    smallest eigenvalue is the test function; each sector has its own warm starts.
    """

    def __init__(self, problem: Problem, param: str, tol: float, sector=None):
        self.problem, self.param, self.tol = problem, param, tol
        self.sector = sector
        self.degenerate = set()   # sectors critical together with self.sector (excluded from other_min)
        self.done = {}   # sector -> [(param, x, lam)]

    def point(self, value) -> _Point:
        return _Point(self.problem.with_(**{self.param: float(value)}))

    def guess(self, value):
        """Secant extrapolation in log(param) from the two nearest solved points of this sector."""
        near = sorted(self.done.get(self.sector, []), key=lambda d: abs(math.log(d[0] / value)))
        if len(near) < 2 or near[0][0] == value:
            return near[0][1], near[0][2]
        (p1, x1, l1) = near[0]
        far = [d for d in near[1:] if d[0] != p1]
        if not far:
            return x1, l1
        (p0, x0, l0) = far[0]
        f = math.log(value / p1) / math.log(p1 / p0)
        x = x1 + f * (x1 - x0)
        return (x, l1 + f * (l1 - l0)) if _is_pd(x, self.problem.n) else (x1, l1)

    def solve(self, value, start=None):
        pt = self.point(value)
        if self.sector is None:
            self.sector = next(iter(pt.sectors))
        sec = pt.sectors[self.sector]
        done = self.done.setdefault(self.sector, [])
        x, lam = self.guess(value) if start is None else start
        res = _augmented_newton(pt, x, lam, pt.i_even, sec, self.tol)
        if res is None and start is None and done:
            near = min(done, key=lambda d: abs(math.log(d[0] / value)))
            res = _augmented_newton(pt, near[1], near[2], pt.i_even, sec, self.tol)
        if res is None:
            raise ConvergenceError(f"the branch point did not converge at {self.param}={value:.8g}")
        x, lam, mu, phi, Hd = res
        b, _ = landau_quartic(pt, x, lam, phi, Hd)
        even_min = float(np.linalg.eigvalsh(Hd[np.ix_(pt.i_even, pt.i_even)])[0])
        others = {key: pt.mu(Hd, idx)[0] for key, idx in pt.sectors.items()
                  if key != self.sector and key not in self.degenerate}
        if all(d[0] != float(value) for d in done):
            done.append((float(value), x, lam))
        return dict(param=float(value), lam=lam, b=b, even_min=even_min, x=x, phi=phi, pt=pt,
                    sector=self.sector, other_min=min(others.values(), default=math.inf),
                    next_sector=min(others, key=others.get) if others else None)


def _critical_sector(pt: _Point, x, lam):
    """(the odd sector whose smallest Hessian eigenvalue is nearest zero at a branch point, the other
    sectors critical with it to 1e-9 of the Hessian's scale: a structurally double branch point)."""
    Hd = pt.hess(x, lam)
    mus = {key: pt.mu(Hd, idx)[0] for key, idx in pt.sectors.items()}
    first = min(mus, key=lambda key: abs(mus[key]))
    scale = float(np.abs(Hd).max())
    return first, {key for key, m in mus.items() if key != first and abs(m) < 1e-9 * scale}


def _first_branch_point(problem: Problem, param: str, value: float, lam_max: float):
    """lambda_c and the symmetric saddle there at one param value (special_points), as a Newton start."""
    from linkernel.theory.special_points import critical_lambda, symmetric_saddle
    p = problem.with_(**{param: float(value)})
    try:
        lam_c = critical_lambda(p, lam_max=lam_max, xtol=1e-10)
    except ConvergenceError as exc:
        raise ConvergenceError(f"no branch point at {param}={value:g} for lambda up to {lam_max:g} ({exc}); "
                               "a pattern without a shared W (the DNN) has none; otherwise pass a lam_range "
                               "with a larger upper end or start param_range elsewhere") from None
    H = symmetric_saddle(p.with_(lam=lam_c))
    return to_vector(H), lam_c


def _walk_broken(pt: _Point, x_bp, lam_c, phi, tol, max_steps=400, ds=0.02):
    """Points (s, x, lam, mu_full) of the broken branch from a branch point, ``phi . (x - x_bp) = s``, s > 0.

    Walks until the branch is stable (the whole Hessian's smallest eigenvalue
    > 0) and its action is below the symmetric saddle's at the same lambda
    (past coexistence), or until lambda exceeds lambda_c again.  Returns the
    list, or None if the walk failed.
    """
    n = pt.n
    a = _breaking_vector(pt.p, phi)
    phi = phi if a @ phi > 0 else -phi
    scale = max(1.0, np.abs(x_bp).max())
    ds = ds * scale
    out = [(0.0, x_bp, lam_c, 0.0)]
    s = 0.0
    for _ in range(max_steps):
        s_new = s + ds
        if len(out) >= 3:  # quadratic extrapolation in s
            (s0, x0, l0, _), (s1, x1, l1, _), (s2, x2, l2, _) = out[-3:]
            L = [((s_new - s1) * (s_new - s2)) / ((s0 - s1) * (s0 - s2)),
                 ((s_new - s0) * (s_new - s2)) / ((s1 - s0) * (s1 - s2)),
                 ((s_new - s0) * (s_new - s1)) / ((s2 - s0) * (s2 - s1))]
            x, lam = L[0] * x0 + L[1] * x1 + L[2] * x2, L[0] * l0 + L[1] * l1 + L[2] * l2
        else:
            x, lam = x_bp + s_new * phi, lam_c
        res = _bordered_newton(pt, x, lam, phi, x_bp, s_new, tol)
        if res is None:
            ds *= 0.5
            if ds < 1e-5 * scale:
                return None
            continue
        x, lam, mu, it = res
        out.append((s_new, x, lam, mu))
        s = s_new
        if it <= 4:
            ds = min(2 * ds, 0.1 * scale)
        if mu > 0 and lam > lam_c:
            break
        if mu > 0 and len(out) > 2 and out[-2][3] > 0:
            Hs = _newton_at(pt, x_bp, lam, pt.i_even, tol)
            if Hs is not None and pt.at(lam) and action(pt.at(lam), from_vector(x, n)) < action(
                    pt.at(lam), from_vector(Hs, n)):
                break
    return out


def _bordered_newton(pt: _Point, x, lam, phi, x0, s, tol, maxiter=30):
    """Newton on [F(x, lam) = 0, phi . (x - x0) = s]; returns (x, lam, mu_full, iterations) or None."""
    x = np.array(x, dtype=float)
    scale = max(1.0, np.abs(x).max())
    for it in range(1, maxiter + 1):
        if not _is_pd(x, pt.n) or lam <= 0:
            return None
        try:
            F = pt.F(x, lam)
            Hd = pt.hess(x, lam)
        except _LINALG:
            return None
        R = np.append(F, phi @ (x - x0) - s)
        if np.linalg.norm(R) < tol * scale:
            return x, lam, float(np.linalg.eigvalsh(Hd)[0]), it
        J = np.zeros((pt.dim + 1, pt.dim + 1))
        J[:-1, :-1] = Hd
        J[:-1, -1] = pt.F_lam(x, lam)
        J[-1, :-1] = phi
        try:
            step = np.linalg.solve(J, -R)
        except np.linalg.LinAlgError:
            return None
        x, lam = x + step[:-1], lam + step[-1]
    return None


def _dS_dlam(p: Problem, x) -> float:
    """dS/dlam at fixed H: the likelihood term is lam^2/2 yhat K^-1 yhat, so 2 L / lam."""
    return 2.0 * likelihood_term(p, from_vector(x, p.n)) / p.lam


def _coexistence_at(pt: _Point, x_b, x_s, lam, tol, maxiter=30):
    """Newton in lambda on S(broken) - S(symmetric) = 0; returns (lam, x_b, x_s) or None.

    None also when the broken saddle found is not a clearly broken minimum (at
    the branch point itself the two actions are trivially equal).
    """
    res = _coexistence_newton(pt, x_b, x_s, lam, tol, maxiter)
    if res is None:
        return None
    lam, xb, xs = res
    broken = np.abs(xb[pt.i_odd]).max() > 1e-4 * max(1.0, np.abs(xb).max())
    return res if broken and np.linalg.eigvalsh(pt.hess(xb, lam))[0] > 0 else None


def _coexistence_newton(pt: _Point, x_b, x_s, lam, tol, maxiter=30):
    all_ = np.arange(pt.dim)
    for _ in range(maxiter):
        xb = _newton_at(pt, x_b, lam, all_, tol)
        xs = _newton_at(pt, x_s, lam, pt.i_even, tol)
        if xb is None or xs is None or np.abs(xb[pt.i_odd]).max() < 1e-6:
            return None
        q = pt.at(lam)
        d = action(q, from_vector(xb, pt.n)) - action(q, from_vector(xs, pt.n))
        dd = _dS_dlam(q, xb) - _dS_dlam(q, xs)
        x_b, x_s = xb, xs
        if abs(d) < 1e-14 * max(1.0, abs(action(q, from_vector(xs, pt.n)))):
            return lam, xb, xs
        step = -d / dd
        step = max(min(step, 0.1 * lam), -0.1 * lam)
        lam = lam + step
        if abs(step) < 1e-15 * lam:
            return lam, xb, xs
    return None


def phase_diagram(problem: Problem, param: str = "kappa", param_range=(0.01, 30.0), lam_range=None,
                  points: int = 41, progress: bool = False, tol: float = 1e-12, spot_checks: int = 0,
                  first_order_lines: bool = True) -> PhaseDiagram:
    """The phase diagram of ``problem`` in the (param, lambda) plane (module docstring for the method).

    ``param``: one of kappa, w, v, u (the problem's own value is replaced);
    ``param_range``: (lo, hi), ``points`` log-spaced values at which the lines
    are continued (the codimension-two points are added and refined
    exactly); ``lam_range``: (lo, hi) window for lambda (lines leaving it
    stop there; default: no limit below lambda = 50); ``spot_checks``: how
    many branch points to check by :func:`linkernel.theory.saddle.saddle_point`
    just below and above the line (m = 0 vs m > 0);
    ``first_order_lines``: also continue the spinodal and coexistence lines
    where b < 0.  Raises ValueError for a problem without a Z2 symmetry and
    ConvergenceError when no branch point exists at ``param_range[0]``.
    """
    t0 = time.perf_counter()
    if not isinstance(problem, Problem):
        raise ValueError(f"problem={problem!r} is invalid; problem must be a linkernel Problem")
    param = _check_param(param)
    lo, hi = _check_range("param_range", param_range)
    lam_win = None if lam_range is None else _check_range("lam_range", lam_range)
    points = count("points", points, low=3)
    tol = positive("tol", tol)
    spot_checks = count("spot_checks", spot_checks, low=0)
    from linkernel.theory.special_points import require_symmetry
    require_symmetry(problem)
    lam_max = 50.0 if lam_win is None else lam_win[1]
    notes = []

    grid = np.exp(np.linspace(math.log(lo), math.log(hi), points))
    line = _Line(problem, param, tol)
    x0, lam0 = _first_branch_point(problem, param, grid[0], lam_max)
    line.sector, line.degenerate = _critical_sector(line.point(grid[0]), x0, lam0)
    if line.degenerate:
        warnings.warn(PhaseDiagramWarning(
            f"{len(line.degenerate) + 1} Z2-odd sectors are critical together at {param}={grid[0]:.6g} "
            "(a double branch point: two order parameters break at the same lambda_c); b is the quartic "
            "coefficient along the followed sector's mode alone, the order of the transition also depends on "
            "the couplings between the modes, which this module does not compute"), stacklevel=2)
    rows, cod2 = [], []
    bar = _bar(progress, len(grid), f"phase diagram {problem.arch} T={problem.T}")
    for k, value in enumerate(grid):
        try:
            row = line.solve(value, start=(x0, lam0) if k == 0 else None)
            if row["other_min"] < 0 and rows:
                # another odd sector went critical first: a double branch point between the two params
                c = _refine(line, "other_min", "mode_crossing", rows[-1], row)
                c["detail"]["sectors"] = [str(line.sector), str(c["_row"]["next_sector"])]
                cod2.append(c)
                line.sector = c["_row"]["next_sector"]
                line.done.setdefault(line.sector, []).append((c["param"], c["_row"]["x"], c["lam"]))
                row = line.solve(value)
        except ConvergenceError as exc:
            notes.append(f"branch-point line stopped at {param}={value:.6g}: {exc}")
            break
        if lam_win is not None and not (lam_win[0] <= row["lam"] <= lam_win[1]):
            notes.append(f"branch-point line leaves lam_range at {param}={value:.6g}")
            break
        rows.append(row)
        bar.update(1)
    bar.close()
    if len(rows) < 2:
        raise ConvergenceError(f"the branch-point line could not be continued from {param}={lo:g}; "
                               "narrow param_range or check that the problem has a transition there")

    # codimension-two points: sign changes of b and of the even eigenvalue between grid points (same sector)
    n_cross = len(cod2)
    for k in range(len(rows) - 1):
        r0, r1 = rows[k], rows[k + 1]
        if r0["sector"] != r1["sector"]:
            continue
        line.sector = r0["sector"]
        for key, kind in (("b", "tricritical"), ("even_min", "symmetric_fold")):
            if key == "b" and not (r0["even_min"] > 0 and r1["even_min"] > 0):
                continue   # b changes sign through its pole where the symmetric branch folds, not through 0
            if np.sign(r0[key]) * np.sign(r1[key]) < 0:
                cod2.append(_refine(line, key, kind, r0, r1))
    for i, c in enumerate(cod2):
        rows.append(c.pop("_row"))
        line.sector = rows[-1]["sector"]
        if i >= n_cross and c["kind"] == "tricritical" and len(grid) > 1:
            # denser points towards the tricritical point, where the first-order lines start
            ratio = grid[1] / grid[0]
            for j in range(1, 4):
                for sgn in (-1, 1):
                    value = c["param"] * ratio ** (sgn / 2 ** j)
                    if lo < value < hi:
                        try:
                            rows.append(line.solve(value))
                        except ConvergenceError:
                            pass
    rows.sort(key=lambda r: r["param"])
    cod2.sort(key=lambda c: c["param"])
    points_ = tuple(CodimTwoPoint(kind=c["kind"], param=c["param"], lam=c["lam"], detail=c["detail"]) for c in cod2)

    fold, coex, restarts = [], [], 0
    if first_order_lines:
        fold, coex, more, restarts = _first_order_lines(line, rows, points_, tol)
        notes += more
    checks = _spot_checks(problem, param, rows, coex, spot_checks) if spot_checks else ()
    complete = not notes
    if notes:
        warnings.warn(PhaseDiagramWarning("phase diagram incomplete: " + "; ".join(notes)), stacklevel=2)
    arr = lambda key, rs: np.array([r[key] for r in rs], dtype=float)  # noqa: E731
    return PhaseDiagram(
        problem=problem, param=param, param_range=(lo, hi), lam_range=lam_win,
        branch_param=arr("param", rows), branch_lam=arr("lam", rows), branch_b=arr("b", rows),
        branch_even_min=arr("even_min", rows),
        fold_param=arr("param", fold), fold_lam=arr("lam", fold),
        coexistence_param=arr("param", coex), coexistence_lam=arr("lam", coex),
        points=points_, complete=complete, notes=tuple(notes), seconds=time.perf_counter() - t0,
        checks=tuple(checks), restarts=restarts,
        sectors=(str(rows[0]["sector"]),) + tuple(str(k) for k in sorted(line.degenerate)))


def _refine(line: _Line, key: str, kind: str, r0: dict, r1: dict) -> dict:
    """The param where ``key`` (b or the even eigenvalue) vanishes on the branch-point line (Brent in log param)."""
    cache = {}

    def f(logv):
        row = line.solve(math.exp(logv))
        cache[logv] = row
        return row[key]

    logv = brentq(f, math.log(r0["param"]), math.log(r1["param"]), xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=100)
    row = cache.get(logv) or line.solve(math.exp(logv))
    row = dict(row, param=math.exp(logv))
    detail = {"b": row["b"], "even_min_eigenvalue": row["even_min"]}
    return {"kind": kind, "param": row["param"], "lam": row["lam"], "detail": detail, "_row": row}


def _first_order_lines(line: _Line, rows: list, cod2: tuple, tol: float):
    """Spinodal and coexistence lines over the stretches of the branch-point line with b < 0."""
    notes = []
    fold, coex = [], []
    first = [r for r in rows if r["b"] < 0 and r["even_min"] > 0]
    if not first:
        return fold, coex, notes, 0
    # seed in the middle of the first-order stretch: away from the tricritical point (where the fold
    # nears the branch point) and from a fold of the symmetric branch (where b has a pole)
    mid = 0.5 * (len(first) - 1)
    seeded = None
    for seed in sorted(first, key=lambda r: abs(first.index(r) - mid))[:4]:
        seeded = _from_walk(seed, tol)
        if seeded is not None:
            break
    if seeded is None:
        notes.append(f"could not follow the broken branch to its fold and coexistence from the branch points "
                     f"in the first-order region ({line.param} {first[0]['param']:.6g}..{first[-1]['param']:.6g})")
        return fold, coex, notes, 0
    k0 = rows.index(seed)
    pt = seed["pt"]
    fres, cres = seeded
    fallbacks = [0]
    b_scale = float(np.nanmedian([abs(r["b"]) for r in first]))

    def scaled(x_old, l_old, r_old, r_new):
        """Landau-scaled predictor: the offset from the branch point has odd part ~ |b|^(1/2), even part
        and lambda offset ~ |b| and |b|^2 (S = a s^2 + b s^4 + c s^6 near a tricritical point)."""
        rho = math.sqrt(r_new["b"] / r_old["b"])
        d = x_old - r_old["x"]
        odd = np.zeros(len(d), bool)
        odd[pt.i_odd] = True
        x = r_new["x"] + np.where(odd, rho * d, rho ** 2 * d)
        return x, r_new["lam"] + rho ** 4 * (l_old - r_old["lam"])

    def march(order):
        """Continue both points from the seed along ``order`` (indices into rows) while b < 0."""
        xf, lf = fres[0], fres[1]
        lc, xb, xs = cres
        prev = seed
        hist_f, hist_c = [], []
        for k in order:
            r = rows[k]
            if r["b"] >= 0 or r["even_min"] <= 0 or r["sector"] != prev["sector"]:
                break
            p2 = line.point(r["param"])
            if k == k0:
                f_ok, c_ok = (xf, lf), (lc, xb, xs)
            else:
                xg, lg = scaled(xf, lf, prev, r)
                f = _augmented_newton(p2, xg, lg, np.arange(p2.dim), np.arange(p2.dim), tol)
                if f is not None and not _is_broken(p2, f[0], f[1], r):
                    f = None   # slid onto the branch point itself (the fold system holds there too)
                xg, lg = scaled(xb, lc, prev, r)
                c = _coexistence_at(p2, xg, r["x"], lg, tol)
                if c is not None and not c[0] < r["lam"]:
                    c = None
                if f is not None and c is not None and not f[1] <= c[0] + 1e-12:
                    f = c = None
                if f is None or c is None:
                    # continuation lost the point: start again from this param's branch point
                    fallbacks[0] += 1
                    seeded = _from_walk(r, tol)
                    if seeded is None:
                        if abs(r["b"]) > 0.05 * b_scale:   # not merely the vicinity of a tricritical point
                            notes.append(f"spinodal/coexistence lines stop at {line.param}={r['param']:.6g} "
                                         "(neither continuation nor a walk from the branch point reached them)")
                        break
                    f = f or seeded[0]
                    c = c or seeded[1]
                f_ok, c_ok = (f[0], f[1]), c
            xf, lf = f_ok
            lc, xb, xs = c_ok
            prev = r
            if not (lf < r["lam"] + 1e-12 and lf <= lc + 1e-12):
                break
            hist_f.append({"param": r["param"], "lam": lf})
            hist_c.append({"param": r["param"], "lam": lc})
        return hist_f, hist_c

    up_f, up_c = march(range(k0, len(rows)))
    dn_f, dn_c = march(range(k0 - 1, -1, -1)) if k0 > 0 else ([], [])
    fold = dn_f[::-1] + up_f
    coex = dn_c[::-1] + up_c
    # the lines end at the tricritical points (where fold, coexistence and branch point meet)
    for p in cod2:
        if p.kind == "tricritical" and fold and (p.param < fold[0]["param"] or p.param > fold[-1]["param"]):
            for lst in (fold, coex):
                lst.append({"param": p.param, "lam": p.lam})
    fold.sort(key=lambda r: r["param"])
    coex.sort(key=lambda r: r["param"])
    return fold, coex, notes, fallbacks[0]


def _is_broken(pt: _Point, x, lam, row) -> bool:
    """Whether a solution of the fold system is on the broken branch (odd part not ~0) below lambda_c."""
    # near the branch point the fold system converges slowly along the odd null vector and may stop
    # at a few 1e-5 from the symmetric saddle: demand a clear distance in both x and lambda
    return bool(np.abs(x[pt.i_odd]).max() > 1e-4 * max(1.0, np.abs(x).max())
                and lam < row["lam"] * (1 - 1e-9))


def _from_walk(row: dict, tol: float):
    """(fold, coexistence) at one param: walk the broken branch from the branch point ``row``, then
    polish the fold by the minimally augmented Newton and coexistence by Newton in lambda; None on failure."""
    pt = row["pt"]
    for ds in (0.02, 0.002):   # near a tricritical point the fold is close to the branch point: finer steps
        res = _fold_and_coexistence(pt, row, _walk_broken(pt, row["x"], row["lam"], row["phi"], tol, ds=ds), tol)
        if res is not None:
            return res
    return None


def _fold_and_coexistence(pt: _Point, row: dict, walk, tol: float):
    if not walk or len(walk) < 3:
        return None
    mus = [w[3] for w in walk]
    j = next((i for i in range(1, len(mus)) if mus[i] > 0), None)
    if j is None or walk[j][2] >= row["lam"]:
        return None
    jf = min((j - 1, j), key=lambda i: abs(mus[i]))
    fres = _augmented_newton(pt, walk[jf][1], walk[jf][2], np.arange(pt.dim), np.arange(pt.dim), tol)
    if fres is None or not _is_broken(pt, fres[0], fres[1], row):
        return None
    for i in range(len(walk) - 1, j - 1, -1):   # from the end of the walk (past coexistence) backwards
        cres = _coexistence_at(pt, walk[i][1], row["x"], walk[i][2], tol)
        if cres is not None and fres[1] <= cres[0] < row["lam"]:
            return fres, cres
    return None


def _spot_checks(problem, param, rows, coex, k):
    """saddle_point just below and above the transition at k params: m = 0 below, m > 0 above."""
    from linkernel.theory.saddle import saddle_point
    out = []
    idx = np.unique(np.linspace(0, len(rows) - 1, k + 2).astype(int)[1:-1]) if k < len(rows) else range(len(rows))
    cp = {round(c["param"], 12): c["lam"] for c in coex}
    for i in idx:
        r = rows[i]
        p = problem.with_(**{param: r["param"]})
        lam_lo = min(r["lam"], cp.get(round(r["param"], 12), r["lam"]))
        lam_b, lam_a = 0.98 * lam_lo, 1.02 * r["lam"]
        mb = _m_of(saddle_point(p.with_(lam=lam_b), n_starts=3))
        ma = _m_of(saddle_point(p.with_(lam=lam_a), n_starts=3))
        out.append({"param": r["param"], "lam_c": r["lam"], "lam_below": lam_b, "m_below": mb,
                    "lam_above": lam_a, "m_above": ma, "ok": bool(abs(mb) < 1e-6 and ma > 1e-4)})
    return out


def _m_of(sp) -> float:
    """The largest |m_g| of the global minimum (sign-fixed): 0 in the symmetric phase."""
    H = fix_z2_sign(sp.problem, sp.kernel)
    ms = list(sp.problem.order_parameters(H).values()) or [sp.order_parameter]
    return float(max(ms, key=abs))


class _NoBar:
    def update(self, k):
        pass

    def close(self):
        pass


def _bar(progress, total, desc):
    if not progress:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, leave=False)


# --- the summary over T ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PhaseSummary:
    """The transition for each T: lambda_c, b (numerical) and the order at the given hyperparameters,
    and, with a kappa range, the tricritical kappas found on the branch-point line."""

    rows: tuple
    arch: str
    P: int
    hyper: dict
    param_range: tuple | None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({"arch": self.arch, "P": self.P, "hyper": self.hyper,
                         "param_range": self.param_range, "rows": list(self.rows), "seconds": self.seconds})

    def summary(self) -> str:
        h = " ".join(f"{k}={v:g}" for k, v in self.hyper.items())
        lines = [f"{self.arch} endpoint task, P={self.P}, {h}: the transition for each T",
                 f"{'T':>3} {'lambda_c':>14} {'b':>13} {'order':>13}  tricritical kappa"
                 + ("" if self.param_range is None else f" in [{self.param_range[0]:g}, {self.param_range[1]:g}]")]
        for r in self.rows:
            if r.get("error"):
                lines.append(f"{r['T']:>3} {r['error']}")
                continue
            tri = r.get("tricritical_kappa")
            tri_s = "-" if tri is None else (", ".join(f"{t:.10g}" for t in tri) or "none")
            lines.append(f"{r['T']:>3} {r['lambda_c']:>14.10g} {r['b']:>+13.5g} {r['order']:>13}  {tri_s}")
        lines.append(f"({self.seconds:.1f} s)")
        return "\n".join(lines)

    __str__ = summary


def phase_summary(Ts=range(3, 13), P: int = 1, arch: str = "rnn", kappa: float = 0.1, w: float = 1.0,
                  v: float = 1.0, u: float = 1.0, kappa_range=None, points: int = 25,
                  progress: bool = False) -> PhaseSummary:
    """For each T (endpoint task, ``arch``, P patterns): lambda_c, the numerical Landau b and the order at
    the given hyperparameters; with ``kappa_range`` also the tricritical kappas on the branch-point line
    (:func:`phase_diagram` without the first-order lines)."""
    from linkernel.tasks import endpoint
    t0 = time.perf_counter()
    Ts = [count("T", T) for T in Ts]
    rng = None if kappa_range is None else _check_range("kappa_range", kappa_range)
    rows = []
    for T in Ts:
        prob = endpoint(arch, T=T, P=P, w=w, v=v, u=u, kappa=kappa)
        try:
            line = _Line(prob, "kappa", 1e-12)
            x0, lam0 = _first_branch_point(prob, "kappa", kappa, 50.0)
            r = line.solve(kappa, start=(x0, lam0))
            order = "first order" if (r["b"] < 0 or r["even_min"] < 0) else "second order"
            row = {"T": T, "lambda_c": r["lam"], "b": r["b"], "even_min_eigenvalue": r["even_min"], "order": order}
            if rng is not None:
                d = phase_diagram(prob, "kappa", rng, points=points, first_order_lines=False, progress=progress)
                row["tricritical_kappa"] = [p.param for p in d.tricritical]
                row["orders_over_range"] = sorted({d.order_at(x) for x in d.branch_param})
        except (ConvergenceError, ValueError) as exc:
            row = {"T": T, "error": str(exc)}
        rows.append(row)
    return PhaseSummary(rows=tuple(rows), arch=str(arch), P=P, hyper={"kappa": kappa, "w": w, "v": v, "u": u},
                        param_range=rng, seconds=time.perf_counter() - t0)


# --- the figure -----------------------------------------------------------------------------
def plot_phase_diagram(d: PhaseDiagram, path, title=None):
    """The (param, lambda) plane: symmetric phase (below the transition) and broken phase shaded,
    the metastable band between spinodal and branch point hatched, codimension-two points marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from linkernel.formatting import task_name

    first = len(d.fold_param) > 0
    if first:   # a second panel, lambda / lambda_c, resolves the narrow first-order band
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(6.4, 7.0), sharex=True, height_ratios=(2, 1))
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
    x, lc = d.branch_param, d.branch_lam
    # the phase boundary: coexistence where it exists, else the branch point
    bound = lc.copy()
    if len(d.coexistence_param):
        cx = np.interp(np.log(x), np.log(d.coexistence_param), d.coexistence_lam)
        inside = (x >= d.coexistence_param.min()) & (x <= d.coexistence_param.max())
        bound = np.where(inside, np.minimum(cx, lc), lc)
    top = max(float(np.max(lc)), 1e-9) * 1.35 if d.lam_range is None else d.lam_range[1]
    bottom = 0.0 if d.lam_range is None else d.lam_range[0]
    ax.fill_between(x, bottom, bound, color="#cfe3f5", label="symmetric phase (m = 0)")
    ax.fill_between(x, bound, top, color="#f7d9c4", label="broken phase (m > 0)")
    ax.plot(x, lc, color="k", lw=1.5, label=r"branch point $\lambda_c$")
    if len(d.fold_param):
        ax.plot(d.fold_param, d.fold_lam, color="tab:red", lw=1.2, ls="--", label="spinodal (fold)")
        lc_f = np.interp(np.log(d.fold_param), np.log(x), lc)
        ax.fill_between(d.fold_param, d.fold_lam, lc_f, facecolor="none", hatch="///", edgecolor="tab:red",
                        lw=0, label="metastable")
    if len(d.coexistence_param):
        ax.plot(d.coexistence_param, d.coexistence_lam, color="tab:purple", lw=1.5, label="coexistence")
    for p in d.points:
        mk = "*" if p.kind == "tricritical" else "D"
        ax.plot([p.param], [p.lam], mk, color="gold" if mk == "*" else "tab:green", mec="k", ms=12 if mk == "*" else 7,
                label=f"{p.kind} ({d.param} = {p.param:.5g})", zorder=5)
    for c in d.checks:
        ax.plot([c["param"]] * 2, [c["lam_below"], c["lam_above"]], "o", color="tab:blue", ms=3, zorder=4)
    ax.set_xscale("log")
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(bottom, top)
    ax.set_xlabel(d.param if d.param != "kappa" else r"$\kappa$")
    ax.set_ylabel(r"$\lambda$")
    pr = d.problem
    ax.set_title(title or f"{task_name(pr)}, T={pr.T}, P={pr.P}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    if first:
        ax.set_xlabel("")
        lo_f = float(np.min(d.fold_lam / np.interp(np.log(d.fold_param), np.log(x), lc)))
        ax2.fill_between(x, 0, bound / lc, color="#cfe3f5")
        ax2.fill_between(x, bound / lc, 2, color="#f7d9c4")
        ax2.axhline(1.0, color="k", lw=1.5)
        ax2.plot(d.fold_param, d.fold_lam / np.interp(np.log(d.fold_param), np.log(x), lc), color="tab:red",
                 ls="--", lw=1.2)
        if len(d.coexistence_param):
            ax2.plot(d.coexistence_param, d.coexistence_lam / np.interp(np.log(d.coexistence_param), np.log(x), lc),
                     color="tab:purple", lw=1.5)
        for p in d.tricritical:
            ax2.plot([p.param], [1.0], "*", color="gold", mec="k", ms=12, zorder=5)
        ax2.set_ylim(lo_f - 0.15 * (1 - lo_f), 1 + 0.15 * (1 - lo_f))
        ax2.set_ylabel(r"$\lambda / \lambda_c$")
        ax2.set_xlabel(d.param if d.param != "kappa" else r"$\kappa$")
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path

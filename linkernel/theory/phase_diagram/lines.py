"""The branch-point line lambda_c(param) with its codimension-two points, and the entry points
:func:`phase_diagram` and :func:`phase_summary` (the method: :mod:`linkernel.theory.phase_diagram`)."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from scipy.optimize import brentq

from linkernel.errors import ConvergenceError, PhaseDiagramWarning
from linkernel.problem import Problem, fix_z2_sign
from linkernel.progress import progress_bar
from linkernel.theory.action import to_vector
from linkernel.theory.continuation.codim2 import Codim2Line
from linkernel.theory.phase_diagram.augmented import _critical_point, _Point, landau_quartic
from linkernel.theory.phase_diagram.first_order import _first_order_lines
from linkernel.theory.phase_diagram.results import PARAMS, CodimTwoPoint, PhaseDiagram, PhaseSummary
from linkernel.threads import entry_point
from linkernel.validation import count, instance, interval, positive

# --- the lines ------------------------------------------------------------------------------
def _check_param(param) -> str:
    if param not in PARAMS:
        raise ValueError(f"param={param!r} is invalid; param must be one of {', '.join(PARAMS)}")
    return param


class _Line:
    """The branch-point line of one odd sector: the codimension-two continuation and its points.

    The line is the solution curve of the minimally augmented system
    (:class:`~linkernel.theory.continuation.codim2.MinimallyAugmented`: F[even] = 0 and the
    smallest eigenvalue of the odd block ``sector`` = 0, in X = (x, lambda, log param)); each
    requested param value is predicted along the secant of the nearest points solved
    (:class:`~linkernel.theory.continuation.codim2.Codim2Line`) and corrected at that param
    by the stepper's damped corrector.  ``sector`` is the character (a key of
    :func:`_sectors`) of the odd block followed; each sector has its own points.
    """

    def __init__(self, problem: Problem, param: str, tol: float, sector=None):
        self.problem, self.param, self.tol = problem, param, tol
        self.sector = sector
        self.degenerate = set()   # sectors critical together with self.sector (excluded from other_min)
        self.done = {}   # sector -> Codim2Line

    def point(self, value) -> _Point:
        return _Point(self.problem.with_(**{self.param: float(value)}), s=math.log(value))

    def solve(self, value, start=None):
        pt = self.point(value)
        if self.sector is None:
            self.sector = next(iter(pt.sectors))
        sec = pt.sectors[self.sector]
        done = self.done.setdefault(self.sector, Codim2Line(self.problem.n))
        x, lam = done.predict(value) if start is None else start
        res = _critical_point(pt, x, lam, pt.i_even, sec, self.tol)
        if res is None and start is None and done.points:
            near = done.nearest(value)
            res = _critical_point(pt, near[1], near[2], pt.i_even, sec, self.tol)
        if res is None:
            raise ConvergenceError(f"the branch point did not converge at {self.param}={value:.8g}")
        x, lam, mu, phi, Hd = res
        b, _ = landau_quartic(pt, x, lam, phi, Hd)
        even_min = float(np.linalg.eigvalsh(Hd[np.ix_(pt.i_even, pt.i_even)])[0])
        others = {key: pt.mu(Hd, idx)[0] for key, idx in pt.sectors.items()
                  if key != self.sector and key not in self.degenerate}
        done.add(value, x, lam)
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


def _start_line(problem: Problem, param: str, value: float, tol: float, lam_max: float):
    """(the :class:`_Line` with its critical sector chosen, x0, lam0): the branch point at ``value``.

    Warns (PhaseDiagramWarning) when several odd sectors are critical together there.
    """
    line = _Line(problem, param, tol)
    x0, lam0 = _first_branch_point(problem, param, value, lam_max)
    line.sector, line.degenerate = _critical_sector(line.point(value), x0, lam0)
    if line.degenerate:
        warnings.warn(PhaseDiagramWarning(
            f"{len(line.degenerate) + 1} Z2-odd sectors are critical together at {param}={value:.6g} "
            "(a double branch point: two order parameters break at the same lambda_c); b is the quartic "
            "coefficient along the followed sector's mode alone, the order of the transition also depends on "
            "the couplings between the modes, which this module does not compute"), stacklevel=4)
    return line, x0, lam0


def _branch_point_line(line: _Line, grid, start, lam_win, notes: list, progress: bool):
    """(rows, mode crossings): the branch-point line solved at each value of ``grid`` in turn.

    ``start`` = (x0, lam0) at grid[0].  Where another odd sector goes critical first, the
    double branch point between two grid values is refined (a ``mode_crossing``) and the line
    goes on in that sector.  Stops (a note appended) when a solve fails or lambda leaves
    ``lam_win``; raises ConvergenceError with fewer than two rows.
    """
    problem, param = line.problem, line.param
    rows, cod2 = [], []
    bar = progress_bar(progress, total=len(grid), desc=f"phase diagram {problem.arch} T={problem.T}")
    for k, value in enumerate(grid):
        try:
            row = line.solve(value, start=start if k == 0 else None)
            if row["other_min"] < 0 and rows:
                # another odd sector went critical first: a double branch point between the two params
                c = _refine(line, "other_min", "mode_crossing", rows[-1], row)
                c["detail"]["sectors"] = [str(line.sector), str(c["_row"]["next_sector"])]
                cod2.append(c)
                line.sector = c["_row"]["next_sector"]
                line.done.setdefault(line.sector, Codim2Line(problem.n)).add(c["param"], c["_row"]["x"], c["lam"], unique=False)
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
        raise ConvergenceError(f"the branch-point line could not be continued from {param}={grid[0]:g}; "
                               "narrow param_range or check that the problem has a transition there")
    return rows, cod2


def _codim_two_points(line: _Line, rows: list, cod2: list, grid, param_range) -> tuple:
    """The codimension-two points (sorted CodimTwoPoints); ``rows`` gains their rows, sorted by param.

    ``cod2`` holds the mode crossings found so far; added here: the sign changes of b
    (tricritical) and of the even eigenvalue (symmetric fold) between grid points of one
    sector, and around each tricritical point denser rows (where the first-order lines start).
    """
    lo, hi = param_range
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
    return tuple(CodimTwoPoint(kind=c["kind"], param=c["param"], lam=c["lam"], detail=c["detail"]) for c in cod2)


@entry_point
def phase_diagram(problem: Problem, param: str = "kappa", param_range: tuple[float, float] = (0.01, 30.0),
                  lam_range: tuple[float, float] | None = None, points: int = 41, progress: bool = False,
                  tol: float = 1e-12, spot_checks: int = 0, first_order_lines: bool = True) -> PhaseDiagram:
    """The phase diagram of ``problem`` in the (param, lambda) plane (module docstring for the method).

    The branch-point line lambda_c(param) is continued as the solution of augmented equations
    (saddle point plus a null odd Hessian direction) across ``param_range``; the quartic Landau
    coefficient b along it tells second order (b > 0) from first order (b < 0), and where
    b < 0 the spinodal and coexistence lines are continued too.

    Parameters
    ----------
    problem : Problem
        A problem with a Z2 symmetry; its ``lam`` and its value of ``param`` are replaced.
    param : {"kappa", "w", "v", "u"}, default "kappa"
        The hyperparameter on the horizontal axis.
    param_range : tuple of float, default (0.01, 30.0)
        ``(lo, hi)``, positive.
    lam_range : tuple of float, optional
        ``(lo, hi)`` window for lambda; lines leaving it stop there.  Default: no limit below
        lambda = 50.
    points : int, default 41
        Log-spaced values of ``param`` at which the lines are continued (at least 3); the
        codimension-two points are added and refined exactly.
    progress : bool, default False
        Show the progress bar (on stderr).
    tol : float, default 1e-12
        Newton tolerance along the lines.
    spot_checks : int, default 0
        How many branch points to check by :func:`~linkernel.saddle_point` just below and
        above the line (m = 0 vs m > 0).
    first_order_lines : bool, default True
        Also continue the spinodal and coexistence lines where b < 0.

    Returns
    -------
    PhaseDiagram
        The lines as arrays along increasing param (``branch_lam`` of shape (K,), K >= points)
        and the codimension-two points.

    Raises
    ------
    ValueError
        If an argument is invalid or the problem has no Z2 symmetry.
    ConvergenceError
        If no branch point exists at ``param_range[0]``.

    Warns
    -----
    PhaseDiagramWarning
        When a line stopped early (``PhaseDiagram.complete`` is False).

    Examples
    --------
    >>> import linkernel as lk
    >>> pd = lk.phase_diagram(lk.endpoint("rnn", T=3), param="kappa", param_range=(0.05, 1.0),
    ...                       points=5, first_order_lines=False)
    >>> pd.branch_param.shape, pd.complete
    ((5,), True)
    >>> pd.branch_lam.round(3)
    array([2.846, 2.866, 2.907, 2.996, 3.182])
    """
    t0 = time.perf_counter()
    instance("problem", problem, Problem, "a linkernel Problem")
    param = _check_param(param)
    lo, hi = interval("param_range", param_range)
    lam_win = None if lam_range is None else interval("lam_range", lam_range)
    points = count("points", points, low=3)
    tol = positive("tol", tol)
    spot_checks = count("spot_checks", spot_checks, low=0)
    from linkernel.theory.special_points import require_symmetry
    require_symmetry(problem)
    lam_max = 50.0 if lam_win is None else lam_win[1]
    notes = []

    grid = np.exp(np.linspace(math.log(lo), math.log(hi), points))
    line, x0, lam0 = _start_line(problem, param, grid[0], tol, lam_max)
    rows, cod2 = _branch_point_line(line, grid, (x0, lam0), lam_win, notes, progress)
    points_ = _codim_two_points(line, rows, cod2, grid, (lo, hi))

    fold, coex, restarts, gaps = [], [], 0, ()
    if first_order_lines:
        fold, coex, more, restarts = _first_order_lines(line, rows, points_, tol)
        notes += more
        gaps = _gaps(rows, fold)
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
        checks=tuple(checks), restarts=restarts, first_order_gaps=gaps,
        sectors=(str(rows[0]["sector"]),) + tuple(str(k) for k in sorted(line.degenerate)))


def _gaps(rows: list, fold: list) -> tuple:
    """The param intervals (lo, hi) of first-order rows (b < 0, symmetric saddle a minimum) at which the
    spinodal/coexistence lines have no point: runs of consecutive such rows, each from its first to its
    last row (the lines are drawn straight across it)."""
    have = {round(f["param"], 12) for f in fold}
    out, run = [], []
    for r in rows:
        missing = r["b"] < 0 and r["even_min"] > 0 and round(r["param"], 12) not in have
        if missing:
            run.append(r["param"])
        elif run:
            out.append((run[0], run[-1]))
            run = []
    if run:
        out.append((run[0], run[-1]))
    return tuple(out)


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
        mb = _m_of(saddle_point(p.with_(lam=lam_b)))
        ma = _m_of(saddle_point(p.with_(lam=lam_a)))
        out.append({"param": r["param"], "lam_c": r["lam"], "lam_below": lam_b, "m_below": mb,
                    "lam_above": lam_a, "m_above": ma, "ok": bool(abs(mb) < 1e-6 and ma > 1e-4)})
    return out


def _m_of(sp) -> float:
    """The largest |m_g| of the global minimum (sign-fixed): 0 in the symmetric phase."""
    H = fix_z2_sign(sp.problem, sp.kernel)
    ms = list(sp.problem.order_parameters(H).values()) or [sp.order_parameter]
    return float(max(ms, key=abs))


@entry_point(size=lambda a: max(a["Ts"]) * a["P"] if isinstance(a["Ts"], (range, list, tuple)) else None)
def phase_summary(Ts=range(3, 13), P: int = 1, arch: str = "rnn", kappa: float = 0.1, w: float = 1.0,
                  v: float = 1.0, u: float = 1.0, kappa_range=None, points: int = 25,
                  progress: bool = False) -> PhaseSummary:
    """For each T (endpoint task, ``arch``, P patterns): lambda_c, the numerical Landau b and the order at
    the given hyperparameters; with ``kappa_range`` also the tricritical kappas on the branch-point line
    (:func:`phase_diagram` without the first-order lines)."""
    from linkernel.tasks import endpoint
    t0 = time.perf_counter()
    Ts = [count("T", T) for T in Ts]
    rng = None if kappa_range is None else interval("kappa_range", kappa_range)
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

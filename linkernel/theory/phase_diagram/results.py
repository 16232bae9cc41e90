"""The phase diagram's results: :class:`PhaseDiagram` (the lines in the (param, lambda) plane),
:class:`CodimTwoPoint` and :class:`PhaseSummary` (the transition for each T), with ``to_dict`` and ``summary``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.display import Display, axes
from linkernel.problem import Problem

PARAMS = ("kappa", "w", "v", "u")


@dataclass(frozen=True)
class CodimTwoPoint(Display):
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
class PhaseDiagram(Display):
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
    ``first_order_gaps``: the param intervals (lo, hi) of the first-order region (b < 0) where the
    spinodal and coexistence lines have no point (neither continuation nor a walk from the branch
    point found the fold or the coexistence there; with a note unless it is the immediate vicinity
    of a tricritical point); the figure marks them.
    ``sectors``: the character (signs under each flip ``W_g -> -W_g``, then
    under all at once) of the critical odd sector at ``param_range[0]``, then
    of any sector critical together with it (a double branch point, e.g.
    ``tied_blocks(5, 2)``: b then describes the followed mode alone).

    Attributes
    ----------
    problem : Problem
        The problem (its value of ``param`` and its ``lam`` are replaced along the lines).
    param : str
        The parameter on the horizontal axis: "kappa", "w", "v" or "u".
    param_range : tuple of float
        ``(lo, hi)`` of ``param``.
    lam_range : tuple of float or None
        The lambda window the lines were confined to; None for none (lambda < 50).
    branch_param, branch_lam : numpy.ndarray, shape (K,)
        The branch-point line lambda_c(param) (log-spaced params plus the refined
        codimension-two points).
    branch_b : numpy.ndarray, shape (K,)
        The quartic Landau coefficient b per m along it (b < 0: first order).
    branch_even_min : numpy.ndarray, shape (K,)
        The smallest even-sector Hessian eigenvalue of the symmetric saddle at lambda_c.
    fold_param, fold_lam : numpy.ndarray, shape (F,)
        The spinodal of the broken phase (first-order regions only; empty otherwise).
    coexistence_param, coexistence_lam : numpy.ndarray, shape (C,)
        The coexistence line, where the global minimum changes (first-order regions only).
    points : tuple of CodimTwoPoint
        The codimension-two points (``kind`` "tricritical" or "symmetric_fold", ``param``,
        ``lam``).
    complete : bool
        False when a line stopped early.
    notes : tuple of str
        Why a line stopped early.
    seconds : float
        Wall time, in seconds.
    checks : tuple
        The spot checks by :func:`~linkernel.saddle_point`.
    restarts : int
        Params at which a first-order line was found again from the branch point.
    sectors : tuple
        The character of the critical odd sector(s) (above).
    first_order_gaps : tuple of (float, float)
        Param intervals of the first-order region without spinodal/coexistence points.
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
    first_order_gaps: tuple = ()

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
            "first_order_gaps": [list(g) for g in self.first_order_gaps],
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
        for lo, hi in self.first_order_gaps:
            lines.append(f"spinodal and coexistence lines MISSING for {par} {lo:.6g}..{hi:.6g} (b < 0 there; "
                         "neither continuation nor a walk from the branch point found them)")
        for c in self.checks:
            lines.append(f"spot check {par}={c['param']:.6g}: saddle_point m={c['m_below']:.3g} at lambda="
                         f"{c['lam_below']:.6g}, m={c['m_above']:.3g} at lambda={c['lam_above']:.6g}: "
                         + ("ok" if c["ok"] else "FAILED"))
        lines.append(("complete" if self.complete else "INCOMPLETE: " + "; ".join(self.notes))
                     + f" ({self.seconds:.1f} s)")
        return "\n".join(lines)

    __str__ = summary

    def plot(self, path=None, title=None, ax=None):
        """Draw the diagram (phases shaded); with ``path`` alone, write it there (PNG) and return the path.

        Otherwise draw it in ``ax`` (None: a new figure) and return the matplotlib Axes (also written
        to ``path`` when both are given); the branch-point line is ``(branch_param, branch_lam)``.
        """
        from linkernel.theory.phase_diagram.plot import draw_phase_diagram, plot_phase_diagram
        if ax is None and path is not None:
            return plot_phase_diagram(self, path, title=title)
        ax = draw_phase_diagram(self, axes(ax), title=title)
        if path is not None:
            ax.figure.savefig(path, dpi=150, bbox_inches="tight")
        return ax

    def _display_rows(self) -> list:
        lam = self.branch_lam
        rows = [("problem", self.problem), ("plane", f"({self.param}, lambda)"),
                (f"{self.param} range", self.param_range),
                ("branch-point line", f"{len(lam)} points"
                 + (f", lambda_c {lam.min():.10g}..{lam.max():.10g}" if len(lam) else ""))]
        rows += [(f"{p.kind} point", f"{self.param}={p.param:.10g} lambda={p.lam:.10g}") for p in self.points]
        rows += [("spinodal line", f"{len(self.fold_lam)} points"),
                 ("coexistence line", f"{len(self.coexistence_lam)} points")]
        if self.first_order_gaps:
            gaps = "; ".join(f"{a:.6g}..{b:.6g}" for a, b in self.first_order_gaps)
            rows.append(("first-order gaps (lines missing)", gaps))
        if self.checks:
            rows.append(("spot checks ok", f"{sum(bool(c['ok']) for c in self.checks)} of {len(self.checks)}"))
        rows.append(("complete", self.complete))
        rows += [("note", n) for n in self.notes]
        return rows + [("seconds", self.seconds)]


# --- the summary over T ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PhaseSummary(Display):
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

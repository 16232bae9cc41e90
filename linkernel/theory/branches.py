"""Results of the continuation: points, branches, special points, a whole trace.

Frozen dataclasses with ``to_dict()``; produced by :mod:`linkernel.theory.continuation`.
Kernels are (TP, TP) in the ordering ``t * P + p``, in the Z2 representative
with ``m = H^{T-1,T-2} >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.display import Display, axes, segments
from linkernel.problem import Problem



#: the words of :attr:`Trace.transition` (definitions in :class:`Trace`)
TRANSITIONS = ("second order", "first order", "tricritical", "none", "unknown")


@dataclass(frozen=True, eq=False)
class ContinuationPoint(Display):
    """One point of a branch: kernel (TP, TP), action S, |dS/dH| residual, Hessian spectrum."""

    lam: float
    kernel: np.ndarray
    action: float
    residual: float
    stable: bool
    order_parameter: float
    min_eigenvalue: float
    n_negative: int
    #: each shared W group's m_g = H^{t_g, t_g-1} (:meth:`Problem.order_parameters`), by group index
    order_parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"lam": self.lam, "kernel": self.kernel.tolist(), "action": self.action,
                "stable": self.stable, "residual": self.residual,
                "order_parameter": self.order_parameter, "min_eigenvalue": self.min_eigenvalue,
                "n_negative": self.n_negative,
                "order_parameters": {str(g): v for g, v in self.order_parameters.items()}}

    def summary(self) -> str:
        return (f"lambda = {self.lam:.10g}  m = {self.order_parameter:.6g}  S = {self.action:.12g}  "
                f"{'stable' if self.stable else f'unstable ({self.n_negative} negative)'}  "
                f"residual = {self.residual:.1e}")

    __str__ = summary


@dataclass(frozen=True, eq=False)
class Branch(Display):
    """A traced branch: ``kind`` is 'symmetric' (Z2-invariant), 'broken' or 'regular' (no Z2).

    ``complete`` is False when the branch stopped before leaving the lambda
    range (``max_steps`` ran out); ``stop_reason`` then says where and what to change.
    ``group``: on a broken branch, the shared W group that breaks (the one whose m_g the
    branch point's odd null vector excites most); the points' ``order_parameter`` is then
    that group's m_g = H^{t_g, s_g} (:meth:`linkernel.architecture.Architecture.order_pair`;
    for the RNN m = H^{T-1,T-2}).  None: m = H^{T-1,T-2} (the symmetric branch, the DNN).
    """

    arch: object
    kind: str
    points: tuple
    complete: bool = True
    stop_reason: str = ""
    group: int | None = None

    @property
    def order_label(self) -> str:
        """The order parameter the points' ``order_parameter`` is: 'm' for m = H^{T-1,T-2}, else the group's."""
        if self.group is None or getattr(self.arch, "is_rnn", False):
            return "m"
        t, s = self.arch.order_pair(self.group)
        steps = ", ".join(str(x) for x in sorted(self.arch.W[self.group]))
        return f"m_{self.group} = H^{{{t},{s}}} (W group {self.group}, steps {steps})"

    @property
    def lam(self) -> np.ndarray:
        return np.array([p.lam for p in self.points])

    @property
    def m(self) -> np.ndarray:
        return np.array([p.order_parameter for p in self.points])

    def m_group(self, g: int) -> np.ndarray:
        """Shared W group g's order parameter m_g along the branch."""
        return np.array([p.order_parameters.get(g, 0.0) for p in self.points])

    @property
    def stable(self) -> np.ndarray:
        return np.array([p.stable for p in self.points])

    @property
    def actions(self) -> np.ndarray:
        return np.array([p.action for p in self.points])

    def diagonal(self) -> np.ndarray:
        """Kernel diagonals, shape (len(points), TP)."""
        return np.array([np.diag(p.kernel) for p in self.points])

    def to_dict(self) -> dict:
        return {"arch": str(self.arch), "kind": self.kind, "points": [p.to_dict() for p in self.points],
                "complete": self.complete, "stop_reason": self.stop_reason or None,
                "group": self.group, "order_parameter": self.order_label}

    def summary(self) -> str:
        return f"{self.kind} branch: {_branch_text(self)}"

    __str__ = summary

    def _display_rows(self) -> list:
        lam, m = self.lam, self.m
        return [("kind", self.kind), ("points", len(self.points)),
                ("lambda range", (float(lam.min()), float(lam.max())) if len(lam) else ()),
                ("order parameter", self.order_label), ("largest order parameter", float(m.max()) if len(m) else None),
                ("stable points", int(self.stable.sum())), ("complete", self.complete),
                ("stop reason", self.stop_reason or None), ("breaking W group", self.group)]

    def _display_short(self) -> str:
        return f"{self.kind} branch, {len(self.points)} points"


def _branch_text(b: Branch) -> str:
    res = max(pt.residual for pt in b.points)
    text = (f"{len(b.points)} points, lambda {b.lam.min():.6g}..{b.lam.max():.6g}, {b.order_label} up to "
            f"{b.m.max():.6g}, "
            f"stable at {int(b.stable.sum())}, max residual {res:.1e}")
    return text if b.complete else f"{text}; INCOMPLETE: {b.stop_reason}"


@dataclass(frozen=True, eq=False)
class SpecialPoint(Display):
    """A refined special point: 'branch_point', 'fold' or 'coexistence'.

    ``test_value`` is the test function at the refined point (the Z2-odd
    Hessian eigenvalue nearest zero for a Z2 branch point, the eigenvalue of
    the Jacobian nearest zero for another branch point, the tangent's lambda
    component for a fold, the action difference for coexistence); ``branch`` indexes
    :attr:`Trace.branches`; ``null_vector`` is the odd null vector (to_vector
    coordinates) at a Z2 branch point.  ``multiplicity``: how many odd Hessian
    eigenvalues vanish there together (several odd modes of different characters
    going critical at once, :mod:`linkernel.theory.continuation.degenerate`; then
    ``null_space`` (multiplicity, dim) holds one mode per row and ``null_vector`` the first).
    """

    kind: str
    lam: float
    kernel: np.ndarray
    action: float
    residual: float
    order_parameter: float
    test_value: float
    branch: int
    z2: bool = False
    null_vector: np.ndarray | None = field(default=None, repr=False)
    multiplicity: int = 1
    null_space: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lam": self.lam, "kernel": self.kernel.tolist(),
                "action": self.action, "residual": self.residual,
                "order_parameter": self.order_parameter, "test_value": self.test_value,
                "branch": self.branch, "z2": self.z2, "multiplicity": self.multiplicity}

    def summary(self) -> str:
        kind = self.kind + ((" (Z2)" if self.multiplicity == 1 else f" (Z2 x{self.multiplicity})")
                            if self.z2 else "")
        return (f"{kind:20s} lambda = {self.lam:.15g}  m = {self.order_parameter:.6g}  "
                f"S = {self.action:.12g}  test = {self.test_value:.1e}  residual = {self.residual:.1e}")

    __str__ = summary


@dataclass(frozen=True, eq=False)
class Trace(Display):
    """Branches of saddle points of one problem over a lambda interval, with their special points.

    ``transition`` (one of :data:`TRANSITIONS`) answers "what happens to the symmetric phase in
    this range", and says so only where the trace shows it:

    * 'second order': the symmetric saddle, stable below, loses stability at a Z2 branch point
      in the range from which the broken branch leaves towards larger lambda (supercritical);
    * 'first order': the same, the broken branch leaving towards smaller lambda (subcritical:
      a fold, the spinodal, and a coexistence point where the global minimum changes); or several
      odd modes critical at once whose reduced equation has a cubic invariant (the broken branches
      leave transcritically; :mod:`linkernel.theory.continuation.degenerate`), or whose quartic form
      is negative in some direction;
    * 'tricritical': the same, with the quartic Landau coefficient at the branch point zero
      within rounding (:data:`linkernel.theory.continuation.tracing.TRICRITICAL_TOL`);
    * 'none': shown to have no transition in the range: the problem has no Z2 symmetry, or
      the symmetric saddle is stable across the whole range with no branch point and the global
      minimum at the top of the range (:func:`~linkernel.theory.saddle.saddle_point`) is
      symmetric (the DNN; or a range below the transition);
    * 'unknown': the trace cannot tell: cut short (``max_steps``) before a transition was
      found; the whole range on the broken side (the symmetric saddle unstable at its low end:
      the transition lies below, and ``transition_note`` suggests a range); a broken global
      minimum at the top of the range with a stable symmetric saddle throughout (a first-order
      transition whose branch point lies above the range); or a loss of stability of the
      symmetric saddle other than at a Z2 branch point.

    ``transition_note`` says which case and why (the summary's one WARNING line when 'unknown'; a
    trace cut short has also emitted its ContinuationWarning);
    :attr:`critical_lambda` is where the global minimum changes.

    Attributes
    ----------
    problem : Problem
        The problem traced (its ``lam`` is not used).
    lam_range : tuple of float
        ``(lo, hi)``, the lambda interval.
    branches : tuple of Branch
        Branch 0 is the starting (symmetric, or regular without a Z2 symmetry) branch; broken
        branches follow.  Each :class:`~linkernel.theory.branches.Branch` has ``points`` (each a
        ContinuationPoint: ``lam``, ``kernel`` of shape (T*P, T*P), ``action``, ``residual``,
        ``stable``, ``order_parameter``, ``min_eigenvalue``), ``kind``, ``complete``,
        ``stop_reason`` and ``group`` (the breaking W group, or None).
    special_points : tuple of SpecialPoint
        Folds, branch points (``z2`` True for a symmetry-breaking one) and coexistence points,
        each with ``lam``, ``kernel``, ``action``, ``order_parameter`` and the ``branch`` it lies on.
    transition : str
        One of 'second order', 'first order', 'tricritical', 'none', 'unknown' (above).
    steps : int
        Continuation steps over all branches.
    seconds : float
        Wall time, in seconds.
    transition_note : str
        Which case of ``transition`` and why.

    Notes
    -----
    Also ``critical_lambda`` (float or None), ``spinodals`` (first order: ``{"symmetric": lam,
    "broken": lam}``), ``complete``, ``points_of(kind)``, ``to_dict()`` and ``summary()``.
    """

    problem: Problem
    lam_range: tuple
    branches: tuple
    special_points: tuple
    transition: str
    steps: int
    seconds: float
    transition_note: str = ""

    @property
    def critical_lambda(self) -> float | None:
        """Where the global minimum turns broken: the branch point (second order, tricritical), the
        coexistence point (first order; None if it lies outside the range); None otherwise."""
        if self.transition in ("second order", "tricritical"):
            bp = [s.lam for s in self.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
            return bp[0] if bp else None
        if self.transition == "first order":
            coex = self.points_of("coexistence")
            return coex[0].lam if coex else None
        return None

    @property
    def complete(self) -> bool:
        """Whether every branch was followed to the end of ``lam_range`` (or to where it left it)."""
        return all(b.complete for b in self.branches)

    def points_of(self, kind: str) -> list:
        return [s for s in self.special_points if s.kind == kind]

    @property
    def spinodals(self) -> dict | None:
        """First-order transitions: where each phase stops being a local minimum.

        ``symmetric``: the Z2 branch point (the symmetric saddle loses
        stability); ``broken``: the fold of the broken branch.  None otherwise.
        """
        if self.transition != "first order":
            return None
        bp = [s.lam for s in self.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
        folds = [s.lam for s in self.special_points if s.kind == "fold" and s.branch > 0]
        return {"symmetric": bp[0] if bp else None, "broken": min(folds) if folds else None}

    def to_dict(self) -> dict:
        pr = self.problem
        return {"problem": {k: v for k, v in pr.to_dict().items() if k not in ("x", "yhat", "lam")},
                "lam_range": list(self.lam_range),
                "branches": [[p.to_dict() for p in b.points] for b in self.branches],
                "branch_kinds": [b.kind for b in self.branches],
                "complete": self.complete,
                "stop_reasons": [b.stop_reason or None for b in self.branches],
                "special_points": [s.to_dict() for s in self.special_points],
                "transition": self.transition, "transition_note": self.transition_note,
                "critical_lambda": self.critical_lambda, "spinodals": self.spinodals,
                "branch_groups": [b.group for b in self.branches],
                "order_parameters": [b.order_label for b in self.branches],
                "steps": self.steps, "seconds": self.seconds}

    def summary(self, refined=None) -> str:
        """One line for the trace, one per branch, one per special point (not every point).

        ``refined``: optionally, one entry per special point, None or the dict
        of :func:`linkernel.theory.highprec.refine_special_points` (keys lam,
        digits, residual), printed under its point.
        """
        from linkernel.formatting import task_name
        pr = self.problem
        lines = [f"{task_name(pr)} T={pr.T} P={pr.P} kappa={pr.kappa:g} "
                 f"lambda {self.lam_range[0]:g}..{self.lam_range[1]:g}: transition {self.transition} "
                 f"({self.steps} steps, {self.seconds:.2f} s)"
                 + ("" if self.complete else "; INCOMPLETE: some branches stop before the end of the range")]
        if self.transition == "unknown":
            lines.append(f"  WARNING: transition unknown: {self.transition_note}")
        lines += [f"  branch {k} ({b.kind}): {_branch_text(b)}" for k, b in enumerate(self.branches)]
        refined = [None] * len(self.special_points) if refined is None else refined
        for sp, r in zip(self.special_points, refined):
            lines.append(f"  {sp.summary()}")
            if r is not None:
                lines.append(f"  {'':20s} lambda = {r['lam']}  ({r['digits']} digits, residual {r['residual']:.0e})")
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        kinds = [s.kind for s in self.special_points]
        rows = [("problem", self.problem), ("lambda range", self.lam_range), ("transition", self.transition),
                ("critical lambda", self.critical_lambda)]
        if self.spinodals is not None:
            rows.append(("spinodals", self.spinodals))
        rows += [("complete", self.complete),
                 ("branches", "; ".join(f"{b.kind}, {len(b.points)} points" for b in self.branches)),
                 ("special points", ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)) or "none"),
                 ("steps", self.steps), ("seconds", self.seconds)]
        return rows + ([("note", self.transition_note)] if self.transition_note else [])

    def plot(self, ax=None):
        """Each branch's order parameter against lambda; returns the matplotlib Axes.

        Stable stretches solid, unstable dashed, one colour per branch (each line's ``gid`` is
        ``"branch k"``); special points marked at their (lambda, m): Z2 branch points (circles),
        other branch points (diamonds), folds (crosses), coexistence (squares).  ``ax``: the axes to
        draw in (None: a new figure).  The paper's figure of several traces is
        :func:`linkernel.plots.plot_trace`.
        """
        from linkernel.formatting import task_name
        ax = axes(ax)
        for k, b in enumerate(self.branches):
            ends = [(s.lam, s.order_parameter) for s in self.special_points
                    if s.branch == k and s.kind in ("branch_point", "fold")]
            for n, (lam, m, stable) in enumerate(segments(b.lam, b.m, b.stable, ends)):
                ax.plot(lam, m, ls="-" if stable else "--", color=f"C{k % 10}", gid=f"branch {k}",
                        label=f"branch {k} ({b.kind})" if n == 0 else None)
        marks = {"branch_point": ("o", "branch point"), "fold": ("X", "fold"), "coexistence": ("s", "coexistence")}
        seen = set()
        for s in self.special_points:
            mk, what = marks.get(s.kind, ("d", s.kind))
            if s.kind == "branch_point" and not s.z2:
                mk, what = "d", "branch point (no Z2)"
            ax.plot([s.lam], [s.order_parameter], mk, color="k", mfc="w", ms=7, zorder=5, gid=f"special {s.kind}",
                    label=None if what in seen else what)
            seen.add(what)
        pr = self.problem
        other = [b.order_label for b in self.branches if b.order_label != "m"]
        ax.set_xlabel("signal strength lambda")
        ax.set_ylabel("order parameter m = H^(T-1,T-2)" + (f"; broken: {other[0]}" if other else ""))
        ax.set_title(f"{task_name(pr)} T={pr.T} P={pr.P} kappa={pr.kappa:g}: {self.transition}", fontsize=9)
        ax.legend(fontsize=7)
        return ax

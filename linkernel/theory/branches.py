"""Results of the continuation: points, branches, special points, a whole trace.

Frozen dataclasses with ``to_dict()``; produced by :mod:`linkernel.theory.continuation`.
Kernels are (TP, TP) in the ordering ``t * P + p``, in the Z2 representative
with ``m = H^{T-1,T-2} >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.problem import Problem



@dataclass(frozen=True, eq=False)
class ContinuationPoint:
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
class Branch:
    """A traced branch: ``kind`` is 'symmetric' (Z2-invariant), 'broken' or 'regular' (no Z2).

    ``complete`` is False when the branch stopped before leaving the lambda
    range (``max_steps`` ran out); ``stop_reason`` then says where and what to change.
    """

    arch: object
    kind: str
    points: tuple
    complete: bool = True
    stop_reason: str = ""

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
                "complete": self.complete, "stop_reason": self.stop_reason or None}

    def summary(self) -> str:
        return f"{self.kind} branch: {_branch_text(self)}"

    __str__ = summary


def _branch_text(b: Branch) -> str:
    res = max(pt.residual for pt in b.points)
    text = (f"{len(b.points)} points, lambda {b.lam.min():.6g}..{b.lam.max():.6g}, m up to {b.m.max():.6g}, "
            f"stable at {int(b.stable.sum())}, max residual {res:.1e}")
    return text if b.complete else f"{text}; INCOMPLETE: {b.stop_reason}"


@dataclass(frozen=True, eq=False)
class SpecialPoint:
    """A refined special point: 'branch_point', 'fold' or 'coexistence'.

    ``test_value`` is the test function at the refined point (the Z2-odd
    Hessian eigenvalue nearest zero for a Z2 branch point, the eigenvalue of
    the Jacobian nearest zero for another branch point, the tangent's lambda
    component for a fold, the action difference for coexistence); ``branch`` indexes
    :attr:`Trace.branches`; ``null_vector`` is the odd null vector (to_vector
    coordinates) at a Z2 branch point.
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

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lam": self.lam, "kernel": self.kernel.tolist(),
                "action": self.action, "residual": self.residual,
                "order_parameter": self.order_parameter, "test_value": self.test_value,
                "branch": self.branch, "z2": self.z2}

    def summary(self) -> str:
        kind = self.kind + (" (Z2)" if self.z2 else "")
        return (f"{kind:20s} lambda = {self.lam:.15g}  m = {self.order_parameter:.6g}  "
                f"S = {self.action:.12g}  test = {self.test_value:.1e}  residual = {self.residual:.1e}")

    __str__ = summary


@dataclass(frozen=True, eq=False)
class Trace:
    """Branches of saddle points of one problem over a lambda interval, with their special points.

    ``transition`` is 'second order' (a supercritical pitchfork: the broken
    branch leaves the branch point towards larger lambda, stable),
    'first order' (subcritical: a fold and a coexistence point), or 'none'.
    """

    problem: Problem
    lam_range: tuple
    branches: tuple
    special_points: tuple
    transition: str
    steps: int
    seconds: float

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
                "transition": self.transition, "spinodals": self.spinodals,
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
        lines += [f"  branch {k} ({b.kind}): {_branch_text(b)}" for k, b in enumerate(self.branches)]
        refined = [None] * len(self.special_points) if refined is None else refined
        for sp, r in zip(self.special_points, refined):
            lines.append(f"  {sp.summary()}")
            if r is not None:
                lines.append(f"  {'':20s} lambda = {r['lam']}  ({r['digits']} digits, residual {r['residual']:.0e})")
        return "\n".join(lines)

    __str__ = summary

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

    def to_dict(self) -> dict:
        return {"lam": self.lam, "kernel": self.kernel.tolist(), "action": self.action,
                "stable": self.stable, "residual": self.residual,
                "order_parameter": self.order_parameter, "min_eigenvalue": self.min_eigenvalue,
                "n_negative": self.n_negative}


@dataclass(frozen=True, eq=False)
class Branch:
    """A traced branch: ``kind`` is 'symmetric' (Z2-invariant), 'broken' or 'regular' (no Z2)."""

    arch: str
    kind: str
    points: tuple

    @property
    def lam(self) -> np.ndarray:
        return np.array([p.lam for p in self.points])

    @property
    def m(self) -> np.ndarray:
        return np.array([p.order_parameter for p in self.points])

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
        return {"arch": str(self.arch), "kind": self.kind, "points": [p.to_dict() for p in self.points]}


@dataclass(frozen=True, eq=False)
class SpecialPoint:
    """A refined special point: 'branch_point', 'fold' or 'coexistence'.

    ``test_value`` is the test function at the refined point (smallest Z2-odd
    Hessian eigenvalue for a Z2 branch point, the tangent's lambda component
    for a fold, the action difference for coexistence); ``branch`` indexes
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
                "special_points": [s.to_dict() for s in self.special_points],
                "transition": self.transition, "spinodals": self.spinodals,
                "steps": self.steps, "seconds": self.seconds}

"""The Landau landscape: the action minimised at fixed order parameter (the paper's Fig. 4b).

    S_m(lam) = min { S(H) : H positive definite, m(H) = m },   m(H) = H^{T-1,T-2}

(pattern-averaged for P > 1).  The constraint is linear in the
:func:`linkernel.theory.action.to_vector` coordinates, ``a . x = m``, so we write
``x = m a / |a|^2 + Q y`` with Q an orthonormal basis of the complement of a,
and minimise over y with a trust-region Newton method (exact Hessian
``Q^T Hess Q``, which copes with the indefinite Hessian of the unstable
symmetric saddle).  The sweep in m starts at m = 0 from the symmetric saddle
and walks outwards, each minimisation starting from its neighbour's.  Where
the problem has the Z2 symmetry, S_m is even in m and only m >= 0 is
computed; the negative half is its mirror image.

Below lambda_c the landscape has one minimum at m = 0; above it a Z2 pair of
minima at +-m* (the broken saddle); at a second-order lambda_c the well is
quartic.  The minimiser of S_m is the saddle point's m, a cross-check with
:func:`linkernel.theory.saddle.saddle_point`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import brentq

from linkernel.display import Display, axes
from linkernel.errors import ConvergenceError, SaddleWarning
from linkernel.problem import Problem, require_problem
from linkernel.progress import progress_bar
from linkernel.theory.action import from_vector, m_vector, to_vector
from linkernel.theory.continuation.stepper import _start
from linkernel.theory.equations import Equations
from linkernel.theory.special_points import constrained_minimum, constraint_basis
from linkernel.threads import entry_point
from linkernel.validation import finite_entries, integer, nonempty, positive, real_array

if TYPE_CHECKING:       # only for annotations (strings under ``from __future__ import annotations``)
    from numpy.typing import ArrayLike


@dataclass(frozen=True, eq=False)
class LandscapeCurve(Display):
    """S minimised at fixed m, at one lambda.

    ``m`` (K,), ``action`` (K,) the constrained minimum, ``kernels`` (K, TP, TP)
    the minimisers, ``residual`` (K,) the norm of the gradient projected on
    the constraint surface, ``curvature`` (K,) the smallest eigenvalue of the
    projected Hessian (> 0: a true constrained minimum).  ``m_min`` and
    ``action_min`` locate the lowest point (refined by a parabola through the
    three lowest grid points).
    """

    lam: float
    m: np.ndarray
    action: np.ndarray
    kernels: np.ndarray
    residual: np.ndarray
    curvature: np.ndarray
    slope: np.ndarray
    m_min: float
    action_min: float

    @property
    def delta_action(self) -> np.ndarray:
        """S_m - S_{m=0}."""
        return self.action - self.action[np.argmin(np.abs(self.m))]

    def to_dict(self) -> dict:
        return {"lam": self.lam, "m": self.m.tolist(), "action": self.action.tolist(),
                "delta_action": self.delta_action.tolist(), "residual": self.residual.tolist(),
                "curvature": self.curvature.tolist(), "slope": self.slope.tolist(), "m_min": self.m_min,
                "action_min": self.action_min}

    def summary(self) -> str:
        return (f"lambda = {self.lam:g}: minimum at m = {self.m_min:.10g}, S_min - S(m=0) = "
                f"{self.action_min - self.action[0]:.6e}, S(m_max) - S(0) = {self.delta_action[-1]:.4e}, "
                f"max residual {self.residual.max():.1e}, min curvature {self.curvature.min():.2e}")

    __str__ = summary


@dataclass(frozen=True, eq=False)
class Landscape(Display):
    """The Landau landscape of one problem: the action minimised at fixed m, at several lambdas.

    Returned by :func:`~linkernel.landscape` (the paper's Fig. 4b).  Each curve is
    ``S_m(lam) = min { S(H) : m(H) = m }`` with ``m = H^{T-1,T-2}`` (pattern-averaged).

    Attributes
    ----------
    problem : Problem
        The problem (its ``lam`` is not used).
    curves : tuple of LandscapeCurve
        One per lambda, in the order given.  Each
        :class:`~linkernel.theory.landscape.LandscapeCurve` has ``lam``, ``m`` (shape (K,)),
        ``action`` (shape (K,)), ``delta_action`` (``S_m - S_0``, shape (K,)), ``kernels``
        (the minimisers, shape (K, T*P, T*P)), ``residual``, ``curvature``, ``slope`` (each
        shape (K,)), and ``m_min``, ``action_min`` (the lowest point, refined).
    seconds : float
        Wall time, in seconds.
    """

    problem: Problem
    curves: tuple
    seconds: float

    def to_dict(self) -> dict:
        pr = self.problem
        return {"problem": {k: v for k, v in pr.to_dict().items() if k not in ("x", "yhat", "lam")},
                "curves": [c.to_dict() for c in self.curves], "seconds": self.seconds}

    def summary(self) -> str:
        """One line per lambda: where S at fixed m is lowest, how deep, and how well converged."""
        from linkernel.formatting import task_name
        pr = self.problem
        return "\n".join([f"{task_name(pr)} T={pr.T} P={pr.P} kappa={pr.kappa:g}: "
                          f"S minimised at fixed m = H^(T-1,T-2) ({self.seconds:.1f} s)"]
                         + [f"  {c.summary()}" for c in self.curves])

    __str__ = summary

    def _display_rows(self) -> list:
        c = self.curves
        return [("problem", self.problem), ("lambdas", [x.lam for x in c]),
                ("m at the minimum, per lambda", [x.m_min for x in c]),
                ("S_min - S(m=0), per lambda", [x.action_min - x.action[np.argmin(np.abs(x.m))] for x in c]),
                ("points per curve", len(c[0].m) if c else 0), ("largest residual", max(x.residual.max() for x in c)),
                ("seconds", self.seconds)]

    def plot(self, ax=None):
        """S minimised at fixed m, minus its value at m = 0, against m, one curve per lambda; returns the Axes.

        Each curve is ``(curve.m, curve.delta_action)`` (line ``gid`` ``"lambda k"``), its lowest point
        ``(m_min, action_min - S_0)`` marked.  ``ax``: the axes to draw in (None: a new figure).  The
        paper's two-panel figure is :func:`linkernel.plots.plot_landscape`.
        """
        from linkernel.formatting import task_name
        ax = axes(ax)
        for k, c in enumerate(self.curves):
            line, = ax.plot(c.m, c.delta_action, color=f"C{k % 10}", gid=f"lambda {k}", label=f"lambda = {c.lam:.6g}")
            ax.plot([c.m_min], [c.action_min - c.action[np.argmin(np.abs(c.m))]], "o", color=line.get_color(),
                    mec="k", zorder=5, gid=f"minimum {k}")
        ax.axhline(0.0, color="0.6", lw=0.8)
        pr = self.problem
        ax.set_xlabel("order parameter m = H^(T-1,T-2)")
        ax.set_ylabel("S_m - S_0,  S_m = min S(H) at fixed m")
        ax.set_title(f"Landau landscape, {task_name(pr)} T={pr.T} P={pr.P} kappa={pr.kappa:g}", fontsize=9)
        ax.legend(fontsize=7)
        return ax


@entry_point
def landscape_at(problem: Problem, m_max: float, points: int = 41, gtol: float = 1e-10) -> LandscapeCurve:
    """S minimised at fixed m on ``points`` values of m in [0, m_max] (Z2 problems) or [-m_max, m_max]."""
    m_max = positive("m_max", m_max)
    points = integer("points", points, 3, 1000)     # the command line states the same limit
    a = m_vector(problem)
    Q = constraint_basis(a)
    H0 = from_vector(_start(Equations(problem), problem.lam, 1e-11)[0][:-1], problem.n)
    y0 = Q.T @ to_vector(H0)
    grids = [np.linspace(0.0, m_max, points)]
    if not problem.has_z2:
        grids = [np.linspace(0.0, -m_max, points)[::-1], grids[0][1:]]
    rows = []
    for grid in grids:
        order = np.argsort(np.abs(grid))
        y = y0
        out = {}
        for k in order:
            cm = constrained_minimum(problem, grid[k], y, a, Q, gtol)
            y = cm.y
            out[k] = (grid[k], cm.action, cm.kernel, cm.residual, cm.curvature, cm.slope, y)
        rows += [out[k] for k in range(len(grid))]
    m = np.array([r[0] for r in rows])
    S = np.array([r[1] for r in rows])
    slope = np.array([r[5] for r in rows])
    if not np.all(np.isfinite(S)):
        raise ConvergenceError(f"constrained minimisation left the positive-definite cone at lambda="
                               f"{problem.lam:g}; use a smaller m_max")
    k = int(np.argmin(S))
    m_min, S_min = m[k], S[k]
    for j in (k - 1, k):  # the slope changes sign from - to + around the minimum
        if 0 <= j < len(m) - 1 and slope[j] < 0 < slope[j + 1]:
            cache = {}

            def g(mm, y=rows[j][6]):
                cache[mm] = constrained_minimum(problem, mm, y, a, Q, gtol)
                return cache[mm].slope

            m_min = brentq(g, m[j], m[j + 1], xtol=1e-13)
            if m_min not in cache:
                g(m_min)
            S_min = cache[m_min].action
    return LandscapeCurve(lam=problem.lam, m=m, action=S, kernels=np.array([r[2] for r in rows]),
                          residual=np.array([r[3] for r in rows]), curvature=np.array([r[4] for r in rows]),
                          slope=slope,
                          m_min=float(abs(m_min) if problem.has_z2 else m_min), action_min=float(S_min))


@entry_point
def landscape(problem: Problem, lams: ArrayLike, m_max: float | None = None, points: int = 41,
              progress: bool = False) -> Landscape:
    """The Landau landscape at every lambda in ``lams`` (``problem.lam`` is ignored).

    At each lambda, S is minimised at fixed ``m = H^{T-1,T-2}`` on a grid of m (module
    docstring).  Where the problem has the Z2 symmetry only ``m >= 0`` is computed (S_m is
    even); otherwise ``[-m_max, m_max]``.  Below lambda_c the curve has one minimum at m = 0,
    above it a Z2 pair at ``+-m*``.

    Parameters
    ----------
    problem : Problem
        The problem; its ``lam`` is ignored.
    lams : array_like of float, shape (L,)
        One or more non-negative lambdas (signal strengths); a scalar counts as one.
    m_max : float, optional
        Largest ``|m|`` of the grid; default 1.5 times the largest ``|m|`` of the saddle points
        at these lambdas (at least 1).
    points : int, default 41
        Grid points in ``[0, m_max]``, 3 to 1000.
    progress : bool, default False
        Show the progress bar (on stderr).

    Returns
    -------
    Landscape
        One curve per lambda, each with ``m`` and ``action`` of shape (points,) (Z2 problems;
        ``2 points - 1`` otherwise).

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).
    ConvergenceError
        If the constrained minimisation leaves the positive-definite cone (use a smaller
        ``m_max``).

    Examples
    --------
    >>> import linkernel as lk
    >>> ls = lk.landscape(lk.endpoint("rnn", T=3), [2.0, 3.5], points=9)
    >>> [c.m.shape for c in ls.curves]
    [(9,), (9,)]
    >>> [round(c.m_min, 3) for c in ls.curves]
    [0.0, 3.251]
    """
    require_problem("problem", problem)
    vals = np.atleast_1d(real_array("lams", lams)).ravel()
    nonempty("lams", vals.tolist(), "one or more positive finite lambdas")
    lams = finite_entries("lams", vals, low=0).tolist()
    m_max = None if m_max is None else positive("m_max", m_max)
    t0 = time.perf_counter()
    if m_max is None:
        import warnings
        from linkernel.theory.saddle import saddle_point
        # Only the scale of m* sets the plotted range: at lambda = lambda_c the minimum is degenerate by
        # construction (flat to second order), and saddle_point's warning about it says nothing about the
        # landscape, whose curves are computed and checked on their own.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SaddleWarning)
            m_star = max(abs(saddle_point(problem.with_(lam=x)).order_parameter) for x in lams)
        m_max = max(1.0, 1.5 * m_star)
    curves = []
    for x in progress_bar(progress, iterable=lams, desc="landscape", unit="lambda"):
        curves.append(landscape_at(problem.with_(lam=x), m_max, points))
    return Landscape(problem=problem, curves=tuple(curves), seconds=time.perf_counter() - t0)

"""Finite-size scaling of a Z2-breaking transition with the exact finite-N posterior.

At a second-order point the Landau expansion of the action along the Z2-odd
order parameter, after the other modes are solved out, is
``S(m) = S0 + a (lam - lam_c) m^2 + b m^4`` with ``a(lam_c) = 0``; the posterior
of m at width N is then ``P(m) ~ exp(-N b m^4)`` at ``lam = lam_c`` (the O(1)
terms of the exact log-posterior add ``c m^2``, a relative correction of
order ``N^{-1/2}``), so

    E|m| = Gamma(1/2) / Gamma(1/4) * (N b)^{-1/4}      (N b >> 1).

This module computes ``lam_c`` (a bracketing root of the smallest Z2-odd
Hessian eigenvalue on the symmetric branch), ``b`` (minimising S at fixed m),
runs :func:`linkernel.finite_n.exact.exact_posterior` at ``lam_c`` for a range of N and
fits the power of N; :func:`rounding` gives m(lam) at several N.

Which order parameter: for the RNN, m = H^{T-1,T-2}.  For another sharing
pattern, the shared W group g that breaks, with ``m_g = H^{t_g, s_g}``
(:meth:`linkernel.architecture.Architecture.order_pair`): by default the group
whose m_g has the largest overlap with the null vector of the odd Hessian block
on the symmetric saddle at lambda_c (:func:`critical_group`).  m = H^{T-1,T-2}
need not be critical there (e.g. W tied on steps {1,2,3} and on {4,5} at T = 6:
group 0 breaks, and m is the order parameter of group 1).  Every function takes
``group=`` to choose it explicitly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from linkernel import validation
from linkernel.theory.action import action, m_vector
from linkernel.theory.hessian import hessian
from linkernel.theory.special_points import (constrained_minimum, critical_lambda,
                                             require_symmetry, symmetric_saddle)
from linkernel.finite_n.exact import exact_posterior
from linkernel.numerics import richardson
from linkernel.problem import Problem
from linkernel.theory.saddle import saddle_point
from linkernel.threads import entry_point

#: E|x| for the density ~ exp(-x^4): Gamma(1/2) / Gamma(1/4)
QUARTIC_MEAN_ABS = math.gamma(0.5) / math.gamma(0.25)


def critical_overlaps(problem: Problem, H=None, rtol: float = 1e-6) -> dict:
    """|cos| between each shared group's m_g and the critical odd mode at ``problem.lam`` (meant to be lam_c).

    The critical mode is the eigenspace of the smallest eigenvalue of the odd
    block of the Hessian of S on the symmetric saddle ``H`` (default
    :func:`symmetric_saddle`; eigenvalues within ``rtol`` times the spread of
    the spectrum of the smallest count as degenerate with it); the overlap of
    group g is the norm of the projection of ``m_vector(problem, g)`` onto that
    space over the norm of the vector.  ``{g: overlap}`` over
    :meth:`~linkernel.architecture.Architecture.shared_groups`.
    """
    odd = require_symmetry(problem)
    H = symmetric_saddle(problem) if H is None else H
    w, V = np.linalg.eigh(hessian(problem, H)[np.ix_(odd, odd)])
    null = V[:, w - w[0] <= rtol * max(w[-1] - w[0], 1e-300)]
    out = {}
    for g in problem.arch.shared_groups():
        a = m_vector(problem, g)[odd]
        out[g] = float(np.linalg.norm(null.T @ a) / np.linalg.norm(a))
    return out


def critical_group(problem: Problem, H=None) -> int:
    """The shared W group that breaks at ``problem.lam`` (meant to be lam_c): largest :func:`critical_overlaps`.

    Ties go to the lowest index.  ValueError when the pattern has no shared group.
    """
    ov = critical_overlaps(problem, H)
    if not ov:
        raise ValueError(f"arch {problem.arch} has no shared W group; no group can break spontaneously")
    return max(ov, key=lambda g: (ov[g], -g))


def resolve_group(problem: Problem, group=None):
    """The group whose m_g the finite-size functions measure at ``problem.lam`` (meant to be lam_c).

    ``group`` given: checked to be a shared group and returned.  None: None for
    the RNN (m = H^{T-1,T-2}, which is its one group's m_g) and for a pattern
    with no shared group, else :func:`critical_group`.
    """
    shared = problem.arch.shared_groups()
    if group is not None:
        return int(validation.choice("group", group, shared))     # a shared W group of problem.arch
    if problem.arch.is_rnn or not shared:
        return None
    return critical_group(problem)


def order_pair(problem: Problem, group=None) -> tuple:
    """(t, s) of the measured order parameter H^{t,s}: (T-1, T-2) for ``group=None``, else the group's pair."""
    return (problem.T - 1, problem.T - 2) if group is None else tuple(problem.arch.order_pair(group))


def _measured(r, group) -> tuple:
    """(mean, stderr) of the order parameter of ``group`` (None: m) in an exact-posterior result."""
    if group is None:
        return r.order_parameter, r.order_parameter_stderr
    return r.order_parameters[group]


def _saddle_m(sp, group) -> float:
    """The order parameter of ``group`` (None: m) of a saddle-point result (its kernel is sign-fixed)."""
    return sp.order_parameter if group is None else sp.order_parameters[group]


@entry_point
def landau_quartic(problem: Problem, ms=(0.05, 0.1, 0.15, 0.2), group=None) -> tuple:
    """The quartic Landau coefficient b at ``problem.lam`` (meant to be lam_c).

    ``f(m) = min { S(H) : m(H) = m } - S(H_sym)`` for the given m
    (:func:`linkernel.theory.special_points.constrained_minimum` with
    ``a = m_vector(problem, group)``), m the order parameter of ``group``
    (:func:`resolve_group`: m = H^{T-1,T-2} for the RNN, else by default the
    group that breaks); at lam_c ``f = b m^4 + b6 m^6 + ...``: returns
    ``(b, b6)`` from a least-squares fit of f/m^4 against m^2.  b > 0:
    second-order transition.  P = 1 only.
    """
    require_symmetry(problem)
    if problem.P != 1:
        raise ValueError(f"P={problem.P} is invalid here; landau_quartic handles P = 1 (m is one kernel entry)")
    H0 = symmetric_saddle(problem)
    group = resolve_group(problem, group)
    a = m_vector(problem, group)
    S0 = action(problem, H0)
    f = [constrained_minimum(problem, m, a=a).action - S0 for m in ms]
    ms = np.asarray(ms, dtype=float)
    A = np.stack([np.ones_like(ms), ms ** 2], axis=1)
    b, b6 = np.linalg.lstsq(A, np.asarray(f) / ms ** 4, rcond=None)[0]
    return float(b), float(b6)


def power_law_fit(N, y, se) -> tuple:
    """Weighted least squares of log y = log A + alpha log N: returns (alpha, alpha_err, A, chi2/dof).

    Errors from the standard errors of y (delta method, se/y), inflated by
    sqrt(chi2/dof) when that exceeds 1.
    """
    N, y, se = (np.asarray(a, dtype=float) for a in (N, y, se))
    X = np.stack([np.ones_like(N), np.log(N)], axis=1)
    w = (y / se) ** 2
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    beta = cov @ X.T @ (w * np.log(y))
    r = np.log(y) - X @ beta
    dof = max(len(N) - 2, 1)
    chi2 = float(np.sum(w * r ** 2) / dof)
    err = math.sqrt(cov[1, 1] * max(1.0, chi2))
    return float(beta[1]), err, float(math.exp(beta[0])), chi2


@dataclass(frozen=True, eq=False)
class FiniteSizeScaling:
    """m = E|m_g| at lam_c against N, its fitted power and the Landau prediction.

    ``group``: the W group whose ``m_g = H^{order_pair}`` is measured (None:
    m = H^{T-1,T-2}, the RNN's; :func:`resolve_group`); ``exponent`` +- ``exponent_stderr``: fitted power of N over ``N >= fit_min_N``;
    ``amplitude``: the fitted prefactor; ``landau_b`` the quartic coefficient and
    ``predicted_amplitude = Gamma(1/2)/Gamma(1/4) b^{-1/4}`` (so the prediction is
    ``predicted_amplitude * N^{-1/4}``); ``max_rhat``/``min_ess`` per N.
    """

    problem: Problem
    lam_c: float
    N: np.ndarray
    m: np.ndarray
    m_stderr: np.ndarray
    max_rhat: np.ndarray
    min_ess: np.ndarray
    exponent: float
    exponent_stderr: float
    amplitude: float
    chi2_dof: float
    fit_min_N: int
    landau_b: float
    predicted_amplitude: float
    seconds: float
    group: int | None = None
    order_pair: tuple = None

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
                for k, v in self.__dict__.items() if k != "problem"} | {"problem": self.problem.to_dict()}


@entry_point
def finite_size_scaling(problem: Problem, Ns, lam_c=None, fit_min_N: int = 10 ** 5, chains: int = 4,
                        samples: int = 1000, warmup: int = 1000, seed: int = 0,
                        progress: bool = True, group=None) -> FiniteSizeScaling:
    """Run the exact posterior at lam_c for every N in ``Ns`` and fit m ~ A N^alpha for N >= fit_min_N.

    m is the order parameter of ``group`` (:func:`resolve_group`: the RNN's
    m = H^{T-1,T-2}, else by default the shared group that breaks at lam_c);
    the Landau b is taken along the same direction.
    """
    require_symmetry(problem)
    t0 = time.perf_counter()
    lam_c = critical_lambda(problem) if lam_c is None else float(lam_c)
    pc = problem.with_(lam=lam_c)
    group = resolve_group(pc, group)
    rows = []
    for k, N in enumerate(Ns):
        r = exact_posterior(pc, int(N), chains=chains, samples=samples, warmup=warmup, seed=seed + k,
                            progress=progress)
        nan = float("nan")     # one chain: R-hat undefined (null in JSON)
        rows.append((r.N, *_measured(r, group), nan if r.max_rhat is None else r.max_rhat,
                     nan if r.min_ess is None else r.min_ess))
    N, m, se, rh, es = (np.array(c) for c in zip(*rows))
    sel = N >= fit_min_N
    if sel.sum() < 2:
        raise ValueError(f"fit_min_N={fit_min_N} leaves {sel.sum()} widths; the fit needs at least two")
    alpha, err, A, chi2 = power_law_fit(N[sel], m[sel], se[sel])
    b, _ = landau_quartic(pc, group=group) if problem.P == 1 else (float("nan"), None)
    return FiniteSizeScaling(problem=pc, lam_c=lam_c, N=N, m=m, m_stderr=se, max_rhat=rh, min_ess=es,
                             exponent=alpha, exponent_stderr=err, amplitude=A, chi2_dof=chi2,
                             fit_min_N=int(fit_min_N), landau_b=b,
                             predicted_amplitude=QUARTIC_MEAN_ABS * b ** -0.25 if b > 0 else float("nan"),
                             seconds=time.perf_counter() - t0, group=group, order_pair=order_pair(pc, group))


def landau_quadratic(problem: Problem, lam_c: float, b: float, delta: float = 1e-3, group=None) -> float:
    """alpha in f(m) = -alpha (lam - lam_c) m^2 + b m^4 near lam_c, from the saddle point just above lam_c.

    Above lam_c the minimum sits at m^2 = alpha (lam - lam_c) / (2 b); m^2 at
    lam_c + delta and lam_c + 2 delta, Richardson-extrapolated, gives alpha.
    m (and b) refer to ``group`` (:func:`resolve_group` at lam_c).
    """
    group = resolve_group(problem.with_(lam=lam_c), group)
    m2 = [_saddle_m(saddle_point(problem.with_(lam=lam_c + k * delta)), group) ** 2 / (k * delta) for k in (1, 2)]
    return float(2.0 * b * richardson([m2[1], m2[0]], 2)[-1])    # error O(delta), step halved: 2 m2(d) - m2(2d)


def scaling_function(x, alpha: float, b: float) -> np.ndarray:
    """The N -> infinity limit of N^{1/4} E|m| at lam = lam_c + x N^{-1/2}.

    With u = N^{1/4} m the posterior tends to exp(alpha x u^2 - b u^4):
    E|u| = int |u| e^{...} du / int e^{...} du (quadrature).
    """
    from scipy.integrate import quad
    out = []
    for xv in np.atleast_1d(np.asarray(x, dtype=float)):
        # the integrand peaks at u* (0 in the symmetric phase) with width sigma
        ax = alpha * xv
        ustar = math.sqrt(ax / (2 * b)) if ax > 0 else 0.0
        sigma = 1 / math.sqrt(4 * ax) if ax > 0 else 1 / math.sqrt(2 * abs(ax) + 1e-300)
        sigma = min(sigma, b ** -0.25)
        lo, top = max(0.0, ustar - 15 * sigma), ustar + 15 * sigma

        def w(u, ax=ax, ustar=ustar):
            return math.exp(ax * (u * u - ustar * ustar) - b * (u ** 4 - ustar ** 4))

        pts = [ustar] if lo < ustar < top else None
        num = quad(lambda u: u * w(u), lo, top, points=pts, limit=200, epsabs=0, epsrel=1e-10)[0]
        den = quad(w, lo, top, points=pts, limit=200, epsabs=0, epsrel=1e-10)[0]
        out.append(num / den)
    return np.array(out)


@dataclass(frozen=True, eq=False)
class Rounding:
    """E|m| against lam at several widths (exact posterior).

    ``lam`` (len(N), k): the signals of each width (one common grid, or
    ``lam_c + x / sqrt(N)`` for a scaling collapse); ``m``, ``m_stderr`` the
    same shape; ``m_infinite`` (k,) the saddle-point m on a common grid (None
    for a collapse); ``x`` the scaling variable (lam - lam_c) sqrt(N);
    ``group`` the W group whose m_g is measured (None: m = H^{T-1,T-2}).
    """

    lam: np.ndarray
    N: np.ndarray
    m: np.ndarray
    m_stderr: np.ndarray
    m_infinite: np.ndarray | None
    lam_c: float
    group: int | None = None

    @property
    def x(self) -> np.ndarray:
        return (self.lam - self.lam_c) * np.sqrt(np.asarray(self.N, dtype=float))[:, None]

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


@entry_point
def rounding(problem: Problem, lams, Ns, lam_c=None, scaled: bool = False, chains: int = 4, samples: int = 500,
             warmup: int = 500, seed: int = 0, progress: bool = True, group=None) -> Rounding:
    """The transition rounded by finite width: E|m| over a grid of lam for each N.

    ``scaled=False``: ``lams`` is one grid of signals for every N, and the
    saddle-point m (N = infinity) is added.  ``scaled=True``: ``lams`` are
    values of x and width N runs at ``lam_c + x / sqrt(N)`` (scaling collapse).
    m is the order parameter of ``group`` (:func:`resolve_group` at lam_c).
    """
    require_symmetry(problem)
    lam_c = critical_lambda(problem) if lam_c is None else float(lam_c)
    group = resolve_group(problem.with_(lam=lam_c), group)
    grid = np.asarray(lams, dtype=float)
    Ns = np.asarray([int(N) for N in Ns])
    lam = lam_c + grid[None, :] / np.sqrt(Ns)[:, None] if scaled else np.tile(grid, (len(Ns), 1))
    m = np.empty(lam.shape)
    se = np.empty_like(m)
    for a, N in enumerate(Ns):
        for c in range(lam.shape[1]):
            r = exact_posterior(problem.with_(lam=float(lam[a, c])), int(N), chains=chains, samples=samples,
                                warmup=warmup, seed=seed + 1000 * a + c, progress=progress)
            m[a, c], se[a, c] = _measured(r, group)
    minf = None if scaled else np.array([_saddle_m(saddle_point(problem.with_(lam=float(v))), group) for v in grid])
    return Rounding(lam=lam, N=Ns, m=m, m_stderr=se, m_infinite=minf, lam_c=lam_c, group=group)

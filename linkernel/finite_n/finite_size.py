"""Finite-size scaling of the RNN transition with the exact finite-N posterior.

At a second-order point the Landau expansion of the action along the Z2-odd
order parameter, after the Z2-even modes are solved out, is
``S(m) = S0 + a (lam - lam_c) m^2 + b m^4`` with ``a(lam_c) = 0``; the posterior
of m at width N is then ``P(m) ~ exp(-N b m^4)`` at ``lam = lam_c`` (the O(1)
terms of the exact log-posterior add ``c m^2``, a relative correction of
order ``N^{-1/2}``), so

    E|m| = Gamma(1/2) / Gamma(1/4) * (N b)^{-1/4}      (N b >> 1).

This module computes ``lam_c`` (a bracketing root of the smallest Z2-odd
Hessian eigenvalue on the symmetric branch), ``b`` (minimising S at fixed m),
runs :func:`linkernel.finite_n.exact.exact_posterior` at ``lam_c`` for a range of N and
fits the power of N; :func:`rounding` gives m(lam) at several N.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from linkernel.theory.action import action
from linkernel.theory.special_points import (constrained_minimum, critical_lambda, odd_hessian_minimum,  # noqa: F401
                                             require_symmetry, symmetric_saddle)
from linkernel.finite_n.exact import exact_posterior
from linkernel.problem import Problem
from linkernel.theory.saddle import saddle_point

#: E|x| for the density ~ exp(-x^4): Gamma(1/2) / Gamma(1/4)
QUARTIC_MEAN_ABS = math.gamma(0.5) / math.gamma(0.25)


def _require_z2(problem: Problem) -> None:
    require_symmetry(problem)


#: the symmetric saddle (one home: :func:`linkernel.theory.special_points.symmetric_saddle`)
symmetric_kernel = symmetric_saddle


def landau_quartic(problem: Problem, ms=(0.05, 0.1, 0.15, 0.2)) -> tuple:
    """The quartic Landau coefficient b at ``problem.lam`` (meant to be lam_c).

    ``f(m) = min { S(H) : H^{T-1,T-2} = m } - S(H_sym)`` for the given m
    (:func:`linkernel.theory.special_points.constrained_minimum`); at lam_c
    ``f = b m^4 + b6 m^6 + ...``: returns ``(b, b6)`` from a least-squares fit of
    f/m^4 against m^2.  b > 0: second-order transition.  P = 1 only.
    """
    _require_z2(problem)
    if problem.P != 1:
        raise ValueError(f"P={problem.P} is invalid here; landau_quartic handles P = 1 (m is one kernel entry)")
    H0 = symmetric_saddle(problem)
    S0 = action(problem, H0)
    f = [constrained_minimum(problem, m).action - S0 for m in ms]
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
    """m = E|H^{T-1,T-2}| at lam_c against N, its fitted power and the Landau prediction.

    ``exponent`` +- ``exponent_stderr``: fitted power of N over ``N >= fit_min_N``;
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

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
                if k != "problem"} | {"problem": self.problem.to_dict()}


def finite_size_scaling(problem: Problem, Ns, lam_c=None, fit_min_N: int = 10 ** 5, chains: int = 4,
                        samples: int = 1000, warmup: int = 1000, seed: int = 0,
                        progress: bool = True) -> FiniteSizeScaling:
    """Run the exact posterior at lam_c for every N in ``Ns`` and fit m ~ A N^alpha for N >= fit_min_N."""
    _require_z2(problem)
    t0 = time.perf_counter()
    lam_c = critical_lambda(problem) if lam_c is None else float(lam_c)
    pc = problem.with_(lam=lam_c)
    rows = []
    for k, N in enumerate(Ns):
        r = exact_posterior(pc, int(N), chains=chains, samples=samples, warmup=warmup, seed=seed + k,
                            progress=progress)
        rows.append((r.N, r.order_parameter, r.order_parameter_stderr, r.max_rhat, r.min_ess))
    N, m, se, rh, es = (np.array(c) for c in zip(*rows))
    sel = N >= fit_min_N
    if sel.sum() < 2:
        raise ValueError(f"fit_min_N={fit_min_N} leaves {sel.sum()} widths; the fit needs at least two")
    alpha, err, A, chi2 = power_law_fit(N[sel], m[sel], se[sel])
    b, _ = landau_quartic(pc) if problem.P == 1 else (float("nan"), None)
    return FiniteSizeScaling(problem=pc, lam_c=lam_c, N=N, m=m, m_stderr=se, max_rhat=rh, min_ess=es,
                             exponent=alpha, exponent_stderr=err, amplitude=A, chi2_dof=chi2,
                             fit_min_N=int(fit_min_N), landau_b=b,
                             predicted_amplitude=QUARTIC_MEAN_ABS * b ** -0.25 if b > 0 else float("nan"),
                             seconds=time.perf_counter() - t0)


def landau_quadratic(problem: Problem, lam_c: float, b: float, delta: float = 1e-3) -> float:
    """alpha in f(m) = -alpha (lam - lam_c) m^2 + b m^4 near lam_c, from the saddle point just above lam_c.

    Above lam_c the minimum sits at m^2 = alpha (lam - lam_c) / (2 b); m^2 at
    lam_c + delta and lam_c + 2 delta, Richardson-extrapolated, gives alpha.
    """
    m2 = [saddle_point(problem.with_(lam=lam_c + k * delta)).order_parameter ** 2 / (k * delta) for k in (1, 2)]
    return float(2.0 * b * (2.0 * m2[0] - m2[1]))


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
    for a collapse); ``x`` the scaling variable (lam - lam_c) sqrt(N).
    """

    lam: np.ndarray
    N: np.ndarray
    m: np.ndarray
    m_stderr: np.ndarray
    m_infinite: np.ndarray | None
    lam_c: float

    @property
    def x(self) -> np.ndarray:
        return (self.lam - self.lam_c) * np.sqrt(np.asarray(self.N, dtype=float))[:, None]

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def rounding(problem: Problem, lams, Ns, lam_c=None, scaled: bool = False, chains: int = 4, samples: int = 500,
             warmup: int = 500, seed: int = 0, progress: bool = True) -> Rounding:
    """The transition rounded by finite width: E|m| over a grid of lam for each N.

    ``scaled=False``: ``lams`` is one grid of signals for every N, and the
    saddle-point m (N = infinity) is added.  ``scaled=True``: ``lams`` are
    values of x and width N runs at ``lam_c + x / sqrt(N)`` (scaling collapse).
    """
    _require_z2(problem)
    lam_c = critical_lambda(problem) if lam_c is None else float(lam_c)
    grid = np.asarray(lams, dtype=float)
    Ns = np.asarray([int(N) for N in Ns])
    lam = lam_c + grid[None, :] / np.sqrt(Ns)[:, None] if scaled else np.tile(grid, (len(Ns), 1))
    m = np.empty(lam.shape)
    se = np.empty_like(m)
    for a, N in enumerate(Ns):
        for c in range(lam.shape[1]):
            r = exact_posterior(problem.with_(lam=float(lam[a, c])), int(N), chains=chains, samples=samples,
                                warmup=warmup, seed=seed + 1000 * a + c, progress=progress)
            m[a, c], se[a, c] = r.order_parameter, r.order_parameter_stderr
    minf = None if scaled else np.array([saddle_point(problem.with_(lam=float(v))).order_parameter for v in grid])
    return Rounding(lam=lam, N=Ns, m=m, m_stderr=se, m_infinite=minf, lam_c=lam_c)

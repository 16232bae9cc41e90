"""The order-parameter exponent beta, m ~ (lambda - lambda_c)^beta, from the traced broken branch.

Method (all in mpmath at ``digits`` + 20 working digits):

1. trace the problem in double precision (:func:`linkernel.theory.continuation.trace`)
   to find the Z2 branch point where the symmetric branch loses stability,
   and to learn whether the pitchfork is supercritical (second order) or
   subcritical (first order: then there is no power law and we say so);
2. refine lambda_c to ``digits`` digits (:func:`linkernel.theory.highprec.branch_point`);
3. follow the broken branch towards lambda_c, parametrised by m itself
   (``m_k = m_0 / 2^k``): Newton on dS/dH = 0 plus the constraint
   m(H) = m_k, with lambda free.  Unlike lambda, m parametrises the branch
   regularly through the pitchfork;
4. at each point the local log-log slope
   ``beta(m) = d ln m / d ln(lambda - lambda_c) = (lambda - lambda_c) / (m dlambda/dm)``
   with dlambda/dm from the bordered Jacobian (implicit differentiation, no
   finite differences).  As lambda - lambda_c is even in m, beta(m) =
   beta + c_1 m^2 + c_2 m^4 + ..., so Richardson extrapolation in m^2
   (ratio 4 per halving of m) removes the corrections order by order;
5. the estimate is the last diagonal entry of the Richardson table, the error
   the difference from the previous diagonal entry (never below the working
   precision).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mpmath
import numpy as np
from mpmath import mp

import warnings

from linkernel.display import Display
from linkernel.errors import ContinuationWarning, ConvergenceError
from linkernel.numerics import richardson
from linkernel.problem import Problem
from linkernel.theory import highprec as hp
from linkernel.theory.action import m_vector as float_m_vector
from linkernel.theory.continuation import trace
from linkernel.theory.special_points import critical_lambda
from linkernel.threads import entry_point
from linkernel.validation import integer, interval, positive

if TYPE_CHECKING:       # only for annotations (strings under ``from __future__ import annotations``)
    from linkernel.theory.branches import Trace

GUARD = 20
#: the beta of each order the fit can confirm (first order: m jumps, no power law)
LANDAU_BETA = {"second order": 0.5, "tricritical": 0.25}


@dataclass(frozen=True, eq=False)
class ExponentEstimate(Display):
    """beta with its error; ``beta`` is None where the transition is first order (``message`` says why).

    ``transition`` is the trace's (:data:`linkernel.theory.branches.TRANSITIONS`), the same word
    ``linkernel critical`` reports: 'second order' (``beta`` the fitted value), 'tricritical'
    (``beta`` = 1/4, the Landau value where the quartic coefficient vanishes; ``beta_fit`` the fitted
    value and ``error`` at least their difference) or 'first order' (``beta`` None).
    ``order_parameter`` names the m the fit follows: ``m = H^{T-1,T-2}``, or for a pattern the breaking
    W group's ``m_g`` (:attr:`linkernel.theory.branches.Branch.order_label`).  ``converged`` is False
    where the fitted beta disagrees with the order's Landau value (the local slopes have not reached
    the asymptotic regime); ``message`` and one ContinuationWarning say so.

    ``lambda_c`` is a float, the Z2 branch point (in a first-order case the
    spinodal of the symmetric phase; the transition itself is at
    ``lambda_coexistence``); ``lambda_c_digits`` carries all ``digits``.
    ``m_values`` and ``local_slopes`` are the points of step 4;
    ``richardson`` the diagonal of the extrapolation table.

    Attributes
    ----------
    problem : Problem
        The problem.
    beta : float or None
        The exponent of ``m ~ (lambda - lambda_c)^beta``; None for a first-order transition.
    error : float or None
        Error estimate of ``beta`` (from the Richardson table); None where not fitted.
    lambda_c : float
        The Z2 branch point (first order: the spinodal of the symmetric phase).
    lambda_c_digits : str
        ``lambda_c`` with all ``digits`` digits.
    beta_digits : str or None
        ``beta`` with its significant digits; None where not fitted.
    digits : int
        Working decimal digits of the high-precision computation.
    transition : str
        'second order', 'tricritical' or 'first order'.
    m_values : tuple of float
        The order parameters ``m0 / 2^k`` of the local slopes.
    local_slopes : tuple of float
        ``d ln m / d ln(lambda - lambda_c)`` at each ``m_values`` entry.
    richardson : tuple of float
        The diagonal of the Richardson extrapolation table.
    message : str
        What was fitted, or why not.
    seconds : float
        Wall time, in seconds.
    lambda_coexistence : float or None
        First order: where the global minimum changes (the transition itself).
    beta_fit : float or None
        The fitted value (differs from ``beta`` for 'tricritical', where ``beta`` is 1/4).
    order_parameter : str
        Which m the fit follows (``"m"`` or a group's ``m_g`` label).
    converged : bool
        False where the fit disagrees with the order's Landau value.
    """

    problem: Problem
    beta: float | None
    error: float | None
    lambda_c: float
    lambda_c_digits: str
    beta_digits: str | None
    digits: int
    transition: str
    m_values: tuple
    local_slopes: tuple
    richardson: tuple
    message: str
    seconds: float
    lambda_coexistence: float | None = None
    beta_fit: float | None = None
    order_parameter: str = "m"
    converged: bool = True

    def to_dict(self) -> dict:
        return {"beta": self.beta, "error": self.error, "beta_fit": self.beta_fit,
                "order_parameter": self.order_parameter, "converged": self.converged,
                "lambda_c": self.lambda_c,
                "lambda_c_digits": self.lambda_c_digits, "beta_digits": self.beta_digits,
                "digits": self.digits, "transition": self.transition,
                "m_values": list(self.m_values), "local_slopes": list(self.local_slopes),
                "richardson": list(self.richardson), "message": self.message,
                "lambda_coexistence": self.lambda_coexistence,
                "T": self.problem.T, "arch": self.problem.arch, "kappa": self.problem.kappa,
                "seconds": self.seconds}

    def summary(self) -> str:
        """lambda_c and beta with all their digits, the error, and the local slopes behind the fit."""
        from linkernel.formatting import task_name
        pr = self.problem
        lines = [f"{task_name(pr)} T={pr.T} P={pr.P} kappa={pr.kappa:g}: {self.transition} transition"]
        if self.beta is None:
            lines += [f"  branch point (spinodal of the symmetric phase) = {self.lambda_c_digits}   "
                      f"({self.digits} digits)",
                      f"  beta: not fitted; {self.message}"]
            return "\n".join(lines)
        lines += [f"  lambda_c = {self.lambda_c_digits}   ({self.digits} digits)",
                  f"  beta     = {self.beta_digits}   error estimate {self.error:.1e}"
                  + ("" if self.transition != "tricritical" else f"   (fitted {self.beta_fit:.10g})"),
                  f"  {self.message} ({self.seconds:.1f} s)"]
        if not self.converged:
            lines.insert(1, f"  WARNING: beta not converged: the fit disagrees with the {self.transition} value")
        lines += [f"  order parameter {self.order_parameter}"] if self.order_parameter != "m" else []
        lines += [f"    m = {m:.6e}   local slope d ln m / d ln(lambda - lambda_c) = {s:.15f}"
                  for m, s in zip(self.m_values, self.local_slopes)]
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        return [("problem", self.problem), ("transition", self.transition), ("beta", self.beta),
                ("error", self.error), ("beta fitted", self.beta_fit), ("converged", self.converged),
                ("lambda_c", self.lambda_c), (f"lambda_c ({self.digits} digits)", self.lambda_c_digits),
                ("lambda coexistence", self.lambda_coexistence), ("order parameter", self.order_parameter),
                ("local slopes", len(self.local_slopes)), ("message", self.message), ("seconds", self.seconds)]


def _order_of(beta, err):
    """('tricritical', ...) where beta is 1/4 within its error, else ('second order', ...)."""
    tol = max(1e3 * float(err), 1e-6)
    if abs(float(beta) - 0.25) < tol:
        return "tricritical", "tricritical point (quartic Landau coefficient zero, beta = 1/4)"
    return "second order", "second-order transition"


def _window(problem: Problem, lam_range):
    """Where to trace: ``lam_range`` if it contains lambda_c, else (lambda_c / 2, 2 lambda_c).

    lambda_c comes first from :func:`critical_lambda` (a walk in lambda with
    warm-started symmetric saddles), so no fixed window rejects a valid input.
    """
    lam_c = critical_lambda(problem, lam_max=1e6, xtol=1e-10)
    if lam_range is not None:
        lo, hi = interval("lam_range", lam_range)
        if lo < lam_c < hi:
            return lo, hi
    return 0.5 * lam_c, 2.0 * lam_c


def _z2_branch_points(tr) -> list:
    return [s for s in tr.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]


def _traced(problem: Problem, lam_range, traced):
    """(trace, where it looked): ``traced``, or a trace of ``lam_range``, or of the window around lambda_c."""
    if traced is not None:
        return traced, f"the given trace (lambda {traced.lam_range[0]:g}..{traced.lam_range[1]:g})"
    tr = None
    if lam_range is not None:
        tr = trace(problem, interval("lam_range", lam_range))
    if tr is None or not _z2_branch_points(tr) or tr.transition in ("none", "unknown"):
        tr = trace(problem, _window(problem, lam_range))  # lambda_c first, then the window around it
    return tr, f"lambda in ({tr.lam_range[0]:.6g}, {tr.lam_range[1]:.6g})"


def _first_order_message(tr) -> tuple:
    """(the message, the coexistence lambda or None) of a first-order trace: no power law to fit."""
    coex, folds = tr.points_of("coexistence"), tr.points_of("fold")
    msg = ("first-order transition (subcritical pitchfork: the broken branch leaves the branch "
           "point towards smaller lambda)"
           + (f", fold (spinodal) at lambda={folds[0].lam:.10g}" if folds else "")
           + (f", coexistence at lambda={coex[0].lam:.10g}" if coex else "")
           + "; m jumps, so there is no power law to fit")
    return msg, (coex[0].lam if coex else None)


def _m_vector(problem: Problem, group):
    """a (mpmath column) with a . to_vector(H) = the branch's order parameter: m = H^{T-1,T-2}, or the
    W group's m_g (:func:`linkernel.theory.action.m_vector`; its nonzero entries 1/(sqrt(2) P) exact)."""
    a = mp.matrix(problem.n * (problem.n + 1) // 2, 1)
    for k in np.flatnonzero(float_m_vector(problem, group)):
        a[int(k)] = 1 / (mp.sqrt(2) * problem.P)
    return a


def _local_slopes(problem: Problem, start, hbp, a, m0: float, levels: int, dps: int, progress: bool) -> tuple:
    """(ms, slopes, lambda at the smallest m): the local exponents d ln m / d ln(lambda - lambda_c) =
    (lambda - lambda_c) / (m dlambda/dm) at m = m0, m0/2, ..., m0/2^levels on the broken branch, each
    point solved by Newton at ``dps``
    digits with m fixed, from ``start`` (a traced point) via the branch's scaling around the branch point
    ``hbp`` (odd part ~ m, even part and lambda ~ m^2); ``a`` gives the branch's m (:func:`_m_vector`)."""
    lam_c = hbp.lam
    x = hp.to_vector(hp.as_matrix(start.kernel))
    lam = mp.mpf(start.lam)
    m = mp.mpf(start.order_parameter)
    x_bp = hp.to_vector(hbp.kernel)
    odd = set(hp.odd_coordinates(problem))

    def predict(x, lam, f):
        """Scale the branch by f in m: odd part ~ m, even part and lambda ~ m^2 around the branch point."""
        x = mp.matrix([x[i] * f if i in odd else x_bp[i] + (x[i] - x_bp[i]) * f ** 2 for i in range(len(x))])
        return x, lam_c + (lam - lam_c) * f ** 2

    # from the traced point (wherever the trace put it) down to m = m0 exactly, at modest precision
    m0_mp = mp.mpf(m0)
    while m > m0_mp * (1 + mp.mpf(10) ** (-dps // 2)):
        f = max(m0_mp / m, mp.mpf(1) / 2)
        x, lam = predict(x, lam, f)
        m = m0_mp if f == m0_mp / m else m * f
        x, lam = hp.newton(problem, x, lam, constraint=(a, m), dps=min(dps, 30))
    ms, slopes = [], []
    for k in range(levels + 1):
        if k:
            m = m / 2
            x, lam = predict(x, lam, mp.mpf(1) / 2)
        x, lam = hp.newton(problem, x, lam, constraint=(a, m), dps=dps)
        ms.append(m)
        slopes.append((lam - lam_c) / (m * hp.dlam_dm(problem, x, lam, a)))
        if progress:
            print(f"  m = {mpmath.nstr(m, 6)}  lambda - lambda_c = {mpmath.nstr(lam - lam_c, 6)}  "
                  f"local slope = {mpmath.nstr(slopes[-1], 20)}")
    return ms, slopes, lam


def _check_depth(m0: float, levels: int) -> None:
    """Refuse (before any work) an m0 whose smallest m the working precision cannot resolve: lambda -
    lambda_c ~ m^2 is computed against lambda_c ~ 1 with GUARD extra digits, so m0 / 2^levels must stay
    above 10^(-GUARD/2) (a smaller m loses the digits the fit needs, or Newton divides by zero)."""
    floor = 10.0 ** (-GUARD / 2)
    if m0 / 2.0 ** levels < floor:
        raise ValueError(f"m0={m0!r} is invalid with levels={levels}; the smallest m = m0/2^levels must be "
                         f">= {floor:g} (lambda - lambda_c ~ m^2 keeps its digits only there): use "
                         f"m0 >= {floor * 2.0 ** levels:.3g}")


@entry_point
def critical_exponent(problem: Problem, digits: int = 30, levels: int = 8, m0: float = 0.05,
                      lam_range: tuple[float, float] = (0.5, 4.0), progress: bool = False,
                      traced: Trace | None = None) -> ExponentEstimate:
    """Estimate beta at the symmetry-breaking transition of ``problem`` (its ``lam`` is ignored).

    The broken branch is followed in high precision (mpmath) from ``m0`` down by ``levels``
    halvings; the local slopes ``d ln m / d ln(lambda - lambda_c)`` are extrapolated to
    ``m -> 0`` by Richardson's method.  ``lam_range`` is the first window the double-precision
    trace looks in: where its symmetric branch does not lose stability there, lambda_c is
    located (:func:`~linkernel.critical_lambda`, up to lambda = 1e6) and the window becomes
    ``(lambda_c / 2, 2 lambda_c)``.  ``transition`` is the trace's order: 'second order' (beta
    fitted, 1/2 expected), 'tricritical' (beta = 1/4, the fit its evidence) or 'first order'
    (not fitted).  For a pattern, m is the breaking W group's order parameter.  The Landau
    theory behind the expected values: derivations/landau_general_T.tex.

    Parameters
    ----------
    problem : Problem
        A problem with a Z2 symmetry; its ``lam`` is ignored.
    digits : int, default 30
        Decimal digits of the high-precision computation, 15 to 500.
    levels : int, default 8
        Halvings of m from ``m0``, 2 to 30 (``m0 / 2^levels >= 1e-10``).
    m0 : float, default 0.05
        Largest order parameter of the fit, in kernel units.
    lam_range : tuple of float, default (0.5, 4.0)
        ``(lo, hi)``: the first lambda window of the trace.
    progress : bool, default False
        Show the progress bar (on stderr).
    traced : Trace, optional
        An existing :func:`~linkernel.trace` of the same problem whose range contains
        lambda_c (saves the trace).

    Returns
    -------
    ExponentEstimate
        ``beta``, its ``error``, ``lambda_c`` (and all its digits), the local slopes.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).
    ConvergenceError
        If the symmetric branch never loses stability (no Z2 transition, e.g. the DNN) or the
        trace cannot tell the transition ('unknown': nothing to fit).

    Warns
    -----
    ContinuationWarning
        When the fitted beta disagrees with the order's Landau value.

    Examples
    --------
    >>> import linkernel as lk
    >>> est = lk.critical_exponent(lk.endpoint("rnn", T=3), digits=20, levels=4)
    >>> est.transition, est.beta, est.beta_digits
    ('second order', 0.5, '0.50000000000000000000')
    >>> round(est.lambda_c, 8)
    2.86378246
    """
    digits = integer("digits", digits, 15, 500)
    levels = integer("levels", levels, 2, 30)
    m0 = positive("m0", m0)
    _check_depth(m0, levels)
    t0 = time.perf_counter()
    tr, where = _traced(problem, lam_range, traced)
    bps = _z2_branch_points(tr)
    if tr.transition == "unknown":
        raise ConvergenceError(f"the trace of {where} cannot tell the transition (unknown: {tr.transition_note}); "
                               "beta is not fitted without knowing the order")
    if not bps or tr.transition == "none":
        raise ConvergenceError(f"the symmetric branch does not lose stability in {where}"
                               + ("; pass a trace whose range contains lambda_c" if traced is not None
                                  else "; the problem has no Z2 transition there"))
    bp = bps[0]
    dps = digits + GUARD
    with mp.workdps(dps):
        hbp, _ = hp.branch_point(problem, bp.lam, bp.kernel, dps=dps)
        lam_c = hbp.lam
        lam_c_digits = mpmath.nstr(lam_c, digits)
        if tr.transition == "first order":
            msg, coex = _first_order_message(tr)
            return ExponentEstimate(problem, None, None, float(lam_c), lam_c_digits, None, digits,
                                    tr.transition, (), (), (), msg, time.perf_counter() - t0, coex)
        broken = [b for b in tr.branches if b.kind == "broken" and len(b.points)
                  and abs(b.points[0].lam - bp.lam) <= 1e-9 * max(1.0, bp.lam)]
        if not broken or broken[0].m.max() <= 0:
            raise ConvergenceError(f"no broken branch leaves the branch point at lambda={bp.lam:.10g}; "
                                   "the trace could not switch branches there")
        branch = broken[0]
        pts = branch.points
        # the first point with m >= m0, else the largest m the traced range reaches
        start = next((p for p in pts if p.order_parameter >= m0), max(pts, key=lambda p: p.order_parameter))
        ms, slopes, lam = _local_slopes(problem, start, hbp, _m_vector(problem, branch.group), m0, levels, dps,
                                        progress)
        if (lam - lam_c) <= 0:
            raise ConvergenceError("the broken branch does not approach lambda_c from above; "
                                   "try a smaller m0")
        diag = richardson(slopes, 4)
        # the last two diagonal entries, floored at the requested precision
        err = max(abs(diag[-1] - diag[-2]), mp.mpf(10) ** (-digits))
        return _estimate(problem, tr, branch, lam_c, lam_c_digits, digits, levels, ms, slopes, diag, err,
                         time.perf_counter() - t0)


def _estimate(problem, tr, branch, lam_c, lam_c_digits, digits, levels, ms, slopes, diag, err, seconds):
    """The estimate for a second-order or tricritical trace: the order is the trace's; the fit is checked
    against the order's Landau beta (a disagreement is reported, never turned into another order)."""
    fit, order = diag[-1], tr.transition
    expected = LANDAU_BETA[order]
    if order == "tricritical":
        # b = 0 only within rounding: the slopes cross over towards 1/2 at small m, so the fit's own
        # error understates how far it is from 1/4; the reported error includes that distance
        # (taken in float, so that |beta_fit - beta| <= error holds for the reported floats too)
        beta, err = mp.mpf(expected), max(float(err), abs(float(fit) - expected))
        converged = abs(fit - expected) < 0.05          # nearer 1/4 than any crossover towards 1/2
        name = ("tricritical point (quartic Landau coefficient zero at the branch point): beta = 1/4, the "
                f"fitted slopes give {mpmath.nstr(fit, 10)}")
    else:
        beta = fit
        converged = _order_of(fit, err)[0] == "second order" and abs(fit - expected) < max(1e3 * float(err), 1e-6)
        name = "second-order transition"
    msg = (f"{name}; beta from {levels + 1} points m = {float(ms[0]):.3g} .. {float(ms[-1]):.3g}, Richardson "
           f"in m^2")
    if not converged:
        msg += (f"; the fit disagrees with the {order} value beta = {expected:g} (crossover: the slopes have "
                "not reached the asymptotic regime; try a smaller m0 or more levels)")
        warnings.warn(f"critical_exponent: beta = {float(fit):.6g} disagrees with the {order} value "
                      f"{expected:g}; not converged", ContinuationWarning, stacklevel=4)
    return ExponentEstimate(problem, float(beta), float(err), float(lam_c), lam_c_digits,
                            mpmath.nstr(beta, digits, strip_zeros=False), digits, order,
                            tuple(float(v) for v in ms), tuple(float(s) for s in slopes),
                            tuple(float(d) for d in diag), msg, seconds, beta_fit=float(fit),
                            order_parameter=branch.order_label, converged=converged)

"""The RNN's critical point for one endpoint problem: lambda_c, the branch there, Landau a, b, the order.

Built from the symbolic derivations of :mod:`linkernel.symbolic.symmetric_branch` (the
symmetric branch), :mod:`linkernel.symbolic.stability` (the Hessian blocks and the
critical ratio ``r_c = (T-1)/(T-2)``) and :mod:`linkernel.symbolic.landau` (a, b, c).

The ``lambda_c`` reported is where the symmetric branch loses stability in
the Z2-odd sector (for a first-order transition that is the spinodal: the
global minimum jumps before it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from linkernel.symbolic.symmetric_branch import branch_kernel, endpoint_structure, r, symmetric_branch, x
from linkernel.symbolic.landau import landau_coefficients, sixth_order_coefficient, tricritical_load
from linkernel.display import Display, describe
from linkernel.problem import Problem
from linkernel.symbolic.stability import critical_ratio, hessian_blocks
from linkernel.symbolic.action import kappa, u, v, w
from linkernel.theory.branches import TRANSITIONS
from linkernel.threads import entry_point

# --- one problem -----------------------------------------------------------------
# the package's one vocabulary for the order of a transition (CriticalPoint.order, Trace.transition,
# ExponentEstimate.transition), defined once with the trace; a closed-form critical point is only ever
# second order, first order or tricritical (never "none" or "unknown")
ORDERS = TRANSITIONS
# measured: T = 9 in 14 s, T = 10 in 94 s on 2 cores under load 10; refused beyond, not left to run
T_MAX = 10


@dataclass(frozen=True, eq=False)
class CriticalPoint(Display):
    """The RNN's critical point on the symmetric branch of an endpoint problem.

    ``lambda_c``: signal where the branch's Z2-odd (lag-1) Hessian block
    becomes singular; ``r_c``: branch ratio ``H^{tt}/Sigma^{tt}`` there;
    ``rho_c``: ``H^{t+1,t+1}/H^{tt}`` there (the same for every t; for
    ``P > 1`` in the label sector); ``kernel_c``: the branch kernel (TP, TP) at
    lambda_c; ``load_c``: ``x_c = v h_{T-1}/kappa``; ``branch_stable``: whether
    the branch is still a local minimum in the Z2-even sector at r_c (False
    when lambda(r) folds before r_c); ``lambda_fold``: where the stable part
    of the branch ends in that case (a saddle-node of the even sector at
    ``r < r_c``; the symmetric state jumps there, before or after lambda_c,
    which then lies on an unstable part of the branch), else None; ``order``: 'second order' (b > 0),
    'first order' (b < 0, or the branch folded first), 'tricritical' (b = 0 within
    ``tol``); ``beta``: 1/2 for second order, else None; ``amplitude``: A in
    ``m ~ A (lambda - lambda_c)^beta`` (second order only); ``landau``: a and b
    of ``S_eff = S_0 + a m^2 + b m^4`` at lambda_c and their lambda-derivatives;
    ``tricritical``: the loads, kappa and exponent where b = 0 for this T;
    ``latex``: lambda_c in closed form.

    Returned by :func:`~linkernel.critical_point` (derivations/rnn_T4_P1.tex, "Critical point"
    and "Landau expansion"; derivations/landau_general_T.tex for general T).

    Attributes
    ----------
    problem : Problem
        The endpoint problem (its ``lam`` is not used).
    lambda_c : float
        The critical signal strength (targets ``y = lam * yhat``).
    r_c : float
        Branch ratio ``H^{tt} / Sigma^{tt}`` at lambda_c.
    rho_c : float
        ``H^{t+1,t+1} / H^{tt}`` at lambda_c (the same for every t; label sector for P > 1).
    kernel_c : numpy.ndarray, shape (T*P, T*P)
        The symmetric branch's kernel at lambda_c.
    load_c : float
        ``x_c = v H^{T-1,T-1} / kappa`` at lambda_c.
    branch_stable : bool
        Whether the branch is still a local minimum in the Z2-even sector at r_c.
    lambda_fold : float or None
        Where the stable part of the branch ends when it folds before r_c; else None.
    order : str
        'second order', 'first order' or 'tricritical'.
    beta : float or None
        1/2 for second order, else None.
    amplitude : float or None
        A in ``m ~ A (lambda - lambda_c)^beta`` (second order only).
    landau : dict
        ``a``, ``b``, ``da_dlambda``, ``db_dlambda``: the Landau coefficients of
        ``S_eff = S_0 + a m^2 + b m^4`` at lambda_c and their lambda-derivatives (floats).
    tricritical : dict
        ``load``, ``kappa`` (lists) and the exponent where b = 0 for this T.
    latex : str
        lambda_c in closed form, as LaTeX.
    seconds : float
        Wall time, in seconds.
    lambda_c_expr : sympy.Expr or None
        lambda_c in closed form, a SymPy expression in the symbols w, v, u, kappa.
    landau_expr : dict of sympy.Expr
        The Landau coefficients and their lambda-derivatives at lambda_c in closed form (the
        keys of ``landau``).
    beta_expr : sympy.Expr or None
        beta as a SymPy number (``Rational(1, 2)`` for second order; None otherwise).
    """

    problem: Problem
    lambda_c: float
    r_c: float
    rho_c: float
    kernel_c: np.ndarray
    load_c: float
    branch_stable: bool
    lambda_fold: float | None
    order: str
    beta: float | None
    amplitude: float | None
    landau: dict
    tricritical: dict
    latex: str
    seconds: float = field(default=0.0)
    #: lambda_c in closed form, a SymPy expression in the symbols w, v, u, kappa (:attr:`symbol_values`)
    lambda_c_expr: sp.Expr | None = None
    #: the Landau coefficients a, b and their lambda-derivatives at lambda_c in closed form (same keys as ``landau``)
    landau_expr: dict = field(default_factory=dict)
    #: the exponent beta as a SymPy number (``Rational(1, 2)`` for second order; None otherwise, as ``beta``)
    beta_expr: sp.Expr | None = None

    @property
    def symbol_values(self) -> dict:
        """The SymPy symbols w, v, u, kappa of the closed forms mapped to this problem's values:
        ``float(cp.lambda_c_expr.subs(cp.symbol_values)) == cp.lambda_c``."""
        pr = self.problem
        return {w: pr.w, v: pr.v, u: pr.u, kappa: pr.kappa}

    def _repr_latex_(self) -> str:
        """``$\\lambda_c = <closed form> \\approx <value>$`` (Jupyter renders it)."""
        expr = self.latex.split("=", 1)[1].strip() if self.lambda_c_expr is None else sp.latex(self.lambda_c_expr)
        return rf"$\lambda_c = {expr} \approx {self.lambda_c:.12g}$"

    def _display_rows(self) -> list:
        L = self.landau
        rows = [("problem", self.problem), ("lambda_c", self.lambda_c),
                ("lambda_c, closed form", self.lambda_c_expr if self.lambda_c_expr is not None else self.latex),
                ("order", self.order), ("beta", self.beta), ("amplitude A", self.amplitude),
                ("Landau b", L.get("b")), ("da/dlambda", L.get("da_dlambda")), ("db/dlambda", L.get("db_dlambda")),
                ("r_c", self.r_c), ("rho_c", self.rho_c), ("load x_c", self.load_c),
                ("branch stable at r_c", self.branch_stable), ("lambda_fold", self.lambda_fold),
                ("tricritical kappa", describe(list(self.tricritical.get("kappa", []))) if self.tricritical else None),
                ("kernel at lambda_c", self.kernel_c), ("seconds", self.seconds)]
        return rows

    def to_dict(self) -> dict:
        return {
            "lambda_c": self.lambda_c, "rho_c": self.rho_c, "order": self.order, "beta": self.beta,
            "amplitude": self.amplitude, "landau": dict(self.landau), "latex": self.latex,
            "r_c": self.r_c, "load_c": self.load_c, "branch_stable": self.branch_stable,
            "lambda_fold": self.lambda_fold,
            "kernel_c": self.kernel_c.tolist(), "tricritical": dict(self.tricritical),
            "problem": {k: self.problem.to_dict()[k] for k in ("arch", "T", "P", "w", "v", "u", "kappa")},
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """lambda_c (number and closed form), the branch there, Landau a and b, the order, beta, tricritical kappa."""
        pr = self.problem
        L, tc = self.landau, self.tricritical
        note = "" if self.branch_stable else (f" (the symmetric branch folds at lambda_fold = {self.lambda_fold:.10g}, "
                                              "before r_c: the symmetric state ends there)")
        # for P > 1 the ratios hold in the label sector (the chain of sum_p yhat_p h_p / |yhat|), not
        # entry by entry: the printed diagonal mixes the label sector with the unlabelled ones
        sector = " (label sector)" if pr.P > 1 else ""
        lines = [f"RNN endpoint task: T={pr.T} P={pr.P} kappa={pr.kappa:g} w={pr.w:g} v={pr.v:g} u={pr.u:g}",
                 f"lambda_c = {self.lambda_c:.12g}      ({self.latex})",
                 f"branch at lambda_c: r_c = H^tt/Sigma^tt = {self.r_c:.10g}, rho_c = H^(t+1,t+1)/H^tt = "
                 f"{self.rho_c:.10g}{sector}, load x_c = v H^(T-1,T-1)/kappa = {self.load_c:.8g}{sector}",
                 "kernel diagonal at lambda_c: " + " ".join(f"{h:.8g}" for h in np.diag(self.kernel_c)),
                 f"Landau S_eff = S0 + a m^2 + b m^4: a = {L['a']:.3g}, da/dlambda = {L['da_dlambda']:.8g}, "
                 f"b = {L['b']:.8g}, db/dlambda = {L['db_dlambda']:.8g}",
                 f"order: {self.order}{note}"]
        if self.beta is not None:
            lines.append(f"m ~ A (lambda - lambda_c)^beta with beta = {self.beta:g}, A = {self.amplitude:.8g}")
        if tc["load"]:
            lines.append("tricritical (b = 0) at kappa = " + ", ".join(f"{k:.8g}" for k in tc["kappa"])
                         + " for these w, v, u")
        else:
            lines.append(f"no tricritical point for T={pr.T} (b < 0 wherever the branch is stable at r_c)")
        return "\n".join(lines)

    __str__ = summary


def _val(expr, subs) -> float:
    return float(sp.N(expr.subs(subs), 30))


@entry_point
def critical_point(problem: Problem, tol: float = 1e-9) -> CriticalPoint:
    """lambda_c, the branch at lambda_c, the Landau coefficients and the order, for an RNN endpoint problem.

    Closed forms in SymPy, evaluated at the problem's ``w, v, u, kappa``: the symmetric branch,
    the singular point of its Z2-odd (lag-1) Hessian block and the Landau expansion
    ``S_eff = S_0 + a m^2 + b m^4`` with the Z2-even modes solved out (THEORY.md section 3;
    derivations/rnn_T4_P1.tex, derivations/landau_general_T.tex).  For ``P > 1`` the label
    sector is the ``P = 1`` chain with ``lambda -> lambda |yhat|``, and ``m = c / P`` with c
    the chain's lag-1 entry, so ``a -> P^2 a``, ``b -> P^4 b``.  Any other pattern: the
    numerical :func:`~linkernel.critical_lambda`.

    Parameters
    ----------
    problem : Problem
        An RNN problem from :func:`~linkernel.endpoint` (any P, any labels) with
        ``3 <= T <= 10``; its ``lam`` is ignored.
    tol : float, default 1e-9
        Relative size of b below which the point counts as tricritical.

    Returns
    -------
    CriticalPoint
        lambda_c (float and LaTeX), the kernel at lambda_c (shape (T*P, T*P)), the Landau
        coefficients, the order and beta.

    Raises
    ------
    ValueError
        If the problem is not an RNN endpoint problem or T is outside 3..10.
    ConvergenceError
        If the branch is unstable at r_c but no fold of lambda(r) is found.

    Examples
    --------
    >>> import linkernel as lk
    >>> cp = lk.critical_point(lk.endpoint("rnn", T=3, kappa=0.1))
    >>> round(cp.lambda_c, 10), cp.order, cp.beta
    (2.8637824638, 'second order', 0.5)
    >>> cp.lambda_c_expr
    sqrt(2)*(kappa + 8*u*v*w**2)/(4*sqrt(u)*sqrt(v)*w)
    >>> print(cp.latex)
    \\lambda_c = \\frac{\\sqrt{2} \\left(\\kappa + 8 u v w^{2}\\right)}{4 \\sqrt{u} \\sqrt{v} w}
    """
    from linkernel.problem import require_problem
    from linkernel.validation import tolerance
    require_problem("problem", problem)
    tol = tolerance("tol", tol)
    t0 = time.perf_counter()
    if not problem.arch.is_rnn:
        raise ValueError(f"arch={problem.arch}: the closed-form critical point is derived for the RNN; for the "
                         "DNN the symmetric branch stays stable (hessian_blocks(T, 'dnn')), and for any other "
                         "pattern use the numerical linkernel.critical_lambda")
    q = endpoint_structure(problem)
    T, P = problem.T, problem.P
    if T > T_MAX:
        raise ValueError(f"T={T} is too large for the closed-form critical point; T must be <= {T_MAX} (the SymPy "
                         "work grows about 3x per step of T: T = 10 takes 1-2 minutes on 2 cores); for larger T "
                         "use the numerical linkernel.critical_lambda")
    if T < 3:
        raise ValueError(f"T={T}: no critical point; for T < 3 the RNN's symmetric branch is stable at every "
                         "lambda (no Z2-odd Hessian block becomes singular); use T >= 3")
    _check_representable(problem)
    rc = critical_ratio(T)
    L = landau_coefficients(T)
    br = symmetric_branch(T, "rnn")
    subs = {w: problem.w, v: problem.v, u: problem.u, kappa: problem.kappa}
    lam1 = br.lam_of_r                                  # lambda of the P = 1 chain
    dlam1 = _val(sp.diff(lam1, r), {**subs, r: rc})
    lambda_c = _val(lam1, {**subs, r: rc}) / math.sqrt(q)
    load_c = _val(br.load, {**subs, r: rc})
    hb = hessian_blocks(T, "rnn")
    branch_stable = bool(np.all(hb.numeric(float(rc), load_c)[0] > 0))
    at = {**subs, r: rc}
    a_c = P ** 2 * _val(L.a, at)
    b_c = P ** 4 * _val(L.b, at)
    da = P ** 2 * _val(sp.diff(L.a, r), at) * math.sqrt(q) / dlam1
    db = P ** 4 * _val(sp.diff(L.b, r), at) * math.sqrt(q) / dlam1
    be, be_scale = _value_and_scale(landau_coefficients(T, True).b_e, load_c)
    if not branch_stable:
        order = "first order"
    elif abs(be) <= tol * be_scale:
        order = "tricritical"
    else:
        order = "second order" if be > 0 else "first order"
    lambda_fold = None if branch_stable else _fold(problem, q, float(rc))
    beta = 0.5 if order == "second order" else None
    amplitude = math.sqrt(-da / (2 * b_c)) if order == "second order" else None
    xs = tricritical_load(T)
    hc_v = _val(br.load * kappa, at)                    # v h_c: the kappa at which x_c hits a load x is v h_c / x
    cs = [P ** 6 * _val(sixth_order_coefficient(T, s).c, at) for s in xs]
    tric = {"load": [float(s) for s in xs], "kappa": [hc_v / float(s) for s in xs], "c": cs,
            "beta": [0.25 if c > 0 else None for c in cs],
            "amplitude": [(-da / (3 * c)) ** 0.25 if c > 0 and -da / c > 0 else None for c in cs],
            "fold_load": 1.0 / (2 * T - 1), "fold_kappa": hc_v * (2 * T - 1)}
    lc_expr, landau_expr = _closed_forms(L, lam1, rc, q, P)
    latex = r"\lambda_c = " + sp.latex(lc_expr)
    return CriticalPoint(problem=problem, lambda_c=lambda_c, r_c=float(rc), rho_c=problem.w * float(rc),
                         kernel_c=branch_kernel(problem, ratio=float(rc)), load_c=load_c,
                         branch_stable=branch_stable, lambda_fold=lambda_fold, order=order, beta=beta, amplitude=amplitude,
                         landau={"a": a_c, "b": b_c, "da_dlambda": da, "db_dlambda": db},
                         tricritical=tric, latex=latex, seconds=time.perf_counter() - t0, lambda_c_expr=lc_expr,
                         landau_expr=landau_expr, beta_expr=sp.Rational(1, 2) if beta == 0.5 else None)


def _closed_forms(L, lam1, rc, q: float, P: int) -> tuple:
    """lambda_c and the Landau coefficients at lambda_c as SymPy expressions in w, v, u, kappa.

    The same formulas as the floats of :func:`critical_point` (``lambda_c = lambda_1(r_c) / sqrt(q)``,
    ``a -> P^2 a``, ``b -> P^4 b``, d/dlambda = d/dr / (dlambda_1/dr) * sqrt(q)), before substitution.
    """
    # rational: nsimplify alone rounds q = 1e-32 to 0
    sq = sp.sqrt(sp.Integer(1) if q == 1 else sp.nsimplify(q, rational=True))
    dlam = sp.diff(lam1, r).subs(r, rc)
    tidy = lambda e: sp.factor(sp.together(e))  # noqa: E731  (small rational functions at T <= T_MAX)
    landau = {"a": tidy(P ** 2 * L.a.subs(r, rc)), "b": tidy(P ** 4 * L.b.subs(r, rc)),
              "da_dlambda": tidy(P ** 2 * sp.diff(L.a, r).subs(r, rc) * sq / dlam),
              "db_dlambda": tidy(P ** 4 * sp.diff(L.b, r).subs(r, rc) * sq / dlam)}
    return sp.simplify(lam1.subs(r, rc) / sq), landau


def _check_representable(problem: Problem) -> None:
    """Refuse hyperparameters whose critical point overflows float64 (before any work).

    Every quantity at lambda_c depends on the hyperparameters through the
    load scale ``c = v u w^(T-1) / kappa`` (lambda_c^2 grows like kappa / c);
    outside about 1e-250 < c < 1e250 the numbers are not representable.
    """
    log_c = (math.log(problem.v) + math.log(problem.u) + (problem.T - 1) * math.log(problem.w)
             - math.log(problem.kappa))
    log_lam2 = math.log(problem.kappa) - log_c
    if not (abs(log_c) < 575 and abs(log_lam2) < 575):  # e^575 = 1e250
        raise ValueError(f"kappa={problem.kappa!r}, w={problem.w!r}, v={problem.v!r}, u={problem.u!r} are invalid "
                         f"here: the load scale v u w^(T-1)/kappa = 10^{log_c / math.log(10):.1f} puts lambda_c outside float64 range; "
                         "keep v u w^(T-1)/kappa and kappa^2/(v u w^(T-1)) within 1e-250..1e250")


def _value_and_scale(expr, load: float) -> tuple:
    """b_e(x) at the load x and the size of its terms there, sum_k |c_k| x^k / |denominator|.

    "b = 0" is decided against that size: the terms of b_e's numerator cancel
    at a tricritical point, and their size (not the load itself) says how
    much rounding the cancellation leaves.
    """
    num, den = sp.fraction(sp.together(expr))
    num_p = sp.Poly(sp.expand(num), x)
    scale = sum(abs(float(c)) * load ** k for (k,), c in num_p.terms())
    d = abs(float(sp.N(den.subs(x, load), 30)))
    return _val(expr, {x: load}), scale / d


def _fold(problem: Problem, q: float, rc: float) -> float:
    """lambda at the first fold of lambda(r) in (1, r_c): root of d ln lambda^2/d ln r = 0.

    ``d ln lambda^2 / d ln r = r/(r-1) + T (x-1)/(x+1)`` with ``x = c r^T``, whose
    numerator ``(T+1) r x - (T-1) r - T x + T`` is the lag-0 block's determinant.
    """
    from scipy.optimize import brentq

    from linkernel.symbolic.symmetric_branch import lam_of_ratio
    from linkernel.errors import ConvergenceError
    T = problem.T
    # c underflows to 0 for extreme hyperparameters; f(r) is evaluated directly (not as polynomial
    # roots, which lose the root when the leading coefficient is tiny): then f is linear, root T/(T-1)
    c = problem.v * problem.u * problem.w ** (T - 1) / problem.kappa

    def f(rr):
        xr = c * rr ** T
        return (T + 1) * rr * xr - (T - 1) * rr - T * xr + T

    grid = np.linspace(1.0, rc, 2001)[1:]
    vals = np.array([f(g) for g in grid])
    change = np.nonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) <= 0)[0]
    if len(change) == 0:
        raise ConvergenceError(f"the symmetric branch is unstable at r_c = {rc:.6g} but no fold of lambda(r) was "
                               f"found in (1, r_c) (T={T}, kappa={problem.kappa!r}, w={problem.w!r}, "
                               f"v={problem.v!r}, u={problem.u!r}); the hyperparameters may be out of float range")
    k = change[0]
    root = grid[k] if vals[k] == 0 else brentq(f, grid[k], grid[k + 1], xtol=1e-15)
    return float(lam_of_ratio(root, T, problem.w, problem.v, problem.u, problem.kappa, q))


def order_map(Ts=(3, 4, 5, 6), kappas=(0.01, 0.1, 1.0, 5.0, 10.0, 30.0, 50.0), w_: float = 1.0,
              v_: float = 1.0, u_: float = 1.0) -> list:
    """The order of the RNN's transition over a grid of (T, kappa) at fixed w, v, u.

    One row per point: T, kappa, lambda_c, load x_c, b at lambda_c, order,
    branch_stable.  b's sign depends on the hyperparameters only through
    ``x_c = v u w^{T-1} r_c^T / kappa``, so a (T, kappa) grid covers w, v, u too.
    """
    from linkernel.tasks import endpoint
    rows = []
    for T in Ts:
        for k in kappas:
            cp = critical_point(endpoint("rnn", T=T, w=w_, v=v_, u=u_, kappa=k))
            rows.append({"T": T, "kappa": k, "lambda_c": cp.lambda_c, "load_c": cp.load_c,
                         "b": cp.landau["b"], "order": cp.order, "branch_stable": cp.branch_stable,
                         "lambda_fold": cp.lambda_fold})
    return rows

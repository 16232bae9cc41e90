"""Landau theory of the RNN's transition on the symmetric branch (endpoint task, SymPy).

``S_eff(m) = S_0 + a m^2 + b m^4 + c m^6 + ...``: the action minimised over
every other kernel entry at fixed ``m = H^{T-1,T-2}``.  The other Z2-odd
entries follow the constrained critical mode V (their O(m^3) corrections
enter at m^6 only); the Z2-even entries (lags 0 and 2) shift by O(m^2) and
are solved out exactly, which changes b.  At a tricritical point (b = 0 at
lambda_c) the odd O(m^3) corrections are solved out as well to get c.

The order of the transition follows from the sign of b at lambda_c:
b > 0 second order (``beta = 1/2``), b < 0 first order, b = 0 tricritical
(``beta = 1/4`` where c > 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from linkernel.symbolic.symmetric_branch import check_arch_T, m, normalized_action, r, x
from linkernel.symbolic.stability import critical_mode, critical_ratio
from linkernel.symbolic.action import kappa, u, v, w


# --- Landau theory --------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LandauCoefficients:
    """``S_eff(m) - S_0 = a m^2 + b m^4 + O(m^6)`` on the RNN's symmetric branch.

    ``a_e``, ``b_e``: the coefficients for the normalised order parameter
    ``e_{T-2,T-1} = m / sqrt(H^{T-1,T-1} H^{T-2,T-2})``, functions of ``r``
    (and ``x``) only.  ``a``, ``b``: the same for ``m`` itself, functions of
    ``r, w, v, u, kappa`` (``x`` substituted).  ``ratio``: the value of r used
    (the symbol r for the whole branch, or r_c).  ``even_shift``: the
    Z2-even response ``e = m V + m^2 Y`` (lags 0 and 2) that minimises the
    quartic term.
    """

    T: int
    ratio: sp.Expr
    a_e: sp.Expr
    b_e: sp.Expr
    a: sp.Expr
    b: sp.Expr
    mode: sp.Matrix
    even_shift: sp.Matrix


@lru_cache(maxsize=None)
def landau_coefficients(T: int, at_critical: bool = False) -> LandauCoefficients:
    """Derive a and b of the RNN endpoint task (``P = 1``) along the branch (or at r_c).

    Substitutes ``e = m V + m^2 Y`` into the normalised action (V the
    constrained critical mode, Y the even-lag unknowns), expands to m^4, and
    minimises the m^4 coefficient over Y (a linear solve).
    """
    T = check_arch_T("rnn", T, 3)
    rr = critical_ratio(T) if at_critical else r
    V = critical_mode(T, rr)
    Y = sp.zeros(T, T)
    ys = []
    for k in (0, 2):
        for i in range(T - k):
            s = sp.Symbol(f"y_{{{i}{i + k}}}", real=True)
            Y[i, i + k] = Y[i + k, i] = s
            ys.append(s)
    S = normalized_action("rnn", T, m * V + m ** 2 * Y, m, 4).subs(r, rr)
    S = sp.expand(S)
    if any(sp.simplify(S.coeff(m, k)) != 0 for k in (1, 3)):
        raise AssertionError("odd powers of m in S_eff: the Z2 symmetry is broken")
    a_e = sp.factor(S.coeff(m, 2))
    c4 = S.coeff(m, 4)
    sol = sp.solve([sp.diff(c4, s) for s in ys], ys, dict=True)
    if len(sol) != 1:
        raise AssertionError("the even shift is not unique")
    b_e = sp.factor(sp.together(c4.subs(sol[0])))
    hT = u * w ** (T - 1) * rr ** T
    scale2 = w * rr / hT ** 2                     # e^2 = m^2 * w r / h_{T-1}^2
    load = v * hT / kappa
    a = sp.factor(a_e * scale2)
    b = sp.factor(b_e.subs(x, load) * scale2 ** 2)
    return LandauCoefficients(T=T, ratio=rr, a_e=a_e, b_e=b_e, a=a, b=b, mode=V,
                              even_shift=Y.subs(sol[0]).applyfunc(sp.factor))


def tricritical_load(T: int) -> list:
    """The loads ``x = v H^{T-1,T-1}/kappa`` at r_c where b changes sign with the branch stable.

    The branch is stable at r_c (lag-0 block positive definite) for
    ``x > 1/(2T-1)``; returns the roots of b_e's numerator in that range.
    """
    be = landau_coefficients(T, True).b_e
    roots = sp.solve(sp.numer(sp.together(be)), x)
    return [s for s in roots if s.is_real and s > sp.Rational(1, 2 * T - 1)]


# --- general-T closed forms ---------------------------------------------------
def general_critical_point() -> dict:
    """The general-T pattern (``P = 1``; labels ``|yhat|^2 = q`` divide lambda_c by sqrt(q)).

    r_c, lambda_c and a_e are proved for every T >= 3 (the lag-1 chain's
    determinant and leading minor, :mod:`linkernel.symbolic.stability`: a_e is
    det/(2 minor) = (n - (n-1) r)/(2n), n = T-1); b_e is derived for every T
    (symbolic n = T-1 for T >= 12, exact dense algebra below:
    :mod:`linkernel.symbolic.order`, derivations/landau_general_T.tex) and
    agrees with each per-T derivation of this module for T = 3..9.
    """
    Ts = sp.Symbol("T", positive=True, integer=True)
    rc = (Ts - 1) / (Ts - 2)
    hc = u * w ** (Ts - 1) * rc ** Ts
    return {
        "T": Ts, "r_c": rc, "rho_c": w * rc, "h_c": hc,
        "lambda_c": (v * hc + kappa) / sp.sqrt((Ts - 2) * v * hc),
        "a_e": ((Ts - 1) - (Ts - 2) * r) / (2 * (Ts - 1)),
        "b_e_critical": ((-2 * Ts ** 2 + 11 * Ts - 8) * x - Ts) / (8 * (Ts - 1) * ((2 * Ts - 1) * x - 1)),
        "fold_load": 1 / (2 * Ts - 1),
        "tricritical_load": Ts / (-2 * Ts ** 2 + 11 * Ts - 8),
    }


@dataclass(frozen=True, eq=False)
class SixthOrder:
    """``c`` of ``S_eff = S_0 + a m^2 + b m^4 + c m^6`` at r_c and one load x (exact).

    ``c_e`` for the normalised order parameter ``e_{T-2,T-1}``; ``c`` for m
    (a function of ``w, u`` through ``h_{T-1}``); ``b_e`` the quartic
    coefficient at the same load (0 at a tricritical load).
    """

    T: int
    load: sp.Expr
    b_e: sp.Expr
    c_e: sp.Expr
    c: sp.Expr


@lru_cache(maxsize=None)
def sixth_order_coefficient(T: int, load) -> SixthOrder:
    """The m^6 coefficient of S_eff at r_c and load x = ``load`` (a rational, e.g. a tricritical load).

    ``e = m V + m^2 Y + m^3 Z`` with Y on lags 0, 2 and Z on the odd lags 1, 3
    other than m itself; the m^4 coefficient fixes Y, the m^6 coefficient is
    then quadratic in Z and minimised.  Even O(m^4) corrections drop out of
    the m^6 term because Y already minimises the m^4 term.
    """
    T = check_arch_T("rnn", T, 3)
    load = sp.nsimplify(load)
    rc = critical_ratio(T)
    V = critical_mode(T, rc)
    Y, Z = sp.zeros(T, T), sp.zeros(T, T)
    ys, zs = [], []
    for k in (0, 1, 2, 3):
        for i in range(T - k):
            if k == 1 and i == T - 2:
                continue                    # m itself
            s = sp.Symbol(f"{'y' if k % 2 == 0 else 'z'}_{{{i}{i + k}}}", real=True)
            M, lst = (Y, ys) if k % 2 == 0 else (Z, zs)
            M[i, i + k] = M[i + k, i] = s
            lst.append(s)
    S = sp.expand(normalized_action("rnn", T, m * V + m ** 2 * Y + m ** 3 * Z, m, 6).subs({r: rc, x: load}))
    c4 = S.coeff(m, 4)
    sol_y = sp.solve([sp.diff(c4, s) for s in ys], ys, dict=True)[0]
    b_e = sp.nsimplify(sp.expand(c4.subs(sol_y)))
    c6 = sp.expand(S.coeff(m, 6).subs(sol_y))
    sol_z = sp.solve([sp.diff(c6, s) for s in zs], zs, dict=True)[0] if zs else {}
    c_e = sp.nsimplify(sp.expand(c6.subs(sol_z)))
    hT = u * w ** (T - 1) * rc ** T
    return SixthOrder(T=T, load=load, b_e=b_e, c_e=c_e, c=sp.factor(c_e * (w * rc / hT ** 2) ** 3))


@lru_cache(maxsize=None)
def critical_amplitude_squared(T: int) -> sp.Expr:
    """A^2 = -a'(lambda_c) / (2 b(lambda_c)) in ``m ~ A (lambda - lambda_c)^{1/2}`` (P = 1), closed form.

    ``a'`` is the lambda-derivative along the branch, ``(da/dr) / (d lambda/dr)``
    at r_c.  Meaningful where b > 0.
    """
    from linkernel.symbolic.symmetric_branch import symmetric_branch
    rc = critical_ratio(T)
    L = landau_coefficients(T)
    dlam = sp.diff(symmetric_branch(T, "rnn").lam_of_r, r).subs(r, rc)
    da = sp.diff(L.a, r).subs(r, rc) / dlam
    return sp.factor(sp.simplify(-da / (2 * landau_coefficients(T, True).b)))

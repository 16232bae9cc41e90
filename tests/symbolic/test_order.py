"""The general-T Landau coefficient b of the RNN endpoint task, checked against per-T derivations and numerics."""

import math

import numpy as np
import pytest
import sympy as sp

from linkernel.symbolic.order import (B_E_CLOSED_FORM, _T, exact_b_e, general_b_e, general_order, landau_b,
                                      transition_order, tricritical_kappa, x)


def _closed(T):
    return B_E_CLOSED_FORM.subs(_T, T)


@pytest.mark.parametrize("T", [3, pytest.param(4, marks=pytest.mark.slow), pytest.param(5, marks=pytest.mark.slow)])
def test_dense_trace_form_equals_landau_module(T):
    """The reduced trace form gives the b_e that landau.py derives from normalized_action (exact rationals)."""
    from linkernel.symbolic.landau import landau_coefficients
    assert sp.simplify(exact_b_e(T) - landau_coefficients(T, True).b_e) == 0


@pytest.mark.slow
@pytest.mark.parametrize("T", [6, 7, 8, 9])
def test_dense_trace_form_equals_landau_module_larger_T(T):
    from linkernel.symbolic.landau import landau_coefficients
    assert sp.simplify(exact_b_e(T) - landau_coefficients(T, True).b_e) == 0


@pytest.mark.parametrize("T", range(3, 7))
def test_closed_form_equals_per_T_value(T):
    assert sp.simplify(exact_b_e(T) - _closed(T)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("T", range(7, 21))
def test_closed_form_equals_per_T_value_up_to_T_min(T):
    """Covers every T below general_b_e().T_min (12) and a few above it."""
    assert sp.simplify(exact_b_e(T) - _closed(T)) == 0


@pytest.mark.slow
def test_symbolic_n_derivation_gives_closed_form():
    g = general_b_e()
    assert sp.simplify(g.b_e_of_T() - B_E_CLOSED_FORM) == 0
    assert g.T_min <= 21                       # the per-T tests above cover every T below it
    # the lag-2 response (i + 1)(i + n^2 - n + 2) / (2 n^2), seen for T = 5 as 7/16, 15/16, 3/2
    n = sp.Symbol("n", positive=True, integer=True)
    i = sp.Symbol("i", integer=True)
    assert [g.shift_lag2.subs({n: 4, i: k}) for k in range(3)] == [sp.Rational(7, 16), sp.Rational(15, 16),
                                                                   sp.Rational(3, 2)]
    assert sp.simplify(g.shift_lag2 - (i + 1) * (i + n ** 2 - n + 2) / (2 * n ** 2)) == 0


def test_sign_for_T_at_least_5():
    """Numerator (-2T^2+11T-8) x - T < 0 for every x > 0 once T >= 5; denominator > 0 above the fold load."""
    for T in range(5, 200):
        assert -2 * T * T + 11 * T - 8 < 0
    f = sp.lambdify((_T, x), B_E_CLOSED_FORM)
    for T in range(5, 200):
        for xv in (1.0 / (2 * T - 1) * 1.0001, 0.5, 1.0, 10.0, 1e6):
            assert f(T, xv) < 0
    for kappa in (1e-3, 0.1, 1.0, 10.0):              # the same through the public function
        assert landau_b(T=7, kappa=kappa, normalised=True) < 0 or transition_order(7, kappa=kappa) == "first order"


def test_tricritical_kappa_closed_forms():
    assert tricritical_kappa(3) == pytest.approx(56 / 3, rel=1e-14)
    assert tricritical_kappa(4) == pytest.approx(81 / 16, rel=1e-14)
    assert tricritical_kappa(3, w=2.0, v=0.5, u=3.0) == pytest.approx(56 / 3 * 0.5 * 3.0 * 4.0, rel=1e-14)
    assert tricritical_kappa(4, w=0.9, v=1.3, u=0.7) == pytest.approx(81 / 16 * 1.3 * 0.7 * 0.9 ** 3, rel=1e-14)
    for T in range(5, 40):
        assert tricritical_kappa(T) is None
    # b = 0 there
    for T in (3, 4):
        assert abs(landau_b(T, kappa=tricritical_kappa(T), normalised=True)) < 1e-14


def test_orders_at_kappa_0_1():
    assert [transition_order(T, kappa=0.1) for T in range(3, 13)] == ["second order"] * 2 + ["first order"] * 8
    assert transition_order(3, kappa=56 / 3) == "tricritical"
    assert transition_order(3, kappa=20.0) == "first order"
    assert transition_order(4, kappa=5.0) == "second order"
    assert transition_order(4, kappa=6.0) == "first order"
    assert transition_order(7, kappa=1e-4) == "first order"
    assert transition_order(7, kappa=1e4) == "first order"          # branch folded before r_c


@pytest.mark.parametrize("T,kappa", [(3, 0.1), (3, 30.0), pytest.param(5, 0.1, marks=pytest.mark.slow),
                                     pytest.param(4, 0.1, marks=pytest.mark.slow),
                                     pytest.param(4, 6.0, marks=pytest.mark.slow),
                                     pytest.param(6, 2.0, marks=pytest.mark.slow)])
def test_landau_b_matches_critical_point(T, kappa):
    """b for m itself (with the scale w r_c / h_c^2) equals critical.py's, computed per T from landau.py."""
    from linkernel.symbolic.critical import critical_point
    from linkernel.tasks import endpoint
    cp = critical_point(endpoint("rnn", T=T, kappa=kappa, w=0.9, v=1.1, u=1.2))
    assert landau_b(T, kappa=kappa, w=0.9, v=1.1, u=1.2) == pytest.approx(cp.landau["b"], rel=1e-10)
    assert transition_order(T, kappa=kappa, w=0.9, v=1.1, u=1.2) == cp.order


def test_bad_input():
    with pytest.raises(ValueError, match="T=2"):
        landau_b(2)
    with pytest.raises(ValueError, match="kappa=-1"):
        transition_order(5, kappa=-1.0)
    with pytest.raises(ValueError, match="w=nan"):
        tricritical_kappa(3, w=math.nan)


def _numeric_b(T, kappa, rel_m=(0.02, 0.01)):
    """b from the NumPy action: slope of the constrained minimum dS/dm = 4 b m^3 + 6 c m^5, Richardson in m."""
    from linkernel.symbolic.symmetric_branch import branch_kernel, lam_of_ratio
    from linkernel.tasks import endpoint
    from linkernel.theory.action import m_vector, to_vector
    from linkernel.theory.special_points import constrained_minimum, constraint_basis
    rc = (T - 1) / (T - 2)
    pr = endpoint("rnn", T=T, kappa=kappa, lam=float(lam_of_ratio(rc, T, 1.0, 1.0, 1.0, kappa)))
    H0 = branch_kernel(pr, ratio=rc)
    a = m_vector(pr)
    Q = constraint_basis(a)
    y0 = Q.T @ to_vector(H0)
    ms = H0[-1, -1] * np.asarray(rel_m)
    b = [constrained_minimum(pr, m, y0=y0, a=a, Q=Q).slope / (4 * m ** 3) for m in ms]
    return (4 * b[1] - b[0]) / 3


@pytest.mark.parametrize("T", [5])
def test_numeric_b_from_the_action(T):
    assert _numeric_b(T, 0.1) == pytest.approx(landau_b(T, 0.1), rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("T,kappa", [(10, 0.1), (12, 0.1), (14, 1.0)])
def test_numeric_b_from_the_action_larger_T(T, kappa):
    assert _numeric_b(T, kappa) == pytest.approx(landau_b(T, kappa), rel=2e-3)


def test_general_order_summary():
    g = general_order(check_T=(3, 4, 5))
    assert g.tricritical_kappa == {3: sp.Rational(56, 3), 4: sp.Rational(81, 16)}
    assert "first order for every T >= 5" in g.summary()
    import json
    json.dumps(g.to_dict(), allow_nan=False)


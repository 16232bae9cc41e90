import json

import numpy as np
import pytest
from mpmath import mp

from linkernel.theory import highprec as hp
from linkernel import tasks
from linkernel.cli import main
from linkernel.theory.continuation import point_at, trace
from linkernel.numerics import richardson as _richardson
from linkernel.theory.exponent import critical_exponent


def test_richardson_removes_powers_of_h():
    with mp.workdps(30):
        h = [mp.mpf(1) / 4 ** k for k in range(5)]
        vals = [mp.mpf(1) / 2 + 3 * x + 5 * x ** 2 - 7 * x ** 3 + 2 * x ** 4 for x in h]
        assert abs(_richardson(vals, 4)[-1] - mp.mpf(1) / 2) < mp.mpf(10) ** -25


def test_exponent_meets_target_at_T4():
    e = critical_exponent(tasks.endpoint("rnn", T=4, kappa=0.1), digits=30)
    assert e.transition == "second order"
    assert abs(e.beta - 0.5) < 1e-10 and e.error < 1e-10
    assert e.lambda_c == pytest.approx(1.6224172257224674, rel=1e-14)
    # the raw local slopes approach 1/2 from one side, linearly in m^2
    s = np.array(e.local_slopes) - 0.5
    np.testing.assert_allclose(s[1:] / s[:-1], 0.25, rtol=1e-2)


def test_m_parametrised_branch_agrees_with_double_precision_continuation():
    p = tasks.endpoint("rnn", T=4, kappa=0.1)
    tr = trace(p, (1.5, 2.0))
    ref = point_at(tr, 1.7, branch=1)
    with mp.workdps(40):
        x = hp.to_vector(hp.as_matrix(ref.kernel))
        a = hp.m_vector(p)
        m = mp.fsum(a[i] * x[i] for i in range(len(x)))
        assert float(m) == pytest.approx(ref.order_parameter, rel=1e-15)
        x, lam = hp.newton(p, x, mp.mpf(1.69), constraint=(a, m), dps=40)
        assert float(lam) == pytest.approx(1.7, rel=1e-12)


def test_first_order_case_is_reported_not_fitted():
    e = critical_exponent(tasks.endpoint("rnn", T=5, kappa=0.1), digits=20, lam_range=(1.0, 1.5))
    assert e.transition == "first order" and e.beta is None and e.error is None
    assert "first-order" in e.message and "coexistence" in e.message
    assert 1.2 < e.lambda_coexistence < e.lambda_c


def test_bad_digits():
    with pytest.raises(ValueError, match="digits"):
        critical_exponent(tasks.endpoint("rnn", T=4), digits=3)


def test_cli_exponent_json(capsys):
    assert main(["exponent", "--T", "3", "--digits", "20", "--levels", "6", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert abs(d["beta"] - 0.5) < 1e-10 and d["error"] < 1e-10 and 2.8 < d["lambda_c"] < 2.9


@pytest.mark.parametrize("m0", [np.inf, np.nan, 0.0, -1.0, "x"])
def test_bad_m0_is_a_value_error(m0):
    with pytest.raises(ValueError, match="m0"):
        critical_exponent(tasks.endpoint("rnn", T=3), m0=m0)


def test_tricritical_vocabulary_is_that_of_the_derivation():
    from linkernel.theory.exponent import _order_of
    assert _order_of(mp.mpf("0.25000000001"), mp.mpf("1e-12"))[0] == "tricritical"
    assert _order_of(mp.mpf("0.5"), mp.mpf("1e-20"))[0] == "second order"
    from linkernel.symbolic.critical import ORDERS
    assert {"tricritical", "second order"} <= set(ORDERS)


def test_window_follows_lambda_c_outside_the_default_range():
    """T = 3, kappa = 5: lambda_c = 4.596 lies outside (0.5, 4); the window is moved, not the input refused."""
    from linkernel.theory.exponent import _window
    from linkernel.theory.special_points import critical_lambda
    p = tasks.endpoint("rnn", T=3, kappa=5.0)
    lo, hi = _window(p, (0.5, 4.0))
    lam_c = critical_lambda(p, bracket=(4.0, 5.0))
    assert lo < lam_c < hi and lam_c > 4.0
    assert _window(tasks.endpoint("rnn", T=3), (0.5, 4.0)) == (0.5, 4.0)


def test_dnn_has_no_transition_and_says_so():
    from linkernel.errors import ConvergenceError
    with pytest.raises(ConvergenceError, match="stays stable"):
        critical_exponent(tasks.endpoint("dnn", T=2))


# --- issue 27: exponent and critical agree on the order; patterns; unknown; checks before work -----
def test_tricritical_kappa_is_reported_tricritical_with_beta_one_quarter():
    """At the tricritical kappa of T = 3 (from the closed form, another route) exponent says what
    critical says: tricritical, beta = 1/4; the fitted value lies within the reported error."""
    from linkernel.symbolic.critical import critical_point
    kappa_t = critical_point(tasks.endpoint("rnn", T=3)).tricritical["kappa"][0]
    p = tasks.endpoint("rnn", T=3, kappa=float(f"{kappa_t:.12g}"))    # as typed on the command line
    cp = critical_point(p)
    e = critical_exponent(p, digits=20, levels=6)
    assert e.transition == cp.order == "tricritical"
    assert e.beta == 0.25 and e.beta_digits.startswith("0.25000")
    assert abs(e.beta_fit - 0.25) <= e.error < 1e-3 and e.converged
    assert e.lambda_c == pytest.approx(cp.lambda_c, rel=1e-10)
    assert "tricritical" in e.summary().splitlines()[0]


def test_pattern_exponent_follows_the_breaking_groups_order_parameter():
    """{"W": [[1,2],[3]]} at T = 4 breaks W group 0 (m_0 = H^{2,1}; H^{3,2} stays 0): beta = 1/2 at the
    closed-form lambda_c = 4.025 of linkernel.symbolic.patterns."""
    from linkernel.architecture import Architecture
    from linkernel.symbolic.patterns import pattern_critical_point
    spec = {"W": [[1, 2], [3]]}
    e = critical_exponent(tasks.endpoint(spec, T=4), digits=20, levels=5)
    lc = pattern_critical_point(Architecture.from_spec(spec, 4)).lambda_c_value(kappa_=0.1)
    assert e.transition == "second order" and e.converged
    assert abs(e.beta - 0.5) < 1e-12 and e.error < 1e-12
    assert e.lambda_c == pytest.approx(lc, rel=1e-14)
    assert e.order_parameter.startswith("m_0 = H^{2,1}")


def test_unknown_trace_is_not_fitted_and_says_why():
    from linkernel.errors import ContinuationWarning, ConvergenceError
    p = tasks.endpoint("rnn", T=4)
    with pytest.warns(ContinuationWarning, match="max_steps"):
        tr = trace(p, (0.5, 3.0), max_steps=5)
    assert tr.transition == "unknown"
    with pytest.raises(ConvergenceError, match="unknown"):
        critical_exponent(p, digits=15, traced=tr)


def test_tiny_m0_is_refused_before_any_work():
    import time
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="m0=1e-300"):
        critical_exponent(tasks.endpoint("rnn", T=3), m0=1e-300)
    assert time.perf_counter() - t0 < 2.0


def test_orders_are_the_traces_transitions():
    from linkernel.symbolic.critical import ORDERS
    from linkernel.theory.branches import TRANSITIONS
    assert tuple(ORDERS) == tuple(TRANSITIONS)

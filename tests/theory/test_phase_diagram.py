"""Phase diagrams by continuation of the special points (linkernel.theory.phase_diagram).

Every number is checked against one computed another way: the closed forms of
linkernel.symbolic (tricritical kappa, Landau b, lambda_c; never used by the
module), Brent's method on the odd Hessian eigenvalue (special_points), the
arclength continuation in lambda (continuation.trace), and direct saddle points.
"""

import json

import numpy as np
import pytest

from linkernel.architecture import dnn_with_tied_pair
from linkernel.serialize import dumps
from linkernel.symbolic.order import landau_b, transition_order, tricritical_kappa
from linkernel.tasks import endpoint
from linkernel.theory.phase_diagram import phase_diagram, phase_summary
from linkernel.theory.special_points import critical_lambda


@pytest.fixture(scope="module")
def t3():
    """T = 3 RNN endpoint, kappa from 8 to 30: the tricritical point at 56/3 and first order above."""
    return phase_diagram(endpoint("rnn", T=3), "kappa", (8.0, 30.0), points=5)


@pytest.mark.parametrize("T", [3, 4])
def test_tricritical_kappa_matches_closed_form(T):
    lo, hi = {3: (12.0, 30.0), 4: (3.0, 8.0)}[T]
    d = phase_diagram(endpoint("rnn", T=T), "kappa", (lo, hi), points=3, first_order_lines=False)
    assert [p.kind for p in d.points] == ["tricritical"]
    kt = tricritical_kappa(T)   # 56/3 for T = 3, 81/16 for T = 4 (w = v = u = 1)
    assert d.points[0].param == pytest.approx(kt, rel=1e-8)
    assert d.order_at(0.9 * kt) == "second order" and d.order_at(1.1 * kt) == "first order"


def test_tricritical_kappa_scales_with_w_v_u():
    """At w = 1.2, v = 0.7, u = 1.5 the closed form is 56/3 v u w^2."""
    p = endpoint("rnn", T=3, w=1.2, v=0.7, u=1.5)
    kt = tricritical_kappa(3, w=1.2, v=0.7, u=1.5)
    d = phase_diagram(p, "kappa", (0.7 * kt, 1.4 * kt), points=3, first_order_lines=False)
    assert d.tricritical[0].param == pytest.approx(kt, rel=1e-8)


def test_branch_line_lambda_c_and_b_against_independent_values(t3):
    for k in (0, 2, len(t3.branch_param) - 1):
        kappa = t3.branch_param[k]
        lc = critical_lambda(endpoint("rnn", T=3, kappa=kappa))
        assert t3.branch_lam[k] == pytest.approx(lc, rel=1e-10)
        assert t3.branch_b[k] == pytest.approx(landau_b(3, kappa=kappa), rel=1e-7, abs=1e-13)


def test_first_order_lines_against_trace(t3):
    """Spinodal and coexistence at kappa = 30 equal the fold and coexistence found by continuing in lambda."""
    from linkernel.theory.continuation import trace
    assert t3.fold_param[-1] == pytest.approx(30.0) and t3.coexistence_param[-1] == pytest.approx(30.0)
    tr = trace(endpoint("rnn", T=3, kappa=30.0), (12.0, 14.0))
    fold = [s.lam for s in tr.special_points if s.kind == "fold"]
    coex = [s.lam for s in tr.special_points if s.kind == "coexistence"]
    assert t3.fold_lam[-1] == pytest.approx(fold[0], rel=1e-9)
    assert t3.coexistence_lam[-1] == pytest.approx(coex[0], rel=1e-9)
    # the three lines are ordered fold < coexistence < lambda_c and meet at the tricritical point
    lc = np.interp(t3.fold_param, t3.branch_param, t3.branch_lam)
    assert np.all(t3.fold_lam <= t3.coexistence_lam + 1e-12)
    assert np.all(t3.coexistence_lam <= lc + 1e-12)
    tc = t3.tricritical[0]
    assert t3.fold_param[0] == tc.param and t3.fold_lam[0] == tc.lam == t3.coexistence_lam[0]


def test_spot_check_hybrid_pattern_by_saddle_point():
    """A DNN with steps 2, 3 tied: m = 0 just below the line, m > 0 just above (saddle_point)."""
    p = endpoint(dnn_with_tied_pair(4, 2, 3), T=4)
    d = phase_diagram(p, "kappa", (0.1, 3.0), points=3, spot_checks=1)
    assert len(d.checks) == 1 and d.checks[0]["ok"]
    assert d.checks[0]["m_below"] == pytest.approx(0.0, abs=1e-8) and d.checks[0]["m_above"] > 1e-2
    assert d.branch_lam[0] == pytest.approx(critical_lambda(p.with_(kappa=0.1)), rel=1e-10)


def test_result_serialises_and_plots(t3, tmp_path):
    data = json.loads(dumps(t3))
    assert data["param"] == "kappa" and data["codimension_two_points"][0]["kind"] == "tricritical"
    assert len(data["branch_point_line"]["lam"]) == len(t3.branch_param)
    assert "tricritical point: kappa=18.66666666" in t3.summary()
    path = t3.plot(tmp_path / "pd.png")
    assert (tmp_path / "pd.png").stat().st_size > 10_000 and str(path).endswith("pd.png")


def test_other_parameter_w():
    """Along w at kappa = 1 (T = 3): kappa_tc = 56/3 w^2 = 1 at w = sqrt(3/56)."""
    d = phase_diagram(endpoint("rnn", T=3, kappa=1.0), "w", (0.2, 0.3), points=3, first_order_lines=False)
    assert d.tricritical[0].param == pytest.approx(np.sqrt(3 / 56), rel=1e-8)


def test_phase_summary_orders_match_closed_form():
    s = phase_summary(Ts=(3, 5), kappa=0.1)
    for row in s.rows:
        assert row["order"] == transition_order(row["T"], kappa=0.1)
        assert row["b"] == pytest.approx(landau_b(row["T"], kappa=0.1), rel=1e-7)
    assert "first order" in s.summary() and json.loads(dumps(s))["rows"][0]["T"] == 3


@pytest.mark.parametrize("bad", [dict(param="lam"), dict(param_range=(2.0, 1.0)), dict(points=1),
                                 dict(lam_range=(0, 1))])
def test_bad_input_names_the_parameter(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        phase_diagram(endpoint("rnn", T=3), **bad)


@pytest.mark.slow
@pytest.mark.parametrize("T", [3, 4])
def test_lambda_c_line_against_symbolic_critical_point(T):
    from linkernel.symbolic.critical import critical_point
    d = phase_diagram(endpoint("rnn", T=T), "kappa", (0.05, 30.0), points=9, spot_checks=2)
    assert d.complete and all(c["ok"] for c in d.checks)
    for k in (0, 4, 8):
        cp = critical_point(endpoint("rnn", T=T, kappa=d.branch_param[k]))
        assert d.branch_lam[k] == pytest.approx(cp.lambda_c, rel=1e-10)
    assert d.tricritical[0].param == pytest.approx(tricritical_kappa(T), rel=1e-8)


@pytest.mark.slow
def test_p2_diagram_tricritical_and_spot_checks():
    """P = 2 labels +1, -1: the label sector is the P = 1 chain with lambda -> lambda sqrt(2)."""
    d = phase_diagram(endpoint("rnn", T=4, P=2), "kappa", (0.1, 30.0), points=9, spot_checks=2)
    assert d.complete and all(c["ok"] for c in d.checks)
    assert d.tricritical[0].param == pytest.approx(81 / 16, rel=1e-8)
    lc1 = critical_lambda(endpoint("rnn", T=4, kappa=d.branch_param[3]))
    assert d.branch_lam[3] == pytest.approx(lc1 / np.sqrt(2), rel=1e-10)


def test_first_order_lines_reach_the_end_of_the_range_asked_for(tmp_path):
    """T = 4, kappa 0.01..20 (issue 27, item 9): the spinodal and coexistence lines used to stop coming down
    at kappa = 5.567, next to the tricritical point, where the fold system's Newton from the walk's point on
    the branch point's side of the fold stalls; they now cover every first-order row, up to 20."""
    d = phase_diagram(endpoint("rnn", T=4), "kappa", (0.01, 20.0), points=41)
    assert d.complete and not d.notes and d.first_order_gaps == ()
    kc = d.tricritical[0].param
    assert kc == pytest.approx(81 / 16, rel=1e-8)
    first = d.branch_param[(d.branch_b < 0) & (d.branch_param > kc)]
    np.testing.assert_allclose(d.fold_param[1:], first, rtol=1e-12)
    assert d.fold_param[0] == d.coexistence_param[0] == pytest.approx(kc) and d.fold_param[-1] == pytest.approx(20.0)
    i = int(np.argmin(abs(d.fold_param - 5.567)))
    assert d.fold_lam[i] < d.coexistence_lam[i] < np.interp(d.fold_param[i], d.branch_param, d.branch_lam)
    assert d.to_dict()["first_order_gaps"] == []
    d.plot(tmp_path / "t4.png")


def test_missing_first_order_stretches_are_reported_as_gaps():
    from linkernel.theory.phase_diagram.lines import _gaps
    rows = [dict(param=p, b=b, even_min=1.0) for p, b in [(1, 1), (2, -1), (3, -1), (4, -1), (5, -1), (6, 1)]]
    assert _gaps(rows, [{"param": 2}, {"param": 3}]) == ((4, 5),)
    assert _gaps(rows, []) == ((2, 5),)
    assert _gaps(rows, [{"param": p} for p in (2, 3, 4, 5)]) == ()

import json

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import action, gradient, prior_kernel
from linkernel.theory.hessian import hessian
from linkernel.cli import main
from linkernel.theory.continuation import follow, gradient_lambda, point_at, trace
from linkernel.theory.continuation.bordered import Jacobian
from linkernel.problem import order_parameter
from linkernel.theory.saddle import local_minimum, saddle_point
from linkernel.theory.minimize import stationary_point


@pytest.fixture(scope="module")
def rnn4():
    return trace(tasks.endpoint("rnn", T=4, kappa=0.1), (0.5, 3.0))


def _odd_mask(problem):
    """Z2-odd coordinates of the upper triangle, computed here from the parity signs."""
    s = problem.parity_signs
    i, j = np.triu_indices(problem.n)
    return s[i] * s[j] < 0


def _smallest_odd_eigenvalue(problem, lam):
    """Symmetric branch by Newton from a diagonal start; smallest eigenvalue of the odd Hessian block."""
    p = problem.with_(lam=lam)
    H0 = np.diag(np.diag(prior_kernel(p)))
    H, res, ok = stationary_point(p, H0, tol=1e-13)
    assert ok
    odd = _odd_mask(p)
    Hs = hessian(p, H)
    return np.linalg.eigvalsh(Hs[np.ix_(odd, odd)])[0]


def test_every_point_satisfies_the_equations(rnn4):
    for b in rnn4.branches:
        for pt in b.points:
            p = rnn4.problem.with_(lam=pt.lam)
            G = gradient(p, pt.kernel)
            assert np.linalg.norm(G) < 1e-10 * max(1.0, np.abs(pt.kernel).max())
            assert pt.residual < 1e-10
            assert pt.action == pytest.approx(action(p, pt.kernel), rel=1e-12)
    for sp in rnn4.special_points:
        assert np.linalg.norm(gradient(rnn4.problem.with_(lam=sp.lam), sp.kernel)) < 1e-10


def test_branch_point_agrees_with_bisection_on_odd_eigenvalue(rnn4):
    bps = [s for s in rnn4.special_points if s.kind == "branch_point" and s.z2]
    assert len(bps) == 1
    lo, hi = 1.5, 1.7
    f = lambda lam: _smallest_odd_eigenvalue(rnn4.problem, lam)
    assert f(lo) > 0 > f(hi)
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    assert bps[0].lam == pytest.approx(0.5 * (lo + hi), rel=1e-8)
    assert abs(bps[0].test_value) < 1e-12
    assert rnn4.transition == "second order"


def test_broken_branch_matches_direct_minimisation(rnn4):
    assert [b.kind for b in rnn4.branches] == ["symmetric", "broken"]
    for lam in (1.7, 2.0, 2.8):
        pt = point_at(rnn4, lam, branch=1)
        sp = saddle_point(rnn4.problem.with_(lam=lam), n_starts=4)
        assert pt.order_parameter == pytest.approx(sp.order_parameter, rel=1e-6)
        np.testing.assert_allclose(pt.kernel, sp.kernel, rtol=1e-6, atol=1e-9)
        assert pt.stable


def test_stability_follows_the_hessian(rnn4):
    lam_c = rnn4.points_of("branch_point")[0].lam
    sym, broken = rnn4.branches
    for pt in sym.points:
        eig = np.linalg.eigvalsh(hessian(rnn4.problem.with_(lam=pt.lam), pt.kernel))
        if abs(pt.lam - lam_c) > 1e-6:
            assert pt.stable == (eig[0] > 0) == (pt.lam < lam_c)
        assert order_parameter(pt.kernel, 4, 1) == 0.0
    assert broken.stable.all() and np.all(broken.m[1:] > 0)
    assert broken.lam.min() == pytest.approx(lam_c, rel=1e-12)


def test_tracing_back_returns_to_the_start(rnn4):
    sym, broken = rnn4.branches
    back = follow(rnn4.problem, sym.points[-1].kernel, 3.0, (0.5, 3.0), direction=-1)
    assert back.kind == "symmetric" and back.lam[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(back.points[-1].kernel, sym.points[0].kernel, atol=1e-10)
    back = follow(rnn4.problem, broken.points[-1].kernel, 3.0, (1.65, 3.0), direction=-1)
    assert back.kind == "broken" and back.lam[-1] == pytest.approx(1.65)
    np.testing.assert_allclose(back.points[-1].kernel, point_at(rnn4, 1.65, 1).kernel, atol=1e-10)


def test_dnn_never_breaks_and_equals_rnn_below_lambda_c(rnn4):
    dnn = trace(tasks.endpoint("dnn", T=4, kappa=0.1), (0.5, 3.0))
    assert dnn.transition == "none" and len(dnn.branches) == 1
    assert not [s for s in dnn.special_points if s.kind == "branch_point"]
    assert dnn.branches[0].stable.all()
    for lam in (0.8, 1.2, 1.6):
        np.testing.assert_allclose(point_at(dnn, lam).kernel, point_at(rnn4, lam, 0).kernel, atol=1e-10)


def test_gradient_lambda_matches_finite_differences():
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.3)
    rng = np.random.default_rng(1)
    B = rng.normal(size=(6, 6))
    H = B @ B.T / 6 + np.eye(6)
    eps = 1e-6
    fd = (gradient(p.with_(lam=1.3 + eps), H) - gradient(p.with_(lam=1.3 - eps), H)) / (2 * eps)
    np.testing.assert_allclose(gradient_lambda(p, H), fd, atol=1e-8)


def test_first_order_case_has_fold_and_coexistence():
    tr = trace(tasks.endpoint("rnn", T=5, kappa=0.1), (0.9, 1.5))
    assert tr.transition == "first order"
    fold, coex = tr.points_of("fold")[0], tr.points_of("coexistence")[0]
    bp = [s for s in tr.points_of("branch_point") if s.z2][0]
    assert fold.lam < coex.lam < bp.lam
    assert tr.spinodals == {"symmetric": bp.lam, "broken": fold.lam}
    # the fold: a zero Hessian eigenvalue on the broken branch
    eig = np.linalg.eigvalsh(hessian(tr.problem.with_(lam=fold.lam), fold.kernel))
    assert abs(eig).min() < 1e-8 * abs(eig).max() and fold.order_parameter > 0
    # coexistence: two local minima of equal action, found by direct minimisation
    p = tr.problem.with_(lam=coex.lam)
    broken = local_minimum(p, coex.kernel)
    symmetric = local_minimum(p, np.diag(np.diag(coex.kernel)))
    assert broken.order_parameter > 0.1 and abs(symmetric.order_parameter) < 1e-8
    assert broken.action == pytest.approx(symmetric.action, abs=1e-10)


def test_problem_without_z2_is_traced_as_one_regular_branch():
    p = tasks.sinusoid("rnn", T=3, kappa=0.2)
    assert not p.has_z2
    tr = trace(p, (0.5, 1.5))
    assert [b.kind for b in tr.branches] == ["regular"]
    pt = point_at(tr, 1.0)
    sp = saddle_point(p.with_(lam=1.0), n_starts=3)
    np.testing.assert_allclose(pt.kernel, sp.kernel, rtol=1e-7, atol=1e-9)


def test_bad_range_is_rejected():
    p = tasks.endpoint("rnn", T=3)
    with pytest.raises(ValueError, match="lam_range"):
        trace(p, (2.0, 1.0))
    with pytest.raises(ValueError, match="lam_range"):
        trace(p, (0.0, 1.0))


def test_cli_trace_json_csv_and_plot(tmp_path, capsys):
    assert main(["trace", "--T", "3", "--lam-range", "2.5:3.2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["branches"][0][0]) >= {"lam", "kernel", "action", "stable"}
    bp = d["special_points"][0]
    assert bp["kind"] == "branch_point" and 2.5 < bp["lam"] < 3.2 and len(bp["kernel"]) == 3
    assert main(["trace", "--T", "3", "--lam-range", "2.5:3.2", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("arch,T,branch,kind,lam,m,action,stable")
    png = tmp_path / "trace.png"
    assert main(["trace", "--T", "2,3", "--lam-range", "2.5:3.2", "--plot", str(png)]) == 0
    assert png.stat().st_size > 10000
    with pytest.raises(SystemExit) as exc:
        main(["trace", "--lam-range", "3:1"])
    assert exc.value.code == 2


def test_branch_point_agrees_with_the_derivation():
    critical = pytest.importorskip("linkernel.symbolic.critical")  # the derivation issue's module, once merged
    p = tasks.endpoint("rnn", T=4, kappa=0.1)
    lam_c = critical.critical_point(p).lambda_c
    bp = trace(p, (1.5, 1.7)).points_of("branch_point")[0]
    assert bp.lam == pytest.approx(float(lam_c), rel=1e-8)


@pytest.mark.parametrize("kappa,order", [(5.0, "second order"), (5.2, "first order")])
def test_order_changes_near_the_tricritical_point_at_T4(kappa, order):
    """At T = 4 the pitchfork turns subcritical between kappa = 5.0 and 5.2 (weakly first order)."""
    tr = trace(tasks.endpoint("rnn", T=4, kappa=kappa), (3.0, 3.5))
    assert tr.transition == order
    if order == "first order":
        fold, coex = tr.points_of("fold")[0], tr.points_of("coexistence")[0]
        assert fold.lam < coex.lam < tr.spinodals["symmetric"]
        p = tr.problem.with_(lam=coex.lam)
        broken = local_minimum(p, coex.kernel)
        symmetric = local_minimum(p, np.diag(np.diag(coex.kernel)))
        assert broken.action == pytest.approx(symmetric.action, abs=1e-12)


def test_range_above_the_transition_still_traces_the_broken_minimum():
    tr = trace(tasks.endpoint("rnn", T=4, kappa=0.1), (2.0, 2.5))
    sym, broken = tr.branches
    assert not sym.stable.any() and broken.kind == "broken" and broken.stable.all()
    sp = saddle_point(tr.problem.with_(lam=2.4), n_starts=4)
    assert point_at(tr, 2.4, branch=1).order_parameter == pytest.approx(sp.order_parameter, rel=1e-6)


# --- input checks, truncation, linear algebra (issues 12 and 14) -----------------------
@pytest.mark.parametrize("kw,name", [({"lam_range": (0.5, 3, 0)}, "lam_range"), ({"lam_range": [0.5]}, "lam_range"),
                                     ({"lam_range": "ab"}, "lam_range"), ({"lam_range": (0.5, np.inf)}, "lam_range"),
                                     ({"ds": 0}, "ds"), ({"ds_max": 0}, "ds_max"), ({"ds": np.nan}, "ds"),
                                     ({"max_steps": 0}, "max_steps"), ({"max_steps": 2.5}, "max_steps"),
                                     ({"tol": -1.0}, "tol")])
def test_bad_arguments_raise_value_error_naming_them(kw, name):
    p = tasks.endpoint("rnn", T=3)
    with pytest.raises(ValueError, match=name):
        trace(p, **kw)


def test_not_a_problem_is_a_value_error():
    with pytest.raises(ValueError, match="problem"):
        trace("x", (1.0, 2.0))


def test_cut_short_branch_is_flagged_with_one_warning():
    from linkernel.serialize import dumps
    from linkernel.errors import ContinuationWarning
    p = tasks.endpoint("rnn", T=3)
    with pytest.warns(ContinuationWarning, match="max_steps=3") as rec:
        tr = trace(p, (0.5, 3.2), max_steps=3)
    assert len([w for w in rec if issubclass(w.category, ContinuationWarning)]) == 1
    assert not tr.complete and not tr.branches[0].complete
    assert tr.branches[0].lam.max() < 3.2  # really cut short, and says so
    assert "INCOMPLETE" in tr.summary() and "max_steps" in tr.branches[0].stop_reason
    d = json.loads(dumps(tr.to_dict()))
    assert d["complete"] is False and "max_steps" in d["stop_reasons"][0]


def test_wide_range_is_covered_to_its_end():
    """Steps scale with lambda: 100..1000 is traced to 1000 (it used to stop at 117 without a word)."""
    import warnings
    from linkernel.errors import ContinuationWarning
    p = tasks.endpoint("rnn", T=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContinuationWarning)
        tr = trace(p, (100.0, 1000.0))
    assert tr.complete and all(b.lam.max() == pytest.approx(1000.0) for b in tr.branches)
    broken = tr.branches[1]
    sp = saddle_point(p.with_(lam=1000.0), n_starts=3)
    assert broken.points[-1].order_parameter == pytest.approx(sp.order_parameter, rel=1e-7)


def test_inertia_of_the_ldl_factorisation_counts_negative_eigenvalues(rng):
    from linkernel.theory.equations import ldl as _ldl
    for m in (1, 2, 7, 40):
        for _ in range(5):
            B = rng.normal(size=(m, m))
            A = B + B.T + rng.normal() * np.eye(m)
            assert _ldl(A)[2] == int(np.sum(np.linalg.eigvalsh(A) < 0))


def test_equations_match_the_action_module_at_every_lambda():
    from linkernel.theory.action import to_vector
    from linkernel.theory.equations import Equations
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.0)
    eq = Equations(p)
    H = prior_kernel(p) + 0.1 * np.eye(6)
    for lam in (0.3, 1.0, 2.7):
        X = np.append(to_vector(H), lam)
        np.testing.assert_allclose(eq.F(X), to_vector(gradient(p.with_(lam=lam), H)), atol=1e-13)
        np.testing.assert_allclose(eq.Fl(X), to_vector(gradient_lambda(p.with_(lam=lam), H)), atol=1e-13)
        jac = Jacobian(eq, X, False)
        np.testing.assert_allclose(jac.A, hessian(p.with_(lam=lam), H), atol=1e-12)


def test_matrix_free_path_agrees_with_the_dense_one(monkeypatch):
    import linkernel.theory.equations as equations
    p = tasks.endpoint("rnn", T=3, P=2, kappa=0.1)
    dense = trace(p, (2.0, 3.4))
    monkeypatch.setattr(equations, "DENSE_MAX_DIM", 0)
    free = trace(p, (2.0, 3.4))
    bd = [s.lam for s in dense.special_points if s.z2]
    bf = [s.lam for s in free.special_points if s.z2]
    assert len(bd) == len(bf) >= 1
    np.testing.assert_allclose(bf, bd, rtol=1e-9)
    assert free.transition == dense.transition


def test_branch_point_with_patterns_agrees_with_critical_lambda():
    """T = 4, P = 2: the traced Z2 branch point and a bisection on the smallest odd eigenvalue."""
    from linkernel.theory.special_points import odd_hessian_minimum
    p = tasks.endpoint("rnn", T=4, P=2, kappa=0.1)
    tr = trace(p, (0.5, 1.6))
    bp = [s for s in tr.special_points if s.z2 and s.branch == 0][0]
    lo, hi = bp.lam - 1e-3, bp.lam + 1e-3
    f = lambda lam: odd_hessian_minimum(p.with_(lam=lam))
    assert f(lo) > 0 > f(hi)
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    assert bp.lam == pytest.approx(0.5 * (lo + hi), abs=1e-10)


def test_point_at_rejects_a_missing_branch(rnn4):
    with pytest.raises(ValueError, match="branch"):
        point_at(rnn4, 2.0, branch=7)


def test_automatic_ds_max_takes_longer_steps_above_long_step_dim_and_finds_the_same_points(rnn4, monkeypatch):
    """ds_max=None: 0.25 for small problems (the rnn4 fixture), 0.5 above LONG_STEP_DIM unknowns; the
    special points are located to tol whatever the step, so both give the same ones."""
    import linkernel.theory.continuation.tracing as cont
    short = trace(rnn4.problem, (0.5, 3.0), ds_max=0.25)
    assert [p.lam for b in short.branches for p in b.points] == [p.lam for b in rnn4.branches for p in b.points]
    monkeypatch.setattr(cont, "LONG_STEP_DIM", 1)
    long = trace(rnn4.problem, (0.5, 3.0))
    assert sum(len(b.points) for b in long.branches) < sum(len(b.points) for b in short.branches)
    assert [s.kind for s in long.special_points] == [s.kind for s in short.special_points]
    np.testing.assert_allclose([s.lam for s in long.special_points], [s.lam for s in short.special_points],
                               rtol=1e-9)


def test_a_graded_kernel_traces_to_the_end():
    """w = 1e-3 (diagonal entries over decades): the corrector accepts on the whitened residual, where dS/dH
    rounds far above tol in Frobenius coordinates; before, the start and then the corrector stalled."""
    p = tasks.endpoint("rnn", T=4, w=1e-3)
    tr = trace(p, (0.5, 3.0))
    assert tr.complete and tr.transition == "none"
    H = tr.branches[0].points[-1].kernel
    sp = saddle_point(p.with_(lam=tr.branches[0].points[-1].lam))
    np.testing.assert_allclose(H, sp.kernel, rtol=1e-6, atol=1e-12)

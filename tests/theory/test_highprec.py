import importlib

import mpmath
import numpy as np
import pytest
from mpmath import mp

from linkernel.theory import highprec as hp
from linkernel import tasks
from linkernel.theory.continuation import gradient_lambda, point_at, trace
from linkernel.theory.hessian import hessian
from tests.references import random_kernel

A = importlib.import_module("linkernel.theory.action")  # the module (linkernel.theory.action is also a function name)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T,P", [(3, 1), (2, 2), (4, 1)])
def test_formulas_match_numpy_at_double_precision(arch, T, P, rng):
    p = tasks.endpoint(arch, T=T, P=P, lam=1.3, kappa=0.25, w=0.75, v=1.5, u=1.25)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    with mp.workdps(16):
        assert float(hp.action(p, H)) == pytest.approx(A.action(p, H), rel=1e-12)
        for mine, ref in [(hp.sigma(p, H), A.sigma(p, H)), (hp.gradient(p, H), A.gradient(p, H)),
                          (hp.hessian_vector(p, H, E), A.hessian_vector(p, H, E)),
                          (hp.hessian(p, H), hessian(p, H)),
                          (hp.gradient_lambda(p, H), gradient_lambda(p, H))]:
            np.testing.assert_allclose(hp.to_numpy(mine), ref, rtol=1e-12, atol=1e-12)
        x = hp.to_vector(hp.as_matrix(H))
        np.testing.assert_allclose([float(v) for v in x], A.to_vector(H), rtol=1e-15)
        np.testing.assert_allclose(hp.to_numpy(hp.from_vector(x, p.n)), H, rtol=1e-15)


def test_gradient_is_the_derivative_of_the_action_at_50_digits(rng):
    p = tasks.endpoint("rnn", T=3, lam=1.7)
    with mp.workdps(50):
        H = hp.as_matrix(random_kernel(rng, 3))
        E = hp.as_matrix(random_kernel(rng, 3, 0.0))
        eps = mp.mpf(10) ** -20
        fd = (hp.action(p, H + eps * E) - hp.action(p, H - eps * E)) / (2 * eps)
        G = hp.gradient(p, H)
        dS = mp.fsum(G[i, j] * E[j, i] for i in range(3) for j in range(3))
        assert abs(dS - fd) < mp.mpf(10) ** -28  # rounding 1e-50 / eps; truncation eps^2 = 1e-40


def test_decimal_hyperparameters():
    with mp.workdps(40):
        assert hp.dec(0.1) == mp.mpf(1) / 10
        assert hp.dec(0.1) != mp.mpf(0.1)


def test_high_precision_branch_point_refines_the_double_one():
    tr = trace(tasks.endpoint("rnn", T=4, kappa=0.1), (1.4, 1.8))
    bp = tr.points_of("branch_point")[0]
    pt30, ev30 = hp.branch_point(tr.problem, bp.lam, bp.kernel, dps=30)
    pt45, ev45 = hp.branch_point(tr.problem, bp.lam, bp.kernel, dps=45)
    assert float(pt30.lam) == pytest.approx(bp.lam, rel=1e-13)
    with mp.workdps(45):
        assert abs(pt30.lam - pt45.lam) < mp.mpf(10) ** -29
        assert abs(ev45) < mp.mpf(10) ** -40 and pt45.residual < mp.mpf(10) ** -40
    # the symmetric kernel there is the double-precision one
    np.testing.assert_allclose(hp.to_numpy(pt30.kernel), bp.kernel, atol=1e-12)


def test_symmetric_point_matches_continuation():
    tr = trace(tasks.endpoint("rnn", T=3, kappa=0.1), (0.5, 1.0))
    pt = point_at(tr, 0.8)
    hpt = hp.symmetric_point(tr.problem, mp.mpf("0.8"), pt.kernel, dps=30)
    np.testing.assert_allclose(hp.to_numpy(hpt.kernel), pt.kernel, rtol=1e-13, atol=1e-14)
    assert hpt.residual < mp.mpf(10) ** -26
    d = hpt.to_dict()
    assert d["lam"].startswith("0.8") and len(d["kernel"]) == 3


@pytest.fixture(scope="module")
def first_order():
    return trace(tasks.endpoint("rnn", T=5, kappa=0.1), (1.1, 1.3))


def test_high_precision_fold(first_order):
    tr = first_order
    fold = tr.points_of("fold")[0]
    pt25, m25 = hp.fold_point(tr.problem, fold.order_parameter, fold.kernel, fold.lam, dps=25)
    pt35, m35 = hp.fold_point(tr.problem, fold.order_parameter, fold.kernel, fold.lam, dps=35)
    assert float(pt25.lam) == pytest.approx(fold.lam, rel=1e-12)
    assert float(m25) == pytest.approx(fold.order_parameter, rel=1e-6)
    with mp.workdps(35):
        assert abs(pt25.lam - pt35.lam) < mp.mpf(10) ** -23
        # a fold: the Hessian there is singular
        ev = mp.eigsy(hp.hessian(tr.problem, pt35.kernel, pt35.lam), eigvals_only=True)
        assert min(abs(e) for e in ev) < mp.mpf(10) ** -25


def test_high_precision_coexistence(first_order):
    tr = first_order
    co = tr.points_of("coexistence")[0]
    k = int(np.argmin(np.abs(tr.branches[0].lam - co.lam)))
    pt, m, sym = hp.coexistence_point(tr.problem, co.order_parameter, co.kernel, co.lam,
                                      tr.branches[0].points[k].kernel, dps=30)
    assert float(pt.lam) == pytest.approx(co.lam, rel=1e-12)
    with mp.workdps(30):
        gap = hp.action(tr.problem, pt.kernel, pt.lam) - hp.action(tr.problem, sym.kernel, pt.lam)
        assert abs(gap) < mp.mpf(10) ** -25 and m > mp.mpf("0.5")
    refined = hp.refine_special_points(tr, 20)
    assert [r["kind"] for r in refined] == ["fold", "coexistence", "branch_point"]
    assert refined[1]["lam"][:15] == mpmath.nstr(pt.lam, 20)[:15]

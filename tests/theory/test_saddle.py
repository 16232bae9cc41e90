import mpmath
import numpy as np
import pytest
import sympy as sp

from linkernel import saddle_point, tasks
from linkernel.theory.minimize import stationary_point
from linkernel.theory.action import action, prior_kernel
from linkernel.theory.hessian import hessian
from linkernel.symbolic.action import HYPER, symbolic_action


def _root_of_symbolic_equations(problem, H_start):
    """Solve the SymPy saddle-point equations with mpmath's Newton (independent of linkernel.theory.action)."""
    sa = symbolic_action(problem)
    syms = list(sa.symbols)
    eqs = [sa.equations[h].subs(dict(zip(HYPER, (problem.w, problem.v, problem.u, problem.kappa, problem.lam))))
           for h in syms]
    f = sp.lambdify(syms, eqs, "mpmath")
    n = problem.n
    start = [H_start[a, b] for a in range(n) for b in range(a, n)]
    with mpmath.workdps(30):
        root = mpmath.findroot(lambda *z: f(*z), start, tol=1e-25)
    H = np.zeros((n, n))
    vals = iter(float(r) for r in root)
    for a in range(n):
        for b in range(a, n):
            H[a, b] = H[b, a] = next(vals)
    return H


@pytest.mark.parametrize("arch,lam", [("rnn", 1.0), ("rnn", 2.5), ("dnn", 2.5)])
def test_saddle_matches_root_of_symbolic_equations(arch, lam):
    p = tasks.endpoint(arch, T=4, lam=lam)
    sp_ = saddle_point(p)
    # start the independent solver from a perturbed kernel, off the minimiser's path
    start = sp_.kernel * (1 + 0.02 * np.cos(np.arange(16).reshape(4, 4) + np.arange(16).reshape(4, 4).T))
    H = _root_of_symbolic_equations(p, start)
    np.testing.assert_allclose(sp_.kernel, H, rtol=1e-8, atol=1e-10)
    assert sp_.grad_norm < 1e-9
    assert sp_.hessian_eigenvalues[0] > 0


def test_order_parameter_rnn_breaks_dnn_does_not():
    low, high = 1.0, 2.5
    assert saddle_point(tasks.endpoint("rnn", T=4, lam=low)).order_parameter == pytest.approx(0, abs=1e-9)
    assert saddle_point(tasks.endpoint("rnn", T=4, lam=high)).order_parameter > 1.0
    assert saddle_point(tasks.endpoint("dnn", T=4, lam=high)).order_parameter == pytest.approx(0, abs=1e-9)


def test_symmetric_branch_is_a_saddle_above_the_transition():
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    H, res, ok = stationary_point(p, np.diag(np.diag(saddle_point(p.with_(arch="dnn")).kernel)))
    assert ok and np.allclose(H, np.diag(np.diag(H)))
    assert np.linalg.eigvalsh(hessian(p, H))[0] < 0  # unstable: the minimiser must have left it
    assert saddle_point(p).action < action(p, H)


@pytest.mark.parametrize("T,P", [(3, 1), (4, 1), (3, 2)])
def test_rnn_and_dnn_coincide_at_small_lambda(T, P):
    for lam in (0.3, 0.8):
        r = saddle_point(tasks.endpoint("rnn", T=T, P=P, lam=lam))
        d = saddle_point(tasks.endpoint("dnn", T=T, P=P, lam=lam))
        np.testing.assert_allclose(r.kernel, d.kernel, rtol=1e-8, atol=1e-10)


def test_dnn_has_no_cross_time_entries_beyond_forced():
    supervised = [1, 3, 4]
    p = tasks.sinusoid("dnn", T=6, supervised=supervised, lam=1.5)
    sp_ = saddle_point(p)
    H = sp_.kernel
    for t in range(6):
        for s in range(6):
            if t != s and not (t in supervised and s in supervised):
                assert H[t, s] == pytest.approx(0, abs=1e-9), (t, s)
    assert abs(H[1, 3]) > 1e-3  # forced by the likelihood
    f = sp_.predictions[:, 0]
    np.testing.assert_allclose(f[[0, 2, 5]], 0, atol=1e-9)  # regression to the mean


def test_saddle_rescalings():
    p = tasks.endpoint("rnn", T=4, lam=2.2)
    H = saddle_point(p).kernel
    c = 1.7
    # (u, x) -> (u / c^2, c x): same input kernel, same saddle
    np.testing.assert_allclose(saddle_point(p.with_(u=p.u / c**2, x=c * p.x)).kernel, H, rtol=1e-7)
    # (u, v) -> (c u, v / c): the saddle kernel scales by c, predictions unchanged
    q = saddle_point(p.with_(u=c * p.u, v=p.v / c))
    np.testing.assert_allclose(q.kernel, c * H, rtol=1e-7)
    np.testing.assert_allclose(q.predictions, saddle_point(p).predictions, rtol=1e-7)


def test_minima_are_deduplicated_up_to_z2_and_sorted():
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    r = saddle_point(p, n_starts=8, seed=3)
    actions = [m.action for m in r.minima]
    assert actions == sorted(actions)
    assert all(m.order_parameter >= 0 for m in r.minima)
    assert r.order_parameter >= 0


def test_lambda_zero_saddle_is_prior():
    p = tasks.endpoint("rnn", T=5, P=2, lam=0.0)
    np.testing.assert_allclose(saddle_point(p).kernel, prior_kernel(p), atol=1e-9)


def test_single_start_on_the_symmetric_set_escapes_the_saddle():
    # the prior kernel is diagonal: plain descent from it stays on the symmetric (saddle) branch
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    one = saddle_point(p, n_starts=1)
    assert one.order_parameter > 1.0 and one.hessian_eigenvalues[0] > 0
    np.testing.assert_allclose(one.kernel, saddle_point(p, n_starts=8).kernel, rtol=1e-8)


# --- the trust-region Newton-CG solver and its bookkeeping -------------------------------------------
def test_matrix_free_and_dense_newton_reach_the_same_minimum():
    from linkernel.theory.minimize import minimize_action
    p = tasks.endpoint("rnn", T=5, P=2, lam=2.5)
    H0 = prior_kernel(p) + 0.05 * np.eye(p.n, k=2) + 0.05 * np.eye(p.n, k=-2)
    a = minimize_action(p, H0, dense=True)
    b = minimize_action(p, H0, dense=False)
    assert a.converged and b.converged and a.method.endswith("dense") and b.method.endswith("matrix-free")
    np.testing.assert_allclose(a.kernel, b.kernel, rtol=1e-9, atol=1e-10)
    # and the old algorithm's answer: the stationary point by Newton with the dense Hessian
    H, res, ok = stationary_point(p, a.kernel, tol=1e-13)
    assert ok and np.allclose(H, a.kernel, rtol=1e-10, atol=1e-12)


def test_result_says_how_it_was_computed():
    import json
    from linkernel.serialize import dumps
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    r = saddle_point(p)
    assert r.method.startswith("trust-region Newton-CG") and r.iterations > 0 and r.hessian_products > 0
    assert r.converged and r.precision == "float64" and r.unconverged_runs == 0
    assert all(m.converged and m.origin for m in r.minima)
    d = json.loads(dumps(r.to_dict()))
    assert d["method"] == r.method and d["minima"][0]["origin"] == r.minima[0].origin
    assert "Newton steps" in r.summary()
    # the smallest Hessian eigenvalue reported is that of the dense Hessian, and positive
    assert r.hessian_eigenvalues[0] == pytest.approx(np.linalg.eigvalsh(hessian(p, r.kernel))[0], rel=1e-8)


@pytest.mark.parametrize("bad", [0, -1, 1.5, float("nan"), "six"])
def test_bad_n_starts_raises(bad):
    with pytest.raises(ValueError, match="n_starts"):
        saddle_point(tasks.endpoint("rnn", T=3), n_starts=bad)


def test_convergence_error_reports_the_largest_residual():
    from linkernel.errors import ConvergenceError
    import linkernel.theory.minimize as mn
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    old = mn.MAXITER
    mn.MAXITER = 1   # every descent cut short
    try:
        with pytest.raises(ConvergenceError, match="largest whitened residual"):
            saddle_point(p, n_starts=2)
    finally:
        mn.MAXITER = old


def test_cut_short_descents_warn_once():
    import warnings
    import linkernel.theory.saddle as sd
    from linkernel.errors import SaddleWarning
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    good, good_starts = sd.minimize_action, sd._starts
    random = []

    def starts(*a, **kw):
        random.extend(good_starts(*a, **kw))
        return random

    def capped(problem, H0, **kw):   # random starts stop after 2 steps, the symmetric tree runs fully
        if any(H0 is R for R in random):
            kw["maxiter"] = 2
            kw["basin_radius"] = 0.0
        return good(problem, H0, **kw)

    sd.minimize_action, sd._starts = capped, starts
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = saddle_point(p, n_starts=3)
    finally:
        sd.minimize_action, sd._starts = good, good_starts
    assert r.unconverged_runs == 2
    assert sum(issubclass(x.category, SaddleWarning) for x in w) == 1


def test_preconditioned_steihaug_solves_newton_and_respects_the_m_norm():
    """Inside the region it is CG (X = -B^-1 g); on the boundary |X|_M = radius (M the preconditioner's inverse)."""
    from linkernel.theory.minimize import _steihaug
    rng = np.random.default_rng(0)
    n = 30
    Q = rng.normal(size=(n, n))
    B = Q @ Q.T / n + 0.05 * np.eye(n)
    M = B + 0.3 * np.diag(rng.uniform(size=n))            # a preconditioner close to B
    Mi = np.linalg.inv(M)
    g = rng.normal(size=n)
    X, BX, k, hit, xn = _steihaug(lambda v: B @ v, g, 1e6, 1e-12, 200, prec=lambda r: Mi @ r)
    np.testing.assert_allclose(X, -np.linalg.solve(B, g), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(BX, B @ X, rtol=1e-8, atol=1e-10)
    assert not hit and xn == pytest.approx(np.sqrt(X @ M @ X), rel=1e-8)
    plain = _steihaug(lambda v: B @ v, g, 1e6, 1e-12, 200)
    assert k < plain[2]                                    # the preconditioner saves iterations
    r = 0.1 * np.sqrt(X @ M @ X)
    X, BX, k, hit, xn = _steihaug(lambda v: B @ v, g, r, 1e-12, 200, prec=lambda v: Mi @ v)
    assert hit and np.sqrt(X @ M @ X) == pytest.approx(r, rel=1e-10) and g @ X < 0

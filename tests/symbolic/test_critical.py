"""Closed forms of linkernel.symbolic.symmetric_branch / linkernel.symbolic.critical against the core's numerics."""

import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from scipy.optimize import brentq, minimize

from linkernel import tasks
from linkernel.symbolic import action as symbolic
from linkernel.theory.action import action, gradient, prior_kernel, to_vector
from linkernel.theory.hessian import hessian
from linkernel.symbolic.symmetric_branch import branch_kernel, branch_ratios, r, symmetric_branch, x
from linkernel.cli import main
from linkernel.symbolic.critical import critical_point
from linkernel.symbolic.landau import general_critical_point, landau_coefficients, tricritical_load
from linkernel.symbolic.stability import critical_ratio, hessian_blocks
from linkernel.theory.saddle import saddle_point
from linkernel.theory.minimize import stationary_point


# --- helpers: independent numerics from the core -------------------------------
def odd_mask(problem):
    """Frobenius coordinates (to_vector order) of the Z2-odd entries."""
    s = problem.parity_signs
    return to_vector(np.outer(s, s)) < 0


def numeric_branch(problem):
    """The branch by Newton on dS/dH = 0 from the prior kernel (core only)."""
    H, res, ok = stationary_point(problem, prior_kernel(problem), tol=1e-13)
    assert ok
    return H


def min_odd_eigenvalue(problem):
    H = numeric_branch(problem)
    Hess = hessian(problem, H)
    odd = odd_mask(problem)
    return np.linalg.eigvalsh(Hess[np.ix_(odd, odd)])[0]


def lambda_c_by_bisection(problem, lo, hi):
    return brentq(lambda L: min_odd_eigenvalue(problem.with_(lam=L)), lo, hi, xtol=1e-13, rtol=1e-14)


# --- the symmetric branch --------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T", [2, 3, 4, 5, 6])
def test_branch_closed_form_solves_branch_equations(arch, T):
    br = symmetric_branch(T, arch)
    assert all(res == 0 for res in br.residuals())
    assert sp.simplify(br.rho - symbolic.w * r) == 0
    for t in range(T - 1):                                   # rho constant along t
        assert sp.simplify(br.kernel[t + 1] / br.kernel[t] - br.rho) == 0


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T", [2, 3, 4])
def test_branch_equations_are_the_core_equations_on_diagonal_kernels(arch, T):
    """The branch's dS/dh_t equal the core's symbolic dS/dH^{tt} with every cross-time entry 0."""
    br = symmetric_branch(T, arch)
    sa = symbolic.symbolic_action(tasks.endpoint(arch, T=T))
    off = {s: 0 for s in sa.symbols if s not in br.h}
    for h, eq in zip(br.h, br.equations):
        assert sp.simplify(sa.equations[h].subs(off) - eq) == 0
    for s in off:                                            # and the off-diagonal equations vanish there
        assert sp.simplify(sa.equations[s].subs(off)) == 0


@settings(max_examples=5, deadline=None)
@given(T=st.integers(2, 5), w=st.floats(0.5, 1.5), v=st.floats(0.5, 2.0), u=st.floats(0.5, 2.0),
       kappa=st.floats(0.05, 1.0), frac=st.floats(0.2, 0.95))
def test_branch_kernel_is_the_numerical_saddle(T, w, v, u, kappa, frac):
    """Below lambda_c: the branch equations hold at Newton's saddle to 1e-10, and the kernels agree."""
    p = tasks.endpoint("rnn", T=T, w=w, v=v, u=u, kappa=kappa)
    lam_ = frac * (critical_point(p).lambda_c if T >= 3 else 2.0)
    p = p.with_(lam=lam_)
    Hn = numeric_branch(p)
    Hb = branch_kernel(p)
    scale = np.abs(Hn).max()
    assert np.abs(Hb - Hn).max() < 1e-10 * scale
    assert np.abs(gradient(p, Hb)).max() < 1e-10 * max(1.0, scale)
    br = symmetric_branch(T)
    sub = {symbolic.w: w, symbolic.v: v, symbolic.u: u, symbolic.kappa: kappa, symbolic.lam: lam_}
    sub.update({h: Hn[t, t] for t, h in enumerate(br.h)})
    for eq in br.equations:
        assert abs(float(eq.subs(sub))) < 1e-10


def test_branch_folds_at_small_load():
    """lambda(r) is not monotone for small loads: several branch ratios for one lambda."""
    p = tasks.endpoint("rnn", T=4, kappa=50.0, lam=17.35)
    rs = branch_ratios(p)
    assert len(rs) == 3
    for rv in rs:
        assert np.abs(gradient(p, branch_kernel(p, ratio=rv))).max() < 1e-9


# --- Hessian blocks ---------------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T", [3, 4, 5])
def test_hessian_blocks_match_core_hessian(arch, T, rng):
    """The block Hessian reproduces the core's second variation along random directions."""
    p = tasks.endpoint(arch, T=T, kappa=0.3, w=0.9, v=1.2, u=0.8, lam=0.7)
    D = branch_kernel(p)
    d = np.sqrt(np.diag(D))
    rv = D[0, 0] / p.u
    xv = p.v * D[-1, -1] / p.kappa
    hb = hessian_blocks(T, arch)
    Hess = hessian(p, D)
    for _ in range(3):
        E = rng.normal(size=(T, T))
        E = E + E.T
        e = E / np.outer(d, d)
        q_blocks = 0.0
        for k, B in hb.blocks.items():
            c = np.array([e[i, i + k] for i in range(T - k)])
            Bn = np.array(B.subs({r: rv, x: xv}).evalf(), dtype=float)
            q_blocks += c @ Bn @ c
        q_core = to_vector(E) @ Hess @ to_vector(E)
        assert q_blocks == pytest.approx(q_core, rel=1e-9)


def test_dnn_blocks_never_go_singular():
    hb = hessian_blocks(5, "dnn")
    for k in hb.odd + tuple(k for k in hb.even if k > 0):
        assert not sp.solve(sp.numer(hb.determinants[k]), r)


def test_lag0_determinant_is_the_fold_of_lambda():
    """det(lag-0 block) = 0 exactly where d lambda / d r = 0 (the branch's fold)."""
    for T in (3, 4, 5):
        br = symmetric_branch(T)
        dlam2 = sp.diff(br.lam_squared, r)
        ratio = sp.simplify(hessian_blocks(T).determinants[0].subs(x, br.load) / dlam2)
        assert ratio.free_symbols <= {r, symbolic.kappa, symbolic.u, symbolic.v, symbolic.w}
        num = sp.numer(sp.factor(ratio))
        assert not sp.solve(num, r) or all(s <= 0 for s in sp.solve(num, r) if s.is_real)


# --- critical point ----------------------------------------------------------------
@pytest.mark.parametrize("T,w,v,u,kappa", [(3, 1, 1, 1, 0.1), (4, 1, 1, 1, 0.1), (4, 0.8, 1.3, 0.7, 0.25),
                                           (5, 1.2, 0.6, 1.5, 0.05), (6, 1, 1, 1, 0.1)])
def test_lambda_c_matches_bisection_on_core_hessian(T, w, v, u, kappa):
    p = tasks.endpoint("rnn", T=T, w=w, v=v, u=u, kappa=kappa)
    cp = critical_point(p)
    lc = lambda_c_by_bisection(p, 0.8 * cp.lambda_c, 1.2 * cp.lambda_c)
    assert cp.lambda_c == pytest.approx(lc, rel=1e-8)
    H = numeric_branch(p.with_(lam=cp.lambda_c))
    np.testing.assert_allclose(np.diag(H)[1:] / np.diag(H)[:-1], cp.rho_c, rtol=1e-9)
    np.testing.assert_allclose(H, cp.kernel_c, rtol=1e-9, atol=1e-12)


@settings(max_examples=5, deadline=None)
@given(w=st.floats(0.6, 1.4), v=st.floats(0.5, 2.0), u=st.floats(0.5, 2.0), kappa=st.floats(0.02, 2.0))
def test_lambda_c_random_hyperparameters(w, v, u, kappa):
    p = tasks.endpoint("rnn", T=4, w=w, v=v, u=u, kappa=kappa)
    cp = critical_point(p)
    assert min_odd_eigenvalue(p.with_(lam=cp.lambda_c * (1 - 1e-6))) > 0
    assert min_odd_eigenvalue(p.with_(lam=cp.lambda_c * (1 + 1e-6))) < 0


def test_lambda_c_for_two_patterns():
    """P = 2 (labels +1, -1): the label sector is the P = 1 chain with lambda -> sqrt(2) lambda."""
    p = tasks.endpoint("rnn", T=4, P=2)
    cp = critical_point(p)
    assert cp.lambda_c == pytest.approx(critical_point(tasks.endpoint("rnn", T=4)).lambda_c / math.sqrt(2))
    assert cp.lambda_c == pytest.approx(lambda_c_by_bisection(p, 0.9 * cp.lambda_c, 1.1 * cp.lambda_c), rel=1e-8)


def test_general_T_pattern_matches_each_derivation():
    g = general_critical_point()
    Ts = g["T"]
    for T in (3, 4, 5, 6, 7):
        assert critical_ratio(T) == g["r_c"].subs(Ts, T)
        L = landau_coefficients(T, True)
        assert sp.simplify(L.b_e - g["b_e_critical"].subs(Ts, T)) == 0
        if T <= 5:                                 # the whole-branch expansion is the slow part
            assert sp.simplify(landau_coefficients(T).a_e - g["a_e"].subs(Ts, T)) == 0
        lc = symmetric_branch(T).lam_of_r.subs(r, critical_ratio(T))
        assert sp.simplify(lc - g["lambda_c"].subs(Ts, T)) == 0


def test_no_critical_point_for_T2_and_dnn():
    with pytest.raises(ValueError, match="T=2"):
        critical_point(tasks.endpoint("rnn", T=2))
    with pytest.raises(ValueError, match="arch"):
        critical_point(tasks.endpoint("dnn", T=4))
    with pytest.raises(ValueError, match="endpoint"):
        critical_point(tasks.sinusoid("rnn", T=4))


# --- Landau theory and the order of the transition --------------------------------
def constrained_action(p, m_value, H0):
    """min S over every entry but m = H^{T-1,T-2} (core action, BFGS)."""
    T = p.T
    idx = [(i, j) for i in range(T) for j in range(i, T) if (i, j) != (T - 2, T - 1)]

    def build(z):
        H = np.zeros((T, T))
        for k, (i, j) in enumerate(idx):
            H[i, j] = H[j, i] = z[k]
        H[T - 2, T - 1] = H[T - 1, T - 2] = m_value
        return H

    def f(z):
        H = build(z)
        try:
            G = gradient(p, H)
        except ValueError:
            return 1e10, np.zeros(len(z))
        return action(p, H), np.array([G[i, j] * (1 if i == j else 2) for i, j in idx])

    res = minimize(f, np.array([H0[i, j] for i, j in idx]), jac=True, method="BFGS", options={"gtol": 1e-12})
    return res.fun


@pytest.mark.parametrize("T,kappa", [(3, 0.1), (4, 0.1), (5, 0.1), (4, 2.0)])
def test_quartic_coefficient_matches_constrained_minimisation(T, kappa):
    """b is what the core's action gives at fixed m, every other entry (odd and even) minimised out."""
    p = tasks.endpoint("rnn", T=T, kappa=kappa)
    cp = critical_point(p)
    pc = p.with_(lam=cp.lambda_c)
    S0 = action(pc, cp.kernel_c)
    mm = 0.02 * math.sqrt(cp.kernel_c[-1, -1] * cp.kernel_c[-2, -2])
    b_num = (constrained_action(pc, mm, cp.kernel_c) - S0) / mm ** 4
    assert b_num == pytest.approx(cp.landau["b"], rel=2e-2)


def test_landau_derivatives_match_constrained_minimisation():
    """a, b and their lambda-derivatives: fit S_eff(m) = S0 + a m^2 + b m^4 + c m^6 (core action) at three lambdas."""
    p = tasks.endpoint("rnn", T=4)
    cp = critical_point(p)

    def fit(L):
        q = p.with_(lam=L)
        H0 = branch_kernel(q)
        S0 = action(q, H0)
        ms = np.array([0.05, 0.1, 0.15, 0.2])
        y = np.array([(constrained_action(q, mm, H0) - S0) / mm ** 2 for mm in ms])
        return np.linalg.lstsq(np.vstack([np.ones_like(ms), ms ** 2, ms ** 4]).T, y, rcond=None)[0]

    d = 0.01 * cp.lambda_c
    lo, mid, hi = fit(cp.lambda_c - d), fit(cp.lambda_c), fit(cp.lambda_c + d)
    assert abs(mid[0]) < 1e-9
    assert mid[1] == pytest.approx(cp.landau["b"], rel=1e-3)
    assert (hi[0] - lo[0]) / (2 * d) == pytest.approx(cp.landau["da_dlambda"], rel=1e-3)
    assert (hi[1] - lo[1]) / (2 * d) == pytest.approx(cp.landau["db_dlambda"], rel=1e-2)


def test_second_order_transition_T4():
    """Default T = 4: m = 0 just below lambda_c, m ~ A sqrt(lambda - lambda_c) just above, one minimum."""
    p = tasks.endpoint("rnn", T=4)
    cp = critical_point(p)
    assert cp.order == "second order" and cp.beta == 0.5
    below = saddle_point(p.with_(lam=cp.lambda_c * (1 - 1e-3)))
    assert below.order_parameter < 1e-6 and len(below.minima) == 1
    above = saddle_point(p.with_(lam=cp.lambda_c + 1e-4), n_starts=4)
    assert above.order_parameter / 1e-2 == pytest.approx(cp.amplitude, rel=2e-2)


@settings(max_examples=3, deadline=None)
@given(T=st.sampled_from([3, 4]), w=st.floats(0.8, 1.2), v=st.floats(0.7, 1.5), u=st.floats(0.7, 1.5),
       kappa=st.floats(0.02, 0.5))
def test_beta_one_half_where_b_positive(T, w, v, u, kappa):
    """b > 0 at lambda_c: the numerical m grows like (lambda - lambda_c)^(1/2) with the predicted amplitude."""
    p = tasks.endpoint("rnn", T=T, w=w, v=v, u=u, kappa=kappa)
    cp = critical_point(p)
    assert cp.landau["b"] > 0 and cp.order == "second order" and cp.beta == 0.5
    d1, d2 = 1e-5 * cp.lambda_c, 1e-4 * cp.lambda_c
    m1, m2 = (saddle_point(p.with_(lam=cp.lambda_c + d)).order_parameter for d in (d1, d2))
    assert np.log(m2 / m1) / np.log(d2 / d1) == pytest.approx(0.5, abs=0.01)
    assert m1 / np.sqrt(d1) == pytest.approx(cp.amplitude, rel=1e-2)


def test_amplitude_for_two_patterns():
    """P = 2: m = c/P of the label-sector chain, so A scales as |yhat|^(1/2) / P."""
    p = tasks.endpoint("rnn", T=4, P=2)
    cp = critical_point(p)
    m = saddle_point(p.with_(lam=cp.lambda_c + 1e-4)).order_parameter
    assert m / 1e-2 == pytest.approx(cp.amplitude, rel=1e-2)


@pytest.mark.parametrize("T,kappa", [(5, 0.1), (4, 10.0)])
def test_first_order_transition_shows_coexisting_minima(T, kappa):
    """b < 0: just below lambda_c a broken minimum coexists with the symmetric one; m jumps."""
    p = tasks.endpoint("rnn", T=T, kappa=kappa)
    cp = critical_point(p)
    assert cp.order == "first order" and cp.beta is None and cp.landau["b"] < 0
    sp_ = saddle_point(p.with_(lam=cp.lambda_c * (1 - 1e-3)), n_starts=8)
    ms = sorted(mn.order_parameter for mn in sp_.minima)
    assert ms[0] < 1e-6 and ms[-1] > 0.1
    above = saddle_point(p.with_(lam=cp.lambda_c * (1 + 1e-4)), n_starts=8)
    assert above.order_parameter > 0.1


def test_tricritical_loads():
    """b(x) changes sign at x* = T / (-2T^2 + 11T - 8) for T = 3, 4 only."""
    assert tricritical_load(3) == [sp.Rational(3, 7)]
    assert tricritical_load(4) == [1]
    assert tricritical_load(5) == [] and tricritical_load(6) == []
    p = tasks.endpoint("rnn", T=4, kappa=5.0625 * (1 + 1e-12))
    assert critical_point(p).order == "tricritical"


def test_tricritical_exponent_is_one_quarter():
    """At kappa* (T = 4: x* = 1, kappa* = v u w^3 (3/2)^4) b = 0, c > 0 and m ~ A (lambda - lambda_c)^(1/4)."""
    p = tasks.endpoint("rnn", T=4, kappa=81 / 16)
    cp = critical_point(p)
    assert cp.order == "tricritical" and cp.beta is None
    assert cp.tricritical["beta"] == [0.25] and cp.tricritical["c"][0] > 0
    m1, m2 = (saddle_point(p.with_(lam=cp.lambda_c + d)).order_parameter for d in (1e-5, 1e-4))
    assert np.log(m2 / m1) / np.log(10) == pytest.approx(0.25, abs=0.01)
    assert m1 / 1e-5 ** 0.25 == pytest.approx(cp.tricritical["amplitude"][0], rel=1e-2)


def test_folded_branch_is_first_order():
    """Large kappa (x_c < 1/(2T-1)): lambda(r) folds before r_c and a broken minimum wins before lambda_c."""
    p = tasks.endpoint("rnn", T=4, kappa=50.0)
    cp = critical_point(p)
    assert not cp.branch_stable and cp.order == "first order"
    assert cp.load_c < cp.tricritical["fold_load"]
    sp_ = saddle_point(p.with_(lam=0.95 * cp.lambda_c), n_starts=8)
    assert sp_.order_parameter > 1.0


def test_critical_mode_is_linear_in_t():
    for T in (3, 4, 5, 6):
        V = landau_coefficients(T, True).mode
        assert [V[i, i + 1] for i in range(T - 1)] == [sp.Rational(i + 1, T - 1) for i in range(T - 1)]


# --- CLI ----------------------------------------------------------------------------
def test_cli_critical_json(capsys):
    assert main(["critical", "--T", "4", "--kappa", "0.1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("lambda_c", "rho_c", "order", "beta", "amplitude", "landau", "latex"):
        assert k in d
    assert set(d["landau"]) >= {"a", "b", "da_dlambda", "db_dlambda"}
    assert d["lambda_c"] == pytest.approx((81 / 16 + 0.1) / math.sqrt(2 * 81 / 16))
    assert main(["critical", "--T", "2"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("T", [3, 4, 5, 6])
@pytest.mark.parametrize("w,v,u", [(1, 1, 1), (0.8, 1.5, 0.7)])
def test_order_map_against_direct_numerics(T, w, v, u):
    """Every predicted order checked by saddle_point: coexisting minima below lambda_c iff first order."""
    from linkernel.symbolic.critical import order_map
    for row in order_map((T,), (0.03, 0.3, 3.0, 12.0, 60.0), w, v, u):
        x_star = [float(s) for s in tricritical_load(T)]
        if any(abs(row["load_c"] / s - 1) < 0.2 for s in x_star):
            continue                                          # too close to b = 0 for a clean jump
        p = tasks.endpoint("rnn", T=T, w=w, v=v, u=u, kappa=row["kappa"])
        if not row["branch_stable"]:                          # the symmetric state ends at the fold: a jump
            below = saddle_point(p.with_(lam=row["lambda_fold"] * (1 - 2e-3)), n_starts=10)
            above = saddle_point(p.with_(lam=row["lambda_fold"] * (1 + 2e-3)), n_starts=10)
            assert min(mn.order_parameter for mn in below.minima) < 1e-6, row
            assert above.order_parameter > 1.0, row             # the global minimum has jumped
            continue
        below = saddle_point(p.with_(lam=row["lambda_c"] * (1 - 2e-3)), n_starts=10)
        coexist = max(mn.order_parameter for mn in below.minima) > 1e-3
        assert coexist == (row["order"] == "first order"), row

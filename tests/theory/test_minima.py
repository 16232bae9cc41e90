"""Every minimum, and only minima: the symmetric-sector search, ill-conditioned problems, extreme parameters."""

import json
import pathlib
import warnings

import numpy as np
import pytest
from mpmath import mp

from linkernel.errors import ConvergenceError, SaddleWarning
from linkernel import Problem, tasks
from linkernel.theory import highprec as hp
from linkernel.theory.action import Pieces, prior_kernel
from linkernel.theory.hessian import whitened_dense
from linkernel.theory.minimize import minimize_action
from linkernel.theory.saddle import saddle_point

DATA = pathlib.Path(__file__).parent.parent / "data" / "ill_conditioned.json"


def _ill(k):
    """Problem k of tests/data/ill_conditioned.json (its keys are Problem's own arguments, plus a name)."""
    q = dict(json.loads(DATA.read_text())["problems"][k])
    return Problem(**q)


def _checked_minimum(p, H):
    """Whitened residual and smallest whitened Hessian eigenvalue at H (congruent to the Hessian: same inertia)."""
    pc = Pieces(p, H)
    g = pc.LH.T @ pc.gradient() @ pc.LH
    return float(np.linalg.norm(g)), float(np.linalg.eigvalsh(whitened_dense(p, pc))[0])


def test_the_metastable_even_lag_minimum_is_found_by_default():
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5, kappa=0.1)
    r = saddle_point(p)
    actions = [m.action for m in r.minima]
    assert actions[0] == pytest.approx(0.540260495473, abs=1e-10)
    meta = [m for m in r.minima if abs(m.action - 0.684878289898) < 1e-9]
    assert len(meta) == 1
    H = meta[0].kernel
    lag_odd = np.outer(p.parity_signs, p.parity_signs) < 0
    assert np.abs(H[lag_odd]).max() < 1e-9            # correlations at even lags only
    assert np.abs(H[~lag_odd & ~p.time_mask.astype(bool)]).max() > 1e-2   # and some of them nonzero
    for m in r.minima:   # each one a checked minimum
        gw, ev = _checked_minimum(p, m.kernel)
        assert gw < 1e-10 and ev > 0 and m.is_minimum and m.converged


def test_minimum_found_from_the_symmetric_start_alone():
    # one start: the prior kernel and the tree of saddles below it, no random starts
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5, kappa=0.1)
    r = saddle_point(p, n_starts=1)
    assert sorted(round(m.action, 9) for m in r.minima) == [0.540260495, 0.68487829]


@pytest.mark.parametrize("k", [0, 1])
def test_ill_conditioned_minimum_is_polished_and_checked(k):
    p = _ill(k)
    r = saddle_point(p)
    assert r.converged and r.minima[0].is_minimum and r.precision == "mpmath 50 digits"
    assert r.grad_norm < 1e-30              # the 50-digit kernel's residual
    with mp.workdps(50):   # the returned kernel, rounded to doubles, evaluated afresh at 50 digits
        G = hp.gradient(p, r.kernel)
        assert max(abs(G[i, j]) for i in range(p.n) for j in range(p.n)) < 1e-4
    gw, ev = _checked_minimum(p, r.kernel)
    assert ev > 0                           # positive definite (whitened: same inertia, well conditioned)
    # float64 alone (no polish) from the prior kernel lands within 1e-8 of a polished minimum of the result
    # (for ill_conditioned_6 not the global one: that lies on another branch, found by the lambda-probe)
    sol = minimize_action(p, prior_kernel(p))
    assert min(np.linalg.norm(sol.kernel - m.kernel) / np.linalg.norm(m.kernel) for m in r.minima) < 1e-8


def test_ill_conditioned_6_global_minimum_is_found_by_default():
    """Issue 26: the prior's descent ends at S = 4.62065645424 (a genuine minimum); the global one,
    S = 4.5586830551 (50-digit Newton), lies on a branch born in a fold between 0.8 and 0.9 lambda, 65
    whitened units away; the lambda-probe (descend at 2 lambda, follow back) finds it."""
    p = _ill(0)
    r = saddle_point(p)
    assert r.action == pytest.approx(4.5586830551, abs=1e-9)
    assert r.status == "minimum" and r.certificate.lowest > r.certificate.error
    assert "lambda-probe" in r.minima[0].origin
    assert any(abs(m.action - 4.62065645424) < 1e-9 for m in r.minima[1:])
    with mp.workdps(50):       # a stationary point at 50 digits, positive definite Hessian
        x = hp.to_vector(hp.as_matrix(r.kernel))
        for _ in range(3):
            F, J, _ = hp.equations(p, x, hp.dec(p.lam))
            x = x + mp.lu_solve(J, -F)
        F, J, _ = hp.equations(p, x, hp.dec(p.lam))
        assert max(abs(f) for f in F) < mp.mpf(10) ** -30
        mp.cholesky(J)
        assert abs(float(hp.action(p, hp.from_vector(x, p.n))) - 4.5586830551) < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("k", [0, 1, 2])
def test_ill_conditioned_minimum_matches_50_digit_newton(k):
    p = _ill(k)
    r = saddle_point(p)
    assert r.converged and r.minima[0].is_minimum
    # reference: mpmath Newton with the full 50-digit Hessian (not the refinement saddle_point uses)
    with mp.workdps(50):
        x = hp.to_vector(hp.as_matrix(r.kernel))
        for _ in range(3):
            F, J, _ = hp.equations(p, x, hp.dec(p.lam))
            x = x + mp.lu_solve(J, -F)
        F, J, _ = hp.equations(p, x, hp.dec(p.lam))
        assert max(abs(f) for f in F) < mp.mpf(10) ** -30
        mp.cholesky(J)                       # positive definite at 50 digits (raises otherwise)
        ref = hp.to_numpy(hp.from_vector(x, p.n))
    assert np.linalg.norm(r.kernel - ref) < 1e-8 * np.linalg.norm(ref)
    sol = minimize_action(p, prior_kernel(p))   # float64 alone reaches a minimum of the result (module note)
    assert min(np.linalg.norm(sol.kernel - m.kernel) / np.linalg.norm(m.kernel) for m in r.minima) < 1e-8
    ev = np.linalg.eigvalsh(hp.to_numpy(J))
    assert ev[-1] / ev[0] > 1e9              # the Hessian condition that defeats a float64 residual test


def test_polish_refuses_a_saddle():
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    H = minimize_action(p, prior_kernel(p)).kernel      # the symmetric saddle (descent stays on its set)
    with pytest.raises(ConvergenceError, match="not a minimum"):
        hp.polish_minimum(p, H, dps=30)


def test_polish_of_a_well_conditioned_minimum_keeps_it():
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    r = saddle_point(p)
    pm = hp.polish_minimum(p, r.kernel, dps=40)
    assert pm.residual < mp.mpf(10) ** -30 and pm.whitened_min_eigenvalue > 0
    np.testing.assert_allclose(pm.kernel_float, r.kernel, rtol=1e-12, atol=1e-12)
    assert float(pm.action) == pytest.approx(r.action, rel=1e-13)


# T = 20, w = 10: the minimum is (within 1e-19) the prior kernel, H_tt = 10^t up to 1e19, so the Hessian in
# Frobenius coordinates spans 1e-40..1 and LAPACK returned its smallest eigenvalue as -2.5e-18, rounding noise
# (eps |F| = 2e-16).  The certificate (the pencil (Hessian, prior metric), eigenvalue 1 here) and the reported
# spectrum's low end (from F^-1, curvature._graded_spectrum) both resolve it (issue 26).
@pytest.mark.parametrize("kw", [dict(lam=1e6), dict(T=20, w=10.0),
                                pytest.param(dict(T=50, w=10.0), marks=pytest.mark.slow)])
def test_extreme_parameters_give_checked_minima(kw):
    p = tasks.endpoint("rnn", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SaddleWarning)
        r = saddle_point(p, n_starts=1)
    for m in r.minima:
        assert m.is_minimum and m.converged
        pc = Pieces(p, m.kernel)
        assert np.linalg.norm(pc.LH.T @ pc.gradient() @ pc.LH) < 1e-9
    assert r.hessian_eigenvalues[0] > 0

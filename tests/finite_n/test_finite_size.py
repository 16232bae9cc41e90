"""Finite-size scaling helpers: lambda_c, Landau coefficients, the scaling function, the fit.

Each quantity is checked against a computation by another route (the global
minimiser of S, asymptotics of the scaling function, the exact posterior).
"""

import math

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import action
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.finite_size import (QUARTIC_MEAN_ABS, landau_quadratic, landau_quartic, power_law_fit, scaling_function)
from linkernel.theory.special_points import critical_lambda, odd_hessian_minimum, symmetric_saddle
from linkernel.theory.saddle import saddle_point


@pytest.fixture(scope="module")
def crit():
    p = tasks.endpoint("rnn", T=4, kappa=0.1)
    lc = critical_lambda(p, bracket=(1.5, 1.7))
    b, _ = landau_quartic(p.with_(lam=lc))
    return p, lc, b


def test_critical_lambda_is_where_the_saddle_point_breaks_z2(crit):
    p, lc, b = crit
    assert 1.5 < lc < 1.7
    assert abs(odd_hessian_minimum(p.with_(lam=lc))) < 1e-14
    # the global minimiser of S: m = 0 just below, m^2 ~ (lam - lam_c) above; a quadratic through
    # m^2 at lam_c + (1, 2, 3) 2e-4 vanishes at lam_c (independent of the Hessian)
    assert saddle_point(p.with_(lam=lc - 1e-3), n_starts=3).order_parameter < 1e-8
    lams = lc + 2e-4 * np.arange(1, 4)
    m2 = [saddle_point(p.with_(lam=v), n_starts=3).order_parameter ** 2 for v in lams]
    roots = np.roots(np.polyfit(lams - lc, m2, 2)).real
    assert np.min(np.abs(roots)) < 1e-8
    # without a bracket the scan finds the same point
    assert critical_lambda(p) == pytest.approx(lc, abs=1e-11)


def test_landau_quartic_matches_action_drop_of_the_broken_minimum(crit):
    p, lc, b = crit
    assert b > 0  # second order at T = 4, kappa = 0.1
    q = p.with_(lam=lc + 1e-4)
    sp = saddle_point(q)
    # S_sym - S_min = b m^4 at the broken minimum (to O(lam - lam_c))
    drop = action(q, symmetric_saddle(q)) - sp.action
    assert drop / sp.order_parameter ** 4 == pytest.approx(b, rel=5e-3)


def test_scaling_function_limits(crit):
    p, lc, b = crit
    alpha = landau_quadratic(p, lc, b)
    assert alpha > 0
    assert scaling_function(0.0, alpha, b)[0] == pytest.approx(QUARTIC_MEAN_ABS * b ** -0.25, rel=1e-9)
    # deep in the symmetric phase: Gaussian of variance 1/(2 alpha |x|): E|u| -> 1/sqrt(pi alpha |x|)
    x = -2e4
    assert scaling_function(x, alpha, b)[0] == pytest.approx(1 / math.sqrt(math.pi * alpha * abs(x)), rel=1e-2)
    # deep in the broken phase: u -> sqrt(alpha x / 2b)
    x = 2e4
    assert scaling_function(x, alpha, b)[0] == pytest.approx(math.sqrt(alpha * x / (2 * b)), rel=1e-2)


def test_exact_posterior_at_lambda_c_follows_landau_at_large_N(crit):
    p, lc, b = crit
    N = 10 ** 7
    r = exact_posterior(p.with_(lam=lc), N, chains=4, samples=300, warmup=300, seed=11, progress=False)
    pred = QUARTIC_MEAN_ABS * (N * b) ** -0.25
    # corrections to the quartic law are O((N b)^-1/2) ~ 3e-2 here
    assert r.order_parameter == pytest.approx(pred, abs=4 * r.order_parameter_stderr + 0.03 * pred)


def test_power_law_fit_recovers_a_known_exponent():
    rng = np.random.default_rng(0)
    N = np.geomspace(1e2, 1e8, 7)
    y = 3.0 * N ** -0.25
    se = 0.01 * y
    ynoisy = y + se * rng.normal(size=y.shape)
    alpha, err, A, chi2 = power_law_fit(N, ynoisy, se)
    assert alpha == pytest.approx(-0.25, abs=4 * err)
    assert err == pytest.approx(0.01 / math.log(10) / np.std(np.log10(N)) / math.sqrt(7), rel=0.5)
    assert A == pytest.approx(3.0, rel=0.05)


def test_no_z2_problem_is_refused():
    with pytest.raises(ValueError, match="Z2"):
        critical_lambda(tasks.sinusoid("rnn", T=5))

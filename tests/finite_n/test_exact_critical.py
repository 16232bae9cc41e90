"""The sampler's sheared coordinates at a critical point (linkernel.finite_n.mcmc.ShearMap) against exact answers.

* the map is a bijection and its log-Jacobian and y-gradient match finite differences;
* fitted to exact draws of a quartic banana, its coordinates are uncorrelated with the square of the
  soft one (the curvature is taken out);
* HMC in those coordinates reproduces the exact moments of that banana (quartic marginal, curved
  conditional mean, widths 100 times apart), with no divergences;
* the exact reduction at lambda_c (where the shear is switched on) vs importance sampling of networks.
"""

import math

import numpy as np
import pytest
from scipy.special import gamma

from linkernel import tasks
from linkernel.finite_n.exact import exact_posterior, initial_metric
from linkernel.finite_n.reduction import Reduction
from linkernel.finite_n.diagnostics import ess_mean
from linkernel.finite_n.mcmc import ShearMap, hmc
from linkernel.theory.special_points import critical_lambda
from tests.references import importance_posterior

A, BETA, S1, S2 = 2500.0, 1.0, 0.01, 1.0     # p(theta) ~ exp(-A t0^4) N(t1; BETA (t0^2 - E t0^2), S1^2) N(t2; 0, S2^2)
M2 = A ** -0.5 * gamma(0.75) / gamma(0.25)     # E t0^2 = A^-1/2 Gamma(3/4)/Gamma(1/4)
M4 = A ** -1.0 * gamma(1.25) / gamma(0.25)     # E t0^4 = 1/(4A)


def banana_logp_grad(theta):
    t0, t1, t2 = theta[..., 0], theta[..., 1], theta[..., 2]
    r = (t1 - BETA * (t0 ** 2 - M2)) / S1
    lp = -A * t0 ** 4 - 0.5 * r ** 2 - 0.5 * (t2 / S2) ** 2
    g = np.stack([-4 * A * t0 ** 3 + r / S1 * 2 * BETA * t0, -r / S1, -t2 / S2 ** 2], axis=-1)
    return lp, g


def banana_draws(n, rng):
    """Exact draws: |t0| = (G / A)^(1/4) with G ~ Gamma(1/4), a random sign; t1, t2 Gaussian given t0."""
    t0 = rng.choice([-1.0, 1.0], n) * (rng.gamma(0.25, size=n) / A) ** 0.25
    t1 = BETA * (t0 ** 2 - M2) + S1 * rng.normal(size=n)
    return np.stack([t0, t1, S2 * rng.normal(size=n)], axis=-1)


def _random_map(rng, d=4):
    B = rng.normal(size=(d, d)) + 2 * np.eye(d)
    M = np.tril(0.3 * rng.normal(size=(d, d))) + np.eye(d)
    b = np.concatenate([[0.0], rng.normal(size=d - 1)])
    return ShearMap(rng.normal(size=d), B, M, b, c=0.8, rho=0.7, sigma=1.3)


def test_shear_map_is_a_bijection_with_its_jacobian(rng):
    tr = _random_map(rng)
    y = rng.normal(size=(5, 4)) * 1.5
    np.testing.assert_allclose(tr.to_y(tr.from_y(y)), y, atol=1e-11)
    eps = 1e-6
    for yk in y:
        J = np.array([(tr.from_y(yk + eps * e) - tr.from_y(yk - eps * e)) / (2 * eps) for e in np.eye(4)]).T
        assert tr.log_abs_det_jacobian(yk) == pytest.approx(np.linalg.slogdet(J)[1], abs=1e-7)
    # the gradient of the density the sampler moves on: log p(theta(y)) + log-Jacobian
    P = np.array([[2.0, 0.3, 0, 0], [0.3, 1.0, 0.2, 0], [0, 0.2, 1.5, 0.1], [0, 0, 0.1, 0.7]])

    def f(yy):
        th = tr.from_y(yy)
        return -0.5 * np.einsum("...i,ij,...j->...", th, P, th) + tr.log_jacobian(yy)

    g = tr.grad_y(y, -tr.from_y(y) @ P)
    fd = np.array([(f(y + eps * e) - f(y - eps * e)) / (2 * eps) for e in np.eye(4)]).T
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_fitted_shear_uncorrelates_the_square_of_the_soft_coordinate(rng):
    x = banana_draws(20000, rng)
    chol = np.linalg.cholesky(np.cov(x.T))
    corr = lambda a, b: abs(np.corrcoef(a, b)[0, 1])   # noqa: E731
    assert corr(x[:, 0] ** 2, x[:, 1]) > 0.4                  # a banana in theta
    tr = ShearMap.fit(x.reshape(5000, 4, 3), chol, np.array([1.0, 0.0, 0.0]))
    y = tr.to_y(x)
    assert np.all([corr(y[:, 0] ** 2, y[:, j]) < 0.03 for j in (1, 2)])
    assert math.isfinite(tr.rho)                              # quartic tails: the tail map is on
    kurt = np.mean((y[:, 0] - y[:, 0].mean()) ** 4) / np.var(y[:, 0]) ** 2
    assert abs(kurt - 3.0) < 0.15 and abs(np.std(y[:, 0]) - 1.0) < 0.02


def test_hmc_in_sheared_coordinates_matches_the_exact_banana_moments():
    chol = np.diag([0.3, 0.01, 1.0])                          # the soft scale 3x too wide, as Laplace at lambda_c
    init = np.random.default_rng(1).normal(size=(4, 3)) @ (0.5 * chol).T
    ch = hmc(banana_logp_grad, init, chol, n_samples=1000, n_warmup=600, seed=2, progress=False,
             target_accept=0.9, soft_direction=np.array([1.0, 0.0, 0.0]))
    assert ch.divergences == 0
    assert np.linalg.norm(ch.transform.b) > 0.3 and math.isfinite(ch.transform.rho)
    t = ch.theta
    exact = {"t0^2": (t[..., 0] ** 2, M2), "t1": (t[..., 1], 0.0),
             "t1^2": (t[..., 1] ** 2, S1 ** 2 + BETA ** 2 * (M4 - M2 ** 2)), "t2^2": (t[..., 2] ** 2, S2 ** 2)}
    for name, (x, value) in exact.items():
        se = np.std(x) / math.sqrt(float(ess_mean(x)))
        assert abs(x.mean() - value) < 4.5 * se, (name, x.mean(), value, se)


def test_exact_posterior_at_lambda_c_matches_importance_sampling_of_networks():
    """N = 8 at lambda_c, T = 4 (the soft direction is detected there and the shear is used)."""
    p = tasks.endpoint("rnn", T=4)
    p = p.with_(lam=critical_lambda(p))
    N = 8
    red = Reduction(p, N)
    theta0, _ = red.mode(seed=1)
    assert initial_metric(red, theta0, red.neg_hessian(theta0))[1] is not None
    ref, ref_se, _ = importance_posterior(p, N, 200000, seed=3)
    r = exact_posterior(p, N, chains=4, samples=1000, warmup=500, seed=4, progress=False)
    assert r.max_rhat < 1.02 and r.divergences == 0
    z = (r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2)
    assert np.max(np.abs(z)) < 4.5, (np.max(np.abs(z)), r.kernel, ref)


@pytest.mark.slow
def test_sheared_and_plain_samplers_agree_at_lambda_c_large_N():
    """N = 2^20 at lambda_c: the sheared coordinates vs the plain dense metric (a long run), kernel and m."""
    from linkernel.finite_n.draws import summarize_draws
    from linkernel.problem import fix_z2_sign
    p = tasks.endpoint("rnn", T=4)
    p = p.with_(lam=critical_lambda(p))
    red = Reduction(p, 2 ** 20)
    theta0, _ = red.mode(seed=1)
    Hs = red.neg_hessian(theta0)
    chol, soft = initial_metric(red, theta0, Hs)
    assert soft is not None
    init = theta0 + np.random.default_rng(2).normal(size=(4, red.dim)) @ chol.T
    stats = []
    for s, direction in ((3, soft), (4, None)):
        ch = hmc(red.log_posterior_and_grad, init, chol, n_samples=3000, n_warmup=1000, seed=s, progress=False,
                 target_accept=0.9, soft_direction=direction)
        stats.append(summarize_draws(p, fix_z2_sign(p, red.kernel(ch.theta))))
        if direction is not None:
            assert ch.divergences == 0
    (a, b) = stats
    z = (a["kernel"] - b["kernel"]) / np.sqrt(a["stderr"] ** 2 + b["stderr"] ** 2 + 1e-300)
    assert np.max(np.abs(z)) < 4.5, z
    assert abs(a["m"][0] - b["m"][0]) < 4.5 * math.hypot(a["m"][1], b["m"][1])

"""The exact finite-N reduction against independent computations.

* gradient vs finite differences; the N -> infinity limit vs the action S(H)
  (pointwise) and vs the core's saddle point (1e-6);
* the reduced prior vs Gaussian weight matrices sampled directly (N = 8);
* the HMC posterior vs importance sampling of the full network (N = 8, RNN
  and DNN, below and above the transition), and vs one-dimensional quadrature
  over the chi-square product (P = 1 DNN);
* the MCMC diagnostics on processes with known answers.
"""

import json
import math

import numpy as np
import pytest
from scipy.special import gammaln

from linkernel import tasks
from linkernel.architecture import (Architecture, dnn_with_tied_pair, redrawn_every,
                                    shared_w_untied_u)
from linkernel.theory.action import action
from linkernel.cli import main
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.reduction import Reduction, limit_kernel
from linkernel.finite_n import diagnostics as dg
from linkernel.finite_n.mcmc import hmc
from linkernel.problem import Problem, fix_z2_sign
from linkernel.theory.saddle import saddle_point
from tests.references import importance_posterior, moment_z, simulate_kernels


def ess(x) -> float:
    """ESS of one quantity's draws (chains, draws): the package's one estimator."""
    return float(dg.ess_mean(x))


def rhat(x) -> float:
    return float(dg.rhat(x))


def mcse(x) -> float:
    return float(dg.mcse(x))


def _problems():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 2, 3))
    return [
        tasks.endpoint("rnn", T=4, lam=1.3),
        tasks.endpoint("dnn", T=4, lam=1.3),
        tasks.endpoint("rnn", T=3, P=2, lam=1.1, w=0.8),
        tasks.endpoint("dnn", T=3, P=2, lam=1.1, u=1.3, w=0.7),
        tasks.sinusoid("rnn", T=4, supervised=[1, 3]),
        # inputs at every time, two patterns, an unusual supervised set: the block (redundant) RNN case
        Problem("rnn", 3, x, ((2, 0), (1, 1)), rng.normal(size=(3, 2)), lam=1.0),
        Problem("dnn", 3, x, ((2, 0), (1, 1)), rng.normal(size=(3, 2)), lam=1.0),
    ]


def _pattern_problems():
    """Weight-sharing patterns between the RNN and the DNN (linkernel.architecture), each exercising another block kind."""
    rng = np.random.default_rng(11)
    x5 = rng.normal(size=(5, 2, 3))
    return {
        "tied 123|45": tasks.endpoint(Architecture(6, W=[[1, 2, 3], [4, 5]], U=[list(range(6))]), T=6, lam=1.3),
        "tied 123|45 P=2": tasks.endpoint(Architecture(6, W=[[1, 2, 3], [4, 5]], U=[list(range(6))]), T=6, P=2,
                                          lam=1.3),
        "shared W untied U, inputs everywhere": Problem(shared_w_untied_u(5), 5, x5, ((4, 0), (3, 1)),
                                                        rng.normal(size=(5, 2)), lam=1.0),
        "tied pair 2,4": tasks.endpoint(dnn_with_tied_pair(5, 2, 4), T=5, P=2, lam=1.2),
        "tied pair 1,3": tasks.endpoint(dnn_with_tied_pair(5, 1, 3), T=5, lam=1.2),
        "redrawn every 2": tasks.endpoint(redrawn_every(6, 2), T=6, lam=1.2),
        "redrawn every 1": tasks.endpoint(redrawn_every(4, 1), T=4, lam=1.2),
        "group variances 125|3|4": tasks.endpoint(Architecture(6, W=[[1, 2, 5], [3], [4]], U=[list(range(6))],
                                                               w=[0.7, None, 1.3]), T=6, lam=1.2),
        "mixed U groups": Problem(Architecture(5, W=[[1, 2, 4], [3]], U=[[0, 2], [1, 3], [4]]), 5, x5,
                                  ((4, 0), (2, 1)), rng.normal(size=(5, 2)), lam=1.0),
    }


PATTERNS = _pattern_problems()


def _assert_gradients_match_finite_differences(red, theta):
    """Analytic gradients of the finite-N log posterior and of its N -> infinity limit vs central differences."""
    lp, g = red.log_posterior_and_grad(theta)
    np.testing.assert_allclose(lp, red.log_posterior(theta), rtol=1e-13)
    eps = 1e-6
    fd = np.array([(red.log_posterior(theta + eps * e) - red.log_posterior(theta - eps * e)) / (2 * eps)
                   for e in np.eye(red.dim)]).T
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())
    _, glim = red.log_posterior_and_grad(theta, limit=True)
    fd = np.array([(red.limit_log_density(theta + eps * e) - red.limit_log_density(theta - eps * e)) / (2 * eps)
                   for e in np.eye(red.dim)]).T
    np.testing.assert_allclose(glim, fd, rtol=1e-6, atol=1e-7)


# --- the reduction itself ----------------------------------------------------------------
@pytest.mark.parametrize("k", range(7))
def test_gradient_matches_finite_differences(k, rng):
    red = Reduction(_problems()[k], 50)
    theta = 0.3 * rng.normal(size=(2, red.dim))
    _assert_gradients_match_finite_differences(red, theta)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 6])
def test_limit_is_minus_action_pointwise(k, rng):
    """(1/N) log p(theta) -> -S(H(theta)) + c at *every* point (K = TP: the map theta -> H is a bijection)."""
    p = _problems()[k]
    red = Reduction(p, 50)
    assert red.K == p.n
    for _ in range(4):
        theta = 0.4 * rng.normal(size=red.dim)
        assert red.limit_log_density(theta) - red.limit_constant == pytest.approx(-action(p, red.kernel(theta)),
                                                                                  abs=1e-12)


@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_gradient_and_limit(name, rng):
    """Every block kind (Krylov, projected, fresh maps, U groups, own variances): analytic gradient vs finite
    differences; where K = TP the N -> infinity limit is -S(H) pointwise, S the action of the pattern."""
    p = PATTERNS[name]
    red = Reduction(p, 60)
    theta = 0.3 * rng.normal(size=(2, red.dim))
    _assert_gradients_match_finite_differences(red, theta)
    if red.K == p.n:
        for th in 0.4 * rng.normal(size=(3, red.dim)):
            assert red.limit_log_density(th) - red.limit_constant == pytest.approx(-action(p, red.kernel(th)),
                                                                                   abs=1e-12)


def test_pattern_layouts():
    """The blocks drawn: the minimal TP directions wherever inputs enter at t = 0 only."""
    assert Reduction(PATTERNS["tied 123|45"], 8).K == 6
    lay = Reduction(PATTERNS["tied 123|45"], 8).layout
    assert [s.split(":")[1].split("(")[0].strip() for s in lay[1:]] == ["W group 0"] * 3 + ["W group 1"] * 2
    assert "Krylov" in lay[3] and "projected" in lay[4]
    for name in ("tied pair 2,4", "tied pair 1,3", "redrawn every 2", "redrawn every 1", "group variances 125|3|4"):
        assert Reduction(PATTERNS[name], 64).K == PATTERNS[name].n, name
    # untied U with inputs at every step: each U^(t) and each new direction of W (2T - 1) P
    assert Reduction(PATTERNS["shared W untied U, inputs everywhere"], 64).K == 9 * 2


def test_log_posterior_over_N_converges_to_limit(rng):
    p = tasks.endpoint("rnn", T=4, lam=2.0)
    theta = 0.3 * rng.normal(size=Reduction(p, 8).dim)
    theta0 = np.zeros_like(theta)
    diffs = []
    for N in (10 ** 3, 10 ** 4, 10 ** 5):
        red = Reduction(p, N)
        d = (red.log_posterior(theta) - red.log_posterior(theta0)) / N
        diffs.append(d - (red.limit_log_density(theta) - red.limit_log_density(theta0)))
    # corrections are O(1/N): each tenfold N shrinks them tenfold
    assert abs(diffs[1]) == pytest.approx(abs(diffs[0]) / 10, rel=1e-3)
    assert abs(diffs[2]) == pytest.approx(abs(diffs[0]) / 100, rel=1e-3)


@pytest.mark.parametrize("arch,lam,T,P", [("rnn", 3.2, 4, 1), ("rnn", 1.2, 4, 1), ("dnn", 3.2, 4, 1),
                                          ("rnn", 3.0, 3, 2), ("dnn", 2.5, 3, 2)])
def test_limit_maximum_is_the_saddle_point(arch, lam, T, P):
    p = tasks.endpoint(arch, T=T, P=P, lam=lam)
    H = limit_kernel(p)
    sp = saddle_point(p)
    np.testing.assert_allclose(H, sp.kernel, atol=1e-6 * np.abs(sp.kernel).max())


@pytest.mark.parametrize("p", [tasks.endpoint("rnn", T=4, lam=0.0), tasks.endpoint("dnn", T=3, P=2, lam=0.0),
                               PATTERNS["tied 123|45"], PATTERNS["tied pair 2,4"],
                               PATTERNS["group variances 125|3|4"], PATTERNS["mixed U groups"]],
                         ids=["rnn", "dnn-P2", "tied", "pair", "variances", "mixed-U"])
def test_reduced_prior_matches_gaussian_matrices(p):
    """E[H] and E[H (x) H] of the reduced prior vs explicit Gaussian weights at N = 8 (tests/references.py)."""
    N, n = max(8, Reduction(p, 10 ** 6).K), 40000          # N >= K, the reduction's number of directions
    red = Reduction(p, N)
    Hr = red.kernel(red.sample_prior(n, seed=1))
    Hd = simulate_kernels(p, N, n, np.random.default_rng(2))
    assert moment_z(Hr, Hd) < 5.0
    if p.arch.is_rnn:
        # exact finite-N moments (Wick): E H^{00} = u, E H^{11} = u w, E H^{22} = u w^2 (1 + 2/N^2),
        # E H^{20} = u w / N (from E tr W^2 = w); here u = w = 1
        for (i, j), exact in {(0, 0): 1.0, (1, 1): 1.0, (2, 2): 1 + 2 / N ** 2, (2, 0): 1 / N}.items():
            assert Hr[:, i, j].mean() == pytest.approx(exact, abs=5 * Hr[:, i, j].std() / math.sqrt(n))


# --- the sampler against independent posteriors ----------------------------------------------
@pytest.mark.parametrize("arch,lam", [("rnn", 0.0), ("rnn", 2.5), ("dnn", 1.5)])
def test_posterior_matches_importance_sampling_of_networks(arch, lam):
    """N = 8: HMC on the reduced variables vs importance-weighted explicit networks (v integrated out)."""
    p = tasks.endpoint(arch, T=4, lam=lam)
    N = 8
    ref, ref_se, _ = importance_posterior(p, N, 200000, seed=3)
    r = exact_posterior(p, N, chains=4, samples=1500, warmup=700, seed=4, progress=False)
    assert r.max_rhat < 1.02
    z = (r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2)
    assert np.max(np.abs(z)) < 4.5, (np.max(np.abs(z)), r.kernel, ref)


@pytest.mark.parametrize("k,N", [(2, 8), (3, 8), (5, 10), (6, 8)])
def test_block_posterior_matches_importance_sampling_of_networks(k, N):
    """P = 2, and inputs at every time with an unusual supervised set (the redundant block-Arnoldi RNN)."""
    p = _problems()[k]
    ref, ref_se, _ = importance_posterior(p, N, 100000, seed=3)
    r = exact_posterior(p, N, chains=4, samples=1000, warmup=500, seed=4, progress=False)
    assert r.max_rhat < 1.02
    z = (r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2)
    assert np.max(np.abs(z)) < 4.5, (np.max(np.abs(z)), r.kernel, ref)


def _log_gamma_grid(a, scale, grid):
    """Density of log Y for Y ~ Gamma(a, scale) on a grid of log Y."""
    return np.exp(a * grid - np.exp(grid) / scale - gammaln(a) - a * math.log(scale))


def dnn_quadrature(p, N):
    """Posterior means of H^{tt} and of |m| = |H^{T-1,T-2}| for the P = 1 DNN endpoint task by 1-D quadrature.

    H^{tt} = u w^t prod_{s<=t} Y_s, Y_s = |z_s|^2/N ~ Gamma(N/2, 2/N) independent; the
    likelihood L depends on X = H^{T-1,T-1} only.  E[H^{tt} L(X)] = u w^t E'[L(X)] where the
    first t+1 factors are size-biased (Gamma(N/2 + 1, 2/N)).  With zeta the component of
    z_{T-1} along h^{T-2}, m = sqrt(w/N) H^{T-2,T-2} zeta and N Y_{T-1} = zeta^2 + chi^2_{N-1};
    E[|zeta| f(zeta^2 + chi^2_{N-1})] = sqrt(2/pi) E[f(Gamma(N/2 + 1/2, 2))].  The density of
    log prod Y is a numerical convolution on a uniform grid.
    """
    T = p.T
    h = 2e-3
    grid = np.arange(-3.0, 3.0, h)
    c = p.u * p.w ** (T - 1)
    y = p.y_S[0]

    def expect_L(shift):
        dens = None
        for s in range(T):
            f = _log_gamma_grid(N / 2 + shift[s], 2 / N, grid)
            dens = f if dens is None else np.convolve(dens, f) * h  # direct: FFT round-off swamps the far tail
        lgrid = T * grid[0] + h * np.arange(len(dens))
        K = p.v * c * np.exp(lgrid) + p.kappa
        L = K ** -0.5 * np.exp(-0.5 * N * y ** 2 / K)
        return np.sum(dens * L) * h

    Z = expect_L([0] * T)
    diag = np.array([p.u * p.w ** t * expect_L([1] * (t + 1) + [0] * (T - t - 1)) / Z for t in range(T)])
    m = (math.sqrt(p.w / N) * p.u * p.w ** (T - 2) * math.sqrt(2 / math.pi)
         * expect_L([1] * (T - 1) + [0.5]) / Z)
    return diag, m


@pytest.mark.parametrize("lam,N", [(2.0, 16), (1.0, 64), (3.2, 64)])
def test_dnn_posterior_matches_chi_square_quadrature(lam, N):
    p = tasks.endpoint("dnn", T=4, lam=lam)
    diag, m = dnn_quadrature(p, N)
    r = exact_posterior(p, N, chains=4, samples=1500, warmup=700, seed=5, progress=False)
    z = (np.diag(r.kernel) - diag) / np.diag(r.stderr)
    assert np.max(np.abs(z)) < 4.5, (np.diag(r.kernel), diag)
    assert r.order_parameter == pytest.approx(m, abs=4.5 * r.order_parameter_stderr)
    # every cross-time entry except the sign-fixed m = H^{32} averages to zero by symmetry
    off = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1)]
    assert max(abs(r.kernel[i, j]) / r.stderr[i, j] for i, j in off) < 4.5


def full_network_rnn_posterior(p, N, chains=4, samples=1500, warmup=1500, seed=0):
    """Posterior mean kernel of the P = 1 endpoint RNN by HMC on all N^2 + N weights (no reduction).

    Weights standardised by their prior scales; the readout v integrated out in the
    full network (f_S | h Gaussian); gradient by hand-written backpropagation.
    Returns (mean, standard error, max R-hat, min ESS, Chains).
    """
    T = p.T
    sw, su = math.sqrt(p.w / N), math.sqrt(p.u)      # endpoint task: U x^0 ~ N(0, u I)
    S, y = p.supervised_index, p.y_S

    def forward(theta):
        Wz, uz = theta[..., :N * N].reshape(theta.shape[:-1] + (N, N)), theta[..., N * N:]
        hs = [su * uz]
        for t in range(1, T):
            hs.append(np.einsum("...ij,...j->...i", sw * Wz, hs[-1]))
        G = np.stack(hs, axis=-1)
        return Wz, hs, G, np.swapaxes(G, -1, -2) @ G / N

    def logp_grad(theta):
        C = theta.shape[0]
        Wz, hs, G, H = forward(theta)
        K = p.v * H[:, S[:, None], S[None, :]] + p.kappa * np.eye(len(S))
        Kinv = np.linalg.inv(K)
        a = Kinv @ y
        ll = -0.5 * np.linalg.slogdet(K)[1] - 0.5 * N * a @ y
        Hbar = np.zeros_like(H)
        Hbar[:, S[:, None], S[None, :]] = -0.5 * p.v * Kinv + 0.5 * N * p.v * a[:, :, None] * a[:, None, :]
        Gbar = G @ (Hbar + np.swapaxes(Hbar, 1, 2)) / N
        lam = Gbar[:, :, T - 1]
        Wbar = np.zeros_like(Wz)
        for t in range(T - 1, 0, -1):
            Wbar += lam[:, :, None] * hs[t - 1][:, None, :]
            lam = Gbar[:, :, t - 1] + np.einsum("cji,cj->ci", sw * Wz, lam)
        g = np.concatenate([(sw * Wbar).reshape(C, -1), su * lam], axis=1) - theta
        return -0.5 * np.sum(theta ** 2, 1) + ll, g

    d = N * N + N
    ch = hmc(logp_grad, np.random.default_rng(seed).normal(size=(chains, d)), np.eye(d), n_samples=samples,
             n_warmup=warmup, seed=seed, progress=False)
    H = fix_z2_sign(p, forward(ch.theta)[3])
    es = np.array([[ess(H[:, :, i, j]) for j in range(T)] for i in range(T)])
    se = H.std(axis=(0, 1)) / np.sqrt(es)
    return (H.mean(axis=(0, 1)), se, max(rhat(H[:, :, i, j]) for i in range(T) for j in range(T)),
            float(es.min()), ch)


@pytest.mark.slow
@pytest.mark.parametrize("lam", [1.0, 3.2])
def test_rnn_posterior_matches_full_network_hmc(lam):
    """N = 12 (about 30 s each): the reduced posterior vs HMC on all 156 weights of the network."""
    p = tasks.endpoint("rnn", T=4, lam=lam)
    N = 12
    ref, ref_se, ref_rhat, _, _ = full_network_rnn_posterior(p, N)
    assert ref_rhat < 1.02
    r = exact_posterior(p, N, chains=4, samples=2000, warmup=1000, seed=1, progress=False)
    z = (r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2)
    assert np.max(np.abs(z)) < 4.5, (r.kernel, ref)


def test_large_N_posterior_concentrates_on_the_saddle_point():
    p = tasks.endpoint("rnn", T=4, lam=3.2)
    r = exact_posterior(p, 10 ** 5, chains=4, samples=300, warmup=300, seed=6, progress=False)
    sp = saddle_point(p)
    # posterior mean = saddle + O(1/N); standard errors O(N^-1/2 / sqrt(ESS))
    z = np.abs(r.kernel - sp.kernel) / (r.stderr + 2e-4 * np.abs(sp.kernel))
    assert np.max(z) < 5.0
    assert r.max_rhat < 1.02


# --- the sampler's diagnostics -------------------------------------------------------------
def test_ess_and_rhat_on_known_processes():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(4, 4000))
    assert ess(iid) == pytest.approx(16000, rel=0.1)
    assert rhat(iid) < 1.01
    phi = 0.9                                   # AR(1): integrated autocorrelation time (1+phi)/(1-phi) = 19
    x = np.zeros((4, 20000))
    e = rng.normal(size=x.shape)
    for i in range(1, x.shape[1]):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    assert ess(x) == pytest.approx(80000 / 19, rel=0.15)
    shifted = iid + np.array([0, 0, 0, 1.0])[:, None]
    assert rhat(shifted) > 1.05
    assert mcse(iid) == pytest.approx(1 / math.sqrt(16000), rel=0.1)


def test_hmc_samples_a_correlated_gaussian():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 5))
    cov = A @ A.T + 0.1 * np.eye(5)
    P = np.linalg.inv(cov)
    mu = rng.normal(size=5)

    def lg(th):
        d = th - mu
        return -0.5 * np.einsum("ci,ij,cj->c", d, P, d), -d @ P

    ch = hmc(lg, np.zeros((4, 5)), np.eye(5), n_samples=1000, n_warmup=500, seed=2, progress=False)
    draws = ch.theta.reshape(-1, 5)
    for i in range(5):
        x = ch.theta[:, :, i]
        assert x.mean() == pytest.approx(mu[i], abs=5 * mcse(x))
        assert rhat(x) < 1.02
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.15 * np.abs(cov).max())


# --- interfaces ------------------------------------------------------------------------------
def test_bad_input_raises_value_error():
    p = tasks.endpoint("rnn", T=4)
    with pytest.raises(ValueError, match="N=3"):
        Reduction(p, 3)
    with pytest.raises(ValueError, match="N="):
        Reduction(p, 10.5)
    with pytest.raises(ValueError, match="chains"):
        exact_posterior(p, 64, chains=0)
    with pytest.raises(ValueError, match="samples"):
        exact_posterior(p, 64, samples=2)


def test_cli_json(capsys):
    rc = main(["exact", "--arch", "rnn", "--T", "3", "--N", "64", "--lam", "3.2", "--chains", "2",
               "--samples", "100", "--warmup", "100", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("kernel", "stderr", "ess", "rhat", "N"):
        assert key in d
    assert d["N"] == 64
    H = np.array(d["kernel"])
    assert H.shape == (3, 3) and H[2, 1] >= 0
    assert main(["exact", "--N", "2"]) == 2


def _matrix_text(M, fmt="{:10.6f}"):
    return "\n".join("  " + " ".join(fmt.format(x + 0.0) for x in np.round(row, 12)) for row in np.asarray(M))


def test_summary_is_the_text_of_linkernel_exact_and_to_dict_is_strict_json():
    import warnings
    from linkernel.errors import SamplerWarning
    from linkernel.finite_n.draws import format_outputs
    p = tasks.endpoint("rnn", T=3, lam=3.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        r = exact_posterior(p, 64, chains=1, samples=60, warmup=60, seed=0, progress=False)
    assert r.max_rhat is None and r.rhat is None                 # one chain: R-hat undefined
    expected = "\n".join([
        "RNN endpoint task, exact posterior at N=64: T=3 P=1 lambda=3.2 kappa=0.1 w=1 v=1 u=1",
        "posterior mean kernel H (Z2 sign fixed per draw by m >= 0; rows t*P+p, t = 0..2):",
        _matrix_text(r.kernel), "Monte Carlo standard errors:", _matrix_text(r.stderr, "{:10.2e}"),
        f"order parameter m = {r.order_parameter:.6g} +- {r.order_parameter_stderr:.2g}",
        "posterior-mean outputs f (rows t, columns p; +- MCSE):", format_outputs(r.predictions, r.predictions_stderr),
        f"1 chains x 60 draws: min ESS {r.min_ess:.0f}, R-hat n/a (1 chain), acceptance {r.acceptance:.2f}, "
        f"divergences {r.divergences}, {r.seconds:.2f} s"]
        + ([] if r.converged else ["WARNING: not converged: " + "; ".join(r.warnings)]))
    assert r.summary() == expected and str(r) == expected
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["max_rhat"] is None and d["rhat"] is None and d["N"] == 64
    assert np.array(d["kernel"]).shape == (3, 3) and d["order_parameters"]["0"]["steps"] == [1, 2]
    # a pattern: one more line with every shared group's order parameter
    tied = tasks.endpoint(Architecture(4, W=[[1, 2], [3]], U=[[0, 1, 2, 3]]), T=4, lam=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        rt = exact_posterior(tied, 64, chains=2, samples=30, warmup=30, seed=0, progress=False)
    (m, s), = rt.order_parameters.values()
    lines = rt.summary().splitlines()
    assert lines[0].startswith('{"W":[[1,2],[3]],"U":[[0,1,2,3]]} endpoint task, exact posterior')
    assert f"shared groups: m_0 = H^(2,1) (steps 1,2) = {m:.6g} +- {s:.2g}" in lines

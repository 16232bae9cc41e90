"""Checks of the finite-width network sampler against independent computations.

References: exact finite-N posterior means by importance sampling of iid prior
networks (the readout v integrated out analytically); the one-layer (T = 1)
posterior in closed form (a 1-d integral); the large-N theory (saddle point);
the naive Langevin sampler; finite differences of the network's Jacobian.
"""

import json

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import prior_kernel
from linkernel.cli import main
from linkernel.finite_n.networks import Network
from linkernel.problem import fix_z2_sign
from linkernel.theory.saddle import saddle_point
from linkernel.finite_n.network_sampler import (SGLDDivergence, _Sampler, cka, langevin_extrapolated, max_rel_error, run_sgld,
                            sample_posterior)


# --- independent references ------------------------------------------------------
def importance_reference(p, N, M=80_000, seed=0, batch=20_000):
    """Exact posterior mean of H at width N: iid prior networks weighted by p(y | h).

    Integrating v out, p(y_S | h) = N(y_S; 0, (v H_SS + kappa I) / N), so the
    weights depend on H_SS only.  Z2 sign fixed per sample (m >= 0).
    Returns (mean kernel, its standard error, effective sample size).
    """
    rng = np.random.default_rng(seed)
    T, D, S, y = p.T, p.D, p.supervised_index, p.y_S
    sw, su = np.sqrt(p.w / N), np.sqrt(p.u / D)
    logw, Hs = [], []
    for _ in range(M // batch):
        U = rng.standard_normal((batch, N, D)) * su
        h = [U @ p.x[0].T]
        W = rng.standard_normal((batch, N, N)) * sw
        for t in range(1, T):
            if p.arch.is_dnn:
                U = rng.standard_normal((batch, N, D)) * su
                W = rng.standard_normal((batch, N, N)) * sw
            h.append(W @ h[-1] + U @ p.x[t].T)
        h = np.concatenate(h, axis=2)
        H = np.einsum("bni,bnj->bij", h, h) / N
        K = p.v * H[:, S][:, :, S] + p.kappa * np.eye(len(S))
        logw.append(-0.5 * np.linalg.slogdet(K)[1] - 0.5 * N * np.einsum("i,bij,j->b", y, np.linalg.inv(K), y))
        Hs.append(np.array([fix_z2_sign(p, Hb) for Hb in H]))
    logw, H = np.concatenate(logw), np.concatenate(Hs)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean = np.einsum("b,bij->ij", w, H)
    se = np.sqrt(np.einsum("b,bij->ij", w ** 2, (H - mean) ** 2))
    return mean, se, 1.0 / np.sum(w ** 2)


def one_layer_moments(N, lam, kappa, u=1.0, v=1.0):
    """T = 1, P = D = 1: E[H] and Var[H] from the exact 1-d posterior density of H = |h|^2 / N.

    h = U x has iid N(0, u) entries; integrating v gives p(y | H) = N(y; 0, (v H + kappa) / N), so
    p(H) ~ H^(N/2 - 1) exp(-N H / 2u) (v H + kappa)^(-1/2) exp(-N y^2 / (2 (v H + kappa))).
    """
    H = np.linspace(1e-6, 12.0 * u + 4 * lam ** 2, 400_001)
    logp = ((N / 2 - 1) * np.log(H) - N * H / (2 * u) - 0.5 * np.log(v * H + kappa)
            - N * lam ** 2 / (2 * (v * H + kappa)))
    p = np.exp(logp - logp.max())
    p /= np.trapezoid(p, H)
    m1 = np.trapezoid(H * p, H)
    return m1, np.trapezoid((H - m1) ** 2 * p, H)


# --- the network and its Jacobians ---------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_jacobian_factors_match_finite_differences(arch):
    p = tasks.endpoint(arch, T=4, P=2, lam=1.0)
    net = Network(p, 7, 2, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for name in net.blocks():
        F = net.factors(name)
        zs = net.block_arrays(name)
        dz = [rng.standard_normal(z.shape) for z in zs]
        f0, eps = net.f[:, net.S].copy(), 1e-6
        for z, d in zip(zs, dz):
            z += eps * d
        net.forward()
        fd = (net.f[:, net.S] - f0) / eps
        for z, d in zip(zs, dz):
            z -= eps * d
        net.forward()
        np.testing.assert_allclose(F.apply(dz), fd, rtol=1e-4, atol=1e-7)
        G = F.gram()
        c = rng.standard_normal((2, net.k))
        out = [np.zeros_like(z) for z in zs]
        F.add_transpose(c, out)          # <J^T c, dz> = c . J dz  and  J J^T c = G c
        lhs = sum(np.einsum("cij,cij->c", o, d) for o, d in zip(out, dz))
        np.testing.assert_allclose(lhs, np.sum(c * F.apply(dz), axis=1), rtol=1e-10)
        np.testing.assert_allclose(F.apply(out), np.einsum("ckl,cl->ck", G, c), rtol=1e-10)


@pytest.mark.parametrize("T", [3, 4, 5])
def test_incremental_row_update_matches_full_passes(T):
    p = tasks.endpoint("rnn", T=T, P=2, lam=1.0)
    net = Network(p, 30, 2, np.random.default_rng(0))
    rows = np.array([1, 4, 5, 17, 29])
    znew = np.random.default_rng(1).standard_normal((2, len(rows), 30))
    h, f, R = net.set_rows(rows, znew, net.backward())
    net.forward()
    np.testing.assert_allclose(h, net.h, atol=1e-12)
    np.testing.assert_allclose(f, net.f, atol=1e-12)
    np.testing.assert_allclose(R[:, :, :T - 1], net.backward()[:, :, :T - 1], atol=1e-12)


def test_metropolis_ratio_is_one_when_the_block_is_linear():
    """For T = 2 the RNN's f is affine in W, the linearised Gaussian is exact and every proposal is accepted."""
    p = tasks.endpoint("rnn", T=2, lam=2.0)
    net = Network(p, 20, 3, np.random.default_rng(0))
    s = _Sampler(net, np.random.default_rng(1))
    R = net.backward()
    for rho in (0.0, 0.6):
        for rows in (np.arange(20), np.array([2, 5, 11])):
            R = s.mh_rows(rows, R, rho=rho)
            np.testing.assert_allclose(s.last_log_alpha, 0.0, atol=1e-8)


# --- the stationary law where it is known exactly ----------------------------------
@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_one_layer_network_matches_closed_form(lam):
    N = 16
    p = tasks.endpoint("rnn", T=1, lam=lam, kappa=0.5)
    r = sample_posterior(p, N, sweeps=3000, chains=4, seed=3)
    m1, var = one_layer_moments(N, lam, 0.5)
    assert abs(r.kernel[0, 0] - m1) < 4 * r.stderr[0, 0]
    assert r.stderr[0, 0] < 0.02 * m1       # the check has teeth
    assert r.rhat < 1.05


@pytest.mark.parametrize("arch,lam", [("rnn", 0.0), ("rnn", 1.5), ("dnn", 1.5),
                                      pytest.param("dnn", 0.0, marks=pytest.mark.slow)])
def test_matches_exact_finite_width_posterior(arch, lam):
    """T = 3 at N = 12 (for the RNN this exercises the Metropolis-adjusted W steps)."""
    N = 12
    p = tasks.endpoint(arch, T=3, lam=lam, kappa=0.5)
    ref, ref_se, ess = importance_reference(p, N)
    assert ess > 5000
    r = sample_posterior(p, N, sweeps=1200, chains=4, seed=5)
    err = np.abs(r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2 + 1e-8)
    assert err.max() < 4.5, (r.kernel, ref, r.stderr)
    if lam == 0.0:   # lambda = 0: the prior kernel up to O(1/N) (odd lags are |m|-like: O(N^-1/2))
        even = np.add.outer(np.arange(3), np.arange(3)) % 2 == 0
        assert np.max(np.abs(r.kernel - prior_kernel(p))[even]) < 2.5 / N


@pytest.mark.parametrize("problem", [
    tasks.sinusoid("rnn", T=3, kappa=0.5, lam=1.0),                 # every step supervised
    tasks.endpoint("dnn", T=2, P=2, kappa=0.5, lam=1.2),            # two patterns
    tasks.endpoint("rnn", T=3, P=2, kappa=0.5, lam=1.0),
], ids=["sinusoid-rnn", "endpoint-dnn-P2", "endpoint-rnn-P2"])
def test_general_problems_match_exact_finite_width_posterior(problem):
    N = 10
    ref, ref_se, ess = importance_reference(problem, N, M=60_000)
    assert ess > 2000
    r = sample_posterior(problem, N, sweeps=800, chains=4, seed=7)
    err = np.abs(r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2 + 1e-8)
    assert err.max() < 4.5, (r.kernel, ref, r.stderr)


def test_langevin_step_bias_and_extrapolation_bookkeeping():
    """Naive SGLD at step 0.04 is visibly biased (T = 1 closed form); step 0.02 is closer; K0 = 2 K(h/2) - K(h)."""
    N, lam, kappa = 32, 2.0, 0.1
    p = tasks.endpoint("rnn", T=1, lam=lam, kappa=kappa)
    exact, _ = one_layer_moments(N, lam, kappa)
    with pytest.warns(UserWarning, match="asymptotic"):
        ex = langevin_extrapolated(p, N, step=0.04, duration=400.0, chains=4, seed=2)
    (h1, K1), (h2, K2) = ex.step_kernels
    assert h2 == h1 / 2 and ex.bias_estimate == pytest.approx(np.max(np.abs(K1 - K2)))
    np.testing.assert_allclose(ex.kernel, 2 * K2 - K1)
    assert exact - K1[0, 0] > 4 * ex.stderr[0, 0] / np.sqrt(5)        # the Euler bias is visible ...
    assert abs(K2[0, 0] - exact) < 0.5 * abs(K1[0, 0] - exact)         # ... and smaller at half the step


def test_langevin_agrees_with_gibbs_at_small_step():
    p = tasks.endpoint("dnn", T=2, lam=1.0, kappa=0.5)
    g = sample_posterior(p, 10, sweeps=1500, chains=4, seed=0)
    lg = sample_posterior(p, 10, sweeps=6000, chains=4, seed=1, method="langevin", step=0.01)
    assert np.all(np.abs(g.kernel - lg.kernel) < 4 * np.sqrt(g.stderr ** 2 + lg.stderr ** 2) + 0.03)


# --- large N: the theory ----------------------------------------------------------------
@pytest.mark.parametrize("arch,lam", [("rnn", 1.0), ("rnn", 3.2), ("dnn", 3.2)])
def test_agrees_with_exact_reduction_and_theory_at_moderate_width(arch, lam):
    """N = 96, below and above the RNN transition.

    Exact finite-N posterior (linkernel.finite_n.exact, same N): within error bars.
    Theory: within error bars plus O(1/N); odd lags in the symmetric phase are
    |m|-like (per-sample sign fix), O(N^-1/2).
    """
    N = 96
    p = tasks.endpoint(arch, T=4, lam=lam)
    r = run_sgld(p, N, sweeps=300, chains=4, seed=2, exact=True)
    assert r.exact_max_z < 4.5, (r.kernel, r.exact_kernel)
    assert r.to_dict()["exact_kernel"] == r.exact_kernel.tolist()
    th = r.theory_kernel
    scale = np.max(np.abs(th))
    odd = (np.add.outer(np.arange(4), np.arange(4)) % 2 == 1)
    symmetric = saddle_point(p).order_parameter < 1e-6
    allowed = 4 * r.stderr + 3.0 * scale / N
    if symmetric:
        allowed = allowed + odd * 2.0 * np.sqrt(np.outer(np.diag(th), np.diag(th)) / N)
    assert np.all(np.abs(r.kernel - th) < allowed), (r.kernel, th)
    assert r.cka > (0.98 if symmetric else 0.995)
    assert r.rhat < 1.1


# --- diagnostics and errors -----------------------------------------------------------------
def test_error_bars_match_the_scatter_between_seeds():
    p = tasks.endpoint("rnn", T=3, lam=1.5, kappa=0.5)
    runs = [sample_posterior(p, 10, sweeps=300, chains=2, seed=s) for s in range(10)]
    K = np.array([r.kernel for r in runs])
    se = np.sqrt(np.mean([r.stderr ** 2 for r in runs], axis=0))
    ratio = K.std(axis=0, ddof=1) / se                     # ~1 per entry if the error bars are right
    assert 0.6 < np.median(ratio) < 1.6, ratio
    assert all(r.rhat < 1.2 for r in runs)


def test_cka_properties():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    K = A @ A.T
    assert cka(K, 3.0 * K) == pytest.approx(1.0)
    assert cka(K, np.eye(5) + K) < 1.0


def test_langevin_divergence_is_reported():
    p = tasks.endpoint("rnn", T=3, lam=3.0, kappa=0.01)
    with pytest.raises(SGLDDivergence, match="try step="):
        sample_posterior(p, 32, sweeps=200, chains=2, method="langevin", step=0.5)


@pytest.mark.parametrize("kw,name", [({"N": 0}, "N"), ({"chains": 0}, "chains"), ({"method": "hmc"}, "method"),
                                     ({"method": "langevin"}, "step"), ({"dtype": np.int32}, "dtype"),
                                     ({"sweeps": 20, "burn": 19}, "burn")])
def test_bad_input(kw, name):
    p = tasks.endpoint("rnn", T=3)
    args = {"N": 8, "sweeps": 20} | kw
    with pytest.raises(ValueError, match=name):
        sample_posterior(p, **args)


def test_float32_matches_float64():
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    r32 = sample_posterior(p, 48, sweeps=300, chains=3, seed=0, dtype=np.float32)
    r64 = sample_posterior(p, 48, sweeps=300, chains=3, seed=1)
    assert np.all(np.abs(r32.kernel - r64.kernel) < 4.5 * np.sqrt(r32.stderr ** 2 + r64.stderr ** 2) + 1e-3)


def test_cli_json(capsys):
    rc = main(["sgld", "--arch", "rnn", "--T", "3", "--N", "24", "--lam", "2", "--steps", "60", "--chains", "2",
               "--json", "--no-progress"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("kernel", "stderr", "theory_kernel", "cka", "max_rel_error", "bias_estimate", "seconds"):
        assert key in d
    assert np.array(d["kernel"]).shape == (3, 3)


def test_cli_bad_input(capsys):
    assert main(["sgld", "--N", "0", "--steps", "10"]) == 2
    assert "N=0" in capsys.readouterr().err

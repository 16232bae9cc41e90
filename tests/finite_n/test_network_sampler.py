"""Checks of the finite-width network sampler against independent computations.

References: exact finite-N posterior means by importance sampling of iid prior
networks (the readout v integrated out analytically); the one-layer (T = 1)
posterior in closed form (a 1-d integral); the large-N theory (saddle point);
the naive Langevin sampler; finite differences of the network's Jacobian.
"""

import json

import numpy as np
import pytest

from linkernel.errors import DivergenceError
from linkernel import tasks
from linkernel.architecture import Architecture, dnn_with_tied_pair, shared_w_untied_u
from linkernel.problem import Problem
from linkernel.theory.action import prior_kernel
from linkernel.cli import main
from linkernel.finite_n.draws import format_outputs
from linkernel.finite_n.networks import Network
from linkernel.theory.saddle import saddle_point
from linkernel.finite_n.network_moves import GibbsMoves
from linkernel.finite_n.network_sampler import langevin_extrapolated, sample_networks
from linkernel.finite_n.network_posterior import NetworkPosterior, cka, max_rel_error
from tests.references import importance_posterior


# --- independent references (importance sampling of full networks: tests/references.py) ------
def one_layer_moments(N, lam, kappa, u=1.0, v=1.0):
    """T = 1, P = D = 1: E[H] and Var[H] from the exact 1-d posterior density of H = |h|^2 / N.

    h = U x has iid N(0, u) entries; integrating v gives p(y | H) = N(y; 0, (v H + kappa) / N), so
    p(H) ~ H^(N/2 - 1) exp(-N H / 2u) (v H + kappa)^(-1/2) exp(-N y^2 / (2 (v H + kappa))).
    """
    H = np.linspace(1e-6, 12.0 * u + 4 * lam ** 2, 400_001)
    logp = ((N / 2 - 1) * np.log(H) - N * H / (2 * u) - 0.5 * np.log(v * H + kappa)
            - N * lam ** 2 / (2 * (v * H + kappa)))
    p = np.exp(logp - logp.max())
    trapezoid = getattr(np, "trapezoid", None) or np.trapz     # NumPy 1.x (the floor) has only trapz
    p /= trapezoid(p, H)
    m1 = trapezoid(H * p, H)
    return m1, trapezoid((H - m1) ** 2 * p, H)


def _assert_jvp_matches_finite_differences(net, name, rng):
    """J dz of block ``name`` (its Jacobian factors) against a forward finite difference; returns (F, z, dz)."""
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
    return F, zs, dz


def _assert_row_update_matches_forward(net, name, rows, znew):
    """Incremental row update of block ``name``: states, outputs and backward vectors equal a fresh forward pass."""
    keys = net.block(name).keys
    h, f, R = net.set_rows(name, rows, znew, net.backward(keys))
    net.forward()
    np.testing.assert_allclose(h, net.h, atol=1e-12)
    np.testing.assert_allclose(f, net.f, atol=1e-12)
    fresh = net.backward(keys)
    for key in keys:
        np.testing.assert_allclose(R[key], fresh[key], atol=1e-12)


# --- the network and its Jacobians ---------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_jacobian_factors_match_finite_differences(arch):
    p = tasks.endpoint(arch, T=4, P=2, lam=1.0)
    net = Network(p, 7, 2, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for name in net.blocks():
        F, zs, dz = _assert_jvp_matches_finite_differences(net, name, rng)
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
    _assert_row_update_matches_forward(net, "W", rows, znew)


def test_metropolis_ratio_is_one_when_the_block_is_linear():
    """For T = 2 the RNN's f is affine in W, the linearised Gaussian is exact and every proposal is accepted."""
    p = tasks.endpoint("rnn", T=2, lam=2.0)
    net = Network(p, 20, 3, np.random.default_rng(0))
    s = GibbsMoves(net, np.random.default_rng(1))
    R = net.backward(net.block("W").keys)
    for rho in (0.0, 0.6):
        for rows in (np.arange(20), np.array([2, 5, 11])):
            R = s.mh_rows("W", rows, R, rho=rho)
            np.testing.assert_allclose(s.last_log_alpha, 0.0, atol=1e-8)


def _pattern(name):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2, 3))
    return {
        "tied 12|3": tasks.endpoint(Architecture(4, W=[[1, 2], [3]], U=[[0, 1, 2, 3]], w=[None, 0.7]), T=4, P=2,
                                    lam=1.0, kappa=0.5),
        "tied 123|45": tasks.endpoint(Architecture(6, W=[[1, 2, 3], [4, 5]], U=[list(range(6))], w=[1.0, 0.6]),
                                      T=6, P=2, lam=1.0, kappa=0.5),
        "pair 1,3": tasks.endpoint(dnn_with_tied_pair(4, 1, 3), T=4, P=2, lam=1.0, kappa=0.5),
        "shared W untied U": Problem(shared_w_untied_u(4), 4, x, ((3, 0), (2, 1)), rng.normal(size=(4, 2)),
                                     lam=1.0, kappa=0.5),
        "mixed U": Problem(Architecture(4, W=[[1, 3], [2]], U=[[0, 2], [1], [3]]), 4, x, ((3, 0), (3, 1)),
                           rng.normal(size=(4, 2)), lam=1.0, kappa=0.5),
    }[name]


PATTERN_NAMES = ["tied 12|3", "tied 123|45", "pair 1,3", "shared W untied U", "mixed U"]


@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_pattern_jacobians_match_finite_differences(name):
    """Every block of a weight-sharing pattern (U groups, lone W, layers, shared W): J z, J^T c, J J^T."""
    p = _pattern(name)
    net = Network(p, 7, 2, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    assert set(net.Z) == {"v"} | {a for b in net.blocks() for a in net.block(b).arrays}
    for bname in net.blocks():
        F, zs, dz = _assert_jvp_matches_finite_differences(net, bname, rng)
        c = rng.standard_normal((2, net.k))
        out = [np.zeros_like(z) for z in zs]
        F.add_transpose(c, out)
        lhs = sum(np.einsum("cij,cij->c", o, d) for o, d in zip(out, dz))
        np.testing.assert_allclose(lhs, np.sum(c * F.apply(dz), axis=1), rtol=1e-10)
        np.testing.assert_allclose(F.apply(out), np.einsum("ckl,cl->ck", F.gram(), c), rtol=1e-10)


@pytest.mark.parametrize("name", ["tied 123|45", "pair 1,3", "mixed U"])
def test_pattern_incremental_row_update_matches_full_passes(name):
    p = _pattern(name)
    net = Network(p, 30, 2, np.random.default_rng(0))
    rows = np.array([1, 4, 5, 17, 29])
    for bname in net.blocks():
        if net.is_linear(bname):
            continue
        znew = np.random.default_rng(1).standard_normal((2, len(rows), 30))
        _assert_row_update_matches_forward(net, bname, rows, znew)


@pytest.mark.parametrize("name", ["tied 12|3", "pair 1,3", "shared W untied U", "mixed U"])
def test_patterns_match_importance_sampling_of_networks(name):
    """N = 10, T = 4, P = 2: Gibbs (with Metropolis steps for the shared W) vs the exact posterior mean."""
    p = _pattern(name)
    N = 10
    ref, ref_se, ess = importance_posterior(p, N, 60_000)
    assert ess > 2000
    r = sample_networks(p, N, sweeps=800, chains=4, seed=7)
    err = np.abs(r.kernel - ref) / np.sqrt(r.stderr ** 2 + ref_se ** 2 + 1e-8)
    assert err.max() < 4.5, (r.kernel, ref, r.stderr)
    assert r.block_rows is not None and r.max_rhat < 1.1


def test_langevin_on_a_pattern_agrees_with_gibbs():
    """Langevin moves every block of a pattern (a W at steps 1 and 3, a lone W, U groups) along its gradient at
    once; extrapolated to step 0 it agrees with Gibbs (at step 0.01 the kernel is ~6% too large)."""
    rng = np.random.default_rng(3)
    p = Problem(Architecture(4, W=[[1, 3], [2]], U=[[0, 2], [1], [3]]), 4, 0.6 * rng.normal(size=(4, 1, 2)),
                ((3, 0),), np.ones((4, 1)), lam=1.0, kappa=1.0, w=0.6)
    g = sample_networks(p, 10, sweeps=1000, chains=4, seed=0)
    lg = sample_networks(p, 10, step=0.01, extrapolate_duration=30.0, chains=4, seed=1)
    assert lg.bias_estimate > 0 and lg.step_kernels is not None
    assert np.max(np.abs(g.kernel - lg.kernel) / np.sqrt(g.stderr ** 2 + lg.stderr ** 2)) < 4.5


# --- the stationary law where it is known exactly ----------------------------------
@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_one_layer_network_matches_closed_form(lam):
    N = 16
    p = tasks.endpoint("rnn", T=1, lam=lam, kappa=0.5)
    r = sample_networks(p, N, sweeps=3000, chains=4, seed=3)
    m1, var = one_layer_moments(N, lam, 0.5)
    assert abs(r.kernel[0, 0] - m1) < 4 * r.stderr[0, 0]
    assert r.stderr[0, 0] < 0.02 * m1       # the check has teeth
    assert r.max_rhat < 1.05


@pytest.mark.parametrize("arch,lam", [("rnn", 0.0), ("rnn", 1.5), ("dnn", 1.5),
                                      pytest.param("dnn", 0.0, marks=pytest.mark.slow)])
def test_matches_exact_finite_width_posterior(arch, lam):
    """T = 3 at N = 12 (for the RNN this exercises the Metropolis-adjusted W steps)."""
    N = 12
    p = tasks.endpoint(arch, T=3, lam=lam, kappa=0.5)
    ref, ref_se, ess = importance_posterior(p, N)
    assert ess > 5000
    r = sample_networks(p, N, sweeps=1200, chains=4, seed=5)
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
    ref, ref_se, ess = importance_posterior(problem, N, 60_000)
    assert ess > 2000
    r = sample_networks(problem, N, sweeps=800, chains=4, seed=7)
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
    g = sample_networks(p, 10, sweeps=1500, chains=4, seed=0)
    lg = sample_networks(p, 10, sweeps=6000, chains=4, seed=1, method="langevin", step=0.01)
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
    r = sample_networks(p, N, sweeps=300, chains=4, seed=2, theory=True, exact=True)
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
    assert r.max_rhat < 1.1


# --- diagnostics and errors -----------------------------------------------------------------
def test_error_bars_match_the_scatter_between_seeds():
    p = tasks.endpoint("rnn", T=3, lam=1.5, kappa=0.5)
    runs = [sample_networks(p, 10, sweeps=300, chains=2, seed=s) for s in range(10)]
    K = np.array([r.kernel for r in runs])
    se = np.sqrt(np.mean([r.stderr ** 2 for r in runs], axis=0))
    ratio = K.std(axis=0, ddof=1) / se                     # ~1 per entry if the error bars are right
    assert 0.6 < np.median(ratio) < 1.6, ratio
    assert all(r.max_rhat < 1.2 for r in runs)


def test_cka_properties():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    K = A @ A.T
    assert cka(K, 3.0 * K) == pytest.approx(1.0)
    assert cka(K, np.eye(5) + K) < 1.0


def test_langevin_divergence_is_reported():
    p = tasks.endpoint("rnn", T=3, lam=3.0, kappa=0.01)
    with pytest.raises(DivergenceError, match="try step="):
        sample_networks(p, 32, sweeps=200, chains=2, method="langevin", step=0.5)


@pytest.mark.parametrize("kw,name", [({"N": 0}, "N"), ({"chains": 0}, "chains"), ({"method": "hmc"}, "method"),
                                     ({"method": "langevin"}, "step"), ({"dtype": np.int32}, "dtype"),
                                     ({"sweeps": 20, "burn": 19}, "burn")])
def test_bad_input(kw, name):
    p = tasks.endpoint("rnn", T=3)
    args = {"N": 8, "sweeps": 20} | kw
    with pytest.raises(ValueError, match=name):
        sample_networks(p, **args)


def test_float32_matches_float64():
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    r32 = sample_networks(p, 48, sweeps=300, chains=3, seed=0, dtype=np.float32)
    r64 = sample_networks(p, 48, sweeps=300, chains=3, seed=1)
    assert np.all(np.abs(r32.kernel - r64.kernel) < 4.5 * np.sqrt(r32.stderr ** 2 + r64.stderr ** 2) + 1e-3)


def test_cli_json(capsys):
    rc = main(["sample", "--arch", "rnn", "--T", "3", "--N", "24", "--lam", "2", "--sweeps", "60", "--chains", "2",
               "--json", "--no-progress"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("kernel", "stderr", "theory_kernel", "cka", "max_rel_error", "bias_estimate", "seconds"):
        assert key in d
    assert np.array(d["kernel"]).shape == (3, 3)


def _status(argv):
    """main's return value, or argparse's exit status for an argument refused while parsing."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_cli_bad_input(capsys):
    assert _status(["sample", "--N", "0", "--sweeps", "10"]) == 2
    assert "--N 0" in capsys.readouterr().err
    # the old names: sgld (a documented alias) and --steps (a hidden alias of --sweeps)
    assert _status(["sgld", "--N", "0", "--steps", "10"]) == 2
    assert "--N 0" in capsys.readouterr().err
    assert _status(["sample", "--N", "8", "--sweeps", "3", "--no-exact", "--no-theory"]) == 2
    assert "--sweeps 3" in capsys.readouterr().err


def _matrix_text(M, fmt="{:10.6f}"):
    return "\n".join("  " + " ".join(fmt.format(x + 0.0) for x in np.round(row, 12)) for row in np.asarray(M))


def test_summary_is_the_text_of_linkernel_sample_and_to_dict_is_strict_json():
    from dataclasses import replace
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    r = sample_networks(p, 24, sweeps=40, chains=2, seed=0, theory=True, progress=False, warn=False)
    assert isinstance(r, NetworkPosterior)
    ex = replace(r, exact_kernel=r.kernel + 0.01, exact_stderr=r.stderr)
    expected = "\n".join([
        "RNN endpoint task: T=3 P=1 lambda=2 kappa=0.1  N=24  gibbs, 2 chains x 32 sweeps after 8 burn-in, float64",
        "posterior-mean kernel H (Z2 sign fixed per sample, m >= 0):", _matrix_text(r.kernel),
        "standard error:", _matrix_text(r.stderr),
        "theory (saddle point):", _matrix_text(r.theory_kernel),
        f"max |H - H_theory| / max|H_theory| = {r.max_rel_error:.4f}   CKA = {r.cka:.6f}",
        "exact finite-N posterior mean at N=24 (rotation-invariant reduction):", _matrix_text(ex.exact_kernel),
        f"max |H - H_exact| / max|H_exact| = {max_rel_error(r.kernel, ex.exact_kernel):.4f}   "
        f"max |H - H_exact| / error bar = {ex.exact_max_z:.2f}",
        f"m = {r.order_parameter:.5g} +- {r.order_parameter_stderr:.2g}   tau = {r.tau:.3g} sweeps "
        f"(m: {r.tau_m:.3g})   ESS = {r.min_ess:.0f}   R-hat = {r.max_rhat:.4f}   drift = {r.drift:.2f}",
        "posterior-mean outputs f (rows t, columns p; +- MCSE):", format_outputs(r.predictions, r.predictions_stderr),
        f"acceptance: reduced={r.acceptance['reduced']:.2f}   "
        f"{r.seconds:.1f} s ({r.seconds_per_sweep * 1e3:.1f} ms/sweep)",
        "discretisation bias estimate = 0  (none: exact Gibbs conditionals and Metropolis-Hastings (no "
        "discretisation))", r.spectra.summary()]
        + ([] if r.converged else ["WARNING: not converged: " + "; ".join(r.warnings)]))
    assert ex.summary() == expected and str(ex) == expected
    assert "theory" not in sample_networks(p, 24, sweeps=8, chains=1, progress=False).summary()
    lv = sample_networks(p, 24, sweeps=8, chains=1, method="langevin", step=1e-3, progress=False, spectra=0,
                         warn=False)
    assert lv.summary().splitlines()[-3].startswith("acceptance: n/a (unadjusted Langevin)   ")
    assert lv.summary().splitlines()[-2] == ("discretisation bias estimate = unknown  (unknown: single Langevin "
                                             "step (use langevin_extrapolated))")
    assert lv.summary().splitlines()[-1].startswith("WARNING: not converged: ESS")
    d = json.loads(json.dumps(lv.to_dict(), allow_nan=False))      # 7 kept sweeps: no ESS (NaN), no tau
    assert d["min_ess"] is None and d["tau"] is None and d["bias_estimate"] is None and "theory_kernel" not in d
    assert d["rhat"] is None and d["max_rhat"] is None and d["converged"] is False
    d = json.loads(json.dumps(ex.to_dict(), allow_nan=False))
    assert d["exact_kernel"] == ex.exact_kernel.tolist() and d["order_parameters"]["0"]["steps"] == [1, 2]


def test_sample_until_converged_meets_the_criterion_and_continues_the_same_chains():
    """Batches continue the same chains until max R-hat < 1.01 and min ESS >= 400 (R-hat recomputed here
    from the concatenated draws)."""
    from linkernel.finite_n.diagnostics import ess_bulk, rhat
    from linkernel.finite_n.network_sampler import sample_until_converged
    pr = tasks.endpoint("rnn", T=3, lam=2.0)
    r = sample_until_converged(pr, 96, chains=4, first=60, batch=30, seed=4, progress=False)
    assert r.stop_reason == "converged" and r.converged
    iu = np.triu_indices(pr.n)
    x = r.draws[:, :, iu[0], iu[1]]
    assert r.draws.shape[1] == r.sweeps - r.burn
    assert r.diagnostics.min_ess >= 400 and np.min(ess_bulk(x)) >= 400
    assert np.max(rhat(x)) < 1.01


def test_sample_until_converged_cap_says_so():
    from linkernel.errors import SamplerWarning
    from linkernel.finite_n.network_sampler import sample_until_converged
    pr = tasks.endpoint("dnn", T=4, lam=2.0)
    with pytest.warns(SamplerWarning, match="stopped by max_sweeps"):
        r = sample_until_converged(pr, 64, chains=2, first=20, batch=10, max_sweeps=30, seed=1, progress=False)
    assert r.stop_reason == "max_sweeps" and not r.converged and r.sweeps - r.burn <= 30 + 10
    with pytest.raises(ValueError, match="max_minutes="):
        sample_until_converged(pr, 64, max_minutes=-1)


def test_layer_move_writes_theta_into_the_dnn_exactly():
    """The DNN's collapsed move: the frame read from the weights reproduces H; writing the same theta back
    changes no weight; a new theta gives weights whose own forward pass has the reduction's kernel, the same
    frame and the new X (bookkeeping to rounding)."""
    from linkernel.finite_n.network_moves import LayerMove
    from linkernel.finite_n.networks import Network
    pr = tasks.endpoint("dnn", T=4, P=2, D=2, lam=2.0)
    rng = np.random.default_rng(0)
    net = Network(pr, 48, 2, rng)
    mv = LayerMove(net, rng, warmup=60)
    Q, X, ex = mv.frame()
    G, _ = mv.red.states(X)
    assert np.allclose(np.swapaxes(G, 1, 2) @ G, net.kernel(), atol=1e-12)
    Z0 = {k: v.copy() for k, v in net.Z.items()}
    mv.set_theta(mv.red.pack(X), Q, ex)
    assert max(np.abs(net.Z[k] - Z0[k]).max() for k in Z0 if k != "v") < 1e-12
    Q, X, ex = mv.frame()
    mv.set_theta(mv.start, Q, ex)
    net.forward()                                       # the weights' own states
    Xn = mv.red.unpack(mv.start)
    Gn, _ = mv.red.states(Xn)
    assert np.allclose(net.kernel(), np.swapaxes(Gn, 1, 2) @ Gn, atol=1e-11)
    mv._cache = None
    Q2, X2, _ = mv.frame()
    assert np.allclose(Q2, Q, atol=1e-11) and np.allclose(X2, Xn, atol=1e-11)


def test_dnn_layer_move_agrees_with_the_exact_reduction_and_with_plain_gibbs():
    """DNN, T = 3, P = 2, N = 64: the collapsed layer move (default) against the exact finite-N posterior
    and against the exact layer Gibbs sweep (reduced_moves=False: no reduced density), every kernel entry
    and output within combined error bars (36 + 6 entries: max z < 4)."""
    from linkernel.finite_n.exact import exact_posterior
    from linkernel.finite_n.network_sampler import sample_networks
    pr = tasks.endpoint("dnn", T=3, P=2, D=2, lam=2.0)
    r = sample_networks(pr, 64, sweeps=500, chains=4, seed=1, progress=False, spectra=0, warn=False)
    assert r.reduced_moves and r.converged
    ex = exact_posterior(pr, 64, chains=4, samples=800, warmup=400, seed=2, progress=False)
    g = sample_networks(pr, 64, sweeps=500, chains=4, seed=3, progress=False, spectra=0, reduced_moves=False,
                        warn=False)
    assert not g.reduced_moves
    for a, b in ((r, ex), (r, g)):
        assert np.max(np.abs(a.kernel - b.kernel) / np.sqrt(a.stderr ** 2 + b.stderr ** 2)) < 4
        assert np.max(np.abs(a.predictions - b.predictions) /
                      np.sqrt(a.predictions_stderr ** 2 + b.predictions_stderr ** 2)) < 4


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_collapsed_moves_states_and_cached_frame_are_the_weights_own(arch):
    """After collapsed moves (one with the complement refresh) the states set from theta are the weights'
    own forward pass, and the frame the move keeps for the next move is the one read from the weights."""
    from linkernel.finite_n.network_moves import collapsed_move
    from linkernel.finite_n.networks import Network
    pr = tasks.endpoint(arch, T=4, P=2, D=2, lam=2.0)
    rng = np.random.default_rng(5)
    net = Network(pr, 64, 2, rng)
    mv = collapsed_move(net, rng)
    for k in range(7):
        mv(first=k == 0, refresh=k == 3)
    Qc, Xc, _ = mv.frame()
    h_theta = net.h.copy()
    net.forward()
    assert np.max(np.abs(net.h - h_theta)) < 1e-10 * np.max(np.abs(h_theta))
    mv._cache = None
    Q, X, _ = mv.frame()
    assert np.allclose(Q, Qc, atol=1e-10) and np.allclose(X, Xc, atol=1e-10)

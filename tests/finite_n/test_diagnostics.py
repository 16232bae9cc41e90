"""Sampler diagnostics and what users take away: against ArviZ, known processes, closed forms, NetCDF round trips.

* the vectorised ESS / R-hat / MCSE of :mod:`linkernel.finite_n.diagnostics` (the only ones) vs ArviZ,
  per entry and for one quantity;
* the SamplerWarning: fires (one warning, one line) on a deliberately short run, silent on a converged one;
* one chain: R-hat is None (null in JSON) with a reason, never NaN (ArviZ: NaN, undefined too);
* the outputs f: the batched conditional mean and variance vs a direct GP formula per draw;
* InferenceData of the draws round-trips through NetCDF;
* weight spectra: eigenvalues of a known matrix; the prior's circular law;
* bad input: ValueError naming the parameter.
"""

import json
import math
import re
import warnings

import numpy as np
import pytest

from linkernel import tasks
from linkernel.finite_n import diagnostics as dg
from linkernel.finite_n.draws import output_draws
from linkernel.finite_n.exact import N_MAX, exact_posterior
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.finite_n.spectra import eigenvalues
from linkernel.theory.action import predictions


def _ar1(rng, phi=0.8, shape=(4, 2000, 3)):
    x = np.zeros(shape)
    e = rng.normal(size=shape)
    for i in range(1, shape[1]):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    return x


def test_diagnostics_match_arviz_and_the_reference(rng):
    x = _ar1(rng)
    x[1, :, 2] += 0.5                                  # one chain off: R-hat > 1
    az = dg.import_arviz()
    ds = az.convert_to_dataset(x)
    np.testing.assert_allclose(dg.rhat(x), az.rhat(ds, method="rank")["x"].values, rtol=1e-10)
    np.testing.assert_allclose(dg.ess_bulk(x), az.ess(ds, method="bulk")["x"].values, rtol=2e-3)
    np.testing.assert_allclose(dg.ess_mean(x), az.ess(ds, method="mean")["x"].values, rtol=2e-3)
    np.testing.assert_allclose(dg.mcse(x), az.mcse(ds, method="mean")["x"].values, rtol=2e-3)
    for i in range(3):                                 # one quantity (chains, draws): a number, the same
        assert float(dg.ess_mean(x[:, :, i])) == pytest.approx(dg.ess_mean(x)[i], rel=1e-12)
        assert float(dg.rhat(x[:, :, i])) == pytest.approx(dg.rhat(x)[i], rel=1e-12)
    st = dg.entry_stats(x)
    np.testing.assert_allclose(st["ess_bulk"], dg.ess_bulk(x))
    np.testing.assert_allclose(st["rhat"], dg.rhat(x))
    # AR(1): integrated autocorrelation time (1 + phi) / (1 - phi) = 9
    assert dg.ess_mean(x)[0] == pytest.approx(8000 / 9, rel=0.2)


def test_one_chain_has_no_rhat_and_constant_draws_are_finite():
    x = np.random.default_rng(0).normal(size=(1, 100, 2))
    assert dg.rhat(x) is None
    az = dg.import_arviz()                              # ArviZ: undefined too (NaN), it needs >= 2 chains
    assert np.all(np.isnan(az.rhat(az.convert_to_dataset(x), method="rank")["x"].values))
    d = dg.assess(dg.ess_bulk(x), None, None, 1, 100)
    assert d.max_rhat is None and "one chain" in d.rhat_note
    c = np.ones((2, 50, 1))
    assert np.all(np.isfinite(dg.ess_bulk(c))) and dg.rhat(c)[0] == 1.0
    d = dg.assess(dg.ess_bulk(np.zeros((2, 3, 1))), dg.rhat(np.zeros((2, 3, 1))), 0, 2, 3)
    json.dumps(d.to_dict(), allow_nan=False)


def test_warning_fires_on_a_short_run_and_is_silent_on_a_converged_one():
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    with pytest.warns(dg.SamplerWarning) as rec:
        r = exact_posterior(p, 64, chains=2, samples=10, warmup=0, seed=0, progress=False)
    assert len(rec) == 1 and "\n" not in str(rec[0].message) and "did not converge" in str(rec[0].message)
    assert not r.converged and r.warnings and "NOT CONVERGED" not in r.summary().splitlines()[0]
    assert r.summary().splitlines()[-1].startswith("WARNING: not converged")
    with warnings.catch_warnings():
        warnings.simplefilter("error", dg.SamplerWarning)
        r = exact_posterior(p, 64, chains=4, samples=400, warmup=400, seed=0, progress=False)
    assert r.converged and r.warnings == () and r.max_rhat < 1.01 and r.min_ess >= 100
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["converged"] is True and d["warnings"] == []


def test_network_sampler_warns_when_short():
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    with pytest.warns(dg.SamplerWarning, match="sample_networks"):
        r = sample_networks(p, 32, sweeps=6, chains=2, seed=0, progress=False, spectra=0)
    assert not r.converged
    json.dumps(r.to_dict(), allow_nan=False)


def test_one_chain_exact_result_says_rhat_is_undefined():
    p = tasks.endpoint("rnn", T=3, lam=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SamplerWarning)
        r = exact_posterior(p, 64, chains=1, samples=60, warmup=60, seed=0, progress=False)
    assert r.max_rhat is None and r.rhat is None
    assert "R-hat n/a (1 chain)" in r.summary()
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["max_rhat"] is None and "one chain" in d["diagnostics"]["rhat_note"]


def test_outputs_given_the_kernel_match_the_gp_formula(rng):
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.5)
    A = rng.normal(size=(5, p.n, p.n))
    Hs = A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(p.n)
    mean, var = output_draws(p, Hs)
    idx = p.supervised_index
    for H, m, v in zip(Hs, mean, var):
        np.testing.assert_allclose(m, predictions(p, H), rtol=1e-12)
        K = p.v * H[np.ix_(idx, idx)] + p.kappa * np.eye(len(idx))
        cond = p.v * H - p.v ** 2 * H[:, idx] @ np.linalg.solve(K, H[idx, :])
        np.testing.assert_allclose(v.ravel(), np.diag(cond), rtol=1e-10, atol=1e-12)


def test_exact_outputs_have_error_bars_and_pin_the_supervised_output():
    p = tasks.endpoint("rnn", T=4, lam=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SamplerWarning)
        r = exact_posterior(p, 128, chains=2, samples=200, warmup=200, seed=1, progress=False)
    assert r.predictions.shape == (4, 1) and r.predictions_stderr.shape == (4, 1)
    assert np.all(r.predictions_stderr >= 0) and np.all(r.predictions_sd >= r.predictions_stderr * 0)
    # the GP mean of every draw, averaged: the same number the loop over draws gives
    ref = np.mean([predictions(p, h) for h in r.draws.reshape(-1, 4, 4)], axis=0)
    np.testing.assert_allclose(r.predictions, ref, rtol=1e-12)
    # supervised output: y v H/(v H + kappa), close to y = 2 when v H_SS >> kappa
    assert r.predictions[-1, 0] == pytest.approx(2.0 * 1, rel=0.05)


def test_inference_data_round_trips_through_netcdf(tmp_path):
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SamplerWarning)
        r = exact_posterior(p, 64, chains=2, samples=30, warmup=30, seed=0, progress=False)
    az = dg.import_arviz()
    path = r.save(tmp_path / "run.nc")
    back = az.from_netcdf(path)
    H = back.posterior["H"].values                                     # (chain, draw, t, p, t2, p2)
    np.testing.assert_array_equal(H.reshape(r.draws.shape), r.draws)
    np.testing.assert_array_equal(back.posterior["f"].values, r.f_draws)
    assert float(back.posterior["m"].mean()) == pytest.approx(r.order_parameter, rel=1e-12)
    assert json.loads(back.posterior.attrs["problem"])["T"] == 3
    with pytest.raises(ValueError, match="path"):
        r.save(tmp_path / "no_such_dir" / "run.nc")


def test_spectra_of_known_matrices_and_of_the_prior():
    D = np.diag([3.0, -2.0, 0.5])
    S = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    np.testing.assert_allclose(eigenvalues(S @ D @ S.T).real, [3.0, -2.0, 0.5], atol=1e-12)
    p = tasks.endpoint("dnn", T=3, lam=0.0)
    r = sample_networks(p, 200, sweeps=8, chains=1, seed=0, progress=False, spectra=1, warn=False)
    sp = r.spectra
    assert sp.names == ("W1", "W2") and sp.eigenvalues["W1"].shape == (1, 1, 200)
    # lambda = 0: the weights are prior draws, whose spectrum fills the disc of radius sqrt(w) (circular law)
    for n in sp.names:
        assert np.mean(np.abs(sp.eigenvalues[n]) ** 2) == pytest.approx(p.w / 2, rel=0.15)
        assert sp.spectral_radius(n).max() == pytest.approx(math.sqrt(p.w), rel=0.15)
    json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize("kw, name", [
    (dict(seed=-1), "seed"), (dict(block_rows=0), "rows"), (dict(block_rows=-1), "rows"),
    (dict(method="gibbs", step=0.01), "step"), (dict(method="langevin", step=1e-3, extrapolate_duration=1e308), "extrapolate"),
    (dict(method="gibbs", extrapolate_duration=1.0, step=1e-3), "extrapolate"), (dict(spectra=-1), "spectra"),
])
def test_network_sampler_refuses_bad_input(kw, name):
    p = tasks.endpoint("rnn", T=3)
    with pytest.raises(ValueError, match=name):
        sample_networks(p, 16, sweeps=8, chains=1, progress=False, **kw)


def test_exact_refuses_bad_input():
    p = tasks.endpoint("rnn", T=3)
    with pytest.raises(ValueError, match="seed"):
        exact_posterior(p, 64, seed=-1)
    with pytest.raises(ValueError, match=re.escape(f"{N_MAX:.0e}")):
        exact_posterior(p, 10 ** 300)
    with pytest.raises(ValueError, match="target_accept"):
        exact_posterior(p, 64, target_accept=1.5)

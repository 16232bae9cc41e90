"""The weight-spectrum theory (linkernel.theory.spectrum, derivations/weight_spectrum.tex) against sampled networks.

Sampled networks here are exact posterior draws of the weights at width N: kernel draws of the
exact reduction (HMC, exact at every N) completed to N x N matrices (W fixed on the span of the
states, fresh elsewhere); the slow tests also use the real-network sampler.  Tolerances are the
draws' own standard errors (the outlier fluctuates by O(N^-1/2) per draw).
"""

import json

import numpy as np
import pytest

from linkernel import tasks
from linkernel.architecture import tied_blocks
from linkernel.serialize import dumps
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import critical_lambda
from linkernel.finite_n.spectra import network_weights, sampled_spectrum, spectrum_report
from linkernel.theory.spectrum import propagator, weight_spectrum


@pytest.fixture(scope="module")
def lam_c():
    return critical_lambda(tasks.endpoint("rnn", T=4))


def test_propagator_is_the_compression_of_the_sampled_matrix(lam_c):
    """M_g = H_prev^-1 H_prev,next has the eigenvalues of Q_V^T W Q_V, W built from the hidden states."""
    pr = tasks.endpoint("rnn", T=4, P=2, lam=2 * lam_c)
    H = saddle_point(pr).kernel
    W = network_weights(pr, H, 64, np.random.default_rng(0))["W"]
    k = 3 * 2
    B = W[:k, :k]                                            # the first k axes of the frame span V
    M = propagator(pr, H, 0)
    # similar matrices: equal traces of every power (eigenvalues near 0 are defective, so compare these)
    for j in range(1, k + 1):
        assert np.isclose(np.trace(np.linalg.matrix_power(B, j)), np.trace(np.linalg.matrix_power(M, j)),
                          rtol=1e-9, atol=1e-9)
    # and W really maps each state to the next: h^t = W h^(t-1) in the frame (h = sqrt(N) R)
    R = np.linalg.cholesky(H).T
    G = np.zeros((64, pr.n))
    G[:pr.n] = R
    assert np.allclose(W @ G[:, :-2], G[:, 2:], atol=1e-10)


def test_no_outlier_on_the_symmetric_branch_or_in_the_dnn(lam_c):
    """Below lambda_c (RNN) and for the DNN at any lambda M_g = 0: no outlier predicted, none sampled."""
    N = 256
    for pr in (tasks.endpoint("rnn", T=4, lam=0.7 * lam_c), tasks.endpoint("dnn", T=4, lam=2 * lam_c)):
        th = weight_spectrum(pr)
        assert not th.has_outlier
        for n in th.names:
            assert np.max(np.abs(th.eigenvalues[n])) < 1e-6
        s = sampled_spectrum(pr, N, draws=4, top=1, seed=1, warmup=150)
        for n in s.names:
            # the circular law's edge at N = 256: 1 + O((log N / N)^1/2); the broken RNN's outlier is 1.28
            assert s.spectral_radius[n].max() < 1.15, (pr.arch, n, s.spectral_radius[n])


def test_outlier_above_the_transition_matches_sampled_networks(lam_c):
    """T = 4, lambda = 2 lambda_c: predicted outlier vs the nearest sampled eigenvalue at N = 256."""
    pr = tasks.endpoint("rnn", T=4, lam=2 * lam_c)
    th = weight_spectrum(pr)
    (z,) = th.outliers["W"]
    assert abs(z.imag) < 1e-12 and z.real > 1.1             # real, outside the unit disc
    N = 256
    s = sampled_spectrum(pr, N, draws=16, top=3, seed=2)
    near = s.nearest("W", z).real
    se = near.std(ddof=1) / np.sqrt(len(near))
    # O(N^-1/2) per draw, with a large prefactor: the Landau potential of m is flat (b ~ 1e-4), so the
    # kernel draws' m, and with it the outlier, spread widely at modest N
    assert near.std(ddof=1) < 4.0 / np.sqrt(N)
    assert abs(near.mean() - z.real) < 4 * se + 1.0 / N, (near.mean(), z, se)


def test_report_json_and_patterns(lam_c):
    """Strict JSON with [re, im] pairs per matrix; a hybrid pattern gets one entry per W group."""
    pr = tasks.endpoint(tied_blocks(6, 2, shared_u=True), T=6, lam=2.0)
    rep = spectrum_report(pr)
    d = json.loads(dumps(rep.to_dict()))
    assert set(d["outliers"]) == {"W1", "W3", "W5"} and d["sampled"] is None
    assert all(r == 1.0 for r in d["bulk_radius"].values())
    for pairs in d["outliers"].values():
        assert all(len(p) == 2 for p in pairs)
    # an unshared group acts on one state: M is 1x1, H^{t-1,t} / H^{t-1,t-1}
    H = rep.theory.kernel
    assert np.isclose(rep.theory.propagators["W5"][0, 0], H[4, 5] / H[4, 4])


def test_complex_outliers_come_in_conjugate_pairs():
    """Sinusoidal teacher (period 10, |z*| = 1): the RNN's W learns the teacher's rotation, a conjugate pair
    at angle ~ 2 pi / 10 on the unit circle; at lambda = 4 it just escapes the bulk."""
    pr = tasks.teacher_sequence("rnn", T=10, period=10.0, lam=4.0)
    th = weight_spectrum(pr)
    z = th.outliers["W"]
    assert len(z) == 2 and np.isclose(z[0], np.conj(z[1]))
    assert abs(np.angle(z[0]) - 2 * np.pi / 10) < 0.05 * 2 * np.pi / 10
    assert 1.0 < abs(z[0]) < 1.05


def test_bad_inputs():
    pr = tasks.sinusoid("rnn", T=4)
    x = np.array(pr.x)
    x[2, 0, 0] = 1.0
    with pytest.raises(ValueError, match="t >= 1"):
        weight_spectrum(pr.with_(x=x))
    with pytest.raises(ValueError, match="kernel has shape"):
        weight_spectrum(pr, kernel=np.eye(3))
    with pytest.raises(ValueError, match="saddle_or_problem"):
        weight_spectrum(3.0)


@pytest.mark.slow
def test_outlier_within_one_percent_at_N2048_and_gap_shrinks(lam_c):
    """Acceptance: |sampled - predicted| / predicted < 1% at N = 2048 (T = 4, lambda = 2 lambda_c), the error bar and one network's gap shrinking."""
    pr = tasks.endpoint("rnn", T=4, lam=2 * lam_c)
    (z,) = weight_spectrum(pr).outliers["W"]
    gaps = {}
    for N, draws in ((256, 64), (2048, 128)):
        near = sampled_spectrum(pr, N, draws=draws, top=3 if N <= 400 else 1, seed=3).nearest("W", z).real
        gaps[N] = (abs(near.mean() - z.real) / z.real, near.std(ddof=1) / np.sqrt(draws) / z.real,
                   np.sqrt(np.mean((near - z.real) ** 2)) / z.real)
    assert gaps[2048][0] < 0.01, gaps
    # the spread (the error bar of the gap) shrinks like N^-1/2
    assert gaps[2048][1] < 0.6 * gaps[256][1], gaps
    # and so does one network's gap (rms of sampled - predicted over draws): if the sampled outlier
    # converged anywhere but the prediction, it would level off at that bias instead
    # (N^-1/2 over 8x in N: a factor 0.35; 0.6 leaves room for the noise of 64 / 128 draws)
    assert gaps[2048][2] < 0.6 * gaps[256][2], gaps


@pytest.mark.slow
def test_outlier_against_the_real_network_sampler(lam_c):
    """The real network sampler's top eigenvalue (sign fixed by m >= 0) agrees with the prediction."""
    from linkernel.finite_n.network_sampler import sample_networks
    pr = tasks.endpoint("rnn", T=4, lam=2 * lam_c)
    (z,) = weight_spectrum(pr).outliers["W"]
    N = 256
    r = sample_networks(pr, N, sweeps=80, chains=2, spectra=8, progress=False, warn=False)
    top = np.abs(r.spectra.eigenvalues["W"][..., 0]).ravel()     # |z|: the sign of W is arbitrary
    se = top.std(ddof=1) / np.sqrt(top.size)
    assert abs(top.mean() - abs(z)) < 4 * se + 2.0 / N, (top.mean(), z, se)


@pytest.mark.slow
def test_fig3_sizes_outliers_rnn_only():
    """T = 8, P = 4 (Fig. 3): outliers for the RNN at strong signal, none for the DNN; sampled at N = 512."""
    for arch, expect in (("rnn", True), ("dnn", False)):
        pr = tasks.endpoint(arch, T=8, P=4, D=4, lam=3.0)
        rep = spectrum_report(pr, N=512, draws=6)
        assert rep.theory.has_outlier == expect
        for n in rep.theory.names:
            for c in rep.comparison[n]:
                assert c["relative_gap"] < 4 * c["stderr"] / np.hypot(*c["theory"]) + 0.03, c

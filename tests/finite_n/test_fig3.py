"""The paper's Fig. 3 size (RNN endpoint, T = 8, P = 4: a 32 x 32 kernel): the samplers against each other (slow).

* exact reduction converged (R-hat < 1.01, ESS >= 400) at N = 256 and N = 1e6;
* the network sampler (real width-N networks) against the exact reduction at the same N, on every kernel
  entry and every output f, in combined error bars (528 + 32 roughly normal z: max < 4.5);
* the exact reduction at N = 1e6 against the saddle point of the action: O(1/N).

Run with ``pytest -m slow tests/finite_n/test_fig3.py`` (several minutes per case on two cores).
"""

import numpy as np
import pytest

from linkernel import tasks
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.problem import fix_z2_sign
from linkernel.theory.saddle import saddle_point

FIG3 = tasks.endpoint("rnn", T=8, P=4, lam=1.0)


def _z(a, sa, b, sb):
    return np.max(np.abs(a - b) / np.sqrt(sa ** 2 + sb ** 2 + 1e-300))


@pytest.mark.slow
@pytest.mark.parametrize("N", [256, 2048])
def test_network_sampler_agrees_with_exact_reduction_at_fig3_size(N):
    ex = exact_posterior(FIG3, N, chains=4, samples=1000, warmup=1000, seed=1, progress=False)
    assert ex.converged and ex.max_rhat < 1.01 and ex.min_ess >= 400
    r = sample_networks(FIG3, N, sweeps=300, chains=4, seed=2, progress=False, spectra=0)
    assert r.tau < 10
    assert _z(r.kernel, r.stderr, ex.kernel, ex.stderr) < 4.5
    assert _z(r.predictions, r.predictions_stderr, ex.predictions, ex.predictions_stderr) < 4.5
    assert np.max(np.abs(r.kernel - ex.kernel)) < 0.02 * np.max(np.abs(ex.kernel))


@pytest.mark.slow
def test_exact_reduction_at_large_N_is_the_saddle_point():
    N = 10 ** 6
    ex = exact_posterior(FIG3, N, chains=4, samples=1000, warmup=1000, seed=3, progress=False)
    assert ex.converged and ex.max_rhat < 1.01 and ex.min_ess >= 400
    sp = fix_z2_sign(FIG3, saddle_point(FIG3).kernel)
    scale = np.max(np.abs(sp))
    # posterior mean = saddle + O(1/N) (a few / N in units of the kernel's scale), plus Monte Carlo error
    assert np.all(np.abs(ex.kernel - sp) < 5 * ex.stderr + 50 * scale / N), np.max(np.abs(ex.kernel - sp))


FIG3_DNN = tasks.endpoint("dnn", T=8, P=4, lam=1.0)


@pytest.mark.slow
def test_dnn_layer_move_agrees_with_exact_reduction_and_plain_gibbs_at_fig3_size():
    """DNN, T = 8, P = 4, N = 256: the collapsed layer move against the exact reduction (the same reduced
    density: checks the bookkeeping) and against the exact layer Gibbs sweep (no reduced density: checks
    the density), every kernel entry and output in combined error bars."""
    N = 256
    ex = exact_posterior(FIG3_DNN, N, chains=4, samples=1000, warmup=1000, seed=1, progress=False)
    assert ex.converged
    r = sample_networks(FIG3_DNN, N, sweeps=400, chains=4, seed=2, progress=False, spectra=0)
    assert r.reduced_moves and r.tau < 10
    g = sample_networks(FIG3_DNN, N, sweeps=400, chains=4, seed=3, progress=False, spectra=0, reduced_moves=False)
    for a, b in ((r, ex), (r, g)):
        assert _z(a.kernel, a.stderr, b.kernel, b.stderr) < 4.5
        assert _z(a.predictions, a.predictions_stderr, b.predictions, b.predictions_stderr) < 4.5

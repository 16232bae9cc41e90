"""The collapsed moves' bookkeeping of the weights (arrays known on a subspace, drawn where read) and their
agreement with samplers that do not use the reduced density.

Fast: what :meth:`Network.known` / :meth:`Network.set_known` / :meth:`Network.matmul` return is what the
written array gives; a lazily drawn network has the prior's weights and its states are their forward
pass; after collapsed moves (and complement refreshes) the states set from theta are the written
weights' own forward pass, computed here with plain NumPy; the refresh keeps each layer on its input
directions and redraws it elsewhere; the DNN run agrees with the exact reduction on every kernel entry.

Slow (``pytest -m slow tests/finite_n/test_network_moves.py``): the collapsed moves against the
explicit-weight samplers (``reduced_moves=False``: the RNN's row-block Metropolis steps and exact U, v
draws; the DNN's exact Gaussian layer draws), which never evaluate the reduced density, at the figures'
sizes: T = 4 at N = 512 and T = 8, P = 4 at N = 256; and the DNN against the exact reduction at
Fig. 3's size (T = 8, P = 4, N = 2048).
"""

import numpy as np
import pytest

from linkernel import tasks
from linkernel.finite_n.network_moves import collapsed_move
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.finite_n.networks import Network


def _z(a, sa, b, sb):
    """The largest deviation in combined error bars."""
    return float(np.max(np.abs(a - b) / np.sqrt(sa ** 2 + sb ** 2 + 1e-300)))


def _orthonormal(rng, C, n, m):
    return np.linalg.qr(rng.standard_normal((C, n, m)))[0]


def _explicit_forward(net) -> np.ndarray:
    """The hidden states (C, N, TP) of the written weights ``net.Z``, by the model's recursion in plain NumPy."""
    pr, Z = net.problem, net.Z
    P = pr.P
    h = np.zeros((net.C, net.N, pr.T * P))
    for t in range(pr.T):
        ht = Z[net.uname[net.u_of[t]]] @ (np.sqrt(pr.u / pr.D) * pr.x[t].T)
        if t:
            g = net.w_of[t]
            ht = ht + np.sqrt(net.problem.arch.group_variances(pr.w)[g] / net.N) * Z[net.wname[g]] @ h[:, :, (t - 1) * P:t * P]
        h[:, :, t * P:(t + 1) * P] = ht
    return h


def test_an_array_known_on_a_subspace_is_the_written_array():
    """known = Z E; after set_known(Y, E) the written array is Z (1 - E E^T) + Y E^T; with fresh=True it is Y
    on E and a new N(0, 1) draw off E (independent of the old part: correlation ~ 0, mean square ~ 1)."""
    pr = tasks.endpoint("dnn", T=3, P=2, D=2, lam=1.0)
    rng = np.random.default_rng(0)
    net = Network(pr, 64, 3, rng)
    C, N, m = 3, 64, 5
    Z0 = net.Z["W1"].copy()
    E = _orthonormal(rng, C, N, m)
    assert np.allclose(net.known("W1", E), Z0 @ E, atol=1e-12)
    Y = rng.standard_normal((C, N, m))
    net.set_known("W1", Y, E)
    V = E @ rng.standard_normal((C, m, 3))                       # in span(E): read from Y, nothing written
    assert np.allclose(net.matmul("W1", V), Y @ np.swapaxes(E, 1, 2) @ V, atol=1e-12)
    P_E = E @ np.swapaxes(E, 1, 2)
    Zw = net.Z["W1"]
    assert np.allclose(Zw @ E, Y, atol=1e-12)
    assert np.allclose(Zw - Zw @ P_E, Z0 - Z0 @ P_E, atol=1e-12)
    old_off = Zw - Zw @ P_E
    Y3 = rng.standard_normal((C, N, m))
    net.set_known("W1", Y3, E, fresh=True)
    Zw = net.Z["W1"]
    off = Zw - Zw @ P_E
    assert np.allclose(Zw @ E, Y3, atol=1e-12)
    n = C * N * (N - m)                                          # entries' worth of chi-square dof off E
    assert abs(np.sum(off ** 2) / n - 1) < 5 * np.sqrt(2 / n)
    corr = np.sum(off * old_off) / np.sqrt(np.sum(off ** 2) * np.sum(old_off ** 2))
    assert abs(corr) < 5 / np.sqrt(n)


def test_a_lazy_network_has_the_prior_weights_and_their_forward_pass():
    """Network(lazy=True) draws each DNN layer on the directions its forward pass reads: the written layers
    reproduce those states exactly, and on any orthonormal set of directions (the states' included) their
    columns are independent N(0, 1) (Gram / N = 1 within sampling error: no direction drawn twice)."""
    pr = tasks.endpoint("dnn", T=4, P=3, D=3, lam=1.0)
    rng = np.random.default_rng(1)
    C, N = 4, 400
    net = Network(pr, N, C, rng, lazy=True)
    assert not any(name in net._Z for name in ("W1", "W2", "W3"))       # nothing N x N drawn yet
    h = net.h.copy()
    assert np.allclose(_explicit_forward(net), h, atol=1e-10 * np.max(np.abs(h)))
    for t in (1, 2, 3):
        Zw = net.Z[f"W{t}"]
        E = np.linalg.qr(np.concatenate([h[:, :, (t - 1) * 3:t * 3], rng.standard_normal((C, N, 5))], axis=2))[0]
        gram = np.swapaxes(Zw @ E, 1, 2) @ (Zw @ E) / N
        assert np.max(np.abs(gram - np.eye(8))) < 5.5 / np.sqrt(N)
        n = Zw.size
        assert abs(np.mean(Zw)) < 5 / np.sqrt(n) and abs(np.mean(Zw ** 2) - 1) < 5 * np.sqrt(2 / n)


@pytest.mark.parametrize("arch,lazy", [("dnn", True), ("dnn", False), ("rnn", False)])
def test_collapsed_moves_states_are_the_written_weights_forward_pass(arch, lazy):
    """After collapsed moves (two with the complement refresh) the states set from theta are the plain NumPy
    forward pass of the written weights, and the frame the move keeps is the one read from them."""
    pr = tasks.endpoint(arch, T=4, P=2, D=2, lam=2.0)
    rng = np.random.default_rng(5)
    net = Network(pr, 64, 2, rng, lazy=lazy)
    mv = collapsed_move(net, rng)
    for k in range(9):
        mv(first=k == 0, refresh=k in (3, 6))
    Qc, Xc, _ = mv.frame()
    h_theta = net.h.copy()
    assert np.max(np.abs(_explicit_forward(net) - h_theta)) < 1e-10 * np.max(np.abs(h_theta))
    mv._cache = None
    Q, X, _ = mv.frame()
    assert np.allclose(Q, Qc, atol=1e-10) and np.allclose(X, Xc, atol=1e-10)


def test_layer_refresh_keeps_the_input_directions_and_redraws_the_rest():
    """refresh_complements: each layer's image of its input directions O_t (the fresh columns) is kept; off
    them the written layer is a new N(0, 1) draw (uncorrelated with the old one, mean square 1)."""
    pr = tasks.endpoint("dnn", T=3, P=2, D=2, lam=2.0)
    rng = np.random.default_rng(2)
    net = Network(pr, 300, 2, rng, lazy=True)
    mv = collapsed_move(net, rng)
    Q = mv(first=True, refresh=False)
    h = net.h.astype(float)
    before = {k: v.copy() for k, v in net.Z.items()}
    mv.refresh_complements(Q)
    after = net.Z
    for t in (1, 2):
        Ow, Ou = mv._orth(h, t)
        full_b = np.concatenate([before[f"W{t}"], before[f"U{t}"]], axis=2)
        full_a = np.concatenate([after[f"W{t}"], after[f"U{t}"]], axis=2)
        O = np.concatenate([Ow, Ou], axis=1)
        assert np.allclose(full_a @ O, full_b @ O, atol=1e-9)
        P_O = O @ np.swapaxes(O, 1, 2)
        off_a, off_b = full_a - full_a @ P_O, full_b - full_b @ P_O
        n = off_a.size
        assert abs(np.mean(off_a ** 2) - 1) < 5 * np.sqrt(2 / n)
        assert abs(np.sum(off_a * off_b)) / np.sqrt(np.sum(off_a ** 2) * np.sum(off_b ** 2)) < 5 / np.sqrt(n)


def test_dnn_run_agrees_with_the_exact_reduction_on_every_kernel_entry():
    """DNN, T = 4, P = 2, N = 48 (the default: collapsed layer move on a lazily drawn network) against the
    exact finite-N posterior: every kernel entry and output within combined error bars (36 + 8: max z < 4)."""
    from linkernel.finite_n.exact import exact_posterior
    pr = tasks.endpoint("dnn", T=4, P=2, D=2, lam=2.0)
    r = sample_networks(pr, 48, sweeps=400, chains=4, seed=4, progress=False, spectra=0, warn=False)
    assert r.reduced_moves and r.converged
    ex = exact_posterior(pr, 48, chains=4, samples=800, warmup=400, seed=5, progress=False)
    assert _z(r.kernel, r.stderr, ex.kernel, ex.stderr) < 4
    assert _z(r.predictions, r.predictions_stderr, ex.predictions, ex.predictions_stderr) < 4


@pytest.mark.slow
def test_dnn_run_agrees_with_the_exact_reduction_at_the_figure_size():
    """Fig. 3's size, T = 8, P = 4, N = 2048, DNN until converged (R-hat < 1.01, ESS >= 400: the figures'
    criterion) against the exact finite-N posterior (HMC on the reduction, cost independent of N):
    every one of the 528 distinct kernel entries and the 32 outputs within combined error bars
    (max z < 4.8, the 99.9% point of the largest of 528 |N(0, 1)|)."""
    from linkernel.finite_n.exact import exact_posterior
    from linkernel.finite_n.network_sampler import sample_until_converged
    pr = tasks.endpoint("dnn", T=8, P=4, D=4, lam=1.0)
    r = sample_until_converged(pr, 2048, chains=4, first=200, seed=1, spectra=0, progress=False, warn=False)
    assert r.reduced_moves and r.diagnostics.max_rhat < 1.01
    ex = exact_posterior(pr, 2048, chains=4, samples=1000, warmup=1000, seed=2, progress=False)
    iu = np.triu_indices(pr.n)
    assert _z(r.kernel[iu], r.stderr[iu], ex.kernel[iu], ex.stderr[iu]) < 4.8
    assert _z(r.predictions, r.predictions_stderr, ex.predictions, ex.predictions_stderr) < 4.8


SIZES = [("rnn", 4, 1, 512, 2.0, 600), ("dnn", 4, 1, 512, 2.0, 300),
         ("rnn", 8, 4, 256, 1.0, 800), ("dnn", 8, 4, 256, 1.0, 400)]


@pytest.mark.slow
@pytest.mark.parametrize("arch,T,P,N,lam,sweeps", SIZES, ids=[f"{s[0]}-T{s[1]}-P{s[2]}-N{s[3]}" for s in SIZES])
def test_collapsed_moves_agree_with_the_explicit_weight_samplers(arch, T, P, N, lam, sweeps):
    """The collapsed move (HMC of the reduced density) against the sampler of the explicit weights that never
    evaluates it (``reduced_moves=False``): every kernel entry and output within combined error bars
    (max z < 4.5 over up to 528 + 32 entries), the explicit chains themselves converged (R-hat < 1.05)."""
    pr = tasks.endpoint(arch, T=T, P=P, lam=lam)
    r = sample_networks(pr, N, sweeps=300, chains=4, seed=11, progress=False, spectra=0, warn=False)
    g = sample_networks(pr, N, sweeps=sweeps, chains=4, seed=12, progress=False, spectra=0, warn=False,
                        reduced_moves=False)
    assert r.reduced_moves and not g.reduced_moves
    assert g.diagnostics.max_rhat < 1.05 and r.diagnostics.max_rhat < 1.05
    assert _z(r.kernel, r.stderr, g.kernel, g.stderr) < 4.5
    assert _z(r.predictions, r.predictions_stderr, g.predictions, g.predictions_stderr) < 4.5

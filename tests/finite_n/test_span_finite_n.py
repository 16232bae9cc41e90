"""Finite width in the span's coordinates (issue 29, item 3; derivations/span_reduction.tex, "Finite width").

A task with P > D has no Problem of its own; its finite-N posterior is that of the reduced Problem
(r virtual patterns, K = T r fresh directions instead of T P).  Checked here:

* the weight-space identity behind it, for random networks on the raw P > D data: every output is
  the lift of the virtual patterns' outputs, and the squared error splits into the reduced one plus
  lam^2 |yhat_perp|^2 (the reduction's constant), for RNN, DNN and a hybrid with inputs at two steps;
* the exact finite-N posterior (HMC on the rotation-invariant reduction) and real networks
  (the Gibbs network sampler) on the same reduced task agree within error bars;
* as N grows the exact posterior mean approaches the saddle point like 1/N, as the 1/N theory
  (finite_width) says: agreement with H* + delta_H / N within error bars, while H* alone is rejected;
* held-out predictions: every exact draw's GP at the held-out inputs, averaged (span.predict on the
  sampler's result), agrees with span.predict on the 1/N theory at the same N within error bars,
  and so do the held-out test errors (the issue's acceptance), while the saddle point's are rejected.
"""

import warnings

import numpy as np
import pytest

from linkernel import datasets
from linkernel.architecture import Architecture
from linkernel.finite_n.diagnostics import mcse
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.finite_width import finite_width
from linkernel.finite_n.network_sampler import sample_networks
from linkernel.theory.saddle import saddle_point
from linkernel.theory.span import predict, reduce_data
from linkernel.theory.special_points import critical_lambda


def _task(seed=0, P=40, test=16, T=3, arch="rnn"):
    """A P > D task: 2-dimensional inputs, noisy linear +-1 labels (r = 2, K = T r = 6)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, 2))
    y = np.sign(X @ np.array([1.0, 0.5]) + 0.5 * rng.standard_normal(P))
    return datasets.from_arrays(X, y, T=T, test=test, arch=arch, kappa=0.5)


@pytest.fixture(scope="module")
def broken():
    """The reduced task in its broken phase (lam = 1.2 lambda_c) and its saddle point."""
    task = _task()
    pr = task.problem
    p = pr.with_(lam=1.2 * critical_lambda(pr, lam_min=0.01))
    return task, p, saddle_point(p)


# --- the identity in weight space, any N ---------------------------------------------------------
def _outputs(Ws, Us, v, x):
    """A linear network with arbitrary per-step maps: h^t = W_t h^{t-1} + U_t x^t, f^t = v . h^t; (T, P)."""
    h = Us[0] @ x[0].T
    out = [v @ h]
    for t in range(1, len(x)):
        h = Ws[t] @ h + Us[t] @ x[t].T
        out.append(v @ h)
    return np.array(out)


@pytest.mark.parametrize("arch,subset", [("rnn", False), ("dnn", True), ("hybrid", False)])
def test_network_outputs_and_loss_split_exactly_for_P_above_D(arch, subset):
    rng = np.random.default_rng(1)
    T, P, D, N = 4, 30, 5, 7
    x = np.zeros((T, P, D))
    x[0] = rng.standard_normal((P, D))
    if arch == "hybrid":                                        # inputs at t = 2 too, inside the span of t = 0
        x[2] = x[0] @ rng.standard_normal((D, D))
    a = Architecture(T, W=[[1, 2], [3]], U=[[0, 2], [1], [3]]) if arch == "hybrid" else arch
    yhat = rng.standard_normal((T, P))
    pats = range(0, P, 2) if subset else range(P)
    S = [(t, p) for t in (1, T - 1) for p in pats]
    lam = 1.3
    red = reduce_data(a, T, x, S, yhat, lam=lam, kappa=0.4)
    assert red.r == D and red.P == P
    Z = np.asarray(red.problem.x)
    Ws = [None] + [rng.standard_normal((N, N)) for _ in range(1, T)]
    Us = [rng.standard_normal((N, D)) for _ in range(T)]
    v = rng.standard_normal(N)
    f_full, f_red = _outputs(Ws, Us, v, x), _outputs(Ws, Us, v, Z)
    np.testing.assert_allclose(red.lift_predictions(f_red), f_full, atol=1e-10 * np.abs(f_full).max())
    loss_full = sum((lam * yhat[t, p] - f_full[t, p]) ** 2 for t, p in S)
    ytil = np.asarray(red.problem.yhat)
    loss_red = sum((lam * ytil[t, k] - f_red[t, k]) ** 2 for t, k in red.problem.supervised)
    # the Gaussian likelihood exp(-loss / (2 kappa)): the constant is lam^2 offset_unit
    assert loss_full / (2 * 0.4) == pytest.approx(loss_red / (2 * 0.4) + red.offset(), rel=1e-12)


# --- exact posterior, networks and the 1/N theory on the reduced task ---------------------------
def test_exact_posterior_and_networks_agree_on_the_reduced_task(broken):
    task, p, _ = broken
    assert task.reduction.P == 24 and p.n == 6                  # K = T r = 6 instead of T P = 72
    N = 32
    ex = exact_posterior(p, N, samples=1000, warmup=500, progress=False, seed=1)
    nw = sample_networks(p, N, sweeps=800, chains=4, seed=1, progress=False)
    assert ex.converged and nw.max_rhat < 1.05
    z = np.abs(nw.kernel - ex.kernel) / np.sqrt(nw.stderr ** 2 + ex.stderr ** 2)
    assert z.max() < 4.5, (nw.kernel, ex.kernel)
    # the lifted kernels (72 x 72 for the 24 training patterns) agree the same way (lift is linear)
    Hd = task.reduction.lift(nw.kernel - ex.kernel)
    assert np.abs(Hd).max() <= 4.5 * np.abs(task.reduction.lift(np.sqrt(nw.stderr ** 2 + ex.stderr ** 2))).max()


@pytest.mark.parametrize("N", [256, 1024])
def test_exact_posterior_approaches_the_saddle_point_like_one_over_N(broken, N):
    _, p, sp = broken
    ex = exact_posterior(p, N, samples=1000, warmup=500, progress=False, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                         # N = 256: G above its bound, still O(1/N)
        fw = finite_width(sp, N)
    assert ex.converged
    se = ex.stderr + 1e-12
    assert np.max(np.abs(ex.kernel - fw.kernel_N) / se) < 4.5     # H* + delta_H / N within error bars
    assert np.max(np.abs(ex.kernel - fw.saddle_kernel) / se) > 6  # ... and the 1/N term is resolved
    # the distance to the saddle point times N is delta_H (Frobenius norms, within 3 error bars)
    d = N * np.linalg.norm(ex.kernel - fw.saddle_kernel)
    assert abs(d - np.linalg.norm(fw.correction)) < 3 * N * np.linalg.norm(ex.stderr) + 0.15 * d


def test_held_out_predictions_of_the_exact_posterior_agree_with_predict_at_the_same_N(broken):
    task, p, sp = broken
    N = 256
    ex = exact_posterior(p, N, samples=1000, warmup=500, progress=False, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fw = finite_width(sp, N)
    pe, pf, ps = (task.reduction.predict(r, task.x_test) for r in (ex, fw, sp))
    assert pe.mean_draws.shape == (4, 1000, 3, 16) and pe.N == pf.N == N and ps.N is None
    se = mcse(pe.mean_draws)[-1]
    assert np.max(np.abs(pe.mean[-1] - pf.mean[-1]) / se) < 4.5
    assert np.max(np.abs(pe.mean[-1] - ps.mean[-1]) / se) > 6    # the finite-N shift is resolved
    # the spread of the GP mean over the kernel's posterior: the draws' and the 1/N theory's
    np.testing.assert_allclose(pe.mean_sd[-1], pf.mean_sd[-1], rtol=0.15)
    # the held-out test errors (the acceptance)
    ee, ef, es = (task.test_error(r) for r in (ex, fw, sp))
    assert ee["N"] == N and ee["mse_stderr"] > 0
    assert abs(ee["mse"] - ef["mse"]) < 4.5 * ee["mse_stderr"]
    assert abs(ee["mse"] - es["mse"]) > 4.5 * ee["mse_stderr"]
    assert ee["error_rate"] == ef["error_rate"]


def test_predict_on_the_one_over_N_theory_is_its_predictions_at_training_inputs(broken):
    """At the training inputs, span.predict(FiniteWidth) must be finite_width's own f* + delta_f / N."""
    task, p, sp = broken
    fw = finite_width(sp, 1024)
    Z0 = np.asarray(p.x)[0]
    pr = predict(p, fw, Z0)
    np.testing.assert_allclose(pr.mean, fw.predictions_N, atol=1e-9 * np.abs(fw.predictions_N).max())
    np.testing.assert_allclose(pr.mean_sd[-1], fw.predictions_N_std[-1], rtol=1e-6)
    # through the reduction, at the 24 raw training inputs: the lift of the same
    Xtr = task.reduction.lift_predictions(Z0.T).T
    np.testing.assert_allclose(task.reduction.predict(fw, Xtr).mean, task.reduction.lift_predictions(fw.predictions_N),
                               atol=1e-9 * np.abs(fw.predictions_N).max())


def test_predict_refuses_a_result_of_another_problem(broken):
    task, p, sp = broken
    with pytest.raises(ValueError, match="lam"):
        predict(task.problem, sp, task.x_test)                  # sp is at lam = 1.2 lambda_c, not 1
    other = _task(seed=5).problem
    with pytest.raises(ValueError, match="reduction"):
        task.reduction.predict(saddle_point(other, n_starts=1), task.x_test)


@pytest.mark.slow
def test_digits_in_principal_components_exact_and_networks_at_N_1024():
    """The 360 digits 0 and 1 on their 4 leading principal components (r = 4, K = 16), T = 4, N = 1024."""
    pytest.importorskip("sklearn")
    task = datasets.digits((0, 1), P=300, test=60, T=4, components=4, kappa=0.5)
    pr = task.problem
    p = pr.with_(lam=1.2 * critical_lambda(pr, lam_min=0.01))
    sp = saddle_point(p)
    N = 1024
    ex = exact_posterior(p, N, samples=1000, warmup=1000, progress=False, seed=4)
    nw = sample_networks(p, N, sweeps=400, chains=4, seed=4, progress=False)
    assert ex.converged and nw.max_rhat < 1.05
    assert np.max(np.abs(nw.kernel - ex.kernel) / np.sqrt(nw.stderr ** 2 + ex.stderr ** 2)) < 4.5
    fw = finite_width(sp, N)
    assert np.max(np.abs(ex.kernel - fw.kernel_N) / (ex.stderr + 1e-12)) < 4.5
    ee, ef = task.test_error(ex), task.test_error(fw)
    assert abs(ee["mse"] - ef["mse"]) < 4.5 * ee["mse_stderr"]


# --- the reduction's gradient at full size (issue 29's exact target) against its definition ---------------
@pytest.mark.parametrize("arch", ["rnn", "dnn", "hybrid"])
def test_reduced_log_posterior_reads_the_supervised_block_only_and_its_gradient_is_exact(arch):
    """log_posterior_and_grad forms H_SS = G_S^T G_S and the Krylov maps on their probed columns only (the
    fast path of the exact target, K = 204); against the definition -- the log prior plus the likelihood
    of the readout kernel v H_SS + kappa I taken from the whole kernel H = G^T G (red.kernel) -- to 1e-12,
    and its gradient against central differences along random directions, for the finite-N density and
    its N -> infinity limit, on a reduced P > D task with r = 4 (K = 4 T)."""
    from linkernel.finite_n.reduction import Reduction
    from linkernel.theory.action import readout_kernel
    T = 4
    a = (Architecture(T, W=[[1, 2], [3]], U=[[0, 1, 2, 3]]) if arch == "hybrid" else arch)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 4))
    y = np.sign(X @ rng.standard_normal(4))
    pr = datasets.from_arrays(X, y, T=T, arch=a, kappa=0.5, lam=1.3).problem
    red = Reduction(pr, 256)
    theta = red.prior_mode + 0.1 * rng.standard_normal((3, red.dim))
    H = red.kernel(theta)
    Km = readout_kernel(pr, H)
    alpha = np.linalg.solve(Km, np.broadcast_to(pr.y_S, Km.shape[:-1])[..., None])[..., 0]
    lp_def = (red.log_prior(theta) - 0.5 * np.linalg.slogdet(Km)[1]
              - 0.5 * red.N * np.sum(pr.y_S * alpha, axis=-1))
    lp, g = red.log_posterior_and_grad(theta)
    np.testing.assert_allclose(lp, lp_def, rtol=1e-12)
    np.testing.assert_allclose(red.log_posterior(theta), lp_def, rtol=1e-12)
    eps = 1e-6
    for limit, f in ((False, red.log_posterior), (True, red.limit_log_density)):
        _, g = red.log_posterior_and_grad(theta, limit=limit)
        for _ in range(3):
            e = rng.standard_normal(red.dim)
            fd = (f(theta + eps * e) - f(theta - eps * e)) / (2 * eps)
            np.testing.assert_allclose(g @ e, fd, rtol=1e-6, atol=1e-6 * np.abs(g @ e).max())

"""The 1/N theory (linkernel.theory.finite_width, linkernel.finite_n.finite_width) checked against values computed other ways.

* R(H), the O(1) terms of log p_N(H): pointwise against the exact reduction's log density and the
  numerical Jacobian of its map theta -> H;
* the kernel-density expansion against the same expansion done in the reduction's own variables
  (another density, other coordinates, other derivatives);
* third derivatives from the Hessian-vector product against second differences of the gradient;
* the symbolic closed form (T = 2, 3) against the numbers;
* the DNN endpoint task against exact 1-D quadrature at finite N: N (K_N - K*) -> delta_H, and the
  residual shrinks like 1/N^2 (N = 128 .. 4096);
* the exact HMC posterior (RNN, DNN, P = 2): within its error bars, and N Cov(H).
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.special import gammaln, logsumexp

from linkernel.errors import FiniteWidthWarning
from linkernel import tasks
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.finite_width import finite_width
from linkernel.finite_n.reduction import Reduction
from linkernel.problem import Problem, fix_z2_sign
from linkernel.serialize import dumps
from linkernel.theory.action import action, from_vector, gradient, to_vector
from linkernel.theory.finite_width import one_loop_gradient, one_loop_terms, third_derivative, wishart_form
from linkernel.theory.saddle import saddle_point

LAM_C = 1.6224172257224638      # T = 4 RNN endpoint, kappa = 0.1 (critical_lambda; checked in test_critical)


@pytest.fixture(scope="module")
def rnn4():
    return saddle_point(tasks.endpoint("rnn", T=4, lam=2 * LAM_C))


@pytest.fixture(scope="module")
def dnn4():
    return saddle_point(tasks.endpoint("dnn", T=4, lam=2 * LAM_C))


def _jacobian_logdet(red, theta, eps=1e-6):
    """log |det dH/dtheta| (to_vector coordinates of H) by central differences of the reduction's kernel map."""
    J = np.array([(to_vector(red.kernel(theta + eps * e)) - to_vector(red.kernel(theta - eps * e))) / (2 * eps)
                  for e in np.eye(red.dim)]).T
    return np.linalg.slogdet(J)[1]


@pytest.mark.parametrize("arch,P", [("rnn", 1), ("dnn", 1), ("rnn", 2)])
def test_density_of_H_is_wishart_form(arch, P, rng):
    """log p_theta(theta) - log|dH/dtheta| = -N S(H) + R(H) + const: R derived from the exact reduction."""
    p = tasks.endpoint(arch, T=3, P=P, lam=1.4)
    red = Reduction(p, 40)
    vals = []
    for _ in range(3):
        theta = 0.2 * rng.normal(size=red.dim)
        H = red.kernel(theta)
        vals.append(red.log_posterior(theta) - _jacobian_logdet(red, theta)
                    + red.N * action(p, H) - one_loop_terms(p, H))
    assert np.ptp(vals) < 1e-6, vals


def test_one_loop_gradient_matches_finite_differences(rng):
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.4)
    H = saddle_point(p).kernel
    G = one_loop_gradient(p, H)
    for _ in range(3):
        E = from_vector(rng.normal(size=p.n * (p.n + 1) // 2), p.n)
        fd = (one_loop_terms(p, H + 1e-6 * E) - one_loop_terms(p, H - 1e-6 * E)) / 2e-6
        assert np.sum(G * E) == pytest.approx(fd, rel=1e-7)


def test_wishart_form_is_where_the_reduction_has_TP_directions():
    from tests.finite_n.test_exact import PATTERNS, _problems
    for p in list(PATTERNS.values()) + list(_problems()):
        assert wishart_form(p) == (Reduction(p, 200).K == p.n), p.arch


def test_third_derivative_matches_second_differences_of_the_gradient(rnn4, rng):
    """S'''(., e, e) from the Hessian-vector product vs the second difference of the analytic gradient."""
    p, H = rnn4.problem, rnn4.kernel
    e = rng.normal(size=10)
    e /= np.linalg.norm(e)
    d3, err = third_derivative(p, H, e)
    E, h = from_vector(e, 4), 2e-3
    g = lambda x: to_vector(gradient(p, H + x * E))                      # noqa: E731
    fd = (g(h) - 2 * g(0) + g(-h)) / h ** 2
    fd2 = (g(h / 2) - 2 * g(0) + g(-h / 2)) / (h / 2) ** 2
    fd = (4 * fd2 - fd) / 3
    np.testing.assert_allclose(d3, fd, atol=1e-6 * np.abs(d3).max())
    assert err < 1e-6 * np.abs(d3).max()


@pytest.mark.parametrize("which", ["rnn", "dnn", "rnn P=2"])
def test_kernel_density_and_reduced_variables_agree(which, rnn4, dnn4):
    """Two derivations: the density of H (Wishart R, S''' from HVP) and the reduction's variables (r, l''', H'')."""
    sp = {"rnn": rnn4, "dnn": dnn4}.get(which) or saddle_point(tasks.endpoint("rnn", T=4, P=2, lam=2 * LAM_C))
    a = finite_width(sp, 1024)
    b = finite_width(sp, 1024, method="reduced")
    scale = np.abs(a.correction).max()
    np.testing.assert_allclose(a.correction, b.correction, atol=1e-6 * scale)
    np.testing.assert_allclose(a.covariance, b.covariance, atol=1e-8 * np.abs(a.covariance).max())
    np.testing.assert_allclose(a.prediction_correction, b.prediction_correction, atol=1e-6 * scale)
    assert a.valid and b.valid


def test_reduced_route_for_inputs_at_several_times():
    """An RNN with inputs at every step (K > TP): only the reduction's variables apply; N Cov is still S''^-1-like
    (positive definite) and delta_H is finite; method='kernel' is refused."""
    rng = np.random.default_rng(3)
    p = Problem("rnn", 3, rng.normal(size=(3, 1, 2)), ((2, 0),), np.array([[0.0], [0.0], [1.0]]), lam=1.0)
    assert not wishart_form(p)
    with pytest.raises(ValueError, match="method='kernel'"):
        finite_width(p, 256, method="kernel")
    r = finite_width(p, 256)
    assert r.method == "reduced" and np.all(np.isfinite(r.correction))
    iu = np.triu_indices(3)
    C = r.covariance[iu[0], iu[1]][:, iu[0], iu[1]]
    assert np.linalg.eigvalsh(C)[0] > 0


def _symbolic_vs_numeric(arch, T, hyper):
    from linkernel.symbolic.finite_width import symbolic_correction
    p = tasks.endpoint(arch, T=T, lam=0.8)
    sym = symbolic_correction(arch, T, hyper).numeric(saddle_point(p).kernel, p)
    num = finite_width(p, 512).correction
    np.testing.assert_allclose(sym, num, atol=1e-7 * np.abs(num).max())


def test_symbolic_closed_form_equals_numeric():
    """delta_H in closed form (SymPy, T = 2, w = v = u = 1, kappa = 1/10) = the numeric expansion."""
    from linkernel.symbolic.finite_width import PAPER
    _symbolic_vs_numeric("rnn", 2, PAPER)


@pytest.mark.slow
@pytest.mark.parametrize("arch,T,hyper", [("rnn", 2, "symbolic"), ("rnn", 3, "paper"), ("dnn", 3, "paper")])
def test_symbolic_closed_forms_of_the_document_equal_numeric(arch, T, hyper):
    from linkernel.symbolic.finite_width import PAPER
    _symbolic_vs_numeric(arch, T, PAPER if hyper == "paper" else {})


# --- exact finite N: 1-D quadrature for the P = 1 DNN endpoint task ------------------------------
def _dnn_diag_quadrature(p, N, H_star):
    """Exact posterior means of H^{tt} (P = 1 DNN endpoint task) by 1-D quadrature, stable at large N.

    H^{tt} = u w^t prod_{s<=t} Y_s with Y_s ~ Gamma(N/2, 2/N) independent; the likelihood depends on
    H^{T-1,T-1} only; E[H^{tt} L] = u w^t E'[L] with the first t+1 factors size-biased (shape + 1)
    (derivations/exact_reduction.tex).  Every factor is tilted by exp(c log Y) (c chosen to centre it
    on the saddle point's Y*, which is common to the factors here), so that the convolution of the
    densities of log Y lives where the posterior is, and the tilt is undone in log space.
    """
    T, y, th = p.T, p.y_S[0], 2.0 / N
    Ystar = np.exp(np.mean(np.diff(np.log(np.concatenate([[p.u / p.w], np.diag(H_star)]))) - np.log(p.w)))
    c = Ystar / th - N / 2
    sd = math.sqrt(2.0 / N)
    h = sd / 30
    x0 = math.log(Ystar)
    grid = x0 + np.arange(-12 * sd, 12 * sd, h)

    def log_expect_L(shift):
        dens, logc = None, 0.0
        for s in range(T):
            a = N / 2 + shift[s]
            f = np.exp((a + c) * grid - np.exp(grid) / th - gammaln(a + c) - (a + c) * math.log(th))
            logc += gammaln(a + c) - gammaln(a) + c * math.log(th)
            dens = f if dens is None else np.convolve(dens, f) * h
        lgrid = T * grid[0] + h * np.arange(len(dens))
        K = p.v * p.u * p.w ** (T - 1) * np.exp(lgrid) + p.kappa
        logL = -0.5 * np.log(K) - 0.5 * N * y ** 2 / K - c * lgrid
        with np.errstate(divide="ignore"):
            return logsumexp(np.log(dens) + logL) + math.log(h) + logc

    Z = log_expect_L([0] * T)
    return np.array([p.u * p.w ** t * math.exp(log_expect_L([1] * (t + 1) + [0] * (T - t - 1)) - Z)
                     for t in range(T)])


def test_dnn_one_loop_matches_exact_quadrature(dnn4):
    """N (K_N - K*) = delta_H + O(1/N) on the diagonal, exactly computed (no sampling) at N = 512."""
    N = 512
    exact = _dnn_diag_quadrature(dnn4.problem, N, dnn4.kernel)
    fw = finite_width(dnn4, N)
    np.testing.assert_allclose(N * (exact - np.diag(dnn4.kernel)), np.diag(fw.correction), atol=0.02)


@pytest.mark.slow
def test_dnn_residual_shrinks_as_inverse_N_squared(dnn4):
    """N^2 (K_N - K* - delta_H/N) is constant (to a few %) from N = 128 to 4096: the next order is 1/N^2."""
    Ns = [128, 512, 2048, 4096]
    res = []
    for N in Ns:
        exact = _dnn_diag_quadrature(dnn4.problem, N, dnn4.kernel)
        res.append(N ** 2 * (exact - np.diag(finite_width(dnn4, N).kernel_N)))
    res = np.array(res)
    np.testing.assert_allclose(res, np.broadcast_to(res[-1], res.shape), rtol=0.05, atol=0.02)


# --- exact finite N: the HMC posterior --------------------------------------------------------
def _z(r, fw):
    return (r.kernel - fw.sampler_kernel) / r.stderr


def test_rnn_one_loop_within_error_bars_of_exact_posterior(rnn4):
    """One N, loose but honest: the exact RNN posterior at N = 256 minus the one-loop kernel, in standard errors;
    and the covariance of the draws times N against the inverse Hessian."""
    N = 256
    p = rnn4.problem
    fw = finite_width(rnn4, N)
    r = exact_posterior(p, N, chains=4, samples=1000, warmup=300, seed=1, progress=False)
    assert np.abs(_z(r, fw)).max() < 4.0
    iu = np.triu_indices(p.n)
    X = r.draws.reshape(-1, p.n, p.n)[:, iu[0], iu[1]]
    C = N * np.cov(X.T)
    Ct = fw.covariance[iu[0], iu[1]][:, iu[0], iu[1]]
    # relative error of a variance from ESS draws ~ sqrt(2/ESS) ~ 3%, plus the O(1/N) correction
    np.testing.assert_allclose(np.diag(C), np.diag(Ct), rtol=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("arch,P", [("rnn", 1), ("dnn", 1), ("rnn", 2)])
def test_one_loop_against_exact_posterior_over_N(arch, P):
    """delta_H within error bars of N (K_N - K*) at N = 128 .. 1024 (RNN, DNN, P = 2), sign-fixed like the sampler."""
    from linkernel.theory.special_points import critical_lambda
    lam = 2 * (LAM_C if P == 1 else critical_lambda(tasks.endpoint("rnn", T=4, P=P)))
    sp = saddle_point(tasks.endpoint(arch, T=4, P=P, lam=lam))
    for N in (128, 512, 1024):
        fw = finite_width(sp, N)
        r = exact_posterior(sp.problem, N, chains=4, samples=4000, warmup=500, seed=N, progress=False)
        assert np.abs(_z(r, fw)).max() < 4.5, (N, _z(r, fw))


# --- where it breaks down, and the result object -------------------------------------------------
def test_critical_window_is_flagged_with_one_warning():
    p = tasks.endpoint("rnn", T=4, lam=LAM_C * 1.0005)
    sp = saddle_point(p)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = finite_width(sp, 1024)
    assert not r.valid and "finite-size scaling" in r.reason and "finite_size" in r.reason
    assert sum(issubclass(x.category, FiniteWidthWarning) for x in w) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert finite_width(sp.problem.with_(lam=2 * LAM_C), 1024).valid


def test_broken_phase_expands_around_the_m_positive_minimum(rnn4):
    r = finite_width(rnn4, 2048)
    assert r.phase == "broken" and r.saddle_kernel[3, 2] > 0
    np.testing.assert_array_equal(r.saddle_kernel, fix_z2_sign(rnn4.problem, r.saddle_kernel))
    assert r.correction[3, 2] < 0          # m is pulled below the saddle value at finite N


def test_symmetric_phase_sampler_convention(dnn4):
    """On a symmetric minimum the odd entries average to 0, their sign-fixed mean is sqrt(2/pi) sd(m) for m."""
    N = 1024
    r = finite_width(dnn4, N)
    assert r.phase == "symmetric" and abs(r.kernel_N[3, 2]) < 1e-15   # zero up to the rounding of eigh
    var_m = r.covariance[3, 2, 3, 2] / N
    assert r.sampler_kernel[3, 2] == pytest.approx(math.sqrt(2 / math.pi * var_m), rel=1e-12)
    even = ~dnn4.problem.odd_mask
    np.testing.assert_array_equal(r.sampler_kernel[even], r.kernel_N[even])


def test_bad_input_and_result_api(rnn4):
    with pytest.raises(ValueError, match="N="):
        finite_width(rnn4, 2)
    with pytest.raises(ValueError, match="N="):
        finite_width(rnn4, 100.5)
    with pytest.raises(ValueError, match="problem_or_saddle"):
        finite_width("rnn", 100)
    with pytest.raises(ValueError, match="method"):
        finite_width(rnn4, 100, method="magic")
    r = finite_width(rnn4, 2048)
    d = json.loads(dumps(r))
    for key in ("kernel_N", "correction", "kernel_N_std", "valid", "reason", "predictions_N"):
        assert key in d
    np.testing.assert_allclose(d["kernel_N"], rnn4.kernel + r.correction / 2048)
    assert "H_N" in r.summary() and "2048" in r.summary()

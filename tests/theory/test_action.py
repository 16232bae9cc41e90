import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import action, gradient, hessian_vector, from_vector, to_vector
from linkernel.theory.hessian import hessian
from tests.references import random_kernel


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T,P", [(1, 1), (3, 1), (2, 2), (4, 1)])
def test_gradient_matches_finite_differences(arch, T, P, rng):
    p = tasks.endpoint(arch, T=T, P=P, lam=1.3, kappa=0.2, w=0.8, u=1.4)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    eps = 1e-6
    fd = (action(p, H + eps * E) - action(p, H - eps * E)) / (2 * eps)
    assert np.trace(gradient(p, H) @ E) == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_hessian_matches_finite_differences_of_gradient(arch, rng):
    p = tasks.endpoint(arch, T=3, P=2, lam=1.7)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    eps = 1e-6
    fd = (gradient(p, H + eps * E) - gradient(p, H - eps * E)) / (2 * eps)
    np.testing.assert_allclose(hessian_vector(p, H, E), fd, atol=1e-7)
    Hess = hessian(p, H)
    np.testing.assert_allclose(Hess, Hess.T, atol=1e-12)
    np.testing.assert_allclose(Hess @ to_vector(E), to_vector(hessian_vector(p, H, E)), atol=1e-10)


def test_vector_coordinates_are_orthonormal(rng):
    A, B = random_kernel(rng, 4), random_kernel(rng, 4)
    assert to_vector(A) @ to_vector(B) == pytest.approx(np.trace(A @ B))
    np.testing.assert_allclose(from_vector(to_vector(A), 4), A)


# --- properties of the action --------------------------------------------------
from hypothesis import assume, given, settings, strategies as st  # noqa: E402

from linkernel import Architecture, Problem  # noqa: E402
from linkernel.theory.action import kl_term, prior_kernel, sigma  # noqa: E402
from linkernel.symbolic.action import symbolic_action  # noqa: E402

hyper = dict(w=st.floats(0.3, 3.0), v=st.floats(0.3, 3.0), u=st.floats(0.3, 3.0),
             kappa=st.floats(0.02, 1.0), lam=st.floats(0.0, 4.0))


@st.composite
def problems(draw, max_n=4):
    """Random problems: architecture, T, P, inputs at any times, any nonempty supervised set, labels."""
    T = draw(st.integers(1, 3))
    arch = draw(st.sampled_from(["rnn", "dnn", "pattern"]))
    if arch == "pattern":  # any sharing pattern: a random label per recurrent step and per input step
        wl = draw(st.lists(st.integers(0, 2), min_size=T - 1, max_size=T - 1))
        ul = draw(st.lists(st.integers(0, 2), min_size=T, max_size=T))
        arch = Architecture(T, W=[[t for t in range(1, T) if wl[t - 1] == g] for g in set(wl)],
                            U=[[t for t in range(T) if ul[t] == g] for g in set(ul)])
    P = draw(st.integers(1, max(1, max_n // T)))
    D = draw(st.integers(P, P + 1))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    x = r.normal(size=(T, P, D)) * (r.random((T, 1, 1)) < 0.6)
    x[0] = r.normal(size=(P, D))
    while np.linalg.cond(x[0] @ x[0].T) > 100:  # keep the t = 0 input kernel well conditioned
        x[0] = r.normal(size=(P, D))
    pairs = [(t, p) for t in range(T) for p in range(P)]
    S = [pairs[i] for i in sorted(r.choice(len(pairs), size=r.integers(1, len(pairs) + 1), replace=False))]
    h = {k: draw(s) for k, s in hyper.items()}
    return Problem(arch=arch, T=T, x=x, supervised=S, yhat=r.normal(size=(T, P)), **h), seed


@settings(max_examples=25, deadline=None)
@given(problems())
def test_symbolic_and_numeric_action_agree(case):
    p, seed = case
    H = random_kernel(np.random.default_rng(seed + 1), p.n)
    assert symbolic_action(p).numeric(H) == pytest.approx(action(p, H), rel=1e-10, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(problems(max_n=6))
def test_kl_is_nonnegative_and_zero_only_at_fixed_point(case):
    p, seed = case
    r = np.random.default_rng(seed)
    H = random_kernel(r, p.n)
    assert kl_term(p, H) > 0  # a random kernel is not its own Sigma
    H0 = prior_kernel(p)
    np.testing.assert_allclose(sigma(p, H0), H0, rtol=1e-12, atol=1e-12)
    # zero up to the rounding of tr(Sigma^-1 H) - n, about n eps cond(H0) (hypothesis drew cond(H0) = 1.1e8,
    # KL = -1.2e-11, at T = 3); 1e-12 wherever that is smaller
    assert abs(kl_term(p, H0)) < max(1e-12, 8 * p.n * np.finfo(float).eps * np.linalg.cond(H0))
    # moving away from the fixed point costs KL, to second order
    E = random_kernel(r, p.n, 0.0)
    assert kl_term(p, H0 + 1e-3 * E / np.linalg.norm(E)) > 0


def _prior_closed_form(p):
    """NNGP kernel from the unrolled recursion, summed explicitly (independent of the fixed-point code).

    h^t = sum_k W^(t) ... W^(t-k+1) U^(t-k) x^{t-k}; in the large-N limit the product of two such
    chains of Gaussian matrices averages to w^k when they are the same matrices step by step
    (planar pairing) and to 0 otherwise, so H^{tt'} = sum_k w^k C^{t-k,t'-k} over the k for which
    W^(t-j) = W^(t'-j) for j < k and U^(t-k) = U^(t'-k).  RNN: every k <= min(t, t'); DNN: t = t' only.
    """
    T, P = p.T, p.P
    share, ushare = p.arch.shares, p.arch.input_mask
    H = np.zeros((T, P, T, P))
    for t in range(T):
        for t2 in range(T):
            for k in range(min(t, t2) + 1):
                if all(share[t - j, t2 - j] for j in range(k)) and ushare[t - k, t2 - k]:
                    H[t, :, t2, :] += p.w**k * (p.u / p.D) * p.x[t - k] @ p.x[t2 - k].T
    return H.reshape(p.n, p.n)


@settings(max_examples=30, deadline=None)
@given(problems(max_n=8))
def test_lambda_zero_gives_the_prior_kernel(case):
    from linkernel.theory.saddle import local_minimum
    p, _ = case
    p = p.with_(lam=0.0)
    H = _prior_closed_form(p)
    np.testing.assert_allclose(prior_kernel(p), H, rtol=1e-12, atol=1e-12)
    # and it is the minimum of S, reached from a different start (when H is not near-singular:
    # random inputs can make it so, and then S is too ill-conditioned for a 1e-7 comparison)
    assume(np.linalg.cond(H) < 1e5)
    m = local_minimum(p, 2.0 * np.eye(p.n) + H)
    np.testing.assert_allclose(m.kernel, H, rtol=1e-7, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(problems(max_n=6), st.integers(0, 2**32 - 1))
def test_z2_flip_with_odd_targets_leaves_action_invariant(case, seed):
    p, _ = case
    x = np.zeros_like(p.x)
    x[0] = p.x[0]  # inputs only at t = 0
    p = p.with_(x=x)
    s = p.parity_signs
    H = random_kernel(np.random.default_rng(seed), p.n)
    flipped = p.with_(yhat=p.yhat * ((-1.0) ** np.arange(p.T))[:, None])
    assert action(flipped, s[:, None] * H * s[None, :]) == pytest.approx(action(p, H), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(problems(max_n=6), st.floats(0.2, 5.0))
def test_rescalings_leave_the_action_invariant(case, c):
    p, seed = case
    H = random_kernel(np.random.default_rng(seed), p.n)
    S = action(p, H)
    # u against x: the input kernel depends on u x x^T only
    assert action(p.with_(u=p.u / c**2, x=c * p.x), H) == pytest.approx(S, rel=1e-10)
    # (v, kappa, lambda) -> (c v, c kappa, sqrt(c) lambda): y^2 / (v H + kappa) unchanged
    assert action(p.with_(v=c * p.v, kappa=c * p.kappa, lam=np.sqrt(c) * p.lam), H) == pytest.approx(S, rel=1e-10)
    # (u, v, H) -> (c u, v / c, c H): Sigma scales with H, so KL and likelihood are unchanged
    assert action(p.with_(u=c * p.u, v=p.v / c), c * H) == pytest.approx(S, rel=1e-10)


def _by_inverses(p, H, E):
    """S, its gradient and Hessian-vector product by np.linalg.inv/solve: the formulas before Pieces.

    An independent reference for the one implementation (Cholesky, :class:`Pieces`).
    """
    P, idx, R = p.P, p.supervised_index, p.recurrent_mask

    def shift(X):
        out = np.zeros_like(X)
        out[P:, P:] = X[:-P, :-P]
        return out * R

    def shift_adjoint(G):
        G = G * R
        out = np.zeros_like(G)
        out[:-P, :-P] = G[P:, P:]
        return out

    Sig = p.input_kernel + shift(H)
    A, Hinv = np.linalg.inv(Sig), np.linalg.inv(H)
    K = p.v * H[np.ix_(idx, idx)] + p.kappa * np.eye(len(idx))
    Kinv = np.linalg.inv(K)
    a = Kinv @ p.y_S
    S = 0.5 * (np.trace(np.linalg.solve(Sig, H)) - np.linalg.slogdet(H)[1] + np.linalg.slogdet(Sig)[1] - p.n)
    S += 0.5 * p.y_S @ np.linalg.solve(K, p.y_S)
    G = 0.5 * (A - Hinv) + 0.5 * shift_adjoint(A - A @ H @ A)
    G[np.ix_(idx, idx)] -= 0.5 * p.v * np.outer(a, a)
    dA = -A @ shift(E) @ A
    AH = A @ H
    dG = 0.5 * (dA + Hinv @ E @ Hinv) + 0.5 * shift_adjoint(dA - dA @ AH.T - AH @ dA - A @ E @ A)
    da = -p.v * Kinv @ E[np.ix_(idx, idx)] @ a
    dG[np.ix_(idx, idx)] -= 0.5 * p.v * (np.outer(da, a) + np.outer(a, da))
    return S, 0.5 * (G + G.T), 0.5 * (dG + dG.T)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T,P", [(1, 1), (3, 1), (2, 2), (4, 1), (3, 3)])
def test_pieces_agree_with_the_inverse_formulas_to_rounding(arch, T, P, rng):
    from linkernel.theory.action import kl_term, likelihood_term, predictions
    p = tasks.endpoint(arch, T=T, P=P, lam=1.3, kappa=0.2, w=0.8, u=1.4)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    S, G, dG = _by_inverses(p, H, E)
    assert action(p, H) == pytest.approx(S, rel=1e-12, abs=1e-12)
    assert kl_term(p, H) + likelihood_term(p, H) == pytest.approx(S, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gradient(p, H), G, rtol=1e-10, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(hessian_vector(p, H, E), dG, rtol=1e-10, atol=1e-12 * np.abs(dG).max())
    idx = p.supervised_index
    f = p.v * H[:, idx] @ np.linalg.solve(p.v * H[np.ix_(idx, idx)] + p.kappa * np.eye(len(idx)), p.y_S)
    np.testing.assert_allclose(predictions(p, H).ravel(), f, rtol=1e-12, atol=1e-12)


def test_constants_at_another_lambda_match_the_problem(rng):
    from linkernel.theory.action import Pieces, static
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.3, kappa=0.2, w=0.8)
    c = static(p)
    assert static(p) is c and static(c) is c
    q = p.with_(lam=2.1)
    cq = c.at(2.1)
    np.testing.assert_array_equal(cq.y_S, q.y_S)
    assert cq.lam == 2.1 and c.lam == 1.3 and cq.n == q.n and cq.T == q.T
    assert cq.arch is q.arch     # other names are read from the Problem at that lambda
    H = random_kernel(rng, p.n)
    np.testing.assert_array_equal(Pieces(cq, H).gradient(), Pieces(q, H).gradient())


# --- issue 26: the shift's inverse by doubling; issue 27: kernels outside float64's range --------------
@pytest.mark.parametrize("T, P", [(1, 2), (2, 1), (3, 2), (5, 1), (8, 3), (17, 1)])
def test_unshift_by_doubling_inverts_one_minus_shift(T, P, rng):
    """(1 - S)^-1 as prod_j (1 + S^(2^j)): X - S(X) = E and <unshift(E), G> = <E, unshift_adjoint(G)>."""
    from linkernel.theory.action import Pieces, prior_kernel
    p = tasks.endpoint("rnn", T=T, P=P, w=0.7)
    pc = Pieces(p, prior_kernel(p))
    E, G = rng.normal(size=(2, p.n, p.n))
    X = pc.unshift(E)
    np.testing.assert_allclose(X - pc.shift(X), E, atol=1e-12)
    Y = pc.unshift_adjoint(G)
    np.testing.assert_allclose(Y - pc.shift_adjoint(Y), G, atol=1e-12)
    assert np.vdot(X, G) == pytest.approx(np.vdot(E, Y), rel=1e-12)


def test_kernels_outside_float64_range_are_refused_not_nan():
    """Issue 27: action/gradient at 1e308 I and the Hessian at 1e-300 I returned NaN arrays."""
    from linkernel.errors import KernelError
    p = tasks.endpoint("rnn", T=4)
    for f, H in ((action, np.eye(4) * 1e308), (gradient, np.eye(4) * 1e308), (hessian, np.eye(4) * 1e-300)):
        with pytest.raises(KernelError, match="diagonal within 1e-200..1e\\+200"):
            f(p, H)
    # inside the range but with a Hessian (entries ~ 1/H^2) beyond float64: a clean refusal
    with pytest.raises(KernelError, match="overflows float64"):
        hessian(p, np.eye(4) * 1e-190)
    # inside the range S and its gradient are finite: S(c I) by its closed form at lambda = 0
    p0 = p.with_(lam=0.0)
    for c in (1e-150, 1e150):
        S = action(p0, np.eye(4) * c)
        assert np.isfinite(S) and np.all(np.isfinite(gradient(p0, np.eye(4) * c)))


def test_huge_v_gives_a_finite_hessian_equal_to_the_column_by_column_one():
    """Issue 27: --v 1e308 overflowed pc.v ** 2 in the dense Hessian's likelihood term."""
    from linkernel.theory.action import prior_kernel
    for v in (1e308, 1e3):
        p = tasks.endpoint("rnn", T=3, v=v)
        H = prior_kernel(p)
        F = hessian(p, H)
        assert np.all(np.isfinite(F))
        n, dim = p.n, p.n * (p.n + 1) // 2
        cols = np.column_stack([to_vector(hessian_vector(p, H, from_vector(np.eye(dim)[k], n))) for k in range(dim)])
        np.testing.assert_allclose(F, cols, rtol=1e-10, atol=1e-12 * np.abs(cols).max())

"""The span reduction (linkernel/theory/span.py, derivations/span_reduction.tex) against the full computation.

Two kinds of checks:

* P > D (P = 40, D = 8): the full TP x TP kernel is singular and no Problem exists; the full action is
  computed here directly on its support (pseudo-inverse and pseudo-determinant, TP-dimensional Sigma,
  the TP-dimensional likelihood) and must equal the reduced action plus the constant, with the same
  directional derivatives, for RNN, DNN and a hybrid with inputs at two steps, both likelihood forms.
* P <= D (r = P): a full Problem exists; the reduction (forced) is an invertible change of pattern
  coordinates and every route (saddle point, lambda_c, trace, 1/N correction, predictions at held-out
  inputs) must agree with the full one after lifting, to 1e-10.
"""

import numpy as np
import pytest

from linkernel.architecture import Architecture
from linkernel.problem import Problem, fix_z2_sign, time_blocks
from linkernel.theory.action import action, gradient, hessian_vector, predictions, prior_kernel
from linkernel.theory.span import predict, reduce_data, reduce_to_span

HYPER = dict(w=0.9, v=1.1, u=1.3, kappa=0.2, lam=1.4)


def hybrid(T):
    """W shared on steps 1..2 and fresh after; U shared by steps 0 and 2, fresh elsewhere."""
    return Architecture(T, W=[[1, 2]] + [[t] for t in range(3, T)], U=[[0, 2]] + [[t] for t in range(1, T) if t != 2])


ARCHS = ["rnn", "dnn", "hybrid"]


def arch_of(name, T):
    return hybrid(T) if name == "hybrid" else name


def data(rng, T, P, D, several_steps=True):
    """Inputs at t = 0 (and at t = 2 inside the span of the t = 0 inputs), random labels."""
    x = np.zeros((T, P, D))
    x[0] = rng.standard_normal((P, D))
    if several_steps:
        x[2] = x[0] @ rng.standard_normal((D, D)) / np.sqrt(D)
    return x, rng.standard_normal((T, P))


def full_action_on_support(arch, T, x, S, yhat, H, w, v, u, kappa, lam):
    """S(H) of the full task straight from its definition, on the support of a singular H (P > r)."""
    ar = Architecture.from_spec(arch, T)
    _, P, D = x.shape
    X = x.reshape(T * P, D)
    C = (u / D) * (X @ X.T) * time_blocks(ar.input_mask, P)
    R = time_blocks(ar.recurrent_mask(w), P)
    Sig = C.copy()
    Sig[P:, P:] += R[P:, P:] * H[:-P, :-P]

    def spectral(M):
        e, V = np.linalg.eigh(M)
        keep = e > 1e-9 * e.max()
        return e[keep], V[:, keep]

    eH, VH = spectral(H)
    eS, VS = spectral(Sig)
    assert len(eH) == len(eS)                                   # the same support
    Sp, Hp = (VS / eS) @ VS.T, (VH / eH) @ VH.T
    kl = 0.5 * (np.trace(Sp @ H) - np.sum(np.log(eH)) + np.sum(np.log(eS)) - len(eH))
    idx = np.array([t * P + p for t, p in S])
    y = lam * np.array([yhat[t, p] for t, p in S])
    K = v * H[np.ix_(idx, idx)] + kappa * np.eye(len(idx))
    a = np.linalg.solve(K, y)
    # the gradient on the support: 1/2 (Sigma^+ - H^+) + 1/2 L*(Sigma^+ - Sigma^+ H Sigma^+) - v/2 E_S(a a^T)
    G = 0.5 * (Sp - Hp)
    inner = Sp - Sp @ H @ Sp
    G[:-P, :-P] += 0.5 * R[P:, P:] * inner[P:, P:]
    G[np.ix_(idx, idx)] -= 0.5 * v * np.outer(a, a)
    return kl + 0.5 * y @ a, G


def random_span_kernel(rng, red, scale=0.1):
    n = red.problem.n
    A = rng.standard_normal((n, n))
    return prior_kernel(red.problem) + scale * A @ A.T / n


def supervised_set(T, P, steps, subset):
    pats = range(0, P, 2) if subset else range(P)
    return [(t, p) for t in steps for p in pats]


# --- P > D: the action and its gradient against the definition on the support ---------------------
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("T", [3, 4, 6])
@pytest.mark.parametrize("subset", [False, True])
def test_reduced_action_and_gradient_equal_the_full_ones_for_P_above_D(arch, T, subset, rng):
    P, D = 40, 8
    x, yhat = data(rng, T, P, D)
    S = supervised_set(T, P, (1, T - 1), subset)
    red = reduce_data(arch_of(arch, T), T, x, S, yhat, **HYPER)
    assert red.r == D and red.form == ("supervised-orthonormal" if subset else "orthonormal")
    Q = random_span_kernel(rng, red)
    H = red.lift(Q)
    full, G = full_action_on_support(arch_of(arch, T), T, x, S, yhat, H, **HYPER)
    reduced = action(red.problem, Q)
    assert red.full_action(reduced) == pytest.approx(full, rel=1e-12, abs=1e-10)
    assert red.offset() > 0                                     # random labels: a part outside the span
    # directional derivatives along span directions, and the reduced gradient as the pulled-back full one
    Gq = gradient(red.problem, Q)
    np.testing.assert_allclose(red.lift_direction(G), Gq, atol=1e-10 * max(1.0, np.abs(Gq).max()))
    E = random_span_kernel(rng, red) - prior_kernel(red.problem)
    assert np.trace(G @ red.lift(E)) == pytest.approx(np.trace(Gq @ E), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(red.restrict(H), Q, atol=1e-10 * np.abs(Q).max())


def test_finite_differences_of_the_support_action_confirm_its_gradient(rng):
    """The test's own full formula is right: its gradient matches its finite differences."""
    T, P, D = 3, 12, 4
    x, yhat = data(rng, T, P, D)
    S = supervised_set(T, P, (2,), False)
    red = reduce_data("rnn", T, x, S, yhat, **HYPER)
    Q, E = random_span_kernel(rng, red), random_span_kernel(rng, red) - prior_kernel(red.problem)
    f = lambda s: full_action_on_support("rnn", T, x, S, yhat, red.lift(Q + s * E), **HYPER)[0]
    fd = (f(1e-5) - f(-1e-5)) / 2e-5
    G = full_action_on_support("rnn", T, x, S, yhat, red.lift(Q), **HYPER)[1]
    assert np.trace(G @ red.lift(E)) == pytest.approx(fd, rel=1e-6)


def test_refusals(rng):
    T, P, D = 3, 20, 4
    x, yhat = data(rng, T, P, D, several_steps=False)
    with pytest.raises(ValueError, match="not a product"):
        reduce_data("rnn", T, x, [(2, 0), (2, 1), (1, 0)], yhat)
    with pytest.raises(ValueError, match="span"):              # 2 supervised patterns cannot span r = 4
        reduce_data("rnn", T, x, [(2, 0), (2, 1)], yhat)
    x2 = x.copy()
    x2[1] = rng.standard_normal((P, D))                         # new pattern directions at t = 1
    with pytest.raises(ValueError, match="t = 0"):
        reduce_data("rnn", T, x2, [(2, p) for p in range(P)], yhat)


# --- r = P: every route, full against reduced and lifted ---------------------------------------------
def small_problem(rng, arch, T, P=3, D=5, endpoint=False, lam=1.4):
    if endpoint:
        x = np.zeros((T, P, D))
        x[0] = rng.standard_normal((P, D))
        yhat = np.zeros((T, P))
        yhat[T - 1] = rng.standard_normal(P)
        S = [(T - 1, p) for p in range(P)]
    else:
        x, yhat = data(rng, T, P, D)
        S = supervised_set(T, P, (1, T - 1), False)
    return Problem(arch=arch_of(arch, T), T=T, x=x, supervised=S, yhat=yhat, **{**HYPER, "lam": lam})


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("T", [3, 5])
def test_rotation_keeps_action_gradient_and_hessian(arch, T, rng):
    p = small_problem(rng, arch, T)
    red = reduce_to_span(p, force=True)
    assert red.form == "orthonormal" and red.r == p.P and red.offset() == pytest.approx(0, abs=1e-12)
    assert reduce_to_span(p).form == "identity"
    Q = random_span_kernel(rng, red)
    H = red.lift(Q)
    E = random_span_kernel(rng, red) - prior_kernel(red.problem)
    assert action(red.problem, Q) == pytest.approx(action(p, H), rel=1e-12)
    np.testing.assert_allclose(red.lift_direction(gradient(p, H)), gradient(red.problem, Q), atol=1e-11)
    np.testing.assert_allclose(red.lift_direction(hessian_vector(p, H, red.lift(E))),
                               hessian_vector(red.problem, Q, E), atol=1e-10)
    np.testing.assert_allclose(red.lift_predictions(predictions(red.problem, Q)), predictions(p, H), atol=1e-12)


@pytest.mark.parametrize("arch", ARCHS)
def test_saddle_point_full_equals_reduced_lifted(arch, rng):
    from linkernel.theory.saddle import saddle_point
    p = small_problem(rng, arch, 4)
    red = reduce_to_span(p, force=True)
    full, sp = saddle_point(p, n_starts=2), saddle_point(red.problem, n_starts=2)
    H = fix_z2_sign(p, red.lift(sp.kernel))
    np.testing.assert_allclose(H, fix_z2_sign(p, full.kernel), atol=1e-10)
    assert red.full_action(sp.action) == pytest.approx(full.action, abs=1e-10)
    f = red.lift_predictions(sp.predictions)
    assert np.allclose(np.abs(f), np.abs(full.predictions), atol=1e-10)


@pytest.mark.parametrize("arch", ["rnn", "hybrid"])
def test_critical_lambda_full_equals_reduced(arch, rng):
    from linkernel.theory.special_points import critical_lambda
    p = small_problem(rng, arch, 4, endpoint=True)
    red = reduce_to_span(p, force=True)
    assert critical_lambda(red.problem) == pytest.approx(critical_lambda(p), abs=1e-10)


def test_trace_full_equals_reduced(rng):
    from linkernel.theory.continuation.tracing import point_at, trace
    from linkernel.theory.special_points import critical_lambda
    p = small_problem(rng, "rnn", 4, endpoint=True)
    red = reduce_to_span(p, force=True)
    lc = critical_lambda(p)
    rng_lam = (0.8 * lc, 1.3 * lc)
    tf, tr = trace(p, rng_lam), trace(red.problem, rng_lam)
    assert tf.transition == tr.transition != "none"
    bf = [s.lam for s in tf.special_points if s.kind == "branch_point"]
    br = [s.lam for s in tr.special_points if s.kind == "branch_point"]
    np.testing.assert_allclose(br, bf, atol=1e-10)
    lam = 1.2 * lc
    Hf = point_at(tf, lam, branch=1).kernel
    Hr = red.lift(point_at(tr, lam, branch=1).kernel)
    np.testing.assert_allclose(fix_z2_sign(p, Hr), fix_z2_sign(p, Hf), atol=1e-10)


def test_finite_width_full_equals_reduced(rng):
    from linkernel.finite_n.finite_width import finite_width
    from linkernel.theory.saddle import saddle_point
    p = small_problem(rng, "rnn", 3, endpoint=True, lam=0.8)
    red = reduce_to_span(p, force=True)
    ff = finite_width(saddle_point(p, n_starts=1), 400)
    fr = finite_width(saddle_point(red.problem, n_starts=1), 400)
    assert ff.method == fr.method
    np.testing.assert_allclose(red.lift(fr.correction), ff.correction, atol=1e-8 * max(1, np.abs(ff.correction).max()))
    np.testing.assert_allclose(red.lift(fr.kernel_N), ff.kernel_N, atol=1e-10)
    np.testing.assert_allclose(red.lift_covariance(fr.covariance), ff.covariance,
                               atol=1e-8 * np.abs(ff.covariance).max())
    np.testing.assert_allclose(red.lift_predictions(fr.predictions_N), ff.predictions_N, atol=1e-10)


# --- predictions at new inputs --------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_predictions_at_held_out_inputs_equal_the_full_problem_with_them_unsupervised(arch, rng):
    """Train on 3 patterns, predict at 2 held-out ones; the full problem holds all 5, only 3 supervised.

    The held-out inputs have components outside the training span (D = 6 > 3): the check covers the
    residual's prior kernel in the variance and the marginal consistency of the saddle point.
    """
    from linkernel.theory.saddle import saddle_point
    T, Ptr, m, D = 4, 3, 2, 6
    x = np.zeros((T, Ptr + m, D))
    x[0] = rng.standard_normal((Ptr + m, D))
    yhat = np.zeros((T, Ptr + m))
    yhat[T - 1] = rng.standard_normal(Ptr + m)
    kw = {**HYPER, "lam": 1.0}
    full = Problem(arch=arch, T=T, x=x, supervised=[(T - 1, p) for p in range(Ptr)], yhat=yhat, **kw)
    train = Problem(arch=arch, T=T, x=x[:, :Ptr], supervised=[(T - 1, p) for p in range(Ptr)],
                    yhat=yhat[:, :Ptr], **kw)
    Hf = fix_z2_sign(full, saddle_point(full, n_starts=1).kernel)
    Q = fix_z2_sign(train, saddle_point(train, n_starts=1).kernel)
    # marginal consistency: the training block of the full saddle is the training problem's saddle
    tr_rows = np.array([t * (Ptr + m) + p for t in range(T) for p in range(Ptr)])
    np.testing.assert_allclose(Hf[np.ix_(tr_rows, tr_rows)], Q, atol=1e-10)
    pred = predict(train, Q, x[0, Ptr:])                       # (m, D): inputs at t = 0
    assert np.all(pred.residual_norm > 0.1)
    f = predictions(full, Hf)                                   # (T, P)
    np.testing.assert_allclose(pred.mean, f[:, Ptr:], atol=1e-10)
    v, kappa = full.v, full.kappa
    idx = full.supervised_index
    K = v * Hf[np.ix_(idx, idx)] + kappa * np.eye(len(idx))
    for t in range(T):
        rows = [t * (Ptr + m) + Ptr + a for a in range(m)]
        Hs = Hf[np.ix_(rows, idx)]
        var = v * np.diag(Hf[np.ix_(rows, rows)]) - v * v * np.einsum("as,st,at->a", Hs, np.linalg.inv(K), Hs)
        np.testing.assert_allclose(pred.variance[t], var, atol=1e-10)


def test_predictions_through_a_reduction_at_training_inputs_and_refusal(rng):
    T, P, D = 4, 30, 5
    x, _ = data(rng, T, P, D, several_steps=False)
    yhat = np.zeros((T, P))
    yhat[T - 1] = np.sign(rng.standard_normal(P))
    red = reduce_data("rnn", T, x, [(T - 1, p) for p in range(P)], yhat, **HYPER)
    Q = random_span_kernel(rng, red)
    pred = red.predict(Q, x[0])
    np.testing.assert_allclose(pred.mean, red.lift_predictions(predictions(red.problem, Q)), atol=1e-10)
    assert np.all(pred.residual_norm < 1e-10)
    pred2 = red.predict(red.lift(Q), x[0, :3])                  # a full kernel in the span is accepted
    np.testing.assert_allclose(pred2.mean, pred.mean[:, :3], atol=1e-10)
    # a hybrid with inputs at two steps sharing U: a new input at t = 0 only overlaps through that U
    xh, yh = data(rng, T, P, D)
    redh = reduce_data(hybrid(T), T, xh, [(T - 1, p) for p in range(P)], yh, **HYPER)
    with pytest.raises(ValueError, match="overlaps"):
        redh.predict(random_span_kernel(rng, redh), rng.standard_normal((2, D)))
    # ... but a combination of training sequences is exact
    c = rng.standard_normal((2, P))
    out = redh.predict(random_span_kernel(rng, redh), np.einsum("ap,tpd->tad", c, xh))
    assert np.all(out.residual_norm < 1e-9)



# --- the fast paths for real data at full size (issue 29's targets) against the computations they replace ----
def _pencil_lowest_unpacked(problem, pc, sector=None, k=1, tol=1e-8, maxiter=120, frobenius=False):
    """The M^-1-Lanczos of linkernel.theory.certificate as it was: full n x n Lanczos vectors, eigh of T_m."""
    from linkernel.theory.certificate import _sector_mask
    n = problem.n
    mask = _sector_mask(problem, sector)
    proj = (lambda X: X) if mask is None else (lambda X: X * mask)
    hv, pm = ((pc.hessian_vector, pc.prior_metric_inverse) if frobenius else
              (pc.whitened_hessian_vector, pc.whitened_preconditioner))
    A = np.random.default_rng(12345).normal(size=(n, n))
    y = proj(0.5 * (A + A.T))
    dim = n * (n + 1) // 2 if mask is None else int((np.triu(mask) > 0).sum())
    maxiter = min(maxiter, dim)
    v = proj(pm(y))
    b = np.sqrt(max(np.vdot(y, v), 1e-300))
    V, Y = [(v / b).ravel()], [(y / b).ravel()]
    alpha, beta = [], []
    for j in range(maxiter):
        w = proj(hv(V[j].reshape(n, n))).ravel()
        a = float(V[j] @ w)
        alpha.append(a)
        w = w - a * Y[j] - (beta[-1] * Y[j - 1] if j else 0.0)
        for _ in range(2):
            w -= (np.array(V) @ w) @ np.array(Y)
        s = proj(pm(w.reshape(n, n))).ravel()
        b = np.sqrt(max(float(w @ s), 0.0))
        thetas, S = np.linalg.eigh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
        kk = min(k, len(thetas))
        res = b * np.abs(S[-1, :kk])
        if (j + 1 >= min(k + 2, maxiter) and np.all(res <= tol * np.maximum(1.0, np.abs(thetas[:kk])))) \
                or b <= 1e-14 * max(1.0, abs(thetas[-1])):
            break
        beta.append(b)
        V.append(s / b)
        Y.append(w / b)
    Xs = [(S[:, c] @ np.array(V)[:len(alpha)]).reshape(n, n) for c in range(kk)]
    return thetas[:kk], Xs, res, float(thetas[-1]), len(alpha)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("frobenius", [False, True])
def test_packed_lanczos_equals_the_full_matrix_lanczos(arch, frobenius, rng):
    """pencil_lowest (packed sector coordinates, tridiagonal eigensolver) against the unpacked Lanczos it
    replaced, at a symmetric point (odd and even sectors) and a generic kernel: the same steps, Ritz values
    and residual bounds to 1e-10, the same Ritz vectors up to sign."""
    from linkernel.theory.action import Pieces
    from linkernel.theory.certificate import pencil_lowest
    from linkernel.theory.curvature import is_symmetric_point
    T, P, D = 4, 3, 5
    x, yhat = data(rng, T, P, D)
    p = Problem(arch=arch_of(arch, T), T=T, x=x, supervised=[(T - 1, q) for q in range(P)], yhat=yhat, **HYPER)
    H0 = prior_kernel(p)
    A = rng.standard_normal((p.n, p.n)) / p.n
    for H in (H0, H0 + A @ A.T):
        pc = Pieces(p, H)
        sectors = ("odd", "even") if is_symmetric_point(p, H) else (None,)
        for sector in sectors:
            new = pencil_lowest(p, pc, sector, k=2, frobenius=frobenius)
            old = _pencil_lowest_unpacked(p, pc, sector, k=2, frobenius=frobenius)
            assert new[4] == old[4]
            scale = max(1.0, abs(old[3]))
            np.testing.assert_allclose(new[0], old[0], rtol=0, atol=1e-10 * scale)
            np.testing.assert_allclose(new[3], old[3], rtol=1e-10)
            np.testing.assert_allclose(new[2], old[2], rtol=1e-6, atol=1e-12 * scale)
            for Xn, Xo in zip(new[1], old[1]):
                sign = np.sign(np.vdot(Xn, Xo))
                np.testing.assert_allclose(sign * Xn, Xo, atol=1e-8 * np.abs(Xo).max())


@pytest.mark.parametrize("arch", ARCHS)
def test_triangular_sandwiches_equal_the_general_products(arch, rng):
    """The whitened Hessian, its preconditioner and the whitened gradient by triangular products (trmm) equal
    their definitions by general products -- L^T d2S[L X L^T] L, L^-1 M^-1[L^-T g L^-1] L^-T -- to 1e-12, at a
    random kernel of a random problem (T P = 68: trmm is used from n = 64), for a symmetric and a general X."""
    from linkernel.theory.action import Pieces, lower_sandwich
    T, P, D = 4, 17, 20
    x, yhat = data(rng, T, P, D)
    p = Problem(arch=arch_of(arch, T), T=T, x=x, supervised=[(T - 1, q) for q in range(P)], yhat=yhat, **HYPER)
    A = rng.standard_normal((p.n, p.n)) / p.n
    pc = Pieces(p, prior_kernel(p) + A @ A.T)
    L, Li = pc.LH, pc.LH_inv
    B = rng.standard_normal((p.n, p.n))
    X = B + B.T
    for M in (X, B):
        np.testing.assert_allclose(lower_sandwich(L, M), L @ M @ L.T, rtol=0, atol=1e-13 * np.abs(L @ M @ L.T).max())
        np.testing.assert_allclose(lower_sandwich(L, M, transpose=True), L.T @ M @ L, rtol=0,
                                   atol=1e-13 * np.abs(L.T @ M @ L).max())
    want = L.T @ pc.hessian_vector(L @ X @ L.T) @ L
    np.testing.assert_allclose(pc.whitened_hessian_vector(X), 0.5 * (want + want.T), rtol=0,
                               atol=1e-12 * np.abs(want).max())
    want = Li @ pc.prior_metric_inverse(Li.T @ X @ Li) @ Li.T
    np.testing.assert_allclose(pc.whitened_preconditioner(X), 0.5 * (want + want.T), rtol=0,
                               atol=1e-12 * np.abs(want).max())

"""The fast Hessian (linkernel.theory.hessian) against the column-by-column one, and its eigenpairs."""

import numpy as np
import pytest

from linkernel import Architecture, Problem, tasks
from linkernel.theory import action as A
from linkernel.theory.action import Pieces
from linkernel.theory.hessian import (dense_hessian, hessian, hessian_operator, lowest_eigenpairs,
                                      lowest_whitened_eigenpairs, whitened_dense)
from linkernel.threads import blas_threads, blas_threads_for, threads_for, cpu_count
from tests.references import random_kernel


def _by_columns(p, H):
    """The Hessian from action.hessian_vector applied to every basis element (the previous implementation)."""
    n = p.n
    dim = n * (n + 1) // 2
    cols = [A.to_vector(A.hessian_vector(p, H, A.from_vector(e, n))) for e in np.eye(dim)]
    M = np.column_stack(cols)
    return 0.5 * (M + M.T)


def _problems():
    arch = Architecture(4, W=[[1, 3], [2]], U=[[0], [1, 2, 3]])
    r = np.random.default_rng(7)
    x = r.normal(size=(4, 2, 3))
    return [tasks.endpoint("rnn", T=3, P=2, lam=1.3, w=0.8),
            tasks.endpoint("dnn", T=4, P=1, lam=2.0, u=1.4),
            tasks.sinusoid("rnn", T=5, supervised=[1, 2, 4], lam=1.5),
            Problem(arch=arch, T=4, x=x, supervised=[(1, 0), (3, 1), (2, 0)], yhat=r.normal(size=(4, 2)),
                    lam=1.1, w=0.9, kappa=0.3)]


@pytest.mark.parametrize("k", range(4))
def test_dense_hessian_equals_the_column_by_column_one(k, rng):
    p = _problems()[k]
    H = random_kernel(rng, p.n)
    ref = _by_columns(p, H)
    np.testing.assert_allclose(dense_hessian(p, H), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(hessian(p, H), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("k", range(4))
def test_operator_and_pieces_match_the_action_module(k, rng):
    p = _problems()[k]
    H = random_kernel(rng, p.n)
    pc = Pieces(p, H)
    assert pc.action() == pytest.approx(A.action(p, H), rel=1e-12)
    np.testing.assert_allclose(pc.gradient(), A.gradient(p, H), atol=1e-12)
    op = hessian_operator(p, H)
    x, y = rng.normal(size=(2, op.shape[0]))
    Hd = dense_hessian(p, H)
    np.testing.assert_allclose(op @ x, Hd @ x, atol=1e-11 * np.abs(Hd).max())
    assert y @ (op @ x) == pytest.approx(x @ (op @ y), rel=1e-10)   # symmetric
    # the whitened Hessian is the congruence L^T (.) L of the Hessian: same inertia (Sylvester)
    B = whitened_dense(p, pc)
    X = A.from_vector(x, p.n)
    L = pc.LH
    np.testing.assert_allclose(B @ x, A.to_vector(L.T @ A.hessian_vector(p, H, L @ X @ L.T) @ L), atol=1e-10)
    assert np.sum(np.linalg.eigvalsh(B) < 0) == np.sum(np.linalg.eigvalsh(Hd) < 0)


@pytest.mark.parametrize("sector", [None, "odd", "even"])
def test_lanczos_and_dense_eigenpairs_agree(sector):
    # a symmetric saddle above the transition: negative odd and even curvature, a spectrum spread by H^-1 (x) H^-1
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5)
    H = A.prior_kernel(p) * np.linspace(1.0, 3.0, p.n)[:, None] ** 0.5 * np.linspace(1.0, 3.0, p.n)[None, :] ** 0.5
    dv, dvec = lowest_eigenpairs(p, H, k=3, sector=sector, method="dense")
    lv, lvec = lowest_eigenpairs(p, H, k=3, sector=sector, method="lanczos")
    np.testing.assert_allclose(lv, dv, rtol=1e-6, atol=1e-9)
    Hd = dense_hessian(p, H)
    sel = np.arange(len(Hd)) if sector is None else np.flatnonzero(A.odd_coordinates(p) == (sector == "odd"))
    block = Hd[np.ix_(sel, sel)]
    np.testing.assert_allclose(block @ lvec[sel, 0], lv[0] * lvec[sel, 0], atol=1e-6)   # an eigenpair
    if sector is not None:
        odd = A.odd_coordinates(p)
        outside = ~odd if sector == "odd" else odd
        assert np.all(dvec[outside] == 0) and np.all(lvec[outside] == 0)
    assert np.all(np.diff(dv) >= 0)


def test_whitened_lanczos_matches_dense():
    p = tasks.endpoint("rnn", T=8, P=2, lam=2.5)
    H = A.prior_kernel(p)
    pc = Pieces(p, H)
    for sector in (None, "odd", "even"):
        # k = 1: the prior kernel's spectrum is degenerate, and Lanczos sees one copy of a double eigenvalue
        dv, _ = lowest_whitened_eigenpairs(p, pc, k=1, sector=sector, dense_max=10**6)
        lv, _ = lowest_whitened_eigenpairs(p, pc, k=1, sector=sector, dense_max=1)
        np.testing.assert_allclose(lv, dv, rtol=1e-7, atol=1e-9)


def _symmetric_saddle_and_minimum(p):
    from linkernel.theory.saddle import saddle_point
    from linkernel.theory.minimize import minimize_action
    return minimize_action(p, A.prior_kernel(p)).kernel, saddle_point(p, n_starts=1).kernel


@pytest.mark.parametrize("T, P", [(8, 4), (6, 2)])
def test_matrix_free_sign_test_matches_dense(T, P):
    """The matrix-free sign test (stop_above) counts the negative eigenvalues LAPACK finds, and settles the next.

    Its negative directions may be loose Ritz pairs: each value must still lie
    between the dense eigenvalue of its rank and zero (Cauchy interlacing), and be
    a Rayleigh quotient of its vector.  Where fewer than two are negative (a
    minimum, or a saddle with one direction), the last value returned is the
    next eigenvalue to 1e-6.
    """
    p = tasks.endpoint("rnn", T=T, P=P, lam=2.5, kappa=0.1)
    saddle, minimum = _symmetric_saddle_and_minimum(p)
    cases = [(saddle, "odd"), (saddle, "even"), (minimum, None)]
    for H, sector in cases:
        pc = Pieces(p, H)
        dv, _ = lowest_whitened_eigenpairs(p, pc, k=5, sector=sector, dense_max=10**6)
        mv, mvec = lowest_whitened_eigenpairs(p, pc, k=4, sector=sector, dense_max=0, stop_above=-1e-8)
        n_neg = int(np.sum(dv[:4] < -1e-8))
        assert np.sum(mv < -1e-8) == n_neg, (sector, dv, mv)
        for j, val in enumerate(mv):
            X = A.from_vector(mvec[:, j], p.n)
            q = np.vdot(X, pc.whitened_hessian_vector(X)) / np.vdot(X, X)
            assert q == pytest.approx(val, abs=1e-8)
            assert val >= dv[j] - 1e-8
        if n_neg < 2:
            assert mv[-1] == pytest.approx(dv[n_neg], abs=1e-6)
    assert n_neg == 0   # the minimum


def test_bad_arguments_raise():
    p = tasks.endpoint("rnn", T=3)
    H = A.prior_kernel(p)
    with pytest.raises(ValueError, match="sector="):
        lowest_eigenpairs(p, H, sector="up")
    with pytest.raises(ValueError, match="k="):
        lowest_eigenpairs(p, H, k=0)
    with pytest.raises(ValueError, match="n="):
        with blas_threads(0):
            pass


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info
    before = [i["num_threads"] for i in threadpool_info()]
    with blas_threads(1):
        assert all(i["num_threads"] == 1 for i in threadpool_info())
    assert [i["num_threads"] for i in threadpool_info()] == before
    assert threads_for(8) == 1 and threads_for(4096) == cpu_count()
    with blas_threads_for(8):
        assert all(i["num_threads"] == 1 for i in threadpool_info())


def test_thread_policy_reaches_scipys_own_blas_whatever_is_called_first():
    """The controller is made once per process: it must see SciPy's bundled OpenBLAS even when the first
    numerical call comes before anything imported scipy.linalg (a critical_point in a fresh process)."""
    import subprocess
    import sys
    code = ("import linkernel as lk, linkernel.threads as th\n"
            "lk.critical_point(lk.endpoint('rnn', T=3))\n"
            "import scipy.linalg\n"
            "from threadpoolctl import threadpool_info\n"
            "seen = {i['filepath'] for i in th._controller().info()}\n"
            "print(sorted({i['filepath'] for i in threadpool_info() if i['user_api'] == 'blas'} - seen))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"BLAS libraries the thread policy cannot limit: {out.stdout}"


@pytest.mark.parametrize("k", range(4))
def test_prior_metric_inverse_inverts_the_gauss_newton_kl_curvature(k):
    """M^-1 undoes M(E) = (1 - shift)* [H^-1 (E - shift E) H^-1] / 2 (the shift's inverse by one pass)."""
    p = _problems()[k]
    rng = np.random.default_rng(k)
    H = random_kernel(rng, p.n)
    pc = Pieces(p, H)
    E = rng.normal(size=(p.n, p.n))
    E = E + E.T
    np.testing.assert_allclose(pc.unshift(E) - pc.shift(pc.unshift(E)), E, atol=1e-12)
    G = rng.normal(size=(p.n, p.n))
    G = G + G.T
    assert np.vdot(pc.unshift(E), G) == pytest.approx(np.vdot(E, pc.unshift_adjoint(G)), rel=1e-12)
    D = E - pc.shift(E)
    ME = pc.shift_adjoint(-0.5 * pc.Hinv @ D @ pc.Hinv) + 0.5 * pc.Hinv @ D @ pc.Hinv
    np.testing.assert_allclose(pc.prior_metric_inverse(ME), E, atol=1e-9 * np.abs(E).max())
    # whitened: the same operator in the coordinates X = L^-1 E L^-T
    g = pc.LH.T @ ME @ pc.LH
    X = pc.whitened_preconditioner(g)
    np.testing.assert_allclose(pc.LH @ X @ pc.LH.T, E, atol=1e-8 * np.abs(E).max())


@pytest.mark.parametrize("k", range(3))
def test_gauss_newton_metric_is_the_kl_curvature_at_the_prior_kernel(k):
    """Where Sigma(H) = H (the prior kernel) <E, M E> is the KL term's second derivative (finite differences)."""
    p = _problems()[k]
    H = A.prior_kernel(p)
    pc = Pieces(p, H)
    rng = np.random.default_rng(10 + k)
    E = rng.normal(size=(p.n, p.n))
    E = 1e-1 * (E + E.T) / np.linalg.norm(E)
    D = E - pc.shift(E)
    quad = 0.5 * np.vdot(D, pc.Hinv @ D @ pc.Hinv)
    h = 1e-3
    fd = (A.kl_term(p, H + h * E) - 2 * A.kl_term(p, H) + A.kl_term(p, H - h * E)) / h ** 2
    assert fd == pytest.approx(quad, rel=1e-5)


def test_cholesky_inverse_inverts_the_kernel(rng):
    """(M^-1, L^-1) from the Cholesky factor: M^-1 M = 1, L^-1 lower triangular with L^-1 L = 1, M^-1 symmetric."""
    from linkernel.theory.action import _chol_inverse
    M = random_kernel(rng, 12)
    L = np.linalg.cholesky(M)
    Minv, Li = _chol_inverse(L)
    np.testing.assert_allclose(Minv @ M, np.eye(12), atol=1e-10 * np.linalg.cond(M))
    np.testing.assert_allclose(Li @ L, np.eye(12), atol=1e-12 * np.linalg.cond(L))
    assert np.array_equal(Li, np.tril(Li)) and np.array_equal(Minv, Minv.T)
    np.testing.assert_allclose(Minv, np.linalg.inv(M), rtol=1e-9, atol=1e-12 * np.abs(Minv).max())

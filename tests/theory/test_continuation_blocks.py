"""The dense linear algebra of the continuation: sector blocks of the Hessian and the bordered solves.

Each principal block assembled alone (linkernel.theory.hessian.dense_hessian_block)
against the same block of the Hessian built column by column from
action.hessian_vector; the bordered corrector systems solved by block
elimination on the LDL^T of the Hessian block against a dense solve, also
where the Hessian block is nearly singular.
"""

import numpy as np
import pytest

from linkernel import Architecture, Problem, tasks
from linkernel.theory import action as A
from linkernel.theory.continuation.bordered import Jacobian
from linkernel.theory.hessian import dense_hessian, dense_hessian_block, sector_coordinates
from tests.references import random_kernel


def _by_columns(p, H):
    """The Hessian from action.hessian_vector applied to every basis element."""
    n = p.n
    cols = [A.to_vector(A.hessian_vector(p, H, A.from_vector(e, n))) for e in np.eye(n * (n + 1) // 2)]
    M = np.column_stack(cols)
    return 0.5 * (M + M.T)


def _problems():
    arch = Architecture(4, W=[[1, 3], [2]], U=[[0], [1, 2, 3]])
    x = np.random.default_rng(7).normal(size=(4, 2, 3))
    return [tasks.endpoint("rnn", T=3, P=2, lam=1.3, w=0.8),
            tasks.endpoint("dnn", T=4, P=1, lam=2.0, u=1.4),
            Problem(arch=arch, T=4, x=x, supervised=[(1, 0), (3, 1), (2, 0)],
                    yhat=np.random.default_rng(8).normal(size=(4, 2)), lam=1.1, w=0.9, kappa=0.3)]


@pytest.mark.parametrize("k", range(3))
def test_every_principal_block_equals_that_block_of_the_column_by_column_hessian(k, rng):
    p = _problems()[k]
    H = random_kernel(rng, p.n)
    ref = _by_columns(p, H)
    dim = len(ref)
    tol = 1e-12 * np.abs(ref).max()
    np.testing.assert_allclose(dense_hessian(p, H), ref, rtol=1e-12, atol=tol)
    for sel in (sector_coordinates(p, "even"), sector_coordinates(p, "odd"),
                np.sort(rng.choice(dim, size=dim // 2, replace=False)), np.array([dim - 1, 0])):
        np.testing.assert_allclose(dense_hessian_block(p, H, sel), ref[np.ix_(sel, sel)], rtol=1e-12, atol=tol)


def test_sector_blocks_carry_the_whole_spectrum_at_a_symmetric_kernel(rng):
    """At a Z2-even kernel the odd-even coupling vanishes: the blocks' eigenvalues are the Hessian's."""
    p = tasks.endpoint("rnn", T=4, P=2, lam=1.3, kappa=0.1)
    H = random_kernel(rng, p.n)
    H[p.odd_mask] = 0.0
    H += p.n * np.eye(p.n)  # stays positive definite after the odd entries are removed
    full = dense_hessian(p, H)
    ev, od = sector_coordinates(p, "even"), sector_coordinates(p, "odd")
    assert np.abs(full[np.ix_(ev, od)]).max() < 1e-14 * np.abs(full).max()
    blocks = np.concatenate([np.linalg.eigvalsh(dense_hessian_block(p, H, s)) for s in (ev, od)])
    np.testing.assert_allclose(np.sort(blocks), np.linalg.eigvalsh(full), atol=1e-12 * np.abs(full).max())


def _bordered(jac):
    return np.vstack([np.column_stack([jac.A, jac.b]), jac.border])


@pytest.mark.parametrize("sym", [True, False])
def test_block_elimination_solves_the_bordered_system(sym, rng):
    from linkernel.theory.equations import Equations
    p = tasks.endpoint("rnn", T=4, P=2, lam=1.0, kappa=0.1)
    eq = Equations(p)
    H = A.prior_kernel(p) + 0.1 * np.eye(p.n)
    X = np.append(A.to_vector(H), 1.0)
    jac = Jacobian(eq, X, sym)
    tau = rng.normal(size=eq.dim + 1)
    jac.set_border(tau / np.linalg.norm(tau))
    r = rng.normal(size=len(jac.k))
    z = jac.bordered_solve(r, 0.3)
    ref = np.linalg.solve(_bordered(jac), np.append(r, 0.3))
    np.testing.assert_allclose(z, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert jac._lu is None  # the LU fallback was not needed


def test_block_elimination_stays_accurate_where_the_hessian_block_is_nearly_singular(rng):
    """At a fold the Hessian block is singular but the bordered matrix is not: refinement keeps the solve exact."""
    from linkernel.theory.equations import Equations, ldl as _ldl
    p = tasks.endpoint("rnn", T=3, P=2, lam=1.0, kappa=0.1)
    eq = Equations(p)
    X = np.append(A.to_vector(A.prior_kernel(p) + 0.1 * np.eye(p.n)), 1.0)
    jac = Jacobian(eq, X, False)
    w, V = np.linalg.eigh(jac.A)
    j = int(np.argmax(np.abs(V.T @ jac.b)))  # as at a fold: dF/dlam is not in the range of the Hessian
    jac.A = jac.A - (w[j] - 1e-9 * np.abs(w).max()) * np.outer(V[:, j], V[:, j])  # condition number 1e9
    jac.ldl, jac._Ab = _ldl(jac.A), None
    tau = np.append(V[:, j], 0.2)  # a border that makes the bordered matrix well conditioned
    jac.set_border(tau / np.linalg.norm(tau))
    r = rng.normal(size=len(jac.k))
    B = _bordered(jac)
    assert np.linalg.cond(B) < 1e4 < 1e8 < np.linalg.cond(jac.A)
    ref = np.linalg.solve(B, np.append(r, -0.4))
    z = jac.bordered_solve(r, -0.4)
    np.testing.assert_allclose(z, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("n_negative", [0, 1, 3])
def test_smallest_eigenvalue_from_the_inertia_and_shift_invert_equals_eigvalsh(n_negative, rng):
    """lowest(): the eigenvalues nearest zero, taken once they hold all negative ones, against eigvalsh."""
    from linkernel.theory.equations import Equations, ldl as _ldl
    p = tasks.endpoint("rnn", T=6, P=3, lam=1.0, kappa=0.1)
    eq = Equations(p)
    jac = Jacobian(eq, np.append(A.to_vector(A.prior_kernel(p) + 0.1 * np.eye(p.n)), 1.0), False)
    m = eq.dim  # 171: above the size where a full eigvalsh is used
    w = np.concatenate([-rng.uniform(0.05, 2.0, n_negative), rng.uniform(0.01, 1e4, m - n_negative)])
    Q = np.linalg.qr(rng.normal(size=(m, m)))[0]
    jac.A = (Q * w) @ Q.T
    jac.ldl = _ldl(jac.A)
    assert jac.ldl[2] == n_negative
    exact = np.linalg.eigvalsh(jac.A)[0]
    assert jac.lowest(jac.ldl[2]) == pytest.approx(exact, rel=1e-10)
    if n_negative:
        # later points shift below the previous smallest eigenvalue: a good, a far and a too-small guess
        for guess in (exact, 30 * exact, 0.01 * exact):
            eq.lowest_guess[(False, False)] = guess
            assert jac.lowest(jac.ldl[2]) == pytest.approx(exact, rel=1e-10)

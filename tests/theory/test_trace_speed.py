"""The matrix-free continuation's faster pieces (issue 29: a trace on digits through the span reduction).

Each piece is checked against the computation it replaces: the prior-metric MINRES preconditioner
(an SPD operator that needs fewer products than the Fisher one), the refined MINRES solve against a
dense solve, the warm-started LOBPCG eigenpairs against a dense ``eigh`` (and fewer products than a
cold start), the cached sector eigenpairs against the whole dense Hessian, the matrix-free quartic
Landau terms against the dense ones, and a whole matrix-free trace against the dense trace.
The problem: digits 0 vs 1 on 9 principal components, T = 4 (kernel 36 x 36, 666 coordinates;
sectors of 324 and 342 coordinates, above ``DENSE_EIG_MAX_DIM``, so LOBPCG runs).
"""

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, minres

import linkernel.theory.equations as equations
from linkernel import datasets
from linkernel.theory.continuation import trace
from linkernel.theory.continuation.bordered import Jacobian
from linkernel.theory.continuation.landau import quartic_terms
from linkernel.theory.continuation.stepper import _start
from linkernel.theory.action import from_vector, to_vector
from linkernel.theory.equations import Equations, prior_metric_preconditioner
from linkernel.theory.hessian import DENSE_EIG_MAX_DIM, dense_hessian, lowest_eigenpairs, sector_coordinates


@pytest.fixture(scope="module")
def problem():
    return datasets.digits((0, 1), P=60, test=0, T=4, lam=1.0, components=9).problem


@pytest.fixture(scope="module")
def dense_trace(problem):
    return trace(problem, (1.6, 2.4))


def _symmetric_point(problem, lam, dense=None):
    eq = Equations(problem.with_(lam=lam), dense=dense)
    X, sym = _start(eq, lam, 1e-11)
    assert sym
    return eq, X


def _fisher_preconditioner(pc, idx, n, dim):
    """The preconditioner the prior metric replaced: E -> 2 H E H on the coordinates idx, the inverse of
    the KL term's curvature 1/2 H^-1 E H^-1 (the baseline of the product count below)."""
    def mv(y):
        x = np.zeros(dim)
        x[idx] = np.ravel(y)
        return to_vector(2.0 * pc.H @ from_vector(x, n) @ pc.H)[idx]

    return LinearOperator((len(idx), len(idx)), matvec=mv, dtype=float)


def _dense_matrix(op, m):
    return np.column_stack([op.matvec(e) for e in np.eye(m)])


def test_sectors_are_large_enough_for_lobpcg(problem):
    """The premise of the eigenpair tests: both sectors take the LOBPCG path, not dense eigh."""
    assert len(sector_coordinates(problem, "odd")) > DENSE_EIG_MAX_DIM
    assert len(sector_coordinates(problem, "even")) > DENSE_EIG_MAX_DIM


def test_prior_metric_preconditioner_is_spd_and_cuts_minres_products(problem):
    eq, X = _symmetric_point(problem, 1.8, dense=False)
    jac = eq.jacobian(X, True)
    k = jac.k
    Mp = _dense_matrix(prior_metric_preconditioner(jac.pc, k, eq.n, eq.dim), len(k))
    assert np.abs(Mp - Mp.T).max() <= 1e-10 * np.abs(Mp).max()
    assert np.linalg.eigvalsh(0.5 * (Mp + Mp.T))[0] > 0
    products = {}
    for name, M in (("prior", jac.M), ("fisher", _fisher_preconditioner(jac.pc, k, eq.n, eq.dim))):
        count = [0]

        def mv(y, count=count):
            count[0] += 1
            return jac.matvec(y)

        x, info = minres(LinearOperator((len(k), len(k)), matvec=mv, dtype=float), jac.b, M=M, rtol=1e-13)
        assert info == 0
        products[name] = (count[0], np.linalg.norm(jac.matvec(x) - jac.b) / np.linalg.norm(jac.b))
    assert products["prior"][0] < products["fisher"][0]
    assert products["prior"][1] <= products["fisher"][1]


def test_refined_solve_reaches_its_residual_and_the_dense_solution(problem):
    eq, X = _symmetric_point(problem, 1.8, dense=False)
    jac = eq.jacobian(X, True)
    A = dense_hessian(eq.at(X[-1]), jac.pc.H)[np.ix_(jac.k, jac.k)]
    r = np.random.default_rng(3).normal(size=len(jac.k))
    x = jac.solve_refined(r, rel=1e-12)
    assert np.linalg.norm(r - A @ x) <= 1e-11 * np.linalg.norm(r)
    np.testing.assert_allclose(x, np.linalg.solve(A, r), rtol=0, atol=1e-9 * np.abs(x).max())


def _counting(pc):
    """Count the Hessian products LOBPCG makes on ``pc`` (an instance attribute shadows the method)."""
    count = [0]
    f = pc.hessian_vector

    def hv(E):
        count[0] += 1
        return f(E)

    pc.hessian_vector = hv
    return count


@pytest.mark.parametrize("sector", ["odd", "even"])
def test_warm_started_eigenpairs_equal_dense_with_fewer_products(problem, sector):
    eq1, X1 = _symmetric_point(problem, 1.75)
    eq2, X2 = _symmetric_point(problem, 1.8)
    p2, pc2 = eq2.at(X2[-1]), eq2.pieces(X2)
    _, V1 = lowest_eigenpairs(eq1.at(X1[-1]), eq1.pieces(X1).H, k=4, sector=sector)
    sel = sector_coordinates(problem, sector)
    exact = np.linalg.eigvalsh(dense_hessian(p2, pc2.H)[np.ix_(sel, sel)])[:4]
    cold_n = _counting(pc2)
    cold, _ = lowest_eigenpairs(p2, pc2.H, k=4, sector=sector, pieces=pc2)
    pc2 = eq2.pieces(X2)
    warm_n = _counting(pc2)
    warm, Vw = lowest_eigenpairs(p2, pc2.H, k=4, sector=sector, pieces=pc2, start=V1)
    scale = np.abs(exact).max()
    np.testing.assert_allclose(warm, exact, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-6 * scale)
    assert np.all(Vw[np.setdiff1d(np.arange(eq2.dim), sel)] == 0)      # the sector's vectors only
    assert warm_n[0] < cold_n[0]


def test_cached_sector_pairs_give_the_dense_counts_and_smallest_eigenvalue(problem):
    lam = 2.2                                   # above lambda_c ~ 1.92: one odd eigenvalue is negative
    eq, X = _symmetric_point(problem, lam, dense=False)
    jac = Jacobian(eq, X, True)
    Hd = dense_hessian(eq.at(lam), jac.pc.H)
    ev, od = np.linalg.eigvalsh(Hd[np.ix_(eq.i_even, eq.i_even)]), np.linalg.eigvalsh(Hd[np.ix_(eq.i_odd, eq.i_odd)])
    assert jac.counts() == (int(np.sum(ev < 0)), int(np.sum(od < 0))) == (0, 1)
    count = _counting(jac.pc)
    low = jac.lowest()
    val, vec = jac.nearest_zero(odd=True)
    assert count[0] == 0                        # read from the counts' eigenpairs, not recomputed
    w = np.linalg.eigvalsh(Hd)
    assert low == pytest.approx(w[0], abs=1e-6 * np.abs(w[:8]).max())
    assert val == pytest.approx(od[np.argmin(np.abs(od))], abs=1e-6 * np.abs(od[:8]).max())
    assert np.linalg.norm(Hd @ vec - val * vec) <= 1e-9        # LOBPCG's residual tolerance (absolute)
    assert set(eq.eigenvectors) == {"even", "odd"}   # the next point's LOBPCG starts from these


def test_matrix_free_quartic_terms_equal_dense(problem, dense_trace):
    bp = next(s for s in dense_trace.special_points if s.z2)
    eq = Equations(problem.with_(lam=bp.lam), dense=False)
    X = np.append(to_vector(bp.kernel), bp.lam)
    X[:-1][eq.odd] = 0.0
    phi = bp.null_vector / np.linalg.norm(bp.null_vector)
    dense = quartic_terms(eq, X[:-1], bp.lam, phi, eq.hessian(X))
    free = quartic_terms(eq, X[:-1], bp.lam, phi, None, solve=eq.jacobian(X, True).solve_refined)
    assert np.all(np.isfinite(dense)) and dense[1] > 0 and dense[2] > 0
    np.testing.assert_allclose(free, dense, rtol=1e-8, atol=1e-10 * max(dense[1], dense[2]))


def test_matrix_free_trace_finds_what_the_dense_trace_finds(problem, dense_trace, monkeypatch):
    monkeypatch.setattr(equations, "DENSE_MAX_DIM", 0)
    free = trace(problem, (1.6, 2.4))
    assert free.transition == dense_trace.transition == "second order"
    bd = [s.lam for s in dense_trace.special_points if s.z2]
    bf = [s.lam for s in free.special_points if s.z2]
    assert len(bf) == len(bd) == 1
    assert bf[0] == pytest.approx(bd[0], rel=1e-9)
    assert [b.kind for b in free.branches] == [b.kind for b in dense_trace.branches]
    for b in free.branches:                     # stable: below the branch point on the symmetric branch
        for pt in b.points:
            expected = b.kind == "broken" or pt.lam <= bf[0] * (1 + 1e-9)
            assert pt.stable == expected, (b.kind, pt.lam)

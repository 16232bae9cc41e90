"""The three-pattern reduction of orthogonal-pattern problems (linkernel.theory.pattern_symmetry).

Each claim of the module docstring checked by a computation that does not use it: the split of S
against a one-pattern problem's KL, the equal distinct Hessian spectra against dense Hessians of
both problems, the lifted minima against the default search run in the full P-pattern space.
"""

from __future__ import annotations

import numpy as np
import pytest

import linkernel as lk
from linkernel.problem import Problem
from linkernel.theory import pattern_symmetry as symmetry
from linkernel.theory.action import Pieces, prior_kernel
from linkernel.theory.certificate import certify
from linkernel.theory.hessian import dense_hessian
from linkernel.theory.search import GlobalSearch


def _spd(rng, T, scale=1.0):
    A = rng.normal(size=(T, T))
    return scale * (A @ A.T / T + np.eye(T))


def _reduce(problem):
    """The reduction whatever P (the identities hold for every P >= 4; the search uses it from REDUCE_FROM_P)."""
    return symmetry.pattern_reduction(problem, min_patterns=4)


def _invariant(red, rng):
    """A random invariant kernel of the reduced problem (H_par, H_perp SPD)."""
    T, e = red.small.T, red.b_small
    par, perp = _spd(rng, T, 2.0), _spd(rng, T)
    return np.kron(perp, np.eye(3)) + np.kron(par - perp, np.outer(e, e))


def test_the_reduction_applies_exactly_where_the_symmetry_holds():
    assert symmetry.pattern_reduction(lk.endpoint("rnn", T=4, P=16)) is not None
    assert symmetry.pattern_reduction(lk.endpoint("dnn", T=3, P=20, lam=2.0)) is not None
    assert symmetry.pattern_reduction(lk.endpoint("rnn", T=4, P=8)) is None           # below REDUCE_FROM_P
    assert _reduce(lk.endpoint("rnn", T=4, P=3)) is None                               # nothing to reduce
    labels = np.random.default_rng(0).normal(size=9)
    red = _reduce(lk.endpoint("rnn", T=3, P=9, labels=labels))
    assert red is not None and abs(abs(red.b @ labels) - np.linalg.norm(labels)) < 1e-12
    # inputs that are not orthogonal: no symmetry beyond the Z2
    base = lk.endpoint("rnn", T=3, P=8)
    x = base.x.copy()
    x[0, 1, 0] = 0.3
    assert _reduce(base.with_(x=x)) is None
    # two supervised steps with different label vectors: targets of rank two
    yhat = np.zeros((3, 8))
    yhat[2] = (-1.0) ** np.arange(8)
    yhat[1] = np.where(np.arange(8) < 4, 1.0, -1.0)
    sup = [(t, p) for t in (1, 2) for p in range(8)]
    two = Problem(arch=base.arch, T=3, x=base.x, supervised=sup, yhat=yhat, lam=1.5)
    assert _reduce(two) is None
    # the same label vector at both steps (scaled): rank one, reduced
    yhat[1] = 0.5 * yhat[2]
    assert _reduce(Problem(arch=base.arch, T=3, x=base.x, supervised=sup, yhat=yhat,
                           lam=1.5)) is not None


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_the_action_splits_into_the_label_direction_and_P_minus_1_copies_of_the_prior_KL(arch):
    """S(lift(H)) = S_1(H_par; targets lambda |yhat|) + (P - 1) KL_1(H_perp), each a one-pattern problem."""
    rng = np.random.default_rng(1)
    lam = 2.0
    for P in (8, 12, 16):
        red = _reduce(lk.endpoint(arch, T=4, P=P, lam=lam, kappa=0.3))
        if P == 8:
            Hs = _invariant(red, rng)
            par, perp, off = red.parts(Hs)
            assert off < 1e-14
        along = lk.endpoint(arch, T=4, P=1, lam=lam * np.sqrt(P), kappa=0.3)    # |yhat| = sqrt(P)
        rest = lk.endpoint(arch, T=4, P=1, lam=0.0, kappa=0.3)
        want = Pieces(along, par).action() + (P - 1) * Pieces(rest, perp).kl_term()
        assert Pieces(red.problem, red.lift(Hs)).action() == pytest.approx(want, rel=1e-11)
        # the reduced problem: the same label-direction term, 2 copies of the rest
        assert Pieces(red.small, Hs).action() == pytest.approx(want - (P - 3) * Pieces(rest, perp).kl_term(),
                                                               rel=1e-11)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_distinct_hessian_eigenvalues_of_P_patterns_are_those_of_three(arch):
    """The representation argument, checked on dense Hessians: same set of eigenvalues (multiplicities apart)."""
    rng = np.random.default_rng(2)
    red = _reduce(lk.endpoint(arch, T=3, P=8, lam=2.0, kappa=0.2))
    Hs = _invariant(red, rng)
    small = np.linalg.eigvalsh(dense_hessian(red.small, Hs))
    full = np.linalg.eigvalsh(dense_hessian(red.problem, red.lift(Hs)))
    tol = 1e-9 * np.abs(full).max()
    assert max(np.abs(full - v).min() for v in small) < tol
    assert max(np.abs(small - v).min() for v in full) < tol


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_the_spectrum_with_multiplicities_is_the_dense_full_space_spectrum(arch):
    """Components orthonormal, not coupled by the Hessian, their dimensions x multiplicities = n(n+1)/2; and the
    whole spectrum so counted equals LAPACK's on the 300 x 300 Hessian of P = 8, T = 3."""
    rng = np.random.default_rng(4)
    red = _reduce(lk.endpoint(arch, T=3, P=8, lam=2.0, kappa=0.2))
    comps = red.components()
    Q = np.hstack([q for q, _ in comps.values()])
    assert np.abs(Q.T @ Q - np.eye(Q.shape[1])).max() < 1e-14
    n = red.problem.n
    assert sum(q.shape[1] * m for q, m in comps.values()) == n * (n + 1) // 2
    Hs = _invariant(red, rng)
    Hd = dense_hessian(red.small, Hs)
    for a, (qa, _) in comps.items():
        for b, (qb, _) in comps.items():
            if a != b:
                assert np.abs(qa.T @ Hd @ qb).max() < 1e-12 * np.abs(Hd).max()
    H = red.lift(Hs)
    assert red.frobenius_condition(H) == pytest.approx(np.linalg.norm(H) * np.linalg.norm(np.linalg.inv(H)),
                                                       rel=1e-12)
    want = np.linalg.eigvalsh(dense_hessian(red.problem, H))
    vals, mult = red.hessian_spectrum(H)
    assert mult.sum() == len(want)
    assert np.abs(np.repeat(vals, mult) - want).max() < 1e-10 * np.abs(want).max()


def test_the_reported_spectrum_of_a_lifted_minimum_is_the_full_space_one():
    pr = lk.endpoint("rnn", T=4, P=16, lam=2.5, kappa=0.1)
    sp = lk.saddle_point(pr)
    from linkernel.theory.curvature import reported_spectrum
    want = reported_spectrum(pr, sp.kernel, tol=1e-9)[0]        # Lanczos on the 2080-dimensional Hessian
    assert len(sp.hessian_eigenvalues) == len(want)
    assert sp.hessian_eigenvalues == pytest.approx(want, rel=1e-6)


def test_certificates_at_lifted_stationary_points_agree_sector_by_sector():
    """The pencil's lowest eigenvalue per sector, computed in the full space, equals the reduced one."""
    red = _reduce(lk.endpoint("rnn", T=4, P=8, lam=2.5, kappa=0.1))
    gs = GlobalSearch(red.small, 1e-13)
    gs.run()
    points = [f.kernel for f in gs.minima] + gs.saddles
    assert len(gs.minima) >= 1 and len(gs.saddles) >= 1
    for H in points:
        a = certify(red.small, H)
        b = certify(red.problem, red.lift(H))
        assert a.status == b.status or {a.status, b.status} <= {"minimum", "not stationary"}
        assert a.by_sector.keys() == b.by_sector.keys()
        for s in a.by_sector:
            assert a.by_sector[s][0] == pytest.approx(b.by_sector[s][0], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kw", [dict(arch="rnn", T=4, P=16, lam=2.5, kappa=0.1),
                                dict(arch="dnn", T=4, P=16, lam=2.5, kappa=0.1),
                                dict(arch="rnn", T=3, P=20, lam=0.8, kappa=0.1),
                                dict(arch="rnn", T=5, P=16, lam=3.0, kappa=1.0)])
def test_the_default_search_reduced_finds_the_full_space_search_minima(kw):
    kw = dict(kw)
    pr = lk.endpoint(kw.pop("arch"), **kw)
    sp = lk.saddle_point(pr)
    assert sp.coverage[0].startswith("(r) pattern reduction")
    full = GlobalSearch(pr, 1e-13)
    full.run()
    want = sorted(full.minima, key=lambda f: f.action)
    assert len(sp.minima) == len(want)
    for got, f in zip(sp.minima, want):
        assert got.action == pytest.approx(f.action, rel=1e-11)
        assert np.linalg.norm(got.kernel - f.kernel) < 1e-7 * np.linalg.norm(f.kernel)
        assert got.status == f.certificate.status == "minimum"
        assert got.hessian_min_eigenvalue == pytest.approx(f.certificate.lowest, rel=1e-6)
        assert got.certificate.whitened_residual <= got.certificate.tol
    # the lifted minimum is stationary in the full space: its gradient, computed there, vanishes
    pc = Pieces(pr, sp.kernel)
    assert np.linalg.norm(pc.LH.T @ pc.gradient() @ pc.LH) < 1e-10


@pytest.mark.parametrize("arch", ["shared_w_untied_u", "dnn_with_tied_pair"])
def test_weight_sharing_patterns_are_reduced_too(arch):
    """The masks act on the time indices alone, whatever the sharing pattern: same minima as the full space."""
    a = lk.shared_w_untied_u(4) if arch == "shared_w_untied_u" else lk.dnn_with_tied_pair(4, 1, 3)
    pr = lk.endpoint(a, T=4, P=16, lam=2.5)
    sp = lk.saddle_point(pr)
    assert sp.coverage[0].startswith("(r) pattern reduction:")
    full = GlobalSearch(pr, 1e-13)
    full.run()
    assert [m.action for m in sp.minima] == pytest.approx(sorted(f.action for f in full.minima), rel=1e-11)


def test_a_first_order_region_is_probed_on_three_patterns_as_on_sixteen():
    """T = 4, kappa = 50 at 0.95 lambda_c: the lambda-probe's far minimum, reduced and in the full space."""
    pr = lk.endpoint("rnn", T=4, P=16, kappa=50.0)
    pr = pr.with_(lam=0.95 * lk.critical_lambda(pr))
    sp = lk.saddle_point(pr)
    assert sp.coverage[0].startswith("(r)") and any("lambda-probe" in c for c in sp.coverage)
    full = GlobalSearch(pr, 1e-13)
    full.run()
    want = sorted(f.action for f in full.minima)
    assert len(want) >= 2
    assert [m.action for m in sp.minima] == pytest.approx(want, rel=1e-11)
    assert sp.order_parameter > 0.1          # the far broken minimum is the global one


def test_a_kernel_that_breaks_the_pattern_symmetry_is_not_lifted():
    rng = np.random.default_rng(3)
    red = _reduce(lk.endpoint("rnn", T=3, P=8, lam=2.0))
    Hs = _invariant(red, rng)
    E = rng.normal(size=Hs.shape) * 1e-4
    assert red.lift(Hs + E + E.T) is None
    H = red.lift(Hs)
    assert red.is_invariant(H)
    assert not red.is_invariant(H + 1e-4 * np.eye(H.shape[0])[::-1])
    # the prior kernel of the full problem is invariant, and the lift of the reduced prior
    assert np.allclose(red.lift(prior_kernel(red.small)), prior_kernel(red.problem), rtol=0, atol=1e-14)


def test_where_the_reduced_search_meets_a_broken_point_the_full_space_is_searched(monkeypatch):
    pr = lk.endpoint("rnn", T=4, P=16, lam=2.5, kappa=0.1)
    want = lk.saddle_point(pr)
    monkeypatch.setattr(symmetry.PatternReduction, "lift", lambda self, H: None)
    sp = lk.saddle_point(pr)
    assert sp.coverage[0].startswith("(r) pattern reduction abandoned: the three-pattern point at S = ")
    assert sp.coverage[0].endswith("searched with all 16 patterns")
    assert sp.coverage[1].startswith("(a) one certified descent")
    assert [m.action for m in sp.minima] == pytest.approx([m.action for m in want.minima], rel=1e-11)
    assert not any("pattern reduction" in m.origin for m in sp.minima)

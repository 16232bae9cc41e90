"""Issue 26: the certificate of a minimum and the default search for the global minimum (and the catalogue)."""

import math
import warnings

import numpy as np
import pytest

from linkernel import tasks
from linkernel.errors import SaddleWarning
from linkernel.theory.action import Pieces, prior_kernel
from linkernel.theory.certificate import _dense_pencil, certify, pencil_lowest
from linkernel.theory.curvature import reported_spectrum
from linkernel.theory.hessian import whitened_dense
from linkernel.theory.minimize import minimize_action
from linkernel.theory.saddle import saddle_point
from linkernel.theory.search import canonical_basis, clusters, escape_directions, is_new


def _lambda_c_T4(kappa):
    return (81 / 16 + kappa) / math.sqrt(2 * 81 / 16)


# --- the certificate -------------------------------------------------------------------------------
def test_lanczos_on_the_pencil_matches_the_dense_pencil_and_has_the_hessians_inertia():
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5, kappa=0.1)
    H = minimize_action(p, prior_kernel(p)).kernel           # the symmetric saddle
    pc = Pieces(p, H)
    for sector in ("odd", "even"):
        dense, _ = _dense_pencil(p, pc, sector, 3)
        vals, Xs, res, top, steps, Ys = pencil_lowest(p, pc, sector, k=2)
        np.testing.assert_allclose(vals, dense[:2], rtol=1e-7, atol=1e-9)
        assert steps < 40 and np.all(res < 1e-6)
        # the same pencil in Frobenius coordinates (dH itself): the same eigenvalues (congruence)
        fv, fX, fres, _, fsteps, fY = pencil_lowest(p, pc, sector, k=2, frobenius=True)
        np.testing.assert_allclose(fv, dense[:2], rtol=1e-7, atol=1e-9)
        # Ys are the dual vectors M X: M^-1 Y = X
        np.testing.assert_allclose(pc.prior_metric_inverse(fY[0]), fX[0], atol=1e-8 * np.abs(fX[0]).max())
    # Sylvester: as many negative eigenvalues as the whitened Hessian (congruent to the Hessian)
    from linkernel.theory.hessian import sector_coordinates
    for sector in ("odd", "even"):
        dense, _ = _dense_pencil(p, pc, sector, 1)
        sel = sector_coordinates(p, sector)
        wh = np.linalg.eigvalsh(whitened_dense(p, pc, sel))
        assert (dense < 0).sum() == (wh < 0).sum() > 0


def test_the_T20_w10_point_is_a_certified_minimum_and_its_spectrum_is_resolved():
    """S = 2e-19 at (nearly) the prior kernel, H_tt = 10^t: the Frobenius Hessian spans 1e-40..1 and LAPACK
    gave -2.5e-18 (rounding, eps |F| = 2e-16); the pencil's eigenvalue is 1 (M is the KL Hessian there)."""
    p = tasks.endpoint("rnn", T=20, w=10.0)
    r = saddle_point(p)
    assert r.status == "minimum" and r.minima[0].is_minimum
    assert r.certificate.lowest == pytest.approx(1.0, abs=1e-6) and r.certificate.error < 1e-10
    ev = r.hessian_eigenvalues
    assert ev[0] > 0 and ev[0] < 1e-35             # the low end from F^-1, to relative accuracy
    # the low end is what 1 / the largest eigenvalues of the inverse say
    assert np.all(np.diff(ev) >= 0)


def test_a_point_with_zero_curvature_within_rounding_is_degenerate_not_a_minimum():
    # exactly at lambda_c (T = 4, kappa = 0.1, closed form) the symmetric point's odd curvature vanishes
    p = tasks.endpoint("rnn", T=4, kappa=0.1, lam=_lambda_c_T4(0.1))
    H = minimize_action(p, prior_kernel(p)).kernel
    c = certify(p, H)
    assert c.status == "degenerate" and not c.is_minimum
    assert abs(c.by_sector["odd"][0]) <= c.by_sector["odd"][1] and c.by_sector["even"][0] > 0.1
    assert "degenerate" in c.evidence
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = saddle_point(p)
    assert r.minima == () and len(r.degenerate) == 1 and r.status == "degenerate" and not r.converged
    assert not r.degenerate[0].is_minimum and "DEGENERATE" in r.summary()
    assert any(issubclass(x.category, SaddleWarning) for x in w)


def test_a_saddle_is_certified_as_such_with_its_directions():
    p = tasks.endpoint("rnn", T=4, lam=2.5)
    H = minimize_action(p, prior_kernel(p)).kernel
    c = certify(p, H, k=2)
    assert c.status == "saddle" and c.directions and c.directions[0][2] == "odd" and c.lowest < 0


# --- the default search ----------------------------------------------------------------------------
def test_default_search_says_what_it_covered_and_every_minimum_is_certified():
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5, kappa=0.1)
    r = saddle_point(p)
    assert r.search == "global" and r.action == pytest.approx(0.540260495473, abs=1e-10)
    text = "\n".join(r.coverage)
    assert "(a)" in text and "cannot exclude" in text
    for m in r.minima:
        assert m.status == "minimum" and m.certificate.lowest > m.certificate.error and m.origin
    assert "certificate: minimum" in r.summary()


def test_first_order_far_minimum_is_found_by_default_and_for_every_seed_in_the_catalogue():
    """T = 4, kappa = 50 at 0.95 lambda_c: the symmetric point is a local minimum, a far broken one is lower."""
    p0 = tasks.endpoint("rnn", T=4, kappa=50.0)
    lam_c = 17.304474284037454                      # linkernel.symbolic.critical.critical_point(p0).lambda_c
    p = p0.with_(lam=0.95 * lam_c)
    r = saddle_point(p)
    assert r.order_parameter > 1.0 and "lambda-probe" in r.minima[0].origin
    far = r.action
    assert any(m.order_parameter == pytest.approx(0, abs=1e-9) and m.action > far for m in r.minima)
    for seed in range(6):
        c = saddle_point(p, minima="all", seed=seed)
        assert c.action == pytest.approx(far, abs=1e-10) and c.search == "all"


@pytest.mark.parametrize("seed", range(4))
def test_metastable_even_minimum_is_in_the_catalogue_for_every_seed(seed):
    p = tasks.endpoint("rnn", T=6, P=2, lam=2.5, kappa=0.1)
    c = saddle_point(p, minima="all", seed=seed)
    assert [round(m.action, 9) for m in c.minima][:2] == [0.540260495, 0.68487829]


def test_symmetric_phase_probe_drops_the_broken_branch_that_dies_above_lambda():
    p = tasks.endpoint("rnn", T=4, lam=1.0)        # below lambda_c = 1.6264 (second order)
    r = saddle_point(p)
    assert r.order_parameter == pytest.approx(0, abs=1e-12) and len(r.minima) == 1
    assert any("turns Z2-symmetric" in c for c in r.coverage)


# --- the catalogue's determinism ----------------------------------------------------------------------
def test_canonical_directions_do_not_depend_on_the_basis_returned():
    rng = np.random.default_rng(1)
    n = 6
    basis = [0.5 * (A + A.T) for A in rng.normal(size=(3, n, n))]
    Q, _ = np.linalg.qr(np.column_stack([b.ravel() for b in basis]))
    W, _ = np.linalg.qr(rng.normal(size=(3, 3)))       # another orthonormal basis of the same span
    other = [(Q @ W[:, j]).reshape(n, n) for j in range(3)]
    a = canonical_basis(basis)
    b = canonical_basis(other[::-1])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-12)


def other_eigensolver(monkeypatch, seed, merge=()):
    """The eigensolvers as another run could have them: other start vectors (every seeded generator
    shifted: Lanczos, LOBPCG, ARPACK's v0), and the whitened eigenvectors in another orthonormal basis of
    every cluster of equal eigenvalues, with other signs.  ``merge``: index pairs (i, j) of a sector's
    eigenvalues made equal (vals[j] = vals[i]), a degenerate cluster where the problem has none."""
    from linkernel.theory import hessian
    rng = np.random.default_rng(seed)
    real_rng, real = np.random.default_rng, hessian.lowest_whitened_eigenpairs

    def shifted(s=None):
        return real_rng(s + 7919 * (seed + 1)) if isinstance(s, (int, np.integer)) else real_rng(s)
    monkeypatch.setattr(np.random, "default_rng", shifted)

    def rotated(problem, pc, k=1, sector=None, **kw):
        vals, vecs = real(problem, pc, k, sector, **kw)
        vals, vecs = vals.copy(), vecs.copy()
        for i, j in merge:
            if j < len(vals):
                vals[j] = vals[i]
        for a, b in clusters(vals):
            vecs[:, a:b] = vecs[:, a:b] @ np.linalg.qr(rng.normal(size=(b - a, b - a)))[0]
        return vals, vecs
    monkeypatch.setattr(hessian, "lowest_whitened_eigenpairs", rotated)


def test_escape_directions_do_not_depend_on_the_eigensolver(monkeypatch):
    """At the symmetric saddle of the chain T = 8, P = 4 (3 odd, 2 even negative directions, all simple):
    the same directions up to sign whatever the solver's start and signs; with the two lowest odd ones made
    one cluster, the same basis of that 2-dimensional span whatever the basis the solver returns in it."""
    p = tasks.endpoint("rnn", T=8, P=4, lam=2.5, kappa=0.1)
    H = minimize_action(p, prior_kernel(p)).kernel
    pc = Pieces(p, H)

    def unit(dirs):
        return [(s, E / np.linalg.norm(E)) for _, E, s in dirs]
    ref = unit(escape_directions(p, H, pc))
    assert [s for s, _ in ref] == ["odd"] * 3 + ["even"] * 2
    merged = []
    for seed in (1, 2):
        with monkeypatch.context() as m:
            other_eigensolver(m, seed)
            got = unit(escape_directions(p, H, pc))
            assert [s for s, _ in got] == [s for s, _ in ref]
            for (_, a), (_, b) in zip(ref, got):
                assert abs(np.vdot(a, b)) == pytest.approx(1.0, abs=1e-8)
        with monkeypatch.context() as m:
            other_eigensolver(m, seed, merge=[(0, 1)])
            merged.append(unit(escape_directions(p, H, pc)))
    for (sa, a), (sb, b) in zip(*merged):
        assert sa == sb and np.vdot(a, b) == pytest.approx(1.0, abs=1e-8)      # signs fixed too
    # the merged cluster's basis spans the two eigenvectors it replaced (and is not just them)
    span = np.column_stack([ref[0][1].ravel(), ref[1][1].ravel()])
    for _, E in merged[0][:2]:
        assert np.linalg.norm(span @ np.linalg.lstsq(span, E.ravel(), rcond=None)[0] - E.ravel()) < 1e-8
    lowest_only = escape_directions(p, H, pc, lowest_only=True)
    assert [s for _, _, s in lowest_only] == ["odd", "even"]


def catalogue_set(r):
    return [round(m.action, 9) for m in r.minima], [m.kernel for m in r.minima]


def same_minima(p, a, b):
    """The same S (to 1e-9) and the same kernels up to the problem's mirrors, in both directions."""
    Sa, Ka = catalogue_set(a)
    Sb, Kb = catalogue_set(b)
    return Sa == Sb and not any(is_new(p, K, Kb, rtol=1e-5) for K in Ka) and \
        not any(is_new(p, K, Ka, rtol=1e-5) for K in Kb)


def test_catalogue_of_the_chain_does_not_depend_on_the_seed_or_the_eigensolver(monkeypatch):
    """Chain T = 8, P = 4: the catalogue's minima are the same from other random starts, other eigensolver
    starts and eigenvector signs, and with a forced degenerate cluster in two different bases; and the
    tree, not the random starts, finds them (none added by the random starts)."""
    p = tasks.endpoint("rnn", T=8, P=4, lam=2.5, kappa=0.1)
    ref = saddle_point(p, minima="all", seed=0)
    assert any("0 more minima" in c for c in ref.coverage if c.startswith("random starts"))
    with monkeypatch.context() as m:
        other_eigensolver(m, 3)
        assert same_minima(p, ref, saddle_point(p, minima="all", seed=11))
    forced = []
    for seed in (4, 5):
        with monkeypatch.context() as m:
            other_eigensolver(m, seed, merge=[(0, 1), (1, 2)])
            forced.append(saddle_point(p, minima="all", seed=seed))
    assert same_minima(p, forced[0], forced[1])
    assert same_minima(p, ref, forced[0])


def test_catalogue_is_deterministic_and_n_starts_counts():
    p = tasks.endpoint("rnn", T=8, P=2, lam=2.5, kappa=0.1)
    a = saddle_point(p, minima="all", seed=3)
    b = saddle_point(p, minima="all", seed=3)
    assert [m.action for m in a.minima] == [m.action for m in b.minima]
    assert a.n_starts == 6 and saddle_point(p).n_starts == 1
    with pytest.raises(ValueError, match="minima"):
        saddle_point(p, minima="some")


# --- issue 26, speed: the same numbers by cheaper routes ----------------------------------------------
def test_cg_on_dH_reaches_the_minimum_of_the_whitened_cg(monkeypatch):
    """The preconditioned CG on dH (9 products an iteration) and on the whitened X (15) are congruent."""
    from linkernel.theory import minimize
    p = tasks.endpoint("rnn", T=8, P=4, lam=2.5, kappa=0.1)
    H0 = prior_kernel(p)
    frob = minimize_action(p, H0)
    monkeypatch.setattr(minimize, "FROBENIUS_MAX_COND", 0.0)        # whitened throughout
    white = minimize_action(p, H0)
    assert frob.converged and white.converged
    assert frob.action == pytest.approx(white.action, abs=1e-12)
    np.testing.assert_allclose(frob.kernel, white.kernel, atol=1e-9)


def test_frobenius_lanczos_certificate_matches_the_whitened_one(monkeypatch):
    from linkernel.theory import certificate
    p = tasks.endpoint("rnn", T=8, P=4, lam=2.5, kappa=0.1)
    H = saddle_point(p).kernel
    a = certify(p, H, dense_max=0)
    monkeypatch.setattr(certificate, "FROBENIUS_MAX_COND", 0.0)
    b = certify(p, H, dense_max=0)
    assert a.status == b.status == "minimum" and "whitened coordinates" in a.method
    assert a.lowest == pytest.approx(b.lowest, abs=1e-8) and a.error < 1e-6


def test_dnn_probe_stops_where_the_odd_curvature_does_not_decrease():
    """The DNN has no transition: its symmetric point's odd curvature is 1 at every lambda, one probe suffices."""
    p = tasks.endpoint("dnn", T=4, P=4, lam=2.5, kappa=0.1)
    r = saddle_point(p)
    text = "\n".join(r.coverage)
    assert text.count("lambda-probe at") == 1 and "does not decrease" in text
    assert r.minima[0].certificate.by_sector["odd"][0] == pytest.approx(1.0, abs=1e-9)
    # the one minimum: the prior's descent, the same kernel a whitened descent reaches
    assert len(r.minima) == 1 and r.action == pytest.approx(minimize_action(p, prior_kernel(p)).action, abs=1e-12)


# --- issue 27: valid input refused at small w ----------------------------------------------------------
def test_graded_kernel_spectrum_is_deterministic_and_agrees_with_lapack_where_that_resolves_it():
    """T = 30, w = 1e-3 (cond(H) ~ 1e87): eigsh from a random start failed 'ARPACK error -1' in some runs."""
    from linkernel.theory.curvature import _inverse_spectrum
    from linkernel.theory.hessian import dense_hessian
    p = tasks.endpoint("rnn", T=30, w=1e-3)
    r = saddle_point(p)
    a = reported_spectrum(p, r.kernel)[0]
    b = reported_spectrum(p, r.kernel)[0]
    np.testing.assert_array_equal(a, b)
    assert np.all(a > 0) and a[0] == pytest.approx(0.5, rel=2e-6)     # 1/(2 H_00^2) (H_00 = 1) up to O(w^2)
    # a mildly graded kernel (cond ~ 1e7): the inverse route against LAPACK's dense spectrum
    q = tasks.endpoint("rnn", T=5, w=0.05, lam=1.0)
    pc = Pieces(q, minimize_action(q, prior_kernel(q)).kernel)      # a certified minimum (the symmetric one)
    assert certify(q, pc.H, pc=pc).is_minimum
    inv = _inverse_spectrum(q, pc)
    dense = np.linalg.eigvalsh(dense_hessian(q, pc.H, pieces=pc))
    np.testing.assert_allclose(inv, dense, rtol=1e-6, atol=1e3 * np.finfo(float).eps * dense[-1])


def test_trace_start_finds_the_symmetric_saddle_at_small_w():
    """trace --w 1e-3 said 'no symmetric saddle found at lambda=0.5': Newton's Frobenius residual rounds at 2e-6."""
    from linkernel.theory.continuation.stepper import _start, _whitened_residual
    from linkernel.theory.action import from_vector
    from linkernel.theory.equations import Equations
    p = tasks.endpoint("rnn", T=4, w=1e-3, lam=0.5)
    X, sym = _start(Equations(p), 0.5, 1e-11)
    H = from_vector(X[:-1], p.n)
    assert sym and np.all(H[p.odd_mask] == 0) and _whitened_residual(p, H) <= 1e-11
    # the same point as the certified descent from the prior kernel
    np.testing.assert_allclose(H, minimize_action(p, prior_kernel(p)).kernel, rtol=1e-9, atol=1e-20)

"""Issue 26, speed of the default search: the cheaper paths give the results of the exact ones."""

import numpy as np
import pytest

from linkernel import tasks
from linkernel.display import SUMMARY_VALUES, pattern_entries
from linkernel.theory import certificate, minimize
from linkernel.theory.action import Pieces, lower_sandwich, prior_kernel
from linkernel.theory.saddle import saddle_point


# --- the products -------------------------------------------------------------------------------------
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_lower_sandwich_of_any_layout_is_the_general_product(order, transpose):
    """The C-ordered input goes through its transpose (no copy): the same product, any X, input untouched."""
    rng = np.random.default_rng(3)
    n = 96                                                  # above the 64 where trmm takes over
    L = np.tril(rng.normal(size=(n, n))) + n * np.eye(n)
    X = np.array(rng.normal(size=(n, n)), order=order)      # not symmetric: the identity needs no symmetry
    keep = X.copy()
    got = lower_sandwich(L, X, transpose=transpose)
    want = L.T @ X @ L if transpose else L @ X @ L.T
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
    np.testing.assert_array_equal(X, keep)


def test_condition_bound_lies_between_cond2_and_the_frobenius_product():
    rng = np.random.default_rng(0)
    p = tasks.endpoint("rnn", T=4, P=16, lam=2.5, kappa=0.1)
    n = p.n
    H0 = prior_kernel(p)
    for scale in (0.0, 0.1, 1.0, 10.0):
        B = rng.normal(size=(n, n))
        H = H0 + scale * np.abs(H0).max() * B @ B.T / n
        pc = Pieces(p, H)
        ev = np.linalg.eigvalsh(H)
        frob = np.linalg.norm(H) * np.linalg.norm(np.linalg.inv(H))
        assert ev[-1] / ev[0] * (1 - 1e-10) <= pc.condition_bound <= frob * (1 + 1e-12)
    # at the prior kernel (a multiple of the identity here) cond_2 = 1; the Frobenius product was n
    assert Pieces(p, H0).condition_bound == pytest.approx(1.0, abs=1e-9)


# --- the descent -----------------------------------------------------------------------------------
def test_loose_forcing_and_early_floor_stop_reach_the_same_minimum(monkeypatch):
    """The forcing term floored at FORCING_MARGIN tol/|g| and the one-step floor stop, against the old rules."""
    from linkernel.sequence import sequence_problem
    p = sequence_problem(T=64)
    H0 = prior_kernel(p)
    new = minimize.minimize_action(p, H0)
    monkeypatch.setattr(minimize, "FORCING_MARGIN", 0.0)        # the superlinear forcing term alone
    old = minimize.minimize_action(p, H0)
    assert new.converged and old.converged
    assert new.whitened_grad_norm <= 1e3 * 1e-13
    assert new.action == pytest.approx(old.action, abs=1e-12)
    np.testing.assert_allclose(new.kernel, old.kernel, atol=1e-9 * np.abs(old.kernel).max())
    assert new.hessian_products <= old.hessian_products


# --- the whole search: the same minima and verdicts as the exact (whitened, tight) paths -----------
@pytest.mark.parametrize("kind", ["endpoint", "sequence"])
def test_default_search_finds_what_the_whitened_tight_search_finds(kind, monkeypatch):
    from linkernel.sequence import sequence_problem
    p = tasks.endpoint("rnn", T=4, P=32, lam=2.5, kappa=0.1) if kind == "endpoint" else sequence_problem(T=96)
    fast = saddle_point(p)
    monkeypatch.setattr(minimize, "FROBENIUS_MAX_COND", 0.0)    # whitened coordinates throughout
    monkeypatch.setattr(certificate, "FROBENIUS_MAX_COND", 0.0)
    monkeypatch.setattr(minimize, "FORCING_MARGIN", 0.0)
    exact = saddle_point(p)
    assert len(fast.minima) == len(exact.minima) >= 1
    for a, b in zip(fast.minima, exact.minima):
        assert a.action == pytest.approx(b.action, abs=1e-12)
        assert a.status == b.status == "minimum"
        assert a.hessian_min_eigenvalue == pytest.approx(b.hessian_min_eigenvalue, abs=1e-7)
    assert fast.coverage == exact.coverage


# --- the summary at many patterns ------------------------------------------------------------------
def test_summary_lists_at_most_eight_pattern_values_and_says_how_many():
    p = tasks.endpoint("rnn", T=4, P=16, lam=2.5, kappa=0.1)
    r = saddle_point(p)
    text = r.summary()
    m_line = next(line for line in text.splitlines() if line.startswith("order parameter m"))
    each = pattern_entries(r.kernel, p.T - 1, p.T - 2, p.P)
    shown = ", ".join(f"{v:.10g}" for v in each[:SUMMARY_VALUES])
    assert shown + ", ... (16 in all; to_dict()/--json has them)" in m_line
    assert f"{each[SUMMARY_VALUES]:.10g}" not in m_line.split("...")[1]
    f_line = next(line for line in text.splitlines() if line.startswith("predictions f*"))
    last = r.predictions[-1]
    assert " ".join(f"{x:.6g}" for x in last[:SUMMARY_VALUES]) + " ... (16 in all" in f_line
    assert len(r.to_dict()["predictions"][-1]) == 16          # every value is still in the JSON
    # a few patterns: every value, no ellipsis
    small = saddle_point(tasks.endpoint("rnn", T=4, P=2, lam=2.5, kappa=0.1)).summary()
    assert "in all;" not in small

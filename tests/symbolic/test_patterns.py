"""linkernel.symbolic.patterns: the closed-form critical point of the endpoint task for any sharing pattern.

Checked against the numerics of linkernel.theory (critical_lambda, trace), against the RNN's own
derivation (linkernel.symbolic.stability / landau), and against the combinatorial chain rule over
every pattern at T = 5.
"""

import math

import pytest
import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from linkernel.errors import ConvergenceError
import linkernel as lk
from linkernel.architecture import Architecture
from linkernel.symbolic.action import kappa, u, v, w
from linkernel.symbolic.landau import landau_coefficients
from linkernel.symbolic.patterns import (derived_order, hessian_blocks, lambda_of_ratio, pattern_critical_point,
                                        pattern_landau)
from linkernel.symbolic.stability import critical_ratio as rnn_critical_ratio
from linkernel.symbolic.symmetric_branch import r
from linkernel.theory.special_points import critical_lambda, odd_hessian_minimum


def reset(T, k):
    """An RNN whose W is re-drawn once, after step k (U shared)."""
    return Architecture(T, W=[list(range(1, k + 1)), list(range(k + 1, T))], U=[list(range(T))], name="reset")


def shared_u(T, W):
    return Architecture(T, W=W, U=[list(range(T))])


# pattern, expected r_c (the chain rule, by hand), expected breaking groups (steps)
PATTERNS = [
    (lk.rnn(4), sp.Rational(3, 2), [(1, 2, 3)]),
    (lk.rnn(5), sp.Rational(4, 3), [(1, 2, 3, 4)]),
    (lk.rnn(6), sp.Rational(5, 4), [(1, 2, 3, 4, 5)]),
    (lk.dnn_with_tied_pair(4, 1, 2), sp.Integer(2), [(1, 2)]),              # adjacent pair
    (lk.dnn_with_tied_pair(5, 1, 3), sp.Integer(2), [(1, 3), (2,)]),        # non-adjacent: chain e02, e13
    (lk.tied_blocks(5, 2, shared_u=True), sp.Integer(2), [(1, 2), (3, 4)]),  # two blocks critical at once
    (lk.redrawn_every(6, 3), sp.Rational(3, 2), [(1, 2, 3)]),
    (reset(6, 2), sp.Rational(3, 2), [(3, 4, 5)]),                           # a reset in the middle
    (shared_u(5, [[1, 3], [2, 4]]), sp.Rational(3, 2), [(1, 3), (2, 4)]),    # interleaved: lag-2 chain
]


def ids(p):
    return f"{p[0].label}-T{p[0].T}" if isinstance(p, tuple) else None


def chain_rule(arch):
    """r_c from the combinatorial rule alone: the longest Z2-odd chain of same-W pairs along a diagonal."""
    T = arch.T
    g = {t: arch.w_group(t) for t in range(1, T)}

    def same(a, b):
        return a >= 1 and b >= 1 and g[a] == g[b]

    best = None
    for a in range(T):
        for b in range(a + 1, T):
            if same(a, b):
                continue                                   # not a chain start
            n = 1
            while b + n < T and same(a + n, b + n):
                n += 1
            odd = any(sum(1 for s in range(a + 1, b + 1) if g[s] == k) % 2 for k in range(len(arch.W)))
            if odd and n >= 2:
                rc = sp.Rational(n, n - 1)
                best = rc if best is None else min(best, rc)
    return sp.oo if best is None else best


# --- closed form vs numerics ------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS, ids=ids)
def test_closed_form_matches_numerical_critical_lambda(pattern):
    arch, rc, groups = pattern
    cp = pattern_critical_point(arch)
    assert cp.r_c == rc and isinstance(cp.r_c, sp.Rational)
    assert sorted({arch.W[k] for k in cp.groups}) == sorted(groups)
    assert not cp.depends_on_x
    lc = cp.lambda_c_value(kappa_=0.1)
    num = critical_lambda(lk.endpoint(arch, T=arch.T, kappa=0.1), bracket=(0.97 * lc, 1.03 * lc))
    assert num == pytest.approx(lc, rel=1e-9)


@pytest.mark.parametrize("arch", [lk.dnn_with_tied_pair(5, 1, 3), reset(5, 2)], ids=["tied13", "reset"])
def test_closed_form_at_other_hyperparameters(arch):
    hyp = dict(w=0.8, v=1.3, u=0.7, kappa=0.3)
    cp = pattern_critical_point(arch)
    lc = cp.lambda_c_value(hyp["w"], hyp["v"], hyp["u"], hyp["kappa"])
    assert cp.lambda_c_function(hyp["w"], hyp["v"], hyp["u"], hyp["kappa"]) == pytest.approx(lc, rel=1e-13)
    num = critical_lambda(lk.endpoint(arch, T=arch.T, **hyp), bracket=(0.97 * lc, 1.03 * lc))
    assert num == pytest.approx(lc, rel=1e-9)


def test_lambda_c_is_the_branch_lambda_at_r_c():
    cp = pattern_critical_point(lk.redrawn_every(6, 2))
    assert sp.simplify(cp.lambda_c - lambda_of_ratio(cp.arch, 2)) == 0
    assert sp.simplify(cp.lambda_c - (v * 64 * u * w ** 5 + kappa) / sp.sqrt(v * 64 * u * w ** 5)) == 0
    assert cp.lambda_c_value() == pytest.approx(8.0125, rel=1e-12)        # the value seen numerically
    assert cp.degenerate and len(cp.critical_blocks) == 2


# --- the DNN: no transition ---------------------------------------------------------------
@pytest.mark.parametrize("T", [2, 3, 4, 5, 6])
def test_dnn_has_no_finite_critical_ratio(T):
    cp = pattern_critical_point(lk.dnn(T))
    assert cp.r_c is sp.oo and cp.lambda_c is sp.oo and not cp.has_transition
    assert math.isinf(cp.lambda_c_value())
    for b in cp.blocks:
        if b.odd:
            assert b.size == 1 and b.determinant == 1               # every odd block is 1 x 1, identity
    assert derived_order(lk.dnn(T)) == "none"


def test_dnn_odd_hessian_stays_positive():
    p = lk.endpoint(lk.dnn(4), T=4, kappa=0.1)
    assert all(odd_hessian_minimum(p.with_(lam=L)) > 0 for L in (1.0, 4.0, 20.0))
    with pytest.raises(ConvergenceError):
        critical_lambda(p, lam_max=2.0)


# --- structure of the Hessian -------------------------------------------------------------
@pytest.mark.parametrize("arch", [lk.rnn(5), lk.dnn_with_tied_pair(6, 2, 5), lk.redrawn_every(6, 2),
                                  shared_u(6, [[1, 3, 5], [2, 4]])], ids=["rnn", "tied25", "redrawn2", "alt"])
def test_every_off_diagonal_block_is_a_chain(arch):
    """2r on the diagonal, -r beside it, 1 in the last corner: det r^(n-1) (n - (n-1) r); only the lag-0 block sees x."""
    blocks = hessian_blocks(arch)
    lag0 = [b for b in blocks if b.depends_on_x]
    assert len(lag0) == 1 and lag0[0].coordinates == tuple((t, t) for t in range(arch.T))
    for b in blocks:
        if b.depends_on_x:
            continue
        n = b.size
        assert b.is_chain and len(b.lags) == 1
        want = sp.Matrix(n, n, lambda i, j: 2 * r if i == j else (-r if abs(i - j) == 1 else 0))
        want[n - 1, n - 1] = 1
        assert sp.simplify(b.matrix - want) == sp.zeros(n, n)
        assert sp.expand(b.determinant - r ** (n - 1) * (n - (n - 1) * r)) == 0


def test_chain_rule_over_every_pattern_at_T5():
    """All 15 partitions of the recurrent steps 1..4: the derived r_c is the longest odd chain's n/(n-1)."""
    for part in multiset_partitions([1, 2, 3, 4]):
        arch = shared_u(5, part)
        assert pattern_critical_point(arch).r_c == chain_rule(arch), part


def test_rnn_agrees_with_the_rnn_derivation():
    for T in (3, 4, 5, 6):
        assert pattern_critical_point(lk.rnn(T)).r_c == rnn_critical_ratio(T) == sp.Rational(T - 1, T - 2)
    # the RNN's lambda_c closed form, and the Landau b_e (x symbolic) of linkernel.symbolic.landau
    L = pattern_landau(lk.rnn(4))
    assert sp.simplify(L.b_e - landau_coefficients(4, True).b_e) == 0
    assert pattern_critical_point(lk.rnn(2)).r_c is sp.oo                    # T = 2: no transition


def test_fold_load_of_the_rnn():
    for T in (3, 4, 5):
        cp = pattern_critical_point(lk.rnn(T))
        assert cp.fold_load == sp.Rational(1, 2 * T - 1)
        assert cp.branch_stable(1.01 / (2 * T - 1)) and not cp.branch_stable(0.99 / (2 * T - 1))


def test_even_instability_before_r_c_is_reported():
    """A, B, B, A, A, B, B (period 4): the lag-4 chain is even under both flips and goes singular at r = 4/3,
    before every odd chain (r = 2): the symmetric branch loses stability without breaking a group flip."""
    arch = shared_u(8, [[1, 4, 5], [2, 3, 6, 7]])
    cp = pattern_critical_point(arch)
    assert cp.r_c == 2 and cp.even_instability == sp.Rational(4, 3)


def test_rejects_non_architectures():
    """ValueError naming the parameter (the package's contract for bad input), not a TypeError."""
    with pytest.raises(ValueError, match="arch='rnn'"):
        pattern_critical_point("rnn")


# --- the order: Landau vs continuation ------------------------------------------------------
def _trace_order(arch, kappa_=0.1):
    cp = pattern_critical_point(arch)
    lc = cp.lambda_c_value(kappa_=kappa_)
    return lk.trace(lk.endpoint(arch, T=arch.T, kappa=kappa_), (0.95 * lc, 1.05 * lc),
                    ds_max=max(0.25, 0.05 * lc)).transition


ORDER_FAST = [(lk.rnn(4), "second order"), (lk.rnn(5), "first order"),
              (lk.dnn_with_tied_pair(4, 1, 2), "second order")]
ORDER_SLOW = [(lk.rnn(6), "first order"), (lk.dnn_with_tied_pair(5, 1, 3), "second order"),
              (lk.redrawn_every(6, 2), "second order"), (reset(6, 2), "second order"),
              (lk.dnn_with_tied_pair(5, 3, 4), "second order"), (shared_u(5, [[1, 3], [2, 4]]), "second order")]


def _check_order(arch, want):
    assert derived_order(arch, kappa_=0.1) == want
    assert _trace_order(arch) == want


@pytest.mark.parametrize("arch,want", ORDER_FAST, ids=[f"{a.label}-T{a.T}" for a, _ in ORDER_FAST])
def test_order_from_landau_agrees_with_continuation(arch, want):
    _check_order(arch, want)


@pytest.mark.slow
@pytest.mark.parametrize("arch,want", ORDER_SLOW, ids=[f"{a.label}-T{a.T}" for a, _ in ORDER_SLOW])
def test_order_from_landau_agrees_with_continuation_slow(arch, want):
    _check_order(arch, want)


def test_degenerate_quartic_is_a_form_in_both_modes():
    """Two blocks critical at once: b(c0, c1) has no odd cross terms (the modes break different flips)."""
    arch = lk.tied_blocks(5, 2, shared_u=True)
    cp = pattern_critical_point(arch)
    L = pattern_landau(arch, cp.load())
    c0, c1 = L.directions
    poly = sp.Poly(L.quartic, c0, c1)
    assert set(poly.monoms()) <= {(4, 0), (2, 2), (0, 4)}
    assert L.min_quartic(cp.load()) > 0 and L.order(cp.load()) == "second order"


def test_group_variances_enter_only_through_h():
    """A group with its own variance w_g: same Hessian blocks (same r_c), h_{T-1} = u r^T prod_t w_g(t)."""
    arch = Architecture(5, W=[[1, 2], [3, 4]], U=[list(range(5))], w=[None, 0.6])
    cp = pattern_critical_point(arch)
    assert cp.r_c == 2 and cp.degenerate
    lc = cp.lambda_c_value(w_=1.2)
    num = critical_lambda(lk.endpoint(arch, T=5, kappa=0.1, w=1.2), bracket=(0.97 * lc, 1.03 * lc))
    assert num == pytest.approx(lc, rel=1e-9)

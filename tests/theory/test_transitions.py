"""The trace's answer to "which transition, where": the five words and when each applies (issue 27, item 3),
the breaking group's order parameter for a sharing pattern (item 4), and a cross-check of the reported
transition against the global minimum of :func:`linkernel.theory.saddle.saddle_point` on both sides."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from linkernel import tasks
from linkernel.architecture import Architecture
from linkernel.errors import ContinuationWarning
from linkernel.problem import fix_z2_sign
from linkernel.theory.action import odd_coordinates, to_vector
from linkernel.theory.branches import TRANSITIONS
from linkernel.theory.continuation import follow, point_at, trace
from linkernel.theory.saddle import saddle_point


# --- the words ------------------------------------------------------------------------------
def test_a_trace_cut_short_is_unknown_not_none():
    with pytest.warns(ContinuationWarning):
        tr = trace(tasks.endpoint("rnn", T=4), max_steps=5)
    assert not tr.complete and tr.transition == "unknown"
    assert "cut short" in tr.transition_note
    assert "WARNING: transition unknown" in tr.summary()
    d = tr.to_dict()
    assert d["transition"] == "unknown" and d["transition_note"] == tr.transition_note and d["critical_lambda"] is None


def test_a_range_on_the_broken_side_is_unknown_and_suggests_a_range():
    p = tasks.endpoint("rnn", T=4)
    tr = trace(p, (1.7, 3.0))
    assert tr.transition == "unknown" and tr.complete and "broken side" in tr.transition_note
    assert tr.summary().count("WARNING") == 1
    lo = float(tr.transition_note.split("lam_range=(")[1].split(",")[0])
    assert lo < 1.6224   # below the RNN's lambda_c: the suggested range contains the transition
    assert trace(p, (lo, 3.0)).transition == "second order"


def test_a_range_below_the_transition_is_none_and_says_why():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContinuationWarning)
        tr = trace(tasks.endpoint("rnn", T=4), (0.5, 1.5))
    assert tr.transition == "none" and "no transition in the range" in tr.transition_note
    assert tr.critical_lambda is None


def test_a_broken_global_minimum_above_a_stable_symmetric_range_is_unknown():
    """T = 5 is first order: between coexistence and the branch point the symmetric saddle is stable but
    not the global minimum; a range ending there has no branch point, and 'none' would be wrong."""
    p = tasks.endpoint("rnn", T=5, kappa=0.1)
    full = trace(p, (0.9, 1.5))
    coex, bp = full.points_of("coexistence")[0].lam, full.spinodals["symmetric"]
    assert full.transition == "first order" and full.critical_lambda == coex
    tr = trace(p, (0.9, 0.5 * (coex + bp)))
    assert tr.transition == "unknown" and "global minimum is broken" in tr.transition_note


def test_tricritical_at_the_tricritical_kappa():
    """T = 3: b = 0 at kappa = 56/3 (the derivation's tricritical point); 1e-2 away the order is ordinary."""
    assert trace(tasks.endpoint("rnn", T=3, kappa=18.6666666667), (8.0, 12.0)).transition == "tricritical"
    assert trace(tasks.endpoint("rnn", T=3, kappa=18.6), (8.0, 12.0)).transition == "second order"


# --- the breaking group's order parameter -----------------------------------------------------
def test_the_broken_branch_of_a_pattern_carries_the_breaking_groups_order_parameter():
    arch = Architecture.from_spec({"W": [[1, 2], [3]]}, 4)
    tr = trace(tasks.endpoint(arch, T=4), (3.5, 5.0))
    assert tr.transition == "second order" and tr.critical_lambda == pytest.approx(4.025, rel=1e-9)
    broken = tr.branches[1]
    assert broken.group == 0 and broken.order_label.startswith("m_0 = H^{2,1}")
    m21 = np.array([p.kernel[2, 1] for p in broken.points])
    np.testing.assert_allclose(broken.m, m21, atol=1e-14)
    assert broken.m.max() > 1.0    # H^{T-1,T-2} stays 0 on this branch
    assert "m_0 = H^{2,1} (W group 0, steps 1, 2) up to" in tr.summary()
    assert tr.to_dict()["branch_groups"] == [None, 0]


def test_the_rnn_keeps_its_m():
    tr = trace(tasks.endpoint("rnn", T=4), (1.5, 2.0))
    b = tr.branches[1]
    assert b.group == 0 and b.order_label == "m"
    np.testing.assert_array_equal(b.m, [p.kernel[3, 2] for p in b.points])


# --- cross-check against the global minimum on both sides ---------------------------------------
def _odd_size(p, lam):
    """max |odd coordinate| of the global minimum at lam, relative to the kernel's size."""
    sp = saddle_point(p.with_(lam=lam))
    H = fix_z2_sign(p, sp.kernel)
    return float(np.abs(to_vector(H)[odd_coordinates(p)]).max() / max(1.0, np.abs(H).max()))


def _patterns(T):
    """Weight-sharing patterns with at least one shared group: the RNN, one tied pair, two blocks."""
    steps = list(range(1, T))
    out = [[steps], [steps[:2]] + [[s] for s in steps[2:]]]
    if T >= 5:
        out.append([steps[:2], steps[2:]])
    return out


def _check_against_saddle_points(T, kappa, k):
    W = _patterns(T)[k % len(_patterns(T))]
    p = tasks.endpoint(Architecture.from_spec({"W": W}, T), T=T, kappa=kappa)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContinuationWarning)
        tr = trace(p, (0.5, 8.0), ds_max=0.5)
    assert tr.transition in TRANSITIONS and tr.transition_note
    lc = tr.critical_lambda
    if tr.transition in ("second order", "tricritical", "first order") and lc is not None:
        assert _odd_size(p, 0.97 * lc) < 1e-6, (T, kappa, W, tr.transition, lc)     # symmetric below
        assert _odd_size(p, 1.03 * lc) > 1e-4, (T, kappa, W, tr.transition, lc)     # broken above
    elif tr.transition == "none":
        assert _odd_size(p, 8.0) < 1e-6, (T, kappa, W)
    elif tr.transition == "unknown" and "broken side" in tr.transition_note:
        assert _odd_size(p, 0.5) > 1e-4, (T, kappa, W)


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(T=st.integers(3, 6), kappa=st.floats(0.02, 3.0), k=st.integers(0, 2))
def test_the_transition_agrees_with_the_global_minimum_on_both_sides(T, kappa, k):
    _check_against_saddle_points(T, kappa, k)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(T=st.integers(3, 6), kappa=st.floats(0.01, 20.0), k=st.integers(0, 2))
def test_the_transition_agrees_with_the_global_minimum_campaign(T, kappa, k):
    _check_against_saddle_points(T, kappa, k)


# --- several odd modes critical at once ---------------------------------------------------------
def _stable_broken_at(tr, lam):
    """The stable broken saddle at lam, by Newton (follow) from the traced stable stretch covering lam."""
    for b in tr.branches[1:]:
        for p0, p1 in zip(b.points, b.points[1:]):
            if p0.stable and p1.stable and min(p0.lam, p1.lam) <= lam <= max(p0.lam, p1.lam):
                f = (lam - p0.lam) / (p1.lam - p0.lam)
                H = (1 - f) * p0.kernel + f * p1.kernel
                return b, follow(tr.problem, H, lam, (lam, lam * (1 + 1e-3)), max_steps=1).points[0]
    return None, None


def test_several_critical_modes_with_a_cubic_invariant_are_first_order():
    """W = {1,3,4},{2} at T = 5 (issue 27): three odd modes (odd under W_0, under W_1, under both) go
    critical together and D^3S couples them (a cubic invariant), so the transition is first order.  The
    trace used to switch along one arbitrary null vector three times and say 'second order'.  Checked
    against the closed-form lambda_c and the global minimum (saddle_point) on both sides of the coexistence."""
    from linkernel.symbolic.patterns import pattern_critical_point
    arch = Architecture.from_spec({"W": [[1, 3, 4], [2]]}, 5)
    lc = pattern_critical_point(arch).lambda_c_value(kappa_=0.397)
    p = tasks.endpoint(arch, T=5, kappa=0.397)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContinuationWarning)
        tr = trace(p, (0.5 * lc, 2.0 * lc))
    bps = [s for s in tr.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
    assert len(bps) == 1 and bps[0].multiplicity == 3 and bps[0].lam == pytest.approx(lc, rel=1e-9)
    assert bps[0].null_space.shape == (3, len(bps[0].null_vector))
    assert np.all(np.diff(tr.branches[0].lam) > 0)          # the branch point's copies are gone
    assert tr.transition == "first order" and "cubic invariant" in tr.transition_note
    coex, fold = tr.critical_lambda, tr.spinodals["broken"]
    assert fold < coex < lc
    sym = tr.branches[0]
    assert sym.stable[(sym.lam > coex) & (sym.lam < lc)].all()   # metastable between coexistence and lambda_c
    # the global minimum, another route: symmetric below the coexistence, the traced broken minimum above
    for lam, broken in ((coex - 0.03, False), (0.5 * (coex + lc), True)):
        best = saddle_point(p.with_(lam=lam), seed=0)
        S_sym = point_at(tr, lam, 0).action
        if not broken:
            assert best.action == pytest.approx(S_sym, rel=1e-9) and _odd_size(p, lam) < 1e-6
            continue
        b, pt = _stable_broken_at(tr, lam)
        assert b is not None and b.group == 0 and pt.order_parameters[0] > 1.0
        assert best.action < S_sym - 1e-4
        assert pt.action == pytest.approx(best.action, rel=1e-9)
        np.testing.assert_allclose(pt.kernel, fix_z2_sign(p, best.kernel), rtol=1e-6, atol=1e-8)


def test_two_critical_modes_without_a_cubic_invariant_follow_the_mixed_minimum():
    """W = {1,2},{3,4} at T = 5: the modes odd under W_0 and under W_1 go critical together with no cubic
    invariant; the quartic terms select a branch breaking both flips, the stable one (the global minimum of
    saddle_point above lambda_c).  The trace used to follow one arbitrary null vector twice."""
    p = tasks.endpoint({"W": [[1, 2], [3, 4]]}, T=5, kappa=0.7)
    tr = trace(p, (0.5, 8.0))
    bps = [s for s in tr.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
    assert len(bps) == 1 and bps[0].multiplicity == 2
    assert tr.transition == "second order" and "no cubic invariant" in tr.transition_note
    lam = 1.05 * tr.critical_lambda
    b, pt = _stable_broken_at(tr, lam)
    assert b is not None and min(abs(pt.order_parameters[0]), abs(pt.order_parameters[1])) > 0.1
    best = saddle_point(p.with_(lam=lam), seed=0)
    assert pt.action == pytest.approx(best.action, rel=1e-9)
    np.testing.assert_allclose(pt.kernel, fix_z2_sign(p, best.kernel), rtol=1e-6, atol=1e-8)

"""The texts results render themselves (``summary()``, ``str()``), checked without the CLI on small problems."""

import re
from dataclasses import replace

import pytest

from linkernel import tasks
from linkernel.theory.continuation import trace
from linkernel.theory.exponent import critical_exponent
from linkernel.theory.landscape import landscape
from linkernel.theory.saddle import saddle_point


@pytest.fixture(scope="module")
def rnn3_trace():
    return trace(tasks.endpoint("rnn", T=3), (2.5, 3.2))


def test_saddle_point_summary():
    sp = saddle_point(tasks.endpoint("dnn", T=3, lam=1.0), n_starts=2)
    text = sp.summary()
    lines = text.splitlines()
    assert lines[0] == "DNN endpoint task: T=3 P=1 lambda=1 kappa=0.1 w=1 v=1 u=1"
    assert lines[1] == "kernel H (rows t*P+p, t = 0..2):"
    assert len(lines[2].split()) == 3 and "-0.000000" not in text          # one kernel row per t
    assert lines[5].startswith("order parameter m = H^(T-1,T-2) = 0")
    assert "action S = " in text and "residual |dS/dH| = " in text and "predictions f*(t, p): " in text
    assert f"distinct minima found: {len(sp.minima)} (from 2 starts" in text
    first = next(line for line in lines if line.startswith("  [0] S = "))   # the minima, then the search's coverage
    assert first.endswith(sp.minima[0].summary())
    assert "search (global):" in text and "cannot exclude:" in text
    assert str(sp) == text and str(sp.minima[0]) == sp.minima[0].summary()


def test_saddle_point_summary_names_a_pattern():
    sp = saddle_point(tasks.endpoint('{"W": [[1, 2], [3]]}', T=4, lam=1.0), n_starts=1)
    assert sp.summary().startswith('{"W":[[1,2],[3]],"U":[[0,1,2,3]]} endpoint task: T=4 P=1 lambda=1')


def test_trace_summary_is_short(rnn3_trace):
    tr = rnn3_trace
    text = str(tr)
    lines = text.splitlines()
    assert text == tr.summary()
    # one header, one line per branch, one per special point: not every point
    assert len(lines) == 1 + len(tr.branches) + len(tr.special_points)
    assert sum(len(b.points) for b in tr.branches) > len(lines)
    assert re.match(r"RNN endpoint task T=3 P=1 kappa=0\.1 lambda 2\.5\.\.3\.2: transition second order "
                    r"\(\d+ steps, [\d.]+ s\)$", lines[0])
    assert lines[1].startswith("  branch 0 (symmetric): ") and " points, lambda 2.5..3.2, " in lines[1]
    assert lines[2].startswith("  branch 1 (broken): ")
    bp = tr.special_points[0]
    assert lines[3] == "  " + bp.summary() and bp.summary().startswith("branch_point (Z2)    lambda = 2.8637824")
    assert str(tr.branches[1]).startswith("broken branch: ")
    assert str(tr.branches[1].points[0]).startswith("lambda = ")


def test_trace_summary_with_refined_points(rnn3_trace):
    ref = [{"lam": "2.8637824638055174738", "digits": 20, "residual": 1e-25}] + \
          [None] * (len(rnn3_trace.special_points) - 1)
    lines = rnn3_trace.summary(refined=ref).splitlines()
    i = 1 + len(rnn3_trace.branches)
    assert lines[i + 1].strip() == "lambda = 2.8637824638055174738  (20 digits, residual 1e-25)"


def test_exponent_summary(rnn3_trace):
    e = critical_exponent(tasks.endpoint("rnn", T=3), digits=20, levels=4, traced=rnn3_trace)
    lines = e.summary().splitlines()
    assert lines[0] == "RNN endpoint task T=3 P=1 kappa=0.1: second order transition"
    assert lines[1].startswith("  lambda_c = 2.86378246380551") and lines[1].endswith("(20 digits)")
    assert lines[2].startswith("  beta     = 0.5000000000") and "error estimate" in lines[2]
    assert len([s for s in lines if "local slope" in s]) == len(e.m_values)
    assert str(e) == e.summary()


def test_exponent_summary_first_order(rnn3_trace):
    # the text of a first-order estimate (T >= 5 in the paper's task; built here from a cheap one)
    e = critical_exponent(tasks.endpoint("rnn", T=3), digits=16, levels=2, traced=rnn3_trace)
    e = replace(e, beta=None, error=None, beta_digits=None, transition="first order",
                message="first-order transition: no power law at the spinodal")
    lines = e.summary().splitlines()
    assert lines[0].endswith(": first order transition")
    assert lines[1].startswith("  branch point (spinodal of the symmetric phase) = ")
    assert lines[2].startswith("  beta: not fitted; ") and len(lines) == 3


def test_landscape_summary():
    land = landscape(tasks.endpoint("rnn", T=3), [2.5, 3.2], m_max=1.0, points=5)
    lines = str(land).splitlines()
    assert re.match(r"RNN endpoint task T=3 P=1 kappa=0\.1: S minimised at fixed m = H\^\(T-1,T-2\) "
                    r"\([\d.]+ s\)$", lines[0])
    assert lines[1] == "  " + land.curves[0].summary()
    assert lines[1].startswith("  lambda = 2.5: minimum at m = 0, S_min - S(m=0) = 0.000000e+00")
    assert lines[2].startswith("  lambda = 3.2: minimum at m = ") and "min curvature" in lines[2]

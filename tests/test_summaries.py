"""Summaries of the results outside theory/: critical point, sequence tasks, report (no CLI)."""

from pathlib import Path

from linkernel import tasks
from linkernel.report import Report
from linkernel.sequence import simulate_sequence, solve_sequence, sweep_lambda
from linkernel.symbolic.critical import ORDERS, critical_point


def test_critical_point_summary():
    cp = critical_point(tasks.endpoint("rnn", T=3))
    lines = cp.summary().splitlines()
    assert lines[0] == "RNN endpoint task: T=3 P=1 kappa=0.1 w=1 v=1 u=1"
    assert lines[1].startswith("lambda_c = 2.86378246381") and r"\lambda_c = " in lines[1]
    assert lines[2].startswith("branch at lambda_c: r_c = H^tt/Sigma^tt = 2,")
    assert lines[3] == "kernel diagonal at lambda_c: 2 4 8"
    assert lines[4].startswith("Landau S_eff = S0 + a m^2 + b m^4: a = 0,")
    assert lines[5] == "order: second order" and cp.order in ORDERS
    assert lines[6].startswith("m ~ A (lambda - lambda_c)^beta with beta = 0.5, A = 3.605")
    assert lines[7] == "tricritical (b = 0) at kappa = 18.666667 for these w, v, u"
    assert str(cp) == cp.summary()


def test_critical_point_summary_first_order():
    cp = critical_point(tasks.endpoint("rnn", T=5))
    text = cp.summary()
    assert cp.order == "first order" and "order: first order" in text and "beta" not in text
    assert "no tricritical point for T=5" in text


def test_sequence_result_summary():
    r = solve_sequence(T=4, supervised="0,1", n_starts=2)
    lines = str(r).splitlines()
    assert lines[0] == "teacher sequence: T=4 period=10 radius=1 lambda=1 w=1 v=1 u=1 kappa=0.1"
    assert lines[1] == "supervised steps: 0,1"
    assert lines[2] == "   t  sup    target       RNN       DNN"
    assert lines[3].startswith("   0  *    1.00000 ") and lines[5].startswith("   2       0.30902 ")
    assert lines[7].startswith("RNN: L = ") and lines[8].startswith("DNN: L = ")
    assert "RNN kernel H^(t,t'):" in lines and "DNN kernel H^(t,t'):" in lines
    assert len(lines) == 3 + 4 + 2 + 2 * (1 + 4)
    assert str(r) == r.summary()


def test_sequence_sweep_and_simulation_summaries():
    sw = sweep_lambda([0.5, 1.0], supervised="0,1", T=4, archs=("rnn",), n_starts=2, progress=False)
    lines = sw.summary().splitlines()
    assert lines[0].startswith("sequence sweep over lam: 2 points")
    assert lines[1].split() == ["lambda", "L", "RNN", "minima"] and len(lines) == 4
    sim = simulate_sequence("rnn", 16, T=4, supervised="0,1", chains=2, samples=50, warmup=50)
    lines = str(sim).splitlines()
    assert lines[0].startswith("RNN at N=16, lambda=1, supervised 0,1: L = ")
    assert len(lines) == 2 + 4 + 1 and lines[-1].startswith("2 chains x 50 draws: min ESS ")


def test_report_summary(tmp_path):
    rep = Report(out=Path(tmp_path), files=(), seconds=1.5,
                 results={"critical_point": {"lambda_c": 1.0}, "exponent": {"beta": 0.5}})
    assert str(rep) == f"report written to {tmp_path}/ in 1.5 s (summary: {tmp_path}/summary.md)"

import json

import numpy as np
import pytest

from linkernel import report as report_mod
from linkernel.cli import main
from linkernel.theory.continuation import trace
from linkernel.tasks import endpoint


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    lines = []
    rep = report_mod.run_report(out, overlay=(4,), digits=20, log=lines.append)
    return out, rep, lines


def test_report_writes_every_file(folder):
    out, rep, lines = folder
    for name in ("trace.png", "landscape.png", "results.json", "summary.md"):
        assert (out / name).stat().st_size > 1000, name
    assert len(lines) == 5 and [ln[:5] for ln in lines] == [f"[{k}/5]" for k in range(1, 6)]
    with open(out / "trace.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_results_agree_with_an_independent_trace(folder):
    out, rep, _ = folder
    res = json.loads((out / "results.json").read_text())
    tr = trace(endpoint("rnn", T=4, kappa=0.1), (1.5, 1.7))
    bp = tr.points_of("branch_point")[0]
    assert res["critical_point"]["lambda_c"] == pytest.approx(bp.lam, rel=1e-12)
    assert abs(res["exponent"]["beta"] - 0.5) < 1e-10
    assert res["transition_order"] == {"4": "second order"}
    # the symbolic critical point is reported beside the continuation's, and agrees
    assert res["derivation"]["lambda_c"] == pytest.approx(bp.lam, rel=1e-12)
    assert res["critical_point"]["derivation_relative_difference"] < 1e-12
    assert all(c["relative_difference"] < 1e-6 for c in res["checks"]["broken_branch_vs_minimisation"])
    assert res["checks"]["max_residual"] < 1e-10
    dc = res["checks"]["dnn_vs_rnn"]
    assert dc["dnn_branch_points"] == 0 and dc["dnn_max_abs_m"] < 1e-12 and dc["max_abs_kernel_difference"] < 1e-10
    assert {"rnn_T4", "dnn_T4"} <= set(res["branches"])
    assert not [s for s in res["special_points"]["dnn_T4"] if s["kind"] == "branch_point"]
    land = res["landscape"]["curves"]
    assert land[0]["m_min"] == 0.0 and land[2]["m_min"] > 0.5
    md = (out / "summary.md").read_text()
    assert res["critical_point"]["lambda_c_digits"] in md and "trace.png" in md


def test_derivation_summary_is_a_cross_check(monkeypatch, tmp_path):
    assert report_mod._derivation_summary(endpoint("rnn", T=2)) is None  # no transition at T = 2
    monkeypatch.setattr(report_mod, "_derivation_summary", lambda problem: {"lambda_c": 1.6224172257224674})
    rep = report_mod.run_report(tmp_path, T=3, overlay=(3,), digits=16, lam_range=(2.0, 3.5), log=lambda s: None)
    crit = rep.results["critical_point"]
    assert crit["derivation_lambda_c"] == 1.6224172257224674
    # a wrong "derivation" value shows up as a large difference instead of changing the result
    assert crit["derivation_relative_difference"] > 0.1 and 2.8 < crit["lambda_c"] < 2.9


def test_cli_report_json(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "r"), "--T", "3", "--overlay", "3", "--digits", "16",
                 "--json"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out[out.index("{"):])
    assert 2.8 < d["lambda_c"] < 2.9 and abs(d["beta"] - 0.5) < 1e-10
    assert (tmp_path / "r" / "summary.md").exists()


def test_first_order_report(tmp_path):
    rep = report_mod.run_report(tmp_path, T=5, overlay=(5,), digits=16, log=lambda s: None)
    res = rep.results
    assert res["transition_order"] == {"5": "first order"} and res["exponent"]["beta"] is None
    coex = res["exponent"]["lambda_coexistence"]
    assert coex < res["critical_point"]["lambda_c"]
    mid = res["landscape"]["curves"][1]
    assert mid["lam"] == coex
    # at coexistence the landscape has equal minima at m = 0 and m* > 0 with a barrier between
    m, dS = np.array(mid["m"]), np.array(mid["delta_action"])
    assert abs(dS[m > 0.5].min()) < 1e-6 and dS[(m > 0) & (m < 0.8)].max() > 1e-6
    assert "First-order transition" in (tmp_path / "summary.md").read_text()

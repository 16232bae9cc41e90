"""No silent wrong answers on the command line (issue 27).

Fast (default suite): property tests that cross-check routes on random problems -- the same problem
through ``--problem FILE``, the task flags and the Python API gives the same answer; ``--json`` and the
summary text print the same numbers; every architecture reaches ``critical`` as itself.

Slow (``-m slow``): the issue's campaign cases that are CLI commands, each with its expected outcome
(ok, warn or refuse: exit status, one stderr line per refusal, never a traceback).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkernel import saddle_point, tasks
from linkernel.architecture import Architecture
from linkernel.symbolic.patterns import pattern_critical_point
from linkernel.theory.special_points import critical_lambda
from tests.references import refused, run_cli




@st.composite
def patterns(draw, T_min=3, T_max=5):
    """(T, JSON text) of a random weight-sharing pattern over the steps 1..T-1."""
    T = draw(st.integers(T_min, T_max))
    labels = draw(st.lists(st.integers(0, T - 2), min_size=T - 1, max_size=T - 1))
    groups = {}
    for step, g in enumerate(labels, start=1):
        groups.setdefault(g, []).append(step)
    return T, json.dumps({"W": list(groups.values())})


def _file(tmp_path, problem, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(problem.to_dict()))
    return str(path)


# --- the architecture travels with the problem ----------------------------------------------------
# T <= 4: seven patterns in all, each derived once (the derivations are cached), so the draws stay cheap
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(pat=patterns(3, 4), kappa=st.sampled_from([0.05, 0.1, 1.0]))
def test_critical_same_answer_through_file_flags_and_python(pat, kappa, tmp_path):
    T, spec = pat
    arch = Architecture.from_spec(spec, T)
    problem = tasks.endpoint(arch, T=T, kappa=kappa, lam=1.0)
    rc, out, err = run_cli(["critical", "--arch", spec, "--T", str(T), "--kappa", str(kappa), "--json"])
    assert rc == 0, err
    by_flags = json.loads(out)
    rc, out, err = run_cli(["critical", "--problem", _file(tmp_path, problem), "--json"])
    assert rc == 0, err
    by_file = json.loads(out)
    assert by_file["lambda_c"] == by_flags["lambda_c"] and by_file["order"] == by_flags["order"]
    assert by_file["problem"]["arch"] == by_flags["problem"]["arch"] == problem.to_dict()["arch"]
    if arch.is_rnn:
        return
    cp = pattern_critical_point(arch)
    if not cp.has_transition:                     # the DNN and patterns without an odd chain
        assert by_file["lambda_c"] is None and by_file["order"] == "none"
        return
    assert by_file["lambda_c"] == pytest.approx(cp.lambda_c_value(kappa_=kappa), rel=1e-12)
    assert by_file["lambda_c"] == pytest.approx(critical_lambda(problem), rel=1e-7)
    assert by_file["breaks"] == cp.group_text


@pytest.mark.parametrize("spec, lambda_c", [('{"W": [[1, 2], [3]]}', 4.025), ("dnn", None)])
def test_critical_problem_file_keeps_its_architecture(spec, lambda_c, tmp_path):
    # regression: --problem FILE was replaced by the RNN (lambda_c = 1.62241722572 for any file)
    problem = tasks.endpoint(Architecture.from_spec(spec, 4), T=4, lam=1.0)
    rc, out, err = run_cli(["critical", "--problem", _file(tmp_path, problem), "--json"])
    assert rc == 0, err
    d = json.loads(out)
    if lambda_c is None:
        assert d["lambda_c"] is None and d["order"] == "none"
        with pytest.raises(Exception):
            critical_lambda(problem)              # the numerical route finds no transition either
    else:
        assert d["lambda_c"] == pytest.approx(lambda_c, rel=1e-12)
        assert d["lambda_c"] == pytest.approx(critical_lambda(problem), rel=1e-9)
        assert d["breaks"] == "W{1,2}"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(pat=patterns(3, 4), lam=st.sampled_from([0.5, 2.0, 5.0]))
def test_solve_same_kernel_through_file_flags_and_python(pat, lam, tmp_path):
    T, spec = pat
    problem = tasks.endpoint(Architecture.from_spec(spec, T), T=T, lam=lam)
    ref = saddle_point(problem)
    rc, out, err = run_cli(["solve", "--arch", spec, "--T", str(T), "--lam", str(lam), "--json"])
    assert rc == 0, err
    flags = json.loads(out)
    rc, out, err = run_cli(["solve", "--problem", _file(tmp_path, problem), "--json"])
    assert rc == 0, err
    file_ = json.loads(out)
    for d in (flags, file_):
        np.testing.assert_allclose(d["kernel"], ref.kernel, rtol=1e-8, atol=1e-10)
        assert d["action"] == pytest.approx(ref.action, rel=1e-10)
        assert d["problem"]["arch"] == problem.to_dict()["arch"]


# --- --json against the summary text ----------------------------------------------------------------
def _numbers(text):
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)]


@settings(max_examples=5, deadline=None)
@given(pat=patterns(3, 4), kappa=st.sampled_from([0.1, 2.0, 20.0]))
def test_critical_json_and_text_agree(pat, kappa):
    T, spec = pat
    argv = ["critical", "--arch", spec, "--T", str(T), "--kappa", str(kappa)]
    rc, text, err = run_cli(argv)
    assert rc == 0, err
    rc, out, err = run_cli(argv + ["--json"])
    d = json.loads(out)
    m = re.search(r"^order: (second order|first order|tricritical|none)", text, re.M)
    assert m and m.group(1) == d["order"]
    if d["lambda_c"] is None:
        assert "no transition" in text
    else:
        printed = float(re.search(r"^lambda_c = (\S+)", text, re.M).group(1))
        assert printed == pytest.approx(d["lambda_c"], rel=1e-11)


def test_solve_json_keys_never_depend_on_flags_nor_overwrite(capsys):
    # regression: solve --N 100 --json overwrote the saddle point's 'method' and 'seconds'
    rc, out, err = run_cli(["solve", "--T", "3", "--json"])
    plain = json.loads(out)
    rc, out, err = run_cli(["solve", "--T", "3", "--N", "100", "--json"])
    assert rc == 0, err
    with_n = json.loads(out)
    assert set(plain) == set(with_n)
    assert plain["finite_width"] is None and plain["data"] is None
    assert with_n["method"] == plain["method"]                    # still the saddle point's
    assert with_n["finite_width"]["N"] == 100 and with_n["finite_width"]["method"] != plain["method"]
    rc, text, err = run_cli(["solve", "--T", "3", "--N", "100"])
    printed = float(re.search(r"action S = (\S+)", text).group(1))
    assert printed == pytest.approx(with_n["action"], rel=1e-10)


def test_sample_json_keys_never_depend_on_flags():
    base = ["sample", "--T", "3", "--N", "16", "--sweeps", "8", "--chains", "2", "--no-progress", "--json"]
    rc, out, err = run_cli(base)
    full = json.loads(out)
    rc, out, err = run_cli(base + ["--no-theory", "--no-exact"])
    assert rc == 0, err
    bare = json.loads(out)
    assert set(bare) == set(full)
    assert bare["theory_kernel"] is None and bare["exact_kernel"] is None and full["theory_kernel"] is not None


# --- derivations apply to the architecture asked for --------------------------------------------------
def test_derive_refuses_a_pattern_and_names_what_to_use(tmp_path):
    # regression: the pattern was written up as the DNN, in a file named after the raw JSON
    rc, out, err = run_cli(["derive", "--arch", '{"W": [[1,2],[3]]}', "--T", "4", "--out", str(tmp_path / "d")])
    assert rc == 2 and err.count("\n") == 1 and "linkernel critical" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_derivable_arch_names_rnn_and_dnn_whatever_their_spelling():
    from linkernel.symbolic.latex import derivable_arch, filename
    assert derivable_arch('{"W": [[1, 2, 3]]}', 4) == "rnn"
    assert derivable_arch('{"W": [[1], [2], [3]], "U": [[0], [1], [2], [3]]}', 4) == "dnn"
    assert filename(derivable_arch("RNN".lower(), 4), 4) == "rnn_T4_P1.tex"
    with pytest.raises(ValueError, match="linkernel critical"):
        derivable_arch('{"W": [[1, 3], [2]]}', 4)


# --- refusals before any work -------------------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["trace", "--plot", "/proc/linkernel-test.png"], "--plot"),
    (["derive", "--out", "/proc/linkernel-test"], "--out"),
    (["report", "--out", "/proc/linkernel-test"], "--out"),
    (["figure", "2", "--out", "/proc/linkernel-test"], "--out"),
    (["sample", "--save", "/proc/linkernel-test.nc"], "--save"),
    (["phase-diagram", "--points", "100000"], "points"),
    (["phase-diagram", "--range", "1e-300:1e308"], "range"),
    (["spectrum", "--N", str(10 ** 12)], "N"),
    (["sample", "--N", str(10 ** 9)], "N"),
    (["solve", "--N", "1" + "0" * 400], "N"),
    (["critical", "--classes", "0,1"], "--classes"),
    (["solve", "--data", "nonexistent.csv"], "data"),
    (["solve", "--data", "digits", "--label", "y"], "--label"),
    (["solve", "--data", "digits", "--D", "3"], "--D"),
])
def test_refused_before_work_one_line(argv, option):
    import time
    t0 = time.perf_counter()
    rc, out, err = run_cli(argv)
    assert refused(rc, out, err, (option,)), err
    assert time.perf_counter() - t0 < 5


def test_output_folder_probe_leaves_nothing_behind(tmp_path):
    from linkernel.cli.options import check_output_folder, output_file
    check_output_folder("--out", tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []
    assert output_file("--plot", str(tmp_path / "fig")) == str(tmp_path / "fig.png")
    assert list(tmp_path.iterdir()) == []


def test_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "linkernel", "trace", "--T", "5", "--csv"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()                                   # as `| head -c 10` does
    err = p.stderr.read().decode()
    assert p.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


# --- real data (issue 29) -------------------------------------------------------------------------------
def test_solve_on_digits_prints_reduction_and_test_error():
    pytest.importorskip("sklearn")
    from linkernel import datasets
    argv = ["solve", "--data", "digits", "--classes", "0,1", "--P", "20", "--test", "15", "--T", "3", "--lam", "1"]
    rc, out, err = run_cli(argv + ["--json"])
    assert rc == 0, err
    d = json.loads(out)
    task = datasets.digits(classes=(0, 1), P=20, test=15, T=3, lam=1.0)
    ref = saddle_point(task.problem)
    np.testing.assert_allclose(d["kernel"], ref.kernel, rtol=1e-8, atol=1e-10)
    assert d["data"]["r"] == task.reduction.r and d["data"]["P"] == 20 and d["data"]["test_patterns"] == 15
    assert d["data"]["test_error"]["mse"] == pytest.approx(task.test_error(ref)["mse"], rel=1e-8)
    rc, text, err = run_cli(argv)
    assert task.reduction.summary() in text
    mse = float(re.search(r"held-out test error on 15 patterns: mse (\S+),", text).group(1))
    assert mse == pytest.approx(d["data"]["test_error"]["mse"], rel=1e-5)


def test_csv_data_and_label_column(tmp_path):
    from linkernel import datasets
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    y = np.sign(X[:, 0] + 0.1)
    path = tmp_path / "t.csv"
    path.write_text("y,a,b,c,d\n" + "\n".join(",".join(map(str, [yy, *row])) for yy, row in zip(y, X)))
    rc, out, err = run_cli(["critical", "--data", str(path), "--label", "y", "--P", "20", "--T", "3", "--json"])
    assert rc == 0, err
    d = json.loads(out)
    task = datasets.from_csv(str(path), label="y", P=20, T=3, lam=1.0)
    assert d["data"]["r"] == task.reduction.r == 4
    assert d["lambda_c"] == pytest.approx(critical_lambda(task.problem), rel=1e-9)
    rc, out, err = run_cli(["critical", "--data", str(path), "--label", "nope"])
    assert rc == 2 and err.count("\n") == 1 and "label" in err


# --- the campaign (slow) ----------------------------------------------------------------------------------
PATTERN = '{"W": [[1,2],[3]]}'


# (argv, expected): "ok" exit 0; "warn" exit 0 and a warning line; "refuse:NAME" exit 2, one line naming NAME.
# A check on stdout, where given, is a substring the answer must contain (the value asked for).
CAMPAIGN = [
    (["critical", "--arch", PATTERN, "--T", "4"], "ok", "lambda_c = 4.025"),
    (["critical", "--arch", "dnn", "--T", "4"], "ok", "no transition"),
    (["derive", "--arch", PATTERN, "--T", "4"], "refuse:linkernel critical", None),
    (["trace", "--T", "30"], "warn", "unknown"),
    (["trace", "--lam-range", "1.7:3"], "warn", "unknown"),
    (["trace", "--arch", PATTERN, "--T", "4", "--lam-range", "3.5:4.5"], "ok", "4.025"),
    (["exponent", "--T", "3", "--kappa", "18.6666666667"], "ok-or-warn", None),
    (["solve", "--N", "100", "--json"], "ok", '"finite_width"'),
    (["sample", "--no-theory", "--no-exact", "--N", "16", "--sweeps", "8", "--no-progress", "--json"],
     "ok-or-warn", '"theory_kernel": null'),
    (["phase-diagram", "--T", "4", "--param", "kappa", "--range", "0.01:20", "--points", "9"], "ok-or-warn", None),
    (["trace", "--plot", "/proc/x.png"], "refuse:--plot", None),
    (["derive", "--out", "/proc/x"], "refuse:--out", None),
    (["report", "--out", "/proc/x"], "refuse:--out", None),
    (["figure", "3", "--out", "/proc/x"], "refuse:--out", None),
    (["sample", "--save", "/proc/x.nc"], "refuse:--save", None),
    (["solve", "--v", "1e308"], "ok-or-refuse:v", None),
    (["trace", "--v", "1e308"], "ok-or-refuse:v", None),
    (["solve", "--N", "1e400"], "refuse:N", None),
    (["solve", "--T", "30", "--w", "1e-3"], "ok-or-warn", None),
    (["trace", "--w", "1e-3"], "ok-or-warn", None),
    (["phase-diagram", "--points", "100000"], "refuse:points", None),
    (["spectrum", "--N", "1000000000000"], "refuse:N", None),
    (["phase-diagram", "--range", "1e-300:1e308"], "refuse:range", None),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, expected, shows", CAMPAIGN)
def test_campaign_case(argv, expected, shows):
    rc, out, err = run_cli(argv)
    assert "Traceback" not in err and "nan" not in out.lower().replace("nano", ""), err
    kind, _, name = expected.partition(":")
    if kind == "ok":
        assert rc == 0, err
    elif kind == "warn":
        assert rc == 0 and "warning" in err, err
    elif kind == "ok-or-warn":
        assert rc == 0, err
    elif kind == "refuse":
        assert refused(rc, out, err, (name,)), err
    else:                                               # ok-or-refuse
        assert rc == 0 or refused(rc, out, err, (name,)), err
    if shows is not None and rc == 0:
        assert shows in out + err, out[-2000:]


@pytest.mark.slow
def test_campaign_trace_csv_into_head():
    import subprocess
    r = subprocess.run("linkernel trace --T 4 --csv | head -2", shell=True, capture_output=True, text=True)
    assert len(r.stdout.splitlines()) == 2 and "Traceback" not in r.stderr, r.stderr

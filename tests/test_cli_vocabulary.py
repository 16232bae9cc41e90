"""One command-line vocabulary: the same concept has the same option, default and help in every
subcommand; integers may be written 1e3; every error is one line in one format; progress and
warnings reach a non-terminal stderr while the command runs (issue 30, item 5)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import threading
import time

import pytest

from linkernel import progress
from linkernel.cli import build_parser, main
from linkernel.cli.options import PROBLEM_DEFAULT_TEXT, PROBLEM_HELP, PROBLEM_OPTIONS
from linkernel.cli.vocabulary import (DIGITS_DEFAULT, HELP, LAM_DEFAULT, LAM_RANGE_DEFAULT, LAMS_DEFAULT,
                                      SEED_DEFAULT, IntervalAction, fmt_default)
from tests.references import refused, run_cli




def subparsers():
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: p for name, p in action.choices.items() if name != "sgld"}


SUB = subparsers()


def options(name):
    """{option string: action} of one subcommand (hidden ones included)."""
    return {s: a for a in SUB[name]._actions for s in a.option_strings}


def visible(action):
    return action.help is not argparse.SUPPRESS


# --- the table of concepts -> option -------------------------------------------------------------
# concept option: (default, help text it starts with).  Where a subcommand shows the option, it has
# this default and this help, unless EXCEPTIONS says otherwise and why.
CONCEPTS = {
    "--lam": (None, HELP["lam"]),               # filled in after parsing: LAM_DEFAULT, said in the help
    "--lam-range": (LAM_RANGE_DEFAULT, HELP["lam_range"]),
    "--lams": (list(LAMS_DEFAULT), HELP["lams"]),
    "--digits": (DIGITS_DEFAULT, HELP["digits"]),
    "--seed": (SEED_DEFAULT, HELP["seed"]),
    "--json": (False, HELP["json"]),
    "--plot": (None, HELP["plot"]),
    "--no-progress": (False, HELP["no_progress"]),
}
DEFAULT_TEXT = {"--lam": fmt_default(LAM_DEFAULT), "--lam-range": fmt_default(LAM_RANGE_DEFAULT),
                "--lams": fmt_default(LAMS_DEFAULT), "--digits": str(DIGITS_DEFAULT), "--seed": str(SEED_DEFAULT)}
EXCEPTIONS = {
    # landscape: without --lam it draws the --lams curves
    ("landscape", "--lam"): "the --lams list",
    # the phase diagram's lines leave any fixed window: the lambda window is located
    ("phase-diagram", "--lam-range"): "located",
    # the sequence subcommand is the Fig. 5 setup: RNN against DNN, T = 10, the first four steps supervised
    ("sequence", "--arch"): "rnn,dnn", ("sequence", "--T"): "10", ("sequence", "--supervised"): "first:4",
}
LAMBDA_SUBCOMMANDS = ("solve", "critical", "trace", "exponent", "landscape", "report", "exact", "sample",
                      "sequence", "phase-diagram", "spectrum")
PROBLEM_SUBCOMMANDS = LAMBDA_SUBCOMMANDS + ("derive",)
DATA_OPTIONS = ("--data", "--classes", "--test", "--label", "--data-seed")


def default_clause(help_text):
    m = re.search(r"\(default ([^()]*(?:\([^()]*\)[^()]*)*)\)$", help_text)
    return None if m is None else m.group(1)


@pytest.mark.parametrize("name", sorted(SUB))
def test_help_runs_and_concepts_have_one_name_default_and_help(name):
    rc, out, err = run_cli([name, "--help"])
    assert rc == 0 and out.startswith(f"usage: linkernel {name}") and not err
    opts = options(name)
    for opt, (default, help_start) in CONCEPTS.items():
        a = opts.get(opt)
        if a is None or not visible(a):
            continue
        assert a.help.startswith(help_start), (name, opt, a.help)
        if (name, opt) in EXCEPTIONS:
            assert default_clause(a.help).startswith(EXCEPTIONS[name, opt]), (name, opt, a.help)
            continue
        if opt not in ("--lam",):
            assert a.default == default, (name, opt, a.default)
        if opt in DEFAULT_TEXT:   # the help states the default the parser really has
            assert default_clause(a.help) == DEFAULT_TEXT[opt], (name, opt, a.help)
            if opt != "--lam":
                assert DEFAULT_TEXT[opt] == fmt_default(a.default)


@pytest.mark.parametrize("name", LAMBDA_SUBCOMMANDS)
def test_lambda_options_everywhere_lambda_enters(name):
    """--lam, --lam-range, --lams are all known; the ones that mean nothing here are hidden and refused
    with one line saying what to use instead (never 'unrecognized')."""
    opts = options(name)
    assert {"--lam", "--lam-range", "--lams"} <= set(opts)
    values = {"--lam": ["2"], "--lam-range": ["1", "3"], "--lams": ["1,2"]}
    for opt in ("--lam", "--lam-range", "--lams"):
        if visible(opts[opt]):
            continue
        rc, out, err = run_cli([name, opt, *values[opt]])
        assert refused(rc, out, err), (name, opt, err)
        assert err.startswith(f"linkernel {name}: error: {opt} {' '.join(values[opt])}: "), err
        assert "unrecognized" not in err and ("--lam" in err.split(": ", 3)[-1] or "linkernel " in err.split(": ")[-1])
    if name != "critical":
        assert any(visible(opts[o]) for o in ("--lam", "--lam-range", "--lams")), name
    if visible(opts["--lam-range"]):
        assert isinstance(opts["--lam-range"], IntervalAction)
        assert "--lam-range LO HI" in SUB[name].format_usage()


@pytest.mark.parametrize("name", PROBLEM_SUBCOMMANDS)
def test_every_problem_option_in_every_subcommand_taking_a_problem(name):
    opts = options(name)
    for dest in PROBLEM_OPTIONS:
        a = opts.get(f"--{dest}")
        assert a is not None and visible(a), (name, dest)
        assert a.help.startswith(PROBLEM_HELP[dest]), (name, dest, a.help)
        want = EXCEPTIONS.get((name, f"--{dest}"), PROBLEM_DEFAULT_TEXT[dest])
        if want is not None:
            assert default_clause(a.help).startswith(want), (name, dest, a.help)
    for opt in DATA_OPTIONS:
        assert opt in opts, (name, opt)


def test_interval_as_two_numbers_or_the_old_lo_colon_hi():
    p = SUB["trace"]
    assert p.parse_args(["--lam-range", "1", "3"]).lam_range == (1.0, 3.0)
    assert p.parse_args(["--lam-range", "1:3"]).lam_range == (1.0, 3.0)
    assert p.parse_args([]).lam_range == LAM_RANGE_DEFAULT
    assert SUB["phase-diagram"].parse_args(["--range", "0.1", "2"]).param_range == (0.1, 2.0)


# --- integers written as 1e3 ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["solve", "exact", "sample"])
def test_integer_options_accept_1e3_and_refuse_fractions(name):
    assert SUB[name].parse_args(["--N", "1e3"]).N == 1000
    assert SUB[name].parse_args(["--N", "2048.0"]).N == 2048
    for bad in ("1.5", "1.5e0", "1e400", "abc"):
        rc, out, err = run_cli([name, "--N", bad])
        assert refused(rc, out, err), err
        assert err.startswith(f"linkernel {name}: error: --N {bad}: expected an integer"), err


# --- one error format -----------------------------------------------------------------------------
ERROR = re.compile(r"^linkernel (?P<sub>[\w-]+): error: (?P<opt>--[\w-]+)(?: (?P<value>.+?))?: (?P<what>.+)\n$")


@pytest.mark.parametrize("argv, option, value", [
    (["solve", "--T", "abc"], "--T", "abc"),                          # argparse type
    (["solve", "--task", "bogus"], "--task", "bogus"),                # argparse choice
    (["solve", "--bogus", "1"], "--bogus", "1"),                      # argparse: unknown option
    (["trace", "--T"], "--T", None),                                  # argparse: value missing
    (["trace", "--lam-range", "3", "1"], "--lam-range", "3 1"),       # an interval
    (["landscape", "--lam", "2", "--lams", "1,2"], "--lams", None),   # two options that exclude each other
    (["solve", "--P", "2", "--task", "sinusoid"], "--P", "2"),        # the CLI's own check
    (["solve", "--kappa", "-1"], "--kappa", "-1"),
    (["solve", "--arch", '{"W": [[1, 2], [4]]}', "--T", "4"], "--arch", '{"W": [[1, 2], [4]]}'),  # the package's
    (["sample", "--N", "8", "--sweeps", "3", "--no-exact", "--no-theory"], "--sweeps", "3"),      # the sampler's
    (["trace", "--plot", "/nonexistent/x.png"], "--plot", "/nonexistent/x.png"),
    (["derive", "--arch", '{"W": [[1,2],[3]]}', "--T", "4"], "--arch", '{"W": [[1,2],[3]]}'),
    (["report", "--arch", '{"W": [[1,2],[3]]}'], "--arch", '{"W": [[1,2],[3]]}'),
    (["sequence", "--task", "endpoint"], "--task", "endpoint"),
    (["sgld", "--N", "0"], "--N", "0"),
])
def test_every_error_has_the_one_format(argv, option, value):
    rc, out, err = run_cli(argv)
    assert rc == 2 and not out
    m = ERROR.match(err)
    assert m is not None, err
    sub = "sample" if argv[0] == "sgld" else argv[0]
    assert m["sub"] == sub and m["opt"] == option, err
    if value is not None:       # the value as typed (a pattern's JSON may itself hold ': ')
        assert err.startswith(f"linkernel {sub}: error: {option} {value}: ") and len(err) > len(
            f"linkernel {sub}: error: {option} {value}: ") + 5, err


def test_a_pattern_without_a_closed_form_document_names_what_to_use():
    """derive writes documents for rnn and dnn only: a pattern is refused, never written up as another one."""
    rc, _, err = run_cli(["derive", "--arch", '{"W": [[1,2],[3]]}', "--T", "4", "--out", "/tmp/h5-derive-never"])
    assert rc == 2 and "linkernel critical --arch" in err
    rc, _, err = run_cli(["report", "--P", "2"])
    assert rc == 2 and "linkernel critical" in err


def test_supervision_spec_is_the_same_in_solve_and_sequence(capsys):
    """--supervised all / first:K is one vocabulary: solve --task sequence takes what sequence takes."""
    base = ["solve", "--task", "sequence", "--T", "5", "--lam", "1", "--json"]
    kernels = []
    for spec in ("all", "0,1,2,3,4", "first:2", "0,1"):
        assert main(base + ["--supervised", spec]) == 0
        kernels.append(json.loads(capsys.readouterr().out)["kernel"])
    assert kernels[0] == kernels[1] and kernels[2] == kernels[3] and kernels[0] != kernels[2]


# --- progress and warnings while the command runs -------------------------------------------------
LINE = re.compile(r"^linkernel landscape: landscape: (\d+)/3 lambdas, \d+ s(, about \d+ s left|, still working)?$")


def test_progress_lines_on_a_non_terminal_stderr(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)      # a run longer than the interval
    rc, out, err = run_cli(["landscape", "--T", "3", "--lams", "1.4,1.6,1.8", "--points", "3", "--m-max", "1"])
    assert rc == 0 and out
    lines = err.splitlines()
    assert lines and all(LINE.match(x) for x in lines), err
    # one line after each lambda (and heartbeat lines, 'still working', while a lambda takes long)
    steps = [x for x in lines if "still working" not in x]
    assert [int(LINE.match(x).group(1)) for x in steps] == [1, 2, 3], err
    assert "about" in steps[0] and "about" not in steps[-1]       # an estimate while there is work left
    # --no-progress: silent; and with a long interval a short run prints no line
    assert run_cli(["landscape", "--T", "3", "--lams", "1.4", "--points", "3", "--m-max", "1",
                    "--no-progress"])[2] == ""
    monkeypatch.setattr(progress, "INTERVAL", 3600.0)
    assert run_cli(["landscape", "--T", "3", "--lams", "1.4", "--points", "3", "--m-max", "1"])[2] == ""


def test_no_heartbeat_line_is_written_after_close(monkeypatch):
    """close() waits for a heartbeat line under way: written later it would land in the next command's stderr."""
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    monkeypatch.setattr(progress, "HEARTBEAT", True)
    writes, closed = [], threading.Event()

    class Slow(io.StringIO):
        def write(self, text):
            time.sleep(0.2)                 # the heartbeat thread descheduled in the middle of its write
            writes.append(closed.is_set())
            return len(text)

    monkeypatch.setattr(sys, "stderr", Slow())
    bar = progress.progress_bar(True, total=3, desc="x", unit="step")
    time.sleep(0.1)                         # the first heartbeat (after 0.05 s) is inside write now
    bar.close()
    closed.set()
    time.sleep(0.4)
    assert writes and not any(writes)


def test_plain_progress_estimates_the_time_left(monkeypatch):
    clock = iter([0.0, 10.0, 20.0, 30.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(progress, "INTERVAL", 5.0)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        bar = progress.progress_bar(True, total=4, desc="sample", unit="sweep")
        bar.update(1)          # t = 10 s: 1 of 4 done -> about 30 s left
        bar.update(1)          # t = 20 s: 2 of 4 -> about 20 s left
    assert err.getvalue().splitlines() == ["sample: 1/4 sweeps, 10 s, about 30 s left",
                                           "sample: 2/4 sweeps, 20 s, about 20 s left"]


def test_a_warning_is_printed_when_it_is_raised_not_at_the_end():
    """stdout and stderr into one stream: the package's warning comes before the summary printed after it."""
    both = io.StringIO()
    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        rc = main(["trace", "--lam-range", "1.7", "3", "--no-progress"])
    text = both.getvalue()
    assert rc == 0
    assert "linkernel trace: warning: transition unknown" in text
    summary_start = next(i for i, line in enumerate(text.splitlines()) if not line.startswith("linkernel trace:"))
    warn_line = next(i for i, line in enumerate(text.splitlines()) if line.startswith("linkernel trace: warning:"))
    assert warn_line < summary_start and text.count("linkernel trace: warning:") == 1


def test_a_long_step_is_not_silent(monkeypatch):
    """The command line's heartbeat: a line every INTERVAL while no step finishes, none after close()."""
    import time
    monkeypatch.setattr(progress, "INTERVAL", 0.05)
    monkeypatch.setattr(progress, "HEARTBEAT", True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        bar = progress.progress_bar(True, total=2, desc="sample", unit="sweep")
        bar.update(1)
        time.sleep(0.4)          # the second step takes 8 intervals
        bar.close()
        n = len(err.getvalue().splitlines())
        time.sleep(0.2)
    lines = err.getvalue().splitlines()
    assert len(lines) == n >= 3, lines
    assert all(re.fullmatch(r"sample: 1/2 sweeps, \d+ s(, still working|, about \d+ s left)", x) for x in lines)
    assert sum("still working" in x for x in lines) >= 2


PLOTTING = ("solve", "trace", "landscape", "phase-diagram", "sequence", "exact", "sample")


def test_plot_wherever_a_result_has_a_picture(tmp_path):
    for name in PLOTTING:
        assert visible(options(name)["--plot"]), name
    path = tmp_path / "kernel.png"
    rc, out, err = run_cli(["solve", "--T", "3", "--plot", str(path)])
    assert rc == 0 and out.endswith(f"figure written to {path}\n"), err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

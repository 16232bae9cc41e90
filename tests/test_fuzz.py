"""The input contract, fuzzed: every call gets a correct answer or a clear refusal.

CLI: exit status 0 with (for --json) strict JSON on stdout, or exit status 2
with exactly one stderr line that names the offending parameter; never a
traceback.  API: a result, a ValueError naming the parameter, or the
package's own numerical error; never TypeError, IndexError, KeyError,
OverflowError, LinAlgError or a NaN in a result.

The default run draws invalid values (which must be refused before any
work, so every call is fast); ``pytest -m slow tests/test_fuzz.py`` adds
valid-but-extreme values and the regressions of the fuzzing campaign, which
do real work.
"""

from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.references import refused, run_cli

# --- the CLI contract ---------------------------------------------------------------------------




def strict_json(text):
    def refuse(const):
        raise ValueError(f"{const} in JSON output")
    return json.loads(text, parse_constant=refuse)


def assert_cli_contract(argv, names=()):
    """Exit 0 (strict JSON with --json) or exit 2 with one stderr line naming one of ``names``."""
    rc, out, err = run_cli(argv)
    assert "Traceback" not in err, (argv, err)
    assert rc in (0, 2), (argv, rc, err)
    if rc == 0:
        if "--json" in argv:
            strict_json(out)
        for line in err.splitlines():
            assert line.startswith("linkernel"), (argv, err)
    else:
        assert refused(rc, out, err, names), (argv, out, err, names)
    return rc, out, err


# Options and the values they refuse: (subcommand, option, bad values).  The option's name must
# appear in the error line.
BAD_COUNT = ["0", "-1", "1.5", "abc", "", "nan", "1e400"]
BAD_COUNT0 = ["-1", "1.5", "abc", "", "nan"]
BAD_POSITIVE = ["0", "-1", "nan", "inf", "-inf", "abc", "", "1e400"]
BAD_FINITE = ["nan", "inf", "abc", ""]
CLI_OPTIONS = [
    ("solve", "--T", BAD_COUNT), ("solve", "--P", BAD_COUNT), ("solve", "--D", BAD_COUNT),
    ("solve", "--starts", BAD_COUNT), ("solve", "--seed", BAD_COUNT0), ("solve", "--lam", BAD_FINITE),
    ("solve", "--kappa", BAD_POSITIVE), ("solve", "--w", BAD_POSITIVE), ("solve", "--v", BAD_POSITIVE),
    ("solve", "--u", BAD_POSITIVE), ("solve", "--labels", ["", "a,b", "1,,x"]),
    ("solve", "--task", ["bogus", ""]), ("solve", "--arch", ["cnn", "{", '{"W": [[1, 9]]}', "[]"]),
    ("critical", "--T", BAD_COUNT), ("critical", "--kappa", BAD_POSITIVE),
    ("trace", "--T", ["0", "a", "3,,x", "-2"]), ("trace", "--lam-range", ["3:1", "1", "a:b", "0:1", "-1:2", "1:inf"]),
    ("trace", "--digits", BAD_COUNT),
    ("exponent", "--levels", BAD_COUNT), ("exponent", "--digits", BAD_COUNT),
    ("landscape", "--points", BAD_COUNT), ("landscape", "--m-max", BAD_POSITIVE),
    ("landscape", "--lams", ["", "a", "1,,b"]),
    ("exact", "--N", BAD_COUNT), ("exact", "--chains", BAD_COUNT), ("exact", "--samples", BAD_COUNT),
    ("exact", "--warmup", BAD_COUNT0), ("exact", "--seed", BAD_COUNT0),
    ("sample", "--N", BAD_COUNT), ("sample", "--sweeps", BAD_COUNT), ("sample", "--chains", BAD_COUNT),
    ("sample", "--burn", BAD_COUNT0), ("sample", "--rows", BAD_COUNT), ("sample", "--step", BAD_POSITIVE),
    ("sample", "--extrapolate", BAD_POSITIVE), ("sample", "--seed", BAD_COUNT0),
    ("sequence", "--period", BAD_POSITIVE), ("sequence", "--radius", BAD_POSITIVE),
    ("sequence", "--T", BAD_COUNT), ("derive", "--T", BAD_COUNT), ("report", "--digits", BAD_COUNT),
]
CASES = [(cmd, opt, bad) for cmd, opt, bads in CLI_OPTIONS for bad in bads]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES))
def test_cli_refuses_bad_values_with_one_line_naming_the_option(case):
    cmd, opt, bad = case
    t0 = time.perf_counter()
    names = (opt.lstrip("-").replace("-", "_"), opt.lstrip("-"))
    if opt == "--arch":  # a malformed pattern is refused naming its key (W or U) or the arch itself
        names += ("W=", "U=", "pattern")
    rc, _, err = assert_cli_contract([cmd, opt, bad], names=names)
    assert rc == 2, (cmd, opt, bad, err)
    assert time.perf_counter() - t0 < 10, "a refusal must come before the work"


@pytest.mark.parametrize("argv, name", [
    (["solve", "--problem", "/nonexistent.json"], "problem"),
    (["solve", "--problem", "tests/test_fuzz.py"], "problem"),
    (["solve", "--task", "sinusoid", "--P", "2"], "P"),
    (["solve", "--task", "endpoint", "--period", "3"], "period"),
    (["solve", "--P", "3", "--D", "2"], "D"),
    (["solve", "--P", "2", "--labels", "1,2,3"], "labels"),
    (["derive", "--all", "--T", "7"], "T"),
    (["derive", "--T", "40"], "T"),
    (["report", "--T", "2", "--out", "/tmp/linkernel-fuzz-report"], "T"),
    (["report", "--digits", "0", "--out", "/tmp/linkernel-fuzz-report"], "digits"),
    (["trace", "--plot", "/nonexistent/x.png"], "plot"),
    (["trace", "--plot", "/"], "plot"),
    (["landscape", "--plot", "/tmp/x.unknownsuffix"], "plot"),
    (["report", "--out", "/etc/passwd"], "out"),
    (["critical", "--kappa", "1e308"], "kappa"),
    (["critical", "--w", "1e-300"], "w"),
    (["critical", "--v", "1e-300"], "v"),
])
def test_cli_refuses_before_work(argv, name):
    t0 = time.perf_counter()
    rc, _, err = assert_cli_contract(argv, names=(name,))
    assert rc == 2, err
    assert time.perf_counter() - t0 < 20


def test_cli_version():
    rc, out, _ = run_cli(["--version"])
    assert rc == 0 and out.startswith("linkernel ")


def test_trace_csv_columns_follow_the_kernel_entry_not_the_position(tmp_path):
    """Overlaid T's: a T = 3 row leaves H_0_3 empty and puts H^{11} under H_1_1."""
    import csv
    rc, out, err = run_cli(["trace", "--T", "2,3", "--lam-range", "0.5:0.8", "--csv"])
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    small = [r for r in rows if r["T"] == "2"]
    big = [r for r in rows if r["T"] == "3"]
    assert small and big
    assert all(r["H_2_2"] == "" for r in small) and all(r["H_2_2"] != "" for r in big)
    from linkernel.theory.continuation import point_at, trace
    from linkernel.tasks import endpoint
    r = small[0]
    pt = point_at(trace(endpoint("rnn", T=2), (0.5, 0.8)), float(r["lam"]))
    assert float(r["H_1_1"]) == pytest.approx(pt.kernel[1, 1], rel=1e-8)
    assert float(r["H_0_1"]) == pytest.approx(pt.kernel[0, 1], abs=1e-10)


# --- the API contract ---------------------------------------------------------------------------
ALLOWED = (ValueError,)


def package_errors():
    from linkernel.errors import ConvergenceError
    return (ValueError, ConvergenceError)


def assert_api_contract(fn, *args, **kw):
    """fn returns, or raises ValueError / the package's numerical error; nothing else."""
    try:
        return fn(*args, **kw)
    except package_errors():
        return None


NONFINITE = [float("nan"), float("inf"), -float("inf")]
WRONG_TYPE = ["abc", None, [1, 2], {"a": 1}, 1j, object()]


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(["T", "w", "v", "u", "kappa", "lam", "supervised", "x", "yhat", "arch"]),
       value=st.one_of(st.sampled_from(NONFINITE + WRONG_TYPE + [0, -1, 1.7, 10 ** 400 if False else 1e308]),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                       st.lists(st.floats(), max_size=3)))
def test_problem_refuses_bad_fields_with_valueerror(field, value):
    from linkernel.problem import Problem
    good = dict(arch="rnn", T=3, x=np.array([[[1.0]], [[0.0]], [[0.0]]]), supervised=[(2, 0)],
                yhat=np.ones((3, 1)))
    good[field] = value
    try:
        pr = Problem(**good)
    except ValueError as e:
        assert field in str(e) or field == "x" and "x" in str(e) or "arch" in str(e) or "pattern" in str(e)
        return
    # accepted: then every field is what was meant
    assert all(math.isfinite(getattr(pr, k)) and getattr(pr, k) > 0 for k in ("w", "v", "u", "kappa"))
    assert math.isfinite(pr.lam)
    assert all(isinstance(t, int) for s in pr.supervised for t in s)


@pytest.mark.parametrize("call", [
    lambda: __import__("linkernel.tasks", fromlist=["x"]).sinusoid(supervised="01"),
    lambda: __import__("linkernel.tasks", fromlist=["x"]).teacher_outputs(5, period="abc"),
    lambda: __import__("linkernel.tasks", fromlist=["x"]).endpoint(P=2, labels="ab"),
    lambda: __import__("linkernel.problem", fromlist=["x"]).Problem(
        arch="rnn", T=3, x=np.zeros((3, 1, 1)) + 1j, supervised=[(2, 0)], yhat=np.ones((3, 1))),
    lambda: __import__("linkernel.problem", fromlist=["x"]).Problem(
        arch="rnn", T=3, x=np.ones((3, 1, 1)), supervised=[(1.7, 0)], yhat=np.ones((3, 1))),
    lambda: __import__("linkernel.problem", fromlist=["x"]).Problem.from_dict({"T": 3, "kapa": 1}),
    lambda: __import__("linkernel.problem", fromlist=["x"]).Problem.from_dict([1, 2]),
])
def test_api_bad_input_is_a_valueerror(call):
    with pytest.raises(ValueError):
        call()


def test_problem_round_trips_through_its_dict():
    from linkernel.problem import Problem
    from linkernel.tasks import endpoint
    pr = endpoint("dnn", T=3, P=2, D=3, labels=[1.0, -0.5], kappa=0.3, lam=1.5)
    back = Problem.from_dict(json.loads(json.dumps(pr.to_dict())))
    assert back.to_dict() == pr.to_dict()


# Keyword arguments of the public computations and values they must refuse (ValueError naming the
# keyword, before any work).  The problem is the smallest one with a transition (T = 3).
def _small():
    from linkernel.tasks import endpoint
    return endpoint("rnn", T=3, lam=1.0)


BAD_N = [0, -1, 1.5, float("nan"), "abc", None, 10 ** 400 if False else float("inf")]
BAD_POS = [0.0, -1.0, float("nan"), float("inf"), "abc", None]
BAD_TOL = [0.0, -1.0, float("nan"), float("inf"), "abc", 2.0]
BAD_RANGE = [(0.5,), (3.0, 1.0), (0.5, float("inf")), (float("nan"), 1.0), (-1.0, 2.0), "ab", 3.0, (0.5, 3, 0)]
API_KWARGS = [
    ("linkernel.theory.saddle:saddle_point", "n_starts", [v for v in BAD_N if v is not None]),   # None: the default
    ("linkernel.theory.saddle:saddle_point", "seed", [-1, 1.5, "abc", float("nan")]),
    ("linkernel.theory.saddle:saddle_point", "tol", BAD_TOL),
    ("linkernel.theory.continuation:trace", "lam_range", BAD_RANGE),
    ("linkernel.theory.continuation:trace", "ds", BAD_POS),
    ("linkernel.theory.continuation:trace", "ds_max", [v for v in BAD_POS if v is not None]),  # None: automatic
    ("linkernel.theory.continuation:trace", "max_steps", BAD_N),
    ("linkernel.theory.continuation:trace", "tol", BAD_TOL),
    ("linkernel.symbolic.critical:critical_point", "tol", BAD_TOL),
    ("linkernel.theory.landscape:landscape", "points", BAD_N),
    ("linkernel.theory.landscape:landscape", "m_max", [v for v in BAD_POS if v is not None]),
    ("linkernel.theory.exponent:critical_exponent", "digits", BAD_N),
    ("linkernel.theory.exponent:critical_exponent", "levels", BAD_N),
    ("linkernel.theory.exponent:critical_exponent", "m0", BAD_POS),
    ("linkernel.finite_n.exact:exact_posterior", "chains", BAD_N),
    ("linkernel.finite_n.exact:exact_posterior", "samples", BAD_N),
    ("linkernel.finite_n.exact:exact_posterior", "warmup", [-1, 1.5, "abc", float("nan")]),
    ("linkernel.finite_n.exact:exact_posterior", "seed", [-1, 1.5, "abc"]),
    ("linkernel.finite_n.network_sampler:sample_networks", "sweeps", BAD_N),
    ("linkernel.finite_n.network_sampler:sample_networks", "chains", BAD_N),
    ("linkernel.finite_n.network_sampler:sample_networks", "seed", [-1, 1.5, "abc"]),
    ("linkernel.finite_n.network_sampler:sample_networks", "block_rows", [0, -1, 1.5, "abc"]),
    ("linkernel.finite_n.network_sampler:sample_networks", "method", ["bogus", 3, ""]),
]
API_CASES = [(f, k, v) for f, k, vals in API_KWARGS for v in vals]
# the width N is positional for the finite-N computations
NEEDS_N = ("exact_posterior", "sample_networks")
EXTRA = {"landscape": {"lams": [1.0]}}


def _call(path, kwarg, value):
    import importlib
    mod, name = path.split(":")
    fn = getattr(importlib.import_module(mod), name)
    args = [_small()] + ([16] if name in NEEDS_N else [])
    return fn(*args, **{**EXTRA.get(name, {}), kwarg: value})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(API_CASES))
def test_api_refuses_bad_keywords_with_a_valueerror_naming_them(case):
    path, kwarg, value = case
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as exc:
        _call(path, kwarg, value)
    assert kwarg in str(exc.value), (path, kwarg, value, str(exc.value))
    assert time.perf_counter() - t0 < 10, "a refusal must come before the work"


@pytest.mark.parametrize("path", sorted({p for p, _, _ in API_KWARGS}))
def test_api_refuses_what_is_not_a_problem(path):
    import importlib
    mod, name = path.split(":")
    fn = getattr(importlib.import_module(mod), name)
    with pytest.raises(ValueError) as exc:
        fn("x", *([16] if name in NEEDS_N else []), **EXTRA.get(name, {}))
    assert "problem" in str(exc.value)


# --- the fuzzing campaign's findings, rerun (slow: several do real work) ----------------------------
# (argv, expected): "ok" exit 0 with nothing but package warnings on stderr; "warn" exit 0 with a warning
# line (a result flagged as unconverged or cut short); "refuse" exit 2 with one line naming the parameter.
REGRESSIONS = [
    (["trace", "--lam-range", "100:1000", "--json"], "ok"),
    (["trace", "--T", "3,4,5", "--csv"], "ok"),
    (["critical", "--kappa", "1e-8", "--json"], "ok"),
    (["critical", "--json", "--kappa", "1e4"], "ok"),
    (["critical", "--json", "--w", "1e-3"], "ok"),
    (["critical", "--kappa", "1e308"], "refuse:kappa"),
    (["critical", "--u", "1e-300"], "refuse:u"),
    (["critical", "--T", "40"], "refuse:T"),
    (["sample", "--sweeps", "40", "--method", "langevin", "--step", "0.01", "--N", "64", "--no-progress", "--json"],
     "warn"),
    (["exact", "--samples", "10", "--warmup", "0", "--json"], "warn"),
    (["exact", "--chains", "1", "--samples", "100", "--warmup", "100", "--json"], "warn"),
    (["sample", "--sweeps", "4", "--N", "32", "--no-progress", "--json"], "warn"),
    (["sample", "--T", "1", "--N", "32", "--sweeps", "20", "--no-progress", "--json"], "ok-or-warn"),
    (["sample", "--rows", "0"], "refuse:rows"),
    (["sample", "--method", "gibbs", "--step", "0.01", "--extrapolate", "0.2"], "refuse:gibbs"),
    (["sample", "--method", "langevin", "--step", "0.01", "--extrapolate", "1e308"], "refuse:extrapolate"),
    (["solve", "--w", "1e-300"], "refuse:w"),
    (["exponent", "--T", "2"], "refuse:transition"),
    (["exponent", "--T", "3", "--kappa", "5", "--json"], "ok"),
    (["exponent", "--kappa", "1e4", "--json"], "ok-or-refuse"),
    (["report", "--T", "2"], "refuse:T"),
    (["solve", "--T", "600"], "refuse:T*P"),
    (["solve", "--P", "300", "--json"], "refuse:T*P"),
    (["trace", "--P", "100"], "refuse:T*P"),
    (["exact", "--T", "8", "--P", "20"], "refuse:T*P"),
    (["solve", "--w", "1e300"], "refuse:w"),
    (["solve", "--u", "1e-300"], "refuse:u"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, expected", REGRESSIONS)
def test_fuzzing_findings_stay_fixed(argv, expected):
    rc, out, err = assert_cli_contract(argv)
    kind, _, name = expected.partition(":")
    if kind == "ok":
        assert rc == 0, err
    elif kind == "warn":
        assert rc == 0 and "warning" in err, err
    elif kind == "ok-or-warn":
        assert rc == 0, err
    elif kind == "refuse":
        assert rc == 2 and name in err, err
    else:  # ok-or-refuse: either a real answer or a refusal up front naming the parameter
        assert rc == 0 or (rc == 2 and (not name or name in err)), err

import json
import subprocess
import sys

import numpy as np
import pytest

from linkernel import saddle_point, tasks
from linkernel.cli import main


def test_solve_json_matches_library(capsys):
    assert main(["solve", "--arch", "rnn", "--T", "4", "--lam", "2", "--kappa", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"kernel", "action", "grad_norm", "hessian_eigenvalues", "predictions", "minima"}
    ref = saddle_point(tasks.endpoint("rnn", T=4, lam=2.0, kappa=0.1))
    np.testing.assert_allclose(out["kernel"], ref.kernel, rtol=1e-9)
    assert out["minima"][0]["action"] == pytest.approx(ref.action)
    assert all(set(m) >= {"kernel", "action", "grad_norm"} for m in out["minima"])


def test_solve_table(capsys):
    assert main(["solve", "--arch", "dnn", "--T", "3", "--lam", "1"]) == 0
    out = capsys.readouterr().out
    assert "order parameter m" in out and "kernel H" in out


@pytest.mark.parametrize("args", [
    ["--T", "0"], ["--kappa", "0"], ["--kappa", "-1"], ["--w", "-1"], ["--v", "-0.5"], ["--u", "-2"],
    ["--arch", "cnn"], ["--P", "0"], ["--starts", "0"],
])
def test_bad_input_one_line_exit_2(args, capsys):
    try:                      # refused by argparse (SystemExit) or by the library (return value)
        rc = main(["solve", *args])
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    # the one format: the subcommand, then the option and the value as typed
    assert err.count("\n") == 1 and err.startswith(f"linkernel solve: error: {args[0]} {args[1]}: ")


def test_unparsable_argument_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["solve", "--T", "abc"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--T" in err


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "linkernel", "solve", "--T", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and not r.stdout
    assert r.stderr.startswith("linkernel solve: error: --T 0: ") and "integer >= 1" in r.stderr


# --- one vocabulary: --arch patterns, --lam / --lam-range / --lams, sample / --sweeps ------------
PATTERN = '{"W": [[1, 2], [3]]}'


def test_solve_prints_the_summary(capsys):
    assert main(["solve", "--arch", "dnn", "--T", "3", "--lam", "1"]) == 0
    out = capsys.readouterr().out
    sp = saddle_point(tasks.endpoint("dnn", T=3, lam=1.0))
    assert out.splitlines()[:3] == sp.summary().splitlines()[:3]


def test_arch_pattern_as_json(capsys):
    assert main(["solve", "--arch", PATTERN, "--T", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["problem"]["architecture"]["W"] == [[1, 2], [3]]
    assert d["problem"]["architecture"]["U"] == [[0, 1, 2, 3]]     # omitted U: one shared U
    assert main(["solve", "--arch", PATTERN, "--T", "4"]) == 0
    assert capsys.readouterr().out.startswith('{"W":[[1,2],[3]],"U":[[0,1,2,3]]} endpoint task: T=4')


@pytest.mark.parametrize("argv", [
    ["solve", "--arch", '{"W": [[1, 2], [4]]}', "--T", "4"],    # does not partition 1..3
    ["solve", "--arch", '{"W": [[1, 2], [3]]', "--T", "4"],     # not JSON
    ["solve", "--arch", '{"V": [[1, 2, 3]]}', "--T", "4"],      # no W
    ["trace", "--arch", '{"W": [[1, 2]]}', "--T", "3,4"],       # fits T = 3, not T = 4: caught before work
    ["trace", "--arch", "rnn,cnn"],
    ["landscape", "--arch", "cnn"],
])
def test_bad_pattern_one_line_exit_2(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and not captured.out


def test_lam_vocabulary(capsys):
    # trace takes a range: --lam (one value) is refused with a pointer to --lam-range
    with pytest.raises(SystemExit) as exc:
        main(["trace", "--lam", "2.5:3.2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lam-range" in err
    # no abbreviations: --lam is not silently --lams
    with pytest.raises(SystemExit):
        main(["exponent", "--lam", "2"])
    capsys.readouterr()
    # landscape: one value (--lam) or a list (--lams), not both
    assert main(["landscape", "--T", "3", "--lam", "2.5", "--points", "5", "--m-max", "1", "--json"]) == 0
    assert [c["lam"] for c in json.loads(capsys.readouterr().out)["curves"]] == [2.5]
    with pytest.raises(SystemExit):
        main(["landscape", "--lam", "2.5", "--lams", "1,2"])


def test_sample_is_the_subcommand_sgld_its_alias(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "sample" in out and "alias: sgld" in out
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    out = capsys.readouterr().out
    assert "--sweeps" in out and "--steps" not in out        # --steps: hidden alias


def test_output_paths_checked_before_work(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "fig.png"
    for argv in (["trace", "--plot", str(missing)], ["landscape", "--plot", str(missing)],
                 ["sequence", "--plot", str(missing)], ["trace", "--plot", str(tmp_path)],
                 ["trace", "--plot", str(tmp_path / "fig.xyz")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--plot" in err
    f = tmp_path / "file"
    f.write_text("")
    for argv in (["report", "--out", str(f)], ["derive", "--out", str(f / "sub")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--out" in err

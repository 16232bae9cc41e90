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
    assert all(set(m) == {"kernel", "action"} for m in out["minima"])


def test_solve_table(capsys):
    assert main(["solve", "--arch", "dnn", "--T", "3", "--lam", "1"]) == 0
    out = capsys.readouterr().out
    assert "order parameter m" in out and "kernel H" in out


@pytest.mark.parametrize("args,param", [
    (["--T", "0"], "T="), (["--kappa", "0"], "kappa="), (["--kappa", "-1"], "kappa="),
    (["--w", "-1"], "w="), (["--v", "-0.5"], "v="), (["--u", "-2"], "u="), (["--arch", "cnn"], "arch="),
    (["--P", "0"], "P="), (["--starts", "0"], "n_starts="),
])
def test_bad_input_one_line_exit_2(args, param, capsys):
    assert main(["solve", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and param in err


def test_unparsable_argument_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["solve", "--T", "abc"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--T" in err


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "linkernel", "solve", "--T", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "T=0" in r.stderr and not r.stdout

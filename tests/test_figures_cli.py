"""The paper's figures from the command line, quick versions (what CI runs; the full ones by hand).

Each must exit 0 and write its PNG, PDF and JSON (strict); for Fig. 3 the theory panels are
recomputed here with the library (saddle point, lambda_c) and compared with the JSON.
"""

import json

import pytest

from linkernel.cli import main


@pytest.mark.parametrize("number", [2, 3, 4, 5])
def test_figure_quick_writes_png_pdf_and_strict_json(number, tmp_path, capsys):
    assert main(["figure", str(number), "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"fig{number}" in out
    for suffix in ("png", "pdf", "json"):
        f = tmp_path / f"fig{number}.{suffix}"
        assert f.exists() and f.stat().st_size > 1000, f

    def refuse(const):
        raise ValueError(const)
    data = json.loads((tmp_path / f"fig{number}.json").read_text(), parse_constant=refuse)
    assert data
    if number == 3:  # quick Fig. 3: endpoint task, P = 2, T = 4 (its title says so)
        import numpy as np

        from linkernel import critical_lambda, saddle_point, tasks
        assert "P = 2" in data["title"] and "T = 4" in data["title"]
        assert data["lambda_c"] == pytest.approx(critical_lambda(tasks.endpoint("rnn", T=4, P=2)), rel=1e-8)
        for key in ("e", "c"):          # the strong-signal cells: RNN (e) and DNN (c)
            panel = data["panels"][key]
            sp = saddle_point(tasks.endpoint(panel["arch"], T=4, P=2, lam=panel["lam"]))
            np.testing.assert_allclose(panel["kernel_theory"], sp.kernel, rtol=1e-6, atol=1e-8)


def test_figure_number_is_checked(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["figure", "7", "--quick"])
    assert exc.value.code == 2
    assert "number" in capsys.readouterr().err

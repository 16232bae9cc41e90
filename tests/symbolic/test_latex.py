"""The derivation documents: current with the code, compilable by a real LaTeX engine, and saying the right things."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from linkernel import tasks
from linkernel.cli import main
from linkernel.symbolic.critical import critical_point
from linkernel.symbolic.latex import STANDARD_SET, derivation_document, filename, write_standard_set

ROOT = Path(__file__).resolve().parents[2]
DERIVATIONS = ROOT / "derivations"


def pdflatex_or_skip():
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("pdflatex is missing in CI: .ci/run must install texlive-latex-base")
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base)")
    return exe


def compile_tex(exe, tex: Path, workdir: Path) -> subprocess.CompletedProcess:
    shutil.copy(tex, workdir / tex.name)
    return subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=workdir,
                          capture_output=True, text=True, timeout=120)


def test_committed_derivations_are_current(tmp_path):
    """A fresh `linkernel derive --all` reproduces every committed .tex byte for byte."""
    write_standard_set(tmp_path)
    for arch, T, P in STANDARD_SET:
        name = filename(arch, T, P)
        assert (DERIVATIONS / name).exists(), f"derivations/{name} missing: run python derivations/generate.py"
        assert (tmp_path / name).read_text() == (DERIVATIONS / name).read_text(), \
            f"derivations/{name} is stale: run python derivations/generate.py"


@pytest.mark.parametrize("name", sorted(p.name for p in DERIVATIONS.glob("*.tex")))
def test_derivation_compiles_with_pdflatex(name, tmp_path):
    """Every document in derivations/, generated (the standard set) or written by hand (the exact and span
    reductions, the 1/N theory, Landau for general T, the weight spectrum)."""
    exe = pdflatex_or_skip()
    res = compile_tex(exe, DERIVATIONS / name, tmp_path)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / name.replace(".tex", ".pdf")).stat().st_size > 1000
    assert "Undefined control sequence" not in res.stdout


def test_broken_latex_fails_to_compile(tmp_path):
    """The compile check can fail: an undefined macro stops pdflatex."""
    exe = pdflatex_or_skip()
    bad = tmp_path / "src" / "bad.tex"
    bad.parent.mkdir()
    bad.write_text(derivation_document("dnn", 2).replace(r"\section{The action}", r"\section{The action}\nosuchmacro"))
    (tmp_path / "out").mkdir()
    assert compile_tex(exe, bad, tmp_path / "out").returncode != 0


def test_document_states_the_derived_results():
    doc = (DERIVATIONS / filename("rnn", 4, 1)).read_text()
    cp = critical_point(tasks.endpoint("rnn", T=4))
    assert cp.latex.split("= ", 1)[1] in doc                     # lambda_c in closed form
    for s in (r"\section{The symmetric branch}", r"\section{The Hessian on the branch}",
              r"\section{The critical point}", r"\section{Landau theory}", r"\beta = 1/2", r"\beta = 1/4"):
        assert s in doc
    assert r"r_{c} = \frac{3}{2}" in doc or r"r_c = \frac{3}{2}" in doc
    dnn = (DERIVATIONS / filename("dnn", 4, 1)).read_text()
    assert r"\section{No transition in the DNN}" in dnn and "Landau" not in dnn
    assert "no tricritical point" in (DERIVATIONS / filename("rnn", 5, 1)).read_text()


def test_cli_derive_writes_the_document(tmp_path, capsys):
    assert main(["derive", "--arch", "dnn", "--T", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "dnn_T3_P1.tex").read_text() == derivation_document("dnn", 3, 1)
    assert main(["derive", "--arch", "cnn", "--T", "3", "--out", str(tmp_path)]) == 2


def test_two_pattern_document_compiles(tmp_path):
    """P = 2 (not in the committed set): the document is written and compiles."""
    exe = pdflatex_or_skip()
    src = tmp_path / "src"
    src.mkdir()
    tex = src / filename("rnn", 3, 2)
    tex.write_text(derivation_document("rnn", 3, 2))
    assert r"\sqrt{2}" in tex.read_text() and "label sector" in tex.read_text()
    assert compile_tex(exe, tex, tmp_path).returncode == 0

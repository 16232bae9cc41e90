"""The package surface: a lazy ``import linkernel``, a curated ``__all__``, no public name shadowing a module."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import linkernel

HEAVY = ("sympy", "scipy", "matplotlib", "linkernel.theory", "linkernel.symbolic", "linkernel.finite_n")


@pytest.mark.parametrize("code", ["import linkernel", "import linkernel.cli; linkernel.cli.build_parser()"])
def test_start_up_imports_no_heavy_module(code):
    """``import linkernel`` and building the CLI's parser (what ``--help`` does) load no SciPy, SymPy,
    matplotlib or theory: the computing modules load inside the subcommand that needs them."""
    probe = f"{code}; import sys; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", out


def test_every_public_name_resolves_and_none_is_a_module():
    for name in linkernel.__all__:
        value = getattr(linkernel, name)
        assert value is not None, name
        if name != "__version__":
            assert importlib.util.find_spec(f"linkernel.{name}") is None, f"linkernel.{name} shadows a module"
    assert set(linkernel.__all__) <= set(dir(linkernel))


def test_modules_stay_modules():
    import linkernel.sweep as m
    assert m.__name__ == "linkernel.sweep" and callable(m.sweep)
    assert linkernel.tasks.__name__ == "linkernel.tasks"


def test_legacy_aliases_are_gone():
    for name in ("run_sgld", "SGLDResult", "sample_posterior", "SGLDDivergence"):
        assert not hasattr(linkernel, name), name
    with pytest.raises(AttributeError):
        linkernel.no_such_name


def test_version():
    tomllib = pytest.importorskip("tomllib")    # Python >= 3.11
    from pathlib import Path
    root = Path(linkernel.__file__).parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert linkernel.__version__ == pyproject["project"]["version"] == "0.3.2"
    # the citation, the changelog's newest release and the package agree on the version
    cff = (root / "CITATION.cff").read_text()
    assert f"\nversion: {linkernel.__version__}\n" in cff
    newest = next(line for line in (root / "CHANGELOG.md").read_text().splitlines() if line.startswith("## "))
    assert newest.startswith(f"## {linkernel.__version__}")

"""The documentation site: it builds from the repository with warnings as errors, every public name
has its API page, the tutorials are executed, the gallery shows the committed figures.

One Sphinx build (``python -m sphinx -W --keep-going -b html docs OUT``, which also executes the
tutorial notebooks) is shared by the tests of this module.  Without the ``docs`` extra the build
tests are skipped, except under CI (``CI`` set), where they fail: CI installs ``.[test]``, which
includes it.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import linkernel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = ("transition", "own_task", "finite_width")
DOCS_MODULES = ("sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme", "ipykernel", "jupytext")
BUILD_TIMEOUT = 900     # seconds; the build takes about a minute on 2 busy cores


def _conf():
    """docs/conf.py as a module (importing it has no side effect; the stubs are written at build)."""
    spec = importlib.util.spec_from_file_location("linkernel_docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public_names() -> list[str]:
    return [name for name in linkernel.__all__ if name != "__version__"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = [m for m in DOCS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        message = f"the docs extra is not installed (missing {', '.join(missing)}): pip install -e '.[docs]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("site")
    out = work / "html"   # MyST-NB writes its executed notebooks beside it, in work/
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(work / "doctrees"), str(DOCS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    # the kernels' own start-up notices are not build warnings: left out of the message
    log = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("[IPKernelApp]"))
    assert proc.returncode == 0, f"sphinx exit status {proc.returncode}:\n{log[-6000:]}"
    return out


def _text(path: Path) -> str:
    assert path.is_file(), f"{path} was not built"
    return path.read_text(encoding="utf-8")


def test_public_groups_list_every_public_name_once():
    groups = _conf().public_groups()
    names = [name for _, names in groups for name in names]
    assert sorted(names) == sorted(_public_names())
    assert len(names) == len(set(names))
    # the groups are the comments of _PUBLIC: the errors first, each name under its module's comment
    titles = [title for title, _ in groups]
    assert titles[0].lower().startswith("errors") and "Other" not in titles
    first = dict(groups)
    assert set(first[titles[0]]) == {n for n in names if linkernel._PUBLIC[n] == "linkernel.errors"}


def test_front_page_example_prints_what_it_shows():
    # the doctest block of docs/index.md, run as a doctest: its printed lambda_c and m must match
    import doctest
    text = (DOCS / "index.md").read_text()
    blocks = re.findall(r"```python\n(>>> .*?)```", text, re.S)
    assert blocks, "docs/index.md has no doctest example"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for k, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"docs/index.md[{k}]", "docs/index.md", 0))
    result = runner.summarize(verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_site_has_an_api_page_for_every_public_name(site):
    index = _text(site / "api" / "index.html")
    for name in _public_names():
        page = _text(site / "api" / "generated" / f"linkernel.{name}.html")
        # the autodoc signature's anchor: the object itself was documented, not only a title
        assert f'id="linkernel.{name}"' in page, f"linkernel.{name}: no documented object on its page"
        assert f"generated/linkernel.{name}.html" in index, f"linkernel.{name} is not listed in api/index"
    # one section per group of linkernel/__init__.py, in its order
    positions = [index.find(html.escape(title)) for title, _ in _conf().public_groups()]
    assert -1 not in positions and positions == sorted(positions)


def test_tutorials_are_executed_with_outputs_and_plots(site):
    listing = _text(site / "tutorials" / "index.html")
    for name in TUTORIALS:
        assert f'href="{name}.html"' in listing
        page = _text(site / "tutorials" / f"{name}.html")
        assert page.count('class="cell_output') >= 3, f"{name}: too few executed outputs"
        images = re.findall(r'<img[^>]+src="\.\./(_images/[^"]+\.png)"', page)
        assert images, f"{name}: no plot"
        for image in images:
            assert (site / image).stat().st_size > 5000, f"{name}: {image} is empty"
        assert "Traceback" not in page


def test_transition_tutorial_prints_the_closed_form_lambda_c(site):
    # lambda_c of the RNN endpoint task at T = 4, kappa = 0.1, w = v = u = 1, from the closed form
    # lambda_c = (v h_c + kappa) / sqrt((T-2) v h_c), h_c = u w^(T-1) r_c^T, r_c = (T-1)/(T-2)
    T, kappa = 4, 0.1
    r_c = (T - 1) / (T - 2)
    h_c = r_c ** T
    lambda_c = (h_c + kappa) / ((T - 2) * h_c) ** 0.5
    page = _text(site / "tutorials" / "transition.html")
    assert f"closed form   {lambda_c:.12f}" in page
    assert "transition second order" in page and "transition first order" in page


def test_gallery_shows_every_committed_figure(site):
    page = _text(site / "gallery.html")
    figures = ROOT / "examples" / "figures"
    shown = 0
    for n in (2, 3, 4, 5):
        exists = (figures / f"fig{n}.png").exists()
        assert (f'src="_images/fig{n}.png"' in page) == exists, f"fig{n}.png: exists={exists}"
        assert (f"linkernel figure {n} --N" in page) == exists
        shown += exists
    assert shown >= 2


def test_changelog_and_front_page(site):
    changelog = _text(site / "changelog.html")
    first_release = next(line for line in (ROOT / "CHANGELOG.md").read_text().splitlines()
                         if line.startswith("## "))
    assert html.escape(first_release[3:].strip()) in changelog
    front = _text(site / "index.html")
    for page in ("getting_started", "guide/index", "tutorials/index", "gallery", "api/index", "changelog"):
        assert f'href="{page}.html"' in front, f"{page} is not linked from the front page"
    assert linkernel.__version__ in front

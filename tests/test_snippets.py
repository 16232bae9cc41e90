"""Every snippet of README.md, docs/getting_started.md and docs/guide/*.md runs and prints what it shows.

The parser and the runner are docs/regenerate.py's (one home): a ```console block's commands run in a
fresh temporary folder, a page's ```python blocks in order in one namespace. Every number printed is
compared with the number shown to its printed precision (one unit in the last place; see
``regenerate.compare``); a block annotated ``<!-- snippet: rtol=X atol=Y -->`` to that tolerance (the
network sampler, whose seeded chain depends on the BLAS build's rounding, and two special points printed
beyond their solver's tolerance; each page says why). Timings are not compared.
Blocks annotated ``<!-- snippet: slow -->`` (commands over about 10 s) run under ``pytest -m slow``.

After a change that moves an output: ``python docs/regenerate.py`` (and review the diff).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("linkernel_docs_regenerate", ROOT / "docs" / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = regenerate   # dataclasses look their module up there
_spec.loader.exec_module(regenerate)

PAGES = regenerate.pages()
GUIDE = ("index", "conventions", "saddle_points", "continuation", "closed_forms", "finite_width",
         "networks", "sweeps", "figures", "your_data", "command_line")


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _console_blocks():
    for page in PAGES:
        for block in regenerate.parse(page):
            if block.kind == "console":
                yield pytest.param(block, id=block.name, marks=[pytest.mark.slow] if block.slow else [])


def _python_pages():
    for page in PAGES:
        blocks = [b for b in regenerate.parse(page) if b.kind == "python"]
        if blocks:
            slow = any(b.slow for b in blocks)
            yield pytest.param(blocks, id=_name(page), marks=[pytest.mark.slow] if slow else [])


def _check(block, results) -> list[str]:
    problems = []
    for command, outcome in zip(block.commands, results):
        if regenerate.unexpected_failure(command, outcome):
            problems.append(f"{block.name}: {command.source.splitlines()[0]}\n  failed:\n{outcome.output}")
            continue
        for problem in regenerate.compare(command.shown, outcome.output, block.rtol, block.atol):
            problems.append(f"{block.name}: {command.source.splitlines()[0]}\n  {problem}")
    return problems


@pytest.mark.parametrize("block", list(_console_blocks()))
def test_console_snippet_prints_what_it_shows(block):
    problems = _check(block, regenerate.run_console(block))
    assert not problems, "\n".join(problems) + "\n(python docs/regenerate.py rewrites the outputs)"


@pytest.mark.parametrize("blocks", list(_python_pages()))
def test_python_snippets_print_what_they_show(blocks):
    problems = []
    for block, results in zip(blocks, regenerate.run_python(blocks)):
        problems += _check(block, results)
    assert not problems, "\n".join(problems) + "\n(python docs/regenerate.py rewrites the outputs)"


def test_the_pages_are_all_there():
    names = {_name(p) for p in PAGES}
    expected = {"README.md", "docs/getting_started.md"} | {f"docs/guide/{g}.md" for g in GUIDE}
    assert expected <= names, f"missing: {sorted(expected - names)}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_parser_finds_every_snippet(page):
    # an independent count of opening fences (any indentation, fence length, braces): a snippet the
    # parser does not take (indented in a list, ~~~, {python}) would silently never run
    blocks = regenerate.parse(page)
    assert regenerate.count_fences(page) == len(blocks)
    counts = (sum(b.kind == "console" for b in blocks), sum(b.kind == "python" for b in blocks))
    # every page but the guide's index shows at least one snippet, and every block at least one command
    if page.name != "index.md":
        assert sum(counts) >= 1, f"{_name(page)}: no snippet found"
    for block in blocks:
        assert block.commands and all(c.source.strip() for c in block.commands), block.name


def test_the_parser_counts_on_a_known_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```console\n$ echo 1\n1\n$ echo a \\\n  b\na b\n```\n\n"
                    "<!-- snippet: slow rtol=0.1 -->\n```python\n>>> x = 2\n>>> for i in range(2):\n"
                    "...     print(i * x)\n0\n2\n```\n\n  ```python\n>>> 1\n1\n  ```\n")
    blocks = regenerate.parse(page)
    assert [b.kind for b in blocks] == ["console", "python"]
    assert [c.source for c in blocks[0].commands] == ["echo 1", "echo a \\\n  b"]
    assert [c.shown for c in blocks[0].commands] == ["1", "a b"]
    assert blocks[1].slow and blocks[1].rtol == 0.1 and not blocks[0].slow
    assert [c.shown for c in blocks[1].commands] == ["", "0\n2"]
    # the indented block is not parsed, and the independent count says so
    assert regenerate.count_fences(page) == 3


def test_compare_to_the_printed_precision():
    assert regenerate.compare("m = 3.2335  S = 0.55", "m = 3.23354  S = 0.55") == []
    assert regenerate.compare("m = 3.2335", "m = 3.2337")              # two units in the last place
    assert regenerate.compare("ESS 4777", "ESS 4778")                   # integers are exact
    assert regenerate.compare("m = 3.2335", "m = 3.2335 (broken)")      # the text counts too
    assert regenerate.compare("x = 1.5e-03", "x = 1.7e-03")             # two units again
    assert regenerate.compare("x = 1.5e-03", "x = 1.51e-03") == []
    # timings are never compared; rounding-level numbers agree when both are below 1e-12
    assert regenerate.compare("done (0.8 s, 12 ms/sweep)", "done (14.2 s, 3 ms/sweep)") == []
    assert regenerate.compare("residual 9.2e-16", "residual 3.1e-15") == []
    assert regenerate.compare("residual 9.2e-16", "residual 3.1e-10")
    # a relative tolerance, where a block declares one
    assert regenerate.compare("m = 8.4544", "m = 8.4753", rtol=0.01) == []
    assert regenerate.compare("m = 8.4544", "m = 9.4753", rtol=0.01)
    assert regenerate.compare("gap 0.0030", "gap 0.0013", rtol=0.2, atol=0.005) == []
    assert regenerate.compare("gap 0.0030", "gap 0.0130", rtol=0.2, atol=0.005)


def test_a_failure_is_expected_only_where_the_page_shows_one():
    Command, Outcome = regenerate.Command, regenerate.Outcome
    error = Outcome("linkernel solve: error: --T 0", 0.1, True)
    assert regenerate.unexpected_failure(Command("linkernel solve --T 0", ""), error)
    assert not regenerate.unexpected_failure(Command("linkernel solve", ""), Outcome("m = 1", 0.1, False))
    assert not regenerate.unexpected_failure(Command("linkernel solve --T 0", "solve: error: T"), error)
    # a console pipeline fails when any command of it fails (pipefail), not only the last
    block = regenerate.Block(ROOT / "README.md", "console", 0, 0,
                             [Command("false | sed -n 1p", ""), Command("true | cat", "")])
    assert [o.failed for o in regenerate.run_console(block)] == [True, False]


def test_terminal_view_of_a_progress_bar():
    assert regenerate._terminal(" 10%|#  |\r 90%|###|\r          \rkernel H\nm = 1\n\n") == "kernel H\nm = 1"
    # the plain progress lines of a run whose stderr is not a terminal are dropped, nothing else
    lines = ["linkernel sample: gibbs N=512: 120/400 sweeps, 41 s, about 96 s left",
             "linkernel exact: hmc: 3 chains, 2.5 min, still working",
             "linkernel figure: 7/18 runs, 12 s, about 1.2 h left  R-hat 1.02",
             "computed 3, loaded from cache 0, 3.1 s",
             "m = 8.4544 +- 0.026   tau = 1.1 sweeps (m: 0.959)   ESS = 1162",
             "minima found: 1 (from 1 starts, 0.04 s; trust-region Newton-CG, 17 Newton steps)"]
    assert regenerate._terminal("\n".join(lines)).split("\n") == lines[3:]


#: a duration in the prose ("took 12 s", "in 3.5 min"), which must carry a timing marker
_DURATION = re.compile(r"(?<![\w.^-])\d+(?:\.\d+)?\s?(?:s|ms|min|minutes|seconds|h)\b")
_FENCED = re.compile(r"^(```|~~~).*?^\1\s*$", re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_timing_in_the_prose_is_regenerated(page):
    text = _FENCED.sub("", page.read_text())
    text = re.sub(r"^    .*$", "", text, flags=re.M)            # indented code
    text = regenerate.TIMING.sub("", text)                      # the marked timings themselves
    text = re.sub(r"`[^`]*`", "", text)                         # inline code (--max-minutes M, ...)
    stale = [m.group() for m in _DURATION.finditer(text)]
    assert not stale, f"{_name(page)}: durations without a timing marker: {stale}"
    # a line of prose starting with a marker would be read as raw HTML (CommonMark): its text unrendered
    starts = re.findall(r"^[ \t]*<!-- (?:timing|regenerated).*$", page.read_text(), flags=re.M)
    assert not starts, f"{_name(page)}: a marker starts a line: {starts}"
    if regenerate.TIMING.search(page.read_text()) or regenerate.parse(page):
        assert regenerate.STAMP.search(page.read_text()), f"{_name(page)}: no <!-- regenerated --> line"


_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_work_where_the_page_is_read(page):
    # README.md is also the package index's description: only absolute URLs work there. The docs pages
    # link to each other relatively (Sphinx resolves those) and to anything else by absolute URL.
    text = _FENCED.sub("", page.read_text())
    for target in _LINK.findall(text):
        if target.startswith(("https://", "http://")):
            continue
        assert page.name != "README.md", f"README.md: relative link {target!r}"
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.suffix == ".md" and path.is_file(), f"{_name(page)}: link {target!r} is no docs page"
        assert (ROOT / "docs") in path.parents, f"{_name(page)}: link {target!r} leaves docs/"

"""Sphinx configuration of the linkernel documentation site.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

* Pages are MyST Markdown (``myst_nb`` brings ``myst_parser``).  A ``.md`` file whose front matter
  carries a Jupytext ``text_representation`` (format ``myst``) and a ``kernelspec`` is read as a
  notebook and executed at every build (``docs/tutorials/``); every other ``.md`` is a plain page.
* The API reference (``docs/api/index.md``) is generated from :data:`linkernel._PUBLIC`: the marker
  line ``<!-- public-api -->`` becomes one section per group of ``linkernel/__init__.py`` (the
  ``# ...`` comments inside ``_PUBLIC``), each an autosummary table; one stub page per public
  name is written to ``docs/api/generated/`` (ignored by git) when the builder starts, before
  Sphinx looks for source files.
  A name added to ``_PUBLIC`` therefore appears without editing the documentation.
* Nothing is fetched from the network at build time: no intersphinx, no remote images or icons.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# the package from this checkout, whether or not it is installed (editable installs resolve the same)
sys.path.insert(0, str(ROOT))

import linkernel  # noqa: E402

project = "linkernel"
author = "the linkernel authors"
copyright = "2026, the linkernel authors"
version = release = linkernel.__version__

extensions = [
    "myst_nb",                    # MyST Markdown pages and Jupytext MyST notebooks (executed)
    "numpydoc",                   # numpydoc docstrings (Parameters, Returns, ...)
    "sphinx.ext.autodoc",         # numpydoc and autosummary need it; listed so the order is explicit
    "sphinx.ext.autosummary",     # the tables of the API reference
    "sphinx.ext.mathjax",         # $...$ in pages and docstrings (MathJax is loaded by the browser)
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
html_static_path = ["_static"]     # holds linkernel.css, so the folder exists in a fresh checkout
html_css_files = ["linkernel.css"]

# -- MyST and MyST-NB -------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
# Every tutorial runs at every build, so a notebook whose code no longer matches the package fails it.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True          # the traceback of a failing cell goes to the build log
nb_merge_streams = True              # one output block per cell for stdout, not one per print call

# -- autodoc, autosummary, numpydoc ---------------------------------------------------------------
autosummary_generate = False         # the stubs are written below, from linkernel._PUBLIC
autodoc_typehints = "none"           # numpydoc's Parameters section states the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the dataclasses' fields are in their Attributes sections
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()
numpydoc_xref_param_type = False

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"linkernel {release}"
html_theme_options = {
    "icon_links": [],                # no external icons (nothing fetched, nothing to go stale)
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "gallery": []}
html_show_sourcelink = False


# -- The API reference, generated from linkernel._PUBLIC -------------------------------------------
API_MARKER = "<!-- public-api -->"
GENERATED = DOCS / "api" / "generated"


def public_groups() -> list[tuple[str, list[str]]]:
    """The groups of ``linkernel._PUBLIC`` as ``linkernel/__init__.py`` writes them.

    Returns
    -------
    list of (str, list of str)
        ``(title, names)`` in source order; ``title`` is the ``# ...`` comment that opens the group
        inside ``_PUBLIC``.  A public name that the parse misses lands in a last group, "Other", so
        every name of ``linkernel.__all__`` (but ``__version__``) is listed exactly once.
    """
    source = (ROOT / "linkernel" / "__init__.py").read_text()
    public = set(linkernel._PUBLIC)
    groups: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    inside = False
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if not inside:
            inside = tok.type == tokenize.NAME and tok.string == "_PUBLIC"
            continue
        if tok.type == tokenize.OP and tok.string in "{([":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in "})]":
            depth -= 1
            if depth == 0:
                break
        elif tok.type == tokenize.COMMENT and depth == 1:
            title = tok.string.lstrip("# ").strip()
            groups.append((title[:1].upper() + title[1:], []))
        elif tok.type == tokenize.STRING and groups:
            name = tok.string.strip("\"'")
            if name in public and name not in seen:
                groups[-1][1].append(name)
                seen.add(name)
    missing = sorted(public - seen)
    if missing:
        groups.append(("Other", missing))
    return [(title, names) for title, names in groups if names]


def _stub(name: str) -> str:
    """The reStructuredText page of one public name: its autodoc directive under its public path."""
    obj = getattr(linkernel, name)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        body = f".. autoexception:: {name}\n   :show-inheritance:\n"
    elif isinstance(obj, type):
        # methods with docstrings (summary, to_dict, plot, ...); the fields are the Attributes section
        body = f".. autoclass:: {name}\n   :members:\n   :exclude-members: __init__, __new__\n"
    else:
        body = f".. autofunction:: {name}\n"
    title = f"linkernel.{name}"
    return f"{title}\n{'=' * len(title)}\n\n.. currentmodule:: linkernel\n\n{body}"


def write_api_stubs() -> None:
    """Write ``api/generated/linkernel.<name>.rst`` for every public name; remove stale ones.

    A file is rewritten only when its text changes, so an incremental build re-reads only what changed.
    """
    GENERATED.mkdir(parents=True, exist_ok=True)
    wanted = {f"linkernel.{name}.rst": _stub(name) for name in linkernel._PUBLIC}
    for path in GENERATED.glob("linkernel.*.rst"):
        if path.name not in wanted:
            path.unlink()
    for fname, text in wanted.items():
        path = GENERATED / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def api_listing() -> str:
    """The MyST text that replaces :data:`API_MARKER`: a section and an autosummary table per group."""
    # reStructuredText inside eval-rst: autosummary's table cells are rST roles, which a MyST
    # autosummary directive would print verbatim
    parts = []
    for title, names in public_groups():
        entries = "".join(f"   {name}\n" for name in names)
        parts.append(f"## {title}\n\n```{{eval-rst}}\n.. autosummary::\n   :toctree: generated\n"
                     f"   :nosignatures:\n\n{entries}```\n")
    return "```{currentmodule} linkernel\n```\n\n" + "\n".join(parts)


def _expand_api_marker(app, docname, source):
    if docname == "api/index" and API_MARKER in source[0]:
        source[0] = source[0].replace(API_MARKER, api_listing())


#: ``<!-- if-exists: PATH -->`` ... ``<!-- end if-exists -->``: kept only where PATH (relative to the
#: page) exists, so the gallery shows the figures that have been made (fig3/fig5 appear once committed)
IF_EXISTS = re.compile(r"<!-- if-exists: (?P<path>\S+) -->\n(?P<body>.*?)<!-- end if-exists -->\n?", re.S)


def _drop_missing_figures(app, docname, source):
    if "<!-- if-exists:" not in source[0]:
        return
    folder = (DOCS / docname).parent
    source[0] = IF_EXISTS.sub(lambda m: m["body"] if (folder / m["path"]).exists() else "", source[0])


def _always_reread_generated(app, env, added, changed, removed):
    # the API listing depends on linkernel/__init__.py and the gallery on examples/figures/, not on
    # their own source files alone
    return [doc for doc in ("api/index", "gallery") if doc in env.found_docs]


def _write_api_stubs(app):
    write_api_stubs()


def setup(app):
    # builder-inited comes before Sphinx looks for source files, so the stubs are found as pages
    app.connect("builder-inited", _write_api_stubs)
    app.connect("source-read", _expand_api_marker)
    app.connect("source-read", _drop_missing_figures)
    app.connect("env-get-outdated", _always_reread_generated)
    return {"parallel_read_safe": True}

"""Results that display themselves: a compact ``repr``, an HTML table for Jupyter, the axes of ``plot()``.

Every result class of the package derives from :class:`Display`.  It gives

* ``__repr__``: the class name and one line per key number (``name: value``); arrays appear by
  their shape ("36 x 36 array"), never their entries, so a Trace or an ExactResult prints in a few
  hundred characters instead of ten thousand;
* ``_repr_html_``: the same rows as a small HTML table (what Jupyter shows for a result that is
  the last expression of a cell), every text escaped with :func:`html.escape`.

The rows come from the class's ``_display_rows()`` (a list of ``(name, value)`` pairs: the
numbers a user judges the result by, its flags and warnings), or, where a class does not define
it, from its dataclass fields (those with ``repr=True``).  Values are written by :func:`describe`.

The axes helpers (:func:`axes`, :func:`segments`, :func:`kernel_image`) are what the results'
``plot()`` methods share; matplotlib is imported inside them, so ``import linkernel`` stays free
of it.  This module is layer 0 (``tests/test_layers.py``): it imports nothing of the package
but :mod:`linkernel.formatting`, so every layer can use it.
"""

from __future__ import annotations

import dataclasses
import html
import math
from numbers import Integral, Real

import numpy as np

#: the longest text a row shows (longer texts, e.g. a note or a closed form, are cut with "...")
MAX_TEXT = 160
#: the most rows a display shows (a result with more says how many were left out)
MAX_ROWS = 40
#: a tuple or list of at most this many numbers is written out; a longer one by its length
MAX_LISTED = 6


# --- one value as a short text -------------------------------------------------------------------
def format_number(x) -> str:
    """A float with 10 significant digits (``{:.10g}``), an integer as it is, ``nan``/``inf`` by name."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, Integral):
        return str(int(x))
    x = float(x)
    return f"{x:.10g}" if math.isfinite(x) else str(x)


def shape_text(a) -> str:
    """``"36 x 36 array"`` for a (36, 36) array, ``"41-entry array"`` for a vector, the number for a scalar."""
    a = np.asarray(a)
    if a.ndim == 0:
        return describe(a.item())
    if a.ndim == 1:
        return f"{a.shape[0]}-entry array"
    return " x ".join(str(n) for n in a.shape) + " array"


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line, cut to ``limit`` characters (ending in "...")."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_number(v) -> bool:
    return isinstance(v, (Real, np.number, complex)) and not isinstance(v, np.ndarray)


def describe(value) -> str:
    """A short one-line text for ``value``: numbers formatted, arrays by shape, results by their short form.

    ``None`` is "None"; a complex number ``a+bi``; a tuple/list of up to :data:`MAX_LISTED` numbers is
    written out, a longer one by its length, first three and last, one of other objects by its length and
    the type of its items; a dict
    of up to :data:`MAX_LISTED` numbers as ``key=value``, a larger one by its keys; a
    :class:`Display` by its ``_display_short()``; a SymPy expression or anything else by its text,
    clipped to :data:`MAX_TEXT` characters.
    """
    if value is None:
        return "None"
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, np.ndarray):
        return shape_text(value)
    if type(value).__module__.startswith("sympy"):    # exact numbers stay exact: 3/2, sqrt(2), oo
        return clip(str(value))
    if isinstance(value, (complex, np.complexfloating)):
        z = complex(value)
        return f"{z.real:.10g}{z.imag:+.10g}i"
    if isinstance(value, (Real, np.number, np.bool_)):
        return format_number(value)
    if isinstance(value, Display):
        return value._display_short()
    if isinstance(value, (tuple, list)):
        if all(_is_number(v) or isinstance(v, str) for v in value):
            if len(value) <= MAX_LISTED:
                return clip("(" + ", ".join(describe(v) for v in value) + ")")
            shown = [describe(v) for v in value[:3]] + ["...", describe(value[-1])]
            return clip(f"{len(value)} values (" + ", ".join(shown) + ")")
        kinds = sorted({type(v).__name__ for v in value})
        return f"{len(value)} items" + (f" ({', '.join(kinds)})" if value else "")
    if isinstance(value, dict):
        if len(value) <= MAX_LISTED and all(_is_number(v) or v is None or isinstance(v, str) for v in value.values()):
            return clip(", ".join(f"{k}={describe(v)}" for k, v in value.items()) or "{}")
        return clip(f"{len(value)} entries: " + ", ".join(str(k) for k in value))
    return clip(str(value))


# --- the mixin ------------------------------------------------------------------------------------
class Display:
    """Compact ``repr`` and ``_repr_html_`` for a result (module docstring).

    A subclass may define ``_display_rows()`` (``[(name, value), ...]``), ``_display_title()`` (the
    caption, default the class name) and ``_display_short()`` (how the result appears as a value in
    another result's row).  ``@dataclass`` writes its own ``__repr__`` into a class unless the class
    body defines one; :meth:`__init_subclass__` therefore puts this ``__repr__`` into each subclass
    (unless that subclass defines its own), so the dataclass decorator leaves it in place.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = Display.__repr__

    def _display_rows(self) -> list:
        """``(name, value)`` pairs: by default every dataclass field shown in a repr."""
        if dataclasses.is_dataclass(self):
            return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.repr]
        return []

    def _display_title(self) -> str:
        return type(self).__name__

    def _display_short(self) -> str:
        """The result as one value in another result's row: its title and its first two rows."""
        rows = self.display_rows()[:2]
        return clip(f"{self._display_title()}(" + ", ".join(f"{n}={t}" for n, t in rows) + ")")

    def display_rows(self) -> list:
        """The rows as text: ``[(name, text), ...]``, at most :data:`MAX_ROWS` (then one row saying how many more)."""
        rows = [(str(n), describe(v)) for n, v in self._display_rows()]
        if len(rows) > MAX_ROWS:
            rows = rows[:MAX_ROWS - 1] + [("...", f"{len(rows) - MAX_ROWS + 1} more rows")]
        return rows

    def __repr__(self) -> str:
        rows = self.display_rows()
        return "\n".join([f"{self._display_title()}("] + [f"  {n}: {t}" for n, t in rows] + [")"])

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><th>{html.escape(n)}</th><td>{html.escape(t)}</td></tr>" for n, t in self.display_rows())
        return (f"<table class=\"linkernel-result\"><caption style=\"text-align:left\"><b>"
                f"{html.escape(self._display_title())}</b></caption>{cells}</table>")


def problem_text(problem) -> str:
    """``"RNN endpoint task T=4 P=1 lambda=1 kappa=0.1"``: a problem as one short value."""
    from linkernel.formatting import task_name
    return (f"{task_name(problem)} T={problem.T} P={problem.P} lambda={problem.lam:g} kappa={problem.kappa:g}"
            + ("" if (problem.w, problem.v, problem.u) == (1.0, 1.0, 1.0)
               else f" w={problem.w:g} v={problem.v:g} u={problem.u:g}"))


# --- what plot() methods share ----------------------------------------------------------------------
def axes(ax=None):
    """``ax``, or the axes of a new figure (matplotlib imported here: only a plot loads it)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(5.0, 3.6), layout="constrained")[1]


def segments(x, y, flags, boundaries=()) -> list:
    """A curve cut where ``flags`` (stable or not) changes: ``[(xs, ys, flag), ...]``, joined end to start.

    Where a point of ``boundaries`` ((x, y) pairs: the branch points and folds at which the stability
    changes) lies between the two points of a change, both pieces end and start there; elsewhere the
    earlier piece runs on to the later one's first point, so the drawn curve has no gap.
    """
    x, y, flags = list(map(float, x)), list(map(float, y)), [bool(f) for f in flags]
    pieces, start = [], 0
    for k in range(1, len(flags) + 1):
        if k == len(flags) or flags[k] != flags[start]:
            pieces.append([x[start:k], y[start:k], flags[start]])
            start = k
    for a, b in zip(pieces, pieces[1:]):
        lo, hi = sorted((a[0][-1], b[0][0]))
        inside = [(bx, by) for bx, by in boundaries if lo - 1e-12 <= bx <= hi + 1e-12]
        bx, by = inside[0] if inside else (b[0][0], b[1][0])
        a[0].append(bx)
        a[1].append(by)
        if inside:
            b[0].insert(0, bx)
            b[1].insert(0, by)
    return [(np.array(xs), np.array(ys), f) for xs, ys, f in pieces]


def kernel_image(ax, K, title: str | None = None, label: str = "H"):
    """The kernel ``K`` (TP, TP) as an image, rows top to bottom, diverging colours symmetric about 0,
    with its colour bar; returns the image."""
    K = np.asarray(K, dtype=float)
    v = float(np.nanmax(np.abs(K))) if K.size else 1.0
    im = ax.imshow(K, cmap="RdBu_r", vmin=-(v or 1.0), vmax=(v or 1.0), origin="upper")
    ax.figure.colorbar(im, ax=ax, label=label)
    ax.set_xlabel("column t'P + p'")
    ax.set_ylabel("row tP + p")
    if title:
        ax.set_title(title, fontsize=9)
    return im


# --- large kernels in a summary -----------------------------------------------------------------------
#: a kernel with more rows than this prints summarised in the results' summary() (the full matrix is in
#: to_dict() and the command line's --json): a 36 x 36 matrix is 36 lines of 370 characters
FULL_KERNEL_MAX = 12
#: how many of its largest entries a summarised kernel lists
LARGEST_ENTRIES = 8
#: a summary line lists at most this many per-pattern values (m's entries, the last step's predictions)
SUMMARY_VALUES = 8


def first_values(items: list, sep: str) -> str:
    """``items`` joined by ``sep``: the first :data:`SUMMARY_VALUES` of them and a count where there are more."""
    if len(items) <= SUMMARY_VALUES:
        return sep.join(items)
    return sep.join(items[:SUMMARY_VALUES]) + f"{sep}... ({len(items)} in all; to_dict()/--json has them)"


def entry_name(i: int, j: int, P: int, name: str = "H") -> str:
    """``H^(t,t')`` of the kernel entry (i, j) with rows ``t*P + p``; ``H^(t,t')_(p,p')`` when P > 1."""
    (t, p), (s, q) = divmod(int(i), P), divmod(int(j), P)
    return f"{name}^({t},{s})" + (f"_({p},{q})" if P > 1 else "")


def pattern_entries(H, t: int, s: int, P: int) -> list:
    """The P diagonal entries ``H^(t,s)_(p,p)`` of the (t, s) block, whose mean is the pattern-averaged H^(t,s)."""
    H = np.asarray(H, dtype=float)
    return [float(H[t * P + p, s * P + p]) for p in range(P)]


def kernel_lines(H, P: int, fmt: str = "{:10.6f}", name: str = "H") -> list:
    """The kernel as summary lines: the whole matrix up to :data:`FULL_KERNEL_MAX` rows, else its size
    and its :data:`LARGEST_ENTRIES` largest entries in modulus (upper triangle, ties in row order)."""
    from linkernel.formatting import format_matrix
    H = np.asarray(H, dtype=float)
    n = H.shape[0]
    if n <= FULL_KERNEL_MAX:
        return [format_matrix(H, fmt)]
    iu = np.triu_indices(n)
    vals = H[iu]
    top = np.argsort(-np.abs(vals), kind="stable")[:LARGEST_ENTRIES]
    lines = [f"  {n} x {n}, more than {FULL_KERNEL_MAX} rows: not printed (the whole matrix is in to_dict() and "
             f"--json); its {len(top)} largest entries:"]
    lines += [f"  {entry_name(iu[0][k], iu[1][k], P, name)} = {fmt.format(vals[k]).strip()}" for k in top]
    return lines

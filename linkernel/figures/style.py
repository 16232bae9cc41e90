"""One figure style for the package: sizes of a two-column paper, fonts, colour bars, panel letters.

Every figure of :mod:`linkernel.figures` and every function of :mod:`linkernel.plots` draws inside
:func:`figure_style` (an rc context; nothing global is changed).  Widths are in inches: ``COLUMN``
one column of a two-column paper (3.4 in), ``TEXTWIDTH`` both columns (7.0 in).  Fonts: 8 pt text
and labels, 7 pt ticks and legends (``LEGEND_PT``; the floor the figures must not go below), mathtext
in Computer Modern (``$\\lambda$``, ``$\\kappa$``, ``$H^{tt'}$``), TrueType fonts embedded in the PDF
(``pdf.fonttype`` 42: the PDF is vector and its text editable).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMN = 3.4          # inches: one column of a two-column paper
TEXTWIDTH = 7.0       # inches: both columns
BASE_PT = 8.0
LEGEND_PT = 7.0       # legends, insets' titles, ticks: never smaller
DIVERGING = "RdBu_r"  # kernels: sign matters, so limits symmetric about 0
SEQUENTIAL = "viridis"

RC = {
    "font.size": BASE_PT, "axes.titlesize": BASE_PT, "axes.labelsize": BASE_PT,
    "xtick.labelsize": LEGEND_PT, "ytick.labelsize": LEGEND_PT, "legend.fontsize": LEGEND_PT,
    "legend.title_fontsize": LEGEND_PT, "figure.titlesize": BASE_PT + 1,
    "font.family": "serif", "font.serif": ["DejaVu Serif"], "mathtext.fontset": "cm",
    "axes.linewidth": 0.6, "lines.linewidth": 1.2, "lines.markersize": 3.5,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "legend.frameon": False, "legend.handlelength": 1.6, "legend.borderaxespad": 0.3,
    "figure.dpi": 100, "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "image.interpolation": "nearest",
    "axes.titlepad": 3.0, "axes.labelpad": 2.0,
}


@contextmanager
def figure_style():
    """The package's rc context (module docstring); figures created inside it keep its sizes."""
    with matplotlib.rc_context(RC):
        yield


def styled(func):
    """Decorator: run ``func`` (one that builds and saves a figure) inside :func:`figure_style`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with figure_style():
            return func(*args, **kwargs)
    return wrapper


def new_figure(width: float = TEXTWIDTH, height: float = 3.0):
    """A figure ``width`` x ``height`` inches with constrained layout (colour bars take their own room)."""
    return plt.figure(figsize=(width, height), layout="constrained")


def panel_letter(ax, letter: str, x: float = -0.02, y: float = 1.02) -> None:
    """The paper's panel letter ``a)``, bold, above the upper-left corner of ``ax`` (axes coordinates)."""
    ax.text(x, y, f"{letter})", transform=ax.transAxes, fontsize=BASE_PT + 1, fontweight="bold",
            ha="right", va="bottom")


def limits(K, symmetric: bool = True) -> tuple:
    """Colour limits of ``K``: symmetric ``(-max|K|, max|K|)`` when sign matters, else (min, max)."""
    K = np.asarray(K, dtype=float)
    if symmetric:
        v = float(np.nanmax(np.abs(K))) if K.size else 1.0
        return -(v or 1.0), (v or 1.0)
    lo, hi = float(np.nanmin(K)), float(np.nanmax(K))
    return lo, (hi if hi > lo else lo + 1.0)


def heatmap(ax, K, *, symmetric: bool = True, cmap: str | None = None, colorbar: bool = True,
            label: str | None = None, vlim: tuple | None = None):
    """``K`` as an image (rows top to bottom, ``origin='upper'``) with its colour bar beside ``ax``.

    ``symmetric``: diverging map and limits symmetric about 0 (kernels: the sign is the result);
    ``vlim``: fixed limits (several panels sharing one scale).  Returns the image.
    """
    K = np.asarray(K, dtype=float)
    lo, hi = vlim if vlim is not None else limits(K, symmetric)
    im = ax.imshow(K, cmap=cmap or (DIVERGING if symmetric else SEQUENTIAL), vmin=lo, vmax=hi, origin="upper")
    step = max(1, int(np.ceil(K.shape[0] / 4)))
    ax.set_xticks(range(0, K.shape[1], step))
    ax.set_yticks(range(0, K.shape[0], step))
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03, shrink=0.9)
        cb.ax.tick_params(labelsize=LEGEND_PT - 1, length=2, width=0.5)   # ticks of a bar: 6 pt
        cb.outline.set_linewidth(0.5)
        cb.ax.locator_params(nbins=3)
        if label:
            cb.set_label(label, fontsize=LEGEND_PT)
    return im


def inset_heatmap(ax, K, vlim: tuple, title: str = "theory", where=(0.0, 0.0, 0.42, 0.42)):
    """A small copy of ``K`` in the lower-left corner of ``ax`` on the parent's colour scale.

    For a symmetric kernel the corner it covers (large row index, small column index) mirrors the
    visible upper-right corner, so no entry is hidden.  Its title sits inside it, 7 pt.
    """
    ins = ax.inset_axes(list(where))
    ins.imshow(np.asarray(K, dtype=float), cmap=DIVERGING, vmin=vlim[0], vmax=vlim[1], origin="upper")
    ins.set_xticks([])
    ins.set_yticks([])
    for s in ins.spines.values():
        s.set_edgecolor("k")
        s.set_linewidth(0.8)
    if title:
        ins.text(0.5, 0.02, title, transform=ins.transAxes, fontsize=LEGEND_PT, ha="center", va="bottom",
                 color="k", bbox=dict(boxstyle="square,pad=0.05", fc="white", ec="none", alpha=0.7))
    return ins


def outside_legend(ax, handles=None, ncol: int = 1, loc: str = "upper left", anchor=(1.02, 1.0), **kw):
    """A legend beside ``ax`` (outside the data area: it covers no data)."""
    if handles is None:
        return ax.legend(loc=loc, bbox_to_anchor=anchor, ncol=ncol, borderaxespad=0.0, **kw)
    return ax.legend(handles=handles, loc=loc, bbox_to_anchor=anchor, ncol=ncol, borderaxespad=0.0, **kw)


def legend_sizes(fig) -> list:
    """Font sizes (pt) of every legend text of ``fig`` (tests check the 7 pt floor)."""
    return [t.get_fontsize() for ax in fig.axes for lg in ([ax.get_legend()] if ax.get_legend() else [])
            for t in lg.get_texts()] + [t.get_fontsize() for lg in fig.legends for t in lg.get_texts()]

"""The paper's figures (arXiv 2602.15593, linear case), one module each: fig2 .. fig5.

``make_figure(number)`` writes ``fig{n}.png``, ``.pdf`` and ``.json`` (every panel's numbers) under
``out`` and returns a :class:`~linkernel.figures.common.FigureResult`.  ``quick=True`` is the small
version CI runs (small N, T and P, exact finite-N posterior draws instead of long network chains;
each well under a minute); the full version prints its estimated run time on stderr before it
starts and shows progress bars there.
"""

from __future__ import annotations

import importlib

from linkernel.figures.common import FigureResult

FIGURES = (2, 3, 4, 5)

__all__ = ["FigureResult", "make_figure", "FIGURES"]


def make_figure(number, N=None, quick: bool = False, out: str = "figures", progress: bool = True,
                seed: int = 0) -> FigureResult:
    """Regenerate Fig. ``number`` (2, 3, 4 or 5) of the paper's linear case under ``out``.

    ``N``: width of the finite networks (default per figure: 2048 full, small in quick mode).
    ``seed``: all randomness.  Returns the paths written, the panels' numbers, the seconds.

    Not an :func:`~linkernel.threads.entry_point` itself: a figure mixes small theory problems (one
    BLAS thread) with width-N networks (every core), and the outermost entry point would fix one
    limit for both; each computation it calls is an entry point and picks its own.
    """
    from linkernel.validation import choice, count, instance, nonempty, seed as _seed
    n = int(choice("number", number, FIGURES))
    if N is not None:
        N = count("N", N, 8)
    seed = _seed(name="seed", value=seed)
    nonempty("out", instance("out", out, str, "a directory path"), "a directory path")
    mod = importlib.import_module(f"linkernel.figures.fig{n}")
    paths, data, N_used, seconds = mod.make(N=N, quick=bool(quick), out=out, progress=bool(progress), seed=seed)
    return FigureResult(number=n, paths=tuple(paths), data=data, seconds=seconds, quick=bool(quick), N=N_used)

"""The paper's figures (arXiv 2602.15593, linear case), one module each: fig2 .. fig5.

``make_figure(number)`` writes ``fig{n}.png``, ``.pdf`` and ``.json`` (every panel's numbers) under
``out`` and returns a :class:`~linkernel.figures.common.FigureResult`.  ``quick=True`` is the small
version CI runs (small N, T and P, exact finite-N posterior draws instead of network chains, named so
on the figure; each well under 15 s); the full version prints its estimated run time on stderr before it
starts and shows progress bars there.
"""

from __future__ import annotations

import importlib

from linkernel.figures.common import FigureResult

FIGURES = (2, 3, 4, 5)

__all__ = ["FigureResult", "make_figure", "FIGURES"]


def make_figure(number: int, N: int | None = None, quick: bool = False, out: str = "figures",
                progress: bool = True, seed: int = 0, sweeps: int | None = None,
                max_minutes: float | None = None) -> FigureResult:
    """Regenerate Fig. ``number`` (2, 3, 4 or 5) of the paper's linear case under ``out``.

    ``N``: width of the finite networks (default per figure: 2048 full, small in quick mode).
    ``sweeps``: fix every network run to this many sweeps (default: each run continues in batches
    until R-hat < 1.01 and ESS >= 400 on every kernel entry); ``max_minutes``: cap on the figure's
    network sampling (runs stopped by it are reported in the JSON's ``sampling`` and one warning).
    Both are ignored with ``quick`` (exact finite-N posterior draws, no network sampled).
    ``seed``: all randomness.  Returns the paths written, the panels' numbers, the seconds.

    Not an :func:`~linkernel.threads.entry_point` itself: a figure mixes small theory problems (one
    BLAS thread) with width-N networks (every core), and the outermost entry point would fix one
    limit for both; each computation it calls is an entry point and picks its own.

    Parameters
    ----------
    number : {2, 3, 4, 5}
        The figure.
    N : int, optional
        Width of the finite networks (at least 8); default per figure: 2048 full, small in
        quick mode.
    quick : bool, default False
        The small version CI runs (small N, T and P; exact finite-N posterior draws instead of
        network chains, named so on the figure).
    out : str, default "figures"
        Folder to write ``fig{n}.png``, ``.pdf`` and ``.json`` to (must be writable).
    progress : bool, default True
        Print the estimated run time and progress bars on stderr.
    seed : int, default 0
        Seed of all randomness.
    sweeps : int, optional
        Fix every network run to this many sweeps (at least 20); default: each run continues in
        batches until R-hat < 1.01 and ESS >= 400 on every kernel entry.
    max_minutes : float, optional
        Cap on the figure's network sampling, in minutes.

    Returns
    -------
    FigureResult
        The paths written, every panel's numbers (``data``), the seconds and N.

    Raises
    ------
    ValueError
        If an argument is invalid or ``out`` is not writable.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import linkernel as lk
    >>> fig = lk.make_figure(2, quick=True, out=tempfile.mkdtemp(), progress=False)
    >>> [pathlib.Path(p).name for p in fig.paths]
    ['fig2.png', 'fig2.pdf', 'fig2.json']
    >>> sorted(k for k in fig.data if k.startswith("panel_"))
    ['panel_a', 'panel_b', 'panel_c']
    """
    from linkernel.validation import choice, count, instance, nonempty, positive, seed as _seed, writable_folder
    n = int(choice("number", number, FIGURES))
    if N is not None:
        N = count("N", N, 8)
    seed = _seed(name="seed", value=seed)
    nonempty("out", instance("out", out, str, "a directory path"), "a directory path")
    writable_folder("out", out)     # tried by writing, before the work (a file or /proc fails here)
    if sweeps is not None:
        sweeps = count("sweeps", sweeps, 20)
    if max_minutes is not None:
        max_minutes = positive("max_minutes", max_minutes)
    mod = importlib.import_module(f"linkernel.figures.fig{n}")
    from linkernel.figures.style import figure_style
    with figure_style():
        paths, data, N_used, seconds = mod.make(N=N, quick=bool(quick), out=out, progress=bool(progress), seed=seed,
                                                sweeps=sweeps, max_minutes=max_minutes)
    return FigureResult(number=n, paths=tuple(paths), data=data, seconds=seconds, quick=bool(quick), N=N_used)

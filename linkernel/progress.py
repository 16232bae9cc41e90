"""The one progress bar of linkernel: tqdm on stderr while a long computation runs, or a silent stand-in.

    bar = progress_bar(enabled=progress, total=len(items), desc="landscape", unit="lambda")
    for x in items:
        ...
        bar.update(1)
    bar.close()

or, over an iterable, ``for x in progress_bar(enabled, iterable=items, desc=...)``.  The bar leaves
no line behind (``leave=False``); the result's ``summary()`` is what remains on the screen.
"""

from __future__ import annotations

import sys


class _Silent:
    """What :func:`progress_bar` returns when progress is off: the calls of a tqdm bar, doing nothing."""

    def __init__(self, iterable=None):
        self._iterable = iterable

    def __iter__(self):
        return iter(self._iterable if self._iterable is not None else ())

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def progress_bar(enabled: bool, iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 initial: int = 0):
    """A tqdm bar on stderr (``enabled``) or a silent stand-in with the same methods.

    tqdm is imported only when a bar is drawn, so a computation without progress does not pay
    its import.
    """
    if not enabled:
        return _Silent(iterable)
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc[:40], unit=unit, initial=initial, file=sys.stderr, leave=False)

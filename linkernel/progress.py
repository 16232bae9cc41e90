"""The one progress bar of linkernel: on stderr while a long computation runs, or a silent stand-in.

    bar = progress_bar(enabled=progress, total=len(items), desc="landscape", unit="lambda")
    for x in items:
        ...
        bar.update(1)
    bar.close()

or, over an iterable, ``for x in progress_bar(enabled, iterable=items, desc=...)``.

On a terminal (or in a Jupyter kernel) it is a tqdm bar that leaves no line behind
(``leave=False``); the result's ``summary()`` is what remains on the screen.  When stderr is
not a terminal (a pipe, a log file, a batch job) it is one plain line every :data:`INTERVAL`
seconds instead, so that a long run is never silent::

    linkernel sample: gibbs N=512: 120/400 sweeps, 41 s, about 96 s left
"""

from __future__ import annotations

import sys
import threading
import time

#: seconds between two plain progress lines (stderr not a terminal)
INTERVAL = 5.0
#: put before every plain line; the command line sets it to ``"linkernel SUBCOMMAND: "``
LINE_PREFIX = ""
#: also a line every INTERVAL while no step finishes (a long step is not silent); the command line
#: turns it on for the run of one subcommand and calls :func:`stop_all` at its end
HEARTBEAT = False
_LIVE: set = set()


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
        self.close()


def _duration(seconds: float) -> str:
    """``41 s``, ``3.2 min``, ``1.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class _Lines(_Silent):
    """Progress as plain lines on stderr, one every :data:`INTERVAL` seconds (the same calls as a tqdm bar).

    A line says how far (``n/total unit``), how long so far and, with a total, about how long is
    left (the mean time per step so far times the steps left)."""

    def __init__(self, iterable=None, total=None, desc="", unit="it", initial=0):
        super().__init__(iterable)
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.n, self.initial = total, desc, unit, initial, initial
        self.postfix = ""
        self.t0 = self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        if HEARTBEAT:
            _LIVE.add(self)
            self._thread = threading.Thread(target=self._beat, daemon=True, name="linkernel-progress")
            self._thread.start()

    def _beat(self) -> None:
        """A line every INTERVAL while no update comes (the step under way is long)."""
        while not self._stop.wait(max(INTERVAL, 0.05)):
            now = time.monotonic()
            if now - self.last >= INTERVAL:
                self.last = now
                self.write(now, beat=True)

    def close(self) -> None:
        self._stop.set()
        _LIVE.discard(self)
        # wait for a heartbeat line under way: written after close, it would land in whatever stderr
        # is current by then (the next command's, under load)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def __iter__(self):
        try:
            for x in super().__iter__():
                yield x
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= INTERVAL:
            self.last = now
            self.write(now)

    def line(self, now: float, beat: bool = False) -> str:
        elapsed, done = now - self.t0, self.n - self.initial
        units = self.unit if self.unit.endswith("s") else self.unit + "s"
        text = f"{self.n}/{self.total} {units}" if self.total else f"{self.n} {units}"
        text += f", {_duration(elapsed)}"
        if beat:                # the heartbeat: no step finished within the last INTERVAL
            text += ", still working"
        elif self.total and 0 < done and self.n < self.total:
            text += f", about {_duration(elapsed / done * (self.total - self.n))} left"
        head = f"{self.desc}: " if self.desc else ""
        return f"{LINE_PREFIX}{head}{text}{'  ' + self.postfix if self.postfix else ''}"

    def write(self, now: float, beat: bool = False) -> None:
        try:
            sys.stderr.write(self.line(now, beat) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):   # stderr closed: progress is not worth an error
            pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc


def stop_all() -> None:
    """End the heartbeat of every plain progress display still open (a computation that raised)."""
    for bar in list(_LIVE):
        bar.close()


def _terminal() -> bool:
    """Whether a tqdm bar can be drawn: stderr is a terminal, or this is a Jupyter kernel (a widget)."""
    try:
        if sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return "ipykernel" in sys.modules


def progress_bar(enabled: bool, iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 initial: int = 0):
    """A progress display on stderr (``enabled``) or a silent stand-in with the same methods.

    A tqdm bar on a terminal or in Jupyter; elsewhere one plain line every :data:`INTERVAL` seconds.
    tqdm is imported only when a bar is drawn, so a computation without progress does not pay
    its import.
    """
    if not enabled:
        return _Silent(iterable)
    if not _terminal():
        return _Lines(iterable, total=total, desc=desc[:40], unit=unit, initial=initial)
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc[:40], unit=unit, initial=initial, file=sys.stderr, leave=False)

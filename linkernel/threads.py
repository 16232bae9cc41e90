"""How many BLAS threads linear algebra may use (threadpoolctl; no environment variable needed).

Small matrices are faster on one thread: spawning OpenBLAS threads for a
32 x 32 product costs more than the product, and on a shared machine a busy
second core makes the threaded small products several times slower (issue 12:
``saddle_point`` at T = 4 took 1.3-1.6 s instead of 0.25 s).  Large products
(n >= :data:`PARALLEL_THRESHOLD` = 512) gain from every core.

    with blas_threads_for(n):     # 1 thread for small n, all cores for large n
        ...

The limits are process-wide while the block runs and are restored afterwards.
"""

from __future__ import annotations

import contextlib
import os

#: matrix size from which BLAS may use every core (below it: one thread).  Measured on the 2 idle
#: cores, saddle_point(n_starts=1) on the endpoint task: n = 256 12.4 s on one thread against 17.4 s on
#: two, n = 512 83 s against 84 s; n = 1024 465 s on two (benchmarks/scaling.py --no-new), against 703 s
#: on one core while the other was busy.  Issue 12 also measured small-matrix code 5x slower with
#: threads when the other core is busy.
PARALLEL_THRESHOLD = 512


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit BLAS/OpenMP to ``n`` threads inside the block (``None``: leave as is)."""
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is invalid; the number of threads must be an integer >= 1 (or None)")
    ctl = _controller()
    if ctl is None:     # threadpoolctl missing: run with the library's default
        yield
        return
    with ctl.limit(limits=n):
        yield


_CTL = []


def _controller():
    """One ThreadpoolController per process (finding the BLAS libraries takes ~50 ms)."""
    if not _CTL:
        try:
            from threadpoolctl import ThreadpoolController
            _CTL.append(ThreadpoolController())
        except ImportError:
            _CTL.append(None)
    return _CTL[0]


def threads_for(size: int) -> int:
    """Threads worth using for dense linear algebra on ``size x size`` matrices."""
    return 1 if size < PARALLEL_THRESHOLD else cpu_count()


def blas_threads_for(size: int):
    """:func:`blas_threads` with :func:`threads_for` ``(size)``: one thread for small matrices."""
    return blas_threads(threads_for(int(size)))

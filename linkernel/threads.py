"""How many BLAS threads linear algebra may use (threadpoolctl; no environment variable needed).

Small matrices are faster on one thread: spawning OpenBLAS threads for a
32 x 32 product costs more than the product, and on a shared machine a busy
second core makes the threaded small products several times slower (issue 12:
``saddle_point`` at T = 4 took 1.3-1.6 s instead of 0.25 s).  Large products
(n >= :data:`PARALLEL_THRESHOLD` = 512) gain from every core.

    with blas_threads_for(n):     # 1 thread for small n, all cores for large n
        ...

The limits are process-wide while the block runs and are restored afterwards.

Every numerical entry point of the package (API and so CLI) runs under the same policy through
the :func:`entry_point` decorator: the outermost decorated call sets the limit from the size of
its problem, nested calls keep it, and nothing depends on the user's environment variables
(``OMP_NUM_THREADS`` and the like are overridden while the call runs).

    @entry_point                               # size: problem.n of the first argument
    def saddle_point(problem, ...): ...

    @entry_point(size=lambda a: a["N"])        # size from the bound arguments
    def sample_networks(problem, N, ...): ...
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading

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
    from linkernel.validation import count     # the other layer-0 module; lazily: import linkernel stays light
    n = count("n", n)
    ctl = _controller()
    if ctl is None:     # threadpoolctl missing: run with the library's default
        yield
        return
    with ctl.limit(limits=n):
        yield


def one_thread(size: int):
    """``blas_threads(1)`` for work on ``size x size`` kernels where the policy would use more threads.

    From n = 512 the policy (:func:`threads_for`) lets BLAS use both cores, which helps
    the matrix products; but LAPACK's blocked factorisations and OpenBLAS's threaded dot product
    synchronise their threads many times per call, and where the other core is busy each
    synchronisation waits for a time slice.  Measured at n = 610 (all 1797 digits, T = 10; load 7 on
    the 2 cores): a Cholesky factorisation 0.63 s on two threads against ~0.02 s on one, dpotri 0.6 s,
    eigvalsh 1.9 s, one Frobenius product 14 ms against 0.4 ms -- 40% of a saddle-point search.
    Below the policy's threshold BLAS runs on one thread already and nothing is changed (switching
    costs ~25 us, 60% of a saddle point at T P = 4).
    """
    return blas_threads(1) if threads_for(size) > 1 else contextlib.nullcontext()


_CTL = []


def _controller():
    """One ThreadpoolController per process (finding the BLAS libraries takes ~50 ms)."""
    if not _CTL:
        # SciPy's wheels carry their own OpenBLAS, loaded by scipy.linalg: load it before the controller
        # looks, or a controller made before SciPy's first use never limits SciPy's LAPACK (dpotri on
        # two threads made a T = 5 trace 25x slower after a critical_point in a fresh process).
        import scipy.linalg  # noqa: F401
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


_DEPTH = threading.local()


def problem_size(arguments: dict) -> int | None:
    """The default size of an entry point: ``n = T P`` of its first argument that is a problem
    (has ``n`` and ``arch``) or carries one (a result's ``.problem``); None if there is none."""
    for value in arguments.values():
        for obj in (value, getattr(value, "problem", None)):
            n = getattr(obj, "n", None)
            if hasattr(obj, "arch") and isinstance(n, int):
                return n
    return None


def entry_point(fn=None, *, size=problem_size):
    """Decorator: run ``fn`` under the package's BLAS-thread policy, :func:`threads_for` ``(size)``.

    ``size`` maps the call's bound arguments (a dict, defaults applied) to the dimension of the
    largest matrices the call multiplies or factors; None leaves the limits as they are.  Only
    the outermost decorated call on a thread sets a limit, so a trace calling saddle_point
    keeps the trace's.
    """
    if fn is None:
        return functools.partial(entry_point, size=size)
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if getattr(_DEPTH, "n", 0):
            return fn(*args, **kwargs)
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError:           # let the function itself report its wrong call
            return fn(*args, **kwargs)
        bound.apply_defaults()
        try:
            dim = size(bound.arguments)
            dim = None if dim is None else int(dim)
        except Exception:           # a bad argument (inf, 'a', a list): the function's own check names it
            dim = None
        _DEPTH.n = 1
        try:
            with blas_threads(None if dim is None else threads_for(dim)):
                return fn(*args, **kwargs)
        finally:
            _DEPTH.n = 0

    return run

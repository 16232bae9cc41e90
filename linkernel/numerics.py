"""Small numerical helpers that several layers share (of the package, this module imports only the input checks of
:mod:`linkernel.validation`, its neighbour in the bottom layer)."""

from __future__ import annotations


def richardson(values, ratio: float) -> list:
    """The diagonal of the Richardson table: ``values`` at h, h/r, h/r^2, ... extrapolated to h = 0.

    ``ratio`` is the factor by which the leading error shrinks from one value to the next at the
    first level; level j removes an error term shrinking by ``ratio**j``.  For errors in powers of
    h and steps halved, ratio = 2; for a series in h^2 with steps halved, ratio = 4.  The values
    may be floats, NumPy arrays or mpmath numbers (then the factors are mpmath numbers too, so no
    precision is lost).  Returns ``[values[-1], first extrapolation, ..., the full one]``, the last
    entry being the best estimate and the differences between entries its error estimate.
    """
    from linkernel.validation import nonempty
    values = nonempty("values", list(values), "at least one value")
    exact = type(values[0]).__module__.startswith("mpmath")
    if exact:
        import mpmath
        ratio = mpmath.mpf(ratio)
    table = [values]
    for j in range(1, len(values)):
        prev = table[-1]
        f = ratio ** j
        table.append([prev[k] + (prev[k] - prev[k - 1]) / (f - 1) for k in range(1, len(prev))])
    return [row[-1] for row in table]


def richardson_stderr(stderrs, ratio: float):
    """The standard error of :func:`richardson`'s best estimate ``richardson(values, ratio)[-1]`` for
    independent ``values`` with standard errors ``stderrs`` (floats or NumPy arrays).

    The extrapolation is linear in the values, ``sum_k c_k values[k]``; the weights ``c_k`` are
    :func:`richardson` of the unit vectors, so the error is ``sqrt(sum_k c_k^2 stderrs[k]^2)``
    (two values halving the step, ratio 2: ``c = (-1, 2)``, ``sqrt(se_0^2 + 4 se_1^2)``).
    """
    import numpy as np
    stderrs = list(stderrs)
    weights = richardson(list(np.eye(len(stderrs))), ratio)[-1]
    return np.sqrt(sum(c ** 2 * np.square(se) for c, se in zip(weights, stderrs)))

"""Small numerical helpers that several layers share (this module imports nothing of the package's own)."""

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
    values = list(values)
    if not values:
        raise ValueError("values=[] is invalid; richardson needs at least one value")
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

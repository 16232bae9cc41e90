"""One home for input checks: each raises ValueError naming the parameter, its value and what is allowed."""

from __future__ import annotations

import math

import numpy as np


def positive(name: str, value) -> float:
    """A positive finite float."""
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; {name} must be a positive finite number") from None
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a positive finite number")
    return val


def count(name: str, value, low: int = 1) -> int:
    """An integer >= ``low`` (a float with an integer value is accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= {low}")
    if value < low:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= {low}")
    return int(value)


def readonly(a) -> np.ndarray:
    """A float copy that cannot be written to (for frozen dataclasses)."""
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a

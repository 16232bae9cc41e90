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


def seed(name: str, value) -> int | None:
    """A random seed: an integer in [0, 2**63) (what numpy's generators accept), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2 ** 63:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer in [0, 2**63)")
    return int(value)


def probability(name: str, value, low: float = 0.0, high: float = 1.0) -> float:
    """A finite float strictly between ``low`` and ``high``."""
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; {name} must lie in ({low:g}, {high:g})") from None
    if not (math.isfinite(val) and low < val < high):
        raise ValueError(f"{name}={value!r} is invalid; {name} must lie in ({low:g}, {high:g})")
    return val


def interval(name: str, value, low: float = 0.0) -> tuple:
    """Two finite floats ``low < lo < hi`` (a range such as ``lam_range``)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be two numbers (lo, hi)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and low < lo < hi):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be two finite numbers {low:g} < lo < hi")
    return lo, hi


def tolerance(name: str, value) -> float:
    """A tolerance: a finite float in (0, 1)."""
    val = positive(name, value)
    if not val < 1:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a tolerance in (0, 1)")
    return val


def instance(name: str, value, cls, allowed: str):
    """``value`` is an instance of ``cls``; ``allowed`` says what to pass instead (e.g. how to make one)."""
    if not isinstance(value, cls):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be {allowed}")
    return value

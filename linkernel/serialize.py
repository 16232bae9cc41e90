"""One JSON encoder for every result: strict JSON (NaN and infinities become null, never NaN)."""

from __future__ import annotations

import json
import math

import numpy as np


def jsonable(o):
    """``o`` as plain JSON data: arrays as lists, numpy scalars as Python numbers, non-finite floats as None."""
    from linkernel.architecture import Architecture

    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        o = float(o)
        return o if math.isfinite(o) else None
    if isinstance(o, Architecture):
        return str(o)
    if hasattr(o, "to_dict"):
        return jsonable(o.to_dict())
    if o is None or isinstance(o, (int, str)):
        return o
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (``allow_nan=False``: a NaN that slipped through is an error, not output)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)

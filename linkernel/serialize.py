"""One JSON encoder for every result: strict JSON (NaN and infinities become null, never NaN); canonical
JSON and the content key of a function (what decides its results), for caches."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import types

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


def canonical(obj) -> str:
    """Canonical JSON text of ``obj`` (sorted keys, no spaces, via :func:`jsonable`): equal data, equal text."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class _Unkeyable(ValueError):
    """fn holds something whose value cannot enter a cache key (the message says what)."""


def _code_data(code) -> list:
    """What a code object computes, without where it sits in its file (so an edit elsewhere in the file does
    not invalidate the cache): bytecode, constants (nested code objects recursively), names."""
    consts = []
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            consts.append(_code_data(c))
        elif isinstance(c, frozenset):
            consts.append(sorted(repr(x) for x in c))
        else:
            consts.append(repr(c))
    return [code.co_code.hex(), consts, list(code.co_names), list(code.co_varnames), list(code.co_freevars),
            code.co_argcount, code.co_kwonlyargcount, code.co_flags]


def _value_data(what: str, value, seen: tuple):
    """A captured value as JSON data: numbers, text, arrays, containers, Problems (their to_dict), functions
    (their own key); anything else (an open file, a model object) cannot be keyed."""
    if callable(value) and not hasattr(value, "to_dict"):
        return _fn_data(value, seen)
    try:
        return json.loads(canonical(value))
    except (TypeError, ValueError):
        raise _Unkeyable(f"{what} is a {type(value).__name__}, whose value cannot be part of a cache key") from None


def _fn_data(fn, seen: tuple = ()):
    """The parts of fn that decide its results: code, defaults, captured (closure) values, the plain data
    and the functions of its own module among the globals it names, and for a functools.partial its fixed
    arguments.  ``seen``: the functions being keyed further up (a recursion is keyed by name)."""
    if any(fn is f for f in seen):
        return ["recursion", _qualname(fn)]
    seen = seen + (fn,)
    if isinstance(fn, functools.partial):
        return ["partial", _fn_data(fn.func, seen),
                [_value_data(f"argument {k} of the functools.partial", a, seen) for k, a in enumerate(fn.args)],
                {k: _value_data(f"keyword {k!r} of the functools.partial", a, seen)
                 for k, a in sorted(fn.keywords.items())}]
    if isinstance(fn, (types.BuiltinFunctionType, np.ufunc, type)):
        return ["builtin", _qualname(fn)]        # fixed code, keyed by its name
    if not isinstance(fn, types.FunctionType):
        raise _Unkeyable(f"it is a {type(fn).__name__} object, whose state (not only its code) may decide its "
                         "results")
    code = fn.__code__
    cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
    captured = {}
    for name, cell in sorted(cells.items()):
        try:
            val = cell.cell_contents
        except ValueError:              # a cell not yet filled (a recursive inner function)
            val = None
        captured[name] = _value_data(f"the captured variable {name!r}", val, seen)
    glob = {}
    for name in sorted(set(_names(code))):
        val = fn.__globals__.get(name)
        if isinstance(val, (bool, int, float, str, np.ndarray, np.generic, list, tuple, dict)) or hasattr(val, "to_dict") or (
                isinstance(val, types.FunctionType) and val.__module__ == fn.__module__):
            try:
                glob[name] = _value_data(f"the global {name!r}", val, seen)
            except _Unkeyable:          # globals are keyed where they are data (best effort), else by name
                glob[name] = ["unkeyed", name]
    return ["function", _qualname(fn), _code_data(code),
            _value_data("a default argument", list(fn.__defaults__ or ()), seen),
            _value_data("a keyword default", dict(fn.__kwdefaults__ or {}), seen), captured, glob]


def _names(code):
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _names(c)


def function_key(fn) -> str:
    """A hash (16 hex digits) of what decides fn's results (:func:`_fn_data`): two functions get the same
    key only when their code, defaults, captured values and fixed functools.partial arguments agree.
    ValueError (:class:`_Unkeyable`) for a callable whose behaviour a key cannot capture: a callable
    object or bound method (its state), a captured value that is no data.  The globals fn names are keyed
    where they are data or functions of fn's own module (a changed module constant is a new key); other
    globals (imported modules and functions) by their name only."""
    return hashlib.sha256(canonical(_fn_data(fn)).encode()).hexdigest()[:16]

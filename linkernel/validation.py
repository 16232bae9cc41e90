"""One home for input checks: each raises ValueError naming the parameter, its value and what is allowed."""

from __future__ import annotations

import math
import os
from pathlib import Path

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


def finite(name: str, value) -> float:
    """A finite real number (any sign); a bool is refused, not read as 0 or 1."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a finite real number")
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; {name} must be a finite real number") from None
    if not math.isfinite(val):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a finite real number")
    return val


def real_array(name: str, value) -> np.ndarray:
    """A float array from real numbers (complex, strings or ragged lists are refused, not cast)."""
    try:
        a = np.asarray(value)
    except ValueError:
        raise ValueError(f"{name} is invalid; {name} must be a rectangular array of real numbers") from None
    if a.dtype.kind == "c":
        raise ValueError(f"{name} has complex entries; {name} must be real")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} has entries of type {a.dtype}; {name} must be an array of real numbers")
    return a.astype(float)


def integer_pairs(name: str, value) -> tuple:
    """A list of integer pairs such as the supervised ``(t, p)``, as a tuple of tuples; 1.7 is no index."""
    bad = ValueError(f"{name}={value!r} is invalid; {name} must be a list of integer pairs")
    if isinstance(value, (str, bytes)):
        raise bad
    try:
        pairs = [tuple(s) for s in value]
    except TypeError:
        raise bad from None
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise bad
        ints = []
        for v in pair:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)):
                raise bad
            if not float(v).is_integer():
                raise ValueError(f"{name} pair {pair!r} is invalid; both entries must be integers")
            ints.append(int(v))
        out.append(tuple(ints))
    return tuple(out)


def nonnegative(name: str, value) -> float:
    """A finite float >= 0."""
    val = finite(name, value)
    if val < 0:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a finite number >= 0")
    return val


def integer(name: str, value, low: int = 1, high: int | None = None) -> int:
    """An integer in ``low..high`` (``high=None``: no upper bound); text such as ``"12"`` is parsed.

    A float with an integer value is accepted (``4.0``); a bool, ``"1.5"`` or ``"abc"`` is not.
    """
    allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{name}={value!r} is invalid; {name} must be {allowed}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or \
            (high is not None and value > high):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be {allowed}")
    return int(value)


def choice(name: str, value, allowed):
    """``value`` is one of ``allowed`` (compared with ==); the message lists them."""
    allowed = tuple(allowed)
    try:
        ok = any(value == a for a in allowed)
    except (TypeError, ValueError):    # an array compared element by element
        ok = False
    if isinstance(value, bool) and not any(isinstance(a, bool) for a in allowed):
        ok = False                      # True == 1, but True is no figure number
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid; allowed: " + ", ".join(map(str, allowed)))
    return value


def listed(name: str, text, item, what: str, sep: str = ",") -> list:
    """A list given as text, ``"0.5,1,2"``: each piece checked by ``item(name, piece)``.

    ``what`` names the pieces in the message (``"numbers"``, ``"integers >= 0"``); empty pieces
    (``"1,,2"``) are skipped, an empty list is refused.
    """
    pieces = [t.strip() for t in str(text).split(sep) if t.strip()]
    if not pieces:
        raise ValueError(f"{name}={text!r} is empty; give {what} separated by {sep!r}")
    try:
        return [item(name, t) for t in pieces]
    except ValueError:
        raise ValueError(f"{name}={text!r} is invalid; give {what} separated by {sep!r}") from None


def number_range(name: str, text, low: float = 0.0) -> tuple:
    """A range given as text ``"LO:HI"`` with ``low < LO < HI < inf`` (the CLI's ``--lam-range 0.5:3``)."""
    try:
        lo, hi = (float(t) for t in str(text).split(":"))
    except ValueError:
        raise ValueError(f"{name}={text!r} is invalid; give a range LO:HI, e.g. 0.5:3") from None
    if not (low < lo < hi < math.inf):
        raise ValueError(f"{name}={text!r} is invalid; need {low:g} < LO < HI < inf")
    return lo, hi


def writable_file(name: str, path, suffixes, default_suffix: str | None = None) -> str:
    """A file that can be written, checked before any work: no folder, a name ending in one of
    ``suffixes`` (a name without suffix gets ``default_suffix`` when one is given), in an existing
    folder, and writable: tried by opening it for appending (a file created by the probe is removed
    again).  Returns the path (with the suffix added)."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{name}={str(path)!r} is invalid; it is a folder, give a file name")
    if not p.suffix and default_suffix is not None:
        path, p = f"{path}{default_suffix}", Path(f"{path}{default_suffix}")
    if p.suffix.lower() not in suffixes:
        raise ValueError(f"{name}={str(path)!r} is invalid; the file must end in one of " + ", ".join(suffixes))
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"{name}={str(path)!r} is invalid; the folder {str(folder)!r} does not exist")
    _probe_file(name, path)
    return str(path)


def _probe_file(name: str, path) -> None:
    """Open ``path`` for appending (creating it), then remove it if it was created.

    ``os.access`` is not enough: it says yes to root for /proc and to read-only mounts; only a write
    attempt tells.  An existing file is opened for appending (its content is left alone).
    """
    p = Path(path)
    existed = p.exists()
    try:
        with open(p, "ab"):
            pass
    except OSError as e:
        raise ValueError(f"{name}={str(path)!r} is invalid; it cannot be written ({e.strerror or e})") from None
    if not existed:
        try:
            os.remove(p)
        except OSError:
            pass


def writable_folder(name: str, path) -> str:
    """A folder that exists and can be written, or can be created: tried by creating it and a probe file
    (all removed again)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{name}={str(path)!r} is invalid; it exists and is not a folder")
    q = p
    while not q.exists() and q.parent != q:
        q = q.parent
    if not q.is_dir():
        raise ValueError(f"{name}={str(path)!r} is invalid; {str(q)!r} is not a folder")
    _probe_folder(name, p)
    return str(path)


def _probe_folder(name: str, p: Path) -> None:
    """Create the missing folders of ``p`` and a probe file in it, then remove all of them again (the
    caller creates them when it writes): only a write attempt tells whether a folder can be written."""
    import tempfile
    missing, q = [], p
    while not q.exists():
        missing.append(q)
        q = q.parent
    try:
        for d in reversed(missing):
            d.mkdir()
        fd, probe = tempfile.mkstemp(prefix=".linkernel-probe-", dir=p)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ValueError(f"{name}={str(p)!r} is invalid; it cannot be written ({e.strerror or e})") from None
    finally:
        for d in missing:            # deepest first
            try:
                d.rmdir()
            except OSError:
                pass


def keys(name: str, value, allowed=None, required=(), path: str = "") -> dict:
    """A dict (a JSON object such as a config file) whose keys are among ``allowed`` (None: any) and
    include ``required``.  The messages name the first offending key as ``{name} key '{path}k'``
    (``path="problem."`` for a nested object: ``config key 'problem.kapa'``)."""
    if not isinstance(value, dict):
        what = f"{name} key {path.rstrip('.')!r}" if path else name
        raise ValueError(f"{what}={value!r} is invalid; it must be a JSON object (dict)")
    unknown = [] if allowed is None else sorted(set(value) - set(allowed), key=str)
    if unknown:
        raise ValueError(f"{name} key '{path}{unknown[0]}' is invalid; allowed keys: " + ", ".join(sorted(allowed)))
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{name} key '{path}{missing[0]}' is missing; {name} needs "
                         + ", ".join(f"'{path}{k}'" for k in required))
    return value


def nonempty(name: str, value, allowed: str):
    """A collection with at least one entry; ``allowed`` says what it must hold (``"at least one value"``)."""
    try:
        empty = len(value) == 0
    except TypeError:
        empty = False
    if empty:
        raise ValueError(f"{name}={value!r} is empty; {name} needs {allowed}")
    return value


def sequence(name: str, value, allowed: str) -> list:
    """A list from an iterable that is not text (``"01"`` is refused, not read as ``["0", "1"]``);
    ``allowed`` says what it must hold (``"a list of integer timesteps"``)."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be {allowed}")
    return list(value)


def distinct(name: str, value, key=None):
    """Entries that are pairwise different (``key``: what makes two entries the same, e.g. a
    canonical form); the message names the first repeated entry."""
    seen = set()
    for v in value:
        k = v if key is None else key(v)
        if k in seen:
            raise ValueError(f"{name}={value!r} has the repeated entry {v!r}; each entry of {name} may appear once")
        seen.add(k)
    return value


def shaped(name: str, value, shape, allowed: str | None = None) -> np.ndarray:
    """A float array (:func:`real_array`) of shape ``shape``: an int fixes an axis's length, ``None``
    allows any length >= 1.  ``allowed`` describes the shape in the message (default: ``shape``
    written out, ``None`` as ``n``)."""
    a = real_array(name, value)
    ok = a.ndim == len(shape) and all(n >= 1 if s is None else n == s for n, s in zip(a.shape, shape))
    if not ok:
        want = allowed or "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {a.shape}; {name} must have shape {want}")
    return a


def finite_entries(name: str, value, low: float | None = None) -> np.ndarray:
    """A float array (:func:`real_array`) whose entries are finite, and all ``> low`` when ``low`` is given."""
    a = real_array(name, value)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values; the entries of {name} must be finite")
    if low is not None and a.size and not np.all(a > low):
        raise ValueError(f"{name} has the entry {float(a[~(a > low)].flat[0])!r}; the entries of {name} must be "
                         f"finite numbers > {low:g}")
    return a


def json_file(name: str, path):
    """The JSON data a file holds; the file that cannot be read, or is not JSON, named in the message."""
    import json
    try:
        with open(path) as fh:
            return json.load(fh)
    except OSError as e:
        raise ValueError(f"{name}={str(path)!r} is invalid; the file cannot be read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise ValueError(f"{name}={str(path)!r} is invalid; not valid JSON "
                         f"({getattr(e, 'msg', None) or e.reason}{where})") from None

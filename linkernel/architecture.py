"""Which timesteps share which weights (derivations/exact_reduction.tex, "Any weight-sharing pattern").

An RNN is a DNN with shared weights.  Give every recurrent step ``t = 1..T-1``
a matrix ``W^(t)`` and every step ``t = 0..T-1`` an input matrix ``U^(t)``,
and let some of them be the same matrix: a partition of the recurrent steps
into *W groups* and of all steps into *U groups*.  The RNN has one group of
each, the DNN only singletons; every pattern in between is an
:class:`Architecture` too.

Because the weights are Gaussian and independent across groups, the action
keeps its form with

    M^{tt'} = w_g  if W^(t) and W^(t') are the same matrix W_g, else 0   (t, t' >= 1)
    C^{tt'} = (u/D) x^t . x^{t'}  if U^(t) and U^(t') are the same matrix, else 0

(``w_g`` is the group's prior variance, by default the problem's ``w``).
Each W group g has the symmetry ``W_g -> -W_g``: it multiplies ``h^t`` by
``(-1)^(number of steps s <= t in g)``.  Flipping every group at once is the
familiar ``W -> -W`` of the RNN, ``H^{tt'} -> (-1)^(t+t') H^{tt'}``.

This is the only module that knows the RNN from the DNN; the rest of the
package asks an Architecture for its masks, groups and symmetries.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass, field

import numpy as np

from linkernel.display import Display
from linkernel.validation import count, integer, positive

SHORTHANDS = ("rnn", "dnn")
#: the most hidden states a problem may have: the kernel is (TP, TP) and the Hessian acts on TP(TP+1)/2
#: coordinates, so T = 1e4 is already far beyond any computation here; a larger T (1e9, 1e20) is refused
#: up front instead of failing in numpy with a MemoryError or an OverflowError
T_MAX = 10_000


def hidden_states(T) -> int:
    """The number of hidden states: an integer in 1..:data:`T_MAX` (ValueError naming T otherwise)."""
    if isinstance(T, str):
        raise ValueError(f"T={T!r} is invalid; T must be an integer in 1..{T_MAX}")
    return integer("T", T, 1, T_MAX)


def _step(t) -> int:
    """A timestep: an int (or a float with an integer value); text, bools and 400-digit floats are refused."""
    if isinstance(t, (bool, np.bool_)):
        raise TypeError
    if isinstance(t, (int, np.integer)):
        return int(t)
    if isinstance(t, (float, np.floating)) and np.isfinite(t) and float(t).is_integer():
        return int(t)
    raise TypeError


def _partition(name: str, groups, steps: range) -> tuple:
    """Validate a partition of ``steps`` into groups; return it as sorted tuples, ordered by first step."""
    try:
        out = []
        for g in groups:
            if isinstance(g, (str, bytes)) or not hasattr(g, "__iter__"):
                raise TypeError
            out.append(tuple(sorted(_step(t) for t in g)))
    except (TypeError, ValueError):
        raise ValueError(f"{name}={reprlib.repr(groups)} is invalid; {name} must be a list of lists of integer timesteps "
                         f"partitioning {steps.start}..{steps.stop - 1}") from None
    flat = [t for g in out for t in g]
    if any(len(g) == 0 for g in out) or sorted(flat) != list(steps):
        raise ValueError(f"{name}={reprlib.repr(groups)} is invalid; {name} must partition the steps "
                         f"{steps.start}..{steps.stop - 1}, each step in exactly one non-empty group")
    return tuple(sorted(out))


@dataclass(frozen=True)
class Architecture(Display):
    """A weight-sharing pattern over ``T`` hidden states.

    Each recurrent step ``t = 1..T-1`` applies a matrix ``W^(t)`` and each step ``t = 0..T-1``
    an input matrix ``U^(t)``; the groups say which of them are the same matrix (THEORY.md
    section 2b; derivations/exact_reduction.tex, "Any weight-sharing pattern").  The RNN has one
    group of each, the DNN only singletons.  Frozen; the groups are validated and stored as
    sorted tuples.

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.
    W : sequence of sequence of int
        Partition of the recurrent steps ``t = 1..T-1`` into groups sharing one recurrent
        matrix.  Empty for ``T = 1``.
    U : sequence of sequence of int
        Partition of ``t = 0..T-1`` into groups sharing one input matrix.
    w : sequence of float or None, optional
        Per-W-group prior variance (``W_g ~ N(0, w_g/N)``), one entry per group, ``None``
        meaning "the problem's w"; default all ``None``.
    name : str, default "custom"
        A short label (``"rnn"``, ``"dnn"``, or a description); not compared by ``==``.

    See Also
    --------
    rnn, dnn, tied_blocks, redrawn_every, dnn_with_tied_pair, shared_w_untied_u

    Notes
    -----
    Methods: :meth:`from_spec` (``"rnn"``, ``"dnn"`` or ``{"W": [[1,2,3],[4,5]], "U": ...}``),
    ``spec()`` (the JSON form), ``recurrent_mask(w)`` (the mask M of the action, shape (T, T)),
    ``input_mask`` (shape (T, T)), ``flip_signs(g)`` (the symmetry ``W_g -> -W_g``),
    ``shared_groups()`` and ``order_pair(g)`` (the entry ``H^{t_g, s_g}`` that is group g's
    order parameter).

    Examples
    --------
    >>> import linkernel as lk
    >>> a = lk.Architecture.from_spec({"W": [[1, 3], [2]]}, T=4)
    >>> a.W, a.U
    (((1, 3), (2,)), ((0, 1, 2, 3),))
    >>> a.shared_groups(), a.order_pair(0)
    ((0,), (3, 1))
    """

    T: int
    W: tuple
    U: tuple
    w: tuple = None
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        T = hidden_states(self.T)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "W", _partition("W", self.W, range(1, T)))
        object.__setattr__(self, "U", _partition("U", self.U, range(0, T)))
        object.__setattr__(self, "w", _group_variances(self.w, len(self.W)))
        if not isinstance(self.name, str):
            raise ValueError(f"name={self.name!r} is invalid; name must be a string")

    # --- what the theory needs ----------------------------------------------
    def w_group(self, t: int) -> int:
        """Index of the W group applied at recurrent step ``t`` (1 <= t <= T-1)."""
        for g, members in enumerate(self.W):
            if t in members:
                return g
        raise ValueError(f"t={t} is invalid; recurrent steps are 1..{self.T - 1}")

    def group_variances(self, w: float) -> np.ndarray:
        """Prior variance of each W group, ``w`` where the group has none of its own; shape (groups,)."""
        return np.array([w if x is None else x for x in self.w], dtype=float)

    def recurrent_mask(self, w: float = 1.0) -> np.ndarray:
        """``(T, T)``: ``w_g`` where ``t, t' >= 1`` use the same W_g, else 0 (the mask M of the action, derivations/rnn_T4_P1.tex eq. (sigma), weighted)."""
        M = np.zeros((self.T, self.T))
        var = self.group_variances(w)
        for g, members in enumerate(self.W):
            for t in members:
                for s in members:
                    M[t, s] = var[g]
        return M

    @property
    def shares(self) -> np.ndarray:
        """``(T, T)`` 0/1: 1 where ``t, t' >= 1`` use the same recurrent matrix (the mask M of the action, derivations/rnn_T4_P1.tex eq. (sigma))."""
        return (self.recurrent_mask(1.0) > 0).astype(float)

    @property
    def input_mask(self) -> np.ndarray:
        """``(T, T)`` 0/1: 1 where ``U^(t)`` and ``U^(t')`` are the same matrix."""
        M = np.zeros((self.T, self.T))
        for members in self.U:
            for t in members:
                for s in members:
                    M[t, s] = 1.0
        return M

    def flip_signs(self, g: int) -> np.ndarray:
        """Signs of ``h^t`` under ``W_g -> -W_g``: ``(-1)^(#steps s <= t in group g)``, shape (T,).

        Exact when inputs enter only at t = 0; in general the flip is a symmetry
        of the problem only if the input kernel is invariant under these signs
        (checked by :attr:`linkernel.problem.Problem.symmetries`).
        """
        members = set(self.W[g])
        return np.array([(-1.0) ** sum(1 for s in range(1, t + 1) if s in members) for t in range(self.T)])

    def shared_groups(self) -> tuple:
        """Indices of the W groups applied at two or more steps (those that can break spontaneously)."""
        return tuple(g for g, members in enumerate(self.W) if len(members) >= 2)

    def order_pair(self, g: int) -> tuple:
        """``(t_g, s_g)``: group g's order parameter is ``m_g = H^{t_g, s_g}``.

        ``t_g`` is the group's last step and ``s_g`` its second-to-last (for a
        single step, ``t_g - 1``).  That entry flips sign under ``W_g -> -W_g``
        (one of g's steps lies in (s_g, t_g]) and is the top of the lag-(t_g - s_g)
        chain ``e_{s_g-1,t_g-1}, e_{s_g,t_g}`` through which a tie of the two steps
        breaks (``linkernel.symbolic.patterns``); for the RNN it is m = H^{T-1,T-2},
        for W tied on steps {1, 3} it is H^{3,1}.
        """
        members = sorted(self.W[g])
        t = members[-1]
        return (t, members[-2] if len(members) >= 2 else t - 1)

    # --- names --------------------------------------------------------------
    @property
    def is_rnn(self) -> bool:
        return len(self.W) <= 1 and len(self.U) == 1

    @property
    def is_dnn(self) -> bool:
        return all(len(g) == 1 for g in self.W) and all(len(g) == 1 for g in self.U)

    @property
    def label(self) -> str:
        """Text for titles: ``RNN``, ``DNN`` or the pattern."""
        if str(self) in SHORTHANDS:
            return str(self).upper()
        return self.name if self.name != "custom" else self.spec_text()

    def __str__(self) -> str:
        if self == rnn(self.T):
            return "rnn"
        if self == dnn(self.T):
            return "dnn"
        return self.spec_text()

    def spec(self) -> dict:
        """The JSON form: ``{"W": [[...], ...], "U": [[...], ...]}`` (and ``"w"`` if any group has its own)."""
        out = {"W": [list(g) for g in self.W], "U": [list(g) for g in self.U]}
        if any(x is not None for x in self.w):
            out["w"] = list(self.w)
        return out

    def spec_text(self) -> str:
        return json.dumps(self.spec(), separators=(",", ":"))

    def to_dict(self) -> dict:
        return {"name": self.name, **self.spec()}

    def _display_rows(self) -> list:
        rows = [("pattern", self.label), ("T", self.T), ("W groups", json.dumps([list(g) for g in self.W])),
                ("U groups", json.dumps([list(g) for g in self.U]))]
        w = ", ".join("problem's w" if x is None else f"{x:g}" for x in self.w)
        return rows + ([("w per group", w)] if any(x is not None for x in self.w) else [])

    def _display_short(self) -> str:
        return f"{self.label} (T={self.T})"

    @classmethod
    def from_spec(cls, spec, T: int) -> "Architecture":
        """``"rnn"``, ``"dnn"``, an Architecture, a dict ``{"W": ..., "U": ..., "w": ...}`` or its JSON text.

        Omitted ``"U"`` means one shared U (as in the RNN).
        """
        if isinstance(spec, Architecture):
            if spec.T != T:
                raise ValueError(f"arch has T={spec.T} but the problem has T={T}; they must agree")
            return spec
        if isinstance(spec, str):
            text = spec.strip()
            if text.lower() == "rnn":
                return rnn(T)
            if text.lower() == "dnn":
                return dnn(T)
            try:
                spec = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"arch={text!r} is invalid; arch must be rnn, dnn or a pattern as JSON, "
                                 'e.g. {"W": [[1,2,3],[4,5]]}') from None
        if not isinstance(spec, dict) or "W" not in spec or set(spec) - {"W", "U", "w", "name"}:
            raise ValueError(f"arch={spec!r} is invalid; a pattern is a dict with key W (and optionally U, w, "
                             'name), e.g. {"W": [[1,2,3],[4,5]]}')
        return cls(T=T, W=spec["W"], U=spec.get("U", [list(range(hidden_states(T)))]), w=spec.get("w"),
                   name=spec.get("name", "custom"))


def _group_variances(w, n_groups: int) -> tuple:
    """One positive variance or None per W group (a bare number, a bool or text is refused, not iterated)."""
    allowed = (f"w must be a list of {n_groups} entries, one per W group, each a positive number or None "
               "(null)")
    if w is None:
        return (None,) * n_groups
    if isinstance(w, (str, bytes, dict)) or not hasattr(w, "__iter__"):
        raise ValueError(f"w={w!r} is invalid; {allowed}")
    w = tuple(w)
    if len(w) != n_groups:
        raise ValueError(f"w={w!r} is invalid; {allowed} ({len(w)} given)")
    if any(isinstance(x, (bool, np.bool_, str, bytes)) for x in w):
        raise ValueError(f"w={w!r} is invalid; {allowed}")
    try:
        return tuple(None if x is None else positive(f"w[{g}]", x) for g, x in enumerate(w))
    except ValueError as e:
        raise ValueError(f"w={w!r} is invalid; {allowed}: {e}") from None


# --- constructors -----------------------------------------------------------
def rnn(T: int) -> Architecture:
    """The recurrent network: one shared W for every recurrent step, one shared U.

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.

    Returns
    -------
    Architecture
        ``W = ((1, ..., T-1),)`` (empty for ``T = 1``), ``U = ((0, ..., T-1),)``, named "rnn".

    Raises
    ------
    ValueError
        If ``T`` is not an integer in 1..10000.

    Examples
    --------
    >>> import linkernel as lk
    >>> lk.rnn(4).W, lk.rnn(4).U
    (((1, 2, 3),), ((0, 1, 2, 3),))
    """
    T = hidden_states(T)
    return Architecture(T, W=[list(range(1, T))] if T > 1 else [], U=[list(range(T))], name="rnn")


def dnn(T: int) -> Architecture:
    """The unrolled network: a fresh ``W^(t)`` and ``U^(t)`` at every step.

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.

    Returns
    -------
    Architecture
        ``W = ((1,), ..., (T-1,))``, ``U = ((0,), ..., (T-1,))``, named "dnn".

    Raises
    ------
    ValueError
        If ``T`` is not an integer in 1..10000.

    Examples
    --------
    >>> import linkernel as lk
    >>> lk.dnn(3).W, lk.dnn(3).U
    (((1,), (2,)), ((0,), (1,), (2,)))
    """
    T = hidden_states(T)
    return Architecture(T, W=[[t] for t in range(1, T)], U=[[t] for t in range(T)], name="dnn")


def tied_blocks(T: int, k: int, shared_u: bool = False) -> Architecture:
    """Consecutive blocks of ``k`` recurrent steps share one W (``k = 1``: the DNN's W).

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.
    k : int
        Steps per block (positive); the last block holds the remainder.
    shared_u : bool, default False
        One U for every step (as in the RNN) instead of a fresh ``U^(t)`` per step.

    Returns
    -------
    Architecture
        W groups ``(1..k), (k+1..2k), ...``, named "tied blocks of k".

    Raises
    ------
    ValueError
        If ``T`` or ``k`` is out of range.

    Examples
    --------
    >>> import linkernel as lk
    >>> lk.tied_blocks(6, 2).W
    ((1, 2), (3, 4), (5,))
    """
    T, k = hidden_states(T), count("k", k)
    steps = list(range(1, T))
    W = [steps[i:i + k] for i in range(0, len(steps), k)]
    U = [list(range(T))] if shared_u else [[t] for t in range(T)]
    return Architecture(T, W=W, U=U, name=f"tied blocks of {k}")


def redrawn_every(T: int, k: int) -> Architecture:
    """An RNN whose W is re-drawn every ``k`` steps (U shared throughout).

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.
    k : int
        Recurrent steps per draw of W (positive).

    Returns
    -------
    Architecture
        The W groups of :func:`tied_blocks` ``(T, k)`` with one U.

    Raises
    ------
    ValueError
        If ``T`` or ``k`` is out of range.

    Examples
    --------
    >>> import linkernel as lk
    >>> a = lk.redrawn_every(6, 2)
    >>> a.W, a.U
    (((1, 2), (3, 4), (5,)), ((0, 1, 2, 3, 4, 5),))
    """
    arch = tied_blocks(T, k, shared_u=True)
    return Architecture(T, W=arch.W, U=arch.U, name=f"rnn redrawn every {k}")


def dnn_with_tied_pair(T: int, s: int, t: int) -> Architecture:
    """A DNN in which the recurrent steps ``s`` and ``t`` share one W (everything else fresh).

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.
    s, t : int
        The two different recurrent steps (each in ``1..T-1``) that share one W.

    Returns
    -------
    Architecture
        W groups ``(s, t)`` and a singleton for every other step; a fresh U per step.

    Raises
    ------
    ValueError
        If a step is out of range or ``s == t``.

    Examples
    --------
    >>> import linkernel as lk
    >>> lk.dnn_with_tied_pair(5, 1, 3).W
    ((1, 3), (2,), (4,))
    """
    T = hidden_states(T)
    s, t = integer("s", s, 1, T - 1), integer("t", t, 1, T - 1)
    if s == t:
        raise ValueError(f"(s, t)=({s}, {t}) is invalid; need two different recurrent steps in 1..{T - 1}")
    W = [[s, t]] + [[r] for r in range(1, T) if r not in (s, t)]
    return Architecture(T, W=W, U=[[r] for r in range(T)], name=f"dnn with tied pair {min(s, t)},{max(s, t)}")


def shared_w_untied_u(T: int) -> Architecture:
    """One shared W, a fresh ``U^(t)`` at every step.

    Parameters
    ----------
    T : int
        Number of hidden states ``t = 0..T-1``.

    Returns
    -------
    Architecture
        ``W = ((1, ..., T-1),)``, ``U = ((0,), ..., (T-1,))``.

    Raises
    ------
    ValueError
        If ``T`` is not an integer in 1..10000.

    Examples
    --------
    >>> import linkernel as lk
    >>> lk.shared_w_untied_u(4).U
    ((0,), (1,), (2,), (3,))
    """
    T = hidden_states(T)
    return Architecture(T, W=[list(range(1, T))] if T > 1 else [], U=[[t] for t in range(T)],
                        name="shared W, untied U")

"""What is being asked: the network, the data, the hyperparameters, the signal.

Conventions (derivations/rnn_T4_P1.tex, "Model and task" and "The action"):

* ``T`` counts hidden states, ``t = 0 .. T-1`` as in the paper; the last state
  is ``t = T-1``.
* The kernel ``H`` is a ``(T*P, T*P)`` matrix; the pair ``(t, p)`` sits at row
  ``t * P + p`` (:func:`index`).  Nobody else re-derives this ordering.
* muP / mean-field scaling: readout ``f = (1/N) v . h``, likelihood
  ``exp(-(N / 2 kappa) sum_S (y - f)^2)``; priors ``W ~ N(0, w/N)``,
  ``U ~ N(0, u/D)``, ``v ~ N(0, v)``.
* Targets are ``y = lam * yhat``: ``lam`` is the signal strength, the control
  variable of the phase transition.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from linkernel.architecture import Architecture, hidden_states
from linkernel.display import Display, problem_text
from linkernel import validation
from linkernel.validation import (finite as _finite, instance as _instance, integer_pairs,
                                  positive as _positive, readonly as _readonly)

def index(t: int, p: int, P: int) -> int:
    """Row of the pair (t, p) in the kernel: ``t * P + p``."""
    return t * P + p


def pair(row: int, P: int) -> tuple:
    """The pair ``(t, p)`` of a kernel row, the inverse of :func:`index`."""
    return divmod(row, P)


def time_slice(t: int, P: int) -> slice:
    """The rows of time ``t`` (its P patterns): ``H[time_slice(t, P), time_slice(s, P)]`` is the block H^{ts}."""
    return slice(index(t, 0, P), index(t + 1, 0, P))


def time_blocks(A: np.ndarray, P: int) -> np.ndarray:
    """A ``(T, T)`` matrix over times expanded to the ``(TP, TP)`` kernel ordering (each entry a P x P block)."""
    return np.kron(np.asarray(A, dtype=float), np.ones((P, P)))


# cached properties that depend on lambda (dropped by with_(lam=...)); the others depend on the data only
_LAM_DEPENDENT = ("y_S", "symmetries", "has_z2", "odd_mask")


@dataclass(frozen=True, eq=False)
class Problem(Display):
    """A linear RNN or DNN learning task in the kernel (mean-field) theory.

    Everything the theory is asked about: which weights are shared, the inputs, the supervised
    set, the labels, the prior and likelihood variances and the signal strength (THEORY.md
    sections 1-2; derivations/rnn_T4_P1.tex, "Model and task").  Usually built with a task
    constructor (:func:`~linkernel.endpoint`, :func:`~linkernel.sinusoid`,
    :func:`~linkernel.teacher_sequence`) or :meth:`from_file`; the fields are validated on
    construction (ValueError naming the field) and the arrays are stored read-only.

    Parameters
    ----------
    arch : Architecture or str or dict
        Which steps share weights: an :class:`~linkernel.Architecture`, the shorthands ``"rnn"``
        (all shared) and ``"dnn"`` (the unrolled network, independent ``W^(t)``, ``U^(t)``), or a
        pattern as a dict or JSON text (:meth:`Architecture.from_spec
        <linkernel.Architecture.from_spec>`).  Stored as an Architecture.
    T : int
        Number of hidden states, ``t = 0 .. T-1`` (the last state is ``t = T-1``), 1 to 10000.
    x : numpy.ndarray, shape (T, P, D)
        Inputs ``x_p^t``.  The P inputs at ``t = 0`` must be linearly independent.
    supervised : tuple of (int, int)
        The supervised set S, distinct ``(t, p)`` pairs with ``0 <= t < T``, ``0 <= p < P``; its
        order is the order of :attr:`y_S`.
    yhat : numpy.ndarray, shape (T, P)
        Labels at every ``(t, p)``.  Only the entries in S enter the likelihood; the others are
        the targets the model is scored against at unsupervised pairs (generalisation).
    w, v, u : float, default 1.0
        Prior variances (positive) of the recurrent weights (``W_ij ~ N(0, w/N)``), the readout
        (``v_i ~ N(0, v)``) and the input weights (``U_ij ~ N(0, u/D)``).
    kappa : float, default 0.1
        Likelihood (noise) variance in muP units: the noise variance is ``kappa/N``.
    lam : float, default 1.0
        Signal strength: the targets are ``y = lam * yhat``.  The control variable of the
        phase transition.
    name : str, default "custom"
        A label for summaries and titles (not compared by ``==``).

    Attributes
    ----------
    P, D, n : int
        Patterns, input dimension and the kernel's size ``n = T * P``.
    y_S : numpy.ndarray, shape (len(S),)
        Targets ``lam * yhat`` at the supervised pairs, in the order of S.
    input_kernel : numpy.ndarray, shape (T*P, T*P)
        The input kernel C: ``(u/D) x_p^t . x_{p'}^{t'}`` where ``U^(t)`` and ``U^(t')`` are
        the same matrix, else 0.
    recurrent_mask : numpy.ndarray, shape (T*P, T*P)
        The architecture's weighted mask ``w_g M^{tt'}`` expanded to the kernel ordering.

    Notes
    -----
    The kernel ``H`` is a ``(T*P, T*P)`` matrix whose row ``t * P + p`` belongs to the pair
    ``(t, p)`` (:func:`linkernel.problem.index`).  Scaling is muP / mean-field: readout
    ``f = (1/N) v . h``, likelihood ``exp(-(N / 2 kappa) sum_S (y - f)^2)``.

    Methods ``with_(**changes)`` (a copy with some fields changed, e.g. ``lam``),
    ``order_parameters(H)``, ``to_dict()`` / ``from_dict(d)`` (JSON form) and
    ``from_file(path)``.

    Examples
    --------
    >>> import linkernel as lk
    >>> p = lk.endpoint("rnn", T=4, kappa=0.1, lam=2.0)
    >>> p.n, p.supervised
    (4, ((3, 0),))
    >>> p.with_(lam=3.0).lam
    3.0
    """

    arch: Architecture
    T: int
    x: np.ndarray
    supervised: tuple
    yhat: np.ndarray
    w: float = 1.0
    v: float = 1.0
    u: float = 1.0
    kappa: float = 0.1
    lam: float = 1.0
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        T = hidden_states(self.T)
        object.__setattr__(self, "T", T)
        if not isinstance(self.name, str):
            raise ValueError(f"name={self.name!r} is invalid; name must be a string")
        # the data's shape is checked before the architecture is built for T (a T of 1e308 is refused by
        # its mismatch with x, not by building a partition of 1e308 steps)
        x = validation.shaped("x", self.x, (T, None, None), f"(T, P, D) = ({T}, P, D) with P, D >= 1")
        object.__setattr__(self, "arch", Architecture.from_spec(self.arch, T))
        for name in ("w", "v", "u", "kappa"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        object.__setattr__(self, "lam", _finite("lam", self.lam))

        validation.finite_entries("x", x)
        P = x.shape[1]
        gram0 = x[0] @ x[0].T
        if np.linalg.matrix_rank(gram0) < P:
            raise ValueError(
                f"x at t=0 has rank {np.linalg.matrix_rank(gram0)} < P={P}; the P inputs at t=0 must be "
                "linearly independent (nonzero, and P <= D), otherwise the kernel at t=0 is singular")
        object.__setattr__(self, "x", _readonly(x))

        S = integer_pairs("supervised", self.supervised)
        validation.nonempty("supervised", S, "at least one (t, p) pair")
        for t, p in S:
            if not (0 <= t < T and 0 <= p < P):
                raise ValueError(f"supervised pair (t={t}, p={p}) is out of range; need 0 <= t < T={T} and 0 <= p < P={P}")
        validation.distinct("supervised", S)
        object.__setattr__(self, "supervised", S)

        yhat = validation.finite_entries("yhat", validation.shaped("yhat", self.yhat, (T, P), f"(T, P) = ({T}, {P})"))
        object.__setattr__(self, "yhat", _readonly(yhat))

    # --- derived quantities -------------------------------------------------
    @property
    def P(self) -> int:
        return self.x.shape[1]

    @property
    def D(self) -> int:
        return self.x.shape[2]

    @property
    def n(self) -> int:
        """Size of the kernel, ``T * P``."""
        return self.T * self.P

    @cached_property
    def supervised_index(self) -> np.ndarray:
        """Kernel rows of the supervised pairs, in the order of S."""
        idx = np.array([index(t, p, self.P) for t, p in self.supervised], dtype=int)
        idx.setflags(write=False)
        return idx

    @cached_property
    def y_S(self) -> np.ndarray:
        """Targets on the supervised set, ``lam * yhat_S``."""
        return _readonly(self.lam * np.array([self.yhat[t, p] for t, p in self.supervised]))

    @property
    def targets(self) -> np.ndarray:
        """Targets ``lam * yhat`` at every ``(t, p)``, shape ``(T, P)``."""
        return self.lam * np.asarray(self.yhat)

    @cached_property
    def input_kernel(self) -> np.ndarray:
        """C: ``(u/D) x_p^t . x_p'^t'`` where ``U^(t)`` and ``U^(t')`` are one matrix, else 0; ``(TP, TP)``.

        RNN: all pairs of times (U is shared).  DNN: only ``t = t'``.
        """
        X = self.x.reshape(self.n, self.D)
        return _readonly((self.u / self.D) * (X @ X.T) * time_blocks(self.arch.input_mask, self.P))

    @cached_property
    def time_mask(self) -> np.ndarray:
        """``(TP, TP)`` 0/1 matrix that is 1 where ``t = t'`` (block diagonal in time)."""
        return _readonly(time_blocks(np.eye(self.T), self.P))

    @cached_property
    def recurrent_mask(self) -> np.ndarray:
        """``(TP, TP)``: the group variance ``w_g`` where W^(t), W^(t') are the same W_g (t, t' >= 1), else 0.

        Sigma(H) = C + recurrent_mask * shift(H), with shift(H)^{tt'} = H^{t-1,t'-1}.
        """
        return _readonly(time_blocks(self.arch.recurrent_mask(self.w), self.P))

    def _is_symmetry(self, s: np.ndarray) -> bool:
        C = self.input_kernel
        if not np.allclose(C, s[:, None] * C * s[None, :]):
            return False
        y = self.y_S
        sy = s[self.supervised_index] * y
        return bool(np.allclose(sy, y) or np.allclose(sy, -y))

    @cached_property
    def symmetries(self) -> tuple:
        """The W groups whose flip ``W_g -> -W_g`` leaves S invariant, as ``(g, signs)`` with signs of shape (TP,).

        ``signs`` multiplies row ``(t, p)``: H -> diag(s) H diag(s).  A flip is a
        symmetry when the input kernel is invariant under it and the supervised
        targets keep (or all reverse, undone by v -> -v) their signs.
        """
        out = []
        for g in range(len(self.arch.W)):
            s = np.repeat(self.arch.flip_signs(g), self.P)
            if self._is_symmetry(s):
                out.append((g, s))
        return tuple(out)

    @cached_property
    def has_z2(self) -> bool:
        """Whether ``W -> -W`` for every W at once is a symmetry: H^{tt'} -> (-1)^(t+t') H^{tt'} leaves S invariant.

        True when inputs enter only at times of one parity and the supervised
        targets all sit at times of one parity (or at times where the flip
        only changes the overall sign of y_S, which v -> -v undoes).
        """
        return self.T >= 2 and self._is_symmetry(self.parity_signs)

    @cached_property
    def odd_mask(self) -> np.ndarray:
        """``(TP, TP)`` bool: entries that change sign under at least one symmetry (zero on the symmetric branch)."""
        odd = np.zeros((self.n, self.n), bool)
        for _, s in self.symmetries:
            odd |= np.outer(s, s) < 0
        if self.has_z2:
            odd |= np.outer(self.parity_signs, self.parity_signs) < 0
        odd.setflags(write=False)
        return odd

    @cached_property
    def parity_signs(self) -> np.ndarray:
        """``(-1)^t`` for each kernel row, shape ``(TP,)``: the flip of every W group at once."""
        return _readonly(np.repeat((-1.0) ** np.arange(self.T), self.P))

    def order_parameters(self, H: np.ndarray) -> dict:
        """Each shared W group's order parameter ``m_g = H^{t_g, s_g}`` (pattern-averaged), by group index.

        ``t_g > s_g`` are the group's last two steps (:meth:`Architecture.order_pair`);
        for the RNN the one entry is m = H^{T-1,T-2}.
        """
        return {g: _entry(H, *self.arch.order_pair(g), self.P) for g in self.arch.shared_groups()}

    def with_(self, **changes) -> "Problem":
        """A copy with some fields changed (validated again), e.g. ``p.with_(lam=2.0)``.

        Changing only ``lam`` (what continuation does at every step) skips the
        re-validation of the unchanged data and keeps the cached kernels and
        masks, which do not depend on lambda.
        """
        if set(changes) == {"lam"}:
            lam = _finite("lam", changes["lam"])
            new = object.__new__(type(self))
            keep = {k: v for k, v in self.__dict__.items() if k not in _LAM_DEPENDENT}
            new.__dict__.update(keep)
            object.__setattr__(new, "lam", lam)
            return new
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Problem's own arguments (and the derived P, D, architecture) as JSON data; read back by :meth:`from_dict`."""
        return {
            "name": self.name, "arch": str(self.arch), "architecture": self.arch.to_dict(), "T": self.T, "P": self.P, "D": self.D,
            "w": self.w, "v": self.v, "u": self.u, "kappa": self.kappa, "lam": self.lam,
            "supervised": [list(s) for s in self.supervised],
            "x": self.x.tolist(), "yhat": self.yhat.tolist(),
        }

    def _display_rows(self) -> list:
        from linkernel.formatting import task_name
        S = " ".join(f"({t},{p})" for t, p in self.supervised)
        return [("task", task_name(self)), ("arch", self.arch), ("T", self.T), ("P", self.P), ("D", self.D),
                ("lambda", self.lam), ("kappa", self.kappa), ("w", self.w), ("v", self.v), ("u", self.u),
                ("supervised (t, p)", S), ("x", self.x), ("yhat", self.yhat)]

    def _display_short(self) -> str:
        return problem_text(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Problem":
        """The Problem that :meth:`to_dict` wrote (or any dict of Problem's own arguments).

        Keys: ``arch`` (``"rnn"``, ``"dnn"`` or a pattern, :meth:`Architecture.from_spec`),
        ``T``, ``x`` (T, P, D), ``supervised`` (list of [t, p]), ``yhat`` (T, P),
        and optionally ``w, v, u, kappa, lam, name``.  The derived keys ``P``,
        ``D`` and ``architecture`` that to_dict adds are checked against the
        data; any other key is an error (a misspelt ``kapa`` must not fall back
        to the default silently).
        """
        own = {"arch", "T", "x", "supervised", "yhat", "w", "v", "u", "kappa", "lam", "name"}
        derived = {"P", "D", "architecture"}
        validation.keys("problem", data, own | derived | {"_doc"}, required=("T", "x", "supervised", "yhat"))
        kw = {k: data[k] for k in own if k in data}
        if "architecture" in data and "arch" not in data:
            kw["arch"] = data["architecture"]
        kw.setdefault("arch", "rnn")
        problem = cls(**kw)
        if "architecture" in data and "arch" in data:
            _same_architecture(problem, data["architecture"])
        for k in ("P", "D"):
            if k in data and data[k] != getattr(problem, k):
                raise ValueError(f"problem key {k}={data[k]!r} is invalid; x has {k} = {getattr(problem, k)}")
        return problem

    @classmethod
    def from_file(cls, path, name: str | None = None) -> "Problem":
        """A problem from a JSON file of :meth:`to_dict`'s keys (ValueError naming the file when it cannot be read).

        A file may also hold a collection ``{"problems": [{...}, ...]}`` (as
        ``problems/ill_conditioned.json``); ``name`` picks one by its ``name``
        key or its index.
        """
        import os
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"problem={path!r} is invalid; give the path of a JSON problem file")
        data = validation.json_file("problem", path)
        if isinstance(data, dict) and isinstance(data.get("problems"), list):
            items = data["problems"]
            names = [str(d.get("name", k)) if isinstance(d, dict) else str(k) for k, d in enumerate(items)]
            if name is None and len(items) == 1:
                return cls.from_dict(items[0])
            if name is None:
                raise ValueError(f"problem={str(path)!r} holds {len(items)} problems; pick one as FILE:NAME, "
                                 "NAME one of " + ", ".join(names))
            for k, n in enumerate(names):
                if name in (n, str(k)):
                    return cls.from_dict(items[k])
            raise ValueError(f"problem name {name!r} is invalid; {str(path)!r} holds " + ", ".join(names))
        if name is not None:
            raise ValueError(f"problem={str(path)!r} holds one problem; drop the name {name!r}")
        return cls.from_dict(data)


def _same_architecture(problem: Problem, spec) -> None:
    """Refuse a dict whose ``architecture`` (the pattern to_dict writes) contradicts its ``arch``: which one
    was meant cannot be guessed, and reading one silently answers another question than the file asks."""
    try:
        other = Architecture.from_spec(spec, problem.T)
    except ValueError as e:
        raise ValueError(f"problem key 'architecture' is invalid: {e}") from None
    if other != problem.arch:
        raise ValueError(f"problem keys 'arch' and 'architecture' contradict each other: arch is {problem.arch} "
                         f"({problem.arch.spec_text()}) but architecture={spec!r} is {other}; give one of them, "
                         "or make them agree")


def kernel_entry(H: np.ndarray, t: int, s: int, P: int):
    """H^{t,s}, pattern-averaged (the trace of the P x P block over P), for one kernel or a stack (..., n, n)."""
    H = np.asarray(H)
    return np.trace(H[..., time_slice(t, P), time_slice(s, P)], axis1=-2, axis2=-1) / P


def _entry(H: np.ndarray, t: int, s: int, P: int) -> float:
    return float(kernel_entry(H, t, s, P))


def order_parameter(H: np.ndarray, T: int, P: int) -> float:
    """m = H^{T-1,T-2}, the lag-one kernel at the last step (pattern-averaged for P > 1).

    Zero on the symmetric (time-uncorrelated) branch; 0.0 for T = 1.
    """
    if T < 2:
        return 0.0
    return _entry(H, T - 1, T - 2, P)


def z2_generators(problem: "Problem") -> tuple:
    """The flips whose sign conventions are fixed, each with the kernel entry that must end up >= 0.

    One per shared W group g whose flip is a symmetry (entry ``m_g``,
    :meth:`Architecture.order_pair`), and, when the last step's W is unshared,
    the flip of all unshared W together (entry ``m = H^{T-1,T-2}``; for the
    DNN the familiar W -> -W) if it is a symmetry.
    """
    arch, P, T = problem.arch, problem.P, problem.T
    sym = dict(problem.symmetries)
    shared = arch.shared_groups()
    gens = [(sym[g], arch.order_pair(g)) for g in shared if g in sym]
    if T >= 2 and arch.w_group(T - 1) not in shared:
        s = np.ones(problem.n)
        for g in range(len(arch.W)):
            if g not in shared:
                s = s * np.repeat(arch.flip_signs(g), P)
        if problem._is_symmetry(s):
            gens.append((s, (T - 1, T - 2)))
    return tuple(gens)


def fix_z2_sign(problem: Problem, H: np.ndarray) -> np.ndarray:
    """The Z2 representative with every shared group's ``m_g >= 0`` and ``m = H^{T-1,T-2} >= 0``.

    ``H`` is one kernel ``(n, n)`` or a stack ``(..., n, n)`` (each kernel of
    the stack gets its own signs).  Under ``W_g -> -W_g`` the entries
    ``H^{tt'}`` whose rows sit on opposite sides of an odd number of g's steps
    flip sign; which of the mirror kernels a sample or a minimiser lands on is
    arbitrary.  Every module uses this helper to report one representative:
    among the products of the flips of :func:`z2_generators` (each shared
    group g with a symmetry, with entry ``m_g = H^{t_g, s_g}``; and, if the
    last step's W is unshared, all unshared W at once, with entry m), the
    first (in the order of the groups) that makes every such entry >= 0 is
    applied; where none does (entries can flip under several groups), the one
    making the most of them >= 0.  For the RNN this is ``m >= 0``; for the DNN
    W -> -W with ``m >= 0``.  No-op where no flip is a symmetry.

    At finite N an unshared layer's lag-one entry fluctuates around 0, so
    per-sample sign fixing turns it into E|m| ~ N^(-1/2) (likewise a shared
    group below its transition): a convention, not feature learning; it
    vanishes as N -> infinity.
    """
    H = np.asarray(H)
    gens = z2_generators(problem)
    if not gens:
        return H
    P, k = problem.P, len(gens)

    m = np.stack([kernel_entry(H, t, s, P) for _, (t, s) in gens], axis=-1)    # (..., k)
    combos = (np.arange(2 ** k)[:, None] >> np.arange(k)[None, :]) & 1          # (2^k, k) which flips
    signs = np.ones((2 ** k, problem.n))
    for j, (s, _) in enumerate(gens):
        signs[combos[:, j] == 1] *= s
    # how each product of flips changes the sign of each generator's entry
    eff = np.stack([signs[:, index(t, 0, P)] * signs[:, index(s, 0, P)] for _, (t, s) in gens], axis=-1)  # (2^k, k)
    ok = (m[..., None, :] * eff >= 0).sum(axis=-1)                              # (..., 2^k)
    best = np.argmax(ok * 2 ** k - np.arange(2 ** k), axis=-1)                  # most >= 0, then fewest flips
    D = signs[best]                                                             # (..., n)
    return D[..., :, None] * H * D[..., None, :]


def require_problem(name: str, value) -> Problem:
    """``value`` is a :class:`Problem` (the entry check of every computation), else ValueError naming ``name``."""
    return _instance(name, value, Problem, "a linkernel Problem (e.g. linkernel.tasks.endpoint(...) or "
                                          "Problem.from_file(path))")

"""What is being asked: the network, the data, the hyperparameters, the signal.

Conventions (THEORY.md section 1 and 2):

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

import math
from dataclasses import dataclass, field, replace

import numpy as np

ARCHITECTURES = ("rnn", "dnn")


def index(t: int, p: int, P: int) -> int:
    """Row of the pair (t, p) in the kernel: ``t * P + p``."""
    return t * P + p


def _positive(name: str, value) -> float:
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; {name} must be a positive finite number") from None
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a positive finite number")
    return val


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= 1")
    if value < 1:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= 1")
    return int(value)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Problem:
    """A linear RNN or DNN learning task in the kernel (mean-field) theory.

    Parameters
    ----------
    arch : ``"rnn"`` (shared weights) or ``"dnn"`` (the unrolled network,
        independent ``W^(t)``, ``U^(t)``).
    T : number of hidden states, ``t = 0 .. T-1``.
    x : inputs ``x_p^t``, shape ``(T, P, D)``.
    supervised : the supervised set S, a tuple of ``(t, p)`` pairs; its order
        is the order of ``y_S``.
    yhat : labels at every ``(t, p)``, shape ``(T, P)``.  Only the entries in
        S enter the likelihood; the others are the targets the model is
        scored against at unsupervised pairs (generalisation).
    w, v, u : prior variances of the recurrent weights (``w/N``), the readout
        (``v``) and the input weights (``u/D``).
    kappa : likelihood (noise) variance, in muP units (noise ``kappa/N``).
    lam : signal strength; targets ``y = lam * yhat``.
    """

    arch: str
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
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch={self.arch!r} is invalid; arch must be one of {', '.join(ARCHITECTURES)}")
        T = _count("T", self.T)
        object.__setattr__(self, "T", T)
        for name in ("w", "v", "u", "kappa"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        try:
            lam = float(self.lam)
        except (TypeError, ValueError):
            lam = float("nan")
        if not math.isfinite(lam):
            raise ValueError(f"lam={self.lam!r} is invalid; lam must be a finite real number")
        object.__setattr__(self, "lam", lam)

        x = np.asarray(self.x, dtype=float)
        if x.ndim != 3 or x.shape[0] != T or min(x.shape) < 1:
            raise ValueError(f"x has shape {x.shape}; x must have shape (T, P, D) = ({T}, P, D) with P, D >= 1")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains non-finite values; inputs must be finite")
        P = x.shape[1]
        gram0 = x[0] @ x[0].T
        if np.linalg.matrix_rank(gram0) < P:
            raise ValueError(
                f"x at t=0 has rank {np.linalg.matrix_rank(gram0)} < P={P}; the P inputs at t=0 must be "
                "linearly independent (nonzero, and P <= D), otherwise the kernel at t=0 is singular")
        object.__setattr__(self, "x", _readonly(x))

        try:
            S = tuple((int(t), int(p)) for t, p in self.supervised)
        except (TypeError, ValueError):
            raise ValueError(f"supervised={self.supervised!r} is invalid; supervised must be a list of (t, p) pairs") from None
        if not S:
            raise ValueError("supervised=() is empty; supervise at least one (t, p) pair")
        for t, p in S:
            if not (0 <= t < T and 0 <= p < P):
                raise ValueError(f"supervised pair (t={t}, p={p}) is out of range; need 0 <= t < T={T} and 0 <= p < P={P}")
        if len(set(S)) != len(S):
            raise ValueError(f"supervised={S!r} has repeated pairs; each (t, p) may appear once")
        object.__setattr__(self, "supervised", S)

        yhat = np.asarray(self.yhat, dtype=float)
        if yhat.shape != (T, P):
            raise ValueError(f"yhat has shape {yhat.shape}; yhat must have shape (T, P) = ({T}, {P})")
        if not np.all(np.isfinite(yhat)):
            raise ValueError("yhat contains non-finite values; labels must be finite")
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

    @property
    def supervised_index(self) -> np.ndarray:
        """Kernel rows of the supervised pairs, in the order of S."""
        return np.array([index(t, p, self.P) for t, p in self.supervised], dtype=int)

    @property
    def y_S(self) -> np.ndarray:
        """Targets on the supervised set, ``lam * yhat_S``."""
        return self.lam * np.array([self.yhat[t, p] for t, p in self.supervised])

    @property
    def targets(self) -> np.ndarray:
        """Targets ``lam * yhat`` at every ``(t, p)``, shape ``(T, P)``."""
        return self.lam * np.asarray(self.yhat)

    @property
    def input_kernel(self) -> np.ndarray:
        """C: ``(u/D) x_p^t . x_p'^t'``, shape ``(TP, TP)``.

        RNN: all pairs of times (U is shared).  DNN: only ``t = t'`` (a fresh
        ``U^(t)`` per layer).
        """
        X = self.x.reshape(self.n, self.D)
        C = (self.u / self.D) * X @ X.T
        if self.arch == "dnn":
            C = C * self.time_mask
        return C

    @property
    def time_mask(self) -> np.ndarray:
        """``(TP, TP)`` 0/1 matrix that is 1 where ``t = t'`` (block diagonal in time)."""
        t = np.repeat(np.arange(self.T), self.P)
        return (t[:, None] == t[None, :]).astype(float)

    @property
    def mask(self) -> np.ndarray:
        """Architecture mask M^{tt'} over times, shape ``(T, T)``: all ones (RNN), identity (DNN)."""
        return np.ones((self.T, self.T)) if self.arch == "rnn" else np.eye(self.T)

    @property
    def has_z2(self) -> bool:
        """Whether ``W -> -W`` is a symmetry: H^{tt'} -> (-1)^(t+t') H^{tt'} leaves S invariant.

        True when inputs enter only at times of one parity and the supervised
        targets all sit at times of one parity (or at times where the flip
        only changes the overall sign of y_S, which v -> -v undoes).
        """
        if self.T < 2:
            return False
        s = self.parity_signs
        C = self.input_kernel
        if not np.allclose(C, s[:, None] * C * s[None, :]):
            return False
        y = self.y_S
        sy = s[self.supervised_index] * y
        return bool(np.allclose(sy, y) or np.allclose(sy, -y))

    @property
    def parity_signs(self) -> np.ndarray:
        """``(-1)^t`` for each kernel row, shape ``(TP,)``."""
        return np.repeat((-1.0) ** np.arange(self.T), self.P)

    def with_(self, **changes) -> "Problem":
        """A copy with some fields changed (validated again), e.g. ``p.with_(lam=2.0)``."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "arch": self.arch, "T": self.T, "P": self.P, "D": self.D,
            "w": self.w, "v": self.v, "u": self.u, "kappa": self.kappa, "lam": self.lam,
            "supervised": [list(s) for s in self.supervised],
            "x": self.x.tolist(), "yhat": self.yhat.tolist(),
        }


def order_parameter(H: np.ndarray, T: int, P: int) -> float:
    """m = H^{T-1,T-2}, the lag-one kernel at the last step (pattern-averaged for P > 1).

    Zero on the symmetric (time-uncorrelated) branch; 0.0 for T = 1.
    """
    if T < 2:
        return 0.0
    H = np.asarray(H)
    a, b = (T - 1) * P, (T - 2) * P
    return float(np.trace(H[a:a + P, b:b + P]) / P)


def fix_z2_sign(problem: Problem, H: np.ndarray) -> np.ndarray:
    """The Z2 representative with m = H^{T-1,T-2} >= 0.

    Under W -> -W the odd-lag entries flip sign; which of the two mirror
    kernels a sample or a minimiser lands on is arbitrary.  Every module uses
    this helper to report the one with m >= 0.  No-op when the problem has no
    Z2 symmetry.

    The DNN has more: each layer's W^(t) flips independently.  At finite N its
    lag-one entry fluctuates around 0, so per-sample sign fixing turns it into
    E|m| ~ N^(-1/2) (likewise the RNN below lambda_c): a convention, not
    feature learning; it vanishes as N -> infinity.
    """
    H = np.asarray(H)
    if problem.has_z2 and order_parameter(H, problem.T, problem.P) < 0:
        s = problem.parity_signs
        return s[:, None] * H * s[None, :]
    return H

"""The paper's tasks (the paper's section 2; conventions in :mod:`linkernel.problem`) as :class:`~linkernel.problem.Problem` constructors.

All take the hyperparameters ``w, v, u, kappa`` and the signal ``lam`` as
keywords (defaults: the paper's ``w = v = u = 1``, ``kappa = 0.1``).
"""

from __future__ import annotations

import numpy as np

from linkernel.architecture import T_MAX, hidden_states
from linkernel.problem import Problem
from linkernel.validation import count as _count, positive as _positive, sequence, shaped

#: the keywords every task passes on to :class:`~linkernel.problem.Problem`
HYPER = ("w", "v", "u", "kappa", "lam")
#: the most entries the inputs x (T, P, D) may have (8e8 bytes); larger data is refused up front, before numpy
#: fails to allocate it
X_MAX = 10 ** 8


def _hyper(task: str, hyper: dict) -> dict:
    """The hyperparameter keywords; an unknown one (``foo=1``, a misspelt ``kapa``) is refused, naming it."""
    bad = sorted(set(hyper) - set(HYPER))
    if bad:
        raise ValueError(f"{task} keyword {bad[0]}={hyper[bad[0]]!r} is invalid; the keywords are arch, T and "
                         "the task's own, and the hyperparameters " + ", ".join(HYPER))
    return hyper


def _inputs(T: int, P: int, D: int) -> np.ndarray:
    """Zero inputs of shape (T, P, D), refused beyond :data:`X_MAX` entries."""
    if T * P * D > X_MAX:
        raise ValueError(f"T={T}, P={P}, D={D} are invalid together; the inputs x (T, P, D) may have at most "
                         f"{X_MAX:.0e} entries (T <= {T_MAX})")
    return np.zeros((T, P, D))


def _steps(supervised, T: int) -> list:
    """The supervised timesteps (default: all), as integers; a string such as '01' is refused, not iterated."""
    if supervised is None:
        return list(range(T))
    return [_count("supervised timestep", t, low=0)
            for t in sequence("supervised", supervised, "a list of integer timesteps")]


def endpoint(arch: str = "rnn", T: int = 4, P: int = 1, D: int | None = None, labels=None,
             **hyper) -> Problem:
    """(a) Endpoint classification: P pairwise orthogonal inputs at t = 0, labels at t = T-1.

    Inputs ``x_p^0 = sqrt(D) e_p`` so that the input kernel is ``u`` on the
    diagonal whatever D (``x = 1`` for the minimal case ``P = D = 1``); no
    input at ``t >= 1``.  ``labels`` default to ``+1, -1, +1, ...``
    (``yhat = 1`` for ``P = 1``).  Only ``t = T-1`` is supervised.
    """
    _hyper("endpoint", hyper)
    T, P = hidden_states(T), _count("P", P)
    D = P if D is None else _count("D", D, low=P)    # P orthogonal inputs need D >= P
    x = _inputs(T, P, D)
    x[0, :, :P] = np.sqrt(D) * np.eye(P)
    if labels is None:
        labels = [(-1.0) ** p for p in range(P)]
    labels = shaped("labels", labels, (P,), f"({P},), one entry per pattern")
    yhat = np.zeros((T, P))
    yhat[T - 1] = labels
    S = [(T - 1, p) for p in range(P)]
    return Problem(arch=arch, T=T, x=x, supervised=S, yhat=yhat, name="endpoint", **hyper)


def sinusoid(arch: str = "rnn", T: int = 10, supervised=None, **hyper) -> Problem:
    """(b) Sinusoidal response ``yhat^t = cos(2 pi t / T)`` to one input ``x^t = delta_{t0}``.

    ``P = D = 1``; ``supervised`` is a list of timesteps (default: all).
    """
    _hyper("sinusoid", hyper)
    T = hidden_states(T)
    x = _inputs(T, 1, 1)
    x[0, 0, 0] = 1.0
    yhat = np.cos(2 * np.pi * np.arange(T) / T)[:, None]
    return Problem(arch=arch, T=T, x=x, supervised=[(t, 0) for t in _steps(supervised, T)], yhat=yhat,
                   name="sinusoid", **hyper)


def teacher_outputs(T: int, period: float = 10.0, radius: float = 1.0) -> np.ndarray:
    """Outputs ``yhat^t`` of a linear teacher RNN driven by ``x^0 = 1``.

    The teacher's recurrent matrix W* is ``radius`` times a rotation by
    ``2 pi / period`` in a 2-dimensional hidden space (eigenvalues
    ``radius * exp(+-2 pi i / period)``); ``h*^0 = (1, 0)``, readout ``(1, 0)``,
    so ``yhat^t = radius^t cos(2 pi t / period)``.  Returned shape ``(T,)``.
    """
    T = hidden_states(T)
    period = _positive("period", period)
    radius = _positive("radius", radius)
    if not radius <= 1:
        raise ValueError(f"radius={radius!r} is invalid; the teacher's eigenvalues must lie in 0 < |z| <= 1")
    phi = 2 * np.pi / period
    W = radius * np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    h = np.array([1.0, 0.0])
    out = np.empty(T)
    for t in range(T):
        out[t] = h[0]
        h = W @ h
    return out


def teacher_sequence(arch: str = "rnn", T: int = 10, period: float = 10.0, radius: float = 1.0,
                     supervised=None, **hyper) -> Problem:
    """(c) Sequence regression on a linear teacher RNN's outputs (:func:`teacher_outputs`).

    The student gets the same input ``x^0 = 1`` (``P = D = 1``) and is
    supervised at the timesteps ``supervised`` (default: all); the targets at
    the other steps measure generalisation.
    """
    _hyper("teacher_sequence", hyper)
    T = hidden_states(T)
    x = _inputs(T, 1, 1)
    x[0, 0, 0] = 1.0
    yhat = teacher_outputs(T, period, radius)[:, None]
    return Problem(arch=arch, T=T, x=x, supervised=[(t, 0) for t in _steps(supervised, T)], yhat=yhat,
                   name="teacher", **hyper)

"""The paper's tasks (the paper's section 2; conventions in :mod:`linkernel.problem`) as :class:`~linkernel.problem.Problem` constructors.

All take the hyperparameters ``w, v, u, kappa`` and the signal ``lam`` as
keywords (defaults: the paper's ``w = v = u = 1``, ``kappa = 0.1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np

from linkernel.architecture import T_MAX, hidden_states
from linkernel.problem import Problem
from linkernel.validation import count as _count, positive as _positive, sequence, shaped

if TYPE_CHECKING:       # names used only in annotations (strings under ``from __future__ import annotations``)
    from numpy.typing import ArrayLike

    from linkernel.architecture import Architecture

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


def endpoint(arch: str | Architecture | dict = "rnn", T: int = 4, P: int = 1, D: int | None = None,
             labels: ArrayLike | None = None, **hyper: float) -> Problem:
    """(a) Endpoint classification: P pairwise orthogonal inputs at t = 0, labels at t = T-1.

    Inputs ``x_p^0 = sqrt(D) e_p`` so that the input kernel is ``u`` on the
    diagonal whatever D (``x = 1`` for the minimal case ``P = D = 1``); no
    input at ``t >= 1``.  Only ``t = T-1`` is supervised (THEORY.md section 1, task (a)).

    Parameters
    ----------
    arch : str or Architecture or dict, default "rnn"
        ``"rnn"``, ``"dnn"``, an :class:`~linkernel.Architecture` or a weight-sharing pattern
        (:meth:`Architecture.from_spec <linkernel.Architecture.from_spec>`).
    T : int, default 4
        Number of hidden states ``t = 0..T-1``; the labels sit at ``t = T-1``.
    P : int, default 1
        Number of patterns (inputs).
    D : int, optional
        Input dimension, at least P; default P.
    labels : array_like, shape (P,), optional
        The labels ``yhat_p^{T-1}``; default ``+1, -1, +1, ...`` (``yhat = 1`` for ``P = 1``).
    **hyper : float
        The hyperparameters ``w``, ``v``, ``u`` (prior variances, default 1), ``kappa`` (noise
        variance in muP units, default 0.1) and ``lam`` (signal strength, targets
        ``y = lam * yhat``, default 1), passed to :class:`~linkernel.Problem`; any other keyword
        is a ValueError.

    Returns
    -------
    Problem
        With ``x`` of shape (T, P, D), ``yhat`` of shape (T, P) (zero before ``T-1``) and
        ``supervised = ((T-1, 0), ..., (T-1, P-1))``.

    Raises
    ------
    ValueError
        If an argument is out of range (naming it), or an unknown keyword is given.

    Examples
    --------
    >>> import linkernel as lk
    >>> p = lk.endpoint("dnn", T=3, P=2, kappa=0.1, lam=2.0)
    >>> p.x.shape, p.supervised
    ((3, 2, 2), ((2, 0), (2, 1)))
    >>> p.yhat[-1]
    array([ 1., -1.])
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


def sinusoid(arch: str | Architecture | dict = "rnn", T: int = 10, supervised: Iterable[int] | None = None,
             **hyper: float) -> Problem:
    """(b) Sinusoidal response ``yhat^t = cos(2 pi t / T)`` to one input ``x^t = delta_{t0}``.

    One pattern and one input dimension (``P = D = 1``); THEORY.md section 1, task (b).

    Parameters
    ----------
    arch : str or Architecture or dict, default "rnn"
        ``"rnn"``, ``"dnn"``, an :class:`~linkernel.Architecture` or a weight-sharing pattern
        (:meth:`Architecture.from_spec <linkernel.Architecture.from_spec>`).
    T : int, default 10
        Number of hidden states; also the period of the target.
    supervised : iterable of int, optional
        The supervised timesteps (each in ``0..T-1``); default all.
    **hyper : float
        The hyperparameters ``w``, ``v``, ``u`` (prior variances, default 1), ``kappa`` (noise
        variance in muP units, default 0.1) and ``lam`` (signal strength, targets
        ``y = lam * yhat``, default 1), passed to :class:`~linkernel.Problem`; any other keyword
        is a ValueError.

    Returns
    -------
    Problem
        With ``x`` of shape (T, 1, 1) (1 at ``t = 0``, else 0) and ``yhat`` of shape (T, 1).

    Raises
    ------
    ValueError
        If an argument is out of range (naming it), or an unknown keyword is given.

    Examples
    --------
    >>> import linkernel as lk
    >>> p = lk.sinusoid("rnn", T=4, supervised=[0, 1, 2])
    >>> p.supervised
    ((0, 0), (1, 0), (2, 0))
    >>> p.yhat[:, 0].round(12)
    array([ 1.,  0., -1., -0.])
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


def teacher_sequence(arch: str | Architecture | dict = "rnn", T: int = 10, period: float = 10.0,
                     radius: float = 1.0, supervised: Iterable[int] | None = None, **hyper: float) -> Problem:
    """(c) Sequence regression on a linear teacher RNN's outputs (:func:`teacher_outputs`).

    The teacher's recurrent matrix is ``radius`` times a rotation by ``2 pi / period`` in two
    dimensions, so ``yhat^t = radius^t cos(2 pi t / period)``.  The student gets the same input
    ``x^0 = 1`` (``P = D = 1``) and is supervised at the timesteps ``supervised``; the targets
    at the other steps measure generalisation (THEORY.md section 1, task (c)).

    Parameters
    ----------
    arch : str or Architecture or dict, default "rnn"
        ``"rnn"``, ``"dnn"``, an :class:`~linkernel.Architecture` or a weight-sharing pattern
        (:meth:`Architecture.from_spec <linkernel.Architecture.from_spec>`).
    T : int, default 10
        Number of hidden states.
    period : float, default 10.0
        Period of the teacher's oscillation, in timesteps (positive).
    radius : float, default 1.0
        Modulus of the teacher's eigenvalues, ``0 < radius <= 1``.
    supervised : iterable of int, optional
        The supervised timesteps (each in ``0..T-1``); default all.
    **hyper : float
        The hyperparameters ``w``, ``v``, ``u`` (prior variances, default 1), ``kappa`` (noise
        variance in muP units, default 0.1) and ``lam`` (signal strength, targets
        ``y = lam * yhat``, default 1), passed to :class:`~linkernel.Problem`; any other keyword
        is a ValueError.

    Returns
    -------
    Problem
        With ``x`` of shape (T, 1, 1) and ``yhat`` of shape (T, 1).

    Raises
    ------
    ValueError
        If an argument is out of range (naming it), or an unknown keyword is given.

    Examples
    --------
    >>> import linkernel as lk
    >>> p = lk.teacher_sequence("rnn", T=5, period=4.0, supervised=[0, 1, 2])
    >>> p.yhat[:, 0].round(12)
    array([ 1.,  0., -1., -0.,  1.])
    """
    _hyper("teacher_sequence", hyper)
    T = hidden_states(T)
    x = _inputs(T, 1, 1)
    x[0, 0, 0] = 1.0
    yhat = teacher_outputs(T, period, radius)[:, None]
    return Problem(arch=arch, T=T, x=x, supervised=[(t, 0) for t in _steps(supervised, T)], yhat=yhat,
                   name="teacher", **hyper)

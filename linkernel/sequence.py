"""Sequence tasks: weight sharing as an inductive bias (the paper's Fig. 5).

A linear teacher RNN (:func:`linkernel.tasks.teacher_outputs`: a rotation by
``2 pi / period`` scaled by ``radius`` in a 2-d hidden space) is driven by
``x^0 = 1`` (``D = P = 1``, no input at ``t >= 1``); its outputs
``yhat^t = radius^t cos(2 pi t / period)`` are the labels, ``y = lam * yhat``
the targets.  A student RNN or DNN is supervised at a subset S of the
timesteps ``t = 0 .. T-1`` and scored at *all* of them with the
generalisation error

    L = 1/(2T) sum_t (y^t - f^t)^2,

where ``f^t`` is the theory's posterior-mean prediction
``f* = v H_{*S} (v H_SS + kappa I)^{-1} y_S`` at the saddle-point kernel H
(:func:`linkernel.theory.saddle.saddle_point`, the global minimum over several starts).

Two facts the tests check and the figures show:

* **The DNN predicts exactly 0 at unsupervised steps.**  In the DNN, Sigma(H)
  is block diagonal in time (a fresh ``U^(t)``, ``W^(t)`` per layer; with
  ``P = 1`` it is diagonal), so the saddle-point equation
  ``H^{-1} = Sigma^{-1} + w L*(Sigma^{-1} - Sigma^{-1} H Sigma^{-1}) - v E_S(a a^T)``
  (``a = (v H_SS + kappa)^{-1} y_S``) says that ``H^{-1}`` has cross-time
  entries only inside the supervised block S x S: the likelihood is the only
  term that couples different times.  The inverse of a matrix that is block
  diagonal between S and its complement is block diagonal too, so
  ``H_{*S} = 0`` for every unsupervised step and ``f* = 0`` there: the DNN
  regresses to the prior mean.  After the last supervised step the DNN kernel
  is the prior's, ``H^{tt} = w H^{t-1,t-1}``.  The statement is exact at every
  width too: flipping ``W^(t), U^(t)`` and ``W^(t+1)`` together flips ``h^t``
  alone, so the finite-N posterior is invariant under ``f^t -> -f^t`` for each
  unsupervised t (tested against :func:`simulate_sequence`).
* **Z2.**  With inputs only at t = 0, ``W -> -W`` maps ``h^t -> (-1)^t h^t``
  and leaves the prior invariant.  If the supervised targets are mapped to
  ``sigma * y_S`` (``sigma = +-1``, e.g. ``sigma = +1`` when only even steps
  are supervised; ``sigma = -1`` is undone by ``v -> -v``), the posterior is
  invariant under ``f^t -> sigma (-1)^t f^t``, so its mean vanishes at every
  step with ``sigma (-1)^t = -1`` (the odd steps when only even steps are
  supervised), however well the RNN learned the even ones.  When the saddle
  breaks the symmetry (m != 0) the posterior is an equal mixture of the two
  mirror kernels ``H`` and ``s H s`` (``s = (-1)^t``), and :func:`solve_sequence`
  reports the mean over the pair (``z2_averaged``); the reported kernel is the
  representative with ``m = H^{T-1,T-2} >= 0``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from linkernel.display import Display, axes, kernel_lines
from linkernel.problem import Problem
from linkernel.progress import progress_bar
from linkernel import validation
from linkernel.validation import count as _count
from linkernel.theory.action import readout_kernel, kl_term, likelihood_term, predictions
from linkernel.theory.hessian import hessian
from linkernel.theory.saddle import SaddlePoint, local_minimum, saddle_point
from linkernel.tasks import teacher_outputs, teacher_sequence
from linkernel.threads import entry_point

SUPERVISION_PATTERNS = ("all", "first:K", "every-other", "every-other:K", "random:K", "t1,t2,...")


# --- supervision patterns ---------------------------------------------------------
def supervised_steps(T: int, spec="all", seed: int = 0) -> tuple:
    """The supervised timesteps, sorted, as a tuple of ints in ``0 .. T-1``.

    ``spec`` is a list of steps, or a string: ``"all"``; ``"first:K"`` (steps
    0..K-1); ``"every-other"`` (the even steps 0, 2, 4, ...);
    ``"every-other:K"`` (the first K even steps); ``"random:K"`` (K distinct
    steps drawn with ``seed``: the first K of one random permutation, so the
    sets for growing K are nested); ``"0,1,2,3"`` (an explicit list).
    """
    T = _count("T", T)
    allowed = f"one of {', '.join(SUPERVISION_PATTERNS)} or a list of steps"
    if isinstance(spec, str):
        s = spec.strip().lower().replace("_", "-")
        name, _, arg = s.partition(":")
        if name == "all" and not arg:
            return tuple(range(T))
        if name in ("first", "every-other", "random") and (arg or name == "every-other"):
            limit = (T + 1) // 2 if name == "every-other" else T
            if arg:
                try:
                    k = validation.integer("K", arg, 1, limit)
                except ValueError as e:
                    raise ValueError(f"supervised={spec!r} is invalid for T={T}; {e}") from None
            else:
                k = limit
            if name == "first":
                return tuple(range(k))
            if name == "every-other":
                return tuple(range(0, 2 * k, 2))
            return tuple(sorted(int(t) for t in np.random.default_rng(seed).permutation(T)[:k]))
        try:
            spec = [int(tok) for tok in s.split(",") if tok.strip()]
        except ValueError:
            raise ValueError(f"supervised={spec!r} is invalid; supervised must be {allowed}") from None
    try:
        steps = [int(t) for t in spec]
        if any(float(t) != int(t) for t in spec):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"supervised={spec!r} is invalid; supervised must be {allowed}") from None
    validation.nonempty("supervised", steps, "at least one timestep")
    bad = [t for t in steps if not 0 <= t < T]
    if bad:
        raise ValueError(f"supervised step {bad[0]} is out of range; steps must satisfy 0 <= t < T={T}")
    validation.distinct("supervised", steps)
    return tuple(sorted(steps))


def sequence_problem(arch: str = "rnn", T: int = 10, period: float = 10.0, radius: float = 1.0,
                     supervised="all", seed: int = 0, lam: float = 1.0, **hyper) -> Problem:
    """The teacher task as a :class:`Problem` (``P = D = 1``, ``x^0 = 1``), supervision by :func:`supervised_steps`."""
    T = _count("T", T)
    steps = supervised_steps(T, supervised, seed)
    return teacher_sequence(arch, T=T, period=period, radius=radius, supervised=steps, lam=lam, **hyper)


# --- theory -----------------------------------------------------------------------
def z2_sign(problem: Problem):
    """``sigma`` with ``s_S y_S = sigma y_S`` when W -> -W is a symmetry (``problem.has_z2``), else None."""
    if not problem.has_z2:
        return None
    y = problem.y_S
    sy = problem.parity_signs[problem.supervised_index] * y
    return 1.0 if np.allclose(sy, y) else -1.0


def posterior_mean(problem: Problem, H) -> tuple:
    """Posterior-mean predictions at every step from the saddle kernel H, shape (T*P,), and whether Z2-averaged.

    ``f = v H_{*S} (v H_SS + kappa I)^{-1} y_S``; when the problem is Z2
    symmetric the mean over the mirror pair H, s H s is returned,
    ``(f + sigma s f) / 2`` (a no-op when H itself is symmetric).
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    K = readout_kernel(problem, H)
    f = problem.v * H[:, idx] @ np.linalg.solve(K, problem.y_S)
    sigma = z2_sign(problem)
    if sigma is None:
        return f, False
    return 0.5 * (f + sigma * problem.parity_signs * f), True


def generalisation_error(targets, predictions) -> float:
    """L = 1/(2 T P) sum_{t,p} (y - f)^2 over *all* timesteps (and patterns)."""
    y = np.asarray(targets, dtype=float).ravel()
    f = np.asarray(predictions, dtype=float).ravel()
    if y.shape != f.shape:
        raise ValueError(f"predictions have {f.size} entries; need one per target ({y.size})")
    return 0.5 * float(np.mean((y - f) ** 2))


def minimum_gen_error(problem: Problem, H) -> float:
    """L of the posterior-mean predictions at the kernel H (any minimum, not only the global one)."""
    return generalisation_error(problem.targets, posterior_mean(problem, H)[0])


@dataclass(frozen=True, eq=False)
class SequenceResult(Display):
    """Theory for one sequence task, for each architecture in ``archs``.

    ``targets`` (T,) is ``lam * yhat`` at every step (supervised or not);
    ``predictions[arch]`` (T,) the posterior-mean f*; ``kernels[arch]`` (T, T)
    the saddle kernel H^{tt'} (Z2 representative with m >= 0);
    ``gen_error[arch]`` is L over all steps, ``gen_error_unsupervised[arch]``
    the part of that sum from unsupervised steps (same 1/(2T) normalisation);
    ``branch_predictions[arch]`` (T,) the predictions of the reported kernel
    alone: equal to ``predictions`` unless the task is Z2 symmetric and the
    saddle breaks the symmetry (``z2_averaged``), where they are what one
    network stuck in the m >= 0 branch predicts (the mirror branch predicts
    ``sigma (-1)^t`` times them);
    ``saddles[arch]`` the full :class:`SaddlePoint` (residual, Hessian
    eigenvalues, every minimum found).

    Attributes
    ----------
    T : int
        Number of hidden states.
    period, radius : float
        The teacher's period (in timesteps) and eigenvalue modulus.
    lam : float
        Signal strength: targets ``lam * yhat``.
    hyper : dict
        ``w``, ``v``, ``u``, ``kappa``.
    supervised : tuple of int
        The supervised timesteps.
    archs : tuple of str
        The architectures solved ("rnn" and/or "dnn"); the keys of the dicts below.
    targets : numpy.ndarray, shape (T,)
        ``lam * yhat`` at every step.
    predictions : dict of numpy.ndarray, shape (T,)
        Posterior-mean f* per architecture (Z2-averaged where the saddle breaks the symmetry).
    branch_predictions : dict of numpy.ndarray, shape (T,)
        Predictions of the reported (m >= 0) kernel alone.
    kernels : dict of numpy.ndarray, shape (T, T)
        The saddle kernel per architecture.
    gen_error : dict of float
        ``L = 1/(2T) sum_t (y^t - f^t)^2`` over all steps.
    gen_error_unsupervised : dict of float
        The part of that sum from the unsupervised steps (same normalisation).
    z2_averaged : dict of bool
        Whether the predictions average the two Z2 branches.
    saddles : dict of SaddlePoint
        The full saddle-point results.
    seconds : float
        Wall time, in seconds.
    """

    T: int
    period: float
    radius: float
    lam: float
    hyper: dict
    supervised: tuple
    archs: tuple
    targets: np.ndarray
    predictions: dict
    branch_predictions: dict
    kernels: dict
    gen_error: dict
    gen_error_unsupervised: dict
    z2_averaged: dict
    saddles: dict
    seconds: float

    @property
    def unsupervised(self) -> tuple:
        return tuple(t for t in range(self.T) if t not in self.supervised)

    def to_dict(self) -> dict:
        def saddle_info(sp: SaddlePoint) -> dict:
            return {"action": sp.action, "grad_norm": sp.grad_norm,
                    "hessian_eigenvalue_min": float(sp.hessian_eigenvalues[0]),
                    "hessian_eigenvalue_max": float(sp.hessian_eigenvalues[-1]),
                    "order_parameter": sp.order_parameter, "n_starts": sp.n_starts, "seconds": sp.seconds,
                    "minima": [{"action": m.action, "order_parameter": m.order_parameter,
                                "grad_norm": m.grad_norm, "hessian_min_eigenvalue": m.hessian_min_eigenvalue,
                                "gen_error": minimum_gen_error(sp.problem, m.kernel)}
                               for m in sp.minima]}
        return {
            "T": self.T, "period": self.period, "radius": self.radius, "lam": self.lam, **self.hyper,
            "supervised": list(self.supervised),
            "targets": self.targets.tolist(),
            "predictions": {a: self.predictions[a].tolist() for a in self.archs},
            "branch_predictions": {a: self.branch_predictions[a].tolist() for a in self.archs},
            "gen_error": {a: self.gen_error[a] for a in self.archs},
            "gen_error_unsupervised": {a: self.gen_error_unsupervised[a] for a in self.archs},
            "kernels": {a: self.kernels[a].tolist() for a in self.archs},
            "z2_averaged": dict(self.z2_averaged),
            "saddle": {a: saddle_info(self.saddles[a]) for a in self.archs},
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """Targets and predictions at every step, L and the saddle's diagnostics per architecture, the kernels."""
        lines = [f"teacher sequence: T={self.T} period={self.period:g} radius={self.radius:g} lambda={self.lam:g} "
                 + " ".join(f"{k}={v:g}" for k, v in self.hyper.items()),
                 "supervised steps: " + ",".join(map(str, self.supervised)),
                 "   t  sup    target" + "".join(f" {a.upper():>9s}" for a in self.archs)]
        for t in range(self.T):
            lines.append(f"{t:4d}  {'*' if t in self.supervised else ' '}  {self.targets[t]:9.5f}"
                         + "".join(f" {self.predictions[a][t]:9.5f}" for a in self.archs))
        for a in self.archs:
            sp = self.saddles[a]
            z2 = "  (Z2-symmetric task: mean over the mirror pair)" if self.z2_averaged[a] else ""
            lines.append(f"{a.upper()}: L = {self.gen_error[a]:.6g} (unsupervised part "
                         f"{self.gen_error_unsupervised[a]:.6g})  S = {sp.action:.10g}  residual {sp.grad_norm:.1e}  "
                         f"Hessian eig in [{sp.hessian_eigenvalues[0]:.3e}, {sp.hessian_eigenvalues[-1]:.3e}]  "
                         f"minima found {len(sp.minima)}{z2}")
            for k, m in enumerate(sp.minima[1:], 1):
                lines.append(f"     other minimum [{k}]: S = {m.action:.10g}  m = {m.order_parameter:.6g}  "
                             f"L there = {minimum_gen_error(sp.problem, m.kernel):.6g}")
        for a in self.archs:
            lines += [f"{a.upper()} kernel H^(t,t'):", *kernel_lines(self.kernels[a], 1, "{:8.4f}")]
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        rows = [("task", f"teacher sequence T={self.T} period={self.period:g} radius={self.radius:g}"),
                ("lambda", self.lam), ("hyperparameters", self.hyper), ("supervised steps", self.supervised)]
        for a in self.archs:
            A = a.upper()
            rows += [(f"{A}: L", self.gen_error[a]), (f"{A}: L, unsupervised part", self.gen_error_unsupervised[a]),
                     (f"{A}: minima found", len(self.saddles[a].minima)), (f"{A}: Z2-averaged", self.z2_averaged[a])]
        return rows + [("targets", self.targets), ("seconds", self.seconds)]

    def plot(self, ax=None):
        """Targets and each architecture's posterior-mean predictions against the step t; returns the Axes.

        Lines: ``(t, targets)`` (gid ``"targets"``) and ``(t, predictions[arch])`` (gid the arch);
        supervised steps marked.  ``ax``: the axes to draw in (None: a new figure).  The paper's
        figure, with the kernels, is :func:`linkernel.plots.sequence_figure`.
        """
        ax = axes(ax)
        t = np.arange(self.T)
        ax.plot(t, self.targets, color="0.6", lw=3, gid="targets", label="targets")
        sup = list(self.supervised)
        ax.plot(sup, self.targets[sup], "o", color="k", gid="supervised", label="supervised")
        for k, a in enumerate(self.archs):
            ax.plot(t, self.predictions[a], "s-", color=f"C{k}", ms=4, gid=a,
                    label=f"{a.upper()} (L = {self.gen_error[a]:.3g})")
        ax.set_xlabel("step t")
        ax.set_ylabel("output")
        ax.set_title(f"teacher sequence, lambda = {self.lam:g}", fontsize=9)
        ax.legend(fontsize=7)
        return ax


def add_mirror_minima(sp: SaddlePoint, tol: float = 1e-11) -> SaddlePoint:
    """``sp`` with the minima reached from the Z2 mirrors ``s H s`` of its minima added (and the global one updated).

    When the supervision breaks W -> -W only explicitly (no ``has_z2``), the
    mirror of a minimum is a natural guess for a competing minimum: on the
    task supervised at 0,2,3,5,7,8 with lambda = 4 a random-start search can
    miss the teacher-like minimum (m > 0) next to the aliased global one
    (m < 0).  One extra local minimisation per minimum; a no-op for Z2
    symmetric problems (the mirror is the same minimum).
    """
    pr = sp.problem
    if pr.has_z2 or pr.T < 2:
        return sp
    s = pr.parity_signs
    found = list(sp.minima)
    for m in sp.minima:
        cand = local_minimum(pr, s[:, None] * m.kernel * s[None, :], tol=tol)
        if not (cand.converged and cand.is_minimum):
            continue  # not converged (judged on the whitened residual), or a saddle
        if all(np.linalg.norm(cand.kernel - f.kernel) > 1e-6 * max(1.0, np.linalg.norm(f.kernel)) for f in found):
            found.append(cand)
    if len(found) == len(sp.minima):
        return sp
    found.sort(key=lambda m: m.action)
    H = found[0].kernel
    return replace(sp, kernel=H, action=found[0].action, kl=kl_term(pr, H), likelihood=likelihood_term(pr, H),
                   grad_norm=found[0].grad_norm, hessian_eigenvalues=np.linalg.eigvalsh(hessian(pr, H)),
                   predictions=predictions(pr, H), order_parameter=found[0].order_parameter, minima=tuple(found))


def _archs(archs) -> tuple:
    archs = (archs,) if isinstance(archs, str) else tuple(archs)
    for a in archs:
        validation.choice("arch", a, ("rnn", "dnn"))
    validation.nonempty("archs", archs, "rnn and/or dnn")
    return archs


@entry_point(size=lambda a: a["T"])    # P = 1: the kernel is T x T
def solve_sequence(T: int = 10, period: float = 10.0, radius: float = 1.0,
                   supervised: str | Iterable[int] = "first:4", lam: float = 1.0, *,
                   archs: str | Iterable[str] = ("rnn", "dnn"), seed: int = 0, n_starts: int | None = None,
                   mirror_starts: bool = True, w: float = 1.0, v: float = 1.0, u: float = 1.0,
                   kappa: float = 0.1) -> SequenceResult:
    """Saddle point, posterior-mean predictions and generalisation error of RNN and DNN on one teacher task.

    The task is :func:`~linkernel.teacher_sequence` (THEORY.md section 1, task (c)): a linear
    teacher RNN's outputs ``yhat^t = radius^t cos(2 pi t / period)``, supervised at some steps;
    the generalisation error ``L = 1/(2T) sum_t (y^t - f^t)^2`` runs over all steps.  The global
    minimum is used; the other minima are in ``saddles[arch].minima``.

    Parameters
    ----------
    T : int, default 10
        Number of hidden states.
    period : float, default 10.0
        The teacher's period, in timesteps.
    radius : float, default 1.0
        Modulus of the teacher's eigenvalues, ``0 < radius <= 1``.
    supervised : str or iterable of int, default "first:4"
        The supervised steps: a list, or ``"all"``, ``"first:K"``, ``"every-other"``,
        ``"every-other:K"``, ``"random:K"`` (drawn with ``seed``) or ``"0,1,2"``
        (:func:`linkernel.sequence.supervised_steps`).
    lam : float, default 1.0
        Signal strength: targets ``y = lam * yhat``.
    archs : str or iterable of str, default ("rnn", "dnn")
        Which of "rnn" and "dnn" to solve.
    seed : int, default 0
        Seed of random supervision patterns and of the saddle point's random starts.
    n_starts : int, optional
        ``n_starts - 1`` random starts added to the global search of
        :func:`~linkernel.saddle_point`; default none.
    mirror_starts : bool, default True
        Also start from the Z2 mirror of each minimum found.
    w, v, u : float, default 1.0
        Prior variances (recurrent ``w/N``, readout ``v``, input ``u/D``).
    kappa : float, default 0.1
        Likelihood variance in muP units.

    Returns
    -------
    SequenceResult
        Per architecture: predictions (shape (T,)), kernel (shape (T, T)) and the errors.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).

    Examples
    --------
    The DNN predicts zero at the unsupervised steps, so its error there is the targets' own:

    >>> import linkernel as lk
    >>> r = lk.solve_sequence(T=6, period=6.0, supervised="first:3", lam=1.0)
    >>> r.supervised, r.kernels["rnn"].shape
    ((0, 1, 2), (6, 6))
    >>> r.predictions["dnn"][3:]
    array([0., 0., 0.])
    >>> bool(abs(r.gen_error_unsupervised["dnn"] - (r.targets[3:] ** 2).sum() / (2 * 6)) < 1e-12)
    True
    """
    t0 = time.perf_counter()
    archs = _archs(archs)
    hyper = dict(w=w, v=v, u=u, kappa=kappa)
    preds, branch, kernels, err, err_u, z2, saddles = {}, {}, {}, {}, {}, {}, {}
    for arch in archs:
        pr = sequence_problem(arch, T=T, period=period, radius=radius, supervised=supervised, seed=seed,
                              lam=lam, **hyper)
        sp = saddle_point(pr, n_starts=n_starts, seed=seed)
        if mirror_starts:
            sp = add_mirror_minima(sp)
        f, z2[arch] = posterior_mean(pr, sp.kernel)
        branch[arch] = sp.predictions.ravel().copy()
        y = pr.targets.ravel()
        unsup = np.ones(pr.T, dtype=bool)
        unsup[list(s[0] for s in pr.supervised)] = False
        preds[arch], kernels[arch], saddles[arch] = f, sp.kernel, sp
        err[arch] = generalisation_error(y, f)
        err_u[arch] = 0.5 * float(np.sum((y - f)[unsup] ** 2)) / pr.T
    pr0 = saddles[archs[0]].problem
    return SequenceResult(T=pr0.T, period=float(period), radius=float(radius), lam=pr0.lam, hyper=hyper,
                          supervised=tuple(t for t, _ in pr0.supervised), archs=archs,
                          targets=pr0.targets.ravel().copy(), predictions=preds, branch_predictions=branch,
                          kernels=kernels, gen_error=err, gen_error_unsupervised=err_u, z2_averaged=z2, saddles=saddles,
                          seconds=time.perf_counter() - t0)


# --- sweeps -----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SequenceSweep(Display):
    """Generalisation error along one variable (``"n_supervised"`` or ``"lam"``).

    ``values`` (n,), ``gen_error[arch]`` (n,), ``n_minima[arch]`` (n,) the
    number of distinct minima found at each point (the global one is used),
    ``results`` the :class:`SequenceResult` of each point.
    """

    variable: str
    values: np.ndarray
    supervised: tuple
    gen_error: dict
    n_minima: dict
    results: tuple
    seconds: float

    def to_dict(self) -> dict:
        return {"variable": self.variable, "values": self.values.tolist(),
                "supervised": [list(s) for s in self.supervised],
                "gen_error": {a: v.tolist() for a, v in self.gen_error.items()},
                "n_minima": {a: v.tolist() for a, v in self.n_minima.items()},
                "results": [r.to_dict() for r in self.results], "seconds": self.seconds}

    def summary(self) -> str:
        """One row per value of the swept variable: L and the number of minima per architecture."""
        archs = list(self.gen_error)
        name = "k" if self.variable == "n_supervised" else "lambda"
        lines = [f"sequence sweep over {self.variable}: {len(self.values)} points ({self.seconds:.1f} s)",
                 f"{name:>8s}" + "".join(f" {'L ' + a.upper():>12s} {'minima':>6s}" for a in archs)]
        for i, x in enumerate(self.values):
            lines.append(f"{x:8.4g}" + "".join(f" {self.gen_error[a][i]:12.6g} {int(self.n_minima[a][i]):6d}"
                                               for a in archs))
        return "\n".join(lines)

    __str__ = summary


def _sweep(variable, values, specs, lams, archs, progress, kw) -> SequenceSweep:
    t0 = time.perf_counter()
    archs = _archs(archs)
    results = []
    # a bar only on a terminal: a log file gets the summary, not the bar's redraws
    bar = progress_bar(bool(progress), iterable=list(zip(values, specs, lams)),
                       desc=f"sequence sweep over {variable}")
    for _, spec, lam in bar:
        results.append(solve_sequence(supervised=spec, lam=lam, archs=archs, **kw))
    return SequenceSweep(
        variable=variable, values=np.asarray(values, dtype=float),
        supervised=tuple(r.supervised for r in results),
        gen_error={a: np.array([r.gen_error[a] for r in results]) for a in archs},
        n_minima={a: np.array([len(r.saddles[a].minima) for r in results]) for a in archs},
        results=tuple(results), seconds=time.perf_counter() - t0)


@entry_point(size=lambda a: a["T"])
def sweep_supervised(ks=None, pattern: str = "first", T: int = 10, lam: float = 1.0, *,
                     archs=("rnn", "dnn"), progress: bool = True, **kw) -> SequenceSweep:
    """L vs the number k of supervised steps, supervision ``"{pattern}:{k}"`` (first, every-other, random).

    ``ks`` defaults to every admissible k.  Other keywords go to :func:`solve_sequence`.
    """
    T = _count("T", T)
    validation.choice("pattern", pattern, ("first", "every-other", "random"))
    kmax = (T + 1) // 2 if pattern == "every-other" else T
    ks = list(range(1, kmax + 1)) if ks is None else [int(k) for k in ks]
    specs = [f"{pattern}:{k}" for k in ks]
    for s in specs:
        supervised_steps(T, s)  # validate before the long run
    return _sweep("n_supervised", ks, specs, [lam] * len(ks), archs, progress, dict(T=T, **kw))


@entry_point(size=lambda a: a["T"])
def sweep_lambda(lams, supervised="first:4", T: int = 10, *, archs=("rnn", "dnn"), progress: bool = True,
                 **kw) -> SequenceSweep:
    """L vs the signal strength lambda at fixed supervision.  Other keywords go to :func:`solve_sequence`."""
    lams = [float(x) for x in np.atleast_1d(lams)]
    supervised_steps(T, supervised, kw.get("seed", 0))
    return _sweep("lam", lams, [supervised] * len(lams), lams, archs, progress, dict(T=T, **kw))



# --- simulation: the exact finite-N posterior -----------------------------------------
@dataclass(frozen=True, eq=False)
class SequenceSimulation(Display):
    """Exact finite-width posterior (``linkernel.finite_n.exact``) on one sequence task, for one architecture.

    ``predictions`` (T,) posterior mean of f^t (Z2-averaged like the theory
    when the task is Z2 symmetric), ``predictions_stderr`` (T,) their Monte
    Carlo standard errors (from the effective sample size of each step);
    ``gen_error`` L of the posterior-mean predictions and
    ``gen_error_stderr`` its Monte Carlo error (delta method: the MCSE of the
    per-draw series ``(f_bar - y) . f / T``); ``max_rhat`` / ``min_ess`` over
    the kernel entries, as reported by the sampler.
    """

    arch: str
    N: int
    supervised: tuple
    lam: float
    targets: np.ndarray
    predictions: np.ndarray
    predictions_stderr: np.ndarray
    gen_error: float
    gen_error_stderr: float
    max_rhat: float
    min_ess: float
    chains: int
    samples: int
    seconds: float

    def to_dict(self) -> dict:
        return {"arch": str(self.arch), "N": self.N, "supervised": list(self.supervised), "lam": self.lam,
                "targets": self.targets.tolist(), "predictions": self.predictions.tolist(),
                "predictions_stderr": self.predictions_stderr.tolist(), "gen_error": self.gen_error,
                "gen_error_stderr": self.gen_error_stderr, "max_rhat": self.max_rhat, "min_ess": self.min_ess,
                "chains": self.chains, "samples": self.samples, "seconds": self.seconds}

    def summary(self) -> str:
        """L with its Monte Carlo error, the predictions at every step, and the sampler's diagnostics."""
        lines = [f"{str(self.arch).upper()} at N={self.N}, lambda={self.lam:g}, supervised "
                 + ",".join(map(str, self.supervised)) + f": L = {self.gen_error:.6g} +- {self.gen_error_stderr:.2g}",
                 "   t  sup    target  prediction   stderr"]
        for t in range(len(self.targets)):
            lines.append(f"{t:4d}  {'*' if t in self.supervised else ' '}  {self.targets[t]:9.5f} "
                         f"{self.predictions[t]:11.5f} {self.predictions_stderr[t]:8.1e}")
        lines.append(f"{self.chains} chains x {self.samples} draws: min ESS {self.min_ess:.0f}, "
                     f"max R-hat {self.max_rhat:.4f}, {self.seconds:.1f} s")
        return "\n".join(lines)

    __str__ = summary


def _draw_predictions(problem: Problem, H: np.ndarray) -> np.ndarray:
    """Posterior means of f given each kernel of a stack (M, T, T) -> (M, T), Z2-averaged as in posterior_mean."""
    idx = problem.supervised_index
    K = readout_kernel(problem, H)
    a = np.linalg.solve(K, np.broadcast_to(problem.y_S, (H.shape[0], len(idx)))[..., None])[..., 0]
    f = problem.v * np.einsum("mis,ms->mi", H[:, :, idx], a)
    sigma = z2_sign(problem)
    if sigma is not None:
        f = 0.5 * (f + sigma * problem.parity_signs * f)
    return f


def simulate_sequence(arch: str, N: int, T: int = 10, period: float = 10.0, radius: float = 1.0,
                      supervised="first:4", lam: float = 1.0, *, chains: int = 4, samples: int = 1000,
                      warmup: int = 500, seed: int = 0, progress: bool = False, **hyper) -> SequenceSimulation:
    """Posterior-mean predictions and L of a width-``N`` network, exactly (HMC on the rotation-invariant reduction).

    Given the kernel H of a draw, the readout's posterior mean is exactly the
    GP formula at every N, so ``E f = E_H[v H_{*S} (v H_SS + kappa)^-1 y_S]``.
    Finite-N corrections to the theory are O(1/N); see
    :func:`extrapolate_inverse_N`.
    """
    from linkernel.finite_n.exact import exact_posterior  # the simulation layer; imported only when used
    from linkernel.finite_n.diagnostics import ess_mean as ess

    pr = sequence_problem(arch, T=T, period=period, radius=radius, supervised=supervised, seed=seed, lam=lam,
                          **hyper)
    t0 = time.perf_counter()
    ex = exact_posterior(pr, N, chains=chains, samples=samples, warmup=warmup, seed=seed, progress=progress)
    n = pr.n
    F = _draw_predictions(pr, ex.draws.reshape(-1, n, n)).reshape(ex.draws.shape[:2] + (n,))
    fbar = F.mean(axis=(0, 1))
    y = pr.targets.ravel()

    def se(x):
        sd = float(np.std(x, ddof=1))
        return 0.0 if sd == 0.0 else sd / np.sqrt(ess(x))

    f_se = np.array([se(F[..., i]) for i in range(n)])
    L = generalisation_error(y, fbar)
    L_se = se(F @ ((fbar - y) / n))
    return SequenceSimulation(arch=arch, N=ex.N, supervised=tuple(t for t, _ in pr.supervised), lam=pr.lam,
                              targets=y, predictions=fbar, predictions_stderr=f_se, gen_error=L,
                              gen_error_stderr=L_se, max_rhat=ex.max_rhat, min_ess=ex.min_ess, chains=chains,
                              samples=samples, seconds=time.perf_counter() - t0)


def extrapolate_inverse_N(Ns, values, stderrs) -> tuple:
    """Weighted least-squares fit ``value(N) = value_inf + a / N``; returns ``(value_inf, its stderr, a)``.

    Finite-width corrections to the saddle point are O(1/N); the
    extrapolated value is what the N -> infinity theory must match.
    """
    Ns, vals = (np.asarray(a, dtype=float) for a in (Ns, values))
    if len(Ns) < 2 or len(set(Ns.tolist())) < 2:
        raise ValueError(f"Ns={Ns.tolist()} is invalid; need at least two distinct widths to extrapolate in 1/N")
    ses = validation.finite_entries("stderrs", stderrs, low=0)
    A = np.column_stack([np.ones_like(Ns), 1.0 / Ns]) / ses[:, None]
    coef, *_ = np.linalg.lstsq(A, vals / ses, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    return float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1])

__all__ = ["supervised_steps", "sequence_problem", "posterior_mean", "generalisation_error", "z2_sign",
           "SequenceResult", "solve_sequence", "add_mirror_minima", "minimum_gen_error", "SequenceSweep", "sweep_supervised", "sweep_lambda",
           "SequenceSimulation", "simulate_sequence", "extrapolate_inverse_N", "teacher_outputs"]

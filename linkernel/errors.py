"""Every exception and warning class of linkernel, in one place (this module imports nothing).

Errors
    :class:`KernelError` (a ``ValueError``): a kernel that is not symmetric positive definite or has
    the wrong shape.  :class:`ConvergenceError`: a numerical method did not converge; the message
    says what to change.  :class:`SweepError`: a point of a sweep failed.  :class:`DivergenceError`:
    a Langevin run of the network sampler blew up.

Warnings (each a ``UserWarning``, raised once, in one line, when a result was cut short or did not
converge; the result's own fields say the same)
    :class:`SaddleWarning`, :class:`ContinuationWarning`, :class:`PhaseDiagramWarning`,
    :class:`FiniteWidthWarning`, :class:`SamplerWarning`.
"""

from __future__ import annotations


class KernelError(ValueError):
    """A kernel that is not symmetric positive definite, or has the wrong shape.

    Raised where a kernel ``H`` (shape ``(T*P, T*P)``) enters a computation that needs it positive
    definite: the action and its Hessian (:mod:`linkernel.theory.hessian`, e.g. when the Hessian
    overflows near the boundary of the cone) and the high-precision refinement.  A subclass of
    :class:`ValueError`, so code that catches bad input catches it too.
    """


class ConvergenceError(RuntimeError):
    """A numerical method did not converge; the message says what to change.

    Raised by Newton's method, continuation (:func:`~linkernel.trace`, a stalled step or a failed
    branch switch), :func:`~linkernel.critical_lambda`, :func:`~linkernel.critical_exponent`,
    :func:`~linkernel.critical_point` and the exact finite-width reduction
    (:func:`~linkernel.exact_posterior`, :func:`~linkernel.finite_width`) when they cannot
    produce a trustworthy answer; the message names the setting to change (a step, a range, a
    start).
    """


class SweepError(RuntimeError):
    """A point of a sweep failed; the points finished before it are cached and are not recomputed.

    Raised by :func:`linkernel.sweep.sweep` (and :func:`~linkernel.run_sweep_config`) when the
    function evaluated at a grid point raises; the message names the point and the original
    exception, and rerunning the sweep resumes from the cache.
    """


class DivergenceError(RuntimeError):
    """A Langevin run of the network sampler blew up; the message names the sweep and a step to try.

    Raised by :func:`~linkernel.sample_networks` when the outputs of a chain become non-finite or
    huge (the step is too large for the likelihood's stiffest direction, whose curvature is about
    ``v H_SS / kappa``); retry with the smaller step the message suggests.
    """


class SaddleWarning(UserWarning):
    """A saddle-point search whose result did not fully converge (the result says which field).

    Emitted once by :func:`~linkernel.saddle_point` when some Newton runs did not converge, when no
    stationary point found is a certified minimum, or when a degenerate stationary point lies
    below the lowest certified minimum; :class:`~linkernel.SaddlePoint` records the same
    (``certified``, ``unconverged_runs``).
    """


class ContinuationWarning(UserWarning):
    """A continuation result that is cut short (a branch stopped before the end of its lambda range).

    Emitted once by :func:`~linkernel.trace` (and by :func:`~linkernel.critical_exponent` when its
    fit does not reach the expected exponent) when a branch stopped early; the
    :class:`~linkernel.Trace` says the same in ``complete`` and ``stop_reason``.
    """


class PhaseDiagramWarning(UserWarning):
    """A line of the phase diagram was cut short (continuation failed before the end of the range).

    Emitted once by :func:`~linkernel.phase_diagram` when a critical or coexistence line stopped
    before the end of its range, or when several odd sectors become critical together; the
    :class:`~linkernel.PhaseDiagram` lists the same in its notes.
    """


class FiniteWidthWarning(UserWarning):
    """The 1/N expansion does not apply here (critical window, non-minimum, ...): see ``reason``.

    Emitted once by :func:`~linkernel.finite_width` when the saddle point is not a minimum of the
    action, when the loop parameter ``G`` exceeds ``g_max`` (the softest Hessian mode is too flat
    at this ``N``: inside the critical window of a transition) or when the correction is not
    finite; the :class:`~linkernel.FiniteWidth` result's ``valid`` and ``reason`` say the same.
    """


class SamplerWarning(UserWarning):
    """A sampler's result is not trustworthy as it stands (R-hat > 1.01, ESS < 100 or divergences).

    Emitted once, in one line, by :func:`~linkernel.exact_posterior` and
    :func:`~linkernel.sample_networks` when their diagnostics fail; the result's ``converged`` and
    ``warnings`` fields say the same.
    """

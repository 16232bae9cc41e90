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
    """A kernel that is not symmetric positive definite (or has the wrong shape)."""


class ConvergenceError(RuntimeError):
    """A numerical method did not converge; the message says what to change."""


class SweepError(RuntimeError):
    """A point of a sweep failed; the points finished before it are in the cache and are not recomputed."""


class DivergenceError(RuntimeError):
    """A Langevin run of the network sampler blew up; the message names the sweep and a step to try."""


class SaddleWarning(UserWarning):
    """A saddle-point result that did not fully converge (the result says which field)."""


class ContinuationWarning(UserWarning):
    """A continuation result that is cut short (a branch stopped before the end of its lambda range)."""


class PhaseDiagramWarning(UserWarning):
    """A line of the phase diagram was cut short (continuation failed before the end of the range)."""


class FiniteWidthWarning(UserWarning):
    """The 1/N expansion does not apply here (critical window, non-minimum, ...): see ``reason``."""


class SamplerWarning(UserWarning):
    """A sampler's result is not trustworthy as it stands (R-hat > 1.01, ESS < 100 or divergences)."""

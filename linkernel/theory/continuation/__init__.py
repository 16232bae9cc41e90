"""Pseudo-arclength continuation of the saddle-point equations dS/dH = 0 in lambda: equations in, branches out.

In the spirit of BifurcationKit.jl and pacopy, in four layers (each imports only those above it):

* :mod:`~linkernel.theory.continuation.spectra` and :mod:`~linkernel.theory.continuation.bordered`:
  the Jacobian of :class:`linkernel.theory.equations.Equations` at one point with a border row,
  its tangent, the bordered solves and the eigenvalue counts (dense LDL^T with Sylvester's
  inertia, or matrix-free MINRES and Lanczos);
* :mod:`~linkernel.theory.continuation.stepper`: one branch by predictor-corrector steps with
  folds and branch points located as zeros of test functions, branch switching;
* :mod:`~linkernel.theory.continuation.codim2`: the minimally augmented systems of lines of
  branch points and folds in (param, lambda), for the stepper's damped corrector
  (:func:`~linkernel.theory.continuation.stepper.correct_damped`);
* :mod:`~linkernel.theory.continuation.coexistence`: equal action of two branches;
* :mod:`~linkernel.theory.continuation.tracing`: :func:`trace`, :func:`follow`, :func:`point_at`,
  :func:`trace_endpoint`.
"""

from linkernel.theory.continuation.tracing import LONG_STEP_DIM, follow, point_at, trace, trace_endpoint
from linkernel.theory.equations import gradient_lambda

__all__ = ["LONG_STEP_DIM", "follow", "gradient_lambda", "point_at", "trace", "trace_endpoint"]

"""Phase diagrams: the transition's lines in the plane of lambda and one more parameter, by continuation.

For a problem (task + sharing pattern) with a Z2 symmetry ``W_g -> -W_g`` and
a second parameter ``param`` (``kappa``, ``w``, ``v`` or ``u``), the lines are
computed by continuing the special points themselves in ``param`` (the
codimension-two approach of AUTO and BifurcationKit.jl), never by a grid of
traces:

* the **branch-point line** ``lambda_c(param)``: the minimally augmented system
  ``F_e(x_e, lambda) = 0`` (the saddle-point equations dS/dH = 0 in the Z2-even
  coordinates, the odd ones zero) plus the test function
  ``g(x_e, lambda) = mu_odd`` (smallest eigenvalue of the odd block of the
  Hessian) ``= 0`` (:class:`linkernel.theory.continuation.codim2.MinimallyAugmented`,
  in ``X = (x, lambda, log param)``), corrected at each ``param`` by the continuation
  stepper's damped corrector (:func:`linkernel.theory.continuation.stepper.correct_damped`)
  from a secant prediction through the two nearest points
  (:class:`~linkernel.theory.continuation.codim2.Codim2Line`: natural-parameter
  continuation in ``log param``; lambda_c is a graph over param).  The row ``dg/dx = D^3 S[phi, phi, .]`` (Hellmann-Feynman, phi the
  unit odd null vector) is a central difference of Hessian-vector products
  along phi; the residual is exact, so the Jacobian's accuracy only affects
  the rate of convergence;
* the **Landau coefficient b** along that line, from the fourth derivative
  along the odd null vector with the even modes solved out:
  ``S(x_c + s phi + y) = S_0 + b_s s^4 + O(s^6)``,
  ``b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8``, ``c = D^3S[phi, phi, .]_even``;
  reported per order parameter, ``b = b_s / (a . phi)^4`` with ``m = a . x``
  (:func:`linkernel.theory.action.m_vector` of the breaking group).  ``c`` and
  ``D^4S[phi^4]`` come from ``hessian_vector(H + h Phi, Phi)`` at four step
  sizes with Richardson extrapolation (error ~h^8; the Z2 symmetry makes the
  even part odd in h and the odd part even);
* the **tricritical point**: the zero of b along the branch-point line,
  refined by Brent's method in param (each evaluation a converged branch point);
* patterns with several W groups have several odd sectors (characters under
  the flips, :func:`_sectors`), each a block of the Hessian on the symmetric
  saddle: the line follows the critical sector's block, and where another
  sector's smallest eigenvalue crosses zero first (a double branch point,
  ``mode_crossing``) it is refined and the line switches sector.  Sectors
  critical together along the whole line (``tied_blocks(5, 2)``: both tied
  pairs break at the same lambda_c) are reported in ``sectors`` with one
  warning; b is then the quartic coefficient of the followed mode alone;
* where the symmetric saddle at lambda_c is itself unstable in the even
  sector (its smallest even eigenvalue < 0): the branch point is no longer
  a phase boundary; the crossing is reported (``symmetric_fold`` point);
* in first-order regions (b < 0) the **spinodal** (fold of the broken branch):
  the minimally augmented system ``F(x, lambda) = 0`` (all coordinates) plus
  ``g = smallest eigenvalue of the whole Hessian = 0``, continued in param; and
  the **coexistence line** (equal action of the symmetric and the broken
  minimum): Newton in lambda on ``S_broken - S_symmetric`` (its lambda
  derivative is ``dS/dlam`` at fixed H, envelope theorem), both saddles
  solved by Newton at each lambda.  Both are seeded at one param by walking
  the broken branch from the branch point along its odd null vector (the
  arclength-free parametrisation ``phi . (x - x_c) = s``, each point by the
  continuation's corrector :func:`linkernel.theory.continuation.stepper.correct`
  with the border ``(phi, 0)``), and both end at the tricritical point.

No Newton of this package's own solves a line: the branch-point and fold systems and the
fixed-lambda solves of the coexistence are systems of
:mod:`linkernel.theory.continuation.codim2` (``MinimallyAugmented``, ``FixedLambda``) solved by
the stepper's damped corrector (the damping is needed: the undamped corrector loses points of
the T = 4 spinodal and coexistence lines).  The one remaining iteration here is the scalar
Newton in lambda on ``S_broken - S_symmetric`` (coexistence).  Not yet done: a pseudo-arclength
predictor along the codim-2 tangent (it needs ``dG/d log param``, i.e. the equations at
neighbouring params), which would let the lines turn in param.

Linear algebra is dense (the Hessian from :func:`linkernel.theory.action.hessian`,
``eigh`` of its sector blocks): meant for kernels up to ``T*P`` of a few
dozen (the T = 12 endpoint task: ~0.1 s per branch point on one core).

Coordinates: ``x = to_vector(H)`` (:mod:`linkernel.theory.action`), kernel
rows ``t*P + p``, ``t = 0..T-1``; Z2 sectors from
:func:`linkernel.theory.action.odd_coordinates`.  The closed forms of
:mod:`linkernel.symbolic.order` / :mod:`linkernel.symbolic.critical` (RNN
endpoint task) are used only by the tests and :meth:`PhaseDiagram.summary`'s
cross-check, never by the computation.
"""

from linkernel.theory.phase_diagram.augmented import landau_quartic
from linkernel.theory.phase_diagram.lines import phase_diagram, phase_summary
from linkernel.theory.phase_diagram.plot import plot_phase_diagram
from linkernel.theory.phase_diagram.results import PARAMS, CodimTwoPoint, PhaseDiagram, PhaseSummary

__all__ = ["PARAMS", "CodimTwoPoint", "PhaseDiagram", "PhaseSummary", "landau_quartic", "phase_diagram",
           "phase_summary", "plot_phase_diagram"]

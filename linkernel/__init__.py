"""linkernel: kernel theory of feature learning in linear RNNs and DNNs (arXiv 2602.15593).

The flow of the package, each layer using only those above it:

    problem, tasks            what is asked (architecture, T, P, inputs, S, labels, hyperparameters, lambda)
    action, symbolic          S(H) and Sigma(H), in NumPy and in SymPy (the same formula)
    saddle                    the kernel: the minimum of S
    branch, stability, landau, critical, equations
                              the transition in closed form (SymPy)
    continuation, highprec, exponent, landscape
                              branches in lambda, special points, beta, Fig. 4b
    exact, mcmc, finite_size, network, sgld, sequence
                              finite-N ground truth, real networks, sequence tasks
    latex, plots, report, cli what a person reads
"""

from linkernel.problem import Problem, fix_z2_sign, index, order_parameter
from linkernel.tasks import endpoint, sinusoid, teacher_outputs, teacher_sequence
from linkernel.action import (KernelError, action, gradient, hessian, kl_term, likelihood_term,
                              predictions, prior_kernel, sigma)
from linkernel.saddle import ConvergenceError, Minimum, SaddlePoint, local_minimum, saddle_point, stationary_point
from linkernel.symbolic import SymbolicAction, symbolic_action

from linkernel.branch import SymmetricBranch, branch_kernel, branch_ratios, symmetric_branch
from linkernel.stability import HessianBlocks, critical_ratio, hessian_blocks
from linkernel.landau import LandauCoefficients, landau_coefficients, sixth_order_coefficient, tricritical_load
from linkernel.critical import CriticalPoint, critical_point, order_map
from linkernel.equations import SaddleEquations, saddle_point_equations
from linkernel.latex import derivation_document, write_derivation

from linkernel.branches import Branch, ContinuationPoint, SpecialPoint, Trace
from linkernel.continuation import follow, point_at, trace, trace_endpoint
from linkernel.exponent import ExponentEstimate, critical_exponent
from linkernel.landscape import Landscape, LandscapeCurve, landscape, landscape_at

from linkernel.exact import ExactResult, Reduction, exact_posterior, limit_kernel
from linkernel.finite_size import FiniteSizeScaling, Rounding, critical_lambda, finite_size_scaling, rounding
from linkernel.sgld import SGLDDivergence, SGLDResult, cka, langevin_extrapolated, run_sgld, sample_posterior
from linkernel.sequence import (SequenceResult, SequenceSimulation, SequenceSweep, generalisation_error,
                                posterior_mean, sequence_problem, simulate_sequence, solve_sequence,
                                supervised_steps, sweep_lambda, sweep_supervised)

from linkernel.report import Report, run_report

__version__ = "0.1.0"

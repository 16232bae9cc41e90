"""linkernel: kernel theory of feature learning in linear RNNs and DNNs (arXiv 2602.15593).

The flow of the package is the layout of its folders; each layer imports only those above it:

    problem, architecture, tasks   what is asked: which weights are shared, T, P, inputs, S, labels,
                                   hyperparameters, lambda
    theory/                        S(H) in NumPy (action), the saddle point, branches in lambda
                                   (continuation, branches), special points, landscape, exponent,
                                   high precision
    symbolic/                      the same action in SymPy; closed-form equations, symmetric branch,
                                   stability, Landau, critical point, LaTeX
    finite_n/                      exact rotation-invariant reduction, HMC and diagnostics (mcmc),
                                   networks and their sampler, finite-size scaling
    sequence, sweep, figures,      sequence tasks, grids on a distributed engine, the paper's figures,
    plots, report                  plots, the main job
    cli                            parses, calls one function, prints its summary
"""

from linkernel.errors import (ContinuationWarning, ConvergenceError, DivergenceError, FiniteWidthWarning, KernelError, PhaseDiagramWarning, SamplerWarning)
from linkernel.architecture import (Architecture, dnn, dnn_with_tied_pair, redrawn_every, rnn,
                                    shared_w_untied_u, tied_blocks)
from linkernel.problem import Problem, fix_z2_sign, index, order_parameter
from linkernel.tasks import endpoint, sinusoid, teacher_outputs, teacher_sequence
from linkernel.theory.action import (action, gradient, hessian, kl_term, likelihood_term, predictions, prior_kernel, sigma)
from linkernel.theory.saddle import Minimum, SaddlePoint, local_minimum, saddle_point, stationary_point
from linkernel.symbolic.action import SymbolicAction, symbolic_action

from linkernel.symbolic.symmetric_branch import SymmetricBranch, branch_kernel, branch_ratios, symmetric_branch
from linkernel.symbolic.stability import HessianBlocks, critical_ratio, hessian_blocks
from linkernel.symbolic.landau import LandauCoefficients, landau_coefficients, sixth_order_coefficient, tricritical_load
from linkernel.symbolic.critical import CriticalPoint, critical_point, order_map
from linkernel.symbolic.equations import SaddleEquations, saddle_point_equations
from linkernel.symbolic.latex import derivation_document, write_derivation
from linkernel.symbolic.patterns import PatternCriticalPoint, pattern_critical_point, pattern_landau
from linkernel.symbolic.order import general_order, landau_b, transition_order, tricritical_kappa

from linkernel.theory.branches import Branch, ContinuationPoint, SpecialPoint, Trace
from linkernel.theory.continuation import follow, point_at, trace, trace_endpoint
from linkernel.theory.exponent import ExponentEstimate, critical_exponent
from linkernel.theory.special_points import (ConstrainedMinimum, constrained_minimum, critical_lambda,
                                             odd_hessian_minimum, symmetric_saddle)
from linkernel.theory.landscape import Landscape, LandscapeCurve, landscape, landscape_at
from linkernel.theory.finite_width import FiniteWidth, finite_width
from linkernel.theory.spectrum import (SpectrumReport, WeightSpectrum, network_weights, sampled_spectrum,
                                       spectral_threshold, spectrum_report, weight_spectrum)
from linkernel.theory.phase_diagram import PhaseDiagram, PhaseSummary, phase_diagram, phase_summary

from linkernel.finite_n.exact import ExactResult, Reduction, exact_posterior, limit_kernel
from linkernel.finite_n.diagnostics import Diagnostics
from linkernel.finite_n.spectra import WeightSpectra
from linkernel.finite_n.finite_size import FiniteSizeScaling, Rounding, finite_size_scaling, rounding
from linkernel.finite_n.network_sampler import (NetworkPosterior, SGLDResult, cka, langevin_extrapolated, run_sgld, sample_networks, sample_posterior)
from linkernel.sequence import (SequenceResult, SequenceSimulation, SequenceSweep, generalisation_error,
                                posterior_mean, sequence_problem, simulate_sequence, solve_sequence,
                                supervised_steps, sweep_lambda, sweep_supervised)

from linkernel.report import Report, run_report
from linkernel.figures import FigureResult, make_figure
# ``linkernel.sweep`` is the function (the module stays importable as ``from linkernel.sweep import ...``)
from linkernel.sweep import SweepResult, run_sweep_config, sweep

__version__ = "0.1.0"

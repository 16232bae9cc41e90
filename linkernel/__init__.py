"""linkernel: kernel theory of feature learning in linear RNNs and DNNs (arXiv 2602.15593)."""

from linkernel.problem import Problem, fix_z2_sign, index, order_parameter
from linkernel.tasks import endpoint, sinusoid, teacher_sequence
from linkernel.action import (KernelError, action, gradient, hessian, kl_term, likelihood_term,
                              predictions, prior_kernel, sigma)
from linkernel.saddle import ConvergenceError, Minimum, SaddlePoint, saddle_point, stationary_point

__version__ = "0.1.0"

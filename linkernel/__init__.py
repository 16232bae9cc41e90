"""linkernel: kernel theory of feature learning in linear RNNs and DNNs (arXiv 2602.15593).

The flow of the package is the layout of its folders; each layer imports only those above it:

    errors, validation, numerics,  every exception and warning class; the input checks; the shared
    progress, threads, formatting, numerical helpers, the progress bar, the BLAS-thread policy, the
    display                        display of results (compact repr, HTML and LaTeX for Jupyter, plot())
    problem, architecture, tasks   what is asked: which weights are shared, T, P, inputs, S, labels,
                                   hyperparameters, lambda
    theory/                        S(H) in NumPy (action), the saddle-point equations, Newton, the saddle
                                   point, branches in lambda (continuation), special points, landscape,
                                   exponent, high precision, the phase diagram
    symbolic/                      the same action in SymPy; closed-form equations, symmetric branch,
                                   stability, Landau, critical point, LaTeX
    finite_n/                      exact rotation-invariant reduction, HMC and diagnostics,
                                   networks and their sampler, the 1/N correction, finite-size scaling
    sequence, sweep, figures,      sequence tasks, grids on a distributed engine, the paper's figures,
    plots, report                  plots, the main job
    cli                            parses, calls one function, prints its summary

``import linkernel`` is lazy (PEP 562): the names of :data:`__all__` are looked up in
:data:`_PUBLIC` and their module is imported on first use, so SymPy, SciPy and matplotlib load
only when a computation needs them.  ``__all__`` holds the user-facing names: the problem and its
constructors, one function per computation (the ones the CLI's subcommands call) with its result
class, and the errors.  Everything else is imported from its module, e.g.
``from linkernel.theory.action import hessian``.

No public name shadows a module: ``linkernel.sweep`` is the module :mod:`linkernel.sweep`; its
function is ``linkernel.sweep.sweep(fn, grid)`` (the module keeps its name because the sweep's
cache keys and the pickled calls sent to dask workers name it).
"""

from __future__ import annotations

import importlib

__version__ = "0.3.2"

#: public name -> the module that defines it (imported on first access)
_PUBLIC = {
    # errors and warnings
    **{name: "linkernel.errors" for name in (
        "KernelError", "ConvergenceError", "SweepError", "DivergenceError", "SaddleWarning",
        "ContinuationWarning", "PhaseDiagramWarning", "FiniteWidthWarning", "SamplerWarning")},
    # what is asked
    **{name: "linkernel.architecture" for name in (
        "Architecture", "rnn", "dnn", "dnn_with_tied_pair", "redrawn_every", "shared_w_untied_u", "tied_blocks")},
    "Problem": "linkernel.problem",
    **{name: "linkernel.tasks" for name in ("endpoint", "sinusoid", "teacher_sequence")},
    # the theory at infinite width
    "saddle_point": "linkernel.theory.saddle",
    "SaddlePoint": "linkernel.theory.saddle",
    "trace": "linkernel.theory.continuation",
    "Trace": "linkernel.theory.branches",
    "critical_lambda": "linkernel.theory.special_points",
    "critical_exponent": "linkernel.theory.exponent",
    "ExponentEstimate": "linkernel.theory.exponent",
    "landscape": "linkernel.theory.landscape",
    "Landscape": "linkernel.theory.landscape",
    "phase_diagram": "linkernel.theory.phase_diagram",
    "PhaseDiagram": "linkernel.theory.phase_diagram",
    "spectrum_report": "linkernel.finite_n.spectra",
    "SpectrumReport": "linkernel.finite_n.spectra",
    # closed forms
    "critical_point": "linkernel.symbolic.critical",
    "CriticalPoint": "linkernel.symbolic.critical",
    "write_derivation": "linkernel.symbolic.latex",
    # finite width
    "finite_width": "linkernel.finite_n.finite_width",
    "FiniteWidth": "linkernel.finite_n.finite_width",
    "exact_posterior": "linkernel.finite_n.exact",
    "ExactResult": "linkernel.finite_n.exact",
    "sample_networks": "linkernel.finite_n.network_sampler",
    "NetworkPosterior": "linkernel.finite_n.network_sampler",
    # applications and the main job
    "solve_sequence": "linkernel.sequence",
    "SequenceResult": "linkernel.sequence",
    "run_sweep_config": "linkernel.sweep",
    "SweepResult": "linkernel.sweep",
    "make_figure": "linkernel.figures",
    "FigureResult": "linkernel.figures",
    "run_report": "linkernel.report",
    "Report": "linkernel.report",
}

#: the subpackages and modules reachable as attributes (``linkernel.tasks``) without an import statement
_MODULES = ("architecture", "cli", "display", "errors", "figures", "finite_n", "formatting", "numerics", "plots", "problem",
            "progress", "report", "sequence", "serialize", "sweep", "symbolic", "tasks", "theory", "threads",
            "validation")

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    """Import the module of a public name (or a submodule) on first access and cache the result."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_MODULES))

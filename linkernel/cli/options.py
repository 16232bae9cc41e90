"""The CLI's shared vocabulary: the argument types (each a check of :mod:`linkernel.validation`), the
options every subcommand shares (the problem, its hyperparameters, --json, --plot, --save), the
problem they describe, the size limits, and how a result is shown.

Imports nothing that computes at module level: ``linkernel --help`` must not pay for SciPy,
SymPy or matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linkernel import validation

COMMANDS: dict = {}


def command(name: str, help: str, aliases=()):
    """Register ``fn(subparsers_entry) -> runner`` as the subcommand ``name`` (and its ``aliases``)."""
    def deco(fn):
        COMMANDS[name] = (help, fn, tuple(aliases))
        return fn
    return deco


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit status 2
        sys.stderr.write(f"linkernel: error: {message}\n".replace("\n", " ").rstrip() + "\n")
        raise SystemExit(2)


# --- argument types ---------------------------------------------------------------
# Every check is a function of linkernel.validation; argparse shows an ArgumentTypeError's text, so
# the check's ValueError (parameter, value, what is allowed) is passed on as one.
def _typed(check, name, *args):
    """An argparse ``type=``: ``check(name, text, *args)`` with its ValueError as an ArgumentTypeError."""
    def parse(text):
        try:
            return check(name, text, *args)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = name
    return parse


def int_arg(name, low=1, high=None):
    """An integer in low..high (no upper bound by default), refused with the option's name
    (argparse prefixes 'argument --NAME:')."""
    return _typed(validation.integer, name, low, high)


def float_arg(name, positive=True):
    """A finite float (positive unless ``positive=False``), refused with the option's name."""
    return _typed(validation.positive if positive else validation.finite, name)


def float_list(name):
    """Comma-separated finite numbers (``1.4,1.62,1.8``)."""
    return _typed(validation.listed, name, validation.finite, "numbers")


def int_list(name, low=1):
    """Comma-separated integers >= low (``3,4,5``), refused with the option's name."""
    return _typed(validation.listed, name, lambda n, t: validation.integer(n, t, low), f"integers >= {low}")


T_values = int_list("T")


def range_arg(name):
    """A range LO:HI with 0 < LO < HI < inf, refused with the option's name."""
    return _typed(validation.number_range, name)


lam_range = range_arg("lam-range")


def not_a_range(text):
    """``--lam`` where a range is wanted: say which option takes it."""
    raise argparse.ArgumentTypeError(f"--lam takes one value; give the range as --lam-range LO:HI (e.g. {text})")


def arch_type(text):
    """rnn, dnn or a pattern as JSON text; checked against T by Architecture.from_spec when the problem is built."""
    text = text.strip()
    return text.lower() if text.lower() in ("rnn", "dnn") else text


def archs_type(text):
    """A comma list of rnn/dnn, or one pattern as JSON."""
    text = text.strip()
    if text.startswith("{"):
        return [text]
    return _typed(validation.listed, "arch", lambda n, a: validation.choice(n, a.lower(), ("rnn", "dnn")),
                  'rnn or dnn (or one weight-sharing pattern as JSON)')(text)


ARCH_HELP = 'rnn | dnn | a weight-sharing pattern as JSON, e.g. \'{"W": [[1,2,3],[4,5]]}\' (default rnn)'


# --- shared arguments ---------------------------------------------------------------
# Defaults of the problem options; they are filled in after parsing, so that an option the user
# gave can be told from a default (``--problem FILE`` with ``--T 5`` is a contradiction, not a default).
DEFAULTS = {"arch": "rnn", "T": 4, "lam": 2.0, "kappa": 0.1, "w": 1.0, "v": 1.0, "u": 1.0, "P": 1, "D": None,
            "labels": None, "task": "endpoint", "supervised": None, "period": 10.0, "radius": 1.0}
HYPER = ("w", "v", "u", "kappa")
TASKS = ("endpoint", "sinusoid", "sequence")


def add_hyperparameter_args(p: argparse.ArgumentParser) -> None:
    """--kappa, --w, --v, --u with the paper's defaults (kappa = 0.1, w = v = u = 1)."""
    p.add_argument("--kappa", type=float_arg("kappa"), default=None, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float_arg("w"), default=None, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float_arg("v"), default=None, help="readout variance (default 1)")
    p.add_argument("--u", type=float_arg("u"), default=None, help="input weight variance (default 1)")


def _given(args, name):
    return getattr(args, name, None) is not None


def _value(args, name):
    val = getattr(args, name, None)
    return DEFAULTS[name] if val is None else val


def hyperparameters(args) -> dict:
    """The keywords w, v, u, kappa of :func:`add_hyperparameter_args`, for Problem constructors."""
    return {k: _value(args, k) for k in HYPER}


def add_arch_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", type=arch_type, default=None, help=ARCH_HELP)


_labels = float_list("labels")


def add_task_args(p: argparse.ArgumentParser, T_list: bool = False) -> None:
    """Which problem: the endpoint task (--P, --D, --labels), the sinusoid or teacher sequence, or a file."""
    p.add_argument("--task", choices=TASKS, default=None,
                   help="endpoint (P inputs at t = 0, labels at T-1; default) | sinusoid (y^t = cos(2 pi t/T)) | "
                        "sequence (a linear teacher RNN's outputs, --period, --radius)")
    p.add_argument("--problem", metavar="FILE[:NAME]", default=None,
                   help="a problem as JSON with Problem's own keys (arch, T, x, supervised, yhat, w, v, u, kappa, "
                        "lam), as Problem.to_dict() writes, or one NAME of a file {\"problems\": [...]}; "
                        "replaces the task options")
    p.add_argument("--P", type=int_arg("P"), default=None,
                   help="endpoint task: patterns, orthogonal inputs at t = 0 (default 1)")
    p.add_argument("--D", type=int_arg("D"), default=None, help="endpoint task: input dimension D >= P (default P)")
    p.add_argument("--labels", type=_labels, default=None, metavar="Y1,Y2,..",
                   help="endpoint task: one label per pattern (default +1,-1,+1,...)")
    p.add_argument("--supervised", type=int_list("supervised", low=0), default=None, metavar="T1,T2,..",
                   help="sinusoid/sequence tasks: supervised timesteps (default all)")
    p.add_argument("--period", type=float_arg("period"), default=None,
                   help="sequence task: the teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=float_arg("radius"), default=None,
                   help="sequence task: the teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")


def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, lam: bool = True) -> None:
    """The problem: a task (default the paper's minimal endpoint task) or a --problem file, and its hyperparameters."""
    if arch:
        add_arch_arg(p)
    p.add_argument("--T", type=int_arg("T"), default=None, help="number of hidden states t = 0..T-1 (default 4)")
    if lam:
        p.add_argument("--lam", type=float_arg("lam", positive=False), default=None,
                       help="signal strength lambda, y = lambda * yhat (default 2)")
    add_hyperparameter_args(p)
    add_task_args(p)


def add_T_list_args(p, T_help="number of hidden states t = 0..T-1 (default 4)"):
    """--T as a list, the hyperparameters and the task (for subcommands that overlay several T)."""
    p.add_argument("--T", type=T_values, default=None, help=T_help)
    add_hyperparameter_args(p)
    add_task_args(p)


def add_json_arg(p: argparse.ArgumentParser, help: str = "print the result as one JSON object") -> None:
    p.add_argument("--json", action="store_true", help=help)


def _task_problem(args, T, arch, lam):
    from linkernel import tasks
    task = _value(args, "task")
    hyper = hyperparameters(args)
    for name, allowed in (("P", "endpoint"), ("D", "endpoint"), ("labels", "endpoint"),
                          ("supervised", "sinusoid, sequence"), ("period", "sequence"), ("radius", "sequence")):
        if _given(args, name) and task not in allowed:
            raise ValueError(f"--{name} is invalid for --task {task}; it applies to the {allowed} task")
    if task == "endpoint":
        return tasks.endpoint(arch, T=T, P=_value(args, "P"), D=_value(args, "D"), labels=_value(args, "labels"),
                              lam=lam, **hyper)
    if task == "sinusoid":
        return tasks.sinusoid(arch, T=T, supervised=_value(args, "supervised"), lam=lam, **hyper)
    return tasks.teacher_sequence(arch, T=T, period=_value(args, "period"), radius=_value(args, "radius"),
                                  supervised=_value(args, "supervised"), lam=lam, **hyper)


def problems_from_args(args, arch=None, lam: float | None = None) -> list:
    """The Problems the options describe: one per T (and per --arch in a list), or the --problem file's one.

    ``arch``/``lam`` override the options (a subcommand fixed to the RNN, a lambda it scans itself).
    """
    from linkernel.problem import Problem
    if getattr(args, "problem", None) is not None:
        clash = [n for n in ("T", "arch", "task", "P", "D", "labels", "supervised", "period", "radius", *HYPER)
                 if _given(args, n)]
        if clash:
            raise ValueError(f"--{clash[0]} is invalid with --problem; the file gives the whole problem "
                             "(only --lam may override its lambda)")
        path, _, name = args.problem.partition(":") if not Path(args.problem).exists() else (args.problem, "", "")
        pr = Problem.from_file(path, name or None)
        check_size(getattr(args, "command", ""), pr.n)
        if arch is not None and str(pr.arch) != arch:
            pr = pr.with_(arch=arch)
        lam_ = lam if lam is not None else getattr(args, "lam", None)
        return [pr if lam_ is None else pr.with_(lam=lam_)]
    Ts = _value(args, "T")
    Ts = Ts if isinstance(Ts, list) else [Ts]
    if _given(args, "P") and _value(args, "task") == "endpoint":  # sizes are refused before x is built
        check_size(getattr(args, "command", ""), max(Ts) * args.P, note_long=False)
    archs = arch if arch is not None else _value(args, "arch")
    archs = archs if isinstance(archs, list) else [archs]
    lam_ = lam if lam is not None else _value(args, "lam") if hasattr(args, "lam") else 1.0
    problems = [_task_problem(args, T, a, lam_) for T in Ts for a in archs]
    check_size(getattr(args, "command", ""), max(pr.n for pr in problems))
    return problems


def problem_from_args(args, arch: str | None = None, lam: float | None = None):
    """The one Problem described by :func:`add_problem_args` (default: the paper's minimal endpoint task)."""
    return problems_from_args(args, arch, lam)[0]


# Largest kernel size K = T*P each subcommand accepts, and the size above which it says up front that the
# run is long.  Measured on 2 cores (benchmarks/scaling.py, trace_speed.py, exact_fig3.py): a saddle point
# at K = 128 takes 10-40 s and at K = 256 about 2-9 minutes (cost ~ K^3); a trace at K = 32 30-60 s and at
# K = 64 about 4 s per point; the exact posterior at K = 32 0.5-5 minutes.
SIZE_LIMITS = {"solve": (128, 512), "spectrum": (128, 512), "trace": (32, 64), "landscape": (32, 64),
               "exponent": (16, 32), "phase-diagram": (16, 48), "exact": (32, 64), "sample": (32, 64)}


def check_size(command: str, K: int, note_long: bool = True) -> None:
    """Refuse, before any work, a kernel of size K = T*P too large for ``command``; note on stderr when long."""
    command = "sample" if command == "sgld" else command
    if command not in SIZE_LIMITS:
        return
    note, limit = SIZE_LIMITS[command]
    if K > limit:
        raise ValueError(f"T*P={K} is too large for '{command}'; it handles T*P <= {limit} on this kind of machine "
                         f"(the cost grows like (T*P)^3: T*P = {note} already takes minutes)")
    if K > note and note_long:
        sys.stderr.write(f"linkernel {command}: note: T*P={K} is large; expect a run of many minutes "
                         f"(the cost grows like (T*P)^3)\n")


# --- output ---------------------------------------------------------------------------
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def output_file(option: str, path):
    """The figure path that will be written (``.png`` added when it has no suffix), checked before any work."""
    return None if path is None else validation.writable_file(option, path, FIGURE_SUFFIXES, default_suffix=".png")


def check_output_folder(option: str, path) -> None:
    """Before any work: ``path`` is a writable folder or can be created."""
    validation.writable_folder(option, path)


NETCDF_SUFFIXES = (".nc",)


def add_save_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save", metavar="RUN.nc", default=None,
                   help="write the draws (kernel entries, m, f) as ArviZ InferenceData to this NetCDF file")


def check_save(args) -> None:
    """Before any work: ``--save`` names a writable .nc file and ArviZ (the ``mcmc`` extra) is installed."""
    if args.save is None:
        return
    validation.writable_file("--save", args.save, NETCDF_SUFFIXES)
    import importlib.util
    if importlib.util.find_spec("arviz") is None:
        raise ValueError(f"--save={args.save!r} needs ArviZ for the InferenceData format: "
                         "pip install 'linkernel[mcmc]'")


def save_draws(result, args) -> None:
    """``--save``: the result's draws as NetCDF (InferenceData), and a line saying where (not with --json)."""
    if args.save is None:
        return
    result.save(args.save)
    if not args.json:
        print(f"draws written to {args.save}")


def print_json(obj) -> None:
    from linkernel.serialize import dumps
    print(dumps(obj))


def show(result, args) -> None:
    """``result.to_dict()`` as JSON with --json, else ``result.summary()``."""
    if getattr(args, "json", False):
        print_json(result.to_dict())
    else:
        print(result.summary())

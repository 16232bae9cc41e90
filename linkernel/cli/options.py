"""The CLI's shared problem options: the problem (architecture, T, task, a --problem file, real
data), its hyperparameters, the problem they describe, the size limits, the output checks and how
a result is shown.  The vocabulary itself (option names, defaults, help texts, the argument types
and the one error format) is :mod:`linkernel.cli.vocabulary`.

Imports nothing that computes at module level: ``linkernel --help`` must not pay for SciPy,
SymPy or matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linkernel import validation
from linkernel.cli.vocabulary import (LAM_DEFAULT, IntervalAction, Parser, add_json_arg, float_arg,  # noqa: F401
                                      float_list, int_arg, int_list, show_value)

COMMANDS: dict = {}


def command(name: str, help: str, aliases=()):
    """Register ``fn(subparsers_entry) -> runner`` as the subcommand ``name`` (and its ``aliases``)."""
    def deco(fn):
        COMMANDS[name] = (help, fn, tuple(aliases))
        return fn
    return deco


# Upper limits of counts and sizes, stated in --help and checked when the options are parsed (before
# any work).  Widths: sampled networks hold N x N weights per chain (512 MiB at N = 8192) and each
# draw costs O(N^3); the finite-width theory divides by N (float64 keeps 1/N^2 above 1e-300 to 1e12).
MAX_NETWORK_N = 8192
MAX_THEORY_N = 10 ** 12
MAX_POINTS = 1000            # points along a phase-diagram line or a landscape (each is a solve)
MAX_CHAINS = 64
MAX_DRAWS = 10 ** 6          # sweeps, samples, warm-up iterations
MAX_STARTS = 1000
RANGE_BOUNDS = (1e-8, 1e8)   # --range of the phase diagram: kappa, w, v, u within these

T_values = int_list("T")


def arch_type(text):
    """rnn, dnn or a pattern as JSON text; checked against T by Architecture.from_spec when the problem is built."""
    text = text.strip()
    return text.lower() if text.lower() in ("rnn", "dnn") else text


def archs_type(text):
    """A comma list of rnn/dnn, or one pattern as JSON."""
    from linkernel.cli.vocabulary import _typed
    text = text.strip()
    if text.startswith("{"):
        return [text]
    return _typed(validation.listed, "arch", lambda n, a: validation.choice(n, a.lower(), ("rnn", "dnn")),
                  'rnn or dnn (or one weight-sharing pattern as JSON)')(text)


# --- the problem options: the same names, defaults and help in every subcommand that takes a problem ---
# Defaults of the problem options; they are filled in after parsing, so that an option the user
# gave can be told from a default (``--problem FILE`` with ``--T 5`` is a contradiction, not a default).
DEFAULTS = {"arch": "rnn", "T": 4, "lam": LAM_DEFAULT, "kappa": 0.1, "w": 1.0, "v": 1.0, "u": 1.0, "P": 1,
            "D": None, "labels": None, "task": "endpoint", "supervised": "all", "period": 10.0, "radius": 1.0}
HYPER = ("w", "v", "u", "kappa")
TASKS = ("endpoint", "sinusoid", "sequence")
#: every problem option (dest names); a subcommand that takes a problem has all of them
PROBLEM_OPTIONS = ("arch", "T", "P", "D", "labels", "task", "problem", "supervised", "period", "radius", *HYPER)
PROBLEM_HELP = {
    "arch": 'rnn | dnn | a weight-sharing pattern as JSON, e.g. \'{"W": [[1,2],[3]]}\'',
    "T": "number of hidden states t = 0..T-1",
    "kappa": "likelihood variance kappa",
    "w": "recurrent weight variance w",
    "v": "readout variance v",
    "u": "input weight variance u",
    "task": "endpoint (P inputs at t = 0, labels at T-1) | sinusoid (y^t = cos(2 pi t/T)) | sequence (a linear "
            "teacher RNN's outputs, --period, --radius)",
    "problem": "a problem as JSON with Problem's own keys (arch, T, x, supervised, yhat, w, v, u, kappa, lam), as "
               "Problem.to_dict() writes, or one NAME of a file {\"problems\": [...]}; replaces the task options",
    "P": "endpoint task: patterns, orthogonal inputs at t = 0",
    "D": "endpoint task: input dimension D >= P",
    "labels": "endpoint task: one label per pattern",
    "supervised": "sinusoid/sequence tasks: supervised timesteps, a list 0,1,2,3 | all | first:K | "
                  "every-other[:K] | random:K",
    "period": "sequence task: the teacher's rotation period in steps",
    "radius": "sequence task: the teacher's eigenvalue modulus, 0 < r <= 1",
}
PROBLEM_DEFAULT_TEXT = {"arch": "rnn", "T": "4", "kappa": "0.1", "w": "1", "v": "1", "u": "1", "task": "endpoint",
                        "problem": None, "P": "1", "D": "P", "labels": "+1,-1,+1,...", "supervised": "all",
                        "period": "10", "radius": "1"}


def problem_help(name: str, note: str = "", default: str | None = "") -> str:
    """The shared help of a problem option (``default``: "" the shared default, None none, else this text)."""
    d = PROBLEM_DEFAULT_TEXT[name] if default == "" else default
    text = PROBLEM_HELP[name] + (f"; {note}" if note else "")
    return text if d is None else f"{text} (default {d})"


def add_hyperparameter_args(p: argparse.ArgumentParser) -> None:
    """--kappa, --w, --v, --u with the paper's defaults (kappa = 0.1, w = v = u = 1)."""
    for name in ("kappa", "w", "v", "u"):
        p.add_argument(f"--{name}", type=float_arg(name), default=None, help=problem_help(name))


def _given(args, name):
    return getattr(args, name, None) is not None


def _value(args, name):
    val = getattr(args, name, None)
    return DEFAULTS[name] if val is None else val


def hyperparameters(args) -> dict:
    """The keywords w, v, u, kappa of :func:`add_hyperparameter_args`, for Problem constructors."""
    return {k: _value(args, k) for k in HYPER}


def add_arch_arg(p: argparse.ArgumentParser, several: bool = False, note: str = "", default: str = "") -> None:
    """--arch; ``several``: also a comma list rnn,dnn (the subcommand overlays them)."""
    if several:
        note = "or a list rnn,dnn" + (f"; {note}" if note else "")
    p.add_argument("--arch", type=archs_type if several else arch_type, default=None, metavar="ARCH",
                   help=problem_help("arch", note, default))


_labels = float_list("labels")


def add_task_args(p: argparse.ArgumentParser, supervised_default: str = "") -> None:
    """Which problem: the endpoint task (--P, --D, --labels), the sinusoid or teacher sequence, or a file."""
    p.add_argument("--task", choices=TASKS, default=None, help=problem_help("task"))
    p.add_argument("--problem", metavar="FILE[:NAME]", default=None, help=problem_help("problem"))
    p.add_argument("--P", type=int_arg("P"), default=None, help=problem_help("P"))
    p.add_argument("--D", type=int_arg("D"), default=None, help=problem_help("D"))
    p.add_argument("--labels", type=_labels, default=None, metavar="Y1,Y2,..", help=problem_help("labels"))
    p.add_argument("--supervised", type=_supervised_text, default=None, metavar="STEPS",
                   help=problem_help("supervised", default=supervised_default))
    p.add_argument("--period", type=float_arg("period"), default=None, help=problem_help("period"))
    p.add_argument("--radius", type=float_arg("radius"), default=None, help=problem_help("radius"))


def _supervised_text(text):
    """--supervised as typed: resolved against T by linkernel.sequence.supervised_steps with the problem."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{show_value(text)}: give a list 0,1,2,3 or all, first:K, "
                                         "every-other[:K], random:K")
    return text.strip()


def supervised_steps(args, T: int, default="all"):
    """The supervised timesteps of --supervised at this T (``default`` when not given)."""
    from linkernel.sequence import supervised_steps as steps
    spec = args.supervised if _given(args, "supervised") else default
    return list(steps(T, spec, getattr(args, "seed", 0) or 0))


def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, data: bool = False, T_list: bool = False,
                     several_archs: bool = False, T_note: str = "", supervised_default: str = "",
                     arch_default: str = "", T_default: str = "") -> None:
    """The problem: a task (default the paper's minimal endpoint task) or a --problem file, and its
    hyperparameters (``data``: also a real data set, :func:`add_data_args`; ``T_list``: --T may be a
    list 3,4,5 that the subcommand overlays)."""
    if arch:
        add_arch_arg(p, several=several_archs, default=arch_default)
    if T_list:
        T_note = "a list such as 3,4,5 overlays several T" + (f"; {T_note}" if T_note else "")
    p.add_argument("--T", type=T_values if T_list else int_arg("T"), default=None,
                   help=problem_help("T", T_note, T_default))
    add_hyperparameter_args(p)
    add_task_args(p, supervised_default)
    add_data_args(p)


def add_T_list_args(p, T_note: str = "", data: bool = True):
    """--T as a list, the hyperparameters and the task (for subcommands that overlay several T)."""
    add_problem_args(p, arch=False, data=data, T_list=True, T_note=T_note)


# --- real data (linkernel.datasets) -------------------------------------------------------
DATA_OPTIONS = ("data", "classes", "test", "label", "data_seed")
SST_SUPERVISED = (2, 5, 8, 11)


def add_data_args(p: argparse.ArgumentParser) -> None:
    """--data digits | sst | FILE.csv and its options; the command runs on the span-reduced problem."""
    g = p.add_argument_group("real data (linkernel.datasets; the command runs on the problem reduced to the "
                             "span of the inputs, r <= D patterns)")
    g.add_argument("--data", metavar="digits|sst|FILE.csv", default=None,
                   help="digits: scikit-learn's 8x8 digits, two classes, image at t = 0, label +-1 at T-1; "
                        "sst: Nino 1+2 sea-surface temperatures, one sequence per year (T <= 12); FILE.csv: "
                        "a (P, D) table with a header row and a label column. --P: training patterns "
                        "(default all but --test)")
    g.add_argument("--classes", default=None, metavar="A,B|even-odd",
                   help="--data digits: the two classes, digits or groups joined by + (0+2,1+3), or even-odd "
                        "(default 0,1)")
    g.add_argument("--test", type=int_arg("test", low=0), default=None,
                   help="held-out patterns scored by the prediction (default: sst 15, otherwise 0)")
    g.add_argument("--label", default=None, metavar="COL",
                   help="--data FILE.csv: the label column, its header name or index (default: the last column)")
    g.add_argument("--data-seed", type=int_arg("data-seed", low=0), default=None,
                   help="seed of the train/test split (default 0)")


def _check_no_data_options(args) -> None:
    given = [n for n in DATA_OPTIONS[1:] if _given(args, n)]
    if given:
        raise ValueError(f"--{given[0].replace('_', '-')}: invalid without --data; it applies to a data set "
                         "(--data digits, sst or FILE.csv)")


def _digit_classes(text: str):
    """``0,1`` -> (0, 1); ``0+2,1+3`` -> ((0, 2), (1, 3)); ``even-odd`` stays text."""
    if text.strip().lower() in ("even-odd", "evenodd"):
        return "even-odd"
    parts = text.split(",")
    try:
        groups = [tuple(int(d) for d in part.split("+")) for part in parts]
    except ValueError:
        groups = []
    if len(groups) != 2:
        raise ValueError(f"classes={text!r} is invalid; give two digits 0..9 (0,1), two groups (0+2,1+3) or even-odd")
    return tuple(g[0] if len(g) == 1 else g for g in groups)


def _csv_label(path: str, label):
    """The label column as a header name or an index, checked against the file's header."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next((line for line in fh if line.strip() and not line.lstrip().startswith("#")), "")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"data={path!r} is invalid; it cannot be read as a CSV text file "
                         f"({type(e).__name__}: {getattr(e, 'strerror', None) or e})") from None
    names = [h.strip() for h in header.strip().split(",")]
    if len(names) < 2:
        raise ValueError(f"data={path!r} is invalid; it needs a header row with at least two columns "
                         "(features and a label)")
    if label is None:
        return -1
    if label in names:
        return label
    try:
        k = int(label)
    except ValueError:
        k = None
    if k is None or not -len(names) <= k < len(names):
        raise ValueError(f"label={label!r} is invalid; give a column of {path} by name ("
                         + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") + f") or index 0..{len(names) - 1}")
    return k


def data_task(args, T: int, arch, lam: float):
    """The :class:`linkernel.datasets.DataTask` of --data at this T and architecture (refused clashes first)."""
    from linkernel import datasets
    kind = args.data.strip()
    clash = [n for n in ("task", "D", "labels", "period", "radius") if _given(args, n)]
    if clash:
        raise ValueError(f"--{clash[0]}: invalid with --data; the data set gives the inputs and labels")
    only = {"classes": "digits", "label": "FILE.csv", "supervised": "sst"}
    for name, which in only.items():
        applies = kind.lower() == which if which != "FILE.csv" else kind.lower() not in ("digits", "sst")
        if _given(args, name) and not applies:
            raise ValueError(f"--{name}: invalid with --data {kind}; it applies to --data {which}")
    common = dict(P=args.P, T=T, arch=arch, seed=args.data_seed or 0, lam=lam, **hyperparameters(args))
    if kind.lower() == "digits":
        return datasets.digits(classes=_digit_classes(args.classes or "0,1"), test=args.test or 0, **common)
    if kind.lower() == "sst":
        sup = supervised_steps(args, T, SST_SUPERVISED if T == 12 else tuple(range((T - 1) % 3, T, 3)))
        return datasets.sea_surface(supervised=sup, test=15 if args.test is None else args.test, **common)
    path = Path(kind)
    if path.suffix.lower() != ".csv" or not path.is_file():
        raise ValueError(f"data={kind!r} is invalid; give digits, sst or an existing FILE.csv")
    label = _csv_label(kind, args.label)
    return datasets.from_csv(kind, label=label, test=args.test or 0, **common)


def data_dict(task, test_error=None) -> dict | None:
    """The JSON of a data set's reduction (key ``data``; None without --data): what was reduced and how."""
    if task is None:
        return None
    red = task.reduction
    return {"description": task.description, "P": red.P, "r": red.r, "form": red.form,
            "reduction": red.summary(), "test_patterns": int(task.x_test.shape[1]), "test_error": test_error}


def _task_problem(args, T, arch, lam):
    from linkernel import tasks
    task = _value(args, "task")
    hyper = hyperparameters(args)
    for name, allowed in (("P", "endpoint"), ("D", "endpoint"), ("labels", "endpoint"),
                          ("supervised", "sinusoid, sequence"), ("period", "sequence"), ("radius", "sequence")):
        if _given(args, name) and task not in allowed:
            raise ValueError(f"--{name}: invalid for --task {task}; it applies to the {allowed} task")
    if task == "endpoint":
        return tasks.endpoint(arch, T=T, P=_value(args, "P"), D=_value(args, "D"), labels=_value(args, "labels"),
                              lam=lam, **hyper)
    if task == "sinusoid":
        return tasks.sinusoid(arch, T=T, supervised=supervised_steps(args, T), lam=lam, **hyper)
    return tasks.teacher_sequence(arch, T=T, period=_value(args, "period"), radius=_value(args, "radius"),
                                  supervised=supervised_steps(args, T), lam=lam, **hyper)


def problems_from_args(args, arch=None, lam: float | None = None) -> list:
    """The Problems the options describe: one per T (and per --arch in a list), the --problem file's
    one, or the --data set's reduced problem per T and arch (:func:`problems_and_data`)."""
    return problems_and_data(args, arch, lam)[0]


def problems_and_data(args, arch=None, lam: float | None = None) -> tuple:
    """``(problems, data)``: the Problems the options describe and, with --data, one
    :class:`linkernel.datasets.DataTask` per problem (else a list of None).

    ``arch``/``lam`` override the task options (a lambda the subcommand scans itself).  A --problem
    file keeps its own architecture: ``arch`` never replaces it (a command that handles only some
    architectures refuses the others itself, saying what to use).
    """
    from linkernel.problem import Problem
    if getattr(args, "problem", None) is not None:
        clash = [n for n in ("T", "arch", "task", "P", "D", "labels", "supervised", "period", "radius", *HYPER,
                             *DATA_OPTIONS) if _given(args, n)]
        if clash:
            raise ValueError(f"--{clash[0].replace('_', '-')}: invalid with --problem; the file gives the whole "
                             "problem (only --lam may override its lambda)")
        path, _, name = args.problem.partition(":") if not Path(args.problem).exists() else (args.problem, "", "")
        pr = Problem.from_file(path, name or None)
        check_size(getattr(args, "command", ""), pr.n)
        lam_ = lam if lam is not None else getattr(args, "lam", None)
        return [pr if lam_ is None else pr.with_(lam=lam_)], [None]
    Ts = _value(args, "T")
    Ts = Ts if isinstance(Ts, list) else [Ts]
    archs = arch if arch is not None else _value(args, "arch")
    archs = archs if isinstance(archs, list) else [archs]
    lam_ = lam if lam is not None else _value(args, "lam")
    if getattr(args, "data", None) is not None:
        data = [data_task(args, T, a, lam_) for T in Ts for a in archs]
        problems = [d.problem for d in data]
        check_size(getattr(args, "command", ""), max(pr.n for pr in problems))
        return problems, data
    _check_no_data_options(args)
    if _given(args, "P") and _value(args, "task") == "endpoint":  # sizes are refused before x is built
        check_size(getattr(args, "command", ""), max(Ts) * args.P, note_long=False)
    problems = [_task_problem(args, T, a, lam_) for T in Ts for a in archs]
    check_size(getattr(args, "command", ""), max(pr.n for pr in problems))
    return problems, [None] * len(problems)


def problem_from_args(args, arch: str | None = None, lam: float | None = None):
    """The one Problem described by :func:`add_problem_args` (default: the paper's minimal endpoint task)."""
    return problems_from_args(args, arch, lam)[0]


# Largest kernel size K = T*P each subcommand accepts, and the size above which it says up front that the
# run is long.  Measured on 2 cores (benchmarks/scaling.py, trace_speed.py, exact_fig3.py): a saddle point
# at K = 512 takes 18-80 s and at K = 1024 about 100 s (cost ~ K^2.3; the endpoint task, searched on three
# patterns, 1.5 and 4 s), and its printed Frobenius spectrum 4 and 24 s more; a trace at K = 32 30-60 s and
# at K = 64 about 4 s per point; the exact posterior at K = 32 0.5-5 minutes.
SIZE_LIMITS = {"solve": (512, 1024), "spectrum": (128, 512), "trace": (32, 64), "landscape": (32, 64),
               "exponent": (16, 32), "phase-diagram": (16, 48), "exact": (32, 64), "sample": (32, 64)}


def check_size(command: str, K: int, note_long: bool = True) -> None:
    """Refuse, before any work, a kernel of size K = T*P too large for ``command``; note on stderr when long."""
    command = "sample" if command == "sgld" else command
    if command not in SIZE_LIMITS:
        return
    note, limit = SIZE_LIMITS[command]
    if K > limit:
        raise ValueError(f"T*P={K} is too large for '{command}'; it handles T*P <= {limit} on this kind of machine "
                         f"(the cost grows like (T*P)^2 to (T*P)^3: T*P = {note} already takes a minute or more)")
    if K > note and note_long:
        sys.stderr.write(f"linkernel {command}: note: T*P={K} is large; expect a run of minutes "
                         f"(the cost grows like (T*P)^2 to (T*P)^3)\n")


# --- output ---------------------------------------------------------------------------
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def output_file(option: str, path):
    """The figure path that will be written (``.png`` added when it has no suffix), checked before any work."""
    if path is None:
        return None
    path = validation.writable_file(option, path, FIGURE_SUFFIXES, default_suffix=".png")
    return path


def check_output_folder(option: str, path) -> None:
    """Before any work: ``path`` is a folder a file can be written to (:func:`linkernel.validation.writable_folder`
    tries it by creating the missing folders and a probe file, all removed again)."""
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
        raise ValueError("--save: needs ArviZ for the InferenceData format: pip install 'linkernel[mcmc]'")


def save_draws(result, args) -> None:
    """``--save``: the result's draws as NetCDF (InferenceData), and a line saying where (not with --json)."""
    if args.save is None:
        return
    result.save(args.save)
    if not args.json:
        print(f"draws written to {args.save}")


def figure_of(method):
    """``draw(path)``: a result's ``plot(ax=...)`` written to a file (matplotlib imported only when asked)."""
    def draw(path):
        import linkernel.plots  # noqa: F401  (selects the Agg backend before pyplot is imported)
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        try:
            method(ax=ax)
            fig.savefig(path, dpi=150, bbox_inches="tight")
        finally:
            plt.close(fig)
    return draw


def print_json(obj) -> None:
    from linkernel.serialize import dumps
    print(dumps(obj))


def show(result, args, plot=None) -> None:
    """``result.to_dict()`` as JSON with --json, else ``result.summary()``.

    ``plot(path)`` draws the result's figure when ``--plot PATH`` was given (drawn first, so a failing
    figure prints nothing); the text output then says where it went.
    """
    path = getattr(args, "plot", None)
    if plot is not None and path:
        plot(path)
    if getattr(args, "json", False):
        print_json(result.to_dict())
    else:
        print(result.summary())
        if plot is not None and path:
            print(f"figure written to {path}")

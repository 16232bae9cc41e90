"""Command line: parse, call one library function, print its result's ``summary()``.

Every subcommand is a thin wrapper around a function of the package: it
parses its arguments, checks the output paths, calls the function and prints
the result's ``summary()`` (or, with ``--json``, its ``to_dict()`` as strict
JSON).  Bad input (ValueError) and numerical failure (ConvergenceError and
other RuntimeErrors of the package) become one line on stderr and exit
status 2.

One vocabulary across subcommands: ``--arch`` is ``rnn``, ``dnn`` or a
weight-sharing pattern as JSON (``'{"W": [[1,2,3],[4,5]]}'``); ``--lam`` is
one signal strength, ``--lam-range LO:HI`` a range, ``--lams a,b,c`` a list.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from linkernel.serialize import dumps

COMMANDS: dict = {}


def command(name: str, help: str, aliases=()):
    """Register ``fn(subparsers_entry) -> runner`` as the subcommand ``name`` (and its ``aliases``)."""
    def deco(fn):
        COMMANDS[name] = (help, fn, tuple(aliases))
        return fn
    return deco


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit status 2
        sys.stderr.write(f"linkernel: error: {message}\n".replace("\n", " ").rstrip() + "\n")
        raise SystemExit(2)


# --- argument types ---------------------------------------------------------------
def _float_list(name):
    def parse(text):
        try:
            vals = [float(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; give comma-separated numbers") from None
        if not vals:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is empty; give comma-separated numbers")
        return vals
    return parse


def _int_arg(name, low=1):
    """An integer >= low, refused with the option's name (argparse prefixes 'argument --NAME:')."""
    def parse(text):
        try:
            val = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; {name} must be an integer >= {low}") from None
        if val < low:
            raise argparse.ArgumentTypeError(f"{name}={val} is invalid; {name} must be an integer >= {low}")
        return val
    return parse


def _float_arg(name, positive=True):
    """A finite float (positive unless ``positive=False``), refused with the option's name."""
    def parse(text):
        try:
            val = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; {name} must be a number") from None
        what = "a positive finite number" if positive else "a finite number"
        if not np.isfinite(val) or (positive and val <= 0):
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; {name} must be {what}")
        return val
    return parse


def _int_list_named(name, low=1):
    """Comma-separated integers >= low (``3,4,5``), refused with the option's name."""
    def parse(text):
        try:
            vals = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; give integers, e.g. 0,1,2") from None
        if not vals or min(vals) < low:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; give integers >= {low}")
        return vals
    return parse


_int_list = _int_list_named("T")


def _range_arg(name):
    """A range LO:HI with 0 < LO < HI < inf, refused with the option's name."""
    def parse(text):
        try:
            lo, hi = (float(t) for t in text.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; give a range LO:HI, e.g. 0.5:3") from None
        if not (0 < lo < hi < float("inf")):
            raise argparse.ArgumentTypeError(f"{name}={text!r} is invalid; need 0 < LO < HI")
        return lo, hi
    return parse


_lam_range = _range_arg("lam-range")


def _not_a_range(text):
    """``--lam`` where a range is wanted: say which option takes it."""
    raise argparse.ArgumentTypeError(f"--lam takes one value; give the range as --lam-range LO:HI (e.g. {text})")


def _arch(text):
    """rnn, dnn or a pattern as JSON text; checked against T by Architecture.from_spec when the problem is built."""
    text = text.strip()
    return text.lower() if text.lower() in ("rnn", "dnn") else text


def _archs(text):
    """A comma list of rnn/dnn, or one pattern as JSON."""
    text = text.strip()
    if text.startswith("{"):
        return [text]
    archs = [a.strip().lower() for a in text.split(",") if a.strip()]
    if not archs or any(a not in ("rnn", "dnn") for a in archs):
        raise argparse.ArgumentTypeError(f"arch={text!r} is invalid; give rnn, dnn, rnn,dnn or one pattern as JSON, "
                                         'e.g. \'{"W": [[1,2,3],[4,5]]}\'')
    return archs


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
    p.add_argument("--kappa", type=_float_arg("kappa"), default=None, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=_float_arg("w"), default=None, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=_float_arg("v"), default=None, help="readout variance (default 1)")
    p.add_argument("--u", type=_float_arg("u"), default=None, help="input weight variance (default 1)")


def _given(args, name):
    return getattr(args, name, None) is not None


def _value(args, name):
    val = getattr(args, name, None)
    return DEFAULTS[name] if val is None else val


def hyperparameters(args) -> dict:
    """The keywords w, v, u, kappa of :func:`add_hyperparameter_args`, for Problem constructors."""
    return {k: _value(args, k) for k in HYPER}


def add_arch_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", type=_arch, default=None, help=ARCH_HELP)


def _labels(text):
    return _float_list("labels")(text)


def add_task_args(p: argparse.ArgumentParser, T_list: bool = False) -> None:
    """Which problem: the endpoint task (--P, --D, --labels), the sinusoid or teacher sequence, or a file."""
    p.add_argument("--task", choices=TASKS, default=None,
                   help="endpoint (P inputs at t = 0, labels at T-1; default) | sinusoid (y^t = cos(2 pi t/T)) | "
                        "sequence (a linear teacher RNN's outputs, --period, --radius)")
    p.add_argument("--problem", metavar="FILE[:NAME]", default=None,
                   help="a problem as JSON with Problem's own keys (arch, T, x, supervised, yhat, w, v, u, kappa, "
                        "lam), as Problem.to_dict() writes, or one NAME of a file {\"problems\": [...]}; "
                        "replaces the task options")
    p.add_argument("--P", type=_int_arg("P"), default=None,
                   help="endpoint task: patterns, orthogonal inputs at t = 0 (default 1)")
    p.add_argument("--D", type=_int_arg("D"), default=None, help="endpoint task: input dimension D >= P (default P)")
    p.add_argument("--labels", type=_labels, default=None, metavar="Y1,Y2,..",
                   help="endpoint task: one label per pattern (default +1,-1,+1,...)")
    p.add_argument("--supervised", type=_int_list_named("supervised", low=0), default=None, metavar="T1,T2,..",
                   help="sinusoid/sequence tasks: supervised timesteps (default all)")
    p.add_argument("--period", type=_float_arg("period"), default=None,
                   help="sequence task: the teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=_float_arg("radius"), default=None,
                   help="sequence task: the teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")


def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, lam: bool = True) -> None:
    """The problem: a task (default the paper's minimal endpoint task) or a --problem file, and its hyperparameters."""
    if arch:
        add_arch_arg(p)
    p.add_argument("--T", type=_int_arg("T"), default=None, help="number of hidden states t = 0..T-1 (default 4)")
    if lam:
        p.add_argument("--lam", type=_float_arg("lam", positive=False), default=None,
                       help="signal strength lambda, y = lambda * yhat (default 2)")
    add_hyperparameter_args(p)
    add_task_args(p)


def _hyper_args(p, T_help="number of hidden states t = 0..T-1 (default 4)"):
    """--T as a list, the hyperparameters and the task (for subcommands that overlay several T)."""
    p.add_argument("--T", type=_int_list, default=None, help=T_help)
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


def check_output_file(option: str, path, suffixes=FIGURE_SUFFIXES) -> None:
    """Before any work: ``path`` can be written (its folder exists and is writable, it is no folder)."""
    if path is None:
        return
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; it is a folder, give a file name")
    if p.suffix.lower() not in suffixes and (p.suffix or suffixes is not FIGURE_SUFFIXES):
        raise ValueError(f"{option}={str(path)!r} is invalid; the file must end in one of "
                         + ", ".join(suffixes))
    if not folder.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{option}={str(path)!r} is invalid; it cannot be written (permission denied)")


def output_file(option: str, path):
    """The figure path that will be written (``.png`` added when it has no suffix), checked before any work."""
    if path is None:
        return None
    if Path(path).is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; it is a folder, give a file name")
    if not Path(path).suffix:
        path = f"{path}.png"
    check_output_file(option, path)
    return path


def check_output_folder(option: str, path) -> None:
    """Before any work: ``path`` is a writable folder or can be created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; it exists and is not a folder")
    q = p
    while not q.exists():
        if q.parent == q:
            break
        q = q.parent
    if not q.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; {str(q)!r} is not a folder")
    if not os.access(q, os.W_OK):
        raise ValueError(f"{option}={str(path)!r} is invalid; {str(q)!r} cannot be written (permission denied)")


NETCDF_SUFFIXES = (".nc",)


def add_save_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save", metavar="RUN.nc", default=None,
                   help="write the draws (kernel entries, m, f) as ArviZ InferenceData to this NetCDF file")


def check_save(args) -> None:
    """Before any work: ``--save`` names a writable .nc file and ArviZ (the ``mcmc`` extra) is installed."""
    if args.save is None:
        return
    check_output_file("--save", args.save, NETCDF_SUFFIXES)
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
    print(dumps(obj))


def show(result, args) -> None:
    """``result.to_dict()`` as JSON with --json, else ``result.summary()``."""
    if getattr(args, "json", False):
        print_json(result.to_dict())
    else:
        print(result.summary())


# --- solve (core) ---------------------------------------------------------------------
@command("solve", "the saddle-point kernel of one problem")
def _solve(p):
    add_problem_args(p)
    p.add_argument("--starts", type=_int_arg("starts"), default=6, help="number of minimiser starts (default 6)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="seed of the random starts (default 0)")
    p.add_argument("--N", type=_int_arg("N", low=2), default=None,
                   help="also the finite-width theory at this width: H_N = H* + delta_H/N with the fluctuations")
    add_json_arg(p)

    def run(args):
        from linkernel.theory.saddle import saddle_point
        sp = saddle_point(problem_from_args(args), n_starts=args.starts, seed=args.seed)
        if args.N is None:
            show(sp, args)
            return
        fw = sp.at_width(args.N)
        if args.json:
            d = fw.to_dict()
            print_json({**sp.to_dict(), **{k: d[k] for k in d if k != "problem"}})
        else:
            print(sp.summary() + "\n\n" + fw.summary())
    return run


# --- critical, derive (phase transition) -------------------------------------------
@command("critical", "the RNN's critical point, Landau coefficients and order of the transition (endpoint task)")
def _critical(p):
    add_problem_args(p, arch=False, lam=False)
    add_json_arg(p)

    def run(args):
        from linkernel.symbolic.critical import critical_point
        show(critical_point(problem_from_args(args, arch="rnn", lam=1.0)), args)
    return run


@command("derive", "write the LaTeX derivation (action, equations, branch, Hessian, critical point, Landau)")
def _derive(p):
    p.add_argument("--arch", type=_arch, default=None, help="rnn | dnn (default rnn; the derivation documents "
                   "are written for these two)")
    p.add_argument("--T", type=_int_arg("T"), default=None,
                   help="number of hidden states t = 0..T-1 (default 4; at most 11)")
    p.add_argument("--P", type=_int_arg("P"), default=None, help="patterns of the endpoint task (default 1)")
    p.add_argument("--out", default="derivations", help="output folder (default derivations/)")
    p.add_argument("--all", action="store_true",
                   help="write the standard set instead: RNN and DNN, T = 2..5, P = 1")

    def run(args):
        import time

        from linkernel.symbolic.latex import write_derivation, write_standard_set
        check_output_folder("--out", args.out)
        if args.all:
            given = [n for n in ("arch", "T", "P") if getattr(args, n) is not None]
            if given:
                raise ValueError(f"--{given[0]} is invalid with --all; --all writes the standard set "
                                 "(RNN and DNN, T = 2..5, P = 1)")
            write_standard_set(args.out, progress=True)
            return
        t0 = time.perf_counter()
        path = write_derivation(args.arch or "rnn", args.T or 4, args.P or 1, args.out)
        print(f"{path}  {time.perf_counter() - t0:.2f} s")
    return run


# --- trace, exponent, landscape, report (continuation and main job) -------------------
def _trace_csv(traces) -> None:
    """Every point of every trace as one CSV row; kernel columns named by their (t, p) pairs.

    A column ``H_t_s`` (``P = 1``) or ``H_t.p_s.q`` holds ``H_{pq}^{ts}`` in every row that has it
    and is empty where a trace's T is too small: overlaid T's never share a column by position.
    """
    import csv

    def name(t, p, s, q, P):
        return f"H_{t}_{s}" if P == 1 else f"H_{t}.{p}_{s}.{q}"

    keys = {}
    for tr in traces:
        T, P = tr.problem.T, tr.problem.P
        for i in range(T * P):
            for j in range(i, T * P):
                keys.setdefault(name(i // P, i % P, j // P, j % P, P), (i // P, i % P, j // P, j % P))
    kernel_cols = sorted(keys, key=keys.get)
    cols = ["arch", "T", "branch", "kind", "lam", "m", "action", "stable", "residual", "min_eigenvalue"]
    out = csv.writer(sys.stdout)
    out.writerow(cols + kernel_cols)
    for tr in traces:
        P = tr.problem.P
        for k, b in enumerate(tr.branches):
            for pt in b.points:
                H = pt.kernel
                row = [tr.problem.arch, tr.problem.T, k, b.kind, f"{pt.lam:.15g}",
                       f"{pt.order_parameter:.15g}", f"{pt.action:.15g}", int(pt.stable),
                       f"{pt.residual:.3e}", f"{pt.min_eigenvalue:.6e}"]
                here = {name(i // P, i % P, j // P, j % P, P): f"{H[i, j]:.15g}"
                        for i in range(len(H)) for j in range(i, len(H))}
                out.writerow(row + [here.get(c, "") for c in kernel_cols])


@command("trace", "follow the saddle points in lambda: branches, stability, branch points, folds")
def _trace(p):
    p.add_argument("--arch", type=_archs, default=None,
                   help="rnn, dnn, rnn,dnn or one weight-sharing pattern as JSON (default rnn)")
    _hyper_args(p, "hidden states; a list such as 3,4,5 overlays several T (default 4)")
    p.add_argument("--lam-range", type=_lam_range, default=(0.5, 3.0), metavar="LO:HI",
                   help="lambda range LO:HI (default 0.5:3)")
    p.add_argument("--lam", type=_not_a_range, help=argparse.SUPPRESS)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON (one trace, or {traces: [...]})")
    out.add_argument("--csv", action="store_true", help="print every point as CSV")
    p.add_argument("--plot", metavar="PNG", help="write the figure (m and H^{T-1,T-1} vs lambda; "
                   "the DNN is traced too and drawn dotted)")
    p.add_argument("--digits", type=_int_arg("digits"), default=None,
                   help="also refine the special points in mpmath to this many digits (15..500)")

    def run(args):
        from linkernel.theory.continuation import trace
        args.plot = output_file("--plot", args.plot)
        if args.digits is not None and not 15 <= args.digits <= 500:
            raise ValueError(f"digits={args.digits} is invalid; digits must be in 15..500")
        problems = problems_from_args(args, lam=1.0)
        progress = sys.stderr.isatty()
        traces = [trace(pr, args.lam_range, progress=progress) for pr in problems]
        if args.plot:
            from linkernel.plots import plot_trace
            extra = [] if any(pr.arch.is_dnn for pr in problems) else \
                [trace(pr.with_(arch="dnn"), args.lam_range) for pr in problems]
            plot_trace(traces + extra, args.plot)
        refined = [None] * len(traces)
        if args.digits is not None:
            from linkernel.theory.highprec import refine_special_points
            refined = [refine_special_points(tr, args.digits) for tr in traces]
        if args.json:
            dicts = [tr.to_dict() for tr in traces]
            for d, ref in zip(dicts, refined):
                for sp, r in zip(d["special_points"], ref or ()):
                    if r is not None:
                        sp["lam_digits"], sp["order_parameter_digits"] = r["lam"], r["order_parameter"]
            print_json(dicts[0] if len(dicts) == 1 else {"traces": dicts})
        elif args.csv:
            _trace_csv(traces)
        else:
            print("\n".join(tr.summary(refined=ref) for tr, ref in zip(traces, refined)))
            if args.plot:
                print(f"figure written to {args.plot}")
    return run


@command("exponent", "the order-parameter exponent beta at the transition, in high precision")
def _exponent(p):
    _hyper_args(p, "hidden states; a list such as 3,4,5 gives one estimate each (default 4)")
    p.add_argument("--arch", type=_arch, default=None,
                   help="rnn (default) or a weight-sharing pattern as JSON; the DNN has no transition")
    p.add_argument("--lam-range", type=_lam_range, default=(0.5, 4.0), metavar="LO:HI",
                   help="where to look for the branch point (default 0.5:4)")
    p.add_argument("--digits", type=_int_arg("digits"), default=30, help="significant digits of the mpmath computation (default 30)")
    p.add_argument("--levels", type=_int_arg("levels"), default=8, help="halvings of m for the Richardson extrapolation (default 8)")
    add_json_arg(p, "print JSON (keys beta, error, lambda_c, ...; {estimates: [...]} for several T)")

    def run(args):
        from linkernel.theory.exponent import critical_exponent
        problems = problems_from_args(args, lam=1.0)
        ests = [critical_exponent(pr, digits=args.digits, levels=args.levels, lam_range=args.lam_range)
                for pr in problems]
        if args.json:
            print_json(ests[0].to_dict() if len(ests) == 1 else {"estimates": [e.to_dict() for e in ests]})
        else:
            print("\n".join(e.summary() for e in ests))
    return run


@command("landscape", "the Landau landscape: S minimised at fixed order parameter m (Fig. 4b)")
def _landscape(p):
    add_arch_arg(p)
    _hyper_args(p, "number of hidden states t = 0..T-1 (default 4)")
    lam = p.add_mutually_exclusive_group()
    lam.add_argument("--lams", type=_float_list("lams"), default=[1.4, 1.62, 1.8],
                     help="comma-separated lambdas (default 1.4,1.62,1.8)")
    lam.add_argument("--lam", type=_float_arg("lam", positive=False), default=None, help="one lambda (instead of --lams)")
    p.add_argument("--points", type=_int_arg("points"), default=41, help="grid points in m >= 0 (default 41)")
    p.add_argument("--m-max", type=_float_arg("m-max"), default=None, help="largest m (default 1.5 x the largest saddle m)")
    add_json_arg(p)
    p.add_argument("--plot", metavar="PNG", help="write the figure")

    def run(args):
        from linkernel.theory.landscape import landscape
        args.plot = output_file("--plot", args.plot)
        if args.T is not None and len(args.T) != 1:
            raise ValueError(f"T={args.T} is invalid here; landscape takes one T")
        lams = [args.lam] if args.lam is not None else args.lams
        land = landscape(problems_from_args(args, lam=lams[0])[0], lams,
                         m_max=args.m_max, points=args.points, progress=sys.stderr.isatty())
        if args.plot:
            from linkernel.plots import plot_landscape
            plot_landscape(land, args.plot)
        show(land, args)
        if args.plot and not args.json:
            print(f"figure written to {args.plot}")
    return run


@command("report", "the main job: the whole analysis of the default task, written to a folder")
def _report(p):
    p.add_argument("--out", default="report", help="output folder (default report/)")
    p.add_argument("--T", type=_int_arg("T"), default=4, help="hidden states of the analysed task (default 4)")
    p.add_argument("--overlay", type=_int_list_named("overlay"), default=[3, 4, 5], help="T's overlaid in trace.png (default 3,4,5)")
    add_hyperparameter_args(p)
    p.add_argument("--lam-range", type=_lam_range, default=(0.5, 3.0), metavar="LO:HI",
                   help="lambda range of the traced branches (default 0.5:3)")
    p.add_argument("--digits", type=_int_arg("digits"), default=30, help="digits of lambda_c and beta (default 30)")
    add_json_arg(p, "print a JSON summary at the end")

    def run(args):
        from linkernel.report import run_report
        check_output_folder("--out", args.out)
        show(run_report(args.out, T=args.T, overlay=args.overlay, digits=args.digits, lam_range=args.lam_range,
                        **hyperparameters(args)), args)
    return run


# --- exact (finite-N reduction) -----------------------------------------------------
@command("exact", "exact finite-N posterior kernel (rotation-invariant reduction + HMC)")
def _exact(p):
    add_problem_args(p)
    p.add_argument("--N", type=_int_arg("N"), default=512, help="network width N (default 512, as for sample)")
    p.add_argument("--chains", type=_int_arg("chains"), default=4, help="number of HMC chains (default 4)")
    p.add_argument("--samples", type=_int_arg("samples"), default=1000, help="draws per chain after warm-up (default 1000)")
    p.add_argument("--warmup", type=_int_arg("warmup", low=0), default=1000, help="warm-up iterations per chain (default 1000)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="random seed (default 0)")
    add_save_arg(p)
    add_json_arg(p)

    def run(args):
        from linkernel.finite_n.exact import exact_posterior
        check_save(args)
        r = exact_posterior(problem_from_args(args), args.N, chains=args.chains, samples=args.samples,
                            warmup=args.warmup, seed=args.seed, progress=not args.json)
        show(r, args)
        save_draws(r, args)
    return run


# --- sample (the weight posterior of real networks) -----------------------------------
@command("sample", "sample the weight posterior of real width-N networks; compare with the theory "
                   "(alias: sgld)", aliases=("sgld",))
def _sample(p):
    add_problem_args(p)
    p.add_argument("--N", type=_int_arg("N"), default=512, help="network width (default 512)")
    p.add_argument("--sweeps", type=_int_arg("sweeps"), default=400,
                   help="Gibbs sweeps (method gibbs) or Langevin steps (default 400)")
    p.add_argument("--steps", type=_int_arg("sweeps"), dest="sweeps", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--burn", type=_int_arg("burn", low=0), default=None, help="discarded first sweeps (default sweeps // 5)")
    p.add_argument("--chains", type=_int_arg("chains"), default=4, help="independent chains (default 4)")
    p.add_argument("--method", choices=("gibbs", "langevin"), default=None,
                   help="gibbs (exact blocked Gibbs + collapsed kernel moves; the default) | langevin (naive "
                        "preconditioned SGLD; the default when --step is given)")
    p.add_argument("--step", type=_float_arg("step"), default=None, help="Langevin step size (method langevin)")
    p.add_argument("--extrapolate", type=_float_arg("extrapolate"), default=None, metavar="TIME",
                   help="Langevin only: run steps STEP and STEP/2 for Langevin time TIME and extrapolate to 0")
    p.add_argument("--rows", type=_int_arg("rows"), default=None,
                   help="rows of the RNN's W per Metropolis step (default: adapted during burn-in)")
    p.add_argument("--float32", action="store_true", help="weights in float32 (half the memory and draw time)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="seed (default 0)")
    p.add_argument("--no-theory", action="store_true", help="skip the saddle-point comparison")
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact finite-N reference (HMC on the rotation-invariant reduction, ~2 s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_save_arg(p)
    add_json_arg(p)

    def run(args):
        from linkernel.finite_n.network_sampler import sample_networks as sample
        kw = dict(chains=args.chains, method=args.method, step=args.step, block_rows=args.rows,
                  dtype=np.float32 if args.float32 else np.float64, seed=args.seed,
                  progress=False if args.no_progress else None)
        if args.extrapolate is not None:
            if args.step is None:
                raise ValueError("--extrapolate needs --step (the larger of the two Langevin steps)")
            kw["extrapolate_duration"] = args.extrapolate
        else:
            kw |= dict(sweeps=args.sweeps, burn=args.burn)
        check_save(args)
        r = sample(problem_from_args(args), args.N, theory=not args.no_theory, exact=not args.no_exact, **kw)
        show(r, args)
        save_draws(r, args)
    return run


# --- sequence (sequence tasks) --------------------------------------------------------
@command("sequence", "teacher-RNN sequence task: RNN vs DNN predictions at every timestep (Fig. 5)")
def _sequence(p):
    p.add_argument("--T", type=_int_arg("T"), default=10, help="number of hidden states t = 0..T-1 (default 10)")
    p.add_argument("--period", type=_float_arg("period"), default=10.0, help="teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=_float_arg("radius"), default=1.0, help="teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")
    p.add_argument("--supervised", default="0,1,2,3",
                   help="supervised steps: a list 0,1,2,3 | all | first:K | every-other[:K] | random:K "
                        "(default 0,1,2,3)")
    p.add_argument("--lam", type=_float_arg("lam", positive=False), default=1.0, help="signal strength lambda, y = lambda * yhat (default 1)")
    add_hyperparameter_args(p)
    p.add_argument("--starts", type=_int_arg("starts"), default=6, help="minimiser starts per architecture (default 6)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="seed of random:K supervision and of the starts (default 0)")
    add_json_arg(p)
    p.add_argument("--plot", metavar="PNG", help="write the figure (targets, predictions, kernels) to this PNG")

    def run(args):
        from linkernel.sequence import solve_sequence
        args.plot = output_file("--plot", args.plot)
        r = solve_sequence(T=args.T, period=args.period, radius=args.radius, supervised=args.supervised,
                           lam=args.lam, seed=args.seed, n_starts=args.starts, **hyperparameters(args))
        if args.plot:
            from linkernel.plots import sequence_figure
            sequence_figure(r, args.plot)
        show(r, args)
        if args.plot and not args.json:
            print(f"figure written to {args.plot}")
    return run


@command("phase-diagram", "the phase diagram in (lambda, PARAM): branch-point line, spinodal, coexistence, "
                          "tricritical points, by continuation of the special points")
def _phase_diagram(p):
    add_problem_args(p, lam=False)
    p.add_argument("--param", choices=("kappa", "w", "v", "u"), default="kappa",
                   help="the second parameter (default kappa)")
    p.add_argument("--range", type=_range_arg("range"), default=(0.01, 30.0), metavar="LO:HI", dest="param_range",
                   help="range of the second parameter (default 0.01:30)")
    p.add_argument("--lam-range", type=_lam_range, default=None, metavar="LO:HI",
                   help="where to look for the first branch point (default: located)")
    p.add_argument("--points", type=_int_arg("points", low=3), default=41,
                   help="points along the lines (default 41)")
    p.add_argument("--spot-checks", type=_int_arg("spot-checks", low=0), default=0,
                   help="check this many points of the line by direct saddle points (default 0)")
    p.add_argument("--plot", metavar="PNG", help="write the figure (phases shaded)")
    add_json_arg(p)

    def run(args):
        from linkernel.theory.phase_diagram import phase_diagram
        args.plot = output_file("--plot", args.plot)
        d = phase_diagram(problem_from_args(args, lam=1.0), param=args.param, param_range=args.param_range,
                          lam_range=args.lam_range, points=args.points, spot_checks=args.spot_checks,
                          progress=sys.stderr.isatty())
        if args.plot:
            d.plot(args.plot)
        show(d, args)
        if args.plot and not args.json:
            print(f"figure written to {args.plot}")
    return run


# --- the paper's figures, the weight spectrum, sweeps ----------------------------------
@command("figure", "regenerate a figure of the paper's linear case (2, 3, 4 or 5) as PNG, PDF and JSON")
def _figure(p):
    p.add_argument("number", type=int, choices=(2, 3, 4, 5), help="the paper's figure number")
    p.add_argument("--N", type=_int_arg("N", low=2), default=None, help="network width (default: the paper's)")
    p.add_argument("--quick", action="store_true", help="small N and few sweeps (a minute; what CI runs)")
    p.add_argument("--out", default="figures", help="output folder (default figures/)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="seed of the samplers (default 0)")
    add_json_arg(p, "print the numbers of every panel as JSON")

    def run(args):
        from linkernel.figures import make_figure
        check_output_folder("--out", args.out)
        show(make_figure(args.number, N=args.N, quick=args.quick, out=args.out, seed=args.seed,
                         progress=not args.json), args)
    return run


@command("spectrum", "the eigenvalues of the trained weights: bulk radius and outliers from the theory "
                     "(and, with --N, from sampled networks)")
def _spectrum(p):
    add_problem_args(p)
    p.add_argument("--N", type=_int_arg("N", low=2), default=None,
                   help="also sample width-N networks and report their largest eigenvalues")
    p.add_argument("--draws", type=_int_arg("draws"), default=8,
                   help="with --N: networks drawn from the exact posterior (default 8)")
    p.add_argument("--seed", type=_int_arg("seed", low=0), default=0, help="seed of the sampler (default 0)")
    add_json_arg(p)

    def run(args):
        from linkernel.theory.spectrum import spectrum_report
        show(spectrum_report(problem_from_args(args), N=args.N, seed=args.seed, draws=args.draws,
                             progress=not args.json), args)
    return run


@command("sweep", "map a computation over a grid (JSON config) on a Dask cluster; results as NetCDF, resumable")
def _sweep(p):
    p.add_argument("config", help="JSON file: computation, problem, arguments, grid, output, seed")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing dask.distributed scheduler (default: a LocalCluster on this machine)")
    p.add_argument("--serial", action="store_true", help="no Dask: run the points one after another")
    add_json_arg(p)

    def run(args):
        from linkernel.sweep import run_sweep_config
        show(run_sweep_config(args.config, scheduler=args.scheduler, serial=args.serial,
                              progress=not args.json), args)
    return run


# --- entry point ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version
    try:
        ver = version("linkernel")
    except PackageNotFoundError:  # run from a source tree that is not installed
        ver = "unknown"
    parser = _Parser(prog="linkernel", allow_abbrev=False,
                     description="Kernel theory of feature learning in linear RNNs and DNNs.")
    parser.add_argument("--version", action="version", version=f"linkernel {ver}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_, fn, aliases) in COMMANDS.items():
        sp = sub.add_parser(name, aliases=list(aliases), help=help_, description=help_, allow_abbrev=False)
        sp.set_defaults(_run=fn(sp))
    return parser


def _warning_line(command: str, w) -> str:
    return f"linkernel {command}: warning: {w.message}".replace("\n", " ").rstrip() + "\n"


def main(argv=None) -> int:
    """Run one subcommand; errors become one stderr line and exit status 2.

    Warnings raised by the package (a run cut short, a sampler not converged)
    are printed as one line each after the result; warnings of the numerical
    libraries (numpy's RuntimeWarnings on the way to a refused input) are not
    shown: the result's own fields and the package's warning say what matters.
    """
    import warnings

    args = build_parser().parse_args(argv)
    from linkernel.errors import ConvergenceError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="ignore"):
                args._run(args)
        except (ValueError, ConvergenceError) as e:
            sys.stderr.write(f"linkernel {args.command}: error: {e}\n".replace("\n", " ").rstrip() + "\n")
            return 2
        except RuntimeError as e:  # numerical failure reported by the package
            sys.stderr.write(f"linkernel {args.command}: numerical failure: {e}\n".replace("\n", " ").rstrip()
                             + "\n")
            return 2
        except MemoryError:
            sys.stderr.write(f"linkernel {args.command}: error: the problem is too large for this machine's "
                             "memory; reduce T or P\n")
            return 2
    seen = set()
    for w in caught:
        if getattr(w.category, "__module__", "").startswith("linkernel") and str(w.message) not in seen:
            seen.add(str(w.message))
            sys.stderr.write(_warning_line(args.command, w))
    return 0

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


def _int_list(text):
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"T={text!r} is invalid; give integers, e.g. 4 or 3,4,5") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"T={text!r} is invalid; every T must be an integer >= 1")
    return vals


def _lam_range(text):
    try:
        lo, hi = (float(t) for t in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"lam-range={text!r} is invalid; give a range LO:HI, e.g. 0.5:3") from None
    if not (0 < lo < hi < float("inf")):
        raise argparse.ArgumentTypeError(f"lam-range={text!r} is invalid; need 0 < LO < HI")
    return lo, hi


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
def add_hyperparameter_args(p: argparse.ArgumentParser) -> None:
    """--kappa, --w, --v, --u with the paper's defaults (kappa = 0.1, w = v = u = 1)."""
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")


def hyperparameters(args) -> dict:
    """The keywords w, v, u, kappa of :func:`add_hyperparameter_args`, for Problem constructors."""
    return {"w": args.w, "v": args.v, "u": args.u, "kappa": args.kappa}


def add_arch_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", type=_arch, default="rnn", help=ARCH_HELP)


def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, lam: bool = True) -> None:
    """The paper's minimal endpoint task and its hyperparameters (defaults: w = v = u = 1, kappa = 0.1)."""
    if arch:
        add_arch_arg(p)
    p.add_argument("--T", type=int, default=4, help="number of hidden states t = 0..T-1 (default 4)")
    if lam:
        p.add_argument("--lam", type=float, default=2.0, help="signal strength lambda, y = lambda * yhat (default 2)")
    add_hyperparameter_args(p)
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


def _hyper_args(p, T_help="number of hidden states t = 0..T-1 (default 4)"):
    """--T as a list, the hyperparameters and --P (for subcommands that overlay several T)."""
    p.add_argument("--T", type=_int_list, default=[4], help=T_help)
    add_hyperparameter_args(p)
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


def add_json_arg(p: argparse.ArgumentParser, help: str = "print the result as one JSON object") -> None:
    p.add_argument("--json", action="store_true", help=help)


def problem_from_args(args, arch: str | None = None, lam: float | None = None):
    """The endpoint-classification Problem described by :func:`add_problem_args`."""
    from linkernel.tasks import endpoint
    return endpoint(arch or args.arch, T=args.T, P=args.P, lam=args.lam if lam is None else lam,
                    **hyperparameters(args))


def check_archs(archs, Ts) -> None:
    """Every architecture against every T, before any work (ValueError naming arch)."""
    from linkernel.architecture import Architecture
    for T in Ts:
        for a in archs:
            Architecture.from_spec(a, T)


# --- output ---------------------------------------------------------------------------
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def check_output_file(option: str, path) -> None:
    """Before any work: ``path`` can be written (its folder exists and is writable, it is no folder)."""
    if path is None:
        return
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; it is a folder, give a file name")
    if p.suffix and p.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"{option}={str(path)!r} is invalid; the figure format must be one of "
                         + ", ".join(s[1:] for s in FIGURE_SUFFIXES))
    if not folder.is_dir():
        raise ValueError(f"{option}={str(path)!r} is invalid; the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"{option}={str(path)!r} is invalid; it cannot be written (permission denied)")


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
    p.add_argument("--starts", type=int, default=6, help="number of minimiser starts (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    add_json_arg(p)

    def run(args):
        from linkernel.theory.saddle import saddle_point
        show(saddle_point(problem_from_args(args), n_starts=args.starts, seed=args.seed), args)
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
    p.add_argument("--arch", type=_arch, default="rnn", help="rnn | dnn (default rnn; the derivation documents "
                   "are written for these two)")
    p.add_argument("--T", type=int, default=4, help="number of hidden states t = 0..T-1 (default 4)")
    p.add_argument("--P", type=int, default=1, help="patterns of the endpoint task (default 1)")
    p.add_argument("--out", default="derivations", help="output folder (default derivations/)")
    p.add_argument("--all", action="store_true",
                   help="write the standard set instead: RNN and DNN, T = 2..5, P = 1")

    def run(args):
        import time

        from linkernel.symbolic.latex import write_derivation, write_standard_set
        check_output_folder("--out", args.out)
        if args.all:
            write_standard_set(args.out, progress=True)
            return
        t0 = time.perf_counter()
        path = write_derivation(args.arch, args.T, args.P, args.out)
        print(f"{path}  {time.perf_counter() - t0:.2f} s")
    return run


# --- trace, exponent, landscape, report (continuation and main job) -------------------
def _trace_csv(traces) -> None:
    import csv
    n = max(tr.problem.n for tr in traces)
    cols = ["arch", "T", "branch", "kind", "lam", "m", "action", "stable", "residual", "min_eigenvalue"]
    cols += [f"H_{i}_{j}" for i in range(n) for j in range(i, n)]
    out = csv.writer(sys.stdout)
    out.writerow(cols)
    for tr in traces:
        for k, b in enumerate(tr.branches):
            for pt in b.points:
                H = pt.kernel
                iu = np.triu_indices(len(H))
                row = [tr.problem.arch, tr.problem.T, k, b.kind, f"{pt.lam:.15g}",
                       f"{pt.order_parameter:.15g}", f"{pt.action:.15g}", int(pt.stable),
                       f"{pt.residual:.3e}", f"{pt.min_eigenvalue:.6e}"]
                out.writerow(row + [f"{x:.15g}" for x in H[iu]] + [""] * (len(cols) - len(row) - len(iu[0])))


@command("trace", "follow the saddle points in lambda: branches, stability, branch points, folds")
def _trace(p):
    p.add_argument("--arch", type=_archs, default=["rnn"],
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
    p.add_argument("--digits", type=int, default=None,
                   help="also refine the special points in mpmath to this many digits (15..500)")

    def run(args):
        from linkernel.theory.continuation import trace_endpoint
        check_output_file("--plot", args.plot)
        check_archs(args.arch, args.T)
        if args.digits is not None and not 15 <= args.digits <= 500:
            raise ValueError(f"digits={args.digits} is invalid; digits must be in 15..500")
        traces = trace_endpoint(args.T, args.arch, args.lam_range, P=args.P, progress=sys.stderr.isatty(),
                                **hyperparameters(args))
        if args.plot:
            from linkernel.plots import plot_trace
            extra = [] if "dnn" in args.arch else trace_endpoint(args.T, ["dnn"], args.lam_range, P=args.P,
                                                                 **hyperparameters(args))
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
    p.add_argument("--arch", type=_arch, default="rnn",
                   help="rnn (default) or a weight-sharing pattern as JSON; the DNN has no transition")
    p.add_argument("--lam-range", type=_lam_range, default=(0.5, 4.0), metavar="LO:HI",
                   help="where to look for the branch point (default 0.5:4)")
    p.add_argument("--digits", type=int, default=30, help="significant digits of the mpmath computation (default 30)")
    p.add_argument("--levels", type=int, default=8, help="halvings of m for the Richardson extrapolation (default 8)")
    add_json_arg(p, "print JSON (keys beta, error, lambda_c, ...; {estimates: [...]} for several T)")

    def run(args):
        from linkernel.tasks import endpoint
        from linkernel.theory.exponent import critical_exponent
        problems = [endpoint(args.arch, T=T, P=args.P, **hyperparameters(args)) for T in args.T]
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
    lam.add_argument("--lam", type=float, default=None, help="one lambda (instead of --lams)")
    p.add_argument("--points", type=int, default=41, help="grid points in m >= 0 (default 41)")
    p.add_argument("--m-max", type=float, default=None, help="largest m (default 1.5 x the largest saddle m)")
    add_json_arg(p)
    p.add_argument("--plot", metavar="PNG", help="write the figure")

    def run(args):
        from linkernel.tasks import endpoint
        from linkernel.theory.landscape import landscape
        check_output_file("--plot", args.plot)
        if len(args.T) != 1:
            raise ValueError(f"T={args.T} is invalid here; landscape takes one T")
        lams = [args.lam] if args.lam is not None else args.lams
        land = landscape(endpoint(args.arch, T=args.T[0], P=args.P, **hyperparameters(args)), lams,
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
    p.add_argument("--T", type=int, default=4, help="hidden states of the analysed task (default 4)")
    p.add_argument("--overlay", type=_int_list, default=[3, 4, 5], help="T's overlaid in trace.png (default 3,4,5)")
    add_hyperparameter_args(p)
    p.add_argument("--lam-range", type=_lam_range, default=(0.5, 3.0), metavar="LO:HI",
                   help="lambda range of the traced branches (default 0.5:3)")
    p.add_argument("--digits", type=int, default=30, help="digits of lambda_c and beta (default 30)")
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
    p.add_argument("--N", type=int, default=256, help="network width N (default 256)")
    p.add_argument("--chains", type=int, default=4, help="number of HMC chains (default 4)")
    p.add_argument("--samples", type=int, default=1000, help="draws per chain after warm-up (default 1000)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up iterations per chain (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_json_arg(p)

    def run(args):
        from linkernel.finite_n.exact import exact_posterior
        show(exact_posterior(problem_from_args(args), args.N, chains=args.chains, samples=args.samples,
                             warmup=args.warmup, seed=args.seed, progress=not args.json), args)
    return run


# --- sample (the weight posterior of real networks) -----------------------------------
@command("sample", "sample the weight posterior of real width-N networks; compare with the theory "
                   "(alias: sgld)", aliases=("sgld",))
def _sample(p):
    add_problem_args(p)
    p.add_argument("--N", type=int, default=512, help="network width (default 512)")
    p.add_argument("--sweeps", type=int, default=400,
                   help="Gibbs sweeps (method gibbs) or Langevin steps (default 400)")
    p.add_argument("--steps", type=int, dest="sweeps", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--burn", type=int, default=None, help="discarded first sweeps (default sweeps // 5)")
    p.add_argument("--chains", type=int, default=4, help="independent chains (default 4)")
    p.add_argument("--method", default="gibbs",
                   help="gibbs (exact blocked Gibbs + Metropolis, default) | langevin (naive preconditioned SGLD)")
    p.add_argument("--step", type=float, default=None, help="Langevin step size (method langevin)")
    p.add_argument("--extrapolate", type=float, default=None, metavar="TIME",
                   help="Langevin only: run steps STEP and STEP/2 for Langevin time TIME and extrapolate to 0")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the RNN's W per Metropolis step (default: adapted during burn-in)")
    p.add_argument("--float32", action="store_true", help="weights in float32 (half the memory and draw time)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--no-theory", action="store_true", help="skip the saddle-point comparison")
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact finite-N reference (HMC on the rotation-invariant reduction, ~2 s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        r = sample(problem_from_args(args), args.N, theory=not args.no_theory, exact=not args.no_exact, **kw)
        show(r, args)
    return run


# --- sequence (sequence tasks) --------------------------------------------------------
@command("sequence", "teacher-RNN sequence task: RNN vs DNN predictions at every timestep (Fig. 5)")
def _sequence(p):
    p.add_argument("--T", type=int, default=10, help="number of hidden states t = 0..T-1 (default 10)")
    p.add_argument("--period", type=float, default=10.0, help="teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=float, default=1.0, help="teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")
    p.add_argument("--supervised", default="0,1,2,3",
                   help="supervised steps: a list 0,1,2,3 | all | first:K | every-other[:K] | random:K "
                        "(default 0,1,2,3)")
    p.add_argument("--lam", type=float, default=1.0, help="signal strength lambda, y = lambda * yhat (default 1)")
    add_hyperparameter_args(p)
    p.add_argument("--starts", type=int, default=6, help="minimiser starts per architecture (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of random:K supervision and of the starts (default 0)")
    add_json_arg(p)
    p.add_argument("--plot", metavar="PNG", help="write the figure (targets, predictions, kernels) to this PNG")

    def run(args):
        from linkernel.sequence import solve_sequence
        check_output_file("--plot", args.plot)
        r = solve_sequence(T=args.T, period=args.period, radius=args.radius, supervised=args.supervised,
                           lam=args.lam, seed=args.seed, n_starts=args.starts, **hyperparameters(args))
        if args.plot:
            from linkernel.plots import sequence_figure
            sequence_figure(r, args.plot)
        show(r, args)
        if args.plot and not args.json:
            print(f"figure written to {args.plot}")
    return run


# --- entry point ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="linkernel", allow_abbrev=False,
                     description="Kernel theory of feature learning in linear RNNs and DNNs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_, fn, aliases) in COMMANDS.items():
        sp = sub.add_parser(name, aliases=list(aliases), help=help_, description=help_, allow_abbrev=False)
        sp.set_defaults(_run=fn(sp))
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from linkernel.theory.saddle import ConvergenceError
    try:
        args._run(args)
    except (ValueError, ConvergenceError) as e:
        sys.stderr.write(f"linkernel {args.command}: error: {e}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    except RuntimeError as e:  # numerical failure reported by the package
        sys.stderr.write(f"linkernel {args.command}: numerical failure: {e}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    return 0

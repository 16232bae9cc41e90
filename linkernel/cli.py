"""Command line: parse, call one library function, print.

Every subcommand is a thin wrapper around a function of the package; bad
input (ValueError) and numerical failure (ConvergenceError and other
RuntimeErrors of the package) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

COMMANDS: dict = {}


def command(name: str, help: str):
    """Register ``fn(subparsers_entry) -> runner`` as the subcommand ``name``."""
    def deco(fn):
        COMMANDS[name] = (help, fn)
        return fn
    return deco


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit status 2
        sys.stderr.write(f"linkernel: error: {message}\n")
        raise SystemExit(2)


# --- shared arguments ---------------------------------------------------------
def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, lam: bool = True) -> None:
    """The paper's minimal endpoint task and its hyperparameters (defaults: w = v = u = 1, kappa = 0.1)."""
    if arch:
        p.add_argument("--arch", default="rnn", help="rnn | dnn (default rnn)")
    p.add_argument("--T", type=int, default=4, help="number of hidden states t = 0..T-1 (default 4)")
    if lam:
        p.add_argument("--lam", type=float, default=2.0, help="signal strength lambda, y = lambda * yhat (default 2)")
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


def problem_from_args(args, arch: str | None = None, lam: float | None = None):
    """The endpoint-classification Problem described by :func:`add_problem_args`."""
    from linkernel.tasks import endpoint
    return endpoint(arch or args.arch, T=args.T, P=args.P, w=args.w, v=args.v, u=args.u,
                    kappa=args.kappa, lam=args.lam if lam is None else lam)


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=_jsonable))


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def format_matrix(M, fmt: str = "{:10.6f}") -> str:
    return "\n".join("  " + " ".join(fmt.format(x) for x in row) for row in np.atleast_2d(M))


# --- solve (core) ---------------------------------------------------------------
@command("solve", "the saddle-point kernel of one problem")
def _solve(p):
    add_problem_args(p)
    p.add_argument("--starts", type=int, default=6, help="number of minimiser starts (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        from linkernel.saddle import saddle_point
        sp = saddle_point(problem_from_args(args), n_starts=args.starts, seed=args.seed)
        if args.json:
            d = sp.to_dict()
            print_json({k: d[k] for k in ("kernel", "action", "grad_norm", "hessian_eigenvalues",
                                           "predictions", "order_parameter", "minima")}
                       | {"minima": [{"kernel": m["kernel"], "action": m["action"]} for m in d["minima"]]})
            return
        pr = sp.problem
        print(f"{pr.arch.upper()} endpoint task: T={pr.T} P={pr.P} lambda={pr.lam:g} kappa={pr.kappa:g} "
              f"w={pr.w:g} v={pr.v:g} u={pr.u:g}")
        print(f"kernel H (rows t*P+p, t = 0..{pr.T - 1}):")
        print(format_matrix(sp.kernel))
        print(f"order parameter m = H^(T-1,T-2) = {sp.order_parameter:.10g}")
        print(f"action S = {sp.action:.12g}   (KL {sp.kl:.8g} + likelihood {sp.likelihood:.8g})")
        print(f"residual |dS/dH| = {sp.grad_norm:.2e}   smallest Hessian eigenvalue = {sp.hessian_eigenvalues[0]:.4e}")
        print("predictions f*(t, p): " + " ".join(f"{f:.6g}" for f in sp.predictions.ravel()))
        print(f"distinct minima found: {len(sp.minima)} (from {sp.n_starts} starts, {sp.seconds:.2f} s)")
        for k, m in enumerate(sp.minima):
            print(f"  [{k}] S = {m.action:.12g}  m = {m.order_parameter:.6g}  min Hessian eig = {m.hessian_min_eigenvalue:.3e}")
    return run


# --- critical, derive (phase transition) ---------------------------------------

# --- trace, exponent, landscape, report (continuation and main job) -------------
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
        raise argparse.ArgumentTypeError(f"lam={text!r} is invalid; give a range LO:HI, e.g. 0.5:3") from None
    if not (0 < lo < hi < float("inf")):
        raise argparse.ArgumentTypeError(f"lam={text!r} is invalid; need 0 < LO < HI")
    return lo, hi


def _archs(text):
    archs = [a.strip() for a in text.split(",") if a.strip()]
    if not archs or any(a not in ("rnn", "dnn") for a in archs):
        raise argparse.ArgumentTypeError(f"arch={text!r} is invalid; give rnn, dnn or rnn,dnn")
    return archs


def _hyper_args(p, T_help="number of hidden states t = 0..T-1 (default 4)"):
    p.add_argument("--T", type=_int_list, default=[4], help=T_help)
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


def _hyper(args) -> dict:
    return {"w": args.w, "v": args.v, "u": args.u, "kappa": args.kappa}


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
    p.add_argument("--arch", type=_archs, default=["rnn"], help="rnn, dnn or rnn,dnn (default rnn)")
    _hyper_args(p, "hidden states; a list such as 3,4,5 overlays several T (default 4)")
    p.add_argument("--lam", type=_lam_range, default=(0.5, 3.0), help="lambda range LO:HI (default 0.5:3)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON (one trace, or {traces: [...]})")
    out.add_argument("--csv", action="store_true", help="print every point as CSV")
    p.add_argument("--plot", metavar="PNG", help="write the figure (m and H^{T-1,T-1} vs lambda; "
                   "the DNN is traced too and drawn dotted)")
    p.add_argument("--digits", type=int, default=None,
                   help="also refine the special points in mpmath to this many digits")

    def run(args):
        from linkernel.continuation import trace_endpoint
        traces = trace_endpoint(args.T, args.arch, args.lam, P=args.P, progress=sys.stderr.isatty(),
                                **_hyper(args))
        if args.plot:
            from linkernel.plots import plot_trace
            extra = [] if "dnn" in args.arch else trace_endpoint(args.T, ["dnn"], args.lam, P=args.P,
                                                                 **_hyper(args))
            plot_trace(traces + extra, args.plot)
        refined = [[None] * len(tr.special_points) for tr in traces]
        if args.digits is not None:
            from linkernel.highprec import refine_special_points
            if not 15 <= args.digits <= 500:
                raise ValueError(f"digits={args.digits} is invalid; digits must be in 15..500")
            refined = [refine_special_points(tr, args.digits) for tr in traces]
        dicts = [tr.to_dict() for tr in traces]
        for d, ref in zip(dicts, refined):
            for sp, r in zip(d["special_points"], ref):
                if r is not None:
                    sp["lam_digits"], sp["order_parameter_digits"] = r["lam"], r["order_parameter"]
        if args.json:
            print_json(dicts[0] if len(dicts) == 1 else {"traces": dicts})
        elif args.csv:
            _trace_csv(traces)
        else:
            for tr, ref in zip(traces, refined):
                pr = tr.problem
                print(f"{pr.arch.upper()} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g} "
                      f"lambda {tr.lam_range[0]:g}..{tr.lam_range[1]:g}: transition {tr.transition} "
                      f"({tr.steps} steps, {tr.seconds:.2f} s)")
                for k, b in enumerate(tr.branches):
                    res = max(pt.residual for pt in b.points)
                    print(f"  branch {k} ({b.kind}): {len(b.points)} points, lambda {b.lam.min():.6g}.."
                          f"{b.lam.max():.6g}, m up to {b.m.max():.6g}, stable at {int(b.stable.sum())}, "
                          f"max residual {res:.1e}")
                for sp, r in zip(tr.special_points, ref):
                    kind = sp.type + (" (Z2)" if sp.z2 else "")
                    print(f"  {kind:20s} lambda = {sp.lam:.15g}  m = {sp.order_parameter:.6g}  "
                          f"S = {sp.action:.12g}  test = {sp.test_value:.1e}  residual = {sp.residual:.1e}")
                    if r is not None:
                        print(f"  {'':20s} lambda = {r['lam']}  ({r['digits']} digits, residual {r['residual']:.0e})")
            if args.plot:
                print(f"figure written to {args.plot}")
    return run


@command("exponent", "the order-parameter exponent beta at the transition, in high precision")
def _exponent(p):
    _hyper_args(p, "hidden states; a list such as 3,4,5 gives one estimate each (default 4)")
    p.add_argument("--arch", default="rnn", help="rnn (default); the DNN has no transition")
    p.add_argument("--digits", type=int, default=30, help="significant digits of the mpmath computation (default 30)")
    p.add_argument("--levels", type=int, default=8, help="halvings of m for the Richardson extrapolation (default 8)")
    p.add_argument("--json", action="store_true", help="print JSON (keys beta, error, lambda_c, ...)")

    def run(args):
        from linkernel.exponent import critical_exponent
        from linkernel.tasks import endpoint
        ests = [critical_exponent(endpoint(args.arch, T=T, P=args.P, **_hyper(args)), digits=args.digits,
                                  levels=args.levels) for T in args.T]
        if args.json:
            print_json(ests[0].to_dict() if len(ests) == 1 else {"estimates": [e.to_dict() for e in ests]})
            return
        for e in ests:
            pr = e.problem
            print(f"{pr.arch.upper()} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g}: {e.transition} transition")
            print(f"  lambda_c = {e.lambda_c_digits}   ({e.digits} digits)")
            if e.beta is None:
                print(f"  beta: not fitted; {e.message}")
                continue
            print(f"  beta     = {e.beta_digits}   error estimate {e.error:.1e}")
            print(f"  {e.message} ({e.seconds:.1f} s)")
            for m, s in zip(e.m_values, e.local_slopes):
                print(f"    m = {m:.6e}   local slope d ln m / d ln(lambda - lambda_c) = {s:.15f}")
    return run


@command("landscape", "the Landau landscape: S minimised at fixed order parameter m (Fig. 4b)")
def _landscape(p):
    p.add_argument("--arch", default="rnn", help="rnn | dnn (default rnn)")
    _hyper_args(p)
    p.add_argument("--lam", type=_float_list("lam"), default=[1.4, 1.62, 1.8],
                   help="comma-separated lambdas (default 1.4,1.62,1.8)")
    p.add_argument("--points", type=int, default=41, help="grid points in m >= 0 (default 41)")
    p.add_argument("--m-max", type=float, default=None, help="largest m (default 1.5 x the largest saddle m)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", metavar="PNG", help="write the figure")

    def run(args):
        from linkernel.landscape import landscape
        from linkernel.tasks import endpoint
        if len(args.T) != 1:
            raise ValueError(f"T={args.T} is invalid here; landscape takes one T")
        land = landscape(endpoint(args.arch, T=args.T[0], P=args.P, **_hyper(args)), args.lam,
                         m_max=args.m_max, points=args.points, progress=sys.stderr.isatty())
        if args.plot:
            from linkernel.plots import plot_landscape
            plot_landscape(land, args.plot)
        if args.json:
            print_json(land.to_dict())
            return
        pr = land.problem
        print(f"{pr.arch.upper()} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g}: "
              f"S minimised at fixed m = H^(T-1,T-2) ({land.seconds:.1f} s)")
        for c in land.curves:
            print(f"  lambda = {c.lam:g}: minimum at m = {c.m_min:.10g}, S_min - S(m=0) = "
                  f"{c.action_min - c.action[0]:.6e}, S(m_max) - S(0) = {c.delta_action[-1]:.4e}, "
                  f"max residual {c.residual.max():.1e}, min curvature {c.curvature.min():.2e}")
        if args.plot:
            print(f"figure written to {args.plot}")
    return run


@command("report", "the main job: the whole analysis of the default task, written to a folder")
def _report(p):
    p.add_argument("--out", default="report", help="output folder (default report/)")
    p.add_argument("--T", type=int, default=4, help="hidden states of the analysed task (default 4)")
    p.add_argument("--overlay", type=_int_list, default=[3, 4, 5], help="T's overlaid in trace.png (default 3,4,5)")
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")
    p.add_argument("--digits", type=int, default=30, help="digits of lambda_c and beta (default 30)")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")

    def run(args):
        from linkernel.report import run_report
        rep = run_report(args.out, T=args.T, overlay=args.overlay, digits=args.digits, **_hyper(args))
        if args.json:
            print_json(rep.to_dict())
        else:
            print(f"report written to {rep.out}/ in {rep.seconds:.1f} s (summary: {rep.out}/summary.md)")
    return run


# --- exact (finite-N reduction) ---------------------------------------------------

# --- sgld (Langevin sampling of real networks) ------------------------------------

# --- sequence (sequence tasks) ----------------------------------------------------


# --- entry point ------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="linkernel", description="Kernel theory of feature learning in linear RNNs and DNNs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_, fn) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(_run=fn(sp))
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from linkernel.saddle import ConvergenceError
    try:
        args._run(args)
    except (ValueError, ConvergenceError) as e:
        sys.stderr.write(f"linkernel {args.command}: error: {e}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    except RuntimeError as e:  # numerical failure reported by the package
        sys.stderr.write(f"linkernel {args.command}: numerical failure: {e}\n".replace("\n", " ").rstrip() + "\n")
        return 2
    return 0

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
@command("critical", "the RNN's critical point, Landau coefficients and order of the transition (endpoint task)")
def _critical(p):
    add_problem_args(p, arch=False, lam=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        from linkernel.critical import critical_point
        cp = critical_point(problem_from_args(args, arch="rnn", lam=1.0))
        if args.json:
            print_json(cp.to_dict())
            return
        pr = cp.problem
        print(f"RNN endpoint task: T={pr.T} P={pr.P} kappa={pr.kappa:g} w={pr.w:g} v={pr.v:g} u={pr.u:g}")
        print(f"lambda_c = {cp.lambda_c:.12g}      ({cp.latex})")
        print(f"branch at lambda_c: r_c = H^tt/Sigma^tt = {cp.r_c:.10g}, rho_c = H^(t+1,t+1)/H^tt = {cp.rho_c:.10g}, "
              f"load x_c = v H^(T-1,T-1)/kappa = {cp.load_c:.8g}")
        print("kernel diagonal at lambda_c: " + " ".join(f"{h:.8g}" for h in np.diag(cp.kernel_c)))
        L = cp.landau
        print(f"Landau S_eff = S0 + a m^2 + b m^4: a = {L['a']:.3g}, da/dlambda = {L['da_dlambda']:.8g}, "
              f"b = {L['b']:.8g}, db/dlambda = {L['db_dlambda']:.8g}")
        note = "" if cp.branch_stable else (f" (the symmetric branch folds at lambda_fold = {cp.lambda_fold:.10g}, "
                                            "before r_c: the symmetric state ends there)")
        print(f"order: {cp.order}{note}")
        if cp.beta is not None:
            print(f"m ~ A (lambda - lambda_c)^beta with beta = {cp.beta:g}, A = {cp.amplitude:.8g}")
        tc = cp.tricritical
        if tc["load"]:
            print("tricritical (b = 0) at kappa = " + ", ".join(f"{k:.8g}" for k in tc["kappa"])
                  + " for these w, v, u")
        else:
            print(f"no tricritical point for T={pr.T} (b < 0 wherever the branch is stable at r_c)")
    return run


@command("derive", "write the LaTeX derivation (action, equations, branch, Hessian, critical point, Landau)")
def _derive(p):
    p.add_argument("--arch", default="rnn", help="rnn | dnn (default rnn)")
    p.add_argument("--T", type=int, default=4, help="number of hidden states t = 0..T-1 (default 4)")
    p.add_argument("--P", type=int, default=1, help="patterns of the endpoint task (default 1)")
    p.add_argument("--out", default="derivations", help="output folder (default derivations/)")
    p.add_argument("--all", action="store_true",
                   help="write the standard set instead: RNN and DNN, T = 2..5, P = 1")

    def run(args):
        from linkernel.latex import write_derivation, write_standard_set
        import time
        if args.all:
            write_standard_set(args.out, progress=True)
            return
        t0 = time.perf_counter()
        path = write_derivation(args.arch, args.T, args.P, args.out)
        print(f"{path}  {time.perf_counter() - t0:.2f} s")
    return run


# --- trace, exponent, landscape, report (continuation and main job) -------------

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

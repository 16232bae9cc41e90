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

# --- exact (finite-N reduction) ---------------------------------------------------
@command("exact", "exact finite-N posterior kernel (rotation-invariant reduction + HMC)")
def _exact(p):
    add_problem_args(p)
    p.add_argument("--N", type=int, default=256, help="network width N (default 256)")
    p.add_argument("--chains", type=int, default=4, help="number of HMC chains (default 4)")
    p.add_argument("--samples", type=int, default=1000, help="draws per chain after warm-up (default 1000)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up iterations per chain (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        from linkernel.exact import exact_posterior
        r = exact_posterior(problem_from_args(args), args.N, chains=args.chains, samples=args.samples,
                            warmup=args.warmup, seed=args.seed, progress=not args.json)
        if args.json:
            d = r.to_dict()
            print_json({k: d[k] for k in ("kernel", "stderr", "ess", "rhat", "N", "order_parameter",
                                           "order_parameter_stderr", "predictions", "chains", "samples",
                                           "acceptance", "divergences", "seconds")})
            return
        pr = r.problem
        print(f"{pr.arch.upper()} endpoint task, exact posterior at N={r.N}: T={pr.T} P={pr.P} lambda={pr.lam:g} "
              f"kappa={pr.kappa:g} w={pr.w:g} v={pr.v:g} u={pr.u:g}")
        print(f"posterior mean kernel H (Z2 sign fixed per draw by m >= 0; rows t*P+p, t = 0..{pr.T - 1}):")
        print(format_matrix(r.kernel))
        print("Monte Carlo standard errors:")
        print(format_matrix(r.stderr, "{:10.2e}"))
        print(f"order parameter m = {r.order_parameter:.6g} +- {r.order_parameter_stderr:.2g}")
        print(f"{r.chains} chains x {r.samples} draws: min ESS {r.min_ess:.0f}, max R-hat {r.max_rhat:.4f}, "
              f"acceptance {r.acceptance:.2f}, divergences {r.divergences}, {r.seconds:.2f} s")
    return run


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

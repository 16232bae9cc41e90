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
    """Rows of formatted numbers; adding 0.0 turns printed -0.000000 into 0.000000."""
    M = np.round(np.atleast_2d(np.asarray(M, dtype=float)), 12) + 0.0
    return "\n".join("  " + " ".join(fmt.format(x) for x in row) for row in M)


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

# --- sgld (Langevin sampling of real networks) ------------------------------------

# --- sequence (sequence tasks) ----------------------------------------------------
@command("sequence", "teacher-RNN sequence task: RNN vs DNN predictions at every timestep (Fig. 5)")
def _sequence(p):
    p.add_argument("--T", type=int, default=10, help="number of hidden states t = 0..T-1 (default 10)")
    p.add_argument("--period", type=float, default=10.0, help="teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=float, default=1.0, help="teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")
    p.add_argument("--supervised", default="0,1,2,3",
                   help="supervised steps: a list 0,1,2,3 | all | first:K | every-other[:K] | random:K "
                        "(default 0,1,2,3)")
    p.add_argument("--lam", type=float, default=1.0, help="signal strength lambda, y = lambda * yhat (default 1)")
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")
    p.add_argument("--starts", type=int, default=6, help="minimiser starts per architecture (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of random:K supervision and of the starts (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="PNG", help="write the figure (targets, predictions, kernels) to this PNG")

    def run(args):
        from linkernel.sequence import solve_sequence
        r = solve_sequence(T=args.T, period=args.period, radius=args.radius, supervised=args.supervised,
                           lam=args.lam, seed=args.seed, n_starts=args.starts, w=args.w, v=args.v, u=args.u,
                           kappa=args.kappa)
        if args.plot:
            from linkernel.plots import sequence_figure
            sequence_figure(r, args.plot)
        if args.json:
            print_json(r.to_dict())
            return
        print(f"teacher sequence: T={r.T} period={r.period:g} radius={r.radius:g} lambda={r.lam:g} "
              + " ".join(f"{k}={v:g}" for k, v in r.hyper.items()))
        print("supervised steps: " + ",".join(map(str, r.supervised)))
        print("   t  sup    target       RNN       DNN")
        for t in range(r.T):
            print(f"{t:4d}  {'*' if t in r.supervised else ' '}  {r.targets[t]:9.5f} "
                  f"{r.predictions['rnn'][t]:9.5f} {r.predictions['dnn'][t]:9.5f}")
        for a in r.archs:
            sp = r.saddles[a]
            z2 = "  (Z2-symmetric task: mean over the mirror pair)" if r.z2_averaged[a] else ""
            print(f"{a.upper()}: L = {r.gen_error[a]:.6g} (unsupervised part {r.gen_error_unsupervised[a]:.6g})  "
                  f"S = {sp.action:.10g}  residual {sp.grad_norm:.1e}  Hessian eig in "
                  f"[{sp.hessian_eigenvalues[0]:.3e}, {sp.hessian_eigenvalues[-1]:.3e}]  "
                  f"minima found {len(sp.minima)}{z2}")
            for k, m in enumerate(sp.minima[1:], 1):
                print(f"     other minimum [{k}]: S = {m.action:.10g}  m = {m.order_parameter:.6g}")
        for a in r.archs:
            print(f"{a.upper()} kernel H^(t,t'):")
            print(format_matrix(r.kernels[a], "{:8.4f}"))
        if args.plot:
            print(f"figure written to {args.plot}")
    return run



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

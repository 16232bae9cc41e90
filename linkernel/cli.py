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

# --- sgld (Langevin sampling of real networks) ------------------------------------
@command("sgld", "sample the weight posterior of real width-N networks; compare with the theory")
def _sgld(p):
    add_problem_args(p)
    p.add_argument("--N", type=int, default=512, help="network width (default 512)")
    p.add_argument("--steps", type=int, default=400,
                   help="Gibbs sweeps (method gibbs) or Langevin steps (default 400)")
    p.add_argument("--burn", type=int, default=None, help="discarded first sweeps (default steps // 5)")
    p.add_argument("--chains", type=int, default=4, help="independent chains (default 4)")
    p.add_argument("--method", default="gibbs",
                   help="gibbs (exact blocked Gibbs + Metropolis, default) | langevin (naive preconditioned SGLD)")
    p.add_argument("--step", type=float, default=None, help="Langevin step (method langevin)")
    p.add_argument("--extrapolate", type=float, default=None, metavar="TIME",
                   help="Langevin only: run steps STEP and STEP/2 for Langevin time TIME and extrapolate to 0")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the RNN's W per Metropolis step (default: adapted during burn-in)")
    p.add_argument("--float32", action="store_true", help="weights in float32 (half the memory and draw time)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--no-theory", action="store_true", help="skip the saddle-point comparison")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        from linkernel.sgld import run_sgld
        kw = dict(chains=args.chains, method=args.method, step=args.step, block_rows=args.rows,
                  dtype=np.float32 if args.float32 else np.float64, seed=args.seed,
                  progress=False if args.no_progress else None)
        if args.extrapolate is not None:
            if args.step is None:
                raise ValueError("--extrapolate needs --step (the larger of the two Langevin steps)")
            kw["extrapolate_duration"] = args.extrapolate
        else:
            kw |= dict(sweeps=args.steps, burn=args.burn)
        r = run_sgld(problem_from_args(args), args.N, theory=not args.no_theory, **kw)
        if args.json:
            d = r.to_dict()
            d.pop("checkpoints")
            print_json(d)
            return
        pr = r.problem
        print(f"{pr.arch.upper()} endpoint task: T={pr.T} P={pr.P} lambda={pr.lam:g} kappa={pr.kappa:g}  "
              f"N={r.N}  {r.method}, {r.chains} chains x {r.sweeps - r.burn} sweeps after {r.burn} burn-in, "
              f"{r.dtype}")
        print("posterior-mean kernel H (Z2 sign fixed per sample, m >= 0):")
        print(format_matrix(r.kernel))
        print("standard error:")
        print(format_matrix(r.stderr))
        if r.theory_kernel is not None:
            print("theory (saddle point):")
            print(format_matrix(r.theory_kernel))
            print(f"max |H - H_theory| / max|H_theory| = {r.max_rel_error:.4f}   CKA = {r.cka:.6f}")
        print(f"m = {r.order_parameter:.5g} +- {r.order_parameter_stderr:.2g}   tau = {r.tau:.3g} sweeps "
              f"(m: {r.tau_m:.3g})   ESS = {r.ess:.0f}   R-hat = {r.rhat:.4f}   drift = {r.drift:.2f}")
        acc = " ".join(f"{k}={v:.2f}" for k, v in r.acceptance.items())
        print(f"acceptance: {acc}" + (f"   rows/step = {r.block_rows}" if r.block_rows else "")
              + f"   bias estimate = {r.bias_estimate:.3g}   {r.seconds:.1f} s ({r.seconds_per_sweep * 1e3:.1f} ms/sweep)")
    return run

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

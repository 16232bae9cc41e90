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

from linkernel.serialize import dumps

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
def add_hyperparameter_args(p: argparse.ArgumentParser) -> None:
    """--kappa, --w, --v, --u with the paper's defaults (kappa = 0.1, w = v = u = 1)."""
    p.add_argument("--kappa", type=float, default=0.1, help="likelihood variance (default 0.1)")
    p.add_argument("--w", type=float, default=1.0, help="recurrent weight variance (default 1)")
    p.add_argument("--v", type=float, default=1.0, help="readout variance (default 1)")
    p.add_argument("--u", type=float, default=1.0, help="input weight variance (default 1)")


def hyperparameters(args) -> dict:
    """The keywords w, v, u, kappa of :func:`add_hyperparameter_args`, for Problem constructors."""
    return {"w": args.w, "v": args.v, "u": args.u, "kappa": args.kappa}


def add_problem_args(p: argparse.ArgumentParser, arch: bool = True, lam: bool = True) -> None:
    """The paper's minimal endpoint task and its hyperparameters (defaults: w = v = u = 1, kappa = 0.1)."""
    if arch:
        p.add_argument("--arch", default="rnn", help="rnn | dnn (default rnn)")
    p.add_argument("--T", type=int, default=4, help="number of hidden states t = 0..T-1 (default 4)")
    if lam:
        p.add_argument("--lam", type=float, default=2.0, help="signal strength lambda, y = lambda * yhat (default 2)")
    add_hyperparameter_args(p)
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


def problem_from_args(args, arch: str | None = None, lam: float | None = None):
    """The endpoint-classification Problem described by :func:`add_problem_args`."""
    from linkernel.tasks import endpoint
    return endpoint(arch or args.arch, T=args.T, P=args.P, lam=args.lam if lam is None else lam,
                    **hyperparameters(args))


def print_json(obj) -> None:
    print(dumps(obj))


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
        from linkernel.theory.saddle import saddle_point
        sp = saddle_point(problem_from_args(args), n_starts=args.starts, seed=args.seed)
        if args.json:
            d = sp.to_dict()
            print_json({k: d[k] for k in ("kernel", "action", "grad_norm", "hessian_eigenvalues",
                                           "predictions", "order_parameter", "minima")}
                       | {"minima": [{"kernel": m["kernel"], "action": m["action"]} for m in d["minima"]]})
            return
        pr = sp.problem
        print(f"{pr.arch.label} endpoint task: T={pr.T} P={pr.P} lambda={pr.lam:g} kappa={pr.kappa:g} "
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
        from linkernel.symbolic.critical import critical_point
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
        from linkernel.symbolic.latex import write_derivation, write_standard_set
        import time
        if args.all:
            write_standard_set(args.out, progress=True)
            return
        t0 = time.perf_counter()
        path = write_derivation(args.arch, args.T, args.P, args.out)
        print(f"{path}  {time.perf_counter() - t0:.2f} s")
    return run


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
    add_hyperparameter_args(p)
    p.add_argument("--P", type=int, default=1, help="patterns, orthogonal inputs at t = 0, labels +-1 (default 1)")


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
        from linkernel.theory.continuation import trace_endpoint
        traces = trace_endpoint(args.T, args.arch, args.lam, P=args.P, progress=sys.stderr.isatty(),
                                **hyperparameters(args))
        if args.plot:
            from linkernel.plots import plot_trace
            extra = [] if "dnn" in args.arch else trace_endpoint(args.T, ["dnn"], args.lam, P=args.P,
                                                                 **hyperparameters(args))
            plot_trace(traces + extra, args.plot)
        refined = [[None] * len(tr.special_points) for tr in traces]
        if args.digits is not None:
            from linkernel.theory.highprec import refine_special_points
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
                print(f"{pr.arch.label} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g} "
                      f"lambda {tr.lam_range[0]:g}..{tr.lam_range[1]:g}: transition {tr.transition} "
                      f"({tr.steps} steps, {tr.seconds:.2f} s)")
                for k, b in enumerate(tr.branches):
                    res = max(pt.residual for pt in b.points)
                    print(f"  branch {k} ({b.kind}): {len(b.points)} points, lambda {b.lam.min():.6g}.."
                          f"{b.lam.max():.6g}, m up to {b.m.max():.6g}, stable at {int(b.stable.sum())}, "
                          f"max residual {res:.1e}")
                for sp, r in zip(tr.special_points, ref):
                    kind = sp.kind + (" (Z2)" if sp.z2 else "")
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
        from linkernel.theory.exponent import critical_exponent
        from linkernel.tasks import endpoint
        ests = [critical_exponent(endpoint(args.arch, T=T, P=args.P, **hyperparameters(args)), digits=args.digits,
                                  levels=args.levels) for T in args.T]
        if args.json:
            print_json(ests[0].to_dict() if len(ests) == 1 else {"estimates": [e.to_dict() for e in ests]})
            return
        for e in ests:
            pr = e.problem
            print(f"{pr.arch.label} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g}: {e.transition} transition")
            if e.beta is None:
                print(f"  branch point (spinodal of the symmetric phase) = {e.lambda_c_digits}   "
                      f"({e.digits} digits)")
                print(f"  beta: not fitted; {e.message}")
                continue
            print(f"  lambda_c = {e.lambda_c_digits}   ({e.digits} digits)")
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
        from linkernel.theory.landscape import landscape
        from linkernel.tasks import endpoint
        if len(args.T) != 1:
            raise ValueError(f"T={args.T} is invalid here; landscape takes one T")
        land = landscape(endpoint(args.arch, T=args.T[0], P=args.P, **hyperparameters(args)), args.lam,
                         m_max=args.m_max, points=args.points, progress=sys.stderr.isatty())
        if args.plot:
            from linkernel.plots import plot_landscape
            plot_landscape(land, args.plot)
        if args.json:
            print_json(land.to_dict())
            return
        pr = land.problem
        print(f"{pr.arch.label} endpoint task T={pr.T} P={pr.P} kappa={pr.kappa:g}: "
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
    add_hyperparameter_args(p)
    p.add_argument("--digits", type=int, default=30, help="digits of lambda_c and beta (default 30)")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")

    def run(args):
        from linkernel.report import run_report
        rep = run_report(args.out, T=args.T, overlay=args.overlay, digits=args.digits, **hyperparameters(args))
        if args.json:
            print_json(rep.to_dict())
        else:
            print(f"report written to {rep.out}/ in {rep.seconds:.1f} s (summary: {rep.out}/summary.md)")
    return run


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
        from linkernel.finite_n.exact import exact_posterior
        r = exact_posterior(problem_from_args(args), args.N, chains=args.chains, samples=args.samples,
                            warmup=args.warmup, seed=args.seed, progress=not args.json)
        if args.json:
            d = r.to_dict()
            print_json({k: d[k] for k in ("kernel", "stderr", "ess", "rhat", "N", "order_parameter",
                                           "order_parameter_stderr", "predictions", "chains", "samples",
                                           "acceptance", "divergences", "seconds")})
            return
        pr = r.problem
        print(f"{pr.arch.label} endpoint task, exact posterior at N={r.N}: T={pr.T} P={pr.P} lambda={pr.lam:g} "
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
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact finite-N reference (HMC on the rotation-invariant reduction, ~2 s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args):
        from linkernel.finite_n.network_sampler import max_rel_error, run_sgld
        kw = dict(chains=args.chains, method=args.method, step=args.step, block_rows=args.rows,
                  dtype=np.float32 if args.float32 else np.float64, seed=args.seed,
                  progress=False if args.no_progress else None)
        if args.extrapolate is not None:
            if args.step is None:
                raise ValueError("--extrapolate needs --step (the larger of the two Langevin steps)")
            kw["extrapolate_duration"] = args.extrapolate
        else:
            if args.steps < 4:
                raise ValueError(f"--steps={args.steps} is invalid; --steps must be an integer >= 4")
            kw |= dict(sweeps=args.steps, burn=args.burn)
        r = run_sgld(problem_from_args(args), args.N, theory=not args.no_theory, exact=not args.no_exact, **kw)
        if args.json:
            d = r.to_dict()
            d.pop("checkpoints")
            print_json(d)
            return
        pr = r.problem
        print(f"{pr.arch.label} endpoint task: T={pr.T} P={pr.P} lambda={pr.lam:g} kappa={pr.kappa:g}  "
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
        if r.exact_kernel is not None:
            print(f"exact finite-N posterior mean at N={r.N} (rotation-invariant reduction):")
            print(format_matrix(r.exact_kernel))
            print(f"max |H - H_exact| / max|H_exact| = {max_rel_error(r.kernel, r.exact_kernel):.4f}   "
                  f"max |H - H_exact| / error bar = {r.exact_max_z:.2f}")
        print(f"m = {r.order_parameter:.5g} +- {r.order_parameter_stderr:.2g}   tau = {r.tau:.3g} sweeps "
              f"(m: {r.tau_m:.3g})   ESS = {r.ess:.0f}   R-hat = {r.rhat:.4f}   drift = {r.drift:.2f}")
        acc = " ".join(f"{k}={v:.2f}" for k, v in r.acceptance.items()) or "n/a (unadjusted Langevin)"
        print(f"acceptance: {acc}" + (f"   rows/step = {r.block_rows}" if r.block_rows else "")
              + f"   {r.seconds:.1f} s ({r.seconds_per_sweep * 1e3:.1f} ms/sweep)")
        bias = "unknown" if r.bias_estimate is None else f"{r.bias_estimate:.3g}"
        print(f"discretisation bias estimate = {bias}  ({r.bias_method})")
    return run

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
    add_hyperparameter_args(p)
    p.add_argument("--starts", type=int, default=6, help="minimiser starts per architecture (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of random:K supervision and of the starts (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="PNG", help="write the figure (targets, predictions, kernels) to this PNG")

    def run(args):
        from linkernel.sequence import minimum_gen_error, solve_sequence
        r = solve_sequence(T=args.T, period=args.period, radius=args.radius, supervised=args.supervised,
                           lam=args.lam, seed=args.seed, n_starts=args.starts, **hyperparameters(args))
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
                print(f"     other minimum [{k}]: S = {m.action:.10g}  m = {m.order_parameter:.6g}  "
                      f"L there = {minimum_gen_error(sp.problem, m.kernel):.6g}")
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

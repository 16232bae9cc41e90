"""The subcommands: each parses its options, calls one function of the package, prints its summary().

Each registers itself with :func:`linkernel.cli.options.command`; the computing module is imported
inside the subcommand's ``run`` so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys

from linkernel.cli.options import (add_T_list_args, add_arch_arg, add_hyperparameter_args, add_json_arg,
                                   add_problem_args, add_save_arg, arch_type, archs_type,
                                   check_output_folder, check_save, command, float_arg, float_list,
                                   hyperparameters, int_arg, int_list, lam_range, not_a_range, output_file,
                                   print_json, problem_from_args, problems_from_args, range_arg, save_draws,
                                   show)


# --- solve (core) ---------------------------------------------------------------------
@command("solve", "the saddle-point kernel of one problem")
def _solve(p):
    add_problem_args(p)
    p.add_argument("--starts", type=int_arg("starts"), default=6, help="number of minimiser starts (default 6)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="seed of the random starts (default 0)")
    p.add_argument("--N", type=int_arg("N", low=2), default=None,
                   help="also the finite-width theory at this width: H_N = H* + delta_H/N with the fluctuations")
    add_json_arg(p)

    def run(args):
        from linkernel.theory.saddle import saddle_point
        sp = saddle_point(problem_from_args(args), n_starts=args.starts, seed=args.seed)
        if args.N is None:
            show(sp, args)
            return
        from linkernel.finite_n.finite_width import finite_width
        fw = finite_width(sp, args.N)
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
    p.add_argument("--arch", type=arch_type, default=None, help="rnn | dnn (default rnn; the derivation documents "
                   "are written for these two)")
    p.add_argument("--T", type=int_arg("T"), default=None,
                   help="number of hidden states t = 0..T-1 (default 4; at most 11)")
    p.add_argument("--P", type=int_arg("P"), default=None, help="patterns of the endpoint task (default 1)")
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

    from linkernel.problem import pair

    keys = {}
    for tr in traces:
        T, P = tr.problem.T, tr.problem.P
        for i in range(T * P):
            for j in range(i, T * P):
                (t, p), (s, q) = pair(i, P), pair(j, P)
                keys.setdefault(name(t, p, s, q, P), (t, p, s, q))
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
                here = {name(*pair(i, P), *pair(j, P), P): f"{H[i, j]:.15g}"
                        for i in range(len(H)) for j in range(i, len(H))}
                out.writerow(row + [here.get(c, "") for c in kernel_cols])


@command("trace", "follow the saddle points in lambda: branches, stability, branch points, folds")
def _trace(p):
    p.add_argument("--arch", type=archs_type, default=None,
                   help="rnn, dnn, rnn,dnn or one weight-sharing pattern as JSON (default rnn)")
    add_T_list_args(p, "hidden states; a list such as 3,4,5 overlays several T (default 4)")
    p.add_argument("--lam-range", type=lam_range, default=(0.5, 3.0), metavar="LO:HI",
                   help="lambda range LO:HI (default 0.5:3)")
    p.add_argument("--lam", type=not_a_range, help=argparse.SUPPRESS)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON (one trace, or {traces: [...]})")
    out.add_argument("--csv", action="store_true", help="print every point as CSV")
    p.add_argument("--plot", metavar="PNG", help="write the figure (m and H^{T-1,T-1} vs lambda; "
                   "the DNN is traced too and drawn dotted)")
    p.add_argument("--digits", type=int_arg("digits", 15, 500), default=None,
                   help="also refine the special points in mpmath to this many digits (15..500)")

    def run(args):
        from linkernel.theory.continuation import trace
        args.plot = output_file("--plot", args.plot)
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
    add_T_list_args(p, "hidden states; a list such as 3,4,5 gives one estimate each (default 4)")
    p.add_argument("--arch", type=arch_type, default=None,
                   help="rnn (default) or a weight-sharing pattern as JSON; the DNN has no transition")
    p.add_argument("--lam-range", type=lam_range, default=(0.5, 4.0), metavar="LO:HI",
                   help="where to look for the branch point (default 0.5:4)")
    p.add_argument("--digits", type=int_arg("digits"), default=30, help="significant digits of the mpmath computation (default 30)")
    p.add_argument("--levels", type=int_arg("levels"), default=8, help="halvings of m for the Richardson extrapolation (default 8)")
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
    add_T_list_args(p, "number of hidden states t = 0..T-1 (default 4)")
    lam = p.add_mutually_exclusive_group()
    lam.add_argument("--lams", type=float_list("lams"), default=[1.4, 1.62, 1.8],
                     help="comma-separated lambdas (default 1.4,1.62,1.8)")
    lam.add_argument("--lam", type=float_arg("lam", positive=False), default=None, help="one lambda (instead of --lams)")
    p.add_argument("--points", type=int_arg("points"), default=41, help="grid points in m >= 0 (default 41)")
    p.add_argument("--m-max", type=float_arg("m-max"), default=None, help="largest m (default 1.5 x the largest saddle m)")
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
    p.add_argument("--T", type=int_arg("T"), default=4, help="hidden states of the analysed task (default 4)")
    p.add_argument("--overlay", type=int_list("overlay"), default=[3, 4, 5], help="T's overlaid in trace.png (default 3,4,5)")
    add_hyperparameter_args(p)
    p.add_argument("--lam-range", type=lam_range, default=(0.5, 3.0), metavar="LO:HI",
                   help="lambda range of the traced branches (default 0.5:3)")
    p.add_argument("--digits", type=int_arg("digits"), default=30, help="digits of lambda_c and beta (default 30)")
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
    p.add_argument("--N", type=int_arg("N"), default=512, help="network width N (default 512, as for sample)")
    p.add_argument("--chains", type=int_arg("chains"), default=4, help="number of HMC chains (default 4)")
    p.add_argument("--samples", type=int_arg("samples"), default=1000, help="draws per chain after warm-up (default 1000)")
    p.add_argument("--warmup", type=int_arg("warmup", low=0), default=1000, help="warm-up iterations per chain (default 1000)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="random seed (default 0)")
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
    p.add_argument("--N", type=int_arg("N"), default=512, help="network width (default 512)")
    p.add_argument("--sweeps", type=int_arg("sweeps"), default=400,
                   help="Gibbs sweeps (method gibbs) or Langevin steps (default 400)")
    p.add_argument("--steps", type=int_arg("sweeps"), dest="sweeps", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--burn", type=int_arg("burn", low=0), default=None, help="discarded first sweeps (default sweeps // 5)")
    p.add_argument("--chains", type=int_arg("chains"), default=4, help="independent chains (default 4)")
    p.add_argument("--method", choices=("gibbs", "langevin"), default=None,
                   help="gibbs (exact blocked Gibbs + collapsed kernel moves; the default) | langevin (naive "
                        "preconditioned SGLD; the default when --step is given)")
    p.add_argument("--step", type=float_arg("step"), default=None, help="Langevin step size (method langevin)")
    p.add_argument("--extrapolate", type=float_arg("extrapolate"), default=None, metavar="TIME",
                   help="Langevin only: run steps STEP and STEP/2 for Langevin time TIME and extrapolate to 0")
    p.add_argument("--rows", type=int_arg("rows"), default=None,
                   help="rows of the RNN's W per Metropolis step (default: adapted during burn-in)")
    p.add_argument("--float32", action="store_true", help="weights in float32 (half the memory and draw time)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="seed (default 0)")
    p.add_argument("--no-theory", action="store_true", help="skip the saddle-point comparison")
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact finite-N reference (HMC on the rotation-invariant reduction, ~2 s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_save_arg(p)
    add_json_arg(p)

    def run(args):
        import numpy as np

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
    p.add_argument("--T", type=int_arg("T"), default=10, help="number of hidden states t = 0..T-1 (default 10)")
    p.add_argument("--period", type=float_arg("period"), default=10.0, help="teacher's rotation period in steps (default 10)")
    p.add_argument("--radius", type=float_arg("radius"), default=1.0, help="teacher's eigenvalue modulus, 0 < r <= 1 (default 1)")
    p.add_argument("--supervised", default="0,1,2,3",
                   help="supervised steps: a list 0,1,2,3 | all | first:K | every-other[:K] | random:K "
                        "(default 0,1,2,3)")
    p.add_argument("--lam", type=float_arg("lam", positive=False), default=1.0, help="signal strength lambda, y = lambda * yhat (default 1)")
    add_hyperparameter_args(p)
    p.add_argument("--starts", type=int_arg("starts"), default=6, help="minimiser starts per architecture (default 6)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="seed of random:K supervision and of the starts (default 0)")
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
    p.add_argument("--range", type=range_arg("range"), default=(0.01, 30.0), metavar="LO:HI", dest="param_range",
                   help="range of the second parameter (default 0.01:30)")
    p.add_argument("--lam-range", type=lam_range, default=None, metavar="LO:HI",
                   help="where to look for the first branch point (default: located)")
    p.add_argument("--points", type=int_arg("points", low=3), default=41,
                   help="points along the lines (default 41)")
    p.add_argument("--spot-checks", type=int_arg("spot-checks", low=0), default=0,
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
    p.add_argument("--N", type=int_arg("N", low=2), default=None, help="network width (default: the paper's)")
    p.add_argument("--quick", action="store_true", help="small N and few sweeps (a minute; what CI runs)")
    p.add_argument("--out", default="figures", help="output folder (default figures/)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="seed of the samplers (default 0)")
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
    p.add_argument("--N", type=int_arg("N", low=2), default=None,
                   help="also sample width-N networks and report their largest eigenvalues")
    p.add_argument("--draws", type=int_arg("draws"), default=8,
                   help="with --N: networks drawn from the exact posterior (default 8)")
    p.add_argument("--seed", type=int_arg("seed", low=0), default=0, help="seed of the sampler (default 0)")
    add_json_arg(p)

    def run(args):
        from linkernel.finite_n.spectra import spectrum_report
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

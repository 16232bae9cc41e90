"""The subcommands: each parses its options, calls one function of the package, prints its summary().

Each registers itself with :func:`linkernel.cli.options.command`; the computing module is imported
inside the subcommand's ``run`` so that building the parser stays cheap.  The options come from the
one vocabulary (:mod:`linkernel.cli.vocabulary`): the same name, default and help for the same
concept in every subcommand; an option that means nothing to a subcommand (``trace --lam``) is
hidden and refused with one line saying what to use instead.
"""

from __future__ import annotations

import argparse
import sys

from linkernel.cli.options import (DEFAULTS, add_arch_arg, add_problem_args, add_save_arg, add_T_list_args,
                                   check_output_folder, check_save, command, data_dict, figure_of, hyperparameters,
                                   output_file, print_json, problem_from_args, problems_and_data,
                                   problems_from_args, save_draws, show, MAX_CHAINS, MAX_DRAWS,
                                   MAX_NETWORK_N, MAX_POINTS, MAX_STARTS, MAX_THEORY_N, RANGE_BOUNDS)
from linkernel.cli.vocabulary import (IntervalAction, add_digits_arg, add_json_arg, add_lambda_args, add_out_arg,
                                      add_plot_arg, add_progress_arg, add_seed_arg, float_arg, given_on_command_line,
                                      help_text, int_arg, int_list, lam_value, progress_on)

#: what a subcommand that solves at one lambda says to --lam-range and --lams
ONE_LAMBDA = ("{cmd} computes at one lambda, --lam LAMBDA; for an interval use 'linkernel trace --lam-range LO HI', "
              "for several lambdas 'linkernel landscape --lams A,B,C' or 'linkernel sweep'")


def refuse_given(args, names, why: str) -> None:
    """The first of ``names`` (dest names) the user gave, refused with ``why`` (what to use instead)."""
    for name in names:
        if getattr(args, name, None) not in (None, False):
            raise ValueError(f"--{name.replace('_', '-')}: {why}")


# --- solve (core) ---------------------------------------------------------------------
@command("solve", "the saddle-point kernel of one problem")
def _solve(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, why=ONE_LAMBDA.format(cmd="solve"))
    p.add_argument("--all-minima", action="store_true",
                   help="the catalogue of minima (tree of every saddle and random starts), not only the global one")
    p.add_argument("--starts", type=int_arg("starts", 1, MAX_STARTS), default=None,
                   help="minimiser starts: STARTS - 1 random starts added to the search (default: none for the "
                        f"global minimum, 5 with --all-minima; at most {MAX_STARTS})")
    add_seed_arg(p, "of the random starts and of random:K supervision")
    p.add_argument("--N", type=int_arg("N", 2, MAX_THEORY_N), default=None,
                   help="also the finite-width theory at this width: H_N = H* + delta_H/N with the fluctuations "
                        f"(2 <= N <= {MAX_THEORY_N:.0e}; 1e6 is accepted)")
    add_json_arg(p, "the saddle point's keys, and 'finite_width' (with --N) and 'data' (with --data) nested, "
                    "null when not asked for")
    add_plot_arg(p, "the kernel H as a heat map")

    def run(args):
        from linkernel.theory.saddle import saddle_point
        args.plot = output_file("--plot", args.plot)
        (problem,), (task,) = problems_and_data(args)
        if task is not None and not args.json:
            print(data_line(task))
        sp = saddle_point(problem, n_starts=args.starts, seed=args.seed,
                          minima="all" if args.all_minima else "global")
        fw = None
        if args.N is not None:
            from linkernel.finite_n.finite_width import finite_width
            fw = finite_width(sp, args.N)
        err = None if task is None or task.x_test.shape[1] == 0 else task.test_error(sp)
        if args.plot:
            figure_of(sp.plot)(args.plot)
        if args.json:
            # one scheme: the result's own keys at the top, each added part nested under its name (null
            # when not asked for), so no key depends on a flag and none overwrites another
            fwd = None if fw is None else {k: v for k, v in fw.to_dict().items() if k != "problem"}
            print_json({**sp.to_dict(), "finite_width": fwd, "data": data_dict(task, err)})
            return
        print(sp.summary() + ("" if fw is None else "\n\n" + fw.summary()))
        if task is not None:
            print(test_error_line(err))
        if args.plot:
            print(f"figure written to {args.plot}")
    return run


def data_line(task) -> str:
    """The data set and its span reduction, one line."""
    return f"data: {task.description}: {task.reduction.summary()}"


def test_error_line(err) -> str:
    if err is None:
        return "held-out test error: no held-out patterns (give --test M)"
    rate = "" if "error_rate" not in err else f", error rate {err['error_rate']:.4g}"
    return f"held-out test error on {err['m']} patterns: mse {err['mse']:.6g}{rate}"


def show_with_data(result, args, tasks, plot=None) -> None:
    """``show`` for a command run on --data: the reduction line first (text), or the key ``data`` (JSON,
    null without --data; one entry per result, a list where there are several); ``plot(path)`` draws
    --plot first, as in :func:`~linkernel.cli.options.show`."""
    path = getattr(args, "plot", None)
    if plot is not None and path:
        plot(path)
    if getattr(args, "json", False):
        d = result.to_dict()
        d["data"] = data_dict(tasks[0]) if len(tasks) == 1 else [data_dict(t) for t in tasks]
        print_json(d)
        return
    for t in tasks:
        if t is not None:
            print(data_line(t))
    print(result.summary())
    if plot is not None and path:
        print(f"figure written to {path}")


# --- critical, derive (phase transition) -------------------------------------------
NO_LAMBDA = ("{cmd} locates lambda_c itself and takes no lambda; to follow the branches around it use "
             "'linkernel trace --lam-range LO HI'")


@command("critical", "the critical point lambda_c and the order of the transition: closed forms for the "
                     "RNN and every weight-sharing pattern on the endpoint task, numerical otherwise")
def _critical(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, use=(), why=NO_LAMBDA.format(cmd="critical"))
    add_json_arg(p, "the same keys for every architecture, null where a route gives no value")

    def run(args):
        from linkernel.cli.critical import critical_answer
        (problem,), tasks = problems_and_data(args, lam=1.0)
        show_with_data(critical_answer(problem), args, tasks)
    return run


DERIVE_ONLY = ("derivation documents are written for the endpoint task of --arch rnn or dnn, --T and --P, "
               "symbolic in lambda, w, v, u and kappa; for {what} use 'linkernel critical' with the same options "
               "(closed-form or numerical lambda_c and order)")


@command("derive", "write the LaTeX derivation (action, equations, branch, Hessian, critical point, Landau)")
def _derive(p):
    add_problem_args(p, T_note="at most 11; the documents are written for rnn and dnn: a weight-sharing "
                               "pattern is refused, its closed forms come from 'linkernel critical --arch PATTERN'")
    add_lambda_args(p, use=(), why=DERIVE_ONLY.format(what="a lambda"))
    add_out_arg(p, "derivations")
    p.add_argument("--all", action="store_true",
                   help="write the standard set instead: RNN and DNN, T = 2..5, P = 1")
    add_json_arg(p, "the files written and their seconds")

    def run(args):
        import time

        from linkernel.symbolic.latex import write_derivation, write_standard_set
        refuse_given(args, ("kappa", "w", "v", "u"), DERIVE_ONLY.format(what="numbers"))
        refuse_given(args, ("task", "D", "labels", "supervised", "period", "radius", "problem", "data", "classes",
                            "test", "label", "data_seed"), DERIVE_ONLY.format(what="another problem"))
        check_output_folder("--out", args.out)
        if args.all:
            refuse_given(args, ("arch", "T", "P"), "invalid with --all; --all writes the standard set "
                                                   "(RNN and DNN, T = 2..5, P = 1)")
            times = write_standard_set(args.out, progress=not args.json)
            if args.json:
                print_json({"files": [{"path": k, "seconds": v} for k, v in times.items()]})
            return
        t0 = time.perf_counter()
        path = write_derivation(args.arch or DEFAULTS["arch"], args.T or DEFAULTS["T"], args.P or DEFAULTS["P"],
                                args.out)
        seconds = time.perf_counter() - t0
        if args.json:
            print_json({"files": [{"path": str(path), "seconds": seconds}]})
        else:
            print(f"{path}  {seconds:.2f} s")
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


TRACE_INTERVAL = "trace follows lambda over an interval; give --lam-range LO HI (e.g. --lam-range 0.5 3)"


@command("trace", "follow the saddle points in lambda: branches, stability, branch points, folds")
def _trace(p):
    add_arch_arg(p, several=True)
    add_T_list_args(p)
    add_lambda_args(p, use=("lam_range",), why=TRACE_INTERVAL)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help=help_text("json", None, "{traces: [...]} for several"))
    out.add_argument("--csv", action="store_true", help="print every point as CSV")
    add_plot_arg(p, "m and H^{T-1,T-1} vs lambda; the DNN is traced too and drawn dotted")
    p.add_argument("--refine", action="store_true", help="also refine the special points in mpmath to --digits")
    add_digits_arg(p, "with --refine (giving --digits implies --refine)")
    add_progress_arg(p)

    def run(args):
        from linkernel.theory.continuation import trace
        args.plot = output_file("--plot", args.plot)
        problems, tasks = problems_and_data(args, lam=1.0)
        traces = [trace(pr, args.lam_range, progress=progress_on(args)) for pr in problems]
        _warn_unknown(traces)
        if args.plot:
            from linkernel.plots import plot_trace
            extra = [] if any(pr.arch.is_dnn for pr in problems) else \
                [trace(pr.with_(arch="dnn"), args.lam_range) for pr in problems]
            plot_trace(traces + extra, args.plot)
        refined = [None] * len(traces)
        if args.refine or given_on_command_line(args, "--digits"):
            from linkernel.theory.highprec import refine_special_points
            refined = [refine_special_points(tr, args.digits) for tr in traces]
        if args.json:
            dicts = [{**tr.to_dict(), "data": data_dict(t)} for tr, t in zip(traces, tasks)]
            for d, ref in zip(dicts, refined):
                for sp, r in zip(d["special_points"], ref or ()):
                    if r is not None:
                        sp["lam_digits"], sp["order_parameter_digits"] = r["lam"], r["order_parameter"]
            print_json(dicts[0] if len(dicts) == 1 else {"traces": dicts})
        elif args.csv:
            _trace_csv(traces)
        else:
            print("\n".join(line for tr, ref, t in zip(traces, refined, tasks)
                            for line in ([data_line(t)] if t is not None else []) + [tr.summary(refined=ref)]))
            if args.plot:
                print(f"figure written to {args.plot}")
    return run


def _warn_unknown(traces) -> None:
    """A trace whose transition is 'unknown' says so in one warning line (the summary says why)."""
    import warnings

    from linkernel.errors import ContinuationWarning
    for tr in traces:
        if tr.transition == "unknown":
            note = getattr(tr, "transition_note", None) or "the range does not show both sides of a transition"
            warnings.warn(ContinuationWarning(f"transition unknown for {tr.problem.arch.label} T={tr.problem.T}: "
                                              f"{note}"))


@command("exponent", "the order-parameter exponent beta at the transition, in high precision")
def _exponent(p):
    add_arch_arg(p, note="the DNN has no transition")
    add_T_list_args(p, "one estimate per T")
    add_lambda_args(p, use=("lam_range",), why=NO_LAMBDA.format(cmd="exponent"),
                    range_note="where to look for the branch point first (the window lambda_c/2 .. 2 lambda_c "
                               "when lambda_c is not inside)")
    add_digits_arg(p)
    p.add_argument("--levels", type=int_arg("levels"), default=8,
                   help="halvings of m for the Richardson extrapolation (default 8)")
    add_json_arg(p, "keys beta, error, lambda_c, ...; {estimates: [...]} for several T")

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
    add_T_list_args(p, "landscape takes one T")
    add_lambda_args(p, use=("lam", "lams"), lam_default=None, lam_note="one curve, instead of --lams",
                    lam_default_text="the --lams list",
                    why="landscape draws one curve per lambda: --lam LAMBDA or --lams A,B,C")
    p.add_argument("--points", type=int_arg("points", 1, MAX_POINTS), default=41,
                   help=f"grid points in m >= 0 (default 41, at most {MAX_POINTS})")
    p.add_argument("--m-max", type=float_arg("m-max"), default=None,
                   help="largest m (default 1.5 x the largest saddle m)")
    add_json_arg(p)
    add_plot_arg(p, "S(m) - S(0), one curve per lambda")
    add_progress_arg(p)

    def run(args):
        from linkernel.theory.landscape import landscape
        args.plot = output_file("--plot", args.plot)
        if args.T is not None and len(args.T) != 1:
            raise ValueError("--T: landscape takes one T")
        lams = [args.lam] if args.lam is not None else args.lams
        land = landscape(problems_from_args(args, lam=lams[0])[0], lams,
                         m_max=args.m_max, points=args.points, progress=progress_on(args))

        def draw(path):
            from linkernel.plots import plot_landscape     # matplotlib only when a figure is asked for
            plot_landscape(land, path)
        show(land, args, plot=draw)
    return run


REPORT_ONLY = ("report analyses the paper's endpoint task with P = 1 (the RNN, against the DNN); for this problem "
               "run 'linkernel trace', 'linkernel critical' and 'linkernel exponent' with the same options")


@command("report", "the main job: the whole analysis of the default task, written to a folder")
def _report(p):
    add_problem_args(p, T_note="at least 3")
    add_lambda_args(p, use=("lam_range",), why="report traces lambda over --lam-range LO HI",
                    range_note="the traced branches")
    add_out_arg(p, "report")
    p.add_argument("--overlay", type=int_list("overlay"), default=[3, 4, 5], metavar="T1,T2,..",
                   help="T's overlaid in trace.png (default 3,4,5)")
    add_digits_arg(p, "of lambda_c and beta")
    add_json_arg(p, "a summary, printed at the end")

    def run(args):
        from linkernel.report import run_report
        if args.arch not in (None, "rnn"):
            raise ValueError(f"--arch: {REPORT_ONLY}")
        refuse_given(args, ("P", "D", "labels", "task", "supervised", "period", "radius", "problem", "data",
                            "classes", "test", "label", "data_seed"), REPORT_ONLY)
        check_output_folder("--out", args.out)
        show(run_report(args.out, T=args.T or DEFAULTS["T"], overlay=args.overlay, digits=args.digits,
                        lam_range=args.lam_range, **hyperparameters(args)), args)
    return run


# --- exact (finite-N reduction) -----------------------------------------------------
@command("exact", "exact finite-N posterior kernel (rotation-invariant reduction + HMC)")
def _exact(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, why=ONE_LAMBDA.format(cmd="exact"))
    p.add_argument("--N", type=int_arg("N", 1, MAX_THEORY_N), default=512,
                   help=f"network width N (default 512, as for sample; at most {MAX_THEORY_N:.0e}; 1e6 is accepted)")
    p.add_argument("--chains", type=int_arg("chains", 1, MAX_CHAINS), default=4,
                   help=f"number of HMC chains (default 4, at most {MAX_CHAINS})")
    p.add_argument("--samples", type=int_arg("samples", 1, MAX_DRAWS), default=1000,
                   help=f"draws per chain after warm-up (default 1000, at most {MAX_DRAWS})")
    p.add_argument("--warmup", type=int_arg("warmup", 0, MAX_DRAWS), default=1000,
                   help=f"warm-up iterations per chain (default 1000, at most {MAX_DRAWS})")
    add_seed_arg(p)
    add_save_arg(p)
    add_json_arg(p)
    add_plot_arg(p, "the posterior-mean kernel as a heat map")
    add_progress_arg(p)

    def run(args):
        from linkernel.finite_n.exact import exact_posterior
        args.plot = output_file("--plot", args.plot)
        check_save(args)
        (problem,), tasks = problems_and_data(args)
        r = exact_posterior(problem, args.N, chains=args.chains, samples=args.samples,
                            warmup=args.warmup, seed=args.seed, progress=progress_on(args))
        show_with_data(r, args, tasks, plot=figure_of(r.plot))
        save_draws(r, args)
    return run


# --- sample (the weight posterior of real networks) -----------------------------------
@command("sample", "sample the weight posterior of real width-N networks; compare with the theory "
                   "(alias: sgld)", aliases=("sgld",))
def _sample(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, why=ONE_LAMBDA.format(cmd="sample"))
    p.add_argument("--N", type=int_arg("N", 1, MAX_NETWORK_N), default=512,
                   help=f"network width (default 512, at most {MAX_NETWORK_N}: N x N weights per chain)")
    p.add_argument("--sweeps", type=int_arg("sweeps", 1, MAX_DRAWS), default=400,
                   help=f"Gibbs sweeps (method gibbs) or Langevin steps (default 400, at most {MAX_DRAWS})")
    p.add_argument("--steps", type=int_arg("sweeps", 1, MAX_DRAWS), dest="sweeps", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    p.add_argument("--burn", type=int_arg("burn", 0, MAX_DRAWS), default=None,
                   help="discarded first sweeps (default sweeps // 5)")
    p.add_argument("--chains", type=int_arg("chains", 1, MAX_CHAINS), default=4,
                   help=f"independent chains (default 4, at most {MAX_CHAINS})")
    p.add_argument("--method", choices=("gibbs", "langevin"), default=None,
                   help="gibbs (exact blocked Gibbs + collapsed kernel moves; the default) | langevin (naive "
                        "preconditioned SGLD; the default when --step is given)")
    p.add_argument("--step", type=float_arg("step"), default=None, help="Langevin step size (method langevin)")
    p.add_argument("--extrapolate", type=float_arg("extrapolate"), default=None, metavar="TIME",
                   help="Langevin only: run steps STEP and STEP/2 for Langevin time TIME and extrapolate to 0")
    p.add_argument("--rows", type=int_arg("rows"), default=None,
                   help="rows of the RNN's W per Metropolis step (default: adapted during burn-in)")
    p.add_argument("--float32", action="store_true", help="weights in float32 (half the memory and draw time)")
    add_seed_arg(p)
    p.add_argument("--no-theory", action="store_true", help="skip the saddle-point comparison")
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact finite-N reference (HMC on the rotation-invariant reduction, ~2 s)")
    add_progress_arg(p)
    add_save_arg(p)
    add_json_arg(p)
    add_plot_arg(p, "the posterior-mean kernel as a heat map")

    def run(args):
        import numpy as np

        from linkernel.finite_n.network_sampler import sample_networks as sample
        kw = dict(chains=args.chains, method=args.method, step=args.step, block_rows=args.rows,
                  dtype=np.float32 if args.float32 else np.float64, seed=args.seed,
                  progress=progress_on(args))
        if args.extrapolate is not None:
            if args.step is None:
                raise ValueError("--extrapolate: needs --step (the larger of the two Langevin steps)")
            kw["extrapolate_duration"] = args.extrapolate
        else:
            kw |= dict(sweeps=args.sweeps, burn=args.burn)
        check_save(args)
        args.plot = output_file("--plot", args.plot)
        (problem,), tasks = problems_and_data(args)
        r = sample(problem, args.N, theory=not args.no_theory, exact=not args.no_exact, **kw)
        show_with_data(_SampleJSON(r), args, tasks, plot=figure_of(r.plot))
        save_draws(r, args)
    return run


class _SampleJSON:
    """The sampler's result with the same JSON keys whatever --no-theory / --no-exact / --extrapolate
    ask for: the references it skipped are null, not missing."""

    OPTIONAL = ("theory_kernel", "cka", "max_rel_error", "step_kernels", "exact_kernel", "exact_stderr",
                "exact_max_rel_error", "exact_max_z")

    def __init__(self, result):
        self.result = result

    def to_dict(self) -> dict:
        return {**dict.fromkeys(self.OPTIONAL), **self.result.to_dict()}

    def summary(self) -> str:
        return self.result.summary()


# --- sequence (sequence tasks) --------------------------------------------------------
SEQUENCE_T = 10
SEQUENCE_SUPERVISED = "first:4"
SEQUENCE_ONLY = ("sequence runs the teacher sequence task for the RNN and the DNN (--T, --period, --radius, "
                 "--supervised); for {what} use 'linkernel solve --task sequence' with the same options")


@command("sequence", "teacher-RNN sequence task: RNN vs DNN predictions at every timestep (Fig. 5)")
def _sequence(p):
    add_problem_args(p, several_archs=True, arch_default="rnn,dnn", T_default=str(SEQUENCE_T),
                     supervised_default=f"{SEQUENCE_SUPERVISED}, the steps 0,1,2,3")
    add_lambda_args(p, why=ONE_LAMBDA.format(cmd="sequence"))
    p.add_argument("--starts", type=int_arg("starts", 1, MAX_STARTS), default=None,
                   help="minimiser starts per architecture: STARTS - 1 random starts added to the global search "
                        f"(default none, at most {MAX_STARTS})")
    add_seed_arg(p, "of random:K supervision and of the starts")
    add_json_arg(p)
    add_plot_arg(p, "targets, predictions, kernels")

    def run(args):
        from linkernel.sequence import solve_sequence
        args.plot = output_file("--plot", args.plot)
        if args.task not in (None, "sequence"):
            raise ValueError(f"--task: {SEQUENCE_ONLY.format(what='another task')}".replace("--task sequence",
                                                                                             f"--task {args.task}"))
        refuse_given(args, ("P", "D", "labels", "problem", "data", "classes", "test", "label", "data_seed"),
                     SEQUENCE_ONLY.format(what="this problem"))
        archs = args.arch or ["rnn", "dnn"]
        if any(a.startswith("{") for a in archs):
            raise ValueError(f"--arch: {SEQUENCE_ONLY.format(what='a weight-sharing pattern')}")
        T = args.T or SEQUENCE_T
        r = solve_sequence(T=T, period=args.period or DEFAULTS["period"], radius=args.radius or DEFAULTS["radius"],
                           supervised=args.supervised or SEQUENCE_SUPERVISED, lam=lam_value(args), seed=args.seed,
                           n_starts=args.starts, archs=tuple(archs), **hyperparameters(args))

        def draw(path):
            from linkernel.plots import sequence_figure
            sequence_figure(r, path)
        show(r, args, plot=draw)
    return run


@command("phase-diagram", "the phase diagram in (lambda, PARAM): branch-point line, spinodal, coexistence, "
                          "tricritical points, by continuation of the special points")
def _phase_diagram(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, use=("lam_range",), why=NO_LAMBDA.format(cmd="phase-diagram"), range_default=None,
                    range_note="a window for lambda: where to look for the first branch point, lines leave it")
    p.add_argument("--param", choices=("kappa", "w", "v", "u"), default="kappa",
                   help="the second parameter (default kappa)")
    p.add_argument("--range", action=IntervalAction, bounds=RANGE_BOUNDS, default=(0.01, 30.0), dest="param_range",
                   help="interval LO HI of the second parameter (default 0.01 30; within "
                        f"{RANGE_BOUNDS[0]:g} {RANGE_BOUNDS[1]:g})")
    p.add_argument("--points", type=int_arg("points", 3, MAX_POINTS), default=41,
                   help=f"points along the lines (default 41, at most {MAX_POINTS})")
    p.add_argument("--spot-checks", type=int_arg("spot-checks", 0, MAX_POINTS), default=0,
                   help=f"check this many points of the line by direct saddle points (default 0, at most {MAX_POINTS})")
    add_plot_arg(p, "phases shaded")
    add_json_arg(p)
    add_progress_arg(p)

    def run(args):
        from linkernel.theory.phase_diagram import phase_diagram
        args.plot = output_file("--plot", args.plot)
        d = phase_diagram(problem_from_args(args, lam=1.0), param=args.param, param_range=args.param_range,
                          lam_range=args.lam_range, points=args.points, spot_checks=args.spot_checks,
                          progress=progress_on(args))
        show(d, args, plot=d.plot)
    return run


# --- the paper's figures, the weight spectrum, sweeps ----------------------------------
@command("figure", "regenerate a figure of the paper's linear case (2, 3, 4 or 5) as PNG, PDF and JSON")
def _figure(p):
    p.add_argument("number", type=int, choices=(2, 3, 4, 5), help="the paper's figure number")
    p.add_argument("--N", type=int_arg("N", 2, MAX_NETWORK_N), default=None,
                   help=f"network width (default: the paper's; at most {MAX_NETWORK_N})")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, exact finite-N posterior draws (each under 15 s; what CI runs)")
    p.add_argument("--sweeps", type=int_arg("sweeps", 20, 1_000_000), default=None,
                   help="fix every network run to this many sweeps, 20..1e6 (default: until R-hat < 1.01 and "
                        "ESS >= 400 on every kernel entry)")
    p.add_argument("--max-minutes", type=float_arg("max-minutes"), default=None, dest="max_minutes",
                   help="cap on the figure's network sampling; runs it stops are marked in the JSON and in one "
                        "warning line")
    add_out_arg(p, "figures")
    add_seed_arg(p, "of the samplers")
    add_json_arg(p, "the numbers of every panel")
    add_progress_arg(p)

    def run(args):
        from linkernel.figures import make_figure
        check_output_folder("--out", args.out)
        show(make_figure(args.number, N=args.N, quick=args.quick, out=args.out, seed=args.seed,
                         sweeps=args.sweeps, max_minutes=args.max_minutes, progress=progress_on(args)), args)
    return run


@command("spectrum", "the eigenvalues of the trained weights: bulk radius and outliers from the theory "
                     "(and, with --N, from sampled networks)")
def _spectrum(p):
    add_problem_args(p, data=True)
    add_lambda_args(p, why=ONE_LAMBDA.format(cmd="spectrum"))
    p.add_argument("--N", type=int_arg("N", 2, MAX_NETWORK_N), default=None,
                   help="also sample width-N networks and report their largest eigenvalues "
                        f"(at most {MAX_NETWORK_N}: each draw diagonalises N x N weights)")
    p.add_argument("--draws", type=int_arg("draws", 1, 1000), default=8,
                   help="with --N: networks drawn from the exact posterior (default 8, at most 1000)")
    add_seed_arg(p, "of the sampler")
    add_json_arg(p)
    add_progress_arg(p)

    def run(args):
        from linkernel.finite_n.spectra import spectrum_report
        (problem,), tasks = problems_and_data(args)
        show_with_data(spectrum_report(problem, N=args.N, seed=args.seed, draws=args.draws,
                                       progress=progress_on(args)), args, tasks)
    return run


@command("sweep", "map a computation over a grid (JSON config) on a Dask cluster; results as NetCDF, resumable")
def _sweep(p):
    p.add_argument("config", help="JSON file: computation, problem, arguments, grid, output, seed")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing dask.distributed scheduler (default: a LocalCluster on this machine)")
    p.add_argument("--serial", action="store_true", help="no Dask: run the points one after another")
    add_json_arg(p)
    add_progress_arg(p)

    def run(args):
        from linkernel.sweep import run_sweep_config
        show(run_sweep_config(args.config, scheduler=args.scheduler, serial=args.serial,
                              progress=progress_on(args)), args)
    return run

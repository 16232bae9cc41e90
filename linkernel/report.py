"""The main job: the whole analysis of the default task, written to one folder.

``linkernel report [--out DIR]`` runs, for the endpoint task (T = 4,
kappa = 0.1, w = v = u = 1 unless told otherwise), one stage after another,
printing one progress line per stage:

1. derivation: the symbolic critical point (:func:`_derivation_summary`);
2. branches: saddle points traced in lambda for the RNN and the DNN, at T and
   at the overlay T's (:func:`linkernel.theory.continuation.trace`);
3. critical point: the branch point refined to ``digits`` digits, the
   exponent beta (:func:`linkernel.theory.exponent.critical_exponent`), and the
   broken branch checked against direct minimisation;
4. landscape: S minimised at fixed m below, at and above lambda_c
   (:func:`linkernel.theory.landscape.landscape`);
5. files: ``trace.png``, ``landscape.png``, ``results.json``, ``summary.md``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linkernel import validation
from linkernel.display import Display
from linkernel.serialize import dumps

from linkernel.theory.continuation import point_at, trace
from linkernel.theory.exponent import critical_exponent
from linkernel.theory.landscape import landscape
from linkernel.theory.saddle import saddle_point
from linkernel.tasks import endpoint
from linkernel.threads import entry_point


def _derivation_summary(problem):
    """The closed-form critical point derived with SymPy (:func:`linkernel.symbolic.critical.critical_point`), as a dict.

    A cross-check, never an input: nothing below depends on it; the report
    prints how far the continuation's branch point is from it.  None where the
    derivation does not apply (T < 3: no transition).
    """
    from linkernel.symbolic.critical import critical_point
    try:
        return critical_point(problem).to_dict()
    except ValueError:
        return None


@dataclass(frozen=True, eq=False)
class Report(Display):
    """What ``report`` wrote: the folder, its files, the numbers (``results``) and the time per stage.

    Returned by :func:`~linkernel.run_report`.

    Attributes
    ----------
    out : pathlib.Path
        The folder written.
    files : tuple of pathlib.Path
        ``trace.png``, ``landscape.png``, ``results.json``, ``summary.md``.
    results : dict
        The contents of ``results.json``: ``task``, ``derivation`` (the closed-form critical
        point, or None), ``critical_point``, ``exponent``, ``transition_order``,
        ``special_points``, ``branches``, ``landscape``, ``checks``, ``timings`` (seconds per
        stage) and ``machine``.
    seconds : float
        Wall time, in seconds.
    """

    out: Path
    files: tuple
    results: dict
    seconds: float

    def to_dict(self) -> dict:
        return {"out": str(self.out), "files": [str(f) for f in self.files], "seconds": self.seconds,
                "lambda_c": self.results["critical_point"]["lambda_c"],
                "beta": self.results["exponent"]["beta"]}

    def summary(self) -> str:
        return f"report written to {self.out}/ in {self.seconds:.1f} s (summary: {self.out}/summary.md)"

    __str__ = summary

    def _display_rows(self) -> list:
        crit, est = self.results.get("critical_point") or {}, self.results.get("exponent") or {}
        return [("folder", str(self.out)), ("files", len(self.files)), ("lambda_c", crit.get("lambda_c")),
                ("beta", est.get("beta")), ("seconds", self.seconds)]


@entry_point(size=lambda a: a["T"])    # the endpoint task: n = T (P = 1)
def run_report(out: str | Path = "report", T: int = 4, kappa: float = 0.1, w: float = 1.0, v: float = 1.0,
               u: float = 1.0, overlay: Iterable[int] = (3, 4, 5), lam_range: tuple[float, float] = (0.5, 3.0),
               digits: int = 30, log: Callable[[str], object] = print) -> Report:
    """Run every stage of the analysis of the RNN endpoint task and write it to ``out``.

    The stages (module docstring): the closed-form critical point (a cross-check), the saddle
    points traced in lambda for the RNN and the DNN at ``T`` and the ``overlay`` T's, lambda_c
    and beta to ``digits`` digits, the landscape below, at and above lambda_c, and the files.
    This is what ``linkernel report`` runs.

    Parameters
    ----------
    out : str or pathlib.Path, default "report"
        Folder to write (created if missing).
    T : int, default 4
        Hidden states of the main task, at least 3 (the RNN's endpoint transition starts at 3).
    kappa : float, default 0.1
        Likelihood variance in muP units.
    w, v, u : float, default 1.0
        Prior variances (recurrent ``w/N``, readout ``v``, input ``u/D``).
    overlay : iterable of int, default (3, 4, 5)
        Further T's traced for the overlay of ``trace.png``.
    lam_range : tuple of float, default (0.5, 3.0)
        ``(lo, hi)``, the lambda interval of the traces.
    digits : int, default 30
        Decimal digits of lambda_c and beta, 15 to 500.
    log : callable, default print
        Receives one line of text per stage.

    Returns
    -------
    Report
        The folder, its files and the numbers.

    Raises
    ------
    ValueError
        If an argument is invalid (checked before the first stage).

    Examples
    --------
    >>> import tempfile
    >>> import linkernel as lk
    >>> rep = lk.run_report(out=tempfile.mkdtemp(), T=3, overlay=(3,), digits=15, log=lambda line: None)
    >>> [f.name for f in rep.files]
    ['trace.png', 'landscape.png', 'results.json', 'summary.md']
    >>> round(rep.results["critical_point"]["lambda_c"], 8), rep.results["exponent"]["beta"]
    (2.86378246, 0.5)
    """
    from linkernel.plots import plot_landscape, plot_trace

    T, overlay, digits, lam_range = _checked(T, overlay, digits, lam_range, kappa=kappa, w=w, v=v, u=u)
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hyper = {"kappa": kappa, "w": w, "v": v, "u": u}
    problem = endpoint("rnn", T=T, **hyper)
    Ts = sorted(set(overlay) | {T})
    timings = {}
    stage = [0]

    def done(name, t0, text):
        stage[0] += 1
        timings[name] = time.perf_counter() - t0
        log(f"[{stage[0]}/5] {name}: {text} ({timings[name]:.1f} s)")

    # 1. derivation (cross-check only)
    t0 = time.perf_counter()
    derivation = _derivation_summary(problem)
    done("derivation", t0, "does not apply to this task" if derivation is None
         else f"lambda_c = {derivation.get('lambda_c')}")

    # 2. branches
    t0 = time.perf_counter()
    traces = {(arch, t): trace(endpoint(arch, T=t, **hyper), lam_range) for t in Ts for arch in ("rnn", "dnn")}
    main = traces[("rnn", T)]
    orders = {t: traces[("rnn", t)].transition for t in Ts}
    done("branches", t0, f"RNN and DNN traced for T = {', '.join(map(str, Ts))}, lambda {lam_range[0]:g}.."
         f"{lam_range[1]:g}; transition " + ", ".join(f"T={t}: {o}" for t, o in orders.items()))

    # 3. critical point, exponent, checks against direct minimisation
    t0 = time.perf_counter()
    bp, est, crit, checks, dnn_check = _critical_stage(problem, traces, derivation, lam_range, digits)
    beta_text = (f"beta = {est.beta_digits} +- {est.error:.0e}" if est.beta is not None
                 else "first order, no exponent")
    done("critical point", t0, f"lambda_c = {est.lambda_c_digits[:18]}, {beta_text}")

    # 4. landscape below, at and above lambda_c
    t0 = time.perf_counter()
    lams, m_max = _landscape_lambdas(main, bp, lam_range)
    land = landscape(problem, lams, m_max=m_max, points=41)
    done("landscape", t0, "S minimised at fixed m for lambda = " + ", ".join(f"{x:.6g}" for x in lams))

    # 5. files
    t0 = time.perf_counter()
    files = [plot_trace(list(traces.values()), out / "trace.png",
                        title=f"Saddle-point branches of the endpoint task (kappa={kappa:g}); "
                              f"lambda_c(T={T}) = {bp.lam:.6f}"),
             plot_landscape(land, out / "landscape.png", lambda_c=bp.lam)]
    results = {
        "task": {k: v for k, v in problem.to_dict().items() if k not in ("x", "yhat", "lam")},
        "derivation": derivation,
        "critical_point": crit,
        "exponent": est.to_dict(),
        "transition_order": {str(t): o for t, o in orders.items()},
        "special_points": {f"{a}_T{t}": [s.to_dict() for s in tr.special_points] for (a, t), tr in traces.items()},
        "branches": {f"{a}_T{t}": tr.to_dict() for (a, t), tr in traces.items()},
        "landscape": land.to_dict(),
        "checks": {"broken_branch_vs_minimisation": checks, "dnn_vs_rnn": dnn_check,
                   "max_residual": max(p.residual for tr in traces.values() for b in tr.branches for p in b.points)},
        "timings": timings,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    files.append(out / "results.json")
    files.append(out / "summary.md")
    (out / "summary.md").write_text(_summary(problem, results, land, est, lams))
    timings["files"] = time.perf_counter() - t0
    results["timings"] = timings
    (out / "results.json").write_text(dumps(results, indent=1))
    stage[0] += 1
    log(f"[5/5] files: {', '.join(str(f) for f in files)} ({timings['files']:.1f} s)")
    return Report(out=out, files=tuple(files), results=results, seconds=time.perf_counter() - t_start)


def _checked(T, overlay, digits, lam_range, **hyper) -> tuple:
    """Every argument of :func:`run_report`, checked before the first stage: a bad one must not cost
    a minute of work.  T >= 3: the RNN's endpoint task has its transition only from T = 3 on."""
    T = validation.integer("T", T, 3)
    overlay = [validation.count("overlay T", t) for t in overlay]
    digits = validation.integer("digits", digits, 15, 500)
    for name, val in hyper.items():
        validation.positive(name, val)
    return T, overlay, digits, validation.interval("lam_range", lam_range)


def _critical_stage(problem, traces, derivation, lam_range, digits) -> tuple:
    """Stage 3: the Z2 branch point of the RNN's branch, lambda_c and beta to ``digits`` digits, the
    broken branch against direct minimisation and the DNN against the RNN below lambda_c.

    Returns ``(branch point, exponent estimate, critical-point dict, checks, DNN check)``.
    """
    T = problem.T
    main = traces[("rnn", T)]
    bps = [s for s in main.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
    if not bps:
        raise RuntimeError(f"no symmetry-breaking branch point for T={T} in lambda {lam_range}; "
                           "widen the range (lam_range)")
    bp = bps[0]
    est = critical_exponent(problem, digits=digits, lam_range=lam_range, traced=main)
    checks = []
    if main.transition == "second order":
        for f in (1.05, 1.3):
            lam = f * bp.lam
            if lam <= lam_range[1]:
                pt = point_at(main, lam, branch=1)
                sp = saddle_point(problem.with_(lam=lam))
                checks.append({"lam": lam, "m_continuation": pt.order_parameter,
                               "m_minimisation": sp.order_parameter,
                               "relative_difference": abs(pt.order_parameter / sp.order_parameter - 1)})
    dnn = traces[("dnn", T)]
    lam_below = 0.9 * bp.lam if 0.9 * bp.lam >= lam_range[0] else lam_range[0]
    dnn_check = {"lam": lam_below,
                 "dnn_branch_points": len([s for s in dnn.special_points if s.kind == "branch_point"]),
                 "max_abs_kernel_difference": float(np.abs(point_at(dnn, lam_below).kernel
                                                           - point_at(main, lam_below, 0).kernel).max()),
                 "dnn_max_abs_m": max(float(np.abs(b.m).max()) for b in dnn.branches)}
    crit = {"lambda_c": est.lambda_c, "lambda_c_digits": est.lambda_c_digits,
            "lambda_c_double": bp.lam, "branch_point_residual": bp.residual,
            "odd_eigenvalue_at_branch_point": bp.test_value, "transition": main.transition,
            "source": "Z2 branch point of the continuation (smallest odd Hessian eigenvalue = 0), "
                      f"refined to {digits} digits in mpmath"}
    if derivation is not None and derivation.get("lambda_c") is not None:
        crit["derivation_lambda_c"] = float(derivation["lambda_c"])
        crit["derivation_relative_difference"] = abs(float(derivation["lambda_c"]) / est.lambda_c - 1)
    return bp, est, crit, checks, dnn_check


def _landscape_lambdas(main, bp, lam_range) -> tuple:
    """Stage 4's lambdas (below, at and above lambda_c; for a first-order transition below the
    spinodal, at coexistence and above the branch point) and the largest m of its grid."""
    lams = [round(f * bp.lam, 4) for f in (0.9, 1.0, 1.1)]
    coex, folds = main.points_of("coexistence"), main.points_of("fold")
    if main.transition == "first order" and coex and folds:
        # below the broken phase's spinodal, at coexistence (three equal minima), above the branch point
        lams = [round(0.98 * folds[0].lam, 6), coex[0].lam, round(1.02 * bp.lam, 6)]
    m_max = None
    if main.transition == "second order" and lams[-1] <= lam_range[1]:
        m_max = max(1.0, 1.5 * point_at(main, lams[-1], branch=1).order_parameter)
    return lams, m_max


def _summary(problem, results, land, est, lams) -> str:
    crit, chk = results["critical_point"], results["checks"]
    lines = [
        f"# linkernel report: endpoint task, T = {problem.T}, kappa = {problem.kappa:g}",
        "",
        f"w = {problem.w:g}, v = {problem.v:g}, u = {problem.u:g}, P = {problem.P}; "
        "kernel theory of the linear RNN and DNN (mean-field / muP limit).",
        "",
        "## Phase transition",
        "",
    ]
    if est.beta is None and est.lambda_coexistence is not None:
        lines.append(f"- **First-order transition** at the coexistence point lambda* = "
                     f"{est.lambda_coexistence:.12g} (equal action of the symmetric and broken minima); "
                     f"the symmetric phase stays metastable up to its spinodal, the branch point "
                     f"lambda_c = {crit['lambda_c_digits']} ({crit['source']}).")
    else:
        lines.append(f"- Critical signal strength (RNN): **lambda_c = {crit['lambda_c_digits']}** "
                     f"({crit['source']}).")
    if "derivation_lambda_c" in crit:
        lines.append(f"- Derivation (symbolic) lambda_c = {crit['derivation_lambda_c']:.15g}; relative "
                     f"difference {crit['derivation_relative_difference']:.1e}.")
    else:
        lines.append("- Derivation cross-check: the closed form does not apply to this task.")
    if est.beta is not None:
        lines.append(f"- Order parameter m = H^(T-1,T-2) ~ (lambda - lambda_c)^beta with **beta = "
                     f"{est.beta_digits}**, error estimate {est.error:.0e} ({est.message}).")
    else:
        lines.append(f"- {est.message}.")
    lines.append("- Transition order by T: " + ", ".join(f"T={t}: {o}" for t, o in
                                                      results["transition_order"].items()) + ".")
    dc = results["checks"]["dnn_vs_rnn"]
    lines.append(f"- DNN: {dc['dnn_branch_points']} branch points, |m| <= {dc['dnn_max_abs_m']:.1e} on the whole "
                 f"range; at lambda = {dc['lam']:.6g} < lambda_c its kernel differs from the RNN's by at most "
                 f"{dc['max_abs_kernel_difference']:.1e}.")
    lines += ["", "## Special points (RNN)", "", "| T | type | lambda | m | S |", "|---|---|---|---|---|"]
    for key, sps in results["special_points"].items():
        if key.startswith("rnn"):
            for sp in sps:
                kind = sp["kind"] + (" (Z2)" if sp["z2"] else "")
                lines.append(f"| {key[5:]} | {kind} | {sp['lam']:.10f} | {sp['order_parameter']:.6g} | "
                             f"{sp['action']:.10g} |")
    lines += ["", "Z2 branch point: the symmetric branch loses stability (an odd Hessian eigenvalue "
              "crosses zero). Fold: spinodal of the broken branch. Coexistence: equal action of the "
              "stable symmetric and broken branches (the first-order transition point). Other branch "
              "points lie on already unstable branches.", "", "## Checks", ""]
    for c in chk["broken_branch_vs_minimisation"]:
        lines.append(f"- lambda = {c['lam']:.6g}: m from continuation {c['m_continuation']:.12g}, from direct "
                     f"minimisation {c['m_minimisation']:.12g} (relative difference {c['relative_difference']:.1e}).")
    lines.append(f"- Largest residual |dS/dH| over all traced points: {chk['max_residual']:.1e}.")
    lines += ["", "## Landau landscape", ""]
    for c in land.curves:
        lines.append(f"- lambda = {c.lam:.8g}: minimum at m = {c.m_min:.6g}, depth "
                     f"{c.action_min - c.action[0]:.3e}.")
    lines += ["", "## Figures", "", "![branches](trace.png)", "", "![landscape](landscape.png)", "",
              "Numbers: `results.json`. Time per stage (s): " +
              ", ".join(f"{k} {v:.1f}" for k, v in results["timings"].items()) + "."]
    return "\n".join(lines) + "\n"

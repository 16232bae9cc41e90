"""Time and peak memory of saddle_point against TP, beside the previous solver and scipy's trust-krylov.

Tasks: endpoint (T = 4, P = TP/4 patterns, lambda = 2.5: above the transition,
so the symmetric saddle must be left), chain (the endpoint task with P = 4
patterns and T = TP/4 steps: T = 8 and 16 at TP = 32 and 64, the issue's
sizes) and the teacher sequence (P = 1, T = TP, all steps supervised, lambda = 1).  Columns, each in a subprocess
capped at --limit seconds (printed "> limit"):

  new      linkernel.saddle_point (default n_starts = 6): trust-region Newton-CG
           in whitened coordinates, the symmetric-sector search of its minima
  tree     saddle_point(n_starts=1): the symmetric-sector tree alone, without
           random starts (the solver's own cost; what the random starts add is
           the difference to "new")
  old      the previous algorithm, kept below verbatim: L-BFGS in log-Cholesky
           coordinates + dense-Hessian Newton polish, 6 starts
  tkrylov  scipy.optimize.minimize(method="trust-krylov") on the same action in
           to_vector coordinates (analytic gradient and Hessian-vector product),
           one start from the prior kernel (non-PD trial points get S = +inf-ish)

trust-krylov is skipped above --tkrylov-max-tp (128): scipy's trlib keeps its
whole Lanczos basis (15 GiB at TP = 256).  Peak memory: the growth of the
child's peak resident size (Linux: VmHWM after resetting it through
/proc/self/clear_refs), which costs nothing; tracemalloc where that is not
available (it slows Python-bound small sizes 2-4x, equally for every column).
Prints the log-log slope of the new solver's time for TP >= 16, and times
linkernel.trace at T = 8, P = 4, lambda 0.2..1.2.  --quick: TP <= 64, limit 20 s.

--issue26 [--before REV]: per size the default call (the certified global search), one certified
descent (minimize_action from the prior kernel + certify), the catalogue (minima="all"), the floor (one
action+gradient, one Hessian-vector product), the ratios default / descent and default / floor, the
log-log slopes, and the default call of the previous version (a git revision, default 57e266b, before the
new search; --before HEAD for the last commit; checked out by git archive into a temporary folder, or a folder)
side by side in the same run; each cell best of --repeats runs in a fresh subprocess.  --sizes picks TP per
task, --columns the cells, --catalogue-max-tp where the catalogue column stops.  On the endpoint task
from P = 16 (TP = 64) on, the default call searches three patterns and lifts what it finds
(linkernel.theory.pattern_symmetry); "descent" stays one descent in the full TP x TP space, so there
default / descent falls below 1.

Run:  python benchmarks/scaling.py --issue26 --max-tp 64 --tasks endpoint,chain
Run:  python benchmarks/scaling.py --issue26 --before HEAD --limit 150 --sizes endpoint=32-1024,chain=32-128,sequence=64-256
Run:  python benchmarks/scaling.py [--quick] [--limit 60] [--max-tp 1024] [--no-old] [--no-trace] [--no-tree] [--no-new]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import time
import tracemalloc

import numpy as np


# --- the previous algorithm (linkernel before issue 12), kept as it was --------------------
def _old_saddle_point(problem, n_starts=6, seed=0, tol=1e-13):
    """The saddle-point search of linkernel before issue 12 (L-BFGS in Cholesky coordinates, then Newton
    with the column-by-column Hessian), the benchmark's baseline.

    Kept verbatim in one piece, its hand-written damped Newton included (not
    linkernel.theory.newton.damped_newton), and longer than 80 lines: it is
    the algorithm the timings compare against, so it must not change with the
    package.
    """
    from scipy.optimize import minimize
    from linkernel.theory.action import action, from_vector, gradient, hessian_vector, prior_kernel, to_vector
    from linkernel.errors import KernelError
    n = problem.n
    dim = n * (n + 1) // 2

    def hessian(H):   # column by column, as before
        M = np.empty((dim, dim))
        for k in range(dim):
            e = np.zeros(dim)
            e[k] = 1.0
            M[:, k] = to_vector(hessian_vector(problem, H, from_vector(e, n)))
        return 0.5 * (M + M.T)

    def theta_to_L(theta):
        L = np.zeros((n, n))
        L[np.tril_indices(n)] = theta
        d = np.arange(n)
        L[d, d] = np.exp(np.clip(L[d, d], -350.0, 350.0))
        return L

    def lbfgs(H0):
        def fun(theta):
            L = theta_to_L(theta)
            H = L @ L.T
            try:
                S = action(problem, H)
                G = gradient(problem, H)
            except (KernelError, np.linalg.LinAlgError):
                return 1e100, np.zeros_like(theta)
            dL = np.tril(2.0 * G @ L)
            d = np.arange(n)
            dL[d, d] *= L[d, d]
            return S, dL[np.tril_indices(n)]
        L0 = np.linalg.cholesky(H0).copy()
        d = np.arange(n)
        L0[d, d] = np.log(L0[d, d])
        res = minimize(fun, L0[np.tril_indices(n)], jac=True, method="L-BFGS-B",
                       options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15, "maxcor": 30})
        L = theta_to_L(res.x)
        return L @ L.T

    def newton(H):
        g = gradient(problem, H)
        res = np.linalg.norm(g)
        scale = max(1.0, np.abs(H).max())
        for _ in range(100):
            if res < tol * scale:
                break
            step = from_vector(np.linalg.lstsq(hessian(H), to_vector(g), rcond=None)[0], n)
            alpha = 1.0
            while alpha > 1e-6:
                Hn = H - alpha * step
                try:
                    gn = gradient(problem, Hn)
                except (KernelError, np.linalg.LinAlgError):
                    alpha *= 0.5
                    continue
                if np.linalg.norm(gn) < res or alpha < 1e-3:
                    break
                alpha *= 0.5
            H, g = Hn, gn
            rn = np.linalg.norm(g)
            if rn >= res and res < 1e3 * tol * scale:
                break
            res = rn
        return H, res

    rng = np.random.default_rng(seed)
    H0 = prior_kernel(problem)
    L0 = np.linalg.cholesky(H0)
    starts = [H0]
    while len(starts) < n_starts:
        B = rng.normal(size=(n, n + 2))
        starts.append(np.exp(rng.normal()) * L0 @ (B @ B.T / (n + 2)) @ L0.T)
    best = None
    for H in starts:
        for attempt in range(5):
            H = lbfgs(H)
            H, res = newton(H)
            eig, vec = np.linalg.eigh(hessian(H))
            if eig[0] >= -1e-7 * np.abs(eig).max() or attempt == 4:
                break
            H = H + 0.1 * np.linalg.eigvalsh(H)[0] * from_vector(vec[:, 0], n)
        S = action(problem, H)
        if eig[0] >= -1e-7 * np.abs(eig).max() and (best is None or S < best):
            best = S
    return best


def _tkrylov(problem):
    from scipy.optimize import minimize
    from linkernel.theory.action import Pieces, from_vector, prior_kernel, to_vector
    from linkernel.errors import KernelError
    n = problem.n
    cache = {}

    def pieces(x):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            try:
                cache[key] = Pieces(problem, from_vector(x, n), check=False) if np.all(np.isfinite(x)) else None
            except (KernelError, np.linalg.LinAlgError, ValueError):
                cache[key] = None
        return cache[key]

    def fun(x):
        pc = pieces(x)
        return 1e100 if pc is None else pc.action()

    def jac(x):
        pc = pieces(x)
        return np.zeros_like(x) if pc is None else to_vector(pc.gradient())

    def hessp(x, p):
        pc = pieces(x)
        return np.zeros_like(x) if pc is None else to_vector(pc.hessian_vector(from_vector(p, n)))

    res = minimize(fun, to_vector(prior_kernel(problem)), jac=jac, hessp=hessp, method="trust-krylov",
                   options={"gtol": 1e-10, "maxiter": 2000})
    return float(res.fun)


def _problem(kind, tp):
    from linkernel import tasks
    if kind == "endpoint":
        return tasks.endpoint("rnn", T=4, P=tp // 4, lam=2.5, kappa=0.1)
    if kind == "chain":
        return tasks.endpoint("rnn", T=tp // 4, P=4, lam=2.5, kappa=0.1)
    return tasks.teacher_sequence("rnn", T=tp, lam=1.0, kappa=0.1)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise OSError(field)


def _start_peak():
    """Reset the peak resident size (Linux clear_refs) and return the baseline; tracemalloc elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return ("rss", _status_kib("VmRSS:"))
    except OSError:
        tracemalloc.start()
        return ("tracemalloc", 0)


def _peak_bytes(how):
    kind, base = how
    if kind == "rss":
        return max(_status_kib("VmHWM:") - base, 0) * 1024
    return tracemalloc.get_traced_memory()[1]


def _run(which, kind, tp, q):
    p = _problem(kind, tp)
    how = _start_peak()
    t0 = time.perf_counter()
    if which in ("new", "tree"):
        import warnings
        from linkernel.theory.saddle import saddle_point
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = saddle_point(p, n_starts=1 if which == "tree" else 6)
        S, info = r.action, f"{len(r.minima)} min, {r.iterations} it, {r.hessian_products} Hv"
    else:   # the same thread policy as the new solver, so the columns compare algorithms
        from linkernel.threads import blas_threads_for
        with blas_threads_for(p.n):
            S, info = (_old_saddle_point(p) if which == "old" else _tkrylov(p)), ""
    sec = time.perf_counter() - t0
    peak = _peak_bytes(how)
    q.put((sec, peak, S, info))


def timed(which, kind, tp, limit):
    """(seconds, peak bytes, S, info) in a subprocess, or None past ``limit`` seconds."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    pr = ctx.Process(target=_run, args=(which, kind, tp, q))
    pr.start()
    pr.join(limit)
    if pr.is_alive():
        pr.terminate()
        pr.join()
        return None
    return q.get() if not q.empty() else "error"


def _fmt(r, limit):
    if r is None:
        return f"{'> ' + format(limit, 'g') + ' s':>22}"
    if r == "error":
        return f"{'error':>22}"
    sec, peak, S, _ = r
    return f"{sec:9.3f} s {peak / 2**20:7.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--limit", type=float, default=None, help="seconds per solver and size")
    ap.add_argument("--max-tp", type=int, default=None)
    ap.add_argument("--no-old", action="store_true")
    ap.add_argument("--no-tkrylov", action="store_true")
    ap.add_argument("--tkrylov-max-tp", type=int, default=128,
                    help="largest TP for trust-krylov (its Lanczos basis took 15 GiB at TP = 256)")
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--no-tree", action="store_true", help="skip the tree-only column")
    ap.add_argument("--no-new", action="store_true", help="skip the default search (the tree alone at large TP)")
    ap.add_argument("--tasks", default="endpoint,chain,sequence")
    ap.add_argument("--issue26", action="store_true", help="the issue-26 table (module docstring)")
    ap.add_argument("--before", default="57e266b",
                    help="previous version for --issue26: a git revision or folder (default 57e266b, before the new search)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per cell for --issue26 (best shown)")
    ap.add_argument("--sizes", default=None,
                    help="--issue26: TP per task, e.g. 'endpoint=32-1024,chain=32-128,sequence=64-256' (powers of "
                         "two from-to; default 8 to --max-tp for every task)")
    ap.add_argument("--columns", default="default,descent,all,floor_grad,floor_hv,prev",
                    help="--issue26: the cells to measure (others print nan)")
    ap.add_argument("--catalogue-max-tp", type=int, default=256,
                    help="--issue26: largest TP for the catalogue column (minima='all'; default 256)")
    a = ap.parse_args()
    # import before forking, so that no timed child pays for importing linkernel (SymPy and all)
    import linkernel.tasks  # noqa: F401
    import linkernel.theory.continuation  # noqa: F401
    import linkernel.theory.saddle  # noqa: F401
    limit = a.limit or (20.0 if a.quick else 60.0)
    max_tp = a.max_tp or (64 if a.quick else 1024)
    sizes = [tp for tp in (4, 8, 16, 32, 64, 128, 256, 512, 1024) if tp <= max_tp]
    if a.issue26:
        issue26(a, _task_sizes(a.sizes, a.tasks, [tp for tp in sizes if tp >= 8]), limit)
        return
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"limit {limit:g} s per solver and size; BLAS threads: chosen by linkernel.threads")
    for kind in a.tasks.split(","):
        what = {"endpoint": "T = 4, P = TP/4, lambda = 2.5", "chain": "endpoint, P = 4, T = TP/4, lambda = 2.5",
                "sequence": "P = 1, T = TP, lambda = 1"}[kind]
        print(f"\n{kind} tasks ({what})")
        print(f"{'TP':>5} {'new: time, peak mem':>22} {'old':>22} {'trust-krylov':>22}   S new / old / tkrylov; new's work")
        rows = []
        dead = {"old": a.no_old, "tk": a.no_tkrylov}
        for tp in sizes:
            if kind == "chain" and tp < 8:
                continue
            own = limit if tp < 256 else max(limit, 600.0)     # linkernel's own columns get at least 600 s there
            new = None if a.no_new else timed("new", kind, tp, own)
            tree = None if a.no_tree else timed("tree", kind, tp, own)
            old = None if dead["old"] else timed("old", kind, tp, limit)
            tk = None if dead["tk"] or tp > a.tkrylov_max_tp else timed("tk", kind, tp, limit)
            dead["old"] |= old is None          # a size past the limit: larger ones are too
            dead["tk"] |= tk is None
            S = " / ".join("-" if not isinstance(r, tuple) or r[2] is None else f"{r[2]:.10g}"
                           for r in (new, old, tk))
            info = new[3] if isinstance(new, tuple) else ""
            if isinstance(tree, tuple):
                info += (f"tree alone {tree[0]:.3f} s, {tree[1] / 2**20:.0f} MiB ({tree[3]})" if a.no_new else
                         f"; tree alone {tree[0]:.3f} s ({tree[3].split(',')[0]})")
            print(f"{tp:5d} {_fmt(new, limit) if not a.no_new else format('skipped', '>22')} {_fmt(old, limit) if old is not None or not a.no_old else '':>22} "
                  f"{_fmt(tk, limit) if tk is not None or not a.no_tkrylov else '':>22}   {S}; {info}", flush=True)
            lead = tree if a.no_new else new       # the column the slope is fitted to
            if isinstance(lead, tuple):
                rows.append((tp, lead[0]))
            if lead is None:
                break
        fit = [(tp, s) for tp, s in rows if tp >= 16]
        if len(fit) >= 2:
            slope = np.polyfit(np.log([r[0] for r in fit]), np.log([r[1] for r in fit]), 1)[0]
            print(f"log-log slope of the {'tree-alone' if a.no_new else 'new'} solver's time, TP >= 16: {slope:.2f}")
    if not a.no_trace:
        def run_trace(q):
            from linkernel import tasks
            from linkernel.theory.continuation import trace
            t0 = time.perf_counter()
            tr = trace(tasks.endpoint("rnn", T=8, P=4, kappa=0.1), (0.2, 1.2))
            q.put((time.perf_counter() - t0, 0, None, f"{len(tr.special_points)} special points"))
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        pr = ctx.Process(target=run_trace, args=(q,))
        t_lim = 2 * limit
        pr.start()
        pr.join(t_lim)
        if pr.is_alive():
            pr.terminate()
            pr.join()
            print(f"\ntrace T=8 P=4 lambda 0.2..1.2: > {t_lim:g} s")
        else:
            r = q.get() if not q.empty() else None
            print(f"\ntrace T=8 P=4 lambda 0.2..1.2: {r[0]:.2f} s, {r[3]}" if r else "\ntrace: error")
    print(f"load at the end: {os.getloadavg()[0]:.2f}")


# --- issue 26: default call, one descent, catalogue, floor, previous version ---------------------------
_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from linkernel import tasks
kind, tp, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "sequence":
    from linkernel.sequence import sequence_problem
p = (tasks.endpoint("rnn", T=4, P=tp // 4, lam=2.5, kappa=0.1) if kind == "endpoint" else
     tasks.endpoint("rnn", T=tp // 4, P=4, lam=2.5, kappa=0.1) if kind == "chain" else
     sequence_problem(T=tp))
from linkernel.theory.saddle import saddle_point
from linkernel.theory.action import Pieces, prior_kernel
from linkernel.threads import blas_threads_for
with blas_threads_for(p.n):
    H0 = prior_kernel(p)
    Pieces(p, H0).gradient()
    t0 = time.perf_counter()
    S = None
    if which == "default":
        r = saddle_point(p); S = r.action; info = f"{len(r.minima)} min, {r.iterations} it, {r.hessian_products} Hv"
    elif which == "all":
        r = saddle_point(p, minima="all"); S = r.action; info = f"{len(r.minima)} min"
    elif which == "descent":
        # one certified descent to a minimum (the issue's independent solver without its lambda-probe):
        # Newton-CG from the prior kernel, the pencil certificate, and while it is a saddle a kick along
        # the lowest pencil eigenvector and another descent
        from linkernel.theory.minimize import minimize_action
        from linkernel.theory.certificate import certify
        from linkernel.theory.search import kick
        H, hv, it = H0, 0, 0
        for _ in range(5):
            sol = minimize_action(p, H)
            c = certify(p, sol.kernel, tol=1e-10 if sol.at_floor else 1e-13, pc=getattr(sol, "pieces", None))
            hv += sol.hessian_products + c.products; it += sol.iterations
            if c.status != "saddle":
                break
            H = kick(sol.kernel, c.directions[0][1])
        S = sol.action
        info = f"{it} it, {hv} Hv, {c.status}"
    elif which == "floor_grad":
        for _ in range(5):
            pc = Pieces(p, H0); pc.action(); pc.gradient()
        info = ""
    elif which == "floor_hv":
        pc = Pieces(p, H0); X = np.eye(p.n); t0 = time.perf_counter()
        for _ in range(5):
            pc.whitened_hessian_vector(X)
        info = ""
    sec = time.perf_counter() - t0
    if which.startswith("floor"):
        sec /= 5
print(json.dumps({"sec": sec, "S": S, "info": info}))
"""


def _child(root, kind, tp, which, limit):
    import json
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=root)
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, kind, str(tp), which], env=env, cwd=root,
                             capture_output=True, text=True, timeout=limit)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def _task_sizes(spec, tasks, default):
    """{task: [TP, ...]} from ``--sizes`` ('endpoint=32-1024,chain=32-128': powers of two from-to), else default."""
    out = {kind: list(default) for kind in tasks.split(",")}
    for item in filter(None, (spec or "").split(",")):
        kind, _, span = item.partition("=")
        lo, _, hi = span.partition("-")
        lo, hi = int(lo), int(hi or lo)
        out[kind.strip()] = [tp for tp in (8, 16, 32, 64, 128, 256, 512, 1024, 2048) if lo <= tp <= hi]
    return out


def issue26(a, sizes, limit):
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from thread_policy import previous_version
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    before = previous_version(a.before)
    print(f"previous version: {a.before} ({before}); best of {a.repeats}; limit {limit:g} s per cell; "
          f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} CPUs")
    for kind in a.tasks.split(","):
        print(f"\n{kind}: {'TP':>5} {'default':>9} {'descent':>9} {'catalogue':>9} {'grad':>9} {'Hv':>9} "
              f"{'def/desc':>8} {'def/grad':>9} {'previous':>9} {'prev/def':>8}   S default (previous); work")
        rows = {k: [] for k in ("default", "descent", "all", "prev")}
        for tp in sizes[kind]:
            cells = {}
            for which, root in (("default", here), ("descent", here), ("all", here), ("floor_grad", here),
                                ("floor_hv", here), ("prev", before)):
                best = None
                if which == "all" and tp > a.catalogue_max_tp or which not in a.columns.split(","):
                    cells[which] = None          # the catalogue is its own, larger cost (--catalogue-max-tp)
                    continue
                for _ in range(a.repeats):
                    got = _child(root, kind, tp, "default" if which == "prev" else which, limit)
                    if got is None:
                        break
                    best = got if best is None or got["sec"] < best["sec"] else best
                cells[which] = best
            t = {k: (v["sec"] if v else float("nan")) for k, v in cells.items()}
            for k in rows:
                rows[k].append((tp, t[k]))
            Sd = cells["default"]["S"] if cells["default"] else float("nan")
            Sp = cells["prev"]["S"] if cells["prev"] else float("nan")
            print(f"{'':{len(kind) + 1}} {tp:5d} {t['default']:9.3f} {t['descent']:9.3f} {t['all']:9.3f} "
                  f"{t['floor_grad']:9.2e} {t['floor_hv']:9.2e} {t['default'] / t['descent']:8.1f} "
                  f"{t['default'] / t['floor_grad']:9.0f} {t['prev']:9.3f} {t['prev'] / t['default']:8.1f}   "
                  f"{Sd:.12g} ({Sp:.12g}); {cells['default']['info'] if cells['default'] else ''}", flush=True)
        for k, pts in rows.items():
            fit = [(x, y) for x, y in pts if x >= 16 and np.isfinite(y)]
            if len(fit) >= 2:
                slope = np.polyfit(np.log([x for x, _ in fit]), np.log([y for _, y in fit]), 1)[0]
                print(f"  log-log slope ({k}, TP >= 16): {slope:.2f}")
        ratios = [(x, d / s) for (x, d), (_, s) in zip(rows["default"], rows["descent"]) if np.isfinite(d / s)]
        if ratios:
            x, worst = max(ratios, key=lambda r: r[1])
            print(f"  target default <= 3x one certified descent at every size: "
                  f"{'met' if worst <= 3 else 'NOT met'} (worst {worst:.1f}x at TP = {x})")
        if kind == "endpoint":
            big = [d for x, d in rows["default"] if x == 1024]
            print("  target TP = 1024 default under 60 s: " + (
                "not measured (raise --max-tp to 1024)" if not big or "default" not in a.columns.split(",") else
                f"{'met' if big[0] < 60 else 'NOT met'} ({big[0]:.1f} s)" if np.isfinite(big[0]) else
                f"NOT met (over the {limit:g} s limit, or failed)"))
    print(f"load at the end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

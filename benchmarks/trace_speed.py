"""Benchmark: trace() against the previous continuation (dense Hessians of dim n(n+1)/2), side by side.

    python benchmarks/trace_speed.py [--quick] [--limit SECONDS] [--cases 4x1,8x4,16x4] [--against REV]
                                     [--skip-previous]

For each endpoint task (RNN, kappa = 0.1) ``T x P`` it traces lambda over
the issue-12 ranges (T = 4: 0.5..3; T = 8 and 16 with P = 4: 0.2..1.2) with
the current :func:`linkernel.theory.continuation.trace` and with the
previous algorithm (linkernel/theory/continuation.py at commit
``PREVIOUS``, loaded from git), each in its own subprocess with a wall-time
limit so that a run which does not finish is reported as "> limit".
``--against REV`` adds a third row: the whole package as committed at REV
(e.g. ``HEAD``: the code before uncommitted changes), exported with ``git
archive`` into a temporary directory.  Printed: seconds, steps, points, the special points found (kind and lambda)
and, where both finished, the largest difference of the special points'
lambda.  Targets (issue 12, 2 cores): T = 8, P = 4 under 30 s, T = 16,
P = 4 under 3 min.

The previous algorithm is run with today's linkernel around it (its
symmetric starting saddle is today's faster one), so its times are, if
anything, flattering.  ``--quick`` runs T = 4 and T = 8 with a 60 s limit on
the previous algorithm (the current one always gets up to 600 s; under a
minute in all on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS = "880ce67a5f4cf4250ee4d437028b838f83398c68"
RANGES = {4: (0.5, 3.0), 8: (0.2, 1.2), 16: (0.2, 1.2)}

CHILD = textwrap.dedent("""
    import json, sys, time, importlib.util, warnings
    sys.path.insert(0, {root!r})
    from linkernel.tasks import endpoint
    from linkernel.threads import blas_threads
    which, T, P, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    if which == "previous":
        spec = importlib.util.spec_from_file_location("previous_continuation", sys.argv[6])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        trace = mod.trace
    else:
        from linkernel.theory.continuation import trace
    p = endpoint("rnn", T=T, P=P, kappa=0.1)
    warnings.simplefilter("ignore")
    with blas_threads(1 if T * P < 64 else None):
        t0 = time.perf_counter()
        tr = trace(p, (lo, hi))
        sec = time.perf_counter() - t0
    kind = lambda s: s.kind + (" (Z2)" if s.z2 else "")
    print(json.dumps({{"seconds": sec, "steps": tr.steps, "points": sum(len(b.points) for b in tr.branches),
                      "transition": tr.transition,
                      "special": [[kind(s), s.lam] for s in tr.special_points]}}))
""")


def run(which, T, P, limit, previous_file, root=ROOT):
    lo, hi = RANGES.get(T, (0.2, 1.2))
    cmd = [sys.executable, "-c", CHILD.format(root=str(root)), which, str(T), str(P), str(lo), str(hi),
           str(previous_file)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1") if T * P < 64 else dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + [v for v in [env.get("PYTHONPATH")] if v])
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "wall": time.perf_counter() - t0}
    if out.returncode != 0:
        return {"seconds": None, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _comparison(a, b) -> str:
    """'speed-up ...; special points agree to ...' of run a against run b (both finished)."""
    d = [abs(x[1] - y[1]) for x, y in zip(a["special"], b["special"])]
    same = len(a["special"]) == len(b["special"])
    return (f"speed-up {b['seconds'] / a['seconds']:.1f}x; special points "
            + (f"agree to {max(d, default=0):.1e}" if same else "differ in number"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="T = 4 and T = 8 only, 60 s limit on the previous code")
    ap.add_argument("--limit", type=float, default=None, help="wall-time limit per run in seconds (default 900)")
    ap.add_argument("--cases", default=None, help="comma-separated TxP (default 4x1,8x4,16x4)")
    ap.add_argument("--skip-previous", action="store_true", help="do not run the previous algorithm")
    ap.add_argument("--against", default=None, metavar="REV",
                    help="also run the whole package at git revision REV (e.g. HEAD)")
    args = ap.parse_args()
    cases = args.cases or ("4x1,8x4" if args.quick else "4x1,8x4,16x4")
    cases = [tuple(int(v) for v in c.split("x")) for c in cases.split(",")]
    limit = args.limit or (60.0 if args.quick else 900.0)
    prev = Path("/tmp") / f"linkernel_previous_continuation_{PREVIOUS[:8]}.py"
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS}:linkernel/theory/continuation.py"],
                         capture_output=True, text=True)
    have_prev = src.returncode == 0 and not args.skip_previous
    if have_prev:
        prev.write_text(src.stdout)
    tree = None
    if args.against:
        tree = Path(tempfile.mkdtemp(prefix="linkernel_at_"))
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", args.against], capture_output=True)
        if arch.returncode != 0 or subprocess.run(["tar", "-x", "-C", str(tree)], input=arch.stdout).returncode:
            sys.exit(f"--against {args.against}: git archive failed: {arch.stderr.decode().strip()}")
    print(f"machine: {platform.platform()}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (timings on a shared machine are inflated)")
    print(f"previous algorithm: linkernel/theory/continuation.py at {PREVIOUS[:10]}"
          + ("" if have_prev else " (skipped)" if args.skip_previous else
             " (not available: not a git checkout with that commit)"))
    print(f"{'task':14s} {'code':9s} {'seconds':>9s} {'steps':>6s} {'points':>7s}  special points (kind lambda)")
    for T, P in cases:
        lo, hi = RANGES.get(T, (0.2, 1.2))
        res = {"current": run("current", T, P, max(limit, 600.0), prev)}
        if tree is not None:
            res[args.against[:9]] = run("current", T, P, max(limit, 600.0), prev, root=tree)
        if have_prev:
            res["previous"] = run("previous", T, P, limit, prev)
        for which, r in res.items():
            if r.get("seconds") is None:
                why = f"> {limit if which == 'previous' else max(limit, 600.0):.0f}" if "error" not in r else "error"
                print(f"T={T:<2d} P={P:<2d}      {which:9s} {why:>9s}   {r.get('error', '')}")
                continue
            sp = ", ".join(f"{k} {lam:.12g}" for k, lam in r["special"])
            print(f"T={T:<2d} P={P:<2d}      {which:9s} {r['seconds']:9.2f} {r['steps']:6d} {r['points']:7d}  {sp}")
        a, b = res["current"], res.get("previous", {})
        if tree is not None and a.get("seconds") and res[args.against[:9]].get("seconds"):
            print(f"  against {args.against}: " + _comparison(a, res[args.against[:9]]))
        if a.get("seconds") and b.get("seconds"):
            print(f"  lambda {lo:g}..{hi:g}: " + _comparison(a, b))
        elif a.get("seconds") and have_prev:
            print(f"  lambda {lo:g}..{hi:g}: previous algorithm did not finish within {limit:.0f} s")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if tree is not None:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Which weight-sharing patterns have a transition, where, and of which order (endpoint task).

Endpoint task, P = 1, w = v = u = 1, kappa = 0.1, T = 4..8.  For each pattern:

* lambda_c numerical: :func:`linkernel.theory.special_points.critical_lambda` (the odd Hessian
  eigenvalue on the symmetric saddle crossing zero), bracketed at +-5% around the closed form
  (critical_lambda checks the sign change, so the bracket is a check, not an input);
* r_c, lambda_c closed form, breaking group(s), Landau order:
  :mod:`linkernel.symbolic.patterns` (derived from the Hessian's blocks on the branch);
* order by continuation: ``linkernel.trace`` over [0.95, 1.05] x lambda_c (arclength steps up to
  max(0.25, 0.05 x the range's top), to keep T = 8 affordable).

Patterns without a transition (the DNN) get the odd Hessian's smallest eigenvalue at a few
lambda instead, and a trace over [0.5, 4].

Then a problem with an input at every step (x^t = 1 for all t, supervised at T-1 only):
shared W with untied U keeps the symmetry (W -> -W with U^(t) -> (-1)^t U^(t)), the RNN
(shared U) breaks it explicitly.

    python examples/sharing_patterns.py [--T 4 5 6 7 8] [--no-trace]

Prints one table and writes it as markdown to examples/figures/sharing_patterns.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import linkernel as lk
from linkernel.problem import Problem, order_parameter
from linkernel.symbolic.patterns import derived_order, pattern_critical_point
from linkernel.theory.action import prior_kernel
from linkernel.theory.special_points import critical_lambda, odd_hessian_minimum

KAPPA = 0.1
OUT = Path(__file__).resolve().parent / "figures" / "sharing_patterns.md"


def patterns(T: int) -> list:
    k = (T - 1) // 2
    steps = list(range(T))
    out = [("RNN", lk.rnn(T)), ("DNN", lk.dnn(T)),
           ("DNN + tied {1,2}", lk.dnn_with_tied_pair(T, 1, 2)),
           ("DNN + tied {T-2,T-1}", lk.dnn_with_tied_pair(T, T - 2, T - 1))]
    if T >= 4:
        out.append(("DNN + tied {1,3}", lk.dnn_with_tied_pair(T, 1, 3)))
    out += [("tied blocks of 2 (shared U)", lk.tied_blocks(T, 2, shared_u=True)),
            (f"RNN reset after step k={k}", lk.Architecture(T, W=[list(range(1, k + 1)), list(range(k + 1, T))],
                                                             U=[steps], name="reset")),
            ("shared W, untied U", lk.shared_w_untied_u(T))]
    return out


def fmt(x, spec=".10g"):
    return "-" if x is None else (x if isinstance(x, str) else format(x, spec))


def endpoint_row(name: str, arch, T: int, do_trace: bool) -> dict:
    t0 = time.perf_counter()
    cp = pattern_critical_point(arch)
    p = lk.endpoint(arch, T=T, kappa=KAPPA)
    row = {"pattern": name, "T": T, "W": " ".join("{" + ",".join(map(str, g)) + "}" for g in arch.W if len(g) > 1)
           or "none shared", "r_c": str(cp.r_c), "groups": cp.group_text}
    if cp.has_transition:
        lc = cp.lambda_c_value(kappa_=KAPPA)
        row["lam_closed"] = lc
        row["lam_num"] = critical_lambda(p, bracket=(0.95 * lc, 1.05 * lc))
        row["rel"] = abs(row["lam_num"] / lc - 1)
        row["landau"] = derived_order(arch, kappa_=KAPPA)
        rng = (0.95 * lc, 1.05 * lc)
    else:
        lams = (1.0, 5.0, 20.0)
        mus = [odd_hessian_minimum(p.with_(lam=L)) for L in lams]
        row["lam_closed"], row["rel"], row["landau"] = None, None, "none"
        row["lam_num"] = ("none (odd Hessian min " + ", ".join(f"{m:.2g}" for m in mus)
                          + f" at lambda = {', '.join(map(str, map(int, lams)))})")
        rng = (0.5, 4.0)
    if cp.degenerate:
        row["groups"] += f" ({len(cp.critical_blocks)} blocks at once)"
    if cp.even_instability is not None and cp.has_transition and float(cp.even_instability) < float(cp.r_c):
        row["groups"] += f"; even block at r={cp.even_instability} first!"
    row["trace"] = "-"
    if do_trace:
        try:
            tr = lk.trace(p, rng, ds_max=max(0.25, 0.05 * rng[1]))
        except lk.ConvergenceError:
            try:                                   # retry with the default steps
                tr = lk.trace(p, rng)
            except lk.ConvergenceError as err:
                row["trace"] = f"failed ({str(err).split(';')[0]})"
                row["seconds"] = time.perf_counter() - t0
                return row
        row["trace"] = tr.transition
        nb = sum(1 for s in tr.special_points if s.kind == "branch_point" and s.z2)
        if nb > 1:
            row["trace"] += f" ({nb} Z2 branch points)"
        if any(s.kind == "branch_point" and not s.z2 for s in tr.special_points):
            row["trace"] += " (+non-Z2 branch point)"
    row["seconds"] = time.perf_counter() - t0
    return row


def every_step_input(arch, T: int, do_trace: bool) -> dict:
    """x^t = 1 at every step, supervised at T-1 only; numerics only (no closed form)."""
    t0 = time.perf_counter()
    x = np.ones((T, 1, 1))
    yhat = np.zeros((T, 1))
    yhat[T - 1, 0] = 1.0
    p = Problem(arch=arch, T=T, x=x, supervised=((T - 1, 0),), yhat=yhat, kappa=KAPPA, name="every-step input")
    row = {"pattern": f"input at every step: {arch.label}", "T": T, "r_c": "-", "lam_closed": None, "rel": None,
           "landau": "-", "W": "all", "groups": "W{1..T-1}" if p.symmetries else "explicitly broken (no Z2)"}
    if p.symmetries:
        lc = critical_lambda(p, lam_max=10.0)
        row["lam_num"] = lc
        rng = (0.8 * lc, 1.2 * lc)
    else:
        H0 = prior_kernel(p)
        row["lam_num"] = f"none: no symmetry, m = H^(T-1,T-2) = {order_parameter(H0, T, 1):.3g} already at lambda=0"
        rng = (0.2, 3.0)
    row["trace"] = lk.trace(p, rng).transition if do_trace else "-"
    row["seconds"] = time.perf_counter() - t0
    return row


COLS = [("pattern", "pattern"), ("T", "T"), ("W", "shared W"), ("lam_num", "lambda_c numerical"),
        ("lam_closed", "lambda_c closed form"), ("rel", "rel. diff"), ("r_c", "r_c closed form"),
        ("groups", "breaking group"), ("trace", "order (continuation)"), ("landau", "order (Landau b)"),
        ("seconds", "s")]


def cell(row, key):
    val = row.get(key)
    if key == "rel":
        return fmt(val, ".1e")
    if key == "seconds":
        return fmt(val, ".1f")
    return fmt(val)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--every-step-T", type=int, nargs="+", default=[4, 6])
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for T in args.T:
        for name, arch in patterns(T):
            row = endpoint_row(name, arch, T, not args.no_trace)
            rows.append(row)
            print(" | ".join(f"{cell(row, k)}" for k, _ in COLS), flush=True)
    for T in args.every_step_T:
        for arch in (lk.rnn(T), lk.shared_w_untied_u(T)):
            row = every_step_input(arch, T, not args.no_trace)
            rows.append(row)
            print(" | ".join(f"{cell(row, k)}" for k, _ in COLS), flush=True)
    total = time.perf_counter() - t0
    head = "| " + " | ".join(h for _, h in COLS) + " |"
    sep = "|" + "|".join("---" for _ in COLS) + "|"
    lines = [head, sep] + ["| " + " | ".join(cell(r, k) for k, _ in COLS) + " |" for r in rows]
    print()
    print("\n".join(lines))
    print(f"\ntotal {total:.0f} s")
    md = ["# Weight-sharing patterns: transitions of the endpoint task",
          "",
          f"Endpoint task, P = 1, w = v = u = 1, kappa = {KAPPA}.  Written by `examples/sharing_patterns.py` "
          f"(total {total:.0f} s).",
          "",
          "Closed form (linkernel.symbolic.patterns): every off-diagonal block of the Hessian on the symmetric "
          "branch is a chain e_{a,b}, e_{a+1,b+1}, ..., e_{a+n-1,b+n-1} linked where (a+j, b+j) share a W; "
          "its determinant is r^(n-1) (n - (n-1) r), so r_c = n*/(n*-1) with n* the longest Z2-odd chain, "
          "and lambda_c = (v h + kappa) sqrt((r_c - 1)/(v h)), h = u w^(T-1) r_c^T.",
          "'shared W, untied U' equals the RNN for the endpoint task (inputs only at t = 0, so U^(t>0) never "
          "enters).",
          "",
          *lines, ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(md))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())

"""Cost and robustness of the RNN saddle point on the T = 10 sequence task (a 55-dimensional minimisation).

For each task and lambda: many starts (``--starts``), the number of distinct
minima, their actions and order parameters, the residual |dS/dH| and the
Hessian eigenvalue range at the global minimum, and the seconds per start.
Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/sequence_saddle.py [--starts 24] [--json out.json]
(OpenBLAS threads spin on a shared 2-core machine: one thread is ~10x faster here.)
"""

import argparse
import json
import platform
import time


from linkernel.theory.saddle import saddle_point
from linkernel.sequence import add_mirror_minima, sequence_problem

TASKS = [("first:4", None), ("first:7", None), ("0,1,3,4,6,8", None), ("0,2,3,5,7,8", None),
         ("every-other", None), ("random:5", None)]
LAMS = [0.5, 1.0, 2.0, 4.0, 8.0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=24)
    ap.add_argument("--arch", default="rnn")
    ap.add_argument("--json")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    rows = []
    for spec, _ in TASKS:
        for lam in LAMS:
            pr = sequence_problem(args.arch, T=10, supervised=spec, lam=lam)
            t0 = time.perf_counter()
            sp = saddle_point(pr, n_starts=args.starts, seed=1)
            sec = time.perf_counter() - t0
            n_random = len(sp.minima)
            sp = add_mirror_minima(sp)  # what solve_sequence does
            ev = sp.hessian_eigenvalues
            row = dict(supervised=spec, lam=lam, n_minima=len(sp.minima), n_minima_random_starts=n_random,
                       actions=[m.action for m in sp.minima], m=[m.order_parameter for m in sp.minima],
                       grad_norm=sp.grad_norm, hess_min=float(ev[0]), hess_max=float(ev[-1]),
                       cond=float(ev[-1] / ev[0]), sec_per_start=sec / args.starts)
            rows.append(row)
            others = "; ".join(f"S={a:.8g} m={m:.4g}" for a, m in zip(row["actions"][1:], row["m"][1:]))
            print(f"{spec:>12s} lam={lam:<4g} minima={row['n_minima']} ({n_random} w/o mirror) S={row['actions'][0]:.10g} "
                  f"m={row['m'][0]:8.4g} |dS/dH|={sp.grad_norm:.1e} Hess eig [{ev[0]:.2e}, {ev[-1]:.2e}] "
                  f"{row['sec_per_start']:.2f} s/start" + (f"   others: {others}" if others else ""), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()

"""Benchmark: time to derive (symbolically) and write the LaTeX derivation per (arch, T, P).

Target (issue 2): the whole set RNN and DNN, T = 2..6, P = 1 in under 60 s on 2 cores.

    python benchmarks/derivation_time.py            # the target set
    python benchmarks/derivation_time.py --p2       # also P = 2, T = 2..4
    python benchmarks/derivation_time.py --naive    # also the blind route for comparison

The blind route (--naive) is the core's symbolic action with every entry a
symbol and sp.diff of it (linkernel.symbolic.action.symbolic_action(...).equations):
the saddle-point equations alone, without branch, Hessian or Landau work.

Each case starts from empty caches (every lru_cache of the derivation modules
is cleared), so a case pays for all of its own symbolic work; the documents go
to a temporary folder.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkernel.symbolic import symmetric_branch as branch  # noqa: E402
from linkernel.symbolic import landau  # noqa: E402
from linkernel.symbolic import stability  # noqa: E402
from linkernel.symbolic.latex import write_derivation  # noqa: E402

CACHED = (branch.symmetric_branch, stability.hessian_blocks, stability.critical_ratio,
          landau.landau_coefficients, landau.sixth_order_coefficient, landau.critical_amplitude_squared)


def clear_caches():
    for f in CACHED:
        f.cache_clear()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p2", action="store_true", help="also P = 2 for T = 2..4")
    ap.add_argument("--naive", action="store_true",
                    help="also time the blind route: the core's symbolic action and sp.diff (RNN, P = 1)")
    args = ap.parse_args()
    cases = [(arch, T, 1) for arch in ("rnn", "dnn") for T in range(2, 7)]
    if args.p2:
        cases += [(arch, T, 2) for arch in ("rnn", "dnn") for T in range(2, 5)]
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}")
    total = {1: 0.0, 2: 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for arch, T, P in cases:
            clear_caches()
            t0 = time.perf_counter()
            write_derivation(arch, T, P, tmp)
            dt = time.perf_counter() - t0
            total[P] += dt
            print(f"{arch} T={T} P={P}: {dt:7.2f} s")
    print(f"total RNN+DNN, T=2..6, P=1: {total[1]:.1f} s (target < 60 s)")
    if args.p2:
        print(f"total RNN+DNN, T=2..4, P=2: {total[2]:.1f} s")
    if args.naive:
        from linkernel import tasks
        from linkernel.symbolic import action as symbolic
        for T in range(2, 7):
            t0 = time.perf_counter()
            eqs = symbolic.symbolic_action(tasks.endpoint("rnn", T=T)).equations
            size = sum(len(str(e)) for e in eqs.values())
            print(f"blind: rnn T={T} P=1 equations only: {time.perf_counter() - t0:7.2f} s, {size} characters")


if __name__ == "__main__":
    main()

"""The curvature sign tests of saddle_point: dense LAPACK against Lanczos/LOBPCG, side by side.

At the stationary points saddle_point meets (the symmetric saddle the prior
kernel's descent ends at, and the global minimum) it times
:func:`linkernel.theory.hessian.lowest_whitened_eigenpairs` two ways: the
whitened Hessian assembled (per Z2 sector at the symmetric saddle) and its k
lowest eigenpairs taken by LAPACK (``dense_max`` large), and matrix-free
(ARPACK, then LOBPCG, ``dense_max=0``), for k = 1 and k = 4, and matrix-free
as saddle_point's sign test asks (``stop_above=-NEG_TOL``: the negative
directions only, column "sign test").  Printed: the seconds of each (best of
--repeat), the lowest eigenvalues and the largest difference of the first two.  ``linkernel.theory.saddle.DENSE_SIGN_MAX_DIM`` picks dense below
the sector size where it stops paying.

Run:  python benchmarks/sign_tests.py [--T 8,16] [--P 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def _best(f, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    from linkernel import tasks
    from linkernel.theory.action import prior_kernel
    from linkernel.theory.action import Pieces
    from linkernel.theory.curvature import DENSE_SIGN_MAX_DIM, NEG_TOL, is_symmetric_point
    from linkernel.theory.hessian import lowest_whitened_eigenpairs, sector_coordinates
    from linkernel.theory.minimize import minimize_action
    from linkernel.theory.saddle import saddle_point
    from linkernel.threads import blas_threads_for

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", default="8,16")
    ap.add_argument("--P", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; DENSE_SIGN_MAX_DIM = {DENSE_SIGN_MAX_DIM}")
    print(f"{'task':>12} {'point':>9} {'sector':>6} {'m':>5} {'k':>2} {'dense s':>8} {'Lanczos s':>9} {'sign test s':>11}  "
          f"{'lowest (dense)':>32}  max diff")
    for T in (int(t) for t in a.T.split(",")):
        p = tasks.endpoint("rnn", T=T, P=a.P, lam=2.5, kappa=0.1)
        with blas_threads_for(p.n):
            saddle = minimize_action(p, prior_kernel(p)).kernel
            best = saddle_point(p, n_starts=1).kernel
            for name, H in (("saddle", saddle), ("minimum", best)):
                pc = Pieces(p, H)
                sectors = ("odd", "even") if is_symmetric_point(p, H) else (None,)
                for sector in sectors:
                    for k in (1, 4):
                        td, (dv, _) = _best(lambda: lowest_whitened_eigenpairs(p, pc, k, sector, dense_max=10**9),
                                            a.repeat)
                        tl, (lv, _) = _best(lambda: lowest_whitened_eigenpairs(p, pc, k, sector, dense_max=0),
                                            a.repeat)
                        ts, _ = _best(lambda: lowest_whitened_eigenpairs(p, pc, k, sector, dense_max=0,
                                                                         stop_above=-NEG_TOL), a.repeat)
                        sel = sector_coordinates(p, sector)
                        m = p.n * (p.n + 1) // 2 if sel is None else len(sel)
                        vals = " ".join(f"{v:+.5f}" for v in dv)
                        print(f"{f'T={T} P={a.P}':>12} {name:>9} {str(sector):>6} {m:>5} {k:>2} {td:8.3f} {tl:9.3f} {ts:11.3f}  "
                              f"{vals:>32}  {np.abs(np.sort(dv) - np.sort(lv)).max():.1e}")


if __name__ == "__main__":
    main()

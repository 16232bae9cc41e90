"""Sweep engine: wall time of one exact-posterior grid, serial vs a LocalCluster of 2 worker processes.

The same points with the same per-point seeds run twice, in this process
(``serial=True``) and on ``dask.distributed.LocalCluster(n_workers=2,
threads_per_worker=1)``; the script prints both times, their ratio (speed-up,
ideally ~ the number of free cores minus the cluster's start-up cost), and
checks that the two datasets are identical.  Cluster start-up (spawning the
worker processes, importing linkernel there) is included: it is what a user pays.

    python benchmarks/sweep_speed.py            # 16 points, a few minutes on 2 busy cores
    python benchmarks/sweep_speed.py --quick    # 4 points, under a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from linkernel.sweep import computation, sweep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    if args.quick:
        grid, kw = {"lam": [1.0, 2.5], "N": [64, 1024]}, {"chains": 2, "samples": 100, "warmup": 100}
    else:
        grid = {"lam": [1.0, 1.5, 2.0, 2.5], "N": [64, 256, 1024, 4096]}
        kw = {"chains": 4, "samples": 500, "warmup": 500}
    fn = computation("exact_posterior", {"task": "endpoint", "T": 4, "kappa": 0.1}, kw)
    n = int(np.prod([len(v) for v in grid.values()]))
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"python {platform.python_version()}; load average before: {os.getloadavg()}")
    print(f"grid: {n} exact posteriors (RNN endpoint T=4, kappa=0.1), {kw}")
    t0 = time.perf_counter()
    ser = sweep(fn, grid, seed=0, serial=True, progress=False)
    t_ser = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = sweep(fn, grid, seed=0, n_workers=args.workers, progress=False)
    t_dist = time.perf_counter() - t0
    same = all(np.array_equal(ser.dataset[k].values, dist.dataset[k].values) for k in ser.dataset.data_vars)
    print(f"serial:                    {t_ser:8.2f} s  ({t_ser / n:.2f} s per point)")
    print(f"LocalCluster ({args.workers} workers):   {t_dist:8.2f} s  (start-up included)")
    print(f"speed-up serial / cluster: {t_ser / t_dist:8.2f}x   identical results: {same}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""DNN against RNN network runs, side by side, at the paper's Fig. 3 size (T = 8, P = 4, N = 2048).

Three runs per repetition, interleaved (rnn, dnn, dnn-before, rnn, dnn, dnn-before, ...), each a fresh
subprocess whose PYTHONPATH selects the package version (run from an empty folder, so the current
directory cannot shadow it):

* ``rnn``: this checkout, the RNN endpoint task (collapsed Krylov move,
  :class:`~linkernel.finite_n.network_moves.ReducedMove`);
* ``dnn``: this checkout, the DNN (collapsed layer move,
  :class:`~linkernel.finite_n.network_moves.LayerMove`);
* ``dnn-before``: the DNN with the package at ``--before`` (default HEAD: the last commit, unpacked by
  ``git archive`` into a temporary folder as in benchmarks/startup.py; or a folder holding linkernel/).

Every run is ``sample_networks(endpoint(arch, T=8, P=4, D=4, lam=1), N, sweeps, chains, seed=1,
spectra=0)`` (the package's own BLAS-thread policy).  Columns: the run's seconds in all (set-up, the
move's warm-up and the sweeps: ``NetworkPosterior.seconds``) and per sweep (``seconds_per_sweep``,
what a user pays per sweep of a run of this length), the sweeps alone (seconds per sweep between the
first and the last recorded checkpoint), and the largest autocorrelation time over kernel entries, f
and m (``tau``, sweeps per effective sample; noisy at 60 sweeps x 2 chains).  The ratios DNN / RNN
are of the same repetition; the target is DNN / RNN <= 1.5 per sweep.  ``--exact`` also runs the exact
finite-N posterior of each architecture in this checkout's runs and prints the largest deviation of a
kernel entry in combined error bars (z; ~3-3.5 over 528 entries when they agree).  The header gives
the machine and the load average; the load is printed again with every run.

    python benchmarks/dnn_moves.py                       # N = 2048, 60 sweeps x 2 chains, 2 repetitions
    python benchmarks/dnn_moves.py --N 256 --sweeps 400 --exact --repeats 1 --no-before
    python benchmarks/dnn_moves.py --N 2048 --sweeps 400 --chains 4 --exact --repeats 1 --no-before   # issue 28
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from thread_policy import AFTER, last_line, load_line, machine_header, previous_version, version_env, which_package


def worker(arch: str, N: int, sweeps: int, chains: int, exact: bool) -> dict:
    """One run in this process (the package on PYTHONPATH): its timings as a dict."""
    import warnings

    import numpy as np

    from linkernel.finite_n.network_sampler import sample_networks
    from linkernel.tasks import endpoint
    pr = endpoint(arch, T=8, P=4, D=4, lam=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = sample_networks(pr, N, sweeps=sweeps, chains=chains, seed=1, progress=False, spectra=0)
    (s0, t0), (s1, t1) = [(c[0], c[1]) for c in (r.checkpoints[0], r.checkpoints[-1])]
    out = {"seconds": r.seconds, "per_sweep": r.seconds_per_sweep,
           "sweeps_only": (t1 - t0) / (s1 - s0) if s1 > s0 else float("nan"),
           "tau": r.tau if r.tau is not None else float("nan"), "reduced": bool(r.reduced_moves),
           "m": float(r.order_parameter)}
    if exact:
        from linkernel.finite_n.exact import exact_posterior
        ex = exact_posterior(pr, N, chains=4, samples=1000, warmup=1000, seed=2, progress=False)
        z = np.abs(r.kernel - ex.kernel) / np.sqrt(r.stderr ** 2 + ex.stderr ** 2 + 1e-300)
        iu = np.triu_indices(pr.n)                 # the distinct entries of the symmetric kernel
        out["z"] = float(np.max(z[iu]))
        out["entries"] = int(len(iu[0]))
        out["max_rhat"] = float(r.diagnostics.max_rhat) if r.diagnostics.max_rhat is not None else float("nan")
    return out


def run(name: str, root: str, cwd: str, a, exact: bool) -> dict | str:
    """One run as a fresh subprocess of the package under ``root``: its dict, or an error string."""
    arch = "rnn" if name == "rnn" else "dnn"
    argv = [sys.executable, os.path.abspath(__file__), "--worker", arch, "--N", str(a.N), "--sweeps", str(a.sweeps),
            "--chains", str(a.chains)] + (["--exact"] if exact else [])
    r = subprocess.run(argv, env=version_env(root), cwd=cwd, capture_output=True, text=True, timeout=a.timeout)
    if r.returncode:
        return f"exit {r.returncode}: {last_line(r.stderr)}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=2048)
    ap.add_argument("--sweeps", type=int, default=60)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="repetitions of the interleaved runs (default 2)")
    ap.add_argument("--before", default="HEAD", help="previous version: a git revision or a folder (default HEAD)")
    ap.add_argument("--no-before", action="store_true", help="skip the previous version's DNN run")
    ap.add_argument("--exact", action="store_true", help="compare this checkout's runs with the exact reduction")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run before it counts as failed")
    ap.add_argument("--worker", choices=("rnn", "dnn"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.N, a.sweeps, a.chains, a.exact)))
        return 0
    print(machine_header())
    print(load_line("before starting"))
    roots = {"rnn": AFTER, "dnn": AFTER}
    if not a.no_before:
        roots["dnn-before"] = previous_version(a.before)
    print(f"T = 8, P = 4, D = 4, lam = 1, N = {a.N}, {a.sweeps} sweeps x {a.chains} chains, spectra=0; "
          f"{a.repeats} repetitions, runs interleaved")
    rows, failed = [], False
    with tempfile.TemporaryDirectory(prefix="dnn_moves_") as cwd:
        for name, root in roots.items():
            print(f"{name:>10}: {which_package(root, cwd)}")
        print(f"\n{'rep':>3} {'run':>10} | {'total s':>8} | {'s/sweep':>8} | {'sweeps only':>11} | {'tau':>6} | "
              f"{'m':>7} | load (1 min)")
        for rep in range(a.repeats):
            res = {}
            for name, root in roots.items():
                t = run(name, root, cwd, a, a.exact and name != "dnn-before")
                res[name] = t
                load = os.getloadavg()[0]
                if isinstance(t, str):
                    failed = True
                    print(f"{rep:>3} {name:>10} | failed: {t}", flush=True)
                    continue
                z = f"  vs exact: max z {t['z']:.2f}" if "z" in t else ""
                print(f"{rep:>3} {name:>10} | {t['seconds']:8.1f} | {t['per_sweep']:8.3f} | {t['sweeps_only']:11.4f} | "
                      f"{t['tau']:6.2f} | {t['m']:7.4f} | {load:.2f}{z}", flush=True)
            rows.append(res)
        print()
        for rep, res in enumerate(rows):
            r, d = res.get("rnn"), res.get("dnn")
            if isinstance(r, dict) and isinstance(d, dict):
                line = (f"rep {rep}: DNN / RNN {d['per_sweep'] / r['per_sweep']:.2f}x per sweep (target <= 1.5), "
                        f"{d['sweeps_only'] / r['sweeps_only']:.2f}x the sweeps alone, "
                        f"{d['per_sweep'] * d['tau'] / (r['per_sweep'] * r['tau']):.2f}x per effective sample")
                b = res.get("dnn-before")
                if isinstance(b, dict):
                    line += (f"; before: DNN / RNN {b['per_sweep'] / r['per_sweep']:.2f}x per sweep, "
                             f"{b['sweeps_only'] / r['sweeps_only']:.2f}x the sweeps alone")
                print(line)
        from scipy.stats import norm
        for rep, res in enumerate(rows):
            for name in ("rnn", "dnn"):
                t = res.get(name)
                if isinstance(t, dict) and "z" in t:
                    q = float(norm.isf(0.5 * (1 - 0.999 ** (1 / t["entries"]))))   # 99.9% point of the max |z|
                    print(f"rep {rep}: {name.upper()} vs the exact reduction at N = {a.N}: max |z| {t['z']:.2f} over "
                          f"{t['entries']} entries (R-hat <= {t['max_rhat']:.4f}): "
                          f"{'agrees' if t['z'] < q else 'DISAGREES'} (threshold {q:.2f}, the 99.9% point of the "
                          f"largest of {t['entries']} independent |N(0, 1)|)")
    print(load_line("at the end"))
    return 1 if failed else 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    if "--worker" not in sys.argv:
        print(f"total {time.perf_counter() - t0:.0f} s")
    raise SystemExit(code)

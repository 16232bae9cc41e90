"""Wall time of the CLI's report, landscape and trace (default arguments) before and after the BLAS-thread policy.

BEFORE is the package at --before: a git revision of this repository, unpacked by `git archive`
into a temporary folder for the run (default ca18f7c, the last commit before linkernel.threads.entry_point
and the lazy import), or a folder holding a linkernel/ package; AFTER is this checkout.  Each run is a fresh `python -m linkernel
COMMAND` subprocess whose PYTHONPATH selects the version (run from an empty folder, so the
current directory cannot shadow it); the versions alternate (before, after, before, after, ...)
and each cell is the best of --repeats.  `report` writes into a temporary folder.

Load: by default (--busy) one `yes >/dev/null` is pinned to the last core (taskset -c) for the
whole measurement, so the other core is busy while the commands run unpinned and may use every
core; --no-busy measures on the machine as it is.  The header gives the CPU, the cores, NumPy's
BLAS (threadpoolctl) and the load average before the measurement starts.

Run:  python benchmarks/thread_policy.py [--repeats 3] [--commands report,landscape,trace]
                                         [--before REV_OR_DIR] [--no-busy] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AFTER = str(Path(__file__).resolve().parent.parent)
COMMANDS = {"report": ["report", "--out", "{out}"], "landscape": ["landscape"], "trace": ["trace"]}


def machine_header() -> str:
    """CPU model, cores, Python, NumPy and its BLAS (threadpoolctl), the BLAS environment variables."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):    # not Linux: platform's guess
        pass
    lines = [f"machine: {model}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); "
             f"{platform.platform()}; Python {platform.python_version()}"]
    import numpy
    blas = "threadpoolctl not importable"
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{p['internal_api']} {p.get('version')} ({p.get('threading_layer', '?')}), "
                         f"{p['num_threads']} threads" for p in threadpool_info()) or "none found"
    except ImportError:
        pass
    lines.append(f"numpy {numpy.__version__}, BLAS: {blas}")
    env = {k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    lines.append(f"thread variables: {env or 'none set'}")
    return "\n".join(lines)


def load_line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def version_env(root: str) -> dict:
    """The environment that makes `import linkernel` load the package under ``root``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def which_package(root: str, cwd: str) -> str:
    """Where a subprocess with ``version_env(root)`` finds linkernel (checks PYTHONPATH wins)."""
    r = subprocess.run([sys.executable, "-c", "import linkernel; print(linkernel.__file__)"],
                       env=version_env(root), cwd=cwd, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else f"import failed: {last_line(r.stderr)}"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no stderr)"


def run_once(argv: list[str], root: str, cwd: str, timeout: float):
    """Seconds of one fresh subprocess, or an error string (exit code and last stderr line)."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, env=version_env(root), cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g} s"
    dt = time.perf_counter() - t0
    return dt if r.returncode == 0 else f"exit {r.returncode}: {last_line(r.stderr)}"


def start_busy():
    """One `yes >/dev/null` pinned to the last core; None (and a note) without taskset."""
    core = max(os.sched_getaffinity(0))
    try:
        proc = subprocess.Popen(["taskset", "-c", str(core), "yes"], stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        print("taskset not found: measuring without the busy core")
        return None
    print(f"busy: `yes >/dev/null` pinned to core {core} (pid {proc.pid}); the commands run unpinned")
    return proc


#: the last commit before the one BLAS-thread policy and the lazy import (issue 25)
PREVIOUS = "ca18f7c"


def previous_version(spec: str) -> str:
    """The root of the BEFORE package: ``spec`` itself when it is a folder with linkernel/, else revision
    ``spec`` of this repository unpacked by ``git archive`` into a temporary folder (removed when the
    script exits; the repository itself is left as it is)."""
    if (Path(spec) / "linkernel").is_dir():
        return str(Path(spec).resolve())
    root = tempfile.mkdtemp(prefix="linkernel_before_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    archive = subprocess.run(["git", "-C", AFTER, "archive", "--format=tar", spec], capture_output=True)
    if archive.returncode:
        raise SystemExit(f"--before {spec}: neither a folder with linkernel/ nor a revision git can archive "
                         f"({last_line(archive.stderr.decode(errors='replace'))})")
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default=PREVIOUS, help=f"previous version: a git revision or a folder (default {PREVIOUS})")
    ap.add_argument("--repeats", type=int, default=3, help="runs per command and version; best is shown (default 3)")
    ap.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated subset of " + ",".join(COMMANDS))
    ap.add_argument("--busy", action=argparse.BooleanOptionalAction, default=True,
                    help="pin a busy loop to the last core while measuring (default on)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run before it counts as failed")
    a = ap.parse_args()
    commands = [c.strip() for c in a.commands.split(",") if c.strip()]
    unknown = [c for c in commands if c not in COMMANDS]
    if unknown:
        ap.error(f"unknown command(s) {unknown}; choose from {list(COMMANDS)}")

    print(machine_header())
    print(load_line("before starting"))
    versions = {"before": previous_version(a.before), "after": AFTER}
    with tempfile.TemporaryDirectory(prefix="thread_policy_") as tmp:
        cwd = Path(tmp, "cwd")
        cwd.mkdir()
        for name, root in versions.items():
            print(f"{name:>6}: {which_package(root, str(cwd))}")
        busy = start_busy() if a.busy else None
        print(f"best of {a.repeats}, versions interleaved; each run a fresh `python -m linkernel COMMAND`\n")
        try:
            results = {}
            for cmd in commands:
                best = {"before": None, "after": None}
                for i in range(a.repeats):
                    for name, root in versions.items():
                        if isinstance(best[name], str):     # failed once: not run again
                            continue
                        out = Path(tmp, f"{cmd}-{name}-{i}")
                        args = [s.format(out=out) for s in COMMANDS[cmd]]
                        t = run_once([sys.executable, "-m", "linkernel", *args], root, str(cwd), a.timeout)
                        if isinstance(t, str):
                            print(f"  {cmd} {name} run {i + 1} failed: {t}")
                        best[name] = t if isinstance(t, str) or best[name] is None else min(best[name], t)
                results[cmd] = best
                print(f"  {cmd}: done ({load_line('now')})", flush=True)
        finally:
            if busy is not None:
                busy.terminate()
                busy.wait()

    print(f"\n{'command':<10} | {'before (s)':>10} | {'after (s)':>10} | {'before/after':>12}\n{'-' * 53}")
    for cmd, best in results.items():
        b, f = best["before"], best["after"]
        cells = [f"{t:10.2f}" if isinstance(t, float) else f"{'failed':>10}" for t in (b, f)]
        ratio = f"{b / f:12.2f}" if isinstance(b, float) and isinstance(f, float) else f"{'-':>12}"
        print(f"{cmd:<10} | {cells[0]} | {cells[1]} | {ratio}")
    failures = [f"{cmd} {name}: {t}" for cmd, best in results.items() for name, t in best.items() if isinstance(t, str)]
    for line in failures:
        print(f"  failed: {line}")
    print(load_line("at the end"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Start-up time of linkernel before and after the lazy `import linkernel`.

Times `python -c "import linkernel"` and `python -m linkernel --help`, each the best of --repeats
fresh subprocesses, for BEFORE (the package at --before: a git revision unpacked into a temporary folder, default
ca18f7c) and AFTER (this checkout), alternating the versions run by run.  PYTHONPATH selects the
version and the subprocesses run from an empty folder, so the current directory cannot shadow it.
Then prints the --top (10) slowest entries of `python -X importtime -c "import linkernel"` for the
current version, by cumulative time (a module's own import plus the imports it triggers).  The
header gives the machine and the load average, as in benchmarks/thread_policy.py.

Run:  python benchmarks/startup.py [--repeats 5] [--before REV_OR_DIR] [--top 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

from thread_policy import AFTER, PREVIOUS, last_line, previous_version, load_line, machine_header, run_once, version_env, which_package

CASES = {"import linkernel": ["-c", "import linkernel"], "linkernel --help": ["-m", "linkernel", "--help"]}


def importtime(root: str, cwd: str, top: int) -> str:
    """The ``top`` entries of -X importtime with the largest cumulative time, as a table."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import linkernel"],
                       env=version_env(root), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"importtime failed: exit {r.returncode}: {last_line(r.stderr)}"
    rows = []
    for line in r.stderr.splitlines():    # "import time:  self [us] | cumulative | imported package"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    rows.sort(reverse=True)
    out = [f"{'cumulative (ms)':>15} {'self (ms)':>10}  module (indent = nesting)"]
    out += [f"{cum / 1e3:15.1f} {own / 1e3:10.1f}  {name}" for cum, own, name in rows[:top]]
    own_line = [row for row in rows if row[2].strip() == "linkernel"]
    if own_line and own_line[0] not in rows[:top]:     # the package's own line, if not among them
        cum, own, name = own_line[0]
        out.append(f"{'...':>15}\n{cum / 1e3:15.1f} {own / 1e3:10.1f}  {name}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default=PREVIOUS, help=f"previous version: a git revision or a folder (default {PREVIOUS})")
    ap.add_argument("--repeats", type=int, default=5, help="fresh subprocesses per case and version (default 5)")
    ap.add_argument("--top", type=int, default=10, help="importtime entries shown (default 10)")
    a = ap.parse_args()

    print(machine_header())
    print(load_line("before starting"))
    versions = {"before": previous_version(a.before), "after": AFTER}
    with tempfile.TemporaryDirectory(prefix="startup_") as cwd:
        for name, root in versions.items():
            print(f"{name:>6}: {which_package(root, cwd)}")
        print(f"best of {a.repeats} fresh subprocesses, versions alternating\n")
        results = {case: {name: None for name in versions} for case in CASES}
        for case, args in CASES.items():
            for _ in range(a.repeats):
                for name, root in versions.items():
                    prev = results[case][name]
                    if isinstance(prev, str):       # failed before: not run again
                        continue
                    t = run_once([sys.executable, *args], root, cwd, timeout=600)
                    results[case][name] = t if isinstance(t, str) or prev is None else min(prev, t)
        print(f"{'':<18} | {'before (s)':>10} | {'after (s)':>10} | {'before/after':>12}\n{'-' * 59}")
        for case, res in results.items():
            b, f = res["before"], res["after"]
            cells = [f"{t:10.3f}" if isinstance(t, float) else f"{'failed':>10}" for t in (b, f)]
            ratio = f"{b / f:12.2f}" if isinstance(b, float) and isinstance(f, float) else f"{'-':>12}"
            print(f"{case:<18} | {cells[0]} | {cells[1]} | {ratio}")
        failures = [f"{case} {name}: {t}" for case, res in results.items() for name, t in res.items()
                    if isinstance(t, str)]
        for line in failures:
            print(f"  failed: {line}")
        print(f"\n-X importtime -c 'import linkernel', after ({AFTER}), {a.top} slowest by cumulative time:")
        print(importtime(AFTER, cwd, a.top))
    print(load_line("at the end"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

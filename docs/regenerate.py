"""Rerun every snippet of README.md, docs/getting_started.md and docs/guide/*.md; rewrite outputs and timings.

    python docs/regenerate.py                  # every page
    python docs/regenerate.py docs/guide/saddle_points.md --skip-slow
    python docs/regenerate.py --dry-run        # run and report, write nothing

What it runs (the one parser, imported by tests/test_snippets.py):

* a ```` ```console ```` block: lines starting with ``$ `` are shell commands (a trailing ``\\``
  continues one), the lines up to the next command its output. Every block runs in a fresh temporary
  folder (files it writes do not leak into the next block) with bash, ``PYTHONUNBUFFERED=1`` (stdout
  and stderr in the order they were written) and ``MPLBACKEND=Agg``. Output is what a terminal shows:
  stdout and stderr merged, each line read as a terminal does after a carriage return (a progress bar
  that clears itself leaves nothing), and the plain progress lines written when stderr is not a
  terminal dropped (a terminal shows a bar that leaves nothing behind instead).
* a ```` ```python ```` block in doctest form (``>>> ``, ``... ``, then the output): the blocks of one
  page run in order in one namespace and one temporary folder, each example compiled as doctest does
  ("single" mode: an expression's repr is printed). An exception prints doctest's
  ``Traceback (most recent call last):`` / ``...`` / ``ExcType: message``.
* ``<!-- snippet: slow -->`` on the line before a block puts it under ``pytest -m slow`` (its commands take
  more than about 10 s); ``<!-- snippet: rtol=0.02 -->`` compares its numbers to that relative tolerance
  (only for results that differ across BLAS builds at a fixed seed; the page says why), and
  ``atol=X`` adds an absolute tolerance (for printed differences of nearly equal numbers). They may be
  combined: ``<!-- snippet: slow rtol=0.2 atol=0.005 -->``.
* ``<!-- timing: COMMAND -->12.3 s``: a timing statement. The number is replaced by the wall time of
  COMMAND run here (a fresh process in a temporary folder; a command also run as a snippet, or timed
  on an earlier page of the same run, reuses that time).

A command that fails where the page shows no error (exit status, any command of a pipeline; an
example raising where the page shows no traceback) is not written over the page: the block keeps its
output, the report says NOT REWRITTEN with what it printed, and the exit status is 1.
* ``<!-- regenerated -->`` ending a line: the line is replaced by the date, the machine (CPU model,
  cores) and the load (/proc/loadavg, one-minute average before and after the page ran). Markers never
  start a line of prose: CommonMark would read the line as raw HTML.

Numbers in outputs that are timings (followed by ``s``, ``ms``, ``min`` or ``ms/sweep``) are regenerated
but never compared by the test (see :func:`compare`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import doctest
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^```(console|python)[ \t]*$")
#: Any opening fence naming console or python, however indented or long: what the parser must account for.
ANY_FENCE = re.compile(r"^[ \t>]*(```+|~~~+)[ \t]*\{?(console|python|pycon)\}?[ \t]*$", re.M)
ANNOTATION = re.compile(r"^<!-- snippet:([^>]*)-->\s*$")
TIMING = re.compile(r"<!-- timing: (.+?) -->(\d+(?:\.\d+)?) s")
STAMP = re.compile(r"^.*<!-- regenerated -->[ \t]*$", re.M)
#: A number as the outputs print it (sign, decimals, exponent).
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: A number followed by a time unit is a timing: regenerated, never compared.
TIME_UNIT = re.compile(r"\s*(?:s|ms|min|ms/sweep|s/sweep)\b")
#: Below this every number is rounding (residuals, tiny order parameters): compared as "both below".
ROUNDING = 1e-12
#: A plain progress line (linkernel.progress, stderr not a terminal: "linkernel sample: gibbs N=512:
#: 120/400 sweeps, 41 s, about 96 s left"). How many appear depends on the machine's speed; on a
#: terminal the bar leaves nothing behind, so they are dropped.
PROGRESS = re.compile(r"^(?:linkernel[\w -]*: )?(?:.*?: )?\d+(?:/\d+)? \S+, \d+(?:\.\d+)? (?:s|min|h)"
                      r"(?:, still working|, about \d+(?:\.\d+)? (?:s|min|h) left)?(?:  .*)?$")
SLOW_S = 10.0
#: Wall times of the commands run in this process, shared by the pages (one run of each command).
_TIMES: dict[str, float | None] = {}
#: Seconds spent in the snippets of the default test suite and in those marked slow, this process.
_TOTALS = {"default": 0.0, "slow": 0.0}


def pages() -> list[Path]:
    """The pages whose snippets are run: README.md, docs/getting_started.md, docs/guide/*.md."""
    found = [ROOT / "README.md", ROOT / "docs" / "getting_started.md"]
    found += sorted((ROOT / "docs" / "guide").glob("*.md"))
    return [p for p in found if p.exists()]


@dataclasses.dataclass
class Command:
    """One shell command (console) or one doctest example (python), with the output the page shows."""
    source: str
    shown: str


@dataclasses.dataclass
class Block:
    """One fenced snippet: its page, kind, body lines ``start:end`` (0-based, fences excluded)."""
    page: Path
    kind: str
    start: int
    end: int
    commands: list[Command]
    slow: bool = False
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.start}"


class Outcome(NamedTuple):
    """What one command or example did: the output a terminal (or doctest) shows, the wall time in
    seconds, and whether it failed (a non-zero exit status of the whole pipeline; an exception)."""
    output: str
    seconds: float
    failed: bool


def unexpected_failure(command: Command, outcome: Outcome) -> bool:
    """A failure the page does not show: a command failing where the page shows no error line, or an
    example raising where the page shows no traceback (the package mid-edit, an option renamed)."""
    if not outcome.failed:
        return False
    shown = command.shown.lower()
    return not ("error" in shown or "traceback" in shown)


def _parse_console(body: list[str]) -> list[Command]:
    commands: list[Command] = []
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            raise ValueError(f"console block: output before the first '$ ' command: {body[i]!r}")
        src = [body[i][2:]]
        while src[-1].endswith("\\") and i + 1 < len(body):
            i += 1
            src.append(body[i])
        i += 1
        out = []
        while i < len(body) and not body[i].startswith("$ "):
            out.append(body[i])
            i += 1
        commands.append(Command("\n".join(src), "\n".join(out)))
    return commands


def _parse_python(body: list[str]) -> list[Command]:
    examples = doctest.DocTestParser().get_examples("\n".join(body) + "\n")
    # doctest writes an empty output line as <BLANKLINE>; the comparison sees the empty line printed
    return [Command(e.source.rstrip("\n"), e.want.rstrip("\n").replace("<BLANKLINE>", ""))
            for e in examples]


def parse(page: Path) -> list[Block]:
    """Every ```console and ```python block of a page, in order.

    Parameters
    ----------
    page : Path
        A Markdown page.

    Returns
    -------
    list of Block
        One per fenced block whose opening line is exactly ```` ```console ```` or ```` ```python ````
        (no indentation), with its commands and the outputs shown, and its annotation (``slow``,
        ``rtol``, ``atol``) from a ``<!-- snippet: ... -->`` line right above it.

    Raises
    ------
    ValueError
        An unclosed fence, an empty block, console output before the first command, or an unknown
        annotation word.
    """
    lines = page.read_text().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{i + 1}: unclosed fence")
        body = lines[i + 1:j]
        kind = m.group(1)
        commands = _parse_console(body) if kind == "console" else _parse_python(body)
        block = Block(page, kind, i + 1, j, commands)
        if not block.commands:
            raise ValueError(f"{page}:{i + 1}: empty {kind} block")
        note = ANNOTATION.match(lines[i - 1]) if i else None
        if note:
            for word in note.group(1).split():
                if word == "slow":
                    block.slow = True
                elif word.startswith("rtol="):
                    block.rtol = float(word[5:])
                elif word.startswith("atol="):
                    block.atol = float(word[5:])
                else:
                    raise ValueError(f"{page}:{i}: unknown snippet annotation {word!r}")
        blocks.append(block)
        i = j + 1
    return blocks


def count_fences(page: Path) -> int:
    """Opening fences naming console or python, found independently of :func:`parse` (any indentation)."""
    return len(ANY_FENCE.findall(page.read_text()))


# ----------------------------------------------------------------------------------------------- running

def _terminal(text: str) -> str:
    """What a terminal shows: each line after its last carriage return, trailing blanks removed, no
    plain progress lines (:data:`PROGRESS`)."""
    lines = [line.split("\r")[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if not PROGRESS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg", COLUMNS="100")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def run_console(block: Block) -> list[Outcome]:
    """Run a console block's commands, in order, in one fresh temporary folder.

    Parameters
    ----------
    block : Block
        A ``console`` block.

    Returns
    -------
    list of Outcome
        Per command: what a terminal shows (stdout and stderr merged, see :func:`_terminal`), the wall
        time in seconds, and whether the pipeline failed (bash with ``pipefail``: any command of it).
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="linkernel-snippet-") as folder:
        for command in block.commands:
            t0 = time.perf_counter()
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", command.source], cwd=folder,
                                  env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
            results.append(Outcome(_terminal(proc.stdout), time.perf_counter() - t0, proc.returncode != 0))
    return results


def _exception_text(exc: BaseException) -> str:
    name = type(exc).__qualname__
    return f"Traceback (most recent call last):\n    ...\n{name}: {exc}"


def run_python(blocks: list[Block]) -> list[list[Outcome]]:
    """Run one page's python blocks in order, in one namespace and one temporary folder.

    Parameters
    ----------
    blocks : list of Block
        The ``python`` blocks of one page, in page order.

    Returns
    -------
    list of list of Outcome
        Per block, per example: what doctest would compare (stdout, and the repr of an expression's
        value), the wall time in seconds, and whether it raised.
    """
    namespace: dict = {"__name__": "__main__"}
    results = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="linkernel-snippet-") as folder:
        os.chdir(folder)
        try:
            for block in blocks:
                outs = []
                for command in block.commands:
                    buffer = io.StringIO()
                    t0 = time.perf_counter()
                    raised = False
                    with contextlib.redirect_stdout(buffer):
                        try:
                            exec(compile(command.source + "\n", f"<{block.name}>", "single"), namespace)
                        except Exception as exc:  # shown as doctest shows it
                            print(_exception_text(exc))
                            raised = True
                    outs.append(Outcome(_terminal(buffer.getvalue()), time.perf_counter() - t0, raised))
                results.append(outs)
        finally:
            os.chdir(cwd)
    return results


# ------------------------------------------------------------------------------------------- comparison

def _unit(token: str) -> float:
    """One unit in the last printed place of ``token``; 0 for an integer (counts are exact)."""
    if not any(c in token for c in ".eE"):
        return 0.0
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _numbers(text: str) -> tuple[str, list[tuple[str, bool]]]:
    """The text with every number replaced by '#', and the numbers with whether each is a timing."""
    found = []
    for m in NUMBER.finditer(text):
        found.append((m.group(), bool(TIME_UNIT.match(text, m.end()))))
    return NUMBER.sub("#", text), found


def compare(shown: str, actual: str, rtol: float = 0.0, atol: float = 0.0) -> list[str]:
    """Differences between a shown and a fresh output; empty when they agree.

    The text around the numbers must be the same (whitespace runs count as one). Each number must agree
    to the precision it is printed with (one unit in its last place, so a rounding that flips the last
    digit passes; integers exactly), or within ``rtol`` relative plus ``atol`` absolute (a block's
    annotation), or both be below 1e-12 in magnitude (rounding-level residuals). Timings are not
    compared.

    Parameters
    ----------
    shown, actual : str
        The output on the page and the output of a fresh run.
    rtol, atol : float
        The block's tolerances (0 unless annotated).

    Returns
    -------
    list of str
        One line per disagreement (the whole outputs when the text differs); empty when they agree.
    """
    s_text, s_nums = _numbers(" ".join(shown.split()))
    a_text, a_nums = _numbers(" ".join(actual.split()))
    if s_text != a_text:
        return [f"text differs:\n--- shown\n{shown}\n--- now\n{actual}"]
    problems = []
    for (s, timing), (a, _) in zip(s_nums, a_nums):
        if timing:
            continue
        x, y = float(s), float(a)
        if abs(x - y) <= _unit(s) * 1.000001 or abs(x - y) <= rtol * max(abs(x), abs(y)) + atol:
            continue
        if abs(x) < ROUNDING and abs(y) < ROUNDING:
            continue
        problems.append(f"shown {s}, now {a}")
    return problems


# -------------------------------------------------------------------------------------------- rewriting

def _format_python(command: Command, output: str) -> list[str]:
    src = command.source.split("\n")
    lines = [">>> " + src[0]] + ["... " + s for s in src[1:]]
    return lines + [line if line else "<BLANKLINE>" for line in output.split("\n")] if output else lines


def _format_console(command: Command, output: str) -> list[str]:
    src = command.source.split("\n")
    return ["$ " + src[0]] + src[1:] + (output.split("\n") if output else [])


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


def timed(command: str) -> float | None:
    """Wall time in seconds of ``command`` run in a fresh temporary folder; None when it fails."""
    with tempfile.TemporaryDirectory(prefix="linkernel-timing-") as folder:
        t0 = time.perf_counter()
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=folder, env=environment(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return None if proc.returncode else time.perf_counter() - t0


def _seconds(s: float) -> str:
    return f"{s:.1f}" if s < 100 else f"{s:.0f}"


def regenerate(page: Path, skip_slow: bool = False, write: bool = True) -> list[str]:
    """Rerun one page's snippets and timing statements and rewrite the page.

    Parameters
    ----------
    page : Path
        The page.
    skip_slow : bool
        Leave blocks annotated ``slow`` as they are (and the page's machine line, which then would not
        describe every output).
    write : bool
        Write the page; False only reports.

    Returns
    -------
    list of str
        One line per snippet (kind, commands, seconds, "over 10 s" where it is not marked slow) and per
        timing statement; a block whose command crashed with a traceback is left as it was and its line
        says ``NOT REWRITTEN`` with the traceback.
    """
    lines = page.read_text().split("\n")
    blocks = parse(page)
    load_before = load()
    report: list[str] = []
    times = _TIMES
    outputs: dict[int, list[Outcome]] = {}
    python = [b for b in blocks if b.kind == "python"]
    if python and not (skip_slow and any(b.slow for b in python)):
        for block, result in zip(python, run_python(python)):
            outputs[block.start] = result
    for block in blocks:
        if block.kind == "console" and not (skip_slow and block.slow):
            outputs[block.start] = run_console(block)
    for block in reversed(blocks):  # bottom up, so earlier line numbers stay valid
        if block.start not in outputs:
            report.append(f"{block.name}: skipped (slow)")
            continue
        result = outputs[block.start]
        body: list[str] = []
        for command, outcome in zip(block.commands, result):
            fmt = _format_console if block.kind == "console" else _format_python
            body += fmt(command, outcome.output)
            times.setdefault(command.source, None if outcome.failed else outcome.seconds)
        # A failure is never written over a page's output (the package may be mid-edit, an option
        # renamed): only where the page already shows one (an error line, the traceback of an example).
        broken = [(c, o) for c, o in zip(block.commands, result) if unexpected_failure(c, o)]
        if broken:
            command, outcome = broken[0]
            report.append(f"{block.name}: NOT REWRITTEN, {command.source.splitlines()[0]!r} failed:\n"
                          + outcome.output)
            continue
        total = sum(o.seconds for o in result)
        _TOTALS["slow" if block.slow else "default"] += total
        flag = " (over 10 s, not marked slow)" if total > SLOW_S and not block.slow else ""
        report.append(f"{block.name}: {block.kind}, {len(block.commands)} command(s), {total:.1f} s{flag}")
        lines[block.start:block.end] = body
    text = "\n".join(lines)

    def timing(m: re.Match) -> str:
        command = m.group(1)
        if command not in times:
            times[command] = timed(command)
        if times[command] is None:
            report.append(f"{page.relative_to(ROOT)}: timing {command!r}: NOT REWRITTEN, the command failed")
            return m.group()
        report.append(f"{page.relative_to(ROOT)}: timing {command!r}: {times[command]:.2f} s")
        return f"<!-- timing: {command} -->{_seconds(times[command])} s"

    text = TIMING.sub(timing, text)
    if not skip_slow or not any(b.slow for b in blocks):
        # the marker ends the line: a line starting with an HTML comment would be a raw HTML block
        stamp = (f"*Outputs and timings on this page: `python docs/regenerate.py`, "
                 f"{datetime.date.today().isoformat()}, {machine()}, load {load_before}-{load()} "
                 f"(one-minute average before and after).* <!-- regenerated -->")
        text = STAMP.sub(lambda m: stamp, text)
    if write:
        page.write_text(text)
    return report[::-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages to regenerate (default: all)")
    parser.add_argument("--skip-slow", action="store_true", help="leave snippets marked slow as they are")
    parser.add_argument("--dry-run", action="store_true", help="run and report, write nothing")
    args = parser.parse_args(argv)
    failed = False
    for page in [p.resolve() for p in args.pages] or pages():
        t0 = time.perf_counter()
        for line in regenerate(page, skip_slow=args.skip_slow, write=not args.dry_run):
            failed |= "NOT REWRITTEN" in line
            print(line, flush=True)
        print(f"{page.relative_to(ROOT)}: {time.perf_counter() - t0:.1f} s, load {load()}", flush=True)
    print(f"snippets: {_TOTALS['default']:.1f} s in the default test suite, {_TOTALS['slow']:.1f} s marked "
          f"slow (load {load()})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: parse, call one library function, print its result's ``summary()``.

Every subcommand is a thin wrapper around a function of the package: it
parses its arguments, checks the output paths, calls the function and prints
the result's ``summary()`` (or, with ``--json``, its ``to_dict()`` as strict
JSON).  Bad input (ValueError) and numerical failure (ConvergenceError and
other RuntimeErrors of the package) become one line on stderr and exit
status 2.

One vocabulary across subcommands: ``--arch`` is ``rnn``, ``dnn`` or a
weight-sharing pattern as JSON (``'{"W": [[1,2,3],[4,5]]}'``); ``--lam`` is
one signal strength, ``--lam-range LO:HI`` a range, ``--lams a,b,c`` a list.
"""

from __future__ import annotations

import argparse
import sys

from linkernel.cli import commands  # noqa: F401  (registers the subcommands)
from linkernel.cli.options import COMMANDS, Parser


# --- entry point ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from linkernel import __version__
    parser = Parser(prog="linkernel", allow_abbrev=False,
                    description="Kernel theory of feature learning in linear RNNs and DNNs.")
    parser.add_argument("--version", action="version", version=f"linkernel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (help_, fn, aliases) in COMMANDS.items():
        sp = sub.add_parser(name, aliases=list(aliases), help=help_, description=help_, allow_abbrev=False)
        sp.set_defaults(_run=fn(sp))
    return parser


def _warning_line(command: str, w) -> str:
    return f"linkernel {command}: warning: {w.message}".replace("\n", " ").rstrip() + "\n"


def _closed_stdout() -> int:
    """The reader of stdout went away (``linkernel trace --csv | head -2``): stop quietly, as ``cat`` does.

    stdout is pointed at /dev/null so that Python's flush at exit does not raise again."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):   # no file descriptor (captured stdout): nothing to redirect
        pass
    return 0


def main(argv=None) -> int:
    """Run one subcommand; errors become one stderr line and exit status 2.

    Warnings raised by the package (a run cut short, a sampler not converged)
    are printed as one line each after the result; warnings of the numerical
    libraries (numpy's RuntimeWarnings on the way to a refused input) are not
    shown: the result's own fields and the package's warning say what matters.
    """
    import warnings

    args = build_parser().parse_args(argv)
    import numpy as np

    from linkernel.errors import ConvergenceError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="ignore"):
                args._run(args)
            sys.stdout.flush()
        except BrokenPipeError:
            return _closed_stdout()
        except (ValueError, ConvergenceError) as e:
            sys.stderr.write(f"linkernel {args.command}: error: {e}\n".replace("\n", " ").rstrip() + "\n")
            return 2
        except RuntimeError as e:  # numerical failure reported by the package
            sys.stderr.write(f"linkernel {args.command}: numerical failure: {e}\n".replace("\n", " ").rstrip()
                             + "\n")
            return 2
        except (OverflowError, ZeroDivisionError, FloatingPointError) as e:
            # a safety net: the library refuses such inputs up front; if one slips through it is still
            # one line, not a traceback
            sys.stderr.write(f"linkernel {args.command}: numerical failure: {type(e).__name__}: {e}\n"
                             .replace("\n", " ").rstrip() + "\n")
            return 2
        except MemoryError:
            sys.stderr.write(f"linkernel {args.command}: error: the problem is too large for this machine's "
                             "memory; reduce T or P\n")
            return 2
    seen = set()
    for w in caught:
        if getattr(w.category, "__module__", "").startswith("linkernel") and str(w.message) not in seen:
            seen.add(str(w.message))
            sys.stderr.write(_warning_line(args.command, w))
    return 0

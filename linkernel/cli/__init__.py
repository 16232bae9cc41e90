"""Command line: parse, call one library function, print its result's ``summary()``.

Every subcommand is a thin wrapper around a function of the package: it
parses its arguments, checks the output paths, calls the function and prints
the result's ``summary()`` (or, with ``--json``, its ``to_dict()`` as strict
JSON).  Bad input (ValueError) and numerical failure (ConvergenceError and
other RuntimeErrors of the package) become one line on stderr and exit
status 2, in one format: ``linkernel SUBCOMMAND: error: --OPTION VALUE: what
is allowed``.

One vocabulary across subcommands (:mod:`linkernel.cli.vocabulary`): ``--arch``
is ``rnn``, ``dnn`` or a weight-sharing pattern as JSON (``'{"W": [[1,2],[3]]}'``);
``--lam`` is one signal strength, ``--lam-range LO HI`` an interval, ``--lams
a,b,c`` a list; integers may be written 1e6.  Progress goes to stderr (a bar on a
terminal, a line every few seconds otherwise), and the package's warnings are
printed, one line each, when they are raised.
"""

from __future__ import annotations

import argparse
import sys

from linkernel.cli import commands  # noqa: F401  (registers the subcommands)
from linkernel.cli.options import COMMANDS
from linkernel.cli.vocabulary import Parser


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


def _warning_line(prog: str, message) -> str:
    return " ".join(f"{prog}: warning: {message}".split("\n")).rstrip() + "\n"


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
    are printed as one line each when they are raised; warnings of the numerical
    libraries (numpy's RuntimeWarnings on the way to a refused input) are not
    shown: the result's own fields and the package's warning say what matters.
    """
    import warnings

    from linkernel import progress
    from linkernel.cli.vocabulary import error_line, library_text

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    sub = _subparser(parser, args.command)
    if extra:            # said by the subcommand's parser, so that the line names the subcommand
        sub.error("unrecognized arguments: " + " ".join(extra))
    args._argv = argv
    prog = sub.prog
    import numpy as np

    from linkernel.errors import ConvergenceError
    seen = set()

    def print_warning(message, category, filename, lineno, file=None, line=None):
        if getattr(category, "__module__", "").startswith("linkernel") and str(message) not in seen:
            seen.add(str(message))
            sys.stderr.write(_warning_line(prog, message))
            sys.stderr.flush()

    prefix = progress.LINE_PREFIX
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = print_warning
        progress.LINE_PREFIX, progress.HEARTBEAT = f"{prog}: ", True
        try:
            with np.errstate(all="ignore"):
                args._run(args)
            sys.stdout.flush()
        except BrokenPipeError:
            return _closed_stdout()
        except (ValueError, ConvergenceError) as e:
            sys.stderr.write(error_line(prog, library_text(sub, argv, str(e))))
            return 2
        except RuntimeError as e:  # numerical failure reported by the package
            sys.stderr.write(error_line(prog, f"numerical failure: {e}"))
            return 2
        except (OverflowError, ZeroDivisionError, FloatingPointError) as e:
            # a safety net: the library refuses such inputs up front; if one slips through it is still
            # one line, not a traceback
            sys.stderr.write(error_line(prog, f"numerical failure: {type(e).__name__}: {e}"))
            return 2
        except MemoryError:
            sys.stderr.write(error_line(prog, "the problem is too large for this machine's memory; reduce T or P"))
            return 2
        finally:
            progress.stop_all()
            progress.LINE_PREFIX, progress.HEARTBEAT = prefix, False
    return 0


def _subparser(parser, name: str):
    """The parser of subcommand ``name`` (an alias gives its command's parser)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]

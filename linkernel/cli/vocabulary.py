"""The CLI's one vocabulary: the parser class, the argument types, the concepts every subcommand
shares (their option names, defaults and help texts) and the one error format.

Every error, argparse's own included, is one line on stderr and exit status 2::

    linkernel SUBCOMMAND: error: --OPTION VALUE: what is allowed

(errors that belong to no single option, such as a numerical failure, keep the first part:
``linkernel SUBCOMMAND: error: what went wrong``).

Imports nothing that computes: ``linkernel --help`` must not pay for SciPy, SymPy or matplotlib.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from linkernel import validation

# --- the concepts: one option name, one default, one help text each -----------------------------
# The help of an option is HELP[concept], then an optional note after "; " (what this subcommand does
# with it), then "(default ...)".  tests/test_cli_vocabulary.py reads them back from every subcommand.
LAM_DEFAULT = 2.0
LAM_RANGE_DEFAULT = (0.5, 3.0)
LAMS_DEFAULT = (1.4, 1.62, 1.8)
DIGITS_DEFAULT = 30
DIGITS_LIMITS = (15, 500)
SEED_DEFAULT = 0
HELP = {
    "lam": "signal strength lambda, y = lambda * yhat",
    "lam_range": "an interval of lambda, LO HI (e.g. --lam-range 0.5 3)",
    "lams": "several lambdas, comma-separated (e.g. --lams 1.4,1.62,1.8)",
    "digits": f"significant digits of the high-precision (mpmath) values, {DIGITS_LIMITS[0]}..{DIGITS_LIMITS[1]}",
    "seed": "random seed",
    "json": "print the result as one JSON object on stdout",
    "plot": "also write the result's figure to this file (.png, .pdf, .svg, ...)",
    "out": "output folder",
    "no_progress": "no progress on stderr (shown by default: a bar on a terminal, a line every few seconds "
                   "otherwise)",
}


def help_text(concept: str, default: str | None, note: str = "") -> str:
    """``HELP[concept]``, ``; note`` when given, and ``(default ...)`` (None: no default clause)."""
    text = HELP[concept] + (f"; {note}" if note else "")
    return text if default is None else f"{text} (default {default})"


def fmt_default(value) -> str:
    """A default as the user types it: 2 for 2.0, ``0.5 3`` for an interval, ``1.4,1.62,1.8`` for a list."""
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], str):
        return " ".join(fmt_default(v) for v in value)
    if isinstance(value, (list, tuple)):
        return ",".join(fmt_default(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --- the one error format -------------------------------------------------------------------------
def show_value(text) -> str:
    """A value as it appears in an error line: as typed (an interval's two numbers, a pattern's JSON),
    quoted only when empty."""
    text = str(text)
    return repr(text) if not text.strip() else text


def error_line(prog: str, text: str) -> str:
    """``PROG: error: TEXT`` as one line (newlines in TEXT become spaces)."""
    return " ".join(f"{prog}: error: {text}".split("\n")).rstrip() + "\n"


_HEAD = re.compile(r"^(?P<name>(?:--)?[A-Za-z_][\w\-]*)=(?P<value>.*) (?:is|are) (?P<what>.+)$", re.S)


def reason(message: str) -> str:
    """What is allowed, from a :mod:`linkernel.validation` message: ``"T='0' is invalid; T must be an
    integer >= 1"`` -> ``"T must be an integer >= 1"`` (the option and its value are said before it)."""
    head, sep, tail = message.partition("; ")
    m = _HEAD.match(head)
    if m is None:
        return message
    what = m["what"]
    if what == "invalid":
        return tail or head
    return f"{what}; {tail}" if tail else what


class Formatter(argparse.HelpFormatter):
    """Help and usage: an interval shows as ``LO HI``."""

    def _format_args(self, action, default_metavar):
        if isinstance(action, IntervalAction):
            return "LO HI"
        return super()._format_args(action, default_metavar)


_ARGUMENT = re.compile(r"^argument (?P<opt>[^:]+?): (?P<msg>.*)$", re.S)
_CHOICE = re.compile(r"^invalid choice: (?P<value>'.*'|\S+) \(choose from (?P<allowed>.*)\)$", re.S)


def argparse_text(message: str, prog: str) -> str:
    """argparse's own error message in the one format (``--OPTION VALUE: what is allowed``)."""
    m = _ARGUMENT.match(message)
    if m is not None:
        opt, msg = m["opt"].split("/")[0], m["msg"]
        c = _CHOICE.match(msg)
        if c is not None:
            value = c["value"][1:-1] if c["value"].startswith("'") else c["value"]
            return f"{opt} {show_value(value)}: allowed: {c['allowed'].replace(chr(39), '')}"
        if msg.startswith("not allowed with argument "):
            return f"{opt}: not allowed together with {msg[len('not allowed with argument '):]}; give one of them"
        if msg.startswith("expected "):
            return f"{opt}: {msg} (see '{prog} --help')"
        return f"{opt} {msg}"      # our types' text: "VALUE: what is allowed"
    if message.startswith("unrecognized arguments: "):
        return f"{message[len('unrecognized arguments: '):]}: not an option of '{prog}' (see '{prog} --help')"
    if message.startswith("the following arguments are required: "):
        return f"{message[len('the following arguments are required: '):]}: required (see '{prog} --help')"
    return message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line in the one format, exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(error_line(self.prog, argparse_text(message, self.prog)))
        raise SystemExit(2)


def _option_value(parser, argv, option: str) -> str | None:
    """The text the user gave ``option`` in ``argv`` (the last time; an interval's two numbers joined)."""
    action = next((a for a in parser._actions if option in a.option_strings), None)
    if action is None:
        return None
    value = None
    for i, tok in enumerate(argv):
        if tok in action.option_strings:
            rest = [t for t in argv[i + 1:i + 3]]
            n = 2 if isinstance(action, IntervalAction) and len(rest) == 2 and not rest[1].startswith("-") \
                and ":" not in rest[0] else 1
            value = " ".join(rest[:n]) if rest else None
        elif tok.split("=", 1)[0] in action.option_strings and "=" in tok:
            value = tok.split("=", 1)[1]
    return value


#: names in the package's messages that are an option under another name
ALIASES = {"W": "--arch", "U": "--arch", "architecture": "--arch", "pattern": "--arch",
           "param_range": "--range", "n_starts": "--starts", "block_rows": "--rows",
           "extrapolate_duration": "--extrapolate"}


def library_text(parser, argv, message: str) -> str:
    """A ValueError's message in the one format, where it names an option of this subcommand.

    ``--P: invalid for --task sinusoid; ...`` (the CLI's own) and ``P=2 is invalid; ...`` (the
    package's) both become ``--P 2: ...``, the value as the user typed it."""
    options = {s for a in parser._actions for s in a.option_strings}
    m = re.match(r"^(?P<opt>--[A-Za-z][\w\-]*): (?P<rest>.*)$", message, re.S)
    if m is not None and m["opt"] in options:
        value = _option_value(parser, argv, m["opt"])
        return f"{m['opt']}{'' if value is None else ' ' + show_value(value)}: {m['rest']}"
    h = _HEAD.match(message.partition("; ")[0])
    if h is None:
        return message
    name = h["name"]
    opt = name if name.startswith("--") else ALIASES.get(name, "--" + name.replace("_", "-"))
    if opt not in options:
        return message
    value = _option_value(parser, argv, opt)
    if value is None:
        value = h["value"][1:-1] if h["value"][:1] in "'\"" and h["value"][-1:] == h["value"][:1] else h["value"]
    return f"{opt} {show_value(value)}: {reason(message)}"


# --- argument types -------------------------------------------------------------------------------
def _typed(check, name, *args):
    """An argparse ``type=``: ``check(name, text, *args)``; its ValueError becomes ``VALUE: what is allowed``."""
    def parse(text):
        try:
            return check(name, text, *args)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{show_value(text)}: {reason(str(e))}") from None
        except OverflowError:       # a number beyond float range ("1e400"): no traceback
            raise argparse.ArgumentTypeError(f"{show_value(text)}: beyond the float range") from None
    parse.__name__ = name
    return parse


def whole_number(name: str, text, low: int = 1, high: int | None = None) -> int:
    """An integer in low..high written as 12, 1e6 or 2048.0; ``1.5`` and ``1e400`` are refused."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    t = str(text).strip()
    try:
        value = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            raise ValueError(f"{name}={text!r} is invalid; expected {allowed}") from None
        if not (math.isfinite(f) and f.is_integer()):
            raise ValueError(f"{name}={text!r} is invalid; expected {allowed}") from None
        value = int(f)
    return validation.integer(name, value, low, high)


def int_arg(name, low=1, high=None):
    """An integer in low..high (no upper bound by default); 1e6 and 2048.0 are integers too."""
    return _typed(whole_number, name, low, high)


def float_arg(name, positive=True):
    """A finite float (positive unless ``positive=False``)."""
    return _typed(validation.positive if positive else validation.finite, name)


def float_list(name):
    """Comma-separated finite numbers (``1.4,1.62,1.8``)."""
    return _typed(validation.listed, name, validation.finite, "numbers")


def int_list(name, low=1):
    """Comma-separated integers >= low (``3,4,5``)."""
    return _typed(validation.listed, name, lambda n, t: whole_number(n, t, low), f"integers >= {low}")


class IntervalAction(argparse.Action):
    """``--OPTION LO HI`` (or the older ``LO:HI``): ``low < LO < HI < inf`` (and within ``bounds``)."""

    def __init__(self, option_strings, dest, bounds=None, refuse=None, **kwargs):
        kwargs["nargs"] = "+"
        super().__init__(option_strings, dest, **kwargs)
        self.bounds, self.refuse = bounds, refuse

    def __call__(self, parser, namespace, values, option_string=None):
        text = " ".join(values)
        if self.refuse is not None:
            raise argparse.ArgumentError(self, f"{show_value(text)}: {self.refuse}")
        if len(values) == 1 and ":" in values[0]:
            values = values[0].split(":", 1)
        if len(values) != 2:
            raise argparse.ArgumentError(self, f"{show_value(text)}: expected two numbers LO HI, e.g. 0.5 3")
        try:
            lo, hi = (float(v) for v in values)
        except ValueError:
            raise argparse.ArgumentError(self, f"{show_value(text)}: expected two numbers LO HI, e.g. 0.5 3") \
                from None
        if not 0 < lo < hi < math.inf:
            raise argparse.ArgumentError(self, f"{show_value(text)}: need 0 < LO < HI < inf")
        if self.bounds is not None and (lo < self.bounds[0] or hi > self.bounds[1]):
            raise argparse.ArgumentError(self, f"{show_value(text)}: the interval must lie within "
                                               f"{self.bounds[0]:g} {self.bounds[1]:g}")
        setattr(namespace, self.dest, (lo, hi))


def _refusing(why: str):
    """A ``type=`` that refuses every value, saying what to use instead."""
    def refuse(text):
        raise argparse.ArgumentTypeError(f"{show_value(text)}: {why}")
    return refuse


# --- the shared options ---------------------------------------------------------------------------
def add_lambda_args(p, use=("lam",), why: str = "", range_default=LAM_RANGE_DEFAULT, range_note: str = "",
                    lam_default=LAM_DEFAULT, lam_note: str = "", lam_default_text: str = "none") -> None:
    """--lam (one lambda), --lam-range LO HI (an interval), --lams A,B,C (a list): those in ``use``
    with the shared help and defaults; the others hidden, refused with ``why`` (what to use instead).

    ``lam_default`` None: --lam has no default here (``lam_default_text`` says what applies); ``range_default``
    None: the interval is located by the computation (``range_note`` says how)."""
    both = p.add_mutually_exclusive_group() if "lam" in use and "lams" in use else p
    if "lam" in use:
        both.add_argument("--lam", type=float_arg("lam", positive=False), default=None, metavar="LAMBDA",
                       help=help_text("lam", lam_default_text if lam_default is None else fmt_default(lam_default),
                                         lam_note))
        p.set_defaults(_lam_default=lam_default)
    else:
        p.add_argument("--lam", type=_refusing(why), default=None, help=argparse.SUPPRESS)
    if "lam_range" in use:
        p.add_argument("--lam-range", action=IntervalAction, default=range_default,
                       help=help_text("lam_range", "located" if range_default is None else fmt_default(range_default),
                                      range_note))
    else:
        p.add_argument("--lam-range", action=IntervalAction, refuse=why, default=None, help=argparse.SUPPRESS)
    if "lams" in use:
        both.add_argument("--lams", type=float_list("lams"), default=list(LAMS_DEFAULT), metavar="A,B,C",
                       help=help_text("lams", fmt_default(LAMS_DEFAULT)))
    else:
        p.add_argument("--lams", type=_refusing(why), default=None, help=argparse.SUPPRESS)


def lam_value(args):
    """--lam, or this subcommand's default (LAM_DEFAULT)."""
    return args.lam if args.lam is not None else getattr(args, "_lam_default", LAM_DEFAULT)


def add_digits_arg(p, note: str = "") -> None:
    p.add_argument("--digits", type=int_arg("digits", *DIGITS_LIMITS), default=DIGITS_DEFAULT,
                   help=help_text("digits", str(DIGITS_DEFAULT), note))


def add_seed_arg(p, note: str = "") -> None:
    p.add_argument("--seed", type=int_arg("seed", low=0), default=SEED_DEFAULT,
                   help=help_text("seed", str(SEED_DEFAULT), note))


def add_json_arg(p, note: str = "") -> None:
    p.add_argument("--json", action="store_true", help=help_text("json", None, note))


def add_plot_arg(p, note: str = "") -> None:
    p.add_argument("--plot", metavar="PATH", default=None, help=help_text("plot", None, note))


def add_out_arg(p, default: str, note: str = "") -> None:
    p.add_argument("--out", metavar="FOLDER", default=default, help=help_text("out", f"{default}/", note))


def add_progress_arg(p) -> None:
    p.add_argument("--no-progress", action="store_true", help=help_text("no_progress", None))


def progress_on(args) -> bool:
    return not getattr(args, "no_progress", False)


def given_on_command_line(args, option: str) -> bool:
    """Whether ``option`` was typed (its value may equal the default); main() keeps the argv in ``args._argv``."""
    return any(tok == option or tok.startswith(option + "=") for tok in getattr(args, "_argv", ()))

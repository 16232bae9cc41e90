"""Text helpers for the results' ``summary()`` methods (the text the CLI prints)."""

from __future__ import annotations

import numpy as np


def _zero_signed(fmt: str, x: float) -> str:
    """``fmt`` of x, with a value that prints as zero printed as 0 (no -0.000000)."""
    text = fmt.format(x)
    try:
        return fmt.format(0.0) if float(text) == 0 else text
    except ValueError:
        return text


def format_matrix(M, fmt: str = "{:10.6f}") -> str:
    """Rows of formatted numbers, indented two spaces; entries that print as zero print as 0.000000."""
    M = np.atleast_2d(np.asarray(M, dtype=float))
    return "\n".join("  " + " ".join(_zero_signed(fmt, x) for x in row) for row in M)


def task_name(problem) -> str:
    """``"RNN endpoint task"``, ``"DNN sequence task"``, ``'{"W":...} problem'``: the problem as a title."""
    label = problem.arch.label
    return f"{label} {problem.name} task" if problem.name not in ("", "custom") else f"{label} problem"


def hyper_text(problem, keys=("kappa", "w", "v", "u")) -> str:
    """``kappa=0.1 w=1 v=1 u=1`` (``lam`` is written ``lambda``)."""
    return " ".join(f"{'lambda' if k == 'lam' else k}={getattr(problem, k):g}" for k in keys)

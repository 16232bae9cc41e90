"""Text helpers for the results' ``summary()`` methods (the text the CLI prints)."""

from __future__ import annotations

import numpy as np


def format_matrix(M, fmt: str = "{:10.6f}") -> str:
    """Rows of formatted numbers, indented two spaces; adding 0.0 turns printed -0.000000 into 0.000000."""
    M = np.round(np.atleast_2d(np.asarray(M, dtype=float)), 12) + 0.0
    return "\n".join("  " + " ".join(fmt.format(x) for x in row) for row in M)


def task_name(problem) -> str:
    """``"RNN endpoint task"``, ``"DNN sequence task"``, ``'{"W":...} problem'``: the problem as a title."""
    label = problem.arch.label
    return f"{label} {problem.name} task" if problem.name not in ("", "custom") else f"{label} problem"


def hyper_text(problem, keys=("kappa", "w", "v", "u")) -> str:
    """``kappa=0.1 w=1 v=1 u=1`` (``lam`` is written ``lambda``)."""
    return " ".join(f"{'lambda' if k == 'lam' else k}={getattr(problem, k):g}" for k in keys)

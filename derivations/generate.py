"""Regenerate the committed derivations: RNN and DNN endpoint task, T = 2..5, P = 1.

Run from the repository root:

    python derivations/generate.py          # same as: linkernel derive --all --out derivations

tests/test_latex.py checks that the committed .tex files equal a fresh run and
that each compiles with pdflatex.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkernel.symbolic.latex import write_standard_set  # noqa: E402

if __name__ == "__main__":
    write_standard_set(Path(__file__).resolve().parent, progress=True)

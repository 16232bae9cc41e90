"""Write derivations/finite_width.tex: the 1/N theory and its closed forms (linkernel.symbolic.finite_width).

Run from the repository root: ``python derivations/finite_width.py`` (about a minute), then
``pdflatex -interaction=nonstopmode -halt-on-error finite_width.tex`` in derivations/.
"""

from linkernel.symbolic.finite_width import write_document

if __name__ == "__main__":
    print(write_document("derivations/finite_width.tex"))

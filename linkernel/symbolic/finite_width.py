"""The 1/N correction delta_H in closed form (SymPy) on the symmetric branch of the endpoint task, P = 1.

Same formula as :mod:`linkernel.theory.finite_width` (derivations/finite_width.tex):

    delta_h = A^-1 [ grad R - 1/2 S''' : A^-1 ],   A = d^2 S / dh dh,
    R(H) = -(T + 1)/2 ln det H - 1/2 ln(v H^{T-1,T-1} + kappa),

in the independent entries h of H (upper triangle; a linear change of
coordinates leaves delta_H unchanged).  On the symmetric branch H* is diagonal,
``H^{tt} = q_t``; the result is a rational function of the q_t and of
``w, v, u, kappa, lambda`` (the q_t solve the saddle-point equations,
:mod:`linkernel.symbolic.symmetric_branch`).  :func:`write_document` writes
derivations/finite_width.tex with these closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import sympy as sp

from linkernel import tasks, validation
from linkernel.symbolic.action import HYPER, _blocks, kappa, lam, symbolic_action, u, v, w


@dataclass(frozen=True, eq=False)
class SymbolicCorrection:
    """delta_H on the symmetric branch as closed forms in the branch parameter ``q_0 = H*^{00}``.

    ``matrix`` (T x T SymPy); ``branch`` maps q_1..q_{T-1} and lambda^2 to their expressions in q_0
    (and the hyperparameters that were left symbolic; ``hyper`` those that were fixed).
    """

    arch: str
    T: int
    q: tuple
    branch: dict
    matrix: sp.Matrix
    hyper: dict

    def numeric(self, H, problem) -> np.ndarray:
        """Evaluate at q_0 = H[0, 0] (a symmetric-branch kernel) and the problem's hyperparameters."""
        vals = dict(zip(HYPER, (problem.w, problem.v, problem.u, problem.kappa, problem.lam)))
        vals[self.q[0]] = float(H[0, 0])
        return np.array(self.matrix.evalf(subs=vals, n=30), dtype=float)


PAPER = {"w": 1, "v": 1, "u": 1, "kappa": sp.Rational(1, 10)}


@lru_cache(maxsize=None)
def _correction(arch: str, T: int, fixed: tuple) -> SymbolicCorrection:
    p = tasks.endpoint(arch, T=T)
    sa = symbolic_action(p)
    h = list(sa.symbols)
    Hm = sa.kernel
    names = dict(zip(("w", "v", "u", "kappa"), (w, v, u, kappa)))
    fix = {names[k]: sp.nsimplify(val) for k, val in fixed}
    q = tuple(sp.Symbol(f"q_{t}", positive=True) for t in range(T))
    at = {Hm[a, b]: (q[a] if a == b else 0) for a in range(T) for b in range(a, T)}
    L2 = sp.Symbol("Lambda2", positive=True)
    S = sa.expr.subs(fix).subs(lam ** 2, L2)
    # the symmetric branch: the diagonal saddle equations give q_{t+1}(q_0..q_t), the last one lambda^2
    br = {}
    for t in range(T - 1):
        e = sp.numer(sp.together(sp.diff(S, Hm[t, t]).subs(at).subs(br)))
        br[q[t + 1]] = sp.factor(next(s for s in sp.solve(e, q[t + 1]) if s != 0))
    e = sp.numer(sp.together(sp.diff(S, Hm[T - 1, T - 1]).subs(at).subs(br)))
    lam2 = sp.factor(sp.solve(e, L2)[0])

    def on_branch(expr):
        return sp.cancel(sp.together(expr.subs(at).subs(br).subs(L2, lam2)))

    R = (-sp.Rational(T + 1, 2) * sp.log(Hm.det(method="berkowitz"))
         - sp.log(v * Hm[T - 1, T - 1] + kappa) / 2).subs(fix)
    d2 = [[sp.diff(S, a, b) for b in h] for a in h]
    A = sp.Matrix([[on_branch(e) for e in row] for row in d2])
    Ainv = _block_inverse(A)
    c = sp.Matrix([sum(on_branch(sp.diff(d2[i][j], a)) * Ainv[i, j]
                       for i in range(len(h)) for j in range(len(h)) if Ainv[i, j] != 0) for a in h])
    gR = sp.Matrix([on_branch(sp.diff(R, a)) for a in h])
    dh = (Ainv * (gR - c / 2)).applyfunc(lambda e: sp.factor(sp.cancel(e)))
    M = sp.zeros(T, T)
    for k, a in enumerate(h):
        i, j = next((i, j) for i in range(T) for j in range(i, T) if Hm[i, j] == a)
        M[i, j] = M[j, i] = dh[k]
    branch = {**br, lam ** 2: lam2}
    return SymbolicCorrection(arch=arch, T=T, q=q, branch=branch, matrix=M, hyper=dict(fixed))


def symbolic_correction(arch: str = "rnn", T: int = 2, hyper: dict | None = None) -> SymbolicCorrection:
    """delta_H in closed form for the endpoint task (P = 1) of ``arch`` ("rnn"/"dnn"), T = 2 or 3.

    ``hyper``: hyperparameters to fix (e.g. :data:`PAPER`, w = v = u = 1, kappa = 1/10; exact
    rationals), the others stay symbols.  Fully symbolic T = 2 takes about a minute; with fixed
    hyperparameters a few seconds.
    """
    validation.choice("arch", arch, ("rnn", "dnn"))
    T = int(validation.choice("T", T, (2, 3)))       # the closed form is built for T = 2 or 3
    hyper = validation.keys("hyper", dict(hyper or {}), ("w", "v", "u", "kappa"))
    return _correction(arch, T, tuple(sorted(hyper.items())))


def _block_inverse(A: sp.Matrix) -> sp.Matrix:
    """Inverse of a symmetric matrix by its connected blocks (even and odd entries decouple on the branch)."""
    n = A.shape[0]
    out = sp.zeros(n, n)
    for comp in _blocks(A):
        inv = A.extract(comp, comp).inv(method="LU").applyfunc(sp.cancel)
        for a, i in enumerate(comp):
            for b, j in enumerate(comp):
                out[i, j] = inv[a, b]
    return out


# --- the document -----------------------------------------------------------------------------
_PREAMBLE = r"""% Generated by linkernel.symbolic.finite_width.write_document; do not edit by hand.
% Regenerate: python derivations/finite_width.py     Compile: pdflatex finite_width.tex
\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\usepackage[margin=2.2cm]{geometry}
\usepackage{graphicx}
\newcommand{\tr}{\operatorname{tr}}
\newcommand{\N}{\mathcal{N}}
\title{Finite-width theory: the $1/N$ correction to the kernel and the predictions}
\author{linkernel, issue 17}
\date{}
\begin{document}
\maketitle
"""

_BODY = r"""
\section{The exact density of the kernel at width $N$}
Conventions of \texttt{exact\_reduction.tex}: $T$ hidden states $t=0..T-1$, $P$ patterns, $H$ is $TP\times TP$
with row $tP+p$, $H=\frac1N h^{\top}h$ with $h$ the $N\times TP$ matrix of hidden states.
When every step's state is, given the past, one Gaussian draw (inputs at $t=0$ only, for any
weight-sharing pattern; or a fresh $W^{(t)}$ and $U^{(t)}$ at every step with an input, the DNN),
the chain rule gives the exact density of the hidden states as a function of $H$ only:
a shared $W_g$ applied to $h^{s-1},h^{t-1}$ has images with row covariance $w_gH^{s-1,t-1}$, and
the conditionals of that matrix normal given the earlier images multiply back to it, so
\[
  p(h)=\prod_{i=1}^{N}\N\bigl(h_i;0,\Sigma(H)\bigr),\qquad \Sigma(H)=C+w\,M\circ H^{(t-1)(t'-1)} .
\]
Lebesgue measure on $h\in\mathbb R^{N\times TP}$ pushed to $H$ has density $\propto(\det H)^{(N-TP-1)/2}$
(Wishart), and the readout integrates out exactly (\texttt{exact\_reduction.tex}, eq.~(lik)). Hence
\begin{equation}
  \log p_N(H)=-N\,S(H)+R(H)+\text{const},\qquad
  R(H)=-\frac{TP+1}{2}\ln\det H-\frac12\ln\det(vH_{SS}+\kappa I),\label{eq:R}
\end{equation}
with $S=\mathrm{KL}(\N(0,H)\Vert\N(0,\Sigma(H)))+\frac12y_S^\top(vH_{SS}+\kappa I)^{-1}y_S$ the action:
$\frac N2[\tr\Sigma^{-1}H+\ln\det\Sigma]$ from $p(h)$ and $\frac N2\ln\det H$ from the volume combine into
$N\,\mathrm{KL}$, and $\frac{TP+1}2\ln\det H$ is what is left of the volume. The same follows from the
reduced variables $\theta=(X_{jk},\ln X_{kk})$: their density is $N\ell(\theta)+r(\theta)$ with
$r=-\sum_kk\ln X_{kk}-\frac12\ln\det(vH_{SS}+\kappa I)$, and $\ln|\det\partial H/\partial\theta|=
-\sum_kk\ln X_{kk}+\frac{TP+1}2\ln\det H+\text{const}$ (for the DNN: $dA=2^K\prod X_{kk}^{K-k}dX$ for
$A=X^\top X$ and $|\partial H/\partial A|=\det\Sigma^{(TP+1)/2}$ for $H=L^\top AL$). The tests check
(\ref{eq:R}) pointwise against the reduction with a numerical Jacobian. The posterior mean prediction is
$\langle f(H)\rangle_N$ with $f(H)=vH_{:,S}(vH_{SS}+\kappa I)^{-1}y_S$, exact given $H$.
Otherwise (an input at $t\ge1$ through shared weights) the marginal of $H$ is not of this form and the
same expansion is done in $\theta$ (\texttt{method="reduced"}).

\section{Saddle-point expansion}
Let $x$ be coordinates of $H$ (any linear ones; the code uses the Frobenius-orthonormal
\texttt{to\_vector}), $x^*$ the minimum of $S$, $A=S''(x^*)$ and $x=x^*+\xi/\sqrt N$. Then
$-NS+R=-NS^*-\frac12\xi^\top A\xi-\frac{1}{6\sqrt N}S'''_{abc}\xi_a\xi_b\xi_c+\frac1{\sqrt N}R_a\xi_a+O(1/N)$ and
Wick's theorem with $\langle\xi_a\xi_b\rangle=A^{-1}_{ab}$ gives
\begin{equation}
  \langle x\rangle_N=x^*+\frac{\delta x}{N}+O(N^{-2}),\qquad
  \delta x=A^{-1}\Bigl[\nabla R-\tfrac12\,S''':A^{-1}\Bigr],\qquad (S''':A^{-1})_a=\sum_{bc}S'''_{abc}A^{-1}_{bc},
  \label{eq:delta}
\end{equation}
\begin{equation}
  N\,\mathrm{Cov}(x)=A^{-1}+O(1/N),\qquad
  \langle f\rangle_N=f^*+\frac1N\Bigl[f'(\delta H)+\tfrac12 f'':A^{-1}\Bigr]+O(N^{-2}).\label{eq:f}
\end{equation}
Signs: for $e^{-Nx^2/2+rx}$ the mean is $r/N$ and for $e^{-N(x^2/2+cx^3/6)}$ it is $-c/(2N)$.
Numerically, $S''':A^{-1}=\sum_k S'''(\cdot,e_k,e_k)/\mu_k$ over the eigenpairs of $A$, each term a
central difference of the analytic Hessian-vector product, Richardson-extrapolated.

\section{Validity, and which minimum}
With $\mu_0$ the smallest eigenvalue of $A$ and the massive modes solved out, the potential of the soft mode is
$\frac{\mu_0}2\phi^2+\frac{g_3}6\phi^3+V_4\phi^4$, $V_4=\frac{S''''_{0000}}{24}-\sum_{k>0}\frac{(S'''_{00k})^2}{8\mu_k}$;
the expansion is in $G=\max(g_3^2/\mu_0^3,\,12|V_4|/\mu_0^2)/N$. For the Landau form $-\alpha\,\delta\lambda\,m^2+bm^4$
in the broken phase, $G\approx4.5\,b/(N\alpha^2\delta\lambda^2)$: the expansion fails within
$\delta\lambda=O(N^{-1/2})$ of $\lambda_c$, where the result is flagged invalid and finite-size scaling
(\texttt{exact\_reduction.tex}, last sections) takes over. In the broken phase the expansion is about the
minimum with $m\ge0$, the representative the samplers keep by fixing the sign of every draw. On a symmetric
minimum the odd entries have mean $0$, while a sign-fixing sampler reports
$\langle\mathrm{sign}(m)H_{ij}\rangle=\sqrt{2/\pi}\,\mathrm{Cov}(H_{ij},m)/\mathrm{sd}(m)=O(N^{-1/2})$.

\section{Closed forms on the symmetric branch (endpoint task, $P=1$)}
$H^*=\mathrm{diag}(q_0,\dots,q_{T-1})$ with the $q_t$ the symmetric-branch solution. Entries not shown vanish;
the odd entries vanish by the $\mathbb Z_2$ symmetry. Each formula is printed from SymPy
(\texttt{symbolic/finite\_width.py}); a test evaluates it at the numerical saddle and compares
it with \texttt{theory/finite\_width.py} to $10^{-7}$.
"""


def _case(arch: str, T: int, hyper: dict) -> str:
    sc = symbolic_correction(arch, T, hyper)
    fixed = ", ".join(f"{sp.latex(sp.Symbol(k if k != 'kappa' else 'kappa'))} = {sp.latex(val)}"
                      for k, val in sorted(hyper.items()))
    title = f"{arch.upper()}, $T={T}$" + (f", ${fixed}$" if fixed else ", all hyperparameters symbolic")
    lines = [f"\\subsection*{{{title}}}", "Branch: " + ", ".join(
        f"${sp.latex(k)} = {sp.latex(val)}$" for k, val in sc.branch.items()) + "."]
    for i in range(T):
        for j in range(i, T):
            e = sc.matrix[i, j]
            if e == 0:
                continue
            body = f"\\delta H^{{{i}{j}}} = {sp.latex(e)}"
            if len(body) > 110:
                body = f"\\resizebox{{\\linewidth}}{{!}}{{$\\displaystyle {body}$}}"
            lines.append(f"\\[ {body} \\]")
    return "\n".join(lines) + "\n"


_REMARKS = r"""
\section{What the closed forms show}
At $T=2$ the RNN and the DNN coincide ($\Sigma^{11}=wH^{00}$ in both). At $T=3$ (with $w=v=u=1$,
$\kappa=1/10$) the RNN's corrections have a pole at $q_0=2$, i.e.\ $\lambda^2=81^2/800$,
$\lambda=2.86378\ldots$: exactly the critical point $\lambda_c$ of the $T=3$ RNN (the zero of the smallest
$\mathbb Z_2$-odd Hessian eigenvalue, \texttt{critical\_lambda}), where the expansion breaks down. The RNN also
acquires an even cross-time entry at finite width, $\delta H^{02}=-q_0^2/(q_0-2)>0$ below $\lambda_c$, which
the DNN does not ($\delta H^{02}=0$): weight sharing correlates the first and last states already in the
symmetric phase, at order $1/N$.
"""

#: the cases written to derivations/finite_width.tex
DOCUMENT_CASES = (("rnn", 2, {}), ("rnn", 3, PAPER), ("dnn", 3, PAPER))


def write_document(out: str | Path = "derivations/finite_width.tex", cases=DOCUMENT_CASES) -> Path:
    """Write derivations/finite_width.tex (deterministic: no dates).  At T = 2 the RNN and the DNN coincide."""
    text = _PREAMBLE + _BODY + "".join(_case(a, T, h) for a, T, h in cases) + _REMARKS + "\\end{document}\n"
    out = Path(out)
    out.write_text(text)
    return out


__all__ = ["PAPER", "SymbolicCorrection", "symbolic_correction", "write_document"]

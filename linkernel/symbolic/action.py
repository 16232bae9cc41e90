"""The action S(H) in SymPy: the same formula as :mod:`linkernel.theory.action`, exact and symbolic.

Kernel entries are symbols (one per pair ``(t,p) <= (t',p')``, H symmetric);
the hyperparameters ``w, v, u, kappa`` and the signal ``lambda`` are positive
symbols.  The problem supplies the structure: architecture, T, P, the inputs
(converted to exact rationals) and the supervised set with its labels.

    S = 1/2 [tr(Sigma^-1 H) - ln det H + ln det Sigma - TP]
        + 1/2 y_S^T (v H_SS + kappa I)^-1 y_S

Sigma is inverted block by block (its connected components: per time in the
DNN, the t = 0 input block and the recurrent block in the endpoint RNN), which
keeps the expressions small.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from linkernel.problem import Problem, index, pair, time_blocks

w, v, u, kappa, lam = sp.symbols("w v u kappa lambda", positive=True)
HYPER = (w, v, u, kappa, lam)


def kernel_symbol(t: int, t2: int, p: int, p2: int, P: int) -> sp.Symbol:
    """The symbol of H^{t t'}_{p p'} (ordered so that (t,p) <= (t',p') in kernel order)."""
    if index(t, p, P) > index(t2, p2, P):
        t, t2, p, p2 = t2, t, p2, p
    name = f"H^{{{t}{t2}}}" if P == 1 else f"H^{{{t}{t2}}}_{{{p}{p2}}}"
    return sp.Symbol(name, real=True)


def kernel_matrix(T: int, P: int) -> sp.Matrix:
    """The symmetric (TP, TP) matrix of kernel symbols."""
    def entry(a, b):
        (t, p), (s, q) = pair(a, P), pair(b, P)
        return kernel_symbol(t, s, p, q, P)
    return sp.Matrix(T * P, T * P, entry)


def kernel_symbols(T: int, P: int) -> list:
    """The independent kernel symbols, upper triangle row by row (as :func:`linkernel.theory.action.to_vector`)."""
    Hm = kernel_matrix(T, P)
    return [Hm[a, b] for a in range(T * P) for b in range(a, T * P)]


def _rational_matrix(a: np.ndarray) -> sp.Matrix:
    return sp.Matrix(a.shape[0], a.shape[1], lambda i, j: sp.nsimplify(float(a[i, j]), rational=True))


def input_kernel(problem: Problem) -> sp.Matrix:
    """C = (u/D) x x^T where U^(t), U^(t') are one matrix (:attr:`Problem.input_kernel`), with the symbol u."""
    X = problem.x.reshape(problem.n, problem.D)
    return (u / problem.D) * _rational_matrix((X @ X.T) * time_blocks(problem.arch.input_mask, problem.P))


def sigma(problem: Problem, Hm: sp.Matrix) -> sp.Matrix:
    """Sigma(H) = C + w_g M * H^{t-1,t'-1} for t, t' >= 1; a group's own variance enters as (w_g/w) w."""
    P, n = problem.P, problem.n
    M = recurrent_weights(problem)
    Sig = input_kernel(problem)
    for a in range(P, n):
        for b in range(P, n):
            if M[a, b] != 0:
                Sig[a, b] += M[a, b] * Hm[a - P, b - P]
    return Sig


def recurrent_weights(problem: Problem) -> sp.Matrix:
    """``(TP, TP)``: w_g M as SymPy numbers times the symbol w (:attr:`Problem.recurrent_mask` / problem.w)."""
    R = problem.recurrent_mask / problem.w
    return sp.Matrix(problem.n, problem.n, lambda i, j: 0 if R[i, j] == 0 else w * sp.nsimplify(float(R[i, j]), rational=True))


def _blocks(A: sp.Matrix) -> list:
    """Index sets of the connected components of A's nonzero pattern."""
    n = A.shape[0]
    seen, comps = set(), []
    for s in range(n):
        if s in seen:
            continue
        comp, stack = [], [s]
        seen.add(s)
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in range(n):
                if j not in seen and (A[i, j] != 0 or A[j, i] != 0):
                    seen.add(j)
                    stack.append(j)
        comps.append(sorted(comp))
    return comps


def trace_inv_logdet(A: sp.Matrix, B: sp.Matrix) -> tuple:
    """(tr(A^-1 B), ln det A) for symmetric A, exploiting its block structure."""
    tr, logdet = sp.Integer(0), sp.Integer(0)
    for comp in _blocks(A):
        Ab = A.extract(comp, comp)
        Bb = B.extract(comp, comp)
        if len(comp) == 1:
            tr += Bb[0, 0] / Ab[0, 0]
            logdet += sp.log(Ab[0, 0])
        else:
            det = Ab.det(method="berkowitz")
            tr += (Ab.adjugate(method="berkowitz") * Bb).trace() / det
            logdet += sp.log(det)
    return tr, logdet


@dataclass(frozen=True, eq=False)
class SymbolicAction:
    """S(H) for one problem's structure, with symbolic hyperparameters.

    ``expr`` is S; ``kl`` and ``likelihood`` its two terms; ``kernel`` the
    symmetric matrix of symbols; ``symbols`` the independent ones.
    """

    problem: Problem
    kernel: sp.Matrix
    symbols: tuple
    kl: sp.Expr
    likelihood: sp.Expr

    @property
    def expr(self) -> sp.Expr:
        return self.kl + self.likelihood

    @cached_property
    def equations(self) -> dict:
        """The saddle-point equations: {h: dS/dh} for every independent entry h (each = 0 at the saddle)."""
        return {h: sp.diff(self.expr, h) for h in self.symbols}

    def numeric(self, H: np.ndarray, w_=None, v_=None, u_=None, kappa_=None, lam_=None) -> float:
        """Evaluate S at a numeric kernel H; hyperparameters default to the problem's."""
        p = self.problem
        vals = {w: p.w if w_ is None else w_, v: p.v if v_ is None else v_,
                u: p.u if u_ is None else u_, kappa: p.kappa if kappa_ is None else kappa_,
                lam: p.lam if lam_ is None else lam_}
        n = p.n
        vals.update({self.kernel[a, b]: float(H[a, b]) for a in range(n) for b in range(a, n)})
        return float(self.expr.evalf(subs=vals, n=30))


def symbolic_action(problem: Problem) -> SymbolicAction:
    """Build S(H) symbolically for the structure of ``problem`` (its numeric hyperparameters are not used)."""
    Hm = kernel_matrix(problem.T, problem.P)
    Sig = sigma(problem, Hm)
    tr, logdet_sig = trace_inv_logdet(Sig, Hm)
    _, logdet_h = trace_inv_logdet(Hm, Hm)
    kl = sp.Rational(1, 2) * (tr - logdet_h + logdet_sig - problem.n)
    idx = list(problem.supervised_index)
    yhat = sp.Matrix([sp.nsimplify(problem.yhat[t, p], rational=True) for t, p in problem.supervised])
    K = v * Hm.extract(idx, idx) + kappa * sp.eye(len(idx))
    y = lam * yhat
    if len(idx) == 1:
        quad = y[0] ** 2 / K[0, 0]
    else:
        quad = (y.T * K.adjugate(method="berkowitz") * y)[0, 0] / K.det(method="berkowitz")
    likelihood = sp.Rational(1, 2) * quad
    return SymbolicAction(problem=problem, kernel=Hm, symbols=tuple(kernel_symbols(problem.T, problem.P)),
                          kl=kl, likelihood=likelihood)

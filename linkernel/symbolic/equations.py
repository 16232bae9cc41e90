"""The saddle-point equations dS/dH = 0 in closed form (SymPy), structured by the blocks of Sigma.

For any problem (arch, T, P, inputs, supervised set; hyperparameters as
symbols), with ``dS = tr(G dH)`` for symmetric ``dH``:

    G = 1/2 (Xi - Gamma) + w/2 L*(Xi - Xi H Xi) - v/2 E_S(a a^T),
    Gamma = H^{-1},  Xi = Sigma(H)^{-1},  a = (v H_SS + kappa I)^{-1} y_S,

``L*`` shifts the ``t, t' >= 1`` blocks back by one step (masked by M: all
pairs in the RNN, ``t = t'`` in the DNN), ``E_S`` embeds the supervised block.
Sigma is inverted block by block (its connected components): the 1 x 1
components explicitly, the larger ones (the recurrent block ``w A``,
``A = H^{0..T-2, 0..T-2}``, of the endpoint RNN; the ``P x P`` blocks of the
DNN) either explicitly (adjugate / determinant) or kept as the named matrix
Xi, like Gamma; :func:`saddle_point_equations` chooses explicit forms where
they stay small.  The equations are exact either way: Gamma and Xi are
defined by ``H Gamma = 1`` and ``Sigma Xi = 1``.

The equation of an off-diagonal entry ``h = H^{tt'}_{pp'}`` is ``dS/dh = 2 G``
(h appears twice in H), as in :attr:`linkernel.symbolic.action.SymbolicAction.equations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from linkernel.symbolic import action as symbolic
from linkernel.problem import Problem
from linkernel.symbolic.action import kappa, lam, u, v, w

#: explicit inverses up to this size (adjugate / determinant); larger ones stay named
EXPLICIT_MAX = 4


def _named_inverse(name: str, n: int, offset: int = 0) -> sp.Matrix:
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{{{min(i, j) + offset},{max(i, j) + offset}}}",
                                                  real=True))


def _inverse(M: sp.Matrix, explicit: bool) -> sp.Matrix:
    if M.shape[0] == 1:
        return sp.Matrix([[1 / M[0, 0]]])
    if explicit:
        return M.adjugate(method="berkowitz") / M.det(method="berkowitz")
    raise ValueError("named inverse requested")


@dataclass(frozen=True, eq=False)
class SaddleEquations:
    """The saddle-point equations of one problem's structure.

    ``kernel``: the symmetric matrix of kernel symbols; ``sigma``: Sigma(H);
    ``gradient``: G (``dS = tr(G dH)``); ``equations``: {h: dS/dh} for every
    independent entry; ``definitions``: the named matrices and what they are
    (``{"Gamma": (symbols, H)}`` means ``symbols = H^{-1}``); empty when
    everything is explicit.
    """

    problem: Problem
    kernel: sp.Matrix
    sigma: sp.Matrix
    gradient: sp.Matrix
    equations: dict
    definitions: dict

    def substitutions(self, H: np.ndarray, hyper: dict) -> dict:
        """Numeric values of every symbol (kernel, named inverses, hyperparameters) at H."""
        n = self.problem.n
        vals = {self.kernel[a, b]: float(H[a, b]) for a in range(n) for b in range(n)}
        vals.update(hyper)
        for name, (named, of, rows) in self.definitions.items():
            M = np.array(of.subs(vals).evalf(), dtype=float)
            inv = np.linalg.inv(M)
            for i in range(named.shape[0]):
                for j in range(named.shape[0]):
                    vals[named[i, j]] = inv[i, j]
        return vals

    def numeric_gradient(self, H: np.ndarray, w_=1.0, v_=1.0, u_=1.0, kappa_=0.1, lam_=1.0) -> np.ndarray:
        """G evaluated at a numeric kernel (for checks against :func:`linkernel.theory.action.gradient`)."""
        vals = self.substitutions(H, {w: w_, v: v_, u: u_, kappa: kappa_, lam: lam_})
        f = sp.lambdify(list(vals), self.gradient, "numpy")
        return np.array(f(*vals.values()), dtype=float)


def saddle_point_equations(problem: Problem, explicit: bool | None = None) -> SaddleEquations:
    """Closed-form dS/dH for the structure of ``problem`` (its numeric hyperparameters are not used).

    ``explicit``: invert every block of Sigma and H by adjugate / determinant
    (True), keep blocks larger than 1 x 1 as named matrices (False), or
    decide by size (None: explicit up to ``EXPLICIT_MAX`` rows).
    """
    P, n, T = problem.P, problem.n, problem.T
    Hm = symbolic.kernel_matrix(T, P)
    Sig = symbolic.sigma(problem, Hm)
    definitions = {}
    Xi = sp.zeros(n, n)
    comps = symbolic._blocks(Sig)
    several = sum(len(c) > 1 for c in comps) > 1
    for k, comp in enumerate(comps):
        block = Sig.extract(comp, comp)
        size = len(comp)
        if size == 1 or (explicit if explicit is not None else size <= EXPLICIT_MAX):
            inv = _inverse(block, True)
        else:
            name = rf"\Xi^{{({k})}}" if several else r"\Xi"
            inv = _named_inverse(name, size, offset=comp[0])
            definitions[name] = (inv, block, comp)
        for a, i in enumerate(comp):
            for b, j in enumerate(comp):
                Xi[i, j] = inv[a, b]
    if explicit if explicit is not None else n <= EXPLICIT_MAX:
        Gamma = _inverse(Hm, True)
    else:
        Gamma = _named_inverse(r"\Gamma", n)
        definitions[r"\Gamma"] = (Gamma, Hm, list(range(n)))
    inner = Xi - Xi * Hm * Xi
    Lstar = sp.zeros(n, n)
    weights = symbolic.recurrent_weights(problem)
    for i in range(n - P):
        for j in range(n - P):
            Lstar[i, j] = weights[i + P, j + P] * inner[i + P, j + P]
    idx = list(problem.supervised_index)
    yhat = sp.Matrix([sp.nsimplify(problem.yhat[t, p], rational=True) for t, p in problem.supervised])
    K = v * Hm.extract(idx, idx) + kappa * sp.eye(len(idx))
    a = _inverse(K, True) * (lam * yhat)
    G = sp.Rational(1, 2) * (Xi - Gamma) + Lstar / 2
    for s, i in enumerate(idx):
        for t, j in enumerate(idx):
            G[i, j] -= v / 2 * a[s] * a[t]
    if not definitions:
        G = G.applyfunc(lambda e: sp.together(e) if e.count_ops() < 400 else e)
    eqs = {}
    for i in range(n):
        for j in range(i, n):
            eqs[Hm[i, j]] = G[i, j] if i == j else 2 * G[i, j]
    return SaddleEquations(problem=problem, kernel=Hm, sigma=Sig, gradient=G, equations=eqs,
                           definitions=definitions)

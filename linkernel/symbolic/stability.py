"""Stability of the symmetric branch: the Hessian of S on it, block-diagonalised, and the critical ratio.

Derived in the normalised coordinates of :func:`linkernel.symbolic.symmetric_branch.normalized_action`
(``H = D^{1/2}(1 + e)D^{1/2}``, ``D`` the branch kernel), where the action
depends only on the branch ratio ``r = H^{tt}/Sigma^{tt}`` and the load
``x = v H^{T-1,T-1}/kappa``.

* :func:`hessian_blocks`: the second-order Taylor polynomial couples
  ``e_{tt'}`` only to ``e_{t+1,t'+1}``, so the Hessian splits into one block
  per lag ``k = |t - t'|`` (checked, not assumed); odd lags are the Z2-odd
  entries.  In the RNN the lag-k block (``k >= 1``) is the tridiagonal chain
  ``2r`` on the diagonal, ``-r`` beside it, ``1`` in the last corner; in the
  DNN it is the identity (no transition).  The lag-0 block (with the
  likelihood) is singular exactly where lambda(r) folds.
* :func:`critical_ratio`: the smallest root ``r > 1`` of the odd blocks'
  determinants: ``r_c = (T-1)/(T-2)``, from the lag-1 block, for every
  ``T >= 3``.  Proof for every T: the chain of length n has leading minors
  ``D_j = r^j (j+1)`` (recursion ``D_j = 2r D_{j-1} - r^2 D_{j-2}``) and
  determinant ``D_{n-1} - r^2 D_{n-2} = r^{n-1} (n - (n-1) r)``, which
  vanishes first for the longest chain, lag 1 (``n = T-1``).  T = 2 has no
  critical point.
* :func:`critical_mode`: the null vector of the lag-1 block at r_c,
  ``e_{t,t+1} proportional to (t+1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from linkernel.symbolic.symmetric_branch import check_arch_T, normalized_action, perturbation_symbols, r, x

_eps = sp.Symbol("epsilon")


# --- the Hessian on the branch ----------------------------------------------------
@dataclass(frozen=True, eq=False)
class HessianBlocks:
    """The Hessian of S on the symmetric branch, one block per lag.

    ``blocks[k]`` is the Hessian with respect to ``(e_{0,k}, e_{1,k+1}, ...)``
    (normalised entries, upper triangle) as a function of ``r`` and ``x``;
    ``coordinates[k]`` names them; ``odd`` lists the Z2-odd lags.
    ``determinants[k]`` is the factored determinant of block k.
    """

    arch: str
    T: int
    blocks: dict
    coordinates: dict
    determinants: dict

    @property
    def odd(self) -> tuple:
        return tuple(k for k in self.blocks if k % 2 == 1)

    @property
    def even(self) -> tuple:
        return tuple(k for k in self.blocks if k % 2 == 0)

    def numeric(self, r_value: float, x_value: float) -> dict:
        """{lag: eigenvalues} at one point of the branch."""
        out = {}
        for k, B in self.blocks.items():
            M = np.array(B.subs({r: r_value, x: x_value}).evalf(), dtype=float)
            out[k] = np.linalg.eigvalsh(M)
        return out


@lru_cache(maxsize=None)
def hessian_blocks(T: int, arch: str = "rnn") -> HessianBlocks:
    """Derive the Hessian of S on the branch and split it by lag (see the module docstring)."""
    T = check_arch_T(arch, T, 2)
    syms = perturbation_symbols(T)
    E = sp.Matrix(T, T, lambda i, j: _eps * syms[(min(i, j), max(i, j))])
    S2 = normalized_action(arch, T, E, _eps, 2).coeff(_eps, 2)
    order = list(syms)
    Hfull = sp.hessian(S2, [syms[k] for k in order])
    lag = [j - i for i, j in order]
    for a in range(len(order)):
        for b in range(len(order)):
            if lag[a] != lag[b] and Hfull[a, b] != 0:
                raise ValueError(f"arch={arch}: the Hessian on the branch couples lags {lag[a]} and {lag[b]}, so "
                                 "the split by lag does not apply to this sharing pattern; use the numerical "
                                 "stability of linkernel.theory (critical_lambda, trace)")
    blocks, coords, dets = {}, {}, {}
    for k in range(T):
        idx = [a for a in range(len(order)) if lag[a] == k]
        B = Hfull.extract(idx, idx).applyfunc(sp.factor)
        blocks[k] = B
        coords[k] = tuple(syms[order[a]] for a in idx)
        dets[k] = sp.factor(B.det(method="berkowitz"))
    return HessianBlocks(arch=arch, T=T, blocks=blocks, coordinates=coords, determinants=dets)


@lru_cache(maxsize=None)
def critical_ratio(T: int) -> sp.Rational:
    """The RNN's critical branch ratio: the smallest root r > 1 of an odd block's determinant.

    Also checks that the even blocks of lag >= 2 stay regular up to it (the
    lag-0 block is the fold of the branch, handled in :func:`critical_point`).
    Raises ValueError where no odd block ever becomes singular (T = 2).
    """
    hb = hessian_blocks(T, "rnn")

    def roots(k):
        sols = sp.solve(sp.numer(hb.determinants[k]), r)
        return sorted(s for s in sols if s.is_real and s > 1)

    odd = sorted((s, k) for k in hb.odd for s in roots(k))
    if not odd:
        raise ValueError(f"T={T}: the symmetric branch of the RNN never loses stability in the Z2-odd "
                         "sector (no critical point); need T >= 3")
    rc, lag = odd[0]
    if lag != 1:
        raise AssertionError(f"critical mode at lag {lag}, expected lag 1")
    for k in hb.even:
        if k >= 2 and any(s <= rc for s in roots(k)):
            raise AssertionError(f"even lag {k} becomes unstable before r_c")
    return sp.nsimplify(rc)


def critical_mode(T: int, ratio=None) -> sp.Matrix:
    """The constrained critical direction: the lag-1 entries minimising S2 at fixed ``e_{T-2,T-1} = 1``.

    Returned as a symmetric T x T matrix (zero off lag 1).  At ``r = r_c`` it
    is the null vector of the lag-1 block.
    """
    hb = hessian_blocks(T, "rnn")
    Q = hb.blocks[1] if ratio is None else hb.blocks[1].subs(r, ratio)
    n = Q.shape[0]
    vec = [sp.Integer(0)] * (n - 1) + [sp.Integer(1)]
    if n > 1:
        sol = Q[:n - 1, :n - 1].LUsolve(-Q[:n - 1, n - 1])
        vec[:n - 1] = [sp.factor(s) for s in sol]
    V = sp.zeros(T, T)
    for i in range(n):
        V[i, i + 1] = V[i + 1, i] = vec[i]
    return V

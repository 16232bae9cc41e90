"""The quartic Landau coefficient at a Z2 branch point, from Hessian-vector products of the equations.

Along the odd null vector ``phi`` (unit, to_vector coordinates) of a branch point (x_c, lambda_c),
with the even modes solved out to second order in the amplitude s,

    S(x_c + s phi + O(s^2)) - S(x_c) = b_s s^4 + O(s^6),   b_s = D^4S[phi^4]/24 - c^T A_ee^-1 c / 8,

``c = D^3S[phi, phi, .]`` on the even coordinates and ``A_ee`` the even block of the Hessian.
b_s > 0: a supercritical pitchfork (second order); b_s < 0: subcritical (first order); b_s = 0:
tricritical.  Used by :func:`~linkernel.theory.continuation.tracing.trace` (the order at each branch
point) and the phase diagram (:func:`linkernel.theory.phase_diagram.augmented.landau_quartic`).
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.numerics import richardson
from linkernel.theory.action import from_vector
from linkernel.theory.equations import Equations


def quartic_terms(eq: Equations, x, lam, phi, Hd, levels: int = 4) -> tuple:
    """(b_s, D^4S[phi^4]/24, c^T A_ee^-1 c / 8) at the branch point (x, lam); NaNs where A_ee is singular.

    Both derivatives from Hessian-vector products at ``x + h phi`` (h = h0 / 2^k, k < levels,
    h0 a fifth of the kernel's smallest eigenvalue, so every point stays in the positive-definite
    cone), Richardson-extrapolated; ``Hd`` is the dense Hessian at (x, lam).  The two terms
    are the scale against which b_s = 0 (a tricritical point) is judged.
    """
    ev = eq.i_even
    X = np.append(x, lam)
    h0 = 0.2 * float(np.linalg.eigvalsh(from_vector(x, eq.n))[0])
    mu = float(phi @ eq.hessian_vector(X, phi))
    cs, fs = [], []
    for k in range(levels):
        h = h0 / 2 ** k
        r = eq.hessian_vector(np.append(x + h * phi, lam), phi)
        cs.append(r[ev] / h)               # odd in h: c + O(h^2)
        fs.append(2 * (phi @ r - mu) / h ** 2)   # even in h: D4 + O(h^2)
    c, D4 = richardson(cs, 4)[-1], float(richardson(fs, 4)[-1])
    A = Hd[np.ix_(ev, ev)]
    try:
        cAc = float(c @ np.linalg.solve(A, c))
    except np.linalg.LinAlgError:
        return math.nan, math.nan, math.nan   # the even block is singular: a fold of the symmetric branch
    return D4 / 24 - cAc / 8, D4 / 24, cAc / 8

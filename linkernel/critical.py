"""Stability of the symmetric branch, the RNN's critical point and its Landau theory (SymPy first).

Everything is derived in the normalised coordinates of
:func:`linkernel.branch.normalized_action` (``H = D^{1/2}(1 + e)D^{1/2}``,
``D`` the branch kernel), where the action depends only on the branch ratio
``r = H^{tt}/Sigma^{tt}`` and the load ``x = v H^{T-1,T-1}/kappa``.

* :func:`hessian_blocks`: the Hessian of S on the branch.  Its second-order
  Taylor polynomial couples ``e_{tt'}`` only to ``e_{t+1,t'+1}``, so it splits
  into one block per lag ``k = |t - t'|`` (checked, not assumed); odd lags are
  the Z2-odd entries.  In the RNN the lag-k block (``k >= 1``) is the
  tridiagonal chain ``2r`` on the diagonal, ``-r`` beside it, ``1`` in the last
  corner; in the DNN it is the identity (no transition).  The lag-0 block
  (with the likelihood) is singular exactly where lambda(r) folds.
* :func:`critical_ratio`: the smallest root ``r > 1`` of the odd blocks'
  determinants: ``r_c = (T-1)/(T-2)``, from the lag-1 block, for every T >= 3
  (the chain's determinant is ``r^{n-1} (n - (n-1) r)`` up to a constant,
  ``n = T - 1``); T = 2 has no critical point.
* :func:`landau_coefficients`: ``S_eff(m) = S_0 + a m^2 + b m^4 + O(m^6)``,
  the action minimised over every other entry at fixed ``m = H^{T-1,T-2}``:
  the other odd entries follow the constrained critical mode (their O(m^3)
  corrections enter at m^6 only), the Z2-even entries (lags 0 and 2) shift by
  O(m^2) and are solved out exactly, which changes b.
* :func:`critical_point`: numbers for one endpoint problem, with the order of
  the transition from the sign of b at lambda_c.

The ``lambda_c`` reported is where the symmetric branch loses stability (the
spinodal); at a first-order transition the global minimum jumps before it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from linkernel.branch import (check_arch_T, endpoint_structure, m, normalized_action, perturbation_symbols,
                              r, symmetric_branch, x)
from linkernel.problem import Problem
from linkernel.symbolic import kappa, lam, u, v, w

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
                raise AssertionError(f"Hessian couples lags {lag[a]} and {lag[b]}")
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


# --- Landau theory --------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LandauCoefficients:
    """``S_eff(m) - S_0 = a m^2 + b m^4 + O(m^6)`` on the RNN's symmetric branch.

    ``a_e``, ``b_e``: the coefficients for the normalised order parameter
    ``e_{T-2,T-1} = m / sqrt(H^{T-1,T-1} H^{T-2,T-2})``, functions of ``r``
    (and ``x``) only.  ``a``, ``b``: the same for ``m`` itself, functions of
    ``r, w, v, u, kappa`` (``x`` substituted).  ``ratio``: the value of r used
    (the symbol r for the whole branch, or r_c).  ``even_shift``: the
    Z2-even response ``e = m V + m^2 Y`` (lags 0 and 2) that minimises the
    quartic term.
    """

    T: int
    ratio: sp.Expr
    a_e: sp.Expr
    b_e: sp.Expr
    a: sp.Expr
    b: sp.Expr
    mode: sp.Matrix
    even_shift: sp.Matrix


@lru_cache(maxsize=None)
def landau_coefficients(T: int, at_critical: bool = False) -> LandauCoefficients:
    """Derive a and b of the RNN endpoint task (``P = 1``) along the branch (or at r_c).

    Substitutes ``e = m V + m^2 Y`` into the normalised action (V the
    constrained critical mode, Y the even-lag unknowns), expands to m^4, and
    minimises the m^4 coefficient over Y (a linear solve).
    """
    T = check_arch_T("rnn", T, 3)
    rr = critical_ratio(T) if at_critical else r
    V = critical_mode(T, rr)
    Y = sp.zeros(T, T)
    ys = []
    for k in (0, 2):
        for i in range(T - k):
            s = sp.Symbol(f"y_{{{i}{i + k}}}", real=True)
            Y[i, i + k] = Y[i + k, i] = s
            ys.append(s)
    S = normalized_action("rnn", T, m * V + m ** 2 * Y, m, 4).subs(r, rr)
    S = sp.expand(S)
    if any(sp.simplify(S.coeff(m, k)) != 0 for k in (1, 3)):
        raise AssertionError("odd powers of m in S_eff: the Z2 symmetry is broken")
    a_e = sp.factor(S.coeff(m, 2))
    c4 = S.coeff(m, 4)
    sol = sp.solve([sp.diff(c4, s) for s in ys], ys, dict=True)
    if len(sol) != 1:
        raise AssertionError("the even shift is not unique")
    b_e = sp.factor(sp.together(c4.subs(sol[0])))
    hT = u * w ** (T - 1) * rr ** T
    scale2 = w * rr / hT ** 2                     # e^2 = m^2 * w r / h_{T-1}^2
    load = v * hT / kappa
    a = sp.factor(a_e * scale2)
    b = sp.factor(b_e.subs(x, load) * scale2 ** 2)
    return LandauCoefficients(T=T, ratio=rr, a_e=a_e, b_e=b_e, a=a, b=b, mode=V,
                              even_shift=Y.subs(sol[0]).applyfunc(sp.factor))


def tricritical_load(T: int) -> list:
    """The loads ``x = v H^{T-1,T-1}/kappa`` at r_c where b changes sign with the branch stable.

    The branch is stable at r_c (lag-0 block positive definite) for
    ``x > 1/(2T-1)``; returns the roots of b_e's numerator in that range.
    """
    be = landau_coefficients(T, True).b_e
    roots = sp.solve(sp.numer(sp.together(be)), x)
    return [s for s in roots if s.is_real and s > sp.Rational(1, 2 * T - 1)]


# --- general-T closed forms ---------------------------------------------------
def general_critical_point() -> dict:
    """The general-T pattern (``P = 1``; labels ``|yhat|^2 = q`` divide lambda_c by sqrt(q)).

    r_c and lambda_c are proved for every T >= 3 (the lag-1 chain's
    determinant, see the module docstring); b_e is the pattern found from the
    derivations for T = 3..9 and checked against each derived T by the tests.
    """
    Ts = sp.Symbol("T", positive=True, integer=True)
    rc = (Ts - 1) / (Ts - 2)
    hc = u * w ** (Ts - 1) * rc ** Ts
    return {
        "T": Ts, "r_c": rc, "rho_c": w * rc, "h_c": hc,
        "lambda_c": (v * hc + kappa) / sp.sqrt((Ts - 2) * v * hc),
        "a_e": ((Ts - 1) - (Ts - 2) * r) / (2 * (Ts - 1)),
        "b_e_critical": ((-2 * Ts ** 2 + 11 * Ts - 8) * x - Ts) / (8 * (Ts - 1) * ((2 * Ts - 1) * x - 1)),
        "fold_load": 1 / (2 * Ts - 1),
        "tricritical_load": Ts / (-2 * Ts ** 2 + 11 * Ts - 8),
    }


# --- one problem -----------------------------------------------------------------
ORDERS = ("second", "first", "tricritical")


@dataclass(frozen=True, eq=False)
class CriticalPoint:
    """The RNN's critical point on the symmetric branch of an endpoint problem.

    ``lambda_c``: signal where the branch's Z2-odd (lag-1) Hessian block
    becomes singular; ``r_c``: branch ratio ``H^{tt}/Sigma^{tt}`` there;
    ``rho_c``: ``H^{t+1,t+1}/H^{tt}`` there (the same for every t; for
    ``P > 1`` in the label sector); ``kernel_c``: the branch kernel (TP, TP) at
    lambda_c; ``load_c``: ``x_c = v h_{T-1}/kappa``; ``branch_stable``: whether
    the branch is still a local minimum in the Z2-even sector at r_c (False
    when lambda(r) folds before r_c); ``order``: 'second' (b > 0), 'first'
    (b < 0, or the branch folded first), 'tricritical' (b = 0 within
    ``tol``); ``beta``: 1/2 for second order, else None; ``amplitude``: A in
    ``m ~ A (lambda - lambda_c)^beta`` (second order only); ``landau``: a and b
    of ``S_eff = S_0 + a m^2 + b m^4`` at lambda_c and their lambda-derivatives;
    ``tricritical``: the loads, kappa and exponent where b = 0 for this T;
    ``latex``: lambda_c in closed form.
    """

    problem: Problem
    lambda_c: float
    r_c: float
    rho_c: float
    kernel_c: np.ndarray
    load_c: float
    branch_stable: bool
    order: str
    beta: float | None
    amplitude: float | None
    landau: dict
    tricritical: dict
    latex: str
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict:
        return {
            "lambda_c": self.lambda_c, "rho_c": self.rho_c, "order": self.order, "beta": self.beta,
            "amplitude": self.amplitude, "landau": dict(self.landau), "latex": self.latex,
            "r_c": self.r_c, "load_c": self.load_c, "branch_stable": self.branch_stable,
            "kernel_c": self.kernel_c.tolist(), "tricritical": dict(self.tricritical),
            "problem": {k: self.problem.to_dict()[k] for k in ("arch", "T", "P", "w", "v", "u", "kappa")},
            "seconds": self.seconds,
        }


def _val(expr, subs) -> float:
    return float(sp.N(expr.subs(subs), 30))


def critical_point(problem: Problem, tol: float = 1e-9) -> CriticalPoint:
    """lambda_c, the branch at lambda_c, the Landau coefficients and the order, for an RNN endpoint problem.

    ``problem`` must come from :func:`linkernel.tasks.endpoint` (any P, any
    labels); its ``lam`` is ignored.  For ``P > 1`` the label sector is the
    ``P = 1`` chain with ``lambda -> lambda |yhat|``, and ``m = c / P`` with c
    the chain's lag-1 entry, so ``a -> P^2 a``, ``b -> P^4 b``.  ``tol``: relative
    size of b below which the point counts as tricritical.
    """
    t0 = time.perf_counter()
    if problem.arch != "rnn":
        raise ValueError(f"arch={problem.arch!r}: only the RNN has a critical point; the DNN's Hessian on the "
                         "symmetric branch stays positive definite (see hessian_blocks(T, 'dnn'))")
    q = endpoint_structure(problem)
    T, P = problem.T, problem.P
    rc = critical_ratio(T)
    L = landau_coefficients(T)
    br = symmetric_branch(T, "rnn")
    subs = {w: problem.w, v: problem.v, u: problem.u, kappa: problem.kappa}
    lam1 = br.lam_of_r                                  # lambda of the P = 1 chain
    dlam1 = _val(sp.diff(lam1, r), {**subs, r: rc})
    lambda_c = _val(lam1, {**subs, r: rc}) / math.sqrt(q)
    load_c = _val(br.load, {**subs, r: rc})
    hb = hessian_blocks(T, "rnn")
    branch_stable = bool(np.all(hb.numeric(float(rc), load_c)[0] > 0))
    at = {**subs, r: rc}
    a_c = P ** 2 * _val(L.a, at)
    b_c = P ** 4 * _val(L.b, at)
    da = P ** 2 * _val(sp.diff(L.a, r), at) * math.sqrt(q) / dlam1
    db = P ** 4 * _val(sp.diff(L.b, r), at) * math.sqrt(q) / dlam1
    be = _val(landau_coefficients(T, True).b_e, {x: load_c})
    if not branch_stable:
        order = "first"
    elif abs(be) <= tol * (1 + abs(load_c)):
        order = "tricritical"
    else:
        order = "second" if be > 0 else "first"
    beta = 0.5 if order == "second" else None
    amplitude = math.sqrt(-da / (2 * b_c)) if order == "second" else None
    xs = [float(s) for s in tricritical_load(T)]
    hc_over_kappa = _val(br.load * kappa, at)            # v h_c: kappa at which x_c hits x*
    tric = {"load": xs, "kappa": [hc_over_kappa / s for s in xs],
            "fold_load": 1.0 / (2 * T - 1), "fold_kappa": hc_over_kappa * (2 * T - 1)}
    lc_expr = sp.simplify(lam1.subs(r, rc) / sp.sqrt(sp.Integer(1) if q == 1 else sp.nsimplify(q)))
    latex = r"\lambda_c = " + sp.latex(lc_expr)
    return CriticalPoint(problem=problem, lambda_c=lambda_c, r_c=float(rc), rho_c=problem.w * float(rc),
                         kernel_c=branch_kernel_at(problem, float(rc)), load_c=load_c,
                         branch_stable=branch_stable, order=order, beta=beta, amplitude=amplitude,
                         landau={"a": a_c, "b": b_c, "da_dlambda": da, "db_dlambda": db},
                         tricritical=tric, latex=latex, seconds=time.perf_counter() - t0)


def branch_kernel_at(problem: Problem, ratio: float) -> np.ndarray:
    from linkernel.branch import branch_kernel
    return branch_kernel(problem, ratio=ratio)

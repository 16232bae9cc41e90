"""The order of the RNN's transition for every T: the Landau coefficient b at lambda_c in closed form.

Endpoint task, ``P = 1`` (input at t = 0, label at t = T-1; for ``P > 1`` the
label sector is this chain, see :mod:`linkernel.symbolic.critical`).  In the
normalised coordinates of :func:`linkernel.symbolic.symmetric_branch.normalized_action`
(``H = D^{1/2}(1 + e)D^{1/2}``, indices t = 0..n, ``n = T-1``) the action is

    S - S(D) = 1/2 [ r (1 + e_00 + tr((1+e')^{-1}(1+e''))) - ln det(1+e) + ln det(1+e') ] + likelihood,

``e'`` the top-left and ``e''`` the bottom-right n x n block of e.  With
``e = m V + m^2 Y`` (V the critical mode ``V_{t,t+1} = (t+1)/n``, Y on lags
0 and 2) the m^4 coefficient is ``Q4(V) + G(Y) + K(Y)``; minimising over Y
gives ``b_e = Q4 + G(Y*)/2``.  :func:`general_b_e` does this for a *symbolic*
n: every matrix is banded with entries polynomial in the row index, stored as
pieces ``(offset, f(i), first row, last row)`` whose row bounds are integers or
``n +`` integers; traces are ``sympy.summation`` of polynomials; Y* is a
polynomial in t between boundary layers of fixed width, fixed by the interior
recurrence as a polynomial identity in t and by the boundary rows.  The result,
derived in ``derivations/landau_general_T.tex``, is (x the load ``v H^{T-1,T-1}/kappa``
at r_c, ``x > 1/(2T-1)`` where the branch is stable there)

    b_e(T, x) = [ (-2T^2 + 11T - 8) x - T ] / [ 8 (T-1) ((2T-1) x - 1) ].

What is proved and what is checked:

* proved for every ``T >= T_min = 12`` (``general_b_e().T_min``: the
  smallest T at which every comparison of row bounds made in the derivation,
  a constant against ``n +`` a constant, has its large-n outcome): the
  symbolic computation is exact in n.  For T = 3..20 the same m^4 coefficient
  is computed exactly per T from dense matrices (:func:`exact_b_e`) and equals
  the formula; for T = 3..9 it also equals the per-T derivation from the
  unreduced action, :func:`linkernel.symbolic.landau.landau_coefficients`
  (tests/symbolic/test_order.py).  So the formula holds for every T >= 3.
  Numerically, b from the NumPy action (slope of the constrained minimum at
  fixed m near lambda_c, Richardson in m) agrees to 1e-6 for T = 3..8 and to
  2e-3 up to T = 20.
* hence the sign: ``-2T^2 + 11T - 8 < 0`` for every integer ``T >= 5`` (its
  roots are (11 +- sqrt 57)/4 = 0.86, 4.64), so for T >= 5 the numerator is
  negative at every load, b < 0 wherever the branch is stable at r_c, and
  where it is not (``x <= 1/(2T-1)``) the symmetric state has already folded:
  the transition is first order for every ``T >= 5`` and every
  ``kappa, w, v, u > 0``.  T = 3 and 4 are second order for ``kappa <
  kappa_t`` and first order above it, tricritical at
  ``kappa_t = v h_c (-2T^2+11T-8)/T`` with ``h_c = u w^{T-1} r_c^T``:
  56/3 v u w^2 and 81/16 v u w^3.
* not covered here: the sixth-order coefficient c at general T (needed only
  at the two tricritical points, computed per T by landau.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from linkernel.validation import count as _count, positive as _positive

#: n = T - 1, the index of the last hidden state
n = sp.Symbol("n", positive=True, integer=True)
#: the load x = v H^{T-1,T-1} / kappa at r_c
x = sp.Symbol("x", positive=True)
_i = sp.Symbol("i", integer=True)

_T = sp.Symbol("T", positive=True, integer=True)
#: the closed form, as a function of the symbols T and x (proved: see the module docstring)
B_E_CLOSED_FORM = ((-2 * _T ** 2 + 11 * _T - 8) * x - _T) / (8 * (_T - 1) * ((2 * _T - 1) * x - 1))


# --- banded matrices of symbolic size ------------------------------------------------
def _key(bound) -> tuple:
    """Order of a row bound ``c`` or ``n + c`` for large n."""
    b = sp.expand(bound)
    a = b.coeff(n)
    return int(a), int(b - a * n)


#: every pair of row bounds compared while deriving (their large-n order is what the derivation assumes)
_COMPARED: set = set()


def _le(a, b) -> bool:
    """``a <= b`` for large n, recorded in _COMPARED."""
    ka, kb = _key(a), _key(b)
    _COMPARED.add((ka, kb))
    return ka <= kb


def _max(a, b):
    return b if _le(a, b) else a


def _min(a, b):
    return a if _le(a, b) else b


def _n_min() -> int:
    """The smallest n at which every recorded comparison between ``c`` and ``n + c'`` has its large-n outcome.

    Strict ``c < n + c'`` (conservative) for each mixed pair: n >= c - c' + 1.
    """
    need = [ca - cb + 1 for (a, ca), (b, cb) in _COMPARED if a == 0 and b == 1]
    need += [cb - ca + 1 for (a, ca), (b, cb) in _COMPARED if a == 1 and b == 0]
    return max(need, default=1)


class Band:
    """A matrix of size ``n + shift`` given by pieces: entry (i, i+k) += f(i) for lo <= i <= hi."""

    def __init__(self, shift: int, pieces=()):
        self.shift = shift
        self.pieces = [p for p in pieces if p[1] != 0 and _le(p[2], p[3])]

    @property
    def last(self):
        return n + self.shift - 1

    def __add__(self, other: "Band") -> "Band":
        assert self.shift == other.shift
        return Band(self.shift, self.pieces + other.pieces)

    def __sub__(self, other: "Band") -> "Band":
        return self + other * -1

    def __mul__(self, c) -> "Band":
        return Band(self.shift, [(k, sp.expand(c * f), lo, hi) for k, f, lo, hi in self.pieces])

    def __matmul__(self, other: "Band") -> "Band":
        assert self.shift == other.shift
        out = []
        for ka, f, la, ha in self.pieces:
            for kb, g, lb, hb in other.pieces:
                lo, hi = _max(la, lb - ka), _min(ha, hb - ka)
                out.append((ka + kb, sp.expand(f * g.subs(_i, _i + ka)), lo, hi))
        return Band(self.shift, out)

    def trace(self):
        return sp.factor(sum((sp.summation(f, (_i, lo, hi)) for k, f, lo, hi in self.pieces if k == 0),
                             sp.Integer(0)))

    def top_left(self) -> "Band":
        """The leading block with one row and column fewer (``e'``)."""
        last = self.last - 1
        return Band(self.shift - 1, [(k, f, lo, _min(hi, _min(last, last - k))) for k, f, lo, hi in self.pieces])

    def bottom_right(self) -> "Band":
        """The trailing block with one row and column fewer (``e''``), re-indexed from 0."""
        out = [(k, f.subs(_i, _i + 1), _max(lo, _max(sp.Integer(1), sp.Integer(1 - k))) - 1, hi - 1)
               for k, f, lo, hi in self.pieces]
        return Band(self.shift - 1, out)

    def embed_top(self) -> "Band":
        """Embed into the top-left corner of a matrix one larger."""
        return Band(self.shift + 1, self.pieces)

    def embed_bottom(self) -> "Band":
        """Embed into the bottom-right corner of a matrix one larger."""
        return Band(self.shift + 1, [(k, f.subs(_i, _i - 1), lo + 1, hi + 1) for k, f, lo, hi in self.pieces])

    def entry(self, k: int, row):
        """Entry (row, row + k) at a row given as ``c`` or ``n + c``."""
        return sp.expand(sum((f.subs(_i, row) for kk, f, lo, hi in self.pieces
                              if kk == k and _le(lo, row) and _le(row, hi)), sp.Integer(0)))

    def interior(self, k: int, lo, hi):
        """The polynomial entry (i, i+k) on rows lo..hi; every piece must cover them all or none."""
        tot = sp.Integer(0)
        for kk, f, plo, phi in self.pieces:
            if kk != k:
                continue
            covers = _le(plo, lo) and _le(hi, phi)
            misses = not _le(lo, phi) or not _le(plo, hi)
            if not (covers or misses):
                raise AssertionError(f"piece on rows {plo}..{phi} cuts the interior {lo}..{hi}: widen the layers")
            if covers:
                tot += f
        return sp.expand(tot)


def _symmetric(shift: int, diagonals: dict) -> Band:
    """Symmetric band from {k >= 0: [(f, lo, hi)]} giving entry (i, i+k) = f(i) on rows lo..hi."""
    pieces = []
    for k, lst in diagonals.items():
        for f, lo, hi in lst:
            pieces.append((k, f, lo, hi))
            if k:
                pieces.append((-k, f.subs(_i, _i - k), lo + k, hi + k))
    return Band(shift, pieces)


# --- the quartic coefficient for symbolic n -------------------------------------------
@dataclass(frozen=True, eq=False)
class GeneralLandau:
    """b_e at r_c for symbolic ``n = T - 1``, derived by :func:`general_b_e`.

    ``b_e``: function of n and x; ``q4``: the part from the critical mode alone;
    ``T_min``: the smallest T for which the derivation holds as written (the
    boundary layers of width ``layer`` do not meet); ``shift_lag0``,
    ``shift_lag2``: the interior polynomials of the even response Y* (in the
    row index i).
    """

    b_e: sp.Expr
    q4: sp.Expr
    T_min: int
    layer: int
    shift_lag0: sp.Expr
    shift_lag2: sp.Expr

    def b_e_of_T(self) -> sp.Expr:
        return sp.factor(self.b_e.subs(n, _T - 1))


@lru_cache(maxsize=None)
def general_b_e(layer: int = 3, degree: int = 5) -> GeneralLandau:
    """Derive b_e(n, x) at r_c = n/(n-1) for symbolic n (see the module docstring).

    ``layer``: number of free boundary values of Y* at each end of each lag;
    ``degree``: degree of the interior polynomial ansatz (the source is of
    degree 2 in the row index, so 4 suffices; higher degrees must come out zero).
    """
    _COMPARED.clear()
    r = n / (n - 1)
    N = sp.Integer(0)
    V = _symmetric(1, {1: [((_i + 1) / n, N, n - 1)]})           # V_{t,t+1} = (t+1)/n, t = 0..n-1
    V1, V2 = V.top_left(), V.bottom_right()
    PV = V2 - V1
    # the even response: free values in the layers, a polynomial in between
    unknowns = []

    def lag(k):
        last = n - k                                                  # rows t = 0..n-k of entry (t, t+k)
        cs = sp.symbols(f"a{k}_0:{degree + 1}")
        lo_s = sp.symbols(f"l{k}_0:{layer}")
        hi_s = sp.symbols(f"h{k}_0:{layer}")
        unknowns.extend(cs + lo_s + hi_s)
        poly = sum(c * _i ** j for j, c in enumerate(cs))
        pieces = [(poly, sp.Integer(layer), last - layer)]
        pieces += [(s, sp.Integer(j), sp.Integer(j)) for j, s in enumerate(lo_s)]
        pieces += [(s, last - j, last - j) for j, s in enumerate(hi_s)]
        return pieces, poly

    p0, poly0 = lag(0)
    p2, poly2 = lag(2)
    Y = _symmetric(1, {0: p0, 2: p2})
    Y1, Y2 = Y.top_left(), Y.bottom_right()
    lik = (r - 1) * x / (1 + x)                                       # d^2/dY_nn^2 of the likelihood's m^4 term
    E_nn = Band(1, [(0, sp.Integer(1), n, n)])
    # Gradient of G + K with respect to Y (entries treated as independent)
    VV1 = V1 @ V1
    grad = (((VV1.embed_bottom() - VV1.embed_top()) * r + (V1 @ PV + PV @ V1).embed_top() * r
             - V @ V + VV1.embed_top()) * sp.Rational(1, 2)
            + ((Y2.embed_top() + Y1.embed_bottom()) * (-r) + Y1.embed_top() * (2 * r) + Y - Y1.embed_top())
            * sp.Rational(1, 2)
            + (E_nn @ Y) * lik)
    eqs = []
    for k in (0, 2):
        last = n - k
        lo, hi = sp.Integer(layer + 1), last - layer - 1
        inner = sp.Poly(grad.interior(k, lo, hi), _i)
        eqs += inner.coeffs()
        for j in range(layer + 1):
            eqs += [grad.entry(k, sp.Integer(j)), grad.entry(k, last - j)]
    sol = sp.solve(eqs, unknowns, dict=True)
    if len(sol) != 1:
        raise AssertionError(f"the even response is not unique: {len(sol)} solutions")
    sol = sol[0]
    if set(sol) != set(unknowns):
        raise AssertionError("the even response is not fixed by the stationarity equations")
    Ys = Band(1, [(k, sp.expand(f.subs(sol)), lo, hi) for k, f, lo, hi in Y.pieces])
    Ys1, Ys2 = Ys.top_left(), Ys.bottom_right()
    G = sp.Rational(1, 2) * (r * ((VV1 @ (Ys2 - Ys1)).trace() + 2 * (Ys1 @ V1 @ PV).trace())
                             - (V @ V @ Ys).trace() + (VV1 @ Ys1).trace())
    q4 = sp.Rational(1, 2) * (-r * (V1 @ V1 @ V1 @ PV).trace() + (V @ V @ V @ V).trace() / 4
                              - (V1 @ V1 @ V1 @ V1).trace() / 4)
    b_e = sp.factor(sp.together(q4 + G / 2))
    # every comparison of row bounds made above must have its large-n outcome at the n in question
    return GeneralLandau(b_e=b_e, q4=sp.factor(q4), T_min=max(3, _n_min() + 1), layer=layer,
                         shift_lag0=sp.factor(poly0.subs(sol)), shift_lag2=sp.factor(poly2.subs(sol)))


@lru_cache(maxsize=None)
def exact_b_e(T: int) -> sp.Expr:
    """b_e(x) at r_c for one T from dense T x T matrices (exact rationals in x): the same m^4 coefficient.

    The check of :func:`general_b_e` below its ``T_min``: builds V, the even
    unknowns Y (lags 0, 2), the m^4 coefficient ``Q4 + G(Y) + K(Y)`` of the
    trace form in the module docstring, and minimises over Y (a linear solve).
    """
    T = _check(T)
    N = T - 1
    r = sp.Rational(N, N - 1)
    V = sp.zeros(T, T)
    for t in range(N):
        V[t, t + 1] = V[t + 1, t] = sp.Rational(t + 1, N)
    Y = sp.zeros(T, T)
    ys = []
    for k in (0, 2):
        for t in range(T - k):
            s = sp.Symbol(f"y{k}_{t}")
            Y[t, t + k] = Y[t + k, t] = s
            ys.append(s)
    V1, V2, Y1, Y2 = V[:N, :N], V[1:, 1:], Y[:N, :N], Y[1:, 1:]
    PV, PY = V2 - V1, Y2 - Y1
    tr = lambda M: M.trace()  # noqa: E731
    q4 = sp.Rational(1, 2) * (-r * tr(V1 ** 3 * PV) + tr(V ** 4) / 4 - tr(V1 ** 4) / 4)
    G = sp.Rational(1, 2) * (r * tr(V1 ** 2 * PY) + 2 * r * tr(Y1 * V1 * PV) - tr(V ** 2 * Y) + tr(V1 ** 2 * Y1))
    K = (sp.Rational(1, 2) * (-r * tr(Y1 * PY) + tr(Y ** 2) / 2 - tr(Y1 ** 2) / 2)
         + (r - 1) * x / (2 * (1 + x)) * Y[N, N] ** 2)
    c4 = sp.expand(q4 + G + K)
    sol = sp.solve([sp.diff(c4, s) for s in ys], ys, dict=True)
    if len(sol) != 1:
        raise AssertionError("the even response is not unique")
    return sp.factor(sp.together(c4.subs(sol[0])))


# --- the public functions ---------------------------------------------------------------
def _check(T: int) -> int:
    T = _count("T", T)
    if T < 3:
        raise ValueError(f"T={T} is invalid: the RNN endpoint task has a transition only for T >= 3")
    return T


def critical_load(T: int, kappa: float = 0.1, w: float = 1.0, v: float = 1.0, u: float = 1.0) -> float:
    """The load ``x_c = v h_c / kappa`` at lambda_c, ``h_c = u w^{T-1} r_c^T``, ``r_c = (T-1)/(T-2)``."""
    T = _check(T)
    kappa, w, v, u = (_positive(k, a) for k, a in (("kappa", kappa), ("w", w), ("v", v), ("u", u)))
    return v * u * w ** (T - 1) * ((T - 1) / (T - 2)) ** T / kappa


def landau_b(T: int, kappa: float = 0.1, w: float = 1.0, v: float = 1.0, u: float = 1.0,
             normalised: bool = False) -> float:
    """The quartic Landau coefficient b at lambda_c of the RNN endpoint task (P = 1), closed form in T.

    ``S_eff(m) = S_0 + a m^2 + b m^4`` with ``m = H^{T-1,T-2}``; ``normalised=True``
    returns b_e for ``e = m / sqrt(H^{T-1,T-1} H^{T-2,T-2})`` instead
    (``b = b_e (w r_c / h_c^2)^2``).  Proved for every T >= 3 (module docstring;
    T below :func:`general_b_e`'s ``T_min`` checked one by one against
    :func:`linkernel.symbolic.landau.landau_coefficients`).  Infinite
    (-inf) at the fold load ``x = 1/(2T-1)``; for smaller loads the branch is
    unstable at r_c and b describes a saddle, not the transition.
    """
    T = _check(T)
    xc = critical_load(T, kappa, w, v, u)
    den = 8 * (T - 1) * ((2 * T - 1) * xc - 1)
    be = ((-2 * T * T + 11 * T - 8) * xc - T) / den if den != 0 else -math.inf
    if normalised:
        return be
    rc = (T - 1) / (T - 2)
    hc = u * w ** (T - 1) * rc ** T
    return be * (w * rc / hc ** 2) ** 2


def tricritical_kappa(T: int, w: float = 1.0, v: float = 1.0, u: float = 1.0) -> float | None:
    """kappa where b = 0 at lambda_c: ``v h_c (-2T^2+11T-8)/T``; None for T >= 5 (none exists, proved).

    T = 3: 56/3 v u w^2; T = 4: 81/16 v u w^3.  The tricritical load
    ``T/(-2T^2+11T-8)`` exceeds the fold load 1/(2T-1) for T = 3, 4, so the
    branch is stable there.
    """
    T = _check(T)
    w, v, u = (_positive(k, a) for k, a in (("w", w), ("v", v), ("u", u)))
    c = -2 * T * T + 11 * T - 8
    if c <= 0:
        return None
    hc = u * w ** (T - 1) * ((T - 1) / (T - 2)) ** T
    return v * hc * c / T


def transition_order(T: int, kappa: float = 0.1, w: float = 1.0, v: float = 1.0, u: float = 1.0,
                     tol: float = 1e-12) -> str:
    """'second order', 'first order' or 'tricritical' for the RNN endpoint task (P = 1), for every T >= 3.

    From the sign of :func:`landau_b` (proved closed form); 'first order' also
    where the symmetric branch folds before r_c (load ``x_c <= 1/(2T-1)``).
    For T >= 5 always 'first order' (proved: module docstring); for T = 3, 4
    'second order' below :func:`tricritical_kappa`, 'first order' above it.
    ``tol``: relative distance of kappa from the tricritical kappa counted as tricritical.
    """
    T = _check(T)
    kappa = _positive("kappa", kappa)
    kt = tricritical_kappa(T, w, v, u)
    if kt is not None and abs(kappa - kt) <= tol * kt:
        return "tricritical"
    xc = critical_load(T, kappa, w, v, u)
    if xc <= 1.0 / (2 * T - 1):
        return "first order"
    return "second order" if landau_b(T, kappa, w, v, u, normalised=True) > 0 else "first order"


@dataclass(frozen=True, eq=False)
class GeneralOrder:
    """The order of the RNN endpoint transition (P = 1) for every T: the closed form and its status.

    ``b_e``: the formula (SymPy, symbols T, x); ``tricritical_kappa``: {T: kappa_t} in units of
    ``v u w^{T-1}`` for the T that have one; ``first_order_from_T``: every T from here on is first
    order at every kappa; ``proved_from_T``: T_min of the symbolic-n derivation; ``checked_T``:
    the T computed one by one (dense, exact); ``derived``: whether :func:`general_b_e` was run in
    this call (else the stored closed form is reported).
    """

    b_e: sp.Expr
    tricritical_kappa: dict
    first_order_from_T: int
    proved_from_T: int
    checked_T: tuple
    derived: bool

    def to_dict(self) -> dict:
        return {"b_e": str(self.b_e), "b_e_latex": sp.latex(self.b_e),
                "tricritical_kappa": {str(k): str(v) for k, v in self.tricritical_kappa.items()},
                "first_order_from_T": self.first_order_from_T, "proved_from_T": self.proved_from_T,
                "checked_T": list(self.checked_T), "derived": self.derived}

    def summary(self) -> str:
        tc = ", ".join(f"T={k}: kappa_t = {v} v u w^{k - 1}" for k, v in self.tricritical_kappa.items())
        return "\n".join([
            "RNN endpoint task (P = 1), Landau quartic coefficient at lambda_c, normalised order parameter:",
            f"  b_e(T, x) = {self.b_e}    (x = v H^(T-1,T-1)/kappa at r_c; branch stable at r_c for x > 1/(2T-1))",
            f"  proved for T >= {self.proved_from_T} (symbolic n{'' if self.derived else ', stored'}), "
            f"exact per-T check for T = {self.checked_T[0]}..{self.checked_T[-1]}",
            f"  tricritical: {tc}; second order below, first order above",
            f"  first order for every T >= {self.first_order_from_T} at every kappa, w, v, u > 0"])

    __str__ = summary


def general_order(derive: bool = False, check_T=range(3, 13)) -> GeneralOrder:
    """The general-T result; ``derive=True`` reruns the symbolic-n derivation (minutes) and checks it.

    ``check_T``: the T whose b_e is recomputed exactly (:func:`exact_b_e`) and compared with the
    closed form (raises AssertionError on a mismatch).
    """
    T_min = 12
    if derive:
        g = general_b_e()
        if sp.simplify(g.b_e_of_T() - B_E_CLOSED_FORM) != 0:
            raise AssertionError("the symbolic-n derivation does not give the stored closed form")
        T_min = g.T_min
    checked = tuple(int(T) for T in check_T)
    for T in checked:
        if sp.simplify(exact_b_e(T) - B_E_CLOSED_FORM.subs(_T, T)) != 0:
            raise AssertionError(f"T={T}: exact b_e differs from the closed form")
    tric = {}
    for T in (3, 4):
        c = -2 * T * T + 11 * T - 8
        tric[T] = sp.Rational(T - 1, T - 2) ** T * sp.Rational(c, T)
    return GeneralOrder(b_e=sp.factor(B_E_CLOSED_FORM), tricritical_kappa=tric, first_order_from_T=5,
                        proved_from_T=T_min, checked_T=checked, derived=derive)

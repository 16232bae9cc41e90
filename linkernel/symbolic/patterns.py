"""The critical point of the endpoint task (``P = 1``) for any weight-sharing pattern, derived with SymPy.

For an :class:`linkernel.architecture.Architecture` the symmetric (diagonal)
branch is the same as for the RNN: ``h_t = u r^{t+1} prod_{s<=t} w_{g(s)}``
(``w_g`` the group variances, all ``w`` by default), with
``lambda(r) = (v h_{T-1} + kappa) sqrt((r - 1)/(v h_{T-1}))``.  What the
pattern changes is the Hessian on that branch.  :func:`pattern_critical_point`

1. takes the second-order Taylor polynomial of
   :func:`linkernel.symbolic.symmetric_branch.normalized_action` (the action in
   ``H = D^{1/2}(1 + e)D^{1/2}``, a function of the branch ratio r and the
   load ``x = v h_{T-1}/kappa`` only) and reads off its Hessian in the
   entries ``e_{ij}`` (``i <= j``);
2. splits it into its connected blocks (the graph of nonzero entries; no lag
   structure is assumed) and gives each block its character under the group
   flips ``W_g -> -W_g`` (:meth:`Architecture.flip_signs`; a block is
   Z2-odd when its entries are odd under some flip, checked to be the same
   for every entry of a block);
3. factors each block's determinant, and takes ``r_c`` = the smallest real
   root ``r > 1`` of an odd block's determinant (``oo`` where there is none);
   ``lambda_c = lambda(r_c)``.

What comes out (checked by the tests, and by :attr:`PatternCriticalPoint.blocks`
for each pattern): every off-diagonal block is a *chain*
``e_{a,b}, e_{a+1,b+1}, ..., e_{a+n-1,b+n-1}`` along one diagonal, linked
wherever ``(a+j, b+j)`` (j >= 1) use the same W matrix (``a = 0``, or
``(a, b)`` not sharing, starts it); its matrix is ``2r`` on the diagonal,
``-r`` beside it and ``1`` in the last corner, whatever the pattern, so its
determinant is ``r^(n-1) (n - (n-1) r)``: singular at ``r = n/(n-1)``.
No odd block depends on x (only the lag-0 block carries the likelihood).
Hence ``r_c = n*/(n* - 1)`` with ``n*`` the longest Z2-odd chain; a run of L
consecutive steps of one group gives a lag-1 chain with ``n = L``; a tied
pair ``{s, t}`` (any gap) a chain ``e_{s-1,t-1}, e_{s,t}`` with ``n = 2``,
``r_c = 2``.

:func:`pattern_landau` generalises :mod:`linkernel.symbolic.landau` to every
pattern: with ``e = m sum_k c_k V_k + m^2 Y`` (``V_k`` the null vectors of
the critical blocks, several where blocks go critical together; ``Y`` on the
entries whose character is a product of two critical characters) the m^4
coefficient minimised over Y is the quartic ``b(c)``; the transition is
second order where ``b > 0`` in every direction c, first order where it is
negative in some direction (or where the branch has folded before r_c).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from linkernel.architecture import Architecture
from linkernel.display import Display
from linkernel.symbolic.action import kappa, u, v, w
from linkernel.symbolic.symmetric_branch import normalized_action, perturbation_symbols, r, x
from linkernel.validation import count as _count

_eps = sp.Symbol("epsilon")
_m = sp.Symbol("m", real=True)


# --- blocks of the Hessian on the branch ---------------------------------------------
@dataclass(frozen=True, eq=False)
class Block:
    """One connected block of the Hessian on the symmetric branch.

    ``coordinates``: the entries ``(i, j)`` (``i <= j``) of e it couples, in
    the order of ``matrix`` (the Hessian of S in them; a function of r, and of
    x for the lag-0 block); ``determinant``: factored; ``character``: the sign
    of the block's entries under each W group's flip (+1 even, -1 odd);
    ``roots``: the real roots ``r > 1`` of the determinant, ascending (empty
    for the lag-0 block, whose determinant depends on x: see ``fold``).
    """

    coordinates: tuple
    matrix: sp.Matrix
    determinant: sp.Expr
    character: tuple
    roots: tuple

    @property
    def odd(self) -> bool:
        return any(c < 0 for c in self.character)

    @property
    def breaks(self) -> tuple:
        """The W groups (indices) whose flip this block's entries are odd under."""
        return tuple(g for g, c in enumerate(self.character) if c < 0)

    @property
    def size(self) -> int:
        return len(self.coordinates)

    @property
    def depends_on_x(self) -> bool:
        return x in self.determinant.free_symbols

    @property
    def lags(self) -> tuple:
        return tuple(sorted({j - i for i, j in self.coordinates}))

    @property
    def is_chain(self) -> bool:
        """Whether the block is ``e_{a,b}, e_{a+1,b+1}, ...`` along one diagonal."""
        c = self.coordinates
        return all(c[k + 1] == (c[k][0] + 1, c[k][1] + 1) for k in range(len(c) - 1))

    @property
    def first_root(self):
        return self.roots[0] if self.roots else sp.oo

    def text(self) -> str:
        ent = ",".join(f"e{i}{j}" for i, j in self.coordinates)
        return f"[{ent}]"


def _hessian_matrix(S2: sp.Expr, coords: list) -> sp.Matrix:
    """Hessian of the quadratic form S2 in ``coords`` (read off its polynomial coefficients)."""
    n = len(coords)
    Hm = sp.zeros(n, n)
    poly = sp.Poly(sp.expand(S2), *coords)
    for mon, c in poly.terms():
        idx = [k for k, p in enumerate(mon) if p]
        if sum(mon) != 2:
            raise AssertionError(f"S2 has a term of degree {sum(mon)} in e; it must be a quadratic form")
        if len(idx) == 1:
            Hm[idx[0], idx[0]] += 2 * c
        else:
            Hm[idx[0], idx[1]] += c
            Hm[idx[1], idx[0]] += c
    return Hm


def _components(Hm: sp.Matrix) -> list:
    """Connected components of the graph of nonzero off-diagonal entries, each sorted, ordered by first index."""
    n = Hm.shape[0]
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in range(n):
        for b in range(a + 1, n):
            if Hm[a, b] != 0:
                parent[find(a)] = find(b)
    comps = {}
    for a in range(n):
        comps.setdefault(find(a), []).append(a)
    return sorted((sorted(c) for c in comps.values()), key=lambda c: c[0])


def _character(arch: Architecture, i: int, j: int) -> tuple:
    return tuple(int(arch.flip_signs(g)[i] * arch.flip_signs(g)[j]) for g in range(len(arch.W)))


def _roots_above_one(det: sp.Expr) -> tuple:
    num = sp.numer(sp.together(det))
    if num.free_symbols - {r}:
        return ()
    if r not in num.free_symbols:
        return ()
    roots = sp.Poly(num, r).real_roots()
    return tuple(sorted({sp.nsimplify(s) if s.is_rational else s for s in roots if s > 1},
                        key=lambda s: float(s)))


@lru_cache(maxsize=None)
def _blocks(arch: Architecture) -> tuple:
    T = arch.T
    syms = perturbation_symbols(T)
    order = list(syms)
    E = sp.Matrix(T, T, lambda i, j: _eps * syms[(min(i, j), max(i, j))])
    S2 = normalized_action(arch, T, E, _eps, 2).coeff(_eps, 2)
    Hm = _hessian_matrix(S2, [syms[k] for k in order])
    out = []
    for comp in _components(Hm):
        coords = tuple(order[a] for a in comp)
        chars = {_character(arch, i, j) for i, j in coords}
        if len(chars) != 1:
            raise AssertionError(f"block {coords} mixes Z2 characters {chars}: the Hessian does not commute "
                                 "with the group flips")
        B = Hm.extract(comp, comp)
        if any(x in e.free_symbols for e in B):
            # the lag-0 block: only the likelihood entry is rational in x
            B = B.applyfunc(lambda e: sp.factor(sp.together(e)) if x in e.free_symbols else sp.expand(e))
        det = sp.factor(sp.together(B.det(method="berkowitz")))
        out.append(Block(coordinates=coords, matrix=B, determinant=det, character=chars.pop(),
                         roots=_roots_above_one(det)))
    return tuple(out)


def hessian_blocks(arch: Architecture) -> tuple:
    """The connected blocks of the Hessian on the endpoint task's symmetric branch, for any pattern."""
    return _blocks(_arch(arch))


# --- the critical point ---------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PatternCriticalPoint(Display):
    """The Z2 critical point of the endpoint task (``P = 1``, labels of unit norm) for one pattern.

    ``r_c``: the critical branch ratio ``H^{tt}/Sigma^{tt}`` (a SymPy number;
    ``oo`` where no odd block ever becomes singular: no transition);
    ``lambda_c``: SymPy expression in ``w, v, u, kappa`` (``oo`` without a
    transition); ``critical_blocks``: the odd blocks singular at r_c (more than
    one where several go critical at once, ``degenerate``); ``groups``: the W
    groups whose flip the critical mode(s) break; ``modes``: the null vectors
    (T x T symmetric, normalised to 1 at the block's last entry);
    ``blocks``: every block; ``depends_on_x``: whether any odd block's
    determinant depends on the load x (it never does);
    ``even_instability``: the smallest r > 1 where an even block other than
    the lag-0 (likelihood) block becomes singular (``oo`` if none; below r_c
    the symmetric branch loses stability *without* breaking a group flip);
    ``seconds``: time of the derivation.
    """

    arch: Architecture
    T: int
    r_c: sp.Expr
    lambda_c: sp.Expr
    critical_blocks: tuple
    groups: tuple
    modes: tuple
    blocks: tuple
    depends_on_x: bool
    even_instability: sp.Expr
    seconds: float = field(default=0.0)

    @property
    def has_transition(self) -> bool:
        return self.r_c is not sp.oo

    @property
    def degenerate(self) -> bool:
        return len(self.critical_blocks) > 1

    @property
    def block(self) -> Block | None:
        """The (first) block that goes critical."""
        return self.critical_blocks[0] if self.critical_blocks else None

    @property
    def chain_length(self):
        """n* of ``r_c = n*/(n*-1)``: the size of the critical block (None without a transition)."""
        return self.block.size if self.block else None

    @property
    def group_text(self) -> str:
        """The breaking groups by their steps, e.g. ``W{1,2}``; ``&`` joins blocks that go critical together."""
        if not self.critical_blocks:
            return "-"
        parts = []
        for b in self.critical_blocks:
            parts.append("+".join("W{" + ",".join(map(str, self.arch.W[g])) + "}" for g in b.breaks))
        return " & ".join(dict.fromkeys(parts))

    def lambda_c_value(self, w_: float = 1.0, v_: float = 1.0, u_: float = 1.0, kappa_: float = 0.1) -> float:
        """lambda_c at these hyperparameters (inf without a transition)."""
        if not self.has_transition:
            return math.inf
        return float(sp.N(self.lambda_c.subs({w: w_, v: v_, u: u_, kappa: kappa_}), 30))

    @property
    def lambda_c_function(self):
        """``f(w, v, u, kappa) -> lambda_c`` (NumPy)."""
        return sp.lambdify((w, v, u, kappa), self.lambda_c, "numpy")

    def load(self, w_: float = 1.0, v_: float = 1.0, u_: float = 1.0, kappa_: float = 0.1) -> float:
        """``x_c = v h_{T-1} / kappa`` at r_c."""
        if not self.has_transition:
            return math.inf
        return float(sp.N((v * _last_kernel(self.arch, self.r_c) / kappa).subs(
            {w: w_, v: v_, u: u_, kappa: kappa_}), 30))

    def branch_stable(self, load: float) -> bool:
        """Whether the lag-0 (likelihood) block is positive definite at r_c and this load (else the
        branch has folded before r_c: the symmetric state ends at a fold, a first-order jump)."""
        B = _lag0(self.blocks).matrix.subs({r: self.r_c, x: sp.nsimplify(load)})
        return bool(np.all(np.linalg.eigvalsh(np.array(B.evalf(), dtype=float)) > 0))

    @property
    def fold_load(self):
        """The load below which the lag-0 block is not positive definite at r_c.

        The lag-0 block is the same for every pattern; its fold load depends on
        the pattern only through r_c (``1/(2T-1)`` for the RNN's ``r_c = (T-1)/(T-2)``).
        """
        if not self.has_transition:
            return None
        det = sp.numer(sp.together(_lag0(self.blocks).determinant.subs(r, self.r_c)))
        roots = [s for s in sp.Poly(det, x).real_roots() if s > 0]
        return max(roots) if roots else sp.Integer(0)

    def summary(self) -> str:
        lines = [f"{self.arch.label} (W {list(map(list, self.arch.W))}), T={self.T}: "
                 f"{len(self.blocks)} Hessian blocks, {sum(b.odd for b in self.blocks)} odd"]
        if not self.has_transition:
            lines.append("no odd block ever becomes singular: no transition (r_c = oo)")
        else:
            lines.append(f"r_c = {self.r_c}  (critical block{'s' if self.degenerate else ''}: "
                         + "; ".join(b.text() for b in self.critical_blocks)
                         + f", det {self.block.determinant}); breaks {self.group_text}")
            lines.append(f"lambda_c = {self.lambda_c}")
        if self.even_instability is not sp.oo:
            lines.append(f"even block singular at r = {self.even_instability}"
                         + (" (BEFORE r_c: non-Z2 instability first)"
                            if float(self.even_instability) < float(self.r_c) else ""))
        return "\n".join(lines)

    __str__ = summary

    def _repr_latex_(self) -> str:
        """``$r_c = ..., \\quad \\lambda_c = <closed form in w, v, u, kappa>$`` (Jupyter renders it)."""
        if not self.has_transition:
            return r"$r_c = \infty$ (no transition)"
        return rf"$r_c = {sp.latex(self.r_c)}, \quad \lambda_c = {sp.latex(self.lambda_c)}$"

    def _display_rows(self) -> list:
        return [("arch", self.arch), ("T", self.T), ("transition", self.has_transition), ("r_c", self.r_c),
                ("lambda_c (w, v, u, kappa)", self.lambda_c), ("breaks", self.group_text),
                ("critical blocks", len(self.critical_blocks)), ("degenerate", self.degenerate),
                ("Hessian blocks", len(self.blocks)), ("even block singular at r", self.even_instability),
                ("seconds", self.seconds)]


def _arch(arch) -> Architecture:
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch={arch!r} is invalid here; pass an Architecture (linkernel.rnn(T), ...)")
    return arch


def _lag0(blocks) -> Block:
    return next(b for b in blocks if b.depends_on_x)


def _last_kernel(arch: Architecture, ratio) -> sp.Expr:
    """h_{T-1} on the branch at ratio r: ``u r^T prod_t w_{g(t)}``."""
    prod = sp.Integer(1)
    for t in range(1, arch.T):
        var = arch.w[arch.w_group(t)]
        prod *= w if var is None else sp.nsimplify(var)
    return u * prod * ratio ** arch.T


def lambda_of_ratio(arch: Architecture, ratio=r) -> sp.Expr:
    """lambda on the symmetric branch at ratio r: ``(v h + kappa) sqrt((r - 1)/(v h))``, ``h = h_{T-1}``."""
    h = _last_kernel(_arch(arch), ratio)
    return (v * h + kappa) * sp.sqrt((ratio - 1) / (v * h))


def _null_vector(block: Block, rc, T: int) -> sp.Matrix:
    ns = block.matrix.subs(r, rc).nullspace()
    if len(ns) != 1:
        raise AssertionError(f"block {block.text()} has a {len(ns)}-dimensional null space at r_c")
    vec = ns[0] / ns[0][len(ns[0]) - 1]
    V = sp.zeros(T, T)
    for (i, j), c in zip(block.coordinates, vec):
        V[i, j] = V[j, i] = sp.nsimplify(c)
    return V


@lru_cache(maxsize=None)
def _critical_point(arch: Architecture) -> PatternCriticalPoint:
    t0 = time.perf_counter()
    T = arch.T
    blocks = _blocks(arch)
    odd = [b for b in blocks if b.odd]
    roots = [b.first_root for b in odd if b.roots]
    rc = min(roots, key=float) if roots else sp.oo
    crit = tuple(b for b in odd if b.roots and b.roots[0] == rc) if roots else ()
    even = [b.first_root for b in blocks if not b.odd and not b.depends_on_x and b.roots]
    groups = tuple(sorted({g for b in crit for g in b.breaks}))
    modes = tuple(_null_vector(b, rc, T) for b in crit)
    lc = sp.simplify(lambda_of_ratio(arch, rc)) if crit else sp.oo
    return PatternCriticalPoint(arch=arch, T=T, r_c=rc, lambda_c=lc, critical_blocks=crit, groups=groups,
                                modes=modes, blocks=blocks, depends_on_x=any(b.depends_on_x for b in odd),
                                even_instability=min(even, key=float) if even else sp.oo,
                                seconds=time.perf_counter() - t0)


def pattern_critical_point(arch: Architecture) -> PatternCriticalPoint:
    """Derive r_c and lambda_c of the endpoint task (``P = 1``) for the pattern ``arch`` (module docstring).

    Cached per pattern; T <= 8 takes about a second (the second-order Taylor
    polynomial and the Hessian's blocks).
    """
    arch = _arch(arch)
    _count("T", arch.T, 2)
    return _critical_point(arch)


def critical_ratio(arch: Architecture) -> sp.Expr:
    """The critical branch ratio r_c of the endpoint task for ``arch`` (``oo``: no transition)."""
    return pattern_critical_point(arch).r_c


# --- Landau theory: the order ---------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PatternLandau(Display):
    """``S_eff - S_0 = b(c) m^4 + O(m^6)`` at r_c, along ``e = m sum_k c_k V_k`` (the critical modes).

    ``quartic``: b(c) after minimising out the entries driven at O(m^2), a
    polynomial in the direction ``c = (c_0, ...)`` and a rational function of
    the load x; ``b_e``: b at c = (1,) for a single critical mode (for the RNN
    :func:`linkernel.symbolic.landau.landau_coefficients`'s ``b_e``);
    ``driven``: the entries that shift at O(m^2).
    """

    point: PatternCriticalPoint
    directions: tuple
    quartic: sp.Expr
    driven: tuple
    seconds: float = 0.0
    #: the m^3 coefficient along the critical modes, a polynomial in c: nonzero only where several blocks go
    #: critical together whose characters multiply to the identity (a cubic invariant, e.g. the modes odd
    #: under W_1, under W_2 and under both); then the transition is first order whatever b
    cubic: sp.Expr = sp.Integer(0)

    @property
    def b_e(self) -> sp.Expr:
        return sp.factor(self.quartic.subs(self.directions[0], 1)) if len(self.directions) == 1 else None

    def min_quartic(self, load: float) -> float:
        """min of b(c) over unit directions c at this load (exact for one mode, a fine search otherwise)."""
        f = sp.lambdify(self.directions, self.quartic.subs(x, sp.nsimplify(load)), "numpy")
        k = len(self.directions)
        if k == 1:
            return float(f(1.0))
        rng = np.random.default_rng(0)
        pts = rng.normal(size=(20000, k))
        if k == 2:
            th = np.linspace(0, np.pi, 4001)
            pts = np.stack([np.cos(th), np.sin(th)], axis=1)
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
        return float(np.min(f(*pts.T)))

    def order(self, load: float, tol: float = 1e-9) -> str:
        """'second order' (b > 0 in every direction), 'first order' (b < 0 in some direction, or the branch
        folded before r_c, or a cubic invariant of the critical modes), 'tricritical' (|b| <= tol)."""
        if not self.point.branch_stable(load) or self.cubic != 0:
            return "first order"
        b = self.min_quartic(load)
        if abs(b) <= tol:
            return "tricritical"
        return "second order" if b > 0 else "first order"

    def _repr_latex_(self) -> str:
        """``$S_{eff} - S_0 = b(c)\\, m^4$`` with the quartic b(c) (and the cubic term where there is one)."""
        cubic = "" if self.cubic == 0 else rf"\left({sp.latex(self.cubic)}\right) m^3 + "
        return rf"$S_{{eff}} - S_0 = {cubic}\left({sp.latex(self.quartic)}\right) m^4$"

    def _display_rows(self) -> list:
        return [("arch", self.point.arch), ("critical modes", len(self.directions)), ("quartic b(c)", self.quartic),
                ("cubic", self.cubic), ("driven entries", len(self.driven)), ("seconds", self.seconds)]


@lru_cache(maxsize=None)
def _landau(arch: Architecture, load) -> PatternLandau:
    t0 = time.perf_counter()
    cp = _critical_point(arch)
    if not cp.has_transition:
        raise ValueError(f"arch {arch.label}: no transition (r_c = oo), no Landau expansion")
    T, rc = arch.T, cp.r_c
    cs = tuple(sp.Symbol(f"c_{k}", real=True) for k in range(len(cp.modes)))
    V = sum((c * M for c, M in zip(cs, cp.modes)), sp.zeros(T, T))
    chars = {tuple(a * b for a, b in zip(b1.character, b2.character))
             for b1, b2 in itertools.combinations_with_replacement(cp.critical_blocks, 2)}
    crit_coords = {c for b in cp.critical_blocks for c in b.coordinates}
    Y = sp.zeros(T, T)
    ys, ycoords = [], []
    for b in cp.blocks:
        if b.character in chars:
            for (i, j) in b.coordinates:
                if (i, j) in crit_coords:
                    continue
                s = sp.Symbol(f"y_{{{i}{j}}}", real=True)
                Y[i, j] = Y[j, i] = s
                ys.append(s)
                ycoords.append((i, j))
    S = normalized_action(arch, T, _m * V + _m ** 2 * Y, _m, 4).subs(r, rc)
    if load is not None:
        S = S.subs(x, load)
    S = sp.expand(S)
    for k in (1, 2):       # stationarity and the null modes: a failure is a bug in the blocks, not an input
        if sp.simplify(S.coeff(_m, k)) != 0:
            raise AssertionError(f"the m^{k} coefficient of S_eff does not vanish at r_c")
    cubic = sp.expand(sp.simplify(S.coeff(_m, 3)))
    c4 = S.coeff(_m, 4)
    # c4 = A(c) + g(c).y + 1/2 y^T K y with K the branch Hessian on the y entries (block diagonal)
    zero = {s: 0 for s in ys}
    A = c4.subs(zero)
    g = sp.Matrix([sp.diff(c4, s).subs(zero) for s in ys])
    K = sp.hessian(c4, ys) if ys else sp.zeros(0, 0)
    driven = [k for k in range(len(ys)) if sp.expand(g[k]) != 0]
    b = A
    if driven:
        # only blocks with a driven entry respond; solve each block's linear system
        for blk in cp.blocks:
            idx = [k for k, c in enumerate(ycoords) if c in blk.coordinates]
            if not any(k in driven for k in idx):
                continue
            Kb, gb = K.extract(idx, idx), g.extract(idx, [0])
            sol = Kb.LUsolve(gb)
            b = b - sp.Rational(1, 2) * (gb.T * sol)[0, 0]
    quartic = sp.factor(sp.together(sp.expand(b))) if len(cs) == 1 else sp.expand(sp.together(b))
    return PatternLandau(point=cp, directions=cs, quartic=quartic,
                         driven=tuple(ycoords[k] for k in driven), seconds=time.perf_counter() - t0, cubic=cubic)


def pattern_landau(arch: Architecture, load=None) -> PatternLandau:
    """The quartic Landau coefficient at r_c for ``arch`` (see :class:`PatternLandau`).

    ``load``: substitute ``x`` (a number, made exact) before solving, much
    faster for large T; None keeps x symbolic.
    """
    arch = _arch(arch)
    return _landau(arch, None if load is None else sp.nsimplify(load))


def derived_order(arch: Architecture, w_: float = 1.0, v_: float = 1.0, u_: float = 1.0,
                  kappa_: float = 0.1) -> str:
    """The order of the transition at these hyperparameters from :func:`pattern_landau` ('none' without one)."""
    cp = pattern_critical_point(arch)
    if not cp.has_transition:
        return "none"
    load = cp.load(w_, v_, u_, kappa_)
    return pattern_landau(arch, load).order(load)

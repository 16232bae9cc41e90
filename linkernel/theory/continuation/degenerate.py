"""Z2 branch points with several odd null directions: the reduced equation, the branches, the order.

A weight-sharing pattern can have odd Hessian blocks of several characters (which group flips
change their sign) turn singular at the same lambda_c (e.g. W = {1,3,4},{2} at T = 5: the modes odd
under W_0, under W_1 and under both).  The continuation then meets k > 1 coincident Z2 branch
points; any single null vector is an arbitrary mixture of the modes.  Here the null space gets a
basis of one character each (:func:`null_space`), the reduced equation on it its linear and
quadratic terms (:mod:`~linkernel.theory.continuation.landau`, :class:`Reduced`), and from those

* the directions to switch along (:meth:`Reduced.directions`): each mode alone (its branch lies in
  the subspace fixed by the flips the mode respects, an invariant subspace: the equivariant
  branching lemma) and, for each cubic invariant C_ijl != 0 (three modes whose characters multiply to
  the identity), the two solutions s_i^2 |B_ii| equal, sign s_i s_j s_l = +-1, of
  ``delta B_ii s_i + C_ijl s_j s_l = 0``: a transcritical branch through lambda_c, one half on each side;
* the order: a cubic invariant makes the transition first order (the reduced potential has a
  cubic term, so the symmetric minimum is metastable below lambda_c); without one, the sign of the
  quartic form's minimum over directions (:class:`QuarticScan`, which also gives the directions of
  the branches mixing two modes, selected by the quartic terms).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from linkernel.theory.action import upper_triangle
from linkernel.theory.continuation.landau import quartic_form, range_solver, reduced_linear, reduced_quadratic
from linkernel.theory.equations import Equations

#: |C_ijl| above this fraction of D^3S's size on the modes (``Reduced.scale``) is a cubic invariant.
#: Entries the symmetry forbids come out at rounding level (W = {1,3,4},{2}, T = 5, kappa = 0.397: below
#: 1e-14 of the scale), the invariant itself far above it (0.019 of the scale there)
CUBIC_TOL = 1e-7

#: |min b| below this fraction of the quartic form's terms counts as b = 0 (tracing.TRICRITICAL_TOL)
QUARTIC_TOL = 1e-7


def characters(problem) -> np.ndarray:
    """(dim, g) +-1: how each to_vector coordinate transforms under each symmetry W_g -> -W_g."""
    i, j, _ = upper_triangle(problem.n)
    cols = [s[i] * s[j] for _, s in problem.symmetries]
    if problem.has_z2:
        cols.append(problem.parity_signs[i] * problem.parity_signs[j])
    return np.array(cols).T if cols else np.ones((len(i), 0))


def null_space(eq: Equations, Hd, k: int) -> np.ndarray:
    """(k, dim) orthonormal rows spanning the k odd Hessian eigenvectors nearest zero, each of one character.

    ``Hd`` is the dense Hessian at the branch point.  The null space is invariant under every flip, so
    its projection on each character's coordinates spans that character's part of it (rank from the
    singular values, which are 0 or 1 up to rounding).
    """
    odd = eq.i_odd
    w, V = np.linalg.eigh(Hd[np.ix_(odd, odd)])
    full = np.zeros((k, eq.dim))
    full[:, odd] = V[:, np.argsort(np.abs(w))[:k]].T
    chars = characters(eq.problem)
    rows = []
    for ch in np.unique(chars[odd], axis=0):
        sel = np.all(chars == ch, axis=1)
        P = full[:, sel]
        U, sv, _ = np.linalg.svd(P.T, full_matrices=False)
        for col in U[:, sv > 0.5].T:
            v = np.zeros(eq.dim)
            v[sel] = col
            rows.append(v)
    if len(rows) != k:      # not split cleanly by character (an accidental degeneracy): keep eigh's basis
        return full
    return np.array(rows)


@dataclass(frozen=True)
class Reduced:
    """The reduced equation delta B s + C(s, s)/2 on the null space spanned by the rows of ``phi`` (k, dim)."""

    phi: np.ndarray
    linear: np.ndarray
    quadratic: np.ndarray
    scale: float

    @property
    def k(self) -> int:
        return len(self.phi)

    @property
    def cubic_triples(self) -> list:
        """(i, j, l, C_ijl) for i < j < l with |C_ijl| > CUBIC_TOL * scale: the cubic invariants."""
        C = self.quadratic
        return [(i, j, m, float(C[i, j, m])) for i, j, m in itertools.combinations(range(self.k), 3)
                if abs(C[i, j, m]) > CUBIC_TOL * self.scale]

    @property
    def cubic(self) -> float:
        """The largest |C_ijl| over the cubic invariants (0.0 where there is none)."""
        return max((abs(t[3]) for t in self.cubic_triples), default=0.0)

    def directions(self) -> list:
        """[(v (dim,), slope dlambda/d|s|, label)]: each mode alone, then each cubic invariant's two halves.

        A mode alone leaves as a pitchfork (slope 0).  For a triple (i, j, l) with C = C_ijl, s_i =
        sigma_i t / sqrt|B_ii| solves the reduced equation at delta = -C sigma_i sigma_j sigma_l t /
        (sign(B) sqrt|B_ii B_jj B_ll|) when the three B_ii share a sign; the product of the signs picks
        the half (the flips map the four sign patterns with one product onto each other).  The half
        leaving towards smaller lambda comes first.
        """
        B = np.diag(self.linear)
        out = []
        for i, j, m, C in self.cubic_triples:
            b = B[[i, j, m]]
            if not (np.all(b < 0) or np.all(b > 0)):
                continue
            halves = []
            for sig in ((1.0, 1.0, 1.0), (1.0, 1.0, -1.0)):
                s = np.array(sig) / np.sqrt(np.abs(b))
                delta = -C * np.prod(sig) / (np.sign(b[0]) * math.sqrt(abs(np.prod(b))))
                v = s @ self.phi[[i, j, m]]
                norm = float(np.linalg.norm(v))
                side = "smaller" if delta < 0 else "larger"
                halves.append((v / norm, delta / norm, f"modes {i}, {j}, {m} transcritical, towards {side} lambda"))
            out += sorted(halves, key=lambda d: d[1])
        out += [(self.phi[i], 0.0, f"mode {i} alone") for i in range(self.k)]
        return out


def reduced_equation(eq: Equations, X, Hd, tau, k: int) -> Reduced:
    """:class:`Reduced` at the branch point X (odd coordinates zero) with dense Hessian ``Hd``, the
    symmetric branch's unit tangent ``tau`` and k coincident critical modes."""
    phi = null_space(eq, Hd, k)
    C, scale = reduced_quadratic(eq, X[:-1], X[-1], phi)
    return Reduced(phi=phi, linear=reduced_linear(eq, X, phi, tau), quadratic=C, scale=scale)


class QuarticScan:
    """The quartic form b(u) on each plane of two modes (no cubic invariant): b even in each amplitude,
    so theta in [0, pi/2] covers the plane; ``g = b / (u^T |B| u)^2`` is stationary along each branch
    of the reduced equation delta B s + grad b(s) = 0 in the plane (an invariant subspace: the fixed
    space of the flips both modes respect), so its interior extrema are the mixed branches' directions.
    For k > 2 seeded random directions are added to the minimum (mixtures of three or more modes are
    not followed).
    """

    def __init__(self, eq: Equations, X, Hd, red: Reduced, samples: int = 33):
        solve = range_solver(Hd, red.phi)
        Babs = np.abs(np.diag(red.linear))
        self.directions, values = [], []
        th = np.linspace(0.0, 0.5 * np.pi, samples)
        for i, j in itertools.combinations(range(red.k), 2):
            bs = []
            for t in th:
                u = np.zeros(red.k)
                u[i], u[j] = np.cos(t), np.sin(t)
                bs.append(quartic_form(eq, X[:-1], X[-1], red.phi, Hd, u, solve=solve))
            values += bs
            b = np.array([v[0] for v in bs])
            g = b / (np.cos(th) ** 2 * Babs[i] + np.sin(th) ** 2 * Babs[j]) ** 2
            for m in range(1, samples - 1):
                if (g[m] - g[m - 1]) * (g[m + 1] - g[m]) < 0:      # an interior extremum of g
                    v = np.cos(th[m]) * red.phi[i] + np.sin(th[m]) * red.phi[j]
                    kind = "minimum" if g[m] < g[m - 1] else "maximum"
                    self.directions.append((v, 0.0, f"modes {i}, {j} mixed (quartic {kind} at {th[m]:.3g} rad)"))
        if red.k > 2:
            for u in np.random.default_rng(0).normal(size=(samples, red.k)):
                values.append(quartic_form(eq, X[:-1], X[-1], red.phi, Hd, u / np.linalg.norm(u), solve=solve))
        self.values = values

    def order(self) -> tuple:
        """('second order' | 'first order' | 'tricritical' | None, min b): the sign of the minimum of b
        over the sampled directions; None where it is not computable."""
        if any(not math.isfinite(b) for b, _ in self.values):
            return None, math.nan
        b, size = min(self.values, key=lambda t: t[0])
        if abs(b) <= QUARTIC_TOL * size:
            return "tricritical", b
        return ("second order" if b > 0 else "first order"), b

"""The symmetry of orthogonal patterns: the default search on three patterns stands for the search on P.

(The other exact reduction, to the span of the inputs where it is smaller than P, is
:mod:`linkernel.theory.span`; this one is a symmetry: with P orthogonal inputs the span is all of R^P.)

Kernel rows are ``t * P + p``.  Suppose the problem's input kernel is
``C = C_T (x) I_P`` (every P x P time block a multiple of the identity:
patterns with orthogonal inputs of equal norm, as in
:func:`linkernel.tasks.endpoint`), its supervised set is ``tau x {all
patterns}`` and its targets ``Y`` (``|tau| x P``) have rank one, ``Y = c b^T``
with ``|b| = 1``.  The masks of ``Sigma(H) = C + R * shift(H)`` act on the time
indices alone, so S is invariant under ``H -> (I_T (x) Q) H (I_T (x) Q)^T`` for
every orthogonal Q with ``Q b = b``: the group O(P-1) of the labels'
complement.  Its invariant kernels are

    H = H_par (x) b b^T + H_perp (x) (I_P - b b^T)        (H_par, H_perp: T x T)

and on them ``S(H) = S_1(H_par) + (P - 1) KL_1(H_perp)``: the one-pattern
problem with targets ``c`` along ``b``, plus P - 1 copies of its lambda = 0
KL, whose one minimum is the prior kernel (THEORY.md section 2; Sigma, the
traces and the determinants split over ``R^P = R b + b^perp``).

The Hessian of S at an invariant kernel commutes with the group, so it is
block diagonal over the group's isotypic components of symmetric (TP x TP)
matrices: the invariant kernels themselves, ``X (x) (b w^T + w b^T)`` (w in
``b^perp``), ``X (x) Z`` with Z traceless symmetric on ``b^perp``, and with Z
antisymmetric.  Each block, in orthonormal coordinates, depends on H_par,
H_perp and c only, not on P (the traces over ``b^perp`` factor out), as long
as every component exists: P - 1 >= 2.  So the three-pattern problem with
the same ``C_T`` and ``c`` has, at the kernel with the same ``H_par, H_perp``,
the same *distinct* Hessian eigenvalues as the P-pattern problem, and the
same for the pencil (Hessian, prior metric) (the prior metric is built from
the invariant prior kernel), sector by sector: the same verdicts, the same
lowest curvatures, the same lambda-probe decisions.  Their stationary points
that are invariant correspond one to one.

:func:`reduced_search` runs the default search
(:class:`linkernel.theory.search.GlobalSearch`) on the three-pattern problem
and, where every point it met is invariant, lifts its minima, degenerate
points and saddles to P patterns, each minimum re-evaluated there (action,
residual, whitened residual: up to 1e3 ``tol`` the float64 rounding of TP = P T,
said in the minimum's origin; beyond it a few warm-started Newton steps with
P patterns).  A point that breaks the pattern symmetry (the lowest curvature
of a saddle in a non-invariant component: a cluster of at least P - 1 equal
eigenvalues) sends the search back to the full P-pattern space.  The
reported Hessian spectrum of a lifted minimum comes from the same blocks,
with multiplicities (:meth:`PatternReduction.hessian_spectrum`).  tests/theory/test_pattern_symmetry.py
checks the split of S, the equal distinct spectra and the lifted minima
against the full-space search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from linkernel.errors import KernelError
from linkernel.problem import Problem, fix_z2_sign
from linkernel.theory.action import Pieces, frobenius_norm, to_vector
from linkernel.theory.hessian import DENSE_EIG_MAX_DIM, dense_hessian
from linkernel.theory.minimize import minimize_action
from linkernel.theory.search import Found, GlobalSearch

#: the patterns of the reduced problem: the smallest number for which every isotypic component exists.
REDUCED_P = 3
#: the default search is reduced from this many patterns on: below it (TP = 32 at T = 4) a search on
#: TP = 12 costs as much as one on TP = 4P, both bound by the Python overhead of their descents.
REDUCE_FROM_P = 16
#: a kernel of the reduced problem is invariant when its distance to its invariant part is below this
#: (relative, Frobenius): the search's iterates stay invariant to rounding, a broken point is O(1) away.
INVARIANCE_RTOL = 1e-8


def _split(H: np.ndarray, T: int, b: np.ndarray):
    """(H_par, H_perp, relative distance of H to H_par (x) b b^T + H_perp (x) (I - b b^T)) for rows t * P + p."""
    P = len(b)
    B = H.reshape(T, P, T, P).transpose(0, 2, 1, 3)
    par = np.einsum("i,tsij,j->ts", b, B, b)
    perp = (np.einsum("tsii->ts", B) - par) / (P - 1)
    inv = perp[:, :, None, None] * np.eye(P) + (par - perp)[:, :, None, None] * np.outer(b, b)
    return par, perp, float(np.linalg.norm(B - inv)) / max(1.0, float(np.linalg.norm(H)))


def _join(par: np.ndarray, perp: np.ndarray, b: np.ndarray) -> np.ndarray:
    """H_par (x) b b^T + H_perp (x) (I - b b^T), symmetrised, rows t * P + p."""
    H = np.kron(perp, np.eye(len(b))) + np.kron(par - perp, np.outer(b, b))
    return 0.5 * (H + H.T)


@dataclass(frozen=True, eq=False)
class PatternReduction:
    """The P-pattern problem, its three-pattern stand-in, and the labels' directions in both.

    ``b``: shape (P,), unit; ``b_small``: shape (REDUCED_P,), unit.
    """

    problem: Problem
    small: Problem
    b: np.ndarray
    b_small: np.ndarray

    def parts(self, H: np.ndarray):
        """(H_par, H_perp), each (T, T), of a reduced kernel, and its relative distance to its invariant part."""
        return _split(H, self.small.T, self.b_small)

    def lift(self, H: np.ndarray) -> np.ndarray | None:
        """The P-pattern kernel with the same H_par, H_perp as the reduced kernel H; None if H is not invariant."""
        par, perp, off = self.parts(H)
        if off > INVARIANCE_RTOL:
            return None
        return _join(par, perp, self.b)

    def is_invariant(self, H: np.ndarray) -> bool:
        """Whether the P-pattern kernel H is invariant (within :data:`INVARIANCE_RTOL`)."""
        return _split(H, self.problem.T, self.b)[2] <= INVARIANCE_RTOL

    def reduce(self, H: np.ndarray) -> np.ndarray:
        """The reduced kernel with the same H_par, H_perp as the invariant P-pattern kernel H."""
        par, perp, _ = _split(H, self.problem.T, self.b)
        return _join(par, perp, self.b_small)

    def components(self) -> dict:
        """One copy of each isotypic component, as Frobenius-orthonormal bases of the reduced problem's coordinates.

        ``{name: (Q, multiplicity)}``, Q of shape (n(n+1)/2, d) in :func:`~linkernel.theory.action.to_vector`
        coordinates (n = 3T), the multiplicity that of the component in the P-pattern problem: "invariant"
        (d = T(T+1), once), "cross" ``X (x) (b w^T + w b^T)`` (d = T^2, P - 1 times), "traceless" ``X (x)
        Z``, Z symmetric traceless on ``b^perp`` (d = T(T+1)/2, P(P-1)/2 - 1 times), "antisymmetric" (d =
        T(T-1)/2, (P-1)(P-2)/2 times).  The reduced problem holds "cross" and "traceless" twice, the
        others once.
        """
        T, P = self.small.T, self.problem.P
        O, _ = np.linalg.qr(np.column_stack([self.b_small, np.eye(REDUCED_P)[:, :REDUCED_P - 1]]))
        f, w1, w2 = self.b_small, O[:, 1], O[:, 2]

        def sym(a, b, Z):
            A = np.zeros((T, T))
            A[a, b] = 1.0
            M = np.kron(A, Z)
            return to_vector(M + M.T)

        upper = [(a, b) for a in range(T) for b in range(a, T)]
        parts = {
            "invariant": ([sym(a, b, np.outer(f, f)) for a, b in upper]
                          + [sym(a, b, np.outer(w1, w1) + np.outer(w2, w2)) for a, b in upper], 1),
            "cross": ([sym(a, b, np.outer(f, w1)) for a in range(T) for b in range(T)], P - 1),
            "traceless": ([sym(a, b, np.outer(w1, w1) - np.outer(w2, w2)) for a, b in upper], P * (P - 1) // 2 - 1),
            "antisymmetric": ([sym(a, b, np.outer(w1, w2) - np.outer(w2, w1)) for a, b in upper if a < b],
                              (P - 1) * (P - 2) // 2),
        }
        out = {}
        for name, (vecs, mult) in parts.items():
            Q = np.column_stack(vecs)
            out[name] = (Q / np.linalg.norm(Q, axis=0), mult)
        return out

    def hessian_spectrum(self, H: np.ndarray):
        """(eigenvalues ascending, multiplicities) of the P-pattern Hessian at the invariant kernel H.

        Frobenius-orthonormal coordinates, as :func:`linkernel.theory.curvature.reported_spectrum`:
        the eigenvalues of the reduced problem's dense Hessian on each component of
        :meth:`components`, each counted as often as that component occurs with P patterns.
        """
        Hd = dense_hessian(self.small, self.reduce(H))
        vals, mult = [], []
        for Q, m in self.components().values():
            ev = np.linalg.eigvalsh(Q.T @ Hd @ Q)
            vals.append(ev)
            mult.append(np.full(len(ev), m))
        vals, mult = np.concatenate(vals), np.concatenate(mult)
        order = np.argsort(vals, kind="stable")
        return vals[order], mult[order]

    def frobenius_condition(self, H: np.ndarray) -> float:
        """|H|_F |H^-1|_F of the invariant P-pattern kernel H, from its blocks (H_par once, H_perp P - 1 times).

        The quantity :func:`linkernel.theory.curvature.reported_spectrum` compares with GRADED_COND,
        without the (TP x TP) inverse.
        """
        par, perp, _ = _split(H, self.problem.T, self.b)
        m = self.problem.P - 1
        size = np.sqrt(np.linalg.norm(par) ** 2 + m * np.linalg.norm(perp) ** 2)
        inverse = np.sqrt(np.linalg.norm(np.linalg.inv(par)) ** 2 + m * np.linalg.norm(np.linalg.inv(perp)) ** 2)
        return float(size * inverse)

    def reported_spectrum(self, H: np.ndarray, k: int = 4) -> np.ndarray:
        """What :func:`linkernel.theory.curvature.reported_spectrum` reports at H, from :meth:`hessian_spectrum`.

        The whole spectrum (with multiplicities) up to DENSE_EIG_MAX_DIM coordinates, above it the
        k smallest followed by the largest.
        """
        vals, mult = self.hessian_spectrum(H)
        n = self.problem.n
        if n * (n + 1) // 2 <= DENSE_EIG_MAX_DIM:
            return np.repeat(vals, mult)
        return np.append(np.repeat(vals, np.minimum(mult, k))[:k], vals[-1])


def pattern_reduction(problem: Problem, min_patterns: int = REDUCE_FROM_P) -> PatternReduction | None:
    """The three-pattern stand-in of ``problem`` (module docstring), or None where S has no such symmetry.

    Requires ``P >= min_patterns`` (at least REDUCED_P + 1), ``C = C_T (x) I_P``, a supervised set
    ``tau x {all patterns}`` and targets of rank one.  The stand-in has the same architecture, T,
    hyperparameters and lambda, inputs with pattern 0's Gram matrix on disjoint coordinates, and
    targets ``c b_small^T``.
    """
    T, P = problem.T, problem.P
    if P < max(min_patterns, REDUCED_P + 1):
        return None
    C = np.asarray(problem.input_kernel).reshape(T, P, T, P)
    c = C[:, 0, :, 0]
    scale = max(1.0, float(np.abs(c).max()))
    if not np.allclose(C, c[:, None, :, None] * np.eye(P)[None, :, None, :], rtol=0.0, atol=1e-14 * scale):
        return None
    times = sorted({t for t, _ in problem.supervised})
    if set(problem.supervised) != {(t, p) for t in times for p in range(P)}:
        return None
    Y = np.asarray(problem.yhat, dtype=float)[times, :]
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    if s[0] == 0.0 or (len(s) > 1 and s[1] > 1e-14 * s[0]):
        return None
    b, cvec = Vt[0], s[0] * U[:, 0]
    # pattern 0's Gram matrix of inputs, on disjoint coordinates per pattern (D = T * REDUCED_P)
    x0 = np.asarray(problem.x, dtype=float)[:, 0, :]
    vals, vecs = np.linalg.eigh(x0 @ x0.T / problem.D)
    F = vecs * np.sqrt(np.clip(vals, 0.0, None))
    D = T * REDUCED_P
    x = np.zeros((T, REDUCED_P, D))
    for p in range(REDUCED_P):
        x[:, p, p * T:(p + 1) * T] = np.sqrt(D) * F
    b_small = np.full(REDUCED_P, 1.0 / np.sqrt(REDUCED_P))
    yhat = np.zeros((T, REDUCED_P))
    yhat[times, :] = np.outer(cvec, b_small)
    small = Problem(arch=problem.arch, T=T, x=x, supervised=[(t, p) for t in times for p in range(REDUCED_P)],
                    yhat=yhat, w=problem.w, v=problem.v, u=problem.u, kappa=problem.kappa, lam=problem.lam,
                    name=f"{problem.name} (3-pattern reduction)")
    Cs = np.asarray(small.input_kernel).reshape(T, REDUCED_P, T, REDUCED_P)
    if not np.allclose(Cs, c[:, None, :, None] * np.eye(REDUCED_P)[None, :, None, :], rtol=0.0, atol=1e-13 * scale):
        return None
    return PatternReduction(problem=problem, small=small, b=b, b_small=b_small)


def _lift_found(red: PatternReduction, f, tol: float):
    """A minimum (or degenerate point) of the reduced search re-evaluated with P patterns: (Found or None, products)."""
    pr = red.problem
    H = red.lift(f.kernel)
    if H is None:
        return None, 0
    try:
        pc = Pieces(pr, H)
    except (KernelError, np.linalg.LinAlgError):
        return None, 0
    G = pc.gradient()
    wres = frobenius_norm(pc.LH.T @ G @ pc.LH)
    small_res = f.certificate.whitened_residual
    products, how, cert_tol = 0, "lifted", f.certificate.tol
    if f.certificate.status == "minimum" and cert_tol < wres <= 1e3 * tol:
        # the exact lift is as stationary as the reduced point; what the P-pattern evaluation adds is the
        # rounding of TP = P T (the band the full-space search accepts where its descent stalls)
        cert_tol = 1e3 * tol
        how = (f"lifted; whitened residual {wres:.1e} with {pr.P} patterns, the float64 floor of TP = {pr.n} "
               f"({small_res:.1e} with {REDUCED_P})")
    elif wres > cert_tol and f.certificate.status == "minimum":
        # farther than rounding: a few Newton steps in the P-pattern space (the iterates stay invariant)
        sol = minimize_action(pr, H, tol=tol)
        products = sol.hessian_products
        if not sol.converged or not red.is_invariant(sol.kernel):
            return None, products
        H = sol.kernel
        pc = sol.pieces if sol.pieces is not None else Pieces(pr, H)
        G = pc.gradient()
        wres = frobenius_norm(pc.LH.T @ G @ pc.LH)
        how = f"lifted, then {sol.iterations} Newton step{'' if sol.iterations == 1 else 's'} with P patterns"
        if sol.at_floor:          # as the full-space search judges a descent stalled by rounding
            cert_tol = max(cert_tol, 1e3 * tol)
    cert = replace(f.certificate, whitened_residual=float(wres), tol=cert_tol, directions=(),
                   method=f"{f.certificate.method}; on the {REDUCED_P}-pattern reduction, whose distinct "
                          "eigenvalues at an invariant kernel are the P-pattern problem's")
    if cert.status == "minimum" and wres > cert.tol:
        return None, products
    found = Found(kernel=fix_z2_sign(pr, H), action=pc.action(), grad_norm=float(np.linalg.norm(G)),
                  certificate=cert, origin=f"{f.origin} [{REDUCED_P}-pattern reduction, {how}]",
                  iterations=f.iterations, converged=f.converged, precision=f.precision)
    return found, products


def reduced_search(problem: Problem, tol: float):
    """The default search of ``problem`` run on its three-pattern stand-in and lifted; None without a reduction.

    None when the problem has no pattern reduction (:func:`pattern_reduction`): the caller runs
    :class:`linkernel.theory.search.GlobalSearch` itself.  Otherwise a ``GlobalSearch`` of
    ``problem``: where every point the reduced search met is invariant and every minimum survives
    the lift, its minima, degenerate points and saddles are the lifted ones, its counters the
    reduced search's (plus the Hessian products of any polish), its coverage the reduced search's
    after a line saying what the reduction is; else the search run again with all P patterns, its
    first coverage line saying why.
    """
    red = pattern_reduction(problem)
    if red is None:
        return None
    small = GlobalSearch(red.small, tol)
    small.run()
    gs, why = _lifted_search(red, small, tol)
    if gs is None:
        gs = GlobalSearch(problem, tol)
        gs.run()
        gs.coverage.insert(0, f"(r) pattern reduction abandoned: {why}; searched with all {problem.P} patterns")
        return gs
    gs.coverage = [f"(r) pattern reduction: the inputs are orthogonal (C = C_T (x) I_{problem.P}) and the targets of "
                   f"rank one, so S is invariant under the orthogonal maps of the {problem.P} patterns that fix the "
                   f"labels' direction; the search ran on {REDUCED_P} patterns (TP = {red.small.n}), whose invariant "
                   f"kernels and distinct Hessian eigenvalues are those of {problem.P} patterns; every point it met "
                   f"was invariant, and each minimum was re-evaluated with {problem.P} patterns "
                   "(linkernel.theory.pattern_symmetry)"] + list(small.coverage)
    return gs


def _lifted_search(red: PatternReduction, small, tol: float):
    """(the reduced search ``small`` lifted to P patterns, None) or (None, why it cannot be)."""
    gs = GlobalSearch(red.problem, tol)
    lifted = {"minima": [], "degenerate": []}
    for name in lifted:
        for f in getattr(small, name):
            got, products = _lift_found(red, f, tol)
            gs.products += products
            if got is None:
                return None, (f"the three-pattern point at S = {f.action:.12g} breaks the pattern symmetry or "
                              f"is not stationary with {red.problem.P} patterns")
            lifted[name].append(got)
    saddles = [red.lift(H) for H in small.saddles]
    if any(H is None for H in saddles):
        return None, "a saddle of the three-pattern search breaks the pattern symmetry"
    gs.minima, gs.degenerate, gs.saddles = lifted["minima"], lifted["degenerate"], saddles
    for name in ("iterations", "certificate_products", "descents", "method", "worst", "unconverged",
                 "floor_failures", "last_certificate"):
        setattr(gs, name, getattr(small, name))
    gs.products += small.products
    return gs, None

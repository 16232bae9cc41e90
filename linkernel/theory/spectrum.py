"""Where the eigenvalues of the trained recurrent weights lie as N -> infinity (derivations/weight_spectrum.tex).

The posterior of a W group ``W_g ~ N(0, w_g / N)`` (the RNN's one W, each
DNN layer's W^(t), each group of a sharing pattern) is, by rotation
invariance (derivations/exact_reduction.tex), a deterministic map on the span
``V_g`` of the hidden states it is applied to and a fresh Gaussian matrix
everywhere else:

    W_g = (W_g Q_V) Q_V^T + G_g (1 - Q_V Q_V^T),     G_g ~ N(0, w_g / N) iid, independent of Q_V,

where ``Q_V`` is an orthonormal basis of ``V_g = span{h_p^{t-1} : t in g}``.
For |z| > sqrt(w_g) the determinant lemma and the Ginibre resolvent
``Q^T (z - G_g)^-1 Q -> 1/z`` give ``det(z - W_g) / det(z - G_g) -> det(1 - B_g / z)``
with the compression ``B_g = Q_V^T W_g Q_V``.  Written in the (non-orthogonal)
basis of the hidden states themselves, ``B_g`` is the one-step propagator of
the kernel,

    M_g = (H_prev,prev)^-1 H_prev,next,   prev = {(t-1, p) : t in g},  next = {(t, p) : t in g},

a ``|g| P x |g| P`` matrix (rows and columns ordered by step, then pattern).
Hence at N -> infinity:

* the bulk is the circular law of radius ``sqrt(w_g)`` (the posterior changes
  W_g only on the finite-dimensional V_g);
* the outliers are the eigenvalues of ``M_g`` of modulus > ``sqrt(w_g)``
  (complex ones come in conjugate pairs).

On the symmetric branch of the endpoint task every cross-time entry vanishes,
``M_g = 0`` and there is no outlier: in the DNN always, in the RNN below
``lambda_c``.  Above it, ``m = H^{T-1,T-2} != 0`` and the RNN's W acquires an
outlier.  The Z2 flip ``W_g -> -W_g`` maps the outliers z -> -z; the kernel
used here is the representative of :func:`linkernel.problem.fix_z2_sign`
(m >= 0).  Only inputs at ``t = 0`` are covered (then ``W^(t) h^{t-1} = h^t``
exactly); inputs at later steps would need the cross kernel of h with ``U x``.

Finite N: :mod:`linkernel.finite_n.spectra` draws exact posterior weight
matrices at width N and puts theory and samples side by side
(:func:`~linkernel.finite_n.spectra.spectrum_report`, the CLI's ``linkernel spectrum``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel import validation
from linkernel.display import Display
from linkernel.problem import Problem, fix_z2_sign
from linkernel.serialize import jsonable

# an eigenvalue of M_g within this relative distance of the circle is reported as ambiguous, not as an outlier
EDGE_RTOL = 1e-9



def matrix_names(problem: Problem) -> tuple:
    """The W groups' names, as :mod:`linkernel.finite_n.spectra` gives them: "W" for the RNN, else "W{first step}"."""
    arch = problem.arch
    u_single = {t: any(len(u) == 1 and t in u for u in arch.U) for t in range(problem.T)}
    # a group acting at one step whose U is unshared there is a layer (named by its step), as in networks.py
    layer = {g for g, steps in enumerate(arch.W) if len(steps) == 1 and u_single[steps[0]]}
    return tuple("W" if len(arch.W) == 1 and g not in layer else f"W{steps[0]}" for g, steps in enumerate(arch.W))


def check_inputs(problem: Problem) -> None:
    """Only inputs at t = 0 are covered (module doc): a ValueError otherwise."""
    if problem.T >= 2 and np.any(problem.x[1:] != 0):
        raise ValueError("problem.x has inputs at t >= 1; weight_spectrum covers inputs at t = 0 only "
                         "(then W^(t) h^(t-1) = h^t; later inputs need the cross kernel of h with U x)")


def group_indices(problem: Problem, g: int) -> tuple:
    """Kernel rows (prev, next) of W group g: ``(t-1)*P + p`` and ``t*P + p`` for t in the group, then p."""
    P = problem.P
    steps = problem.arch.W[g]
    prev = np.array([(t - 1) * P + p for t in steps for p in range(P)], dtype=int)
    nxt = np.array([t * P + p for t in steps for p in range(P)], dtype=int)
    return prev, nxt


def propagator(problem: Problem, H, g: int) -> np.ndarray:
    """``M_g = (H_prev,prev)^-1 H_prev,next``: W group g compressed to the span of the states it acts on."""
    H = np.asarray(H, dtype=float)
    prev, nxt = group_indices(problem, g)
    A = H[np.ix_(prev, prev)]
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise ValueError(f"the kernel block of the states W group {g} acts on is not positive definite; "
                         "pass a positive-definite kernel (a saddle point or a posterior mean)") from None
    return np.linalg.solve(L.T, np.linalg.solve(L, H[np.ix_(prev, nxt)]))


def sort_by_modulus(z: np.ndarray) -> np.ndarray:
    """Decreasing modulus, then decreasing imaginary part (a conjugate pair: + first)."""
    z = np.asarray(z, dtype=complex)
    return z[np.lexsort((-z.imag, -np.round(np.abs(z), 10)))]


@dataclass(frozen=True, eq=False)
class WeightSpectrum(Display):
    """The N -> infinity spectrum of every W group's trained matrix.

    Per matrix (``names``: "W" for the RNN, "W{first step}" otherwise; ``steps``
    the steps it acts at): ``bulk_radius[name] = sqrt(w_g)`` (circular law),
    ``outliers[name]``: the eigenvalues of ``propagators[name]`` (M_g) with
    modulus > bulk radius, complex, sorted by decreasing modulus (conjugate
    pairs: positive imaginary part first); ``eigenvalues[name]`` all of M_g's
    eigenvalues (those inside the disc are hidden in the bulk).  ``kernel``:
    the kernel used (Z2 representative m >= 0).
    """

    problem: Problem
    kernel: np.ndarray
    names: tuple
    steps: tuple
    bulk_radius: dict
    outliers: dict
    eigenvalues: dict
    propagators: dict = field(repr=False)
    source: str = "saddle point"

    @property
    def has_outlier(self) -> bool:
        return any(len(v) for v in self.outliers.values())

    def to_dict(self) -> dict:
        pairs = lambda z: [[float(c.real), float(c.imag)] for c in z]  # noqa: E731
        return jsonable({
            "problem": self.problem.to_dict(), "source": self.source,
            "matrices": {n: {"steps": list(s)} for n, s in zip(self.names, self.steps)},
            "bulk_radius": {n: self.bulk_radius[n] for n in self.names},
            "outliers": {n: pairs(self.outliers[n]) for n in self.names},
            "propagator_eigenvalues": {n: pairs(self.eigenvalues[n]) for n in self.names},
            "kernel": self.kernel,
        })

    def summary(self) -> str:
        pr = self.problem
        lines = [f"weight spectrum at N -> infinity ({self.source}): {pr.arch.label} T={pr.T} P={pr.P} "
                 f"lambda={pr.lam:g} kappa={pr.kappa:g}"]
        for n, s in zip(self.names, self.steps):
            out = self.outliers[n]
            txt = ", ".join(format_eigenvalue(z) for z in out) if len(out) else "none"
            lines.append(f"  {n} (steps {','.join(map(str, s))}): bulk radius {self.bulk_radius[n]:.6g}, "
                         f"outliers {txt}")
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        rows = [("problem", self.problem), ("source", self.source)]
        for n in self.names:
            out = ", ".join(format_eigenvalue(z) for z in self.outliers[n]) or "none"
            rows.append((f"{n}: bulk radius; outliers", f"{self.bulk_radius[n]:.6g}; {out}"))
        return rows + [("kernel", self.kernel)]


def format_eigenvalue(z: complex) -> str:
    """``a`` for a real eigenvalue, ``a+bi`` otherwise (6 significant digits)."""
    if abs(z.imag) < 1e-12 * max(1.0, abs(z)):
        return f"{z.real:.6g}"
    return f"{z.real:.6g}{z.imag:+.6g}i"


def weight_spectrum(saddle_or_problem, kernel=None) -> WeightSpectrum:
    """The theory's weight spectrum: bulk radius and outliers of every W group (module docstring).

    ``saddle_or_problem``: a :class:`~linkernel.theory.saddle.SaddlePoint`
    (or anything with ``.problem`` and ``.kernel``, e.g. a posterior mean), or
    a :class:`~linkernel.problem.Problem` (its saddle point is computed), or a
    Problem with an explicit ``kernel`` (TP, TP), rows ``t*P + p``.
    Raises ValueError for inputs at t >= 1.
    """
    if isinstance(saddle_or_problem, Problem):
        problem = saddle_or_problem
        check_inputs(problem)
        if kernel is None:
            from linkernel.theory.saddle import saddle_point
            kernel, source = saddle_point(problem).kernel, "saddle point"
        else:
            source = "given kernel"
    elif hasattr(saddle_or_problem, "problem") and hasattr(saddle_or_problem, "kernel"):
        problem = saddle_or_problem.problem
        source = "saddle point" if type(saddle_or_problem).__name__ == "SaddlePoint" else type(saddle_or_problem).__name__
        kernel = saddle_or_problem.kernel if kernel is None else kernel
    else:
        raise ValueError(f"saddle_or_problem={type(saddle_or_problem).__name__} is invalid; pass a Problem, a "
                         "SaddlePoint or a result with .problem and .kernel")
    check_inputs(problem)
    H = validation.shaped("kernel", kernel, (problem.n, problem.n), f"(TP, TP) = ({problem.n}, {problem.n})")
    H = fix_z2_sign(problem, H)
    names = matrix_names(problem)
    var = problem.arch.group_variances(problem.w)
    radius, outl, eigs, props = {}, {}, {}, {}
    for g, name in enumerate(names):
        M = propagator(problem, H, g)
        z = sort_by_modulus(np.linalg.eigvals(M))
        r = float(np.sqrt(var[g]))
        props[name], eigs[name], radius[name] = M, z, r
        outl[name] = z[np.abs(z) > r * (1 + EDGE_RTOL)]
    return WeightSpectrum(problem=problem, kernel=H, names=names, steps=tuple(tuple(s) for s in problem.arch.W),
                          bulk_radius=radius, outliers=outl, eigenvalues=eigs, propagators=props, source=source)


def spectral_threshold(problem: Problem, lam_range=None, points: int = 36, xtol: float = 1e-10) -> float:
    """lambda_s: the smallest lambda at which some W group's propagator has an eigenvalue outside its bulk.

    At a second-order transition the propagator's eigenvalues grow continuously from 0 above
    lambda_c, so the outlier leaves the bulk only at lambda_s > lambda_c (a BBP-like threshold
    of its own; T = 4, P = 1: lambda_s = 1.39 lambda_c).  Where the kernel jumps (a first-order
    transition) the outlier appears with the jump and lambda_s is the jump.  Found by scanning
    ``points`` values of ``lam_range`` (default 0.5 .. 4 lambda_c) for the first sign change of
    max_g |eig M_g| / sqrt(w_g) - 1, then Brent's method.  Raises ValueError when there is none.
    """
    from scipy.optimize import brentq

    def excess(lam):
        th = weight_spectrum(problem.with_(lam=float(lam)))
        return max(float(np.abs(th.eigenvalues[n][0]) / th.bulk_radius[n]) for n in th.names) - 1.0

    if lam_range is None:
        from linkernel.theory.special_points import critical_lambda
        lc = critical_lambda(problem)
        lam_range = (0.5 * lc, 4 * lc)
    lo, hi = (float(b) for b in lam_range)
    grid = np.linspace(lo, hi, points)
    prev = None
    for lam in grid:
        e = excess(lam)
        if e > 0:
            if prev is None:
                raise ValueError(f"lam_range={lam_range!r} is invalid; there is already an outlier at its lower end")
            return float(brentq(excess, prev, lam, xtol=xtol))
        prev = lam
    raise ValueError(f"lam_range={lam_range!r} holds no outlier: the propagator stays inside the bulk")

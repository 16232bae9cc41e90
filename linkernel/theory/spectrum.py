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

Finite N: :func:`sampled_spectrum` draws exact posterior weight matrices at
width N (kernel draws of :func:`linkernel.finite_n.exact.exact_posterior`,
the frame and the fresh part drawn as above) and returns their eigenvalues;
:func:`spectrum_report` puts theory and samples side by side (the CLI's
``linkernel spectrum``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

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


def _check_inputs(problem: Problem) -> None:
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


def _sort(z: np.ndarray) -> np.ndarray:
    """Decreasing modulus, then decreasing imaginary part (a conjugate pair: + first)."""
    z = np.asarray(z, dtype=complex)
    return z[np.lexsort((-z.imag, -np.round(np.abs(z), 10)))]


@dataclass(frozen=True, eq=False)
class WeightSpectrum:
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
            txt = ", ".join(_fmt(z) for z in out) if len(out) else "none"
            lines.append(f"  {n} (steps {','.join(map(str, s))}): bulk radius {self.bulk_radius[n]:.6g}, "
                         f"outliers {txt}")
        return "\n".join(lines)

    __str__ = summary


def _fmt(z: complex) -> str:
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
        _check_inputs(problem)
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
    _check_inputs(problem)
    H = np.asarray(kernel, dtype=float)
    if H.shape != (problem.n, problem.n):
        raise ValueError(f"kernel has shape {H.shape}; it must be (TP, TP) = ({problem.n}, {problem.n})")
    H = fix_z2_sign(problem, H)
    names = matrix_names(problem)
    var = problem.arch.group_variances(problem.w)
    radius, outl, eigs, props = {}, {}, {}, {}
    for g, name in enumerate(names):
        M = propagator(problem, H, g)
        z = _sort(np.linalg.eigvals(M))
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


# --- finite N: exact posterior draws of the weight matrices --------------------------------------------
def network_weights(problem: Problem, H, N: int, rng: np.random.Generator) -> dict:
    """One posterior draw of every W group's N x N matrix given the kernel draw ``H`` (rows t*P+p).

    In a frame whose first TP axes carry the hidden states (``h = sqrt(N) R`` with
    ``H = R^T R``; the spectrum does not depend on the frame), W_g is fixed on
    V_g (it maps ``h^{t-1}`` to ``h^t``) and a fresh N(0, w_g / N) matrix on
    the complement (derivations/weight_spectrum.tex).  Returns {name: W_g}.
    """
    _check_inputs(problem)
    H = np.asarray(H, dtype=float)
    n = problem.n
    if N < n:
        raise ValueError(f"N={N} is invalid; the frame needs N >= TP = {n}")
    R = np.linalg.cholesky(H).T                      # upper triangular, H = R^T R: column j = state j
    var = problem.arch.group_variances(problem.w)
    out = {}
    for g, name in enumerate(matrix_names(problem)):
        prev, nxt = group_indices(problem, g)
        k = len(prev)
        Qv, Rv = np.linalg.qr(R[:, prev])
        O, _ = np.linalg.qr(np.hstack([Qv, np.eye(n)]))  # orthonormal frame of R^n, first k axes span V_g
        O[:, :k] = Qv                                     # same span; keep Qv's signs so A matches Rv
        A = O.T @ R[:, nxt] @ np.linalg.inv(Rv)           # W_g on the basis Qv, in the frame O
        W = np.empty((N, N))
        W[:, k:] = np.sqrt(var[g] / N) * rng.standard_normal((N, N - k))
        W[:, :k] = 0.0
        W[:n, :k] = A
        out[name] = W
    return out


def top_eigenvalues(W: np.ndarray, k: int = 4) -> np.ndarray:
    """The ``k`` eigenvalues of largest modulus (ARPACK; dense ``eigvals`` for small N), sorted as in _sort.

    ARPACK is fast for outliers well separated from the bulk (about a second at N = 2048);
    asking for bulk eigenvalues near the edge (k beyond the outliers) is slow.
    """
    N = W.shape[0]
    if N <= 400 or k >= N - 2:
        return _sort(np.linalg.eigvals(W))[:k]
    from scipy.sparse.linalg import eigs
    z = eigs(W, k=k, which="LM", ncv=max(2 * k + 1, 20), tol=1e-10, maxiter=20000, return_eigenvectors=False)
    return _sort(z)[:k]


@dataclass(frozen=True, eq=False)
class SampledSpectrum:
    """Top eigenvalues of exact posterior draws of the weights at width N, per matrix.

    ``top[name]``: complex (draws, k), largest modulus first; ``spectral_radius[name]``:
    (draws,); ``full[name]``: every eigenvalue (draws, N) when asked for (``full=True``),
    else None.  ``draws``: how many weight matrices per W group; ``kernel_source``:
    where the kernel draws came from.
    """

    problem: Problem
    N: int
    names: tuple
    top: dict
    spectral_radius: dict
    full: dict | None
    draws: int
    seconds: float
    kernel_source: str = "exact_posterior"

    def nearest(self, name: str, z) -> np.ndarray:
        """Per draw, the sampled eigenvalue nearest to ``z`` (complex, (draws,))."""
        pool = self.full[name] if self.full is not None else self.top[name]
        idx = np.argmin(np.abs(pool - complex(z)), axis=-1)
        return np.take_along_axis(pool, idx[:, None], axis=-1)[:, 0]

    def to_dict(self) -> dict:
        d = {}
        for n in self.names:
            t = self.top[n]
            d[n] = {"top_mean": [[float(c.real), float(c.imag)] for c in t.mean(axis=0)],
                    "top_sd": [[float(a), float(b)] for a, b in zip(t.real.std(axis=0, ddof=1) if len(t) > 1
                                                                    else np.full(t.shape[1], np.nan),
                                                                    t.imag.std(axis=0, ddof=1) if len(t) > 1
                                                                    else np.full(t.shape[1], np.nan))],
                    "spectral_radius_mean": float(self.spectral_radius[n].mean()),
                    "spectral_radius_sd": float(self.spectral_radius[n].std(ddof=1)) if self.draws > 1 else None,
                    "top": [[[float(c.real), float(c.imag)] for c in row] for row in t]}
        return jsonable({"N": self.N, "draws": self.draws, "kernel_source": self.kernel_source,
                         "seconds": self.seconds, "matrices": d})


def sampled_spectrum(problem: Problem, N: int, draws: int = 8, top: int = 4, seed: int = 0, full: bool = False,
                     kernels=None, progress: bool = False, warmup: int = 300) -> SampledSpectrum:
    """Eigenvalues of ``draws`` exact posterior weight matrices per W group at width ``N``.

    Kernel draws come from :func:`linkernel.finite_n.exact.exact_posterior`
    (HMC on the rotation-invariant reduction, exact at every N; sign-fixed,
    m >= 0) unless ``kernels`` (draws, TP, TP) are given, e.g. from
    :func:`linkernel.finite_n.network_sampler.sample_networks`; each is
    completed to N x N matrices by :func:`network_weights`.  ``top``: how many
    eigenvalues of largest modulus to keep; ``full=True`` keeps all of them
    (dense, O(N^3) per matrix); ``warmup``: HMC warm-up iterations per chain.
    """
    from linkernel.validation import count, seed as _seed
    N, draws, top = count("N", N, 2), count("draws", draws), count("top", top)
    seed = _seed(name="seed", value=seed)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    source = "given kernels"
    if kernels is None:
        from linkernel.finite_n.exact import exact_posterior
        ex = exact_posterior(problem, N, chains=2, samples=max(50, 5 * draws), warmup=warmup, seed=seed,
                             progress=False, warn=False)
        flat = ex.draws.reshape(-1, problem.n, problem.n)
        kernels = flat[np.linspace(0, len(flat) - 1, draws).round().astype(int)]
        source = "exact_posterior"
    kernels = np.asarray(kernels, dtype=float).reshape(-1, problem.n, problem.n)
    draws = len(kernels)
    names = matrix_names(problem)
    tops = {n: [] for n in names}
    fulls = {n: [] for n in names} if full else None
    it = kernels
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(kernels, desc=f"spectra N={N}", leave=False)
    for H in it:
        for name, W in network_weights(problem, H, N, rng).items():
            if full:
                z = _sort(np.linalg.eigvals(W))
                fulls[name].append(z)
                tops[name].append(z[:top])
            else:
                tops[name].append(top_eigenvalues(W, top))
    top_arr = {n: np.array(v) for n, v in tops.items()}
    return SampledSpectrum(problem=problem, N=N, names=names, top=top_arr,
                           spectral_radius={n: np.abs(v[:, 0]) for n, v in top_arr.items()},
                           full={n: np.array(v) for n, v in fulls.items()} if full else None,
                           draws=draws, seconds=time.perf_counter() - t0, kernel_source=source)


@dataclass(frozen=True, eq=False)
class SpectrumReport:
    """Theory (``theory``: :class:`WeightSpectrum`) and, with N, the sampled networks (``sampled``).

    ``comparison[name]``: per predicted outlier z*, the mean and standard
    deviation over draws of the sampled eigenvalue nearest to it, its
    standard error and the relative gap |mean - z*| / |z*|.
    """

    theory: WeightSpectrum
    sampled: SampledSpectrum | None
    comparison: dict
    seconds: float

    def to_dict(self) -> dict:
        th = self.theory.to_dict()
        return jsonable({"problem": th["problem"], "outliers": th["outliers"], "bulk_radius": th["bulk_radius"],
                         "propagator_eigenvalues": th["propagator_eigenvalues"],
                         "sampled": None if self.sampled is None else {**self.sampled.to_dict(),
                                                                        "comparison": self.comparison},
                         "seconds": self.seconds})

    def summary(self) -> str:
        lines = [self.theory.summary()]
        s = self.sampled
        if s is not None:
            lines.append(f"sampled networks at N={s.N} ({s.draws} exact posterior draws per matrix, {s.seconds:.1f} s):")
            for n in s.names:
                r = s.spectral_radius[n]
                sd = f" +- {r.std(ddof=1):.4f}" if s.draws > 1 else ""
                lines.append(f"  {n}: spectral radius {r.mean():.5g}{sd} (bulk {self.theory.bulk_radius[n]:.4g})")
                for c in self.comparison.get(n, []):
                    lines.append(f"    outlier {_fmt(complex(*c['theory']))}: sampled {_fmt(complex(*c['mean']))} "
                                 f"+- {c['stderr']:.2g} (sd {c['sd']:.2g}), relative gap {c['relative_gap']:.2%}")
        return "\n".join(lines)

    __str__ = summary


def compare(theory: WeightSpectrum, sampled: SampledSpectrum) -> dict:
    """Per matrix and predicted outlier: the sampled nearest eigenvalue's mean, sd, stderr, relative gap."""
    out = {}
    for n in theory.names:
        rows = []
        for z in theory.outliers[n]:
            s = sampled.nearest(n, z)
            mean = s.mean()
            sd = float(np.abs(s - mean).std(ddof=1)) if len(s) > 1 else float("nan")
            rows.append({"theory": [z.real, z.imag], "mean": [mean.real, mean.imag], "sd": sd,
                         "stderr": sd / np.sqrt(len(s)), "relative_gap": float(abs(mean - z) / abs(z))})
        out[n] = rows
    return out


def spectrum_report(problem: Problem, N: int | None = None, seed: int = 0, progress: bool = False,
                    draws: int = 8) -> SpectrumReport:
    """Theory of the weight spectrum, plus with ``N`` the top eigenvalues of ``draws`` exact posterior networks.

    JSON (:meth:`SpectrumReport.to_dict`): ``outliers`` ({matrix: [[re, im], ...]}),
    ``bulk_radius`` ({matrix: sqrt(w_g)}), ``sampled`` (None without N).
    """
    t0 = time.perf_counter()
    th = weight_spectrum(problem)
    sampled, comp = None, {}
    if N is not None:
        k = max(1, max(len(v) for v in th.outliers.values()))
        sampled = sampled_spectrum(problem, N, draws=draws, top=k, seed=seed, progress=progress)
        comp = compare(th, sampled)
    return SpectrumReport(theory=th, sampled=sampled, comparison=comp, seconds=time.perf_counter() - t0)

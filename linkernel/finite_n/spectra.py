"""Eigenvalue spectra of the recurrent weights of sampled networks (one spectrum per W group).

The physical matrices are ``W_g = sqrt(w_g / N) Z_g`` (muP scaling,
:mod:`linkernel.finite_n.networks`): the RNN has one W, the DNN one W^(t)
per step t = 1..T-1, a weight-sharing pattern one per W group.  Under the
prior each spectrum fills the disc of radius ``sqrt(w_g)`` uniformly (the
circular law); feature learning shows up as outliers (the learned low-rank
structure) outside or inside it.  Snapshots are taken at a few recorded
sweeps per chain (an N x N nonsymmetric eigenproblem costs O(N^3): about a
second at N = 2048 per matrix on one core).

Exact posterior draws at width N (:func:`sampled_spectrum`, :func:`spectrum_report`, the CLI's
``linkernel spectrum``): given a kernel draw, each W group is the fixed map ``h^{t-1} -> h^t`` on
the span of the states it acts on and a fresh N(0, w_g / N) matrix elsewhere
(derivations/weight_spectrum.tex); the N -> infinity theory it is compared with is
:mod:`linkernel.theory.spectrum` (bulk radius sqrt(w_g), predicted outliers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from linkernel.display import Display
from linkernel.finite_n.exact import exact_posterior
from linkernel.problem import Problem
from linkernel.progress import progress_bar
from linkernel.serialize import jsonable
from linkernel.theory.spectrum import (WeightSpectrum, check_inputs, format_eigenvalue, group_indices, matrix_names,
                                       sort_by_modulus, weight_spectrum)
from linkernel.threads import blas_threads, entry_point
from linkernel.validation import count, seed as _seed


@dataclass(frozen=True, eq=False)
class WeightSpectra:
    """Eigenvalues of every W group's matrix at a few sweeps of each chain.

    ``names``: the matrices (``"W"`` for the RNN, ``"W{s}"`` named by their
    first step otherwise); ``steps``: the steps each acts at; ``variances``:
    ``w_g`` (the prior's circular-law radius is ``sqrt(w_g)``); ``sweeps``:
    the sweeps of the snapshots; ``eigenvalues[name]``: complex array
    (chains, snapshots, N), sorted by decreasing modulus; ``snapshots``: the
    matrices themselves ``{name: (chains, snapshots, N, N)}`` when kept, else None.
    """

    names: tuple
    steps: tuple
    variances: tuple
    sweeps: tuple
    eigenvalues: dict = field(repr=False)
    snapshots: dict | None = field(default=None, repr=False)

    def spectral_radius(self, name: str) -> np.ndarray:
        """max |lambda| per chain and snapshot, (chains, snapshots)."""
        return np.abs(self.eigenvalues[name][..., 0])

    def to_dict(self, top: int = 8) -> dict:
        """Strict-JSON summary: per matrix the spectral radius, the mean |lambda|^2 and the ``top`` eigenvalues
        of largest modulus (real and imaginary parts) of every chain and snapshot."""
        out = {}
        for name, st, var in zip(self.names, self.steps, self.variances):
            ev = self.eigenvalues[name]
            out[name] = {"steps": list(st), "w": var, "prior_radius": float(np.sqrt(var)),
                         "spectral_radius": self.spectral_radius(name),
                         "mean_abs2": np.mean(np.abs(ev) ** 2, axis=-1),
                         "top_real": ev[..., :top].real, "top_imag": ev[..., :top].imag}
        return jsonable({"sweeps": list(self.sweeps), "matrices": out})

    def summary(self) -> str:
        """One line per matrix: mean spectral radius against the prior's sqrt(w_g)."""
        return "\n".join(f"spectrum of {n} (steps {','.join(map(str, st))}): radius "
                         f"{self.spectral_radius(n).mean():.4g} (prior disc {np.sqrt(v):.4g}), "
                         f"largest |lambda| {np.abs(self.eigenvalues[n][..., 0]).max():.4g}"
                         for n, st, v in zip(self.names, self.steps, self.variances))


def matrices(net) -> dict:
    """The physical W group matrices of a :class:`~linkernel.finite_n.networks.Network`: {name: (C, N, N)}."""
    arch = net.problem.arch
    return {net.wname[g]: net.sws[g] * net.Z[net.wname[g]] for g in range(len(arch.W))
            if net.wname[g] in net.Z}


def eigenvalues(W) -> np.ndarray:
    """Eigenvalues of a stack of square matrices (..., N, N), sorted by decreasing modulus.

    On one BLAS thread: LAPACK's nonsymmetric eigensolver (Hessenberg reduction, then serial QR sweeps)
    gains little from a second core and loses much when that core is busy (N = 2048: 4.3 s on one
    thread against 15.4 s on two at load 4).
    """
    with blas_threads(1):
        ev = np.linalg.eigvals(np.asarray(W, dtype=np.float64))
    order = np.argsort(-np.abs(ev), axis=-1, kind="stable")
    return np.take_along_axis(ev, order, axis=-1)


class SpectraRecorder:
    """Collects eigenvalues (and optionally the matrices) of a network's W groups at chosen sweeps."""

    def __init__(self, net, sweeps, keep: bool = False):
        self.net, self.sweeps, self.keep = net, tuple(int(s) for s in sweeps), bool(keep)
        self.ev = {}
        self.mats = {}
        self.taken = []

    def maybe(self, sweep: int) -> None:
        if sweep not in self.sweeps:
            return
        self._take(sweep)

    def _take(self, sweep: int) -> None:
        for name, W in matrices(self.net).items():
            self.ev.setdefault(name, []).append(eigenvalues(W))
            if self.keep:
                self.mats.setdefault(name, []).append(np.array(W))
        self.taken.append(sweep)

    def result(self) -> WeightSpectra | None:
        if not self.taken:
            return None
        net, arch = self.net, self.net.problem.arch
        names = tuple(self.ev)
        groups = [next(g for g in range(len(arch.W)) if net.wname[g] == n) for n in names]
        var = arch.group_variances(net.problem.w)
        return WeightSpectra(
            names=names, steps=tuple(tuple(arch.W[g]) for g in groups),
            variances=tuple(float(var[g]) for g in groups), sweeps=tuple(self.taken),
            eigenvalues={n: np.stack(v, axis=1) for n, v in self.ev.items()},
            snapshots={n: np.stack(v, axis=1) for n, v in self.mats.items()} if self.keep else None)


# --- finite N: exact posterior draws of the weight matrices --------------------------------------------
def network_weights(problem: Problem, H, N: int, rng: np.random.Generator) -> dict:
    """One posterior draw of every W group's N x N matrix given the kernel draw ``H`` (rows t*P+p).

    In a frame whose first TP axes carry the hidden states (``h = sqrt(N) R`` with
    ``H = R^T R``; the spectrum does not depend on the frame), W_g is fixed on
    V_g (it maps ``h^{t-1}`` to ``h^t``) and a fresh N(0, w_g / N) matrix on
    the complement (derivations/weight_spectrum.tex).  Returns {name: W_g}.
    """
    check_inputs(problem)
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
        return sort_by_modulus(np.linalg.eigvals(W))[:k]
    from scipy.sparse.linalg import eigs
    z = eigs(W, k=k, which="LM", ncv=max(2 * k + 1, 20), tol=1e-10, maxiter=20000, return_eigenvectors=False)
    return sort_by_modulus(z)[:k]


@dataclass(frozen=True, eq=False)
class SampledSpectrum(Display):
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


@entry_point(size=lambda a: a["N"])
def sampled_spectrum(problem: Problem, N: int, draws: int = 8, top: int = 4, seed: int = 0, full: bool = False,
                     kernels=None, progress: bool = False, warmup: int = 300) -> SampledSpectrum:
    """Eigenvalues of ``draws`` exact posterior weight matrices per W group at width ``N``.

    Kernel draws come from :func:`~linkernel.finite_n.exact.exact_posterior`
    (HMC on the rotation-invariant reduction, exact at every N; sign-fixed,
    m >= 0) unless ``kernels`` (draws, TP, TP) are given, e.g. from
    :func:`linkernel.finite_n.network_sampler.sample_networks`; each is
    completed to N x N matrices by :func:`network_weights`.  ``top``: how many
    eigenvalues of largest modulus to keep; ``full=True`` keeps all of them
    (dense, O(N^3) per matrix); ``warmup``: HMC warm-up iterations per chain.
    """
    N, draws, top = count("N", N, 2), count("draws", draws), count("top", top)
    seed = _seed(name="seed", value=seed)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    source = "given kernels"
    if kernels is None:
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
    for H in progress_bar(progress, iterable=kernels, desc=f"spectra N={N}"):
        for name, W in network_weights(problem, H, N, rng).items():
            if full:
                z = sort_by_modulus(np.linalg.eigvals(W))
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
class SpectrumReport(Display):
    """Theory of the trained weights' spectrum and, with N, the sampled networks' eigenvalues.

    Returned by :func:`~linkernel.spectrum_report` (derivations/weight_spectrum.tex).

    Attributes
    ----------
    theory : WeightSpectrum
        The N -> infinity spectrum per W group (:class:`linkernel.theory.spectrum.WeightSpectrum`):
        ``names`` ("W" for the RNN, "W{first step}" otherwise), ``bulk_radius[name] = sqrt(w_g)``
        (circular law), ``outliers[name]`` (complex eigenvalues outside the bulk, shape (k,),
        decreasing modulus), ``eigenvalues[name]`` and the ``kernel`` used (shape (T*P, T*P)).
    sampled : SampledSpectrum or None
        With N: the exact posterior draws' top eigenvalues, ``top[name]`` complex of shape
        (draws, k) and ``spectral_radius[name]`` of shape (draws,); None without N.
    comparison : dict
        ``comparison[name]``: per predicted outlier z*, a dict with the mean and standard
        deviation over draws of the sampled eigenvalue nearest to it (``mean``, ``sd``), its
        standard error (``stderr``) and the relative gap ``|mean - z*| / |z*|``
        (``relative_gap``); empty without N.
    seconds : float
        Wall time, in seconds.
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
                    lines.append(f"    outlier {format_eigenvalue(complex(*c['theory']))}: sampled {format_eigenvalue(complex(*c['mean']))} "
                                 f"+- {c['stderr']:.2g} (sd {c['sd']:.2g}), relative gap {c['relative_gap']:.2%}")
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        th, s = self.theory, self.sampled
        rows = [("problem", th.problem)]
        for n in th.names:
            out = ", ".join(format_eigenvalue(z) for z in th.outliers[n]) or "none"
            rows.append((f"{n}: bulk radius; outliers (theory)", f"{th.bulk_radius[n]:.6g}; {out}"))
            if s is not None:
                r = s.spectral_radius[n]
                gaps = ", ".join(f"{c['relative_gap']:.2%}" for c in self.comparison.get(n, [])) or "none"
                rows.append((f"{n}: sampled spectral radius; outlier gaps", f"{r.mean():.5g}; {gaps}"))
        if s is not None:
            rows.append(("sampled at N", f"{s.N} ({s.draws} draws per matrix)"))
        return rows + [("seconds", self.seconds)]


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


@entry_point(size=lambda a: a["N"] or a["problem"].n)
def spectrum_report(problem: Problem, N: int | None = None, seed: int = 0, progress: bool = False,
                    draws: int = 8) -> SpectrumReport:
    """Theory of the weight spectrum, plus with ``N`` the top eigenvalues of ``draws`` exact posterior networks.

    At infinite width every trained W group's spectrum is the circular-law bulk of radius
    ``sqrt(w_g)`` plus the outliers predicted from the saddle-point kernel
    (derivations/weight_spectrum.tex).  With ``N``, weight matrices are drawn from the exact
    finite-N posterior (:func:`~linkernel.exact_posterior` kernels) and their top eigenvalues
    compared with the outliers.  JSON (``SpectrumReport.to_dict()``): ``outliers``
    ({matrix: [[re, im], ...]}), ``bulk_radius`` ({matrix: sqrt(w_g)}), ``sampled`` (None
    without N).

    Parameters
    ----------
    problem : Problem
        The problem, at its ``lam``.
    N : int, optional
        Network width for the sampled comparison; default None (theory only).
    seed : int, default 0
        Seed of the posterior draws.
    progress : bool, default False
        Show the progress bar (on stderr).
    draws : int, default 8
        Weight matrices drawn per W group.

    Returns
    -------
    SpectrumReport
        The theory, and with N the sampled spectrum and the comparison.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).

    Examples
    --------
    >>> import linkernel as lk
    >>> rep = lk.spectrum_report(lk.endpoint("rnn", T=4, lam=3.0))
    >>> rep.theory.names, rep.theory.bulk_radius, rep.sampled
    (('W',), {'W': 1.0}, None)
    >>> rep.theory.outliers["W"].round(6)
    array([1.230852+0.j])
    """
    t0 = time.perf_counter()
    th = weight_spectrum(problem)
    sampled, comp = None, {}
    if N is not None:
        k = max(1, max(len(v) for v in th.outliers.values()))
        sampled = sampled_spectrum(problem, N, draws=draws, top=k, seed=seed, progress=progress)
        comp = compare(th, sampled)
    return SpectrumReport(theory=th, sampled=sampled, comparison=comp, seconds=time.perf_counter() - t0)

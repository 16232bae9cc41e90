"""What the paper's figures share: the result type, output files, progress, network sampling, panels.

Every figure writes ``fig{n}.png``, ``fig{n}.pdf`` and ``fig{n}.json`` (the numbers of every panel,
strict JSON via :func:`linkernel.serialize.dumps`) into ``out``.  Kernels are drawn with rows
``t*P + p`` (t = 0..T-1) as everywhere in the package.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import linkernel.plots  # noqa: F401  (selects the Agg backend before pyplot is imported)
import matplotlib.pyplot as plt

from linkernel.serialize import dumps, jsonable


@dataclass(frozen=True, eq=False)
class FigureResult:
    """One regenerated figure: ``paths`` written (PNG, PDF, JSON), ``data`` (the JSON: every panel's numbers),
    ``seconds`` it took, ``quick`` whether it was the small CI version, ``N`` the networks' width."""

    number: int
    paths: tuple
    data: dict = field(repr=False)
    seconds: float
    quick: bool
    N: int | None

    def to_dict(self) -> dict:
        return jsonable({"figure": self.number, "paths": list(self.paths), "seconds": self.seconds,
                         "quick": self.quick, "N": self.N, "data": self.data})

    def summary(self) -> str:
        head = (f"Fig. {self.number}{' (quick)' if self.quick else ''}: N = {self.N}, {self.seconds:.1f} s; "
                f"panels: {', '.join(k for k in self.data if k.startswith('panel'))}")
        notes = self.data.get("notes", [])
        return "\n".join([head, *[f"  {n}" for n in notes], *[f"  wrote {p}" for p in self.paths]])

    __str__ = summary


def say(msg: str, progress: bool) -> None:
    """A line on stderr (the run-time estimate, what is being computed), only when ``progress``."""
    if progress:
        print(msg, file=sys.stderr, flush=True)


def write(fig, number: int, out: str, data: dict) -> tuple:
    """Save ``fig`` as PNG and PDF and ``data`` as JSON under ``out``; return the three paths."""
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, f"fig{number}")
    paths = (base + ".png", base + ".pdf", base + ".json")
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    with open(paths[2], "w") as fh:
        fh.write(dumps(data))
    return paths


SWEEPS = 300     # network-sampler sweeps per posterior in the full figures (2 chains)


def estimate_minutes(problems, N: int, seed: int = 0) -> float:
    """Estimated minutes of the full figure's network sampling: a 6-sweep calibration run at width N of
    the largest problem of each architecture (a DNN sweep costs more than an RNN sweep of the same T:
    one weight matrix per step), scaled to SWEEPS sweeps for each of ``problems`` (the O(T P N^2) sweep
    cost)."""
    import warnings
    from linkernel.finite_n.network_sampler import sample_networks
    per = {}
    for arch in dict.fromkeys(p.arch for p in problems):
        big = max((p for p in problems if p.arch == arch), key=lambda p: p.n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = sample_networks(big, N, sweeps=6, burn=1, chains=2, seed=seed, progress=False, warn=False,
                                spectra=0)
        per[arch] = (r.seconds / 6, big.n)
    return sum(per[p.arch][0] * SWEEPS * p.n / per[p.arch][1] for p in problems) / 60


def network_kernels(problem, N: int, quick: bool, seed: int, spectra: int = 0):
    """Finite-width kernels of ``problem``: (mean kernel, stderr, kernel draws, spectra or None, source text).

    ``quick``: the exact finite-N posterior (HMC on the rotation-invariant reduction, cost independent
    of N; its law is the networks' law exactly).  Otherwise real width-N networks
    (:func:`linkernel.finite_n.network_sampler.sample_networks`, 2 chains), with ``spectra`` weight
    snapshots per chain.
    """
    import warnings
    if quick:
        from linkernel.finite_n.exact import exact_posterior
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = exact_posterior(problem, N, chains=2, samples=100, warmup=150, seed=seed, progress=False,
                                 warn=False)
        return ex.kernel, ex.stderr, ex.draws.reshape(-1, problem.n, problem.n), None, \
            f"exact finite-N posterior (N={N})"
    from linkernel.finite_n.network_sampler import sample_networks
    r = sample_networks(problem, N, sweeps=SWEEPS, chains=2, seed=seed, progress=False, spectra=spectra, warn=True)
    return r.kernel, r.stderr, r.draws.reshape(-1, problem.n, problem.n), r.spectra, f"sampled networks (N={N})"


def kernel_panel(ax, K, title: str, labels=None, inset=None, inset_title: str = "theory"):
    """A kernel as a heat map (diverging, symmetric colour range), optionally with the theory as an inset."""
    K = np.asarray(K, dtype=float)
    vmax = float(np.max(np.abs(K))) or 1.0
    im = ax.imshow(K, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    step = max(1, K.shape[0] // 8)
    ax.set_xticks(range(0, K.shape[1], step))
    ax.set_yticks(range(0, K.shape[0], step))
    if labels is not None:
        ax.set_xlabel(labels[0], fontsize=7)
        ax.set_ylabel(labels[1], fontsize=7)
    if inset is not None:
        ins = ax.inset_axes([0.62, 0.62, 0.38, 0.38])
        ins.imshow(np.asarray(inset, dtype=float), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ins.set_xticks([])
        ins.set_yticks([])
        ins.set_title(inset_title, fontsize=5, pad=1)
    return im


def spectrum_panel(ax, eigenvalues, theory, name: str, title: str):
    """Eigenvalues in the complex plane with the bulk circle sqrt(w_g) and the predicted outliers (and mirrors -z)."""
    z = np.asarray(eigenvalues).ravel()
    ax.plot(z.real, z.imag, ".", ms=1.2, color="0.35", alpha=0.6, rasterized=True)
    r = theory.bulk_radius[name]
    phi = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r * np.cos(phi), r * np.sin(phi), "--", color="C0", lw=0.8)
    out = theory.outliers[name]
    if len(out):
        ax.plot(out.real, out.imag, "o", mfc="none", mec="C3", ms=7, mew=1.3, label="predicted outlier")
        ax.plot(-out.real, -out.imag, "o", mfc="none", mec="C3", ms=7, mew=0.6, ls="", alpha=0.5,
                label="its Z2 mirror -z")
    ax.set_aspect("equal")
    lim = 1.15 * max(r, float(np.max(np.abs(z))) if z.size else r, float(np.max(np.abs(out))) if len(out) else 0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.set_xlabel("Re z", fontsize=7)
    ax.set_ylabel("Im z", fontsize=7)


def spectra_from_draws(problem, kernels, N: int, seed: int, n_draws: int = 1) -> dict:
    """Eigenvalues of every W group for ``n_draws`` exact posterior weight draws completed from kernel draws."""
    from linkernel.finite_n.spectra import network_weights
    rng = np.random.default_rng(seed)
    idx = np.linspace(0, len(kernels) - 1, n_draws).round().astype(int)
    ev = {}
    for i in idx:
        for name, W in network_weights(problem, kernels[i], N, rng).items():
            ev.setdefault(name, []).append(np.linalg.eigvals(W))
    return {k: np.array(v) for k, v in ev.items()}


def spectra_of(result_spectra, problem, kernels, N: int, seed: int) -> dict:
    """{matrix name: eigenvalues (any shape)} from sampled networks' snapshots, else from exact draws."""
    if result_spectra is not None:
        return {n: result_spectra.eigenvalues[n] for n in result_spectra.names}
    return spectra_from_draws(problem, kernels, N, seed)


def elapsed(t0: float) -> float:
    return time.perf_counter() - t0

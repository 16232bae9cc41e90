"""Eigenvalue spectra of the recurrent weights of sampled networks (one spectrum per W group).

The physical matrices are ``W_g = sqrt(w_g / N) Z_g`` (muP scaling,
:mod:`linkernel.finite_n.networks`): the RNN has one W, the DNN one W^(t)
per step t = 1..T-1, a weight-sharing pattern one per W group.  Under the
prior each spectrum fills the disc of radius ``sqrt(w_g)`` uniformly (the
circular law); feature learning shows up as outliers (the learned low-rank
structure) outside or inside it.  Snapshots are taken at a few recorded
sweeps per chain (an N x N nonsymmetric eigenproblem costs O(N^3): about a
second at N = 2048 per matrix on one core).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
        from linkernel.serialize import jsonable
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
    """Eigenvalues of a stack of square matrices (..., N, N), sorted by decreasing modulus."""
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

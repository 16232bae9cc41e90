"""What the paper's figures share: the result type, output files, progress, network sampling, panels.

Every figure writes ``fig{n}.png``, ``fig{n}.pdf`` and ``fig{n}.json`` (the numbers of every panel,
strict JSON via :func:`linkernel.serialize.dumps`) into ``out``.  Kernels are drawn with rows
``t*P + p`` (t = 0..T-1) as everywhere in the package.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import linkernel.plots  # noqa: F401  (selects the Agg backend before pyplot is imported)
import matplotlib.pyplot as plt

from linkernel.display import Display
from linkernel.serialize import dumps, jsonable


@dataclass(frozen=True, eq=False)
class FigureResult(Display):
    """One regenerated figure of the paper: the files written and every panel's numbers.

    Returned by :func:`~linkernel.make_figure`.

    Attributes
    ----------
    number : int
        The figure's number (2, 3, 4 or 5).
    paths : tuple of str
        The files written (PNG, PDF, JSON; Fig. 4 also its panels as PNG).
    data : dict
        The JSON: every panel's numbers (keys ``panel_*``), ``notes`` and, where networks
        were sampled, ``sampling``.
    seconds : float
        Wall time, in seconds.
    quick : bool
        Whether it was the small CI version (exact finite-N posterior draws, no network sampled).
    N : int or None
        The finite networks' width.
    """

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
                f"panels: {self._panel_letters()}")
        notes = self.data.get("notes", [])
        return "\n".join([head, *[f"  {n}" for n in notes], *[f"  wrote {p}" for p in self.paths]])

    __str__ = summary

    def _panel_letters(self) -> str:
        """The panels by the paper's letters (the keys of ``data["panels"]``), e.g. ``a, a_inset_beta, b``."""
        return ", ".join(self.data.get("panels", {}))

    def _display_rows(self) -> list:
        return [("figure", self.number), ("quick", self.quick), ("N", self.N), ("seconds", self.seconds),
                ("panels", self._panel_letters()),
                ("notes", len(self.data.get("notes", []))), ("files", ", ".join(str(p) for p in self.paths))]


def say(msg: str, progress: bool) -> None:
    """A line on stderr (the run-time estimate, what is being computed), only when ``progress``."""
    if progress:
        print(msg, file=sys.stderr, flush=True)


def write(fig, number: int, out: str, data: dict) -> tuple:
    """Save ``fig`` as PNG and PDF and ``data`` as JSON under ``out``; return the three paths."""
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, f"fig{number}")
    paths = (base + ".png", base + ".pdf", base + ".json")
    from linkernel.figures.style import figure_style
    # fontTools (subsetting the PDF's fonts) logs 'created timestamp seems very low' per font: not ours
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with figure_style():
        fig.savefig(paths[0], dpi=200)
        fig.savefig(paths[1])
    plt.close(fig)
    with open(paths[2], "w") as fh:
        fh.write(dumps(data))
    return paths


CHAINS = 4        # network chains per posterior in the full figures
FIRST = 200       # sweeps of the first batch (a fifth burn-in); later batches continue until converged


@dataclass
class Sampling:
    """How a figure's network runs are sampled and what they gave.

    ``sweeps``: a fixed length per run (no convergence loop); else each run continues in batches
    until R-hat < 1.01 and ESS >= 400 on every kernel entry, f and m
    (:func:`linkernel.finite_n.network_sampler.sample_until_converged`).  ``max_minutes``: the cap on
    the figure's whole network sampling, shared out over the runs still to do.  ``runs``: one record
    per run (what the JSON's ``sampling`` lists).
    """

    n_runs: int
    sweeps: int | None = None
    max_minutes: float | None = None
    t0: float = field(default_factory=time.perf_counter)
    runs: list = field(default_factory=list)
    estimated_minutes: float | None = None     # what the figure printed at its start

    def minutes_for_next(self) -> float | None:
        if self.max_minutes is None:
            return None
        left = self.max_minutes - (time.perf_counter() - self.t0) / 60
        return max(left / max(self.n_runs - len(self.runs), 1), 0.05)

    def record(self, problem, N, r) -> None:
        d = r.diagnostics
        self.runs.append({"arch": problem.arch.name if hasattr(problem.arch, "name") else str(problem.arch),
                          "T": problem.T, "P": problem.P, "lam": problem.lam, "N": N, "chains": r.chains,
                          "sweeps": r.sweeps, "burn": r.burn, "max_rhat": d.max_rhat, "min_ess": d.min_ess,
                          "converged": bool(d.max_rhat is not None and d.max_rhat < 1.01 and (d.min_ess or 0) >= 400),
                          "stop_reason": r.stop_reason, "seconds": r.seconds})

    def summary(self) -> dict:
        ok = all(r["converged"] for r in self.runs)
        return {"runs": self.runs, "all_converged": ok, "criterion": "max R-hat < 1.01 and min ESS >= 400",
                "fixed_sweeps": self.sweeps, "max_minutes": self.max_minutes,
                "estimated_minutes": self.estimated_minutes,
                "minutes_sampling": sum(r["seconds"] for r in self.runs) / 60}

    def warn_if_cut(self, number: int) -> None:
        bad = [r for r in self.runs if not r["converged"]]
        if bad:
            import warnings
            from linkernel.finite_n.diagnostics import SamplerWarning
            why = "the --sweeps length" if self.sweeps else "the --max-minutes cap"
            warnings.warn(f"Fig. {number}: {len(bad)} of {len(self.runs)} network runs not converged "
                          f"(stopped by {why}; worst R-hat {max(r['max_rhat'] or float('inf') for r in bad):.4f}, "
                          f"min ESS {min(r['min_ess'] or 0 for r in bad):.0f}); raise the limit for converged runs",
                          SamplerWarning, stacklevel=3)


def expected_sweeps(problem) -> float:
    """Sweeps a converged run typically takes (4 chains; R-hat on every kernel entry is the last check to
    pass, so the more entries, the longer): ``155 + 35 ln(n (n + 1) / 2)``, a least-squares line through
    the full-size gallery's 50 runs (examples/figures/*.json, ``sampling.runs``): 217 sweeps on average at
    T = 3 (6 entries), 233 at T = 4, 267 at T = 5, 283-325 at T = 10 (55 entries), 375 at T = 8, P = 4
    (528).  Runs stop at the first batch boundary (200, 300, 400, ...) that passes, so a single run
    lands on one of those; the estimate is their mean."""
    return 155.0 + 35.0 * float(np.log(problem.n * (problem.n + 1) / 2))


def _calibrate(problem, N: int, seed: int) -> tuple[float, float]:
    """(seconds per sweep, set-up seconds) of a short network run of ``problem`` at width N: 8 sweeps
    after the collapsed move's set-up, the sweeps timed between the first and last checkpoint."""
    import warnings
    from linkernel.finite_n.network_sampler import sample_networks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = sample_networks(problem, N, sweeps=8, burn=2, chains=CHAINS, seed=seed, progress=False, warn=False,
                            spectra=0, n_checkpoints=6)
    (s0, t0, _), (s1, t1, _) = r.checkpoints[0], r.checkpoints[-1]
    per_sweep = (t1 - t0) / max(s1 - s0, 1)
    return per_sweep, max(t0 - per_sweep * s0, 0.0)


def eigenvalue_seconds(N: int, seed: int = 0) -> float:
    """Seconds of one weight-spectrum snapshot of one N x N matrix here (the nonsymmetric eigenproblem of
    :func:`linkernel.finite_n.spectra.eigenvalues`, O(N^3)), timed on a Gaussian matrix."""
    from linkernel.finite_n.spectra import eigenvalues
    W = np.random.default_rng(seed).normal(size=(N, N)) / np.sqrt(N)
    t = time.perf_counter()
    eigenvalues(W)
    return time.perf_counter() - t


def estimate_minutes(problems, N: int, seed: int = 0, sweeps: int | None = None, widths=None,
                     spectra: int = 0, eigenproblems: int = 0) -> float:
    """Estimated minutes of the figure's network sampling, from short calibration runs.

    Per architecture, the largest of its ``problems`` is run briefly at width N (and, when ``widths``
    reach below N, at the smallest width too): its set-up (the collapsed move's adaptation, paid per
    run) and its seconds per sweep.  Both are modelled as ``a + b w^2`` in the width w, through the two
    calibrations (one calibration: proportional to w^2), since a sweep has an O(T P N^2) part and a
    part that does not grow with N (the DNN's collapsed layer move is nearly all the latter at these
    sizes).  The sweeps scale with each problem's kernel size and number :func:`expected_sweeps`
    (or ``sweeps``).  ``widths``: every problem is sampled at each of these widths (default N alone).
    ``spectra``: weight-spectrum snapshots per chain; each diagonalises every W group's N x N matrix
    (one for the RNN, T - 1 for the DNN), timed by :func:`eigenvalue_seconds`; ``eigenproblems``: N x N
    eigenproblems the figure solves besides its runs (the weight spectra of exact draws,
    :func:`spectra_from_draws`).
    """
    widths = (N,) if widths is None else tuple(widths)
    low = min(widths)
    model = {}
    for arch in dict.fromkeys(p.arch for p in problems):
        big = max((p for p in problems if p.arch == arch), key=lambda p: p.n)
        hi = _calibrate(big, N, seed)
        if low < N:
            lo = _calibrate(big, low, seed)
            per = tuple(np.polyfit([low ** 2, N ** 2], [lo[k], hi[k]], 1) for k in range(2))
        else:
            per = tuple(np.array([hi[k] / N ** 2, 0.0]) for k in range(2))
        model[arch] = (per, big.n)
    eig = {w: eigenvalue_seconds(w, seed) for w in widths} if spectra or eigenproblems else {}
    total = eigenproblems * eig[N] if eigenproblems else 0.0
    for p in problems:
        (sweep_fit, setup_fit), n_big = model[p.arch]
        for w in widths:
            per_sweep = max(float(np.polyval(sweep_fit, w ** 2)), 0.0) * p.n / n_big
            total += max(float(np.polyval(setup_fit, w ** 2)), 0.0) + per_sweep * (sweeps or expected_sweeps(p))
            if spectra:
                total += CHAINS * spectra * len(p.arch.W) * eig[w]
    return total / 60


EXACT = "exact finite-N posterior draws"
NETWORKS = "sampled networks"


def network_kernels(problem, N: int, quick: bool, seed: int, spectra: int = 0, sampling: Sampling | None = None):
    """Finite-width kernels of ``problem``: (mean kernel, stderr, kernel draws, spectra or None, source text,
    result).

    ``quick``: the exact finite-N posterior (HMC on the rotation-invariant reduction, cost independent
    of N; its law is the networks' law exactly, but no network is sampled: the source text says
    "exact finite-N posterior draws").  Otherwise real width-N networks ("sampled networks"),
    ``CHAINS`` chains continued until converged or fixed to ``sampling.sweeps``
    (:class:`Sampling`), with ``spectra`` weight snapshots per chain.
    """
    import warnings
    if quick:
        from linkernel.finite_n.exact import exact_posterior
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = exact_posterior(problem, N, chains=2, samples=100, warmup=150, seed=seed, progress=False,
                                 warn=False)
        return ex.kernel, ex.stderr, ex.draws.reshape(-1, problem.n, problem.n), None, f"{EXACT} (N={N})", ex
    from linkernel.finite_n.network_sampler import sample_networks, sample_until_converged
    sampling = sampling or Sampling(n_runs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # one warning for the figure (Sampling.warn_if_cut)
        if sampling.sweeps:
            r = sample_networks(problem, N, sweeps=sampling.sweeps, chains=CHAINS, seed=seed, progress=False,
                                spectra=spectra, warn=False)
        else:
            r = sample_until_converged(problem, N, chains=CHAINS, first=FIRST, seed=seed, spectra=spectra,
                                       max_minutes=sampling.minutes_for_next(), progress=False, warn=False)
    sampling.record(problem, N, r)
    return r.kernel, r.stderr, r.draws.reshape(-1, problem.n, problem.n), r.spectra, f"{NETWORKS} (N={N})", r


def kernel_panel(ax, K, title: str | None = None, labels=None, inset=None, inset_title: str = "theory",
                 colorbar: bool = True):
    """A kernel as a heat map (diverging, limits symmetric about 0) with its colour bar, optionally the
    theory as a lower-left inset on the same colour scale (:func:`linkernel.figures.style.inset_heatmap`)."""
    from linkernel.figures.style import heatmap, inset_heatmap, limits
    K = np.asarray(K, dtype=float)
    vl = limits(K if inset is None else np.concatenate([K.ravel(), np.ravel(inset)]))
    im = heatmap(ax, K, vlim=vl, colorbar=colorbar)
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
    if inset is not None:
        inset_heatmap(ax, inset, vl, inset_title)
    return im


def spectrum_panel(ax, eigenvalues, theory, name: str, title: str | None = None, legend: bool = False):
    """Eigenvalues in the complex plane with the bulk circle sqrt(w_g) and the predicted outliers (and mirrors -z)."""
    z = np.asarray(eigenvalues).ravel()
    dense = z.size > 3000          # many layers x chains x N: small, light dots (the bulk's edge stays visible)
    ax.plot(z.real, z.imag, ".", ms=0.4 if dense else 1.0, color="0.35", alpha=0.35 if dense else 0.6,
            rasterized=True, label="eigenvalues")
    r = theory.bulk_radius[name]
    phi = np.linspace(0, 2 * np.pi, 200)
    ax.plot(r * np.cos(phi), r * np.sin(phi), "--", color="C0", lw=0.8, label="bulk (theory)")
    out = theory.outliers[name]
    if len(out):
        ax.plot(out.real, out.imag, "o", mfc="none", mec="C3", ms=5, mew=1.0, label="outlier (theory)")
        ax.plot(-out.real, -out.imag, "o", mfc="none", mec="C3", ms=5, mew=0.5, ls="", alpha=0.5)
    ax.set_aspect("equal")
    lim = 1.15 * max(r, float(np.max(np.abs(z))) if z.size else r, float(np.max(np.abs(out))) if len(out) else 0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    if title:
        ax.set_title(title)
    ax.set_xlabel(r"$\mathrm{Re}\,z$")
    ax.set_ylabel(r"$\mathrm{Im}\,z$", labelpad=0)


def spectra_from_draws(problem, kernels, N: int, seed: int, n_draws: int = 1) -> dict:
    """Eigenvalues of every W group for ``n_draws`` exact posterior weight draws completed from kernel draws."""
    from linkernel.finite_n.spectra import eigenvalues, network_weights
    rng = np.random.default_rng(seed)
    idx = np.linspace(0, len(kernels) - 1, n_draws).round().astype(int)
    ev = {}
    for i in idx:
        for name, W in network_weights(problem, kernels[i], N, rng).items():
            ev.setdefault(name, []).append(eigenvalues(W))
    return {k: np.array(v) for k, v in ev.items()}


def spectra_of(result_spectra, problem, kernels, N: int, seed: int) -> dict:
    """{matrix name: eigenvalues (any shape)} from sampled networks' snapshots, else from exact draws."""
    if result_spectra is not None:
        return {n: result_spectra.eigenvalues[n] for n in result_spectra.names}
    return spectra_from_draws(problem, kernels, N, seed)


def elapsed(t0: float) -> float:
    return time.perf_counter() - t0

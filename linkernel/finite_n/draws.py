"""What both samplers' results share: sign-fixed kernel draws, their outputs, statistics and verdict.

A sampler (:func:`~linkernel.finite_n.exact.exact_posterior`,
:func:`~linkernel.finite_n.network_sampler.sample_networks`) produces kernel draws ``Hd``
(chains, samples, TP, TP; rows ``t*P + p``), each brought to the Z2 representative with
``m >= 0`` (:func:`~linkernel.problem.fix_z2_sign`).  This module turns them into what a result
carries: the posterior mean kernel, per-entry Monte Carlo errors, bulk ESS and R-hat
(:mod:`linkernel.finite_n.diagnostics`), the order parameters, the Rao-Blackwellised outputs f
(:func:`output_draws`), and the common behaviour of the results (:class:`DrawsResult`: the
verdict, the worst entry's ESS and R-hat, ArviZ InferenceData, NetCDF).

Naming, the same in both results: ``ess`` and ``rhat`` are per-entry arrays (TP, TP) of the kernel
(bulk ESS; rank-normalised split R-hat); ``min_ess`` and ``max_rhat`` are the worst over every
monitored quantity (kernel entries, outputs f, order parameter m), the numbers the verdict uses.
"""

from __future__ import annotations

import numpy as np

from linkernel.display import Display, axes, kernel_image
from linkernel.finite_n.diagnostics import entry_stats, inference_data
from linkernel.problem import Problem, kernel_entry
from linkernel.theory.action import readout_kernel


def output_draws(problem: Problem, H) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the outputs f given the kernel, for a stack of kernels ``H`` (..., TP, TP).

    The readout v ~ N(0, v I) is independent of the hidden states, so given h
    (of a real network, or of a reduced draw) ``f = h^T v / N`` is Gaussian,
    ``N(0, v H / N)``, and conditioning on ``y_S = f_S + N(0, kappa/N)`` gives
    exactly (``derivations/exact_reduction.tex``, "The readout integrates out")

        E[f | H, y]   = v H_{:S} (v H_SS + kappa I)^-1 y_S
        Var[f | H, y] = (1/N) v diag(H - v H_{:S} (v H_SS + kappa I)^-1 H_{S:})

    Returned with shape (..., T, P) each, the variance *without* its factor
    1/N (N is not an argument: multiply by 1/N).  Averaging the conditional mean over draws is the
    Rao-Blackwellised posterior mean of f.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    Km = readout_kernel(problem, H)
    HS = H[..., :, idx]                                                           # (..., n, |S|)
    alpha = np.linalg.solve(Km, np.broadcast_to(problem.y_S, Km.shape[:-1])[..., None])        # (..., |S|, 1)
    mean = problem.v * (HS @ alpha)[..., 0]
    KiHS = np.linalg.solve(Km, np.swapaxes(HS, -1, -2))                           # (..., |S|, n)
    var = problem.v * (np.diagonal(H, axis1=-2, axis2=-1) - problem.v * np.sum(HS * np.swapaxes(KiHS, -1, -2), -1))
    shape = H.shape[:-2] + (problem.T, problem.P)
    return mean.reshape(shape), np.maximum(var, 0.0).reshape(shape)



class DrawsResult(Display):
    """What the sampler results share: the verdict, the draws as ArviZ InferenceData, NetCDF output.

    Subclasses are frozen dataclasses with ``problem``, ``N``, ``draws``
    (chains, samples, TP, TP: sign-fixed kernels), ``f_draws`` (chains,
    samples, T, P), ``ess`` and ``rhat`` (TP, TP: per kernel entry; module doc),
    ``diagnostics`` (:class:`~linkernel.finite_n.diagnostics.Diagnostics`), from which
    ``min_ess``, ``max_rhat`` (the worst entry), ``converged`` and ``warnings`` come.
    """

    @property
    def converged(self) -> bool:
        """R-hat <= 1.01 (>= 2 chains), bulk ESS >= 100 for every entry, no divergences."""
        return self.diagnostics.converged

    @property
    def min_ess(self) -> float | None:
        """Smallest bulk ESS over the monitored quantities (kernel entries, f, m); None if undefined."""
        return self.diagnostics.min_ess

    @property
    def max_rhat(self) -> float | None:
        """Largest R-hat over the monitored quantities (kernel entries, f, m); None if undefined."""
        return self.diagnostics.max_rhat

    @property
    def warnings(self) -> tuple:
        """The failed checks, one line each (empty when converged)."""
        return self.diagnostics.warnings

    def _sample_stats(self) -> dict:
        return {}

    def to_inference_data(self):
        """``arviz.InferenceData``: posterior draws of the kernel entries ``H`` (dims t, p, t2, p2: the
        entry H_{pp2}^{t t2}), the order parameter ``m`` and the outputs ``f`` (t, p); the Z2 sign of every
        draw fixed as in ``kernel``; sampler statistics where the sampler has them."""
        pr = self.problem
        C, S = self.draws.shape[:2]
        Hd = self.draws.reshape(C, S, pr.T, pr.P, pr.T, pr.P)
        m = (kernel_entry(self.draws, pr.T - 1, pr.T - 2, pr.P) if pr.T > 1 else np.zeros((C, S)))
        coords = {"t": np.arange(pr.T), "p": np.arange(pr.P), "t2": np.arange(pr.T), "p2": np.arange(pr.P)}
        dims = {"H": ["t", "p", "t2", "p2"], "f": ["t", "p"], "m": []}
        attrs = {"linkernel_result": type(self).__name__, "N": int(self.N), "problem": _json(pr.to_dict()),
                 "sign_convention": "Z2 sign fixed per draw: m = H^{T-1,T-2} >= 0 and every shared group's m_g >= 0",
                 "f": "E[f | H, y] per draw (the readout integrated out exactly)"}
        return inference_data({"H": Hd, "m": m, "f": self.f_draws}, coords, dims, self._sample_stats(), attrs)

    def save(self, path) -> str:
        """Write :meth:`to_inference_data` as NetCDF (``arviz.InferenceData.to_netcdf``); returns the path."""
        import os
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"path={path!r} is invalid; the folder {folder} does not exist")
        self.to_inference_data().to_netcdf(path)
        return path

    def plot(self, ax=None, what: str = "kernel", theory: float | None = None):
        """The posterior-mean kernel as a heat map with its colour bar, or the order parameter's draws;
        returns the matplotlib Axes.

        ``what``: "kernel" (``kernel``, (TP, TP), rows t*P+p) or "m" (a histogram of the sign-fixed
        m = H^{T-1,T-2} of every draw, its posterior mean marked, and ``theory`` (a value of m, e.g. the
        saddle point's ``order_parameter``) beside it when given).  ``ax``: the axes to draw in (None: a
        new figure).
        """
        from linkernel.validation import choice
        what = choice("what", what, ("kernel", "m"))
        ax = axes(ax)
        pr = self.problem
        head = f"{type(self).__name__} at N={self.N}: m = {self.order_parameter:.5g} +- {self.order_parameter_stderr:.2g}"
        if what == "kernel":
            kernel_image(ax, self.kernel, title=head)
            return ax
        m = kernel_entry(self.draws, pr.T - 1, pr.T - 2, pr.P).ravel() if pr.T > 1 else np.zeros(1)
        ax.hist(m, bins=min(50, max(5, m.size // 20)), color="C0", alpha=0.7, label="draws (sign fixed)")
        ax.axvline(self.order_parameter, color="k", label="posterior mean")
        if theory is not None:
            ax.axvline(float(theory), color="C3", ls="--", label="theory")
        ax.set_xlabel("order parameter m = H^(T-1,T-2)")
        ax.set_ylabel("draws")
        ax.set_title(head, fontsize=9)
        ax.legend(fontsize=7)
        return ax


def _json(d) -> str:
    from linkernel.serialize import dumps
    return dumps(d, indent=None)



def format_outputs(f, se) -> str:
    """The outputs f (T, P) with their errors ``se``, one line per step t: ``f +- se`` per pattern."""
    f, se = np.atleast_2d(f), np.atleast_2d(se)
    return "\n".join("  t=%-3d " % t + "  ".join(f"{a:10.5g} +- {b:.2g}" for a, b in zip(f[t], se[t]))
                     for t in range(f.shape[0]))



def summarize_draws(problem: Problem, Hd: np.ndarray) -> dict:
    """Per-entry statistics of sign-fixed kernel draws ``Hd`` (chains, samples, TP, TP) and their outputs.

    Returns kernel, stderr, ess (bulk), rhat (None for one chain), m (mean, stderr), the shared groups'
    m_g, and the outputs f: draws (chains, samples, T, P), mean, stderr, sd (:func:`output_draws`).
    """
    n = problem.n
    C, S = Hd.shape[:2]
    iu = np.triu_indices(n)
    st = entry_stats(Hd[:, :, iu[0], iu[1]])

    def sym(v):
        out = np.empty((n, n))
        out[iu] = v
        out[iu[1], iu[0]] = v
        return out

    fm, fv = output_draws(problem, Hd)
    fst = entry_stats(fm)
    m = kernel_entry(Hd, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else np.zeros((C, S))
    mst = entry_stats(m[..., None])
    groups = {}
    for g in problem.arch.shared_groups():
        mg = kernel_entry(Hd, *problem.arch.order_pair(g), problem.P)
        groups[g] = (float(mg.mean()), float(entry_stats(mg[..., None])["mcse"][0]))
    return {"kernel": Hd.mean(axis=(0, 1)), "stderr": np.nan_to_num(sym(st["mcse"]), nan=0.0),
            "ess": sym(st["ess_bulk"]), "rhat": None if st["rhat"] is None else sym(st["rhat"]),
            "ess_all": np.concatenate([st["ess_bulk"], fst["ess_bulk"].ravel(), mst["ess_bulk"]]),
            "rhat_all": None if st["rhat"] is None else np.concatenate([st["rhat"], fst["rhat"].ravel(),
                                                                        mst["rhat"]]),
            "m": (float(m.mean()), float(np.nan_to_num(mst["mcse"][0]))), "groups": groups,
            "f_draws": fm, "f_var": fv, "f": fm.mean(axis=(0, 1)), "f_stderr": np.nan_to_num(fst["mcse"], nan=0.0)}


def output_sd(stats: dict, N: int) -> np.ndarray:
    """Posterior sd of f: sqrt(E Var(f | H) + Var E(f | H)), the conditional variance being (1/N) per unit."""
    fm, fv = stats["f_draws"], stats["f_var"]
    return np.sqrt(fv.mean(axis=(0, 1)) / N + fm.reshape(-1, *fm.shape[2:]).var(axis=0))


"""The result of the network sampler: :class:`NetworkPosterior`, and the kernel comparisons it reports.

Kernels are (TP, TP) with rows ``t*P + p``; every recorded kernel has its Z2 sign fixed
(m >= 0, :func:`~linkernel.problem.fix_z2_sign`).  Per-entry diagnostics and the worst entry's are
named as in :mod:`linkernel.finite_n.draws` (``ess``/``rhat`` per entry, ``min_ess``/``max_rhat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.finite_n.draws import DrawsResult, format_outputs
from linkernel.display import kernel_lines
from linkernel.formatting import task_name
from linkernel.problem import Problem
from linkernel.serialize import jsonable


def cka(K1, K2, centered: bool = True) -> float:
    """(Centred) kernel alignment ``<K1c, K2c>_F / (|K1c| |K2c|)``, Kornblith et al. 2019; 1 iff proportional."""
    K1, K2 = np.asarray(K1, dtype=float), np.asarray(K2, dtype=float)
    if centered:
        n = K1.shape[0]
        J = np.eye(n) - np.ones((n, n)) / n
        K1, K2 = J @ K1 @ J, J @ K2 @ J
    return float(np.sum(K1 * K2) / np.sqrt(np.sum(K1 * K1) * np.sum(K2 * K2)))


def max_rel_error(K, K_ref) -> float:
    """``max |K - K_ref| / max |K_ref|``: entry-wise error relative to the kernel's scale."""
    K, K_ref = np.asarray(K, dtype=float), np.asarray(K_ref, dtype=float)
    return float(np.max(np.abs(K - K_ref)) / np.max(np.abs(K_ref)))


@dataclass(frozen=True, eq=False)
class NetworkPosterior(DrawsResult):
    """Posterior-mean kernel of a real width-N network, with what is needed to judge it.

    ``kernel`` (TP, TP): mean of H over chains and recorded sweeps, Z2 sign
    fixed per sample (m >= 0, and every shared group's m_g >= 0); ``stderr``:
    its Monte Carlo standard error per entry (sd / sqrt(ESS)).  ``ess`` and
    ``rhat``: bulk ESS and rank-normalised split R-hat per kernel entry (TP, TP;
    R-hat None for one chain);
    ``min_ess`` / ``max_rhat`` the worst over kernel entries, f and m (the
    verdict's numbers, :class:`~linkernel.finite_n.draws.DrawsResult`);
    ``tau = samples / min_ess`` the matching integrated autocorrelation time in
    sweeps; ``tau_m`` that of the (sign-fixed) order parameter, the slow mode
    near the transition; ``m_trace`` the raw signed m (chains, samples).
    ``order_parameters``: each shared W group's
    ``m_g = H^{t_g, t_g-1}`` as ``{group: (mean, stderr)}``.
    ``bias_estimate``: the discretisation bias (max over entries): 0 for
    ``gibbs`` (exact conditionals and Metropolis-Hastings: the stationary law
    is the posterior itself), ``max |K(step) - K(step/2)|`` for
    :func:`langevin_extrapolated`, None (unknown) for a single Langevin step
    size; ``bias_method`` says which.  ``drift``: ``max |mean(first half) -
    mean(second half)|`` / its error (a burn-in check, O(1) when equilibrated).
    ``checkpoints``: (sweep, seconds, running-mean kernel) at regular sweeps.
    ``predictions`` (T, P): posterior-mean outputs, Rao-Blackwellised (given
    the hidden states the readout's conditional is Gaussian, so each sweep
    contributes ``E[f | h, y] = v H_{:S} (v H_SS + kappa I)^-1 y_S`` with its
    sign-fixed H: :func:`linkernel.finite_n.draws.output_draws`), with
    ``predictions_stderr`` (MCSE) and ``predictions_sd`` (posterior sd of f).
    ``diagnostics``: the verdict (``converged``, ``warnings``);
    ``spectra``: :class:`~linkernel.finite_n.spectra.WeightSpectra` of every W
    group at a few recorded sweeps (None when none were asked for);
    ``draws`` (chains, kept, TP, TP) sign-fixed kernels and ``f_draws``
    (chains, kept, T, P), not in :meth:`to_dict` (:meth:`to_inference_data`,
    :meth:`save`).  ``reduced_moves``: whether the collapsed kernel move
    (:class:`~linkernel.finite_n.network_moves.ReducedMove`) was used.
    ``theory_kernel``, ``exact_kernel``/``exact_stderr``: the references
    :func:`~linkernel.finite_n.network_sampler.sample_networks` attaches on request.

    Attributes
    ----------
    problem : Problem
        The problem.
    N : int
        The width of the networks.
    method : str
        "gibbs" or "langevin".
    chains, sweeps, burn : int
        Chains, sweeps per chain, and sweeps discarded as burn-in.
    dtype : str
        The networks' floating-point type ("float64" or "float32").
    seed : int
        Seed of the random numbers.
    kernel : numpy.ndarray, shape (T*P, T*P)
        Posterior mean of H, Z2 sign fixed per sample.
    stderr : numpy.ndarray, shape (T*P, T*P)
        Monte Carlo standard error per entry (sd / sqrt(ESS)).
    order_parameter, order_parameter_stderr : float
        Posterior mean of ``m = H^{T-1,T-2}`` (m >= 0 convention) and its error.
    tau, tau_m : float or None
        Integrated autocorrelation times, in sweeps, of the slowest kernel entry and of m.
    ess : numpy.ndarray, shape (T*P, T*P)
        Bulk effective sample size per entry.
    rhat : numpy.ndarray or None, shape (T*P, T*P)
        Rank-normalised split R-hat per entry; None for one chain.
    acceptance : dict
        Mean Metropolis acceptance per kind of move.
    block_rows : int or None
        Rows of a shared W per Metropolis step (Gibbs).
    step : float or None
        The Langevin step (whitened units); None for Gibbs.
    bias_estimate : float or None
        The discretisation bias (max over entries); ``bias_method`` says how it was found.
    drift : float
        ``max |mean(first half) - mean(second half)|`` over its error (O(1) when equilibrated).
    checkpoints : tuple
        ``(sweep, seconds, running-mean kernel)`` at regular sweeps.
    seconds, seconds_per_sweep : float
        Wall time and time per sweep, in seconds.
    m_trace : numpy.ndarray, shape (chains, kept)
        The raw signed m of every recorded sweep.
    theory_kernel : numpy.ndarray or None, shape (T*P, T*P)
        The saddle-point kernel (with ``theory=True``).
    exact_kernel, exact_stderr : numpy.ndarray or None, shape (T*P, T*P)
        The exact finite-N posterior mean and its error (with ``exact=True``).
    step_kernels : tuple or None
        ``((step, K), (step/2, K))`` behind a Richardson extrapolation.
    order_parameters : dict or None
        ``{group: (mean, stderr)}`` of each shared W group's ``m_g``.
    predictions, predictions_stderr, predictions_sd : numpy.ndarray or None, shape (T, P)
        Posterior-mean outputs (Rao-Blackwellised), their MCSE, and the posterior sd of f.
    draws : numpy.ndarray or None, shape (chains, kept, T*P, T*P)
        The sign-fixed kernel draws.
    f_draws : numpy.ndarray or None, shape (chains, kept, T, P)
        The conditional-mean output draws.
    diagnostics : Diagnostics
        The verdict: ``converged``, ``warnings``, ``min_ess``, ``max_rhat``.
    spectra : WeightSpectra or None
        Eigenvalue snapshots of every W group.
    reduced_moves : bool
        Whether the collapsed kernel move was used.
    stop_reason : str or None
        Batched runs: "converged", "max_minutes" or "max_sweeps".
    batches : int
        Batches run.
    """

    problem: Problem
    N: int
    method: str
    chains: int
    sweeps: int
    burn: int
    dtype: str
    seed: int
    kernel: np.ndarray
    stderr: np.ndarray
    order_parameter: float
    order_parameter_stderr: float
    tau: float | None
    tau_m: float | None
    ess: np.ndarray
    rhat: np.ndarray | None
    acceptance: dict
    block_rows: int | None
    step: float | None
    bias_estimate: float | None
    drift: float
    checkpoints: tuple
    seconds: float
    seconds_per_sweep: float
    m_trace: np.ndarray = field(repr=False)
    theory_kernel: np.ndarray | None = None
    exact_kernel: np.ndarray | None = None
    exact_stderr: np.ndarray | None = None
    step_kernels: tuple | None = None     # ((step, K), (step/2, K)) behind a Richardson extrapolation
    order_parameters: dict | None = None
    predictions: np.ndarray | None = None
    predictions_stderr: np.ndarray | None = None
    predictions_sd: np.ndarray | None = None
    draws: np.ndarray | None = field(default=None, repr=False)
    f_draws: np.ndarray | None = field(default=None, repr=False)
    diagnostics: object = None
    spectra: object = None
    reduced_moves: bool = False
    stop_reason: str | None = None        # batched runs: "converged", "max_minutes" or "max_sweeps"
    batches: int = 1
    _what: str = field(default="sample_networks", repr=False)

    @property
    def bias_method(self) -> str:
        if self.method == "gibbs":
            return "none: exact Gibbs conditionals and Metropolis-Hastings (no discretisation)"
        if self.bias_estimate is None:
            return "unknown: single Langevin step (use langevin_extrapolated)"
        return "Richardson: |K(step) - K(step/2)|, kernel extrapolated to step 0"

    @property
    def cka(self) -> float | None:
        """Centred alignment with the theory's kernel; None without one, and None for T P = 1 (centring a
        1 x 1 kernel leaves nothing to align: undefined)."""
        if self.theory_kernel is None or self.problem.n < 2:
            return None
        v = cka(self.kernel, self.theory_kernel)
        return v if np.isfinite(v) else None

    @property
    def exact_max_z(self) -> float | None:
        """``max |K - K_exact| / sqrt(stderr^2 + exact_stderr^2)``: the exact reference at the same N, in error bars."""
        if self.exact_kernel is None:
            return None
        return float(np.max(np.abs(self.kernel - self.exact_kernel)
                            / np.sqrt(self.stderr ** 2 + self.exact_stderr ** 2 + 1e-300)))

    @property
    def max_rel_error(self) -> float | None:
        return None if self.theory_kernel is None else max_rel_error(self.kernel, self.theory_kernel)

    def to_dict(self) -> dict:
        """Strict-JSON data (NaN becomes None)."""
        d = {
            "problem": self.problem.to_dict(), "N": self.N, "method": self.method, "chains": self.chains,
            "sweeps": self.sweeps, "burn": self.burn, "dtype": self.dtype, "seed": self.seed,
            "kernel": self.kernel, "stderr": self.stderr,
            "order_parameter": self.order_parameter, "order_parameter_stderr": self.order_parameter_stderr,
            "order_parameters": {str(g): {"steps": list(self.problem.arch.W[g]), "mean": m, "stderr": s}
                                 for g, (m, s) in (self.order_parameters or {}).items()},
            "tau": self.tau, "tau_m": self.tau_m, "ess": self.ess, "rhat": self.rhat,
            "min_ess": self.min_ess, "max_rhat": self.max_rhat,
            "predictions": self.predictions, "predictions_stderr": self.predictions_stderr,
            "predictions_sd": self.predictions_sd, "reduced_moves": self.reduced_moves,
            "converged": self.converged, "warnings": list(self.warnings),
            "diagnostics": None if self.diagnostics is None else self.diagnostics.to_dict(),
            "spectra": None if self.spectra is None else self.spectra.to_dict(),
            "acceptance": self.acceptance, "block_rows": self.block_rows, "step": self.step,
            "bias_estimate": self.bias_estimate, "bias_method": self.bias_method, "drift": self.drift,
            "checkpoints": [{"sweep": s, "seconds": t, "kernel": K} for s, t, K in self.checkpoints],
            "seconds": self.seconds, "seconds_per_sweep": self.seconds_per_sweep,
            "stop_reason": self.stop_reason, "batches": self.batches,
        }
        if self.theory_kernel is not None:
            d |= {"theory_kernel": self.theory_kernel, "cka": self.cka, "max_rel_error": self.max_rel_error}
        if self.step_kernels is not None:
            d["step_kernels"] = [{"step": h, "kernel": K} for h, K in self.step_kernels]
        if self.exact_kernel is not None:
            d |= {"exact_kernel": self.exact_kernel, "exact_stderr": self.exact_stderr,
                  "exact_max_rel_error": max_rel_error(self.kernel, self.exact_kernel),
                  "exact_max_z": self.exact_max_z}
        return jsonable(d)

    def summary(self) -> str:
        """The text ``linkernel sample`` (``sgld``) prints: the kernel, error bars, references, diagnostics.

        For a pattern other than the RNN and the DNN, one more line gives every
        shared group's order parameter m_g.
        """
        pr = self.problem
        lines = [f"{task_name(pr)}: T={pr.T} P={pr.P} lambda={pr.lam:g} kappa={pr.kappa:g}  "
                 f"N={self.N}  {self.method}, {self.chains} chains x {self.sweeps - self.burn} sweeps after "
                 f"{self.burn} burn-in, {self.dtype}",
                 "posterior-mean kernel H (Z2 sign fixed per sample, m >= 0):",
                 *kernel_lines(self.kernel, pr.P), "standard error:", *kernel_lines(self.stderr, pr.P)]
        if self.theory_kernel is not None:
            lines += ["theory (saddle point):", *kernel_lines(self.theory_kernel, pr.P),
                      f"max |H - H_theory| / max|H_theory| = {self.max_rel_error:.4f}   CKA = "
                      + ("n/a (undefined for a 1 x 1 kernel)" if self.cka is None else f"{self.cka:.6f}")]
        if self.exact_kernel is not None:
            lines += [f"exact finite-N posterior mean at N={self.N} (rotation-invariant reduction):",
                      *kernel_lines(self.exact_kernel, pr.P),
                      f"max |H - H_exact| / max|H_exact| = {max_rel_error(self.kernel, self.exact_kernel):.4f}   "
                      f"max |H - H_exact| / error bar = {self.exact_max_z:.2f}"]
        num = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
        lines.append(f"m = {self.order_parameter:.5g} +- {self.order_parameter_stderr:.2g}   tau = "
                     f"{num(self.tau, '.3g')} sweeps (m: {num(self.tau_m, '.3g')})   ESS = {num(self.min_ess, '.0f')}   "
                     f"R-hat = {num(self.max_rhat, '.4f') if self.max_rhat is not None else 'n/a (1 chain)'}   "
                     f"drift = {self.drift:.2f}")
        if self.predictions is not None:
            lines.append("posterior-mean outputs f (rows t, columns p; +- MCSE):")
            lines.append(format_outputs(self.predictions, self.predictions_stderr))
        if not (pr.arch.is_rnn or pr.arch.is_dnn) and self.order_parameters:
            lines.append("shared groups: " + "   ".join(
                f"m_{g} = H^({pr.arch.order_pair(g)[0]},{pr.arch.order_pair(g)[1]}) (steps "
                f"{','.join(map(str, pr.arch.W[g]))}) = {m:.5g} +- {s:.2g}"
                for g, (m, s) in self.order_parameters.items()))
        acc = " ".join(f"{k}={v:.2f}" for k, v in self.acceptance.items()) or "n/a (unadjusted Langevin)"
        lines.append(f"acceptance: {acc}" + (f"   rows/step = {self.block_rows}" if self.block_rows else "")
                     + f"   {self.seconds:.1f} s ({self.seconds_per_sweep * 1e3:.1f} ms/sweep)")
        bias = "unknown" if self.bias_estimate is None else f"{self.bias_estimate:.3g}"
        lines.append(f"discretisation bias estimate = {bias}  ({self.bias_method})")
        if self.spectra is not None:
            lines.append(self.spectra.summary())
        if self.diagnostics is not None and not self.converged:
            lines.append("WARNING: not converged: " + "; ".join(self.warnings))
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        rows = [("problem", self.problem), ("N", self.N), ("method", self.method),
                ("order parameter m", self.order_parameter), ("m standard error", self.order_parameter_stderr)]
        if self.diagnostics is not None:
            rows += [("converged", self.converged), ("warnings", "; ".join(self.warnings) or "none"),
                     ("min ESS", self.min_ess), ("max R-hat", self.max_rhat)]
        rows += [("chains x sweeps", f"{self.chains} x {self.sweeps - self.burn} after {self.burn} burn-in"),
                 ("tau (sweeps)", self.tau), ("tau of m", self.tau_m), ("drift", self.drift), ("bias estimate", self.bias_estimate)]
        if self.theory_kernel is not None:
            rows += [("CKA with theory", self.cka), ("max rel. error vs theory", self.max_rel_error)]
        if self.exact_kernel is not None:
            rows.append(("max |H - H_exact| / error bar", self.exact_max_z))
        return rows + [("kernel H (rows t*P+p)", self.kernel), ("dtype", self.dtype),
                       ("stop reason", self.stop_reason), ("seconds", self.seconds)]

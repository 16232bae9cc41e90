"""The exact finite-width posterior of a problem: HMC on the variables of the rotation-invariant reduction.

:func:`exact_posterior` samples the exact posterior density of the reduced variables theta
(:class:`~linkernel.finite_n.reduction.Reduction`, derivations/exact_reduction.tex) with
:func:`~linkernel.finite_n.mcmc.hmc`, started at the posterior mode with the metric of
:func:`initial_metric`, and returns an :class:`ExactResult`: the posterior mean kernel H (TP x TP,
rows ``t*P + p``, each draw's Z2 sign fixed by ``m >= 0``), its Monte Carlo errors and the
diagnostics shared with the network sampler (:mod:`linkernel.finite_n.draws`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from linkernel import validation
from linkernel.errors import ConvergenceError
from linkernel.finite_n.diagnostics import assess, warn as _warn
from linkernel.finite_n.draws import DrawsResult, format_outputs, output_sd, summarize_draws
from linkernel.finite_n.mcmc import hmc
from linkernel.finite_n.reduction import Reduction, count_width
from linkernel.display import kernel_lines
from linkernel.formatting import hyper_text, task_name
from linkernel.problem import Problem, fix_z2_sign, require_problem
from linkernel.serialize import jsonable
from linkernel.threads import entry_point


# --- the sampler's front end ------------------------------------------------------------
N_MAX = 10 ** 12
"""Largest width the reduction samples: the log density is O(N) and its float64 rounding, ~1e-16 N,
must stay far below the O(1) energy differences HMC tests (at 1e12 it is ~1e-4)."""


def initial_metric(red: Reduction, theta0, neg_hessian, relax: int = 1, n_grid: int = 201):
    """The sampler's starting metric at the mode ``theta0``: ``(chol, soft)``, the Cholesky factor of the
    covariance estimate and the soft direction ``u`` (unit eigenvector of ``neg_hessian`` with the
    smallest eigenvalue), for :func:`~linkernel.finite_n.mcmc.hmc` (``chol``, ``soft_direction``);
    ``soft`` is None when the profile along ``u`` is Gaussian-like (its variance within a factor 1.5
    of Laplace's): the metric is then Laplace's and the sampler keeps its plain dense metric.

    Laplace (the inverse of ``neg_hessian``, eigenvalues floored at 1e-6 of the largest) in every
    direction but ``u``.  Along ``u`` the second moment about the mode of the *relaxed profile*
    ``p(theta0 + s u + delta(s))``, ``delta(s)`` one Newton step of the other coordinates
    (with the Hessian at the mode), by quadrature on a grid of ``n_grid`` points that follows its
    support.  Near a critical point the curvature along u vanishes (the quartic direction,
    derivations/exact_reduction.tex, "Finite-size scaling"): at lambda_c, T = 4, N = 2^20
    Laplace overestimates that variance 180-fold (the chains then start far up the quartic wall
    and the warm-up spends most of its gradients there), the straight line ``theta0 + s u``
    underestimates it 3-fold (the other coordinates shift by O(s^2)), the relaxed profile is
    within a few per cent of the posterior's (measured on draws).
    """
    theta0 = np.asarray(theta0, dtype=float)
    w, V = np.linalg.eigh(neg_hessian)
    w = np.maximum(w, 1e-6 * w.max())          # near a critical point the mode is flat: floor it
    u, Vo, wo = V[:, 0], V[:, 1:], w[1:]

    def profile(s):
        th = theta0 + s[:, None] * u
        with np.errstate(all="ignore"):
            for _ in range(relax):
                try:
                    _, g = red.log_posterior_and_grad(th)
                except np.linalg.LinAlgError:
                    return np.full(len(s), -np.inf)
                step = ((g @ Vo) / wo) @ Vo.T
                th = th + np.where(np.isfinite(step), step, np.nan)
            try:
                f = red.log_posterior(th)
            except np.linalg.LinAlgError:
                return np.full(len(s), -np.inf)
        return np.where(np.isfinite(f), f, -np.inf)

    var = 1.0 / w[0]
    R = 10.0 * math.sqrt(var)
    for _ in range(6):
        s = np.linspace(-R, R, n_grid)
        f = profile(s)
        if not np.any(np.isfinite(f)):
            R /= 4.0
            continue
        inside = np.nonzero(f > f.max() - 40.0)[0]
        if inside[0] == 0 or inside[-1] == n_grid - 1:       # the support reaches the grid's edge: widen
            R *= 4.0
            continue
        if len(inside) >= n_grid // 4:                        # resolved
            wts = np.exp(f - f.max())
            var = float(wts @ s ** 2 / wts.sum())
            break
        R = max(-s[inside[0] - 1], s[inside[-1] + 1])         # zoom on the support
    if 1.0 / 1.5 < var * w[0] < 1.5:
        var, soft = 1.0 / w[0], None               # Gaussian-like: Laplace as it is
    else:
        soft = u
    cov = (V * np.concatenate([[var], 1.0 / wo])) @ V.T
    return np.linalg.cholesky(0.5 * (cov + cov.T)), soft


@dataclass(frozen=True, eq=False)
class ExactResult(DrawsResult):
    """The exact finite-N posterior of a problem, by HMC on the reduced variables.

    ``kernel`` (TP, TP): posterior mean of H = (1/N) h.h, each draw brought to
    the Z2 representative with m = H^{T-1,T-2} >= 0 (and every shared group's
    m_g >= 0; :func:`~linkernel.problem.fix_z2_sign`) before averaging;
    ``stderr`` its Monte Carlo standard error, ``ess`` the bulk effective
    sample size and ``rhat`` the rank-normalised split R-hat of every entry
    (:mod:`linkernel.finite_n.diagnostics`; ``rhat`` is None for one chain:
    undefined), per entry; ``min_ess`` / ``max_rhat`` the worst over kernel entries, f and m.  ``order_parameter``: posterior mean of m (same sign
    convention), with ``order_parameter_stderr``; ``order_parameters``: each
    shared W group's ``m_g = H^{t_g, t_g-1}`` as ``{group: (mean, stderr)}``.
    ``predictions`` (T, P): posterior-mean outputs E f (the conditional mean
    given H, exact, averaged over draws: :func:`~linkernel.finite_n.draws.output_draws`), with
    ``predictions_stderr`` (its MCSE) and ``predictions_sd`` (the posterior
    standard deviation of f itself, conditional variance included).
    ``samples`` draws per chain after ``warmup``; ``acceptance`` mean
    Metropolis acceptance; ``divergences`` divergent transitions after
    warm-up; ``n_gradients`` gradient evaluations per chain;
    ``diagnostics`` the verdict (``converged``, ``warnings``); ``draws`` the
    sign-fixed kernel draws (chains, samples, TP, TP) and ``f_draws`` (chains,
    samples, T, P), not in :meth:`to_dict` (see :meth:`to_inference_data`, :meth:`save`).

    Attributes
    ----------
    problem : Problem
        The problem.
    N : int
        The width.
    kernel : numpy.ndarray, shape (T*P, T*P)
        Posterior mean of ``H = (1/N) h . h``, Z2 sign fixed per draw (m >= 0).
    stderr : numpy.ndarray, shape (T*P, T*P)
        Monte Carlo standard error of each entry.
    ess : numpy.ndarray, shape (T*P, T*P)
        Bulk effective sample size of each entry.
    rhat : numpy.ndarray or None, shape (T*P, T*P)
        Rank-normalised split R-hat of each entry; None for one chain.
    order_parameter : float
        Posterior mean of ``m = H^{T-1,T-2}`` (m >= 0 convention).
    order_parameter_stderr : float
        Its Monte Carlo standard error.
    predictions : numpy.ndarray, shape (T, P)
        Posterior-mean outputs E f.
    chains, samples, warmup : int
        HMC chains, draws per chain kept, and warm-up iterations per chain.
    acceptance : float
        Mean Metropolis acceptance.
    divergences : int
        Divergent transitions after warm-up.
    n_gradients : int
        Gradient evaluations per chain.
    seconds : float
        Wall time, in seconds.
    draws : numpy.ndarray, shape (chains, samples, T*P, T*P)
        The sign-fixed kernel draws.
    order_parameters : dict
        ``{group: (mean, stderr)}`` of each shared W group's ``m_g``.
    predictions_stderr : numpy.ndarray, shape (T, P)
        MCSE of ``predictions``.
    predictions_sd : numpy.ndarray, shape (T, P)
        Posterior standard deviation of f itself (conditional variance included).
    f_draws : numpy.ndarray, shape (chains, samples, T, P)
        The conditional-mean output draws.
    diagnostics : Diagnostics
        The verdict (:mod:`linkernel.finite_n.diagnostics`): ``converged``, ``warnings``,
        ``min_ess``, ``max_rhat`` (also properties of the result).
    step_size : float or None
        The adapted HMC step size.
    """

    problem: Problem
    N: int
    kernel: np.ndarray
    stderr: np.ndarray
    ess: np.ndarray
    rhat: np.ndarray | None
    order_parameter: float
    order_parameter_stderr: float
    predictions: np.ndarray
    chains: int
    samples: int
    warmup: int
    acceptance: float
    divergences: int
    n_gradients: int
    seconds: float
    draws: np.ndarray
    order_parameters: dict = None
    predictions_stderr: np.ndarray = None
    predictions_sd: np.ndarray = None
    f_draws: np.ndarray = None
    diagnostics: object = None
    step_size: float | None = None

    def to_dict(self) -> dict:
        """Strict-JSON data (a missing number, e.g. R-hat of a single chain, is None with a reason)."""
        return jsonable({
            "problem": self.problem.to_dict(), "N": self.N,
            "kernel": self.kernel, "stderr": self.stderr, "ess": self.ess, "rhat": self.rhat,
            "order_parameter": self.order_parameter, "order_parameter_stderr": self.order_parameter_stderr,
            "order_parameters": {str(g): {"steps": list(self.problem.arch.W[g]), "mean": m, "stderr": s}
                                 for g, (m, s) in (self.order_parameters or {}).items()},
            "predictions": self.predictions, "predictions_stderr": self.predictions_stderr,
            "predictions_sd": self.predictions_sd,
            "chains": self.chains, "samples": self.samples, "warmup": self.warmup,
            "acceptance": self.acceptance, "divergences": self.divergences, "step_size": self.step_size,
            "n_gradients": self.n_gradients, "max_rhat": self.max_rhat, "min_ess": self.min_ess,
            "converged": self.converged, "warnings": list(self.warnings),
            "diagnostics": self.diagnostics.to_dict(),
            "seconds": self.seconds,
        })

    def summary(self) -> str:
        """The text ``linkernel exact`` prints: the kernel, its error bars, m, f, the sampler's diagnostics.

        For a pattern other than the RNN and the DNN, one more line gives every
        shared group's order parameter m_g.
        """
        pr = self.problem
        lines = [f"{task_name(pr)}, exact posterior at N={self.N}: T={pr.T} P={pr.P} lambda={pr.lam:g} "
                 f"{hyper_text(pr)}",
                 f"posterior mean kernel H (Z2 sign fixed per draw by m >= 0; rows t*P+p, t = 0..{pr.T - 1}):",
                 *kernel_lines(self.kernel, pr.P), "Monte Carlo standard errors:",
                 *kernel_lines(self.stderr, pr.P, "{:10.2e}"),
                 f"order parameter m = {self.order_parameter:.6g} +- {self.order_parameter_stderr:.2g}"]
        if not (pr.arch.is_rnn or pr.arch.is_dnn) and self.order_parameters:
            lines.append("shared groups: " + "   ".join(
                f"m_{g} = H^({pr.arch.order_pair(g)[0]},{pr.arch.order_pair(g)[1]}) (steps "
                f"{','.join(map(str, pr.arch.W[g]))}) = {m:.6g} +- {s:.2g}"
                for g, (m, s) in self.order_parameters.items()))
        lines.append("posterior-mean outputs f (rows t, columns p; +- MCSE):")
        lines.append(format_outputs(self.predictions, self.predictions_stderr))
        d = self.diagnostics
        rh = "R-hat n/a (1 chain)" if d.max_rhat is None else f"max R-hat {d.max_rhat:.4f}"
        es = "n/a" if d.min_ess is None else f"{d.min_ess:.0f}"
        lines.append(f"{self.chains} chains x {self.samples} draws: min ESS {es}, {rh}, "
                     f"acceptance {self.acceptance:.2f}, divergences {self.divergences}, {self.seconds:.2f} s")
        if not self.converged:
            lines.append("WARNING: not converged: " + "; ".join(self.warnings))
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        return [("problem", self.problem), ("N", self.N), ("order parameter m", self.order_parameter),
                ("m standard error", self.order_parameter_stderr), ("converged", self.converged),
                ("warnings", "; ".join(self.warnings) or "none"), ("min ESS", self.min_ess), ("max R-hat", self.max_rhat),
                ("chains x samples", f"{self.chains} x {self.samples} (warm-up {self.warmup})"),
                ("acceptance", self.acceptance), ("divergences", self.divergences), ("step size", self.step_size),
                ("kernel H (rows t*P+p)", self.kernel), ("predictions f (T, P)", self.predictions),
                ("draws", self.draws), ("seconds", self.seconds)]


@entry_point
def exact_posterior(problem: Problem, N: int, chains: int = 4, samples: int = 1000, warmup: int = 1000,
                    seed: int = 0, progress: bool = True, target_accept: float = 0.9,
                    warn: bool = True) -> ExactResult:
    """The exact posterior mean kernel of ``problem`` at width ``N`` (HMC on the reduced variables).

    The prior is rotation invariant in neuron space, so the posterior of the T hidden states
    depends on ``O(T^2 P^2)`` variables only (an Arnoldi / block Krylov basis; THEORY.md
    section 2, derivations/exact_reduction.tex); their posterior is exact at every N.  Any
    weight-sharing pattern.  Conventions as in :class:`~linkernel.Problem` (T hidden states
    t = 0..T-1, muP scaling, H rows t*P+p).  ``chains`` HMC chains of ``warmup + samples``
    iterations each, started around the posterior mode with the Laplace covariance as initial
    metric (corrected along a soft direction), then Stan's windowed adaptation of a dense metric
    pooled over chains and dual averaging of the step size towards ``target_accept``
    (:func:`linkernel.finite_n.mcmc.hmc`).  Where the posterior is soft along one direction
    (near a critical point) the chains move in sheared coordinates that straighten its curvature
    and Gaussianise its quartic tails, exactly (:class:`~linkernel.finite_n.mcmc.ShearMap`).
    The cost per effective sample does not depend on N, at lambda_c too
    (``benchmarks/exact_fig3.py``).

    Parameters
    ----------
    problem : Problem
        The problem, at its ``lam``.
    N : int
        The width, 1 to 1e12 (a float with an integer value, e.g. ``1e6``, is accepted).
    chains : int, default 4
        Independent HMC chains.
    samples : int, default 1000
        Draws kept per chain (at least 10).
    warmup : int, default 1000
        Adaptation iterations per chain, discarded.
    seed : int, default 0
        Seed of the random numbers.
    progress : bool, default True
        Show the progress bar (on stderr).
    target_accept : float, default 0.9
        Target Metropolis acceptance of the step-size adaptation, in (0, 1).
    warn : bool, default True
        Emit the SamplerWarning when the run did not converge; False leaves it to the caller.

    Returns
    -------
    ExactResult
        The posterior mean kernel (shape (T*P, T*P)) with its standard errors, m, the
        predictions (shape (T, P)), the draws and the diagnostics.

    Raises
    ------
    ValueError
        If an argument is invalid (naming it).
    ConvergenceError
        If the reduction finds no usable posterior mode, or HMC cannot start.

    Warns
    -----
    SamplerWarning
        One line, when the run did not converge (R-hat > 1.01, bulk ESS < 100 or divergences;
        ``result.converged``, ``result.warnings``).

    Examples
    --------
    At N = 64 the sampled outputs agree with the 1/N theory (:func:`~linkernel.finite_width`):

    >>> import linkernel as lk
    >>> p = lk.endpoint("rnn", T=3, lam=1.0)
    >>> r = lk.exact_posterior(p, N=64, samples=500, warmup=500, progress=False)
    >>> r.kernel.shape, r.draws.shape, r.converged
    ((3, 3), (4, 500, 3, 3), True)
    >>> fw = lk.finite_width(p, N=64)
    >>> bool(abs(r.predictions[-1, 0] - fw.predictions_N[-1, 0]) < 4 * r.predictions_stderr[-1, 0])
    True
    """
    require_problem("problem", problem)
    chains = validation.count("chains", chains, 1)
    samples = validation.count("samples", samples, 10)
    warmup = validation.count("warmup", warmup, 0)
    seed = validation.seed("seed", seed)
    target_accept = validation.probability("target_accept", target_accept, 0.0, 1.0)
    N = count_width(N)
    if N > N_MAX:
        raise ValueError(f"N={N} is invalid; the reduction works in float64 up to N = {N_MAX:.0e} "
                         "(its O(N) log density must resolve O(1) energy differences)")
    t0 = time.perf_counter()
    red = Reduction(problem, N)
    rng = np.random.default_rng(seed)
    try:
        with np.errstate(all="ignore"):
            theta0, lp0 = red.mode(seed=int(rng.integers(2 ** 31)))
            Hs = red.neg_hessian(theta0)
        if not (np.isfinite(lp0) and np.all(np.isfinite(Hs))):
            raise np.linalg.LinAlgError("non-finite log density or Hessian at the mode")
        Lc, soft = initial_metric(red, theta0, Hs)
    except (np.linalg.LinAlgError, ValueError) as e:
        raise ConvergenceError(f"the exact reduction found no usable posterior mode ({e}); the posterior is "
                               f"too sharp or ill-conditioned at kappa={problem.kappa:g}, N={N}: increase kappa "
                               "or decrease lambda") from None
    init = theta0 + 1.5 * rng.normal(size=(chains, red.dim)) @ Lc.T
    try:
        ch = hmc(red.log_posterior_and_grad, init, Lc, n_samples=samples, n_warmup=warmup,
                 seed=int(rng.integers(2 ** 31)), progress=progress, desc=f"exact N={red.N}",
                 target_accept=target_accept, soft_direction=soft)
    except (np.linalg.LinAlgError, ValueError) as e:
        raise ConvergenceError(f"HMC on the exact reduction could not start ({e}) at kappa={problem.kappa:g}, "
                               f"N={N}: increase kappa or decrease lambda") from None
    Hd = fix_z2_sign(problem, red.kernel(ch.theta))                  # (chains, samples, n, n)
    st = summarize_draws(problem, Hd)
    diag = assess(st["ess_all"], st["rhat_all"], ch.divergences, chains, samples)
    if warn:
        _warn(diag, f"exact_posterior (N={red.N}, {chains} chains x {samples} draws after {warmup} warm-up)",
              advice="increase warmup and samples" + ("" if chains > 1 else ", use >= 2 chains"),
              stacklevel=4)   # warn, exact_posterior, its entry_point wrapper: the caller
    return ExactResult(
        problem=problem, N=red.N, kernel=st["kernel"], stderr=st["stderr"], ess=st["ess"], rhat=st["rhat"],
        order_parameter=st["m"][0], order_parameter_stderr=st["m"][1],
        predictions=st["f"], chains=chains, samples=samples, warmup=warmup,
        acceptance=float(ch.accept.mean()), divergences=ch.divergences, n_gradients=ch.n_grad,
        seconds=time.perf_counter() - t0, draws=Hd, order_parameters=st["groups"],
        predictions_stderr=st["f_stderr"], predictions_sd=output_sd(st, red.N), f_draws=st["f_draws"],
        diagnostics=diag, step_size=float(ch.step_size[0]))

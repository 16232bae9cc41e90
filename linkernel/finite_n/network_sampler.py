"""Sampling the weight posterior of real finite-width linear networks (``derivations/exact_reduction.tex``, "Setting").

The posterior over all weights is prior x likelihood, the stationary law of
Langevin dynamics at temperature 1.  :func:`sample_networks` samples it for any
weight-sharing pattern (one W matrix per W group of ``problem.arch``, with its
own variance, one U matrix per U group), with two samplers, both vectorised
over ``chains`` independent chains (:class:`linkernel.finite_n.networks.Network`):

``method="gibbs"`` (default, exact: no discretisation bias)
    Blocked Gibbs sampling in whitened coordinates.  Given the other blocks,
    f_S is *affine* in v, in every U group, in every W used at one step, and in
    every DNN layer ``[W^(t), U^(t)]``, so their conditionals are Gaussian:
    prior N(0, I) times a likelihood of rank k = |S|.  They are drawn exactly
    (Matheron's rule: a prior draw corrected along the rows of the Jacobian,
    O(k) Woodbury algebra).  This is the ``step -> infinity`` limit of
    preconditioned Langevin dynamics with the exact Ornstein-Uhlenbeck
    solution for the prior and the stiff low-rank likelihood directions.  A W
    used at several steps (the RNN's W enters f as W^{T-1}) is updated a
    random block of ``block_rows`` rows at a time with the same Gaussian built
    from the likelihood linearised at the current point (a Crank-Nicolson /
    Gauss-Newton proposal, ``rho = 0``: full refresh of the block), and a
    Metropolis-Hastings test that makes the step exact.  The nonlinearity seen
    by one block step is O(rows / sqrt(N)), so ``block_rows`` is adapted
    during burn-in to an acceptance of about 0.45 and then frozen (the chain
    after burn-in is a fixed reversible kernel).
    For the RNN and the DNN (default when ``N >= 4 T P``) a sweep is instead the
    *collapsed kernel move* :class:`~linkernel.finite_n.network_moves.ReducedMove`
    (:class:`~linkernel.finite_n.network_moves.LayerMove` for the DNN's layers) followed by an exact refresh
    of the weights the outputs never see: the network's own block Arnoldi
    coordinates (``derivations/exact_reduction.tex``) are moved by HMC on the
    exact reduced density, the readout's frame components drawn exactly, and
    the images written back.  The kernel entries then mix in about 1-2 sweeps
    at T = 8, P = 4 (measured: ``benchmarks/network_fig3.py``), against ~35
    sweeps for the row-block Metropolis steps alone (``reduced_moves=False``,
    the independent check of the reduced density).
``method="langevin"`` (the naive reference)
    Preconditioned unadjusted Langevin (SGLD at temperature 1): Euler steps
    ``z <- z - step (z + grad Phi) + sqrt(2 step) xi`` on all whitened weights
    at once.  Biased at O(step); :func:`langevin_extrapolated` runs two
    step sizes and extrapolates to zero.

Per recorded sample the chains' kernels ``H = h^T h / N`` get their Z2 sign
fixed (m = H^{T-1,T-2} >= 0 and every shared group's m_g >= 0,
:func:`linkernel.problem.fix_z2_sign`); note this turns a symmetric-phase m
into |m|, a positive O(N^-1/2) bias that the exact finite-N reduction shares.
Error bars, effective sample sizes and R-hat (rank-normalised, split chains)
per kernel entry come from :mod:`linkernel.finite_n.diagnostics`, shared with
the exact sampler (:mod:`linkernel.finite_n.exact`); a run that did not
converge says so (``converged``, ``warnings``) and emits one SamplerWarning.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import numpy as np

from linkernel import validation
from linkernel.errors import DivergenceError
from linkernel.finite_n.diagnostics import Diagnostics, assess, ess_bulk, warn
from linkernel.finite_n.draws import output_sd, summarize_draws
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.network_moves import GibbsMoves, collapsed_move
from linkernel.finite_n.network_posterior import NetworkPosterior
from linkernel.finite_n.networks import Network
from linkernel.finite_n.spectra import SpectraRecorder
from linkernel.numerics import richardson, richardson_stderr
from linkernel.problem import Problem, fix_z2_sign, kernel_entry, require_problem
from linkernel.progress import progress_bar
from linkernel.threads import blas_threads, entry_point

if TYPE_CHECKING:       # only for annotations (strings under ``from __future__ import annotations``)
    from numpy.typing import DTypeLike

METHODS = ("gibbs", "langevin")


def _check_args(N, sweeps, chains, burn, method, step, dtype, block_rows=None, seed=0) -> tuple:
    """The sampler's arguments checked; returns ``(N, sweeps, chains, burn, block_rows)`` as ints (or None)."""
    N, sweeps, chains = (validation.count(name, val, lo) for name, val, lo in
                         (("N", N, 1), ("sweeps", sweeps, 4), ("chains", chains, 1)))
    if burn is not None:
        burn = validation.integer("burn", burn, 0, sweeps - 4)     # at least 4 kept sweeps
    validation.choice("method", method, METHODS)
    if method == "langevin":
        _langevin_step(step)
    if method == "gibbs" and step is not None:
        raise ValueError(f"step={step!r} is invalid with method='gibbs' (exact conditionals, no step size); "
                         "use method='langevin' for a Langevin step")
    if block_rows is not None:        # rows of a shared W per Metropolis step
        block_rows = validation.integer("block_rows", block_rows, 1, N)
    validation.seed("seed", seed)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        pass
    validation.choice("dtype", dtype, (np.dtype(np.float32), np.dtype(np.float64)))
    return N, sweeps, chains, burn, block_rows


def _langevin_step(step) -> float:
    """The Langevin step (whitened units): a number in (0, 1), e.g. 1e-3."""
    if isinstance(step, (bool, str)):
        raise ValueError(f"step={step!r} is invalid; step must be a number in (0, 1), e.g. 1e-3")
    return validation.probability("step", step, 0.0, 1.0)


def _collapsible(problem: Problem, N: int) -> bool:
    """The default of ``reduced_moves``: the RNN (T >= 2) and the DNN (every step a fresh layer, T >= 2) at
    ``N >= 4 T P`` (the collapsed moves of :mod:`~linkernel.finite_n.network_moves`)."""
    arch = problem.arch
    return (arch.is_rnn or arch.is_dnn) and problem.T >= 2 and N >= 4 * problem.n


def _move_or_none(net, rng, explicit: bool):
    """The collapsed move; where the default asked for it and the problem's reduction does not allow it
    (e.g. a DNN whose C^{00} is singular), None: the blocked Gibbs sweep alone."""
    try:
        return collapsed_move(net, rng)
    except (ValueError, np.linalg.LinAlgError):
        if explicit:
            raise
        return None


def _sample(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
            method: str = "gibbs", step: float | None = None, block_rows: int | None = None,
            dtype=np.float64, seed: int = 0, progress: bool | None = None,
            n_checkpoints: int = 20, reduced_moves: bool | None = None, spectra: int = 1,
            keep_snapshots: bool = False, row_sweep: bool | None = None) -> NetworkPosterior:
    """The sampler itself (no references); see :func:`sample_networks`."""
    N, sweeps, chains, burn, block_rows = _check_args(N, sweeps, chains, burn, method, step, dtype, block_rows, seed)
    t0 = time.perf_counter()
    burn = sweeps // 5 if burn is None else int(burn)
    rng = np.random.default_rng(seed)
    explicit = reduced_moves is not None
    if reduced_moves is None:
        reduced_moves = method == "gibbs" and _collapsible(problem, N)
    # the DNN's layers drawn where read (the collapsed move reads them only on its frame)
    net = Network(problem, N, chains, rng, dtype, lazy=bool(reduced_moves))
    sampler = GibbsMoves(net, rng)
    move = None
    if reduced_moves:
        if method != "gibbs":
            raise ValueError(f"reduced_moves=True is invalid with method={method!r}; it is a move of method='gibbs'")
        with blas_threads(1):       # the reduction's K x K algebra: small matrices run faster on one thread
            move = _move_or_none(net, rng, explicit)
        reduced_moves = move is not None
    row_sweep = (move is None) if row_sweep is None else bool(row_sweep)
    run = _Run(problem, N, sweeps, burn, method, step, block_rows, n_checkpoints, spectra, keep_snapshots,
               row_sweep, net, sampler, move, t0)
    run.go(progress)
    return run.posterior(chains, dtype, seed, reduced_moves)


class _Run:
    """One run of :func:`_sample`: the sweep loop (:meth:`go`) and the result it leaves (:meth:`posterior`)."""

    def __init__(self, problem, N, sweeps, burn, method, step, block_rows, n_checkpoints, spectra,
                 keep_snapshots, row_sweep, net, sampler, move, t0, fresh: bool = True):
        self.fresh = fresh      # False: a later batch of the same chains (the collapsed move keeps its state)
        self.problem, self.N, self.sweeps, self.burn = problem, N, sweeps, burn
        self.method, self.step, self.row_sweep = method, step, row_sweep
        self.net, self.sampler, self.move, self.t0 = net, sampler, move, t0
        self.adapt = block_rows is None
        self.rows = float(max(1, round(np.sqrt(N) / 2))) if self.adapt else float(block_rows)
        n, kept, chains = problem.n, sweeps - burn, net.C
        self.kept = kept
        self.Hs = np.empty((chains, kept, n, n))
        self.m_raw = np.empty((chains, kept))
        self.every = max(1, kept // max(n_checkpoints, 1))
        self.checkpoints, self.running = [], np.zeros((n, n))
        snap = sorted({burn + int(round((i + 1) * kept / spectra)) - 1 for i in range(spectra)}) if spectra else []
        self.snap = snap
        self.rec = SpectraRecorder(net, snap, keep=keep_snapshots)

    def go(self, progress) -> None:
        """All the sweeps: the moves, the divergence check, the recorded kernels and spectra."""
        method, net, move = self.method, self.net, self.move
        bar = progress_bar(sys.stderr.isatty() if progress is None else bool(progress), total=self.sweeps,
                           desc=f"{method} N={self.N}", unit="sweep" if method == "gibbs" else "step")
        for it in range(self.sweeps):
            if move is not None:
                with blas_threads(1):   # the reduction's HMC inside the move: small K x K matrices
                    Q = move(first=it == 0 and self.fresh, refresh=False)
                if it in self.rec.sweeps:
                    # H and f depend only on (theta, c): the parts the outputs never see are independent of them
                    # a posteriori, so they are drawn (exactly, from their prior) only where a snapshot reads them
                    move.refresh_complements(Q)
            if method == "gibbs" and self.row_sweep:
                acc = self.sampler.gibbs_sweep(int(round(self.rows)))
                if self.adapt and it < self.burn and acc < 1.0:
                    self.rows = float(np.clip(self.rows * np.exp(0.6 * (acc - 0.45)), 1.0, self.N))
            elif method == "langevin":
                self.sampler.langevin_step(self.step)
            if not (np.all(np.isfinite(net.fS)) and np.max(np.abs(net.fS)) < 1e3 * (1.0 + np.max(np.abs(net.y)))):
                bar.close()
                if method == "langevin":
                    raise DivergenceError(f"Langevin run diverged at step {it} with step={self.step:g} (|f_S| = "
                                          f"{np.max(np.abs(net.fS)):.3g}); try step={self.step / 4:g} or "
                                          "method='gibbs'")
                raise DivergenceError(f"non-finite or huge outputs at sweep {it} (dtype {net.dtype}); "
                                      "try dtype=float64")
            if it >= self.burn:
                self._record(it)
            bar.update(1)
        bar.close()
        self.seconds = time.perf_counter() - self.t0

    def _record(self, it: int) -> None:
        problem, j = self.problem, it - self.burn
        Hc = self.net.kernel()
        self.m_raw[:, j] = kernel_entry(Hc, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else 0.0
        self.Hs[:, j] = fix_z2_sign(problem, Hc)
        self.running += (self.Hs[:, j].mean(axis=0) - self.running) / (j + 1)
        if (j + 1) % self.every == 0 or j + 1 == self.kept:
            self.checkpoints.append((it + 1, time.perf_counter() - self.t0, self.running.copy()))
        if self.snap:
            self.rec.maybe(it)

    def posterior(self, chains, dtype, seed, reduced_moves) -> NetworkPosterior:
        """The statistics of the recorded kernels as a :class:`NetworkPosterior`."""
        problem, Hs, kept, N, method = self.problem, self.Hs, self.kept, self.N, self.method
        n = problem.n
        st = summarize_draws(problem, Hs)
        diag = assess(st["ess_all"], st["rhat_all"], None, chains, kept)
        se = st["stderr"]
        half = kept // 2
        drift = 0.0
        for i, j in zip(*np.triu_indices(n)):
            x = Hs[:, :, i, j]
            if half >= 2 and se[i, j] > 0:
                drift = max(drift, abs(x[:, :half].mean() - x[:, half:].mean()) / (2 * se[i, j]))
        ess_min = diag.min_ess
        tau_m = None
        if problem.T > 1:
            em = float(ess_bulk(kernel_entry(Hs, problem.T - 1, problem.T - 2, problem.P)[..., None])[0])
            tau_m = chains * kept / em if em > 0 and np.isfinite(em) else None
        acceptance = {k: a / max(t, 1) for k, (a, t) in self.sampler.accepted.items()}
        move = self.move
        if move is not None and move.tried:
            acceptance["reduced"] = move.accepted / move.tried
        nonlinear = any(not self.net.is_linear(b) for b in self.net.blocks())
        what = f"sample_networks ({method}, N={N}, {chains} chains x {kept} sweeps after {self.burn} burn-in)"
        return NetworkPosterior(
            problem=problem, N=N, method=method, chains=chains, sweeps=self.sweeps, burn=self.burn,
            dtype=np.dtype(dtype).name, seed=seed, kernel=st["kernel"], stderr=se,
            order_parameter=st["m"][0], order_parameter_stderr=st["m"][1],
            tau=None if not ess_min else chains * kept / ess_min, tau_m=tau_m, ess=st["ess"], rhat=st["rhat"],
            acceptance=acceptance,
            block_rows=int(round(self.rows)) if (method == "gibbs" and nonlinear and self.row_sweep) else None,
            step=self.step if method == "langevin" else None,
            bias_estimate=0.0 if method == "gibbs" else None, drift=float(drift),
            checkpoints=tuple(self.checkpoints), seconds=self.seconds, seconds_per_sweep=self.seconds / self.sweeps,
            m_trace=self.m_raw, order_parameters=st["groups"], predictions=st["f"],
            predictions_stderr=st["f_stderr"], predictions_sd=output_sd(st, N), draws=Hs, f_draws=st["f_draws"],
            diagnostics=diag, spectra=self.rec.result(), reduced_moves=bool(reduced_moves), _what=what)


@entry_point(size=lambda a: a["N"])
def langevin_extrapolated(problem: Problem, N: int, step: float, duration: float, **kw) -> NetworkPosterior:
    """Langevin at ``step`` and ``step/2`` for the same time ``duration``, Richardson-extrapolated to step 0.

    The Euler bias is O(step) *asymptotically*, so ``K0 = 2 K(step/2) - K(step)``;
    the returned ``bias_estimate`` is ``max |K(step) - K(step/2)|`` (= the
    correction applied to K(step/2)), ``stderr`` that of K0.  Measured here:
    the bias is not linear (it even changes sign) until ``step`` is well below
    the inverse stiffness ``kappa / (v max H_SS)`` of the likelihood; a
    UserWarning says so when ``step * v max(H_SS) / kappa > 0.3``, where the
    extrapolation is not to be trusted (use ``method="gibbs"``).
    """
    from dataclasses import replace
    emit = kw.pop("warn", True)
    step = _langevin_step(step)
    duration = validation.positive("extrapolate_duration", duration)      # a Langevin time
    if duration / step > 1e8:
        raise ValueError(f"extrapolate={duration!r} is invalid with step={step!r}: it asks for "
                         f"{duration / step:.3g} Langevin steps; at most 1e8 (duration <= {1e8 * step:.3g})")
    burn_frac = kw.pop("burn_fraction", 0.2)
    runs = []
    for h in (step, step / 2):
        sweeps = max(int(round(duration / h)), 8)
        runs.append(_sample(problem, N, sweeps=sweeps, burn=int(burn_frac * sweeps),
                            method="langevin", step=h, **kw))
    r1, r2 = runs
    idx = problem.supervised_index
    stiff = step * problem.v * float(np.max(np.diag(r2.kernel)[idx])) / problem.kappa
    if stiff > 0.3:
        import warnings
        warnings.warn(f"step * v max(H_SS) / kappa = {stiff:.2g} > 0.3: outside the asymptotic O(step) regime, "
                      f"the extrapolation is unreliable; use step <= {0.3 * step / stiff:.2g} or method='gibbs'",
                      UserWarning, stacklevel=3)          # past the entry_point wrapper: the caller
    K0 = richardson([r1.kernel, r2.kernel], 2)[-1]             # steps halved, error O(step): 2 K(step/2) - K(step)
    se = richardson_stderr([r1.stderr, r2.stderr], 2)
    d1, d2 = r1.diagnostics, r2.diagnostics
    worst = lambda a, b, f: None if a is None or b is None else f(a, b)  # noqa: E731
    diag = Diagnostics(chains=d2.chains, draws=d2.draws, min_ess=worst(d1.min_ess, d2.min_ess, min),
                       max_rhat=worst(d1.max_rhat, d2.max_rhat, max), divergences=None,
                       warnings=tuple(f"step {h:g}: {w}" for h, d in ((step, d1), (step / 2, d2)) for w in d.warnings),
                       rhat_note=d2.rhat_note)
    res = replace(r2, kernel=K0, stderr=se, bias_estimate=float(np.max(np.abs(r1.kernel - r2.kernel))),
                  seconds=r1.seconds + r2.seconds, step=step, diagnostics=diag,
                  step_kernels=((step, r1.kernel), (step / 2, r2.kernel)))
    if emit:
        _emit(res)
    return res


def _emit(res: NetworkPosterior) -> None:
    warn(res.diagnostics, res._what, advice="run more sweeps" + (" or more chains" if res.chains == 1 else ""),
         stacklevel=5)       # warn, _emit, the sampler, its entry_point wrapper: the caller


@entry_point(size=lambda a: a["N"])
def sample_networks(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
                    method: str | None = None, step: float | None = None, block_rows: int | None = None,
                    dtype: DTypeLike = np.float64, seed: int = 0, progress: bool | None = None,
                    n_checkpoints: int = 20,
                    theory: bool = False, exact: bool = False,
                    extrapolate_duration: float | None = None, reduced_moves: bool | None = None,
                    spectra: int = 1, keep_snapshots: bool = False, warn: bool = True,
                    row_sweep: bool | None = None) -> NetworkPosterior:
    """Sample the weight posterior of ``chains`` real width-``N`` networks; return the posterior-mean kernel.

    Any weight-sharing pattern (``problem.arch``: one W matrix per W group,
    with its own variance, one U matrix per U group).  ``sweeps``: Gibbs
    sweeps (every weight updated once) or Langevin steps; the first ``burn``
    (default sweeps // 5) are discarded and, for Gibbs, used to adapt
    ``block_rows`` (rows of a shared W per Metropolis step; default: adapted
    from ``sqrt(N) / 2``; pass an integer to fix it).  ``step``: the Langevin
    step (whitened units: the prior relaxes at rate 1).
    ``extrapolate_duration``: run Langevin at ``step`` and ``step/2`` for this
    Langevin time and extrapolate to step 0 (:func:`langevin_extrapolated`;
    ``method``, ``sweeps``, ``burn`` are then ignored).  ``dtype=np.float32``
    halves memory and draws; kernels are accumulated in float64.
    ``progress``: a progress bar on stderr (default: when stderr is a terminal).  Chains start
    from independent prior draws.

    ``method``: None (default) picks "langevin" when ``step`` or
    ``extrapolate_duration`` is given, else "gibbs"; an explicit "gibbs" with
    a step or an extrapolation is refused (ValueError), never silently changed.
    ``reduced_moves`` (default: on for the RNN and the DNN with ``N >= 4 T P``, off
    otherwise): each sweep is then the collapsed kernel move
    (:class:`~linkernel.finite_n.network_moves.ReducedMove`: HMC of the exact reduction on the network's own
    Arnoldi coordinates; :class:`~linkernel.finite_n.network_moves.LayerMove` the same on the DNN's layers;
    the readout's frame components drawn exactly) plus an
    exact refresh of everything the outputs do not see (W off the probed
    directions, U off the inputs' span, v off the frame: independent of the
    kernel a posteriori, so drawn only before a spectrum snapshot reads them);
    the kernel then mixes in O(1) sweeps at any T, P, N, at O(N^2 T P) cost per sweep for the RNN and
    O(N T^2 P^2) for the DNN (its layers are held known on the move's frame and written only when read).
    ``row_sweep`` (default: only without reduced moves) adds the blocked Gibbs sweep below.  ``spectra``: snapshots
    per chain of the eigenvalues of every W group
    (:class:`~linkernel.finite_n.spectra.WeightSpectra`; ``keep_snapshots``
    keeps the matrices).  ``warn``: one
    :class:`~linkernel.finite_n.diagnostics.SamplerWarning` when the run did
    not converge (R-hat > 1.01 or bulk ESS < 100 for some kernel entry, f or m).

    References attached on request: ``theory`` the saddle-point kernel
    (:func:`linkernel.theory.saddle.saddle_point`), ``exact`` the exact
    finite-N posterior mean at the same N (:func:`linkernel.finite_n.exact.exact_posterior`,
    HMC on the rotation-invariant reduction; skipped when N is below the
    reduction's number of directions).

    Parameters
    ----------
    problem : Problem
        The problem, at its ``lam``; the networks are those of THEORY.md section 1 (muP readout
        ``f = (1/N) v . h``, priors ``W ~ N(0, w/N)``, ``U ~ N(0, u/D)``, ``v ~ N(0, v)``).
    N : int
        The width.
    sweeps : int, default 400
        Gibbs sweeps (every weight updated once) or Langevin steps per chain.
    chains : int, default 4
        Independent chains, started from independent prior draws.
    burn : int, optional
        Sweeps discarded (and used for adaptation); default ``sweeps // 5``.
    method : {"gibbs", "langevin"}, optional
        Default: "langevin" when ``step`` or ``extrapolate_duration`` is given, else "gibbs".
    step : float, optional
        The Langevin step, in whitened units (the prior relaxes at rate 1).
    block_rows : int, optional
        Rows of a shared W per Metropolis step; default adapted from ``sqrt(N) / 2``.
    dtype : numpy dtype, default numpy.float64
        The networks' type; ``numpy.float32`` halves memory and draws (kernels are accumulated
        in float64).
    seed : int, default 0
        Seed of the random numbers.
    progress : bool, optional
        Show the progress bar on stderr; default: when stderr is a terminal.
    n_checkpoints : int, default 20
        Running-mean kernels recorded along the run.
    theory : bool, default False
        Attach the saddle-point kernel (``theory_kernel``, ``cka``).
    exact : bool, default False
        Attach the exact finite-N posterior mean at the same N (``exact_kernel``).
    extrapolate_duration : float, optional
        Run Langevin at ``step`` and ``step/2`` for this Langevin time and extrapolate to step 0.
    reduced_moves : bool, optional
        Use the collapsed kernel move; default on for the RNN and the DNN with ``N >= 4 T P``.
    spectra : int, default 1
        Eigenvalue snapshots of every W group per chain (0 for none).
    keep_snapshots : bool, default False
        Keep the weight matrices of the snapshots.
    warn : bool, default True
        Emit the SamplerWarning when the run did not converge.
    row_sweep : bool, optional
        Add the blocked Gibbs row sweep; default only without reduced moves.

    Returns
    -------
    NetworkPosterior
        The posterior-mean kernel (shape (T*P, T*P)) with its errors, m, the predictions
        (shape (T, P)), the draws and the diagnostics.

    Raises
    ------
    ValueError
        If an argument is invalid or the options contradict each other (naming them).
    DivergenceError
        If a Langevin run blows up (the message suggests a smaller step).

    Warns
    -----
    SamplerWarning
        When the run did not converge (R-hat > 1.01, ESS < 100).

    Examples
    --------
    Real networks of width 32 agree with the 1/N theory (:func:`~linkernel.finite_width`):

    >>> import linkernel as lk
    >>> p = lk.endpoint("rnn", T=3, lam=1.0)
    >>> net = lk.sample_networks(p, N=32, sweeps=200, progress=False)
    >>> net.method, net.kernel.shape, net.draws.shape, net.converged
    ('gibbs', (3, 3), (4, 160, 3, 3), True)
    >>> fw = lk.finite_width(p, N=32)
    >>> bool(abs(net.predictions[-1, 0] - fw.predictions_N[-1, 0]) < 4 * net.predictions_stderr[-1, 0])
    True
    """
    from dataclasses import replace

    require_problem("problem", problem)
    if method is None:       # what the other arguments ask for
        method = "langevin" if (step is not None or extrapolate_duration is not None) else "gibbs"
    spectra = validation.count("spectra", spectra, 0)          # snapshots per chain
    kw = dict(chains=chains, block_rows=block_rows, dtype=dtype, seed=seed, progress=progress,
              n_checkpoints=n_checkpoints, spectra=spectra, keep_snapshots=keep_snapshots)
    if extrapolate_duration is not None:
        if method != "langevin":
            raise ValueError(f"extrapolate_duration={extrapolate_duration!r} is invalid with method={method!r}; "
                             "the step-size extrapolation is for method='langevin'")
        if reduced_moves:
            raise ValueError("reduced_moves=True is invalid with Langevin extrapolation (a move of method='gibbs')")
        res = langevin_extrapolated(problem, N, step, extrapolate_duration, warn=False, **kw)
    else:
        res = _sample(problem, N, sweeps=sweeps, burn=burn, method=method, step=step, reduced_moves=reduced_moves,
                      row_sweep=row_sweep, **kw)
    if theory:
        from linkernel.theory.saddle import saddle_point
        res = replace(res, theory_kernel=saddle_point(problem).kernel)
    if exact:
        try:
            ex = exact_posterior(problem, N, chains=4, samples=1000, warmup=500, seed=seed, progress=False)
        except ValueError:      # the reduction needs N >= its number of directions: no reference then
            ex = None
        if ex is not None:
            res = replace(res, exact_kernel=ex.kernel, exact_stderr=ex.stderr)
    if warn:
        _emit(res)
    return res


def _merged(runs: list) -> "_Run":
    """The batches ``runs`` of the same chains as one run (their kept sweeps concatenated)."""
    import copy
    m = copy.copy(runs[-1])
    m.Hs = np.concatenate([r.Hs for r in runs], axis=1)
    m.m_raw = np.concatenate([r.m_raw for r in runs], axis=1)
    m.kept = m.Hs.shape[1]
    m.burn, m.rec = runs[0].burn, runs[0].rec
    m.sweeps = runs[0].burn + m.kept
    m.seconds = runs[-1].seconds          # every batch's clock starts at the first one's t0
    running = np.cumsum(m.Hs.mean(axis=0), axis=0) / np.arange(1, m.kept + 1)[:, None, None]
    every = max(1, m.kept // 20)
    m.checkpoints = [(m.burn + j + 1, None, running[j]) for j in range(every - 1, m.kept, every)]
    return m


@entry_point(size=lambda a: a["N"])
def sample_until_converged(problem: Problem, N: int, chains: int = 4, first: int = 200, batch: int = 100,
                           max_minutes: float | None = None, max_sweeps: int = 20000, rhat_max: float = 1.01,
                           ess_min: float = 400.0, seed: int = 0, spectra: int = 1, progress: bool | None = None,
                           reduced_moves: bool | None = None, warn: bool = True) -> NetworkPosterior:
    """The network sampler (method "gibbs") run in batches until every kernel entry, f and m converge.

    Converged: max R-hat < ``rhat_max`` and min bulk ESS >= ``ess_min`` over every kernel entry, output
    and m (:mod:`linkernel.finite_n.diagnostics`, checked after each batch).  The first batch is
    ``first`` sweeps (a fifth burn-in); each later batch continues the same chains (no new burn-in)
    for at least ``batch`` sweeps, more where the ESS so far says more are needed.  Stops at
    ``max_sweeps`` kept sweeps per chain, or before a batch that would end past ``max_minutes``
    (wall clock, from the start); ``stop_reason`` is then "max_minutes" or "max_sweeps", the result
    says it did not converge and (``warn``) one SamplerWarning says why and by how much.
    """
    from dataclasses import replace
    require_problem("problem", problem)
    N = validation.count("N", N, 1)
    chains = validation.count("chains", chains, 2)
    first = validation.count("first", first, 10)
    batch = validation.count("batch", batch, 1)
    max_sweeps = validation.count("max_sweeps", max_sweeps, first)
    if max_minutes is not None:
        max_minutes = validation.positive("max_minutes", max_minutes)
    seed = validation.seed(name="seed", value=seed)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    explicit = reduced_moves is not None
    if reduced_moves is None:
        reduced_moves = _collapsible(problem, N)
    net = Network(problem, N, chains, rng, np.float64, lazy=bool(reduced_moves))
    sampler = GibbsMoves(net, rng)
    move = None
    if reduced_moves:
        with blas_threads(1):
            move = _move_or_none(net, rng, explicit)
        reduced_moves = move is not None
    runs, rows, reason, size = [], None, "converged", first
    while True:
        n_sw = size
        run = _Run(problem, N, n_sw, first // 5 if not runs else 0, "gibbs", None, rows, 20,
                   spectra if not runs else 0, False, move is None, net, sampler, move, t0, fresh=not runs)
        run.go(progress)
        rows = int(round(run.rows))
        runs.append(run)
        res = _merged(runs).posterior(chains, np.float64, seed, reduced_moves)
        ess, rh = res.diagnostics.min_ess or 0.0, res.diagnostics.max_rhat
        if ess >= ess_min and rh is not None and rh < rhat_max:
            break
        kept = res.sweeps - res.burn
        # the ESS grows about linearly with the kept sweeps: ask for what is missing, plus 20%
        size = max(batch, int(np.ceil(1.2 * kept * (ess_min / max(ess, 1.0) - 1.0))))
        size = min(size, max_sweeps - kept)
        per_sweep = (time.perf_counter() - t0) / (kept + first // 5)
        if size <= 0:
            reason = "max_sweeps"
            break
        if max_minutes is not None and time.perf_counter() - t0 + size * per_sweep > 60 * max_minutes:
            reason = "max_minutes"
            break
    note = ()
    if reason != "converged":
        rh_txt = "n/a" if rh is None else f"{rh:.4f}"
        note = (f"stopped by {reason} after {res.sweeps - res.burn} sweeps x {chains} chains: min ESS {ess:.0f} "
                f"(need {ess_min:.0f}), max R-hat {rh_txt} (need < {rhat_max})",)
    diag = replace(res.diagnostics, warnings=tuple(res.diagnostics.warnings) + note) if note else res.diagnostics
    res = replace(res, diagnostics=diag, stop_reason=reason, batches=len(runs),
                  seconds=time.perf_counter() - t0, seconds_per_sweep=(time.perf_counter() - t0) / res.sweeps)
    if warn and note:
        _emit(res)
    return res

"""Sampling the weight posterior of real finite-width linear networks (THEORY.md section 1).

The posterior over all weights is prior x likelihood, the stationary law of
Langevin dynamics at temperature 1.  :func:`sample_networks` (formerly
``sample_posterior`` / ``run_sgld``, kept as aliases) samples it for any
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
per kernel entry come from :mod:`linkernel.finite_n.mcmc`, shared with the
exact sampler (:mod:`linkernel.finite_n.exact`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from linkernel.finite_n.mcmc import ess as _ess, mcse as _mcse, rhat as _rhat
from linkernel.finite_n.networks import Network
from linkernel.formatting import format_matrix, task_name
from linkernel.problem import Problem, fix_z2_sign, kernel_entry
from linkernel.serialize import jsonable

METHODS = ("gibbs", "langevin")


class SGLDDivergence(RuntimeError):
    """A Langevin run blew up; the message names the sweep and a step to try."""


# --- diagnostics ------------------------------------------------------------------
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


# --- one sampler step ---------------------------------------------------------------
class _Sampler:
    """The update rules acting on a :class:`Network` (buffers reused: N^2 allocations are slow)."""

    def __init__(self, net: Network, rng: np.random.Generator):
        self.net, self.rng = net, rng
        self.eye = np.eye(net.k)
        self.accepted = {}   # block -> [accepted, tried]

    def _solve(self, K, rhs):
        return np.linalg.solve(K, rhs[..., None])[..., 0]

    def exact_block(self, name: str, R=None) -> None:
        """Draw the block ``name`` from its exact Gaussian conditional (the block must be linear)."""
        net = self.net
        F = net.factors(name, R)
        zs = net.block_arrays(name)
        Jz = F.apply(zs)
        b = net.fS - Jz                                 # the part of f_S not carried by this block
        G = F.gram()
        xis = [self.rng.standard_normal(z.shape, dtype=net.dtype) for z in zs]
        eps = self.rng.standard_normal((net.C, net.k))
        Jxi = F.apply(xis)
        c = self._solve(G + net.s2 * self.eye, net.y - b - Jxi - np.sqrt(net.s2) * eps)
        F.add_transpose(c, xis)
        for z, xi in zip(zs, xis):
            z[...] = xi
        net.fS = b + Jxi + np.einsum("ckl,cl->ck", G, c)
        a = self.accepted.setdefault(name, [0, 0])
        a[0] += net.C
        a[1] += net.C

    def mh_rows(self, name: str, rows: np.ndarray, R: dict, rho: float = 0.0) -> dict:
        """Metropolis-adjusted Gauss-Newton Crank-Nicolson update of rows ``rows`` of W group ``name``.

        Proposal: the Gaussian g_z = prior x likelihood linearised at the
        current z, moved by ``z' = mu + rho (z - mu) + sqrt(1 - rho^2) eta``,
        eta ~ N(0, Q^-1) (reversible for g_z).  The acceptance ratio is
        written so that every O(N^2) term cancels analytically: only
        k-vectors remain.  ``R``: the backward vectors of the block
        (:meth:`Network.backward`); returns the new ones.
        """
        net = self.net
        ZW, C, k, s2, y = net.block_arrays(name)[0], net.C, net.k, net.s2, net.y
        F = net.factors(name, R, rows)
        z = ZW[:, rows, :]
        Jz = F.apply([z])
        b = net.fS - Jz
        G = F.gram()
        K = G + s2 * self.eye
        a = self._solve(K, y - b)
        xi = self.rng.standard_normal(z.shape, dtype=net.dtype)
        eps = self.rng.standard_normal((C, k))
        Jxi = F.apply([xi])
        sq = float(np.sqrt(1.0 - rho * rho))
        c = self._solve(K, (1.0 - rho) * (y - b) - sq * (Jxi + np.sqrt(s2) * eps))
        znew = xi * sq if rho == 0 else rho * z + sq * xi
        F.add_transpose(c, [znew])
        Jzn = rho * Jz + sq * Jxi + np.einsum("ckl,cl->ck", G, c)

        h_old, f_old, fS_old = net.h, net.f, net.fS
        net.h, net.f, R2 = net.set_rows(name, rows, znew, R)
        net.fS = net.f[:, net.S]
        F2 = net.factors(name, R2, rows)
        J2z, J2zn = F2.apply([z]), F2.apply([znew])
        G2 = F2.gram()
        K2 = G2 + s2 * self.eye
        b2 = net.fS - J2zn
        a2 = self._solve(K2, y - b2)
        # log pi(z') - log g_z(z'): only the nonlinearity of f_S survives
        lin = y - b - Jzn
        log_alpha = -(np.sum((y - net.fS) ** 2, axis=1) - np.sum(lin ** 2, axis=1)) / (2 * s2)
        # log q_{z'}(z | z') - log q_z(z | z')
        ld = np.linalg.slogdet(K2)[1] - np.linalg.slogdet(K)[1]
        Je, J2e = Jz - rho * Jzn, J2z - rho * J2zn
        Ga, G2a2 = np.einsum("ckl,cl->ck", G, a), np.einsum("ckl,cl->ck", G2, a2)
        dnorm = (-2 * (1 - rho) * (np.sum(J2e * a2, axis=1) - np.sum(Je * a, axis=1))
                 + (1 - rho) ** 2 * (np.sum(a2 * G2a2, axis=1) - np.sum(a * Ga, axis=1)))
        Jd, J2d = Je - (1 - rho) * Ga, J2e - (1 - rho) * G2a2
        dquad = dnorm + (np.sum(J2d ** 2, axis=1) - np.sum(Jd ** 2, axis=1)) / s2
        log_alpha += 0.5 * ld - dquad / (2 * (1 - rho * rho))
        self.last_log_alpha = log_alpha
        accept = np.log(self.rng.random(C)) < log_alpha
        rej = np.flatnonzero(~accept)
        if rej.size:
            ZW[rej[:, None], rows[None, :], :] = z[rej]
            net.h[rej], net.f[rej], net.fS[rej] = h_old[rej], f_old[rej], fS_old[rej]
            for key in R2:
                R2[key][rej] = R[key][rej]
        acc = self.accepted.setdefault(name, [0, 0])
        acc[0] += int(accept.sum())
        acc[1] += C
        return R2

    def gibbs_sweep(self, block_rows: int) -> float:
        """One sweep over all blocks; returns the Metropolis acceptance rate of this sweep (1.0 when all exact).

        Blocks in :meth:`Network.blocks` order.  The hidden states are
        recomputed only when a block needs states a previous block changed
        (h^s for s below a block's steps are untouched by it: the DNN's layers,
        updated top down, need one forward pass per sweep).
        """
        net = self.net
        T = net.problem.T
        self.exact_block("v")
        net.f = net.readout(net.h)
        net.fS = net.f[:, net.S]
        net.forget_backward()
        stale = T                         # h^t is out of date for t >= stale
        tried0 = {n: a[:] for n, a in self.accepted.items()}
        mh = []
        for name in net.blocks()[1:]:
            b = net.block(name)
            if b.kind in ("W", "layer") and stale <= max(b.steps) - 1:
                net.forward()
                stale = T
            if net.is_linear(name):
                self.exact_block(name)
                stale = min(stale, min(b.steps))
                if b.wgroup is not None:
                    net.forget_backward(b.wgroup)
                continue
            R = net.backward(b.keys)
            perm = self.rng.permutation(net.N)
            for start in range(0, net.N, block_rows):
                R = self.mh_rows(name, np.sort(perm[start:start + block_rows]), R)
            net.keep_backward(R, b.wgroup)
            mh.append(name)
        if stale < T:
            net.forward()
        if not mh:
            return 1.0
        acc = sum(self.accepted[n][0] - tried0.get(n, [0, 0])[0] for n in mh)
        tried = sum(self.accepted[n][1] - tried0.get(n, [0, 0])[1] for n in mh)
        return acc / max(tried, 1)

    def langevin_step(self, step: float) -> None:
        """One preconditioned Euler-Maruyama Langevin step of every weight (all gradients at the old point)."""
        net = self.net
        resid = (net.fS - net.y) / net.s2                  # dPhi/df_S
        updates = [(net.factors(name), net.block_arrays(name)) for name in net.blocks()]
        noise = float(np.sqrt(2.0 * step))
        for F, zs in updates:
            grads = [np.zeros_like(z) for z in zs]
            F.add_transpose(resid, grads)
            for z, g in zip(zs, grads):
                g += z
                z -= step * g
                z += noise * self.rng.standard_normal(z.shape, dtype=net.dtype)
        net.forward()


# --- the result ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NetworkPosterior:
    """Posterior-mean kernel of a real width-N network, with what is needed to judge it.

    ``kernel`` (TP, TP): mean of H over chains and recorded sweeps, Z2 sign
    fixed per sample (m >= 0, and every shared group's m_g >= 0); ``stderr``:
    its Monte Carlo standard error per entry (sd / sqrt(ESS)).  ``ess`` is the
    smallest effective sample size over entries and ``tau = samples / ess``
    the matching integrated autocorrelation time in sweeps; ``tau_m`` that of
    the (sign-fixed) order parameter, the slow mode near the transition;
    ``m_trace`` the raw signed m (chains, samples); ``rhat`` the largest R-hat
    over entries.  ``order_parameters``: each shared W group's
    ``m_g = H^{t_g, t_g-1}`` as ``{group: (mean, stderr)}``.
    ``bias_estimate``: the discretisation bias (max over entries): 0 for
    ``gibbs`` (exact conditionals and Metropolis-Hastings: the stationary law
    is the posterior itself), ``max |K(step) - K(step/2)|`` for
    :func:`langevin_extrapolated`, None (unknown) for a single Langevin step
    size; ``bias_method`` says which.  ``drift``: max |mean(first half) -
    mean(second half)| / its error (a burn-in check, O(1) when equilibrated).
    ``checkpoints``: (sweep, seconds, running-mean kernel) at regular sweeps.
    ``theory_kernel``, ``exact_kernel``/``exact_stderr``: the references
    :func:`sample_networks` attaches on request.  (Formerly ``SGLDResult``,
    still an alias.)
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
    tau: float
    tau_m: float
    ess: float
    rhat: float
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

    @property
    def bias_method(self) -> str:
        if self.method == "gibbs":
            return "none: exact Gibbs conditionals and Metropolis-Hastings (no discretisation)"
        if self.bias_estimate is None:
            return "unknown: single Langevin step (use langevin_extrapolated)"
        return "Richardson: |K(step) - K(step/2)|, kernel extrapolated to step 0"

    @property
    def cka(self) -> float | None:
        return None if self.theory_kernel is None else cka(self.kernel, self.theory_kernel)

    @property
    def exact_max_z(self) -> float | None:
        """max |K - K_exact| / sqrt(stderr^2 + exact_stderr^2): the exact reference at the same N, in error bars."""
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
            "acceptance": self.acceptance, "block_rows": self.block_rows, "step": self.step,
            "bias_estimate": self.bias_estimate, "bias_method": self.bias_method, "drift": self.drift,
            "checkpoints": [{"sweep": s, "seconds": t, "kernel": K} for s, t, K in self.checkpoints],
            "seconds": self.seconds, "seconds_per_sweep": self.seconds_per_sweep,
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
                 "posterior-mean kernel H (Z2 sign fixed per sample, m >= 0):", format_matrix(self.kernel),
                 "standard error:", format_matrix(self.stderr)]
        if self.theory_kernel is not None:
            lines += ["theory (saddle point):", format_matrix(self.theory_kernel),
                      f"max |H - H_theory| / max|H_theory| = {self.max_rel_error:.4f}   CKA = {self.cka:.6f}"]
        if self.exact_kernel is not None:
            lines += [f"exact finite-N posterior mean at N={self.N} (rotation-invariant reduction):",
                      format_matrix(self.exact_kernel),
                      f"max |H - H_exact| / max|H_exact| = {max_rel_error(self.kernel, self.exact_kernel):.4f}   "
                      f"max |H - H_exact| / error bar = {self.exact_max_z:.2f}"]
        lines.append(f"m = {self.order_parameter:.5g} +- {self.order_parameter_stderr:.2g}   tau = {self.tau:.3g} "
                     f"sweeps (m: {self.tau_m:.3g})   ESS = {self.ess:.0f}   R-hat = {self.rhat:.4f}   "
                     f"drift = {self.drift:.2f}")
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
        return "\n".join(lines)

    __str__ = summary


SGLDResult = NetworkPosterior
"""The former name of :class:`NetworkPosterior` (an alias, kept for existing code)."""


# --- drivers -----------------------------------------------------------------------------
def _check_args(N, sweeps, chains, burn, method, step, dtype):
    for name, val, lo in (("N", N, 1), ("sweeps", sweeps, 4), ("chains", chains, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"{name}={val!r} is invalid; {name} must be an integer >= {lo}")
    if burn is not None and not (isinstance(burn, (int, np.integer)) and 0 <= burn <= sweeps - 4):
        raise ValueError(f"burn={burn!r} is invalid; burn must be an integer in [0, sweeps - 4] = [0, {sweeps - 4}]")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; method must be one of {', '.join(METHODS)}")
    if method == "langevin" and not (step is not None and np.isfinite(step) and 0 < step < 1):
        raise ValueError(f"step={step!r} is invalid; the Langevin step must be a number in (0, 1), e.g. 1e-3")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype!r} is invalid; dtype must be float32 or float64")


def _sample(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
            method: str = "gibbs", step: float | None = None, block_rows: int | None = None,
            dtype=np.float64, seed: int = 0, progress: bool | None = None,
            n_checkpoints: int = 20) -> NetworkPosterior:
    """The sampler itself (no references); see :func:`sample_networks`."""
    _check_args(N, sweeps, chains, burn, method, step, dtype)
    from tqdm import tqdm

    t0 = time.perf_counter()
    burn = sweeps // 5 if burn is None else int(burn)
    rng = np.random.default_rng(seed)
    net = Network(problem, N, chains, rng, dtype)
    sampler = _Sampler(net, rng)
    adapt = block_rows is None
    rows = float(max(1, round(np.sqrt(N) / 2))) if adapt else float(block_rows)
    n, kept = problem.n, sweeps - burn
    Hs = np.empty((chains, kept, n, n))
    m_raw = np.empty((chains, kept))
    every = max(1, kept // max(n_checkpoints, 1))
    checkpoints, running = [], np.zeros((n, n))
    bar = tqdm(total=sweeps, desc=f"{method} N={N}", unit="sweep" if method == "gibbs" else "step",
               disable=not (sys.stderr.isatty() if progress is None else progress), leave=False)
    for it in range(sweeps):
        if method == "gibbs":
            acc = sampler.gibbs_sweep(int(round(rows)))
            if adapt and it < burn and acc < 1.0:
                rows = float(np.clip(rows * np.exp(0.6 * (acc - 0.45)), 1.0, N))
        else:
            sampler.langevin_step(step)
        if not (np.all(np.isfinite(net.fS)) and np.max(np.abs(net.fS)) < 1e3 * (1.0 + np.max(np.abs(net.y)))):
            bar.close()
            if method == "langevin":
                raise SGLDDivergence(f"Langevin run diverged at step {it} with step={step:g} (|f_S| = "
                                     f"{np.max(np.abs(net.fS)):.3g}); try step={step / 4:g} or method='gibbs'")
            raise SGLDDivergence(f"non-finite or huge outputs at sweep {it} (dtype {net.dtype}); "
                                 "try dtype=float64")
        if it >= burn:
            j = it - burn
            Hc = net.kernel()
            m_raw[:, j] = kernel_entry(Hc, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else 0.0
            Hs[:, j] = fix_z2_sign(problem, Hc)
            running += (Hs[:, j].mean(axis=0) - running) / (j + 1)
            if (j + 1) % every == 0 or j + 1 == kept:
                checkpoints.append((it + 1, time.perf_counter() - t0, running.copy()))
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0

    iu = np.triu_indices(n)
    K = Hs.mean(axis=(0, 1))
    se, esss, rhats = np.zeros((n, n)), [], []
    half = kept // 2
    drift = 0.0
    for i, j in zip(*iu):          # diagnostics of linkernel.finite_n.mcmc (shared with the exact sampler)
        x = Hs[:, :, i, j]
        esss.append(_ess(x))
        rhats.append(_rhat(x))
        se[i, j] = se[j, i] = _mcse(x)
        if half >= 2 and se[i, j] > 0:
            drift = max(drift, abs(x[:, :half].mean() - x[:, half:].mean()) / (2 * se[i, j]))
    ess_min = float(np.nanmin(esss)) if np.any(np.isfinite(esss)) else float("nan")
    mfix = kernel_entry(Hs, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else np.zeros((chains, kept))
    tau_m = mfix.size / _ess(mfix) if problem.T > 1 else 1.0
    groups = {}
    for g in problem.arch.shared_groups():
        mg = kernel_entry(Hs, *problem.arch.order_pair(g), problem.P)
        groups[g] = (float(mg.mean()), _mcse(mg))
    acceptance = {k: a / max(t, 1) for k, (a, t) in sampler.accepted.items()}
    nonlinear = any(not net.is_linear(b) for b in net.blocks())
    return NetworkPosterior(
        problem=problem, N=N, method=method, chains=chains, sweeps=sweeps, burn=burn,
        dtype=np.dtype(dtype).name, seed=seed, kernel=K, stderr=se,
        order_parameter=float(mfix.mean()),
        order_parameter_stderr=_mcse(mfix) if problem.T > 1 else 0.0,
        tau=chains * kept / ess_min, tau_m=float(tau_m), ess=ess_min,
        rhat=float(np.nanmax(rhats)) if np.any(np.isfinite(rhats)) else float("nan"),
        acceptance=acceptance,
        block_rows=int(round(rows)) if (method == "gibbs" and nonlinear) else None,
        step=step if method == "langevin" else None,
        bias_estimate=0.0 if method == "gibbs" else None, drift=float(drift),
        checkpoints=tuple(checkpoints), seconds=seconds, seconds_per_sweep=seconds / sweeps, m_trace=m_raw,
        order_parameters=groups)


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
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration={duration!r} is invalid; duration must be a positive Langevin time")
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
                      UserWarning, stacklevel=2)
    K0 = 2 * r2.kernel - r1.kernel
    se = np.sqrt(4 * r2.stderr ** 2 + r1.stderr ** 2)
    return replace(r2, kernel=K0, stderr=se, bias_estimate=float(np.max(np.abs(r1.kernel - r2.kernel))),
                   seconds=r1.seconds + r2.seconds, step=step,
                   step_kernels=((step, r1.kernel), (step / 2, r2.kernel)))


def sample_networks(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
                    method: str = "gibbs", step: float | None = None, block_rows: int | None = None,
                    dtype=np.float64, seed: int = 0, progress: bool | None = None, n_checkpoints: int = 20,
                    theory: bool = False, exact: bool = False,
                    extrapolate_duration: float | None = None) -> NetworkPosterior:
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
    ``progress``: tqdm bar (default: when stderr is a terminal).  Chains start
    from independent prior draws.

    References attached on request: ``theory`` the saddle-point kernel
    (:func:`linkernel.theory.saddle.saddle_point`), ``exact`` the exact
    finite-N posterior mean at the same N (:func:`linkernel.finite_n.exact.exact_posterior`,
    HMC on the rotation-invariant reduction; skipped when N is below the
    reduction's number of directions).
    """
    from dataclasses import replace
    kw = dict(chains=chains, block_rows=block_rows, dtype=dtype, seed=seed, progress=progress,
              n_checkpoints=n_checkpoints)
    if extrapolate_duration is not None:
        res = langevin_extrapolated(problem, N, step, extrapolate_duration, **kw)
    else:
        res = _sample(problem, N, sweeps=sweeps, burn=burn, method=method, step=step, **kw)
    if theory:
        from linkernel.theory.saddle import saddle_point
        res = replace(res, theory_kernel=saddle_point(problem).kernel)
    if exact:
        from linkernel.finite_n.exact import exact_posterior
        try:
            ex = exact_posterior(problem, N, chains=4, samples=1000, warmup=500, seed=seed, progress=False)
        except ValueError:      # the reduction needs N >= its number of directions: no reference then
            return res
        res = replace(res, exact_kernel=ex.kernel, exact_stderr=ex.stderr)
    return res


def sample_posterior(problem: Problem, N: int, **kw) -> NetworkPosterior:
    """The former name of :func:`sample_networks` (an alias: no references unless asked for)."""
    return sample_networks(problem, N, **kw)


def run_sgld(problem: Problem, N: int, theory: bool = True, exact: bool = False, **kw) -> NetworkPosterior:
    """The former name of :func:`sample_networks` with the theory's kernel attached by default (an alias)."""
    return sample_networks(problem, N, theory=theory, exact=exact, **kw)

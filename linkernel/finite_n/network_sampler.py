"""Sampling the weight posterior of real finite-width linear networks (``derivations/exact_reduction.tex``, "Setting").

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
    For the RNN (default when ``N >= 4 T P``) a sweep is instead the
    *collapsed kernel move* :class:`_ReducedMove` followed by an exact refresh
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

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from linkernel.errors import DivergenceError
from linkernel.finite_n.exact import _DrawsResult, _format_f
from linkernel.finite_n.networks import Network
from linkernel.formatting import format_matrix, task_name
from linkernel.problem import Problem, fix_z2_sign, kernel_entry
from linkernel.serialize import jsonable

METHODS = ("gibbs", "langevin")



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


class _ReducedMove:
    """Collapsed move of the RNN's kernel: the exact reduction's HMC applied to the network's own weights.

    The block Arnoldi decomposition of the current network
    (``derivations/exact_reduction.tex``, "RNN: block Arnoldi") gives the
    frame ``Q`` (N x K orthonormal: the input images ``U e_j``, then ``W q_j``
    step by step, Gram-Schmidt), the Bartlett coordinates ``theta`` of those
    images in the frame and ``c = Q^T v``.  Under the prior ``theta`` is
    independent of ``Q`` and of the parts of ``U``, ``W``, ``v`` outside the
    probed directions (the lemma of the derivation), so given those the pair
    ``(theta, c)`` has density ``Bartlett(theta) N(c; 0, v I) p(y | f_S)`` and,
    with ``c`` integrated out, ``theta`` has exactly the reduced density
    :meth:`~linkernel.finite_n.exact.Reduction.log_posterior_and_grad`.  The
    move draws ``theta'`` by HMC transitions leaving that density invariant
    (metric and step size adapted once, on the reduction alone, before the
    run), then ``c'`` from its exact Gaussian conditional, and writes the new
    images back into ``U`` and ``W`` (rank-K changes along the probed
    directions, the frame kept).  The kernel H and the outputs depend on the
    weights only through ``(theta, c)``, so they mix as in the reduction: in
    O(1) sweeps at any T, P, N.  The row-block Metropolis steps of the sweep
    still move everything else (the frame, the unprobed parts).

    Only for the RNN (one W, one U group); note that with this move the
    network sampler and :func:`~linkernel.finite_n.exact.exact_posterior` share
    the reduced density, so their agreement checks the decomposition and the
    bookkeeping, not the density (plain Gibbs, ``reduced_moves=False``, is the
    independent check).
    """

    def __init__(self, net: Network, rng: np.random.Generator, transitions: int = 3, warmup: int | None = None):
        from linkernel.finite_n.exact import Reduction
        from linkernel.finite_n.mcmc import hmc
        pr = net.problem
        self.net, self.rng, self.transitions = net, rng, int(transitions)
        self.red = red = Reduction(pr, net.N)
        (cols, _), = red._udraw.values()
        self.r, K, T = cols.stop - cols.start, red.K, pr.T
        ok = all(st.kind in ("input", "krylov") for st in red.steps) and (
            T == 1 or list(red._krylov.get(0, [])) == [0, self.r * (T - 1), self.r, K])
        if not ok:
            raise ValueError("reduced_moves needs a problem whose reduction is pure block Arnoldi (the RNN)")
        Xin = pr.x.reshape(T * pr.P, pr.D)
        self.Vt = np.linalg.svd(Xin, full_matrices=False)[2][:self.r]               # e_j, rows (r, D)
        self.su_phys = math.sqrt(pr.u / pr.D)
        self.sw_phys = math.sqrt(pr.w)
        warmup = min(500, 200 + 2 * red.dim) if warmup is None else int(warmup)
        theta0, _ = red.mode(seed=int(rng.integers(2 ** 31)))
        Hs = red.neg_hessian(theta0)
        w, V = np.linalg.eigh(Hs)
        w = np.maximum(w, 1e-6 * w.max())
        Lc = np.linalg.cholesky((V / w) @ V.T)
        # the metric of a 528-variable posterior needs draws: warm up at least 4 chains (pooled)
        init = theta0 + rng.normal(size=(max(net.C, 4), red.dim)) @ Lc.T
        ch = hmc(red.log_posterior_and_grad, init, Lc, n_samples=1, n_warmup=warmup, progress=False,
                 seed=int(rng.integers(2 ** 31)), target_accept=0.9)
        self.L, self.eps = ch.metric_chol, float(ch.step_size[0])
        self.start = ch.theta[:net.C, -1]              # equilibrated reduced draws, one per chain
        self.accepted, self.tried = 0, 0

    def frame(self):
        """(Q (C, N, K), X (C, K, K), images of the probed directions W Q_p (C, N, K - r))."""
        net, r, K = self.net, self.r, self.red.K
        N = net.N
        U = self.su_phys * net.Z["U"]                                 # physical U (C, N, D)
        W = net.sws[0] * net.Z["W"]
        Q = np.zeros((net.C, N, K))
        Rc = np.zeros((net.C, K, K))
        WQ = np.zeros((net.C, N, K - r))
        block = np.matmul(U, self.Vt.T.astype(U.dtype)).astype(np.float64)     # U e_j
        for s in range(self.red.problem.T):
            lo = s * r
            if s >= 1:
                block = np.matmul(W, Q[:, :, lo - r:lo].astype(W.dtype)).astype(np.float64)
                WQ[:, :, lo - r:lo] = block
            res = block.copy()
            if lo:
                for _ in range(2):                                   # classical Gram-Schmidt, twice
                    coef = np.matmul(Q[:, :, :lo].transpose(0, 2, 1), res)
                    Rc[:, :lo, lo:lo + r] += coef
                    res = res - np.matmul(Q[:, :, :lo], coef)
            q, rr = np.linalg.qr(res)
            sg = np.sign(np.diagonal(rr, axis1=1, axis2=2))
            sg[sg == 0] = 1.0
            Q[:, :, lo:lo + r] = q * sg[:, None, :]
            Rc[:, lo:lo + r, lo:lo + r] = rr * sg[:, :, None]
        X = Rc.copy()
        X[:, :, :r] /= self.su_phys * math.sqrt(N)
        X[:, :, r:] /= self.sw_phys
        return Q, X, WQ

    def set_theta(self, theta, Q, WQ):
        """Write the images of ``theta`` (C, dim) into U and W along the frame, draw c = Q^T v exactly."""
        net, red, r, pr = self.net, self.red, self.r, self.red.problem
        N = net.N
        X = red.unpack(theta)
        G, _ = red.states(X)                                             # (C, K, TP)
        # c | theta, y: prior N(0, v I_K), f_S = c . G_S / sqrt(N), noise kappa / N
        A = np.swapaxes(G[:, :, red.S], 1, 2) / math.sqrt(N)            # (C, k, K)
        prec = np.eye(red.K) / pr.v + (N / pr.kappa) * np.swapaxes(A, 1, 2) @ A
        Lp = np.linalg.cholesky(prec)
        b = (N / pr.kappa) * np.einsum("ckK,k->cK", A, red.y)
        mean = np.linalg.solve(prec, b[..., None])[..., 0]
        xi = self.rng.standard_normal((net.C, red.K))
        c_new = mean + np.linalg.solve(np.swapaxes(Lp, 1, 2), xi[..., None])[..., 0]
        v = net.sv * net.Z["v"][:, :, 0].astype(np.float64)
        c_old = np.einsum("cnk,cn->ck", Q, v)
        v = v + np.einsum("cnk,ck->cn", Q, c_new - c_old)
        net.Z["v"][:, :, 0] = (v / net.sv).astype(net.dtype)
        U = self.su_phys * net.Z["U"].astype(np.float64)
        M0 = np.matmul(U, self.Vt.T)
        M0n = self.su_phys * math.sqrt(N) * np.matmul(Q, X[:, :, :r])
        net.Z["U"][...] = ((U + np.matmul(M0n - M0, self.Vt)) / self.su_phys).astype(net.dtype)
        if red.K > r:
            Img = self.sw_phys * np.matmul(Q, X[:, :, r:])
            dW = np.matmul(Img - WQ, Q[:, :, :red.K - r].transpose(0, 2, 1))
            net.Z["W"] += (dW / net.sws[0]).astype(net.dtype)
        net.forward()

    def refresh_complements(self, Q) -> None:
        """Exact Gibbs draw of everything f does not see: W on the complement of the probed directions, U on
        the complement of the inputs' span, v on the complement of the frame (their conditionals are the prior)."""
        net, K, r = self.net, self.red.K, self.r
        dt = net.dtype
        Qp = Q[:, :, :K - r].astype(dt)
        Zn = self.rng.standard_normal(net.Z["W"].shape, dtype=dt)
        net.Z["W"][...] = Zn + np.matmul(np.matmul(net.Z["W"] - Zn, Qp), Qp.transpose(0, 2, 1))
        if self.Vt.shape[0] < net.problem.D:
            Vt = self.Vt.astype(dt)
            Zn = self.rng.standard_normal(net.Z["U"].shape, dtype=dt)
            net.Z["U"][...] = Zn + np.matmul(np.matmul(net.Z["U"] - Zn, Vt.T), Vt)
        Qd = Q.astype(dt)
        xi = self.rng.standard_normal(net.Z["v"].shape, dtype=dt)
        net.Z["v"][...] = xi + np.matmul(Qd, np.matmul(Qd.transpose(0, 2, 1), net.Z["v"] - xi))
        net.forward()

    def __call__(self, first: bool = False, refresh: bool = True) -> None:
        from linkernel.finite_n.mcmc import hmc
        Q, X, WQ = self.frame()
        if first:
            theta = self.start
        else:
            theta0 = self.red.pack(X)
            ch = hmc(self.red.log_posterior_and_grad, theta0, self.L, n_samples=self.transitions, n_warmup=0,
                     progress=False, seed=int(self.rng.integers(2 ** 31)), step_size=self.eps)
            theta = ch.theta[:, -1]
            self.accepted += float(ch.accept.sum())
            self.tried += ch.accept.size
        self.set_theta(theta, Q, WQ)
        if refresh:
            self.refresh_complements(Q)
        return Q


# --- the result ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NetworkPosterior(_DrawsResult):
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
    ``predictions`` (T, P): posterior-mean outputs, Rao-Blackwellised (given
    the hidden states the readout's conditional is Gaussian, so each sweep
    contributes ``E[f | h, y] = v H_{:S} (v H_SS + kappa I)^-1 y_S`` with its
    sign-fixed H: :func:`linkernel.finite_n.exact.output_draws`), with
    ``predictions_stderr`` (MCSE) and ``predictions_sd`` (posterior sd of f).
    ``ess`` / ``rhat`` are the worst entry's (bulk ESS, rank R-hat; R-hat None
    for one chain); ``ess_entries`` / ``rhat_entries`` per kernel entry;
    ``diagnostics``: the verdict (``converged``, ``warnings``);
    ``spectra``: :class:`~linkernel.finite_n.spectra.WeightSpectra` of every W
    group at a few recorded sweeps (None when none were asked for);
    ``draws`` (chains, kept, TP, TP) sign-fixed kernels and ``f_draws``
    (chains, kept, T, P), not in :meth:`to_dict` (:meth:`to_inference_data`,
    :meth:`save`).  ``reduced_moves``: whether the collapsed kernel move
    (:class:`_ReducedMove`) was used.
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
    tau: float | None
    tau_m: float | None
    ess: float | None
    rhat: float | None
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
    ess_entries: np.ndarray | None = field(default=None, repr=False)
    rhat_entries: np.ndarray | None = field(default=None, repr=False)
    spectra: object = None
    reduced_moves: bool = False
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
            "ess_entries": self.ess_entries, "rhat_entries": self.rhat_entries,
            "predictions": self.predictions, "predictions_stderr": self.predictions_stderr,
            "predictions_sd": self.predictions_sd, "reduced_moves": self.reduced_moves,
            "converged": self.converged, "warnings": list(self.warnings),
            "diagnostics": None if self.diagnostics is None else self.diagnostics.to_dict(),
            "spectra": None if self.spectra is None else self.spectra.to_dict(),
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
                      f"max |H - H_theory| / max|H_theory| = {self.max_rel_error:.4f}   CKA = "
                      + ("n/a (undefined for a 1 x 1 kernel)" if self.cka is None else f"{self.cka:.6f}")]
        if self.exact_kernel is not None:
            lines += [f"exact finite-N posterior mean at N={self.N} (rotation-invariant reduction):",
                      format_matrix(self.exact_kernel),
                      f"max |H - H_exact| / max|H_exact| = {max_rel_error(self.kernel, self.exact_kernel):.4f}   "
                      f"max |H - H_exact| / error bar = {self.exact_max_z:.2f}"]
        num = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
        lines.append(f"m = {self.order_parameter:.5g} +- {self.order_parameter_stderr:.2g}   tau = "
                     f"{num(self.tau, '.3g')} sweeps (m: {num(self.tau_m, '.3g')})   ESS = {num(self.ess, '.0f')}   "
                     f"R-hat = {num(self.rhat, '.4f') if self.rhat is not None else 'n/a (1 chain)'}   "
                     f"drift = {self.drift:.2f}")
        if self.predictions is not None:
            lines.append("posterior-mean outputs f (rows t, columns p; +- MCSE):")
            lines.append(_format_f(self.predictions, self.predictions_stderr))
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


SGLDResult = NetworkPosterior
"""The former name of :class:`NetworkPosterior` (an alias, kept for existing code)."""


# --- drivers -----------------------------------------------------------------------------
def _check_args(N, sweeps, chains, burn, method, step, dtype, block_rows=None, seed=0):
    from linkernel import validation
    for name, val, lo in (("N", N, 1), ("sweeps", sweeps, 4), ("chains", chains, 1)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"{name}={val!r} is invalid; {name} must be an integer >= {lo}")
    if burn is not None and not (isinstance(burn, (int, np.integer)) and not isinstance(burn, bool)
                                 and 0 <= burn <= sweeps - 4):
        raise ValueError(f"burn={burn!r} is invalid; burn must be an integer in [0, sweeps - 4] = [0, {sweeps - 4}]")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid; method must be one of {', '.join(METHODS)}")
    if method == "langevin" and not (isinstance(step, (int, float, np.floating)) and np.isfinite(step)
                                     and 0 < step < 1):
        raise ValueError(f"step={step!r} is invalid; the Langevin step must be a number in (0, 1), e.g. 1e-3")
    if method == "gibbs" and step is not None:
        raise ValueError(f"step={step!r} is invalid with method='gibbs' (exact conditionals, no step size); "
                         "use method='langevin' for a Langevin step")
    if block_rows is not None:
        if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) or not 1 <= block_rows <= N:
            raise ValueError(f"rows={block_rows!r} is invalid; rows (block_rows, rows of a shared W per Metropolis "
                             f"step) must be an integer in [1, N] = [1, {N}]")
    validation.seed("seed", seed)
    try:
        ok = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float64))
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"dtype={dtype!r} is invalid; dtype must be float32 or float64")


def _sample(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
            method: str = "gibbs", step: float | None = None, block_rows: int | None = None,
            dtype=np.float64, seed: int = 0, progress: bool | None = None,
            n_checkpoints: int = 20, reduced_moves: bool | None = None, spectra: int = 1,
            keep_snapshots: bool = False, row_sweep: bool | None = None) -> NetworkPosterior:
    """The sampler itself (no references); see :func:`sample_networks`."""
    from linkernel.threads import blas_threads, blas_threads_for
    _check_args(N, sweeps, chains, burn, method, step, dtype, block_rows, seed)
    from tqdm import tqdm
    from linkernel.finite_n.spectra import SpectraRecorder

    t0 = time.perf_counter()
    burn = sweeps // 5 if burn is None else int(burn)
    rng = np.random.default_rng(seed)
    auto = reduced_moves is None
    if auto:
        reduced_moves = method == "gibbs" and problem.arch.is_rnn and problem.T >= 2 and N >= 4 * problem.n
    with blas_threads_for(N):
        net = Network(problem, N, chains, rng, dtype)
    sampler = _Sampler(net, rng)
    move = None
    if reduced_moves:
        if method != "gibbs":
            raise ValueError(f"reduced_moves=True is invalid with method={method!r}; it is a move of method='gibbs'")
        with blas_threads(1):
            move = _ReducedMove(net, rng)
    row_sweep = (move is None) if row_sweep is None else bool(row_sweep)
    adapt = block_rows is None
    rows = float(max(1, round(np.sqrt(N) / 2))) if adapt else float(block_rows)
    n, kept = problem.n, sweeps - burn
    Hs = np.empty((chains, kept, n, n))
    m_raw = np.empty((chains, kept))
    every = max(1, kept // max(n_checkpoints, 1))
    checkpoints, running = [], np.zeros((n, n))
    snap = sorted({burn + int(round((i + 1) * kept / spectra)) - 1 for i in range(spectra)}) if spectra else []
    rec = SpectraRecorder(net, snap, keep=keep_snapshots)
    bar = tqdm(total=sweeps, desc=f"{method} N={N}", unit="sweep" if method == "gibbs" else "step",
               disable=not (sys.stderr.isatty() if progress is None else progress), leave=False)
    for it in range(sweeps):
        if move is not None:
            with blas_threads(1):
                Q = move(first=it == 0, refresh=False)
            if it in rec.sweeps:
                # H and f depend only on (theta, c): the parts the outputs never see are independent of them
                # a posteriori, so they are drawn (exactly, from their prior) only where a snapshot reads them
                with blas_threads_for(N):
                    move.refresh_complements(Q)
        with blas_threads_for(N):
            if method == "gibbs" and row_sweep:
                acc = sampler.gibbs_sweep(int(round(rows)))
                if adapt and it < burn and acc < 1.0:
                    rows = float(np.clip(rows * np.exp(0.6 * (acc - 0.45)), 1.0, N))
            elif method == "langevin":
                sampler.langevin_step(step)
        if not (np.all(np.isfinite(net.fS)) and np.max(np.abs(net.fS)) < 1e3 * (1.0 + np.max(np.abs(net.y)))):
            bar.close()
            if method == "langevin":
                raise DivergenceError(f"Langevin run diverged at step {it} with step={step:g} (|f_S| = "
                                     f"{np.max(np.abs(net.fS)):.3g}); try step={step / 4:g} or method='gibbs'")
            raise DivergenceError(f"non-finite or huge outputs at sweep {it} (dtype {net.dtype}); "
                                 "try dtype=float64")
        if it >= burn:
            j = it - burn
            Hc = net.kernel()
            m_raw[:, j] = kernel_entry(Hc, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else 0.0
            Hs[:, j] = fix_z2_sign(problem, Hc)
            running += (Hs[:, j].mean(axis=0) - running) / (j + 1)
            if (j + 1) % every == 0 or j + 1 == kept:
                checkpoints.append((it + 1, time.perf_counter() - t0, running.copy()))
            if snap:
                with blas_threads_for(N):
                    rec.maybe(it)
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0

    from linkernel.finite_n.diagnostics import assess
    from linkernel.finite_n.exact import _finish_outputs, summarize_draws
    st = summarize_draws(problem, Hs)
    diag = assess(st["ess_all"], st["rhat_all"], None, chains, kept)
    K = st["kernel"]
    se = st["stderr"]
    half = kept // 2
    drift = 0.0
    iu = np.triu_indices(n)
    for i, j in zip(*iu):
        x = Hs[:, :, i, j]
        if half >= 2 and se[i, j] > 0:
            drift = max(drift, abs(x[:, :half].mean() - x[:, half:].mean()) / (2 * se[i, j]))
    ess_min = diag.min_ess
    tau_m = None
    if problem.T > 1:
        em = float(_ess_bulk_of(kernel_entry(Hs, problem.T - 1, problem.T - 2, problem.P)))
        tau_m = chains * kept / em if em > 0 and np.isfinite(em) else None
    acceptance = {k: a / max(t, 1) for k, (a, t) in sampler.accepted.items()}
    if move is not None and move.tried:
        acceptance["reduced"] = move.accepted / move.tried
    nonlinear = any(not net.is_linear(b) for b in net.blocks())
    what = (f"sample_networks ({method}, N={N}, {chains} chains x {kept} sweeps after {burn} burn-in)")
    return NetworkPosterior(
        problem=problem, N=N, method=method, chains=chains, sweeps=sweeps, burn=burn,
        dtype=np.dtype(dtype).name, seed=seed, kernel=K, stderr=se,
        order_parameter=st["m"][0], order_parameter_stderr=st["m"][1],
        tau=None if not ess_min else chains * kept / ess_min, tau_m=tau_m, ess=ess_min,
        rhat=diag.max_rhat, acceptance=acceptance,
        block_rows=int(round(rows)) if (method == "gibbs" and nonlinear and row_sweep) else None,
        step=step if method == "langevin" else None,
        bias_estimate=0.0 if method == "gibbs" else None, drift=float(drift),
        checkpoints=tuple(checkpoints), seconds=seconds, seconds_per_sweep=seconds / sweeps, m_trace=m_raw,
        order_parameters=st["groups"], predictions=st["f"], predictions_stderr=st["f_stderr"],
        predictions_sd=_finish_outputs(st, N), draws=Hs, f_draws=st["f_draws"], diagnostics=diag,
        ess_entries=st["ess"], rhat_entries=st["rhat"], spectra=rec.result(),
        reduced_moves=bool(reduced_moves), _what=what)


def _ess_bulk_of(x):
    from linkernel.finite_n.diagnostics import ess_bulk
    return ess_bulk(x[..., None])[0]


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
    if not (isinstance(step, (int, float, np.floating)) and np.isfinite(step) and 0 < step < 1):
        raise ValueError(f"step={step!r} is invalid; the Langevin step must be a number in (0, 1), e.g. 1e-3")
    if not (isinstance(duration, (int, float, np.floating)) and np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration={duration!r} is invalid; duration (extrapolate) must be a positive Langevin time")
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
                      UserWarning, stacklevel=2)
    K0 = 2 * r2.kernel - r1.kernel
    se = np.sqrt(4 * r2.stderr ** 2 + r1.stderr ** 2)
    from linkernel.finite_n.diagnostics import Diagnostics
    d1, d2 = r1.diagnostics, r2.diagnostics
    worst = lambda a, b, f: None if a is None or b is None else f(a, b)  # noqa: E731
    diag = Diagnostics(chains=d2.chains, draws=d2.draws, min_ess=worst(d1.min_ess, d2.min_ess, min),
                       max_rhat=worst(d1.max_rhat, d2.max_rhat, max), divergences=None,
                       warnings=tuple(f"step {h:g}: {w}" for h, d in ((step, d1), (step / 2, d2)) for w in d.warnings),
                       rhat_note=d2.rhat_note)
    res = replace(r2, kernel=K0, stderr=se, bias_estimate=float(np.max(np.abs(r1.kernel - r2.kernel))),
                  seconds=r1.seconds + r2.seconds, step=step, diagnostics=diag, ess=diag.min_ess, rhat=diag.max_rhat,
                  step_kernels=((step, r1.kernel), (step / 2, r2.kernel)))
    if emit:
        _emit(res)
    return res


def _emit(res: NetworkPosterior) -> None:
    from linkernel.finite_n.diagnostics import warn
    warn(res.diagnostics, res._what, advice="run more sweeps" + (" or more chains" if res.chains == 1 else ""),
         stacklevel=4)


def sample_networks(problem: Problem, N: int, sweeps: int = 400, chains: int = 4, burn: int | None = None,
                    method: str | None = None, step: float | None = None, block_rows: int | None = None,
                    dtype=np.float64, seed: int = 0, progress: bool | None = None, n_checkpoints: int = 20,
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
    ``progress``: tqdm bar (default: when stderr is a terminal).  Chains start
    from independent prior draws.

    ``method``: None (default) picks "langevin" when ``step`` or
    ``extrapolate_duration`` is given, else "gibbs"; an explicit "gibbs" with
    a step or an extrapolation is refused (ValueError), never silently changed.
    ``reduced_moves`` (default: on for the RNN with ``N >= 4 T P``, off
    otherwise): each sweep is then the collapsed kernel move
    (:class:`_ReducedMove`: HMC of the exact reduction on the network's own
    Arnoldi coordinates, the readout's frame components drawn exactly) plus an
    exact refresh of everything the outputs do not see (W off the probed
    directions, U off the inputs' span, v off the frame: independent of the
    kernel a posteriori, so drawn only before a spectrum snapshot reads them);
    the kernel then mixes in O(1) sweeps at any T, P, N, at O(N^2 T P) cost.  ``row_sweep`` (default: only without
    reduced moves) adds the blocked Gibbs sweep below.  ``spectra``: snapshots
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
    """
    from dataclasses import replace

    from linkernel.problem import require_problem
    require_problem("problem", problem)
    if method is None:       # what the other arguments ask for
        method = "langevin" if (step is not None or extrapolate_duration is not None) else "gibbs"
    kw = dict(chains=chains, block_rows=block_rows, dtype=dtype, seed=seed, progress=progress,
              n_checkpoints=n_checkpoints, spectra=spectra, keep_snapshots=keep_snapshots)
    if isinstance(spectra, bool) or not isinstance(spectra, (int, np.integer)) or spectra < 0:
        raise ValueError(f"spectra={spectra!r} is invalid; spectra (snapshots per chain) must be an integer >= 0")
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
        from linkernel.finite_n.exact import exact_posterior
        try:
            ex = exact_posterior(problem, N, chains=4, samples=1000, warmup=500, seed=seed, progress=False)
        except ValueError:      # the reduction needs N >= its number of directions: no reference then
            ex = None
        if ex is not None:
            res = replace(res, exact_kernel=ex.kernel, exact_stderr=ex.stderr)
    if warn:
        _emit(res)
    return res


def sample_posterior(problem: Problem, N: int, **kw) -> NetworkPosterior:
    """The former name of :func:`sample_networks` (an alias: no references unless asked for)."""
    return sample_networks(problem, N, **kw)


def run_sgld(problem: Problem, N: int, theory: bool = True, exact: bool = False, **kw) -> NetworkPosterior:
    """The former name of :func:`sample_networks` with the theory's kernel attached by default (an alias)."""
    return sample_networks(problem, N, theory=theory, exact=exact, **kw)

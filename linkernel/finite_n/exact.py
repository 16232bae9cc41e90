"""Exact finite-width posterior of linear RNNs and DNNs by rotation invariance.

The prior of every weight matrix is invariant under rotations of neuron space,
so the hidden states can be written in an orthonormal basis built by
Gram-Schmidt from the *fresh Gaussian vectors* the network draws, one after the
other.  Each fresh vector ``g ~ N(0, sigma^2 I_N)``, decomposed on the ``k``
directions already built, has ``k`` independent ``N(0, sigma^2)`` coordinates
and a length ``sigma chi_{N-k}`` along the new direction ``k``.  Collecting
them column by column gives an upper-triangular ``K x K`` matrix ``R`` with
the Bartlett law (``R_kk ~ chi_{N-k}``, ``R_jk ~ N(0, 1)`` for ``j < k``, all
independent).  The derivation is in ``derivations/exact_reduction.tex``.

* **RNN** (shared ``W``, ``U``).  Let ``r`` be the rank of all inputs
  ``x_p^t``; the first ``r`` fresh vectors are ``U e_j`` (``e_j`` an
  orthonormal basis of the input span), then ``W`` is applied round by round
  to the directions of the previous round (block Arnoldi: ``W`` becomes block
  upper Hessenberg with independent entries).  ``K = r T`` directions.  For
  inputs only at ``t = 0`` and ``P`` independent patterns ``r = P`` and the
  reduction is minimal (``TP(TP+1)/2`` variables, the size of ``H``); with
  inputs at several times it keeps ``K(K+1)/2 >`` that many variables, exactly.
* **DNN** (fresh ``W^(t)``, ``U^(t)`` per layer).  Given the past, the ``P``
  states of layer ``t`` are Gaussian, rows iid with covariance
  ``Sigma_t = C^{tt} + w H^{t-1,t-1}``: ``h^t = Z_t L_t^T`` with ``L_t`` the
  Cholesky factor of ``Sigma_t`` and ``Z_t`` an ``N x P`` standard Gaussian
  matrix independent of the past.  ``[Z_0 ... Z_{T-1}]`` is one ``N x TP``
  Gaussian matrix, whose Bartlett factor is ``R`` (``K = TP``, minimal).
  For ``P = 1`` the diagonal of ``H`` is a product of chi-square factors.
* **The readout** ``v`` enters only through its ``K`` coordinates in the
  basis (``N(0, v I_K)``, independent of everything) and integrates out:
  given ``H``, ``y_S ~ N(0, (v H_SS + kappa I) / N)``, so

      log p(y | H) = -1/2 log det(v H_SS + kappa I) - N/2 y^T (v H_SS + kappa I)^-1 y + const

  (the log-det term is O(1) and exact at every N).

Every problem :class:`~linkernel.problem.Problem` can express is covered,
for any ``N >= K``.

Coordinates (the sampler's variables, all O(1) with posterior width
``~N^{-1/2}``): ``X = R / sqrt(N)``, ``theta`` = the strictly upper entries of
``X`` (row by row) followed by ``log X_kk``.  The hidden-state coordinates
``G[:, (t, p)] = h_p^t / sqrt(N)`` in the basis give ``H = G^T G``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import minimize

from linkernel.theory.action import predictions
from linkernel.finite_n.mcmc import ess, hmc, mcse, rhat
from linkernel.problem import Problem, fix_z2_sign, order_parameter


def _count_N(N) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer, float)) or not float(N).is_integer():
        raise ValueError(f"N={N!r} is invalid; N (the width) must be an integer")
    return int(N)


class Reduction:
    """The reduced posterior of one problem at width ``N``: log density, gradient, kernel map.

    ``theta`` has shape ``(..., dim)`` (leading batch axes are allowed: the
    sampler moves all chains at once).  :meth:`log_posterior_and_grad`
    returns the exact log-posterior density of ``theta`` up to a constant
    independent of ``theta``.
    """

    def __init__(self, problem: Problem, N):
        self.problem = problem
        N = _count_N(N)
        T, P, n = problem.T, problem.P, problem.n
        if problem.arch.is_rnn:
            Xin = problem.x.reshape(n, problem.D)
            _, s, Vt = np.linalg.svd(Xin, full_matrices=False)
            r = int(np.sum(s > 1e-12 * s[0]))
            # E[j, t, p]: coordinates of x_p^t on the orthonormal input basis e_j
            self.E = (Xin @ Vt[:r].T).T.reshape(r, T, P)
            self.r = r
            self.K = r * T
        else:
            self.r = P
            self.K = n
            C = problem.input_kernel
            self.Ctt = np.array([C[t * P:(t + 1) * P, t * P:(t + 1) * P] for t in range(T)])
        if N < self.K:
            raise ValueError(f"N={N} is invalid for this problem; the reduction needs N >= K = {self.K} "
                             f"(the number of independent Gaussian directions)")
        self.N = N
        K = self.K
        self.iu = np.triu_indices(K, 1)
        self.n_off = len(self.iu[0])
        self.dim = self.n_off + K
        self.S = problem.supervised_index
        self.y = problem.y_S
        # chi_{N-k} on the k-th diagonal entry: log-density of s = log X_kk is (N-k) s - N e^{2s}/2
        self.dof = N - np.arange(K, dtype=float)

    # --- coordinates -----------------------------------------------------------
    def unpack(self, theta) -> np.ndarray:
        """theta (..., dim) -> X = R / sqrt(N), upper triangular (..., K, K)."""
        theta = np.asarray(theta, dtype=float)
        X = np.zeros(theta.shape[:-1] + (self.K, self.K))
        X[..., self.iu[0], self.iu[1]] = theta[..., :self.n_off]
        d = np.arange(self.K)
        X[..., d, d] = np.exp(theta[..., self.n_off:])
        return X

    def pack(self, X) -> np.ndarray:
        """Inverse of :meth:`unpack` (X upper triangular with positive diagonal)."""
        X = np.asarray(X, dtype=float)
        d = np.arange(self.K)
        return np.concatenate([X[..., self.iu[0], self.iu[1]], np.log(X[..., d, d])], axis=-1)

    @property
    def prior_mode(self) -> np.ndarray:
        """theta of the limiting prior mode X = I (s_k = 0, off-diagonal 0)."""
        return np.zeros(self.dim)

    # --- the map X -> hidden-state coordinates G (..., K, T*P) ---------------------
    def states(self, X):
        """Hidden states ``h_p^t / sqrt(N)`` in the basis: returns ``(G, cache)``, G of shape (..., K, TP)."""
        pr = self.problem
        T, P, K, r = pr.T, pr.P, self.K, self.r
        g = []
        if pr.arch.is_rnn:
            B = math.sqrt(pr.u / pr.D) * X[..., :, :r]                     # U e_j
            Wm = np.zeros_like(X)
            Wm[..., :, :K - r] = math.sqrt(pr.w) * X[..., :, r:]          # W on probed directions
            prev = None
            for t in range(T):
                cur = B @ self.E[:, t, :]
                if prev is not None:
                    cur = cur + Wm @ prev
                g.append(cur)
                prev = cur
            cache = (B, Wm, g)
        else:
            Ls = []
            for t in range(T):
                Sig = self.Ctt[t] if t == 0 else self.Ctt[t] + pr.w * np.swapaxes(g[-1], -1, -2) @ g[-1]
                L = np.linalg.cholesky(Sig)
                Ls.append(L)
                g.append(X[..., :, t * P:(t + 1) * P] @ np.swapaxes(L, -1, -2))
            cache = (Ls, g)
        return np.concatenate(g, axis=-1), cache

    def _states_adjoint(self, X, cache, Gbar):
        """Gradient with respect to X of a function of G, given dF/dG = Gbar."""
        pr = self.problem
        T, P, K, r = pr.T, pr.P, self.K, self.r
        Xbar = np.zeros_like(X)
        gbar = [Gbar[..., :, t * P:(t + 1) * P] for t in range(T)]
        if pr.arch.is_rnn:
            B, Wm, g = cache
            lam = gbar[T - 1]
            Wbar = np.zeros_like(X)
            Bbar = lam @ self.E[:, T - 1, :].T
            for t in range(T - 1, 0, -1):
                Wbar += lam @ np.swapaxes(g[t - 1], -1, -2)
                lam = gbar[t - 1] + np.swapaxes(Wm, -1, -2) @ lam
                Bbar += lam @ self.E[:, t - 1, :].T
            Xbar[..., :, r:] += math.sqrt(pr.w) * Wbar[..., :, :K - r]
            Xbar[..., :, :r] += math.sqrt(pr.u / pr.D) * Bbar
        else:
            Ls, g = cache
            for t in range(T - 1, -1, -1):
                L = Ls[t]
                Xt = X[..., :, t * P:(t + 1) * P]
                Xbar[..., :, t * P:(t + 1) * P] = gbar[t] @ L
                if t == 0:
                    continue
                Lbar = np.tril(np.swapaxes(gbar[t], -1, -2) @ Xt)
                # Cholesky adjoint: Sigma_bar = L^-T Phi(L^T Lbar) L^-1, Phi = lower part, halved diagonal
                Phi = np.tril(np.swapaxes(L, -1, -2) @ Lbar)
                Phi = Phi - 0.5 * np.eye(P) * Phi
                Linv = np.linalg.inv(L)
                Sbar = np.swapaxes(Linv, -1, -2) @ Phi @ Linv
                Sbar = 0.5 * (Sbar + np.swapaxes(Sbar, -1, -2))
                gbar[t - 1] = gbar[t - 1] + 2.0 * pr.w * g[t - 1] @ Sbar
        return np.triu(Xbar)

    def kernel(self, theta) -> np.ndarray:
        """The kernel H = (1/N) h.h, shape (..., TP, TP), rows t*P+p."""
        G, _ = self.states(self.unpack(theta))
        return np.swapaxes(G, -1, -2) @ G

    # --- densities -------------------------------------------------------------------
    def log_prior(self, theta) -> np.ndarray:
        """Exact log prior density of theta (Bartlett law, change of variables included), up to a constant."""
        theta = np.asarray(theta, dtype=float)
        off, s = theta[..., :self.n_off], theta[..., self.n_off:]
        N = self.N
        return -0.5 * N * np.sum(off ** 2, axis=-1) + np.sum(self.dof * s - 0.5 * N * np.exp(2 * s), axis=-1)

    def _likelihood(self, H, need_grad: bool):
        pr = self.problem
        S = self.S
        HS = H[..., S[:, None], S[None, :]]
        Km = pr.v * HS + pr.kappa * np.eye(len(S))
        Lk = np.linalg.cholesky(Km)
        logdet = 2.0 * np.sum(np.log(np.diagonal(Lk, axis1=-2, axis2=-1)), axis=-1)
        alpha = np.linalg.solve(Km, np.broadcast_to(self.y, Km.shape[:-1])[..., None])[..., 0]
        ll = -0.5 * logdet - 0.5 * self.N * np.sum(self.y * alpha, axis=-1)
        if not need_grad:
            return ll, None
        Kinv = np.linalg.inv(Km)
        HSbar = -0.5 * pr.v * Kinv + 0.5 * self.N * pr.v * alpha[..., :, None] * alpha[..., None, :]
        Hbar = np.zeros_like(H)
        Hbar[..., S[:, None], S[None, :]] = HSbar
        return ll, Hbar

    def log_likelihood(self, theta) -> np.ndarray:
        """log p(y_S | theta) with the readout integrated out, up to a constant."""
        return self._likelihood(self.kernel(theta), False)[0]

    def log_posterior(self, theta) -> np.ndarray:
        return self.log_prior(theta) + self.log_likelihood(theta)

    def log_posterior_and_grad(self, theta, limit: bool = False):
        """(log posterior (...,), gradient (..., dim)); batch axes allowed.

        ``limit=True``: the N -> infinity limit of (1/N) log posterior and its
        gradient instead (chi degrees of freedom N - k -> N, the O(1) log-det dropped).
        """
        theta = np.asarray(theta, dtype=float)
        X = self.unpack(theta)
        G, cache = self.states(X)
        H = np.swapaxes(G, -1, -2) @ G
        ll, Hbar = self._limit_likelihood(H) if limit else self._likelihood(H, True)
        Gbar = G @ (Hbar + np.swapaxes(Hbar, -1, -2))
        Xbar = self._states_adjoint(X, cache, Gbar)
        N = 1.0 if limit else self.N
        dof = 1.0 if limit else self.dof
        off, s = theta[..., :self.n_off], theta[..., self.n_off:]
        d = np.arange(self.K)
        lp = -0.5 * N * np.sum(off ** 2, axis=-1) + np.sum(dof * s - 0.5 * N * np.exp(2 * s), axis=-1) + ll
        grad = np.concatenate([-N * off + Xbar[..., self.iu[0], self.iu[1]],
                               dof - N * np.exp(2 * s) + Xbar[..., d, d] * X[..., d, d]], axis=-1)
        return lp, grad

    def _limit_likelihood(self, H):
        pr = self.problem
        S = self.S
        Km = pr.v * H[..., S[:, None], S[None, :]] + pr.kappa * np.eye(len(S))
        alpha = np.linalg.solve(Km, np.broadcast_to(self.y, Km.shape[:-1])[..., None])[..., 0]
        Hbar = np.zeros_like(H)
        Hbar[..., S[:, None], S[None, :]] = 0.5 * pr.v * alpha[..., :, None] * alpha[..., None, :]
        return -0.5 * np.sum(self.y * alpha, axis=-1), Hbar

    # --- the N -> infinity limit -------------------------------------------------------
    def limit_log_density(self, theta) -> np.ndarray:
        """lim (1/N) log posterior(theta): equal to -S(H(theta)) + :attr:`limit_constant` when K = TP."""
        return self.log_posterior_and_grad(theta, limit=True)[0]

    @cached_property
    def limit_constant(self) -> float:
        """The constant c in lim (1/N) log p = -S(H) + c: the value at the prior mode, where S = 0 at lambda = 0."""
        pr = self.problem.with_(lam=0.0)
        return float(Reduction(pr, self.N).limit_log_density(self.prior_mode))

    def sample_prior(self, size: int, seed=0) -> np.ndarray:
        """``size`` independent draws of theta from the exact prior (Bartlett law), shape (size, dim)."""
        rng = np.random.default_rng(seed)
        off = rng.normal(size=(size, self.n_off)) / math.sqrt(self.N)
        diag = np.sqrt(rng.chisquare(self.dof, size=(size, self.K)) / self.N)
        return np.concatenate([off, np.log(diag)], axis=-1)

    # --- the mode ----------------------------------------------------------------------
    def mode(self, n_starts: int = 4, seed: int = 0, limit: bool = False):
        """The posterior mode (MAP) of theta from several starts: returns (theta, log posterior).

        Starts: the prior mode and random perturbations of it (so that the
        Z2-broken modes of the RNN are found, the symmetric point being a saddle).
        """
        rng = np.random.default_rng(seed)
        N = self.N

        def f(th):
            try:
                lp, g = self.log_posterior_and_grad(th, limit=limit)
            except np.linalg.LinAlgError:
                return 1e300, np.zeros_like(th)
            scale = 1.0 if limit else N
            return -lp / scale, -g / scale

        best = None
        for k in range(n_starts):
            th0 = self.prior_mode + (0.0 if k == 0 else 0.3) * rng.normal(size=self.dim)
            res = minimize(f, th0, jac=True, method="L-BFGS-B",
                           options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-15})
            if best is None or res.fun < best.fun:
                best = res
        return best.x, float(-best.fun * (1.0 if limit else N))

    def neg_hessian(self, theta, eps: float = 1e-6, limit: bool = False) -> np.ndarray:
        """-d^2 log p / d theta^2 by central differences of the analytic gradient (symmetrised)."""
        theta = np.asarray(theta, dtype=float)
        E = np.eye(self.dim) * eps
        _, gp = self.log_posterior_and_grad(theta + E, limit=limit)
        _, gm = self.log_posterior_and_grad(theta - E, limit=limit)
        Hs = -(gp - gm) / (2 * eps)
        return 0.5 * (Hs + Hs.T)


def limit_kernel(problem: Problem, n_starts: int = 6, seed: int = 0, tol: float = 1e-12) -> np.ndarray:
    """The kernel maximising the N -> infinity limit of (1/N) log posterior of the reduced variables.

    An independent route to the saddle point of S(H): maximised over the
    reduced variables (L-BFGS from several starts, then Newton steps with a
    finite-difference Hessian of the analytic gradient).  Returned in the Z2
    representative with m >= 0.
    """
    red = Reduction(problem, 10 ** 6)  # N does not enter the limit
    theta, _ = red.mode(n_starts=n_starts, seed=seed, limit=True)
    for _ in range(20):
        _, g = red.log_posterior_and_grad(theta, limit=True)
        if np.linalg.norm(g) < tol:
            break
        theta = theta + np.linalg.lstsq(red.neg_hessian(theta, limit=True), g, rcond=None)[0]
    return fix_z2_sign(problem, red.kernel(theta))


# --- the sampler's front end ------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ExactResult:
    """The exact finite-N posterior of a problem, by HMC on the reduced variables.

    ``kernel`` (TP, TP): posterior mean of H = (1/N) h.h, each draw brought to
    the Z2 representative with m = H^{T-1,T-2} >= 0 (:func:`fix_z2_sign`)
    before averaging; ``stderr``, ``ess``, ``rhat``: Monte Carlo standard
    error, effective sample size and rank-normalised split R-hat of every
    entry.  ``order_parameter``: posterior mean of m (same sign convention),
    with ``order_parameter_stderr``.  ``predictions`` (T, P): posterior mean
    outputs (exact given H, averaged over draws).  ``samples`` draws per chain
    after ``warmup``; ``acceptance`` mean Metropolis acceptance;
    ``n_gradients`` gradient evaluations per chain; ``draws`` the sign-fixed
    kernel draws (chains, samples, TP, TP), not in :meth:`to_dict`.
    """

    problem: Problem
    N: int
    kernel: np.ndarray
    stderr: np.ndarray
    ess: np.ndarray
    rhat: np.ndarray
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

    @property
    def max_rhat(self) -> float:
        return float(np.nanmax(self.rhat))

    @property
    def min_ess(self) -> float:
        return float(np.nanmin(self.ess))

    def to_dict(self) -> dict:
        return {
            "problem": self.problem.to_dict(), "N": self.N,
            "kernel": self.kernel.tolist(), "stderr": self.stderr.tolist(),
            "ess": self.ess.tolist(), "rhat": self.rhat.tolist(),
            "order_parameter": self.order_parameter, "order_parameter_stderr": self.order_parameter_stderr,
            "predictions": self.predictions.tolist(),
            "chains": self.chains, "samples": self.samples, "warmup": self.warmup,
            "acceptance": self.acceptance, "divergences": self.divergences,
            "n_gradients": self.n_gradients, "max_rhat": self.max_rhat, "min_ess": self.min_ess,
            "seconds": self.seconds,
        }


def fix_z2_sign_batch(problem: Problem, H: np.ndarray) -> np.ndarray:
    """:func:`linkernel.problem.fix_z2_sign` applied to every kernel of a stack (..., TP, TP)."""
    H = np.asarray(H)
    if not problem.has_z2:
        return H
    m = np.array([order_parameter(h, problem.T, problem.P) for h in H.reshape(-1, problem.n, problem.n)])
    s = problem.parity_signs
    flipped = s[:, None] * H * s[None, :]
    return np.where((m < 0).reshape(H.shape[:-2] + (1, 1)), flipped, H)


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= {low}")
    return int(value)


def exact_posterior(problem: Problem, N, chains: int = 4, samples: int = 1000, warmup: int = 1000,
                    seed: int = 0, progress: bool = True) -> ExactResult:
    """The exact posterior mean kernel of ``problem`` at width ``N`` (HMC on the reduced variables).

    Conventions as in :class:`~linkernel.problem.Problem` (T hidden states
    t = 0..T-1, muP scaling, H rows t*P+p).  ``chains`` HMC chains of
    ``warmup + samples`` iterations each, started around the posterior mode
    with the Laplace covariance as initial metric.  The cost per effective
    sample does not depend on N.  Check ``max_rhat`` (< 1.01) and
    ``min_ess`` of the result before trusting it.
    """
    chains = _check_int("chains", chains, 1)
    samples = _check_int("samples", samples, 10)
    warmup = _check_int("warmup", warmup, 0)
    t0 = time.perf_counter()
    red = Reduction(problem, N)
    rng = np.random.default_rng(seed)
    theta0, _ = red.mode(seed=int(rng.integers(2 ** 31)))
    Hs = red.neg_hessian(theta0)
    w, V = np.linalg.eigh(Hs)
    w = np.maximum(w, 1e-6 * w.max())          # near a critical point the mode is flat: floor it
    cov = (V / w) @ V.T
    Lc = np.linalg.cholesky(cov)
    init = theta0 + 1.5 * rng.normal(size=(chains, red.dim)) @ Lc.T
    ch = hmc(red.log_posterior_and_grad, init, Lc, n_samples=samples, n_warmup=warmup,
             seed=int(rng.integers(2 ** 31)), progress=progress, desc=f"exact N={red.N}")
    Hd = fix_z2_sign_batch(problem, red.kernel(ch.theta))            # (chains, samples, n, n)
    n = problem.n
    kernel = Hd.mean(axis=(0, 1))
    se = np.empty((n, n))
    es = np.empty((n, n))
    rh = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            x = Hd[:, :, i, j]
            es[i, j] = es[j, i] = ess(x)
            rh[i, j] = rh[j, i] = rhat(x) if chains > 1 else float("nan")
            se[i, j] = se[j, i] = np.std(x, ddof=1) / math.sqrt(es[i, j])
    m = Hd[:, :, (problem.T - 1) * problem.P, (problem.T - 2) * problem.P] if problem.T > 1 else None
    if m is not None and problem.P > 1:
        m = np.mean([Hd[:, :, (problem.T - 1) * problem.P + p, (problem.T - 2) * problem.P + p]
                     for p in range(problem.P)], axis=0)
    preds = np.mean([predictions(problem, h) for h in Hd.reshape(-1, n, n)], axis=0)
    return ExactResult(
        problem=problem, N=red.N, kernel=kernel, stderr=se, ess=es, rhat=rh,
        order_parameter=float(m.mean()) if m is not None else 0.0,
        order_parameter_stderr=mcse(m) if m is not None else 0.0,
        predictions=preds, chains=chains, samples=samples, warmup=warmup,
        acceptance=float(ch.accept.mean()), divergences=ch.divergences, n_gradients=ch.n_grad,
        seconds=time.perf_counter() - t0, draws=Hd)

"""Hamiltonian Monte Carlo with several chains (its diagnostics: :mod:`linkernel.finite_n.diagnostics`).

Generic: :func:`hmc` samples any smooth log density given as a function
returning ``(log p, grad)`` for a batch of points ``(chains, dim)``; all
chains move at once (one vectorised gradient call per leapfrog step).

* Dense Euclidean metric: the sampler works in ``z = L^-1 theta`` where
  ``L L^T`` is the current estimate of the posterior covariance (the inverse
  mass matrix), first from the caller (e.g. a Laplace approximation at the
  mode), then re-estimated in Stan's warm-up windows from the draws of all
  chains pooled (each centred on its own mean) and shrunk towards the previous
  estimate.  When the posterior is close to Gaussian the standardised target
  is close to N(0, I) whatever its scale, so the cost per effective sample
  does not depend on it.  (Measured at T = 8, P = 4, 528 variables: the former
  per-chain estimate from ~150 draws gave ESS 5 and R-hat 1.35 in 1000
  iterations, the pooled one ESS ~230-1700; ``benchmarks/exact_fig3.py``.)
* Step size: dual averaging (Hoffman & Gelman 2014) of one step for all
  chains towards a mean acceptance ``target_accept``; frozen after warm-up.
* Trajectory length: integration time jittered uniformly in
  ``[0.5, 1.5] * pi/2`` standard deviations (pi/2 is the quarter period
  of a unit Gaussian, where successive draws decorrelate).
* Exact Metropolis correction: the draws are unbiased whatever the step size.
* Sheared coordinates (``soft_direction``): near a critical point one direction
  is soft (fluctuations N^-1/4 against N^-1/2, a quartic marginal) and the
  others' mean moves with its square, a curvature no dense metric follows.
  The chains then move in the coordinates of a :class:`ShearMap` (whitening,
  a quadratic shear and a tail map of the soft coordinate, refitted with the
  metric; exact, with its Jacobian).  Measured at lambda_c, T = 4, three
  seeds: gradient evaluations per effective sample 11-15 at both N = 256 and
  N = 2^20 (ratio 0.8-0.95), no divergences, where the plain metric from the
  Laplace start took 20-23 and 55-92 (ratio 2.4-4.6), with 19 divergences in
  one run (``benchmarks/exact_fig3.py --part critical``).

The ESS, R-hat and MCSE of the draws are those of :mod:`linkernel.finite_n.diagnostics`
(Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021; checked against ArviZ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from linkernel import validation
from linkernel.progress import progress_bar


@dataclass(frozen=True, eq=False)
class Chains:
    """Draws of :func:`hmc`: ``theta`` (chains, samples, dim), per-draw ``accept`` probabilities,
    the final ``step_size`` per chain (in standardised units), ``n_grad`` gradient evaluations in all
    (per chain, warm-up included) and ``divergences`` (energy errors > 1000) after warm-up;
    ``divergent`` (chains, samples) which draws followed one, ``n_leapfrog`` the leapfrog steps of
    each transition, ``metric_chol`` the final metric's Cholesky factor, ``transform`` the final
    :class:`ShearMap` when the chains moved in sheared coordinates (``soft_direction``), else None.
    ``theta`` and ``log_p`` are always in the caller's coordinates."""

    theta: np.ndarray
    log_p: np.ndarray
    accept: np.ndarray
    step_size: np.ndarray
    n_grad: int
    divergences: int
    divergent: np.ndarray | None = None
    n_leapfrog: np.ndarray | None = None
    metric_chol: np.ndarray | None = None
    transform: "ShearMap | None" = None


class ShearMap:
    """The sampler's coordinates ``y`` when a soft direction is given (:func:`hmc`, ``soft_direction``).

        theta(y) = mu + B (r + b (r_0^2 - c)),   r = M t,   t = (phi(sigma y_0), y_1, ..., y_{d-1}),

    ``B = L Q`` whitens the draws (``L L^T`` their covariance) and rotates
    (``Q`` a Householder reflection) so that the first whitened coordinate
    ``w_0 = r_0`` is the soft linear combination of theta; ``b`` (with
    ``b_0 = 0``) shears the other coordinates by their regression on
    ``w_0^2``: the conditional mean ``E[w_j | w_0] ~ b_j (w_0^2 - c)`` of a
    curved (banana) posterior, e.g. at a critical point where the soft
    coordinate fluctuates like N^-1/4 and shifts the others by O(N^-1/2),
    their own width (derivations/exact_reduction.tex, "Finite-size scaling").  ``M``
    (lower triangular, so ``r_0 = M_00 t_0``) whitens the sheared coordinates.
    ``phi(v) = v (1 + v^2/rho^2)^(-1/4)`` (odd, increasing, ``~ v`` near 0 and
    ``~ sqrt(rho v)`` far out) turns a quartic marginal of the soft coordinate,
    ``exp(-a t_0^4)``, into Gaussian tails ``exp(-a rho^2 sigma^2 y_0^2)``: the quartic
    wall, whose curvature grows like ``t_0^2``, would otherwise set the leapfrog's
    stability limit; ``rho = inf``: ``phi`` is the identity.

    Exact: a bijection with ``log |det d theta/dy| = log|det B| + log|det M| + log sigma
    + log phi'(sigma y_0)`` (the shear is unit triangular, ``b_0 = 0``);
    :meth:`log_jacobian` is the part that depends on y and :meth:`grad_y` the gradient of
    ``log p(theta(y)) + log_jacobian(y)``, the density the sampler moves on.
    """

    def __init__(self, mu, B, M, b, c, rho: float = math.inf, sigma: float = 1.0):
        self.mu, self.B, self.M = np.asarray(mu, float), np.asarray(B, float), np.asarray(M, float)
        self.b, self.c = np.asarray(b, float), float(c)
        self.rho, self.sigma = float(rho), float(sigma)
        if self.b[0] != 0.0:
            raise ValueError(f"b[0]={self.b[0]!r} is invalid; b[0] must be 0 (the shear moves the other coordinates)")
        if self.rho != math.inf:        # rho = inf: no tail map
            validation.positive("rho", rho)
        validation.positive("sigma", sigma)
        self.Binv, self.Minv = np.linalg.inv(self.B), np.linalg.inv(self.M)

    @classmethod
    def linear(cls, chol):
        """The map theta = chol y (no shear): the plain dense metric."""
        d = len(chol)
        return cls(np.zeros(d), chol, np.eye(d), np.zeros(d), 0.0)

    # --- the tail map of the soft coordinate and its derivatives ---
    @staticmethod
    def phi(v, rho):
        return v if math.isinf(rho) else v * (1.0 + (v / rho) ** 2) ** -0.25

    @staticmethod
    def phi_inv(t, rho):
        if math.isinf(rho):
            return t
        q = (t / rho) ** 2
        return np.sign(t) * np.abs(t) * np.sqrt(0.5 * (q + np.sqrt(q * q + 4.0)))

    @staticmethod
    def _dlog_phi(v, rho):
        """(phi'(v), d log phi'(v) / dv)."""
        if math.isinf(rho):
            return np.ones_like(v), np.zeros_like(v)
        x2 = (v / rho) ** 2
        d1 = (1.0 + 0.5 * x2) * (1.0 + x2) ** -1.25
        d2 = (v / rho ** 2) * (-1.5 - 0.25 * x2) / ((1.0 + 0.5 * x2) * (1.0 + x2))
        return d1, d2

    def from_y(self, y):
        t = np.array(y, dtype=float)
        t[..., 0] = self.phi(self.sigma * t[..., 0], self.rho)
        r = t @ self.M.T
        return self.mu + (r + np.multiply.outer(r[..., 0] ** 2 - self.c, self.b)) @ self.B.T

    def to_y(self, theta):
        w = (theta - self.mu) @ self.Binv.T
        r = w - np.multiply.outer(w[..., 0] ** 2 - self.c, self.b)
        y = r @ self.Minv.T
        y[..., 0] = self.phi_inv(y[..., 0], self.rho) / self.sigma
        return y

    def log_jacobian(self, y):
        """The y-dependent part of log |det d theta / dy|: log phi'(sigma y_0)."""
        return np.log(self._dlog_phi(self.sigma * np.asarray(y)[..., 0], self.rho)[0])

    def grad_y(self, y, g):
        """d/dy [log p(theta(y)) + log_jacobian(y)], given g = d log p / d theta at theta(y)."""
        v = self.sigma * y[..., 0]
        gw = g @ self.B
        r0 = self.M[0, 0] * self.phi(v, self.rho)
        gr = gw.copy()
        gr[..., 0] += 2.0 * r0 * (gw @ self.b)
        gt = gr @ self.M
        d1, d2 = self._dlog_phi(v, self.rho)
        gt[..., 0] = self.sigma * (gt[..., 0] * d1 + d2)
        return gt

    def log_abs_det_jacobian(self, y) -> np.ndarray:
        """log |det d theta / dy| at y (..., d)."""
        return (np.linalg.slogdet(self.B)[1] + np.linalg.slogdet(self.M)[1] + math.log(self.sigma)
                + self.log_jacobian(y))

    @classmethod
    def fit(cls, draws, chol, soft_direction, n_se: float = 3.0):
        """The map adapted to ``draws`` (S, chains, d): ``chol`` the Cholesky factor of their (regularised)
        covariance, ``soft_direction`` (d,) the soft direction in theta (e.g. the eigenvector of the
        negative log-density Hessian with the smallest eigenvalue; ``theta . u`` is the soft coordinate).

        Each shear coefficient ``b_j`` is the regression of ``w_j`` on ``w_0^2 - c``, shrunk to 0 unless it
        is well above ``n_se`` standard errors (with several hundred coordinates, unshrunk noise of
        1/sqrt(S) each would add up to a spurious curvature).  ``M M^T = I + cov(r) - cov(w)`` takes the
        variance the shear removes off the whitened metric (eigenvalues floored at 0.05).  The tail map: when the soft coordinate's
        kurtosis is below 2.5 (light, quartic-like tails: exp(-t^4) has 2.19; a Gaussian's sample
        kurtosis from n draws scatters by sqrt(24/n)), ``rho`` on a grid makes the kurtosis of
        ``phi^-1(t_0)`` closest to 3 and ``sigma`` its standard deviation.
        """
        S, C, d = draws.shape
        x = draws.reshape(S * C, d)
        mu = x.mean(axis=0)
        a = chol.T @ np.asarray(soft_direction, float)
        a = a / np.linalg.norm(a)
        # Householder reflection Q (symmetric, orthogonal) with Q e_0 = a, v chosen away from cancellation
        e = np.zeros(d)
        e[0] = 1.0
        flip = a[0] > 0
        v = a + e if flip else a - e
        Q = np.eye(d) - 2.0 * np.outer(v, v) / (v @ v)
        if flip:
            Q = -Q
        B = chol @ Q
        w = np.linalg.solve(B, (x - mu).T).T
        c = float(np.mean(w[:, 0] ** 2))
        q = w[:, 0] ** 2 - c
        qq = float(q @ q)
        b = bhat = np.zeros(d)
        if qq > 0:
            bhat = (q @ w) / qq
            se = np.sqrt(np.maximum((w - np.outer(q, bhat)).var(axis=0), 1e-300) / qq)
            with np.errstate(divide="ignore", invalid="ignore"):
                keep = np.where(np.abs(bhat) > 0, np.maximum(0.0, 1.0 - (n_se * se / np.abs(bhat)) ** 2), 0.0)
            b = bhat * keep
            b[0] = 0.0
        # M M^T = I + cov(r) - cov(w): the variance the shear removes, taken off the metric (which already
        # holds the window's covariance, shrunk: re-estimating cov(r) would count the window twice)
        vq = qq / len(q)
        cov = np.eye(d) + vq * (np.outer(b, b) - np.outer(b, bhat) - np.outer(bhat, b))
        ev, U = np.linalg.eigh(0.5 * (cov + cov.T))
        M = np.linalg.cholesky((U * np.maximum(ev, 0.05)) @ U.T)
        t0 = (w - np.outer(q, b))[:, 0] / M[0, 0]
        rho, sigma = math.inf, 1.0
        if S * C >= 100 and _kurtosis(t0) < 2.5:
            best = math.inf
            for rr in np.geomspace(0.25, 16.0, 25):
                k = abs(_kurtosis(cls.phi_inv(t0, rr)) - 3.0)
                if k < best:
                    best, rho = k, float(rr)
            sigma = float(np.std(cls.phi_inv(t0, rho)))
        return cls(mu, B, M, b, c, rho, sigma)


def _kurtosis(x) -> float:
    x = np.asarray(x, float) - np.mean(x)
    m2 = float(np.mean(x ** 2))
    return float(np.mean(x ** 4)) / m2 ** 2 if m2 > 0 else 3.0


def _chol_cov(draws: np.ndarray, floor_rel: float = 1e-10) -> np.ndarray:
    """Cholesky factor of a regularised sample covariance of ``draws`` (S, d)."""
    S, d = draws.shape
    cov = np.cov(draws, rowvar=False).reshape(d, d)
    diag = np.diag(cov).copy()
    # shrink towards the diagonal (Stan's regularisation, made scale-free)
    cov = (S / (S + 5.0)) * cov + (5.0 / (S + 5.0)) * np.diag(diag)
    w, V = np.linalg.eigh(cov)
    w = np.maximum(w, floor_rel * max(w.max(), 1e-300))
    return np.linalg.cholesky((V * w) @ V.T)


def _windows(n_warmup: int) -> list:
    """Ends of the metric-adaptation windows (Stan's schedule): a fast initial buffer (15%, at most 75),
    then windows doubling from 25 iterations, a terminal buffer (10%, at most 50) of step-size-only tuning."""
    if n_warmup < 20:
        return []
    init = min(75, int(0.15 * n_warmup))
    term = min(50, int(0.1 * n_warmup))
    ends, start, size = [], init, 25 if n_warmup >= 150 else max(5, (n_warmup - init - term) // 3)
    last = n_warmup - term
    while start < last:
        end = start + size
        if end + 2 * size > last:     # the last window runs to the terminal buffer
            end = last
        ends.append((start, end))
        start, size = end, 2 * size
    return ends


def hmc(logp_grad, init, chol, n_samples: int = 1000, n_warmup: int = 1000, seed: int = 0,
        target_accept: float = 0.8, progress: bool = True, desc: str = "hmc", pooled: bool = True,
        max_energy_error: float = 1000.0, step_size: float = 0.5, soft_direction=None) -> Chains:
    """Sample ``exp(log p)`` with ``chains = len(init)`` HMC chains (all chains move at once).

    ``logp_grad(theta)`` maps ``(chains, dim)`` to ``(log p (chains,), grad (chains, dim))``.
    ``init`` (chains, dim): starting points; ``chol`` (dim, dim): Cholesky factor of the initial
    inverse mass matrix (a covariance estimate, e.g. Laplace at the mode).

    Warm-up (``n_warmup`` iterations, Stan's windowed schedule, :func:`_windows`): the step size
    follows dual averaging towards ``target_accept`` (the mean acceptance over chains: one step
    size for all chains); at the end of each window the dense metric becomes the covariance of
    the window's draws, *pooled over chains* with each chain centred on its own mean (so chains
    sitting in different Z2 images of the mode do not inflate it), shrunk towards the previous
    metric with a weight of ``dim`` pseudo-draws (a window of 25 iterations x 4 chains cannot
    estimate a 528 x 528 covariance alone).  ``pooled=False``: the former per-chain estimate.
    Divergences: transitions whose energy error exceeds ``max_energy_error`` (Stan's 1000),
    counted after warm-up.  ``step_size``: the initial step (standardised units), kept as it is
    when ``n_warmup = 0`` (a fixed kernel, e.g. one move inside another sampler).

    ``soft_direction`` (dim,): a direction of theta along which the posterior is soft and curved (a
    critical direction).  The chains then move in the coordinates y of a :class:`ShearMap`, refitted
    at the end of every window with the metric: the metric's whitening, a quadratic shear that
    straightens the curvature (unit Jacobian) and, for light (quartic) tails of the soft coordinate, a
    tail map whose log-Jacobian enters the energy; the law sampled is exactly ``exp(log p)``, frozen
    maps after warm-up.  ``pooled`` must be True.

    Long on purpose (one loop, ~150 lines): a transition and the warm-up around it (dual averaging,
    the metric windows, the shear refits) read and write the same dozen variables every iteration;
    split into functions they would travel as a mutable state object through each call, no clearer
    and slower in the inner loop.
    """
    n_samples = validation.count("n_samples", n_samples, 1)
    n_warmup = validation.count("n_warmup", n_warmup, 0)
    rng = np.random.default_rng(seed)
    theta = np.array(init, dtype=float)
    C, d = theta.shape
    chol = np.asarray(chol, dtype=float)
    L = np.broadcast_to(chol, (C, d, d)).copy()
    cov_prev = chol @ chol.T if chol.ndim == 2 else None
    shear = None
    if soft_direction is not None:
        soft_direction = validation.finite_entries("soft_direction",
                                                   validation.shaped("soft_direction", soft_direction, (d,)))
        if not np.any(soft_direction):
            raise ValueError("soft_direction is zero; soft_direction must be a nonzero direction")
        if not pooled or chol.ndim != 2:
            raise ValueError("pooled=False is invalid with soft_direction; the shear needs one metric (pooled=True)")
        shear = ShearMap.linear(chol)

    lp, g = logp_grad(theta)
    if not np.all(np.isfinite(lp)):
        raise ValueError("the log density is not finite at the initial points")
    n_grad = 1

    eps = float(step_size)
    mu, hbar, log_eps_bar, it_da = math.log(10 * eps), 0.0, 0.0, 0

    def reset_da(e):
        nonlocal mu, hbar, log_eps_bar, it_da
        mu, hbar, log_eps_bar, it_da = math.log(10 * e), 0.0, math.log(e), 0

    reset_da(eps)
    windows = _windows(n_warmup)
    ends = {b: a for a, b in windows}
    warm = np.empty((n_warmup, C, d))

    out = np.empty((C, n_samples, d))
    out_lp = np.empty((C, n_samples))
    acc = np.empty((C, n_samples))
    n_leap = np.empty((C, n_samples), dtype=int)
    divergent = np.zeros((C, n_samples), dtype=bool)
    total = n_warmup + n_samples
    bar = progress_bar(bool(progress), total=total, desc=desc)
    for it in range(total):
        # one HMC transition for every chain, in standardised coordinates z = L^-1 theta
        p0 = rng.normal(size=(C, d))
        tau = (math.pi / 2) * rng.uniform(0.5, 1.5)
        steps = min(int(math.ceil(tau / eps)), 1000)
        th, gg, pp = theta.copy(), g.copy(), p0.copy()
        if shear is None:
            gz = np.einsum("cij,ci->cj", L, gg)         # L^T grad
        else:
            yy = shear.to_y(th)
            gz = shear.grad_y(yy, gg)
            lj0 = shear.log_jacobian(yy)
        lp_new = lp.copy()
        dead = np.zeros(C, dtype=bool)
        for k in range(steps):
            pp = pp + 0.5 * eps * gz
            if shear is None:
                th = th + eps * np.einsum("cij,cj->ci", L, pp)
            else:
                yy = yy + eps * pp
                with np.errstate(all="ignore"):
                    th = shear.from_y(yy)
            try:
                with np.errstate(all="ignore"):
                    lpk, gk = logp_grad(th)
            except np.linalg.LinAlgError:
                lpk, gk = np.full(C, -np.inf), np.zeros_like(th)
            n_grad += 1
            bad = ~np.isfinite(lpk) | ~np.all(np.isfinite(gk), axis=1)
            dead |= bad
            gk = np.where(bad[:, None], 0.0, gk)
            lp_new = np.where(dead, -np.inf, lpk)
            gg = gk
            if shear is None:
                gz = np.einsum("cij,ci->cj", L, gg)
            else:
                with np.errstate(all="ignore"):
                    gz = shear.grad_y(yy, gg)
            pp = pp + 0.5 * eps * gz
            if np.all(dead):
                break
        with np.errstate(all="ignore"):  # a diverging trajectory is rejected, not an error
            dH = (lp_new - 0.5 * np.sum(pp ** 2, 1)) - (lp - 0.5 * np.sum(p0 ** 2, 1))
            if shear is not None:        # the density of y: the Jacobian's y-dependent part
                dH = dH + shear.log_jacobian(yy) - lj0
        dH = np.where(np.isfinite(dH) & ~dead, dH, -np.inf)
        a = np.exp(np.minimum(dH, 0.0))
        take = rng.uniform(size=C) < a
        theta = np.where(take[:, None], th, theta)
        g = np.where(take[:, None], gg, g)
        lp = np.where(take, lp_new, lp)

        if it < n_warmup:
            warm[it] = theta
            it_da += 1
            hbar = (1 - 1 / (it_da + 10)) * hbar + (target_accept - float(np.mean(a))) / (it_da + 10)
            log_eps = mu - math.sqrt(it_da) / 0.05 * hbar
            w = it_da ** -0.75
            log_eps_bar = w * log_eps + (1 - w) * log_eps_bar
            eps = math.exp(min(max(log_eps, -12.0), 2.0))
            if it + 1 in ends:
                lo = ends[it + 1]
                if pooled:
                    cov_prev = _pooled_cov(warm[lo:it + 1], cov_prev)
                    L[:] = np.linalg.cholesky(cov_prev)
                    if shear is not None:
                        shear = ShearMap.fit(warm[lo:it + 1], L[0], soft_direction)
                else:
                    for c in range(C):
                        L[c] = _chol_cov(warm[lo:it + 1, c])
                reset_da(eps)
            if it + 1 == n_warmup:
                eps = math.exp(log_eps_bar)
        else:
            j = it - n_warmup
            out[:, j], out_lp[:, j], acc[:, j] = theta, lp, a
            n_leap[:, j] = steps
            divergent[:, j] = dead | (dH < -max_energy_error)
        bar.update(1)
    bar.close()
    return Chains(theta=out, log_p=out_lp, accept=acc, step_size=np.full(C, eps), n_grad=n_grad,
                  divergences=int(divergent.sum()), divergent=divergent, n_leapfrog=n_leap,
                  metric_chol=L[0] if pooled else L, transform=shear)


def _pooled_cov(draws: np.ndarray, prior_cov: np.ndarray | None) -> np.ndarray:
    """Covariance of ``draws`` (S, chains, d), each chain centred on its own mean, shrunk towards ``prior_cov``
    with the weight of ``d`` pseudo-draws; eigenvalues floored (a regularised, positive-definite estimate)."""
    S, C, d = draws.shape
    x = draws - draws.mean(axis=0, keepdims=True)
    x = x.reshape(S * C, d)
    n = max(S * C - C, 1)
    cov = x.T @ x / n
    if prior_cov is None:
        prior_cov = np.diag(np.diag(cov))
    n0 = float(d)
    cov = (n * cov + n0 * prior_cov) / (n + n0)
    w, V = np.linalg.eigh(0.5 * (cov + cov.T))
    w = np.maximum(w, 1e-10 * max(w.max(), 1e-300))
    return (V * w) @ V.T

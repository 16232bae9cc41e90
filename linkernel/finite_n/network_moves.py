"""The moves of the network sampler (:func:`~linkernel.finite_n.network_sampler.sample_networks`).

:class:`GibbsMoves`: the update rules acting on a :class:`~linkernel.finite_n.networks.Network`
(exact Gaussian block conditionals, row-block Metropolis-adjusted Gauss-Newton steps of a shared W,
preconditioned Langevin steps); :class:`ReducedMove`: the collapsed move of the RNN's kernel (HMC
of the exact reduction on the network's own block Arnoldi coordinates).  The why of each is in the
module doc of :mod:`linkernel.finite_n.network_sampler`.
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.finite_n.mcmc import hmc
from linkernel.finite_n.networks import Network
from linkernel.finite_n.reduction import Reduction

class GibbsMoves:
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


class ReducedMove:
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
    :meth:`~linkernel.finite_n.reduction.Reduction.log_posterior_and_grad`.  The
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

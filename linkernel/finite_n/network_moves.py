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
from linkernel.finite_n.networks import Network, add_outer
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

    For the RNN (one W, one U group; the DNN: :class:`LayerMove`); note that with this move the
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
        self._warm(warmup)

    def _warm(self, warmup: int | None) -> None:
        """Adapt the HMC metric and step on the reduction alone; equilibrated reduced draws, one per chain."""
        net, rng, red = self.net, self.rng, self.red
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
        self._cache, self._since_sync = None, 0
        self.sync_every = 25        # a forward pass of the weights every so many moves (rounding stays ~1e-14)
        self.max_sync_error = 0.0   # largest |h(forward) - h(theta)| / max|h| seen at a sync

    def frame(self):
        """(Q (C, N, K), X (C, K, K), images of the probed directions W Q_p (C, N, K - r)).

        After a move of its own (:meth:`_cached`) these are known: the frame is kept, X and W Q_p are the
        ones it wrote; otherwise read from the weights (T products with W, Gram-Schmidt)."""
        cached = self._cached()
        if cached is not None:
            return cached
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
        net, red, r = self.net, self.red, self.r
        N = net.N
        X = red.unpack(theta)
        G, _ = red.states(X)                                             # (C, K, TP)
        self._draw_readout(Q, G)
        U = self.su_phys * net.Z["U"].astype(np.float64)
        M0 = np.matmul(U, self.Vt.T)
        M0n = self.su_phys * math.sqrt(N) * np.matmul(Q, X[:, :, :r])
        net.Z["U"][...] = ((U + np.matmul(M0n - M0, self.Vt)) / self.su_phys).astype(net.dtype)
        Img = WQ
        if red.K > r:
            Img = self.sw_phys * np.matmul(Q, X[:, :, r:])
            add_outer(net.Z["W"], (Img - WQ) / net.sws[0], Q[:, :, :red.K - r])     # W Q_p = Img, in place
        self._set_states(math.sqrt(N) * np.matmul(Q, G), (Q, X, Img))

    def _set_states(self, hn, cache) -> None:
        """The network's states after a move: ``hn`` (C, N, TP), the weights' forward pass in exact arithmetic
        (the move wrote them so), set without its T passes over the weights; every ``sync_every`` moves a
        real forward pass instead (``max_sync_error``: the largest relative difference seen).  ``cache``:
        what the next :meth:`frame` may reuse while ``net.h`` is this array (no other move ran)."""
        net = self.net
        self._since_sync = getattr(self, "_since_sync", 0) + 1
        if self._since_sync >= self.sync_every:
            net.forward()
            self.max_sync_error = max(self.max_sync_error,
                                      float(np.max(np.abs(net.h - hn)) / max(np.max(np.abs(hn)), 1e-300)))
            self._since_sync = 0
        else:
            net.h = hn.astype(net.dtype)
            net.f = net.readout(net.h)
            net.fS = net.f[:, net.S]
            net._r = {}
        self._cache = (net.h, cache)

    def _cached(self):
        """What the last move left for :meth:`frame`, if the weights and states are still its own."""
        c = getattr(self, "_cache", None)
        return c[1] if c is not None and c[0] is self.net.h else None

    def _draw_readout(self, Q, G) -> None:
        """Draw c = Q^T v from its exact Gaussian conditional given the states G (C, K, TP); v off the frame kept."""
        net, red, pr = self.net, self.red, self.red.problem
        N = net.N
        # c | theta, y: prior N(0, v I_K), f_S = c . G_S / sqrt(N), noise kappa / N
        A = np.swapaxes(G[:, :, red.S], 1, 2) / math.sqrt(N)            # (C, k, K)
        prec = np.eye(red.K) / pr.v + (N / pr.kappa) * np.swapaxes(A, 1, 2) @ A
        Lp = np.linalg.cholesky(prec)
        b = (N / pr.kappa) * np.einsum("ckK,k->cK", A, red.y)
        mean = np.linalg.solve(prec, b[..., None])[..., 0]
        xi = self.rng.standard_normal((net.C, red.K))
        c_new = mean + np.linalg.solve(np.swapaxes(Lp, 1, 2), xi[..., None])[..., 0]
        v = net.sv * net.array("v")[:, :, 0].astype(np.float64)
        c_old = np.einsum("cnk,cn->ck", Q, v)
        v = v + np.einsum("cnk,ck->cn", Q, c_new - c_old)
        net.array("v")[:, :, 0] = (v / net.sv).astype(net.dtype)

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
        if self._cache is not None:     # W Q_p, U e_j, c kept: the frame and X are still the move's
            self._cache = (net.h, self._cache[1])

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


class LayerMove(ReducedMove):
    """Collapsed move of the DNN's layers: the exact reduction's HMC applied to the network's own weights.

    The DNN's reduction (``derivations/exact_reduction.tex``, "DNN"; every step a *fresh map*) reads,
    in the network's weights: layer t acts on its whitened input
    ``b_t = (sqrt(w/N) h^{t-1}; sqrt(u/D) x^t)`` (C, N + D, P) through ``Zfull_t = [Z_W^(t), Z_U^(t)]``,
    so ``h^t = Zfull_t b_t = Z_t L_t^T`` with ``L_t L_t^T = b_t^T b_t = C^{tt} + w H^{t-1,t-1}``,
    ``O_t = b_t L_t^{-T}`` orthonormal and ``Z_t = Zfull_t O_t`` P fresh standard-normal columns.
    The frame ``Q`` and ``X`` are the QR factors of ``[Z_0 .. Z_{T-1}] = sqrt(N) Q X`` (K = T P).

    The move: HMC on ``theta`` (the reduced density, shared with the exact sampler), then for
    each layer the new ``Z_t' = sqrt(N) Q X'[:, cols_t]`` written along the new input directions
    ``O_t'`` (from the new states), and the layer's part off them (``Zfull_t (I - O_t O_t^T)``, an
    isotropic Gaussian on that complement a priori, invisible to f) carried over by the rotation
    ``R_t = O_t' O_t^T + O'_perp O_perp^T + (1 - projector on span(O_t, O_t'))``, with
    ``O_perp``, ``O'_perp`` the orthonormalised parts of ``O_t'`` off ``O_t`` and of ``O_t`` off
    ``O_t'``.  ``R_t`` is orthogonal and the same rule run backwards gives ``R_t^T``, so the
    complement's law is carried to the complement's law with unit Jacobian and the move is
    reversible for the joint posterior.  In formulas (one pass over each matrix for the
    products, one rank-2P update):

        Zfull_t' = Zfull_t + (Z_t' - Zfull_t O_t') O_t'^T + (Zfull_t O_perp - Zfull_t O'_perp) O'_perp^T

    ``c = Q^T v`` is drawn exactly as for the RNN.  Cost per sweep: no pass over an N x N layer.
    The frame ``Q`` is kept by the move and every state lies in it (``h = sqrt(N) Q G``), so every
    input direction's W part is ``Q a`` (``a``: K x P coordinates) and all the move reads of layer t
    is ``Y_t = Z_W^(t) Q`` (N x K, one pass when the frame is read from the weights); the update
    above is ``Y_t += upd (a-part of B)^T``, and the layer is held *known on the frame*
    (:meth:`~linkernel.finite_n.networks.Network.set_known`): its N x N array is written only when
    something reads it (a spectrum snapshot; the forward pass needs only ``Y_t``).  O(N K P) work per
    layer and sweep, no N x N random draw: the complements are refreshed from their prior only where a
    spectrum snapshot reads them (:meth:`refresh_complements`, which leaves the layers off the frame
    undrawn until read); the kernel mixes as in the reduction.  The new ``(O_t', Z_t')`` are
    known, so the next move's frame needs no pass over the weights; the states are set from theta
    (``h' = sqrt(N) Q G(X')``, what the weights' forward pass gives up to rounding) and every
    ``sync_every`` moves recomputed by a real forward pass (``max_sync_error`` records the largest
    relative difference seen).
    """

    def __init__(self, net: Network, rng: np.random.Generator, transitions: int = 3, warmup: int | None = None):
        pr = net.problem
        self.net, self.rng, self.transitions = net, rng, int(transitions)
        self.red = red = Reduction(pr, net.N)
        if not (all(st.kind == "fresh" and st.merged for st in red.steps) and red.K == pr.T * pr.P):
            raise ValueError("the layer move needs a problem whose every step is a fresh layer (the DNN)")
        self.names = [(net.wname[net.w_of[t]] if t else None, net.uname[net.u_of[t]]) for t in range(pr.T)]
        self._warm(warmup)

    def _orth(self, h, t):
        """(O_w (C, n, P) or None, O_u (C, D, P)): the orthonormal input directions of layer t for states h.

        ``h`` (C, n, TP): the states (n = N), or their frame coordinates ``sqrt(N) G`` (n = K: then O_w is
        the W part's coordinates in the frame, the frame being orthonormal)."""
        net, P = self.net, self.net.problem.P
        bu = np.broadcast_to(net.su * net.x[t].astype(np.float64), (net.C,) + net.x[t].shape)
        S = np.swapaxes(bu, 1, 2) @ bu
        bw = None
        if t:
            bw = net.sws[net.w_of[t]] * h[:, :, (t - 1) * P:t * P]
            S = S + np.swapaxes(bw, 1, 2) @ bw
        Li = np.swapaxes(np.linalg.inv(np.linalg.cholesky(S)), 1, 2)       # L^{-T}
        return (None if bw is None else bw @ Li), bu @ Li

    def _apply(self, t, Ow, Ou):
        """Zfull_t O for O = (Ow, Ou): (C, N, m) float64, in whitened units (one read of the layer)."""
        wn, un = self.names[t]
        net = self.net
        out = np.matmul(net.array(un), Ou.astype(net.dtype)).astype(np.float64)
        if wn is not None:
            out += net.matmul(wn, Ow.astype(net.dtype))
        return out

    def frame(self):
        """(Q (C, N, K), X (C, K, K), st): the frame and the layers in it.

        ``st`` (dict of per-layer lists): ``"a"`` the W part of layer t's input directions in frame
        coordinates (C, K, P) (None at t = 0), ``"u"`` their U part (C, D, P), ``"Z"`` the fresh columns
        ``Zfull_t O_t`` (C, N, P), ``"Y"`` ``Z_W^(t) Q`` (C, N, K) (None at t = 0).  After a move of its
        own these are the ones it wrote (no pass over the weights); otherwise read from the weights: one
        pass over each layer for ``Z_t`` and ``Y_t``, a QR of the fresh columns for ``Q`` and ``X``."""
        cached = self._cached()
        if cached is not None:
            return cached
        net, T, dt = self.net, self.net.problem.T, self.net.dtype
        h = net.h.astype(np.float64)
        Os = [self._orth(h, t) for t in range(T)]
        Zs = [self._apply(t, *Os[t]) for t in range(T)]
        Q, R = np.linalg.qr(np.concatenate(Zs, axis=2))
        sg = np.sign(np.diagonal(R, axis1=1, axis2=2))
        sg[sg == 0] = 1.0
        Q = Q * sg[:, None, :]
        Qt = np.swapaxes(Q, 1, 2)
        st = {"a": [None] + [Qt @ Os[t][0] for t in range(1, T)], "u": [O[1] for O in Os], "Z": Zs,
              "Y": [None] + [net.known(self.names[t][0], Q) for t in range(1, T)]}
        return Q, R * sg[:, :, None] / math.sqrt(net.N), st

    @staticmethod
    def _perp(A, B):
        """Orthonormal basis of the part of B off the orthonormal columns of A (pairs (w, u) of row blocks).

        Left singular vectors of the residual, by decreasing singular value (the sines of the principal
        angles, the same for (A, B) and (B, A)); columns whose singular value is below 1e-9 are set to 0
        (the residual's null part: e.g. the first layers, whose input directions the move cannot change).
        """
        (Aw, Au), (Bw, Bu) = A, B
        c = np.swapaxes(Au, 1, 2) @ Bu + (0.0 if Aw is None else np.swapaxes(Aw, 1, 2) @ Bw)
        Ru = Bu - Au @ c
        stack = Ru if Aw is None else np.concatenate([Bw - Aw @ c, Ru], axis=1)
        q, sv, _ = np.linalg.svd(stack, full_matrices=False)
        q = q * (sv > 1e-9)[:, None, :]
        n = 0 if Aw is None else Aw.shape[1]
        return (None if Aw is None else q[:, :n]), q[:, n:]

    def set_theta(self, theta, Q, st):
        """Write ``theta`` (C, dim) into every layer along the frame (class doc), draw c = Q^T v exactly.

        ``st``: the layers in the frame (:meth:`frame`).  Everything in frame coordinates: the input
        directions' W parts ``a`` (K x P), the layers' action ``Y_t`` on the frame; the N x N layers get
        their new action on the frame set (:meth:`~linkernel.finite_n.networks.Network.set_known`), not written."""
        net, red = self.net, self.red
        T, P, N = red.problem.T, red.problem.P, net.N
        X = red.unpack(theta)
        G, _ = red.states(X)
        self._draw_readout(Q, G)
        Gs = math.sqrt(N) * G                                        # the new states: h' = Q Gs (C, N, TP)
        new = {"a": [None], "u": [], "Z": [], "Y": [None]}
        for t in range(T):
            wn, un = self.names[t]
            ZU = net.array(un)
            Znew = math.sqrt(N) * np.matmul(Q, X[:, :, t * P:(t + 1) * P])
            a, u = self._orth(Gs, t)
            new["u"].append(u)
            new["Z"].append(Znew)
            if t == 0:                     # h^0's input directions are the inputs': O_0' = O_0, R_0 = 1
                ZU += np.matmul(Znew - st["Z"][0], np.swapaxes(u, 1, 2)).astype(ZU.dtype)
                continue
            # (layer 1: span(h^0) is the frame's first P directions, O_1' = O_1 and _perp gives zeros: R_1 = 1)
            old = (st["a"][t], st["u"][t])
            Op = self._perp(old, (a, u))     # O_perp: O' off O
            Opp = self._perp((a, u), old)    # O'_perp: O off O'
            M = (st["Y"][t] @ np.concatenate([a, Op[0], Opp[0]], axis=2)
                 + np.matmul(ZU, np.concatenate([u, Op[1], Opp[1]], axis=2).astype(ZU.dtype)))   # Zfull_t [O' O_p O'_p]
            upd = np.concatenate([Znew - M[:, :, :P], M[:, :, P:2 * P] - M[:, :, 2 * P:]], axis=2)
            ZU += np.matmul(upd, np.swapaxes(np.concatenate([u, Opp[1]], axis=2), 1, 2)).astype(ZU.dtype)
            # Z_W += upd (Q B_w)^T, i.e. Z_W Q += upd B_w^T (Z_W off the frame unchanged)
            Y = st["Y"][t] + upd @ np.swapaxes(np.concatenate([a, Opp[0]], axis=2), 1, 2)
            net.set_known(wn, Y, Q)
            new["a"].append(a)
            new["Y"].append(Y)
        self._set_states(np.matmul(Q, Gs), (Q, X, new))

    def refresh_complements(self, Q) -> None:
        """Exact draw of everything f does not see: each layer off its input directions, v off the frame.

        Layer t becomes ``Zfull_t' = Xi + (Z_t - Xi O_t) O_t^T``, Xi fresh N(0, 1): its U part written,
        its W part held known on the frame (``Xi_W Q`` drawn, N x K) and left undrawn off it until read."""
        net, T, dt = self.net, self.net.problem.T, self.net.dtype
        cached = self._cached()
        if cached is None:                  # the move's own frame, read from the weights if need be
            cached = self.frame()
        Qc, Xc, st = cached
        K = Qc.shape[2]
        Y = [None]
        for t in range(T):
            wn, un = self.names[t]
            ZU = net.array(un)
            xu = self.rng.standard_normal(ZU.shape, dtype=dt)
            keep = st["Z"][t] - np.matmul(xu, st["u"][t].astype(dt))          # Z_t - Xi O_t
            if wn is not None:
                xq = self.rng.standard_normal((net.C, net.N, K))              # Xi_W Q
                keep = keep - xq @ st["a"][t]
                Y.append(xq + keep @ np.swapaxes(st["a"][t], 1, 2))
                net.set_known(wn, Y[-1], Qc, fresh=True)
            ZU[...] = xu + np.matmul(keep, np.swapaxes(st["u"][t], 1, 2)).astype(dt)
        Qd = Q.astype(dt)
        v = net.array("v")
        xv = self.rng.standard_normal(v.shape, dtype=dt)
        v[...] = xv + np.matmul(Qd, np.matmul(Qd.transpose(0, 2, 1), v - xv))
        net.forward()          # h unchanged (each layer's Zfull O kept): the frame stays valid for the new h
        self._cache = (net.h, (Qc, Xc, dict(st, Y=Y)))


def collapsed_move(net: Network, rng: np.random.Generator):
    """The collapsed kernel move for ``net``'s problem: :class:`ReducedMove` (RNN) or :class:`LayerMove` (DNN)."""
    return LayerMove(net, rng) if all(st.kind == "fresh" and st.merged
                                      for st in Reduction(net.problem, net.N).steps) else ReducedMove(net, rng)

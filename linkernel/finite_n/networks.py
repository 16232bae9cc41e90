"""Real finite-width linear networks (THEORY.md section 1), batched over chains.

The weights of ``C`` independent copies (MCMC chains) of one network are held
in *whitened* (prior-preconditioned) coordinates ``Z``: every entry of every
``Z`` has prior N(0, 1), and the physical weights are

    W = sqrt(w/N) Z_W,    U = sqrt(u/D) Z_U,    v = sqrt(v) z_v

(muP / mean-field scaling; the readout is ``f = (1/N) v . h``).  The RNN has one
``W`` and one ``U`` (shared over time); the DNN has ``U^(t)`` for
``t = 0..T-1`` and ``W^(t)`` for ``t = 1..T-1``.  Hidden states are
``h_p^0 = U x_p^0``, ``h_p^t = W h_p^{t-1} + U x_p^t`` and the kernel is
``H = h^T h / N`` in the ordering ``t * P + p`` (:func:`linkernel.problem.index`).

The likelihood depends on the weights only through the supervised outputs
``f_S``.  For one *block* of weights (v, U, W, a DNN layer, or a set of rows
of the RNN's W) with the others held fixed, the Jacobian ``J = d f_S / dZ_block``
has the low-rank form

    J_k = A coef_k B^T       (A: (C, n1, ma), B: (C, n2, mb), coef: (k, ma, mb))

(a sum of a few outer products of forward states h and backward vectors
r_j = (W^T)^j v).  :class:`Factors` does the three things a sampler needs with
it (``J z``, ``J J^T``, ``J^T c``) in O(n1 n2 (ma + mb)) work and never forms J.
A block may consist of several arrays sharing A (a DNN layer is ``[W^(t), U^(t)]``
acting on ``[h^{t-1}; x^t]``): then B has one part per array.
"""

from __future__ import annotations

import numpy as np

from linkernel.problem import Problem


class Factors:
    """The low-rank Jacobian ``J_k = A coef_k B^T`` of f_S with respect to one block (see module doc)."""

    def __init__(self, A, Bs, coef):
        self.A = A                      # (C, n1, ma)
        self.Bs = Bs                    # list of (C, n2_i, mb), one per array of the block
        self.coef = coef                # (k, ma, mb), float64

    def apply(self, zs) -> np.ndarray:
        """``J z`` for the block value ``zs`` (list of (C, n1, n2_i) arrays): shape (C, k), float64."""
        M = sum(np.matmul(z, B) for z, B in zip(zs, self.Bs))          # (C, n1, mb)
        M = np.matmul(self.A.transpose(0, 2, 1), M).astype(np.float64)  # (C, ma, mb)
        return np.einsum("kab,cab->ck", self.coef, M)

    def gram(self) -> np.ndarray:
        """``J J^T``, shape (C, k, k), float64."""
        GA = np.matmul(self.A.transpose(0, 2, 1), self.A).astype(np.float64)
        GB = sum(np.matmul(B.transpose(0, 2, 1), B) for B in self.Bs).astype(np.float64)
        X = np.einsum("kab,cad->ckdb", self.coef, GA)           # in steps: einsum's path search is slow
        X = np.einsum("ckdb,cbe->ckde", X, GB)
        return np.einsum("ckde,lde->ckl", X, self.coef)

    def add_transpose(self, c: np.ndarray, outs) -> None:
        """``outs += J^T c`` for c of shape (C, k) (in place, chain by chain: BLAS is fast there)."""
        Cc = np.einsum("ck,kab->cab", c, self.coef)                      # (C, ma, mb)
        L = np.matmul(self.A, Cc.astype(self.A.dtype))                   # (C, n1, mb)
        for out, B in zip(outs, self.Bs):
            for ch in range(out.shape[0]):
                out[ch] += L[ch] @ B[ch].T


class Network:
    """``chains`` copies of a linear RNN/DNN of width ``N`` for ``problem``, weights drawn from the prior.

    ``dtype`` (float64 or float32) is the precision of the weights and hidden
    states; small matrices (Grams, kernels, acceptance ratios) are float64.
    """

    def __init__(self, problem: Problem, N: int, chains: int, rng: np.random.Generator, dtype=np.float64):
        self.problem, self.N, self.C, self.dtype = problem, int(N), int(chains), np.dtype(dtype)
        T, P, D = problem.T, problem.P, problem.D
        # Python floats: a NumPy float64 scalar would promote float32 arrays to float64 (NEP 50)
        self.sw, self.su, self.sv = (float(np.sqrt(a)) for a in (problem.w / N, problem.u / D, problem.v))
        self.x = [np.ascontiguousarray(problem.x[t].T, dtype=self.dtype) for t in range(T)]  # (D, P)
        self.has_input = [bool(np.any(problem.x[t] != 0)) for t in range(T)]
        self.S = problem.supervised_index
        self.y = problem.y_S.astype(np.float64)
        self.s2 = problem.kappa / N      # noise variance of f_S (muP)
        self.k = len(self.S)
        draw = lambda *shape: rng.standard_normal((self.C,) + shape, dtype=self.dtype)  # noqa: E731
        self.Z = {"v": draw(N, 1)}
        if problem.arch.is_rnn:
            self.Z["U"] = draw(N, D)
            if T > 1:
                self.Z["W"] = draw(N, N)
        else:
            for t in range(T):
                self.Z[f"U{t}"] = draw(N, D)
                if t > 0:
                    self.Z[f"W{t}"] = draw(N, N)
        self.forward()

    # --- forward and backward passes -------------------------------------------
    def _ux(self, t):
        name = "U" if self.problem.arch.is_rnn else f"U{t}"
        return np.matmul(self.Z[name], self.su * self.x[t])            # (C, N, P)

    def _W(self, t):
        return self.Z["W"] if self.problem.arch.is_rnn else self.Z[f"W{t}"]

    def forward(self) -> None:
        """Recompute the hidden states ``h`` (C, N, TP) and outputs ``f`` (C, TP) from the weights."""
        T, P = self.problem.T, self.problem.P
        h = np.empty((self.C, self.N, T * P), dtype=self.dtype)
        h[:, :, :P] = self._ux(0)
        for t in range(1, T):
            ht = np.matmul(self._W(t), self.sw * h[:, :, (t - 1) * P:t * P])
            if self.has_input[t]:
                ht += self._ux(t)
            h[:, :, t * P:(t + 1) * P] = ht
        self.h = h
        self.f = self.readout(h)
        self.fS = self.f[:, self.S]     # tracked by the samplers between forward passes

    def readout(self, h) -> np.ndarray:
        """``f = (1/N) v . h`` at every (t, p): (C, TP) float64."""
        v = self.sv * self.Z["v"][:, :, 0].astype(np.float64)
        return np.einsum("cn,cnk->ck", v, h.astype(np.float64)) / self.N

    def backward(self, top: int | None = None, above=None) -> np.ndarray:
        """Backward vectors, the left factors of the Jacobians.

        RNN: ``r_j = (W^T)^j v`` for j = 0..T-1, as (C, N, T).
        DNN: for layer ``top`` the vectors ``(W^(top+1))^T ... (W^(t))^T v`` for
        t = top..T-1, as (C, N, T - top); ``above`` may pass those of layer
        ``top + 1`` (one matrix product instead of T - 1 - top).
        """
        T = self.problem.T
        v = self.sv * self.Z["v"]                                          # (C, N, 1)
        if self.problem.arch.is_rnn:
            R = np.empty((self.C, self.N, T), dtype=self.dtype)
            R[:, :, :1] = v
            for j in range(1, T):
                R[:, :, j:j + 1] = np.matmul(self.Z["W"].transpose(0, 2, 1), self.sw * R[:, :, j - 1:j])
            return R
        if top == T - 1:
            return v
        if above is None:
            above = self.backward(top + 1)
        return np.concatenate([v, np.matmul(self.Z[f"W{top + 1}"].transpose(0, 2, 1), self.sw * above)], axis=2)

    def set_rows(self, rows: np.ndarray, znew: np.ndarray, R: np.ndarray):
        """Write ``znew`` into rows ``rows`` of the RNN's Z_W; return the new (h, f, R), the old ones untouched.

        Incremental: with Delta = W' - W supported on the rows, the changes of
        h^t and of r_j = (W^T)^j v obey
            dh^t = E_rows Delta h^{t-1} + W' dh^{t-1},   dr_j = Delta^T (r_{j-1})_rows + W'^T dr_{j-1},
        where dh^1 lives on the rows (W' dh^1 needs only the columns ``rows``
        of W').  Cost O(N rows T) plus 2 (T - 3) full matrix-vector products,
        instead of 2 (T - 1).  r_{T-1} is left stale (the W block does not use
        it; :meth:`backward` refreshes it).
        """
        T, P, sw = self.problem.T, self.problem.P, self.sw
        ZW = self.Z["W"]
        Delta = sw * (znew - ZW[:, rows, :])                               # (C, r, N)
        ZW[:, rows, :] = znew
        cols = sw * ZW[:, :, rows]                                         # W'[:, rows], (C, N, r)
        h, R2 = self.h.copy(), R.copy()
        dh = None
        for t in range(1, T):
            d = np.zeros((self.C, self.N, P), dtype=self.dtype)
            d[:, rows, :] = np.matmul(Delta, self.h[:, :, (t - 1) * P:t * P])
            if t == 2:
                d += np.matmul(cols, dh[:, rows, :])
            elif t > 2:
                d += np.matmul(ZW, sw * dh)
            h[:, :, t * P:(t + 1) * P] += d
            dh = d
        dr = None
        for j in range(1, T - 1):
            e = np.matmul(Delta.transpose(0, 2, 1), R[:, rows, j - 1:j])
            if j > 1:
                e += np.matmul(ZW.transpose(0, 2, 1), sw * dr)
            R2[:, :, j:j + 1] += e
            dr = e
        return h, self.readout(h), R2

    def kernel(self) -> np.ndarray:
        """The empirical kernels ``H = h^T h / N`` of the chains, (C, TP, TP) float64."""
        h = self.h.astype(np.float64)
        return np.matmul(h.transpose(0, 2, 1), h) / self.N

    # --- blocks ------------------------------------------------------------------
    def blocks(self) -> list:
        """The Gibbs blocks in update order: RNN v, U, W; DNN v, then layers T-1 .. 0."""
        if self.problem.arch.is_rnn:
            return ["v", "U"] + (["W"] if self.problem.T > 1 else [])
        return ["v"] + [f"L{t}" for t in range(self.problem.T - 1, -1, -1)]

    def block_arrays(self, name: str) -> list:
        if name.startswith("L"):
            t = int(name[1:])
            return [self.Z[f"W{t}"], self.Z[f"U{t}"]] if t > 0 else [self.Z["U0"]]
        return [self.Z[name]]

    def is_linear(self, name: str) -> bool:
        """Whether f_S is affine in the block (exact Gaussian conditional): all but the RNN's W for T >= 3."""
        return not (name == "W" and self.problem.T >= 3)

    def factors(self, name: str, R=None, rows=None) -> Factors:
        """The Jacobian of f_S with respect to block ``name`` (rows ``rows`` of the RNN's W) at the current state.

        ``R`` is the matching :meth:`backward` output (recomputed when None).
        """
        T, P, k, N = self.problem.T, self.problem.P, self.k, self.N
        tS, pS = self.S // P, self.S % P
        if name == "v":
            coef = np.zeros((k, T * P, 1))
            coef[np.arange(k), self.S, 0] = 1.0 / N
            return Factors(self.h, [np.full((self.C, 1, 1), self.sv, dtype=self.dtype)], coef)
        if self.problem.arch.is_rnn:
            R = self.backward() if R is None else R
            coef = np.zeros((k, T, T * P))
            for kk, (t, p) in enumerate(zip(tS, pS)):
                for s in range(t + 1):
                    if name == "U":                    # r_{t-s} x_p^s
                        coef[kk, t - s, s * P + p] = 1.0 / N
                    elif s < t:                        # r_{t-1-s} h_p^s
                        coef[kk, t - 1 - s, s * P + p] = 1.0 / N
            if name == "U":
                X = np.concatenate([self.su * self.x[s] for s in range(T)], axis=1)     # (D, TP)
                return Factors(R, [np.broadcast_to(X, (self.C,) + X.shape)], coef)
            A = R[:, :, :T - 1] if rows is None else R[:, rows, :T - 1]     # r_{T-1} does not enter
            return Factors(A, [self.sw * self.h], coef[:, :T - 1])
        tau = int(name[1:])
        R = self.backward(tau) if R is None else R
        coef = np.zeros((k, T - tau, P))
        for kk, (t, p) in enumerate(zip(tS, pS)):
            if t >= tau:
                coef[kk, t - tau, p] = 1.0 / N
        xin = np.broadcast_to(self.su * self.x[tau], (self.C,) + self.x[tau].shape)
        Bs = [xin] if tau == 0 else [self.sw * self.h[:, :, (tau - 1) * P:tau * P], xin]
        return Factors(R, Bs, coef)     # Bs in the order of block_arrays: [W^(t), U^(t)]

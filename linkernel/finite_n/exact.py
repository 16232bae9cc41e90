"""Exact finite-width posterior of linear networks with any weight-sharing pattern, by rotation invariance.

The prior of every weight matrix is invariant under rotations of neuron space,
so the hidden states can be written in an orthonormal basis built by
Gram-Schmidt from the *fresh Gaussian vectors* the network draws, one after the
other.  Each fresh vector ``g ~ N(0, sigma^2 I_N)``, decomposed on the ``k``
directions already built, has ``k`` independent ``N(0, sigma^2)`` coordinates
and a length ``sigma chi_{N-k}`` along the new direction ``k``.  Collecting
them column by column gives an upper-triangular ``K x K`` matrix ``R`` with
the Bartlett law (``R_kk ~ chi_{N-k}``, ``R_jk ~ N(0, 1)`` for ``j < k``, all
independent).  The derivation (RNN and DNN) is in ``derivations/exact_reduction.tex``.

The reduction works group by group of the :class:`~linkernel.architecture.Architecture`
(derivations/exact_reduction.tex, "Any weight-sharing pattern"), step by step ``t = 0 .. T-1`` (within a step, the
columns of the W part come before those of a U group used there first):

* **A U group** (one input matrix shared by its steps), at its first step:
  with ``e_j`` an orthonormal basis of the span of *all* the inputs of its
  steps (rank ``r_u``), the fresh vectors ``U e_j`` (``r_u`` columns);
  ``U x_p^t = sum_j E_{j,tp} U e_j`` at each of its steps.
* **A fresh map** (a W group used at one step only, unless the Krylov rule
  below applies, i.e. at ``t = 1``): given the past, the ``P``
  states ``W^(t) h^{t-1}`` are Gaussian with iid rows of covariance
  ``w_g H^{t-1,t-1}``: ``Z L^T`` with ``L`` the Cholesky factor and ``Z`` ``P``
  fresh columns.  When ``U^(t)`` is used at that step only, it is merged in:
  ``Sigma_t = C^{tt} + w_g H^{t-1,t-1}`` (the DNN layer; ``h^0`` too when
  ``W^(1)`` is a fresh map).  For ``P = 1`` the diagonal of H is then a
  product of chi-square factors.
* **A W group used at several steps** (or at ``t = 1`` only) acts on the span of
  the states it is applied to:

  - *Krylov* (block Arnoldi): while the group has been applied at every step
    ``1 .. t`` and no U draw has happened at steps ``1 .. t-1``, the new
    directions of ``h^{t-1}`` are exactly those created at step ``t - 1``
    (the group's own images, or the inputs at ``t = 1``); ``W_g`` is applied to
    those basis vectors, fresh images ``W_g q_j``, and is block upper
    Hessenberg in the basis (independent ``N(0, w_g/N)`` entries,
    ``sqrt(w_g/N) chi_{N-k}`` on the subdiagonals).  This is the RNN: ``K = r T``
    with ``r`` the rank of all inputs (``= P``, minimal, for inputs at ``t = 0``
    only; with inputs at several times the Krylov space is redundant, exactly).
  - *Projected* (otherwise): the part of ``h^{t-1}`` orthogonal to the
    subspace ``V_g`` on which ``W_g`` is already known is orthonormalised,
    ``n = Q L^T`` (``L`` the Cholesky factor of ``n^T n``); ``W_g Q`` are
    ``P`` fresh columns, ``W_g h^{t-1} = (W_g V_g)(V_g^T h^{t-1}) + (W_g Q) L^T``,
    and ``Q`` joins ``V_g``.
* **The readout** ``v`` enters only through its ``K`` coordinates in the
  basis (``N(0, v I_K)``, independent of everything) and integrates out:
  given ``H``, ``y_S ~ N(0, (v H_SS + kappa I) / N)``, so

      log p(y | H) = -1/2 log det(v H_SS + kappa I) - N/2 y^T (v H_SS + kappa I)^-1 y + const

  (the log-det term is O(1) and exact at every N).

Each fresh vector is, given everything drawn before it, an isotropic Gaussian
independent of the past (a Gaussian matrix restricted to directions
orthogonal to those it was probed on is independent of its known images), so
the law of ``R`` is Bartlett whatever the pattern and the posterior over
``theta`` is exact.  Every problem :class:`~linkernel.problem.Problem` can
express is covered, for any ``N >= K``; :attr:`Reduction.layout` lists the
blocks.  RNN and DNN draw exactly the blocks of the original special-cased
construction, in the same order.

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

from linkernel.theory.action import readout_kernel
from linkernel.finite_n.mcmc import hmc
from linkernel.formatting import format_matrix, hyper_text, task_name
from linkernel.problem import Problem, fix_z2_sign, kernel_entry, require_problem
from linkernel.serialize import jsonable


def _count_N(N) -> int:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer, float)) or not float(N).is_integer():
        raise ValueError(f"N={N!r} is invalid; N (the width) must be an integer")
    return int(N)


@dataclass(frozen=True)
class _Step:
    """How the state ``h^t`` is built (see the module doc); column ranges are slices of X."""

    t: int
    u: int | None          # U group whose draw feeds h^t linearly (U e_j columns), or None
    kind: str              # "input" (t = 0 from the U draw), "fresh", "krylov" or "projected"
    group: int | None      # W group applied at t (None at t = 0)
    cols: slice | None     # fresh columns of a fresh map / projected step / Krylov images
    merged: bool = False   # fresh map with C^{tt} merged in (the DNN layer)
    m: int = 0             # projected: size of the subspace on which W_g is already known


class Reduction:
    """The reduced posterior of one problem at width ``N``: log density, gradient, kernel map.

    ``theta`` has shape ``(..., dim)`` (leading batch axes are allowed: the
    sampler moves all chains at once).  :meth:`log_posterior_and_grad`
    returns the exact log-posterior density of ``theta`` up to a constant
    independent of ``theta``.  ``K`` is the number of fresh Gaussian
    directions (columns of X), :attr:`layout` says which block draws which.
    """

    def __init__(self, problem: Problem, N):
        self.problem = problem
        N = _count_N(N)
        arch = problem.arch
        T, P, D = problem.T, problem.P, problem.D
        var = arch.group_variances(problem.w)
        self._w = [float(v) for v in var]                      # per W group
        self._sw = [math.sqrt(v) for v in var]
        self._su = math.sqrt(problem.u / D)
        C = problem.input_kernel
        self.Ctt = np.array([C[t * P:(t + 1) * P, t * P:(t + 1) * P] for t in range(T)])
        u_of = [next(i for i, g in enumerate(arch.U) if t in g) for t in range(T)]
        w_of = [None] + [arch.w_group(t) for t in range(1, T)]
        single_w = [len(g) == 1 for g in arch.W]

        k = 0                       # columns drawn so far
        self._udraw = {}            # U group -> (columns, E (r, T, P): coordinates of x_p^t on its basis)
        self._krylov = {}           # W group -> [first probed column, end, first image column, end]
        self._projected = {}        # W group -> columns of its known subspace (Krylov part + projected steps)
        steps, created, layout = [], [], []
        u_draw_after_0 = False      # a U draw happened at some step 1 <= s < t
        for t in range(T):
            k0 = k
            u, g = u_of[t], w_of[t]
            single_u = len(arch.U[u]) == 1
            fresh_w = t >= 1 and single_w[g]
            merged = single_u and (fresh_w if t >= 1 else (T >= 2 and single_w[w_of[1]]))
            kind, cols, m = "input", None, 0
            if merged:
                kind, cols = "fresh", slice(k, k + P)
                k += P
                layout.append(f"t={t}: fresh map" + (f" W group {g} + " if t else " ") + f"U group {u} "
                              f"(Cholesky of C^tt{' + w H^t-1,t-1' if t else ''}), columns {cols.start}..{k - 1}")
            elif t >= 1:
                if all(w_of[s] == g for s in range(1, t + 1)) and not u_draw_after_0:
                    prev = created[t - 1]
                    kind, cols = "krylov", slice(k, k + prev.stop - prev.start)
                    k = cols.stop
                    kr = self._krylov.setdefault(g, [prev.start, prev.stop, cols.start, cols.stop])
                    kr[1], kr[3] = prev.stop, cols.stop
                    layout.append(f"t={t}: W group {g} (Krylov) on directions {prev.start}..{prev.stop - 1}, "
                                  f"images {cols.start}..{k - 1}")
                elif fresh_w:
                    kind, cols = "fresh", slice(k, k + P)
                    k += P
                    layout.append(f"t={t}: fresh map W group {g} (Cholesky of w H^t-1,t-1), "
                                  f"columns {cols.start}..{k - 1}")
                else:
                    kind, cols = "projected", slice(k, k + P)
                    kr = self._krylov.get(g)
                    known = self._projected.setdefault(g, [] if kr is None else [(kr[0], kr[1])])
                    m = sum(b - a for a, b in known)
                    known.append((k, k + P))
                    k += P
                    layout.append(f"t={t}: W group {g} (projected on the part of h^{t - 1} outside the {m} "
                                  f"directions it is known on), images {cols.start}..{k - 1}")
            udraw = None
            if not merged:
                members = arch.U[u]
                if u not in self._udraw:                          # the group's first step: draw U on its span
                    Xin = problem.x[list(members)].reshape(len(members) * P, D)
                    _, s, Vt = np.linalg.svd(Xin, full_matrices=False)
                    r = int(np.sum(s > 1e-12 * s[0]))
                    E = np.zeros((r, T, P))
                    E[:, list(members), :] = (Xin @ Vt[:r].T).T.reshape(r, len(members), P)
                    self._udraw[u] = (slice(k, k + r), E)
                    if r:
                        layout.append(f"t={t}: U group {u} on the span of its inputs, columns {k}..{k + r - 1}")
                    k += r
                    if r and t >= 1:
                        u_draw_after_0 = True
                if self._udraw[u][0].stop > self._udraw[u][0].start:
                    udraw = u
            steps.append(_Step(t=t, u=udraw, kind=kind, group=g, cols=cols, merged=merged, m=m))
            created.append(slice(k0, k))
        self.steps = tuple(steps)
        self.layout = tuple(layout)
        self.K = K = k
        if N < K:
            raise ValueError(f"N={N} is invalid for this problem; the reduction needs N >= K = {K} "
                             f"(the number of independent Gaussian directions)")
        self.N = N
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
        K = self.K
        B = {u: self._su * X[..., :, c] for u, (c, _) in self._udraw.items() if c.stop > c.start}
        Wm = {}
        for g, (j0, j1, i0, i1) in self._krylov.items():     # W_g on the probed basis vectors
            Wm[g] = np.zeros_like(X)
            Wm[g][..., :, j0:j1] = self._sw[g] * X[..., :, i0:i1]
        known = {}                                            # W group -> (V_g, W_g V_g), projected groups
        for g in self._projected:
            if g in self._krylov:
                j0, j1, i0, i1 = self._krylov[g]
                known[g] = (np.broadcast_to(np.eye(K)[:, j0:j1], X.shape[:-2] + (K, j1 - j0)),
                            Wm[g][..., :, j0:j1])
            else:
                known[g] = (np.zeros(X.shape[:-2] + (K, 0)), np.zeros(X.shape[:-2] + (K, 0)))
        g_list, cache = [], []
        prev = None
        for st in self.steps:
            cur, c = None, {}
            if st.u is not None:
                cur = B[st.u] @ self._udraw[st.u][1][:, st.t, :]
            if st.kind == "fresh":
                if st.t == 0:
                    Sig = self.Ctt[0]
                elif st.merged:
                    Sig = self.Ctt[st.t] + self._w[st.group] * np.swapaxes(prev, -1, -2) @ prev
                else:
                    Sig = self._w[st.group] * np.swapaxes(prev, -1, -2) @ prev
                L = np.linalg.cholesky(Sig)
                c["L"] = L
                out = X[..., :, st.cols] @ np.swapaxes(L, -1, -2)
            elif st.kind == "krylov":
                out = Wm[st.group] @ prev
            elif st.kind == "projected":
                A, Y = known[st.group]
                if st.m:
                    cc = np.swapaxes(A, -1, -2) @ prev
                    nn = prev - A @ cc
                else:
                    cc, nn = None, prev
                L = np.linalg.cholesky(np.swapaxes(nn, -1, -2) @ nn)
                Linv = np.linalg.inv(L)
                Q = nn @ np.swapaxes(Linv, -1, -2)
                Yn = self._sw[st.group] * X[..., :, st.cols]
                out = Yn @ np.swapaxes(L, -1, -2)
                if st.m:
                    out = Y @ cc + out
                c.update(A=A, Y=Y, c=cc, n=nn, L=L, Linv=Linv, Q=Q, Yn=Yn)
                shape = np.broadcast_shapes(A.shape[:-1], Q.shape[:-1])
                known[st.group] = (np.concatenate([np.broadcast_to(A, shape + A.shape[-1:]),
                                                   np.broadcast_to(Q, shape + Q.shape[-1:])], axis=-1),
                                   np.concatenate([np.broadcast_to(Y, shape + Y.shape[-1:]),
                                                   np.broadcast_to(Yn, shape + Yn.shape[-1:])], axis=-1))
            else:
                out = None
            cur = out if cur is None else (cur if out is None else cur + out)
            g_list.append(cur)
            cache.append(c)
            prev = cur
        return np.concatenate(g_list, axis=-1), (Wm, g_list, cache)

    def _states_adjoint(self, X, cache, Gbar):
        """Gradient with respect to X of a function of G, given dF/dG = Gbar."""
        P = self.problem.P
        Wm, g, steps_cache = cache
        Xbar = np.zeros_like(X)
        gbar = [Gbar[..., :, t * P:(t + 1) * P] for t in range(self.problem.T)]
        Wbar = {gr: np.zeros_like(X) for gr in Wm}
        Bbar = {}
        size = {gr: sum(b - a for a, b in cols) for gr, cols in self._projected.items()}
        Abar = {gr: np.zeros(X.shape[:-1] + (size[gr],)) for gr in self._projected}
        Ybar = {gr: np.zeros(X.shape[:-1] + (size[gr],)) for gr in self._projected}
        for st in reversed(self.steps):
            t, lam, c = st.t, gbar[st.t], steps_cache[st.t]
            if st.u is not None:
                term = lam @ self._udraw[st.u][1][:, t, :].T
                Bbar[st.u] = term if st.u not in Bbar else Bbar[st.u] + term
            if st.kind == "fresh":
                L = c["L"]
                Xt = X[..., :, st.cols]
                Xbar[..., :, st.cols] = lam @ L
                if t == 0:
                    continue
                Lbar = np.tril(np.swapaxes(lam, -1, -2) @ Xt)
                Sbar = self._cholesky_adjoint(L, Lbar, P)
                gbar[t - 1] = gbar[t - 1] + 2.0 * self._w[st.group] * g[t - 1] @ Sbar
            elif st.kind == "krylov":
                Wbar[st.group] += lam @ np.swapaxes(g[t - 1], -1, -2)
                gbar[t - 1] = gbar[t - 1] + np.swapaxes(Wm[st.group], -1, -2) @ lam
            elif st.kind == "projected":
                gr, m = st.group, st.m
                L, Linv, Q, Yn, nn = c["L"], c["Linv"], c["Q"], c["Yn"], c["n"]
                Ynbar = Ybar[gr][..., m:m + P] + lam @ L
                Z = Abar[gr][..., m:m + P] @ Linv                   # Q = n L^-T
                Lbar = np.tril(np.swapaxes(lam, -1, -2) @ Yn - np.swapaxes(Z, -1, -2) @ Q)
                nbar = Z + 2.0 * nn @ self._cholesky_adjoint(L, Lbar, P)
                Gp = nbar
                if m:
                    A, Y, cc = c["A"], c["Y"], c["c"]
                    cbar = np.swapaxes(Y, -1, -2) @ lam - np.swapaxes(A, -1, -2) @ nbar
                    Ybar[gr][..., :m] += lam @ np.swapaxes(cc, -1, -2)
                    Abar[gr][..., :m] += g[t - 1] @ np.swapaxes(cbar, -1, -2) - nbar @ np.swapaxes(cc, -1, -2)
                    Gp = Gp + A @ cbar
                gbar[t - 1] = gbar[t - 1] + Gp
                Xbar[..., :, st.cols] += self._sw[gr] * Ynbar
        for gr, (j0, j1, i0, i1) in self._krylov.items():
            total = Wbar[gr][..., :, j0:j1]
            if gr in self._projected:                           # the Krylov images are the start of W_g V_g
                total = total + Ybar[gr][..., :, :j1 - j0]
            Xbar[..., :, i0:i1] += self._sw[gr] * total
        for u, term in Bbar.items():
            Xbar[..., :, self._udraw[u][0]] += self._su * term
        return np.triu(Xbar)

    @staticmethod
    def _cholesky_adjoint(L, Lbar, P):
        """Sigma_bar for L = chol(Sigma), given L_bar (lower): L^-T Phi(L^T Lbar) L^-1, symmetrised."""
        Phi = np.tril(np.swapaxes(L, -1, -2) @ Lbar)
        Phi = Phi - 0.5 * np.eye(P) * Phi
        Linv = np.linalg.inv(L)
        Sbar = np.swapaxes(Linv, -1, -2) @ Phi @ Linv
        return 0.5 * (Sbar + np.swapaxes(Sbar, -1, -2))

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
        Km = readout_kernel(pr, H)
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
        Km = readout_kernel(pr, H)
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


def output_draws(problem: Problem, H) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the outputs f given the kernel, for a stack of kernels ``H`` (..., TP, TP).

    The readout v ~ N(0, v I) is independent of the hidden states, so given h
    (of a real network, or of a reduced draw) ``f = h^T v / N`` is Gaussian,
    ``N(0, v H / N)``, and conditioning on ``y_S = f_S + N(0, kappa/N)`` gives
    exactly (``derivations/exact_reduction.tex``, "The readout integrates out")

        E[f | H, y]   = v H_{:S} (v H_SS + kappa I)^-1 y_S
        Var[f | H, y] = (1/N) v diag(H - v H_{:S} (v H_SS + kappa I)^-1 H_{S:})

    Returned with shape (..., T, P) each, the variance *without* its factor
    1/N (N is not an argument: multiply by 1/N).  Averaging the conditional mean over draws is the
    Rao-Blackwellised posterior mean of f.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    Km = readout_kernel(problem, H)
    HS = H[..., :, idx]                                                           # (..., n, |S|)
    alpha = np.linalg.solve(Km, np.broadcast_to(problem.y_S, Km.shape[:-1])[..., None])        # (..., |S|, 1)
    mean = problem.v * (HS @ alpha)[..., 0]
    KiHS = np.linalg.solve(Km, np.swapaxes(HS, -1, -2))                           # (..., |S|, n)
    var = problem.v * (np.diagonal(H, axis1=-2, axis2=-1) - problem.v * np.sum(HS * np.swapaxes(KiHS, -1, -2), -1))
    shape = H.shape[:-2] + (problem.T, problem.P)
    return mean.reshape(shape), np.maximum(var, 0.0).reshape(shape)


class _DrawsResult:
    """What the sampler results share: the verdict, the draws as ArviZ InferenceData, NetCDF output.

    Subclasses are frozen dataclasses with ``problem``, ``N``, ``draws``
    (chains, samples, TP, TP: sign-fixed kernels), ``f_draws`` (chains,
    samples, T, P), ``diagnostics`` (:class:`~linkernel.finite_n.diagnostics.Diagnostics`).
    """

    @property
    def converged(self) -> bool:
        """R-hat <= 1.01 (>= 2 chains), bulk ESS >= 100 for every entry, no divergences."""
        return self.diagnostics.converged

    @property
    def warnings(self) -> tuple:
        """The failed checks, one line each (empty when converged)."""
        return self.diagnostics.warnings

    def _sample_stats(self) -> dict:
        return {}

    def to_inference_data(self):
        """``arviz.InferenceData``: posterior draws of the kernel entries ``H`` (dims t, p, t2, p2: the
        entry H_{pp2}^{t t2}), the order parameter ``m`` and the outputs ``f`` (t, p); the Z2 sign of every
        draw fixed as in ``kernel``; sampler statistics where the sampler has them."""
        from linkernel.finite_n.diagnostics import inference_data
        pr = self.problem
        C, S = self.draws.shape[:2]
        Hd = self.draws.reshape(C, S, pr.T, pr.P, pr.T, pr.P)
        m = (kernel_entry(self.draws, pr.T - 1, pr.T - 2, pr.P) if pr.T > 1 else np.zeros((C, S)))
        coords = {"t": np.arange(pr.T), "p": np.arange(pr.P), "t2": np.arange(pr.T), "p2": np.arange(pr.P)}
        dims = {"H": ["t", "p", "t2", "p2"], "f": ["t", "p"], "m": []}
        attrs = {"linkernel_result": type(self).__name__, "N": int(self.N), "problem": _json(pr.to_dict()),
                 "sign_convention": "Z2 sign fixed per draw: m = H^{T-1,T-2} >= 0 and every shared group's m_g >= 0",
                 "f": "E[f | H, y] per draw (the readout integrated out exactly)"}
        return inference_data({"H": Hd, "m": m, "f": self.f_draws}, coords, dims, self._sample_stats(), attrs)

    def save(self, path) -> str:
        """Write :meth:`to_inference_data` as NetCDF (``arviz.InferenceData.to_netcdf``); returns the path."""
        import os
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"path={path!r} is invalid; the folder {folder} does not exist")
        self.to_inference_data().to_netcdf(path)
        return path


def _json(d) -> str:
    from linkernel.serialize import dumps
    return dumps(d, indent=None)


@dataclass(frozen=True, eq=False)
class ExactResult(_DrawsResult):
    """The exact finite-N posterior of a problem, by HMC on the reduced variables.

    ``kernel`` (TP, TP): posterior mean of H = (1/N) h.h, each draw brought to
    the Z2 representative with m = H^{T-1,T-2} >= 0 (and every shared group's
    m_g >= 0; :func:`~linkernel.problem.fix_z2_sign`) before averaging;
    ``stderr`` its Monte Carlo standard error, ``ess`` the bulk effective
    sample size and ``rhat`` the rank-normalised split R-hat of every entry
    (:mod:`linkernel.finite_n.diagnostics`; ``rhat`` is None for one chain:
    undefined).  ``order_parameter``: posterior mean of m (same sign
    convention), with ``order_parameter_stderr``; ``order_parameters``: each
    shared W group's ``m_g = H^{t_g, t_g-1}`` as ``{group: (mean, stderr)}``.
    ``predictions`` (T, P): posterior-mean outputs E f (the conditional mean
    given H, exact, averaged over draws: :func:`output_draws`), with
    ``predictions_stderr`` (its MCSE) and ``predictions_sd`` (the posterior
    standard deviation of f itself, conditional variance included).
    ``samples`` draws per chain after ``warmup``; ``acceptance`` mean
    Metropolis acceptance; ``divergences`` divergent transitions after
    warm-up; ``n_gradients`` gradient evaluations per chain;
    ``diagnostics`` the verdict (``converged``, ``warnings``); ``draws`` the
    sign-fixed kernel draws (chains, samples, TP, TP) and ``f_draws`` (chains,
    samples, T, P), not in :meth:`to_dict` (see :meth:`to_inference_data`, :meth:`save`).
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

    @property
    def max_rhat(self) -> float | None:
        """Largest R-hat over entries; None for one chain (undefined)."""
        return self.diagnostics.max_rhat

    @property
    def min_ess(self) -> float | None:
        return self.diagnostics.min_ess

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
                 format_matrix(self.kernel), "Monte Carlo standard errors:", format_matrix(self.stderr, "{:10.2e}"),
                 f"order parameter m = {self.order_parameter:.6g} +- {self.order_parameter_stderr:.2g}"]
        if not (pr.arch.is_rnn or pr.arch.is_dnn) and self.order_parameters:
            lines.append("shared groups: " + "   ".join(
                f"m_{g} = H^({pr.arch.order_pair(g)[0]},{pr.arch.order_pair(g)[1]}) (steps "
                f"{','.join(map(str, pr.arch.W[g]))}) = {m:.6g} +- {s:.2g}"
                for g, (m, s) in self.order_parameters.items()))
        lines.append("posterior-mean outputs f (rows t, columns p; +- MCSE):")
        lines.append(_format_f(self.predictions, self.predictions_stderr))
        d = self.diagnostics
        rh = "R-hat n/a (1 chain)" if d.max_rhat is None else f"max R-hat {d.max_rhat:.4f}"
        es = "n/a" if d.min_ess is None else f"{d.min_ess:.0f}"
        lines.append(f"{self.chains} chains x {self.samples} draws: min ESS {es}, {rh}, "
                     f"acceptance {self.acceptance:.2f}, divergences {self.divergences}, {self.seconds:.2f} s")
        if not self.converged:
            lines.append("WARNING: not converged: " + "; ".join(self.warnings))
        return "\n".join(lines)

    __str__ = summary


def _format_f(f, se) -> str:
    f, se = np.atleast_2d(f), np.atleast_2d(se)
    return "\n".join("  t=%-3d " % t + "  ".join(f"{a:10.5g} +- {b:.2g}" for a, b in zip(f[t], se[t]))
                     for t in range(f.shape[0]))


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} is invalid; {name} must be an integer >= {low}")
    return int(value)


def summarize_draws(problem: Problem, Hd: np.ndarray) -> dict:
    """Per-entry statistics of sign-fixed kernel draws ``Hd`` (chains, samples, TP, TP) and their outputs.

    Returns kernel, stderr, ess (bulk), rhat (None for one chain), m (mean, stderr), the shared groups'
    m_g, and the outputs f: draws (chains, samples, T, P), mean, stderr, sd (:func:`output_draws`).
    """
    from linkernel.finite_n.diagnostics import entry_stats
    n = problem.n
    C, S = Hd.shape[:2]
    iu = np.triu_indices(n)
    st = entry_stats(Hd[:, :, iu[0], iu[1]])

    def sym(v):
        out = np.empty((n, n))
        out[iu] = v
        out[iu[1], iu[0]] = v
        return out

    fm, fv = output_draws(problem, Hd)
    fst = entry_stats(fm)
    m = kernel_entry(Hd, problem.T - 1, problem.T - 2, problem.P) if problem.T > 1 else np.zeros((C, S))
    mst = entry_stats(m[..., None])
    groups = {}
    for g in problem.arch.shared_groups():
        mg = kernel_entry(Hd, *problem.arch.order_pair(g), problem.P)
        groups[g] = (float(mg.mean()), float(entry_stats(mg[..., None])["mcse"][0]))
    return {"kernel": Hd.mean(axis=(0, 1)), "stderr": np.nan_to_num(sym(st["mcse"]), nan=0.0),
            "ess": sym(st["ess_bulk"]), "rhat": None if st["rhat"] is None else sym(st["rhat"]),
            "ess_all": np.concatenate([st["ess_bulk"], fst["ess_bulk"].ravel(), mst["ess_bulk"]]),
            "rhat_all": None if st["rhat"] is None else np.concatenate([st["rhat"], fst["rhat"].ravel(),
                                                                        mst["rhat"]]),
            "m": (float(m.mean()), float(np.nan_to_num(mst["mcse"][0]))), "groups": groups,
            "f_draws": fm, "f_var": fv, "f": fm.mean(axis=(0, 1)), "f_stderr": np.nan_to_num(fst["mcse"], nan=0.0)}


def _finish_outputs(stats: dict, N: int) -> np.ndarray:
    """Posterior sd of f: sqrt(E Var(f | H) + Var E(f | H)), the conditional variance being (1/N) per unit."""
    fm, fv = stats["f_draws"], stats["f_var"]
    return np.sqrt(fv.mean(axis=(0, 1)) / N + fm.reshape(-1, *fm.shape[2:]).var(axis=0))


def exact_posterior(problem: Problem, N, chains: int = 4, samples: int = 1000, warmup: int = 1000,
                    seed: int = 0, progress: bool = True, target_accept: float = 0.9,
                    warn: bool = True) -> ExactResult:
    """The exact posterior mean kernel of ``problem`` at width ``N`` (HMC on the reduced variables).

    Any weight-sharing pattern (:class:`~linkernel.architecture.Architecture`).
    Conventions as in :class:`~linkernel.problem.Problem` (T hidden states
    t = 0..T-1, muP scaling, H rows t*P+p).  ``chains`` HMC chains of
    ``warmup + samples`` iterations each, started around the posterior mode
    with the Laplace covariance as initial metric (:func:`initial_metric`:
    corrected along a soft direction), then Stan's windowed adaptation of a
    dense metric pooled over chains and dual averaging of the step size
    towards ``target_accept`` (:func:`linkernel.finite_n.mcmc.hmc`).  Where
    the posterior is soft along one direction (near a critical point) the
    chains move in sheared coordinates that straighten its curvature and
    Gaussianise its quartic tails, exactly (:class:`~linkernel.finite_n.mcmc.ShearMap`).
    The cost per effective sample does not depend on N (``N <= N_MAX``), at
    lambda_c too (``benchmarks/exact_fig3.py``).
    A :class:`~linkernel.finite_n.diagnostics.SamplerWarning` (one line) is
    emitted when the run did not converge (R-hat > 1.01, bulk ESS < 100 or
    divergences; ``result.converged``, ``result.warnings``); ``warn=False``
    leaves it to the caller.
    """
    from linkernel import validation
    require_problem("problem", problem)
    chains = _check_int("chains", chains, 1)
    samples = _check_int("samples", samples, 10)
    warmup = _check_int("warmup", warmup, 0)
    seed = validation.seed("seed", seed)
    target_accept = validation.probability("target_accept", target_accept, 0.0, 1.0)
    N = _count_N(N)
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
        from linkernel.errors import ConvergenceError
        raise ConvergenceError(f"the exact reduction found no usable posterior mode ({e}); the posterior is "
                               f"too sharp or ill-conditioned at kappa={problem.kappa:g}, N={N}: increase kappa "
                               "or decrease lambda") from None
    init = theta0 + 1.5 * rng.normal(size=(chains, red.dim)) @ Lc.T
    try:
        ch = hmc(red.log_posterior_and_grad, init, Lc, n_samples=samples, n_warmup=warmup,
                 seed=int(rng.integers(2 ** 31)), progress=progress, desc=f"exact N={red.N}",
                 target_accept=target_accept, soft_direction=soft)
    except (np.linalg.LinAlgError, ValueError) as e:
        from linkernel.errors import ConvergenceError
        raise ConvergenceError(f"HMC on the exact reduction could not start ({e}) at kappa={problem.kappa:g}, "
                               f"N={N}: increase kappa or decrease lambda") from None
    Hd = fix_z2_sign(problem, red.kernel(ch.theta))                  # (chains, samples, n, n)
    st = summarize_draws(problem, Hd)
    from linkernel.finite_n.diagnostics import assess, warn as _warn
    diag = assess(st["ess_all"], st["rhat_all"], ch.divergences, chains, samples)
    if warn:
        _warn(diag, f"exact_posterior (N={red.N}, {chains} chains x {samples} draws after {warmup} warm-up)",
              advice="increase warmup and samples" + ("" if chains > 1 else ", use >= 2 chains"))
    return ExactResult(
        problem=problem, N=red.N, kernel=st["kernel"], stderr=st["stderr"], ess=st["ess"], rhat=st["rhat"],
        order_parameter=st["m"][0], order_parameter_stderr=st["m"][1],
        predictions=st["f"], chains=chains, samples=samples, warmup=warmup,
        acceptance=float(ch.accept.mean()), divergences=ch.divergences, n_gradients=ch.n_grad,
        seconds=time.perf_counter() - t0, draws=Hd, order_parameters=st["groups"],
        predictions_stderr=st["f_stderr"], predictions_sd=_finish_outputs(st, red.N), f_draws=st["f_draws"],
        diagnostics=diag, step_size=float(ch.step_size[0]))

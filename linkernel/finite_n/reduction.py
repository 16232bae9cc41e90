"""The exact rotation-invariant reduction of the finite-width posterior of linear networks (any weight sharing).

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

Its sampler is :func:`linkernel.finite_n.exact.exact_posterior`; the 1/N expansion in its
variables is :func:`linkernel.finite_n.finite_width.finite_width` (``method="reduced"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import minimize

from linkernel.problem import Problem, fix_z2_sign
from linkernel.threads import entry_point
from linkernel.validation import count


def count_width(N) -> int:
    """The width N: an integer >= 1 (a float with an integer value is accepted)."""
    return count("N", N)


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

    The constructor is one pass over the steps t = 0..T-1 (~90 lines, on purpose): each step's kind
    (fresh map, Krylov, projected, U draw) depends on what the earlier steps drew and on the running
    column count, the state of the module doc's rules; split, that state would be passed around.
    """

    def __init__(self, problem: Problem, N):
        self.problem = problem
        N = count_width(N)
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
        # W_g on the probed basis vectors j0:j1 only, (..., K, j1 - j0): the rest of W_g's matrix in the basis is
        # zero, and the full K x K product cost K / (j1 - j0) times more (T = 4: 4x, most of a gradient)
        Wm = {g: self._sw[g] * X[..., :, i0:i1] for g, (j0, j1, i0, i1) in self._krylov.items()}
        known = {}                                            # W group -> (V_g, W_g V_g), projected groups
        for g in self._projected:
            if g in self._krylov:
                j0, j1, i0, i1 = self._krylov[g]
                known[g] = (np.broadcast_to(np.eye(K)[:, j0:j1], X.shape[:-2] + (K, j1 - j0)), Wm[g])
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
                j0, j1 = self._krylov[st.group][:2]
                out = Wm[st.group] @ prev[..., j0:j1, :]
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
        Wbar = {gr: np.zeros_like(W) for gr, W in Wm.items()}
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
                j0, j1 = self._krylov[st.group][:2]
                Wbar[st.group] += lam @ np.swapaxes(g[t - 1][..., j0:j1, :], -1, -2)
                gp = np.array(gbar[t - 1])                     # a copy: gbar[t - 1] may be a view of Gbar
                gp[..., j0:j1, :] += np.swapaxes(Wm[st.group], -1, -2) @ lam
                gbar[t - 1] = gp
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
            total = Wbar[gr]
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

    def _readout(self, HS):
        """K = v H_SS + kappa I from the supervised block H_SS (..., |S|, |S|).

        The same as :func:`linkernel.theory.action.readout_kernel` of the whole kernel.
        """
        pr = self.problem
        return pr.v * HS + pr.kappa * np.eye(HS.shape[-1])

    def _supervised_kernel(self, G):
        """H_SS = G_S^T G_S (..., |S|, |S|): the likelihood reads H on the supervised rows only."""
        GS = G[..., :, self.S]
        return np.swapaxes(GS, -1, -2) @ GS

    def _likelihood(self, HS, need_grad: bool):
        """(log p(y_S | H), its gradient with respect to H_SS or None), given H_SS."""
        pr = self.problem
        Km = self._readout(HS)
        Lk = np.linalg.cholesky(Km)
        logdet = 2.0 * np.sum(np.log(np.diagonal(Lk, axis1=-2, axis2=-1)), axis=-1)
        alpha = np.linalg.solve(Km, np.broadcast_to(self.y, Km.shape[:-1])[..., None])[..., 0]
        ll = -0.5 * logdet - 0.5 * self.N * np.sum(self.y * alpha, axis=-1)
        if not need_grad:
            return ll, None
        Kinv = np.linalg.inv(Km)
        return ll, -0.5 * pr.v * Kinv + 0.5 * self.N * pr.v * alpha[..., :, None] * alpha[..., None, :]

    def log_likelihood(self, theta) -> np.ndarray:
        """log p(y_S | theta) with the readout integrated out, up to a constant."""
        G, _ = self.states(self.unpack(theta))
        return self._likelihood(self._supervised_kernel(G), False)[0]

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
        # the likelihood reads H = G^T G on the supervised rows only: H_SS and dF/dG in the S columns
        # (the full G^T G and G (Hbar + Hbar^T) were most of a gradient's cost at T = 4, |S| = TP / 4)
        HS = self._supervised_kernel(G)
        ll, HSbar = self._limit_likelihood(HS) if limit else self._likelihood(HS, True)
        Gbar = np.zeros_like(G)
        Gbar[..., :, self.S] = G[..., :, self.S] @ (HSbar + np.swapaxes(HSbar, -1, -2))
        Xbar = self._states_adjoint(X, cache, Gbar)
        N = 1.0 if limit else self.N
        dof = 1.0 if limit else self.dof
        off, s = theta[..., :self.n_off], theta[..., self.n_off:]
        d = np.arange(self.K)
        lp = -0.5 * N * np.sum(off ** 2, axis=-1) + np.sum(dof * s - 0.5 * N * np.exp(2 * s), axis=-1) + ll
        grad = np.concatenate([-N * off + Xbar[..., self.iu[0], self.iu[1]],
                               dof - N * np.exp(2 * s) + Xbar[..., d, d] * X[..., d, d]], axis=-1)
        return lp, grad

    def _limit_likelihood(self, HS):
        Km = self._readout(HS)
        alpha = np.linalg.solve(Km, np.broadcast_to(self.y, Km.shape[:-1])[..., None])[..., 0]
        return (-0.5 * np.sum(self.y * alpha, axis=-1),
                0.5 * self.problem.v * alpha[..., :, None] * alpha[..., None, :])

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
        """-d^2 log p / d theta^2 by central differences of the analytic gradient (symmetrised).

        The rows are evaluated in batches of about 128 MiB of K x K intermediates (K = T P): all dim
        rows at once needed 26 GiB for the digits task (dim = 20910, K = 204).  ``K`` is the reduction's
        kernel size (:attr:`K`).
        """
        theta = np.asarray(theta, dtype=float)
        chunk = max(1, 2 ** 27 // (8 * self.K * self.K))
        Hs = np.empty((self.dim, self.dim))
        for i in range(0, self.dim, chunk):
            j = min(self.dim, i + chunk)
            E = np.zeros((j - i, self.dim))
            E[np.arange(j - i), np.arange(i, j)] = eps
            _, gp = self.log_posterior_and_grad(theta + E, limit=limit)
            _, gm = self.log_posterior_and_grad(theta - E, limit=limit)
            Hs[i:j] = -(gp - gm) / (2 * eps)
        return 0.5 * (Hs + Hs.T)


@entry_point
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


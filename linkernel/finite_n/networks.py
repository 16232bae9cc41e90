"""Real finite-width linear networks (derivations/rnn_T4_P1.tex, "Model and task"), any weight-sharing pattern, batched over chains.

The weights of ``C`` independent copies (MCMC chains) of one network are held
in *whitened* (prior-preconditioned) coordinates ``Z``: every entry of every
``Z`` has prior N(0, 1), and the physical weights are

    W_g = sqrt(w_g/N) Z_{W_g},    U_u = sqrt(u/D) Z_{U_u},    v = sqrt(v) z_v

(muP / mean-field scaling; the readout is ``f = (1/N) v . h``).  There is one
matrix per W group and per U group of the :class:`~linkernel.architecture.Architecture`
(``w_g`` the group's own variance): the RNN has one ``W`` and one ``U``, the
DNN ``U^(t)`` for ``t = 0..T-1`` and ``W^(t)`` for ``t = 1..T-1``.  Hidden
states are ``h_p^0 = U x_p^0``, ``h_p^t = W^(t) h_p^{t-1} + U^(t) x_p^t`` and the
kernel is ``H = h^T h / N`` in the ordering ``t * P + p`` (:func:`linkernel.problem.index`).

Names: ``"v"``; a group's matrix is ``"W"`` / ``"U"`` when it is the only one
of its kind (and not part of a layer), otherwise ``"W{s}"`` / ``"U{s}"`` with
``s`` its first step.  Gibbs *blocks*: ``"v"``; a *layer* ``"L{t}"`` =
``[W^(t), U^(t)]`` where both are used at step t only (the DNN layer; ``L0`` is
``[U^(0)]`` when ``W^(1)`` is such a layer's); every other group on its own,
under its matrix's name.  Update order: v, then by last step, latest first
(a U group before a W group ending at the same step): RNN v, U, W; DNN v,
L_{T-1} .. L_0.

The likelihood depends on the weights only through the supervised outputs
``f_S``.  For one block (the others held fixed) the Jacobian
``J = d f_S / dZ_block`` has the low-rank form

    J_k = A coef_k B^T       (A: (C, n1, ma), B: (C, n2, mb), coef: (k, ma, mb))

a sum of outer products of *backward vectors* ``r^{t->s}`` (A; f_p^t depends on
h^s as ``(1/N) r^{t->s} . h_p^s``, with ``r^{t->t} = v`` and
``r^{t->s-1} = W^(s)T r^{t->s}``) and forward vectors (B: the states ``h^{s-1}``
a W group acts on, the inputs ``x^s`` of a U group).  ``r^{t->s}`` depends only
on which groups act at steps ``s+1..t``, its *key*; the RNN's are
``(W^T)^{t-s} v``.  :class:`Factors` does the three things a sampler needs with
it (``J z``, ``J J^T``, ``J^T c``) in O(n1 n2 (ma + mb)) work and never forms J.
A block may consist of several arrays sharing A (a layer ``[W^(t), U^(t)]``
acting on ``[h^{t-1}; x^t]``): then B has one part per array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkernel.problem import Problem


def add_outer(A: np.ndarray, M: np.ndarray, B: np.ndarray) -> None:
    """``A[c] += M[c] B[c]^T`` for every chain c, in place (BLAS gemm on the Fortran view: no N x N temporary).

    ``A`` (C, n1, n2) C-contiguous, ``M`` (C, n1, m), ``B`` (C, n2, m), any float dtypes (cast to A's)."""
    from scipy.linalg.blas import get_blas_funcs
    gemm = get_blas_funcs("gemm", (A,))
    for c in range(A.shape[0]):
        out = gemm(1.0, B[c].astype(A.dtype), M[c].astype(A.dtype), beta=1.0, c=A[c].T, trans_b=1, overwrite_c=1)
        if not np.shares_memory(out, A[c]):       # BLAS made a copy (A not contiguous): write it back
            A[c] = out.T


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


@dataclass(frozen=True, eq=False)
class Block:
    """One Gibbs block: ``kind`` "v", "layer", "U" or "W"; the Z names it updates (``arrays``); the
    steps its arrays act at; its W and U group indices; the keys of its backward vectors (A's columns);
    ``coef`` (k, len(keys), mb) of its Jacobian; ``lo``: first state column of B (W blocks)."""

    name: str
    kind: str
    arrays: tuple
    steps: tuple
    wgroup: int | None
    ugroup: int | None
    keys: tuple = ()
    coef: np.ndarray | None = field(default=None, repr=False)
    lo: int = 0


class Network:
    """``chains`` copies of a linear network of width ``N`` for ``problem``, weights drawn from the prior.

    Any weight-sharing pattern (``problem.arch``).  ``dtype`` (float64 or
    float32) is the precision of the weights and hidden states; small
    matrices (Grams, kernels, acceptance ratios) are float64.  Weights are
    drawn in the order v, then step by step the matrices first used there
    (U before W): RNN v, U, W; DNN v, U0, U1, W1, U2, W2, ...  ``lazy``: the
    N x N matrices of the DNN's layers (a W used at one step, in a layer block) are
    instead drawn only where they are read (the forward pass draws ``W^(t) h^{t-1}``'s
    directions, fresh N(0, 1) there; the rest when :attr:`Z` or :meth:`array` reads it):
    the same prior, another order of draws, no N^2 work or memory until then.
    """

    def __init__(self, problem: Problem, N: int, chains: int, rng: np.random.Generator, dtype=np.float64,
                 lazy: bool = False):
        self.problem, self.N, self.C, self.dtype = problem, int(N), int(chains), np.dtype(dtype)
        arch = problem.arch
        T, D = problem.T, problem.D
        # Python floats: a NumPy float64 scalar would promote float32 arrays to float64 (NEP 50)
        self.sws = [float(np.sqrt(var / N)) for var in arch.group_variances(problem.w)]
        self.su, self.sv = (float(np.sqrt(a)) for a in (problem.u / D, problem.v))
        self.x = [np.ascontiguousarray(problem.x[t].T, dtype=self.dtype) for t in range(T)]  # (D, P)
        self.has_input = [bool(np.any(problem.x[t] != 0)) for t in range(T)]
        self.S = problem.supervised_index
        self.y = problem.y_S.astype(np.float64)
        self.s2 = problem.kappa / N      # noise variance of f_S (muP)
        self.k = len(self.S)
        self.w_of = [None] + [arch.w_group(t) for t in range(1, T)]
        self.u_of = [next(i for i, g in enumerate(arch.U) if t in g) for t in range(T)]
        single_w = [len(g) == 1 for g in arch.W]
        layer = [len(arch.U[self.u_of[t]]) == 1 and (single_w[self.w_of[t]] if t >= 1 else
                                                     (T >= 2 and single_w[self.w_of[1]])) for t in range(T)]
        in_layer_w = {self.w_of[t] for t in range(1, T) if layer[t]}
        in_layer_u = {self.u_of[t] for t in range(T) if layer[t]}
        self.wname = ["W" if len(arch.W) == 1 and g not in in_layer_w else f"W{arch.W[g][0]}"
                      for g in range(len(arch.W))]
        self.uname = ["U" if len(arch.U) == 1 and u not in in_layer_u else f"U{arch.U[u][0]}"
                      for u in range(len(arch.U))]
        draw = lambda *shape: rng.standard_normal((self.C,) + shape, dtype=self.dtype)  # noqa: E731
        self.rng = rng
        self._Z, self._known, self._shape = {"v": draw(N, 1)}, {}, {}
        for t in range(T):
            if arch.U[self.u_of[t]][0] == t:
                self._Z[self.uname[self.u_of[t]]] = draw(N, D)
            if t >= 1 and arch.W[self.w_of[t]][0] == t:
                name = self.wname[self.w_of[t]]
                self._shape[name] = (N, N)
                if lazy and self.w_of[t] in in_layer_w:    # drawn where the forward pass reads it
                    self._known[name] = (np.zeros((self.C, N, 0)), np.zeros((self.C, N, 0)), None)
                else:
                    self._Z[name] = draw(N, N)
        self._blocks = self._make_blocks(layer)
        self._r = {}                     # backward vectors by key, valid for the current weights
        self.forward()

    # --- the weights: stored, or known on a subspace ----------------------------------
    # _Z: the stored arrays.  _known: name -> (Y, E, base), the array known exactly on the orthonormal
    # columns E (C, n2, m) only, Z E = Y (C, n1, m) float64; off E it is base's (the stored array, whose
    # part on E is stale), or, base None, not drawn yet: iid N(0, 1) there, independent of Y (the prior,
    # and the posterior given everything f sees, :class:`~linkernel.finite_n.network_moves.LayerMove`),
    # drawn when something reads the array.  The DNN's collapsed move changes each N x N layer only on
    # the frame and reads nothing else: no pass over N^2 entries between two reads.

    @property
    def Z(self) -> dict:
        """The whitened weights by name, each (C, rows, cols), every array known on a subspace written first."""
        for name in list(self._known):
            self._write(name)
        return self._Z

    def array(self, name: str) -> np.ndarray:
        """``Z[name]``, written first if it is known on a subspace (the other arrays left as they are)."""
        if name in self._known:
            self._write(name)
        return self._Z[name]

    def _write(self, name: str) -> None:
        """Store the full array ``name``: ``base + (Y - base E) E^T``, base drawn from N(0, 1) if None."""
        Y, E, base = self._known.pop(name)
        if base is None:
            base = self.rng.standard_normal((self.C,) + self._shape[name], dtype=self.dtype)
        if E.shape[-1]:
            add_outer(base, Y - np.matmul(base, E.astype(self.dtype)).astype(np.float64), E)
        self._Z[name] = base

    def matmul(self, name: str, V: np.ndarray) -> np.ndarray:
        """``Z[name] V`` for V (C, n2, k), in V's dtype, without writing an array known on a subspace that
        holds V's columns (one not drawn off it is drawn on V's new directions only: fresh N(0, 1) there)."""
        k = self._known.get(name)
        if k is None:
            return np.matmul(self._Z[name], V)
        Y, E, base = k
        Vd = V.astype(np.float64)
        c = np.swapaxes(E, 1, 2) @ Vd
        R, scale = Vd - E @ c, max(np.max(np.abs(Vd), initial=0.0), 1e-300)
        if np.max(np.abs(R), initial=0.0) <= 1e-11 * scale:
            return (Y @ c).astype(V.dtype)
        if base is None and self._extend(name, R, 1e-8 * float(np.max(np.linalg.norm(Vd, axis=1)))):
            Y, E, _ = self._known[name]
            return (Y @ (np.swapaxes(E, 1, 2) @ Vd)).astype(V.dtype)
        return np.matmul(self.array(name), V)

    def _extend(self, name: str, R: np.ndarray, tol: float) -> bool:
        """Draw an array not drawn off its E on the directions of R (C, n2, k), off E (singular values of R
        up to ``tol``: rounding, no direction); False (nothing done) where the chains' ranks differ."""
        Y, E, _ = self._known[name]
        F, s, _ = np.linalg.svd(R, full_matrices=False)
        rank = np.sum(s > tol, axis=1)
        if np.any(rank != rank[0]):
            return False
        if rank[0] == 0:
            return True
        F = F[:, :, :rank[0]]
        F = F - E @ (np.swapaxes(E, 1, 2) @ F)            # orthogonal to E to rounding, then orthonormal
        F = np.linalg.qr(F)[0]
        Ynew = self.rng.standard_normal((self.C, Y.shape[1], F.shape[2]))
        self._known[name] = (np.concatenate([Y, Ynew], axis=2), np.concatenate([E, F], axis=2), None)
        return True

    def known(self, name: str, E: np.ndarray) -> np.ndarray:
        """``Z[name] E`` (C, n1, m) float64 for orthonormal columns E (C, n2, m); the array is then held known
        on E (:meth:`set_known` with the same E object is free).  One pass over a stored array; none over
        an array not drawn off a subspace of span(E) (its new directions drawn)."""
        k = self._known.get(name)
        if k is not None and k[2] is None:
            Y = self.matmul(name, E).astype(np.float64)
            k = self._known.get(name)
            if k is not None and k[2] is None and k[1].shape[2] == E.shape[2]:     # span(E) is all it knows
                self._known[name] = (Y, E, None)
            return Y
        Y = np.matmul(self.array(name), E.astype(self.dtype)).astype(np.float64)
        self._known[name] = (Y, E, self._Z[name])
        return Y

    def set_known(self, name: str, Y: np.ndarray, E: np.ndarray, fresh: bool = False) -> None:
        """``Z[name] := Z (I - E E^T) + Y E^T`` (E orthonormal (C, n2, m), Y (C, n1, m)), not written until read.

        ``fresh``: off E the array is instead redrawn from N(0, 1) (its old part there dropped, drawn when
        read).  Free after :meth:`known` or :meth:`set_known` with the same E object; otherwise the array
        is written first (one pass)."""
        if fresh:
            self._Z.pop(name, None)
            self._known[name] = (Y, E, None)
            return
        k = self._known.get(name)
        if k is not None and k[1] is E:
            self._known[name] = (Y, E, k[2])
            return
        self._known[name] = (Y, E, self.array(name))

    # --- structure -----------------------------------------------------------------
    def _key(self, s: int, t: int) -> tuple:
        """Key of r^{t->s}: the W groups acting at steps s+1..t."""
        return tuple(self.w_of[s + 1:t + 1])

    def _make_blocks(self, layer) -> dict:
        arch, T, P, N = self.problem.arch, self.problem.T, self.problem.P, self.N
        tS, pS = self.S // P, self.S % P
        specs = []                                     # (name, kind, arrays, steps, wgroup, ugroup)
        for t in range(T):
            if layer[t]:
                g = self.w_of[t] if t >= 1 else None
                arrays = ((self.wname[g],) if t >= 1 else ()) + (self.uname[self.u_of[t]],)
                specs.append((f"L{t}", "layer", arrays, (t,), g, self.u_of[t]))
        for u, members in enumerate(arch.U):
            if not (len(members) == 1 and layer[members[0]]):
                specs.append((self.uname[u], "U", (self.uname[u],), tuple(members), None, u))
        for g, members in enumerate(arch.W):
            if not (len(members) == 1 and layer[members[0]]):
                specs.append((self.wname[g], "W", (self.wname[g],), tuple(members), g, None))
        specs.sort(key=lambda s: (-max(s[3]), s[1] == "W"))
        blocks = {"v": Block("v", "v", ("v",), tuple(range(T)), None, None)}
        for name, kind, arrays, steps, g, u in specs:
            keys = []
            for s in steps:
                for t in range(s, T):
                    if self._key(s, t) not in keys:
                        keys.append(self._key(s, t))
            keys = sorted(keys, key=len)
            index = {key: i for i, key in enumerate(keys)}
            # B: a layer's h^{t-1} (or x^t); a U group's inputs; a W group's states from its first use on
            lo = (min(steps) - 1) * P if kind == "W" else 0
            mb = {"layer": P, "U": len(steps) * P, "W": T * P - lo}[kind]
            coef = np.zeros((self.k, len(keys), mb))
            for kk, (t, p) in enumerate(zip(tS, pS)):
                for i, s in enumerate(steps):
                    if s > t:
                        continue
                    b = {"layer": p, "U": i * P + p, "W": (s - 1) * P + p - lo}[kind]
                    coef[kk, index[self._key(s, t)], b] = 1.0 / N
            blocks[name] = Block(name, kind, arrays, steps, g, u, tuple(keys), coef, lo)
        return blocks

    def block(self, name: str) -> Block:
        return self._blocks[name]

    def blocks(self) -> list:
        """The Gibbs blocks in update order: v, then by last step, latest first (RNN v, U, W; DNN v, L_{T-1} .. L_0)."""
        return list(self._blocks)

    def block_arrays(self, name: str) -> list:
        return [self.array(a) for a in self._blocks[name].arrays]

    def is_linear(self, name: str) -> bool:
        """Whether f_S is affine in the block (exact Gaussian conditional): all but W groups used at several steps."""
        b = self._blocks[name]
        return not (b.kind == "W" and len(b.steps) >= 2)

    # --- forward and backward passes -------------------------------------------
    def _ux(self, t):
        return np.matmul(self.array(self.uname[self.u_of[t]]), self.su * self.x[t])      # (C, N, P)

    def forward(self) -> None:
        """Recompute the hidden states ``h`` (C, N, TP) and outputs ``f`` (C, TP) from the weights.

        Also forgets the backward vectors (they are recomputed when next needed).
        """
        T, P = self.problem.T, self.problem.P
        h = np.empty((self.C, self.N, T * P), dtype=self.dtype)
        h[:, :, :P] = self._ux(0)
        for t in range(1, T):
            g = self.w_of[t]
            ht = self.matmul(self.wname[g], self.sws[g] * h[:, :, (t - 1) * P:t * P])
            if self.has_input[t]:
                ht += self._ux(t)
            h[:, :, t * P:(t + 1) * P] = ht
        self.h = h
        self.f = self.readout(h)
        self.fS = self.f[:, self.S]     # tracked by the samplers between forward passes
        self._r = {}

    def readout(self, h) -> np.ndarray:
        """``f = (1/N) v . h`` at every (t, p): (C, TP) float64."""
        v = self.sv * self.array("v")[:, :, 0].astype(np.float64)
        return np.einsum("cn,cnk->ck", v, h.astype(np.float64)) / self.N

    @staticmethod
    def _closure(keys) -> list:
        """The keys and all their suffixes (r^{t->s} is built from r^{t->s+1}), shortest first."""
        out = set()
        for key in keys:
            for i in range(len(key) + 1):
                out.add(tuple(key[i:]))
        return sorted(out, key=lambda k: (len(k), k))

    def backward(self, keys=None) -> dict:
        """Backward vectors ``{key: r (C, N, 1)}`` for ``keys`` (default: all) and their suffixes.

        ``r[()] = v``; ``r[(g,) + key] = W_g^T r[key]``.  Cached until the
        weights change (:meth:`forget_backward`, :meth:`forward`); the missing
        ones with the same matrix are computed in one product (the DNN layer:
        all of ``(W^(t))^T [r^{t'->t}]_{t'}`` at once).
        """
        if keys is None:
            keys = [key for b in self._blocks.values() for key in b.keys]
        need = self._closure(keys)
        if () not in self._r:
            self._r[()] = self.sv * self.array("v")
        pending = [k for k in need if k not in self._r]
        while pending:
            groups = {}
            for key in pending:
                if key[1:] in self._r:
                    groups.setdefault(key[0], []).append(key)
            for g, ks in groups.items():
                above = self._r[ks[0][1:]] if len(ks) == 1 else np.concatenate([self._r[k[1:]] for k in ks], axis=2)
                out = np.matmul(self.array(self.wname[g]).transpose(0, 2, 1), self.sws[g] * above)
                for i, key in enumerate(ks):
                    self._r[key] = out[:, :, i:i + 1]
            pending = [k for k in pending if k not in self._r]
        return {k: self._r[k] for k in need}

    def forget_backward(self, group: int | None = None) -> None:
        """Drop the cached backward vectors that involve W group ``group`` (all of them: None, e.g. v changed)."""
        self._r = {} if group is None else {k: r for k, r in self._r.items() if group not in k}

    def keep_backward(self, R: dict, group: int) -> None:
        """After W group ``group`` changed: keep the vectors ``R`` (updated along), forget the other ones it enters."""
        self.forget_backward(group)
        self._r.update(R)

    def set_rows(self, name: str, rows: np.ndarray, znew: np.ndarray, R: dict):
        """Write ``znew`` into rows ``rows`` of W group ``name``; return the new (h, f, R), the old ones untouched.

        ``R``: backward vectors (a dict by key, closed under suffixes, e.g.
        :meth:`backward` of the block's keys); the returned dict has the same
        keys, updated.  Incremental: with Delta = W_g' - W_g supported on the
        rows, the changes of h^t and of r[key] obey
            dh^t = [t in g] E_rows Delta h^{t-1} + W^(t)' dh^{t-1},
            dr[(g0,) + key] = [g0 = g] Delta^T r[key]_rows + W_g0'^T dr[key],
        where dh at g's first step lives on the rows (W' dh there needs only the
        columns ``rows`` of W').  For the RNN: cost O(N rows T) plus 2 (T - 3)
        full matrix-vector products, instead of 2 (T - 1).
        """
        T, P = self.problem.T, self.problem.P
        g = self._blocks[name].wgroup
        sw = self.sws[g]
        ZW = self.array(self.wname[g])
        Delta = sw * (znew - ZW[:, rows, :])                               # (C, r, N)
        ZW[:, rows, :] = znew
        cols = sw * ZW[:, :, rows]                                         # W'[:, rows], (C, N, r)
        h = self.h.copy()
        dh, on_rows = None, False
        for t in range(1, T):
            gt = self.w_of[t]
            d = None
            if gt == g:
                d = np.zeros((self.C, self.N, P), dtype=self.dtype)
                d[:, rows, :] = np.matmul(Delta, self.h[:, :, (t - 1) * P:t * P])
            if dh is not None:
                if on_rows:
                    c = cols if gt == g else self.sws[gt] * self.array(self.wname[gt])[:, :, rows]
                    e = np.matmul(c, dh[:, rows, :])
                else:
                    e = np.matmul(self.array(self.wname[gt]), self.sws[gt] * dh)
                d = e if d is None else d + e
            if d is not None:
                h[:, :, t * P:(t + 1) * P] += d
            on_rows = dh is None and d is not None
            dh = d
        R2, dr = dict(R), {}
        for key in sorted(R, key=lambda k: (len(k), k)):
            if not key:
                continue
            g0, sub = key[0], key[1:]
            e = None
            if g0 == g:
                e = np.matmul(Delta.transpose(0, 2, 1), R[sub][:, rows, :])
            if sub in dr:
                term = np.matmul(self.array(self.wname[g0]).transpose(0, 2, 1), self.sws[g0] * dr[sub])
                e = term if e is None else e + term
            if e is not None:
                R2[key] = R[key] + e
                dr[key] = e
        return h, self.readout(h), R2

    def kernel(self) -> np.ndarray:
        """The empirical kernels ``H = h^T h / N`` of the chains, (C, TP, TP) float64."""
        h = self.h.astype(np.float64)
        return np.matmul(h.transpose(0, 2, 1), h) / self.N

    # --- Jacobians ---------------------------------------------------------------
    def factors(self, name: str, R=None, rows=None) -> Factors:
        """The Jacobian of f_S with respect to block ``name`` (rows ``rows`` of a W group) at the current state.

        ``R``: the backward vectors (dict by key, :meth:`backward`; from the cache when None).
        """
        P, N = self.problem.P, self.N
        if name == "v":
            coef = np.zeros((self.k, self.problem.T * P, 1))
            coef[np.arange(self.k), self.S, 0] = 1.0 / N
            return Factors(self.h, [np.full((self.C, 1, 1), self.sv, dtype=self.dtype)], coef)
        b = self._blocks[name]
        R = self.backward(b.keys) if R is None else R
        A = R[b.keys[0]] if len(b.keys) == 1 else np.concatenate([R[key] for key in b.keys], axis=2)
        if rows is not None:
            A = A[:, rows, :]
        if b.kind == "W":
            return Factors(A, [self.sws[b.wgroup] * self.h[:, :, b.lo:]], b.coef)
        if b.kind == "U":
            X = np.concatenate([self.su * self.x[s] for s in b.steps], axis=1)       # (D, |steps| P)
            return Factors(A, [np.broadcast_to(X, (self.C,) + X.shape)], b.coef)
        t = b.steps[0]
        xin = np.broadcast_to(self.su * self.x[t], (self.C,) + self.x[t].shape)
        Bs = [xin] if t == 0 else [self.sws[b.wgroup] * self.h[:, :, (t - 1) * P:t * P], xin]
        return Factors(A, Bs, b.coef)     # Bs in the order of block_arrays: [W^(t), U^(t)]

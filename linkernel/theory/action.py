"""The large-N kernel action S(H), its gradient and Hessian-vector product (derivations/rnn_T4_P1.tex, "The action" and "Saddle-point equations").

    S(H) = KL( N(0, H) || N(0, Sigma(H)) ) + 1/2 y_S^T (v H_SS + kappa I)^{-1} y_S

    Sigma(H)_{pp'}^{tt'} = C_{pp'}^{tt'} + w M^{tt'} H_{pp'}^{t-1,t'-1}   (t, t' >= 1)

``H`` is ``(TP, TP)`` in the ordering of :func:`linkernel.problem.index`.
The posterior of H is ``exp(-N S(H))``: S is an action per neuron.

Derivatives are with respect to *symmetric* perturbations: the gradient is
the symmetric matrix G with ``dS = tr(G dH)``; the Hessian acts on symmetric
directions.  :func:`to_vector`/:func:`from_vector` map symmetric matrices to
coordinates in an orthonormal basis (Frobenius metric: off-diagonal entries
carry a factor sqrt(2)), in which the Hessian is a symmetric matrix whose
eigenvalues do not depend on the ordering of entries.

One implementation: :class:`Pieces` factors H, Sigma(H) and K = v H_SS + kappa I
once (Cholesky) and gives S, dS/dH and the Hessian-vector product; the
functions :func:`action`, :func:`gradient`, :func:`hessian_vector`,
:func:`kl_term`, :func:`likelihood_term` and :func:`predictions` are
one-line wrappers over it.  :class:`Constants` (:func:`static`) holds a
Problem's H-independent arrays once, and gives them at another lambda with
``.at(lam)``.  The dense Hessian and its eigenpairs are in
:mod:`linkernel.theory.hessian`, the same formulas in mpmath in
:mod:`linkernel.theory.highprec`.

:mod:`linkernel.symbolic.action` builds the same formula in SymPy; the tests hold the
two against each other.
"""

from __future__ import annotations

import weakref
from functools import cached_property, lru_cache

import numpy as np
from scipy.linalg import solve_triangular

from linkernel.errors import KernelError
from linkernel.problem import Problem
from linkernel.threads import one_thread


# --- the problem's constant arrays, computed once per Problem -----------------
_CONSTANTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Constants:
    """The H-independent arrays that S, its gradient and Hessian read, computed once; ``y_S`` per lambda.

    A :class:`~linkernel.problem.Problem` builds its derived arrays on first
    use and ``with_(lam=...)`` validates a new Problem, which along a path in
    lambda (continuation) costs more than the linear algebra at T = 4.  A
    Constants holds the arrays once; :meth:`at` gives them at another lambda
    in O(|S|), since only the targets ``y_S = lam * yhat_S`` depend on lambda.

    It stands in for the Problem wherever :class:`Pieces`,
    :func:`linkernel.theory.hessian.dense_hessian`,
    :func:`~linkernel.theory.hessian.lowest_eigenpairs` and the like read one:
    it has the Problem's names ``n, P, T, v, kappa, lam, input_kernel,
    recurrent_mask, supervised_index, yhat_S, y_S, odd_mask``, and any other
    attribute is read from the real Problem at its lambda
    (``problem.with_(lam=lam)``, built on first such use).

    Short names, what :class:`Pieces` reads (n = TP, kernel rows ``t*P + p``):

    ``C``     input kernel, (n, n)
    ``R``     recurrent mask ``w_g M`` (zero in the t = 0 rows and columns), (n, n)
    ``RP``    ``R[P:, P:]``, the weights of the shift ``(t-1, t'-1) -> (t, t')``
    ``idx``   supervised kernel rows (the order of S); ``ix = np.ix_(idx, idx)``
    ``yhat``  unscaled targets ``yhat_S``; ``y = lam * yhat`` the targets ``y_S``
    ``odd``   (n, n) bool, the entries odd under some Z2 flip

    The arrays are shared by a Constants and its :meth:`at` copies: read-only.
    Get the one of a Problem by :func:`static` (cached per Problem).
    """

    def __init__(self, problem: Problem):
        self._base = problem
        self.n, self.P, self.T = problem.n, problem.P, problem.T
        self.v, self.kappa, self.lam = problem.v, problem.kappa, float(problem.lam)
        self.C = _frozen(np.ascontiguousarray(problem.input_kernel, dtype=float))
        self.R = _frozen(np.ascontiguousarray(problem.recurrent_mask, dtype=float))
        self.RP = _frozen(np.ascontiguousarray(self.R[self.P:, self.P:]))
        self.idx = problem.supervised_index
        self.ix = np.ix_(self.idx, self.idx)
        self.yhat = _frozen(np.array([problem.yhat[t, p] for t, p in problem.supervised], dtype=float))
        self.y = problem.y_S
        self.odd = problem.odd_mask

    # the Problem's names, so that a Constants can stand in for it
    input_kernel = property(lambda self: self.C)
    recurrent_mask = property(lambda self: self.R)
    supervised_index = property(lambda self: self.idx)
    yhat_S = property(lambda self: self.yhat)
    y_S = property(lambda self: self.y)
    odd_mask = property(lambda self: self.odd)

    def at(self, lam: float) -> "Constants":
        """The same constants at another lambda: a shallow copy with ``y = lam * yhat`` (O(|S|))."""
        out = object.__new__(Constants)
        out.__dict__.update(self.__dict__)
        out.lam = float(lam)
        out.y = out.lam * self.yhat
        out.__dict__.pop("_real", None)
        return out

    def __getattr__(self, name):
        # only called for names not set above: read them from the real Problem at this lambda
        if name.startswith("__") or name in ("_base", "_real"):
            raise AttributeError(name)
        real = self.__dict__.get("_real")
        if real is None:
            base = self._base
            real = self.__dict__["_real"] = base if float(base.lam) == self.lam else base.with_(lam=self.lam)
        return getattr(real, name)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def static(problem) -> Constants:
    """The :class:`Constants` of a Problem, computed once per Problem (a Constants is its own)."""
    if isinstance(problem, Constants):
        return problem
    try:
        return _CONSTANTS[problem]
    except (KeyError, TypeError):
        st = Constants(problem)
        try:
            _CONSTANTS[problem] = st
        except TypeError:
            pass
        return st


# --- the map H -> Sigma(H) and its adjoint ----------------------------------
def _shift(st: Constants, E: np.ndarray) -> np.ndarray:
    """L(E): ``w_g M^{tt'} E^{t-1,t'-1}`` in the ``t, t' >= 1`` blocks, zero elsewhere.

    The weights ``w_g M`` are :attr:`Problem.recurrent_mask` (the architecture's
    groups and their variances).
    """
    P = st.P
    out = np.zeros_like(E)
    np.multiply(E[:-P, :-P], st.RP, out=out[P:, P:])
    return out


def _shift_adjoint(st: Constants, G: np.ndarray) -> np.ndarray:
    """L*(G), the Frobenius adjoint of :func:`_shift`: ``tr(G L(E)) = tr(L*(G) E)``."""
    P = st.P
    out = np.zeros_like(G)
    np.multiply(G[P:, P:], st.RP, out=out[:-P, :-P])
    return out


def _sigma(st: Constants, H: np.ndarray) -> np.ndarray:
    """C + L(H), written into a copy of C."""
    P = st.P
    Sig = st.C.copy()
    Sig[P:, P:] += H[:-P, :-P] * st.RP
    return Sig


def _shift_powers(st: Constants) -> list:
    """[(m P, W_m)] for m = 1, 2, 4, .. < T: S^m(E)[i + mP, j + mP] = W_m[i, j] E[i, j] (S = :func:`_shift`).

    W_1 = ``RP`` and W_2m[i, j] = W_m[i, j] W_m[i + mP, j + mP] (the weights along the path of m
    shifts).  Cached on the Constants (shared by its :meth:`Constants.at` copies); read-only.
    """
    got = st.__dict__.get("_powers")
    if got is None:
        got, P, m, W = [], st.P, 1, st.RP
        while m < st.T:
            got.append((m * P, W))
            W = _frozen(W[:-m * P, :-m * P] * W[m * P:, m * P:]) if 2 * m < st.T else None
            m *= 2
        st.__dict__["_powers"] = got
    return got


def sigma(problem: Problem, H: np.ndarray) -> np.ndarray:
    """Sigma(H) = C + w_g M * H^{t-1,t'-1}: the prior covariance of h given the kernel H."""
    return _sigma(static(problem), np.asarray(H, dtype=float))


def prior_kernel(problem: Problem) -> np.ndarray:
    """The lambda = 0 (NNGP) kernel: the fixed point H = Sigma(H).

    Sigma^{tt'} depends on H only at earlier times, so T forward
    substitutions reach the fixed point exactly.  Every computation starts
    here, so a problem whose prior kernel is not a usable float64 matrix
    (entries u w^t |x|^2 beyond 1e+-200, or not positive definite) is refused
    here, naming w and u: KernelError, a ValueError.
    """
    H = problem.input_kernel.copy()
    with np.errstate(all="ignore"):
        for _ in range(problem.T):
            H = sigma(problem, H)
    d = np.abs(np.diag(H))
    usable = bool(np.all(np.isfinite(H)) and d.min() >= KERNEL_RANGE[0] and d.max() <= KERNEL_RANGE[1])
    if usable:
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            usable = False
    if not usable:
        raise KernelError(f"w={problem.w!r}, u={problem.u!r} are invalid for this problem: its prior kernel "
                          f"(entries u w^t |x|^2, from {d.min():.3g} to {d.max():.3g}) is not positive definite "
                          "within float64 range (1e-200..1e200); rescale w, u or the inputs x")
    return H


# --- Frobenius products on one BLAS thread (threads.one_thread says why) ------------------------------
def frobenius(X: np.ndarray, Y: np.ndarray) -> float:
    """<X, Y>_F = sum_ij X_ij Y_ij (one thread, :func:`one_thread`)."""
    with one_thread(X.shape[0]):
        return float(np.vdot(X, Y))


def frobenius_norm(X: np.ndarray) -> float:
    """|X|_F (one thread, :func:`one_thread`)."""
    with one_thread(X.shape[0]):
        return float(np.linalg.norm(X))


def lower_sandwich(L: np.ndarray, X: np.ndarray, transpose: bool = False) -> np.ndarray:
    """``L X L^T`` (or ``L^T X L`` with ``transpose``) for a lower-triangular L, by two triangular products.

    BLAS trmm takes half the flops of a general product: the pair costs 30 ms against 48 ms at
    n = 610 (one thread), and the whitened Hessian and its preconditioner are 8 of their 15 products
    such sandwiches.  Equal to the general products to rounding (2e-15 relative).  The result is a
    Fortran-ordered array, or for a C-ordered X the transpose of one (a C-ordered view).  Below n = 64
    the general products are used (the two BLAS calls' overhead made a T P = 4 saddle point 5% slower).
    """
    if L.shape[0] < 64:
        return L.T @ X @ L if transpose else L @ X @ L.T
    X = np.asarray(X, dtype=float)
    if not X.flags.f_contiguous and X.flags.c_contiguous:
        # L X L^T = (L X^T L^T)^T for any X, and X^T is the Fortran-ordered view of a C-ordered X: no
        # transposing copy (np.asfortranarray cost 8 ms a call at n = 1024, 14 s of a 214 s saddle point)
        return lower_sandwich(L, X.T, transpose).T
    from scipy.linalg.blas import dtrmm
    U = np.asarray(L, dtype=float).T                  # Fortran-ordered, upper triangular: L = U^T
    b = X if X.flags.f_contiguous else np.asfortranarray(X)
    if transpose:
        return dtrmm(1.0, U, dtrmm(1.0, U, b, side=0, lower=0, trans_a=0), side=1, lower=0, trans_a=1,
                     overwrite_b=1)
    return dtrmm(1.0, U, dtrmm(1.0, U, b, side=0, lower=0, trans_a=1), side=1, lower=0, trans_a=0, overwrite_b=1)


# --- checks -----------------------------------------------------------------
def _cholesky(A: np.ndarray, what: str) -> np.ndarray:
    try:
        with one_thread(A.shape[0]):
            return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise KernelError(f"{what} is not positive definite") from None


#: the diagonal of a kernel must lie within this range (the prior kernel's too): S, dS/dH and the
#: whitened Hessian are then finite in float64 (1e308 I overflowed the symmetrisation and gave NaN).
KERNEL_RANGE = (1e-200, 1e200)


def check_kernel(problem: Problem, H) -> np.ndarray:
    """Return H as a float array, raising KernelError unless it is a symmetric PD (TP, TP) matrix.

    Its diagonal must lie within :data:`KERNEL_RANGE` (KernelError naming the range otherwise).
    """
    H = np.asarray(H, dtype=float)
    n = problem.n
    if H.shape != (n, n):
        raise KernelError(f"kernel has shape {H.shape}; expected (TP, TP) = ({n}, {n})")
    if not np.all(np.isfinite(H)):
        raise KernelError("kernel has non-finite entries")
    d = np.diag(H)
    lo, hi = KERNEL_RANGE
    if d.min() > 0 and not (d.min() >= lo and d.max() <= hi):
        raise KernelError(f"kernel H has diagonal entries from {d.min():.3g} to {d.max():.3g}; allowed: a positive "
                          f"definite matrix with diagonal within {lo:g}..{hi:g} (float64 range for S and its "
                          "derivatives); rescale the problem (u, w, the inputs)")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(H).max())):
        raise KernelError("kernel is not symmetric")
    _cholesky(H, "kernel H")
    return 0.5 * H + 0.5 * H.T       # not (H + H^T) / 2: that overflows for entries near 1e308


# --- the readout kernel -------------------------------------------------------
def readout_kernel(problem: Problem, H) -> np.ndarray:
    """K = v H_SS + kappa I: the covariance of the outputs on the supervised set (one home).

    ``H`` may be a stack ``(..., TP, TP)``; returns ``(..., |S|, |S|)``.  The
    likelihood term is 1/2 y_S^T K^-1 y_S and the predictions v H_{*S} K^-1 y_S.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    return problem.v * H[..., idx[:, None], idx[None, :]] + problem.kappa * np.eye(len(idx))


# --- the pieces at one kernel: S, its gradient and Hessian-vector product (once) ------------
def _chol_inverse(L: np.ndarray):
    """(M^-1, L^-1) for M = L L^T."""
    Li = solve_triangular(L, np.eye(L.shape[0]), lower=True)
    out = Li.T @ Li
    return 0.5 * (out + out.T), Li


def _spd_inverse(L: np.ndarray) -> np.ndarray:
    """M^-1 for M = L L^T (L lower) by LAPACK potri: a third of the flops of L^-T L^-1 as two products."""
    from scipy.linalg.lapack import dpotri
    with one_thread(L.shape[0]):
        X, info = dpotri(L, lower=1)
    if info:
        raise KernelError("a Cholesky factor is singular")
    X = np.tril(X)
    X += np.tril(X, -1).T
    return np.ascontiguousarray(X)


class Pieces:
    """Sigma^-1, H^-1, K^-1, a = K^-1 y_S at one kernel: what S, its gradient and Hessian share.

    Built once per kernel (three Cholesky factorisations and Sigma^-1), then
    :meth:`action`, :meth:`gradient` and :meth:`hessian_vector` cost a few
    n x n products.  ``Hinv``, ``AH`` and ``LH_inv`` are computed on first use:
    a trial point that only needs S (a rejected trust-region step) never pays
    for them.  ``problem``: a Problem or a :class:`Constants` (kept as
    ``self.problem``); ``check=False`` skips :func:`check_kernel` (symmetry,
    shape, finiteness) for a caller whose H is symmetric by construction.
    Raises :class:`~linkernel.errors.KernelError` if H or Sigma(H) is not PD.

    Attributes: ``H``, ``LH`` (H = LH LH^T), ``LH_inv``, ``Hinv``, ``Sigma``,
    ``A`` = Sigma^-1, ``AH`` = A H, ``K`` = v H_SS + kappa I, ``Kinv``, ``a``,
    ``logdet_H``, ``logdet_Sigma``; and the constants ``R, RP, idx, ix, y, v``.
    """

    def __init__(self, problem, H: np.ndarray, check: bool = True):
        H = check_kernel(problem, H) if check else np.asarray(H, dtype=float)
        st = static(problem)
        self.problem, self.H, self.n, self.P = problem, H, st.n, st.P
        self.R, self.RP, self.idx, self.ix, self.y = st.R, st.RP, st.idx, st.ix, st.y
        self.v = st.v
        self._st = st
        self.LH = _cholesky(H, "kernel H")
        Sig = _sigma(st, H)
        Ls = _cholesky(Sig, "Sigma(H)")
        self.Sigma = Sig
        self.A = _spd_inverse(Ls)
        K = self.v * H[self.ix] + st.kappa * np.eye(len(self.idx))   # readout_kernel, without a copy of H
        with one_thread(self.n):
            self.Kinv = np.linalg.inv(K)
        self.K = K
        self.a = self.Kinv @ self.y
        self.logdet_H = 2.0 * float(np.sum(np.log(np.diag(self.LH))))
        self.logdet_Sigma = 2.0 * float(np.sum(np.log(np.diag(Ls))))

    @cached_property
    def Hinv(self) -> np.ndarray:
        """H^-1."""
        return _spd_inverse(self.LH)

    @cached_property
    def inverse_norm_bound(self) -> float:
        """An upper bound on |H^-1|_2 = 1 / lambda_min(H): min(|H^-1|_F, |H^-1|_1) (|M|_2 <= both, M symmetric)."""
        Hi = self.Hinv
        with one_thread(self.n):
            return min(float(np.linalg.norm(Hi)), float(np.abs(Hi).sum(axis=0).max()))

    @cached_property
    def condition_bound(self) -> float:
        """An upper bound on cond_2(H) = |H|_2 |H^-1|_2: min(|H|_F, |H|_1) :attr:`inverse_norm_bound`.

        The product of Frobenius norms alone is n at H = c I, which sent every product of a TP = 1024
        saddle point to whitened coordinates for no rounding reason.  O(n^2), given ``Hinv``.
        """
        H = self.H
        with one_thread(self.n):
            norm = min(float(np.linalg.norm(H)), float(np.abs(H).sum(axis=0).max()))
        return norm * self.inverse_norm_bound

    @cached_property
    def LH_inv(self) -> np.ndarray:
        """L^-1 (H = L L^T), lower triangular."""
        from scipy.linalg.lapack import dtrtri
        with one_thread(self.n):
            Li, info = dtrtri(self.LH, lower=1)
        return np.ascontiguousarray(np.tril(Li))

    @cached_property
    def AH(self) -> np.ndarray:
        """Sigma^-1 H."""
        return self.A @ self.H

    # the shift and its adjoint (the mask R carries w_g and the sharing pattern)
    def shift(self, E):
        """L(E) (:func:`_shift`)."""
        return _shift(self._st, E)

    def shift_adjoint(self, G):
        """L*(G) (:func:`_shift_adjoint`)."""
        return _shift_adjoint(self._st, G)

    # (1 - shift)^-1 and its adjoint: the shift S is nilpotent (S^T = 0), so (1 - S)^-1 = sum_k S^k
    # = prod_j (1 + S^(2^j)) over 2^j < T: log2(T) whole-array passes (the pass over block rows it replaces
    # was T Python iterations, 10.6 s of a 62 s chain T = 16 search); the weights of S^m are cached
    def unshift(self, E):
        """(1 - shift)^-1 E: X with X - shift(X) = E."""
        X = np.array(E, dtype=float)
        for mP, W in _shift_powers(self._st):
            X[mP:, mP:] += W * X[:-mP, :-mP]
        return X

    def unshift_adjoint(self, G):
        """(1 - shift*)^-1 G: Y with Y - shift_adjoint(Y) = G."""
        Y = np.array(G, dtype=float)
        for mP, W in _shift_powers(self._st):
            Y[:-mP, :-mP] += W * Y[mP:, mP:]
        return Y

    def prior_metric_inverse(self, G):
        """M^-1 G for the Gauss-Newton form of the KL curvature, M = (1 - shift)* (H^-1 (x) H^-1)/2 (1 - shift).

        At a kernel with Sigma(H) = H (the prior's fixed point) M *is* the KL
        term's Hessian: there d2 KL[E] = 1/2 |H^-1/2 (E - shift E) H^-1/2|^2.
        Elsewhere it is a preconditioner that takes out the temporal coupling
        (1 - shift), whose singular values fall like 1/T for w ~ 1 and which makes
        the whitened Hessian's condition grow with T (at T = 8, P = 4: 184 -> 17;
        T = 16 sequence: 485 -> 4).  SPD; cost two n x n products.
        """
        Y = self.unshift_adjoint(G)
        X = self.unshift(2.0 * self.H @ Y @ self.H)
        return 0.5 * (X + X.T)

    def whitened_preconditioner(self, g):
        """:meth:`prior_metric_inverse` in whitened coordinates: ``L^-1 M^-1[L^-T g L^-1] L^-T``."""
        Li = self.LH_inv
        X = lower_sandwich(Li, self.prior_metric_inverse(lower_sandwich(Li, g, transpose=True)))
        return 0.5 * (X + X.T)

    def _trace_AH(self) -> float:
        """tr(Sigma^-1 H) as sum(A * H) (both symmetric): no product needed."""
        return frobenius(self.A, self.H)

    def kl_term(self) -> float:
        """KL( N(0,H) || N(0,Sigma(H)) ) = 1/2 [tr(Sigma^-1 H) - ln det(Sigma^-1 H) - TP]."""
        return float(0.5 * (self._trace_AH() - self.logdet_H + self.logdet_Sigma - self.n))

    def likelihood_term(self) -> float:
        """1/2 y_S^T K^-1 y_S, K = v H_SS + kappa I."""
        return float(0.5 * self.y @ self.a)

    def action(self) -> float:
        """S(H) = KL term + likelihood term."""
        kl = 0.5 * (self._trace_AH() - self.logdet_H + self.logdet_Sigma - self.n)
        return float(kl + 0.5 * self.y @ self.a)

    def predictions(self) -> np.ndarray:
        """Posterior-mean outputs f* = v H_{*S} K^-1 y_S at every kernel row, shape (TP,)."""
        return self.v * self.H[:, self.idx] @ self.a

    def gradient(self) -> np.ndarray:
        """dS/dH, the symmetric G with dS = tr(G dH) for symmetric dH (formula: :func:`gradient`)."""
        A = self.A
        G = 0.5 * (A - self.Hinv) + 0.5 * self.shift_adjoint(A - self.AH @ A)
        G[self.ix] -= 0.5 * self.v * np.outer(self.a, self.a)
        return 0.5 * (G + G.T)

    def hessian_vector(self, E: np.ndarray) -> np.ndarray:
        """d(dS/dH) along the symmetric E (formula: :mod:`linkernel.theory.hessian`)."""
        A, AH, Hinv = self.A, self.AH, self.Hinv
        dA = -A @ self.shift(E) @ A
        X = dA @ AH.T                      # dA H A; its transpose is A H dA
        inner = dA - X
        inner -= X.T
        inner -= A @ E @ A
        dG = Hinv @ E @ Hinv
        dG += dA
        dG += self.shift_adjoint(inner)
        dG *= 0.5
        da = -self.v * self.Kinv @ (E[self.ix] @ self.a)
        dG[self.ix] -= 0.5 * self.v * (np.outer(da, self.a) + np.outer(self.a, da))
        return 0.5 * (dG + dG.T)

    def whitened_hessian_vector(self, X: np.ndarray) -> np.ndarray:
        """The Hessian in whitened coordinates H + L X L^T (H = L L^T): ``L^T d2S[L X L^T] L``.

        Congruent to the Hessian, so it has the same inertia (Sylvester).  The
        KL curvature term L^T H^-1 E H^-1 L is X itself (L^T H^-1 L = I), which
        saves two products and the rounding of H^-1 against :meth:`hessian_vector`.
        """
        L, A, AH = self.LH, self.A, self.AH
        E = lower_sandwich(L, X)
        E = 0.5 * (E + E.T)
        dA = -A @ self.shift(E) @ A
        Xm = dA @ AH.T                     # dA H A; its transpose is A H dA
        inner = dA - Xm
        inner -= Xm.T
        inner -= A @ E @ A
        M = dA + self.shift_adjoint(inner)
        da = -self.v * self.Kinv @ (E[self.ix] @ self.a)
        M[self.ix] -= self.v * (np.outer(da, self.a) + np.outer(self.a, da))
        Y = lower_sandwich(L, M, transpose=True)
        Y = 0.5 * (Y + Y.T + X + X.T)
        return 0.5 * Y

    def whiten(self, E: np.ndarray) -> np.ndarray:
        """L^-1 E L^-T: a direction dH in whitened coordinates."""
        with one_thread(self.n):
            X = solve_triangular(self.LH, solve_triangular(self.LH, E, lower=True).T, lower=True)
        return 0.5 * (X + X.T)


# --- the action and its derivatives as functions of (problem, H) ---------------------
def kl_term(problem: Problem, H) -> float:
    """KL( N(0,H) || N(0,Sigma(H)) ) = 1/2 [tr(Sigma^-1 H) - ln det(Sigma^-1 H) - TP]."""
    return Pieces(problem, H).kl_term()


def likelihood_term(problem: Problem, H) -> float:
    """1/2 y_S^T (v H_SS + kappa I)^-1 y_S: the readout integrated out (muP, O(N))."""
    return Pieces(problem, H).likelihood_term()


def action(problem: Problem, H) -> float:
    """S(H) = KL term + likelihood term (per neuron; the posterior is exp(-N S))."""
    return Pieces(problem, H).action()


def gradient(problem: Problem, H) -> np.ndarray:
    """dS/dH as the symmetric matrix G with dS = tr(G dH) for symmetric dH.

        G = 1/2 (Sigma^-1 - H^-1) + 1/2 L*(Sigma^-1 - Sigma^-1 H Sigma^-1)
            - v/2 E_S(K^-1 y y^T K^-1),        K = v H_SS + kappa I

    L* masks by w_g M and shifts the ``t, t' >= 1`` blocks back by one step;
    E_S embeds the supervised block.  G = 0 are the saddle-point equations.
    """
    return Pieces(problem, H).gradient()


def hessian_vector(problem: Problem, H, E) -> np.ndarray:
    """Directional derivative of :func:`gradient` along the symmetric direction E."""
    return Pieces(problem, H).hessian_vector(np.asarray(E, dtype=float))


def predictions(problem: Problem, H) -> np.ndarray:
    """Posterior-mean outputs f* = v H_{*S} (v H_SS + kappa I)^-1 y_S at every (t, p), shape (T, P)."""
    return Pieces(problem, H).predictions().reshape(problem.T, problem.P)


# --- coordinates on symmetric matrices --------------------------------------
@lru_cache(maxsize=16)
def upper_triangle(n: int):
    """(i, j, s) of the :func:`to_vector` coordinates: coordinate c is the entry (i[c], j[c]), i <= j.

    The upper triangle row by row; s[c] = 1 on the diagonal, sqrt(2) off it
    (the Frobenius-orthonormal scaling).  Cached per n, read-only arrays.
    """
    i, j = np.triu_indices(n)
    s = np.where(i == j, 1.0, np.sqrt(2.0))
    for a in (i, j, s):
        a.setflags(write=False)
    return i, j, s


def to_vector(M: np.ndarray) -> np.ndarray:
    """Symmetric (n, n) -> n(n+1)/2 coordinates in the Frobenius-orthonormal basis.

    Order: upper triangle row by row; off-diagonal entries scaled by sqrt(2).
    """
    M = np.asarray(M, dtype=float)
    i, j, s = upper_triangle(M.shape[0])
    return s * M[i, j]


def from_vector(vec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`to_vector`: the symmetric (n, n) matrix of n(n+1)/2 coordinates."""
    i, j, s = upper_triangle(n)
    vals = np.asarray(vec, dtype=float) / s
    M = np.empty((n, n))
    M[i, j] = vals
    M[j, i] = vals
    return M


def odd_coordinates(problem: Problem) -> np.ndarray:
    """Boolean mask over the :func:`to_vector` coordinates: True where the entry flips under some Z2.

    Each symmetry ``W_g -> -W_g`` multiplies H^{tt'} by s_t s_t' (for the RNN
    (-1)^(t+t')); in the Frobenius basis it is diagonal, so the coordinates
    split into those even under every flip and the rest
    (:attr:`linkernel.problem.Problem.odd_mask`).
    """
    i, j, _ = upper_triangle(problem.n)
    return problem.odd_mask[i, j]


def m_vector(problem: Problem, group: int | None = None) -> np.ndarray:
    """a with a . to_vector(H) = m(H), the pattern-averaged H^{T-1,T-2} (the gradient of m).

    With ``group``: the gradient of that W group's m_g = H^{t_g, s_g}
    (:meth:`linkernel.problem.Problem.order_parameters`).
    """
    if problem.T < 2:
        raise ValueError(f"T={problem.T} is invalid here; the order parameter needs T >= 2")
    P, n = problem.P, problem.n
    t, s = (problem.T - 1, problem.T - 2) if group is None else problem.arch.order_pair(group)
    E = np.zeros((n, n))
    for p in range(P):
        a, b = t * P + p, s * P + p
        E[a, b] = E[b, a] = 0.5 / P
    return to_vector(E)

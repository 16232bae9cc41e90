"""The exact reduction of a task to the span of its inputs (derivations/span_reduction.tex).

For a linear network the hidden states are linear in the inputs,
``h_p^t = sum_s A_{ts} x_p^s``, so as a vector over patterns every neuron's
``h^t`` lies in the column space V of the stacked inputs ``[X^0, ..., X^{T-1}]``
(P x TD), of dimension ``r <= min(P, T D)``.  Choose a basis ``L`` of V
(P x r, full column rank) and write

    H = (I_T (x) L) Q (I_T (x) L)^T          (TP x TP  <-  Tr x Tr)

The input kernel is ``C = (I_T (x) L) C_Q (I_T (x) L)^T`` with ``C_Q`` the input
kernel of the r "virtual patterns" ``Z^t = L^+ X^t`` (r x D), and the shift of
the action commutes with ``I_T (x) L``, so Sigma(H) lifts the same way.  The KL
term is invariant under the injective linear map ``I_T (x) L``
(push-forward of both Gaussians): it is the same functional of Q.

The likelihood reduces exactly when the supervised set is a *product*
``S = S_T x S_P`` (the same patterns at every supervised step, e.g. whole time
slices) and the supervised patterns' inputs span V.  Then L is chosen so that
``O = L[S_P]`` (the supervised rows) has orthonormal columns; with
``B = I_{S_T} (x) O`` Woodbury gives

    y_S^T (v H_SS + kappa)^-1 y_S = (B^T y)^T (v Q_SS + kappa)^-1 (B^T y) + |y_perp|^2 / kappa

where ``y_perp = (1 - B B^T) y_S``.  The reduced problem is a linkernel
:class:`~linkernel.problem.Problem` with r patterns (inputs ``Z``, labels
``O^T yhat^t[S_P]`` at the supervised steps, every pattern supervised there)
and ``S_full(lift(Q)) = S_red(Q) + lam^2 * offset_unit``, ``offset_unit =
|yhat_perp|^2 / (2 kappa)``.  The same identity holds at every width N in
weight space (the readout's squared error splits the same way), so every
route (saddle point, trace, lambda_c, the 1/N expansion, the exact finite-N
reduction, the network sampler) applies to the reduced Problem unchanged and
its kernels lift back by :meth:`SpanReduction.lift`.

Forms (``SpanReduction.form``):

* ``"orthonormal"``: every pattern supervised at the supervised steps, L = the
  left singular vectors (orthonormal), labels ``U^T yhat``.
* ``"supervised-orthonormal"``: a subset S_P of patterns supervised, L = U R^-1
  with ``U[S_P] = O R`` (QR), so that L[S_P] = O is orthonormal.
* ``"identity"``: nothing to reduce (r = P, every pattern supervised), L = I.

Conditions, checked (ValueError otherwise): S is a product set; the
supervised patterns' inputs span V; the inputs at t = 0 span V (the reduced
Problem, like every Problem, needs linearly independent inputs at t = 0; a
task whose later inputs add new pattern directions has a kernel supported on a
nested, time-dependent subspace, which a Problem does not represent).

A task with P > r cannot be a :class:`Problem` (its TP x TP kernel is singular:
the full action is defined on the support V only, where it equals the reduced
one); build it from arrays with :func:`reduce_data`.

Predictions at new inputs (:meth:`SpanReduction.predict`, :func:`predict`): a new
input (stacked over time) is split into a combination ``c`` of the virtual
patterns' stacked inputs and a residual rho whose input kernel with every
training input vanishes.  ``h(x) = sum_k c_k h(z_k) + h(rho)``; the residual part
is uncorrelated with the training states and unsupervised, so its kernel is
the prior (NNGP) recursion of rho alone.  A new input whose residual still
overlaps the training inputs through a shared U across different steps
(possible only with inputs at several steps) is refused.  At finite width the
same GP is averaged over the kernel's posterior: over a sampler's draws
(ExactResult, NetworkPosterior), or to O(1/N) from the 1/N theory (FiniteWidth)
with the second-order term of the GP mean in the kernel's fluctuations
(derivations/span_reduction.tex, "Predictions at finite width").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from linkernel.problem import Problem

__all__ = ["SpanReduction", "Prediction", "reduce_to_span", "reduce_data", "predict", "prior_kernel_diag",
           "RTOL"]

#: singular values of the stacked inputs below RTOL * the largest are numerical zeros (not in the span).
RTOL = 1e-10


@dataclass(frozen=True)
class Prediction:
    """Posterior-mean outputs at new inputs and their variance, shapes (T, m) (the order of ``yhat``).

    ``mean[t, a] = v H(a_t, S) K^-1 y_S`` and ``variance[t, a] = v H(a_t, a_t) - v^2 H(a_t, S) K^-1 H(S, a_t)``
    with ``K = v H_SS + kappa I``: the GP regression with the learned kernel, in per-neuron units (the
    network output's variance given the kernel is ``variance / N``).  ``residual_norm[a]`` is ``|rho_a|``,
    the part of input a outside the training inputs' span (it adds the prior kernel of rho to the
    variance and nothing to the mean); ``coefficients`` (m, r) the combination of the virtual patterns.

    At finite width (a result of a sampler or of the 1/N theory; ``N`` set) the kernel fluctuates and
    ``mean`` is the posterior mean of the output, ``E_H[mean(H)]``; ``variance`` is then ``E_H[variance(H)]``
    and ``mean_sd`` the standard deviation of ``mean(H)`` over the kernel's posterior, so the network
    output's posterior variance is ``variance / N + mean_sd**2``.  From draws: ``mean_draws`` (chains,
    samples, T, m), each draw's ``mean(H)`` (for Monte Carlo errors, e.g.
    :func:`linkernel.finite_n.diagnostics.mcse`); from the 1/N theory: ``mean = f(H*) + (f'(delta_H) +
    f''[N Cov H] / 2) / N`` and ``mean_sd**2 = f'[N Cov H] f' / N`` (derivations/span_reduction.tex,
    "Predictions at finite width").  A stack of kernels (..., n, n) gives arrays (..., T, m).
    """

    mean: np.ndarray
    variance: np.ndarray
    residual_norm: np.ndarray
    coefficients: np.ndarray
    mean_sd: np.ndarray | None = None
    mean_draws: np.ndarray | None = None
    N: int | None = None


@dataclass(frozen=True, eq=False)
class SpanReduction:
    """A task reduced to the span of its inputs (module docstring; derivations/span_reduction.tex).

    ``problem``: the reduced Problem, r patterns, kernel Q of shape (Tr, Tr) with rows ``t*r + k``.
    ``basis``: L, (P, r); the full kernel is ``H = (I_T (x) L) Q (I_T (x) L)^T`` (:meth:`lift`).
    ``offset_unit``: ``|yhat_perp|^2 / (2 kappa)``; ``S_full = S_red + lam^2 offset_unit`` (:meth:`offset`).
    ``r``, ``P``: span dimension and number of patterns of the full task.
    ``form``: "orthonormal", "supervised-orthonormal" or "identity".
    ``singular_values``: of the stacked inputs [X^0..X^{T-1}] (P x TD), all of them, descending.
    ``supervised_steps``, ``supervised_patterns``: the product S = S_T x S_P of the full task.
    """

    problem: Problem
    basis: np.ndarray
    offset_unit: float
    r: int
    P: int
    form: str
    singular_values: np.ndarray
    supervised_steps: tuple
    supervised_patterns: tuple

    # --- the map between Q (Tr x Tr) and H (TP x TP) -----------------------------------------
    @property
    def T(self) -> int:
        return self.problem.T

    @cached_property
    def basis_pinv(self) -> np.ndarray:
        """L^+ = (L^T L)^-1 L^T, (r, P): Q = (I (x) L^+) H (I (x) L^+)^T for H in the span."""
        return np.linalg.pinv(self.basis)

    def offset(self, lam: float | None = None) -> float:
        """The constant ``S_full - S_red = lam^2 |yhat_perp|^2 / (2 kappa)`` (lam: the reduced problem's)."""
        lam = self.problem.lam if lam is None else lam
        return float(lam) ** 2 * self.offset_unit

    def lift(self, Q: np.ndarray) -> np.ndarray:
        """H = (I_T (x) L) Q (I_T (x) L)^T: (Tr, Tr) -> (TP, TP); a stack (..., Tr, Tr) lifts entrywise."""
        Q = np.asarray(Q, dtype=float)
        T, r, P, L = self.T, self.r, self.P, self.basis
        lead = Q.shape[:-2]
        Q4 = Q.reshape(lead + (T, r, T, r))
        H4 = np.einsum("pk,...akbl,ql->...apbq", L, Q4, L, optimize=True)
        return H4.reshape(lead + (T * P, T * P))

    def restrict(self, H: np.ndarray) -> np.ndarray:
        """Q = (I (x) L^+) H (I (x) L^+)^T: the inverse of :meth:`lift` on kernels in the span."""
        H = np.asarray(H, dtype=float)
        T, r, P, Li = self.T, self.r, self.P, self.basis_pinv
        lead = H.shape[:-2]
        H4 = H.reshape(lead + (T, P, T, P))
        return np.einsum("kp,...apbq,lq->...akbl", Li, H4, Li, optimize=True).reshape(lead + (T * r, T * r))

    def lift_direction(self, G: np.ndarray) -> np.ndarray:
        """The reduced gradient of a full gradient: ``(I (x) L)^T G (I (x) L)`` (tr(G dH) = tr(G_Q dQ))."""
        G = np.asarray(G, dtype=float)
        T, r, P, L = self.T, self.r, self.P, self.basis
        G4 = G.reshape(G.shape[:-2] + (T, P, T, P))
        return np.einsum("pk,...apbq,ql->...akbl", L, G4, L, optimize=True).reshape(G.shape[:-2] + (T * r, T * r))

    def lift_covariance(self, cov4: np.ndarray) -> np.ndarray:
        """A (Tr,)*4 covariance of Q entries lifted to the (TP,)*4 covariance of H entries."""
        T, L = self.T, self.basis
        G = np.kron(np.eye(T), L)                        # (TP, Tr)
        return np.einsum("ia,jb,abcd,kc,ld->ijkl", G, G, np.asarray(cov4), G, G, optimize=True)

    def lift_predictions(self, f: np.ndarray) -> np.ndarray:
        """Outputs at every training (t, p) from the reduced ones: ``f_full^t = L f_red^t``; (T, r) -> (T, P)."""
        return np.asarray(f, dtype=float) @ self.basis.T

    def full_action(self, action_reduced: float, lam: float | None = None) -> float:
        """S of the full task at the lifted kernel: the reduced action plus :meth:`offset`."""
        return float(action_reduced) + self.offset(lam)

    # --- new inputs --------------------------------------------------------------------------
    def predict(self, result_or_kernel, X_new) -> Prediction:
        """Posterior mean and variance at new inputs (:func:`predict` on the reduced problem).

        ``result_or_kernel``: a result of the reduced problem -- SaddlePoint, Minimum, ContinuationPoint
        (its ``kernel``), FiniteWidth (the 1/N theory at its N), a sampler's result with kernel ``draws``
        (ExactResult, NetworkPosterior: every draw's prediction) -- or Q itself (Tr, Tr), a stack of them
        (..., Tr, Tr), or a full kernel (TP, TP) in the span.  ``X_new``: (T, m, D) sequences or (m, D)
        inputs at t = 0 only.
        """
        if _is_kernel(result_or_kernel):
            Q = np.asarray(result_or_kernel, dtype=float)
            if Q.shape[-2:] == (self.T * self.P,) * 2 and self.P != self.r:
                Q = self.restrict(Q)
            return predict(self.problem, Q, X_new)
        # a result carries its own problem: the reduced one, perhaps at another lambda or kappa (with_)
        problem = getattr(result_or_kernel, "problem", None) or self.problem
        if problem.n != self.problem.n or not np.array_equal(np.asarray(problem.x), np.asarray(self.problem.x)):
            raise ValueError(f"the result is of a problem with n = {problem.n} (not this reduction's problem "
                             f"with n = {self.problem.n} and the same inputs); pass a result of reduction.problem")
        draws = getattr(result_or_kernel, "draws", None)
        if draws is not None and np.ndim(draws) == 4 and draws.shape[-1] == self.T * self.P != self.T * self.r:
            from dataclasses import replace
            result_or_kernel = replace(result_or_kernel, draws=self.restrict(draws))
        return predict(problem, result_or_kernel, X_new)

    def summary(self) -> str:
        s = self.singular_values
        kept = s[:self.r]
        return (f"span reduction ({self.form}): P = {self.P} patterns -> r = {self.r} (kernel {self.T * self.P} -> "
                f"{self.T * self.r}); kept singular values {kept[0]:.3g} .. {kept[-1]:.3g}"
                + (f", dropped below {s[self.r]:.3g}" if len(s) > self.r else "")
                + f"; constant |y_perp|^2/(2 kappa) = {self.offset():.6g}")


# --- building a reduction ----------------------------------------------------------------------
def _product_set(S, T: int, P: int):
    steps = tuple(sorted({t for t, _ in S}))
    pats = tuple(sorted({p for _, p in S}))
    if len(S) != len(steps) * len(pats) or set(S) != {(t, p) for t in steps for p in pats}:
        raise ValueError("supervised set is not a product S_T x S_P (the same patterns at every supervised "
                         "step); the span reduction needs one (derivations/span_reduction.tex, "
                         "\"Which supervised sets\"); solve the full problem instead")
    return steps, pats


def reduce_data(arch, T: int, x, supervised, yhat, *, w: float = 1.0, v: float = 1.0, u: float = 1.0,
                kappa: float = 0.1, lam: float = 1.0, name: str = "data", rtol: float = RTOL,
                force: bool = False) -> SpanReduction:
    """The span reduction of a task given as arrays (P may exceed D; module docstring).

    Arguments as :class:`~linkernel.problem.Problem`'s: ``x`` (T, P, D), ``supervised`` (t, p) pairs,
    ``yhat`` (T, P).  ``rtol``: relative cut on the singular values of the stacked inputs.  Where
    nothing is gained (r = P and every pattern supervised) the reduction is the identity unless
    ``force`` (then an orthonormal rotation of the patterns: the tests' check of the identities).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[0] != T:
        raise ValueError(f"x has shape {x.shape}; x must have shape (T, P, D) = ({T}, P, D)")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains non-finite values; inputs must be finite")
    _, P, D = x.shape
    yhat = np.asarray(yhat, dtype=float)
    if yhat.shape != (T, P):
        raise ValueError(f"yhat has shape {yhat.shape}; yhat must have shape (T, P) = ({T}, {P})")
    S = [tuple(int(a) for a in s) for s in supervised]
    if not S or len(set(S)) != len(S) or not all(0 <= t < T and 0 <= p < P for t, p in S):
        raise ValueError("supervised must be distinct (t, p) pairs with 0 <= t < T and 0 <= p < P")
    steps, pats = _product_set(S, T, P)

    X = np.concatenate(list(x), axis=1)                               # (P, T D), stacked over time
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    if s[0] == 0:
        raise ValueError("x is zero; there is no input span")
    r = int(np.sum(s > rtol * s[0]))
    U = U[:, :r]
    all_supervised = len(pats) == P
    if all_supervised and r == P and not force:
        L, O, form = np.eye(P), np.eye(P), "identity"
    elif all_supervised:
        L, O, form = U, U, "orthonormal"
    else:
        US = U[list(pats)]                                             # (|S_P|, r)
        sv = np.linalg.svd(US, compute_uv=False)
        if len(pats) < r or sv[-1] <= np.sqrt(rtol) * max(sv[0], 1e-300):
            raise ValueError(f"the supervised patterns' inputs span {int(np.sum(sv > np.sqrt(rtol) * sv[0]))} of the "
                             f"r = {r} input directions; the reduction's likelihood needs them to span all "
                             "(derivations/span_reduction.tex, \"Which supervised sets\")")
        O, R = np.linalg.qr(US)
        L = np.linalg.solve(R.T, U.T).T                                # U R^-1
        form = "supervised-orthonormal"
    r = L.shape[1]
    Lp = np.linalg.pinv(L) if form != "identity" else np.eye(P)
    Z = np.einsum("kp,tpd->tkd", Lp, x)                                # virtual patterns' inputs (T, r, D)
    # the reduced Problem needs rank(Z^0) = r: the t = 0 inputs must span the whole input span
    s0 = np.linalg.svd(Z[0], compute_uv=False) if r <= D else np.zeros(1)
    if r > D or s0[-1] <= rtol * max(s[0], 1e-300):
        raise ValueError(f"the inputs at t = 0 span fewer than the r = {r} pattern directions of all steps' "
                         "inputs; the reduced kernel would live on a time-dependent subspace, which a Problem "
                         "does not represent (derivations/span_reduction.tex, \"Inputs at several steps\")")
    ysub = yhat[:, list(pats)]                                         # (T, |S_P|)
    yred = ysub @ O                                                    # O^T yhat^t[S_P], (T, r)
    yperp = ysub[list(steps)] - yred[list(steps)] @ O.T
    offset_unit = float(np.sum(yperp ** 2) / (2.0 * kappa))
    Sred = tuple((t, k) for t in steps for k in range(r))
    red = Problem(arch=arch, T=T, x=Z, supervised=Sred,
                  yhat=yred, w=w, v=v, u=u, kappa=kappa, lam=lam,
                  name=name if form == "identity" else f"{name} (span r={r})")
    return SpanReduction(problem=red, basis=L, offset_unit=offset_unit, r=r, P=P, form=form,
                         singular_values=s, supervised_steps=steps, supervised_patterns=pats)


def reduce_to_span(problem: Problem, rtol: float = RTOL, force: bool = False) -> SpanReduction:
    """The span reduction of a Problem (:func:`reduce_data` with its fields).

    A valid Problem has r = P (its t = 0 inputs are independent), so this is the identity unless the
    supervised patterns are a proper subset (then the "supervised-orthonormal" change of pattern
    coordinates) or ``force`` (an orthonormal rotation); tasks with P > r come from :func:`reduce_data`.
    """
    return reduce_data(problem.arch, problem.T, problem.x, problem.supervised, problem.yhat, w=problem.w,
                       v=problem.v, u=problem.u, kappa=problem.kappa, lam=problem.lam, name=problem.name,
                       rtol=rtol, force=force)


# --- predictions at new inputs -------------------------------------------------------------------
def _is_kernel(obj) -> bool:
    return isinstance(obj, (np.ndarray, list, tuple))


def _kernel_of(obj) -> np.ndarray:
    if _is_kernel(obj):
        return np.asarray(obj, dtype=float)
    for name in ("kernel", "saddle_kernel"):
        K = getattr(obj, name, None)
        if K is not None:
            return np.asarray(K, dtype=float)
    raise TypeError(f"{type(obj).__name__} carries no kernel; pass a result with .kernel or the kernel itself")


def prior_kernel_diag(problem: Problem, rho: np.ndarray) -> np.ndarray:
    """The prior (NNGP) kernel of inputs ``rho`` (T, m, D) with themselves: (m, T, T), one T x T per input.

    The recursion H^{tt'} = C^{tt'} + w_g M^{tt'} H^{t-1,t'-1} acts on time only, so each input's
    T x T block is its own fixed point (used for the part of a new input outside the training span).
    """
    T = problem.T
    C = (problem.u / problem.D) * np.einsum("tad,sad->ats", rho, rho) * problem.arch.input_mask
    R = problem.arch.recurrent_mask(problem.w)
    H = C.copy()
    for _ in range(T):
        Hn = C.copy()
        Hn[:, 1:, 1:] += R[1:, 1:] * H[:, :-1, :-1]
        H = Hn
    return H


def _split_inputs(problem: Problem, X_new, rtol: float):
    """New inputs as (c (m, r), rho (T, m, D), |rho| (m,)): ``x = Z_stack^T c + rho``, rho checked (module doc)."""
    T, D = problem.T, problem.D
    X_new = np.asarray(X_new, dtype=float)
    if X_new.ndim == 2:
        if X_new.shape[1] != D:
            raise ValueError(f"X_new has shape {X_new.shape}; inputs at t = 0 have shape (m, D = {D})")
        Xn = np.zeros((T,) + X_new.shape)
        Xn[0] = X_new
        X_new = Xn
    if X_new.ndim != 3 or X_new.shape[0] != T or X_new.shape[2] != D:
        raise ValueError(f"X_new has shape {X_new.shape}; expected (T, m, D) = ({T}, m, {D}) or (m, {D})")
    if not np.all(np.isfinite(X_new)):
        raise ValueError("X_new contains non-finite values; inputs must be finite")
    m = X_new.shape[1]
    Z = np.asarray(problem.x)                                          # (T, r, D)
    Zs = np.concatenate(list(Z), axis=1)                               # (r, TD)
    Xs = np.concatenate(list(X_new), axis=1)                           # (m, TD)
    c = np.linalg.lstsq(Zs.T, Xs.T, rcond=None)[0].T                   # (m, r)
    rho_s = Xs - c @ Zs
    rho = rho_s.reshape(m, T, D).transpose(1, 0, 2)                    # (T, m, D)
    # the residual must have zero input kernel with every training input (a shared U across steps)
    overlap = np.einsum("tad,skd->atsk", rho, Z) * problem.arch.input_mask[None, :, :, None]
    scale = np.linalg.norm(Zs, axis=1).max() * max(np.linalg.norm(Xs, axis=1).max(initial=0.0), 1e-300)
    if np.abs(overlap).max(initial=0.0) > rtol * scale:
        raise ValueError("a new input's part outside the training inputs' (stacked) span still overlaps a "
                         "training input through a U shared by two steps; its kernel needs the saddle point "
                         "of the task with that input added (derivations/span_reduction.tex, \"Predictions\")")
    return c, rho, np.linalg.norm(rho_s, axis=1)


def _gp(problem: Problem, Q, c, Hrho):
    """Mean and per-neuron variance (..., T, m) of the GP with kernel(s) Q (..., n, n) at inputs ``c``."""
    T, r, v, kappa = problem.T, problem.P, problem.v, problem.kappa
    idx = problem.supervised_index
    K = v * Q[..., idx[:, None], idx[None, :]] + kappa * np.eye(len(idx))
    Kinv = np.linalg.inv(K)
    alpha = Kinv @ problem.y_S                                         # (..., |S|)
    Q5 = Q.reshape(Q.shape[:-2] + (T, r, T * r))
    g = np.einsum("ak,...tks->...tas", c, Q5[..., idx])                # (..., T, m, |S|): H(a_t, S)
    mean = v * np.einsum("...tas,...s->...ta", g, alpha)
    Qd = np.stack([Q[..., t * r:(t + 1) * r, t * r:(t + 1) * r] for t in range(T)], axis=-3)   # (..., T, r, r)
    Htt = np.einsum("ak,...tkl,al->...ta", c, Qd, c) + Hrho[:, np.arange(T), np.arange(T)].T
    var = v * Htt - v * v * np.einsum("...tas,...su,...tau->...ta", g, Kinv, g)
    return mean, var


def _finite_width_means(problem: Problem, fw, c):
    """The 1/N theory's posterior-mean output and its sd at inputs ``c`` (Prediction's doc): (T, m) each."""
    T, r, v = problem.T, problem.P, problem.v
    n = problem.n
    Q0, dQ, N = np.asarray(fw.saddle_kernel), np.asarray(fw.correction), int(fw.N)
    M = np.asarray(fw.covariance).reshape(n * n, n * n)
    wk, Vk = np.linalg.eigh(0.5 * (M + M.T))                           # N Cov(Q) = sum_k w_k V_k (x) V_k
    keep = wk > 1e-13 * max(wk.max(initial=0.0), 1e-300)
    E = np.concatenate([dQ[None], Vk[:, keep].T.reshape(-1, n, n)])    # (1 + k, n, n)
    wk = wk[keep]
    idx = problem.supervised_index
    Kinv = np.linalg.inv(v * Q0[np.ix_(idx, idx)] + problem.kappa * np.eye(len(idx)))
    alpha = Kinv @ problem.y_S

    def rows(A):                                                       # A(a_t, S): (..., T, m, |S|)
        return np.einsum("ak,...tks->...tas", c, A.reshape(A.shape[:-2] + (T, r, T * r))[..., idx])

    g0, gE = rows(Q0), rows(E)
    ESa = E[:, idx][:, :, idx] @ alpha                                 # (1 + k, |S|): E_SS alpha
    KESa = ESa @ Kinv                                                  # K^-1 E_SS alpha (Kinv symmetric)
    f0 = v * g0 @ alpha
    f1 = v * gE @ alpha - v * v * np.einsum("tas,es->eta", g0, KESa)   # f'(E), (1 + k, T, m)
    KESKi = np.einsum("su,euw->esw", Kinv, E[:, idx][:, :, idx])       # K^-1 E_SS
    f2 = (-2 * v * v * np.einsum("etas,es->eta", gE, KESa)
          + 2 * v ** 3 * np.einsum("tas,esu,eu->eta", g0, KESKi, KESa))  # f''(E, E)
    mean = f0 + (f1[0] + 0.5 * np.einsum("k,kta->ta", wk, f2[1:])) / N
    sd = np.sqrt(np.einsum("k,kta->ta", wk, f1[1:] ** 2) / N)
    return mean, sd


def predict(problem: Problem, Q, X_new, rtol: float = 1e-9) -> Prediction:
    """Posterior mean and variance (:class:`Prediction`) at new inputs, given ``problem``'s kernel or a result.

    ``problem``: any Problem (a reduced one, or a full task with P <= D).  ``Q``: its kernel (n, n), a
    stack of kernels (..., n, n), a result carrying a kernel (SaddlePoint, Minimum, ...), a FiniteWidth
    (the 1/N theory: ``mean`` to O(1/N^2), ``mean_sd``) or a sampler's result with kernel ``draws``
    (chains, samples, n, n) (every draw's GP, averaged; ``mean_draws``, ``mean_sd``).  ``X_new``:
    (T, m, D), or (m, D) for inputs at t = 0 only.  Each new input (stacked over time) is written as
    ``Z_stack^T c + rho`` (least squares on the problem's stacked inputs); ``rho`` must have zero input
    kernel with every training input, checked to ``rtol`` (always so when training and new inputs
    enter at t = 0 only); ValueError otherwise.
    """
    n = problem.n
    own = None if _is_kernel(Q) else getattr(Q, "problem", None)
    if own is not None and own is not problem and (own.n, own.lam, own.kappa, own.v) != (n, problem.lam,
                                                                                          problem.kappa, problem.v):
        raise ValueError(f"the result is of a problem with n={own.n}, lam={own.lam:g}, kappa={own.kappa:g}, "
                         f"v={own.v:g}, not the given one (n={n}, lam={problem.lam:g}, kappa={problem.kappa:g}, "
                         f"v={problem.v:g}); pass the result's own problem")
    c, rho, rnorm = _split_inputs(problem, X_new, rtol)
    Hrho = prior_kernel_diag(problem, rho)
    draws = None if _is_kernel(Q) else getattr(Q, "draws", None)
    if draws is not None and np.ndim(draws) == 4:
        draws = np.asarray(draws, dtype=float)
        if draws.shape[-2:] != (n, n):
            raise ValueError(f"draws have kernels of shape {draws.shape[-2:]}; expected ({n}, {n}) for this problem")
        chunks = [_gp(problem, d, c, Hrho) for d in np.array_split(draws.reshape((-1, n, n)),
                                                                    max(1, draws.shape[0] * draws.shape[1] // 256))]
        md = np.concatenate([a for a, _ in chunks]).reshape(draws.shape[:2] + (problem.T, -1))
        var = np.concatenate([b for _, b in chunks]).mean(axis=0)
        flat = md.reshape((-1,) + md.shape[2:])
        return Prediction(mean=flat.mean(axis=0), variance=var, residual_norm=rnorm, coefficients=c,
                          mean_sd=flat.std(axis=0), mean_draws=md, N=int(Q.N))
    if not _is_kernel(Q) and getattr(Q, "covariance", None) is not None and hasattr(Q, "correction"):
        Qn = np.asarray(Q.kernel_N, dtype=float)
        if Qn.shape != (n, n):
            raise ValueError(f"kernel has shape {Qn.shape}; expected ({n}, {n}) for this problem")
        mean, sd = _finite_width_means(problem, Q, c)
        return Prediction(mean=mean, variance=_gp(problem, Qn, c, Hrho)[1], residual_norm=rnorm,
                          coefficients=c, mean_sd=sd, N=int(Q.N))
    Q = _kernel_of(Q)
    if Q.shape[-2:] != (n, n):
        raise ValueError(f"kernel has shape {Q.shape}; expected ({n}, {n}) for this problem")
    mean, var = _gp(problem, Q, c, Hrho)
    return Prediction(mean=mean, variance=var, residual_norm=rnorm, coefficients=c)

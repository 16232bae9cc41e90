"""The large-N kernel action S(H), its gradient and Hessian (derivations/rnn_T4_P1.tex, "The action" and "Saddle-point equations").

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

:mod:`linkernel.symbolic.action` builds the same formula in SymPy; the tests hold the
two against each other.
"""

from __future__ import annotations

import numpy as np

from linkernel.errors import KernelError
from linkernel.problem import Problem



# --- the map H -> Sigma(H) and its adjoint ----------------------------------
def _shift(problem: Problem, H: np.ndarray) -> np.ndarray:
    """L(H): ``w_g M^{tt'} H^{t-1,t'-1}`` in the ``t, t' >= 1`` blocks, zero elsewhere.

    The weights ``w_g M`` are :attr:`Problem.recurrent_mask` (the architecture's
    groups and their variances).
    """
    P = problem.P
    out = np.zeros_like(H)
    out[P:, P:] = H[:-P, :-P]
    return out * problem.recurrent_mask


def _shift_adjoint(problem: Problem, G: np.ndarray) -> np.ndarray:
    """L*(G), the Frobenius adjoint of :func:`_shift`: ``tr(G L(E)) = tr(L*(G) E)``."""
    P = problem.P
    G = G * problem.recurrent_mask
    out = np.zeros_like(G)
    out[:-P, :-P] = G[P:, P:]
    return out


def sigma(problem: Problem, H: np.ndarray) -> np.ndarray:
    """Sigma(H) = C + w_g M * H^{t-1,t'-1}: the prior covariance of h given the kernel H."""
    return problem.input_kernel + _shift(problem, np.asarray(H, dtype=float))


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
    usable = bool(np.all(np.isfinite(H)) and d.min() >= 1e-200 and d.max() <= 1e200)
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


# --- checks -----------------------------------------------------------------
def _cholesky(A: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise KernelError(f"{what} is not positive definite") from None


def check_kernel(problem: Problem, H) -> np.ndarray:
    """Return H as a float array, raising KernelError unless it is a symmetric PD (TP, TP) matrix."""
    H = np.asarray(H, dtype=float)
    n = problem.n
    if H.shape != (n, n):
        raise KernelError(f"kernel has shape {H.shape}; expected (TP, TP) = ({n}, {n})")
    if not np.all(np.isfinite(H)):
        raise KernelError("kernel has non-finite entries")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(H).max())):
        raise KernelError("kernel is not symmetric")
    _cholesky(H, "kernel H")
    return 0.5 * (H + H.T)


# --- the readout kernel -------------------------------------------------------
def readout_kernel(problem: Problem, H) -> np.ndarray:
    """K = v H_SS + kappa I: the covariance of the outputs on the supervised set (one home).

    ``H`` may be a stack ``(..., TP, TP)``; returns ``(..., |S|, |S|)``.  The
    likelihood term is 1/2 y_S^T K^-1 y_S and the predictions v H_{*S} K^-1 y_S.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    return problem.v * H[..., idx[:, None], idx[None, :]] + problem.kappa * np.eye(len(idx))


# --- the action -------------------------------------------------------------
def _logdet(A: np.ndarray) -> float:
    return 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(A)))))


def kl_term(problem: Problem, H) -> float:
    """KL( N(0,H) || N(0,Sigma(H)) ) = 1/2 [tr(Sigma^-1 H) - ln det(Sigma^-1 H) - TP]."""
    H = check_kernel(problem, H)
    Sig = sigma(problem, H)
    Ls = _cholesky(Sig, "Sigma(H)")
    A = np.linalg.solve(Ls, np.linalg.solve(Ls, H).T)  # Ls^-1 H Ls^-T, same trace as Sigma^-1 H
    return 0.5 * (np.trace(A) - _logdet(H) + 2.0 * np.sum(np.log(np.diag(Ls))) - problem.n)


def likelihood_term(problem: Problem, H) -> float:
    """1/2 y_S^T (v H_SS + kappa I)^-1 y_S: the readout integrated out (muP, O(N))."""
    K = readout_kernel(problem, H)
    y = problem.y_S
    return 0.5 * float(y @ np.linalg.solve(K, y))


def action(problem: Problem, H) -> float:
    """S(H) = KL term + likelihood term (per neuron; the posterior is exp(-N S))."""
    return kl_term(problem, H) + likelihood_term(problem, H)


def _pieces(problem: Problem, H: np.ndarray):
    H = check_kernel(problem, H)
    Sig = sigma(problem, H)
    _cholesky(Sig, "Sigma(H)")
    A = np.linalg.inv(Sig)
    Hinv = np.linalg.inv(H)
    idx = problem.supervised_index
    Kinv = np.linalg.inv(readout_kernel(problem, H))
    a = Kinv @ problem.y_S
    return H, A, Hinv, idx, Kinv, a


def gradient(problem: Problem, H) -> np.ndarray:
    """dS/dH as the symmetric matrix G with dS = tr(G dH) for symmetric dH.

        G = 1/2 (Sigma^-1 - H^-1) + 1/2 L*(Sigma^-1 - Sigma^-1 H Sigma^-1)
            - v/2 E_S(K^-1 y y^T K^-1),        K = v H_SS + kappa I

    L* masks by w_g M and shifts the ``t, t' >= 1`` blocks back by one step;
    E_S embeds the supervised block.  G = 0 are the saddle-point equations.
    """
    H, A, Hinv, idx, Kinv, a = _pieces(problem, H)
    G = 0.5 * (A - Hinv) + 0.5 * _shift_adjoint(problem, A - A @ H @ A)
    G[np.ix_(idx, idx)] -= 0.5 * problem.v * np.outer(a, a)
    return 0.5 * (G + G.T)


def hessian_vector(problem: Problem, H, E) -> np.ndarray:
    """Directional derivative of :func:`gradient` along the symmetric direction E."""
    H, A, Hinv, idx, Kinv, a = _pieces(problem, H)
    E = np.asarray(E, dtype=float)
    dA = -A @ _shift(problem, E) @ A
    AH = A @ H
    dG = 0.5 * (dA + Hinv @ E @ Hinv)
    inner = dA - dA @ AH.T - AH @ dA - A @ E @ A
    dG += 0.5 * _shift_adjoint(problem, inner)
    da = -problem.v * Kinv @ E[np.ix_(idx, idx)] @ a
    dG[np.ix_(idx, idx)] -= 0.5 * problem.v * (np.outer(da, a) + np.outer(a, da))
    return 0.5 * (dG + dG.T)


# --- coordinates on symmetric matrices --------------------------------------
def _triu(n: int):
    return np.triu_indices(n)


def to_vector(M: np.ndarray) -> np.ndarray:
    """Symmetric (n, n) -> n(n+1)/2 coordinates in the Frobenius-orthonormal basis.

    Order: upper triangle row by row; off-diagonal entries scaled by sqrt(2).
    """
    M = np.asarray(M, dtype=float)
    i, j = _triu(M.shape[0])
    return np.where(i == j, 1.0, np.sqrt(2.0)) * M[i, j]


def from_vector(vec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`to_vector`."""
    i, j = _triu(n)
    vals = np.asarray(vec, dtype=float) / np.where(i == j, 1.0, np.sqrt(2.0))
    M = np.zeros((n, n))
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
    i, j = np.triu_indices(problem.n)
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


def gradient_vector(problem: Problem, H) -> np.ndarray:
    """The gradient in the coordinates of :func:`to_vector` (so its norm is the Frobenius norm of G)."""
    return to_vector(gradient(problem, H))


def hessian(problem: Problem, H) -> np.ndarray:
    """The Hessian of S at H in the coordinates of :func:`to_vector`: shape (n(n+1)/2,)*2, symmetric.

    Its eigenvalues are those of the second variation of S with respect to
    the Frobenius metric on symmetric matrices; all > 0 at a minimum.
    Assembled in O(dim^2) by :func:`linkernel.theory.hessian.dense_hessian`
    (the same matrix as :func:`hessian_vector` on every basis element).
    """
    from linkernel.theory.hessian import dense_hessian
    return dense_hessian(problem, H)


def predictions(problem: Problem, H) -> np.ndarray:
    """Posterior-mean outputs f* = v H_{*S} (v H_SS + kappa I)^-1 y_S at every (t, p), shape (T, P)."""
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    K = readout_kernel(problem, H)
    f = problem.v * H[:, idx] @ np.linalg.solve(K, problem.y_S)
    return f.reshape(problem.T, problem.P)

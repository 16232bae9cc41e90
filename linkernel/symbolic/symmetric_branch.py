"""The symmetric (time-uncorrelated) branch of the endpoint task, derived with SymPy.

Endpoint classification (:func:`linkernel.tasks.endpoint`): orthogonal inputs
at ``t = 0`` only (input kernel ``C = u`` at ``t = t' = 0``), labels at the
last state ``t = T-1``.  On the symmetric branch every cross-time entry of
the kernel vanishes, ``H^{tt'} = 0`` for ``t != t'``.  Then Sigma(H) is block
diagonal as well (``Sigma^{00} = u``, ``Sigma^{tt} = w H^{t-1,t-1}``) and the
KL term is a chain over t.

Derived here (:func:`symmetric_branch`), for ``P = 1`` (the label sector for
``P > 1``, see below):

* the branch equations ``dS/dh_t = 0`` (``h_t = H^{tt}``), taken from the
  core's symbolic Sigma;
* their structure along t: the equation of ``h_t`` (``t < T-1``) says
  ``h_{t+1}/Sigma^{t+1,t+1} = h_t/Sigma^{tt}``, so the *branch ratio*
  ``r = H^{tt}/Sigma^{tt}`` is the same at every t and
  ``h_t = u r (w r)^t``; the ratio ``H^{t+1,t+1}/H^{tt} = rho = w r`` is
  constant along t;
* the last equation gives lambda explicitly as a function of r:
  ``lambda^2 = (r - 1) (v h_{T-1} + kappa)^2 / (v h_{T-1})``, with
  ``r = 1`` at ``lambda = 0`` (the NNGP kernel).

The RNN and the DNN share this branch (their Sigma agree on diagonal kernels).

``P > 1`` (orthogonal inputs, labels ``yhat``): the branch kernel is
``H^{tt} = h_t Pi + g_t (1 - Pi)`` with ``Pi`` the projector on ``yhat``; the
label sector is the ``P = 1`` chain with ``lambda^2 -> lambda^2 |yhat|^2``,
the other sectors stay at the NNGP values ``g_t = u w^t`` (``r = 1``).

Normalised coordinates (used for the Hessian and the Landau expansion):
``H = D^{1/2} (1 + e) D^{1/2}`` with ``D`` the branch kernel.  In them the
action depends on the hyperparameters only through ``r`` and the load
``x = v h_{T-1} / kappa`` (:func:`normalized_action`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from linkernel.symbolic import action as symbolic
from linkernel.architecture import Architecture
from linkernel.problem import Problem, time_slice
from linkernel.validation import count as _count
from linkernel.symbolic.action import kappa, lam, u, v, w

#: branch ratio H^{tt} / Sigma^{tt} (the same for every t on the branch)
r = sp.Symbol("r", positive=True)
#: load of the readout, x = v H^{T-1,T-1} / kappa, on the branch
x = sp.Symbol("x", positive=True)
#: order parameter m = H^{T-1,T-2}
m = sp.Symbol("m", real=True)


def check_arch_T(arch, T, minimum: int = 1) -> int:
    """Validate ``T`` (>= ``minimum``) and that ``arch`` is a pattern over T steps (rnn, dnn, JSON, Architecture)."""
    T = _count("T", T, minimum)
    Architecture.from_spec(arch, T)
    return T


def diagonal_symbols(T: int) -> tuple:
    """The symbols ``h_t = H^{tt}``, t = 0..T-1, exactly those of :func:`linkernel.symbolic.action.kernel_symbol`."""
    return tuple(symbolic.kernel_symbol(t, t, 0, 0, 1) for t in range(T))


@dataclass(frozen=True, eq=False)
class SymmetricBranch:
    """The symmetric branch of the endpoint task with ``P = 1`` (the label sector for ``P > 1``).

    ``action``: S on diagonal kernels, a function of ``h = (h_0..h_{T-1})``
    and ``w, v, u, kappa, lambda``; ``equations``: ``dS/dh_t`` (all = 0 on the
    branch); ``kernel``: ``h_t(r) = u r (w r)^t``; ``rho = w r`` the ratio
    ``H^{t+1,t+1}/H^{tt}``; ``lam_squared``: lambda^2 as an explicit
    function of r (labels of unit norm; for ``P`` labels +-1 divide by P);
    ``load``: ``x = v h_{T-1}/kappa`` as a function of r.
    """

    arch: str
    T: int
    h: tuple
    action: sp.Expr
    equations: tuple
    kernel: tuple
    rho: sp.Expr
    lam_squared: sp.Expr
    load: sp.Expr

    @property
    def lam_of_r(self) -> sp.Expr:
        """lambda(r) = (v h_{T-1} + kappa) sqrt((r - 1) / (v h_{T-1}))."""
        hT = self.kernel[-1]
        return (v * hT + kappa) * sp.sqrt((r - 1) / (v * hT))

    def residuals(self) -> tuple:
        """The branch equations evaluated on the closed form (each simplifies to 0)."""
        sub = dict(zip(self.h, self.kernel))
        sub[lam] = sp.sqrt(self.lam_squared)
        return tuple(sp.simplify(eq.subs(sub)) for eq in self.equations)


@lru_cache(maxsize=None)
def symmetric_branch(T: int, arch: str = "rnn") -> SymmetricBranch:
    """Derive the symmetric branch of the endpoint task (``P = 1``) for ``T`` hidden states.

    The action on diagonal kernels is built from the core's symbolic Sigma
    (:func:`linkernel.symbolic.action.sigma`); the equations ``dS/dh_t = 0`` for
    ``t = 0..T-2`` are solved one after another for ``h_{t+1}``, which gives
    the geometric chain; the last equation is solved for lambda^2.
    """
    T = check_arch_T(arch, T)
    from linkernel import tasks
    problem = tasks.endpoint(arch, T=T)
    h = diagonal_symbols(T)
    Hd = sp.diag(*h)
    Sig = symbolic.sigma(problem, Hd)
    if any(Sig[i, j] != 0 for i in range(T) for j in range(T) if i != j):
        raise AssertionError("Sigma of a diagonal kernel is not diagonal")  # structure the branch relies on
    # h / Sigma - ln(h / Sigma) - 1 per step: the log stays unexpanded (kernel symbols are only real)
    kl = sp.Rational(1, 2) * sum(h[t] / Sig[t, t] - sp.log(h[t] / Sig[t, t]) - 1 for t in range(T))
    action = kl + lam ** 2 / (2 * (v * h[-1] + kappa))
    equations = tuple(sp.diff(action, ht) for ht in h)
    # the chain: solve equation t for h_{t+1}, starting from h_0 = r u
    sol = {h[0]: r * u}
    for t in range(T - 1):
        eq = sp.numer(sp.together(equations[t].subs(sol)))
        roots = [s for s in sp.solve(eq, h[t + 1]) if s != 0]
        if len(roots) != 1:
            raise AssertionError(f"branch equation {t} does not fix h_{t + 1} uniquely: {roots}")
        sol[h[t + 1]] = sp.factor(roots[0])
    kernel = tuple(sol[ht] for ht in h)
    lam2 = sp.solve(equations[-1].subs(sol), lam ** 2)
    if len(lam2) != 1:
        raise AssertionError(f"last branch equation does not fix lambda^2: {lam2}")
    lam_squared = sp.factor(lam2[0])
    return SymmetricBranch(arch=arch, T=T, h=h, action=action, equations=equations, kernel=kernel,
                           rho=sp.factor(kernel[1] / kernel[0]) if T > 1 else w * r,
                           lam_squared=lam_squared, load=sp.factor(v * kernel[-1] / kappa))


# --- numerics on the branch ---------------------------------------------------
def endpoint_structure(problem: Problem) -> float:
    """Check that ``problem`` is an endpoint task and return ``|yhat|^2`` of its labels.

    Endpoint task: input kernel ``u`` times the identity at ``t = t' = 0`` and
    zero elsewhere (orthogonal inputs of equal norm), supervised pairs exactly
    ``(T-1, p)`` for every p, nonzero labels.
    """
    T, P = problem.T, problem.P
    C = problem.input_kernel
    want = np.zeros_like(C)
    want[:P, :P] = problem.u * np.eye(P)
    if not np.allclose(C, want, rtol=1e-12, atol=1e-12 * problem.u):
        raise ValueError("problem is not an endpoint task: its input kernel must be u * identity at t = 0 "
                         "and zero elsewhere (use linkernel.tasks.endpoint)")
    if sorted(problem.supervised) != [(T - 1, p) for p in range(P)]:
        raise ValueError(f"problem supervises {list(problem.supervised)}; the endpoint task supervises "
                         f"every pattern at t = T-1 = {T - 1} only")
    q = float(np.sum(problem.yhat[T - 1] ** 2))
    if q == 0:
        raise ValueError("problem has all-zero labels; the endpoint task needs a nonzero label vector")
    return q


def lam_of_ratio(rv, T: int, w_: float, v_: float, u_: float, kappa_: float, q: float = 1.0):
    """lambda on the branch at ratio ``rv`` (>= 1), labels with ``|yhat|^2 = q``."""
    rv = np.asarray(rv, dtype=float)
    hT = u_ * w_ ** (T - 1) * rv ** T
    return (v_ * hT + kappa_) * np.sqrt((rv - 1) / (v_ * hT * q))


def branch_ratios(problem: Problem) -> np.ndarray:
    """Every branch ratio r >= 1 with lambda(r) = problem.lam, ascending.

    lambda(r) can fold (it is not monotone when the load x is small), so
    there can be several.  Roots of the polynomial
    ``(r - 1)(v h + kappa)^2 - lambda^2 q v h`` (``h = u w^{T-1} r^T``),
    polished by Newton steps.
    """
    q = endpoint_structure(problem)
    T, w_, v_, u_, k_ = problem.T, problem.w, problem.v, problem.u, problem.kappa
    L2 = problem.lam ** 2 * q
    if L2 == 0:
        return np.array([1.0])
    c = v_ * u_ * w_ ** (T - 1)                          # v h = c r^T
    poly = np.polynomial.Polynomial
    vh = poly([0.0] * T + [c])
    f = poly([-1.0, 1.0]) * (vh + k_) ** 2 - L2 * vh
    roots = f.roots()
    roots = np.sort(roots[(np.abs(roots.imag) < 1e-7 * np.maximum(1, np.abs(roots))) & (roots.real > 1 - 1e-9)].real)
    df = f.deriv()
    out = []
    for rv in roots:
        for _ in range(8):
            d = df(rv)
            if d == 0:
                break
            rv -= f(rv) / d
        out.append(max(rv, 1.0))
    return np.array(sorted(set(np.round(out, 14))))


def branch_kernel(problem: Problem, ratio: float | None = None) -> np.ndarray:
    """The (TP, TP) symmetric-branch kernel of an endpoint problem.

    ``ratio``: the branch ratio r of the label sector; default the smallest
    root of lambda(r) = problem.lam (the branch continued from lambda = 0).
    """
    q = endpoint_structure(problem)
    T, P = problem.T, problem.P
    rv = branch_ratios(problem)[0] if ratio is None else float(ratio)
    t = np.arange(T)
    h = problem.u * rv * (problem.w * rv) ** t           # label sector
    g = problem.u * problem.w ** t                       # other sectors: the NNGP chain
    yv = problem.yhat[T - 1] / math.sqrt(q)
    Pi = np.outer(yv, yv)
    H = np.zeros((problem.n, problem.n))
    for k in range(T):
        H[time_slice(k, P), time_slice(k, P)] = h[k] * Pi + g[k] * (np.eye(P) - Pi)
    return H


# --- normalised coordinates ----------------------------------------------------
def _trunc(expr, var, order: int):
    """Drop the powers of ``var`` above ``order`` (expr polynomial in var)."""
    expr = sp.expand(expr)
    if expr == 0:
        return expr
    return sum(expr.coeff(var, k) * var ** k for k in range(order + 1))


def _mat_trunc(M: sp.Matrix, var, order: int) -> sp.Matrix:
    return M.applyfunc(lambda e: _trunc(e, var, order))


def normalized_action(arch: str, T: int, e: sp.Matrix, var, order: int) -> sp.Expr:
    """Taylor polynomial of ``S(H) - S(D)`` in ``var`` up to ``var**order``, at ``H = D^{1/2}(1 + e)D^{1/2}``.

    ``D`` is the branch kernel at ratio ``r`` and load ``x``; ``e`` (T x T,
    symmetric) must be O(var).  With ``Sigma_0 = Sigma(D) = D / r``,
    ``Sigma(H) = Sigma_0^{1/2} (1 + delta) Sigma_0^{1/2}`` where ``delta`` is ``e``
    shifted by one step (``delta_{tt'} = e_{t-1,t'-1}``, masked by the architecture's M), so

        S - S(D) = 1/2 [ r tr((1+delta)^-1 (1+e)) - r T - ln det(1+e) + ln det(1+delta) ]
                   + (r-1)(1+x)^2 / (2x) [ 1/(1 + x + x e_{T-1,T-1}) - 1/(1+x) ]

    (the likelihood uses lambda^2 = (r-1)(v h + kappa)^2/(v h) on the branch).
    """
    I = sp.eye(T)
    delta = sp.zeros(T, T)
    shares = Architecture.from_spec(arch, T).shares
    for i in range(1, T):
        for j in range(1, T):
            if shares[i, j]:
                delta[i, j] = e[i - 1, j - 1]

    def logdet(M):
        s, Pk = sp.Integer(0), sp.eye(T)
        for k in range(1, order + 1):
            Pk = _mat_trunc(Pk * M, var, order)
            s += sp.Integer(-1) ** (k + 1) * Pk.trace() / k
        return s

    inv, Pk = I, I
    for _ in range(order):
        Pk = _mat_trunc(Pk * (-delta), var, order)
        inv = inv + Pk
    tr = _trunc((inv * (I + e)).trace(), var, order)
    kl = sp.Rational(1, 2) * (r * tr - r * T - logdet(e) + logdet(delta))
    z = x * e[T - 1, T - 1] / (1 + x)
    lik = (r - 1) * (1 + x) / (2 * x) * sum((-z) ** k for k in range(1, order + 1))
    return _trunc(kl + lik, var, order)


def perturbation_symbols(T: int) -> dict:
    """{(i, j): e_ij} for i <= j: the normalised kernel perturbation."""
    return {(i, j): sp.Symbol(f"e_{{{i}{j}}}", real=True) for i in range(T) for j in range(i, T)}

"""The action's derivatives and Newton solves in arbitrary precision (mpmath).

The same formulas as :mod:`linkernel.theory.action` (S, dS/dH, the Hessian in the
Frobenius-orthonormal coordinates of :func:`linkernel.theory.action.to_vector`, and
d(dS/dH)/dlam), on ``mpmath.matrix`` kernels, evaluated at the working
precision of ``mpmath.mp`` (wrap calls in ``mp.workdps(dps)``; the solvers
below take ``dps`` themselves).

Conventions for turning a :class:`~linkernel.problem.Problem` into exact
numbers: the hyperparameters ``w, v, u, kappa, lam`` and the labels are read
as the decimals they print as (``kappa=0.1`` is 1/10, not the nearest binary
double); the inputs ``x`` are taken as their binary doubles.  ``lam`` can be
overridden by an mpf (continuation in lambda beyond double precision).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
from mpmath import mp

from linkernel.errors import ConvergenceError, KernelError
from linkernel.problem import Problem
from linkernel.theory.action import Pieces as FloatPieces
from linkernel.theory.action import from_vector as float_from_vector, to_vector as float_to_vector
from linkernel.theory.action import m_vector as float_m_vector, odd_coordinates as float_odd_coordinates
from linkernel.theory.hessian import dense_hessian, whitened_dense


def dec(x) -> mpmath.mpf:
    """A float as the decimal it prints as (``0.1`` -> 1/10 to working precision)."""
    return mp.mpf(repr(float(x)))


class _Data:
    """A Problem's numbers at the current working precision."""

    def __init__(self, problem: Problem, lam=None):
        self.n, self.P, self.T = problem.n, problem.P, problem.T
        self.w, self.v, self.u, self.kappa = (dec(getattr(problem, k)) for k in ("w", "v", "u", "kappa"))
        self.lam = dec(problem.lam) if lam is None else mp.mpf(lam)
        X = problem.x.reshape(self.n, problem.D)
        D = problem.D
        self.C = mp.matrix(self.n, self.n)
        for i in range(self.n):
            for j in range(self.n):
                if not problem.arch.input_mask[i // self.P, j // self.P]:
                    continue
                self.C[i, j] = self.u / D * mp.fsum(mp.mpf(float(X[i, k])) * mp.mpf(float(X[j, k]))
                                                     for k in range(D))
        # w_g M / w per pair of times: None where W^(t), W^(t') differ, exactly 1 for the problem's w
        arch, T = problem.arch, problem.T
        self.rel = [[None] * T for _ in range(T)]
        for g, members in enumerate(arch.W):
            r = mp.mpf(1) if arch.w[g] is None else dec(arch.w[g]) / self.w
            for t in members:
                for t2 in members:
                    self.rel[t][t2] = r
        self.idx = [int(i) for i in problem.supervised_index]
        self.yhat = [dec(problem.yhat[t, p]) for t, p in problem.supervised]

    @property
    def y(self):
        return [self.lam * y for y in self.yhat]



def _shift(d: _Data, H):
    out = mp.matrix(d.n, d.n)
    P = d.P
    for i in range(P, d.n):
        for j in range(P, d.n):
            r = d.rel[i // P][j // P]
            if r is not None:
                out[i, j] = r * H[i - P, j - P]
    return out


def _shift_adjoint(d: _Data, G):
    out = mp.matrix(d.n, d.n)
    P = d.P
    for i in range(d.n - P):
        for j in range(d.n - P):
            r = d.rel[i // P + 1][j // P + 1]
            if r is not None:
                out[i, j] = r * G[i + P, j + P]
    return out


def _sym(M):
    return (M + M.T) / 2


def as_matrix(H) -> mpmath.matrix:
    """A kernel (numpy array, nested list or mpmath matrix) as an mpmath matrix at working precision."""
    if isinstance(H, mpmath.matrix):
        return H
    H = np.asarray(H, dtype=float)
    return mp.matrix([[mp.mpf(float(x)) for x in row] for row in H])


def to_numpy(M) -> np.ndarray:
    return np.array([[float(M[i, j]) for j in range(M.cols)] for i in range(M.rows)])


# --- the formulas of linkernel.theory.action -------------------------------------------------
def sigma(problem: Problem, H, lam=None):
    """Sigma(H) = C + w_g M * H^{t-1,t'-1}."""
    d = _Data(problem, lam)
    return d.C + d.w * _shift(d, as_matrix(H))


def _logdet_pd(A, what):
    try:
        L = mp.cholesky(A)
    except (ValueError, ZeroDivisionError):
        raise KernelError(f"{what} is not positive definite") from None
    return 2 * mp.fsum(mp.log(L[i, i]) for i in range(A.rows))


def _K(d: _Data, H):
    m = len(d.idx)
    K = mp.matrix(m, m)
    for a, i in enumerate(d.idx):
        for b, j in enumerate(d.idx):
            K[a, b] = d.v * H[i, j] + (d.kappa if a == b else 0)
    return K


def action(problem: Problem, H, lam=None):
    """S(H) = KL(N(0,H) || N(0,Sigma(H))) + 1/2 y_S^T (v H_SS + kappa I)^-1 y_S."""
    d = _Data(problem, lam)
    H = as_matrix(H)
    Sig = d.C + d.w * _shift(d, H)
    tr = sum((mp.lu_solve(Sig, H[:, j])[j] for j in range(d.n)), mp.mpf(0))
    kl = (tr - _logdet_pd(H, "kernel H") + _logdet_pd(Sig, "Sigma(H)") - d.n) / 2
    y = mp.matrix(d.y)
    return kl + (y.T * mp.lu_solve(_K(d, H), y))[0] / 2


class _Pieces:
    """Sigma^-1, H^-1, K^-1, K^-1 y at one kernel: what the gradient and the Hessian share.

    The mpmath counterpart of :class:`linkernel.theory.action.Pieces`: the same
    formulas term by term (the tests hold the two together at 16 digits), at
    the working precision, with plain inverses (no float64 rounding to avoid).
    """

    def __init__(self, problem, H, lam=None):
        d = self.d = _Data(problem, lam)
        self.H = as_matrix(H)
        Sig = d.C + d.w * _shift(d, self.H)
        _logdet_pd(self.H, "kernel H")
        _logdet_pd(Sig, "Sigma(H)")
        self.A = mp.inverse(Sig)
        self.Hinv = mp.inverse(self.H)
        self.Kinv = mp.inverse(_K(d, self.H))
        self.a = self.Kinv * mp.matrix(d.y)

    def embed_S(self, M):
        out = mp.matrix(self.d.n, self.d.n)
        for x, i in enumerate(self.d.idx):
            for y, j in enumerate(self.d.idx):
                out[i, j] = M[x, y]
        return out

    def gradient(self):
        d, A = self.d, self.A
        G = (A - self.Hinv) / 2 + d.w / 2 * _shift_adjoint(d, A - A * self.H * A)
        G -= d.v / 2 * self.embed_S(self.a * self.a.T)
        return _sym(G)

    def hessian_vector(self, E):
        d, A, Hinv, a = self.d, self.A, self.Hinv, self.a
        dA = -d.w * A * _shift(d, E) * A
        AH = A * self.H
        dG = (dA + Hinv * E * Hinv) / 2
        inner = dA - dA * AH.T - AH * dA - A * E * A
        dG += d.w / 2 * _shift_adjoint(d, inner)
        ES = mp.matrix(len(d.idx), len(d.idx))
        for x, i in enumerate(d.idx):
            for y, j in enumerate(d.idx):
                ES[x, y] = E[i, j]
        da = -d.v * self.Kinv * ES * a
        dG -= d.v / 2 * self.embed_S(da * a.T + a * da.T)
        return _sym(dG)

    def gradient_lambda(self):
        d = self.d
        a1 = self.Kinv * mp.matrix(d.yhat)
        return -d.v * d.lam * self.embed_S(a1 * a1.T)


def gradient(problem: Problem, H, lam=None):
    """dS/dH, the symmetric G with dS = tr(G dH) (as :func:`linkernel.theory.action.gradient`)."""
    return _Pieces(problem, H, lam).gradient()


def hessian_vector(problem: Problem, H, E, lam=None):
    """Directional derivative of the gradient along the symmetric E."""
    return _Pieces(problem, H, lam).hessian_vector(as_matrix(E))


def gradient_lambda(problem: Problem, H, lam=None):
    """d(dS/dH)/dlam at fixed H (as :func:`linkernel.theory.continuation.gradient_lambda`)."""
    return _Pieces(problem, H, lam).gradient_lambda()


# --- Frobenius-orthonormal coordinates -----------------------------------------------
def to_vector(M):
    """Upper triangle row by row, off-diagonals times sqrt(2) (as :func:`linkernel.theory.action.to_vector`)."""
    r2 = mp.sqrt(2)
    n = M.rows
    return mp.matrix([M[i, j] * (1 if i == j else r2) for i in range(n) for j in range(i, n)])


def from_vector(x, n: int):
    r2 = mp.sqrt(2)
    M = mp.matrix(n, n)
    k = 0
    for i in range(n):
        for j in range(i, n):
            M[i, j] = M[j, i] = x[k] / (1 if i == j else r2)
            k += 1
    return M


def _hessian(pc: _Pieces):
    n = pc.d.n
    dim = n * (n + 1) // 2
    Hs = mp.matrix(dim, dim)
    for k in range(dim):
        e = mp.matrix(dim, 1)
        e[k] = 1
        col = to_vector(pc.hessian_vector(from_vector(e, n)))
        for i in range(dim):
            Hs[i, k] = col[i]
    return _sym(Hs)


def hessian(problem: Problem, H, lam=None):
    """The Hessian in :func:`to_vector` coordinates (as :func:`linkernel.theory.action.hessian`)."""
    return _hessian(_Pieces(problem, H, lam))


def equations(problem: Problem, x, lam):
    """(F, dF/dx, dF/dlam) at the coordinates x: F = to_vector(dS/dH)."""
    pc = _Pieces(problem, from_vector(x, problem.n), lam)
    return to_vector(pc.gradient()), _hessian(pc), to_vector(pc.gradient_lambda())


# --- Newton solves -------------------------------------------------------------------
def _norm(v):
    return mp.sqrt(mp.fsum(x ** 2 for x in v))


def _sub(M, rows, cols):
    return mp.matrix([[M[i, j] for j in cols] for i in rows])


@dataclass(frozen=True, eq=False)
class HighPrecisionPoint:
    """A stationary point in ``dps`` digits: ``lam`` (mpf), ``kernel`` (mpmath matrix), residual |dS/dH|."""

    lam: mpmath.mpf
    kernel: mpmath.matrix
    residual: mpmath.mpf
    dps: int

    def to_dict(self) -> dict:
        return {"lam": mpmath.nstr(self.lam, self.dps), "residual": float(self.residual),
                "kernel": [[mpmath.nstr(self.kernel[i, j], self.dps) for j in range(self.kernel.cols)]
                           for i in range(self.kernel.rows)], "dps": self.dps}


def newton(problem: Problem, x, lam, free=None, constraint=None, dps: int = 30, maxiter: int = 60):
    """Newton on F(x, lam) = 0 at working precision ``dps`` (set by the caller's workdps).

    ``free``: indices of x solved for (the others stay fixed, e.g. the odd
    coordinates at zero on the symmetric branch).  ``constraint = (a, c)``
    adds the equation ``a . x = c`` and frees ``lam`` (a branch parametrised
    by a linear function of the kernel, such as m).  Returns ``(x, lam)``.
    """
    n = problem.n
    dim = n * (n + 1) // 2
    free = list(range(dim)) if free is None else list(free)
    tol = mp.mpf(10) ** (-dps + 4)
    last = None
    for _ in range(maxiter):
        F, J, Fl = equations(problem, x, lam)
        if constraint is None:
            r = mp.matrix([F[i] for i in free])
            A = _sub(J, free, free)
        else:
            a, c = constraint
            r = mp.matrix([F[i] for i in free] + [mp.fsum(a[i] * x[i] for i in range(dim)) - c])
            A = mp.matrix(len(free) + 1, len(free) + 1)
            for p, i in enumerate(free):
                for q, j in enumerate(free):
                    A[p, q] = J[i, j]
                A[p, len(free)] = Fl[i]
                A[len(free), p] = a[i]
        res = _norm(r)
        if res < tol * max(1, _norm(x)):
            return x, lam
        if last is not None and res >= last and res < mp.mpf(10) ** (-dps // 2):
            return x, lam  # stalled at the rounding level of this precision
        last = res
        step = mp.lu_solve(A, -r)
        x = x.copy()
        for p, i in enumerate(free):
            x[i] += step[p]
        if constraint is not None:
            lam = lam + step[len(free)]
    raise ConvergenceError(f"high-precision Newton did not converge in {maxiter} steps "
                           f"(residual {mpmath.nstr(res, 3)}); start closer or raise dps")


def odd_coordinates(problem: Problem) -> list:
    """Indices of the Z2-odd coordinates (:func:`linkernel.theory.action.odd_coordinates`)."""
    return [int(k) for k in np.flatnonzero(float_odd_coordinates(problem))]


def symmetric_point(problem: Problem, lam, H0, dps: int = 30) -> HighPrecisionPoint:
    """The Z2-symmetric stationary point at ``lam`` (odd entries held at zero), from the guess H0."""
    with mp.workdps(dps):
        lam = mp.mpf(lam)
        x = to_vector(as_matrix(H0))
        odd = set(odd_coordinates(problem))
        for k in odd:
            x[k] = 0
        x, lam = newton(problem, x, lam, free=[k for k in range(len(x)) if k not in odd], dps=dps)
        F = equations(problem, x, lam)[0]
        return HighPrecisionPoint(lam, from_vector(x, problem.n), _norm(F), dps)


def branch_point(problem: Problem, lam_guess, H_guess, dps: int = 30, which: int = 0) -> tuple:
    """The Z2 branch point in ``dps`` digits: lam where det(odd Hessian block) = 0 on the symmetric branch.

    Secant iteration (``mpmath.findroot``) on lambda; at each lambda the
    symmetric branch is solved by Newton.  ``which`` picks the odd eigenvalue
    (0: the smallest) whose sign is used to seed the secant.  Returns
    ``(HighPrecisionPoint, smallest odd eigenvalue there)``.
    """
    odd = odd_coordinates(problem)
    with mp.workdps(dps + 10):
        state = {"H": as_matrix(H_guess)}

        def det_odd(lam):
            pt = symmetric_point(problem, lam, state["H"], dps + 10)
            state["H"] = pt.kernel
            J = equations(problem, to_vector(pt.kernel), pt.lam)[1]
            return mp.det(_sub(J, odd, odd))

        lam0 = mp.mpf(lam_guess)
        lam_c = mp.findroot(det_odd, (lam0 * (1 - mp.mpf(10) ** -7), lam0 * (1 + mp.mpf(10) ** -7)),
                            solver="secant", tol=mp.mpf(10) ** (-2 * dps), maxsteps=60)
        pt = symmetric_point(problem, lam_c, state["H"], dps + 10)
        J = equations(problem, to_vector(pt.kernel), pt.lam)[1]
        ev = sorted(mp.eigsy(_sub(J, odd, odd), eigvals_only=True))
    with mp.workdps(dps):
        return HighPrecisionPoint(+pt.lam, pt.kernel, pt.residual, dps), +ev[which]


# --- the broken branch parametrised by m, and its special points ------------------------
def m_vector(problem: Problem):
    """a (mpmath column) with a . to_vector(H) = m: :func:`linkernel.theory.action.m_vector`, its 1/(sqrt(2) P) exact."""
    a = mp.matrix(problem.n * (problem.n + 1) // 2, 1)
    for k in np.flatnonzero(float_m_vector(problem)):
        a[int(k)] = 1 / (mp.sqrt(2) * problem.P)
    return a


def dlam_dm(problem: Problem, x, lam, a):
    """dlambda/dm along the branch {F = 0, a.x = m}: the bordered system [[J, F_lam], [a, 0]] (dx, dlam) = (0, 1)."""
    F, J, Fl = equations(problem, x, lam)
    dim = len(x)
    A = mp.matrix(dim + 1, dim + 1)
    for i in range(dim):
        for j in range(dim):
            A[i, j] = J[i, j]
        A[i, dim] = Fl[i]
        A[dim, i] = a[i]
    rhs = mp.matrix(dim + 1, 1)
    rhs[dim] = 1
    return mp.lu_solve(A, rhs)[dim]


def broken_point(problem: Problem, m, H_guess, lam_guess, dps: int = 30) -> HighPrecisionPoint:
    """The stationary point with order parameter m (lambda free), by Newton from (H_guess, lam_guess)."""
    with mp.workdps(dps):
        x = to_vector(as_matrix(H_guess))
        x, lam = newton(problem, x, mp.mpf(lam_guess), constraint=(m_vector(problem), mp.mpf(m)), dps=dps)
        return HighPrecisionPoint(lam, from_vector(x, problem.n), _norm(equations(problem, x, lam)[0]), dps)


def _on_branch_root(problem, g, m0, H0, lam0, dps):
    """Secant on m for g(point) = 0 along the m-parametrised branch, from the double-precision guess."""
    state = {"H": as_matrix(H0), "lam": mp.mpf(lam0)}

    def solve(m):
        pt = broken_point(problem, m, state["H"], state["lam"], dps)
        state["H"], state["lam"] = pt.kernel, pt.lam
        return pt

    m0 = mp.mpf(m0)
    m_star = mp.findroot(lambda m: g(solve(m)), (m0 * (1 - mp.mpf(10) ** -6), m0 * (1 + mp.mpf(10) ** -6)),
                         solver="secant", tol=mp.mpf(10) ** (-2 * dps + 10), maxsteps=80)
    return solve(m_star), m_star


def fold_point(problem: Problem, m0, H0, lam0, dps: int = 30) -> tuple:
    """A fold (limit point) of the broken branch in ``dps`` digits: dlambda/dm = 0.

    (m0, H0, lam0) is the double-precision fold.  Returns ``(point, m)``.
    """
    with mp.workdps(dps + 10):
        a = m_vector(problem)
        pt, m = _on_branch_root(problem, lambda q: dlam_dm(problem, to_vector(q.kernel), q.lam, a),
                                m0, H0, lam0, dps + 10)
    with mp.workdps(dps):
        return HighPrecisionPoint(+pt.lam, pt.kernel, pt.residual, dps), +m


def coexistence_point(problem: Problem, m0, H0, lam0, H_sym, dps: int = 30) -> tuple:
    """Equal action of the broken branch (through (m0, H0, lam0)) and the symmetric branch (near H_sym).

    Returns ``(broken point, m, symmetric point)`` in ``dps`` digits.
    """
    with mp.workdps(dps + 10):
        sym = {"H": as_matrix(H_sym)}

        def gap(q):
            s = symmetric_point(problem, q.lam, sym["H"], dps + 10)
            sym["H"] = s.kernel
            return action(problem, q.kernel, q.lam) - action(problem, s.kernel, q.lam)

        pt, m = _on_branch_root(problem, gap, m0, H0, lam0, dps + 10)
        s = symmetric_point(problem, pt.lam, sym["H"], dps + 10)
    with mp.workdps(dps):
        return HighPrecisionPoint(+pt.lam, pt.kernel, pt.residual, dps), +m, s


def refine_special_points(trace_, digits: int = 30) -> list:
    """Every special point of a :class:`~linkernel.theory.branches.Trace` refined to ``digits`` digits.

    Z2 branch points on the symmetric branch, folds and coexistence points on
    broken branches; other special points are passed over (None).  Returns a
    list parallel to ``trace_.special_points`` of dicts
    ``{type, lam, order_parameter, residual, digits}`` with numbers as strings.
    """
    p = trace_.problem
    sym_branch = trace_.branches[0]
    out = []
    for sp in trace_.special_points:
        with mp.workdps(digits):
            if sp.kind == "branch_point" and sp.z2 and sp.branch == 0:
                pt, _ = branch_point(p, sp.lam, sp.kernel, dps=digits)
                m = mp.mpf(0)
            elif sp.kind == "fold" and p.has_z2 and sp.order_parameter > 0:
                pt, m = fold_point(p, sp.order_parameter, sp.kernel, sp.lam, dps=digits)
            elif sp.kind == "coexistence":
                k = int(np.argmin(np.abs(sym_branch.lam - sp.lam)))
                pt, m, _ = coexistence_point(p, sp.order_parameter, sp.kernel, sp.lam,
                                             sym_branch.points[k].kernel, dps=digits)
            else:
                out.append(None)
                continue
            out.append({"kind": sp.kind, "lam": mpmath.nstr(pt.lam, digits),
                        "order_parameter": mpmath.nstr(m, digits), "residual": float(pt.residual),
                        "digits": digits})
    return out


# --- polishing a float64 minimum whose Hessian float64 cannot resolve -----------------------
@dataclass(frozen=True, eq=False)
class PolishedMinimum:
    """A minimum refined in ``dps`` digits (:func:`polish_minimum`).

    ``kernel`` (mpmath matrix) and ``residual`` |dS/dH|_F at ``dps`` digits;
    ``whitened_min_eigenvalue``: the smallest eigenvalue of the whitened Hessian
    ``L^T d2S[L . L^T] L`` at the refined kernel (congruent to the Hessian, so
    > 0 exactly when it is positive definite; its KL part alone is 1/2);
    ``hessian_condition``: the condition number of the Hessian in Frobenius
    coordinates (what made float64 fail); ``iterations``: refinement steps.
    """

    kernel: mpmath.matrix
    action: mpmath.mpf
    residual: mpmath.mpf
    dps: int
    whitened_min_eigenvalue: float
    hessian_condition: float
    iterations: int

    @property
    def kernel_float(self) -> np.ndarray:
        return to_numpy(self.kernel)

    def to_dict(self) -> dict:
        return {"action": mpmath.nstr(self.action, self.dps), "residual": float(self.residual),
                "kernel": [[mpmath.nstr(self.kernel[i, j], self.dps) for j in range(self.kernel.cols)]
                           for i in range(self.kernel.rows)], "dps": self.dps,
                "whitened_min_eigenvalue": self.whitened_min_eigenvalue,
                "hessian_condition": self.hessian_condition, "iterations": self.iterations}


def polish_minimum(problem: Problem, H0, dps: int = 50, maxiter: int = 40) -> PolishedMinimum:
    """Newton refinement of a minimum to ``dps`` digits: residuals in mpmath, steps from float64.

    Iterative refinement (Wilkinson): the residual G = dS/dH is evaluated at
    ``dps`` digits, whitened with the float64 Cholesky factor L of H
    (``g = L^T G L``, exact products of doubles), and the step solves the
    float64 whitened Hessian, ``B X = -g``, ``H += L X L^T`` at ``dps`` digits.
    B (:func:`linkernel.theory.hessian.whitened_dense`) is well conditioned
    even where the Hessian in Frobenius coordinates has condition 1e12-1e17
    (that comes from H^-1 (x) H^-1 of a nearly singular H), so each step gains
    about as many digits as float64 resolves B, and 50 digits take a handful of
    steps.  Converged below ``10^(6 - dps)`` times max(1, max|H|), or where the
    residual stops decreasing below ``10^(-dps/2)`` of that (the rounding
    floor, raised by the large H^-1 terms).  Raises :class:`ConvergenceError`
    if it stalls above, or if the whitened Hessian is not positive definite.
    """
    n = problem.n
    with mp.workdps(dps):
        Hm = as_matrix(H0)
        tol = mp.mpf(10) ** (-dps + 6)
        last = None
        for it in range(maxiter + 1):
            pc_mp = _Pieces(problem, Hm)
            G = pc_mp.gradient()
            res = mp.sqrt(mp.fsum(G[i, j] ** 2 for i in range(n) for j in range(n)))
            scale = max(mp.mpf(1), max(abs(Hm[i, j]) for i in range(n) for j in range(n)))
            Hf = to_numpy(Hm)
            pcf = FloatPieces(problem, 0.5 * (Hf + Hf.T), check=False)
            B = whitened_dense(problem, pcf)
            if res < tol * scale:
                break
            if last is not None and res > last / 2 and res < mp.mpf(10) ** (-dps // 2) * scale:
                break     # the rounding floor of this precision (the H^-1 terms are large)
            if last is not None and res > last / 2 and it > 3:
                raise ConvergenceError(
                    f"high-precision refinement of the minimum stalled at residual {mpmath.nstr(res, 3)} after "
                    f"{it} steps (dps={dps}); the float64 whitened Hessian is too inaccurate here: start "
                    "closer (a smaller tol for the float64 solve) or raise dps")
            last = res
            Lm = mp.matrix(pcf.LH.tolist())
            g = to_numpy(Lm.T * G * Lm)
            X = float_from_vector(np.linalg.solve(B, -float_to_vector(0.5 * (g + g.T))), n)
            Hm = Hm + Lm * mp.matrix(X.tolist()) * Lm.T
            Hm = (Hm + Hm.T) / 2
        else:
            raise ConvergenceError(f"high-precision refinement did not converge in {maxiter} steps "
                                   f"(residual {mpmath.nstr(res, 3)}, dps={dps}); raise maxiter or dps")
        ev = np.linalg.eigvalsh(B)
        if ev[0] <= 0:
            raise ConvergenceError(
                f"the refined stationary point is not a minimum: the whitened Hessian has eigenvalue "
                f"{ev[0]:.3e} <= 0 (a saddle); restart the minimisation from elsewhere")
        eh = np.linalg.eigvalsh(dense_hessian(problem, pcf.H, pieces=pcf))
        cond = float(abs(eh[-1]) / abs(eh[0])) if eh[0] != 0 else float("inf")
        return PolishedMinimum(kernel=Hm, action=action(problem, Hm), residual=res, dps=dps,
                               whitened_min_eigenvalue=float(ev[0]), hessian_condition=cond, iterations=it)

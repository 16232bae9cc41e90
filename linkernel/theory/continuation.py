"""Pseudo-arclength continuation of the saddle-point equations dS/dH = 0 in lambda.

The unknowns are ``X = (x, lam)`` with ``x = to_vector(H)`` (the kernel in the
Frobenius-orthonormal coordinates of :mod:`linkernel.theory.action`, so that the
Jacobian ``dF/dx`` is the Hessian of S); the equations are
``F(x, lam) = to_vector(dS/dH) = 0``.  Each step predicts along the unit
tangent ``tau`` (the null vector of ``[dF/dx | dF/dlam]``) and corrects by
Newton's method on ``F = 0`` plus the arclength condition
``tau . (X - X_pred) = 0``, with the step length adapted to the Newton
iteration count and to the turning of the tangent.

Along a branch every point carries its residual |dS/dH|, its Hessian
eigenvalues and its stability (all eigenvalues > 0: a local minimum of S).
Three test functions are watched between consecutive points and their zeros
refined by Brent's method along the arclength:

* ``tau_lam`` (the lambda component of the tangent) changes sign at a *fold*
  (limit point, a spinodal of a first-order transition);
* on a Z2-symmetric branch (``problem.has_z2`` and all odd-lag entries zero)
  the Hessian splits into a Z2-even and a Z2-odd block; the smallest
  eigenvalue of the *odd* block crosses zero at the symmetry-breaking
  *branch point*.  Its odd null vector gives the direction of the broken
  branch (branch switching); the broken branch is traced in the Z2
  representative with ``m = H^{T-1,T-2} >= 0``;
* the sign of ``det [[dF/dx, dF/dlam], [tau]]`` changes at any simple branch
  point (reported as ``branch_point`` with ``z2 = False`` when it is not the
  symmetry-breaking one).

When a broken branch coexists with the stable symmetric branch (first-order
transition), the lambda of equal action (*coexistence*) is located by Brent's
method on the action difference.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import brentq

from linkernel.theory.action import (KernelError, action, readout_kernel, from_vector, gradient, hessian, m_vector, odd_coordinates,
                              prior_kernel, to_vector)
from linkernel.theory.branches import Branch, ContinuationPoint, SpecialPoint, Trace
from linkernel.problem import Problem, fix_z2_sign, order_parameter
from linkernel.theory.saddle import ConvergenceError, saddle_point

# --- the equations ----------------------------------------------------------------


def gradient_lambda(problem: Problem, H) -> np.ndarray:
    """d(dS/dH)/dlam at fixed H: only the likelihood depends on lam (y = lam * yhat).

    ``-v lam E_S(K^-1 yhat_S yhat_S^T K^-1)``, ``K = v H_SS + kappa I``; a
    symmetric (TP, TP) matrix.
    """
    H = np.asarray(H, dtype=float)
    idx = problem.supervised_index
    K = readout_kernel(problem, H)
    a = np.linalg.solve(K, np.array([problem.yhat[t, p] for t, p in problem.supervised]))
    out = np.zeros_like(H)
    out[np.ix_(idx, idx)] = -problem.v * problem.lam * np.outer(a, a)
    return out


class _Equations:
    """F(x, lam) = to_vector(dS/dH) with its Jacobian, for one base problem."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.n = problem.n
        self.dim = self.n * (self.n + 1) // 2
        self.odd = odd_coordinates(problem)

    def at(self, lam: float) -> Problem:
        return self.problem.with_(lam=float(lam))

    def F(self, X):
        return to_vector(gradient(self.at(X[-1]), from_vector(X[:-1], self.n)))

    def J(self, X):
        """(Hessian, dF/dlam), the two blocks of the Jacobian."""
        p, H = self.at(X[-1]), from_vector(X[:-1], self.n)
        return hessian(p, H), to_vector(gradient_lambda(p, H))

    def keep(self, sym: bool) -> np.ndarray:
        """Indices of X solved for: all, or (on the symmetric branch) the Z2-even ones and lam."""
        return np.flatnonzero(np.append(~self.odd, True)) if sym else np.arange(self.dim + 1)


def _bordered(eq, Hs, Fl, row, sym):
    """[[dF/dx, dF/dlam], [row]] restricted to the kept coordinates (square)."""
    k = eq.keep(sym)
    A = np.vstack([np.column_stack([Hs, Fl]), row])
    return A[np.ix_(np.append(k[:-1], eq.dim), k)], k


def _tangent(eq, Hs, Fl, ref, sym):
    A, k = _bordered(eq, Hs, Fl, ref, sym)
    rhs = np.zeros(len(k))
    rhs[-1] = 1.0
    t = np.zeros(eq.dim + 1)
    try:
        t[k] = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:  # exactly at a branch point: any null vector of the Jacobian
        t[k] = np.linalg.svd(A[:-1])[2][-1]
    t[np.abs(t) < 1e-200] = 0.0  # denormals from repeated solves upset LAPACK's det
    return t / np.linalg.norm(t)


def _correct(eq: _Equations, X_pred, tau, sym: bool, tol: float, maxiter: int = 10):
    """Newton on [F(X) = 0, tau.(X - X_pred) = 0]; returns (X, iterations) or None."""
    X = X_pred.copy()
    scale = max(1.0, np.abs(X).max())
    for it in range(1, maxiter + 1):
        try:
            F = eq.F(X)
            Hs, Fl = eq.J(X)
        except (KernelError, np.linalg.LinAlgError):
            return None
        A, k = _bordered(eq, Hs, Fl, tau, sym)
        r = np.append(F, tau @ (X - X_pred))[np.append(k[:-1], eq.dim)]
        dX = np.zeros_like(X)
        try:
            dX[k] = np.linalg.solve(A, -r)
        except np.linalg.LinAlgError:
            return None
        X = X + dX
        if np.linalg.norm(dX) < 1e-10 * scale:
            try:
                if np.linalg.norm(eq.F(X)) < tol * scale:
                    return X, it
            except (KernelError, np.linalg.LinAlgError):
                return None
    try:
        ok = np.linalg.norm(eq.F(X)) < tol * scale
    except (KernelError, np.linalg.LinAlgError):
        return None
    return (X, maxiter) if ok else None


# --- one branch -------------------------------------------------------------------
def _point(eq: _Equations, X, Hs=None) -> ContinuationPoint:
    p, H = eq.at(X[-1]), from_vector(X[:-1], eq.n)
    if Hs is None:
        Hs = hessian(p, H)
    eig = np.linalg.eigvalsh(Hs)
    Hz = fix_z2_sign(p, H)
    return ContinuationPoint(
        lam=float(X[-1]), kernel=Hz, action=action(p, H),
        residual=float(np.linalg.norm(eq.F(X))),
        stable=bool(eig[0] > -1e-9 * max(1.0, np.abs(eig).max())),
        order_parameter=order_parameter(Hz, p.T, p.P), order_parameters=p.order_parameters(Hz),
        min_eigenvalue=float(eig[0]),
        n_negative=int(np.sum(eig < -1e-9 * max(1.0, np.abs(eig).max()))))


def _tests(eq: _Equations, X, ref, sym: bool):
    """Tangent at X (oriented along ref) and the test functions.

    ``fold``: the tangent's lambda component; ``det``: the bordered
    determinant (restricted to the even subspace on the symmetric branch);
    ``z2``: the sorted Z2-odd Hessian eigenvalues (symmetric branch only).
    """
    Hs, Fl = eq.J(X)
    tau = _tangent(eq, Hs, Fl, ref, sym)
    if tau @ ref < 0:
        tau = -tau
    z2 = np.linalg.eigvalsh(Hs[np.ix_(eq.odd, eq.odd)]) if sym else np.zeros(0)
    bdet = np.linalg.det(_bordered(eq, Hs, Fl, tau, sym)[0])
    return tau, {"fold": tau[-1], "z2": z2, "det": bdet}, Hs


class _Singular(Exception):
    pass


def _locate(eq, X, tau, ds, key, sym, tol, j=0):
    """Zero of test function ``key`` (``z2``: the j-th odd eigenvalue) along X + s tau, s in [0, ds].

    Illinois (modified regula falsi) on s, which tolerates the corrector
    failing right at a singular point (a branch point inside the corrected
    subspace): the bracket then shrinks by bisection and the end with the
    smaller test value is returned.
    """
    def g(s):
        res = _correct(eq, X + s * tau, tau, sym, tol)
        if res is None:
            raise _Singular
        t, tests, Hs = _tests(eq, res[0], tau, sym)
        val = tests[key][j] if key == "z2" else tests[key]
        return val, (res[0], t, tests, Hs)

    a, b = 0.0, ds
    (ga, fa), (gb, fb) = g(a), g(b)
    side = 0
    for _ in range(200):
        if abs(b - a) <= 1e-15 * max(1.0, ds) or ga == 0 or gb == 0:
            break
        s = b - gb * (b - a) / (gb - ga)
        if not min(a, b) < s < max(a, b):
            s = 0.5 * (a + b)
        try:
            gs, fs = g(s)
        except _Singular:
            try:
                s = 0.5 * (a + b)
                gs, fs = g(s)
            except _Singular:
                break
        if np.sign(gs) == np.sign(gb):
            b, gb, fb = s, gs, fs
            if side == -1:
                ga *= 0.5
            side = -1
        else:
            a, ga, fa = s, gs, fs
            if side == 1:
                gb *= 0.5
            side = 1
    # ga, gb may have been halved: report the end whose recomputed test value is smaller
    va = fa[2][key][j] if key == "z2" else fa[2][key]
    vb = fb[2][key][j] if key == "z2" else fb[2][key]
    return fa if abs(va) <= abs(vb) else fb


def _special(eq, type_, key, found, branch, j=0):
    X, t, tests, Hs = found
    pt = _point(eq, X, Hs)
    phi, value = None, tests[key]
    if key == "z2":
        o = eq.odd
        w, V = np.linalg.eigh(Hs[np.ix_(o, o)])
        phi = np.zeros(eq.dim)
        phi[o] = V[:, j]
        value = w[j]
    return SpecialPoint(kind=type_, lam=pt.lam, kernel=pt.kernel, action=pt.action,
                        residual=pt.residual, order_parameter=pt.order_parameter,
                        test_value=float(value), branch=branch, z2=(key == "z2"),
                        null_vector=phi), X


def continue_branch(eq: _Equations, X0, tau0, lam_range, sym: bool, branch: int = 0,
                    ds: float = 0.05, ds_min: float = 1e-7, ds_max: float = 0.25,
                    max_steps: int = 2000, tol: float = 1e-11, bar=None):
    """Pseudo-arclength continuation from (X0, tau0) until lambda leaves ``lam_range``.

    Returns ``(points X, special points, steps)``.  ``sym`` keeps the Z2-odd
    coordinates at zero (the symmetric branch, an invariant subspace).
    """
    lo, hi = lam_range
    Xs = [X0]
    tau, tests, _ = _tests(eq, X0, tau0, sym)
    X, specials, steps = X0, [], 0
    while steps < max_steps:
        steps += 1
        res = _correct(eq, X + ds * tau, tau, sym, tol)
        if res is not None:
            Xn, its = res
            tau_n, tests_n, _ = _tests(eq, Xn, tau, sym)
        if res is None or (tau_n @ tau < 0.97 and ds > 2 * ds_min):
            ds *= 0.5
            if ds < ds_min:
                raise ConvergenceError(f"continuation stalled at lambda={X[-1]:.8g} (step below "
                                       f"ds_min={ds_min:g}); try a smaller tol or a different range")
            continue
        if bar is not None:
            bar.update(1)
        found = []
        if np.sign(tests["fold"]) * np.sign(tests_n["fold"]) < 0:
            found.append(_special(eq, "fold", "fold", _locate(eq, X, tau, ds, "fold", sym, tol), branch))
        if np.sign(tests["det"]) * np.sign(tests_n["det"]) < 0:
            found.append(_special(eq, "branch_point", "det",
                                  _locate(eq, X, tau, ds, "det", sym, tol), branch))
        a, b = np.sum(tests["z2"] < 0), np.sum(tests_n["z2"] < 0)
        for j in range(min(a, b), max(a, b)):  # the j-th odd eigenvalue crosses zero
            found.append(_special(eq, "branch_point", "z2",
                                  _locate(eq, X, tau, ds, "z2", sym, tol, j), branch, j))
        for sp, Xsp in sorted(found, key=lambda f: tau @ (f[1] - X)):
            if np.linalg.norm(Xsp - X) > 1e-12 and lo <= Xsp[-1] <= hi:
                specials.append(sp)
                Xs.append(Xsp)
        lam_n = Xn[-1]
        if not lo <= lam_n <= hi:
            bound = hi if lam_n > hi else lo
            f = (bound - X[-1]) / (lam_n - X[-1])
            guess = X + f * (Xn - X)
            guess[-1] = bound
            e = np.zeros_like(X)
            e[-1] = 1.0
            res = _correct(eq, guess, e, sym, tol)
            if res is not None:
                Xs.append(res[0])
            break
        Xs.append(Xn)
        X, tau, tests = Xn, tau_n, tests_n
        ds = min(ds * 1.5, ds_max) if its <= 3 else (ds * 0.6 if its >= 6 else ds)
    return Xs, specials, steps


# --- starting points and branch switching -----------------------------------------
def _start(eq: _Equations, lam0: float, tol: float):
    """The symmetric saddle at lam0 (problems with a Z2) or the global minimum of S (otherwise)."""
    p = eq.at(lam0)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    if eq.odd.any():
        from linkernel.theory.special_points import symmetric_saddle
        try:
            H = symmetric_saddle(p, tol=tol)
        except ConvergenceError:
            H = prior_kernel(p)
        X = np.append(to_vector(H), lam0)
        X[:-1][eq.odd] = 0.0
        res = _correct(eq, X, e, True, tol, maxiter=30)
        if res is None:
            raise ConvergenceError(f"no symmetric saddle found at lambda={lam0:g}; "
                                   "start the range at a smaller lambda")
        return res[0], True
    H = saddle_point(p, n_starts=4).kernel
    return np.append(to_vector(H), lam0), False


def switch_branch(eq: _Equations, bp: SpecialPoint, tol: float = 1e-11, h: float = 1e-2):
    """First point and tangent of the broken branch leaving a Z2 branch point along +phi (m > 0).

    The corrector fixes the distance along (phi, 0) and frees lambda, so the
    broken branch (lambda - lambda_c ~ h^2) is reached, not the symmetric one.
    """
    phi = bp.null_vector / np.linalg.norm(bp.null_vector)
    # orient along +m_g of the group the null vector excites most (for the RNN: m = H^{T-1,T-2} > 0)
    proj = [phi @ m_vector(eq.problem, g) for g in eq.problem.arch.shared_groups()] or [phi @ m_vector(eq.problem)]
    if proj[int(np.argmax(np.abs(proj)))] < 0:
        phi = -phi
    X_bp = np.append(to_vector(bp.kernel), bp.lam)
    X_bp[:-1][eq.odd] = 0.0
    tau = np.append(phi, 0.0)
    scale = max(1.0, np.abs(X_bp).max())
    for k in range(6):
        res = _correct(eq, X_bp + h * scale * 2.0 ** k * tau, tau, False, tol, maxiter=30)
        if res is not None and abs((res[0][:-1] - X_bp[:-1]) @ phi) > 0.5 * h * scale:
            return X_bp, res[0], tau
    raise ConvergenceError(f"branch switching at lambda={bp.lam:.10g} failed; try a larger h")


# --- coexistence ------------------------------------------------------------------
def _solve_at(eq, Xs, lam, sym, tol):
    """The saddle on a traced (monotone) segment at lambda, from linear interpolation."""
    lams = np.array([X[-1] for X in Xs])
    k = int(np.clip(np.searchsorted(lams, lam) if lams[-1] >= lams[0] else
                    len(lams) - np.searchsorted(lams[::-1], lam), 1, len(lams) - 1))
    f = (lam - lams[k - 1]) / (lams[k] - lams[k - 1])
    guess = Xs[k - 1] + f * (Xs[k] - Xs[k - 1])
    guess[-1] = lam
    e = np.zeros_like(guess)
    e[-1] = 1.0
    res = _correct(eq, guess, e, sym, tol, maxiter=30)
    if res is None:
        raise ConvergenceError(f"Newton failed at lambda={lam:.8g} while locating coexistence")
    return res[0]


def _coexistence(eq, sym_X, sym_pts, brk_X, brk_pts, branch, tol):
    """Points of equal action between stable stretches of the symmetric and the broken branch.

    Walks the broken branch (parametrised by arclength, so its folds do no
    harm) and solves the symmetric branch at the same lambda; Brent's method
    on the action difference refines each sign change.
    """
    seg = list(sym_X)
    lams = [X[-1] for X in seg]
    if len(seg) < 2 or np.any(np.diff(lams) <= 0):
        return []  # a folded symmetric branch: not handled
    lo, hi = lams[0], lams[-1]
    stable = [p.lam for p in sym_pts if p.stable]
    if not stable:
        return []
    hi_stable = max(stable)  # the symmetric phase exists as a minimum only up to here

    def diff(Xb):
        lam = Xb[-1]
        Xa = _solve_at(eq, seg, lam, True, tol)
        p = eq.at(lam)
        return action(p, from_vector(Xb[:-1], eq.n)) - action(p, from_vector(Xa[:-1], eq.n))

    out = []
    for k in range(len(brk_X) - 1):
        X0, X1 = brk_X[k], brk_X[k + 1]
        if not (brk_pts[k].stable and brk_pts[k + 1].stable and lo <= X0[-1] <= hi and lo <= X1[-1] <= hi):
            continue
        if min(X0[-1], X1[-1]) > hi_stable:
            continue
        d0, d1 = diff(X0), diff(X1)
        if np.sign(d0) * np.sign(d1) >= 0:
            continue
        L = np.linalg.norm(X1 - X0)
        u = (X1 - X0) / L

        def on_branch(s):
            res = _correct(eq, X0 + s * u, u, False, tol)
            if res is None:
                raise ConvergenceError("corrector failed while locating coexistence; try a smaller ds_max")
            return res[0]

        s = brentq(lambda s: diff(on_branch(s)), 0.0, L, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        Xc = on_branch(s)
        if Xc[-1] > hi_stable + 1e-12 * hi_stable:
            continue  # equal action with the unstable continuation of the symmetric branch
        pt = _point(eq, Xc)
        out.append(SpecialPoint(kind="coexistence", lam=pt.lam, kernel=pt.kernel, action=pt.action,
                                residual=pt.residual, order_parameter=pt.order_parameter,
                                test_value=float(diff(Xc)), branch=branch))
    return out


def _loses_stability(pts, lam):
    """Whether the symmetric branch is stable just below lam (the transition's branch point)."""
    below = [p for p in pts if p.lam < lam - 1e-9]
    return bool(below) and below[-1].stable


# --- the whole picture ------------------------------------------------------------
def trace(problem: Problem, lam_range=(0.5, 3.0), ds: float = 0.05, ds_max: float = 0.25,
          tol: float = 1e-11, max_steps: int = 2000, progress: bool = False) -> Trace:
    """Trace the saddle points of ``problem`` for lambda in ``lam_range`` (``problem.lam`` is ignored).

    Starts on the symmetric saddle at ``lam_range[0]`` (or the global minimum
    when the problem has no Z2 symmetry), detects and refines folds and branch
    points, switches onto the broken branch at every Z2 branch point (traced
    in the representative with m >= 0) and locates coexistence points.
    Branch 0 is the starting branch; broken branches follow.
    """
    lo, hi = (float(lam_range[0]), float(lam_range[1]))
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"lam_range={lam_range!r} is invalid; need two finite numbers lo < hi")
    if lo <= 0:
        raise ValueError(f"lam_range={lam_range!r} is invalid; lambda must be > 0 (use a small lo)")
    t0 = time.perf_counter()
    eq = _Equations(problem.with_(lam=lo))
    X0, sym = _start(eq, lo, tol)
    e = np.zeros(eq.dim + 1)
    e[-1] = 1.0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=f"trace {problem.arch} T={problem.T}", unit="step", leave=False)
    try:
        Xs, specials, steps = continue_branch(eq, X0, e, (lo, hi), sym, 0, ds, 1e-7, ds_max,
                                              max_steps, tol, bar)
        pts = [_point(eq, X) for X in Xs]
        branches = [Branch(problem.arch, "symmetric" if sym else "regular", tuple(pts))]
        transition = "none"
        for bp in [s for s in specials if s.z2]:
            X_bp, X1, tau = switch_branch(eq, bp, tol)
            k = len(branches)
            Xb, sp_b, st = continue_branch(eq, X1, tau, (lo, hi), False, k, ds, 1e-7, ds_max,
                                           max_steps, tol, bar)
            Xb = [X_bp] + Xb
            steps += st
            pts_b = [_point(eq, X) for X in Xb]
            branches.append(Branch(problem.arch, "broken", tuple(pts_b)))
            specials += [s for s in sp_b if not (s.kind == "branch_point" and abs(s.lam - bp.lam) < 1e-6)]
            supercritical = Xb[1][-1] > X_bp[-1]
            if transition == "none" and _loses_stability(pts, bp.lam):
                transition = "second order" if supercritical else "first order"
            if not supercritical:
                specials += _coexistence(eq, Xs, pts, Xb, pts_b, k, tol)
        if sym and not pts[0].stable and len(branches) == 1:
            # the range starts above the transition: follow the broken minimum found by minimisation
            H = saddle_point(eq.at(lo), n_starts=4).kernel
            Xb, sp_b, st = continue_branch(eq, np.append(to_vector(H), lo), e, (lo, hi), False, 1, ds,
                                           1e-7, ds_max, max_steps, tol, bar)
            steps += st
            branches.append(Branch(problem.arch, "broken", tuple(_point(eq, X) for X in Xb)))
            specials += sp_b
    finally:
        if bar is not None:
            bar.close()
    specials.sort(key=lambda s: (s.lam, s.kind))
    return Trace(problem=problem, lam_range=(lo, hi), branches=tuple(branches),
                 special_points=tuple(specials), transition=transition, steps=steps,
                 seconds=time.perf_counter() - t0)


# --- single branches and points on them ------------------------------------------
def follow(problem: Problem, H0, lam0: float, lam_range, direction: int = 1, ds: float = 0.05,
           ds_max: float = 0.25, tol: float = 1e-11, max_steps: int = 2000) -> Branch:
    """Continue the branch through the stationary point H0 at lam0 in the direction of ``direction * lambda``.

    H0 is first polished by Newton's method at lam0.  A Z2-symmetric H0 (all
    odd-lag entries below 1e-12) is continued inside the symmetric subspace.
    Stops when lambda leaves ``lam_range`` (or at ``max_steps``).
    """
    if direction not in (1, -1):
        raise ValueError(f"direction={direction!r} is invalid; direction must be +1 or -1")
    eq = _Equations(problem.with_(lam=lam0))
    X = np.append(to_vector(np.asarray(H0, dtype=float)), lam0)
    sym = bool(eq.odd.any()) and np.abs(X[:-1][eq.odd]).max() < 1e-12 * max(1.0, np.abs(X).max())
    if sym:
        X[:-1][eq.odd] = 0.0
    e = np.zeros_like(X)
    e[-1] = 1.0
    res = _correct(eq, X, e, sym, tol, maxiter=30)
    if res is None:
        raise ConvergenceError(f"H0 is not close to a stationary point at lambda={lam0:g}")
    Xs, _, _ = continue_branch(eq, res[0], direction * e, lam_range, sym, 0, ds, 1e-7, ds_max,
                               max_steps, tol)
    return Branch(problem.arch, "symmetric" if sym else ("broken" if eq.odd.any() else "regular"),
                  tuple(_point(eq, X) for X in Xs))


def point_at(trace_: Trace, lam: float, branch: int = 0, tol: float = 1e-11) -> ContinuationPoint:
    """The saddle on ``trace_.branches[branch]`` at exactly ``lam``, by Newton from the traced neighbours.

    Where the branch folds, the first stretch (in the traced order) covering
    ``lam`` is used.
    """
    b = trace_.branches[branch]
    lams = b.lam
    eq = _Equations(trace_.problem.with_(lam=lam))
    for k in range(1, len(lams)):
        if min(lams[k - 1], lams[k]) <= lam <= max(lams[k - 1], lams[k]):
            f = 0.0 if lams[k] == lams[k - 1] else (lam - lams[k - 1]) / (lams[k] - lams[k - 1])
            H = (1 - f) * b.points[k - 1].kernel + f * b.points[k].kernel
            X = np.append(to_vector(H), lam)
            sym = b.kind == "symmetric"
            e = np.zeros_like(X)
            e[-1] = 1.0
            res = _correct(eq, X, e, sym, tol, maxiter=30)
            if res is None:
                raise ConvergenceError(f"Newton failed at lambda={lam:g} on branch {branch}")
            return _point(eq, res[0])
    raise ValueError(f"lam={lam!r} is not covered by branch {branch} "
                     f"(lambda from {lams.min():g} to {lams.max():g})")


def trace_endpoint(Ts, archs=("rnn",), lam_range=(0.5, 3.0), P: int = 1, progress: bool = False,
                   **hyper) -> list:
    """:func:`trace` of the endpoint task (:func:`linkernel.tasks.endpoint`) for every T and architecture.

    ``hyper`` are ``w, v, u, kappa``.  Returns the traces, T-major.
    """
    from linkernel.tasks import endpoint
    return [trace(endpoint(arch, T=T, P=P, **hyper), lam_range, progress=progress)
            for T in Ts for arch in archs]

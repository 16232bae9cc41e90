"""The first-order lines of a phase diagram: the spinodal (fold of the broken branch) and coexistence.

Seeded at one param by walking the broken branch from the branch point along its odd null
vector (``phi . (x - x_c) = s``, each point by the continuation stepper's corrector), polished
by the minimally augmented system (fold; :mod:`linkernel.theory.continuation.codim2`, solved by the
stepper's damped corrector) and Newton in lambda on the action difference
(coexistence), then continued in param with a Landau-scaled predictor; both lines end at the
tricritical point.
"""

from __future__ import annotations

import math

import numpy as np

from linkernel.problem import Problem
from linkernel.theory.action import action, from_vector, likelihood_term
from linkernel.theory.continuation.stepper import correct
from linkernel.theory.phase_diagram.augmented import _LINALG, _at_lambda, _breaking_vector, _critical_point, _Point


def _walk_broken(pt: _Point, x_bp, lam_c, phi, tol, max_steps=400, ds=0.02):
    """Points (s, x, lam, mu_full) of the broken branch from a branch point, ``phi . (x - x_bp) = s``, s > 0.

    Walks until the branch is stable (the whole Hessian's smallest eigenvalue
    > 0) and its action is below the symmetric saddle's at the same lambda
    (past coexistence), or until lambda exceeds lambda_c again.  Returns the
    list, or None if the walk failed.
    """
    n = pt.n
    a = _breaking_vector(pt.p, phi)
    phi = phi if a @ phi > 0 else -phi
    scale = max(1.0, np.abs(x_bp).max())
    ds = ds * scale
    out = [(0.0, x_bp, lam_c, 0.0)]
    s = 0.0
    for _ in range(max_steps):
        s_new = s + ds
        if len(out) >= 3:  # quadratic extrapolation in s
            (s0, x0, l0, _), (s1, x1, l1, _), (s2, x2, l2, _) = out[-3:]
            L = [((s_new - s1) * (s_new - s2)) / ((s0 - s1) * (s0 - s2)),
                 ((s_new - s0) * (s_new - s2)) / ((s1 - s0) * (s1 - s2)),
                 ((s_new - s0) * (s_new - s1)) / ((s2 - s0) * (s2 - s1))]
            x, lam = L[0] * x0 + L[1] * x1 + L[2] * x2, L[0] * l0 + L[1] * l1 + L[2] * l2
        else:
            x, lam = x_bp + s_new * phi, lam_c
        res = _on_broken_branch(pt, x, lam, phi, x_bp, s_new, tol)
        if res is None:
            ds *= 0.5
            if ds < 1e-5 * scale:
                return None
            continue
        x, lam, mu, it = res
        out.append((s_new, x, lam, mu))
        s = s_new
        if it <= 4:
            ds = min(2 * ds, 0.1 * scale)
        if mu > 0 and lam > lam_c:
            break
        if mu > 0 and len(out) > 2 and out[-2][3] > 0:
            Hs = _at_lambda(pt, x_bp, lam, pt.i_even, tol)
            if Hs is not None and pt.at(lam) and action(pt.at(lam), from_vector(x, n)) < action(
                    pt.at(lam), from_vector(Hs, n)):
                break
    return out


def _on_broken_branch(pt: _Point, x, lam, phi, x_bp, s, tol):
    """The solution of [F(x, lam) = 0, phi . (x - x_bp) = s] from the guess (x, lam), phi a unit vector.

    The stepper's corrector (:func:`linkernel.theory.continuation.stepper.correct`) with
    the border ``(phi, 0)``, started at the guess moved onto the hyperplane; returns
    (x, lam, smallest eigenvalue of the whole Hessian, iterations) or None.
    """
    x = np.asarray(x, dtype=float)
    start = np.append(x + (s - phi @ (x - x_bp)) * phi, lam)
    res = correct(pt.eq, start, np.append(phi, 0.0), False, tol, maxiter=30)
    if res is None:
        return None
    X, it = res
    try:
        mu = float(np.linalg.eigvalsh(pt.hess(X[:-1], X[-1]))[0])
    except _LINALG:
        return None
    return X[:-1], float(X[-1]), mu, it


def _dS_dlam(p: Problem, x) -> float:
    """dS/dlam at fixed H: the likelihood term is lam^2/2 yhat K^-1 yhat, so 2 L / lam."""
    return 2.0 * likelihood_term(p, from_vector(x, p.n)) / p.lam


def _coexistence_at(pt: _Point, x_b, x_s, lam, tol, maxiter=30):
    """Newton in lambda on S(broken) - S(symmetric) = 0; returns (lam, x_b, x_s) or None.

    None also when the broken saddle found is not a clearly broken minimum (at
    the branch point itself the two actions are trivially equal).
    """
    res = _coexistence_newton(pt, x_b, x_s, lam, tol, maxiter)
    if res is None:
        return None
    lam, xb, xs = res
    broken = np.abs(xb[pt.i_odd]).max() > 1e-4 * max(1.0, np.abs(xb).max())
    return res if broken and np.linalg.eigvalsh(pt.hess(xb, lam))[0] > 0 else None


def _coexistence_newton(pt: _Point, x_b, x_s, lam, tol, maxiter=30):
    all_ = np.arange(pt.dim)
    for _ in range(maxiter):
        xb = _at_lambda(pt, x_b, lam, all_, tol)
        xs = _at_lambda(pt, x_s, lam, pt.i_even, tol)
        if xb is None or xs is None or np.abs(xb[pt.i_odd]).max() < 1e-6:
            return None
        q = pt.at(lam)
        d = action(q, from_vector(xb, pt.n)) - action(q, from_vector(xs, pt.n))
        dd = _dS_dlam(q, xb) - _dS_dlam(q, xs)
        x_b, x_s = xb, xs
        if abs(d) < 1e-14 * max(1.0, abs(action(q, from_vector(xs, pt.n)))):
            return lam, xb, xs
        step = -d / dd
        step = max(min(step, 0.1 * lam), -0.1 * lam)
        lam = lam + step
        if abs(step) < 1e-15 * lam:
            return lam, xb, xs
    return None


def _first_order_lines(line, rows: list, cod2: tuple, tol: float):
    """(fold, coexistence, notes, restarts): the spinodal and coexistence lines where b < 0.

    Seeded at one branch point of the first-order stretch (:func:`_seed`), marched from
    there up and down the rows of the branch-point line (:func:`_march`), and closed at the
    tricritical points, where fold, coexistence and branch point meet.  ``restarts`` counts
    the params where continuation lost a point and a walk from the branch point found it.
    """
    notes = []
    first = [r for r in rows if r["b"] < 0 and r["even_min"] > 0]
    if not first:
        return [], [], notes, 0
    seed, seeded = _seed(first, tol)
    if seeded is None:
        notes.append(f"could not follow the broken branch to its fold and coexistence from the branch points "
                     f"in the first-order region ({line.param} {first[0]['param']:.6g}..{first[-1]['param']:.6g})")
        return [], [], notes, 0
    k0 = rows.index(seed)
    b_scale = float(np.nanmedian([abs(r["b"]) for r in first]))
    march = dict(line=line, rows=rows, seed=seed, seeded=seeded, tol=tol, b_scale=b_scale, notes=notes)
    up_f, up_c, up_n = _march(range(k0, len(rows)), **march)
    dn_f, dn_c, dn_n = _march(range(k0 - 1, -1, -1), **march) if k0 > 0 else ([], [], 0)
    fold = dn_f[::-1] + up_f
    coex = dn_c[::-1] + up_c
    for p in cod2:
        if p.kind == "tricritical" and fold and (p.param < fold[0]["param"] or p.param > fold[-1]["param"]):
            for lst in (fold, coex):
                lst.append({"param": p.param, "lam": p.lam})
    fold.sort(key=lambda r: r["param"])
    coex.sort(key=lambda r: r["param"])
    return fold, coex, notes, up_n + dn_n


def _seed(first: list, tol: float):
    """(seed row, (fold, coexistence) there or None): tried at up to four rows nearest the middle of
    the first-order stretch ``first``, away from the tricritical point (where the fold nears the
    branch point) and from a fold of the symmetric branch (where b has a pole)."""
    mid = 0.5 * (len(first) - 1)
    seeded = None
    for seed in sorted(first, key=lambda r: abs(first.index(r) - mid))[:4]:
        seeded = _from_walk(seed, tol)
        if seeded is not None:
            break
    return seed, seeded


def _scaled(pt: _Point, x_old, l_old, r_old: dict, r_new: dict):
    """Landau-scaled predictor from row r_old to r_new: the offset from the branch point has odd part
    ~ |b|^(1/2), even part and lambda offset ~ |b| and |b|^2 (S = a s^2 + b s^4 + c s^6 near a
    tricritical point)."""
    rho = math.sqrt(r_new["b"] / r_old["b"])
    d = x_old - r_old["x"]
    odd = np.zeros(len(d), bool)
    odd[pt.i_odd] = True
    x = r_new["x"] + np.where(odd, rho * d, rho ** 2 * d)
    return x, r_new["lam"] + rho ** 4 * (l_old - r_old["lam"])


def _continued(line, r: dict, prev: dict, fold, coex, pt: _Point, tol: float):
    """(fold (x, lam, ...), coexistence (lam, x_b, x_s)) at row r from those at row prev, each None
    where its Newton fails or lands on the wrong solution (both None where they cross)."""
    p2 = line.point(r["param"])
    (xf, lf), (lc, xb, _) = fold, coex
    xg, lg = _scaled(pt, xf, lf, prev, r)
    f = _critical_point(p2, xg, lg, np.arange(p2.dim), np.arange(p2.dim), tol)
    if f is not None and not _is_broken(p2, f[0], f[1], r):
        f = None   # slid onto the branch point itself (the fold system holds there too)
    xg, lg = _scaled(pt, xb, lc, prev, r)
    c = _coexistence_at(p2, xg, r["x"], lg, tol)
    if c is not None and not c[0] < r["lam"]:
        c = None
    if f is not None and c is not None and not f[1] <= c[0] + 1e-12:
        f = c = None
    return f, c


def _march(order, line, rows: list, seed: dict, seeded, tol: float, b_scale: float, notes: list):
    """(fold rows, coexistence rows, restarts): both points continued from the seed along ``order``
    (indices into rows) while b < 0 in the seed's sector; where continuation loses a point, a walk
    from that row's branch point restarts it."""
    pt = seed["pt"]
    fres, cres = seeded
    xf, lf = fres[0], fres[1]
    lc, xb, xs = cres
    prev, restarts = seed, 0
    hist_f, hist_c = [], []
    for k in order:
        r = rows[k]
        if r["b"] >= 0 or r["even_min"] <= 0 or r["sector"] != prev["sector"]:
            break
        if r is seed:
            f_ok, c_ok = (xf, lf), (lc, xb, xs)
        else:
            f, c = _continued(line, r, prev, (xf, lf), (lc, xb, xs), pt, tol)
            if f is None or c is None:
                # continuation lost the point: start again from this param's branch point
                restarts += 1
                walked = _from_walk(r, tol)
                if walked is None:
                    if abs(r["b"]) > 0.05 * b_scale:   # not merely the vicinity of a tricritical point
                        side = "below" if order.step < 0 else "above"
                        notes.append(f"spinodal/coexistence lines stop at {line.param}={r['param']:.6g}: "
                                     f"not found there nor {side} it in the first-order region (neither "
                                     "continuation nor a walk from the branch point reached them; "
                                     "first_order_gaps lists the params)")
                    break
                f = f or walked[0]
                c = c or walked[1]
            f_ok, c_ok = (f[0], f[1]), c
        xf, lf = f_ok
        lc, xb, xs = c_ok
        prev = r
        if not (lf < r["lam"] + 1e-12 and lf <= lc + 1e-12):
            break
        hist_f.append({"param": r["param"], "lam": lf})
        hist_c.append({"param": r["param"], "lam": lc})
    return hist_f, hist_c, restarts


def _is_broken(pt: _Point, x, lam, row) -> bool:
    """Whether a solution of the fold system is on the broken branch (odd part not ~0) below lambda_c."""
    # near the branch point the fold system converges slowly along the odd null vector and may stop
    # at a few 1e-5 from the symmetric saddle: demand a clear distance in both x and lambda
    return bool(np.abs(x[pt.i_odd]).max() > 1e-4 * max(1.0, np.abs(x).max())
                and lam < row["lam"] * (1 - 1e-9))


def _from_walk(row: dict, tol: float):
    """(fold, coexistence) at one param: walk the broken branch from the branch point ``row``, then
    polish the fold by the minimally augmented Newton and coexistence by Newton in lambda; None on failure."""
    pt = row["pt"]
    for ds in (0.02, 0.002):   # near a tricritical point the fold is close to the branch point: finer steps
        res = _fold_and_coexistence(pt, row, _walk_broken(pt, row["x"], row["lam"], row["phi"], tol, ds=ds), tol)
        if res is not None:
            return res
    return None


def _fold_and_coexistence(pt: _Point, row: dict, walk, tol: float):
    if not walk or len(walk) < 3:
        return None
    mus = [w[3] for w in walk]
    j = next((i for i in range(1, len(mus)) if mus[i] > 0), None)
    if j is None or walk[j][2] >= row["lam"]:
        return None
    # the fold from the walk's point nearer it (smaller |mu|) and, failing that, from the other side:
    # the branch point solves the fold system too (the whole Hessian is singular there), and near a
    # tricritical point, where the fold lies close to it, Newton from the branch point's side of the
    # fold can stall on the way to it (T = 4, kappa = 5.567: from mu = -2.5e-6 no convergence in 40
    # steps, from mu = +9.9e-6 on the far side the fold in 10)
    fres = None
    for jf in sorted((j - 1, j), key=lambda i: abs(mus[i])):
        fres = _critical_point(pt, walk[jf][1], walk[jf][2], np.arange(pt.dim), np.arange(pt.dim), tol)
        if fres is not None and _is_broken(pt, fres[0], fres[1], row):
            break
        fres = None
    if fres is None:
        return None
    for i in range(len(walk) - 1, j - 1, -1):   # from the end of the walk (past coexistence) backwards
        cres = _coexistence_at(pt, walk[i][1], row["x"], walk[i][2], tol)
        if cres is not None and fres[1] <= cres[0] < row["lam"]:
            return fres, cres
    return None

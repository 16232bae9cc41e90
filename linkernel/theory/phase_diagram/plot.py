"""The figure of a :class:`~linkernel.theory.phase_diagram.results.PhaseDiagram` (matplotlib, loaded when used)."""

from __future__ import annotations

import numpy as np


# --- the figure -----------------------------------------------------------------------------
def plot_phase_diagram(d, path, title=None):
    """The (param, lambda) plane: symmetric phase (below the transition) and broken phase shaded,
    the metastable band between spinodal and branch point hatched, codimension-two points marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(d.fold_param) > 0:   # a second panel, lambda / lambda_c, resolves the narrow first-order band
        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(6.4, 7.0), sharex=True, height_ratios=(2, 1))
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        ax2 = None
    draw_phase_diagram(d, ax, ax2, title=title)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_phase_diagram(d, ax, ax2=None, title=None):
    """The diagram of :func:`plot_phase_diagram` drawn in ``ax``; returns ``ax``.

    ``ax2``: where a first-order region exists, the second panel (lambda / lambda_c, resolving the
    narrow band between spinodal, coexistence and branch point); None: not drawn.  Lines: the
    branch-point line ``(branch_param, branch_lam)`` (gid ``"branch-point line"``), the spinodal
    ``(fold_param, fold_lam)`` and the coexistence line ``(coexistence_param, coexistence_lam)``.
    """
    from linkernel.formatting import task_name

    x, lc = d.branch_param, d.branch_lam
    # the phase boundary: coexistence where it exists, else the branch point
    bound = lc.copy()
    if len(d.coexistence_param):
        cx = np.interp(np.log(x), np.log(d.coexistence_param), d.coexistence_lam)
        inside = (x >= d.coexistence_param.min()) & (x <= d.coexistence_param.max())
        bound = np.where(inside, np.minimum(cx, lc), lc)
    top = max(float(np.max(lc)), 1e-9) * 1.35 if d.lam_range is None else d.lam_range[1]
    bottom = 0.0 if d.lam_range is None else d.lam_range[0]
    ax.fill_between(x, bottom, bound, color="#cfe3f5", label="symmetric phase (m = 0)")
    ax.fill_between(x, bound, top, color="#f7d9c4", label="broken phase (m > 0)")
    ax.plot(x, lc, color="k", lw=1.5, label=r"branch point $\lambda_c$", gid="branch-point line")
    if len(d.fold_param):
        ax.plot(d.fold_param, d.fold_lam, color="tab:red", lw=1.2, ls="--", label="spinodal (fold)")
        lc_f = np.interp(np.log(d.fold_param), np.log(x), lc)
        ax.fill_between(d.fold_param, d.fold_lam, lc_f, facecolor="none", hatch="///", edgecolor="tab:red",
                        lw=0, label="metastable")
    if len(d.coexistence_param):
        ax.plot(d.coexistence_param, d.coexistence_lam, color="tab:purple", lw=1.5, label="coexistence")
    for p in d.points:
        mk = "*" if p.kind == "tricritical" else "D"
        ax.plot([p.param], [p.lam], mk, color="gold" if mk == "*" else "tab:green", mec="k", ms=12 if mk == "*" else 7,
                label=f"{p.kind} ({d.param} = {p.param:.5g})", zorder=5)
    for k, (g0, g1) in enumerate(getattr(d, "first_order_gaps", ())):
        # first-order rows where the spinodal/coexistence were not found: the lines are straight there
        ax.axvspan(g0, g1 if g1 > g0 else g0 * 1.01, color="0.6", alpha=0.5, lw=0,
                   label="spinodal/coexistence not found" if k == 0 else None, zorder=3)
    for c in d.checks:
        ax.plot([c["param"]] * 2, [c["lam_below"], c["lam_above"]], "o", color="tab:blue", ms=3, zorder=4)
    ax.set_xscale("log")
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(bottom, top)
    ax.set_xlabel(d.param if d.param != "kappa" else r"$\kappa$")
    ax.set_ylabel(r"$\lambda$")
    pr = d.problem
    ax.set_title(title or f"{task_name(pr)}, T={pr.T}, P={pr.P}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    if ax2 is not None and len(d.fold_param):
        ax.set_xlabel("")
        lo_f = float(np.min(d.fold_lam / np.interp(np.log(d.fold_param), np.log(x), lc)))
        ax2.fill_between(x, 0, bound / lc, color="#cfe3f5")
        ax2.fill_between(x, bound / lc, 2, color="#f7d9c4")
        ax2.axhline(1.0, color="k", lw=1.5)
        ax2.plot(d.fold_param, d.fold_lam / np.interp(np.log(d.fold_param), np.log(x), lc), color="tab:red",
                 ls="--", lw=1.2)
        if len(d.coexistence_param):
            ax2.plot(d.coexistence_param, d.coexistence_lam / np.interp(np.log(d.coexistence_param), np.log(x), lc),
                     color="tab:purple", lw=1.5)
        for p in d.tricritical:
            ax2.plot([p.param], [1.0], "*", color="gold", mec="k", ms=12, zorder=5)
        ax2.set_ylim(lo_f - 0.15 * (1 - lo_f), 1 + 0.15 * (1 - lo_f))
        ax2.set_ylabel(r"$\lambda / \lambda_c$")
        ax2.set_xlabel(d.param if d.param != "kappa" else r"$\kappa$")
    return ax

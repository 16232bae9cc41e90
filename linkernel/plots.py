"""Every figure of linkernel, matplotlib only (Agg backend: no display needed).

Each function takes results (dataclasses of the package) and a path, writes a
PNG and returns the path.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path):
    """Write ``fig`` to ``path`` (PNG, 150 dpi) and close it."""
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


# --- continuation: traces and landscape (Fig. 4) -----------------------------------

# --- exact reduction: finite-size scaling -------------------------------------------

# --- SGLD: theory vs simulation (Fig. 2a, 4a) ---------------------------------------

# --- sequence tasks (Fig. 5) ----------------------------------------------------------
def sequence_figure(result, path, title=None):
    """Fig. 5: targets, supervised points and RNN/DNN predictions at every step, and both time-by-time kernels.

    ``result`` is a :class:`linkernel.sequence.SequenceResult` holding both
    architectures.  Left: the teacher's targets ``lam * yhat^t`` (grey),
    the supervised ones (black dots), the posterior-mean predictions of the RNN
    and the DNN; right: the saddle kernels ``H^{tt'}`` on one colour scale
    centred at 0.
    """
    import numpy as np
    from matplotlib.gridspec import GridSpec

    archs = [a for a in ("rnn", "dnn") if a in result.archs]
    fig = plt.figure(figsize=(4.2 + 3.0 * len(archs), 3.4))
    gs = GridSpec(1, 1 + len(archs), width_ratios=[1.5] + [1.0] * len(archs), figure=fig, wspace=0.35)
    ax = fig.add_subplot(gs[0, 0])
    t = np.arange(result.T)
    ts = np.linspace(0, result.T - 1, 400)
    y_fine = result.lam * result.radius ** ts * np.cos(2 * np.pi * ts / result.period)
    ax.plot(ts, y_fine, color="0.75", lw=3, label="teacher", zorder=1)
    sup = list(result.supervised)
    unsup = [s for s in t if s not in result.supervised]
    ax.plot(sup, result.targets[sup], "o", color="k", ms=7, label="supervised", zorder=4)
    ax.plot(unsup, result.targets[unsup], "o", mfc="none", mec="0.45", ms=7, label="unsupervised target",
            zorder=4)
    style = {"rnn": dict(color="C0", marker="s", label="RNN"), "dnn": dict(color="C1", marker="^", label="DNN")}
    for a in archs:
        ax.plot(t, result.predictions[a], lw=1.5, ms=5, zorder=3, **style[a])
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("timestep t")
    ax.set_ylabel("output")
    ax.set_xticks(t)
    errs = ", ".join(f"{a.upper()} {result.gen_error[a]:.3g}" for a in archs)
    ax.set_title(title or f"$\\lambda$={result.lam:g}, L: {errs}", fontsize=9)
    ax.legend(fontsize=7, loc="best", framealpha=0.8)
    vmax = max(np.abs(result.kernels[a]).max() for a in archs)
    for k, a in enumerate(archs):
        kax = fig.add_subplot(gs[0, 1 + k])
        im = kax.imshow(result.kernels[a], cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="upper")
        kax.set_title(f"{a.upper()} kernel $H^{{tt'}}$", fontsize=9)
        kax.set_xlabel("t'")
        kax.set_ylabel("t")
        for s in result.supervised:  # mark the supervised steps on the axes
            kax.plot([-0.5], [s], ">", color="k", ms=4, clip_on=False)
            kax.plot([s], [-0.5], "v", color="k", ms=4, clip_on=False)
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8)
    return save(fig, path)

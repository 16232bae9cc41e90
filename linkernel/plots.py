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

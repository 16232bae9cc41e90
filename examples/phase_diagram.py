"""Phase diagrams in the (kappa, lambda) plane by continuation of the special points.

Endpoint task, w = v = u = 1:

* the RNN for T = 3, 4, 5 (P = 1): branch-point line lambda_c(kappa), the Landau b along it, the
  tricritical point where b changes sign, and in first-order regions the spinodal (fold of the
  broken branch) and the coexistence line;
* the RNN for T = 4 with P = 2 patterns (labels +1, -1);
* a hybrid sharing pattern: a DNN whose steps 2 and 3 share one W (dnn_with_tied_pair(4, 2, 3));
* the transition over T = 3..12 for P = 1 and P = 2 (phase_summary): lambda_c, b and the order at
  kappa = 0.1, and the tricritical kappas found on each branch-point line over kappa in [0.01, 30].

Every diagram's branch points are spot-checked by direct saddle points (saddle_point just below and
just above the line: m = 0 vs m > 0); the tricritical kappas of T = 3, 4 are compared with the closed
forms 56/3 and 81/16 (linkernel.symbolic.order, not used by the computation).

    python examples/phase_diagram.py [--points 41] [--quick] [--out FOLDER]

Writes examples/figures/phase_diagram_*.png and .json, and phase_diagram_summary.json/.txt (or to --out).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from linkernel.architecture import dnn_with_tied_pair  # noqa: E402
from linkernel.serialize import dumps  # noqa: E402
from linkernel.symbolic.order import tricritical_kappa  # noqa: E402
from linkernel.tasks import endpoint  # noqa: E402
from linkernel.theory.phase_diagram import phase_diagram, phase_summary  # noqa: E402

FIG = Path(__file__).resolve().parent / "figures"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=41, help="param values per line (log-spaced)")
    ap.add_argument("--quick", action="store_true", help="13 points, T = 3..6 in the summary")
    ap.add_argument("--out", type=Path, default=FIG, help="folder of the figures and JSON files (default: %(default)s)")
    args = ap.parse_args(argv)
    points = 13 if args.quick else args.points
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cases = [(f"rnn_T{T}", endpoint("rnn", T=T)) for T in (3, 4, 5)]
    cases += [("rnn_T4_P2", endpoint("rnn", T=4, P=2)),
              ("tied_pair_T4", endpoint(dnn_with_tied_pair(4, 2, 3), T=4))]
    for name, prob in cases:
        d = phase_diagram(prob, "kappa", (0.01, 30.0), points=points, spot_checks=3)
        print(d.summary())
        if prob.arch.is_rnn and prob.P == 1 and tricritical_kappa(prob.T) is not None:
            kt = tricritical_kappa(prob.T)
            for p in d.tricritical:
                print(f"  closed form 56/3 (T=3), 81/16 (T=4): {kt:.15g}; continuation {p.param:.15g}; "
                      f"relative difference {abs(p.param / kt - 1):.2e}")
        d.plot(out / f"phase_diagram_{name}.png")
        (out / f"phase_diagram_{name}.json").write_text(dumps(d))
        print()
    Ts = range(3, 7) if args.quick else range(3, 13)
    summaries = [phase_summary(Ts, P=P, kappa=0.1, kappa_range=(0.01, 30.0), points=max(13, points // 2))
                 for P in (1, 2)]
    text = "\n\n".join(s.summary() for s in summaries)
    print(text)
    (out / "phase_diagram_summary.txt").write_text(text + "\n")
    (out / "phase_diagram_summary.json").write_text(dumps({"summaries": summaries}))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""Fig. 2 (linear analogue): CKA of finite-width kernels with the theory vs N, on the paper's sinusoid task.

A thin front end of :func:`linkernel.figures.make_figure` (``linkernel figure 2``): the sinusoidal
response ``y^t = cos(2 pi t / T)``, T = 10, one input at t = 0; (a) 1 - CKA vs N for RNN and DNN,
(b) the RNN kernel at several N next to the theory, (c) the anti-diagonal autocorrelation.  Writes
fig2.png, fig2.pdf and fig2.json (every panel's numbers) to ``--out``.

    python examples/fig2a_cka.py --quick                  # exact finite-N posterior, N <= 64: < 1 min
    python examples/fig2a_cka.py --N 2048                 # sampled networks up to N = 2048 (states its time)
"""

from __future__ import annotations

import argparse
import os

from linkernel.figures import make_figure


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--N", type=int, default=None, help="largest width (default 2048; quick: 64)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures"))
    args = ap.parse_args(argv)
    res = make_figure(2, N=args.N, quick=args.quick, out=args.out, seed=args.seed)
    print(res.summary())


if __name__ == "__main__":
    main()

"""What the theory says on a real time series: Nino 1+2 sea-surface temperatures, RNN against DNN.

One command (run from the repository root; the data ship with linkernel, nothing is downloaded):

    python examples/realdata_sst.py [--quick] [--out examples/figures]

writes ``realdata_sst.png`` and ``realdata_sst.json`` under ``--out`` and prints its run time.

The paper's Fig. 5 question on real data: how well does the network predict the steps it was *not*
trained on, against the number k of supervised steps?  One sequence per year (1951-2010): the input
at t = 0 is the previous year's last ``--lags`` monthly anomalies, the targets the year's T = 12
monthly anomalies (standardised; linkernel.datasets.sea_surface).  k of the 12 months are supervised
(every training year at each), either the first k ("first") or k spread over the year ("spread");
the generalisation error is the mean squared error of the saddle point's posterior-mean output on the
*unsupervised* months, divided by the targets' mean square there (1 = predicting the climatology,
0 = perfect), (a) on the training years (interpolation within the supervised sequences, the paper's
setting) and (b) on the 15 held-out years.  45 training years, seed 0; theory only (the saddle point,
through the span reduction: r = lags virtual patterns, a 12 lags x 12 lags kernel).
``--quick``: T = 6 months, lags = 4, the "spread" pattern only.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def supervised_months(pattern: str, k: int, T: int) -> tuple:
    if pattern == "first":
        return tuple(range(k))
    return tuple(sorted({int((j + 0.5) * T / k) for j in range(k)}))      # k months spread over the year


def point(arch, pattern, k, args):
    """Normalised errors on the unsupervised months, training and held-out years, at k supervised months."""
    from linkernel import datasets
    from linkernel.theory.saddle import saddle_point
    months = supervised_months(pattern, k, args.T)
    task = datasets.sea_surface(T=args.T, lags=args.lags, supervised=months, test=args.test, arch=arch,
                                seed=args.seed, lam=args.lam, kappa=args.kappa)
    sp = saddle_point(task.problem)
    un = [t for t in range(args.T) if t not in months]
    f_train = task.reduction.lift_predictions(sp.predictions)                 # (T, P) outputs on training years
    y_train = args.lam * task.yhat_train
    train = float(np.mean((f_train[un] - y_train[un]) ** 2) / np.mean(y_train[un] ** 2))
    mse = task.test_error(sp, steps=un)["mse"]
    test = float(mse / np.mean((args.lam * task.yhat_test[un]) ** 2))
    sup_test = task.test_error(sp, steps=list(months))["mse"] / np.mean((args.lam * task.yhat_test[list(months)]) ** 2)
    return {"k": k, "months": list(months), "train_unsupervised": train, "test_unsupervised": test,
            "test_supervised": float(sup_test), "m": float(sp.order_parameter), "r": task.reduction.r}


def figure(res, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for a, key, title in zip(ax, ("train_unsupervised", "test_unsupervised"),
                             (f"(a) {args.P} training years, unsupervised months",
                              f"(b) {args.test} held-out years, unsupervised months")):
        for arch, c in (("rnn", "C3"), ("dnn", "C0")):
            for pattern, ls in zip(args.patterns, ("-", "--")):
                rows = res[arch][pattern]
                a.plot([r["k"] for r in rows], [r[key] for r in rows], ls, marker="o", ms=3, color=c,
                       label=f"{arch.upper()}, {pattern} k months"
                       + (" (= 1: output 0 off the supervised months)" if arch == "dnn" and ls == "--" else ""))
        a.axhline(1.0, color="gray", lw=0.8, ls=":", label="climatology (predict 0)")
        a.set_xlabel("k supervised months")
        a.set_title(title, fontsize=9)
    ax[0].set_ylabel("MSE / mean square of the targets")
    ax[0].legend(fontsize=7)
    fig.suptitle(f"Nino 1+2 SST anomalies 1951-2010, T = {args.T} months, input: previous {args.lags} months; "
                 f"$\\lambda$ = {args.lam:g}, $\\kappa$ = {args.kappa:g} (saddle point)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="T = 6, lags = 4, one pattern")
    ap.add_argument("--out", default=os.path.join("examples", "figures"))
    ap.add_argument("--T", type=int, default=12)
    ap.add_argument("--lags", type=int, default=6)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--kappa", type=float, default=0.1)
    ap.add_argument("--test", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not os.path.isdir(args.out):
        ap.error(f"--out {args.out!r} is not a folder")
    if args.quick:
        args.T, args.lags = 6, 4
    args.patterns = ("spread",) if args.quick else ("first", "spread")
    args.P = 60 - args.test
    t0 = time.perf_counter()
    res = {arch: {pattern: [point(arch, pattern, k, args) for k in range(1, args.T)] for pattern in args.patterns}
           for arch in ("rnn", "dnn")}
    seconds = time.perf_counter() - t0
    png = os.path.join(args.out, "realdata_sst.png")
    figure(res, args, png)
    with open(os.path.join(args.out, "realdata_sst.json"), "w") as fh:
        json.dump({"command": "python examples/realdata_sst.py" + (" --quick" if args.quick else ""),
                   "T": args.T, "lags": args.lags, "lam": args.lam, "kappa": args.kappa, "train_years": args.P,
                   "test_years": args.test, "seed": args.seed, "results": res, "seconds": seconds,
                   "load": os.getloadavg()[0]}, fh, indent=1)
    for pattern in args.patterns:
        for key in ("train_unsupervised", "test_unsupervised"):
            print(f"{pattern:6s} {key:18s} k: " + " ".join(f"{k:6d}" for k in range(1, args.T)))
            for arch in ("rnn", "dnn"):
                print(f"{'':6s} {arch.upper():18s}    " + " ".join(f"{r[key]:6.3f}" for r in res[arch][pattern]))
    print(f"wrote {png} and realdata_sst.json; run time {seconds:.1f} s (load {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

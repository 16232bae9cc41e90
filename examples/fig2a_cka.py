"""Fig. 2a: CKA between sampled finite-width kernels and the theory, vs width N.

For each case (RNN above and below its transition, DNN) the posterior-mean
kernel of real width-N networks (:func:`linkernel.finite_n.network_sampler.sample_networks`,
Z2 sign fixed per sample) is compared with the saddle point
(:func:`linkernel.theory.saddle.saddle_point`): 1 - CKA and the max relative error
fall with N (as 1/N where the theory's m != 0; as N^-1/2 where the sign fix
turns a vanishing m into |m|).

    python examples/fig2a_cka.py --out fig2a_cka.png        # ~5 min on 2 busy cores
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from linkernel import tasks
from linkernel.plots import plot_sgld_cka
from linkernel.finite_n.network_sampler import sample_networks

CASES = {"RNN lambda=3.2 (broken)": ("rnn", 3.2), "RNN lambda=1.0 (symmetric)": ("rnn", 1.0),
         "DNN lambda=3.2": ("dnn", 3.2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--Ns", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--sweeps", type=int, default=200)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="fig2a_cka.png")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    series = {}
    for label, (arch, lam) in CASES.items():
        d = series.setdefault(label, {"N": [], "cka": [], "max_rel_error": [], "seconds": []})
        for N in args.Ns:
            r = sample_networks(tasks.endpoint(arch, T=args.T, lam=lam), N, sweeps=args.sweeps, chains=args.chains,
                                dtype=np.float32, seed=args.seed, progress=False, theory=True)
            d["N"].append(N)
            d["cka"].append(r.cka)
            d["max_rel_error"].append(r.max_rel_error)
            d["seconds"].append(r.seconds)
            print(f"{label:28s} N={N:5d}  CKA = {r.cka:.6f}  max rel error = {r.max_rel_error:.4f}  "
                  f"tau = {r.tau:.1f}  R-hat = {r.rhat:.3f}  {r.seconds:.1f} s", flush=True)
    plot_sgld_cka(series, args.out)
    print(f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(series, fh, indent=1)


if __name__ == "__main__":
    main()

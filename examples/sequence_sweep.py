"""Generalisation error vs the number of supervised steps, RNN vs DNN (teacher sequence task).

Theory: the saddle point of the kernel action at each k (linkernel.sequence.sweep_supervised).
Simulation (``--N``, 0 to skip): the exact finite-width posterior (linkernel.finite_n.exact, HMC on the
rotation-invariant reduction) at width N, with Monte Carlo error bars.
Run from the repository root:
    OPENBLAS_NUM_THREADS=1 python examples/sequence_sweep.py [--lam 1] [--N 200] [--out sequence_sweep.png]
"""

import argparse

from linkernel.plots import sequence_sweep_figure
from linkernel.sequence import simulate_sequence, sweep_supervised


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=10)
    ap.add_argument("--period", type=float, default=10.0)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--kappa", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random:k supervision and of the sampler")
    ap.add_argument("--N", type=int, default=200, help="width of the simulated networks (0: theory only)")
    ap.add_argument("--samples", type=int, default=1000, help="HMC draws per chain (4 chains)")
    ap.add_argument("--patterns", default="first,random", help="comma-separated: first, random, every-other")
    ap.add_argument("--out", default="sequence_sweep.png")
    args = ap.parse_args()
    kw = dict(T=args.T, lam=args.lam, period=args.period, kappa=args.kappa, seed=args.seed)
    panels, sims = [], []
    for pattern in args.patterns.split(","):
        sw = sweep_supervised(None, pattern, **kw)
        panels.append((f"{pattern} k steps supervised, T={args.T}, period={args.period:g}, "
                       f"$\\lambda$={args.lam:g}", sw))
        sim = {}
        if args.N:
            for a in ("rnn", "dnn"):
                runs = [simulate_sequence(a, args.N, supervised=f"{pattern}:{int(k)}", samples=args.samples, **kw)
                        for k in sw.values]
                sim[a] = ([int(k) for k in sw.values], [s.gen_error for s in runs], [s.gen_error_stderr for s in runs],
                          f"{a.upper()} exact, N={args.N}", runs)
        sims.append({a: v[:4] for a, v in sim.items()} or None)
        print(f"pattern {pattern}:")
        head = "   k  supervised                 L_rnn theory  L_dnn theory"
        print(head + (f"   L_rnn exact N={args.N}       L_dnn exact N={args.N}    max R-hat" if sim else ""))
        for i, (k, S, r) in enumerate(zip(sw.values, sw.supervised, sw.results)):
            line = f"  {int(k):2d}  {','.join(map(str, S)):24s} {r.gen_error['rnn']:12.5g}  {r.gen_error['dnn']:12.5g}"
            if sim:
                sr, sd = sim["rnn"][4][i], sim["dnn"][4][i]
                line += (f"   {sr.gen_error:9.5g} +- {sr.gen_error_stderr:8.2g}   {sd.gen_error:9.5g} +- "
                         f"{sd.gen_error_stderr:8.2g}   {max(sr.max_rhat, sd.max_rhat):.3f}")
            print(line)
    sequence_sweep_figure(panels, args.out, simulation=sims)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()

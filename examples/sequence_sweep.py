"""Generalisation error vs the number of supervised steps, RNN vs DNN (teacher sequence task).

Theory: the saddle point of the kernel action at each k (linkernel.sequence.sweep_supervised).
Simulation (``--N``, 0 to skip): the exact finite-width posterior (linkernel.finite_n.exact, HMC on the
rotation-invariant reduction) at width N, with Monte Carlo error bars.
The simulations (one exact posterior per architecture and k) run as one sweep per pattern
(linkernel.sweep): a LocalCluster of 2 worker processes by default, ``--scheduler ADDRESS``
for a running dask cluster, ``--serial`` in this process; finished points are cached in
``<out>_<pattern>.nc.cache/`` (an interrupted run resumes) and written to ``<out>_<pattern>.nc``.
Run from the repository root:
    OPENBLAS_NUM_THREADS=1 python examples/sequence_sweep.py [--lam 1] [--N 200] [--out sequence_sweep.png]
    OPENBLAS_NUM_THREADS=1 python examples/sequence_sweep.py --quick     # T = 6, N = 64, short chains
"""

import argparse
from functools import partial

from linkernel.plots import sequence_sweep_figure
from linkernel.sequence import simulate_sequence, sweep_supervised
from linkernel.sweep import sweep


def simulated_point(arch, k, *, pattern, N, samples, T, lam, period, kappa, sampler_seed, seed):
    """The exact width-N posterior of one architecture with ``pattern:k`` supervised: L and its error, R-hat.

    ``sampler_seed`` also draws the random:k supervision (as in the theory sweep), so the point's own
    ``seed`` from the sweep is not used: the simulation sees the same supervised steps as the theory.
    """
    s = simulate_sequence(arch, N, supervised=f"{pattern}:{int(k)}", samples=samples, T=T, lam=lam,
                          period=period, kappa=kappa, seed=sampler_seed)
    return {"gen_error": s.gen_error, "gen_error_stderr": s.gen_error_stderr, "max_rhat": s.max_rhat}


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
    ap.add_argument("--quick", action="store_true", help="T = 6, N = 64, 200 draws, pattern 'first'")
    ap.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    ap.add_argument("--serial", action="store_true", help="no dask: run the points in this process")
    args = ap.parse_args()
    if args.quick:
        args.T, args.period, args.N, args.samples, args.patterns = 6, 6.0, 64, 200, "first"
    kw = dict(T=args.T, lam=args.lam, period=args.period, kappa=args.kappa, seed=args.seed)
    panels, sims = [], []
    for pattern in args.patterns.split(","):
        sw = sweep_supervised(None, pattern, **kw)
        panels.append((f"{pattern} k steps supervised, T={args.T}, period={args.period:g}, "
                       f"$\\lambda$={args.lam:g}", sw))
        sim = {}
        if args.N:
            ks = [int(k) for k in sw.values]
            fn = partial(simulated_point, pattern=pattern, N=args.N, samples=args.samples, T=args.T, lam=args.lam,
                         period=args.period, kappa=args.kappa, sampler_seed=args.seed)
            run = sweep(fn, {"arch": ["rnn", "dnn"], "k": ks}, seed=args.seed,
                        output=f"{str(args.out).rsplit('.', 1)[0]}_{pattern}.nc", scheduler=args.scheduler,
                        serial=args.serial)
            print(run.summary())
            ds = run.dataset
            for a in ("rnn", "dnn"):
                d = ds.sel(arch=a)
                sim[a] = (ks, list(d["gen_error"].values), list(d["gen_error_stderr"].values),
                          f"{a.upper()} exact, N={args.N}", d)
        sims.append({a: v[:4] for a, v in sim.items()} or None)
        print(f"pattern {pattern}:")
        head = "   k  supervised                 L_rnn theory  L_dnn theory"
        print(head + (f"   L_rnn exact N={args.N}       L_dnn exact N={args.N}    max R-hat" if sim else ""))
        for i, (k, S, r) in enumerate(zip(sw.values, sw.supervised, sw.results)):
            line = f"  {int(k):2d}  {','.join(map(str, S)):24s} {r.gen_error['rnn']:12.5g}  {r.gen_error['dnn']:12.5g}"
            if sim:
                sr, sd = sim["rnn"][4].isel(k=i), sim["dnn"][4].isel(k=i)
                line += (f"   {float(sr['gen_error']):9.5g} +- {float(sr['gen_error_stderr']):8.2g}   "
                         f"{float(sd['gen_error']):9.5g} +- {float(sd['gen_error_stderr']):8.2g}   "
                         f"{max(float(sr['max_rhat']), float(sd['max_rhat'])):.3f}")
            print(line)
    sequence_sweep_figure(panels, args.out, simulation=sims)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()

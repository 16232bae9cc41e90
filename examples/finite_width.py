"""Finite-width theory against the exact finite-N posterior: saddle point, one-loop (1/N) and exact, against N.

Endpoint task, T = 4, kappa = 0.1, w = v = u = 1, lambda = 2 lambda_c (lambda_c of the RNN with the same P):
the RNN (P = 1), the DNN (P = 1) and the RNN with P = 2.  For each width N the exact posterior
(linkernel.finite_n.exact.exact_posterior, HMC on the reduced variables, every draw sign-fixed to m >= 0)
is compared entry by entry with the one-loop kernel H* + delta_H / N (linkernel.finite_n.finite_width; on a
symmetric minimum the sign-fixed convention of the sampler, FiniteWidth.sampler_kernel), in units of the
Monte Carlo standard error; the covariance of the draws times N with the inverse Hessian.

    python examples/finite_width.py [--out examples/figures/finite_width.png] [--quick] [--workers 2]

Prints the comparison table; writes the PNG and a JSON file with every number next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

CASES = (("rnn", 1), ("dnn", 1), ("rnn", 2))


def _lam(P):
    from linkernel import tasks
    from linkernel.theory.special_points import critical_lambda
    return 2 * critical_lambda(tasks.endpoint("rnn", T=4, P=P))


def point(args):
    """One (architecture, P, N): the exact posterior and the one-loop theory, as plain numbers."""
    arch, P, N, lam, samples, seed = args
    from linkernel import tasks
    from linkernel.finite_n.exact import exact_posterior
    from linkernel.finite_n.finite_width import finite_width
    from linkernel.theory.saddle import saddle_point
    sp = saddle_point(tasks.endpoint(arch, T=4, P=P, lam=lam))
    fw = finite_width(sp, N)
    r = exact_posterior(sp.problem, N, chains=4, samples=samples, warmup=500, seed=seed, progress=False)
    n = sp.problem.n
    iu = np.triu_indices(n)
    D = r.draws.reshape(-1, n, n)
    if fw.phase == "symmetric":
        # the sampler folds the symmetric posterior onto m >= 0; a random flip per draw unfolds it again
        from linkernel.problem import z2_generators
        s = z2_generators(sp.problem)[0][0]
        signs = np.ones((len(D), n))
        signs[np.random.default_rng(seed).random(len(D)) < 0.5] = s
        D = signs[:, :, None] * D * signs[:, None, :]
    X = D[:, iu[0], iu[1]]
    cov = N * np.cov(X.T)
    cov_t = fw.covariance[iu[0], iu[1]][:, iu[0], iu[1]]
    return dict(arch=arch, P=P, N=N, lam=lam, saddle=sp.kernel.tolist(), correction=fw.correction.tolist(),
                one_loop=fw.sampler_kernel.tolist(), exact=r.kernel.tolist(), stderr=r.stderr.tolist(),
                z=((r.kernel - fw.sampler_kernel) / r.stderr).tolist(),
                cov_ratio_diag=(np.diag(cov) / np.diag(cov_t)).tolist(), min_ess=r.min_ess, max_rhat=r.max_rhat,
                loop_parameter=fw.loop_parameter, valid=fw.valid, seconds=r.seconds,
                predictions_exact=r.predictions.tolist(), predictions_N=fw.predictions_N.tolist(),
                predictions_N_std=fw.predictions_N_std.tolist())


def table(rows) -> str:
    lines = [f"{'case':10s} {'N':>5s} {'entry':>6s} {'N(K_N-K*)':>18s} {'delta_H':>9s} {'z':>6s}  "
             f"{'max|z| all':>10s} {'N Cov/A^-1 (diag range)':>24s} {'ESS':>6s} {'G':>6s}"]
    for r in rows:
        T, P = 4, r["P"]
        i, j = (T - 1) * P, (T - 2) * P                      # m = H^{T-1,T-2} (pattern 0)
        ex, K, se = np.array(r["exact"]), np.array(r["saddle"]), np.array(r["stderr"])
        z = np.array(r["z"])
        for name, (a, b) in (("m", (i, j)), ("H^TT", (i, i))):
            lines.append(f"{r['arch'].upper() + ' P=' + str(P):10s} {r['N']:5d} {name:>6s} "
                         f"{r['N'] * (ex[a, b] - K[a, b]):9.3f} +-{r['N'] * se[a, b]:6.3f} "
                         f"{np.array(r['correction'])[a, b]:9.3f} {z[a, b]:6.2f}  {np.abs(z).max():10.2f} "
                         f"{min(r['cov_ratio_diag']):11.3f} .. {max(r['cov_ratio_diag']):5.3f} "
                         f"{r['min_ess']:6.0f} {r['loop_parameter']:6.3f}")
    return "\n".join(lines)


def figure(rows, out):
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(CASES), figsize=(4.2 * len(CASES), 6.5), squeeze=False)
    for c, (arch, P) in enumerate(CASES):
        rs = sorted([r for r in rows if r["arch"] == arch and r["P"] == P], key=lambda r: r["N"])
        if not rs:
            continue
        T = 4
        a, b = (T - 1) * P, (T - 1) * P
        Ns = np.array([r["N"] for r in rs], float)
        ex = np.array([r["exact"][a][b] for r in rs])
        se = np.array([r["stderr"][a][b] for r in rs])
        K, d = rs[0]["saddle"][a][b], rs[0]["correction"][a][b]
        Nf = np.geomspace(Ns.min() / 1.3, Ns.max() * 1.3, 100)
        ax = axes[0, c]
        ax.errorbar(Ns, ex, 2 * se, fmt="o", label="exact posterior (2 s.e.)")
        ax.plot(Nf, K + d / Nf, "-", label="one loop  H* + delta_H/N")
        ax.axhline(K, color="k", ls="--", lw=1, label="saddle point H*")
        ax.set_xscale("log")
        ax.set_title(f"{arch.upper()} P={P}, lambda = 2 lambda_c: H^({T-1},{T-1})")
        ax.set_xlabel("N")
        ax.legend(fontsize=7)
        ax = axes[1, c]
        ax.errorbar(Ns, Ns * (ex - K), 2 * Ns * se, fmt="o", label="N (K_N - K*), exact")
        ax.axhline(d, color="C1", label="delta_H (one loop)")
        ax.set_xscale("log")
        ax.set_xlabel("N")
        ax.legend(fontsize=7)
    for ax in axes.ravel():
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples/figures/finite_width.png")
    ap.add_argument("--quick", action="store_true", help="N = 128, 512 and fewer draws (about a minute)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--replot", action="store_true", help="redraw the figure and table from the JSON file of --out")
    args = ap.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.replot:
        with open(os.path.splitext(args.out)[0] + ".json") as f:
            rows = json.load(f)["rows"]
        print(table(rows))
        figure(rows, args.out)
        return
    Ns = (128, 512) if args.quick else (128, 256, 512, 1024, 2048, 4096)
    samples = args.samples or (1500 if args.quick else 6000)
    t0 = time.perf_counter()
    lams = {P: _lam(P) for P in {P for _, P in CASES}}
    jobs = [(arch, P, N, lams[P], samples, 1000 + N) for arch, P in CASES for N in Ns]
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        rows = list(ex.map(point, jobs))
    print(f"T = 4, kappa = 0.1, lambda = 2 lambda_c(P) = {lams}; exact: 4 chains x {samples} draws")
    print(table(rows))
    zs = np.concatenate([np.abs(np.array(r["z"])).ravel() for r in rows])
    print(f"all entries, all N: max |z| = {zs.max():.2f}, rms z = {np.sqrt(np.mean(zs ** 2)):.2f} "
          f"({zs.size} entries incl. symmetric duplicates); {time.perf_counter() - t0:.0f} s")
    figure(rows, args.out)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"lambda": lams, "samples": samples, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

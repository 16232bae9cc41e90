"""What the theory says on real data: scikit-learn's digits 0 against 1, RNN against DNN, T = 4.

One command (run from the repository root; scikit-learn needed: pip install 'linkernel[data]'):

    python examples/realdata_digits.py [--quick] [--out examples/figures]

writes ``realdata_digits.png`` and ``realdata_digits.json`` under ``--out`` and prints its run time.

* All 360 images of 0 and 1 (P = 360, D = 64, standardised; the span reduction: r = 51, a 204 x 204
  kernel instead of 1440 x 1440): lambda_c of the RNN (where the symmetric saddle loses stability),
  the trace through it (the transition's order), the same trace for the DNN, and both kernels H at
  lambda = 1.5 lambda_c as heat maps (lifted to the 1440 training rows, the images sorted by class).
* Test error against lambda: a seeded split (270 training, 90 held-out images), the held-out mean
  squared error of the posterior-mean output divided by lambda^2 (the error of f / lambda against the
  +-1 labels) from the saddle point, RNN and DNN.
* Networks at width N = 1024: the exact finite-N posterior (linkernel.finite_n.exact, HMC on the
  rotation-invariant reduction) on the reduced task costs (T r)^2 / 2 variables, ~21 000 at r = 51,
  beyond its dense metric here (benchmarks/realdata.py --exact); so the networks run on the same split
  projected on its ``--components`` leading principal components (r = k), with the theory of that
  projected task beside them: held-out errors of every draw's GP averaged (span.predict), with Monte
  Carlo error bars, against the saddle point (N = infinity) and, with ``--theory-N``, the 1/N theory
  at the same N (span.predict on finite_width's result; ~5 minutes per point at r = 8).
``--quick``: the same on the images' 16 leading principal components (r = 16: a 64 x 64 kernel), 5
lambdas, networks on 4 components at 2 lambdas with short chains (a smoke run, not the README's numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np


def kernels_and_transition(components):
    """lambda_c, traces and lam = 1.5 lambda_c kernels of RNN and DNN on all 360 images."""
    from linkernel import datasets
    from linkernel.theory.continuation.tracing import trace
    from linkernel.theory.saddle import saddle_point
    from linkernel.theory.special_points import critical_lambda
    out, t0 = {}, time.perf_counter()
    rnn = datasets.digits((0, 1), T=4, arch="rnn", components=components)
    lc = critical_lambda(rnn.problem, lam_min=0.01)
    out["lambda_c"] = lc
    out["reduction"] = rnn.reduction.summary()
    for arch in ("rnn", "dnn"):
        task = rnn if arch == "rnn" else datasets.digits((0, 1), T=4, arch=arch, components=components)
        tr = trace(task.problem, (0.7 * lc, 1.6 * lc))
        sp = saddle_point(task.problem.with_(lam=1.5 * lc))
        order = np.argsort(-task.yhat_train[-1], kind="stable")             # the 0s (+1) first, then the 1s
        rows = np.concatenate([t * task.reduction.P + order for t in range(4)])
        H = task.reduction.lift(sp.kernel)[np.ix_(rows, rows)]
        out[arch] = {"transition": tr.transition, "transition_note": getattr(tr, "transition_note", ""),
                     "branch_points": [float(s.lam) for s in tr.special_points if s.kind == "branch_point"],
                     "m_at_1.5_lambda_c": float(sp.order_parameter), "kernel": H,
                     "n_zeros": int(np.sum(task.yhat_train[-1] > 0))}
    out["seconds"] = time.perf_counter() - t0
    return out


def error_curves(P, test, lams, components=None):
    """Held-out mse / lambda^2 and error rate of the saddle point at each lambda, RNN and DNN; lambda_c."""
    from linkernel import datasets
    from linkernel.theory.saddle import saddle_point
    from linkernel.theory.special_points import critical_lambda
    res = {}
    for arch in ("rnn", "dnn"):
        task = datasets.digits((0, 1), P=P, test=test, T=4, arch=arch, components=components, seed=1)
        if arch == "rnn":
            res["lambda_c"] = critical_lambda(task.problem, lam_min=0.01)
        rows = []
        for lam in lams:
            sp = saddle_point(task.problem.with_(lam=lam))
            e = task.test_error(sp)
            rows.append({"lam": float(lam), "mse_over_lam2": e["mse"] / lam ** 2, "error_rate": e["error_rate"],
                         "m": float(sp.order_parameter)})
        res[arch] = rows
    return res


def networks(P, test, lams, components, N, samples, theory_N=False):
    """The exact finite-N posterior on the projected task: held-out mse / lambda^2 with its Monte Carlo error."""
    from linkernel import datasets
    from linkernel.finite_n.exact import exact_posterior
    from linkernel.finite_n.finite_width import finite_width
    from linkernel.theory.saddle import saddle_point
    res = {}
    for arch in ("rnn", "dnn"):
        task = datasets.digits((0, 1), P=P, test=test, T=4, arch=arch, components=components, seed=1)
        rows = []
        for lam in lams:
            p = task.problem.with_(lam=lam)
            ex = exact_posterior(p, N, samples=samples, warmup=samples, progress=False)
            e = task.test_error(ex)
            row = {"lam": float(lam), "mse_over_lam2": e["mse"] / lam ** 2, "stderr": e["mse_stderr"] / lam ** 2}
            if theory_N:                                           # ~5 min each at r = 8 (the 1/N theory)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fw = finite_width(saddle_point(p), N)
                th = task.test_error(fw)["mse"] / lam ** 2
                row.update(theory_N=th, theory_N_valid=fw.valid, z_vs_theory_N=(row["mse_over_lam2"] - th) / row["stderr"])
            th0 = task.test_error(saddle_point(p))["mse"] / lam ** 2
            rows.append({**row, "theory_saddle": th0, "z_vs_saddle": (row["mse_over_lam2"] - th0) / row["stderr"],
                         "error_rate": e["error_rate"],
                         "max_rhat": ex.max_rhat, "min_ess": ex.min_ess, "converged": ex.converged,
                         "seconds": ex.seconds})
        res[arch] = rows
    return res


def figure(k, curves, proj, nets, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(11, 9.5))
    lc = k["lambda_c"]
    for a, arch in zip(ax[0], ("rnn", "dnn")):
        H = k[arch]["kernel"]
        v = np.percentile(np.abs(H), 99)            # a few diagonal entries would wash out the blocks
        im = a.imshow(H, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        fig.colorbar(im, ax=a, fraction=0.046, pad=0.04, extend="both",
                     label=f"H (clipped at {v:.2g}; max {np.abs(H).max():.3g})")
        P = H.shape[0] // 4
        for t in range(1, 4):
            a.axhline(t * P - 0.5, color="k", lw=0.4)
            a.axvline(t * P - 0.5, color="k", lw=0.4)
        a.set_title(f"{arch.upper()} kernel, all 360 images, at $\\lambda$ = 1.5 $\\lambda_c$ = {1.5 * lc:.3g}\n"
                    f"(rows t*P+p, t = 0..3; {k[arch]['n_zeros']} zeros then the ones; m = "
                    f"{k[arch]['m_at_1.5_lambda_c']:.3g})", fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    colours = {"rnn": "C3", "dnn": "C0"}
    marks = {"rnn": ("s", 0.96), "dnn": ("D", 1.04)}              # side by side where they coincide
    a = ax[1, 0]
    for arch in ("rnn", "dnn"):
        c = colours[arch]
        a.plot([r["lam"] for r in curves[arch]], [r["mse_over_lam2"] for r in curves[arch]], "-o", ms=3, color=c,
               label=f"{arch.upper()} theory, {args.what}")
        a.plot([r["lam"] for r in proj[arch]], [r["mse_over_lam2"] for r in proj[arch]], "--", color=c,
               label=f"{arch.upper()} theory, {args.components} principal components")
        if nets:
            a.errorbar([r["lam"] * marks[arch][1] for r in nets[arch]], [r["mse_over_lam2"] for r in nets[arch]],
                       yerr=[r["stderr"] for r in nets[arch]], fmt=marks[arch][0], mfc="none", color=c, capsize=3,
                       label=f"{arch.upper()} networks N = {args.N}, {args.components} components (exact)")
    a.axvline(curves["lambda_c"], color="C3", ls=":", lw=1)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("$\\lambda$")
    a.set_ylabel("held-out MSE / $\\lambda^2$")
    a.set_title(f"test error, {args.P_split} training / {args.test} held-out images", fontsize=9)
    a.legend(fontsize=7)
    a = ax[1, 1]
    for arch in ("rnn", "dnn"):
        a.plot([r["lam"] for r in curves[arch]], [r["m"] for r in curves[arch]], "-o", ms=3, color=colours[arch],
               label=f"{arch.upper()}")
    a.axvline(curves["lambda_c"], color="C3", ls=":", lw=1,
              label=f"RNN $\\lambda_c$ ({args.P_split} images) = {curves['lambda_c']:.3g}")
    a.set_xscale("log")
    a.set_xlabel("$\\lambda$")
    a.set_ylabel("order parameter m = $H^{T-1,T-2}$ (pattern average)")
    a.set_title(f"temporal coherence, {args.P_split} training images", fontsize=9)
    a.legend(fontsize=8)
    fig.suptitle(f"digits 0 vs 1, T = 4, {args.what} (span reduction, exact: r = {args.r})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def datasets_r(components):
    """The span's dimension r of the 360 images (after standardisation, or k with k components)."""
    from linkernel import datasets
    return datasets.digits((0, 1), T=4, components=components).reduction.r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (module doc)")
    ap.add_argument("--out", default=os.path.join("examples", "figures"))
    ap.add_argument("--N", type=int, default=1024, help="width of the networks (0: theory only)")
    ap.add_argument("--components", type=int, default=8, help="principal components of the networks' task")
    ap.add_argument("--samples", type=int, default=1000, help="HMC warm-up and draws per chain (4 chains)")
    ap.add_argument("--theory-N", action="store_true",
                    help="also the 1/N theory at the networks' N (finite_width; ~5 min per point at 8 components)")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.out):
        ap.error(f"--out {args.out!r} is not a folder")
    t0 = time.perf_counter()
    args.P_split, args.test = 270, 90
    theory_components = 16 if args.quick else None
    if args.quick:
        args.components, args.samples = 4, 200
    args.what = "16 principal components" if args.quick else "64 pixels"
    times = {}
    k = kernels_and_transition(theory_components)
    args.r = datasets_r(theory_components)
    times["lambda_c, traces, kernels"] = time.perf_counter() - t0
    lc = k["lambda_c"]
    factors = (0.3, 0.8, 1.2, 2.0, 4.0) if args.quick else (0.2, 0.4, 0.7, 0.9, 1.1, 1.3, 1.6, 2.2, 3.0, 5.0)
    lams = [f * lc for f in factors]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t1 = time.perf_counter()
        curves = error_curves(args.P_split, args.test, lams, theory_components)
        proj = error_curves(args.P_split, args.test, lams, args.components)
        times["test-error curves"] = time.perf_counter() - t1
    net_lams = [lams[1], lams[-2]] if args.quick else [lams[1], lams[5], lams[-2]]
    t1 = time.perf_counter()
    nets = (networks(args.P_split, args.test, net_lams, args.components, args.N, args.samples, args.theory_N)
            if args.N else {})
    times["networks"] = time.perf_counter() - t1
    seconds = time.perf_counter() - t0
    png = os.path.join(args.out, "realdata_digits.png")
    figure(k, curves, proj, nets, args, png)
    data = {"command": "python examples/realdata_digits.py" + (" --quick" if args.quick else ""),
            "lambda_c_rnn": lc, "reduction": k["reduction"],
            "transition": {a: {kk: v for kk, v in k[a].items() if kk != "kernel"} for a in ("rnn", "dnn")},
            "test_error_theory": curves, "test_error_theory_projected": proj, "networks_exact": nets,
            "N": args.N, "components": args.components, "split": [args.P_split, args.test],
            "seconds": seconds, "section_seconds": times, "load": os.getloadavg()[0]}
    with open(os.path.join(args.out, "realdata_digits.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    print("seconds: " + ", ".join(f"{a} {b:.1f}" for a, b in times.items()))
    print(f"{k['reduction']}\nlambda_c (RNN, all 360 images) = {lc:.6g}, ({args.P_split} images) = "
          f"{curves['lambda_c']:.6g}; transition RNN: "
          f"{k['rnn']['transition']}, DNN: {k['dnn']['transition']}")
    for arch in ("rnn", "dnn"):
        print(f"{arch.upper()} held-out MSE/lam^2: " + ", ".join(f"{r['lam']:.3g}: {r['mse_over_lam2']:.4g}"
                                                               for r in curves[arch]))
        for r in nets.get(arch, []):
            print(f"  networks N={args.N} ({args.components} comps) lam {r['lam']:.3g}: {r['mse_over_lam2']:.7g} "
                  f"+- {r['stderr']:.2g} (R-hat {r['max_rhat']:.3f}, ESS {r['min_ess']:.0f}); saddle point "
                  f"{r['theory_saddle']:.7g} (z = {r['z_vs_saddle']:.1f})"
                  + (f"; 1/N theory {r['theory_N']:.7g} (z = {r['z_vs_theory_N']:.2f})" if "theory_N" in r else ""))
    print(f"wrote {png} and realdata_digits.json; run time {seconds:.1f} s (load {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

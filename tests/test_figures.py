"""linkernel.figures: the paper's figures in their quick (CI) form; every panel's JSON against the library.

The quick builds take 20-40 s each on two busy cores, so they are marked slow (run them with
``python -m pytest tests/test_figures.py -m slow``); the default run checks the pieces.
"""

import json
import os

import numpy as np
import pytest

from linkernel import tasks
from linkernel.figures import make_figure
from linkernel.figures.common import FigureResult
from linkernel.figures.fig2 import antidiagonal
from linkernel.figures.fig5 import losses
from linkernel.sequence import generalisation_error


def test_bad_arguments():
    for bad in (1, 6, "x", 2.5, None):
        with pytest.raises(ValueError, match="number="):
            make_figure(bad, quick=True, progress=False)
    with pytest.raises(ValueError, match="N="):
        make_figure(2, N=0, quick=True, progress=False)
    with pytest.raises(ValueError, match="out="):
        make_figure(2, quick=True, out="", progress=False)


def test_antidiagonal_of_a_known_kernel():
    """H^{tt'} = rho^|t-t'|: the central anti-diagonal reads rho^|tau| at every lag."""
    T, rho = 10, 0.6
    t = np.arange(T)
    H = 2.0 * rho ** np.abs(t[:, None] - t[None, :])
    lags, vals = antidiagonal(H)
    assert list(lags) == list(range(-(T - 1), T))
    assert np.allclose(vals, rho ** np.abs(lags))


def test_losses_match_generalisation_error():
    y, f = np.cos(np.arange(6)), np.sin(np.arange(6))
    L, L2 = losses(y, f)
    assert np.isclose(L, generalisation_error(y, f))
    assert np.isclose(L2, 0.5 * np.mean((y[1:] - f[1:]) ** 2))


def test_estimate_pays_the_set_up_per_run_and_models_the_width(monkeypatch):
    """The start-up estimate from (faked) calibration runs whose costs have the model's form: set-up
    2 + 1e-5 N^2 s per run, 0.1 + 0.5 (N / 256)^2 s a sweep; Fig. 2 samples every architecture at several
    widths, so the calibrations at the smallest and largest width give every width between exactly.
    Snapshots of the weight spectra add chains x snapshots x (W groups) eigenproblems per run."""
    from types import SimpleNamespace

    from linkernel.figures import common
    from linkernel.finite_n import network_sampler

    def setup(N):
        return 2.0 + 1e-5 * N ** 2

    def per_sweep(N):
        return 0.1 + 0.5 * (N / 256) ** 2

    def fake(problem, N, **kw):          # checkpoints (sweep, seconds, _) after the set-up
        return SimpleNamespace(checkpoints=[(s, setup(N) + s * per_sweep(N), None) for s in (2, 8)])

    monkeypatch.setattr(network_sampler, "sample_networks", fake)
    ps = [tasks.sinusoid(a, T=10, lam=2.0) for a in ("rnn", "dnn")]
    sweeps = 100
    one = common.estimate_minutes(ps, 256, sweeps=sweeps)
    assert one == pytest.approx(2 * (setup(256) + per_sweep(256) * sweeps) / 60)
    widths = (64, 128, 256)
    many = common.estimate_minutes(ps, 256, sweeps=sweeps, widths=widths)
    assert many == pytest.approx(sum(2 * (setup(w) + per_sweep(w) * sweeps) for w in widths) / 60)
    # the default length: expected_sweeps, the same for both (same kernel size)
    auto = common.estimate_minutes(ps, 256)
    assert auto == pytest.approx(2 * (setup(256) + per_sweep(256) * common.expected_sweeps(ps[0])) / 60)

    monkeypatch.setattr(common, "eigenvalue_seconds", lambda N, seed=0: 0.01 * (N / 256) ** 3)
    fig3 = [tasks.endpoint(a, T=8, P=4, D=4) for a in ("rnn", "dnn")]
    with_spectra = common.estimate_minutes(fig3, 256, sweeps=sweeps, spectra=2)
    groups = 1 + 7                                   # the RNN's shared W, the DNN's T - 1 layers
    assert with_spectra - common.estimate_minutes(fig3, 256, sweeps=sweeps) == pytest.approx(
        common.CHAINS * 2 * groups * 0.01 / 60)
    # eigenproblems outside the runs (Fig. 5's spectra of exact weight draws) at the figure's width
    assert common.estimate_minutes(fig3, 256, sweeps=sweeps, eigenproblems=5) - common.estimate_minutes(
        fig3, 256, sweeps=sweeps) == pytest.approx(5 * 0.01 / 60)


def test_expected_sweeps_match_the_gallery_runs():
    """The model of a converged run's length against the committed full-size runs (every figure's
    ``sampling.runs``): per figure, the mean predicted sweeps within 15% of the mean taken."""
    from types import SimpleNamespace

    from linkernel.figures.common import expected_sweeps
    root = os.path.join(os.path.dirname(__file__), "..", "examples", "figures")
    for k in (2, 3, 4, 5):
        path = os.path.join(root, f"fig{k}.json")
        with open(path) as f:
            runs = json.load(f)["sampling"]["runs"]
        sizes = [SimpleNamespace(n=r["T"] * r["P"]) for r in runs]
        predicted = np.mean([expected_sweeps(s) for s in sizes])
        assert predicted == pytest.approx(np.mean([r["sweeps"] for r in runs]), rel=0.15), k


def test_result_summary_and_json(tmp_path):
    r = FigureResult(number=2, paths=("a.png",), data={"panels": {"a": {"x": [1.0, float("nan")]}, "b": {}},
                                                        "notes": ["n"]}, seconds=1.0, quick=True, N=16)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["data"]["panels"]["a"]["x"] == [1.0, None]
    # the panels by the paper's letters (a summary once printed the word "panels" for them)
    assert "panels: a, b\n" in r.summary() and "a.png" in r.summary()


def _load(res):
    for p in res.paths[:3]:
        assert os.path.getsize(p) > 0
    with open(res.paths[2]) as fh:
        return json.load(fh)     # strict JSON: json.load accepts NaN, so check there is none
    

# the paper's captions (shared/seeds/003_*.txt): each figure's panels by letter
CAPTION_PANELS = {2: {"a", "b", "c"}, 3: {"a", "b", "c", "d", "e"}, 4: {"a", "b"}, 5: {"a", "b", "c", "d"}}


def test_style_context_sizes_and_colour_bar():
    """The figure style: two-column sizes, legends >= 7 pt; a heat map has a colour bar with symmetric limits."""
    import matplotlib.pyplot as plt
    from linkernel.figures.style import LEGEND_PT, TEXTWIDTH, figure_style, heatmap, legend_sizes, new_figure
    K = np.array([[2.0, -0.5], [-0.5, 1.0]])
    with figure_style():
        fig = new_figure(TEXTWIDTH, 2.0)
        ax = fig.subplots()
        im = heatmap(ax, K)
        ax.plot([0, 1], [0, 1], label="x")
        ax.legend()
        assert im.get_clim() == (-2.0, 2.0)
        assert len(fig.axes) == 2                      # the image's axes and its colour bar
        assert min(legend_sizes(fig)) >= LEGEND_PT
        assert plt.rcParams["pdf.fonttype"] == 42
        plt.close(fig)


def test_fig4_theory_has_exact_kinks_and_the_first_order_jump():
    """Panel a's theory is the continuation: broken branches start at lambda_c (2.864 for T = 3, 1.622 for
    T = 4, = critical_lambda), T = 5 has a fold below its coexistence point below the symmetric branch point."""
    from linkernel.figures.fig4 import theory_curves
    from linkernel.theory.special_points import critical_lambda
    for T, lc in ((3, 2.864), (4, 1.622)):
        th = theory_curves(T, quick=True)
        broken = [b for b in th["branches"] if b["kind"] == "broken"][0]
        exact = critical_lambda(tasks.endpoint("rnn", T=T))
        assert abs(exact - lc) < 1e-3
        assert abs(min(broken["lam"]) - exact) < 1e-6 and th["transition"] == "second order"
        sym = [b for b in th["branches"] if b["kind"] == "symmetric"][0]
        lam, st = np.asarray(sym["lam"]), np.asarray(sym["stable"])
        assert st[lam < exact - 1e-3].all() and not st[lam > exact + 1e-3].any()
    th = theory_curves(5, quick=True)
    kinds = {s["kind"]: s for s in th["special_points"] if s["kind"] in ("fold", "coexistence")}
    bp = [s for s in th["special_points"] if s["kind"] == "branch_point" and s["z2"] and s["branch"] == 0][0]
    assert th["transition"] == "first order"
    assert kinds["fold"]["lam"] < kinds["coexistence"]["lam"] < bp["lam"] and kinds["coexistence"]["m"] > 0.5


@pytest.mark.slow
def test_fig2_quick(tmp_path):
    from linkernel.figures.fig2 import antidiagonal_cells
    from linkernel.theory.saddle import saddle_point
    res = make_figure(2, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    assert set(d["panels"]) == CAPTION_PANELS[2]
    assert "NaN" not in open(res.paths[2]).read()
    H = saddle_point(tasks.sinusoid("rnn", T=10)).kernel
    assert np.allclose(d["theory_kernels"]["rnn"], H, rtol=1e-8)
    assert np.allclose(d["panel_c"]["rnn"]["theory"], antidiagonal(H)[1])
    # the marked anti-diagonal is what panel c reads
    cells = d["panels"]["b"]["antidiagonal_cells"]
    assert np.allclose([H[t, s] / np.sqrt(H[t, t] * H[s, s]) for t, s in cells], antidiagonal(H)[1])
    assert cells == [list(c) for c in antidiagonal_cells(10)]
    c = d["panel_a"]["rnn"]["one_minus_cka"]
    assert c[-1] < c[0]                                   # alignment improves with N
    assert d["sampling"]["source"] == "exact finite-N posterior draws"


@pytest.mark.slow
def test_fig3_quick(tmp_path):
    from linkernel.figures.fig3 import CELLS
    from linkernel.theory.spectrum import weight_spectrum
    res = make_figure(3, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    assert set(d["panels"]) == CAPTION_PANELS[3]
    assert {k: (v["arch"], v["signal"]) for k, v in d["panels"].items() if k != "a"} == \
        {"b": ("dnn", "weak"), "c": ("dnn", "strong"), "d": ("rnn", "weak"), "e": ("rnn", "strong")} == CELLS
    y = tasks.endpoint("rnn", T=4, P=2, D=2).targets
    assert np.allclose(d["panels"]["a"]["Y_00_tt"], np.outer(y[:, 0], y[:, 0]))
    assert np.allclose(d["panels"]["a"]["Y_pp_TT"], np.outer(y[-1], y[-1]))
    rs = d["panels"]["e"]
    pr = tasks.endpoint("rnn", T=4, P=2, D=2, lam=rs["lam"])
    th = weight_spectrum(pr)
    assert np.allclose(rs["spectrum_theory"]["W"], [[z.real, z.imag] for z in th.outliers["W"]])
    assert len(rs["spectrum_theory"]["W"]) >= 1 and not d["panels"]["d"]["spectrum_theory"]["W"]
    assert all(not v for v in d["panels"]["c"]["spectrum_theory"].values())
    assert rs["source"].startswith("exact finite-N posterior draws")
    # the sampled outlier sits near the prediction (N = 128: O(N^-1/2) off)
    z = np.array(rs["eigenvalues"]["W"])
    top = z[np.argmax(np.hypot(*z.T))]
    assert abs(np.hypot(*top) - abs(th.outliers["W"][0])) < 0.25


@pytest.mark.slow
def test_fig4_quick(tmp_path):
    from linkernel.theory.continuation import trace
    from linkernel.theory.special_points import critical_lambda
    res = make_figure(4, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    assert set(k for k in d["panels"] if len(k) == 1) == CAPTION_PANELS[4]
    a = d["panels"]["a"]["T=4"]
    assert a["lambda_c"] == pytest.approx(critical_lambda(tasks.endpoint("rnn", T=4)), rel=1e-10)
    broken = [b for b in a["theory"]["branches"] if b["kind"] == "broken"][0]
    tr = trace(tasks.endpoint("rnn", T=4), lam_range=(0.5, 4.0), ds_max=0.1)
    ref = [b for b in tr.branches if b.kind == "broken"][0]
    assert np.allclose(broken["m"], ref.m) and np.allclose(broken["lam"], ref.lam)
    assert a["networks"]["source"].startswith("exact finite-N posterior draws")
    assert all(s > 0 for s in a["networks"]["residual_fluctuation"])
    assert abs(d["panels"]["a_inset_beta"]["fitted_slope_near_lambda_c"] - 0.5) < 0.05
    assert all(os.path.exists(p) for p in res.paths)


@pytest.mark.slow
def test_fig5_quick(tmp_path):
    from linkernel.sequence import solve_sequence
    res = make_figure(5, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    assert set(d["panels"]) == CAPTION_PANELS[5]
    assert {"teacher_eigenvalues", "Y", "targets"} <= set(d["panels"]["a"])
    assert set(d["panels"]["c"]) == set(d["panels"]["d"]) == {"k=2", "k=4"}
    b = d["panel_b"]["rnn"]
    r = solve_sequence(T=6, period=6.0, supervised="first:4", lam=1.0, archs=("rnn",), n_starts=4)
    assert np.isclose(b["loss_all_theory"][3], r.gen_error["rnn"], rtol=1e-6)
    assert np.isclose(d["panels"]["d"]["k=4"]["predictions_theory"], r.predictions["rnn"], rtol=1e-6).all()
    # weight sharing interpolates: with the first 4 of 6 steps supervised the RNN generalises better
    assert b["loss_all_theory"][3] < d["panel_b"]["dnn"]["loss_all_theory"][3]


def test_trace_plot_stable_segments_end_at_the_branch_point(tmp_path):
    """`trace --plot`: the symmetric branch is solid (stable) exactly up to lambda_c and dashed after it (it
    was solid one continuation step past lambda_c); the broken branch is a smooth curve, not a polyline."""
    import matplotlib.pyplot as plt
    from linkernel.plots import _draw_traces, plot_trace
    from linkernel.theory.continuation import trace
    from linkernel.theory.special_points import critical_lambda
    tr = trace(tasks.endpoint("rnn", T=4), lam_range=(0.5, 3.0))
    lc = critical_lambda(tasks.endpoint("rnn", T=4))
    fig, ax = plt.subplots()
    _draw_traces(ax, [tr], {4: "C0"}, "m")
    sym = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_ydata()) > 1
           and np.allclose(ln.get_ydata(), 0.0)]
    assert sym and max(ln.get_xdata().max() for ln in sym) == pytest.approx(lc, abs=1e-9)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and np.allclose(ln.get_ydata(), 0.0)]
    assert min(ln.get_xdata().min() for ln in dashed) == pytest.approx(lc, abs=1e-9)
    broken = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and np.max(ln.get_ydata()) > 0]
    assert len(broken[0].get_xdata()) > 4 * len(tr.branches[1].lam)
    plt.close(fig)
    assert os.path.getsize(plot_trace([tr], str(tmp_path / "t.png"))) > 1000

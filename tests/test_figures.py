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


def test_result_summary_and_json(tmp_path):
    r = FigureResult(number=2, paths=("a.png",), data={"panel_a": {"x": [1.0, float("nan")]}, "notes": ["n"]},
                     seconds=1.0, quick=True, N=16)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["data"]["panel_a"]["x"] == [1.0, None]
    assert "panel_a" in r.summary() and "a.png" in r.summary()


def _load(res):
    for p in res.paths[:3]:
        assert os.path.getsize(p) > 0
    with open(res.paths[2]) as fh:
        return json.load(fh)     # strict JSON: json.load accepts NaN, so check there is none
    

@pytest.mark.slow
def test_fig2_quick(tmp_path):
    from linkernel.theory.saddle import saddle_point
    res = make_figure(2, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    assert "NaN" not in open(res.paths[2]).read()
    H = saddle_point(tasks.sinusoid("rnn", T=10)).kernel
    assert np.allclose(d["theory_kernels"]["rnn"], H, rtol=1e-8)
    assert np.allclose(d["panel_c"]["rnn"]["theory"], antidiagonal(H)[1])
    c = d["panel_a"]["rnn"]["one_minus_cka"]
    assert c[-1] < c[0]                                   # alignment improves with N


@pytest.mark.slow
def test_fig3_quick(tmp_path):
    from linkernel.theory.spectrum import weight_spectrum
    res = make_figure(3, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    rs = d["panel_rnn_strong"]
    pr = tasks.endpoint("rnn", T=4, P=2, D=2, lam=rs["lam"])
    th = weight_spectrum(pr)
    assert np.allclose(rs["spectrum_theory"]["W"], [[z.real, z.imag] for z in th.outliers["W"]])
    assert len(rs["spectrum_theory"]["W"]) >= 1 and not d["panel_rnn_weak"]["spectrum_theory"]["W"]
    assert all(not v for v in d["panel_dnn_strong"]["spectrum_theory"].values())
    # the sampled outlier sits near the prediction (N = 128: O(N^-1/2) off)
    z = np.array(rs["eigenvalues"]["W"])
    top = z[np.argmax(np.hypot(*z.T))]
    assert abs(np.hypot(*top) - abs(th.outliers["W"][0])) < 0.25


@pytest.mark.slow
def test_fig4_quick(tmp_path):
    from linkernel.theory.saddle import saddle_point
    res = make_figure(4, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    a = d["panel_a"]["T=4"]
    i = a["lam"].index(3.0)
    assert np.isclose(a["m_theory"][i], saddle_point(tasks.endpoint("rnn", T=4, lam=3.0)).order_parameter, rtol=1e-6)
    assert all(os.path.exists(p) for p in res.paths)


@pytest.mark.slow
def test_fig5_quick(tmp_path):
    from linkernel.sequence import solve_sequence
    res = make_figure(5, quick=True, out=str(tmp_path), progress=False)
    d = _load(res)
    b = d["panel_b"]["rnn"]
    r = solve_sequence(T=6, period=6.0, supervised="first:4", lam=1.0, archs=("rnn",), n_starts=4)
    assert np.isclose(b["loss_all_theory"][3], r.gen_error["rnn"], rtol=1e-6)
    # weight sharing interpolates: with the first 4 of 6 steps supervised the RNN generalises better
    assert b["loss_all_theory"][3] < d["panel_b"]["dnn"]["loss_all_theory"][3]

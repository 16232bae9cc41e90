"""Results that display themselves (linkernel.display): compact repr, HTML tables, LaTeX, plot().

One cheap instance of every result type is built once (module fixtures); each must display as a
small HTML table of its key numbers (never an array's entries), repr in under 1000 characters; the
symbolic results' LaTeX parses (matplotlib's mathtext) and its expression equals the float; the
plot() methods return Axes whose data are the result's own arrays.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402

import linkernel as lk  # noqa: E402
from linkernel import display  # noqa: E402
from linkernel.display import FULL_KERNEL_MAX, LARGEST_ENTRIES, Display  # noqa: E402

HTML_MAX = 3000
REPR_MAX = 1000


def _square(x):
    return {"y": np.array(x * x, dtype=float)}


@pytest.fixture(scope="module")
def results():
    """name -> (instance, key numbers its display must show, formatted as {:.10g})."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # short sampler runs: not converged, and say so
        return _results()


def _results() -> dict:
    f = "{:.10g}".format
    out = {}
    rnn3 = lk.endpoint("rnn", T=3)
    arch = lk.tied_blocks(5, 2)
    out["Architecture"] = (arch, [arch.label])
    p2 = lk.endpoint("rnn", T=4, P=2, lam=2.0)
    out["Problem"] = (p2, ["4", "2", "RNN endpoint task"])
    sp_ = lk.saddle_point(p2)
    out["SaddlePoint"] = (sp_, [f(sp_.order_parameter), f(sp_.action), f(sp_.grad_norm)])
    out["Minimum"] = (sp_.minima[0], [f(sp_.minima[0].action), f(sp_.minima[0].hessian_min_eigenvalue)])
    tr = lk.trace(rnn3, (2.5, 3.2))
    out["Trace"] = (tr, [f(tr.critical_lambda), tr.transition])
    out["Branch"] = (tr.branches[1], [f(tr.branches[1].m.max())])
    out["SpecialPoint"] = (tr.special_points[0], [f(tr.special_points[0].lam)])
    out["ContinuationPoint"] = (tr.branches[1].points[-1], [f(tr.branches[1].points[-1].action)])
    est = lk.critical_exponent(rnn3, digits=20)
    out["ExponentEstimate"] = (est, [f(est.beta), est.lambda_c_digits, f(est.lambda_c)])
    land = lk.landscape(rnn3, [2.5, 3.2], points=7)
    out["Landscape"] = (land, [f(land.curves[1].m_min)])
    out["LandscapeCurve"] = (land.curves[1], [f(land.curves[1].action_min)])
    pd = lk.phase_diagram(rnn3, "kappa", (10.0, 30.0), points=5, first_order_lines=False)
    out["PhaseDiagram"] = (pd, [f(pd.points[0].param), f(pd.points[0].lam)])
    out["CodimTwoPoint"] = (pd.points[0], [f(pd.points[0].param)])
    rep = lk.spectrum_report(lk.endpoint("rnn", T=3, lam=3.0))
    out["SpectrumReport"] = (rep, [f"{rep.theory.bulk_radius['W']:.6g}"])
    out["WeightSpectrum"] = (rep.theory, [f"{rep.theory.bulk_radius['W']:.6g}"])
    cp = lk.critical_point(rnn3)
    out["CriticalPoint"] = (cp, [f(cp.lambda_c), f(cp.landau["b"]), cp.order])
    fw = lk.finite_width(lk.endpoint("rnn", T=3, lam=1.0), 1000)
    out["FiniteWidth"] = (fw, [f(fw.loop_parameter), f(fw.order_parameter_N)])
    ex = lk.exact_posterior(lk.endpoint("rnn", T=3, lam=3.0), 64, chains=2, samples=100, warmup=100)
    out["ExactResult"] = (ex, [f(ex.order_parameter), f(ex.min_ess)])
    net = lk.sample_networks(lk.endpoint("rnn", T=3, lam=3.0), 16, sweeps=60, chains=2)
    out["NetworkPosterior"] = (net, [f(net.order_parameter), f(net.drift)])
    seq = lk.solve_sequence(T=4, supervised="0,1", n_starts=2)
    out["SequenceResult"] = (seq, [f(seq.gen_error["rnn"]), f(seq.gen_error["dnn"])])
    sw = lk.sweep.sweep(_square, {"x": [1.0, 2.0, 3.0]}, serial=True, progress=False)
    out["SweepResult"] = (sw, [sw.computation, "x=3"])
    fig = lk.FigureResult(number=4, paths=("out/fig4.png",), data={"panels": {"a": {}, "b": {}}, "notes": ["a <note> & more"]},
                          seconds=1.25, quick=True, N=64)
    out["FigureResult"] = (fig, ["1.25", "64", "a, b", "out/fig4.png"])
    report = lk.Report(out=Path("report"), files=(Path("report/a.png"),), seconds=2.5,
                       results={"critical_point": {"lambda_c": cp.lambda_c}, "exponent": {"beta": 0.5}})
    out["Report"] = (report, [f(cp.lambda_c), "0.5"])
    from linkernel.symbolic.patterns import pattern_critical_point, pattern_landau
    out["PatternCriticalPoint"] = (pattern_critical_point(lk.rnn(4)), ["3/2"])
    out["PatternLandau"] = (pattern_landau(lk.rnn(4)), ["c_0**4"])
    return out


# --- which classes are results ------------------------------------------------------------------
def _public_classes() -> dict:
    return {n: getattr(lk, n) for n in lk.__all__
            if isinstance(getattr(lk, n), type) and not issubclass(getattr(lk, n), BaseException)}


def _displays(cls) -> bool:
    """cls displays itself: a Display whose repr is Display's (or its own), not the dataclass's generated one."""
    return (issubclass(cls, Display) and cls._repr_html_ is Display._repr_html_
            and "__create_fn__" not in cls.__repr__.__qualname__ and "<locals>" not in cls.__repr__.__qualname__)


def test_every_public_class_displays_itself_and_is_tested(results):
    classes = _public_classes()
    assert len(classes) >= 16 and "Trace" in classes and "ExactResult" in classes
    missing = sorted(n for n, c in classes.items() if not _displays(c))
    assert not missing, f"public classes without display: {missing}"
    untested = sorted(set(classes) - set(results))
    assert not untested, f"add an instance of {untested} to the fixture of {__file__}"


def test_the_enumeration_sees_a_class_without_display():
    @dataclasses.dataclass
    class Plain:
        x: int

    @dataclasses.dataclass
    class Shown(Display):
        x: int

    assert not _displays(Plain) and _displays(Shown)
    assert repr(Shown(3)) == "Shown(\n  x: 3\n)"


# --- HTML and repr -----------------------------------------------------------------------------
class _Table(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.cells = [], [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("td", "th"):
            self.cells.append(data)


def _parse(text: str) -> _Table:
    t = _Table()
    t.feed(text)
    t.close()
    assert not t.stack, f"unclosed tags {t.stack}"
    return t


def _arrays(obj) -> list:
    """The arrays the object holds (its __dict__: a lazily computed field is not computed here)."""
    return [a for a in vars(obj).values() if isinstance(a, np.ndarray) and a.size >= 4]


def _shape(a) -> str:
    return f"{a.shape[0]}-entry array" if a.ndim == 1 else " x ".join(map(str, a.shape)) + " array"


def test_html_is_a_compact_table_of_the_key_numbers(results):
    for name, (obj, keys) in results.items():
        text = obj._repr_html_()
        assert len(text) < HTML_MAX, (name, len(text))
        t = _parse(text)
        assert t.tags[0] == "table" and t.tags.count("tr") == t.tags.count("th") == t.tags.count("td") >= 2, name
        cells = " | ".join(t.cells)
        for k in keys:
            assert k in cells, f"{name}: {k!r} not in {cells}"
        for _, a in obj._display_rows():
            if isinstance(a, np.ndarray) and a.ndim:
                assert _shape(a) in cells, name
        for a in _arrays(obj):
            # never the entries: at most a few of the array's distinct values appear
            vals = {f"{x:.10g}" for x in np.ravel(a)[:50] if np.isfinite(x) and x != 0}
            assert sum(v in cells for v in vals) <= 3, name


def test_html_escapes_text():
    fig = lk.FigureResult(number=2, paths=("<b>&.png",), data={"notes": []}, seconds=1.0, quick=False, N=None)
    text = fig._repr_html_()
    assert "<b>&" not in text and "&lt;b&gt;&amp;.png" in text
    assert "&lt;b&gt;&amp;.png" not in repr(fig) and "<b>&.png" in repr(fig)


def test_repr_is_short_and_names_arrays_by_shape(results):
    for name, (obj, keys) in results.items():
        text = repr(obj)
        assert len(text) < REPR_MAX, (name, len(text))
        assert text.startswith(type(obj).__name__ + "(") and "array(" not in text, name
        assert all(k in text for k in keys), name
        assert text.splitlines()[1:-1] == [f"  {n}: {t}" for n, t in obj.display_rows()] and text.endswith("\n)")


def test_default_rows_come_from_the_dataclass_fields():
    @dataclasses.dataclass(frozen=True)
    class R(Display):
        K: np.ndarray
        v: np.ndarray
        beta: float
        note: str = dataclasses.field(default="x" * 500)
        hidden: int = dataclasses.field(default=1, repr=False)

    r = R(K=np.ones((36, 36)), v=np.arange(5.0), beta=0.123456789012345)
    assert r.display_rows()[:3] == [("K", "36 x 36 array"), ("v", "5-entry array"), ("beta", "0.123456789")]
    assert len(r.display_rows()[3][1]) == display.MAX_TEXT
    assert [n for n, _ in r.display_rows()] == ["K", "v", "beta", "note"]


def test_describe():
    assert display.describe([1.0, 2.0, 3.0]) == "(1, 2, 3)"
    assert display.describe(list(range(10))) == "10 values (0, 1, 2, ..., 9)"
    assert display.describe({"a": 1.5, "b": None}) == "a=1.5, b=None"
    assert display.describe(sp.Rational(3, 2)) == "3/2" and display.describe(float("nan")) == "nan"
    assert display.describe(np.float64(2.0) + 1j) == "2+1i" and display.describe(np.array(4.0)) == "4"


# --- LaTeX and SymPy on the critical point --------------------------------------------------------
def _mathtext_parses(text: str) -> None:
    from matplotlib.mathtext import MathTextParser
    assert text.startswith("$") and text.count("$") == 2
    MathTextParser("path").parse(text[: text.rindex("$") + 1])


@pytest.mark.parametrize("T, P, kappa", [(3, 1, 0.1), (4, 2, 0.3), (5, 1, 0.1)])
def test_critical_point_closed_forms_equal_the_floats(T, P, kappa):
    cp = lk.critical_point(lk.endpoint("rnn", T=T, P=P, kappa=kappa))
    at = cp.symbol_values
    assert float(sp.N(cp.lambda_c_expr.subs(at), 30)) == pytest.approx(cp.lambda_c, rel=1e-12)
    for k, expr in cp.landau_expr.items():
        assert isinstance(expr, sp.Expr)
        assert float(sp.N(expr.subs(at), 30)) == pytest.approx(cp.landau[k], rel=1e-12, abs=1e-14), k
    assert cp.beta_expr == (sp.Rational(1, 2) if cp.order == "second order" else None)
    assert (cp.beta_expr is None) == (cp.beta is None)
    text = cp._repr_latex_()
    _mathtext_parses(text)
    assert sp.latex(cp.lambda_c_expr) in text and f"{cp.lambda_c:.12g}" in text


def test_critical_point_expression_is_the_pattern_derivation():
    """Two derivations: the RNN's closed form (critical_point) and the general pattern one agree exactly."""
    from linkernel.symbolic.patterns import pattern_critical_point
    for T in (3, 4):
        cp = lk.critical_point(lk.endpoint("rnn", T=T))
        assert sp.simplify(cp.lambda_c_expr - pattern_critical_point(lk.rnn(T)).lambda_c) == 0


def test_pattern_results_latex_parses(results):
    pc, pl = results["PatternCriticalPoint"][0], results["PatternLandau"][0]
    _mathtext_parses(pc._repr_latex_())
    _mathtext_parses(pl._repr_latex_())
    assert sp.latex(pc.lambda_c) in pc._repr_latex_() and sp.latex(pl.quartic) in pl._repr_latex_()


# --- plot() -------------------------------------------------------------------------------------
def _lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def test_trace_plot_draws_the_branches_with_their_stability(results):
    tr = results["Trace"][0]
    ax = tr.plot()
    assert isinstance(ax, plt.Axes)
    special = {(s.lam, s.order_parameter) for s in tr.special_points}
    for k, b in enumerate(tr.branches):
        own = list(zip(b.lam, b.m))
        drawn = []
        for ln in _lines(ax, f"branch {k}"):
            xy = list(zip(ln.get_xdata(), ln.get_ydata()))
            # the branch's own points before the line's last (which may start the next stretch) have its stability
            flags = {bool(b.stable[own.index(p)]) for p in xy[:-1] if p in own and p not in special}
            assert flags <= {ln.get_linestyle() == "-"}, (k, ln.get_linestyle(), flags)
            for p in xy:
                if p not in drawn:
                    drawn.append(p)
        assert [p for p in drawn if p in own] == own                 # every point, in order
        assert all(p in special for p in drawn if p not in own)      # and only the special points besides
    for s in tr.special_points:
        ln = _lines(ax, f"special {s.kind}")[0]
        assert (ln.get_xdata()[0], ln.get_ydata()[0]) == (s.lam, s.order_parameter)
    assert any(ln.get_linestyle() == "--" for ln in _lines(ax, "branch 0"))   # unstable above lambda_c
    plt.close("all")


def test_landscape_plot_draws_each_curve(results):
    land = results["Landscape"][0]
    fig, given = plt.subplots()
    ax = land.plot(ax=given)
    assert ax is given
    for k, c in enumerate(land.curves):
        (ln,) = _lines(ax, f"lambda {k}")
        np.testing.assert_array_equal(ln.get_xdata(), c.m)
        np.testing.assert_array_equal(ln.get_ydata(), c.delta_action)
        (mk,) = _lines(ax, f"minimum {k}")
        assert mk.get_xdata()[0] == c.m_min
    plt.close("all")


def test_phase_diagram_plot_axes_and_file(results, tmp_path):
    pd = results["PhaseDiagram"][0]
    ax = pd.plot()
    (ln,) = _lines(ax, "branch-point line")
    np.testing.assert_array_equal(ln.get_xdata(), pd.branch_param)
    np.testing.assert_array_equal(ln.get_ydata(), pd.branch_lam)
    assert pd.plot(tmp_path / "pd.png") == tmp_path / "pd.png" and (tmp_path / "pd.png").stat().st_size > 10_000
    plt.close("all")


@pytest.mark.parametrize("name", ["ExactResult", "NetworkPosterior", "SaddlePoint"])
def test_kernel_heat_map_with_colour_bar(results, name):
    r = results[name][0]
    ax = r.plot()
    np.testing.assert_array_equal(ax.images[0].get_array(), r.kernel)
    lo, hi = ax.images[0].get_clim()
    assert lo == -hi == -np.abs(r.kernel).max() and len(ax.figure.axes) == 2      # the colour bar
    plt.close("all")


def test_posterior_order_parameter_histogram(results):
    r = results["ExactResult"][0]
    ax = r.plot(what="m", theory=2.0)
    assert sum(p.get_height() for p in ax.patches) == r.draws.shape[0] * r.draws.shape[1]
    assert {ln.get_xdata()[0] for ln in ax.get_lines()} == {r.order_parameter, 2.0}
    with pytest.raises(ValueError, match="what"):
        r.plot(what="spectrum")
    plt.close("all")


def test_sequence_plot(results):
    seq = results["SequenceResult"][0]
    ax = seq.plot()
    np.testing.assert_array_equal(_lines(ax, "targets")[0].get_ydata(), seq.targets)
    for a in seq.archs:
        np.testing.assert_array_equal(_lines(ax, a)[0].get_ydata(), seq.predictions[a])
    plt.close("all")


# --- large kernels in summaries -------------------------------------------------------------------
def test_large_kernel_summary_lists_the_largest_entries_and_says_what_m_is():
    T, P = 12, 3
    sp_ = lk.saddle_point(lk.endpoint("rnn", T=T, P=P, lam=2.0))
    text = sp_.summary()
    assert T * P > FULL_KERNEL_MAX and max(len(line) for line in text.splitlines()) < 400
    H = sp_.kernel
    found = re.findall(r"^  H\^\((\d+),(\d+)\)_\((\d+),(\d+)\) = (\S+)$", text, flags=re.M)
    assert len(found) == LARGEST_ENTRIES
    listed = {(int(t) * P + int(p), int(s) * P + int(q)) for t, s, p, q, _ in found}
    for (t, s, p, q, v) in found:
        assert float(v) == pytest.approx(H[int(t) * P + int(p), int(s) * P + int(q)], abs=1e-6)
    iu = [(i, j) for i in range(T * P) for j in range(i, T * P) if (i, j) not in listed]
    assert min(abs(H[i, j]) for i, j in listed) >= max(abs(H[i, j]) for i, j in iu)
    m_line = next(line for line in text.splitlines() if line.startswith("order parameter m = H^(T-1,T-2) = "))
    each = [float(x) for x in m_line.split("H^(T-1,T-2)_(p,p) = ")[1].rstrip(")").split(", ")]
    assert each == pytest.approx([H[(T - 1) * P + p, (T - 2) * P + p] for p in range(P)], rel=1e-9)
    assert np.mean(each) == pytest.approx(sp_.order_parameter, rel=1e-9)
    assert "to_dict()" in text and len(sp_.to_dict()["kernel"]) == T * P


def test_small_kernel_summary_prints_the_matrix():
    sp_ = lk.saddle_point(lk.endpoint("rnn", T=4, P=2, lam=2.0))
    lines = sp_.summary().splitlines()
    assert lines[1] == "kernel H (rows t*P+p, t = 0..3):"
    rows = [[float(x) for x in line.split()] for line in lines[2:2 + 8]]
    np.testing.assert_allclose(rows, sp_.kernel, atol=1e-6)

"""The sweep engine: seeds, serial vs LocalCluster, resume, NetCDF round trip, configs."""

import json

import numpy as np
import pytest

from linkernel.errors import SweepError
from linkernel.sweep import computation, grid_points, open_dataset, point_seed, run_sweep_config, sweep


def _noisy(a, b, seed):
    """A point whose outputs depend on its seed (a scalar, an array and a string)."""
    rng = np.random.default_rng(seed)
    return {"y": a * b + rng.normal(), "vec": rng.normal(size=3) + a, "tag": f"{a}-{b}"}


class _Counter:
    """Counts calls; raises at call number ``fail_at`` (a simulated interruption)."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, a, b, seed):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("simulated interruption")
        return _noisy(a, b, seed)


GRID = {"a": [1.0, 2.0, 3.0], "b": [0, 1]}


def test_seed_depends_only_on_coordinates():
    pts = {json.dumps(p, sort_keys=True): point_seed(7, p) for _, p in grid_points(GRID)}
    rev = {json.dumps(p, sort_keys=True): point_seed(7, p)
           for _, p in grid_points({"b": [1, 0], "a": [3.0, 1.0, 2.0, 4.0]})}
    assert all(rev[k] == s for k, s in pts.items())
    assert len(set(pts.values())) == len(pts)
    assert point_seed(8, {"a": 1.0, "b": 0}) != point_seed(7, {"a": 1.0, "b": 0})


def test_serial_outputs_and_netcdf_round_trip(tmp_path):
    out = tmp_path / "s.nc"
    res = sweep(_noisy, GRID, seed=3, output=out, serial=True, progress=False)
    ds = res.dataset
    assert ds["y"].dims == ("a", "b") and ds["vec"].dims == ("a", "b", "vec_0")
    for _, p in grid_points(GRID):
        want = _noisy(p["a"], p["b"], point_seed(3, p))
        got = ds.sel(a=p["a"], b=p["b"])
        assert float(got["y"]) == want["y"]
        np.testing.assert_array_equal(got["vec"].values, want["vec"])
        assert str(got["tag"].values) == want["tag"]
    back = open_dataset(out)
    assert back.equals(ds)
    assert back.attrs["seed"] == 3
    assert res.computed == 6 and res.cached == 0
    assert "6 points" in res.summary()
    json.dumps(res.to_dict(), allow_nan=False)


def test_resume_recomputes_nothing_finished(tmp_path):
    out = tmp_path / "r.nc"
    c1 = _Counter(fail_at=4)
    with pytest.raises(SweepError, match="simulated interruption"):
        sweep(c1, GRID, output=out, serial=True, progress=False, name="counter")
    assert c1.calls == 4                               # three finished, the fourth interrupted
    c2 = _Counter()
    res = sweep(c2, GRID, output=out, serial=True, progress=False, name="counter")
    assert c2.calls == 3 and res.cached == 3 and res.computed == 3
    full = sweep(_noisy, GRID, serial=True, progress=False)
    assert res.dataset.equals(full.dataset.assign_attrs(res.dataset.attrs))
    c3 = _Counter()
    sweep(c3, GRID, output=out, serial=True, progress=False, name="counter")
    assert c3.calls == 0                               # everything cached
    # another seed is another set of points
    c4 = _Counter()
    sweep(c4, GRID, output=out, serial=True, progress=False, name="counter", seed=1)
    assert c4.calls == 6


@pytest.mark.filterwarnings("ignore::UserWarning")      # chains this short do not converge; not the point here
def test_local_cluster_equals_serial(tmp_path):
    """A registered library computation (exact posterior, tiny) on 2 worker processes vs in-process."""
    fn = computation("exact_posterior", {"task": "endpoint", "T": 3, "kappa": 0.1},
                     {"chains": 1, "samples": 20, "warmup": 10})
    grid = {"lam": [1.0, 2.5], "N": [16]}
    ser = sweep(fn, grid, seed=5, serial=True, progress=False)
    dist = sweep(fn, grid, seed=5, n_workers=2, progress=False, output=tmp_path / "d.nc")
    assert dist.engine.startswith("LocalCluster")
    for k in ser.dataset.data_vars:
        np.testing.assert_array_equal(ser.dataset[k].values, dist.dataset[k].values)
    again = sweep(fn, grid, seed=5, serial=True, progress=False, output=tmp_path / "d.nc")
    assert again.computed == 0 and again.cached == 2          # the cluster's points were cached by the client


@pytest.mark.slow
def test_64_point_exact_posterior_sweep_on_2_workers_equals_serial(tmp_path):
    fn = computation("exact_posterior", {"task": "endpoint", "T": 4, "kappa": 0.1},
                     {"chains": 2, "samples": 100, "warmup": 100})
    grid = {"lam": list(np.linspace(1.0, 2.4, 8)), "N": [16, 32, 64, 128, 256, 512, 1024, 2048]}
    ser = sweep(fn, grid, seed=11, serial=True, progress=False)
    dist = sweep(fn, grid, seed=11, n_workers=2, progress=False, output=tmp_path / "d64.nc")
    assert dist.n_points == 64
    assert open_dataset(tmp_path / "d64.nc").equals(dist.dataset)
    for k in ser.dataset.data_vars:
        np.testing.assert_array_equal(ser.dataset[k].values, dist.dataset[k].values)


def test_config_runs_and_bad_keys(tmp_path):
    cfg = {"computation": "landau_b", "problem": {"T": 5}, "grid": {"kappa": [0.1, 1.0], "T": [3, 5]},
           "output": "c.nc", "seed": 2}
    with pytest.raises(ValueError, match="'grid.T'"):
        _run(tmp_path, cfg)
    cfg["problem"] = {}
    res = _run(tmp_path, cfg)
    assert (tmp_path / "c.nc").exists()
    from linkernel.symbolic.order import landau_b
    assert float(res.dataset["b"].sel(kappa=1.0, T=5)) == landau_b(5, 1.0)
    for bad, key in [({"computaton": "x"}, "'computaton'"), ({"computation": "nope"}, "'computation'"),
                     ({"grid": {"lam": []}}, "'grid'"), ({"seed": -1}, "'seed'"),
                     ({"problem": {"kapa": 1}}, "'problem.kapa'"), ({"output": 3}, "'output'")]:
        c = dict(cfg, **bad)
        with pytest.raises(ValueError, match=key):
            _run(tmp_path, c)
    c = dict(cfg)
    del c["grid"]
    with pytest.raises(ValueError, match="'grid'"):
        _run(tmp_path, c)
    with pytest.raises(ValueError, match="'N'"):
        _run(tmp_path, dict(cfg, computation="exact_posterior"))


def _run(tmp_path, cfg):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return run_sweep_config(path, progress=False, serial=True)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="grid"):
        sweep(_noisy, {}, serial=True)
    with pytest.raises(ValueError, match="seed"):
        sweep(_noisy, GRID, seed=-2, serial=True)
    with pytest.raises(ValueError, match="'a'"):
        sweep(_noisy, {"a": [1, 1], "b": [0]}, serial=True)
    with pytest.raises(ValueError, match="output="):
        sweep(_noisy, GRID, output=tmp_path / "out.txt", serial=True)

    def clashing(a, b):
        return {"a": a}
    with pytest.raises(ValueError, match="'a'"):
        sweep(clashing, GRID, serial=True, progress=False)


# --- issue 27: the cache key holds the function's code and captured values -----------------------
def test_cache_distinguishes_code_and_captured_values(tmp_path):
    out = tmp_path / "k.nc"
    g = {"a": [1, 2]}
    first = sweep(lambda a: {"y": a}, g, output=out, serial=True, progress=False)
    second = sweep(lambda a: {"y": 10 * a}, g, output=out, serial=True, progress=False)
    assert second.cached == 0 and second.dataset["y"].values.tolist() == [10, 20]

    def scaled(c):
        return lambda a: {"y": c * a}
    three = sweep(scaled(3), g, output=out, serial=True, progress=False)
    five = sweep(scaled(5), g, output=out, serial=True, progress=False)
    assert three.dataset["y"].values.tolist() == [3, 6] and five.dataset["y"].values.tolist() == [5, 10]
    again = sweep(scaled(5), g, output=out, serial=True, progress=False)     # the same closure: cached
    assert again.cached == 2 and again.dataset.equals(five.dataset)

    def with_default(a, c=2):
        return {"y": c * a}
    import functools
    p3 = sweep(functools.partial(with_default, c=3), g, output=out, serial=True, progress=False)
    d2 = sweep(with_default, g, output=out, serial=True, progress=False)
    assert p3.dataset["y"].values.tolist() == [3, 6] and d2.dataset["y"].values.tolist() == [2, 4]
    assert first.dataset["y"].values.tolist() == [1, 2]


def test_unkeyable_functions_are_refused_for_a_cache_only(tmp_path):
    from linkernel.sweep import computation_key
    c = _Counter()
    with pytest.raises(ValueError, match="cannot be keyed.*name="):
        sweep(c, GRID, output=tmp_path / "u.nc", serial=True, progress=False)
    assert c.calls == 0                                          # refused before any work
    assert sweep(c, GRID, serial=True, progress=False).computed == 6   # no cache: no key needed
    lock = __import__("threading").Lock()
    with pytest.raises(ValueError, match="captured variable 'lock'"):
        computation_key(lambda a: {"y": a if lock else 0})
    assert computation_key(_noisy) == computation_key(_noisy)


def test_ragged_outputs_over_T_are_stored_per_point(tmp_path):
    """A sweep over T: the kernel (T, T) is stored per point, padded with NaN, its shape alongside; each
    point equals the saddle point computed directly; the summary counts grid points, not output dims."""
    import warnings
    from linkernel import tasks
    from linkernel.theory.saddle import saddle_point
    fn = computation("saddle_point", {"task": "endpoint", "kappa": 0.1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(fn, {"lam": [1, 2, 3], "T": [3, 4]}, serial=True, progress=False, output=tmp_path / "t.nc")
    ds = res.dataset
    assert res.n_points == 6 and ds["kernel"].shape == (3, 2, 4, 4)
    assert "6 points (lam=3 x T=2)" in res.summary() and "kernel_shape" in res.summary()
    assert res.to_dict()["grid"] == {"lam": 3, "T": 2}
    for lam in (1, 2, 3):
        for T in (3, 4):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = saddle_point(tasks.endpoint(T=T, kappa=0.1, lam=lam), seed=0).kernel
            got = ds["kernel"].sel(lam=lam, T=T).values
            assert ds["kernel_shape"].sel(lam=lam, T=T).values.tolist() == [T, T]
            np.testing.assert_allclose(got[:T, :T], want, rtol=1e-9, atol=1e-12)
            assert np.isnan(got[T:, :]).all() and np.isnan(got[:, T:]).all()
    assert open_dataset(tmp_path / "t.nc").equals(ds)


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    c = _Counter()
    for kw, param in [(dict(output=5), "output=5"), (dict(cache_dir=5), "cache_dir=5"),
                      (dict(seed=2 ** 64), "seed="), (dict(seed=None), "seed="), (dict(name=5), "name=5"),
                      (dict(output=tmp_path / "nodir" / "x.nc" / "y.nc"), None)]:
        if param is None:
            (tmp_path / "nodir").mkdir()
            (tmp_path / "nodir" / "x.nc").write_text("a file, not a folder")
            param = "output="
        with pytest.raises(ValueError, match=param):
            sweep(c, GRID, serial=True, progress=False, **kw)
    assert c.calls == 0


def test_unreachable_scheduler_is_one_fast_line():
    import time
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="scheduler='tcp://127.0.0.1:1'") as info:
        sweep(_noisy, GRID, scheduler="tcp://127.0.0.1:1", progress=False)
    assert time.perf_counter() - t0 < 10 and "\n" not in str(info.value)


def test_config_errors_are_refused_before_any_work(tmp_path):
    cfg = {"computation": "landau_b", "grid": {"kappa": [0.1]}, "output": "c.nc"}
    for bad, key in [({"cache_dir": 5}, "'cache_dir'"), ({"seed": 2 ** 64}, "'seed'"),
                     ({"n_workers": 0}, "'n_workers'")]:
        with pytest.raises(ValueError, match=key):
            _run(tmp_path, dict(cfg, **bad))
    assert not (tmp_path / "c.nc").exists()
    with pytest.raises(ValueError, match="config="):
        run_sweep_config(tmp_path / "missing.json", progress=False, serial=True)
    with pytest.raises(ValueError, match="config="):
        run_sweep_config(tmp_path, progress=False, serial=True)
    with pytest.raises(ValueError, match="config=None"):
        run_sweep_config(None, progress=False, serial=True)

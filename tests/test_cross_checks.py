"""Cross-checks between routes to the same answer, on random inputs (issue 27: fuzzing for wrong answers).

* the critical point of random weight-sharing patterns (endpoint task, P = 1, small T): the numerical
  lambda_c (:func:`linkernel.theory.special_points.critical_lambda`, a root of the odd Hessian
  eigenvalue), the SymPy closed form (:func:`linkernel.symbolic.patterns.pattern_critical_point`) and
  the trace's Z2 branch point (:func:`linkernel.theory.continuation.trace`) agree; so do the order
  (the trace's transition against the Landau order :func:`~linkernel.symbolic.patterns.derived_order`)
  and the breaking group (the broken branch's ``group`` among the closed form's ``groups``);
* a sweep run serially, on a dask LocalCluster and read back from its cache gives identical datasets.

The default suite draws a few cases; ``-m slow`` runs a longer campaign.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from linkernel import tasks
from linkernel.architecture import Architecture
from linkernel.errors import ConvergenceError
from linkernel.symbolic.patterns import derived_order, pattern_critical_point
from linkernel.theory.continuation import trace
from linkernel.theory.special_points import critical_lambda


def _random_pattern(rng, T_max: int) -> tuple:
    """(T, W groups, kappa): each recurrent step 1..T-1 joins one of up to T-1 groups at random."""
    T = int(rng.integers(3, T_max + 1))
    labels = rng.integers(0, T - 1, size=T - 1)
    W = [[t for t in range(1, T) if labels[t - 1] == g] for g in sorted(set(labels.tolist()))]
    return T, W, float(np.round(rng.uniform(0.05, 1.0), 3))


def _check_pattern(T: int, W: list, kappa: float) -> None:
    arch = Architecture.from_spec({"W": W}, T)
    cp = pattern_critical_point(arch)
    p = tasks.endpoint({"W": W}, T=T, kappa=kappa)
    closed = cp.lambda_c_value(kappa_=kappa)
    order = derived_order(arch, kappa_=kappa)
    lam_range = (0.5 * closed, 2.0 * closed) if np.isfinite(closed) else (0.5, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = trace(p, lam_range)
    where = f"pattern {W} at T={T}, kappa={kappa}"
    if not cp.has_transition:
        assert order == "none" and tr.transition == "none", where
        with pytest.raises(ConvergenceError):
            critical_lambda(p)
        return
    if cp.even_instability is not None and float(cp.even_instability) < float(cp.r_c):
        return          # a non-Z2 instability comes first: no Z2 critical point to compare
    numeric = critical_lambda(p, lam_max=3 * closed)
    bps = [s for s in tr.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0]
    assert numeric == pytest.approx(closed, rel=1e-9), where
    assert len(bps) >= 1 and bps[0].lam == pytest.approx(closed, rel=1e-9), where
    assert tr.transition == order, where
    broken = [b for b in tr.branches if b.kind == "broken"]
    assert broken and broken[0].group in cp.groups, where


def test_cubic_invariant_makes_the_transition_first_order():
    """W = {1,3,4}, {2} at T = 5: three blocks go critical together, odd under W_0, under W_1 and under both,
    so S_eff has a cubic term c_0 c_1 c_2 m^3 (the Landau expansion used to stop with an AssertionError).
    First order: the global minimum (saddle_point, another route) is already broken below lambda_c."""
    from linkernel.symbolic.patterns import pattern_landau
    from linkernel.theory.action import action
    from linkernel.theory.saddle import saddle_point
    from linkernel.theory.special_points import symmetric_saddle
    arch = Architecture.from_spec({"W": [[1, 3, 4], [2]]}, 5)
    cp = pattern_critical_point(arch)
    assert cp.degenerate and pattern_landau(arch, cp.load(kappa_=0.397)).cubic != 0
    assert derived_order(arch, kappa_=0.397) == "first order"
    lam = 0.96 * cp.lambda_c_value(kappa_=0.397)
    p = tasks.endpoint({"W": [[1, 3, 4], [2]]}, T=5, kappa=0.397, lam=lam)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = saddle_point(p, seed=0)
    assert best.action < action(p, symmetric_saddle(p)) - 1e-4
    assert abs(p.order_parameters(best.kernel)[0]) > 1.0


@pytest.mark.parametrize("case", range(5))
def test_random_pattern_critical_point_three_routes(case):
    _check_pattern(*_random_pattern(np.random.default_rng(2700 + case), 5))


@pytest.mark.slow
@pytest.mark.parametrize("case", range(40))
def test_random_pattern_critical_point_three_routes_campaign(case):
    _check_pattern(*_random_pattern(np.random.default_rng(27000 + case), 6))


# --- sweeps: serial, distributed, cached ---------------------------------------------------------
def _sweep_three_ways(tmp_path, grid, seed):
    from linkernel.sweep import computation, open_dataset, sweep
    fn = computation("saddle_point", {"task": "endpoint"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ser = sweep(fn, grid, seed=seed, serial=True, progress=False)
        dist = sweep(fn, grid, seed=seed, n_workers=2, progress=False, output=tmp_path / "d.nc")
        cached = sweep(fn, grid, seed=seed, serial=True, progress=False, output=tmp_path / "d.nc")
    assert dist.engine.startswith("LocalCluster") and cached.computed == 0 and cached.cached == ser.n_points
    for other in (dist, cached):
        assert set(other.dataset.data_vars) == set(ser.dataset.data_vars)
        for k in ser.dataset.data_vars:
            np.testing.assert_array_equal(ser.dataset[k].values, other.dataset[k].values)
    assert open_dataset(tmp_path / "d.nc").equals(cached.dataset)
    assert ser.summary().splitlines()[0].split(" on ")[0] == dist.summary().splitlines()[0].split(" on ")[0]


def _random_grid(rng, n_lam: int) -> dict:
    lams = sorted({float(np.round(x, 3)) for x in rng.uniform(0.5, 3.0, size=n_lam)})
    return {"lam": lams, "T": sorted({int(t) for t in rng.integers(2, 6, size=2)}),
            "kappa": [float(np.round(rng.uniform(0.05, 1.0), 3))]}


def test_sweep_serial_distributed_cached_agree(tmp_path):
    _sweep_three_ways(tmp_path, _random_grid(np.random.default_rng(27), 2), seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("case", range(3))
def test_sweep_serial_distributed_cached_agree_campaign(tmp_path, case):
    _sweep_three_ways(tmp_path, _random_grid(np.random.default_rng(270 + case), 5), seed=case)

"""linkernel.datasets: real data sets as tasks through the span reduction (nothing downloaded)."""

import numpy as np
import pytest

from linkernel import datasets
from linkernel.theory.action import predictions, prior_kernel


def test_sea_surface_ships_and_reduces():
    years, sst = datasets.load_sea_surface()
    assert years[0] == 1950 and years[-1] == 2010 and sst.shape == (61, 12)
    assert 15 < sst.min() < sst.max() < 32                     # degrees Celsius, Nino 1+2
    task = datasets.sea_surface(T=6, lags=4, supervised=(1, 3, 5), test=10, seed=1)
    red = task.reduction
    assert (red.P, red.r, red.form) == (50, 4, "orthonormal")
    assert task.problem.n == 6 * 4 and task.x_test.shape == (6, 10, 4) and task.yhat_test.shape == (6, 10)
    assert red.supervised_steps == (1, 3, 5)
    err = task.test_error(prior_kernel(task.problem))
    assert err["m"] == 10 and np.isfinite(err["mse"])
    with pytest.raises(ValueError):
        datasets.sea_surface(T=13)


def test_from_arrays_and_csv(tmp_path, rng):
    X = rng.standard_normal((30, 3))
    y = np.sign(X @ np.array([1.0, -2.0, 0.5]))
    task = datasets.from_arrays(X, y, T=3, test=5, seed=0)
    assert task.kind == "classification" and task.reduction.r == 3 and task.reduction.P == 25
    Q = prior_kernel(task.problem)
    np.testing.assert_allclose(task.reduction.lift_predictions(predictions(task.problem, Q)),
                               task.reduction.predict(Q, task.reduction.lift_predictions(
                                   np.asarray(task.problem.x)[0].T).T).mean, atol=1e-10)
    path = tmp_path / "t.csv"
    path.write_text("# a comment\na,b,c,label\n" + "\n".join(",".join(map(str, list(r) + [l])) for r, l in zip(X, y)))
    t2 = datasets.from_csv(path, label="label", T=3, test=5, seed=0)
    np.testing.assert_allclose(t2.x_test, task.x_test)
    with pytest.raises(ValueError):
        datasets.from_arrays(X, y[:-1])


def test_digits_binary_split_and_held_out_error():
    pytest.importorskip("sklearn")
    task = datasets.digits((0, 1), P=80, test=40, T=3, seed=3, lam=0.5)
    red = task.reduction
    assert red.P == 80 and red.r < 64 and task.problem.n == 3 * red.r
    assert task.x_test.shape == (3, 40, 64)
    Xtr = red.lift_predictions(np.asarray(task.problem.x)[0].T).T   # L Z^0: the standardised training images
    np.testing.assert_allclose(Xtr.mean(axis=0), 0, atol=1e-10)
    from linkernel.theory.saddle import saddle_point
    sp = saddle_point(task.problem, n_starts=1)
    err = task.test_error(sp)
    assert err["error_rate"] <= 0.05                            # 0 against 1 is easy
    pred = task.predict(sp)
    assert np.all(pred.variance[-1] > 0) and pred.mean.shape == (3, 40)
    even_odd = datasets.digits("even-odd", P=200, test=0, T=2)
    r = even_odd.reduction                                      # |U^T y|^2 + |y_perp|^2 = |y|^2 = P for +-1 labels
    assert np.sum(even_odd.problem.yhat[-1] ** 2) + 2 * even_odd.problem.kappa * r.offset_unit == pytest.approx(200)
    with pytest.raises(ValueError):
        datasets.digits((0, 0))

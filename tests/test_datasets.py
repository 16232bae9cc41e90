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


def test_components_are_the_training_images_principal_directions():
    pytest.importorskip("sklearn")
    full = datasets.digits((0, 1), P=100, test=20, T=3, seed=2)
    task = datasets.digits((0, 1), P=100, test=20, T=3, seed=2, components=5)
    V = task.components
    assert V.shape == (5, 64) and task.reduction.r == 5 and task.problem.D == 5
    Xs = full.reduction.lift_predictions(np.asarray(full.problem.x)[0].T).T    # standardised training images
    C = np.cov(Xs.T)
    w, E = np.linalg.eigh(C)
    top = E[:, -5:]                                             # the covariance's top 5 eigenvectors
    np.testing.assert_allclose(V.T @ V, top @ top.T, atol=1e-8)
    np.testing.assert_allclose(task.x_test[0], full.x_test[0] @ V.T, atol=1e-12)
    with pytest.raises(ValueError, match="components"):
        datasets.digits((0, 1), P=100, components=0)


def test_training_labels_and_their_rotation_in_the_reduced_problem(rng):
    X = rng.standard_normal((30, 4))
    y = np.sign(X[:, 0] + 0.3 * rng.standard_normal(30))
    task = datasets.from_arrays(X, y, T=3, test=6, seed=1)
    red = task.reduction
    assert task.yhat_train.shape == (3, 24) and set(np.unique(task.yhat_train[-1])) == {-1.0, 1.0}
    np.testing.assert_allclose(red.basis.T @ task.yhat_train[-1], task.problem.yhat[-1], atol=1e-12)
    resid = task.yhat_train[-1] - red.basis @ task.problem.yhat[-1]
    assert np.sum(resid ** 2) / (2 * task.problem.kappa) == pytest.approx(red.offset_unit, rel=1e-10)


def test_regression_labels_are_scored_at_the_last_step_only(rng):
    """Real-valued labels sit at t = T-1; the outputs at earlier steps are no targets (regression)."""
    X = rng.standard_normal((30, 4))
    y = X @ np.array([1.0, -0.5, 0.2, 0.0]) + 0.1 * rng.standard_normal(30)
    task = datasets.from_arrays(X, y, T=3, test=8, seed=0)
    assert task.kind == "regression"
    Q = prior_kernel(task.problem)
    err = task.test_error(Q)
    pred = task.predict(Q)
    assert err["steps"] == [2]
    assert err["mse"] == pytest.approx(np.mean((pred.mean[2] - task.yhat_test[2]) ** 2), rel=1e-12)

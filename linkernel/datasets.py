"""Real data sets as linkernel tasks, through the span reduction (linkernel/theory/span.py,
derivations/span_reduction.tex).  Nothing is downloaded: the digits ship inside scikit-learn (the
optional ``data`` extra), the sea-surface temperatures inside linkernel (linkernel/data/, public domain,
source in linkernel/data/README.md).

Each constructor returns a :class:`DataTask`: the :class:`~linkernel.theory.span.SpanReduction` of the
training set (its ``problem`` is the reduced Problem every route runs on: r patterns instead of P) and
the held-out inputs and labels, in the package's conventions (inputs (T, m, D), labels (T, m)).

* :func:`digits`: scikit-learn's 8 x 8 digits (1797 images, D = 64), a binary split (two classes, or
  even against odd), standardised with the training set's mean and standard deviation, labels +-1 at
  t = T-1, the image as the input at t = 0 (the paper's endpoint classification on real data).
* :func:`sea_surface`: the Nino 1+2 monthly sea-surface temperatures 1950-2010, one sequence per year:
  the input at t = 0 is the previous year's last ``lags`` monthly anomalies, the targets the year's
  T monthly anomalies (standardised), supervised at some months, scored at all (the paper's sequence
  task on real data).
* :func:`from_arrays` / :func:`from_csv`: a user's own (P, D) table with a label column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

from linkernel.theory.span import Prediction, SpanReduction, reduce_data

__all__ = ["DataTask", "digits", "sea_surface", "from_arrays", "from_csv", "load_sea_surface"]


@dataclass(frozen=True, eq=False)
class DataTask:
    """A data set as a task: the reduced training problem and the held-out set.

    ``reduction``: the :class:`~linkernel.theory.span.SpanReduction` of the training set
    (``reduction.problem`` is the Problem to solve; ``reduction.lift`` gives the full kernel).
    ``x_test`` (T, m, D) and ``yhat_test`` (T, m): held-out inputs and labels (m may be 0).
    ``kind``: "classification" (labels +-1 at t = T-1), "regression" (real labels at t = T-1) or
    "sequence".  ``description``: one line.  ``mean``, ``scale``: the standardisation fitted on the
    training inputs (D,); ``components`` (k, D): the principal directions the standardised inputs were
    projected on (None: not projected).  ``yhat_train`` (T, P): the training labels in the data's own
    pattern order (the reduced problem holds their rotation ``O^T yhat``).
    """

    reduction: SpanReduction
    x_test: np.ndarray
    yhat_test: np.ndarray
    kind: str
    description: str
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray | None = None
    yhat_train: np.ndarray | None = None

    @property
    def problem(self):
        """The reduced Problem (r patterns)."""
        return self.reduction.problem

    def predict(self, result_or_kernel) -> Prediction:
        """Posterior mean and variance at the held-out inputs (:meth:`SpanReduction.predict`)."""
        return self.reduction.predict(result_or_kernel, self.x_test)

    def test_error(self, result_or_kernel, steps=None) -> dict:
        """Held-out errors of the posterior mean (targets ``lam * yhat_test``, lam of the result's problem).

        ``mse``: mean squared error over ``steps`` (default: the last step for classification,
        every step for sequences); for classification also ``error_rate``, the fraction of
        held-out inputs whose output at t = T-1 has the wrong sign.  For a sampler's result (kernel
        draws) also ``mse_stderr``, the Monte Carlo error of ``mse`` (the delta method: the draws'
        series ``grad(mse) . mean(H_draw)``, its MCSE from :func:`linkernel.finite_n.diagnostics.mcse`);
        ``N`` the width for finite-width results (None at the saddle point).
        """
        pred = self.predict(result_or_kernel)
        problem = getattr(result_or_kernel, "problem", None) or self.problem
        lam, T = problem.lam, problem.T
        steps = (list(range(T)) if self.kind == "sequence" else [T - 1]) if steps is None else list(steps)
        err = pred.mean[steps] - lam * self.yhat_test[steps]
        out = {"mse": float(np.mean(err ** 2)), "steps": steps, "m": self.x_test.shape[1], "N": pred.N}
        if pred.mean_draws is not None and err.size:
            from linkernel.finite_n.diagnostics import mcse
            z = np.einsum("csta,ta->cs", pred.mean_draws[:, :, steps], 2.0 * err / err.size)
            out["mse_stderr"] = float(mcse(z[..., None])[0])
        if self.kind == "classification":
            out["error_rate"] = float(np.mean(np.sign(pred.mean[T - 1]) != np.sign(self.yhat_test[T - 1])))
        return out


def _standardise(X_train, X_test, standardise: bool):
    if not standardise:
        D = X_train.shape[1]
        return X_train, X_test, np.zeros(D), np.ones(D)
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale = np.where(scale > 1e-12 * max(scale.max(), 1e-300), scale, 1.0)   # constant features stay 0
    return (X_train - mean) / scale, (X_test - mean) / scale, mean, scale


def _split(n: int, P, test: int, seed: int):
    order = np.random.default_rng(seed).permutation(n)
    P = n - test if P is None else int(P)
    if P < 1 or test < 0 or P + test > n:
        raise ValueError(f"P={P}, test={test} are invalid; the data set has {n} rows (need P >= 1, P + test <= {n})")
    return order[:P], order[P:P + test]


def _principal(Xtr, Xte, components):
    """Project on the training set's leading ``components`` principal directions (right singular vectors)."""
    if components is None:
        return Xtr, Xte, None
    k = int(components)
    if not 1 <= k <= min(Xtr.shape):
        raise ValueError(f"components={components!r} is invalid; it must be an integer in 1..{min(Xtr.shape)} "
                         "(at most the number of training rows and of features)")
    V = np.linalg.svd(Xtr - Xtr.mean(axis=0), full_matrices=False)[2][:k]         # (k, D)
    return Xtr @ V.T, Xte @ V.T, V


def _endpoint_task(X_train, y_train, X_test, y_test, T, arch, description, standardise, hyper, components=None,
                   kind="classification"):
    Xtr, Xte, mean, scale = _standardise(X_train, X_test, standardise)
    Xtr, Xte, V = _principal(Xtr, Xte, components)
    if V is not None:
        description += f" ({len(V)} principal components)"
    P, D = Xtr.shape
    x = np.zeros((T, P, D))
    x[0] = Xtr
    yhat = np.zeros((T, P))
    yhat[T - 1] = y_train
    red = reduce_data(arch, T, x, [(T - 1, p) for p in range(P)], yhat, name=description, **hyper)
    xt = np.zeros((T, len(Xte), D))
    xt[0] = Xte
    yt = np.zeros((T, len(Xte)))
    yt[T - 1] = y_test
    return DataTask(red, xt, yt, kind, description, mean, scale, V, yhat)


def digits(classes=(0, 1), P: int | None = None, test: int = 0, T: int = 4, arch="rnn", seed: int = 0,
           standardise: bool = True, components: int | None = None, **hyper) -> DataTask:
    """scikit-learn's bundled 8 x 8 digits as endpoint classification (module docstring).

    ``classes``: two digits ``(a, b)`` (label +1 for a, -1 for b), or two groups of digits
    ``((0, 2, 4, 6, 8), (1, 3, 5, 7, 9))``, or the string ``"even-odd"``.  ``P`` training images
    (default: all but ``test``), ``test`` held-out ones, drawn with ``seed``.  ``components``: keep
    only the training images' leading principal components (D = components; a smaller task: the exact
    finite-N posterior's cost grows like (T r)^2 variables, r <= D).  ``hyper``: w, v, u, kappa, lam.  Needs scikit-learn (``pip install linkernel[data]``); nothing is downloaded.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("linkernel.datasets.digits needs scikit-learn: pip install 'linkernel[data]' "
                          "(or pip install scikit-learn); the digits ship inside it, nothing is downloaded") from None
    if isinstance(classes, str):
        if classes.replace(" ", "").lower() not in ("even-odd", "even,odd", "evenodd"):
            raise ValueError(f"classes={classes!r} is invalid; give two digits, two groups, or 'even-odd'")
        classes = ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9))
    groups = [tuple(np.atleast_1d(c).astype(int)) for c in classes]
    if len(groups) != 2 or set(groups[0]) & set(groups[1]) or not all(0 <= d <= 9 for g in groups for d in g):
        raise ValueError(f"classes={classes!r} is invalid; give two disjoint digits or groups of digits 0..9")
    data = load_digits()
    X, digit = data.data.astype(float), data.target
    keep = np.isin(digit, groups[0] + groups[1])
    X, digit = X[keep], digit[keep]
    y = np.where(np.isin(digit, groups[0]), 1.0, -1.0)
    tr, te = _split(len(X), P, test, seed)
    name = "digits " + " vs ".join("".join(map(str, g)) for g in groups)
    return _endpoint_task(X[tr], y[tr], X[te], y[te], T, arch, name, standardise, hyper, components)


def from_arrays(X, y, T: int = 4, arch="rnn", P: int | None = None, test: int = 0, seed: int = 0,
                standardise: bool = True, name: str = "data", components: int | None = None,
                **hyper) -> DataTask:
    """A (P, D) table ``X`` with labels ``y`` (P,) as a task: the documented entry for a user's own data.

    The input of row p is ``X[p]`` at t = 0, its label the target at t = T-1 (endpoint task, every
    training row supervised there); ``arch``: "rnn", "dnn" or an :class:`~linkernel.architecture.Architecture`.
    Labels of two values are mapped to +-1 (larger value +1; kind "classification"); otherwise used as
    they are (kind "regression").  ``P`` training rows (default: all but ``test``), ``test`` held out,
    drawn with ``seed``; inputs standardised with the training rows' mean and sd (``standardise``),
    optionally projected on their leading ``components`` principal directions.  ``hyper``: w, v, u,
    kappa, lam.  Returns a :class:`DataTask`; solve ``task.problem``, score with ``task.test_error``.

    Why not a :class:`~linkernel.problem.Problem`: a Problem's kernel is TP x TP and must be positive
    definite, which needs P independent inputs at t = 0, so P <= D.  With P > D (or any P > r, r the
    rank of the inputs) the TP x TP kernel of the network is singular -- every neuron's states lie in
    the r-dimensional span of the inputs -- and the task is exactly the Problem of r virtual patterns
    plus a constant (:func:`~linkernel.theory.span.reduce_data`, derivations/span_reduction.tex).  So a
    data set becomes a :class:`~linkernel.theory.span.SpanReduction` (``task.reduction``) whose
    ``.problem`` is that Problem: every route (saddle point, trace, lambda_c, the 1/N theory, the exact
    finite-N posterior, the network sampler) runs on it at the cost of T r instead of T P, and
    ``reduction.lift`` / ``task.predict`` bring the results back to the data's patterns and new inputs.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if X.ndim != 2 or len(y) != len(X):
        raise ValueError(f"X has shape {X.shape} and y {y.shape}; need X (P, D) and y (P,)")
    values = np.unique(y)
    kind = "classification" if len(values) == 2 else "regression"
    if kind == "classification":
        y = np.where(y == values[1], 1.0, -1.0)
    tr, te = _split(len(X), P, test, seed)
    return _endpoint_task(X[tr], y[tr], X[te], y[te], T, arch, name, standardise, hyper, components, kind)


def from_csv(path, label: str | int = -1, **kw) -> DataTask:
    """A CSV table (header row; '#' comment lines skipped) with a label column (name or index)."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.lstrip().startswith("#")) if r]
    header, body = rows[0], np.array(rows[1:], dtype=float)
    col = header.index(label) if isinstance(label, str) else int(label) % len(header)
    X = np.delete(body, col, axis=1)
    return from_arrays(X, body[:, col], name=kw.pop("name", str(path)), **kw)


def load_sea_surface() -> tuple:
    """(years (61,), temperatures (61, 12)): the shipped Nino 1+2 monthly SST, 1950-2010 (linkernel/data)."""
    text = resources.files("linkernel").joinpath("data", "elnino_sst.csv").read_text()
    rows = [r for r in csv.reader(line for line in text.splitlines() if not line.startswith("#")) if r]
    body = np.array(rows[1:], dtype=float)
    return body[:, 0].astype(int), body[:, 1:]


def sea_surface(T: int = 12, lags: int = 12, supervised=(2, 5, 8, 11), P: int | None = None, test: int = 15,
                arch="rnn", seed: int = 0, **hyper) -> DataTask:
    """Nino 1+2 sea-surface temperatures as a sequence task (module docstring).

    Monthly anomalies (the 1950-2010 climatology of each month removed, divided by their standard
    deviation).  Pattern = a year (1951-2010, 60 of them): input at t = 0 the previous year's last
    ``lags`` anomalies (D = lags), targets the year's first ``T`` months' anomalies; ``supervised``:
    the months (steps) in the likelihood, every training year at each.  ``P`` training years (default
    all but ``test``), ``test`` held-out years, drawn with ``seed``.
    """
    if not (1 <= T <= 12 and 1 <= lags <= 12):
        raise ValueError(f"T={T}, lags={lags} are invalid; both must be in 1..12 (months)")
    steps = sorted({int(t) for t in supervised})
    if not steps or not all(0 <= t < T for t in steps):
        raise ValueError(f"supervised={supervised!r} is invalid; give steps in 0..{T - 1}")
    years, sst = load_sea_surface()
    anom = (sst - sst.mean(axis=0)) / (sst - sst.mean(axis=0)).std()
    X = anom[:-1, 12 - lags:]                                           # previous year's last lags months
    Y = anom[1:, :T]                                                    # this year's first T months
    tr, te = _split(len(X), P, test, seed)
    Ptr = len(tr)
    x = np.zeros((T, Ptr, lags))
    x[0] = X[tr]
    red = reduce_data(arch, T, x, [(t, p) for t in steps for p in range(Ptr)], Y[tr].T,
                      name=f"Nino 1+2 SST, supervised months {steps}", **hyper)
    xt = np.zeros((T, len(te), lags))
    xt[0] = X[te]
    return DataTask(red, xt, Y[te].T.copy(), "sequence", red.problem.name, np.zeros(lags), np.ones(lags),
                    yhat_train=Y[tr].T.copy())

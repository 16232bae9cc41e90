"""The general input checks of linkernel.validation added for issue 25: each accepts a good value and
refuses a bad one with a ValueError naming the parameter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linkernel import validation


def test_nonempty():
    assert validation.nonempty("archs", ("rnn",), "rnn and/or dnn") == ("rnn",)
    assert validation.nonempty("lam", 2.5, "a value") == 2.5          # no length: nothing to be empty
    with pytest.raises(ValueError, match=r"archs=\(\) is empty; archs needs rnn and/or dnn"):
        validation.nonempty("archs", (), "rnn and/or dnn")


def test_sequence():
    assert validation.sequence("supervised", (2, 0), "a list of steps") == [2, 0]
    assert validation.sequence("grid['a']", np.arange(2), "a list of values") == [0, 1]
    for bad in ("01", b"01", 3, None, {"a": 1}):
        with pytest.raises(ValueError, match="supervised=.* is invalid; supervised must be a list of steps"):
            validation.sequence("supervised", bad, "a list of steps")


def test_distinct():
    assert validation.distinct("supervised", [(0, 1), (1, 0)]) == [(0, 1), (1, 0)]
    with pytest.raises(ValueError, match=r"supervised=\[1, 2, 1\] has the repeated entry 1"):
        validation.distinct("supervised", [1, 2, 1])
    # key: what makes two entries the same
    with pytest.raises(ValueError, match=r"grid\['a'\]=\[1, 2, -1\] has the repeated entry -1"):
        validation.distinct("grid['a']", [1, 2, -1], key=abs)
    assert validation.distinct("grid['a']", ["1", 1], key=json.dumps) == ["1", 1]


def test_shaped():
    a = validation.shaped("x", [[[1.0, 2.0]]], (1, None, None))
    assert a.shape == (1, 1, 2) and a.dtype == float
    assert validation.shaped("labels", [1, -1], (2,)).tolist() == [1.0, -1.0]
    with pytest.raises(ValueError, match=r"x has shape \(3, 1\); x must have shape \(3, n, n\)"):
        validation.shaped("x", np.ones((3, 1)), (3, None, None))
    with pytest.raises(ValueError, match=r"x has shape \(3, 0, 1\)"):         # None: a length >= 1
        validation.shaped("x", np.ones((3, 0, 1)), (3, None, None))
    with pytest.raises(ValueError, match=r"yhat has shape \(3,\); yhat must have shape \(T, P\) = \(3, 1\)"):
        validation.shaped("yhat", np.ones(3), (3, 1), "(T, P) = (3, 1)")
    with pytest.raises(ValueError, match="kernel has complex entries"):
        validation.shaped("kernel", np.ones((2, 2)) * 1j, (2, 2))


def test_finite_entries():
    assert validation.finite_entries("stderrs", [1e-3, 2.0], low=0).tolist() == [1e-3, 2.0]
    assert validation.finite_entries("yhat", [[-1.0, 0.0]]).shape == (1, 2)
    with pytest.raises(ValueError, match="yhat contains non-finite values"):
        validation.finite_entries("yhat", [1.0, np.nan])
    with pytest.raises(ValueError, match=r"stderrs has the entry 0.0; the entries of stderrs must be finite numbers > 0"):
        validation.finite_entries("stderrs", [1.0, 0.0], low=0)
    with pytest.raises(ValueError, match="lams has entries of type"):
        validation.finite_entries("lams", ["abc"])


def test_json_file(tmp_path):
    good = tmp_path / "p.json"
    good.write_text('{"T": 3}')
    assert validation.json_file("problem", good) == {"T": 3}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="problem=.*bad.json.* is invalid; not valid JSON"):
        validation.json_file("problem", bad)
    with pytest.raises(ValueError, match="config=.*missing.json.* is invalid; the file cannot be read"):
        validation.json_file("config", tmp_path / "missing.json")

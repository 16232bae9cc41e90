"""linkernel.numerics: the Richardson table and the standard error of its best estimate."""

from __future__ import annotations

import numpy as np
import pytest

from linkernel.numerics import richardson, richardson_stderr


def test_richardson_of_two_halved_steps_is_twice_the_fine_minus_the_coarse():
    coarse, fine = np.array([1.0, 2.5]), np.array([1.5, 2.0])
    np.testing.assert_allclose(richardson([coarse, fine], 2)[-1], 2 * fine - coarse, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="values"):
        richardson([], 2)


def test_richardson_stderr_is_that_of_the_linear_combination():
    se1, se2 = np.array([0.1, 0.2]), np.array([0.3, 0.05])
    np.testing.assert_array_equal(richardson_stderr([se1, se2], 2), np.sqrt(4 * se2 ** 2 + se1 ** 2))
    # three values, ratio 4: the weights are richardson of the unit vectors
    w = richardson(list(np.eye(3)), 4)[-1]
    assert w.sum() == pytest.approx(1.0)
    assert richardson_stderr([1.0, 1.0, 1.0], 4) == pytest.approx(np.sqrt(np.sum(w ** 2)))

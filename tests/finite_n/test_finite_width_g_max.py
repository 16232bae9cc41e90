"""finite_width's validity threshold g_max (issue 27): a non-finite or non-numeric g_max is refused before
any work, never turned into valid=True (G > nan is False for every G)."""

import time

import pytest

from linkernel import tasks
from linkernel.finite_n.finite_width import finite_width


@pytest.mark.parametrize("g_max", [float("nan"), float("inf"), "a", None, 0.0, -1.0])
def test_bad_g_max_is_refused_before_the_saddle_point(g_max):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="g_max="):
        finite_width(tasks.endpoint("rnn", T=4, lam=1.6), 100, g_max=g_max)
    assert time.perf_counter() - t0 < 1.0


def test_g_max_decides_validity():
    """Near lambda_c the loop parameter is large: the default g_max flags the result, a g_max above G does not."""
    import warnings
    p = tasks.endpoint("rnn", T=4, lam=1.62)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fw = finite_width(p, 20)
    assert not fw.valid and "loop parameter" in fw.reason
    assert finite_width(p, 20, g_max=2 * fw.loop_parameter).valid

import json

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import action, gradient, to_vector
from linkernel.cli import main
from linkernel.theory.action import m_vector
from linkernel.theory.landscape import landscape, landscape_at
from linkernel.problem import order_parameter
from linkernel.theory.saddle import saddle_point


@pytest.fixture(scope="module")
def land():
    return landscape(tasks.endpoint("rnn", T=4, kappa=0.1), [1.4, 1.8, 2.5], m_max=8.0, points=33)


def test_minimum_of_landscape_is_the_saddle_point(land):
    for c in land.curves:
        sp = saddle_point(land.problem.with_(lam=c.lam), n_starts=4)
        if c.lam < 1.6:
            assert c.m_min == 0.0 and abs(sp.order_parameter) < 1e-8
        else:
            assert c.m_min == pytest.approx(sp.order_parameter, rel=1e-6)
        assert c.action_min == pytest.approx(sp.action, rel=1e-10)


def test_points_are_constrained_minima(land, rng):
    a = m_vector(land.problem)
    ahat = a / np.linalg.norm(a)
    for c in land.curves:
        p = land.problem.with_(lam=c.lam)
        for m, S, H in list(zip(c.m, c.action, c.kernels))[::4]:
            assert order_parameter(H, 4, 1) == pytest.approx(m, abs=1e-12)
            g = to_vector(gradient(p, H))
            assert np.linalg.norm(g - (g @ ahat) * ahat) < 1e-9  # stationary on the constraint surface
            for _ in range(3):  # and a minimum there: random feasible moves go up
                E = rng.normal(size=(4, 4))
                E = E + E.T
                E[3, 2] = E[2, 3] = 0.0
                assert action(p, H + 1e-3 * E) > S - 1e-13


def test_slope_is_the_derivative_of_the_curve(land):
    for c in land.curves:
        dm = c.m[1] - c.m[0]
        fd = (c.action[2:] - c.action[:-2]) / (2 * dm)
        # central differences are O(dm^2) = O(0.06) off; measured about 5e-5 here (1.2e-5 at dm/2)
        assert np.abs(c.slope[1:-1] - fd).max() < 2e-4
        assert np.abs(c.slope).max() > 1e-2


def test_curvature_at_m0_changes_sign_at_the_transition():
    p = tasks.endpoint("rnn", T=4, kappa=0.1)
    below = landscape_at(p.with_(lam=1.60), m_max=0.01, points=3)
    above = landscape_at(p.with_(lam=1.64), m_max=0.01, points=3)
    assert below.delta_action[-1] > 0 > above.delta_action[-1]


def test_z2_mirror_and_bad_input():
    p = tasks.endpoint("rnn", T=3, lam=3.2)
    c = landscape_at(p, m_max=2.0, points=5)
    s = p.parity_signs
    for H, S in zip(c.kernels, c.action):
        assert action(p, s[:, None] * H * s[None, :]) == pytest.approx(S, rel=1e-13)
    with pytest.raises(ValueError, match="m_max"):
        landscape_at(p, m_max=-1.0)
    with pytest.raises(ValueError, match="T=1"):
        landscape(tasks.endpoint("rnn", T=1), [1.0], m_max=1.0)


def test_cli_landscape(tmp_path, capsys):
    png = tmp_path / "land.png"
    assert main(["landscape", "--T", "3", "--lams", "2.5,3.2", "--points", "9", "--m-max", "3",
                 "--json", "--plot", str(png)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [c["lam"] for c in d["curves"]] == [2.5, 3.2]
    assert d["curves"][0]["m_min"] == 0.0 and d["curves"][1]["m_min"] > 0.1
    assert png.stat().st_size > 10000


@pytest.mark.parametrize("kw,name", [({"lams": "abc"}, "lams"), ({"lams": []}, "lams"), ({"lams": [1.0, np.nan]}, "lams"),
                                     ({"lams": [1.0], "m_max": np.inf}, "m_max"), ({"lams": [1.0], "m_max": "x"}, "m_max"),
                                     ({"lams": [1.0], "m_max": 1.0, "points": True}, "points")])
def test_bad_landscape_arguments_raise_value_error_naming_them(kw, name):
    with pytest.raises(ValueError, match=name):
        landscape(tasks.endpoint("rnn", T=3), **kw)

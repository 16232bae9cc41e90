"""Architecture: the partitions, the masks they give, the Z2 symmetries, and the RNN/DNN as two instances."""

import json

import numpy as np
import pytest

from linkernel import (Architecture, Problem, critical_lambda, dnn, dnn_with_tied_pair, endpoint, redrawn_every, rnn,
                       saddle_point, shared_w_untied_u, tied_blocks)
from linkernel.problem import fix_z2_sign
from linkernel.theory.action import action, gradient, odd_coordinates
from tests.references import random_kernel


def test_rnn_and_dnn_are_the_extreme_partitions():
    assert rnn(5).W == ((1, 2, 3, 4),) and rnn(5).U == ((0, 1, 2, 3, 4),)
    assert dnn(5).W == ((1,), (2,), (3,), (4,)) and dnn(5).U == tuple((t,) for t in range(5))
    # built through the general constructor they are the same objects (the name is only a label)
    assert Architecture(5, W=[[4, 3, 2, 1]], U=[[0, 1, 2, 3, 4]]) == rnn(5)
    assert str(Architecture(5, W=[[1], [2], [3], [4]], U=[[t] for t in range(5)])) == "dnn"
    assert rnn(1) == dnn(1)  # no recurrent step, one input step


def test_masks_follow_the_groups():
    a = Architecture(6, W=[[1, 2, 3], [4, 5]], U=[[0, 1, 2, 3, 4, 5]], w=[None, 2.0])
    M = a.recurrent_mask(0.5)
    assert M[1, 3] == 0.5 and M[4, 5] == 2.0 and M[3, 4] == 0.0 and M[0].sum() == 0.0
    np.testing.assert_array_equal(a.shares, (M > 0).astype(float))
    np.testing.assert_array_equal(shared_w_untied_u(4).input_mask, np.eye(4))
    assert tied_blocks(6, 2).W == ((1, 2), (3, 4), (5,))
    assert redrawn_every(7, 3).W == ((1, 2, 3), (4, 5, 6)) and redrawn_every(7, 3).U == ((0, 1, 2, 3, 4, 5, 6),)
    assert dnn_with_tied_pair(5, 3, 1).W == ((1, 3), (2,), (4,))


def test_from_spec_accepts_shorthands_dicts_and_json():
    assert Architecture.from_spec("RNN", 4) == rnn(4)
    a = Architecture.from_spec('{"W": [[1,2,3],[4,5]]}', 6)
    assert a.W == ((1, 2, 3), (4, 5)) and a.U == ((0, 1, 2, 3, 4, 5),)  # omitted U: one shared U
    assert Architecture.from_spec(json.loads(a.spec_text()), 6) == a


@pytest.mark.parametrize("spec, word", [
    ('{"W": [[1,2],[2,3]]}', "partition"), ('{"W": [[1,2]]}', "partition"), ('{"W": [[1,2,3]], "U": [[0]]}', "partition"),
    ("{bad json", "JSON"), ('{"X": [[1]]}', "key W"), ('{"W": [[1.5, 2, 3]]}', "integer"), ("lstm", "rnn, dnn"),
])
def test_bad_patterns_name_the_parameter(spec, word):
    with pytest.raises(ValueError, match=word):
        Architecture.from_spec(spec, 4)


def test_bad_group_variance_and_T_mismatch():
    with pytest.raises(ValueError, match="w="):
        Architecture(4, W=[[1, 2, 3]], U=[[0, 1, 2, 3]], w=[-1.0])
    with pytest.raises(ValueError, match="T=5"):
        endpoint(rnn(5), T=4)


def test_flip_of_each_group_is_a_symmetry_of_the_action(rng):
    """S(D H D) = S(H) for the sign pattern D of every W_g -> -W_g (endpoint task: input at t = 0 only)."""
    a = Architecture(6, W=[[1, 3], [2, 4, 5]], U=[[0, 1, 2, 3, 4, 5]])
    p = endpoint(a, T=6, P=2, lam=1.7)
    assert len(p.symmetries) == 2
    for g, s in p.symmetries:
        np.testing.assert_array_equal(s, np.repeat(a.flip_signs(g), 2))
        for _ in range(3):
            H = random_kernel(rng, p.n)
            assert action(p, s[:, None] * H * s[None, :]) == pytest.approx(action(p, H), rel=1e-12)
    # inputs at every step break every flip explicitly
    x = rng.normal(size=(6, 1, 2))
    q = Problem(a, 6, x, [(5, 0)], np.ones((6, 1)))
    assert q.symmetries == () and not odd_coordinates(q).any()


def test_fix_z2_sign_makes_every_shared_group_nonnegative(rng):
    a = Architecture(6, W=[[1, 2, 3], [4, 5]], U=[[0, 1, 2, 3, 4, 5]])
    p = endpoint(a, T=6)
    for _ in range(5):
        H = fix_z2_sign(p, random_kernel(rng, p.n))
        assert all(m >= 0 for m in p.order_parameters(H).values())


def test_general_rnn_and_dnn_give_identical_saddle_points():
    for short, general in (("rnn", Architecture(4, W=[[1, 2, 3]], U=[[0, 1, 2, 3]])),
                           ("dnn", Architecture(4, W=[[1], [2], [3]], U=[[0], [1], [2], [3]]))):
        a = saddle_point(endpoint(short, T=4, lam=2.0))
        b = saddle_point(endpoint(general, T=4, lam=2.0))
        np.testing.assert_array_equal(a.kernel, b.kernel)


def test_group_variance_enters_like_a_rescaled_step(rng):
    """A group with its own w_g: Sigma^{tt'} gains w_g H^{t-1,t'-1}; the gradient matches finite differences."""
    a = Architecture(4, W=[[1, 2], [3]], U=[[0, 1, 2, 3]], w=[0.7, 1.9])
    p = endpoint(a, T=4, lam=1.3)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    h = 1e-6
    fd = (action(p, H + h * E) - action(p, H - h * E)) / (2 * h)
    assert np.sum(gradient(p, H) * E) == pytest.approx(fd, rel=1e-6)


def test_a_tied_pair_inside_a_dnn_has_the_three_step_rnn_critical_ratio():
    """DNN with W^(1) = W^(2): the lag-one chain (1,0)-(2,1) is that of the T = 3 RNN, r_c = 2, so
    lambda_c = (v h + kappa) sqrt((r_c - 1)/(v h)) with h = u w^3 r_c^4 = 16 on the shared symmetric branch."""
    lc = critical_lambda(endpoint(dnn_with_tied_pair(4, 1, 2), T=4, kappa=0.1))
    assert lc == pytest.approx((16 + 0.1) * np.sqrt(1 / 16), rel=1e-10)


# --- issue 27: pattern parsing refuses with ValueError naming the parameter --------------------------
@pytest.mark.parametrize("spec,param", [
    ({"W": [[1, 2, 3]], "w": 5}, "w=5"),                      # was TypeError
    ({"W": [[1, 2, int("9" * 400)]]}, "W="),                  # was OverflowError
    ({"W": [["1", 2, 3]]}, "W="),                             # text was read as a step
    ('{"W": [["1", 2, 3]]}', "W="),
    ({"W": [[1, 2, 3]], "w": [True]}, "w="),                  # a bool was read as the variance 1
    ({"W": [[1, 2, 3]], "w": ["2"]}, "w="),
    ({"W": [[1, 2, 3]], "name": 5}, "name=5"),
    ({"W": [[1, 2.5, 3]]}, "W="),
    ({"W": [[1, 2, float("inf")]]}, "W="),
])
def test_bad_pattern_is_a_value_error(spec, param):
    from linkernel.architecture import Architecture
    with pytest.raises(ValueError, match=param):
        Architecture.from_spec(spec, 4)


def test_architecture_keywords_are_checked():
    from linkernel.architecture import Architecture
    with pytest.raises(ValueError, match="w=5"):
        Architecture(4, W=[[1, 2, 3]], U=[[0, 1, 2, 3]], w=5)
    a = Architecture.from_spec({"W": [[1, 2], [3]], "w": [2, None]}, 4)
    assert a.w == (2.0, None) and a.recurrent_mask(1.0)[3, 3] == 1.0 and a.recurrent_mask(1.0)[1, 2] == 2.0


@pytest.mark.parametrize("T", [10 ** 9, 10 ** 20, 1e308])
def test_huge_T_is_refused_with_the_stated_limit(T):
    from linkernel.architecture import T_MAX, rnn
    with pytest.raises(ValueError, match=f"T=.*1..{T_MAX}"):
        rnn(T)

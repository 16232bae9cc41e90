import numpy as np
import pytest

from linkernel import Problem, tasks
from linkernel.problem import fix_z2_sign, index, order_parameter


def _kw(**over):
    kw = dict(arch="rnn", T=3, x=np.r_[1.0, 0, 0].reshape(3, 1, 1), supervised=[(2, 0)],
              yhat=np.r_[0, 0, 1.0].reshape(3, 1))
    kw.update(over)
    return kw


@pytest.mark.parametrize("over,param", [
    (dict(T=0), "T="), (dict(T=2.5), "T="), (dict(kappa=0.0), "kappa="), (dict(kappa=-1), "kappa="),
    (dict(w=-1.0), "w="), (dict(v=float("nan")), "v="), (dict(u=-2), "u="), (dict(arch="cnn"), "arch="),
    (dict(supervised=[]), "supervised="), (dict(supervised=[(3, 0)]), "supervised pair"),
    (dict(supervised=[(0, 1)]), "supervised pair"), (dict(x=np.ones((3, 1))), "x has shape"),
    (dict(x=np.zeros((3, 1, 1))), "x at t=0"), (dict(yhat=np.ones(3)), "yhat has shape"),
    (dict(lam=float("inf")), "lam="),
])
def test_bad_input_names_the_parameter(over, param):
    with pytest.raises(ValueError, match=param):
        Problem(**_kw(**over))


def test_endpoint_constructor_and_ordering():
    p = tasks.endpoint("rnn", T=3, P=2, lam=2.0)
    assert (p.T, p.P, p.D, p.n) == (3, 2, 2, 6)
    assert p.supervised == ((2, 0), (2, 1))
    np.testing.assert_array_equal(p.supervised_index, [index(2, 0, 2), index(2, 1, 2)])
    np.testing.assert_allclose(p.y_S, [2.0, -2.0])
    # sqrt(D) e_p inputs: the input kernel is u on the diagonal at t = 0 whatever D
    np.testing.assert_allclose(p.input_kernel[:2, :2], np.eye(2))
    assert p.has_z2
    with pytest.raises(ValueError, match="D="):
        tasks.endpoint(T=2, P=3, D=2)
    with pytest.raises(ValueError, match="labels"):
        tasks.endpoint(T=2, P=2, labels=[1.0])


def test_z2_detection():
    assert tasks.endpoint("rnn", T=4).has_z2
    assert not tasks.endpoint("rnn", T=1).has_z2
    # supervision at both parities with nonzero labels breaks the symmetry ...
    assert not tasks.sinusoid("rnn", T=6).has_z2
    assert tasks.sinusoid("rnn", T=4).has_z2  # cos(pi t / 2) vanishes at odd t
    # ... supervision at even times only keeps it
    assert tasks.sinusoid("rnn", T=4, supervised=[0, 2]).has_z2
    # inputs at t = 0 and t = 1 break it
    x = np.ones((3, 1, 1))
    assert not Problem(**_kw(x=x)).has_z2


def test_fix_z2_sign_makes_m_nonnegative(rng):
    p = tasks.endpoint("rnn", T=4)
    B = rng.normal(size=(4, 4))
    H = B @ B.T + np.eye(4)
    s = p.parity_signs
    for K in (H, s[:, None] * H * s[None, :]):
        F = fix_z2_sign(p, K)
        assert order_parameter(F, 4, 1) >= 0
        assert abs(order_parameter(F, 4, 1)) == pytest.approx(abs(order_parameter(H, 4, 1)))


def test_problem_is_immutable():
    p = tasks.endpoint()
    with pytest.raises(Exception):
        p.T = 3
    with pytest.raises(ValueError):
        p.x[0, 0, 0] = 2.0
    assert p.with_(lam=3.0).lam == 3.0 and p.lam == 1.0


# --- issue 27: contradictory dicts, wrong types, huge T: ValueError naming the parameter ----------
def test_contradictory_arch_and_architecture_are_refused():
    d = tasks.endpoint("rnn", T=4).to_dict()
    assert Problem.from_dict(d).arch == tasks.endpoint("rnn", T=4).arch      # to_dict's own keys agree
    pat = tasks.endpoint({"W": [[1, 2], [3]]}, T=4).to_dict()
    assert Problem.from_dict(pat).arch == tasks.endpoint({"W": [[1, 2], [3]]}, T=4).arch
    d["architecture"] = pat["architecture"]
    with pytest.raises(ValueError, match="'arch' and 'architecture' contradict"):
        Problem.from_dict(d)
    d["architecture"] = {"W": [[1, 2, "x"]]}
    with pytest.raises(ValueError, match="architecture"):
        Problem.from_dict(d)


@pytest.mark.parametrize("call,param", [
    (lambda: tasks.endpoint(foo=1), "foo=1"),
    (lambda: tasks.sinusoid(T=4, kapa=1.0), "kapa="),
    (lambda: tasks.teacher_sequence(T=4, bar=2), "bar="),
    (lambda: Problem.from_file(None), "problem=None"),
    (lambda: Problem.from_file(5), "problem=5"),
    (lambda: tasks.endpoint(T=10 ** 9), "T="),
    (lambda: tasks.sinusoid(T=10 ** 12), "T="),
    (lambda: tasks.endpoint(T=4, P=10 ** 5), "T=4, P=100000"),
    (lambda: Problem(**_kw(name=5)), "name=5"),
])
def test_wrong_types_and_sizes_are_value_errors(call, param):
    with pytest.raises(ValueError, match=param):
        call()


def test_binary_problem_file_is_a_value_error(tmp_path):
    f = tmp_path / "p.json"
    f.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(ValueError, match="not valid JSON"):
        Problem.from_file(f)

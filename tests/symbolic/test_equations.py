"""Closed-form saddle-point equations against the core's gradient and the core's symbolic action."""

import numpy as np
import pytest
import sympy as sp

from linkernel import tasks
from linkernel.symbolic import action as symbolic
from linkernel.theory.action import gradient
from linkernel.symbolic.equations import saddle_point_equations
from tests.references import random_kernel

HYPER = dict(w=0.8, v=1.2, u=0.9, kappa=0.3, lam=1.4)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T,P,explicit", [(2, 1, None), (3, 1, None), (4, 1, None), (5, 1, False), (6, 1, False),
                                          (2, 2, None), (3, 2, False), (4, 2, False)])
def test_equations_match_core_gradient(arch, T, P, explicit, rng):
    p = tasks.endpoint(arch, T=T, P=P, **HYPER)
    se = saddle_point_equations(p, explicit=explicit)
    H = random_kernel(rng, p.n)
    G = se.numeric_gradient(H, HYPER["w"], HYPER["v"], HYPER["u"], HYPER["kappa"], HYPER["lam"])
    np.testing.assert_allclose(G, gradient(p, H), atol=1e-11)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T", [2, 3])
def test_explicit_equations_are_the_derivatives_of_the_core_action(arch, T, rng):
    p = tasks.endpoint(arch, T=T)
    se = saddle_point_equations(p, explicit=True)
    assert not se.definitions
    sa = symbolic.symbolic_action(p)
    H = random_kernel(rng, p.n)
    n = p.n
    vals = {sa.kernel[i, j]: sp.Float(H[i, j], 30) for i in range(n) for j in range(i, n)}
    vals.update({symbolic.w: 0.8, symbolic.v: 1.2, symbolic.u: 0.9, symbolic.kappa: 0.3, symbolic.lam: 1.4})
    for h, eq in se.equations.items():
        assert float(eq.evalf(subs=vals)) == pytest.approx(float(sa.equations[h].evalf(subs=vals)), rel=1e-12,
                                                           abs=1e-12)


def test_dnn_off_diagonal_equations_force_diagonal_inverse():
    """In the DNN every cross-time equation is -2 (H^{-1})^{tt'} = 0 (P = 1): H is time-diagonal at the saddle."""
    se = saddle_point_equations(tasks.endpoint("dnn", T=4), explicit=False)
    for h, eq in se.equations.items():
        name = str(h)
        if name[3] != name[4]:
            assert len(eq.free_symbols) == 1 and str(next(iter(eq.free_symbols))).startswith(r"\Gamma")

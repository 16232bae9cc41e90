"""Issue 12 acceptance at the size of the paper's Fig. 3: the T = 8, P = 4 endpoint task.

The traced Z2 branch point (dense Hessian blocks, LDL^T inertia, Illinois
refinement along the arclength) against an independent bisection on the
smallest Z2-odd Hessian eigenvalue of the symmetric saddle
(:func:`linkernel.theory.special_points.odd_hessian_minimum`, each saddle
solved afresh from the prior kernel), and against the fast
:func:`~linkernel.theory.special_points.critical_lambda`.
"""

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import gradient
from linkernel.theory.continuation import trace
from linkernel.theory.special_points import critical_lambda, odd_hessian_minimum


@pytest.fixture(scope="module")
def big():
    return trace(tasks.endpoint("rnn", T=8, P=4, kappa=0.1), (0.2, 1.2))


@pytest.mark.slow
def test_T8_P4_branch_point_agrees_with_bisection_on_the_odd_eigenvalue(big):
    bp = [s for s in big.special_points if s.kind == "branch_point" and s.z2 and s.branch == 0][0]
    p = big.problem
    f = lambda lam: odd_hessian_minimum(p.with_(lam=lam))
    lo, hi = bp.lam - 1e-6, bp.lam + 1e-6
    assert f(lo) > 0 > f(hi)
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    assert bp.lam == pytest.approx(0.5 * (lo + hi), abs=1e-10)
    assert critical_lambda(p) == pytest.approx(bp.lam, abs=1e-10)


@pytest.mark.slow
def test_T8_P4_trace_is_complete_and_every_point_solves_the_equations(big):
    assert big.complete and big.transition == "first order"
    kinds = {s.kind for s in big.special_points}
    assert {"fold", "coexistence", "branch_point"} <= kinds
    for b in big.branches:
        for pt in b.points[::7]:
            G = gradient(big.problem.with_(lam=pt.lam), pt.kernel)
            assert np.linalg.norm(G) < 1e-10 * max(1.0, np.abs(pt.kernel).max())
    fold = big.points_of("fold")[0]
    coex = big.points_of("coexistence")[0]
    assert fold.lam < coex.lam < big.spinodals["symmetric"]

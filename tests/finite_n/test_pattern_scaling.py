"""Finite-size scaling at the transition of a sharing pattern whose breaking group is not m = H^{T-1,T-2}.

W tied on steps {1,2,3} (group 0) and on {4,5} (group 1), one U, T = 6, endpoint
task: at lambda_c the null vector of the odd Hessian on the symmetric saddle
lies along m_0 = H^{3,2}; m = H^{T-1,T-2} = m_1 has no overlap with it.  With
the exact finite-N posterior E m_0 at lambda_c falls as N^{-1/4} with the Landau
amplitude Gamma(1/2)/Gamma(1/4) b^{-1/4} (b from the constrained minimum along
m_0); below lambda_c it is Gaussian, E m_0 = sqrt(2 a^T Hess^{-1} a / (pi N)).
"""

import math

import numpy as np
import pytest

import linkernel
from linkernel import tasks
from linkernel.finite_n.exact import exact_posterior
from linkernel.finite_n.finite_size import (
    critical_group,
    critical_overlaps,
    finite_size_scaling,
    power_law_fit,
    resolve_group,
)
from linkernel.theory.action import action, m_vector
from linkernel.theory.hessian import hessian
from linkernel.theory.saddle import saddle_point
from linkernel.theory.special_points import odd_hessian_minimum, symmetric_saddle

LAM_C = 2.4074366985397577


def _pattern():
    arch = linkernel.Architecture(6, W=[[1, 2, 3], [4, 5]], U=[[0, 1, 2, 3, 4, 5]])
    return linkernel.endpoint(arch, T=6, kappa=0.1)


@pytest.fixture(scope="module")
def crit():
    p = _pattern()
    # lambda_c = critical_lambda(p): the odd Hessian eigenvalue on the symmetric saddle changes sign there
    assert abs(odd_hessian_minimum(p.with_(lam=LAM_C))) < 1e-12
    assert odd_hessian_minimum(p.with_(lam=LAM_C - 1e-6)) > 0 > odd_hessian_minimum(p.with_(lam=LAM_C + 1e-6))
    return p, LAM_C


@pytest.fixture(scope="module")
def fss(crit):
    """Two widths at lambda_c, short chains (~30 s), group and b chosen by finite_size_scaling itself."""
    p, lc = crit
    return finite_size_scaling(p, [10 ** 5, 10 ** 8], lam_c=lc, fit_min_N=10 ** 5, chains=4, samples=100,
                               warmup=100, seed=0, progress=False)


def test_the_critical_direction_is_group_0(crit, fss):
    p, lc = crit
    b = fss.landau_b
    pc = p.with_(lam=lc)
    ov = critical_overlaps(pc)
    assert ov[0] > 0.9 and ov[1] < 1e-12      # m_1 = m = H^{5,4} is not critical
    assert critical_group(pc) == 0 and resolve_group(pc) == 0
    assert resolve_group(pc, group=1) == 1
    with pytest.raises(ValueError, match="group"):
        resolve_group(pc, group=2)
    # b > 0 along m_0 (second order), and it is the action drop of the broken minimum per m_0^4
    assert b > 0
    q = p.with_(lam=lc + 1e-4)
    sp = saddle_point(q, n_starts=2)
    m0 = sp.order_parameters[0]
    assert m0 > 1e-2 and abs(sp.order_parameters[1]) < 1e-12
    assert (action(q, symmetric_saddle(q)) - sp.action) / m0 ** 4 == pytest.approx(b, rel=5e-3)


def test_rnn_keeps_m():
    p = tasks.endpoint("rnn", T=4, kappa=0.1)
    pc = p.with_(lam=1.6)
    assert resolve_group(pc) is None
    # the RNN's one group is m = H^{T-1,T-2}: the same direction for b, the same measured entry
    assert np.array_equal(m_vector(pc), m_vector(pc, 0))
    assert pc.arch.order_pair(0) == (pc.T - 1, pc.T - 2)


def _gaussian_amplitude(problem, group):
    """E|m_g| N^{1/2} in the Gaussian posterior exp(-N S) around a stable symmetric saddle."""
    H0 = symmetric_saddle(problem)
    a = m_vector(problem, group)
    return math.sqrt(2 * (a @ np.linalg.solve(hessian(problem, H0), a)) / math.pi)


def test_m0_scales_as_n_to_minus_quarter_at_lambda_c(fss):
    """The exponent to ~0.015, the amplitude to ~5% per width.

    Chains this short under-cover: in trials with 100 draws per chain single
    widths came out up to 3.4 stderr from the Landau value (3 seeds, mostly
    low) while the fitted exponent stayed within 1 stderr of -1/4; so the
    amplitude is held to 30% here (m_1, or m_0 with a wrong b, miss by far
    more), to ~1% in the slow test.
    """
    f = fss
    assert f.group == 0 and f.order_pair == (3, 2)
    d = f.to_dict()
    assert d["group"] == 0 and d["order_pair"] == [3, 2]
    assert f.landau_b > 0
    print(f"\nlambda_c: m_0 = {f.m} +- {f.m_stderr}, exponent {f.exponent:.4f} +- {f.exponent_stderr:.4f}, "
          f"prediction {f.predicted_amplitude * f.N.astype(float) ** -0.25}, {f.seconds:.1f} s")
    assert np.all(f.max_rhat < 1.2)
    assert f.exponent_stderr < 0.03
    assert f.exponent == pytest.approx(-0.25, abs=4 * f.exponent_stderr)   # and > 8 stderr from -1/2
    # the amplitude, m_0 N^{1/4} averaged over both widths, against Gamma(1/2)/Gamma(1/4) b^{-1/4}
    ratio = f.m * f.N.astype(float) ** 0.25 / f.predicted_amplitude
    w = (f.m / f.m_stderr) ** 2
    assert float(np.sum(w * ratio) / np.sum(w)) == pytest.approx(1.0, abs=0.3)


def test_m0_scales_as_n_to_minus_half_below_lambda_c(crit):
    p, lc = crit
    q = p.with_(lam=0.9 * lc)
    assert resolve_group(q) == 0
    Ns = np.array([10 ** 6, 10 ** 8])       # corrections O(1/(N mu)), mu ~ 8e-4 the soft odd eigenvalue
    rs = [exact_posterior(q, int(N), chains=4, samples=150, warmup=150, seed=1 + k, progress=False)
          for k, N in enumerate(Ns)]
    m = np.array([r.order_parameters[0][0] for r in rs])
    se = np.array([r.order_parameters[0][1] for r in rs])
    alpha, err, _, _ = power_law_fit(Ns, m, se)
    amp = _gaussian_amplitude(q, 0)
    print(f"\n0.9 lambda_c: m_0 = {m} +- {se}, exponent {alpha:.4f} +- {err:.4f}, Gaussian {amp * Ns ** -0.5}")
    assert err < 0.03
    assert alpha == pytest.approx(-0.5, abs=4 * err)
    assert np.all(np.abs(m - amp * Ns ** -0.5) < 4 * se + 0.02 * m)


@pytest.mark.slow
def test_m0_finite_size_scaling_tight(crit):
    """Seven widths 1e5..1e8 at lambda_c: exponent to ~0.006 and the amplitude at N >= 1e7."""
    p, lc = crit
    f = finite_size_scaling(p, np.geomspace(1e5, 1e8, 7).round().astype(int), lam_c=lc, fit_min_N=10 ** 5,
                            chains=8, samples=600, warmup=400, seed=0, progress=False)
    ratio = f.m * f.N.astype(float) ** 0.25 / f.predicted_amplitude
    big = f.N >= 10 ** 7
    w = (f.m_stderr / f.m)[big] ** -2
    r_big, r_err = float(np.sum(w * ratio[big]) / np.sum(w)), float(np.sum(w) ** -0.5)
    print(f"\nN = {f.N.tolist()}\nm_0 = {f.m.tolist()}\nstderr = {f.m_stderr.tolist()}\n"
          f"m_0 / Landau = {ratio.tolist()}\nmax R-hat {f.max_rhat.max():.3f}, min ESS {f.min_ess.min():.0f}\n"
          f"exponent {f.exponent:.4f} +- {f.exponent_stderr:.4f} (chi2/dof {f.chi2_dof:.2f}), amplitude "
          f"{f.amplitude:.4f} vs Landau {f.predicted_amplitude:.4f}; N >= 1e7: ratio {r_big:.4f} +- {r_err:.4f}; "
          f"{f.seconds:.0f} s")
    assert np.all(f.max_rhat < 1.05)
    assert f.exponent_stderr < 0.01
    assert f.exponent == pytest.approx(-0.25, abs=3 * f.exponent_stderr)
    assert r_big == pytest.approx(1.0, abs=3 * r_err + 0.01)

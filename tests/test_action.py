import numpy as np
import pytest

from linkernel import tasks
from linkernel.action import action, gradient, hessian, hessian_vector, from_vector, to_vector
from tests.conftest import random_kernel


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
@pytest.mark.parametrize("T,P", [(1, 1), (3, 1), (2, 2), (4, 1)])
def test_gradient_matches_finite_differences(arch, T, P, rng):
    p = tasks.endpoint(arch, T=T, P=P, lam=1.3, kappa=0.2, w=0.8, u=1.4)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    eps = 1e-6
    fd = (action(p, H + eps * E) - action(p, H - eps * E)) / (2 * eps)
    assert np.trace(gradient(p, H) @ E) == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("arch", ["rnn", "dnn"])
def test_hessian_matches_finite_differences_of_gradient(arch, rng):
    p = tasks.endpoint(arch, T=3, P=2, lam=1.7)
    H = random_kernel(rng, p.n)
    E = random_kernel(rng, p.n, 0.0)
    eps = 1e-6
    fd = (gradient(p, H + eps * E) - gradient(p, H - eps * E)) / (2 * eps)
    np.testing.assert_allclose(hessian_vector(p, H, E), fd, atol=1e-7)
    Hess = hessian(p, H)
    np.testing.assert_allclose(Hess, Hess.T, atol=1e-12)
    np.testing.assert_allclose(Hess @ to_vector(E), to_vector(hessian_vector(p, H, E)), atol=1e-10)


def test_vector_coordinates_are_orthonormal(rng):
    A, B = random_kernel(rng, 4), random_kernel(rng, 4)
    assert to_vector(A) @ to_vector(B) == pytest.approx(np.trace(A @ B))
    np.testing.assert_allclose(from_vector(to_vector(A), 4), A)

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_kernel(rng, n, jitter=0.5):
    """A random symmetric positive-definite (n, n) kernel."""
    B = rng.normal(size=(n, n))
    return B @ B.T / n + jitter * np.eye(n)

"""Test references computed another way than the package computes them: one home, imported by every test."""

import numpy as np


def random_kernel(rng, n, jitter=0.5):
    """A random symmetric positive-definite (n, n) kernel."""
    B = rng.normal(size=(n, n))
    return B @ B.T / n + jitter * np.eye(n)

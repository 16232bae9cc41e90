"""Issue 26: the catalogue of minima (saddle_point(problem, minima="all")) against a long multi-start run.

Slow (``pytest -m slow tests/theory/test_catalogue.py``): on the chain tasks (endpoint task, P = 4
patterns, T = 8 and 16, lambda = 2.5, kappa = 0.1, as benchmarks/scaling.py builds "chain") a multi-start
run of MULTISTART[T] random starts, each an independent certified local descent, collects the distinct
minima; the catalogue must contain every one of them, and be the same set whatever the seed of its
random starts and the eigensolver's start vectors and bases.  Measured on 2 shared cores (load 4-8):
T = 8, 1000 starts in about 170 s, 4 minima (the last first met at start 50); T = 16, 240 starts in about
300 s, 8 minima (the last first met at start 25).
"""

import time

import numpy as np
import pytest

from linkernel import tasks
from linkernel.theory.action import prior_kernel
from linkernel.theory.certificate import certify
from linkernel.theory.minimize import minimize_action
from linkernel.theory.saddle import saddle_point
from linkernel.theory.search import FLOOR_WHITENED, is_new, kick
from linkernel.threads import blas_threads_for

from tests.theory.test_search import other_eigensolver, same_minima

pytestmark = pytest.mark.slow

#: random starts of the multi-start run per chain length T
MULTISTART = {8: 1000, 16: 240}


def chain(T):
    return tasks.endpoint("rnn", T=T, P=4, lam=2.5, kappa=0.1)


def random_start(p, rng):
    """A random positive-definite kernel: the prior kernel deformed in its own metric by exp of a random
    symmetric matrix (half), or a Wishart kernel plus a strongly correlated rank-one part (half)."""
    n = p.n
    L0 = np.linalg.cholesky(prior_kernel(p))
    if rng.random() < 0.5:
        A = rng.normal(size=(n, n))
        w, V = np.linalg.eigh((A + A.T) / np.sqrt(2 * n))
        return L0 @ ((V * np.exp(rng.uniform(0.3, 1.5) * w)) @ V.T) @ L0.T
    B = rng.normal(size=(n, n + 2))
    c = rng.normal(size=n)
    W = B @ B.T / (n + 2) + np.exp(rng.uniform(0.0, 6.0)) * np.outer(c, c) / n
    return np.exp(rng.normal()) * L0 @ W @ L0.T


def certified_descent(p, H0, escapes=4):
    """(kernel, S) of the certified minimum one descent from H0 reaches (leaving saddles along their lowest
    direction), or None.  Independent of the search: Newton-CG + the pencil certificate only; a run stalled
    by float64 rounding counts when its whitened residual is below FLOOR_WHITENED (the search's criterion)."""
    H = H0
    for _ in range(escapes + 1):
        sol = minimize_action(p, H)
        if not sol.converged and not (sol.at_floor and sol.whitened_grad_norm < FLOOR_WHITENED):
            return None
        cert = certify(p, sol.kernel, tol=max(1e-13, 2 * sol.whitened_grad_norm))
        if cert.status == "minimum":
            return sol.kernel, float(sol.action)
        if cert.status != "saddle":
            return None
        H = kick(sol.kernel, cert.directions[0][1])
    return None


def multistart(p, n, seed=0):
    """The distinct certified minima (kernel, S) of n random starts, up to the problem's mirrors."""
    rng = np.random.default_rng(seed)
    found = []
    with blas_threads_for(p.n):
        for _ in range(n):
            try:
                got = certified_descent(p, random_start(p, rng))
            except (np.linalg.LinAlgError, ValueError, ArithmeticError):
                continue
            if got is not None and is_new(p, got[0], [K for K, _ in found], rtol=1e-5):
                found.append(got)
    return found


@pytest.mark.parametrize("T", [8, 16])
def test_catalogue_holds_every_minimum_a_long_multistart_run_finds(T):
    p = chain(T)
    t0 = time.perf_counter()
    many = multistart(p, MULTISTART[T])
    t1 = time.perf_counter()
    assert len(many) >= 2                        # broken and symmetric minima at least
    cat = saddle_point(p, minima="all", seed=0)
    print(f"\nchain T={T} P=4: multi-start {MULTISTART[T]} starts in {t1 - t0:.0f} s, {len(many)} minima "
          f"(S {sorted(round(S, 9) for _, S in many)}); catalogue {time.perf_counter() - t1:.1f} s, "
          f"{len(cat.minima)} minima")
    kernels = [m.kernel for m in cat.minima]
    for K, S in many:
        assert not is_new(p, K, kernels, rtol=1e-5), f"S = {S:.12g} found by the multi-start run only"
        assert min(abs(m.action - S) for m in cat.minima) < 1e-9
    # the tree found them, not the catalogue's own random starts
    assert any(c.startswith("random starts") and ": 0 more minima" in c for c in cat.coverage)


def test_catalogue_of_the_chain_T16_is_the_same_for_other_seeds_and_eigensolver_starts(monkeypatch):
    """T = 16: the eigenpairs come from Lanczos/LOBPCG (not LAPACK), whose start vectors are shifted here."""
    p = chain(16)
    ref = saddle_point(p, minima="all", seed=0)
    with monkeypatch.context() as m:
        other_eigensolver(m, 6)
        assert same_minima(p, ref, saddle_point(p, minima="all", seed=6))

"""Test references computed another way than the package computes them: one home, imported by every test."""

import contextlib
import io
import math

import numpy as np

from linkernel.problem import fix_z2_sign


def random_kernel(rng, n, jitter=0.5):
    """A random symmetric positive-definite (n, n) kernel."""
    B = rng.normal(size=(n, n))
    return B @ B.T / n + jitter * np.eye(n)


# --- full networks with explicit Gaussian matrices (no reduction, no rotation invariance) -----------
def simulate_kernels(problem, N, n, rng, chunk=20000):
    """H = (1/N) h.h of ``n`` networks drawn from the prior, with explicit Gaussian weight matrices.

    Any weight-sharing pattern: one ``N x N`` matrix per W group of
    ``problem.arch`` (variance ``w_g / N``, the group's own), one ``N x D``
    matrix per U group (variance ``u / D``), then ``h^0 = U x^0``,
    ``h^t = W^(t) h^{t-1} + U^(t) x^t``.  Returns (n, TP, TP).
    """
    arch, T, D = problem.arch, problem.T, problem.D
    sw = [math.sqrt(var / N) for var in arch.group_variances(problem.w)]
    su = math.sqrt(problem.u / D)
    u_of = [next(i for i, g in enumerate(arch.U) if t in g) for t in range(T)]
    out = []
    for start in range(0, n, chunk):
        B = min(chunk, n - start)
        U = [rng.normal(scale=su, size=(B, N, D)) for _ in arch.U]
        W = [rng.normal(scale=s, size=(B, N, N)) for s in sw]
        hs = []
        for t in range(T):
            h = U[u_of[t]] @ problem.x[t].T                         # (B, N, P)
            if t > 0:
                h = h + W[arch.w_group(t)] @ hs[-1]
            hs.append(h)
        G = np.concatenate(hs, axis=-1)                              # columns t*P+p
        out.append(np.swapaxes(G, -1, -2) @ G / N)
    return np.concatenate(out)


def importance_posterior(problem, N, n=80_000, seed=0, chunk=20_000):
    """Exact posterior mean of the sign-fixed kernel at width N: iid prior networks weighted by p(y | h).

    The readout v is integrated out *in the full network*: f_S | h is
    Gaussian, so p(y_S | h) = N(y_S; 0, (v H_SS + kappa I) / N) depends on H_SS
    only (written without reference to the reduction).  Each kernel is brought
    to its Z2 representative (:func:`linkernel.problem.fix_z2_sign`).
    Returns (mean kernel, its standard error, effective sample size 1 / sum w^2).
    """
    rng = np.random.default_rng(seed)
    H = simulate_kernels(problem, N, n, rng, chunk=chunk)
    S, y = problem.supervised_index, problem.y_S
    K = problem.v * H[:, S[:, None], S[None, :]] + problem.kappa * np.eye(len(S))
    logw = -0.5 * np.linalg.slogdet(K)[1] - 0.5 * N * np.einsum("i,bij,j->b", y, np.linalg.inv(K), y)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    H = fix_z2_sign(problem, H)
    mean = np.einsum("b,bij->ij", w, H)
    se = np.sqrt(np.einsum("b,bij->ij", w ** 2, (H - mean) ** 2))
    return mean, se, 1.0 / np.sum(w ** 2)


def moment_z(a, b, chunk=2000):
    """Largest |z| between the first and second moments (E H_ij, E H_ij H_kl over the distinct entries) of two
    independent samples of kernels (n, TP, TP); streamed over chunks of draws."""
    n = a.shape[-1]
    iu = np.triu_indices(n)
    pu = np.triu_indices(len(iu[0]))

    def moments(H):
        total, total2 = 0.0, 0.0
        for start in range(0, len(H), chunk):
            x = H[start:start + chunk][:, iu[0], iu[1]]
            f = np.concatenate([x, (x[:, :, None] * x[:, None, :])[:, pu[0], pu[1]]], axis=1)
            total, total2 = total + f.sum(0), total2 + (f ** 2).sum(0)
        mean = total / len(H)
        return mean, (total2 / len(H) - mean ** 2) / len(H)

    (ma, va), (mb, vb) = moments(a), moments(b)
    return float(np.max(np.abs(ma - mb) / (np.sqrt(np.maximum(va, 0) + np.maximum(vb, 0)) + 1e-12)))


# --- the command line, run in-process ---------------------------------------------------------------
def run_cli(argv):
    """(exit status, stdout, stderr) of ``linkernel argv`` run in-process (argparse's exit 2 and
    --help/--version's 0 are returned as the status, not raised)."""
    from linkernel.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def refused(rc, out: str, err: str, names=()) -> bool:
    """The CLI's refusal contract: exit status 2, nothing on stdout, one line on stderr without a
    traceback, naming one of ``names`` (the option or value refused) when given."""
    lines = err.strip().splitlines()
    return (rc == 2 and not out and len(lines) == 1 and err.count("\n") == 1 and "Traceback" not in err
            and (not names or any(n in lines[0] for n in names)))

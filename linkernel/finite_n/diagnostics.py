"""MCMC diagnostics of every sampler result: ESS, R-hat, MCSE, divergences, and one warning when they fail.

Definitions (Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, the ones
ArviZ and Stan print):

* ``ess_bulk``: effective sample size of the rank-normalised split chains
  (Geyer's initial monotone sequence), ``arviz.ess(method="bulk")``;
* ``ess_mean``: the same on the raw values, ``arviz.ess(method="mean")``;
* ``mcse = sd / sqrt(ess_mean)``: Monte Carlo standard error of a posterior
  mean, ``arviz.mcse(method="mean")``;
* ``rhat``: rank-normalised split R-hat, the larger of the bulk and the
  folded (tail) value, ``arviz.rhat(method="rank")``.  With one chain it is
  *undefined* here (None, null in JSON): split halves of a single chain cannot
  reveal a chain stuck in one mode.  This is ArviZ's rule too: ``arviz.rhat``
  of one chain is NaN (it asks for >= 2 chains, then splits each), whereas
  splitting one chain into two halves and calling those the chains (what the
  HMC module once did on its own) reports a number that cannot fail on a
  chain stuck in one mode.

These are the package's only ESS / R-hat / MCSE (the HMC sampler of
:mod:`linkernel.finite_n.mcmc` and every result use them).  Each takes draws
``(chains, draws, *shape)`` and returns an array of ``shape``; for draws
``(chains, draws)`` of one quantity that is a 0-d array (a number).

The functions below are vectorised over entries and agree with ArviZ to
rounding (``tests/finite_n/test_diagnostics.py``).  They are computed here and
not by ArviZ because ArviZ takes seconds for a 32 x 32 kernel on these cores
(measured: import 6-7 s, ``ess`` 4 s and ``rhat`` 6.5 s for 528 entries x
4 chains x 1000 draws, against 0.1 s here) and logs to stderr for one chain;
ArviZ is used for what it is for: :func:`inference_data` (the draws as an
``arviz.InferenceData``, written as NetCDF).

A result *converged* when R-hat <= 1.01 for every entry (with >= 2 chains),
the bulk ESS is >= 100 for every entry and there were no divergent
transitions; otherwise :func:`warn` emits one :class:`SamplerWarning`, one line.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata
from linkernel.errors import SamplerWarning

RHAT_MAX = 1.01
ESS_MIN = 100.0



def _entries(x) -> tuple[np.ndarray, tuple]:
    """(chains, draws, *shape) -> ((chains, draws, m) float array, shape)."""
    x = np.asarray(x, dtype=float)
    if x.ndim < 2:
        raise ValueError(f"draws of shape {x.shape} are invalid; need (chains, draws, ...)")
    return x.reshape(x.shape[0], x.shape[1], -1), x.shape[2:]


def _split(x: np.ndarray) -> np.ndarray:
    n = x.shape[1] // 2
    return np.concatenate([x[:, :n], x[:, x.shape[1] - n:]], axis=0)


def _ess_raw(x: np.ndarray) -> np.ndarray:
    """ESS of (chains, draws, m) entries, split chains, Geyer's initial monotone sequence (Stan's estimator)."""
    x = _split(x)
    c, n, m = x.shape
    if n < 4:
        return np.full(m, np.nan)
    xc = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(xc, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n                 # (c, n, m)
    W = np.mean(acov[:, 0] * n / (n - 1), axis=0)                          # (m,)
    chain_var = np.var(x.mean(axis=1), axis=0, ddof=1) if c > 1 else 0.0
    var_plus = W * (n - 1) / n + chain_var
    out = np.full(m, float(c * n))                                         # constant draws: no correlation
    ok = var_plus > 0
    if not np.any(ok):
        return out
    rho = 1.0 - (W[ok] - acov[:, :, ok].mean(axis=0)) / var_plus[ok]      # (n, m_ok)
    rho[0] = 1.0
    pairs = rho[:2 * (n // 2)].reshape(n // 2, 2, -1).sum(axis=1)          # (n/2, m_ok)
    positive = np.cumprod(pairs > 0, axis=0).astype(bool)                  # up to the first non-positive pair
    first = pairs[0]
    pairs = np.minimum.accumulate(np.where(positive, pairs, np.inf), axis=0)
    tau = -1.0 + 2.0 * np.where(positive[0], np.sum(np.where(positive, pairs, 0.0), axis=0), first)
    tau = np.maximum(tau, 1.0 / math.log10(c * n))                         # Stan's cap on antithetic chains
    out[ok] = c * n / tau
    return out


def _rank_normal(x: np.ndarray) -> np.ndarray:
    c, n, m = x.shape
    r = rankdata(x.reshape(c * n, m), axis=0, method="average").reshape(c, n, m)
    return ndtri((r - 0.375) / (c * n + 0.25))


def _rhat_raw(x: np.ndarray) -> np.ndarray:
    x = _split(x)
    c, n, _ = x.shape
    W = np.mean(np.var(x, axis=1, ddof=1), axis=0)
    B = n * np.var(x.mean(axis=1), axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(((n - 1) / n * W + B / n) / W)
    return np.where(W > 0, r, np.where(B == 0, 1.0, np.inf))


def ess_mean(x) -> np.ndarray:
    """ESS of the mean of every entry of draws ``x`` (chains, draws, *shape): array of ``shape``."""
    x, shape = _entries(x)
    return _ess_raw(x).reshape(shape)


def ess_bulk(x) -> np.ndarray:
    """Bulk ESS (rank-normalised) of every entry of ``x`` (chains, draws, *shape)."""
    x, shape = _entries(x)
    return _ess_raw(_rank_normal(x)).reshape(shape)


def rhat(x) -> np.ndarray | None:
    """Rank-normalised split R-hat (max of bulk and folded) of every entry; None for a single chain."""
    x, shape = _entries(x)
    if x.shape[0] < 2 or x.shape[1] < 4:
        return None
    bulk = _rhat_raw(_rank_normal(x))
    folded = _rhat_raw(_rank_normal(np.abs(x - np.median(x.reshape(-1, x.shape[2]), axis=0))))
    return np.maximum(bulk, folded).reshape(shape)


def mcse(x) -> np.ndarray:
    """Monte Carlo standard error of the mean of every entry: sd / sqrt(ess_mean)."""
    x, shape = _entries(x)
    c, n, m = x.shape
    sd = np.std(x.reshape(c * n, m), axis=0, ddof=1) if c * n > 1 else np.full(m, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (sd / np.sqrt(_ess_raw(x))).reshape(shape)


@dataclass(frozen=True)
class Diagnostics:
    """Summary of a sampler run: the worst entry's ESS and R-hat, divergences, and the verdict.

    ``min_ess``: smallest bulk ESS over the monitored quantities; ``max_rhat``:
    largest R-hat, None with one chain (``rhat_note`` says why);
    ``divergences``: divergent HMC transitions (None where the sampler has
    none to count); ``warnings``: one line per failed check (empty when
    ``converged``).
    """

    chains: int
    draws: int
    min_ess: float | None
    max_rhat: float | None
    divergences: int | None
    warnings: tuple
    rhat_note: str | None = None

    @property
    def converged(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        from linkernel.serialize import jsonable
        return jsonable({"chains": self.chains, "draws": self.draws, "min_ess": self.min_ess,
                         "max_rhat": self.max_rhat, "rhat_note": self.rhat_note,
                         "divergences": self.divergences, "converged": self.converged,
                         "warnings": list(self.warnings)})

    def line(self) -> str:
        """One line: the verdict and the numbers behind it."""
        rh = "R-hat n/a (1 chain)" if self.max_rhat is None else f"max R-hat {self.max_rhat:.4f}"
        es = "ESS n/a" if self.min_ess is None else f"min ESS {self.min_ess:.0f}"
        dv = "" if self.divergences is None else f", {self.divergences} divergences"
        head = "converged" if self.converged else "NOT CONVERGED: " + "; ".join(self.warnings)
        return f"{head} ({es}, {rh}{dv})"


def _finite_or_none(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def assess(ess, rhat_values, divergences: int | None, chains: int, draws: int) -> Diagnostics:
    """The verdict from per-entry bulk ESS and R-hat arrays (R-hat None for one chain)."""
    ess = np.asarray(ess, dtype=float)
    msgs = []
    min_ess = float(np.min(ess)) if ess.size and not np.all(np.isnan(ess)) else float("nan")
    if np.any(np.isnan(ess)):
        msgs.append(f"ESS undefined ({draws} draws per chain are too few; need >= 8)")
    elif min_ess < ESS_MIN:
        msgs.append(f"ESS {min_ess:.3g} < {ESS_MIN:.0f}")
    max_rhat, note = None, None
    if rhat_values is None:
        note = "R-hat undefined with one chain (run >= 2 chains to check convergence)"
    else:
        r = np.asarray(rhat_values, dtype=float)
        max_rhat = float(np.max(np.where(np.isnan(r), np.inf, r))) if r.size else float("nan")
        if not max_rhat <= RHAT_MAX:
            msgs.append(f"R-hat {max_rhat:.4f} > {RHAT_MAX}")
    if divergences:
        msgs.append(f"{divergences} divergent transitions")
    return Diagnostics(chains=int(chains), draws=int(draws), min_ess=_finite_or_none(min_ess),
                       max_rhat=None if max_rhat is None else _finite_or_none(max_rhat),
                       divergences=None if divergences is None else int(divergences),
                       warnings=tuple(msgs), rhat_note=note)


def warn(diag: Diagnostics, what: str, advice: str = "run longer (more warm-up/draws) or more chains",
         stacklevel: int = 3) -> None:
    """One :class:`SamplerWarning`, one line, when ``diag`` is not converged."""
    if not diag.converged:
        warnings.warn(f"{what} did not converge: {'; '.join(diag.warnings)}; {advice}",
                      SamplerWarning, stacklevel=stacklevel)


def import_arviz():
    """ArviZ, imported on first use with its FutureWarning (about its next major version) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz
    return arviz


def inference_data(posterior: dict, coords: dict, dims: dict, sample_stats: dict | None = None,
                   attrs: dict | None = None):
    """``arviz.InferenceData`` of draws ``{name: (chains, draws, *shape)}`` with named dimensions."""
    az = import_arviz()
    idata = az.from_dict(posterior=posterior, sample_stats=sample_stats or None, coords=coords, dims=dims)
    idata.posterior.attrs.update(attrs or {})
    return idata


def entry_stats(x) -> dict:
    """All per-entry diagnostics of draws ``x`` (chains, draws, *shape) at once (one rank normalisation):
    ``{"ess_bulk", "ess_mean", "mcse", "rhat"}`` (arrays of ``shape``; ``rhat`` None for one chain)."""
    xe, shape = _entries(x)
    c, n, m = xe.shape
    z = _rank_normal(xe)
    em = _ess_raw(xe)
    sd = np.std(xe.reshape(c * n, m), axis=0, ddof=1) if c * n > 1 else np.full(m, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = sd / np.sqrt(em)
    rh = None
    if c >= 2 and n >= 4:
        med = np.median(xe.reshape(-1, m), axis=0)
        rh = np.maximum(_rhat_raw(z), _rhat_raw(_rank_normal(np.abs(xe - med)))).reshape(shape)
    return {"ess_bulk": _ess_raw(z).reshape(shape), "ess_mean": em.reshape(shape), "mcse": se.reshape(shape),
            "rhat": rh}

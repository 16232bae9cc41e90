"""Sweeps: one of the library's computations mapped over a grid, serially or on dask.distributed.

``sweep(fn, grid)`` calls ``fn(**point, seed=s)`` at every point of the outer
product of ``grid`` (a mapping axis -> 1-D values, axes in the given order)
and collects the dicts ``fn`` returns (name -> number, bool, string or array)
into an :class:`xarray.Dataset` with one dimension per grid axis; an array
output of shape ``s`` gets extra dimensions ``{name}_0, {name}_1, ...``; None becomes NaN; every point must return the
same names and shapes, and no output may be named like a grid axis.

* Engine: a ``dask.distributed.LocalCluster`` (processes, ``n_workers``
  workers, one thread each) by default; an existing cluster with
  ``scheduler="tcp://host:port"``, the same call; ``serial=True`` runs in this
  process without dask (same results: the seeds do not depend on the engine).
* Seeds: point ``p`` gets ``SeedSequence(seed, spawn_key=words(sha256(p)))``'s
  first 32-bit word, ``p`` the point's coordinates as canonical JSON, so a
  point's seed depends only on the base seed and its coordinates, never on
  the order in which points are scheduled or on which other points the grid
  holds (:func:`point_seed`).
* Resumable: each finished point is written at once (by the client, so remote
  workers need no shared disk) to ``{output}.cache/{key}.npz``, ``key`` a hash
  of the computation's name, its fixed arguments, the point and the seed; a
  rerun loads those and computes only the rest.
* Output: NetCDF (``engine="h5netcdf"``) or Zarr for a path ending in ``.zarr``.
* Progress: :func:`linkernel.progress.progress_bar` on stderr.

``linkernel sweep CONFIG`` runs :func:`run_sweep_config` on a JSON file:

    {"computation": "exact_posterior",            # a name in COMPUTATIONS
     "problem": {"task": "endpoint", "arch": "rnn", "T": 4, "kappa": 0.1},
     "arguments": {"chains": 2, "samples": 200},  # fixed keywords of the computation
     "grid": {"lam": [1.0, 1.5, 2.0], "N": [64, 256]},
     "output": "sweep.nc", "seed": 0}

Grid axes named like a problem argument (``T, P, lam, kappa, w, v, u, arch,
...``) go to the problem; the others to the computation.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from linkernel import validation
from linkernel.display import Display
from linkernel.errors import SweepError
from linkernel.progress import progress_bar
from linkernel.serialize import function_key, jsonable



# --- points, seeds, keys ------------------------------------------------------------
def _canonical(obj) -> str:
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_grid(grid) -> dict:
    validation.nonempty("grid", validation.keys("grid", grid), "at least one axis (a dict axis -> list of values)")
    out = {}
    for k, vals in grid.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"grid axis {k!r} is invalid; axis names must be Python identifiers")
        if k == "seed":
            raise ValueError("grid axis 'seed' is invalid; seeds are derived per point from the base seed")
        vals = list(np.asarray(vals).tolist()) if isinstance(vals, np.ndarray) else vals
        vals = validation.sequence(f"grid[{k!r}]", vals, "a list of values")
        validation.nonempty(f"grid[{k!r}]", vals, "at least one value")
        validation.distinct(f"grid[{k!r}]", vals, key=_canonical)
        out[k] = vals
    return out


def grid_points(grid) -> list:
    """[(index tuple, point dict)] over the outer product, last axis fastest."""
    grid = _check_grid(grid)
    axes = list(grid)
    return [(idx, {a: grid[a][i] for a, i in zip(axes, idx)})
            for idx in itertools.product(*(range(len(grid[a])) for a in axes))]


def point_seed(seed: int, point: dict) -> int:
    """The seed of one grid point: a function of the base seed and the point's coordinates only."""
    digest = hashlib.sha256(_canonical(point).encode()).digest()
    words = tuple(int.from_bytes(digest[4 * k:4 * k + 4], "little") for k in range(4))
    return int(np.random.SeedSequence(int(seed), spawn_key=words).generate_state(1)[0])


def computation_name(fn) -> str:
    """``module.qualname`` of fn; for a functools.partial also its fixed arguments (the dataset's label;
    the cache key is :func:`computation_key`)."""
    if isinstance(fn, functools.partial):
        return f"{computation_name(fn.func)}({_canonical([list(fn.args), fn.keywords])})"
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def computation_key(fn) -> str:
    """The cache key of fn: its name and a hash of its code, defaults, captured values and fixed partial
    arguments (:func:`linkernel.serialize.function_key`); ValueError where fn cannot be keyed (a callable
    object, a captured value that is no data): pass ``name=`` to :func:`sweep` instead."""
    try:
        digest = function_key(fn)
    except ValueError as e:
        raise ValueError(f"fn={fn!r} cannot be keyed for the cache: {e}; pass name= (a name you change "
                         "whenever fn's behaviour changes), or sweep without output and cache_dir") from None
    return f"{computation_name(fn)}#{digest}"


def _key(name: str, point: dict, seed: int) -> str:
    return hashlib.sha256(_canonical([name, point, seed]).encode()).hexdigest()[:24]


# --- running one point ------------------------------------------------------------------
def _call(fn, point: dict, seed: int) -> dict:
    kw = dict(point)
    try:
        params = inspect.signature(fn).parameters
        takes_seed = "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):
        takes_seed = True
    if takes_seed:
        kw["seed"] = seed
    out = fn(**kw)
    if not isinstance(out, dict) or not out:
        raise TypeError(f"the sweep's fn returned {type(out).__name__}; it must return a non-empty dict "
                        "name -> number, bool, string or array")
    # None (e.g. an R-hat of one chain) becomes NaN so that the output stays numeric
    return {str(k): np.asarray(np.nan if v is None else v) for k, v in out.items()}


def _save(path: Path, values: dict, point: dict, seed: int) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, __point__=np.asarray(_canonical(point)), __seed__=np.asarray(seed),
             **{f"v_{k}": v for k, v in values.items()})
    os.replace(tmp, path)              # atomic: an interruption never leaves half a point


def _load(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k[2:]: z[k] for k in z.files if k.startswith("v_")}
    except (OSError, ValueError, EOFError):
        return None                    # unreadable: recompute


# --- the result ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SweepResult(Display):
    """A finished sweep: ``dataset`` (xarray; attrs: computation, seed), where it was written, the counts.

    Returned by :func:`linkernel.sweep.sweep` and :func:`~linkernel.run_sweep_config`.

    Attributes
    ----------
    dataset : xarray.Dataset
        One dimension per grid axis (in the grid's order); one variable per output of the
        computation (an array output of shape ``s`` gets extra dimensions ``{name}_0, ...``;
        None becomes NaN).  Attributes: ``computation``, ``seed``.
    output : str or None
        The file written (NetCDF, or Zarr for ``.zarr``); None when not written.
    cache_dir : str or None
        The folder of the per-point cache.
    computation : str
        The computation's name.
    seed : int
        The base seed (each point's seed depends only on it and the point's coordinates).
    n_points : int
        Points in the grid.
    computed : int
        Points run in this call.
    cached : int
        Points loaded from the cache of an earlier (interrupted) run.
    engine : str
        'serial', 'LocalCluster (n workers)' or the scheduler address.
    seconds : float
        Wall time, in seconds.
    """

    dataset: object
    output: str | None
    cache_dir: str | None
    computation: str
    seed: int
    n_points: int
    computed: int
    cached: int
    engine: str
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict:
        ds = self.dataset
        return jsonable({"output": self.output, "cache_dir": self.cache_dir, "computation": self.computation,
                         "seed": self.seed, "n_points": self.n_points, "computed": self.computed,
                         "cached": self.cached, "engine": self.engine, "seconds": self.seconds,
                         "dims": {k: int(v) for k, v in ds.sizes.items()},
                         "grid": {k: int(ds.sizes[k]) for k in self.axes},
                         "ragged": [k for k in ds.attrs.get("ragged", "").split(",") if k],
                         "coords": {k: ds[k].values.tolist() for k in ds.dims if k in ds.coords},
                         "data_vars": {k: ds[k].values.tolist() for k in ds.data_vars}})

    @property
    def axes(self) -> tuple:
        """The grid axes, in the grid's order (the dataset's other dims belong to array outputs)."""
        return tuple(k for k in self.dataset.coords if k in self.dataset.dims)

    def summary(self) -> str:
        ds = self.dataset
        dims = " x ".join(f"{k}={ds.sizes[k]}" for k in self.axes)
        ragged = [k for k in ds.attrs.get("ragged", "").split(",") if k]
        lines = [f"sweep of {self.computation}: {self.n_points} points ({dims}) on {self.engine}, seed {self.seed}",
                 f"computed {self.computed}, loaded from cache {self.cached}, {self.seconds:.1f} s",
                 "outputs: " + ", ".join(f"{k}{tuple(ds[k].dims)}" for k in ds.data_vars)]
        if ragged:
            lines.append("shapes differ between points for " + ", ".join(ragged) + ": stored per point, padded "
                         "with NaN, each point's shape in " + ", ".join(f"{k}_shape" for k in ragged))
        if self.output:
            lines.append(f"written to {self.output}" + (f" (cache {self.cache_dir})" if self.cache_dir else ""))
        return "\n".join(lines)

    __str__ = summary

    def _display_rows(self) -> list:
        ds = self.dataset
        return [("computation", self.computation), ("points", self.n_points),
                ("grid", " x ".join(f"{k}={ds.sizes[k]}" for k in self.axes)),
                ("outputs", ", ".join(f"{k}{tuple(ds[k].dims)}" for k in ds.data_vars)),
                ("computed", self.computed), ("from cache", self.cached), ("engine", self.engine), ("seed", self.seed),
                ("written to", self.output), ("seconds", self.seconds)]


def _dataset(grid: dict, points: list, results: dict, attrs: dict):
    """The Dataset: one variable per output, dims (grid axes..., {name}_0, ...).

    Ragged outputs (an array whose shape varies over the grid, such as the kernel (TP, TP) over T) are
    stored per point: padded to the largest shape with NaN ('' for text), each point's true shape in the
    variable ``{name}_shape`` (grid axes..., ``{name}_ndim``), and listed in ``attrs['ragged']``.
    """
    import xarray as xr
    axes = list(grid)
    shape = tuple(len(grid[a]) for a in axes)
    names = list(results[points[0][0]])
    clash = sorted(set(names) & set(axes))
    if clash:
        raise ValueError(f"output {clash[0]!r} is also a grid axis (from the cache of an earlier fn under the same "
                         "name?); rename the output or pass another name=")
    data, ragged = {}, []
    for name in names:
        vals = {}
        for idx, _ in points:
            val = results[idx].get(name)
            if val is None or set(results[idx]) != set(names):
                raise ValueError(f"the outputs at point {dict(zip(axes, idx))} are {sorted(results[idx])} and "
                                 f"{sorted(names)} elsewhere; every point must return the same names")
            vals[idx] = val
        ndims = {v.ndim for v in vals.values()}
        if len(ndims) > 1:
            raise ValueError(f"output {name!r} has {sorted(ndims)} dimensions at different points; every point "
                             "must return arrays with the same number of dimensions (shapes may differ)")
        full = tuple(max(v.shape[k] for v in vals.values()) for k in range(ndims.pop()))
        text = any(v.dtype.kind in "USO" for v in vals.values())
        is_ragged = any(v.shape != full for v in vals.values())
        dtype = object if text else (float if is_ragged else np.result_type(*vals.values()))
        if f"{name}_shape" in names and is_ragged:
            raise ValueError(f"output {name!r} is ragged and its shapes would be stored as {name + '_shape'!r}, "
                             "which is also an output; rename one of them")
        arr = (np.full(shape + full, "" if text else np.nan, dtype=dtype) if is_ragged
               else np.empty(shape + full, dtype=dtype))
        for idx, val in vals.items():
            arr[idx + tuple(slice(0, n) for n in val.shape)] = val
        if text:
            arr = arr.astype(str)
        dims = axes + [f"{name}_{k}" for k in range(len(full))]
        data[name] = (dims, arr)
        if is_ragged:
            ragged.append(name)
            sizes = np.array([vals[idx].shape for idx, _ in points], dtype=int).reshape(shape + (len(full),))
            data[f"{name}_shape"] = (axes + [f"{name}_ndim"], sizes)
    coords = {}
    for a in axes:
        vals = grid[a]
        coords[a] = np.asarray([_canonical(v) if isinstance(v, (dict, list)) else v for v in vals])
    if ragged:
        attrs = {**attrs, "ragged": ",".join(ragged)}
    return xr.Dataset(data, coords=coords, attrs=attrs)


_SUFFIXES = (".nc", ".nc4", ".h5", ".zarr")


def _check_output(path) -> None:
    """Before any work: a NetCDF/Zarr file name that can be created (tried: permissions as root on /proc
    or a read-only mount are only known by trying), in a directory that exists or can be made."""
    p = Path(_path("output", path))
    if p.suffix not in _SUFFIXES:
        raise ValueError(f"output={str(path)!r} is invalid; the file name must end in one of {_SUFFIXES}")
    if p.exists() and p.is_dir() and p.suffix != ".zarr":
        raise ValueError(f"output={str(path)!r} is a directory; give a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            if p.suffix == ".zarr":
                p.mkdir()
                p.rmdir()
            else:
                with open(p, "a"):
                    pass
                p.unlink()
        elif not os.access(p, os.W_OK):
            raise PermissionError("permission denied")
    except OSError as exc:
        raise ValueError(f"output={str(path)!r} is invalid; it cannot be written "
                         f"({exc.strerror or exc})") from None


def write_dataset(ds, path) -> str:
    """NetCDF (h5netcdf engine, else netCDF4) or Zarr (path ending in .zarr)."""
    path = str(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if path.endswith(".zarr"):
        ds.to_zarr(path, mode="w")
        return path
    try:
        ds.to_netcdf(path, engine="h5netcdf")
    except ImportError:
        ds.to_netcdf(path, engine="netcdf4")
    return path


def open_dataset(path):
    """The dataset a sweep wrote (NetCDF or Zarr), loaded into memory."""
    import xarray as xr
    path = str(path)
    if path.endswith(".zarr"):
        return xr.open_zarr(path).load()
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


# --- the engine ---------------------------------------------------------------------
def sweep(fn, grid, *, seed: int = 0, output=None, cache_dir=None, scheduler: str | None = None,
          serial: bool = False, n_workers: int = 2, progress: bool = True, name: str | None = None,
          resume: bool = True) -> SweepResult:
    """Map ``fn`` over the outer product of ``grid``; collect an xarray Dataset (see the module docstring).

    ``fn(**point, seed=int)`` returns a dict of outputs (``seed`` is passed
    only if fn takes it); it must be picklable (a module-level function or a
    functools.partial of one) unless ``serial``.  ``output``: NetCDF/Zarr path
    (optional); ``cache_dir``: default ``{output}.cache`` (no cache without
    either); ``scheduler``: address of a running dask scheduler (default: a
    LocalCluster of ``n_workers`` processes, one thread each, closed at the
    end); ``name``: the computation's name in the cache key (default
    :func:`computation_name`); ``resume=False`` ignores (and overwrites) the cache.
    """
    t0 = time.perf_counter()
    validation.instance("fn", fn, Callable, "callable (a module-level function or a functools.partial of one)")
    seed = _seed("seed", seed)
    if not serial and scheduler is None:
        n_workers = validation.integer("n_workers", n_workers, 1, MAX_WORKERS)
    if name is not None and not (isinstance(name, str) and name):
        raise ValueError(f"name={name!r} is invalid; name must be a non-empty string (or None)")
    grid = _check_grid(grid)
    if output is not None:
        _check_output(output)
    points = grid_points(grid)
    cname = name or computation_name(fn)
    if cache_dir is None and output is not None:
        cache_dir = str(output) + ".cache"
    cache = Path(_path("cache_dir", cache_dir)) if cache_dir is not None else None
    ckey = (name or computation_key(fn)) if cache is not None else None    # refused here, before any work
    client = _client(scheduler) if scheduler is not None and not serial else None
    if cache is not None:
        validation.writable_folder("cache_dir", cache)
        cache.mkdir(parents=True, exist_ok=True)
    seeds = {idx: point_seed(seed, p) for idx, p in points}
    paths = {idx: (cache / f"{_key(ckey, p, seeds[idx])}.npz") if cache else None for idx, p in points}
    results = {}
    if cache is not None and resume:
        for idx, _ in points:
            if paths[idx].exists():
                got = _load(paths[idx])
                if got is not None:
                    results[idx] = got
    n_cached = len(results)
    todo = [(idx, p) for idx, p in points if idx not in results]
    bar = progress_bar(progress, total=len(points), initial=n_cached, desc=name or _short_name(fn), unit="pt")

    def done(idx, p, values):
        clash = sorted(set(values) & set(grid))
        if clash:
            raise ValueError(f"fn returned an output named {clash[0]!r}, which is also a grid axis; rename the output")
        results[idx] = values
        if cache is not None:
            _save(paths[idx], values, p, seeds[idx])
        bar.update(1)

    try:
        if not todo:
            engine = "cache (nothing to compute)"
        elif serial:
            engine = "serial"
            for idx, p in todo:
                try:
                    values = _call(fn, p, seeds[idx])
                except Exception as exc:
                    raise SweepError(f"point {p} failed: {type(exc).__name__}: {exc}; {len(results)} points "
                                     f"finished{_resume_note(cache)}") from exc
                done(idx, p, values)
        else:
            engine = _run_dask(fn, todo, seeds, done, client, n_workers, results, cache)
    finally:
        bar.close()
        if client is not None:
            client.close()
    attrs = {"computation": cname, "seed": int(seed)}
    ds = _dataset(grid, points, results, attrs)
    out = write_dataset(ds, output) if output is not None else None
    return SweepResult(dataset=ds, output=out, cache_dir=str(cache) if cache else None, computation=cname,
                       seed=int(seed), n_points=len(points), computed=len(todo), cached=n_cached, engine=engine,
                       seconds=time.perf_counter() - t0)


def _resume_note(cache) -> str:
    if cache is None:
        return " and are lost (no output or cache_dir: nothing to resume from)"
    return f", cached in {cache}: the same call resumes from them"


#: seconds to wait for a scheduler given by address (checked before any work)
SCHEDULER_TIMEOUT = 3
#: the most local worker processes a sweep starts (each a Python with NumPy: ~100 MiB)
MAX_WORKERS = 256


def _seed(name: str, value) -> int:
    """A base seed: an integer in [0, 2**63) (what the NetCDF attribute and numpy's generators hold)."""
    if value is None:
        raise ValueError(f"{name}=None is invalid; {name} must be an integer in [0, 2**63)")
    return validation.seed(name, value)


def _path(name: str, value) -> str:
    """A file or folder path given as text or os.PathLike (a number is no path)."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(f"{name}={value!r} is invalid; {name} must be a path (text)")
    return str(value)


def _client(scheduler):
    """A dask Client of the running scheduler at ``scheduler``; ValueError in one line when it cannot be reached."""
    import logging
    validation.instance("scheduler", scheduler, str, "the address of a running dask scheduler, e.g. "
                        "tcp://127.0.0.1:8786 (or None: a LocalCluster)")
    from dask.distributed import Client
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.CRITICAL)        # dask's own retry log lines would repeat the one error below
    try:
        return Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s")
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise ValueError(f"scheduler={scheduler!r} is invalid; no dask scheduler answered there within "
                         f"{SCHEDULER_TIMEOUT} s ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                         "start one (dask scheduler) or leave scheduler out for a LocalCluster") from None
    finally:
        log.setLevel(level)


def _run_dask(fn, todo, seeds, done, client, n_workers, results, cache) -> str:
    from dask.distributed import Client, LocalCluster, as_completed
    cluster = None
    if client is None:
        # one thread per worker: the library's small-matrix work is single-threaded by design
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
        engine = f"LocalCluster ({n_workers} workers)"
    else:
        engine = str(client.scheduler.address)
    try:
        futs = {client.submit(_call, fn, p, seeds[idx], pure=False, key=f"point-{'-'.join(map(str, idx))}-"
                              f"{seeds[idx]}"): (idx, p) for idx, p in todo}
        for fut in as_completed(futs):
            idx, p = futs[fut]
            try:
                values = fut.result()
            except Exception as exc:
                for f in futs:
                    f.cancel()
                raise SweepError(f"point {p} failed: {type(exc).__name__}: {exc}; {len(results)} points "
                                 f"finished{_resume_note(cache)}") from exc
            done(idx, p, values)
    finally:
        if cluster is not None:           # a Client of a given scheduler is closed by the caller
            client.close()
            cluster.close()
    return engine


def _short_name(fn) -> str:
    while isinstance(fn, functools.partial):
        if fn.func is _registered and fn.args:
            return str(fn.args[0])
        fn = fn.func
    return getattr(fn, "__name__", "sweep")


# --- the registry of computations (for config files) -------------------------------------
def _problem(spec: dict):
    from linkernel import tasks
    spec = dict(spec)
    task = spec.pop("task", "endpoint")
    makers = {"endpoint": tasks.endpoint, "sinusoid": tasks.sinusoid}
    validation.choice("problem.task", task, sorted(makers))
    return makers[task](**spec)


def _c_saddle_point(problem, seed, **kw):
    from linkernel.theory.saddle import saddle_point
    sp = saddle_point(_problem(problem), seed=seed, **kw)
    return {"order_parameter": sp.order_parameter, "action": sp.action, "kernel": sp.kernel,
            "min_hessian_eigenvalue": float(np.min(sp.hessian_eigenvalues))}


def _c_critical_lambda(problem, seed, **kw):
    from linkernel.theory.special_points import critical_lambda
    return {"lambda_c": critical_lambda(_problem(problem), **kw)}


def _c_exact_posterior(problem, seed, N, **kw):
    from linkernel.finite_n.exact import exact_posterior
    kw.setdefault("progress", False)
    r = exact_posterior(_problem(problem), int(N), seed=seed, **kw)
    return {"order_parameter": r.order_parameter, "order_parameter_stderr": r.order_parameter_stderr,
            "kernel": r.kernel, "max_rhat": r.max_rhat, "min_ess": r.min_ess}


def _c_sample_networks(problem, seed, N, **kw):
    from linkernel.finite_n.network_sampler import sample_networks
    kw.setdefault("progress", False)
    r = sample_networks(_problem(problem), int(N), seed=seed, **kw)
    return {"order_parameter": r.order_parameter, "order_parameter_stderr": r.order_parameter_stderr,
            "kernel": r.kernel, "rhat": r.max_rhat}


def _c_trace(problem, seed, **kw):
    from linkernel.theory.continuation import trace
    from linkernel.serialize import dumps
    tr = trace(_problem(problem), **kw)
    return {"transition": str(tr.transition), "complete": bool(tr.complete), "json": dumps(tr.to_dict(), indent=None)}


def _c_landau_b(problem, seed, **kw):
    from linkernel.symbolic.order import landau_b, transition_order
    p = {k: v for k, v in problem.items() if k in ("T", "kappa", "w", "v", "u")}
    return {"b": landau_b(**p), "order": transition_order(**p)}


#: name -> (function, needs the width N)
COMPUTATIONS = {
    "saddle_point": (_c_saddle_point, False),
    "critical_lambda": (_c_critical_lambda, False),
    "exact_posterior": (_c_exact_posterior, True),
    "sample_networks": (_c_sample_networks, True),
    "trace": (_c_trace, False),
    "landau_b": (_c_landau_b, False),
}
_PROBLEM_KEYS = {"task", "arch", "T", "P", "D", "labels", "lam", "kappa", "w", "v", "u"}
_CONFIG_KEYS = {"computation", "problem", "arguments", "grid", "output", "seed", "cache_dir", "n_workers"}


def _registered(name: str, problem: dict, arguments: dict, seed: int, **point):
    fn = COMPUTATIONS[name][0]
    prob = dict(problem)
    args = dict(arguments)
    for k, v in point.items():
        (prob if k in _PROBLEM_KEYS else args)[k] = v
    return fn(prob, seed, **args)


def computation(name: str, problem: dict | None = None, arguments: dict | None = None):
    """The registered computation ``name`` with fixed problem arguments, as a picklable fn for :func:`sweep`."""
    validation.choice("computation", name, sorted(COMPUTATIONS))
    return functools.partial(_registered, name, dict(problem or {}), dict(arguments or {}))


def load_config(path) -> dict:
    """Read and check a sweep config (JSON); ValueError naming the offending key."""
    return check_config(validation.json_file("config", path))


def check_config(cfg) -> dict:
    validation.keys("config", cfg, _CONFIG_KEYS, required=("computation", "grid", "output"))
    validation.choice("config key 'computation'", cfg["computation"], sorted(COMPUTATIONS))
    validation.keys("config", cfg.get("problem", {}), _PROBLEM_KEYS, path="problem.")
    validation.keys("config", cfg.get("arguments", {}), path="arguments.")
    validation.instance("config key 'output'", cfg["output"], str, "a file path (.nc or .zarr)")
    validation.nonempty("config key 'output'", cfg["output"], "a file path (.nc or .zarr)")
    _seed("config key 'seed'", cfg.get("seed", 0))
    if cfg.get("cache_dir") is not None:
        _path("config key 'cache_dir'", cfg["cache_dir"])
    validation.integer("config key 'n_workers'", cfg.get("n_workers", 2), 1, MAX_WORKERS)
    try:
        grid = _check_grid(cfg["grid"])
    except ValueError as exc:
        raise ValueError(f"config key 'grid': {exc}") from exc
    if COMPUTATIONS[cfg["computation"]][1] and "N" not in grid and "N" not in cfg.get("arguments", {}):
        raise ValueError(f"config key 'N' is missing: computation {cfg['computation']!r} needs the width N "
                         "in 'grid' or 'arguments'")
    clash = sorted(set(grid) & (set(cfg.get("problem", {})) | set(cfg.get("arguments", {}))))
    if clash:
        raise ValueError(f"config key 'grid.{clash[0]}' is also fixed in 'problem' or 'arguments'; give it once")
    return cfg


def run_sweep_config(path: str | os.PathLike, scheduler: str | None = None, progress: bool = True,
                     serial: bool = False) -> SweepResult:
    """Run the sweep a JSON config describes (module docstring); output and cache paths are relative to the config.

    The config names a computation of :data:`COMPUTATIONS` (``saddle_point``,
    ``critical_lambda``, ``exact_posterior``, ``sample_networks``, ``trace``, ``landau_b``),
    the problem (``task``, ``arch``, ``T``, ...), fixed ``arguments``, the ``grid`` (axis ->
    values; axes named like a problem argument go to the problem), ``output`` and ``seed``.
    Points finished by an earlier, interrupted run are loaded from the cache, not recomputed.
    This is what ``linkernel sweep CONFIG`` runs.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON config file.
    scheduler : str, optional
        Address of a running dask scheduler (``"tcp://host:port"``); default a
        ``LocalCluster`` of ``n_workers`` processes.
    progress : bool, default True
        Show the progress bar (on stderr).
    serial : bool, default False
        Run in this process without dask (same results: the seeds do not depend on the engine).

    Returns
    -------
    SweepResult
        The dataset (one dimension per grid axis), where it was written and the counts.

    Raises
    ------
    ValueError
        If the config is invalid (naming the key).
    SweepError
        If a point fails (the points finished before it stay cached).

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> import linkernel as lk
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> config = {"computation": "critical_lambda", "problem": {"task": "endpoint", "arch": "rnn"},
    ...           "grid": {"T": [3, 4]}, "output": "out.nc"}
    >>> _ = (folder / "sweep.json").write_text(json.dumps(config))
    >>> r = lk.run_sweep_config(folder / "sweep.json", serial=True, progress=False)
    >>> r.n_points, r.computed, list(r.dataset.data_vars)
    (2, 2, ['lambda_c'])
    >>> bool(abs(r.dataset["lambda_c"].sel(T=4) - lk.critical_lambda(lk.endpoint("rnn", T=4))) < 1e-9)
    True
    >>> lk.run_sweep_config(folder / "sweep.json", serial=True, progress=False).cached
    2
    """
    cfg = load_config(_path("config", path))
    base = Path(path).resolve().parent
    out = Path(cfg["output"])
    out = out if out.is_absolute() else base / out
    cache = cfg.get("cache_dir")
    cache = None if cache is None else (Path(cache) if Path(cache).is_absolute() else base / cache)
    fn = computation(cfg["computation"], cfg.get("problem", {}), cfg.get("arguments", {}))
    return sweep(fn, cfg["grid"], seed=cfg.get("seed", 0), output=out, cache_dir=cache, scheduler=scheduler,
                 serial=serial, n_workers=cfg.get("n_workers", 2), progress=progress,
                 name=f"linkernel.sweep:{cfg['computation']}:{_canonical([cfg.get('problem', {}), cfg.get('arguments', {})])}")

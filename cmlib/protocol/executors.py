"""Where replicates and tasks run: a local process pool, SLURM through submitit, or a Dask cluster.

:mod:`cmlib.protocol.replicates` keeps the scheduling rules (task order, requirements, fail-fast, the per-replicate cache);
this module only opens the engine that runs the calls, as a ``concurrent.futures``-style pool whose ``submit`` returns
a :class:`concurrent.futures.Future`. No scheduler of our own: the local pool is ``ProcessPoolExecutor`` (spawn),
submitit's executor submits SLURM jobs (``cluster: local`` runs them as local processes, as the tests do), and Dask's
``Client.get_executor()`` is already a ``concurrent.futures.Executor``.

A params file names the engine in its ``executor`` section (:class:`ExecutorConfig`)::

    executor:
      kind: submitit               # local | submitit | dask
      folder: /shared/me/submitit  # job pickles and logs, on a filesystem the nodes share
      parameters: {slurm_partition: gpu, timeout_min: 120, cpus_per_task: 2, gpus_per_node: 1}
    cache_dir: /shared/me/cache/clarel   # the replicates' results: shared too, so a killed run resumes

Workers compute under the submitting process's test-only numeric jitter (:mod:`cmlib.protocol.perturb`, process state
that no environment variable carries): the local pool's initializer sets it in each worker, and on submitit and Dask,
whose workers outlive a call or serve other clients, every call carries it (:func:`cmlib.protocol.perturb.call_with_jitter`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cmlib.protocol.config import ConfigError
from cmlib.protocol.perturb import call_with_jitter, jitter_seed, set_jitter

__all__ = ["ExecutorConfig", "Pool", "ReplicateError", "open_pool"]

Kind = Literal["local", "submitit", "dask"]


@dataclass
class ExecutorConfig:
    """The engine that runs replicates and tasks (the ``executor`` section of a paper's params).

    Attributes:
        kind: ``local``: worker processes on this machine (the default); ``submitit``: one SLURM job per replicate or
            task (submitit); ``dask``: a Dask distributed cluster.
        folder: submitit's folder for job pickles and logs; it must be on a filesystem the nodes share.
        cluster: submitit's ``cluster``: ``slurm``, ``local`` (local processes, for tests), ``debug`` (in this
            process), or null: SLURM where ``sbatch`` exists, else local.
        parameters: passed to submitit's ``update_parameters`` (``slurm_partition``, ``timeout_min``,
            ``cpus_per_task``, ``gpus_per_node``, ``mem_gb``, ``slurm_array_parallelism`` ...).
        address: a running Dask scheduler (``tcp://host:8786``); null starts a ``LocalCluster`` of single-threaded
            worker processes for the run.
    """

    kind: Kind = "local"
    folder: str = ".cache/submitit"
    cluster: Literal["slurm", "local", "debug"] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    address: str | None = None

    def __post_init__(self) -> None:
        if self.kind != "submitit" and (self.cluster is not None or self.parameters):
            raise ConfigError(f"executor: cluster and parameters are submitit's; kind is {self.kind!r}")
        if self.kind != "dask" and self.address is not None:
            raise ConfigError(f"executor: address is Dask's; kind is {self.kind!r}")


class ReplicateError(RuntimeError):
    """A replicate or task raised; names the seed or task (the finished ones are kept). Raised by
    :mod:`cmlib.protocol.replicates`, and here when a cluster job failed with it."""


class Pool(Protocol):
    """What :mod:`cmlib.protocol.replicates` needs of an engine: ``submit(fn, *args) -> Future``."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future: ...


@contextlib.contextmanager
def open_pool(executor: ExecutorConfig | None, workers: int) -> Iterator[Pool]:
    """The engine of ``executor`` (None: the local pool) with at most ``workers`` calls running at once (the caller
    submits no more than that); closed on exit, waiting for what is running. Its calls run under this process's
    numeric jitter draw at the time it opens (:mod:`cmlib.protocol.perturb`).

    Raises:
        ConfigError: the engine's package is not installed (naming it).
    """
    cfg = executor or ExecutorConfig()
    draw = jitter_seed()
    if cfg.kind == "submitit":
        with _submitit_pool(cfg, workers) as pool:
            yield _Jittered(pool, draw)
    elif cfg.kind == "dask":
        with _dask_pool(cfg, workers) as pool:
            yield _Jittered(pool, draw)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_start_worker,
                                 initargs=(draw,)) as pool:
            yield pool


class _Jittered:
    """A pool whose every call runs under ``draw`` where it lands (a submitit job, a Dask worker)."""

    def __init__(self, pool: Pool, draw: int) -> None:
        self._pool, self._draw = pool, draw

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        return self._pool.submit(call_with_jitter, self._draw, fn, *args)


class _SubmititPool:
    """submitit jobs as ``concurrent.futures`` futures: a thread per running job waits on ``job.result()``."""

    def __init__(self, executor: Any, waiters: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._waiters = waiters

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        job = self._executor.submit(fn, *args)
        return self._waiters.submit(_job_result, job)


def _job_result(job: Any) -> Any:
    """``job.result()``; a failed job's error becomes the :class:`ReplicateError` it raised (its
    message), not submitit's wrapper with the whole remote traceback."""

    try:
        return job.result()
    except Exception as err:  # submitit wraps every remote error in its own type
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        mark = f"{ReplicateError.__module__}.{ReplicateError.__name__}: "
        named = [ln.removeprefix(mark) for ln in lines if ln.startswith(mark)]
        raise ReplicateError(named[-1] if named else f"submitit job {job.job_id}: {lines[-1] if lines else err}") from err


@contextlib.contextmanager
def _submitit_pool(cfg: ExecutorConfig, workers: int) -> Iterator[Pool]:
    submitit = _require("submitit", "submitit")
    executor = submitit.AutoExecutor(folder=cfg.folder, cluster=cfg.cluster)
    if cfg.parameters:
        executor.update_parameters(**cfg.parameters)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cmlib-submitit") as waiters:
        yield _SubmititPool(executor, waiters)


@contextlib.contextmanager
def _dask_pool(cfg: ExecutorConfig, workers: int) -> Iterator[Pool]:
    distributed = _require("distributed", "dask.distributed")
    with contextlib.ExitStack() as stack:
        if cfg.address is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(distributed.Client(cfg.address))
        yield client.get_executor(pure=False)


def _require(module: str, package: str) -> Any:
    """Import an engine's package, or a ConfigError naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"executor: {package} is not installed (pip install {module})") from None


def _start_worker(draw: int) -> None:
    """Local pool initializer: the parent's numeric jitter draw (a spawned worker starts with none), and
    :func:`_die_with_parent`."""
    set_jitter(draw)
    _die_with_parent()


def _die_with_parent() -> None:
    """Worker initializer: on Linux the worker gets SIGTERM when the process that started it dies, so a killed
    notebook kernel or runner leaves no orphaned worker computing on (spawned workers are not in its process group).
    Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (linux/prctl.h)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)

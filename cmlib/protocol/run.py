"""The run section every paper's Config holds: which replicates, on how many workers, where results are kept, how
many torch threads, on which device and through which executor.

One section, one name per thing, in every paper (``params/<paper>/<profile>.yaml``)::

    run:
      seeds: [0, 1, 2, 3, 4]       # one replicate per seed (cmlib.protocol.seeds: 0-99 are the study's)
      workers: 2                   # replicate / task worker processes (0: one per CPU core; 1: in this process)
      cache_dir: .cache/clarel     # trained models and finished replicates, shared by the notebooks (null: memory)
      threads: 1                   # torch intra-op threads of every training and scoring (0: leave torch's)
      device: {accelerator: gpu, precision: bf16-mixed}     # cmlib.protocol.engine.DeviceConfig
      executor: {kind: submitit, parameters: {slurm_partition: gpu}}   # cmlib.protocol.executors.ExecutorConfig

``workers`` is not the runner's ``--jobs`` (notebooks at once). Override one setting from the command line as
``python -m cmlib.runner clarel run.device.accelerator=gpu``. The names used before this section existed (``seeds``,
``jobs``, ``cache_dir``, ``threads``, ``num_threads``, ``fit``, ``executor`` at the top of a params file) fail with
a hint to the new one (:data:`MOVED`, read by :func:`cmlib.protocol.config.from_params`).

What a cache key takes from the section is :meth:`RunConfig.key_part`: only what changes a trained model's numbers
(the device's numerics and a thread count other than 1), never seeds, workers, cache folder or executor.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cmlib.protocol.cache import stable_hash
from cmlib.protocol.config import ConfigError, check_range
from cmlib.protocol.engine import DeviceConfig, FitConfig, torch_threads
from cmlib.protocol.executors import ExecutorConfig

__all__ = ["MOVED", "RunConfig", "cache_key", "first_seeds", "replicate_config", "run_of", "run_threads", "with_threads"]

T = TypeVar("T")

#: top-level params keys of before the run section -> where they live now
MOVED = {"seeds": "run.seeds", "jobs": "run.workers", "cache_dir": "run.cache_dir", "threads": "run.threads",
         "num_threads": "run.threads", "fit": "run.device", "executor": "run.executor"}


@dataclass
class RunConfig:
    """How a study runs (the ``run`` section of every paper's params; defaults: one replicate, seed 0, in this
    process, one thread, one CPU).

    Attributes:
        seeds: one replicate per seed: the world, split, initialisation and batch order all follow it
            (:func:`replicate_config`); distinct.
        workers: worker processes for replicates and tasks (:func:`cmlib.protocol.replicates.run_replicates`,
            ``run_tasks``); 0: one per CPU core (on a cluster: every pending one at once); 1: in this process.
        cache_dir: where trained models and finished replicates are kept across notebooks and interrupted runs
            (None: memory only; the papers whose notebooks hand models on through it need a folder).
        threads: torch intra-op threads of every training and scoring (0 leaves torch's setting). One thread
            per process: on the shared 2-core machine one thread was 5-10x faster per step than two under
            contention (measured by each paper: CLAREL 0.05-0.07 s against 0.57 s, GRM-Net 0.23 s against 2-8 s).
        device: where training runs (:class:`cmlib.protocol.engine.DeviceConfig`: accelerator, devices, strategy,
            precision, DataLoader workers, pinned memory).
        executor: where replicates and tasks run: the local pool, SLURM through submitit, or a Dask cluster
            (:class:`cmlib.protocol.executors.ExecutorConfig`).
    """

    seeds: list[int] = field(default_factory=lambda: [0])
    workers: int = 1
    cache_dir: str | None = None
    threads: int = 1
    device: DeviceConfig = field(default_factory=DeviceConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"run.seeds: a non-empty list of distinct seeds, got {self.seeds}")
        check_range("run.workers", self.workers, lo=0)
        check_range("run.threads", self.threads, lo=0)

    def key_part(self) -> dict[str, Any]:
        """What a cache key takes from this section: the device's numerics when not the default one CPU process,
        and the thread count when not 1 (so keys made with the defaults carry nothing of it)."""
        return {**self.device.key_part(), **({} if self.threads == 1 else {"threads": self.threads})}

    def fit_config(self, **loop: Any) -> FitConfig:
        """The :class:`FitConfig` of one training: the device settings, this section's threads, then the paper's
        loop settings (``max_steps``, ``seed``, ``log_every``...)."""
        return self.device.fit_config(threads=self.threads, **loop)


def replicate_config(cfg: T, seed: int) -> T:
    """The config of replicate ``seed``: ``run.seeds = [seed]``, and where the config has a ``world`` with a base
    ``seed``, ``world.seed + seed`` (CLAREL, WHCMT; DeSKPro's and GRM-Net's worlds take the replicate seed itself).

    Every paper's replicate functions start from it, so one seed always names the same draw of everything random.
    """
    run = dataclasses.replace(cfg.run, seeds=[int(seed)])
    world = getattr(cfg, "world", None)
    if world is not None and dataclasses.is_dataclass(world) and hasattr(world, "seed"):
        return dataclasses.replace(cfg, run=run, world=dataclasses.replace(world, seed=int(world.seed) + int(seed)))
    return dataclasses.replace(cfg, run=run)


def first_seeds(cfg: T, n: int) -> T:
    """``cfg`` with ``run.seeds`` cut to its first ``n`` (0, or ``n`` >= their number: ``cfg`` itself): the
    replicates of a notebook whose models only some claims read (CLAREL's grid and dose-response, WHCMT's and
    GRM-Net's dose-response: ``grid_replicates`` / ``dose_replicates``)."""
    if not n or n >= len(cfg.run.seeds):
        return cfg
    return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seeds=list(cfg.run.seeds[:n])))


def cache_key(cfg: Any, *parts: Any, length: int = 16) -> str:
    """The one cache-key builder of trained models: a hash of ``parts`` (what was trained, on which data, with which
    settings) plus what the run section adds (:meth:`RunConfig.key_part`: nothing at the defaults)."""
    extra = cfg.run.key_part()
    return stable_hash([*parts, extra] if extra else list(parts), length=length)


def run_of(cfg: Any) -> RunConfig | None:
    """``cfg``'s run section, or None for a config (or a plain dict) without one: the one lookup the replicate runner
    and the thread helpers share."""
    run = getattr(cfg, "run", None)
    return run if isinstance(run, RunConfig) else None


def run_threads(cfg: Any) -> int:
    """The torch thread count a config's work runs under: ``cfg.run.threads``, or 1 for a config (or dict) with no
    run section (the replicate runner's default: one thread per process)."""
    run = run_of(cfg)
    return 1 if run is None else run.threads


def with_threads(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run ``fn(cfg, ...)`` under ``torch_threads(cfg.run.threads)`` and restore the caller's count after
    (for the work a notebook calls directly, outside :func:`cmlib.protocol.engine.fit` and the replicate runner,
    which both apply it themselves): the library never changes a kernel's thread count for good."""

    @functools.wraps(fn)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> T:
        with torch_threads(run_threads(cfg)):
            return fn(cfg, *args, **kwargs)

    return wrapper


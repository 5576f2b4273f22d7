"""Replicates in parallel processes, each result written atomically, so that a killed study resumes where it stopped.

A *replicate* is one independent draw of everything random in an experiment (world/data seed, split, initialisation,
batch order), all derived from one integer seed. A study function ``fn(cfg, seed) -> dict`` computes one replicate;
:func:`run_replicates` runs it for every seed of a config:

* pending seeds run in parallel worker processes (``concurrent.futures`` with the ``spawn`` start method, the run's torch
  thread each: on 2 cores two processes beat two threads in one process), or in this process when one is pending or
  the workers (``run.workers``) are 1;
* each finished replicate is written at once to ``<cache_dir>/replicate-<fn>-s<seed>-<key>.json`` (temp file +
  rename), keyed by a hash of the function, the config (of its run section only what changes numbers:
  :meth:`cmlib.protocol.run.RunConfig.key_part`) and the
  seed; a later call loads the finished ones and computes only the rest, so an interrupted ``make study`` resumes;
* every replicate runs with one torch thread and the results are always the JSON round trip of what ``fn`` returned,
  so a resumed run, a sequential run and a parallel run give the same numbers.

The engine that runs the calls is injectable (:mod:`cmlib.protocol.executors`): the local pool by default, SLURM jobs through
submitit or a Dask cluster when the config's ``executor`` section (or the ``executor`` argument) names one. The rules
above stay here whatever the engine: the worker writes its replicate's file itself (on a shared ``cache_dir`` a
killed notebook loses no finished job), items start in order once their requirements are done, and after a failure
nothing new starts.

Trained weights that several notebooks share stay in each paper's own cache; this layer keeps the per-replicate
results (the numbers a claim is computed from).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from cmlib.protocol.cache import stable_hash
from cmlib.protocol.config import to_dict
from cmlib.protocol.executors import ExecutorConfig, ReplicateError, open_pool
from cmlib.protocol.files import jsonable, write_json_atomic

__all__ = ["ReplicateError", "replicate_path", "run_replicates", "run_tasks"]

_FROM_RUN = object()  # run_replicates' default: the value of the config's run section


def replicate_path(fn: Callable[..., Any], cfg: Any, seed: int, cache_dir: str | Path) -> Path:
    """Where the result of ``fn(cfg, seed)`` is kept: the key covers the function, the config and the seed."""
    conf = to_dict(cfg)  # a dataclass or a dict, alike; of its run section only what changes numbers
    run = _run_of(cfg)
    if run is not None:
        conf["run"] = run.key_part()
    key = stable_hash({"fn": f"{fn.__module__}.{fn.__qualname__}", "cfg": conf, "seed": seed})
    return Path(cache_dir) / f"replicate-{fn.__name__}-s{seed}-{key}.json"


def run_replicates(fn: Callable[[Any, int], dict[str, Any]], cfg: Any, seeds: Sequence[int] | None = None, *,
                   cache_dir: Any = _FROM_RUN, jobs: int | None = None, log: Callable[[str], None] | None = None,
                   executor: ExecutorConfig | None = None) -> list[dict[str, Any]]:
    """``[fn(cfg, seed) for seed in seeds]``, in parallel processes and resumable.

    Args:
        fn: a module-level function (workers import it by name) returning a JSON-able dict for one replicate.
        cfg: the config passed to every call (a dataclass or a dict); a paper's config holds a run section
            (:class:`cmlib.protocol.run.RunConfig`) whose values are the defaults of the next four arguments, so a
            notebook starts its replicates as ``run_replicates(fn, cfg)``.
        seeds: one seed per replicate (distinct); None: ``cfg.run.seeds``.
        cache_dir: where finished replicates are kept (None: not kept, every call recomputes); by default
            ``cfg.run.cache_dir`` (None for a config without a run section).
        jobs: worker processes; 0 means one per CPU core (on a SLURM or Dask cluster: every pending replicate at
            once); 1 runs in this process (with the local pool); None: ``cfg.run.workers`` (else 0).
        log: where a line per finished replicate goes (default: print, flushed, so a notebook shows progress).
        executor: the engine (:class:`cmlib.protocol.executors.ExecutorConfig`); None: ``cfg.run.executor`` where
            the config has a run section, else the local pool.

    Returns:
        One dict per seed, in the order of ``seeds``.

    Raises:
        ValueError: a seed is repeated.
        ReplicateError: ``fn`` raised for a seed (the other finished replicates are written before this is raised).
    """
    run = _run_of(cfg)
    seeds = list(run.seeds if seeds is None and run is not None else seeds if seeds is not None else [])
    if cache_dir is _FROM_RUN:
        cache_dir = run.cache_dir if run is not None else None
    jobs = (run.workers if run is not None else 0) if jobs is None else jobs
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"run_replicates: seeds must be distinct and at least one, got {seeds}")
    say = log or (lambda line: print(line, flush=True))
    paths = {s: replicate_path(fn, cfg, s, cache_dir) for s in seeds} if cache_dir is not None else {}
    results: dict[int, dict[str, Any]] = {s: json.loads(p.read_text()) for s, p in paths.items() if p.is_file()}
    pending = [s for s in seeds if s not in results]
    if results:
        say(f"{fn.__name__}: {len(results)} of {len(seeds)} replicates loaded from {cache_dir}")
    engine = _engine(cfg, executor)
    workers = _workers(jobs, len(pending), engine)
    t0 = time.perf_counter()
    from cmlib.protocol.engine import progress_bar  # torch is imported by then anyway; not at module import

    bar = progress_bar(len(seeds), f"{fn.__name__} replicates", initial=len(results), leave=True) if pending else None

    def finish(seed: int, value: dict[str, Any]) -> None:
        results[seed] = value  # the JSON round trip, already written to paths[seed] by _replicate
        if bar is not None:
            bar.update(1)
        say(f"{fn.__name__}: replicate seed {seed} done ({len(results)}/{len(seeds)}, "
            f"{time.perf_counter() - t0:.1f} s)")

    try:
        if workers <= 1 and engine.kind == "local":
            for seed in pending:
                finish(seed, _replicate(fn, cfg, seed, paths.get(seed)))
        else:
            calls = {s: (_replicate, fn, cfg, s, paths.get(s)) for s in pending}
            _run_pool(calls, pending, {}, workers, finish, engine)
    finally:
        if bar is not None:
            bar.close()
    return [results[s] for s in seeds]


def _run_pool(calls: Mapping[Hashable, tuple], order: Sequence[Hashable], needs: Mapping[Hashable, Sequence[Hashable]],
              workers: int, finish: Callable[[Any, Any], None], engine: ExecutorConfig) -> None:
    """Run ``calls[item]`` (a function and its arguments) for each item of ``order`` on the engine, at most
    ``workers`` at once, each item once its ``needs`` are finished, handing each result to ``finish`` as soon as it
    arrives. After a failure nothing new starts; what is running finishes (and is handed on), then the first failure
    is raised."""
    with open_pool(engine, workers) as pool:
        running: dict[Future, Hashable] = {}
        waiting, finished_items = list(order), set()
        failure: ReplicateError | None = None

        def submit_ready() -> None:  # one item per free worker, the first ready ones in ``order``: submitting
            # every ready item at once would queue them in the pool by when they became ready, not by ``order``
            for item in [t for t in waiting if failure is None and all(n in finished_items for n in needs.get(t, ()))]:
                if len(running) >= workers:
                    return
                waiting.remove(item)
                running[pool.submit(*calls[item])] = item

        submit_ready()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                if fut.cancelled():
                    continue
                try:
                    finish(item, fut.result())
                    finished_items.add(item)
                except ReplicateError as err:
                    failure = failure or err
                    for other in running:
                        other.cancel()
            submit_ready()
        if failure is not None:
            raise failure


def _run_of(cfg: Any) -> Any:
    """:func:`cmlib.protocol.run.run_of`, imported on first use (it imports torch, which this module leaves to the
    work it schedules)."""
    from cmlib.protocol.run import run_of

    return run_of(cfg)


def _call(fn: Callable, cfg: Any, seed: Any, label: str = "seed") -> dict[str, Any]:
    """One replicate (or task) under the config's torch threads (``run.threads``, default 1; here or in a worker);
    errors name the seed (or task)."""
    from cmlib.protocol.engine import torch_threads
    from cmlib.protocol.run import run_threads

    try:
        with torch_threads(run_threads(cfg)):
            return fn(cfg, seed)
    except Exception as err:
        raise ReplicateError(f"{fn.__name__}({label}={seed!r}) raised {type(err).__name__}: {err}") from err


def _replicate(fn: Callable, cfg: Any, seed: int, path: Path | None) -> dict[str, Any]:
    """One replicate, where it runs: its JSON round trip, written atomically to ``path`` there (None: not kept), so
    a finished cluster job is kept even when the process that submitted it is gone."""
    value = json.loads(json.dumps(jsonable(_call(fn, cfg, seed))))
    if path is not None:
        write_json_atomic(path, value)
    return value


def _engine(cfg: Any, executor: ExecutorConfig | None) -> ExecutorConfig:
    """The engine to use: ``executor``, else the config's ``run.executor``, else the local pool."""
    run = _run_of(cfg)
    found = executor if executor is not None else (None if run is None else run.executor)
    if found is not None and not isinstance(found, ExecutorConfig):
        raise TypeError(f"executor: expected a cmlib.protocol.executors.ExecutorConfig, got {type(found).__name__}")
    return found or ExecutorConfig()


def run_tasks(fn: Callable[[Any, Any], Any], cfg: Any, tasks: Sequence[Hashable], *,
              requires: Mapping[Hashable, Sequence[Hashable]] | None = None, jobs: int | None = None,
              log: Callable[[str], None] | None = None, executor: ExecutorConfig | None = None) -> dict[Hashable, Any]:
    """``{task: fn(cfg, task)}`` for every task, in parallel processes, each task started once its ``requires`` are done.

    The finer-grained sibling of :func:`run_replicates`, for a study whose replicates are uneven bundles of
    trainings: five replicates on two cores run as 2 + 2 + 1 replicates (one core idle for the last), while their
    trainings as tasks keep both cores busy to the end. Nothing is cached here: ``fn`` caches what it trains (a later
    replicate then loads it), so this is a scheduler only, and its results are small (e.g. timings).

    Args:
        fn: a module-level function (workers import it by name); ``fn(cfg, task)`` with one torch thread.
        cfg: the config passed to every call.
        tasks: distinct, picklable, hashable tasks, in the order to start them: whenever a worker is free it gets
            the first task in this order whose requirements are done (put the longest first: a long task started
            last sets the finishing time).
        requires: task -> the tasks that must finish before it starts (each of them in ``tasks``).
        jobs: worker processes; 0 means one per CPU core (on a SLURM or Dask cluster: every ready task at once);
            1 runs them in order in this process (with the local pool); None: ``cfg.run.workers`` (else 0).
        log: where a line per finished task goes (default: print, flushed).
        executor: the engine, as in :func:`run_replicates`.

    Raises:
        ValueError: a task is repeated, or requires a task that is not in ``tasks``, or the requirements loop.
        ReplicateError: ``fn`` raised for a task (nothing new starts; the running tasks finish first).
    """
    if jobs is None:
        run = _run_of(cfg)
        jobs = 0 if run is None else run.workers
    order = list(tasks)
    needs = {t: tuple((requires or {}).get(t, ())) for t in order}
    sequential = _check_tasks(order, needs)
    say = log or (lambda line: print(line, flush=True))
    done: dict[Hashable, Any] = {}
    t0 = time.perf_counter()

    def finish(task: Hashable, value: Any) -> None:
        done[task] = value
        say(f"{fn.__name__}: task {task!r} done ({len(done)}/{len(order)}, {time.perf_counter() - t0:.1f} s)")

    engine = _engine(cfg, executor)
    workers = _workers(jobs, len(order), engine)
    if workers <= 1 and engine.kind == "local":
        for task in sequential:
            finish(task, _call(fn, cfg, task, "task"))
    else:
        _run_pool({t: (_call, fn, cfg, t, "task") for t in order}, order, needs, workers, finish, engine)
    return {t: done[t] for t in order}


def _workers(jobs: int, pending: int, engine: ExecutorConfig | None = None) -> int:
    """Calls running at once for ``pending`` items: ``jobs`` (0: one per CPU core here; on a SLURM or remote Dask
    cluster, whose own scheduler queues them, every item), never more than the items."""
    remote = engine is not None and ((engine.kind == "submitit" and engine.cluster in (None, "slurm"))
                                     or (engine.kind == "dask" and engine.address is not None))
    return min(jobs or (pending if remote else os.cpu_count() or 1), pending)


def _check_tasks(order: list[Hashable], needs: dict[Hashable, tuple[Hashable, ...]]) -> list[Hashable]:
    """Distinct tasks, requirements among them, no loop (raises ValueError naming the task); returns the tasks in
    an order that runs each after what it requires (:func:`_topological`)."""
    if len(set(order)) != len(order):
        raise ValueError(f"run_tasks: tasks must be distinct, got {order}")
    for task, reqs in needs.items():
        missing = [r for r in reqs if r not in needs]
        if missing:
            raise ValueError(f"run_tasks: task {task!r} requires {missing}, which are not among the tasks")
    return _topological(order, needs)


def _topological(order: list[Hashable], needs: dict[Hashable, tuple[Hashable, ...]]) -> list[Hashable]:
    """The tasks in ``order``, each moved after what it requires (raises ValueError on a loop)."""
    out: list[Hashable] = []
    placed: set[Hashable] = set()
    pending = list(order)
    while pending:
        ready = [t for t in pending if all(r in placed for r in needs[t])]
        if not ready:
            raise ValueError(f"run_tasks: the requirements of {pending} form a loop")
        for t in ready:
            pending.remove(t)
            placed.add(t)
            out.append(t)
    return out




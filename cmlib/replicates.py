"""Replicates in parallel processes, each result written atomically, so that a killed study resumes where it stopped.

A *replicate* is one independent draw of everything random in an experiment (world/data seed, split, initialisation,
batch order), all derived from one integer seed. A study function ``fn(cfg, seed) -> dict`` computes one replicate;
:func:`run_replicates` runs it for every seed of a config:

* pending seeds run in parallel worker processes (``concurrent.futures`` with the ``spawn`` start method, one torch
  thread each: on 2 cores two processes beat two threads in one process), or in this process when one is pending or
  ``jobs`` is 1;
* each finished replicate is written at once to ``<cache_dir>/replicate-<fn>-s<seed>-<key>.json`` (temp file +
  rename), keyed by a hash of the function, the config (its ``seeds``, ``jobs`` and ``cache_dir`` left out) and the
  seed; a later call loads the finished ones and computes only the rest, so an interrupted ``make study`` resumes;
* every replicate runs with one torch thread and the results are always the JSON round trip of what ``fn`` returned,
  so a resumed run, a sequential run and a parallel run give the same numbers.

Trained weights that several notebooks share stay in each paper's own cache; this layer keeps the per-replicate
results (the numbers a claim is computed from).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from cmlib.cache import stable_hash
from cmlib.config import to_dict
from cmlib.reporting import jsonable, write_json_atomic

__all__ = ["ReplicateError", "replicate_path", "run_replicates", "run_tasks"]

_NOT_IN_KEY = ("seeds", "jobs", "cache_dir")


class ReplicateError(RuntimeError):
    """A replicate raised; names the seed (the finished replicates are kept)."""


def replicate_path(fn: Callable[..., Any], cfg: Any, seed: int, cache_dir: str | Path) -> Path:
    """Where the result of ``fn(cfg, seed)`` is kept: the key covers the function, the config and the seed."""
    conf = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_IN_KEY}  # a dataclass or a dict, alike
    key = stable_hash({"fn": f"{fn.__module__}.{fn.__qualname__}", "cfg": conf, "seed": seed})
    return Path(cache_dir) / f"replicate-{fn.__name__}-s{seed}-{key}.json"


def run_replicates(fn: Callable[[Any, int], dict[str, Any]], cfg: Any, seeds: Sequence[int], *,
                   cache_dir: str | Path | None = None, jobs: int = 0, log: Callable[[str], None] | None = None,
                   ) -> list[dict[str, Any]]:
    """``[fn(cfg, seed) for seed in seeds]``, in parallel processes and resumable.

    Args:
        fn: a module-level function (workers import it by name) returning a JSON-able dict for one replicate.
        cfg: the config passed to every call (a dataclass or a dict).
        seeds: one seed per replicate (distinct).
        cache_dir: where finished replicates are kept (None: not kept, every call recomputes).
        jobs: worker processes; 0 means one per CPU core; 1 runs in this process.
        log: where a line per finished replicate goes (default: print, flushed, so a notebook shows progress).

    Returns:
        One dict per seed, in the order of ``seeds``.

    Raises:
        ValueError: a seed is repeated.
        ReplicateError: ``fn`` raised for a seed (the other finished replicates are written before this is raised).
    """
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"run_replicates: seeds must be distinct, got {list(seeds)}")
    say = log or (lambda line: print(line, flush=True))
    paths = {s: replicate_path(fn, cfg, s, cache_dir) for s in seeds} if cache_dir is not None else {}
    results: dict[int, dict[str, Any]] = {s: json.loads(p.read_text()) for s, p in paths.items() if p.is_file()}
    pending = [s for s in seeds if s not in results]
    if results:
        say(f"{fn.__name__}: {len(results)} of {len(seeds)} replicates loaded from {cache_dir}")
    workers = _workers(jobs, len(pending))
    t0 = time.perf_counter()
    from cmlib.engine import progress_bar  # torch is imported by then anyway; not at module import

    bar = progress_bar(len(seeds), f"{fn.__name__} replicates", initial=len(results), leave=True) if pending else None

    def finish(seed: int, value: dict[str, Any]) -> None:
        results[seed] = json.loads(json.dumps(jsonable(value)))
        if seed in paths:
            write_json_atomic(paths[seed], results[seed])
        if bar is not None:
            bar.update(1)
        say(f"{fn.__name__}: replicate seed {seed} done ({len(results)}/{len(seeds)}, "
            f"{time.perf_counter() - t0:.1f} s)")

    try:
        if workers <= 1:
            for seed in pending:
                finish(seed, _call(fn, cfg, seed))
        else:
            _run_pool(fn, cfg, pending, {}, workers, finish, "seed")
    finally:
        if bar is not None:
            bar.close()
    return [results[s] for s in seeds]


def _run_pool(fn: Callable, cfg: Any, order: Sequence[Hashable], needs: Mapping[Hashable, Sequence[Hashable]],
              workers: int, finish: Callable[[Any, Any], None], label: str) -> None:
    """Run ``order`` on a spawn pool, each item once its ``needs`` are finished, handing each result to ``finish`` as
    soon as it arrives. After a failure nothing new starts; what is running finishes (and is handed on), then the
    first failure is raised."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_die_with_parent) as pool:
        running: dict[Future, Hashable] = {}
        waiting, finished_items = list(order), set()
        failure: ReplicateError | None = None

        def submit_ready() -> None:  # one item per free worker, the first ready ones in ``order``: submitting
            # every ready item at once would queue them in the pool by when they became ready, not by ``order``
            for item in [t for t in waiting if failure is None and all(n in finished_items for n in needs.get(t, ()))]:
                if len(running) >= workers:
                    return
                waiting.remove(item)
                running[pool.submit(_call, fn, cfg, item, label)] = item

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


def _call(fn: Callable, cfg: Any, seed: Any, label: str = "seed") -> dict[str, Any]:
    """One replicate (or task) with one torch thread (here or in a worker); errors name the seed (or task)."""
    from cmlib.engine import torch_threads

    try:
        with torch_threads(1):
            return fn(cfg, seed)
    except Exception as err:
        raise ReplicateError(f"{fn.__name__}({label}={seed!r}) raised {type(err).__name__}: {err}") from err


def run_tasks(fn: Callable[[Any, Any], Any], cfg: Any, tasks: Sequence[Hashable], *,
              requires: Mapping[Hashable, Sequence[Hashable]] | None = None, jobs: int = 0,
              log: Callable[[str], None] | None = None) -> dict[Hashable, Any]:
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
        jobs: worker processes; 0 means one per CPU core; 1 runs them in order in this process.
        log: where a line per finished task goes (default: print, flushed).

    Raises:
        ValueError: a task is repeated, or requires a task that is not in ``tasks``, or the requirements loop.
        ReplicateError: ``fn`` raised for a task (nothing new starts; the running tasks finish first).
    """
    order = list(tasks)
    needs = {t: tuple((requires or {}).get(t, ())) for t in order}
    sequential = _check_tasks(order, needs)
    say = log or (lambda line: print(line, flush=True))
    done: dict[Hashable, Any] = {}
    t0 = time.perf_counter()

    def finish(task: Hashable, value: Any) -> None:
        done[task] = value
        say(f"{fn.__name__}: task {task!r} done ({len(done)}/{len(order)}, {time.perf_counter() - t0:.1f} s)")

    workers = _workers(jobs, len(order))
    if workers <= 1:
        for task in sequential:
            finish(task, _call(fn, cfg, task, "task"))
    else:
        _run_pool(fn, cfg, order, needs, workers, finish, "task")
    return {t: done[t] for t in order}


def _workers(jobs: int, pending: int) -> int:
    """Worker processes for ``pending`` items: ``jobs`` (0: one per CPU core), never more than the items."""
    return min(jobs or os.cpu_count() or 1, pending)


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




"""The CLAREL study as trainings on a worker pool: every model the notebooks read, one task each.

Why not :func:`cmlib.protocol.replicates.run_replicates` alone: five equal replicates on two cores run as 2 + 2 + 1, one
core idle for the last third (~0.6 x the one-core time instead of 0.5 x). The study profile's 5 x 22 = 110
trainings as tasks keep both cores busy to the end. :func:`run_study` (notebook 01) trains them into the run cache
(``Config.cache_dir``, :func:`cmlib.studies.clarel.runs.trained_scores`: one file per model, written atomically);
the notebooks' replicate functions then only load them.

A task is ``(stage, seed, lam, kappa, text, scale)``: stage "val" (train classes) or "test" (train+val classes),
the replicate seed, the loss mixing, the text level "image" (per-image sentences), "class" (notebook 04's
class-level ablation) or "profile" (notebook 06's control: per-image sentences stating the class profile), and the scale of the world's within-class variation (1.0: the profile's world; notebook 06's
dose-response trains the others, :func:`cmlib.data.worlds.clarel.with_variation`). :func:`notebook_models` lists
what each notebook of :data:`~.config.NOTEBOOKS` reads;
:func:`study_tasks` is their union over ``Config.notebooks`` and ``Config.seeds`` (used by :func:`run_study` and by
``benchmarks/clarel.py --budget``, so the list exists once).

Data per task: building a replicate's data (world, tokens, word2vec) takes 1.6-2.8 s for the study world on one
core (``build_data``, issue 14), against ~20 s for one training at 300 steps; a worker keeps the last two it built
for its next tasks (:func:`_task_data`: tasks come seed by seed), so the word vectors are not made a shared task of
their own (that would add a cached artefact and requirements). No task writes what another writes (each model has
its own cache key), so two tasks never build one artefact at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable
from typing import Literal

from cmlib.data.worlds.clarel import with_variation
from cmlib.protocol.cache import keep_recent, stable_hash
from cmlib.protocol.config import to_dict
from cmlib.protocol.run import replicate_config
from cmlib.studies.clarel.config import NOTEBOOKS, Config, dose_config, grid_config
from cmlib.studies.clarel.data import ClarelData, build_data
from cmlib.studies.clarel.experiments import ABLATION
from cmlib.studies.clarel.runs import _MEMORY, _key, cache_file, trained_scores

__all__ = ["DOSE_TEXTS", "Task", "notebook_models", "run_study", "study_task", "study_tasks", "task_config", "variation_config"]

#: (stage, seed, lam, kappa, text level, variation scale)
Text = Literal["image", "class", "profile"]
Task = tuple[Literal["val", "test"], int, float, float, Text, float]
Model = tuple[Literal["val", "test"], float, float, Text, float]
#: notebook 06's text levels at every variation scale: per-image, class-level and the profile control
DOSE_TEXTS: tuple[Text, ...] = ("image", "class", "profile")


def notebook_models(cfg: Config, notebook: str) -> list[Model]:
    """The models (stage, lam, kappa, text) one replicate of ``notebook`` reads, as its replicate function reads them
    (:mod:`cmlib.studies.clarel.experiments`; 05 reads the first seed's validation model of the main setting).

    Raises:
        ValueError: ``notebook`` is not one of :data:`~cmlib.studies.clarel.config.NOTEBOOKS`.
    """
    main = (cfg.lam, cfg.kappa)
    if notebook in ("02_alpha_sweep", "05_explore"):
        return [("val", *main, "image", 1.0)]
    if notebook == "01_gzsl":
        return [("val", *main, "image", 1.0), ("test", *main, "image", 1.0)]
    if notebook == "03_lambda_kappa":
        return ([("val", v, cfg.kappa, "image", 1.0) for v in cfg.lambdas]
                + [("val", cfg.lam, v, "image", 1.0) for v in cfg.kappas])
    if notebook == "04_ablation":
        settings = dict.fromkeys((lam, kappa) for _, lam, kappa in ABLATION)  # Table 3's lines share models
        out: list[Model] = [(stage, lam, kappa, "image", 1.0) for lam, kappa in settings for stage in ("val", "test")]
        if cfg.class_text and cfg.data == "world":
            out += [("val", *main, "class", 1.0), ("test", *main, "class", 1.0)]
        return out
    if notebook == "06_dose":  # at scale 1.0 the image and class models are 04's (the study dedups them)
        return [(stage, *main, text, float(v)) for v in cfg.variation_levels for text in DOSE_TEXTS
                for stage in ("val", "test")] if cfg.data == "world" else []
    raise ValueError(f"notebook_models: unknown notebook {notebook!r}; expected one of {list(NOTEBOOKS)}")


def study_tasks(cfg: Config) -> tuple[list[Task], dict[Task, list[Task]]]:
    """Every distinct training the notebooks of ``cfg.notebooks`` read, over ``cfg.run.seeds`` (05: the first seed
    only; 03: the first ``cfg.grid_replicates``; 06: the first ``cfg.dose_replicates``), in the order they start, and what each requires (nothing: each task
    builds its own data, module docstring).

    Order: the test-stage models first (train+val images and every image's sentences for the prototypes: the
    longest), then the validation ones, each group seed by seed; all tasks are of about one length, so the last
    round leaves a core idle for at most one training."""
    wanted = {"05_explore": {cfg.run.seeds[0]}, "03_lambda_kappa": set(grid_config(cfg).run.seeds),
              "06_dose": set(dose_config(cfg).run.seeds)}
    per_seed = {seed: dict.fromkeys(m for nb in cfg.notebooks if seed in wanted.get(nb, {seed})
                                    for m in notebook_models(cfg, nb)) for seed in cfg.run.seeds}
    tasks = [(stage, seed, lam, kappa, text, scale) for want in ("test", "val") for seed in cfg.run.seeds
             for stage, lam, kappa, text, scale in per_seed[seed] if stage == want]
    return tasks, {}


def task_config(cfg: Config, task: Task) -> Config:
    """The config a task trains under: its replicate's (:func:`replicate_config`), its text level,
    the world's within-class variation scaled by the task's scale (:func:`variation_config`)."""
    return variation_config(replicate_config(cfg, task[1]), task[5], task[4])


def variation_config(rcfg: Config, scale: float, text: Text = "image") -> Config:
    """A replicate's config with its world at within-class variation ``scale`` (``with_variation``; the profile's
    own, 1.0 in every profile, leaves it unchanged) and the text level set."""
    world = with_variation(rcfg.world, scale)
    if text != world.text_level:
        world = dataclasses.replace(world, text_level=text)
    return rcfg if world is rcfg.world else dataclasses.replace(rcfg, world=world)


def _cached(cfg: Config, task: Task) -> bool:
    key = _key(cfg, task[0], task[1], task[2], task[3])
    path = cache_file(cfg, key)
    return key in _MEMORY or bool(path and path.is_file())


_DATA: dict[str, ClarelData] = {}


def _task_data(rcfg: Config) -> ClarelData:
    """``build_data(rcfg)``, kept in this worker process for its next task of the same replicate and text level
    (tasks come seed by seed, so a worker mostly trains several of one replicate in a row; the two most recent are
    kept). Training only reads the data."""
    return keep_recent(_DATA, stable_hash(to_dict(rcfg)), lambda: build_data(rcfg))


def study_task(cfg: Config, task: Task) -> dict[str, float]:
    """Train (or find cached) one model of :func:`study_tasks`; returns {cached (1.0 / 0.0), train_s, wall_s}."""
    t0 = time.perf_counter()
    stage, seed, lam, kappa = task[:4]
    rcfg = task_config(cfg, task)
    cached = _cached(rcfg, task)
    scored = trained_scores(rcfg, lambda: _task_data(rcfg), stage, seed, lam, kappa)
    return {"cached": float(cached), "train_s": 0.0 if cached else float(scored.wall_s),
            "wall_s": time.perf_counter() - t0}


def run_study(cfg: Config, jobs: int | None = None) -> dict[str, float]:
    """Train every model of :func:`study_tasks` on ``jobs`` worker processes (default ``cfg.run.workers``; 0: one per
    core) through :func:`cmlib.protocol.replicates.run_tasks`, into the run cache; cached models are not retrained.

    Without ``cfg.run.cache_dir`` (the smoke profile) the models can only be handed on in memory, so the tasks must run
    in this process (one worker); the notebooks that run after 01 in their own kernels train theirs again.

    Returns {tasks, trained (models not found in the cache), core_s (the tasks' summed wall seconds), wall_s}.

    Raises:
        ValueError: no ``cache_dir`` and ``jobs`` other than 1.
    """
    from cmlib.protocol.replicates import run_tasks

    tasks, requires = study_tasks(cfg)
    workers = cfg.run.workers if jobs is None else jobs
    if cfg.run.cache_dir is None and workers != 1:
        raise ValueError(f"run_study: cfg.run.cache_dir is None, so worker processes could not hand their models on; "
                         f"set cache_dir or run with jobs=1 (got jobs={workers})")
    t0 = time.perf_counter()
    out: dict[Hashable, dict[str, float]] = run_tasks(study_task, cfg, tasks, requires=requires, jobs=workers,
                                                      log=lambda line: None)
    return {"tasks": float(len(out)), "trained": float(sum(not v["cached"] for v in out.values())),
            "core_s": float(sum(v["wall_s"] for v in out.values())), "wall_s": time.perf_counter() - t0}

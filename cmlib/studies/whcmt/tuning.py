"""Choosing steps, learning rate, gradient clipping and tag dropout on the validation split (never on the test one).

:func:`tune_on_validation` builds one replicate's data, takes its :func:`cmlib.studies.whcmt.data.validation_view`
(validation queries against the validation database; the test split sealed in ``sealed_test``), loads the pretrained
backbones and trains each method for every (lr, grad_clip) of the grid, measuring validation MAP@K every
``eval_every`` steps, so one run gives the whole steps curve. WHCMT is also trained for every ``tag_dropout`` of the
grid. ``benchmarks/whcmt.py --tune`` prints the table; the chosen values are written into params/whcmt/study.yaml
with the numbers behind them.
"""

from __future__ import annotations

import dataclasses
import itertools

from cmlib.protocol.engine import seed_everything
from cmlib.protocol.run import replicate_config
from cmlib.studies.whcmt.config import Config
from cmlib.studies.whcmt.data import prepare_data, validation_view, world_tag_auc
from cmlib.studies.whcmt.pretraining import with_pretrained
from cmlib.studies.whcmt.runs import _fit_and_eval, build_model, method_config  # the training path of every study run

__all__ = ["choose", "choose_length", "crossmodal_probe", "premise_probe", "tune_on_validation"]


def tune_on_validation(cfg: Config, methods: list[str], lrs: list[float], grad_clips: list[float | None],
                       tag_dropouts: list[float], *, bits: int = 8, seed: int = 0, max_steps: int | None = None,
                       eval_every: int = 50) -> list[dict]:
    """Validation MAP@K curves over the grid, one row per (method, lr, grad_clip, tag_dropout, step).

    Args:
        cfg: the profile's config (its ``steps`` is replaced by ``max_steps`` when given).
        methods: methods to tune (``tag_dropouts`` apply to WHCMT only; the others use the first value).
        lrs, grad_clips, tag_dropouts: the grid.
        bits: code length.
        seed: the replicate the tuning uses (its world, init and batch order).
        max_steps: the longest run; MAP is measured every ``eval_every`` steps up to it.

    Returns:
        rows with method, lr, grad_clip, tag_dropout, step, val_map, val_chance.
    """
    rcfg = replicate_config(cfg, seed)
    if max_steps is not None:
        rcfg = dataclasses.replace(rcfg, steps=max_steps)
    data = validation_view(prepare_data(rcfg))
    rcfg, _ = with_pretrained(rcfg, methods)
    rows = []
    for method in methods:
        drops = tag_dropouts if method == "WHCMT" else tag_dropouts[:1]
        for lr, clip, drop in itertools.product(lrs, grad_clips, drops):
            run_cfg = dataclasses.replace(rcfg, lr=lr, grad_clip=clip, tag_dropout=drop)
            seed_everything(seed)
            model = build_model(method, bits, data, run_cfg)
            row = _fit_and_eval(model, method, bits, tuple(run_cfg.lambdas), seed, data, run_cfg,
                                eval_every=eval_every)
            for step, val in row["curve"]:
                rows.append({"method": method, "lr": lr, "grad_clip": clip, "tag_dropout": drop, "step": step,
                             "val_map": val, "val_chance": row["chance"]})
            print(f"tuned {method} lr {lr:g} clip {clip} tag_dropout {drop:g}: "
                  + ", ".join(f"{s}:{v:.3f}" for s, v in row["curve"]), flush=True)
    return rows


def choose(rows: list[dict]) -> dict:
    """The (lr, grad_clip, step) with the best mean validation MAP over methods (at each method's best
    tag_dropout), then WHCMT's best tag_dropout there. Returns the choice and its mean validation MAP."""
    import pandas as pd

    df = pd.DataFrame(rows).fillna({"grad_clip": -1.0})
    best_drop = (df.groupby(["method", "lr", "grad_clip", "step", "tag_dropout"])["val_map"].mean()
                 .groupby(level=[0, 1, 2, 3]).max().reset_index())
    mean = best_drop.groupby(["lr", "grad_clip", "step"])["val_map"].mean()
    lr, clip, step = mean.idxmax()
    w = df[(df.method == "WHCMT") & (df.lr == lr) & (df.grad_clip == clip) & (df.step == step)]
    drop = float(w.loc[w.val_map.idxmax(), "tag_dropout"]) if len(w) else None
    return {"lr": float(lr), "grad_clip": None if clip == -1.0 else float(clip), "steps": int(step),
            "tag_dropout": drop, "mean_val_map": float(mean.max())}


def choose_length(curves: list[list[tuple[float, float]]], candidates: list[int], curve_points: int,
                  tolerance: float, *, for_good: bool = False) -> tuple[int | None, dict[int, float]]:
    """The training length a still-improving model needs (issue 30 item 4): the smallest candidate ``L`` at which the
    convergence gate (:func:`cmlib.protocol.claims.last_third_gain`, the study's rule) would pass a run of ``L`` steps.

    Args:
        curves: one probe run's validation curve [(step, MAP)] per probe seed, measured densely enough that every
            ``L * k / curve_points`` (k = 1..curve_points) of every candidate is a point (a run of ``L`` steps under
            the study's ``curve_points`` is validated exactly there: :func:`cmlib.studies.whcmt.runs.curve_every`;
            a longer run's first ``L`` steps are the shorter run: constant lr, same seed and batch order).
        candidates: lengths to try, any order.
        curve_points: the profile's ``curve_points``.
        tolerance: the gate's tolerance (the smallest margin among the claims the model enters).
        for_good: the smallest candidate that passes *and every longer candidate passes too* (the curve has
            flattened, not crossed the tolerance once by noise: the second pass's rule in params/whcmt/tuning.yaml).

    Returns:
        (the smallest passing candidate or None, {candidate: gain over the last third of the mean curve}).

    Raises:
        ValueError: a candidate's validation steps are missing from a curve.
    """
    from cmlib.protocol.claims import last_third_gain

    by_step = [{float(s): float(v) for s, v in curve} for curve in curves]
    gains: dict[int, float] = {}
    for length in sorted(candidates):
        at = [length * k / curve_points for k in range(1, curve_points + 1)]
        sub = []
        for points in by_step:
            missing = [a for a in at if a not in points]
            if missing:
                raise ValueError(f"choose_length: length {length} needs validation at steps {at}; the curve lacks "
                                 f"{missing}")
            sub.append([(a, points[a]) for a in at])
        gains[length] = last_third_gain(sub)
    order = sorted(gains)
    passing = [length for i, length in enumerate(order)
               if all(gains[k] <= tolerance for k in (order[i:] if for_good else [length]))]
    return (min(passing) if passing else None), gains


def premise_probe(cfg: Config, knob: str, levels: list[float], seeds: list[int]) -> list[dict]:
    """The world's tag premise (:func:`cmlib.studies.whcmt.data.world_tag_auc`) at each level of the world knob
    ``knob`` (a ``WorldConfig`` field, e.g. ``p_concept_tag``), one replicate per seed (``replicate_config``:
    ``world.seed`` + seed), at ``cfg``'s sizes. No training: world generation and word2vec only.

    Returns:
        rows with knob, level, seed, tag_auc.

    Raises:
        ValueError: ``knob`` is not a field of the world config.
    """
    fields = {f.name for f in dataclasses.fields(cfg.world)}
    if knob not in fields:
        raise ValueError(f"knob: {knob!r} is not a world setting; expected one of {sorted(fields)}")
    rows = []
    for level in levels:
        for seed in seeds:
            rcfg = replicate_config(cfg, seed)
            rcfg = dataclasses.replace(rcfg, world=dataclasses.replace(rcfg.world, **{knob: level}))
            rows.append({"knob": knob, "level": level, "seed": seed, "tag_auc": world_tag_auc(rcfg)})
    return rows


def crossmodal_probe(cfg: Config, variants: dict[str, dict], seeds: list[int], *, bits: int = 8) -> list[dict]:
    """Why does the tag branch carry the loss without shaping the image codes (issue 30 item 3)? Trains each variant
    (``{name: {"method": ..., Config field: value}}``, e.g. ``{"method": "WHCMT", "tag_target_grad": True}``) on
    the validation view of each probe replicate (test split sealed) and measures what the cross-modal diagnostic
    does: validation MAP@K of the image-only codes, of the codes computed with each image's own tags, and the final
    training loss with its terms.

    Returns:
        rows with variant, seed, val_map, val_map_with_own_tags, final_loss, final_terms (the weighted loss terms
        of eqs. 2-4 at the end), saturation, bit_balance, curve.
    """
    rows = []
    for seed in seeds:
        rcfg = replicate_config(cfg, seed)
        data = validation_view(prepare_data(rcfg))
        rcfg, _ = with_pretrained(rcfg, ["WHCMT"])
        for name, spec in variants.items():
            spec = dict(spec)
            method = spec.pop("method", "WHCMT")
            run_cfg = method_config(dataclasses.replace(rcfg, **spec), method)
            seed_everything(seed)
            model = build_model(method, bits, data, run_cfg)
            row = _fit_and_eval(model, method, bits, tuple(run_cfg.lambdas), seed, data, run_cfg)
            rows.append({"variant": name, "seed": seed, "val_map": row["map"],
                         "val_map_with_own_tags": row.get("map_with_own_tags", float("nan")),
                         "final_loss": row["final_loss"], "final_terms": row["final_terms"],
                         "saturation": row["saturation"],
                         "bit_balance": row["bit_balance"], "curve": row["curve"]})
            print(f"{name:28s} seed {seed}: val MAP@K {row['map']:.3f}, with own tags "
                  f"{rows[-1]['val_map_with_own_tags']:.3f}, final loss {row['final_loss']:.3f}", flush=True)
    return rows

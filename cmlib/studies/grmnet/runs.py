"""GRM-Net study runs: training (cached), prediction, scoring, the baselines and the settings chosen on validation.

Training: :func:`cmlib.protocol.engine.fit` with AdamW (the paper's optimiser, Sec. 3.1) at ``cfg.lr``, decayed by a cosine in
the referring trainings (``cfg.referring_schedule``: the paper gives an *initial* rate); the learning rate, schedules and
step counts were chosen on a tuning replicate's validation split (``benchmarks/grmnet.py --tune``, recorded in
``params/grmnet/study.yaml``). The instance detector (plain Mask R-CNN, ``use_language=False``) is trained once per
replicate and every referring variant starts from it; trained weights are cached under ``cache_dir`` keyed by a hash
of what determines them (the replicate seed included), so notebooks 01-03 share one detector and one model per row.

Metrics, both labelled: COCO mask AP / AP50 / AP75 (the paper's, Sec. 3.1) and the SketchyScene per-expression
AP@[.5:.95] (:mod:`cmlib.metrics.refseg`), in percent as in the paper's tables.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cmlib.data.sketchyscene import ReferringExpression, SketchScene
from cmlib.metrics.refseg import coco_mask_ap, sketchyscene_ap
from cmlib.models.grmnet import GRMNet
from cmlib.models.refseg_baselines import BinaryRefSeg, InstanceMatcher, binary_loss, binary_to_instances
from cmlib.protocol.cache import keep_recent, save_atomic, source_text, stable_hash
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.claims import curve_from_history
from cmlib.protocol.config import to_dict
from cmlib.protocol.engine import EvalFn, epoch_batches, fit, on_cpu, seed_everything, to_model_device
from cmlib.protocol.run import cache_key
from cmlib.studies.grmnet.config import Config, variant_of
from cmlib.studies.grmnet.data import (
    Items,
    StudyData,
    build_data,
    collate,
    expression_batches,
    expression_kind,
    image_of,
    model_spec,
    referring_item,
    target_of,
    targets_of,
)
from cmlib.text import tokenize

__all__ = [
    "KINDS",
    "binary_predictions",
    "binary_probabilities",
    "cache_path",
    "choose_threshold",
    "collapsed",
    "detect_scene",
    "fit_main",
    "kind_scores",
    "mask_iou",
    "predict_blind",
    "predict_grmnet",
    "scene_detections",
    "score",
    "train_binary",
    "train_detector",
    "train_referring",
    "train_task",
    "train_two_stage",
    "training_tasks",
    "two_stage_predictions",
    "two_stage_scores",
    "validation_fn",
]

Prediction = dict[str, np.ndarray]
# config fields that never change a trained model (they pick replicates, thresholds or where things go)
_NOT_TRAINING = ("run", "log_every", "examples_dir", "two_stage_thresholds", "binary_thresholds",
                 "kept_score")
# per kind, the settings it does not depend on (the detector is shared by runs of any length; only the binary
# baseline trains at binary_lr)
_OTHER_STEPS = {"detector": ("reference_fraction", "curve_points", "referring_steps", "referring_schedule", "baseline_steps", "binary_lr", "binary_schedule",
                             "matcher_steps", "top_k"),
                "grmnet": ("baseline_steps", "binary_lr", "binary_schedule", "matcher_steps"),
                "binary": ("referring_steps", "referring_schedule", "matcher_steps"),
                "matcher": ("referring_steps", "referring_schedule", "baseline_steps", "binary_lr", "binary_schedule")}


# ------------------------------------------------------------------------------------------------------ training
def _model_code() -> str:
    """Hash of the model code every kind depends on (GRM-Net, its heads, RoIAlign, the baselines) and of the
    optimiser: a change there retrains, which the config alone would not say."""
    from cmlib.models import grmnet, grmnet_heads, refseg_baselines, roi_align

    return stable_hash({"src": source_text(grmnet, grmnet_heads, roi_align, refseg_baselines),
                        "optimizer": "AdamW(fused)", "binary": "channels_last"}, length=12)


def cache_path(cfg: Config, kind: str, **extra: Any) -> Path:
    """``<cache_dir>/<kind>-<hash>.pt``: the hash covers the config fields the model depends on, the model code
    (:func:`_model_code`) and ``extra``."""
    drop = _NOT_TRAINING + _OTHER_STEPS.get(kind, ())
    keep = {k: v for k, v in to_dict(cfg).items() if k not in drop}
    return Path(cfg.run.cache_dir) / f"{kind}-{cache_key(cfg, {'kind': kind, 'cfg': keep, 'code': _model_code(), **extra})}.pt"


def _train_cached(cfg: Config, path: Path, model: nn.Module, loss_fn: Callable, dataset: torch.utils.data.Dataset,
                  steps: int, seed: int, collate_fn: Callable, schedule: str = "constant",
                  eval_fn: EvalFn | None = None) -> dict[str, Any]:
    """Train with :func:`cmlib.protocol.engine.fit` (or load ``path``); returns {steps, s_per_step, final_loss,
    cached, curve}. ``schedule``: ``"constant"`` or ``"cosine"`` (see ``Config.referring_schedule``).

    ``eval_fn`` (model -> {"score": validation COCO AP %, ...}): with ``cfg.curve_points`` > 0 it is called every
    ``steps // curve_points`` steps and ``curve`` is the validation curve ``[(step, score)]`` the convergence gate
    reads (``curves``: every key of ``eval_fn``, e.g. the per-expression-type APs); otherwise ``curve`` is empty."""
    if path.is_file():
        payload = load_cached(path)
        model.load_state_dict(payload["model"])
        curves = payload.get("curves", {})
        return {**{k: float(v) for k, v in payload["info"].items()}, "cached": 1.0,
                "curve": curves.get("score", []), "curves": curves}
    seed_everything(seed)
    # fused: one kernel for all parameters (the same update as the per-parameter loop; ~4 ms a step less on CPU)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    every = max(1, steps // cfg.curve_points) if cfg.curve_points and eval_fn is not None else 0
    fcfg = cfg.run.fit_config(max_steps=steps, seed=seed, log_every=cfg.log_every, eval_every=every)
    batches = epoch_batches(dataset, cfg.batch_size, seed=seed, collate_fn=collate_fn, num_workers=cfg.run.device.num_workers)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if schedule == "cosine" else None
    res = fit(model, opt, loss_fn, batches, fcfg, scheduler=sched, eval_fn=eval_fn if every else None)
    info = {"steps": float(steps), "s_per_step": 1.0 / res.steps_per_s if res.steps_per_s else float("nan"),
            "final_loss": float(next((r["loss"] for r in reversed(res.history) if "loss" in r), float("nan")))}
    keys = sorted({k[5:] for r in res.history for k in r if k.startswith("eval/")})
    curves = {k: curve_from_history(res.history, f"eval/{k}") for k in keys}
    save_atomic({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "info": info,
                 "curves": curves}, path)
    return {**info, "cached": 0.0, "curve": curves.get("score", []), "curves": curves}


def train_detector(cfg: Config, data: StudyData) -> tuple[GRMNet, dict[str, float]]:
    """The replicate's instance detector (plain Mask R-CNN on every instance of the train scenes), cached."""
    seed = data.seed
    seed_everything(seed)
    model = GRMNet(model_spec(cfg, data, use_language=False, top_k=0, use_position=False))
    scenes = sorted({e.scene_key for e in data.train})

    def item(key: int) -> dict[str, Any]:
        s = data.scene("train", key)
        return {"image": image_of(s), "target": target_of(s, range(len(s.instances)), data.categories),
                "tokens": torch.zeros(1, dtype=torch.long), "length": 0}

    def loss(m: nn.Module, b: tuple) -> dict[str, Tensor]:
        return m(b[0], None, None, b[3])

    info = _train_cached(cfg, cache_path(cfg, "detector", seed=seed), model, loss, Items(scenes, item),
                         cfg.detector_steps, seed, collate)
    return model.eval(), info


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the replicate's detector and GRM-Net (Table 2 #7) once with the params' ``run.device`` settings (cached
    like every run): what ``examples/fit_distributed.py`` launches on one GPU or under torchrun."""
    data = build_data(cfg, seed)
    detector, det = train_detector(cfg, data)
    _, grm = train_referring(cfg, data, detector, **variant_of(7))
    return {"model": "GRM-Net #7", "detector_final_loss": det["final_loss"], "final_loss": grm["final_loss"],
            "cached": bool(grm["cached"])}


def train_referring(cfg: Config, data: StudyData, detector: GRMNet, **variant: Any) -> tuple[GRMNet, dict[str, float]]:
    """A GRM-Net variant (Table 2 row via ``variant``) started from the replicate's detector, cached."""
    seed_everything(data.seed)
    model = GRMNet(model_spec(cfg, data, **variant))
    model.load_detector(detector.state_dict())

    def loss(m: nn.Module, b: tuple) -> dict[str, Tensor]:
        images, tokens, lengths, targets = b
        return m(images, tokens, lengths, targets)

    ds = Items(data.train, lambda e: referring_item(data, "train", e, cfg.max_tokens))
    path = cache_path(cfg, "grmnet", seed=data.seed, variant=variant)
    curve = validation_fn(data, lambda m, ex: predict_grmnet(m, data, ex, cfg.max_tokens, "val"))
    info = _train_cached(cfg, path, model, loss, ds, cfg.referring_steps, data.seed, collate,
                         schedule=cfg.referring_schedule, eval_fn=curve)
    return model.eval(), info


KINDS = ("category", "rank", "relational")  # cmlib.studies.grmnet.data.expression_kind


def kind_scores(predictions: list[Prediction], targets: list[Prediction], exprs: Sequence[ReferringExpression],
                prefix: str = "") -> dict[str, float]:
    """COCO mask AP (%) on the expressions of each type (:func:`~cmlib.studies.grmnet.data.expression_kind`:
    category-only, rank among its category, relational), ``{prefix + kind: AP}``; a type absent from ``exprs`` is
    left out. What the global reference mechanism can change lives in the rank and relational types."""
    out = {}
    for kind in KINDS:
        idx = [i for i, e in enumerate(exprs) if expression_kind(e.expression) == kind]
        if idx:
            out[prefix + kind] = 100 * coco_mask_ap([predictions[i] for i in idx], [targets[i] for i in idx])["AP"]
    return out


def validation_fn(data: StudyData, predict: Callable[[nn.Module, list[ReferringExpression]], list[Prediction]]
                  ) -> EvalFn:
    """The validation curve's scorer: model -> {"score": COCO mask AP (%) on the replicate's validation
    expressions, plus the same per expression type (:func:`kind_scores`)}. ``predict(model, exprs)`` gives the
    model's instances for validation expressions (never the test split)."""
    exprs = list(data.val)
    targets = targets_of(data, exprs, "val")

    def fn(model: nn.Module) -> dict[str, float]:
        preds = predict(model, exprs)
        return {"score": 100 * coco_mask_ap(preds, targets)["AP"], **kind_scores(preds, targets, exprs)}

    return fn


# ------------------------------------------------------------------------------------------- every training, parallel
Task = tuple  # ("detector" | "binary" | "matcher", seed) or ("row", seed, Table 2 row)


def training_tasks(cfg: Config) -> tuple[list[Task], dict[Task, list[Task]]]:
    """Every training of the study as tasks, longest kind first, and what each requires (its replicate's detector).

    Per replicate: the detector, then, starting from it, the binary baseline, Table 2 rows #7..#1 and the matcher.
    """
    seeds = list(cfg.run.seeds)
    dets = [("detector", s) for s in seeds]
    rest = [("binary", s) for s in seeds] + [("row", s, r) for s in seeds for r in range(7, 0, -1)] + \
        [("matcher", s) for s in seeds]
    return dets + rest, {t: [("detector", t[1])] for t in rest}


_REPLICATES: dict[Path, tuple[StudyData, GRMNet, dict[str, float]]] = {}


def _replicate(cfg: Config, seed: int) -> tuple[StudyData, GRMNet, dict[str, float]]:
    """(data, detector, detector info) of replicate ``seed``, kept in this process for the next task of the same
    replicate (a worker of :func:`run_tasks` trains several; the two most recent replicates are kept). The tasks only
    read them: each model starts from a copy of the detector's weights."""
    def make() -> tuple[StudyData, GRMNet, dict[str, float]]:
        data = build_data(cfg, seed)
        return (data, *train_detector(cfg, data))

    return keep_recent(_REPLICATES, cache_path(cfg, "detector", seed=seed), make)


def train_task(cfg: Config, task: Task) -> dict[str, float]:
    """Train (or load) one model of :func:`training_tasks`; returns its train info and the task's wall seconds."""
    import time

    t0 = time.perf_counter()
    kind, seed = task[0], task[1]
    data, detector, info = _replicate(cfg, seed)
    if kind == "binary":
        info = train_binary(cfg, data, detector)[1]
    elif kind == "row":
        info = train_referring(cfg, data, detector, **variant_of(task[2]))[1]
    elif kind == "matcher":
        info = train_two_stage(cfg, data, detector)[1]
    elif kind != "detector":
        raise ValueError(f"train_task: unknown task kind {kind!r} in {task!r}")
    return {**info, "wall_s": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_grmnet(model: GRMNet, data: StudyData, exprs: list[ReferringExpression], max_tokens: int,
                   split: str, batch: int = 8) -> list[Prediction]:
    """Instances per expression: {masks (P, H, W) bool (probability > 0.5), scores (P,)}; every detection the
    model keeps (torchvision's box_score_thresh 0.05, Mask R-CNN's default) is ranked by its score."""
    model.eval()
    return [{"masks": (det["masks"][:, 0] > 0.5).numpy(), "scores": det["scores"].numpy()}
            for imgs, tok, ln in expression_batches(data, exprs, max_tokens, split, batch)
            for det in on_cpu(model(*to_model_device(model, (imgs, tok, ln))))]


def predict_blind(dets: Callable[[str, int], dict[str, Tensor]], exprs: list[ReferringExpression],
                  split: str) -> list[Prediction]:
    """The language-blind chance level: every instance the detector finds in the scene, whatever the expression,
    ranked by detection score. A referring model that does not beat it has not used the expression."""
    return [{"masks": dets(split, e.scene_key)["masks"].numpy(), "scores": dets(split, e.scene_key)["scores"].numpy()}
            for e in exprs]


def score(predictions: list[Prediction], targets: list[Prediction]) -> dict[str, float]:
    """Both AP flavours in percent: COCO mask AP / AP50 / AP75 (the paper's) and SketchyScene per-expression AP."""
    if not predictions:
        raise ValueError("score: no predictions (an empty expression subset)")
    coco = coco_mask_ap(predictions, targets)
    return {"coco_AP": 100 * coco["AP"], "coco_AP50": 100 * coco["AP50"], "coco_AP75": 100 * coco["AP75"],
            "sketchyscene_AP": 100 * sketchyscene_ap(predictions, targets, empty_target="skip")}


def collapsed(predictions: list[Prediction], exprs: list[ReferringExpression]) -> bool:
    """True when the outputs collapsed: no instance for any expression, or, in every scene with several
    expressions, the very same output (masks *and* their scores, i.e. the same ranked list) whatever the expression
    (the language is ignored). Keeping every detection but ranking it by the expression is not a collapse."""
    if all(len(p["masks"]) == 0 for p in predictions):
        return True
    by_scene: dict[int, set[bytes]] = {}
    for p, e in zip(predictions, exprs, strict=True):
        key = np.packbits(p["masks"]).tobytes() + repr(p["masks"].shape).encode() + \
            np.round(np.asarray(p["scores"], dtype=float), 4).tobytes()
        by_scene.setdefault(e.scene_key, set()).add(key)
    multi = [v for k, v in by_scene.items() if sum(e.scene_key == k for e in exprs) > 1]
    return bool(multi) and all(len(v) == 1 for v in multi)


def choose_threshold(grid: Sequence[float], val_score: Callable[[float], float]) -> tuple[float, dict[float, float]]:
    """The grid value with the best validation score (ties: the smaller one) and every value's score."""
    scores = {float(t): float(val_score(t)) for t in grid}
    best = max(sorted(scores), key=lambda t: (scores[t], -t))
    return best, scores


# ------------------------------------------------------------------------------------------------------ baselines
def train_binary(cfg: Config, data: StudyData, detector: GRMNet) -> tuple[BinaryRefSeg, dict[str, float]]:
    """Binary referring segmentation baseline (one merged mask), its backbone started from the replicate's
    detector (the same pre-trained backbone as GRM-Net), trained on the merged masks (Sec. 3.2.1)."""
    seed_everything(data.seed)
    model = BinaryRefSeg(model_spec(cfg, data))
    model.load_detector_backbone(detector.state_dict())
    # channels-last convolutions: the same model, ~20% less time a step on CPU (measured side by side on the study
    # sizes, 0.045 against 0.057 s); GRM-Net's own step gained nothing from it, so only this FCN uses it
    model = model.to(memory_format=torch.channels_last)

    def loss(m: nn.Module, b: tuple) -> dict[str, Tensor]:
        images, tokens, lengths, targets = b
        merged = torch.stack([t["masks"].amax(0) if len(t["masks"]) else torch.zeros_like(images[0][0])
                              for t in targets])
        x = torch.stack(images).contiguous(memory_format=torch.channels_last)
        return binary_loss(m(x, tokens, lengths), merged)

    ds = Items(data.train, lambda e: referring_item(data, "train", e, cfg.max_tokens))
    path = cache_path(cfg, "binary", seed=data.seed)
    train_cfg = cfg if cfg.binary_lr is None else dataclasses.replace(cfg, lr=cfg.binary_lr)
    # its curve at the middle threshold of the grid (the one the study picks is chosen after training)
    mid = sorted(cfg.binary_thresholds)[len(cfg.binary_thresholds) // 2]
    curve = validation_fn(data, lambda m, ex: binary_predictions(
        binary_probabilities(m, data, ex, cfg.max_tokens, "val"), mid))
    info = _train_cached(train_cfg, path, model, loss, ds, cfg.baseline_steps, data.seed, collate,
                         schedule=cfg.binary_schedule, eval_fn=curve)
    return model.eval(), info


@torch.no_grad()
def binary_probabilities(model: BinaryRefSeg, data: StudyData, exprs: list[ReferringExpression], max_tokens: int,
                         split: str, batch: int = 8) -> list[Tensor]:
    """The merged-mask probability map (H, W) per expression."""
    model.eval()
    return [prob for imgs, tok, ln in expression_batches(data, exprs, max_tokens, split, batch)
            for prob in on_cpu(torch.sigmoid(model(*to_model_device(model, (torch.stack(imgs), tok, ln))))[:, 0])]


def binary_predictions(probs: list[Tensor], threshold: float) -> list[Prediction]:
    """Each merged mask (prob >= threshold * max prob, never empty) as one instance, as the paper scores them."""
    out = []
    for prob in probs:
        m, s = binary_to_instances(prob, threshold, relative=True)
        out.append({"masks": m.numpy(), "scores": s.numpy()})
    return out


@torch.no_grad()
def detect_scene(detector: GRMNet, scene: SketchScene) -> dict[str, Tensor]:
    """Stage 1 of the two-stage baseline: every instance, with pooled RoI features (P, C) and position (P, 5)."""
    from cmlib.models.grmnet_heads import absolute_position

    image = to_model_device(detector, image_of(scene))
    det = detector([image])[0]
    il, _ = detector.transform([image])
    feats = detector.backbone(il.tensors)
    pooled = detector.roi_heads.box_roi_pool(feats, [det["boxes"]], il.image_sizes).mean(dim=(2, 3))
    return on_cpu({**det, "masks": det["masks"][:, 0] > 0.5, "feat": pooled,
                   "pos": absolute_position(det["boxes"], scene.image.shape)})


def scene_detections(detector: GRMNet, data: StudyData) -> Callable[[str, int], dict[str, Tensor]]:
    """A lookup (split, scene key) -> :func:`detect_scene`'s output, each scene detected once, when first asked:
    the two-stage baseline's stage 1 and, through :func:`predict_blind`, the language-blind level."""
    detections: dict[tuple[str, int], dict[str, Tensor]] = {}

    def dets(split: str, key: int) -> dict[str, Tensor]:
        if (split, key) not in detections:
            detections[(split, key)] = detect_scene(detector, data.scene(split, key))
        return detections[(split, key)]

    return dets


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU matrix (A, B) of boolean masks a (A, H, W) and b (B, H, W)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1.0)


def _matcher_batch(ds: list[dict[str, Tensor]], tokens: list[Tensor], lengths: list[int],
                   ys: list[Tensor] | None = None) -> dict[str, Tensor]:
    owner = torch.cat([torch.full((len(d["boxes"]),), i, dtype=torch.long) for i, d in enumerate(ds)])
    out = {"feat": torch.cat([d["feat"] for d in ds]), "labels": torch.cat([d["labels"] for d in ds]),
           "scores": torch.cat([d["scores"] for d in ds]), "pos": torch.cat([d["pos"] for d in ds]), "owner": owner,
           "tokens": torch.stack(tokens), "lengths": torch.tensor(lengths, dtype=torch.long)}
    if ys is not None:
        out["y"] = torch.cat(ys)
    return out


def _match_logits(m: InstanceMatcher, b: dict[str, Tensor]) -> Tensor:
    return m(b["feat"], b["labels"], b["scores"], b["pos"], b["owner"], b["tokens"], b["lengths"])


def train_two_stage(cfg: Config, data: StudyData, detector: GRMNet
                    ) -> tuple[InstanceMatcher, dict[str, float], Callable[[str, int], dict[str, Tensor]]]:
    """Two-stage baseline in the spirit of Zou et al. 2019: frozen detector, then an instance-expression matcher.

    Returns (matcher, train info, detections lookup (split, key) -> stage-1 output, cached per scene; the same
    lookup gives the language-blind chance level, :func:`predict_blind`).
    """
    dets = scene_detections(detector, data)
    seed_everything(data.seed)
    matcher = InstanceMatcher(model_spec(cfg, data), detector.backbone.out_channels)

    def item(e: ReferringExpression) -> dict[str, Any]:
        d = dets("train", e.scene_key)
        tgt = target_of(data.scene("train", e.scene_key), e.instance_indices, data.categories)["masks"].bool()
        y = (mask_iou(d["masks"], tgt).amax(1) >= 0.5).float() if len(tgt) and len(d["masks"]) else \
            torch.zeros(len(d["masks"]))
        ids, n = data.vocab.encode(tokenize(e.expression), cfg.max_tokens)
        return {"d": d, "y": y, "tokens": ids, "length": n}

    def coll(items: list[dict[str, Any]]) -> dict[str, Tensor]:
        return _matcher_batch([it["d"] for it in items], [it["tokens"] for it in items],
                              [it["length"] for it in items], [it["y"] for it in items])

    def loss(m: nn.Module, b: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = _match_logits(m, b)
        if logits.numel() == 0:  # no detection in any scene of the batch: a zero loss that keeps the graph
            return {"bce": sum(p.sum() for p in m.parameters()) * 0.0}
        return {"bce": nn.functional.binary_cross_entropy_with_logits(logits, b["y"])}

    # its curve keeps every detection (threshold 0), ranked by match probability x detection score
    curve = validation_fn(data, lambda m, ex: two_stage_predictions(
        two_stage_scores(m, dets, data, ex, cfg.max_tokens, "val"), 0.0))
    info = _train_cached(cfg, cache_path(cfg, "matcher", seed=data.seed), matcher, loss, Items(data.train, item),
                         cfg.matcher_steps, data.seed, coll, eval_fn=curve)
    return matcher.eval(), info, dets


@torch.no_grad()
def two_stage_scores(matcher: InstanceMatcher, dets: Callable, data: StudyData, exprs: list[ReferringExpression],
                     max_tokens: int, split: str) -> list[dict[str, np.ndarray]]:
    """Per expression: the detected masks (P, H, W), their match probabilities p (P,) and detection scores (P,)."""
    out = []
    for e in exprs:
        d = dets(split, e.scene_key)
        ids, n = data.vocab.encode(tokenize(e.expression), max_tokens)
        p = on_cpu(torch.sigmoid(_match_logits(matcher, to_model_device(matcher, _matcher_batch([d], [ids], [n])))))
        out.append({"masks": d["masks"].numpy(), "p": p.numpy(), "det": d["scores"].numpy()})
    return out


def two_stage_predictions(scored: list[dict[str, np.ndarray]], threshold: float) -> list[Prediction]:
    """Keep the instances whose match probability exceeds ``threshold`` (0: all of them), ranked by p x detection
    score (the same ranking GRM-Net's detections get from their class scores)."""
    return [{"masks": s["masks"][s["p"] > threshold], "scores": (s["p"] * s["det"])[s["p"] > threshold]}
            for s in scored]

"""GRM-Net study glue (Ling, Mo, Gao 2022): data, training, evaluation and the Table 1 / Table 2 / Fig. 5 runs.

Data: the embedded sketch world (:mod:`cmlib.data.worlds.grmnet`) or, with ``data_root`` / ``matching_dir`` set,
SketchyScene-7k + SketchyScene-MATCHING resized to ``canvas`` (512 in the paper's code). The instance detector
(plain Mask R-CNN, ``use_language=False``) is trained once per config and every referring variant starts from it;
trained weights are cached under ``cache_dir`` keyed by a hash of everything that determines them.
Metrics, both labelled: the SketchyScene per-expression AP@[.5:.95] and COCO mask AP / AP50 / AP75
(:mod:`cmlib.metrics.refseg`), in percent as in the paper's tables.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from cmlib.cache import load as load_cached
from cmlib.cache import save_atomic, stable_hash
from cmlib.config import check_range, path_field, to_dict
from cmlib.data.sketchyscene import (
    ReferringExpression,
    SketchScene,
    load_categories,
    load_expressions,
    load_scene,
    load_vocab_words,
)
from cmlib.data.worlds.grmnet import WorldSpec, make_world
from cmlib.engine import FitConfig, epoch_batches, fit, seed_everything
from cmlib.metrics.refseg import coco_mask_ap, sketchyscene_ap
from cmlib.models.grmnet import GRMNet, GRMNetSpec
from cmlib.models.refseg_baselines import BinaryRefSeg, InstanceMatcher, binary_loss, binary_to_instances
from cmlib.text import Vocabulary, tokenize

# Table 2 of the paper: (row, manner, position info, K, dim).
ABLATION_ROWS: tuple[tuple[int, str, bool, int, int], ...] = (
    (1, "distance", True, 10, 5), (2, "consistency", False, 0, 5), (3, "consistency", True, 0, 5),
    (4, "consistency", True, 5, 5), (5, "consistency", True, 20, 5), (6, "consistency", True, 10, 3),
    (7, "consistency", True, 10, 5),
)


@dataclass
class ModelConfig:
    """Detector sizes (defaults: CPU smoke; the paper profile sets ResNet-FPN and torchvision's default sizes)."""

    backbone: Literal["tiny", "resnet18", "resnet50", "resnet101"] = "tiny"
    channels: int = 32
    embed_dim: int = 32
    lstm_hidden: int = 64
    rpn_pre_nms_top_n: int = 200
    rpn_post_nms_top_n: int = 60
    rpn_batch_size_per_image: int = 128
    box_batch_size_per_image: int = 64
    representation_size: int = 256
    mask_layers: list[int] = field(default_factory=lambda: [32, 32])
    detections_per_img: int = 20


@dataclass
class Config:
    """GRM-Net study config; the defaults are the smoke profile (seconds on 2 CPU cores)."""

    seeds: list[int] = field(default_factory=lambda: [0])
    canvas: int = 128
    n_train_scenes: int = 32
    n_test_scenes: int = 6
    min_objects: int = 5
    max_objects: int = 8
    expressions_per_scene: int = 4
    max_tokens: int = 15
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    detector_steps: int = 25
    referring_steps: int = 12
    baseline_steps: int = 12
    matcher_steps: int = 40
    top_k: int = 10
    model: ModelConfig = field(default_factory=ModelConfig)
    fit: FitConfig = field(default_factory=lambda: FitConfig(max_steps=1, log_every=10))
    num_threads: int = 1
    cache_dir: str = ".cache/grmnet"
    examples_dir: str = "../shared/datasets/sketchyscene"
    data_root: Path | None = path_field(layout="<root>/{train,test}/{DRAWING_GT,CLASS_GT,INSTANCE_GT}/")
    matching_dir: Path | None = path_field(layout="<dir>/sentence_instance_{train,test}.json + vocab.txt")

    def __post_init__(self) -> None:
        check_range("canvas", self.canvas, lo=64)
        check_range("n_train_scenes", self.n_train_scenes, lo=self.batch_size)
        check_range("n_test_scenes", self.n_test_scenes, lo=1)
        check_range("lr", self.lr, lo=0.0)
        check_range("top_k", self.top_k, lo=0)
        for name in ("detector_steps", "referring_steps", "baseline_steps", "matcher_steps"):
            check_range(name, getattr(self, name), lo=1)
        if (self.data_root is None) != (self.matching_dir is None):
            raise ValueError("data_root and matching_dir: set both (real SketchyScene) or neither (the world)")


def setup(cfg: Config) -> None:
    """Process settings for a notebook: torch intra-op threads (1 by default: on the shared 2-core machine a
    training step of the CPU detector took 0.23 s single-threaded against 2-8 s with 2 threads, measured)."""
    torch.set_num_threads(cfg.num_threads)


@dataclass
class StudyData:
    """Train / test expressions, a scene lookup, the vocabulary and the category names (class id = index + 1)."""

    train: list[ReferringExpression]
    test: list[ReferringExpression]
    scene: Callable[[str, int], SketchScene]
    vocab: Vocabulary
    categories: list[str]


def build_data(cfg: Config) -> StudyData:
    """The world (default) or real SketchyScene-7k + MATCHING (``data_root`` and ``matching_dir`` set)."""
    if cfg.data_root is None:
        spec = WorldSpec(cfg.canvas, cfg.min_objects, cfg.max_objects, cfg.expressions_per_scene)
        worlds = {"train": make_world(cfg.n_train_scenes, spec, seed=0, split="train"),
                  "test": make_world(cfg.n_test_scenes, spec, seed=0, split="test")}
        vocab = Vocabulary.build([tokenize(e.expression) for e in worlds["train"].expressions])
        return StudyData(list(worlds["train"].expressions), list(worlds["test"].expressions),
                         lambda split, key: worlds[split].scenes[key], vocab, list(worlds["train"].categories))
    root = Path(cfg.data_root)
    categories = load_categories(Path(cfg.examples_dir) / "colorMapC46.mat")
    vocab = Vocabulary.from_tokens(load_vocab_words(Path(cfg.matching_dir) / "vocab.txt"))
    cache: dict[tuple[str, int], SketchScene] = {}

    def scene(split: str, key: int) -> SketchScene:
        if (split, key) not in cache:
            cache[(split, key)] = resize_scene(load_scene(root, split, key, categories), cfg.canvas)
        return cache[(split, key)]

    return StudyData(load_expressions(cfg.matching_dir, "train"), load_expressions(cfg.matching_dir, "test"),
                     scene, vocab, categories)


def resize_scene(scene: SketchScene, size: int) -> SketchScene:
    """Resize a (750 px) scene to ``size``: ink kept by a box filter + threshold, masks by nearest neighbour."""
    from PIL import Image

    from cmlib.data.sketchyscene import SketchInstance, box_of

    if scene.image.shape[0] == size:
        return scene
    grey = np.array(Image.fromarray(scene.image).resize((size, size), Image.BOX))
    image = np.where(grey < 245, 0, 255).astype(np.uint8)
    inst = []
    for i in scene.instances:
        m = np.array(Image.fromarray(i.mask.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 0
        inst.append(SketchInstance(i.category, box_of(m), m))
    return SketchScene(scene.key, image, tuple(inst))


def model_spec(cfg: Config, data: StudyData, **variant: Any) -> GRMNetSpec:
    """GRMNetSpec from the config (sizes) and a GRM variant (top_k, manner, delta_dim, use_position, use_language)."""
    m = cfg.model
    s = cfg.canvas / 128
    return GRMNetSpec(
        num_classes=len(data.categories) + 1, vocab_size=len(data.vocab), backbone=m.backbone, channels=m.channels,
        canvas=cfg.canvas, anchor_sizes=tuple(tuple(int(round(a * s)) for a in lv) for lv in ((8, 12), (16, 24), (32, 48))),
        embed_dim=m.embed_dim, lstm_hidden=m.lstm_hidden, rpn_pre_nms_top_n_train=m.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_train=m.rpn_post_nms_top_n, rpn_pre_nms_top_n_test=m.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_test=m.rpn_post_nms_top_n, rpn_batch_size_per_image=m.rpn_batch_size_per_image,
        box_batch_size_per_image=m.box_batch_size_per_image, representation_size=m.representation_size,
        mask_layers=tuple(m.mask_layers), detections_per_img=m.detections_per_img,
        **{"top_k": cfg.top_k, **variant})


# ----------------------------------------------------------------------------------------------------------- batches
def _image(scene: SketchScene) -> Tensor:
    return torch.from_numpy(scene.image).float().div(255.0).expand(3, -1, -1)


def _target(scene: SketchScene, indices: tuple[int, ...] | range, categories: list[str]) -> dict[str, Tensor]:
    """torchvision target {boxes (N, 4), labels (N,), masks (N, H, W) uint8} of the given instances."""
    bad = [i for i in indices if not 0 <= i < len(scene.instances)]
    if bad:
        raise ValueError(f"scene {scene.key}: instance indices {bad} out of range (it has {len(scene.instances)})")
    inst = [scene.instances[i] for i in indices]
    h, w = scene.image.shape
    masks = np.stack([i.mask for i in inst]) if inst else np.zeros((0, h, w), dtype=bool)
    return {"boxes": torch.tensor([i.box for i in inst], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([categories.index(i.category) + 1 for i in inst], dtype=torch.long),
            "masks": torch.from_numpy(masks.astype(np.uint8))}


class _Items(torch.utils.data.Dataset):
    def __init__(self, items: list[Any], make: Callable[[Any], Any]) -> None:
        self.items, self.make = items, make

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.make(self.items[i])


def referring_item(data: StudyData, split: str, e: ReferringExpression, max_tokens: int) -> dict[str, Any]:
    """One training/eval item: image (3, H, W), target of the referred instances, token ids and length."""
    scene = data.scene(split, e.scene_key)
    ids, n = data.vocab.encode(tokenize(e.expression), max_tokens)
    return {"image": _image(scene), "target": _target(scene, e.instance_indices, data.categories),
            "tokens": ids, "length": n}


def collate(items: list[dict[str, Any]]) -> tuple[list[Tensor], Tensor, Tensor, list[dict[str, Tensor]]]:
    """Items -> (images, tokens (B, T), lengths (B,), targets)."""
    return ([it["image"] for it in items], torch.stack([it["tokens"] for it in items]),
            torch.tensor([it["length"] for it in items], dtype=torch.long), [it["target"] for it in items])


def _detection_loss(model: nn.Module, batch: tuple) -> dict[str, Tensor]:
    images, tokens, lengths, targets = batch
    return model(images, tokens, lengths, targets)


# ------------------------------------------------------------------------------------------------------ training
def _cache_path(cfg: Config, kind: str, **extra: Any) -> Path:
    keep = {k: v for k, v in to_dict(cfg).items() if k not in ("seeds", "cache_dir", "examples_dir", "fit")}
    return Path(cfg.cache_dir) / f"{kind}-{stable_hash({'kind': kind, 'cfg': keep, **extra})}.pt"


def _train_cached(cfg: Config, path: Path, model: nn.Module, loss_fn: Callable, dataset: torch.utils.data.Dataset,
                  steps: int, seed: int, collate_fn: Callable, params: Any = None) -> dict[str, float]:
    """Train with :func:`cmlib.engine.fit` (or load ``path``); returns {steps, s_per_step, final_loss, cached}."""
    if path.is_file():
        payload = load_cached(path)
        model.load_state_dict(payload["model"])
        return {**{k: float(v) for k, v in payload["info"].items()}, "cached": 1.0}
    seed_everything(seed)
    opt = torch.optim.AdamW(params if params is not None else model.parameters(), lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    fcfg = dataclasses.replace(cfg.fit, max_steps=steps, seed=seed, checkpoint_dir=None, resume=False)
    res = fit(model, opt, loss_fn, epoch_batches(dataset, cfg.batch_size, seed=seed, collate_fn=collate_fn), fcfg)
    info = {"steps": float(steps), "s_per_step": 1.0 / res.steps_per_s if res.steps_per_s else float("nan"),
            "final_loss": float(res.history[-1]["loss"]) if res.history else float("nan")}
    save_atomic({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "info": info}, path)
    return {**info, "cached": 0.0}


def train_detector(cfg: Config, data: StudyData) -> tuple[GRMNet, dict[str, float]]:
    """The world's instance detector (plain Mask R-CNN on every instance), trained once per config."""
    seed_everything(cfg.seeds[0])
    model = GRMNet(model_spec(cfg, data, use_language=False, top_k=0, use_position=False))
    scenes = sorted({e.scene_key for e in data.train})

    def item(key: int) -> dict[str, Any]:
        s = data.scene("train", key)
        return {"image": _image(s), "target": _target(s, range(len(s.instances)), data.categories),
                "tokens": torch.zeros(1, dtype=torch.long), "length": 0}

    def loss(m: nn.Module, b: tuple) -> dict[str, Tensor]:
        return m(b[0], None, None, b[3])

    info = _train_cached(cfg, _cache_path(cfg, "detector", seed=cfg.seeds[0]), model, loss, _Items(scenes, item),
                         cfg.detector_steps, cfg.seeds[0], collate)
    return model.eval(), info


def train_referring(cfg: Config, data: StudyData, detector: GRMNet, seed: int,
                    **variant: Any) -> tuple[GRMNet, dict[str, float]]:
    """A GRM-Net variant started from the detector checkpoint (Table 2 variants via ``variant``)."""
    seed_everything(seed)
    model = GRMNet(model_spec(cfg, data, **variant))
    model.load_detector(detector.state_dict())
    ds = _Items(data.train, lambda e: referring_item(data, "train", e, cfg.max_tokens))
    path = _cache_path(cfg, "grmnet", seed=seed, variant=variant)
    info = _train_cached(cfg, path, model, _detection_loss, ds, cfg.referring_steps, seed, collate)
    return model.eval(), info


# ---------------------------------------------------------------------------------------------------- evaluation
def targets_of(data: StudyData, exprs: list[ReferringExpression], split: str = "test") -> list[dict[str, np.ndarray]]:
    """Ground truth for the metrics: one {masks (G, H, W) bool} per expression."""
    out = []
    for e in exprs:
        s = data.scene(split, e.scene_key)
        out.append({"masks": _target(s, e.instance_indices, data.categories)["masks"].numpy().astype(bool)})
    return out


def _expression_batches(data: StudyData, exprs: list[ReferringExpression], max_tokens: int, split: str,
                        batch: int) -> Iterator[tuple[list[Tensor], Tensor, Tensor]]:
    """(images, tokens (B, T), lengths (B,)) of consecutive batches of expressions, in order."""
    for i in range(0, len(exprs), batch):
        imgs, tok, ln, _ = collate([referring_item(data, split, e, max_tokens) for e in exprs[i:i + batch]])
        yield imgs, tok, ln


@torch.no_grad()
def predict_grmnet(model: GRMNet, data: StudyData, exprs: list[ReferringExpression], max_tokens: int,
                   split: str = "test", batch: int = 8) -> list[dict[str, np.ndarray]]:
    """Instances per expression: {masks (P, H, W) bool (probability > 0.5), scores (P,)}."""
    model.eval()
    return [{"masks": (det["masks"][:, 0] > 0.5).numpy(), "scores": det["scores"].numpy()}
            for imgs, tok, ln in _expression_batches(data, exprs, max_tokens, split, batch)
            for det in model(imgs, tok, ln)]


def score(predictions: list[dict[str, np.ndarray]], targets: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Both AP flavours in percent: SketchyScene per-expression AP@[.5:.95] and COCO mask AP / AP50 / AP75."""
    coco = coco_mask_ap(predictions, targets)
    return {"sketchyscene_AP": 100 * sketchyscene_ap(predictions, targets, empty_target="skip"),
            "coco_AP": 100 * coco["AP"], "coco_AP50": 100 * coco["AP50"], "coco_AP75": 100 * coco["AP75"]}


# ------------------------------------------------------------------------------------------------------ baselines
def train_binary(cfg: Config, data: StudyData, detector: GRMNet, seed: int) -> tuple[BinaryRefSeg, dict[str, float]]:
    """Binary referring segmentation baseline (one merged mask), its backbone started from the detector's."""
    seed_everything(seed)
    model = BinaryRefSeg(model_spec(cfg, data))
    model.load_detector_backbone(detector.state_dict())

    def loss(m: nn.Module, b: tuple) -> dict[str, Tensor]:
        images, tokens, lengths, targets = b
        merged = torch.stack([t["masks"].amax(0) if len(t["masks"]) else torch.zeros_like(images[0][0])
                              for t in targets])
        return binary_loss(m(torch.stack(images), tokens, lengths), merged)

    ds = _Items(data.train, lambda e: referring_item(data, "train", e, cfg.max_tokens))
    info = _train_cached(cfg, _cache_path(cfg, "binary", seed=seed), model, loss, ds, cfg.baseline_steps, seed, collate)
    return model.eval(), info


@torch.no_grad()
def predict_binary(model: BinaryRefSeg, data: StudyData, exprs: list[ReferringExpression], max_tokens: int,
                   split: str = "test", batch: int = 8) -> list[dict[str, np.ndarray]]:
    """The merged mask as one instance per expression (scored by its mean probability)."""
    model.eval()
    out = []
    for imgs, tok, ln in _expression_batches(data, exprs, max_tokens, split, batch):
        for prob in torch.sigmoid(model(torch.stack(imgs), tok, ln))[:, 0]:
            m, s = binary_to_instances(prob)
            out.append({"masks": m.numpy(), "scores": s.numpy()})
    return out


@torch.no_grad()
def detect_scene(detector: GRMNet, scene: SketchScene) -> dict[str, Tensor]:
    """Stage 1 of the two-stage baseline: every instance, with pooled RoI features (P, C) and position (P, 5)."""
    from cmlib.models.grmnet_heads import absolute_position

    det = detector([_image(scene)])[0]
    il, _ = detector.transform([_image(scene)])
    feats = detector.backbone(il.tensors)
    pooled = detector.roi_heads.box_roi_pool(feats, [det["boxes"]], il.image_sizes).mean(dim=(2, 3))
    return {**det, "masks": det["masks"][:, 0] > 0.5, "feat": pooled,
            "pos": absolute_position(det["boxes"], scene.image.shape)}


def _mask_iou(a: Tensor, b: Tensor) -> Tensor:
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1.0)


def train_two_stage(cfg: Config, data: StudyData, detector: GRMNet, seed: int
                    ) -> tuple[InstanceMatcher, dict[str, float], Callable]:
    """Two-stage baseline in the spirit of Zou et al. 2019: frozen detector, then an instance-expression matcher.

    Returns (matcher, train info, detections lookup (split, key) -> stage-1 output, cached per scene).
    """
    detections: dict[tuple[str, int], dict[str, Tensor]] = {}

    def dets(split: str, key: int) -> dict[str, Tensor]:
        if (split, key) not in detections:
            detections[(split, key)] = detect_scene(detector, data.scene(split, key))
        return detections[(split, key)]

    seed_everything(seed)
    matcher = InstanceMatcher(model_spec(cfg, data), detector.backbone.out_channels)

    def item(e: ReferringExpression) -> dict[str, Any]:
        d = dets("train", e.scene_key)
        tgt = _target(data.scene("train", e.scene_key), e.instance_indices, data.categories)["masks"].bool()
        y = (_mask_iou(d["masks"], tgt).amax(1) >= 0.5).float() if len(tgt) and len(d["masks"]) else \
            torch.zeros(len(d["masks"]))
        ids, n = data.vocab.encode(tokenize(e.expression), cfg.max_tokens)
        return {"d": d, "y": y, "tokens": ids, "length": n}

    def coll(items: list[dict[str, Any]]) -> dict[str, Tensor]:
        return _matcher_batch([it["d"] for it in items], [it["tokens"] for it in items],
                              [it["length"] for it in items], [it["y"] for it in items])

    def loss(m: nn.Module, b: dict[str, Tensor]) -> dict[str, Tensor]:
        logits = m(b["feat"], b["labels"], b["scores"], b["pos"], b["owner"], b["tokens"], b["lengths"])
        if logits.numel() == 0:  # no detection in any scene of the batch: a zero loss that keeps the graph
            return {"bce": sum(p.sum() for p in m.parameters()) * 0.0}
        return {"bce": nn.functional.binary_cross_entropy_with_logits(logits, b["y"])}

    info = _train_cached(cfg, _cache_path(cfg, "matcher", seed=seed), matcher, loss, _Items(data.train, item),
                         cfg.matcher_steps, seed, coll)
    return matcher.eval(), info, dets


def _matcher_batch(ds: list[dict[str, Tensor]], tokens: list[Tensor], lengths: list[int],
                   ys: list[Tensor] | None = None) -> dict[str, Tensor]:
    owner = torch.cat([torch.full((len(d["boxes"]),), i, dtype=torch.long) for i, d in enumerate(ds)])
    out = {"feat": torch.cat([d["feat"] for d in ds]), "labels": torch.cat([d["labels"] for d in ds]),
           "scores": torch.cat([d["scores"] for d in ds]), "pos": torch.cat([d["pos"] for d in ds]), "owner": owner,
           "tokens": torch.stack(tokens), "lengths": torch.tensor(lengths, dtype=torch.long)}
    if ys is not None:
        out["y"] = torch.cat(ys)
    return out


@torch.no_grad()
def predict_two_stage(matcher: InstanceMatcher, dets: Callable, data: StudyData, exprs: list[ReferringExpression],
                      max_tokens: int, split: str = "test") -> list[dict[str, np.ndarray]]:
    """Keep the detected instances whose match probability exceeds 0.5; score = match prob x detection score."""
    out = []
    for e in exprs:
        d = dets(split, e.scene_key)
        ids, n = data.vocab.encode(tokenize(e.expression), max_tokens)
        b = _matcher_batch([d], [ids], [n])
        p = torch.sigmoid(matcher(b["feat"], b["labels"], b["scores"], b["pos"], b["owner"], b["tokens"],
                                  b["lengths"]))
        keep = p > 0.5
        out.append({"masks": d["masks"][keep].numpy(), "scores": (p * d["scores"])[keep].numpy()})
    return out


# ------------------------------------------------------------------------------------------------------- tables
def variant_of(row: int) -> dict[str, Any]:
    """Table 2 row -> GRMNetSpec overrides."""
    for r, manner, pos, k, dim in ABLATION_ROWS:
        if r == row:
            return {"manner": manner, "use_position": pos, "top_k": k, "delta_dim": dim}
    raise ValueError(f"Table 2 has rows 1-7, got {row}")


def run_table1(cfg: Config, data: StudyData, detector: GRMNet) -> list[dict[str, Any]]:
    """Table 1 on the test expressions, per seed: binary baseline, two-stage baseline, GRM-Net (K=top_k)."""
    tg = targets_of(data, data.test)
    rows = []
    for seed in cfg.seeds:
        binary, ib = train_binary(cfg, data, detector, seed)
        rows.append({"seed": seed, "task": "standard", "method": "binary FCN (merged mask)",
                     **score(predict_binary(binary, data, data.test, cfg.max_tokens), tg), "s_per_step": ib["s_per_step"]})
        matcher, im, dets = train_two_stage(cfg, data, detector, seed)
        rows.append({"seed": seed, "task": "multi-instance", "method": "two-stage (Zou et al. spirit)",
                     **score(predict_two_stage(matcher, dets, data, data.test, cfg.max_tokens), tg),
                     "s_per_step": im["s_per_step"]})
        model, ig = train_referring(cfg, data, detector, seed, **variant_of(7))
        rows.append({"seed": seed, "task": "multi-instance", "method": "GRM-Net",
                     **score(predict_grmnet(model, data, data.test, cfg.max_tokens), tg), "s_per_step": ig["s_per_step"]})
    return rows


def run_table2(cfg: Config, data: StudyData, detector: GRMNet, rows: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
               ) -> list[dict[str, Any]]:
    """Table 2 ablation rows on the test expressions, per seed."""
    tg = targets_of(data, data.test)
    out = []
    for seed in cfg.seeds:
        for row in rows:
            v = variant_of(row)
            model, info = train_referring(cfg, data, detector, seed, **v)
            out.append({"seed": seed, "row": row, "manner": v["manner"], "pos_info": v["use_position"],
                        "K": v["top_k"], "dim": v["delta_dim"] if v["top_k"] else "-",
                        **score(predict_grmnet(model, data, data.test, cfg.max_tokens), tg),
                        "s_per_step": info["s_per_step"]})
    return out


def paired(rows: list[dict[str, Any]], key: str, a: Any, b: Any, metric: str = "coco_AP") -> list[float]:
    """Per-seed differences metric(a) - metric(b) between rows selected by ``key``."""
    by = {(r["seed"], r[key]): r[metric] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    return [by[(s, a)] - by[(s, b)] for s in seeds]


def mean_table(rows: list[dict[str, Any]], by: list[str]) -> Any:
    """Mean over seeds of the metric columns, grouped by ``by`` (a pandas DataFrame)."""
    import pandas as pd

    cols = ["sketchyscene_AP", "coco_AP", "coco_AP50", "coco_AP75"]
    return pd.DataFrame(rows).groupby(by, sort=False)[cols].mean().reset_index()


def world_summary(data: StudyData) -> dict[str, float]:
    """Sizes of the data: scenes, expressions, multi-instance share, instances per scene."""
    def stats(exprs: list[ReferringExpression], split: str) -> dict[str, float]:
        keys = sorted({e.scene_key for e in exprs})
        return {f"{split}_scenes": len(keys), f"{split}_expressions": len(exprs),
                f"{split}_multi_fraction": float(np.mean([len(e.instance_indices) > 1 for e in exprs])),
                f"{split}_instances_per_scene": float(np.mean([len(data.scene(split, k).instances) for k in keys]))}
    return {**stats(data.train, "train"), **stats(data.test, "test"), "vocab": len(data.vocab)}


def timed(fn: Callable, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(fn(*args, **kwargs), wall seconds)."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


# ------------------------------------------------------------------------------------------------------ figures
def _draw_boxes(ax: Any, boxes: Any, color: str, ls: str = "-", labels: list[str] | None = None) -> None:
    from matplotlib.patches import Rectangle

    for i, b in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec=color, ls=ls, lw=1.2))
        if labels:
            ax.text(b[0], b[1] - 1, labels[i], color=color, fontsize=6)


def show_scenes(data: StudyData, exprs: list[ReferringExpression], split: str = "train", n: int = 4) -> Any:
    """Figure: n scenes, their instance masks, and one expression each with its referred instances boxed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, n, figsize=(3 * n, 6))
    for j, e in enumerate(exprs[:n]):
        s = data.scene(split, e.scene_key)
        lab = np.zeros(s.image.shape)
        for i, inst in enumerate(s.instances):
            lab[inst.mask] = i + 1
        axes[0, j].imshow(s.image, cmap="gray")
        _draw_boxes(axes[0, j], [s.instances[i].box for i in e.instance_indices], "red")
        axes[0, j].set_title(f'"{e.expression}"', fontsize=7)
        axes[1, j].imshow(lab, cmap="tab20", interpolation="nearest")
        axes[1, j].set_title(", ".join(sorted({i.category for i in s.instances})), fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def wrong_detections(pred: dict[str, np.ndarray], target: dict[str, np.ndarray], iou: float = 0.5) -> np.ndarray:
    """Indices of predicted instances that overlap no referred instance (IoU < ``iou``)."""
    if len(pred["masks"]) == 0:
        return np.zeros(0, dtype=int)
    if len(target["masks"]) == 0:
        return np.arange(len(pred["masks"]))
    best = _mask_iou(torch.from_numpy(pred["masks"]), torch.from_numpy(target["masks"])).amax(1).numpy()
    return np.nonzero(best < iou)[0]


def figure5_example(without: list[dict[str, np.ndarray]], with_grm: list[dict[str, np.ndarray]],
                    targets: list[dict[str, np.ndarray]]) -> int | None:
    """An expression where the model without GRM keeps a wrong instance and GRM-Net keeps none (else fewest)."""
    best, best_key = None, None
    for i, (a, b, t) in enumerate(zip(without, with_grm, targets)):
        wa, wb = len(wrong_detections(a, t)), len(wrong_detections(b, t))
        key = (wa - wb, -wb)
        if wa > 0 and (best_key is None or key > best_key):
            best, best_key = i, key
    return best


def plot_figure5(cfg: Config, data: StudyData, e: ReferringExpression, no_grm: GRMNet, grm: GRMNet,
                 split: str = "test", n_props: int = 5) -> Any:
    """Fig. 5: input; top RPN proposals and outputs without GRM (K=0); the same with GRM; and the references of
    the highest-scoring wrong candidate kept without GRM, with GRM-Net's probability of its real class."""
    import matplotlib.pyplot as plt

    it = referring_item(data, split, e, cfg.max_tokens)
    scene = data.scene(split, e.scene_key)
    tok, ln = it["tokens"][None], torch.tensor([it["length"]])
    a, b = no_grm.inspect([it["image"]], tok, ln)[0], grm.inspect([it["image"]], tok, ln)[0]
    tgt = {"masks": it["target"]["masks"].numpy().astype(bool)}
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6))
    for ax in axes:
        ax.imshow(scene.image, cmap="gray")
        ax.axis("off")
    _draw_boxes(axes[0], it["target"]["boxes"], "green")
    axes[0].set_title(f'(a) "{e.expression}" (green: referred)', fontsize=7)
    for ax, r, name in ((axes[1], a, "(b) RPN, no GRM"), (axes[3], b, "(d) RPN, GRM")):
        _draw_boxes(ax, r["proposals"][:n_props], "orange", "--", [f"{p:.2f}" for p in r["objectness"][:n_props]])
        ax.set_title(f"{name}: top-{n_props} proposals", fontsize=7)
    for ax, r, name in ((axes[2], a, "(c) output, no GRM"), (axes[4], b, "(e) output, GRM")):
        d = r["detections"]
        keep = (d["scores"] > 0.5).numpy()
        pred = {"masks": (d["masks"][:, 0] > 0.5).numpy()[keep], "scores": d["scores"].numpy()[keep]}
        wrong = set(wrong_detections(pred, tgt).tolist())
        for i, box in enumerate(d["boxes"][keep]):
            _draw_boxes(ax, box, "red" if i in wrong else "blue", "-", [f"{pred['scores'][i]:.2f}"])
        ax.set_title(f"{name} (score > 0.5; red: wrong)", fontsize=7)
    da = a["detections"]
    pa = {"masks": (da["masks"][:, 0] > 0.5).numpy(), "scores": da["scores"].numpy()}
    wrong = wrong_detections(pa, tgt)
    if len(wrong) and grm.spec.top_k > 0:
        cand = da["boxes"][int(wrong[0])][None]
        probs = grm.classify_boxes([it["image"]], tok, ln, [cand])[0][0]
        idx = grm.inspect([it["image"]], tok, ln)[0]
        from cmlib.models.grmnet_heads import reference_indices

        refs, valid = reference_indices(cand, idx["proposals"], idx["objectness"], grm.spec.top_k, grm.spec.manner)
        _draw_boxes(axes[4], idx["proposals"][refs[0][valid[0]]], "purple", ":")
        _draw_boxes(axes[4], cand, "red", "--")
        real = int(da["labels"][int(wrong[0])])
        axes[4].set_xlabel(f"dashed red: wrong candidate of (c); dotted purple: its {int(valid[0].sum())} references; "
                           f"P({data.categories[real - 1]}) = {probs[real]:.2f}", fontsize=6)
        axes[4].axis("on")
        axes[4].set_xticks([])
        axes[4].set_yticks([])
    fig.tight_layout()
    return fig


def real_examples(cfg: Config) -> list[tuple[str, SketchScene, list[Any]]]:
    """The 12 real sketches in ``examples_dir`` (resized to ``canvas``) with the original authors' Mask R-CNN
    predictions (*not* ground truth); [] when the folder is absent."""
    from PIL import Image

    from cmlib.data.sketchyscene import load_example_predictions

    root = Path(cfg.examples_dir)
    sk = root / "example_scenes" / "sketches"
    if not sk.is_dir():
        return []
    cats = load_categories(root / "colorMapC46.mat")
    out = []
    for png in sorted(sk.glob("*.png")):
        img = np.array(Image.open(png).convert("L"), dtype=np.uint8)
        npz = root / "example_scenes" / "seg_data" / f"{png.stem}_datas.npz"
        preds = load_example_predictions(npz, cats, size=img.shape[0]) if npz.is_file() else []
        scene = resize_scene(SketchScene(int(png.stem), img, tuple(preds)), cfg.canvas)
        out.append((png.stem, scene, list(scene.instances)))
    return out


def real_expression(instances: list[Any], categories: list[str]) -> str | None:
    """'all the <plural>' for the most frequent world category among the authors' predictions, if any."""
    from cmlib.data.worlds.grmnet import PLURAL

    names = [i.category for i in instances if i.category in categories]
    if not names:
        return None
    cat = max(sorted(set(names)), key=names.count)
    return f"all the {PLURAL[cat]}"


def plot_real_examples(cfg: Config, data: StudyData, model: GRMNet, examples: list[tuple[str, SketchScene, list[Any]]],
                       n: int = 6) -> Any:
    """Top row: GRM-Net's instances (score > 0.5) for "all the <category>"; bottom: the authors' predictions."""
    import matplotlib.pyplot as plt

    shown = [(k, s, p, real_expression(p, data.categories)) for k, s, p in examples]
    shown = [x for x in shown if x[3] is not None][:n]
    fig, axes = plt.subplots(2, max(1, len(shown)), figsize=(2.6 * max(1, len(shown)), 5.4), squeeze=False)
    for j, (key, scene, preds, expr) in enumerate(shown):
        ids, length = data.vocab.encode(tokenize(expr), cfg.max_tokens)
        with torch.no_grad():
            det = model.eval()([_image(scene)], ids[None], torch.tensor([length]))[0]
        keep = det["scores"] > 0.5
        out, ref = np.zeros(scene.image.shape), np.zeros(scene.image.shape)
        for i, m in enumerate(det["masks"][keep][:, 0] > 0.5):
            out[m.numpy()] = i + 1
        for i, p in enumerate(preds):
            ref[p.mask] = i + 1
        for ax, lab, title in ((axes[0, j], out, f'{key}: "{expr}"\nGRM-Net (world-trained): {int(keep.sum())}'),
                               (axes[1, j], ref, "authors' Mask R-CNN instances (not GT)")):
            ax.imshow(scene.image, cmap="gray")
            ax.imshow(np.ma.masked_equal(lab, 0), cmap="tab20", alpha=0.6, interpolation="nearest")
            ax.set_title(title, fontsize=6)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig

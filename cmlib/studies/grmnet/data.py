"""GRM-Net study data: one replicate's train / validation / sealed test expressions, batches and targets.

The world (default): :func:`cmlib.data.worlds.grmnet.make_world` with the replicate's seed, one stream per split
("train", "val", "test" offsets), so a replicate draws its own scenes and the validation scenes are never test
scenes. Real data (``data_root`` + ``matching_dir``): SketchyScene-MATCHING's train / val / test files, the val
scenes read from ``<data_root>/val`` (the released ``sentence_instance_val.json``, 116 scenes: the paper's data "are
split into three sets for training, validation and testing"). Only when ``matching_dir`` holds no val file are
``val_fraction`` of the train scenes (drawn with the replicate's seed) held out as validation instead. Every
instance index is checked against its scene's INSTANCE_GT when the data is built (an error names the json, the
scene and the .mat file), not after training.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cmlib.data.sketchyscene import (
    ReferringExpression,
    SketchScene,
    check_instance_indices,
    load_categories,
    load_expressions,
    load_scene,
    load_vocab_words,
)
from cmlib.data.worlds.grmnet import WorldSpec, expression_kind, make_world
from cmlib.models.grmnet import GRMNetSpec
from cmlib.protocol.engine import PerSample
from cmlib.protocol.splits import SealedSplit
from cmlib.studies.grmnet.config import Config
from cmlib.text import Vocabulary, tokenize

__all__ = ["StudyData", "build_data", "collate", "expression_batches", "expression_kind", "image_of", "is_single",
           "model_spec", "reference_share", "referring_item", "resize_scene", "target_of", "targets_of",
           "world_summary"]



@dataclass
class StudyData:
    """One replicate's expressions, a scene lookup, the vocabulary and the category names (class id = index + 1).

    Attributes:
        train, val: expressions (the val scenes are disjoint from the train and test scenes).
        test: the test expressions, sealed: read once, through ``test.open(reason)``, for the final score.
        scene: (split, scene key) -> scene, split in {"train", "val", "test"}.
        test_sizes: scene / expression counts of the test split (sizes only, for the data table).
    """

    train: list[ReferringExpression]
    val: list[ReferringExpression]
    test: SealedSplit[list[ReferringExpression]]
    scene: Callable[[str, int], SketchScene]
    vocab: Vocabulary
    categories: list[str]
    seed: int
    test_sizes: dict[str, float]


def _sizes(data_scene: Callable[[str, int], SketchScene], exprs: list[ReferringExpression], split: str
           ) -> dict[str, float]:
    keys = sorted({e.scene_key for e in exprs})
    return {f"{split}_scenes": len(keys), f"{split}_expressions": len(exprs),
            f"{split}_multi_fraction": float(np.mean([not is_single(e) for e in exprs])) if exprs else 0.0,
            f"{split}_reference_share": reference_share(exprs),
            f"{split}_instances_per_scene": float(np.mean([len(data_scene(split, k).instances) for k in keys]))
            if keys else 0.0}


def build_data(cfg: Config, seed: int) -> StudyData:
    """Replicate ``seed``'s data: the world drawn with ``seed`` (default) or real SketchyScene-7k + MATCHING."""
    if cfg.data_root is None:
        spec = WorldSpec(cfg.canvas, cfg.min_objects, cfg.max_objects, cfg.expressions_per_scene,
                         reference_fraction=cfg.reference_fraction)
        sizes = {"train": cfg.n_train_scenes, "val": cfg.n_val_scenes, "test": cfg.n_test_scenes}
        worlds = {split: make_world(n, spec, seed=seed, split=split) for split, n in sizes.items()}
        vocab = Vocabulary.build([tokenize(e.expression) for e in worlds["train"].expressions])

        def scene(split: str, key: int) -> SketchScene:
            return worlds[split].scenes[key]

        exprs = {split: list(w.expressions) for split, w in worlds.items()}
        categories = list(worlds["train"].categories)
    else:
        root = Path(cfg.data_root)
        categories = load_categories(Path(cfg.examples_dir) / "colorMapC46.mat")
        vocab = Vocabulary.from_tokens(load_vocab_words(Path(cfg.matching_dir) / "vocab.txt"))
        cache: dict[tuple[str, int], SketchScene] = {}
        matching = Path(cfg.matching_dir)
        released_val = (matching / "sentence_instance_val.json").is_file()
        val_src = "val" if released_val else "train"

        def scene(split: str, key: int) -> SketchScene:
            src = val_src if split == "val" else split
            if (src, key) not in cache:
                cache[(src, key)] = resize_scene(load_scene(root, src, key, categories), cfg.canvas)
            return cache[(src, key)]

        train_all = load_expressions(matching, "train")
        if released_val:  # the released validation scenes (SketchyScene-7k val/), as the paper's three sets
            exprs = {"train": train_all, "val": load_expressions(matching, "val")}
        else:
            keys = sorted({e.scene_key for e in train_all})
            rng = np.random.default_rng([seed, 17])
            held = set(rng.permutation(keys)[: max(1, int(round(cfg.val_fraction * len(keys))))].tolist())
            exprs = {"train": [e for e in train_all if e.scene_key not in held],
                     "val": [e for e in train_all if e.scene_key in held]}
        exprs["test"] = load_expressions(matching, "test")
        for split, src in (("train", "train"), ("val", val_src), ("test", "test")):
            json_split = "val" if split == "val" and released_val else ("train" if split == "val" else split)
            check_instance_indices(exprs[split], root, src, matching / f"sentence_instance_{json_split}.json")
    return StudyData(exprs["train"], exprs["val"], SealedSplit(exprs["test"], f"grmnet test (seed {seed})"), scene,
                     vocab, categories, seed, _sizes(scene, exprs["test"], "test"))


def world_summary(data: StudyData) -> dict[str, float]:
    """Sizes of the data: scenes, expressions, multi-instance share, instances per scene, per split."""
    return {**_sizes(data.scene, data.train, "train"), **_sizes(data.scene, data.val, "val"), **data.test_sizes,
            "vocab": len(data.vocab)}


def reference_share(exprs: list[ReferringExpression]) -> float:
    """The share of expressions whose referent depends on another instance (rank or relational,
    :func:`expression_kind`): what the global reference mechanism can exploit. On the real SketchyScene-MATCHING
    test file (6112 expressions) it is 0.511 (0.380 rank, 0.130 relational)."""
    return float(np.mean([expression_kind(e.expression) != "category" for e in exprs])) if exprs else 0.0


def is_single(e: ReferringExpression) -> bool:
    """Whether the expression refers to exactly one instance (where a binary method is not handicapped)."""
    return len(e.instance_indices) == 1


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
        backbone_weights=None if m.backbone_weights is None else str(m.backbone_weights),
        canvas=cfg.canvas, anchor_sizes=tuple(tuple(int(round(a * s)) for a in lv) for lv in ((8, 12), (16, 24), (32, 48))),
        embed_dim=m.embed_dim, lstm_hidden=m.lstm_hidden, rpn_pre_nms_top_n_train=m.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_train=m.rpn_post_nms_top_n, rpn_pre_nms_top_n_test=m.rpn_pre_nms_top_n,
        rpn_post_nms_top_n_test=m.rpn_post_nms_top_n, rpn_batch_size_per_image=m.rpn_batch_size_per_image,
        box_batch_size_per_image=m.box_batch_size_per_image, representation_size=m.representation_size,
        mask_layers=tuple(m.mask_layers), detections_per_img=m.detections_per_img,
        **{"top_k": cfg.top_k, "delta_scaling": cfg.delta_scaling, "self_exclusion": cfg.self_exclusion, **variant})


# ----------------------------------------------------------------------------------------------------------- batches
def image_of(scene: SketchScene) -> Tensor:
    """The scene as a (3, H, W) float image in [0, 1]."""
    return torch.from_numpy(scene.image).float().div(255.0).expand(3, -1, -1)


def target_of(scene: SketchScene, indices: tuple[int, ...] | range, categories: list[str]) -> dict[str, Tensor]:
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


class Items(torch.utils.data.Dataset):
    """A list mapped lazily through ``make`` (the training sets)."""

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
    return {"image": image_of(scene), "target": target_of(scene, e.instance_indices, data.categories),
            "tokens": ids, "length": n}


def collate(items: list[dict[str, Any]]) -> tuple[list[Tensor], Tensor, Tensor, list[dict[str, Tensor]]]:
    """Items -> (images, tokens (B, T), lengths (B,), targets); images and targets are per-image lists
    (:class:`cmlib.protocol.engine.PerSample`, so DDP splits them by image)."""
    return (PerSample(it["image"] for it in items), torch.stack([it["tokens"] for it in items]),
            torch.tensor([it["length"] for it in items], dtype=torch.long), PerSample(it["target"] for it in items))


def targets_of(data: StudyData, exprs: list[ReferringExpression], split: str) -> list[dict[str, np.ndarray]]:
    """Ground truth for the metrics: one {masks (G, H, W) bool} per expression."""
    out = []
    for e in exprs:
        s = data.scene(split, e.scene_key)
        out.append({"masks": target_of(s, e.instance_indices, data.categories)["masks"].numpy().astype(bool)})
    return out


def expression_batches(data: StudyData, exprs: list[ReferringExpression], max_tokens: int, split: str,
                       batch: int) -> Iterator[tuple[list[Tensor], Tensor, Tensor]]:
    """(images, tokens (B, T), lengths (B,)) of consecutive batches of expressions, in order."""
    for i in range(0, len(exprs), batch):
        imgs, tok, ln, _ = collate([referring_item(data, split, e, max_tokens) for e in exprs[i:i + batch]])
        yield imgs, tok, ln

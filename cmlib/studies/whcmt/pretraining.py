"""WHCMT's ImageNet stand-in: every backbone of the study pretrained once as a classifier, then loaded from its file.

The paper fine-tunes an ImageNet-pretrained ``crossvit_9_240`` (Section 3.1) and WDHT an ImageNet AlexNet; no
pretrained weights exist on the study machines. :func:`with_pretrained` trains each backbone a method needs (the
AlexNet-shaped CNN, the ViT, the CrossViT shared by WDHT-CrossViT and WHCMT) on the world's pretraining set
(``cmlib.data.worlds.whcmt.pretraining_set``: single-object images from a stream no retrieval image uses, 12 shape x
colour classes) with the generic :func:`cmlib.protocol.pretrain.pretrain_backbone` (the same ``cfg.pretrain`` settings for
every backbone, AdamW: our choice, the usual optimiser of ViT/CrossViT ImageNet training; in the study to a matched
held-out accuracy, ``pretrain.target_accuracy``, so that Table 4 compares architectures, not how well each stand-in
pretrained: issue 30 item 2) and returns the config with the
files in ``visual.weights_file`` / ``vit.weights_file`` / ``cnn_weights``: the models are then built through exactly
the path a user's real ImageNet checkpoints take. Files are cached in ``cfg.pretrain_dir``, once per config (the
pretraining set does not depend on the replicate seed: ImageNet does not change between a paper's runs either).
"""

from __future__ import annotations

import dataclasses

from cmlib.data.worlds import whcmt as world_lib
from cmlib.models.hashing_baselines import CrossViTFeatures, SmallAlexNet, ViTFeatures
from cmlib.protocol.config import to_dict
from cmlib.protocol.pretrain import PretrainResult, pretrain_backbone
from cmlib.studies.whcmt.config import Config
from cmlib.studies.whcmt.data import to_input

__all__ = ["BACKBONE_OF", "pretrain_summary", "with_pretrained"]

BACKBONE_OF = {"WDHT-CNN": "cnn", "WDHT-ViT": "vit", "WDHT-CrossViT": "crossvit", "WHCMT": "crossvit",
               "WHCMT-meanvec": "crossvit", "WHCMT-paper": "crossvit",
               "WHCMT-notags": "crossvit"}


def _pretrain_one(kind: str, cfg: Config, data, wait: bool = True) -> PretrainResult | None:
    pool = {"images": cfg.pretrain_images, "image_size": cfg.world.image_size, "seed": cfg.pretrain.seed,
            "n_clutter": cfg.world.n_clutter, "set": "whcmt.pretraining_set v1"}
    if kind == "crossvit":
        make, saved, conf = (lambda: CrossViTFeatures(dataclasses.replace(cfg.visual, weights_file=None)),
                             lambda b: b.encoder.backbone, to_dict(cfg.visual))
    elif kind == "vit":
        make, saved, conf = (lambda: ViTFeatures(dataclasses.replace(cfg.vit, weights_file=None)),
                             lambda b: b.vit, to_dict(cfg.vit))
    else:
        make, saved, conf = (lambda: SmallAlexNet(cfg.world.image_size)), (lambda b: b), {"small": cfg.world.image_size}
    conf = {k: v for k, v in conf.items() if k != "weights_file"}
    return pretrain_backbone(kind, make, data, cfg.pretrain, cfg.pretrain_dir,
                             key={"backbone": conf, "pool": pool}, to_input=to_input, saved=saved, run=cfg.run,
                             wait=wait)


def with_pretrained(cfg: Config, methods: list[str]) -> tuple[Config, dict[str, dict]]:
    """``cfg`` with pretrained weights files for the backbones of ``methods`` (pretrained now, or from the cache).

    A backbone whose weights key is already set (a user's real checkpoint) is left alone; with
    ``cfg.pretrain_images == 0`` nothing is pretrained. Parallel replicate processes split the backbones: each first
    pretrains those no other process is training, then waits for (and loads) the rest.

    Returns:
        (the config, {backbone: {"accuracy", "chance", "n_classes", "train_s", "cached", "file", "steps",
        "curve"}}): ``steps`` the step whose weights were kept, ``curve`` the selection-half checks of a matched
        pretraining (:class:`cmlib.protocol.pretrain.PretrainConfig` ``target_accuracy``).

    Raises:
        ValueError: a method is unknown, or ``cnn: alexnet`` asks for pretraining (give its ImageNet file instead).
    """
    unknown = [m for m in methods if m not in BACKBONE_OF]
    if unknown:
        raise ValueError(f"with_pretrained: unknown methods {unknown}; expected some of {sorted(BACKBONE_OF)}")
    kinds = sorted({BACKBONE_OF[m] for m in methods})
    preset = {"crossvit": cfg.visual.weights_file, "vit": cfg.vit.weights_file, "cnn": cfg.cnn_weights}
    todo = [k for k in kinds if preset[k] is None] if cfg.pretrain_images > 0 else []
    if "cnn" in todo and cfg.cnn != "small":
        raise ValueError("pretrain_images: the pretraining stage builds the small CNN; cnn: alexnet needs cnn_weights")
    info: dict[str, dict] = {}
    if not todo:
        return cfg, info
    rendered: list = []

    def data():  # rendered once, only when some backbone is not cached yet
        if not rendered:
            rendered.append(world_lib.pretraining_set(cfg.pretrain_images, cfg.world.image_size, cfg.pretrain.seed,
                                                      cfg.world.n_clutter))
        return rendered[0]

    done: dict[str, PretrainResult] = {}
    for wait in (False, True):  # first what no parallel replicate is training now, then wait for the rest
        for kind in [k for k in todo if k not in done]:
            res = _pretrain_one(kind, cfg, data, wait)
            if res is not None:
                done[kind] = res
    for kind in todo:
        res = done[kind]
        info[kind] = {"accuracy": res.accuracy, "chance": res.chance, "n_classes": res.n_classes,
                      "train_s": res.train_s, "cached": res.cached, "file": res.path.name, "steps": res.steps,
                      "curve": res.curve}
        if kind == "crossvit":
            cfg = dataclasses.replace(cfg, visual=dataclasses.replace(cfg.visual, weights_file=res.path))
        elif kind == "vit":
            cfg = dataclasses.replace(cfg, vit=dataclasses.replace(cfg.vit, weights_file=res.path))
        else:
            cfg = dataclasses.replace(cfg, cnn_weights=res.path)
    return cfg, info


def pretrain_summary(info: dict[str, dict]) -> list[dict]:
    """One row per pretrained backbone: accuracy on the held-out part of the pretraining set (its report half under a
    matched-accuracy pretraining), its chance level, the step whose weights were kept."""
    return [{"backbone": k, "accuracy": v["accuracy"], "chance": v["chance"], "n_classes": v["n_classes"],
             "steps": v.get("steps")} for k, v in sorted(info.items())]

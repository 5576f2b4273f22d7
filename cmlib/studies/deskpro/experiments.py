"""One DeSKPro replicate (every table of the study from one seed), Fig. 3 material and the inference-cost table."""

from __future__ import annotations

import multiprocessing
import os
import time
import warnings
from typing import Any

import torch
from torch import nn

from cmlib.data.reid_folders import ReIDSet
from cmlib.data.worlds.deskpro import DeskproWorld
from cmlib.models.deskpro import MultiBranchNet
from cmlib.protocol.run import with_threads
from cmlib.studies.deskpro.config import ABLATION_ROWS, STREAMS, Config
from cmlib.studies.deskpro.data import build_world, cloth_labels, protocols
from cmlib.studies.deskpro.evaluation import chance_level, descriptors, evaluate
from cmlib.studies.deskpro.premise import measure_premise
from cmlib.studies.deskpro.priors import (
    FaceRestorer,
    normalise,
    pretrains_osnet,
    restorer_file,
    train_restorer,
    with_pretrained_osnet,
)
from cmlib.studies.deskpro.streams import train_stream

__all__ = ["attention_maps", "inference_cost", "plot_attention_maps", "prepare", "run_seed", "sources"]

CCREID_METHODS = [("LightMBN-like (G)", ["G"]), ("DeSKPro", ["G+CSA+Latt", "student+"])]


def prepare(cfg: Config) -> tuple[Config, FaceRestorer | None, dict]:
    """The pretrained OSNet stand-in and the restorer (each trained once, then read from ``pretrain_dir``).

    When both are to be trained and the run may use more than one core (``run.workers`` other than 1), the restorer
    trains in a child process beside the stand-in: each at the run's threads, as alone, so the weights are the
    same (tests/unit/test_deskpro_study.py), and the study's wall time loses the restorer's ~4 min at 128x64.

    Returns (config with ``model.pretrained`` set, restorer or None, info of both).
    """
    child = _restorer_beside(cfg)
    cfg, osnet_info = with_pretrained_osnet(cfg)
    if child is not None:
        child.join()
        if child.exitcode != 0:
            warnings.warn(f"the restorer's child process exited with {child.exitcode}; training it here instead",
                          stacklevel=2)
    restorer, restore_info = train_restorer(cfg) if not cfg.data else (None, {})
    if child is not None and child.exitcode == 0:
        restore_info = {**restore_info, "cached": False, "trained": "in a child process beside the stand-in"}
    return cfg, restorer, {"osnet": osnet_info, "restorer": restore_info}


def _restorer_beside(cfg: Config) -> multiprocessing.process.BaseProcess | None:
    """A started child process training the restorer, when :func:`prepare` has both priors to train on more than
    one core; else None."""
    if (cfg.data or cfg.restore.ids == 0 or not pretrains_osnet(cfg) or cfg.run.workers == 1
            or (os.cpu_count() or 1) < 2 or restorer_file(cfg).is_file()):
        return None
    child = multiprocessing.get_context("spawn").Process(target=train_restorer, args=(cfg,), daemon=True)
    child.start()
    return child


def sources(cfg: Config, seed: int, restorer: FaceRestorer | None) -> list[tuple[str | None, DeskproWorld]]:
    """(dataset name or None, world) pairs: the one synthetic world of ``seed``, or each real dataset of ``cfg.data``
    (real datasets do not change with the seed; the replicate draws initialisation and batch order)."""
    if not cfg.data:
        return [(None, build_world(cfg, seed, restorer))]
    return [(name, build_world(cfg, seed, dataset=name)) for name in cfg.data]


def _row(name: str, streams: list[str], models: dict, query: ReIDSet, gallery: ReIDSet, mode: str,
         seed: int) -> dict:
    """One table row; ``queries_without_face``: queries with no face crop among those a face stream must rank."""
    q = [descriptors(models[s], s, query) for s in streams]
    g = [descriptors(models[s], s, gallery) for s in streams]
    uses_face = any(STREAMS[s].kind != "body" for s in streams)
    res = evaluate(q, g, query, gallery, mode, torch.Generator().manual_seed(seed))
    return {"model": name, **res, "queries_without_face": int((~query.has_face).sum()) if uses_face else 0}


@with_threads
def run_seed(cfg: Config, seed: int) -> dict[str, Any]:
    """One replicate: train every stream on the world of ``seed`` (or on each real dataset) and measure all tables.

    Returns a JSON-able dict:
        ``priors``: the OSNet stand-in's and restorer's training info; ``streams``: per-stream training info;
        ``ccreid``: Tables 1-2 rows (protocol, setting, model, R1, R5, mAP, chance_R1, chance_mAP);
        ``ablation``: Table 3 rows on Celeb-reID-light (the first Celeb protocol of a real run, else PRCC
        cross-clothes); ``attention``: Fig. 3 contrasts of models 2 and 3 (None without test parsing masks);
        ``efficiency``: :func:`inference_cost` rows; ``premise``: the synthetic world's premises
        (:func:`cmlib.studies.deskpro.premise.measure_premise`, teacher faces restored as the teacher sees them;
        None for real data, which records neither outfits nor the world's parsing labels).

    The paper picks (tau, alpha) per dataset by cross-validation ((5, 0.7) Celeb, (1, 0.8) PRCC). The world's
    protocols share one training split, so its PRCC-like rows use the same student as its Celeb-like rows (one
    stream fewer per replicate, chosen for the budget); a real PRCC root trains its student with
    (``tau_prcc``, ``alpha_prcc``).
    """
    cfg, restorer, priors = prepare(cfg)
    out: dict[str, Any] = {"seed": seed, "priors": priors, "streams": [], "ccreid": [], "ablation": [],
                           "attention": None, "efficiency": [], "premise": None}
    for dataset, world in sources(cfg, seed, restorer):
        if dataset is None:
            out["premise"] = measure_premise(world, seed)
        trained = {n: train_stream(cfg, world, n, seed, dataset=dataset) for n in STREAMS}
        if dataset == "prcc":  # real PRCC: the paper's PRCC (tau, alpha); see run_seed's docstring for the world
            trained["student+prcc"] = train_stream(cfg, world, "student+", seed, protocol="prcc", dataset=dataset)
        out["streams"] += [{**v[1], "key": k, "dataset": dataset or "world"} for k, v in trained.items()]
        models = {k: v[0] for k, v in trained.items()}
        settings = protocols(world)
        for protocol, setting, query, gallery, mode in settings:
            chance = chance_level(query, gallery, mode, seed=seed)
            use = dict(models, **({"student+": models["student+prcc"]} if "student+prcc" in models else {}))
            for method, names in CCREID_METHODS:
                out["ccreid"].append({"protocol": protocol, "setting": setting,
                                      **_row(method, names, use, query, gallery, mode, seed),
                                      "chance_R1": chance["R1"], "chance_mAP": chance["mAP"]})
        if not out["ablation"]:
            protocol, setting, query, gallery, mode = settings[0]
            chance = chance_level(query, gallery, mode, seed=seed)
            out["ablation"] = [{**_row(name, names, models, query, gallery, mode, seed), "protocol": protocol,
                                "chance_R1": chance["R1"], "chance_mAP": chance["mAP"]} for name, names in ABLATION_ROWS]
            if gallery.parsing is not None:
                out["attention"] = {k: float(v) for k, v in _attention(cfg, models, gallery).items()
                                    if k.endswith("contrast")}
            out["efficiency"] = inference_cost(models, restorer or FaceRestorer(cfg.restore.channels), query,
                                               cfg.timing_images)
    return out


def _attention(cfg: Config, models: dict[str, nn.Module], gallery: ReIDSet,
               pick: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Psi_hat of models 2 and 3 on ``gallery`` and the contrast mean Psi_hat(cloth-irrelevant person pixels) minus
    mean Psi_hat(clothing pixels), upsampled bilinearly to the parsing resolution (keys ``<name>/contrast`` ...)."""
    out: dict[str, torch.Tensor] = {}
    parsing = gallery.parsing.long()
    cloth = torch.isin(parsing, torch.tensor(cloth_labels(cfg)))
    person_not_cloth = (parsing > 0) & ~cloth
    for name in ("G+CSA", "G+CSA+Latt"):
        with torch.no_grad():
            _, refined, psi = models[name].attend(normalise(gallery.images))
        if pick is not None:
            out[f"{name}/attention"] = psi[pick, 0]
            out[f"{name}/refined"] = refined[pick].abs().mean(1)
        up = nn.functional.interpolate(psi, size=parsing.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        out[f"{name}/contrast"] = up[person_not_cloth].mean() - up[cloth].mean()
    return out


@torch.no_grad()
@with_threads
def attention_maps(cfg: Config, seed: int, n_images: int = 4) -> dict[str, torch.Tensor]:
    """Fig. 3 material for models 2 and 3 on the same test images, plus the cloth-attention contrast.

    Returns:
        dict with ``images`` (n, 3, H, W) uint8, ``cloth`` (n, H, W) bool clothing pixels, and for each of
        ``G+CSA`` / ``G+CSA+Latt``: ``<name>/attention`` (n, h_f, w_f) Psi_hat, ``<name>/refined``
        (n, h_f, w_f) channel-mean |F_att|, and ``<name>/contrast`` (scalar) over the whole test gallery.
    """
    cfg, restorer, _ = prepare(cfg)
    dataset, world = sources(cfg, seed, restorer)[0]
    gallery = world.celeb_gallery if world.celeb_gallery is not None else (
        world.celeb_full_gallery if world.celeb_full_gallery is not None else world.prcc_gallery)
    if gallery.parsing is None:
        raise ValueError("attention_maps needs parsing masks of the test gallery (the synthetic world has them)")
    step = max(len(gallery) // n_images, 1)
    pick = torch.arange(0, step * n_images, step)[:n_images]
    models = {n: train_stream(cfg, world, n, seed, dataset=dataset)[0] for n in ("G+CSA", "G+CSA+Latt")}
    out = {"images": gallery.images[pick], "cloth": torch.isin(gallery.parsing[pick].long(),
                                                               torch.tensor(cloth_labels(cfg)))}
    return out | _attention(cfg, models, gallery, pick)


def plot_attention_maps(maps: dict[str, torch.Tensor]):
    """Fig. 3 layout: per image, the image, its cloth-irrelevant mask, and Psi_hat / |F_att| of models 2 and 3.

    Args:
        maps: the output of :func:`attention_maps`.

    Returns:
        A matplotlib figure.
    """
    import matplotlib.pyplot as plt

    n = maps["images"].shape[0]
    cols = [("image", None), ("cloth-irrelevant mask", None), ("model 2: attention", "G+CSA/attention"),
            ("model 2: refined", "G+CSA/refined"), ("model 3: attention", "G+CSA+Latt/attention"),
            ("model 3: refined", "G+CSA+Latt/refined")]
    fig, axes = plt.subplots(n, len(cols), figsize=(1.3 * len(cols), 2.4 * n), squeeze=False)
    for i in range(n):
        for j, (title, key) in enumerate(cols):
            ax = axes[i, j]
            if j == 0:
                ax.imshow(maps["images"][i].permute(1, 2, 0).numpy())
            elif j == 1:
                ax.imshow((~maps["cloth"][i]).float().numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                vmax = 1.0 if key.endswith("attention") else None
                ax.imshow(maps[key][i].numpy(), cmap="jet", vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig


def parsing_standin(n_classes: int = 20) -> nn.Module:
    """A human-parsing network's inference cost stand-in: torchvision DeepLabV3-MobileNetV3-Large, random weights,
    20 LIP classes (SCHP [19], the paper's parser, is a ResNet-101 network, so this under-states the real cost)."""
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=n_classes).eval()


def _n_params(*mods: nn.Module) -> int:
    return sum(p.numel() for m in mods for p in m.parameters())


@torch.no_grad()
def inference_cost(models: dict[str, MultiBranchNet], restorer: FaceRestorer, query: ReIDSet,
                   n_images: int = 32, repeats: int = 3) -> list[dict]:
    """Time per query image (ms, best of ``repeats``, one batch of ``n_images``) and parameters at inference of:

    - ``DeSKPro``: global stream on the image + student on the low-resolution crop (what the paper deploys);
    - ``DeSKPro*``: global stream + restoration of the crop + teacher on the restored face;
    - ``DeSKPro* + parsing``: the same plus a human-parsing network run on the image (:func:`parsing_standin`),
      i.e. both external models kept at inference.
    """
    pick = torch.arange(min(n_images, len(query)))
    body_x, face_u8 = normalise(query.images[pick]), query.lr_face[pick]
    body, student, teacher = models["G+CSA+Latt"], models["student+"], models["teacher"]
    parser = parsing_standin()
    for m in (body, student, teacher, restorer):
        m.eval()

    def deskpro():
        body(body_x), student(normalise(face_u8))

    def star():
        body(body_x), teacher(normalise(restorer(face_u8.float()).round()))

    def star_parsing():
        parser(body_x), star()

    rows = []
    for name, fn, mods in [("DeSKPro", deskpro, (body, student)), ("DeSKPro*", star, (body, teacher, restorer)),
                           ("DeSKPro* + parsing", star_parsing, (body, teacher, restorer, parser))]:
        fn()  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        rows.append({"pipeline": name, "ms_per_image": 1000 * best / len(pick), "params": _n_params(*mods)})
    return rows

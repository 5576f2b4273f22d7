"""DeSKPro study data: the synthetic world (restored faces from the learned restorer) or real folders, the inputs
of each stream, augmentation and P x K batches."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import torch

from cmlib.data.celebreid import read_celebreid
from cmlib.data.prcc import read_prcc
from cmlib.data.reid_folders import ParallelFolders, ReIDRecord, ReIDSet, load_reid_set
from cmlib.data.samplers import PKBatches
from cmlib.data.worlds.deskpro import CLOTH_LABELS, DeskproWorld, make_world
from cmlib.losses.reid import cloth_irrelevant_mask
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.cache import save_atomic, stable_hash
from cmlib.studies.deskpro.config import Config, StreamSpec
from cmlib.studies.deskpro.priors import FaceRestorer, restore_faces

__all__ = ["CACHE_VERSION", "Protocol", "batches", "build_world", "cloth_labels", "load_real", "protocols",
           "stream_input"]

CACHE_VERSION = "deskpro-v2"  # bump when training code changes, so cached weights are not reused
_SPLITS = ("train", "val_query", "val_gallery", "celeb_query", "celeb_gallery", "prcc_gallery", "prcc_same_query",
           "prcc_cross_query", "celeb_full_gallery")

Protocol = tuple[str, str, ReIDSet, ReIDSet, str]  # (protocol, setting, query, gallery, evaluation mode)


def build_world(cfg: Config, seed: int, restorer: FaceRestorer | None = None, dataset: str | None = None) -> DeskproWorld:
    """The synthetic world of ``seed`` (rendered once, then read from ``cache_dir``), or the real ``dataset``.

    With a ``restorer`` every split's ``hr_face`` becomes ``restore(lr_face)`` (the world's oracle render is never
    what the teacher sees); real folders keep their own ``hr_face`` (GPEN outputs, see cmlib.data.reid_folders).
    """
    if dataset is not None:
        return load_real(cfg, dataset)
    path = Path(cfg.run.cache_dir) / f"world-{stable_hash([CACHE_VERSION, asdict(cfg.world), seed])}.pt"
    if path.is_file():
        blob = load_cached(path)
        patterns = {int(k): (int(a), int(b)) for k, (a, b) in blob.pop("patterns").items()}
        world = DeskproWorld(**{k: ReIDSet(**v) for k, v in blob.items()}, config=cfg.world, patterns=patterns)
    else:
        world = make_world(cfg.world, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic({k: vars(getattr(world, k)) for k in _SPLITS} | {"patterns": world.patterns}, path)
    if restorer is not None:
        for k in _SPLITS:
            setattr(world, k, restore_faces(restorer, getattr(world, k)))
    return world


def _split_val(records: list[ReIDRecord], n_val: int) -> tuple[list, list, list]:
    """Hold out the last ``n_val`` training identities: (train, val query = first image of each, val gallery)."""
    pids = sorted({r.pid for r in records})
    if n_val >= len(pids):
        raise ValueError(f"world.n_val_ids={n_val} must be smaller than the {len(pids)} training identities")
    held = set(pids[len(pids) - n_val:])
    train = [r for r in records if r.pid not in held]
    val = [r for r in records if r.pid in held]
    firsts = {}
    for r in val:
        firsts.setdefault(r.pid, r)
    return train, list(firsts.values()), [r for r in val if firsts[r.pid] is not r]


def load_real(cfg: Config, dataset: str) -> DeskproWorld:
    """Celeb-reID-light, Celeb-reID or PRCC from ``cfg.data[dataset]`` in DeSKPro's parallel-folder layout.

    Validation (model selection): Celeb-reID(-light) holds out ``world.n_val_ids`` training identities (first image
    of each as query); PRCC uses its ``val`` split (camera C queries against camera A). Celeb-reID's gallery goes to
    ``celeb_full_gallery`` (standard mode), Celeb-reID-light's to ``celeb_gallery``; splits of the other protocols
    are None. Sizes come from ``world.height``, ``world.width``, ``world.face_size``.
    """
    if dataset not in cfg.data:
        raise ValueError(f"load_real: no root for {dataset!r} in data (have {sorted(cfg.data)})")
    root = cfg.data[dataset]
    folders = ParallelFolders(Path(root))
    w = cfg.world
    # test / validation splits load their parsing masks when the mask folder has them (e.g. mask/gallery/*.png)
    load = lambda recs, mask="if_present": load_reid_set(recs, folders, (w.height, w.width), w.face_size,
                                                         with_mask=mask, on_corrupt=cfg.on_corrupt)
    if dataset in ("celeb", "celeb-light"):
        train, vq, vg = _split_val(read_celebreid(root, "train"), w.n_val_ids)
        query, gallery = load(read_celebreid(root, "query")), load(read_celebreid(root, "gallery"))
        light = dataset == "celeb-light"
        return DeskproWorld(load(train, True), load(vq), load(vg), query, gallery if light else None, None, None, None,
                            w, None if light else gallery)
    val = read_prcc(root, "val")
    test = {c: load(read_prcc(root, "test", camera=c)) for c in "ABC"}
    return DeskproWorld(load(read_prcc(root, "train"), True), load([r for r in val if r.camid == 2]),
                        load([r for r in val if r.camid == 0]), None, None, test["A"], test["B"], test["C"], w)


def protocols(world: DeskproWorld) -> list[Protocol]:
    """The test settings this world holds, Tables 1-2: Celeb-reID-light (cloth-changing mode), Celeb-reID (standard
    mode: over 70% of the gallery matches wear other clothes), PRCC cross-clothes (camera C) and same-clothes
    (camera B) against gallery camera A."""
    out: list[Protocol] = []
    if world.celeb_gallery is not None:
        out.append(("celeb-light", "cloth-changing", world.celeb_query, world.celeb_gallery, "cloth_changing"))
    if world.celeb_full_gallery is not None:
        out.append(("celeb", "standard", world.celeb_query, world.celeb_full_gallery, "standard"))
    if world.prcc_gallery is not None:
        out.append(("prcc", "cross-clothes", world.prcc_cross_query, world.prcc_gallery, "cloth_changing"))
        out.append(("prcc", "same-clothes", world.prcc_same_query, world.prcc_gallery, "same_clothes"))
    return out


def cloth_labels(cfg: Config) -> tuple[int, ...]:
    """The set C of eq. (3): the world's clothing labels, or ``cfg.cloth_labels`` (LIP) for real parsing masks."""
    return CLOTH_LABELS if not cfg.data else tuple(cfg.cloth_labels)


def stream_input(spec: StreamSpec, data: ReIDSet) -> torch.Tensor:
    """(N, 3, H, W) uint8 input of a stream: body image, restored face (teacher) or low-resolution crop (student)."""
    if spec.kind == "body":
        return data.images
    if spec.kind == "teacher":
        if data.hr_face is None:
            raise ValueError("the teacher stream needs restored faces (hr_face), which this split does not have")
        return data.hr_face
    return data.lr_face


def augment(x: torch.Tensor, extras: list[torch.Tensor | None], p_erase: float):
    """Random horizontal flip of ``x`` and of every extra (mask, teacher input) alike; random erasing of ``x`` only.

    Draws from the global torch RNG, which the engine seeds (and restores on resume).
    """
    flip = (torch.rand(x.shape[0]) < 0.5)[:, None, None, None]
    x = torch.where(flip, x.flip(3), x)
    extras = [None if e is None else torch.where(flip, e.flip(3), e) for e in extras]
    b, _, h, w = x.shape
    for i in torch.nonzero(torch.rand(b) < p_erase).flatten().tolist():
        area = h * w * float(torch.empty(1).uniform_(0.02, 0.4))
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(0.3), math.log(3.3))))
        eh, ew = min(int(round(math.sqrt(area * ratio))), h), min(int(round(math.sqrt(area / ratio))), w)
        y0, x0 = int(torch.randint(0, h - eh + 1, (1,))), int(torch.randint(0, w - ew + 1, (1,)))
        x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.0
    return x, extras


def batches(cfg: Config, spec: StreamSpec, train: ReIDSet, labels: torch.Tensor, seed: int) -> PKBatches:
    """P x K batches of a stream (face streams sample only images with a face): x, y, and mask / x_teacher."""
    rows = torch.arange(len(train)) if spec.kind == "body" else torch.nonzero(train.has_face).flatten()
    inputs = stream_input(spec, train)

    def fetch(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        sel = rows[idx]
        batch = {"x": inputs[sel], "y": labels[sel]}
        if spec.kind == "body" and spec.att:
            batch["mask"] = cloth_irrelevant_mask(train.parsing[sel].long(), cloth_labels(cfg), cfg.epsilon)
        if spec.kind == "student" and spec.kd:
            batch["x_teacher"] = train.hr_face[sel]
        return batch

    return PKBatches(labels[rows].tolist(), cfg.p, cfg.k, fetch, seed=seed)

"""DeSKPro study glue: data, the streams of Table 3, training with validation-split model selection, evaluation.

Paper: Wu et al., "Identity-Sensitive Knowledge Propagation for Cloth-Changing Person Re-identification",
ICASSP 2023 (Tables 1-3, Fig. 3). Notebooks: ``notebooks/deskpro/{01_ccreid,02_ablation,03_attention_maps}``.

Streams (each trained once per seed and cached under ``cache_dir`` keyed by the hash of everything it depends on):

========================  ===========================================================================
``G``                     global stream, no CSA (model 1, the LightMBN-like baseline)
``G+CSA``                 global stream with CSA, no L_att (model 2)
``G+CSA+Latt``            global stream with CSA and L_att (model 3; the global stream of DeSKPro)
``teacher``               face stream on restored (high-resolution) faces, phi_t (model 6)
``student-``              face stream on low-resolution crops without L_fkp, phi_s^- (model 4)
``student+``              face stream on low-resolution crops with L_fkp from the teacher, phi_s^+ (model 5)
========================  ===========================================================================

Models 7, DeSKPro and DeSKPro* concatenate a global and a face stream. The two streams share no parameter and
eq. (7) is a sum of per-stream terms, so training them jointly on the same batches (as the official code does) and
training them separately are the same optimisation; cmlib trains each stream once and reuses it in every
combination. As in the official code (``main.py``: ``find_best_model`` per stream), each stream is selected on its
own validation score, but here on a held-out validation split of identities disjoint from train and test
(the official code selects on test mAP).

Choices where the paper is silent (official code, KimbingNg/DeskPro ``config_files/base.yaml``): Adam with
weight decay 5e-4, warm-up then cosine annealing of the learning rate (``w_cosine_annealing: true``), random
horizontal flip and random erasing (``random_erasing: true``, probability 0.5), P x K = 5 x 6 (``celeb_config``).
The teacher is frozen and run in eval mode while the student learns (Sec. 2.2, "we fix its parameters").
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from cmlib.cache import load as load_cached
from cmlib.cache import save_atomic, stable_hash
from cmlib.config import ConfigError, check_range, path_field
from cmlib.data.celebreid import read_celebreid
from cmlib.data.prcc import read_prcc
from cmlib.data.reid_folders import FOLDER_LAYOUT, LIP_CLOTH_LABELS, ParallelFolders, ReIDRecord, ReIDSet, load_reid_set
from cmlib.data.samplers import PKBatches
from cmlib.data.worlds.deskpro import CLOTH_LABELS, DeskproWorld, WorldConfig, make_world
from cmlib.engine import DeviceConfig, fit, seed_everything, torch_threads
from cmlib.losses.reid import DeSKProLoss, cloth_irrelevant_mask
from cmlib.metrics.reid import evaluate_rank
from cmlib.models.deskpro import MultiBranchNet, flip_averaged_embedding

__all__ = [
    "ABLATION_ROWS",
    "STREAMS",
    "Config",
    "attention_maps",
    "build_world",
    "descriptors",
    "distances",
    "evaluate",
    "fit_main",
    "plot_attention_maps",
    "run_ablation",
    "run_ccreid",
    "train_stream",
]

CACHE_VERSION = "deskpro-v1"  # bump when training code changes, so cached weights are not reused
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass
class ModelConfig:
    """Backbone size: ``width`` scales OSNet x1.0 (the paper), ``feat_dim`` is the embedding size (512 in the paper)."""

    width: float = 0.25
    feat_dim: int = 64
    pretrained: str | None = path_field(layout="a torchreid OSNet state dict (.pth) matching `width`")

    def __post_init__(self) -> None:
        check_range("model.width", self.width, lo=0.05, hi=2.0)
        check_range("model.feat_dim", self.feat_dim, lo=4)


@dataclass
class Config:
    """DeSKPro study config; the defaults are the smoke profile.

    Paper hyper-parameters: epsilon 0.1, lambda 7, (tau, alpha) = (5, 0.7) on Celeb-reID(-light) and (1, 0.8) on
    PRCC, Adam 6e-4, P x K = 5 x 6.
    """

    seeds: list[int] = field(default_factory=lambda: [0])
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    p: int = 5
    k: int = 6
    lr: float = 6e-4
    weight_decay: float = 5e-4
    warmup_frac: float = 0.1
    epsilon: float = 0.1
    lam: float = 7.0
    tau: float = 5.0
    alpha: float = 0.7
    tau_prcc: float = 1.0
    alpha_prcc: float = 0.8
    margin: float = 0.7
    smoothing: float = 0.1
    random_erasing: float = 0.5
    body_steps: int = 20
    face_steps: int = 20
    eval_every: int = 10
    cache_dir: str = ".cache/deskpro"
    num_threads: int = 1
    fit: DeviceConfig = field(default_factory=DeviceConfig)  # where training runs, the same section in every paper
    dataset: Literal["world", "celeb", "celeb-light", "prcc"] = "world"
    data_root: str | None = path_field(layout=FOLDER_LAYOUT)
    cloth_labels: list[int] = field(default_factory=lambda: list(LIP_CLOTH_LABELS))

    def __post_init__(self) -> None:
        check_range("num_threads", self.num_threads, lo=0)
        check_range("p", self.p, lo=2)
        check_range("k", self.k, lo=2)
        check_range("lr", self.lr, lo=0.0)
        check_range("epsilon", self.epsilon, lo=0.0, hi=1.0)
        check_range("lam", self.lam, lo=0.0)
        check_range("alpha", self.alpha, lo=0.0, hi=1.0)
        check_range("alpha_prcc", self.alpha_prcc, lo=0.0, hi=1.0)
        check_range("tau", self.tau, lo=1e-6)
        check_range("tau_prcc", self.tau_prcc, lo=1e-6)
        check_range("random_erasing", self.random_erasing, lo=0.0, hi=1.0)
        check_range("body_steps", self.body_steps, lo=1)
        check_range("face_steps", self.face_steps, lo=1)
        check_range("eval_every", self.eval_every, lo=1)
        if self.dataset != "world" and self.data_root is None:
            raise ConfigError(f"dataset: {self.dataset!r} needs data_root (expected layout {FOLDER_LAYOUT})")


@dataclass(frozen=True)
class StreamSpec:
    """One trainable stream: ``kind`` body | teacher | student; CSA / L_att for body, L_fkp for the student."""

    kind: Literal["body", "teacher", "student"]
    csa: bool = False
    att: bool = False
    kd: bool = False


STREAMS: dict[str, StreamSpec] = {
    "G": StreamSpec("body"),
    "G+CSA": StreamSpec("body", csa=True),
    "G+CSA+Latt": StreamSpec("body", csa=True, att=True),
    "teacher": StreamSpec("teacher"),
    "student-": StreamSpec("student"),
    "student+": StreamSpec("student", kd=True),
}

# Table 3: row name -> streams concatenated at inference.
ABLATION_ROWS: list[tuple[str, list[str]]] = [
    ("1 (baseline)", ["G"]),
    ("2", ["G+CSA"]),
    ("3", ["G+CSA+Latt"]),
    ("4", ["student-"]),
    ("5", ["student+"]),
    ("6", ["teacher"]),
    ("7", ["G+CSA+Latt", "student-"]),
    ("DeSKPro", ["G+CSA+Latt", "student+"]),
    ("DeSKPro*", ["G+CSA+Latt", "teacher"]),
]


def _with_threads(fn):
    """Decorator: run ``fn(cfg, ...)`` under ``torch_threads(cfg.num_threads)``."""

    @functools.wraps(fn)
    def wrapper(cfg: Config, *args, **kwargs):
        with torch_threads(cfg.num_threads):
            return fn(cfg, *args, **kwargs)

    return wrapper


def build_world(cfg: Config, seed: int) -> DeskproWorld:
    """The synthetic world of ``seed`` (rendered once, then read from ``cache_dir``), or the real dataset."""
    if cfg.dataset != "world":
        return load_real(cfg)
    path = Path(cfg.cache_dir) / f"world-{stable_hash([CACHE_VERSION, asdict(cfg.world), seed])}.pt"
    if path.is_file():
        blob = load_cached(path)
        sets = {k: ReIDSet(**v) for k, v in blob.items()}
        return DeskproWorld(**sets, config=cfg.world)
    world = make_world(cfg.world, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {k: vars(getattr(world, k)) for k in world.__dataclass_fields__ if k != "config"}
    save_atomic(blob, path)
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


def load_real(cfg: Config) -> DeskproWorld:
    """Celeb-reID(-light) or PRCC from ``data_root`` in DeSKPro's parallel-folder layout, as a DeskproWorld.

    Validation (model selection): Celeb-reID holds out ``world.n_val_ids`` training identities (first image of each
    as query); PRCC uses its ``val`` split (camera C queries against camera A). Splits of the other protocol are None.
    Sizes come from ``world.height``, ``world.width``, ``world.face_size``.
    """
    folders = ParallelFolders(Path(cfg.data_root))
    w = cfg.world
    load = lambda recs, mask=False: load_reid_set(recs, folders, (w.height, w.width), w.face_size, with_mask=mask)
    if cfg.dataset in ("celeb", "celeb-light"):
        train, vq, vg = _split_val(read_celebreid(cfg.data_root, "train"), w.n_val_ids)
        return DeskproWorld(load(train, True), load(vq), load(vg), load(read_celebreid(cfg.data_root, "query")),
                            load(read_celebreid(cfg.data_root, "gallery")), None, None, None, w)
    val = read_prcc(cfg.data_root, "val")
    test = {c: load(read_prcc(cfg.data_root, "test", camera=c)) for c in "ABC"}
    return DeskproWorld(load(read_prcc(cfg.data_root, "train"), True), load([r for r in val if r.camid == 2]),
                        load([r for r in val if r.camid == 0]), None, None, test["A"], test["B"], test["C"], w)


def _cloth_labels(cfg: Config) -> tuple[int, ...]:
    return CLOTH_LABELS if cfg.dataset == "world" else tuple(cfg.cloth_labels)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> ImageNet-normalised float."""
    return (x.float() / 255.0 - _MEAN) / _STD


def _stream_input(spec: StreamSpec, data: ReIDSet) -> torch.Tensor:
    if spec.kind == "body":
        return data.images
    if spec.kind == "teacher":
        if data.hr_face is None:
            raise ValueError("the teacher stream needs restored faces (hr_face), which this split does not have")
        return data.hr_face
    return data.lr_face


def _augment(x: torch.Tensor, extras: list[torch.Tensor | None], p_erase: float):
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


def _batches(cfg: Config, spec: StreamSpec, train: ReIDSet, labels: torch.Tensor, seed: int) -> PKBatches:
    rows = torch.arange(len(train)) if spec.kind == "body" else torch.nonzero(train.has_face).flatten()
    inputs = _stream_input(spec, train)

    def fetch(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        sel = rows[idx]
        batch = {"x": inputs[sel], "y": labels[sel]}
        if spec.kind == "body" and spec.att:
            batch["mask"] = cloth_irrelevant_mask(train.parsing[sel].long(), _cloth_labels(cfg), cfg.epsilon)
        if spec.kind == "student" and spec.kd:
            batch["x_teacher"] = train.hr_face[sel]
        return batch

    return PKBatches(labels[rows].tolist(), cfg.p, cfg.k, fetch, seed=seed)


def _scheduler(opt: torch.optim.Optimizer, steps: int, warmup_frac: float) -> torch.optim.lr_scheduler.LambdaLR:
    warm = max(int(steps * warmup_frac), 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(steps - warm, 1)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _loss_fn(cfg: Config, spec: StreamSpec, teacher: MultiBranchNet | None, tau: float, alpha: float):
    crit = DeSKProLoss(lam=cfg.lam, alpha=alpha, tau=tau, margin=cfg.margin, smoothing=cfg.smoothing)

    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        xt = _normalise(batch["x_teacher"]) if "x_teacher" in batch else None
        x, (mask, xt) = _augment(_normalise(batch["x"]), [batch.get("mask"), xt], cfg.random_erasing)
        out = model(x)
        if spec.kind == "body":
            return crit(batch["y"], body=out, body_mask=mask)
        teacher_logits = None
        if teacher is not None:
            with torch.no_grad():  # fixed teacher on the restored face, flipped like the student's input
                teacher_logits = teacher(xt).logits
        return crit(batch["y"], student=out, teacher_logits=teacher_logits)

    return loss


def _val_score(spec: StreamSpec, world: DeskproWorld):
    def score(model: nn.Module) -> dict[str, float]:
        res = evaluate([descriptors(model, spec, world.val_query)], [descriptors(model, spec, world.val_gallery)],
                       world.val_query, world.val_gallery, "cloth_changing")
        return {"score": res["mAP"], "R1": res["R1"]}

    return score


@_with_threads
def train_stream(
    cfg: Config, world: DeskproWorld, name: str, seed: int, protocol: Literal["celeb", "prcc"] = "celeb"
) -> tuple[MultiBranchNet, dict]:
    """Train (or load from the cache) stream ``name`` of :data:`STREAMS` on ``world`` with ``seed``.

    ``protocol`` picks (tau, alpha) for the student with L_fkp: (cfg.tau, cfg.alpha) or (cfg.tau_prcc, cfg.alpha_prcc).

    Returns:
        (model in eval mode, info: steps, wall time, steps/s, best validation step and score, cached flag).
    """
    if name not in STREAMS:
        raise ValueError(f"unknown stream {name!r}; expected one of {sorted(STREAMS)}")
    spec = STREAMS[name]
    tau, alpha = (cfg.tau, cfg.alpha) if protocol == "celeb" else (cfg.tau_prcc, cfg.alpha_prcc)
    teacher = train_stream(cfg, world, "teacher", seed)[0] if spec.kd else None
    steps = cfg.body_steps if spec.kind == "body" else cfg.face_steps
    labels = torch.unique(world.train.pids, return_inverse=True)[1]
    key_obj = [CACHE_VERSION, name, seed, asdict(cfg.world), asdict(cfg.model), steps, cfg.p, cfg.k, cfg.lr,
               cfg.weight_decay, cfg.warmup_frac, cfg.epsilon, cfg.lam, cfg.margin, cfg.smoothing,
               cfg.random_erasing, cfg.eval_every, (tau, alpha) if spec.kd else None, *cfg.fit.key_part().values()]
    if cfg.dataset != "world":
        key_obj += [cfg.dataset, str(Path(cfg.data_root).resolve()), list(cfg.cloth_labels)]
    path = Path(cfg.cache_dir) / f"{name.replace('+', 'p').replace('-', 'm')}-{stable_hash(key_obj)}.pt"
    seed_everything(seed)
    model = MultiBranchNet(int(labels.max()) + 1, cfg.model.width, cfg.model.feat_dim, csa=spec.csa,
                           pretrained=cfg.model.pretrained)
    if path.is_file():
        blob = load_cached(path)
        model.load_state_dict(blob["model"])
        return model.eval(), {**json.loads(blob["info"]), "cached": True}
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    fit_cfg = cfg.fit.fit_config(max_steps=steps, seed=seed, log_every=max(steps // 5, 1), eval_every=cfg.eval_every,
                                 select_best=True)
    result = fit(model, opt, _loss_fn(cfg, spec, teacher, tau, alpha), _batches(cfg, spec, world.train, labels, seed),
                 fit_cfg, scheduler=_scheduler(opt, steps, cfg.warmup_frac), eval_fn=_val_score(spec, world))
    info = {"stream": name, "steps": result.final_step, "wall_time_s": round(result.wall_time_s, 2),
            "steps_per_s": round(result.steps_per_s, 3), "best_step": result.best_step,
            "val_mAP": result.best_score, "final_loss": next((r["loss"] for r in reversed(result.history) if "loss" in r), None),
            "cached": False}
    save_atomic({"model": model.state_dict(), "info": json.dumps(info)}, path)
    return model.eval(), info


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the global stream G once with the params' ``fit`` device settings (cached like every stream): what
    ``examples/fit_distributed.py`` launches on one GPU or under torchrun. Returns steps, final_loss, wall_time_s."""
    info = train_stream(cfg, build_world(cfg, seed), "G", seed)[1]
    return {"model": "DeSKPro stream G", **{k: info[k] for k in ("steps", "final_loss", "wall_time_s", "cached")}}


@torch.no_grad()
def descriptors(model: nn.Module, spec: StreamSpec | str, data: ReIDSet, batch_size: int = 128) -> torch.Tensor:
    """(N, 7 * feat_dim) flip-averaged descriptors of one stream; zeros for face streams where no face exists."""
    spec = STREAMS[spec] if isinstance(spec, str) else spec
    was_training = model.training
    model.eval()
    inputs = _stream_input(spec, data)
    out = torch.cat([flip_averaged_embedding(model, _normalise(inputs[i : i + batch_size]))
                     for i in range(0, len(data), batch_size)])
    model.train(was_training)
    if spec.kind != "body":
        out = out * data.has_face[:, None].to(out.dtype)
    return out


def distances(q_desc: list[torch.Tensor], g_desc: list[torch.Tensor]) -> torch.Tensor:
    """(Q, G) distances ``1 - qf @ gf.T`` of the concatenated stream descriptors (official ``main.py``,
    ``inference_mode 0``); each descriptor is L2-normalised per stream, so a zero face part leaves the body score."""
    return 1.0 - torch.cat(q_desc, 1) @ torch.cat(g_desc, 1).T


def evaluate(q_desc: list[torch.Tensor], g_desc: list[torch.Tensor], query: ReIDSet, gallery: ReIDSet,
             mode: Literal["cloth_changing", "same_clothes", "standard"]) -> dict[str, float]:
    """CMC rank-1/5 and mAP (%) of concatenated stream descriptors.

    Similarity is the dot product of the concatenated, per-embedding L2-normalised descriptors (official
    ``main.py``, ``inference_mode 0``: ``1 - qf @ gf.T``); a face part of zeros leaves the global-stream score.
    """
    dist = distances(q_desc, g_desc)
    res = evaluate_rank(dist, query.pids, gallery.pids, query.camids, gallery.camids,
                        query.clothes, gallery.clothes, mode=mode, max_rank=5)
    return {"R1": 100 * float(res.cmc[0]), "R5": 100 * float(res.cmc[4]), "mAP": 100 * float(res.mAP),
            "skipped": int(res.n_skipped)}


def _row(name: str, streams: list[str], models: dict, query: ReIDSet, gallery: ReIDSet, mode: str) -> dict:
    """One table row.

    ``queries_without_face`` counts queries with no face crop: two-stream models rank them by the global stream
    alone; face-only models (4, 5, 6) cannot rank them (all scores equal).
    """
    q = [descriptors(models[s], s, query) for s in streams]
    g = [descriptors(models[s], s, gallery) for s in streams]
    uses_face = any(STREAMS[s].kind != "body" for s in streams)
    no_face = int((~query.has_face).sum()) if uses_face else 0
    return {"model": name, **evaluate(q, g, query, gallery, mode), "queries_without_face": no_face}


@_with_threads
def run_ablation(cfg: Config, seed: int) -> tuple[list[dict], list[dict]]:
    """Table 3 on the Celeb-reID-light-like protocol (cloth-changing mode) for one seed.

    Returns:
        (rows: model, R1, R5, mAP, seed; training info of every stream).
    """
    world = build_world(cfg, seed)
    trained = {name: train_stream(cfg, world, name, seed) for name in STREAMS}
    models = {k: v[0] for k, v in trained.items()}
    query, gallery = (world.celeb_query, world.celeb_gallery) if world.celeb_query is not None else (
        world.prcc_cross_query, world.prcc_gallery)  # real PRCC: its cross-clothes setting
    rows = [{**_row(name, streams, models, query, gallery, "cloth_changing"), "seed": seed}
            for name, streams in ABLATION_ROWS]
    return rows, [v[1] | {"seed": seed} for v in trained.values()]


@_with_threads
def run_ccreid(cfg: Config, seed: int) -> tuple[list[dict], list[dict]]:
    """Tables 1-2 shape: the global-stream baseline (model 1) against DeSKPro on both protocols, one seed.

    Celeb-reID-light-like: cloth-changing mode. PRCC-like: gallery camera A; cross-clothes queries (camera C,
    cloth-changing mode) and same-clothes queries (camera B, same-clothes mode). The PRCC student uses
    (tau_prcc, alpha_prcc); the global streams and the teacher do not depend on (tau, alpha) and are shared.
    """
    world = build_world(cfg, seed)
    names = ["G", "G+CSA+Latt", "teacher", "student+"]
    trained = {n: train_stream(cfg, world, n, seed) for n in names}
    trained["student+prcc"] = train_stream(cfg, world, "student+", seed, protocol="prcc")
    m = {k: v[0] for k, v in trained.items()}
    rows = []
    for method, streams, face_key in [("LightMBN-like (G)", ["G"], None), ("DeSKPro", ["G+CSA+Latt", "student+"], "student+")]:
        if world.celeb_query is not None:
            r = _row(method, streams, m, world.celeb_query, world.celeb_gallery, "cloth_changing")
            rows.append({"protocol": "celeb-light", "setting": "cloth-changing", **r, "seed": seed})
        if world.prcc_gallery is None:
            continue
        prcc_models = dict(m)
        if face_key:
            prcc_models["student+"] = m["student+prcc"]
        for setting, query, mode in [("cross-clothes", world.prcc_cross_query, "cloth_changing"),
                                     ("same-clothes", world.prcc_same_query, "same_clothes")]:
            r = _row(method, streams, prcc_models, query, world.prcc_gallery, mode)
            rows.append({"protocol": "prcc", "setting": setting, **r, "seed": seed})
    return rows, [v[1] | {"seed": seed, "key": k} for k, v in trained.items()]


@torch.no_grad()
@_with_threads
def attention_maps(cfg: Config, seed: int, n_images: int = 4) -> dict[str, torch.Tensor]:
    """Fig. 3 material for models 2 and 3 on the same test images, plus the cloth-attention contrast.

    Returns:
        dict with ``images`` (n, 3, H, W) uint8, ``cloth`` (n, H, W) bool clothing pixels, and for each of
        ``G+CSA`` / ``G+CSA+Latt``: ``<name>/attention`` (n, h_f, w_f) Psi_hat, ``<name>/refined``
        (n, h_f, w_f) channel-mean |F_att|, and ``<name>/contrast`` (scalar): mean Psi_hat on
        cloth-irrelevant person pixels minus mean Psi_hat on clothing pixels over the whole test gallery.
    """
    world = build_world(cfg, seed)
    gallery = world.celeb_gallery if world.celeb_gallery is not None else world.prcc_gallery
    if gallery.parsing is None:
        raise ValueError("attention_maps needs parsing masks of the test gallery (the synthetic world has them)")
    step = max(len(gallery) // n_images, 1)
    pick = torch.arange(0, step * n_images, step)[:n_images]
    out: dict[str, torch.Tensor] = {"images": gallery.images[pick]}
    parsing = gallery.parsing.long()
    out["cloth"] = torch.isin(parsing[pick], torch.tensor(_cloth_labels(cfg)))
    for name in ("G+CSA", "G+CSA+Latt"):
        model = train_stream(cfg, world, name, seed)[0]
        _, refined, psi = model.attend(_normalise(gallery.images))
        out[f"{name}/attention"] = psi[pick, 0]
        out[f"{name}/refined"] = refined[pick].abs().mean(1)
        up = nn.functional.interpolate(psi, size=parsing.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        cloth = torch.isin(parsing, torch.tensor(_cloth_labels(cfg)))
        person_not_cloth = (parsing > 0) & ~cloth
        out[f"{name}/contrast"] = up[person_not_cloth].mean() - up[cloth].mean()
    return out


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

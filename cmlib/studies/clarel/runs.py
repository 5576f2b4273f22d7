"""CLAREL runs: training one model per (stage, seed, lambda, kappa), its distance matrix, the run cache, and the
GZSL protocol of one setting (alpha validated, then the train+val model scored on test).

Validation discipline (``cmlib.protocol.splits.SealedSplit``): the test stage's distance matrix of one trained setting is
handed out sealed (:func:`sealed_test`); :func:`evaluate_setting` opens it once, after alpha* is fixed on the
validation stage, and a second evaluation of the same sealed view raises ``TestSplitSealed``. Notebook 04 holds one
sealed view per trained setting (Table 3 lines 1/6 and 2/3 share a model: one opening gives both lines)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from cmlib.losses.retrieval import clarel_loss, euclidean_distances
from cmlib.models.clarel import ClarelModel, ClarelModelConfig
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.cache import save_atomic
from cmlib.protocol.claims import curve_from_history
from cmlib.protocol.config import to_dict
from cmlib.protocol.engine import fit, on_cpu, seed_everything, to_model_device
from cmlib.protocol.run import cache_key
from cmlib.protocol.splits import SealedSplit
from cmlib.studies.clarel.config import Config, TrainConfig
from cmlib.studies.clarel.data import ClarelData, Stage, build_data, make_stage


@dataclass
class Scored:
    """A trained model's Euclidean distances from eval images to class prototypes (columns: seen then unseen).

    Attributes:
        distances: (N_eval, C_eval) float tensor. labels: (N_eval,) column index of the true class.
        seen_cols / unseen_cols: column indices. history: training log rows. wall_s: training wall time.
    """

    distances: torch.Tensor
    labels: torch.Tensor
    seen_cols: list[int]
    unseen_cols: list[int]
    history: list[dict[str, float]]
    wall_s: float


# ------------------------------------------------------------------------------------------- training
def _as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float inputs unchanged."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def stage_batches(data: ClarelData, stage: Stage, tcfg: TrainConfig, seed: int):
    """``epoch -> batches`` over the stage's training images: dicts with x (B, ...), ids (B, K, L), lengths (B, K),
    labels (B,) (index among the stage's seen classes). K sentences are drawn per image from a generator seeded by
    (seed, epoch) only, so resumed runs see the same batches."""
    remap = {int(c): i for i, c in enumerate(stage.seen)}
    targets = torch.tensor([remap[int(c)] for c in data.labels[stage.train_idx]], dtype=torch.long)
    idx = torch.as_tensor(stage.train_idx, dtype=torch.long)
    n_sent = data.ids.shape[1]

    def batches(epoch: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(idx), generator=gen)
        k = tcfg.sentences_per_image
        for start in range(0, len(order) - tcfg.batch_size + 1, tcfg.batch_size):
            sel = order[start:start + tcfg.batch_size]
            rows = idx[sel]
            pick = torch.randint(n_sent, (len(rows), k), generator=gen)
            yield {"x": _as_float(data.inputs[rows]), "ids": data.ids[rows[:, None], pick],
                   "lengths": data.lengths[rows[:, None], pick], "labels": targets[sel]}

    return batches


def model_config(mcfg: ClarelModelConfig, data: ClarelData) -> ClarelModelConfig:
    """The tower widths with ``image_in_dim`` taken from the features.

    Raises:
        ValueError: the data are images but no ``model.backbone`` is named.
    """
    if data.inputs.dim() == 2:
        return dataclasses.replace(mcfg, image_in_dim=int(data.inputs.shape[1]))
    if mcfg.backbone is None:
        raise ValueError(f"{data.source} holds images {tuple(data.inputs.shape[1:])}: set model.backbone to a timm "
                         "model name (e.g. resnet18), or use features")
    return mcfg


def train_model(data: ClarelData, stage: Stage, cfg: Config, seed: int, lam: float, kappa: float):
    """Train one CLAREL model on the stage's training images with the composite loss (lam, kappa).

    Returns:
        (model, FitResult).
    """
    seed_everything(seed)
    model = ClarelModel(data.word_vectors, n_classes=len(stage.seen), cfg=model_config(cfg.model, data))
    tcfg = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    if tcfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=tcfg.lr, momentum=tcfg.momentum, weight_decay=tcfg.weight_decay)
    else:
        fused = True if tcfg.optimizer == "adam-fused" else None  # None: torch's default update (plain "adam")
        opt = torch.optim.Adam(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay, fused=fused)
    milestones = sorted({max(1, round(f * tcfg.steps)) for f in tcfg.lr_drops})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)

    def loss_fn(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = m(batch["x"], batch["ids"], batch["lengths"])
        return clarel_loss(out["image_emb"], out["text_emb"], out["image_logits"], out["text_logits"],
                           batch["labels"], lam, kappa)

    every = max(1, tcfg.steps // tcfg.curve_points) if tcfg.curve_points and stage.name == "val" else 0
    fcfg = cfg.run.fit_config(max_steps=tcfg.steps, seed=seed, log_every=max(1, tcfg.steps // 10),
                              grad_clip=tcfg.grad_clip, eval_every=every)
    eval_fn = (lambda m: {"score": validation_h(m, data, stage, cfg)}) if every else None
    result = fit(model, opt, loss_fn, stage_batches(data, stage, tcfg, seed), fcfg, scheduler=sched, eval_fn=eval_fn)
    return model, result


def validation_h(model: ClarelModel, data: ClarelData, stage: Stage, cfg: Config) -> float:
    """The best H (%) over ``cfg.alphas`` of ``model`` on a validation stage's eval images: one point of the
    validation curve (``TrainConfig.curve_points``). Raises on a test stage: its images are read once, at the end."""
    if stage.name != "val":
        raise ValueError(f"validation_h: stage {stage.name!r} is not the validation stage (the test split is sealed)")
    dist, labels = score(model, data, stage, cfg.train.eval_batch)
    n_seen = len(stage.seen)
    scored = Scored(dist, labels, list(range(n_seen)), list(range(n_seen, dist.shape[1])), [], 0.0)
    return max(h_curve(scored, cfg.alphas))


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the main model once (train+val classes, ``cfg.lam``/``cfg.kappa``) with the params' ``run.device``
    settings: what ``examples/fit_distributed.py`` launches on one GPU or under torchrun. Returns steps, final_loss,
    wall_time_s. Under DDP each process sees its shard of a batch: the retrieval loss's in-batch negatives are local."""
    data = build_data(cfg)
    _, result = train_model(data, make_stage(data, "test", cfg.val_seen_fraction, seed), cfg, seed, cfg.lam, cfg.kappa)
    return {"model": f"CLAREL lambda={cfg.lam} kappa={cfg.kappa}", "steps": result.final_step,
            "final_loss": result.history[-1]["loss"], "wall_time_s": round(result.wall_time_s, 2)}


@torch.no_grad()
def score(model: ClarelModel, data: ClarelData, stage: Stage, eval_batch: int = 2048) -> tuple[torch.Tensor, ...]:
    """Distances (Eq. (1)) from the stage's eval images (seen then unseen) to class prototypes (seen then unseen).

    Returns:
        (distances (N_eval, C_eval), labels (N_eval,) column of the true class).
    """
    model.eval()
    classes = np.concatenate([stage.seen, stage.unseen])
    col = {int(c): i for i, c in enumerate(classes)}
    proto_idx = stage.proto_idx[np.isin(data.labels[stage.proto_idx], classes)]
    text = encode_by_length(model, data.ids[proto_idx], data.lengths[proto_idx], eval_batch // 8)
    proto_cols = torch.tensor([col[int(c)] for c in data.labels[proto_idx]])
    protos = torch.zeros(len(classes), text.shape[1]).index_add_(0, proto_cols, text)
    protos /= torch.bincount(proto_cols, minlength=len(classes)).clamp_min(1)[:, None].float()
    eval_idx = np.concatenate([stage.seen_idx, stage.unseen_idx])
    img = torch.cat([on_cpu(model.encode_image(to_model_device(model, _as_float(data.inputs[i]))))
                     for i in _chunks(eval_idx, eval_batch)])
    labels = torch.tensor([col[int(c)] for c in data.labels[eval_idx]])
    return euclidean_distances(img, protos), labels


def encode_by_length(model: ClarelModel, ids: torch.Tensor, lengths: torch.Tensor, chunk: int) -> torch.Tensor:
    """``model.encode_text(ids, lengths)`` in eval mode, the sentences sorted by length into chunks of ``chunk``
    images' worth (``chunk * K`` sentences), so that each chunk runs only to its own longest sentence (the text
    tower trims all-padding columns in eval; the study's sentences average 14.6 of 30 tokens). The same embeddings
    to float rounding (tests/unit/test_clarel_model.py); the measured saving is in params/clarel/study.yaml.

    Args:
        ids: (N, K, L) K sentences of each of N images, or (N, L) one each. lengths: (N, K) or (N,), on the CPU
            (packing reads them).

    Returns:
        (N, embed_dim): the mean over each image's K sentence embeddings.
    """
    if ids.dim() == 2:
        ids, lengths = ids[:, None], lengths[:, None]
    n, k, length = ids.shape
    flat_ids, flat_len = ids.reshape(n * k, length), lengths.reshape(n * k)
    order = torch.argsort(flat_len.clamp(min=1), stable=True)
    out = torch.cat([on_cpu(model.encode_text(to_model_device(model, flat_ids[i]), flat_len[i]))
                     for i in order.split(max(1, chunk * k))])
    emb = torch.empty_like(out).index_copy_(0, order, out)
    return emb.reshape(n, k, -1).mean(1)


def _chunks(idx: np.ndarray, size: int):
    t = torch.as_tensor(idx, dtype=torch.long)
    return [t[i:i + size] for i in range(0, len(t), max(1, size))]


_MEMORY: dict[str, Scored] = {}


def _key(cfg: Config, stage: str, seed: int, lam: float, kappa: float) -> str:
    blob = {"data": cfg.data, "root": str(cfg.data_root), "dataset": cfg.dataset, "world": to_dict(cfg.world),
            "model": to_dict(cfg.model), "train": to_dict(cfg.train), "vsf": cfg.val_seen_fraction,
            "stage": stage, "seed": seed, "lam": lam, "kappa": kappa}
    return cache_key(cfg, blob)


def cache_file(cfg: Config, key: str) -> Path | None:
    """Where the model of run-cache key ``key`` (:func:`_key`) is kept: ``<cache_dir>/<key>.pt``; None without a
    ``cache_dir`` (memory only)."""
    return Path(cfg.run.cache_dir) / f"{key}.pt" if cfg.run.cache_dir else None


def trained_scores(cfg: Config, data: ClarelData | Callable[[], ClarelData], stage_name: Literal["val", "test"],
                   seed: int, lam: float, kappa: float) -> Scored:
    """Train (or load from the cache) the model for (stage, seed, lam, kappa) and return its distance matrix.

    The cache (memory, and ``cfg.run.cache_dir`` when set) keys on every parameter that changes the model, so alpha
    sweeps and later notebooks reuse a model instead of retraining it. ``data`` may be a function building the
    data, called only when the model has to be trained (a cached model needs no data: cub100 reads 5,902 images).
    """
    key = _key(cfg, stage_name, seed, lam, kappa)
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_file(cfg, key)
    if path is not None and path.is_file():
        blob = load_cached(path)
        scored = Scored(blob["distances"], blob["labels"], blob["seen_cols"], blob["unseen_cols"],
                        blob["history"], blob["wall_s"])
    else:
        data = data() if callable(data) else data
        stage = make_stage(data, stage_name, cfg.val_seen_fraction, seed)
        model, result = train_model(data, stage, cfg, seed, lam, kappa)
        dist, labels = score(model, data, stage, cfg.train.eval_batch)
        n_seen = len(stage.seen)
        scored = Scored(dist, labels, list(range(n_seen)), list(range(n_seen, dist.shape[1])),
                        result.history, result.wall_time_s)
        if path is not None:
            save_atomic({"distances": dist, "labels": labels, "seen_cols": scored.seen_cols,
                         "unseen_cols": scored.unseen_cols, "history": result.history, "wall_s": result.wall_time_s,
                         "state_dict": model.state_dict()}, path)
    _MEMORY[key] = scored
    return scored


# ---------------------------------------------------------------------------------------- experiments
def gzsl_at(scored: Scored, alpha: float) -> dict[str, float]:
    """u, s, H (in %) of Eq. (1) with d_alpha on a distance matrix (cmlib.metrics.zsl.gzsl)."""
    from cmlib.metrics import zsl

    r = zsl.gzsl(scored.distances, scored.labels, scored.seen_cols, alpha=alpha)
    return {"u": 100 * float(r.u), "s": 100 * float(r.s), "H": 100 * float(r.h)}


def h_curve(scored: Scored, alphas: list[float]) -> list[float]:
    """H (in %) for each alpha (cmlib.metrics.zsl.alpha_sweep)."""
    from cmlib.metrics import zsl

    return [100 * float(r.h) for r in zsl.alpha_sweep(scored.distances, scored.labels, scored.seen_cols, alphas)]


def chance_h(n_seen: int, n_unseen: int) -> float:
    """H (%) of a uniform random guess over the C = n_seen + n_unseen prototypes: u = 100 / C on unseen images and
    s = 100 / C on seen ones (per-class top-1 of a uniform guess), so H = 100 / C."""
    return 100.0 / (n_seen + n_unseen)


def _top_share(scored: Scored, alpha: float) -> float:
    """Share of the eval images given the most frequent predicted class at ``alpha`` (near 1: collapsed)."""
    from cmlib.metrics import zsl

    pred = zsl.gzsl_predictions(scored.distances, scored.seen_cols, alpha)
    return float(np.bincount(pred).max() / len(pred))


def validate_setting(cfg: Config, data: ClarelData, seed: int, lam: float, kappa: float) -> dict[str, Any]:
    """The validation stage alone for one (seed, lam, kappa): alpha* = argmax of validation H, and u, s, H at
    alpha = 0 and alpha* on the validation split (percentages), with the model's validation ``curve``. The test
    split is not read."""
    val = trained_scores(cfg, data, "val", seed, lam, kappa)
    curve = h_curve(val, cfg.alphas)
    alpha = float(cfg.alphas[int(np.argmax(curve))])
    at0, at_a = gzsl_at(val, 0.0), gzsl_at(val, alpha)
    return {"seed": seed, "lambda": lam, "kappa": kappa, "alpha": alpha, "u0": at0["u"], "s0": at0["s"],
            "H0": at0["H"], "u": at_a["u"], "s": at_a["s"], "H": at_a["H"],
            "H_chance": chance_h(len(val.seen_cols), len(val.unseen_cols)), "top_share": _top_share(val, alpha),
            "train_s": val.wall_s, "curve": curve_from_history(val.history)}


def sealed_test(cfg: Config, data: ClarelData | Callable[[], ClarelData], seed: int, lam: float,
                kappa: float) -> SealedSplit[Scored]:
    """The test stage of one trained setting (the train+val model's distances to the test images), sealed: it is
    read once, through ``.open(reason)``, for the final score (:func:`evaluate_setting`)."""
    text = f", {cfg.world.text_level}-level text" if cfg.data == "world" else ""
    return SealedSplit(trained_scores(cfg, data, "test", seed, lam, kappa),
                       f"clarel {cfg.data} test (seed {seed}, lambda={lam:g}, kappa={kappa:g}{text})")


def evaluate_setting(cfg: Config, data: ClarelData, seed: int, lam: float, kappa: float,
                     test: SealedSplit[Scored] | None = None) -> dict[str, Any]:
    """The full protocol for one (seed, lam, kappa): alpha* = argmax of H on the validation stage, then the
    train+val model scored on test at alpha=0 and alpha*. Returns one flat row (percentages).

    ``test`` (default: a new :func:`sealed_test` view) is opened once, after alpha* is fixed; passing a view that
    was already opened raises ``cmlib.protocol.splits.TestSplitSealed``. The row also carries diagnostics read from the
    opened test matrix *after* alpha* is fixed, never used to choose anything: ``alpha_test_best`` /
    ``H_test_best`` (the alpha of the test grid with the best H, and that H: the alpha transfer from the validation
    model to the train+val model), ``H_chance`` (:func:`chance_h`) and ``top_share`` (share of test images given
    the most frequent predicted class at alpha*: near 1 = collapsed). ``curve``: the validation curve of the
    setting's validation-stage model (``TrainConfig.curve_points``; the test-stage model's own stand-in for the
    convergence gate, since its training has no validation split; empty without curve points).
    """
    from cmlib.metrics import zsl

    val = trained_scores(cfg, data, "val", seed, lam, kappa)
    curve = h_curve(val, cfg.alphas)
    alpha = float(cfg.alphas[int(np.argmax(curve))])
    view = test if test is not None else sealed_test(cfg, data, seed, lam, kappa)
    test = view.open(f"final score at alpha*={alpha:g} (chosen on validation)")
    at0, at_a = gzsl_at(test, 0.0), gzsl_at(test, alpha)
    rows = torch.isin(test.labels, torch.tensor(test.unseen_cols))
    z = 100 * float(zsl.zsl_top1(test.distances[rows], test.labels[rows], test.unseen_cols))
    test_curve = h_curve(test, cfg.alphas)
    return {"seed": seed, "lambda": lam, "kappa": kappa, "alpha": alpha, "val_H": max(curve),
            "u0": at0["u"], "s0": at0["s"], "H0": at0["H"], "u": at_a["u"], "s": at_a["s"], "H": at_a["H"],
            "zsl": z, "alpha_test_best": float(cfg.alphas[int(np.argmax(test_curve))]), "H_test_best": max(test_curve),
            "H_chance": chance_h(len(test.seen_cols), len(test.unseen_cols)),
            "zsl_chance": 100.0 / len(test.unseen_cols), "top_share": _top_share(test, alpha), "train_s": test.wall_s,
            "curve": curve_from_history(val.history)}

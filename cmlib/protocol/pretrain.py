"""Backbone pretraining that stands in for ImageNet: train any backbone as a classifier once, keep its weights file.

Papers fine-tune ImageNet-pretrained backbones; no such weights can be had on the study machines, and a backbone
trained from random init on a small retrieval set is not what a paper tests. :func:`pretrain_backbone` trains a
feature extractor plus a linear classifier on a labelled pretraining set (disjoint from the study's data) with
:func:`cmlib.protocol.engine.fit`, and saves the *backbone's* ``state_dict`` (no classifier) atomically as a weights file,
which the study then loads through the same config key a user's real ImageNet weights take (e.g. WHCMT's
``visual.weights_file``, DeSKPro's OSNet weights). The file is cached under a stable hash of everything that
determines it (the caller's ``key`` describing the backbone and the data, the :class:`PretrainConfig`), so it is paid
once per config; its pretraining accuracy on a held-out part of the set is stored beside it (``<file>.json``).

Nothing here knows a paper: the caller passes a backbone (``(B, 3, H, W) -> (B, out_dim)``, attribute ``out_dim``),
the module whose weights are saved (the backbone itself, or the part a paper's loader expects) and a function giving
images and class ids (called only when the file is not cached yet).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock, Timeout
from torch import Tensor, nn

from cmlib.protocol.cache import save_atomic, stable_hash
from cmlib.protocol.config import check_range
from cmlib.protocol.engine import epoch_batches, fit, seed_everything
from cmlib.protocol.files import write_text_atomic
from cmlib.protocol.run import RunConfig

__all__ = ["PretrainConfig", "PretrainResult", "pretrain_backbone"]


@dataclass
class PretrainConfig:
    """Budget and optimiser of one pretraining (the same for every backbone of a study).

    Attributes:
        steps: optimizer steps (AdamW).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: mini-batch size.
        held_out: fraction of the pretraining set kept out of training to measure the pretraining accuracy.
        seed: initialisation, split and batch order.
        target_accuracy: pretrain to a *matched* accuracy instead of a matched budget (None: train ``steps`` and keep
            the end). The held-out part is split in two halves: every ``check_every`` steps the *selection* half's
            accuracy is measured, and training stops at the first check that reaches ``target_accuracy`` (those
            weights are kept; ``steps`` is the cap, whose end weights are kept when the target is never reached).
            The accuracy reported is the *other* half's, so the number that says "matched" is not the one the stop
            was decided on. A target of 1.0 trains to the cap and records the curve (a probe of how far a backbone
            gets).
        check_every: steps between those checks (used only with ``target_accuracy``).
    """

    steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 64
    held_out: float = 0.2
    seed: int = 0
    target_accuracy: float | None = None
    check_every: int = 50

    def __post_init__(self) -> None:
        check_range("pretrain.steps", self.steps, lo=1)
        check_range("pretrain.check_every", self.check_every, lo=1)
        if self.target_accuracy is not None:
            check_range("pretrain.target_accuracy", self.target_accuracy, lo=0.0, hi=1.0)
            if self.held_out <= 0:
                raise ValueError("pretrain.target_accuracy needs a held-out part to select on: set pretrain.held_out "
                                 "> 0")
        check_range("pretrain.lr", self.lr, lo=0.0)
        check_range("pretrain.batch_size", self.batch_size, lo=2)
        check_range("pretrain.held_out", self.held_out, lo=0.0, hi=0.9)


@dataclass(frozen=True)
class PretrainResult:
    """A pretrained weights file and how it was obtained.

    Attributes:
        path: the ``torch.save``d ``state_dict`` of the saved module.
        accuracy: top-1 accuracy of backbone + classifier on the held-out part of the pretraining set.
        chance: accuracy of always predicting the most frequent class of the held-out part.
        n_classes: classes of the pretraining task.
        train_s: wall time of the pretraining (of the run that made the file, when loaded from the cache).
        cached: True when the file was already there.
        steps: the step whose weights were kept (``cfg.steps`` without a target accuracy).
        curve: ``((step, selection-half accuracy), ...)`` of the checks (empty without a target accuracy).
    """

    path: Path
    accuracy: float
    chance: float
    n_classes: int
    train_s: float
    cached: bool
    steps: int = 0
    curve: tuple[tuple[int, float], ...] = ()


class _Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(int(backbone.out_dim), n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x))


def pretrain_backbone(name: str, make_backbone: Callable[[], nn.Module],
                      data: Callable[[], tuple[np.ndarray | Tensor, np.ndarray | Tensor]], cfg: PretrainConfig,
                      cache_dir: str | Path, *,
                      key: Any, to_input: Callable[[Tensor], Tensor] = lambda x: x.float(),
                      saved: Callable[[nn.Module], nn.Module] = lambda b: b,
                      log: Callable[[str], None] | None = print,
                      run: RunConfig | None = None, wait: bool = True) -> PretrainResult | None:
    """Train ``make_backbone()`` + a linear classifier on (images, labels), save the backbone weights; cached.

    Parallel replicate processes that need the same file share one pretraining: the first takes a lock
    (``<file>.lock``, :mod:`filelock`) and trains, the others wait for it and load the file. Under torchrun
    (``WORLD_SIZE`` > 1) there is no lock: the ranks are one training and must pretrain the file together.

    Args:
        name: file name stem (``"crossvit"``); the file is ``<cache_dir>/<name>-<hash>.pth``.
        make_backbone: builds the backbone, ``(B, 3, H, W) -> (B, out_dim)`` with an ``out_dim`` attribute (called
            after seeding, so its init follows ``cfg.seed``).
        data: returns (images (N, 3, H, W) in any dtype ``to_input`` accepts, e.g. uint8; labels (N,) class ids in
            [0, C)); called only when the file is not cached yet.
        cfg: steps, optimiser and held-out fraction.
        cache_dir: where weights files are kept.
        key: JSON-able description of everything else that determines the file (backbone config, how the
            pretraining set was made, its size); together with ``name`` and ``cfg`` it forms the cache key.
        to_input: batch of ``images`` -> network input (e.g. uint8 -> normalised float).
        saved: backbone -> the module whose ``state_dict`` is written (the part a paper's loader reads).
        log: where one line per pretraining goes (None: silent).
        run: the paper's run section (:class:`cmlib.protocol.run.RunConfig`): where and under how many threads it
            trains (default one CPU process, one thread); what changes numbers enters the key (``key_part``).
        wait: False: when another process holds the file's lock (it is training it now), return None at once
            instead of waiting, so the caller can pretrain another backbone meanwhile.

    Returns:
        A :class:`PretrainResult` (None only with ``wait=False`` while another process trains the file).

    Raises:
        ValueError: images and labels disagree in length, labels are not (N,) ids, or fewer than two classes.
    """
    run = run or RunConfig()
    digest = stable_hash({"name": name, "key": key, "cfg": _key_cfg(cfg), **run.key_part()})
    path = Path(cache_dir) / f"{name}-{digest}.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun every rank must train the same file together
        return _log(_cached_or_trained(name, make_backbone, data, cfg, path, to_input, saved, run, key), name, path, log)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        return None
    try:
        result = _cached_or_trained(name, make_backbone, data, cfg, path, to_input, saved, run, key)
    finally:
        lock.release()
    return _log(result, name, path, log)


def _log(result: PretrainResult, name: str, path: Path, log: Callable[[str], None] | None) -> PretrainResult:
    if log is not None:
        how = "loaded" if result.cached else f"trained in {result.train_s:.0f} s"
        log(f"pretrained {name}: held-out accuracy {result.accuracy:.3f} over {result.n_classes} classes (chance "
            f"{result.chance:.3f}) after {result.steps} steps, {how}: {path}")
    return result


def _cached_or_trained(name: str, make_backbone: Callable[[], nn.Module],
                       data: Callable[[], tuple[np.ndarray | Tensor, np.ndarray | Tensor]], cfg: PretrainConfig,
                       path: Path, to_input: Callable[[Tensor], Tensor], saved: Callable[[nn.Module], nn.Module],
                       run: RunConfig, key: Any) -> PretrainResult:
    """The file's :class:`PretrainResult`: loaded when cached, else trained and written (under the caller's lock)."""
    meta_path = path.with_name(path.name + ".json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        result = PretrainResult(path, meta["accuracy"], meta["chance"], meta["n_classes"], meta["train_s"], True,
                                meta.get("steps", cfg.steps), tuple(tuple(c) for c in meta.get("curve", ())))
    else:
        images, labels = data()
        images_t, labels_t = torch.as_tensor(images), torch.as_tensor(labels).long()
        if labels_t.ndim != 1 or len(labels_t) != len(images_t):
            raise ValueError(f"pretrain_backbone({name}): expected labels (N,) for {len(images_t)} images, got "
                             f"shape {tuple(labels_t.shape)}")
        n_classes = int(labels_t.max()) + 1
        if n_classes < 2 or int(labels_t.min()) < 0:
            raise ValueError(f"pretrain_backbone({name}): labels must be ids in [0, C) with C >= 2, got "
                             f"[{int(labels_t.min())}, {int(labels_t.max())}]")
        result = _train(name, make_backbone, images_t, labels_t, n_classes, cfg, path, to_input, saved, run)
        write_text_atomic(meta_path, json.dumps({"accuracy": result.accuracy, "chance": result.chance,
                                                 "n_classes": n_classes, "train_s": result.train_s, "key": key,
                                                 "cfg": asdict(cfg), "steps": result.steps,
                                                 "curve": result.curve}, default=str, indent=1))
    return result


def _key_cfg(cfg: PretrainConfig) -> dict:
    """The config's part of the cache key: the matched-accuracy fields only when set, so files pretrained before
    they existed keep their keys."""
    d = asdict(cfg)
    if cfg.target_accuracy is None:
        d.pop("target_accuracy")
        d.pop("check_every")
    return d


def _train(name: str, make_backbone: Callable[[], nn.Module], images: Tensor, labels: Tensor, n_classes: int,
           cfg: PretrainConfig, path: Path, to_input: Callable[[Tensor], Tensor],
           saved: Callable[[nn.Module], nn.Module], run: RunConfig) -> PretrainResult:
    seed_everything(cfg.seed)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(cfg.seed))
    n_out = int(round(cfg.held_out * len(images)))
    test_idx, train_idx = perm[:n_out], perm[n_out:]
    model = _Classifier(make_backbone(), n_classes)
    train = torch.utils.data.TensorDataset(images[train_idx], labels[train_idx])
    batches = epoch_batches(train, min(cfg.batch_size, len(train)), seed=cfg.seed, num_workers=run.device.num_workers)

    def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        return {"ce": nn.functional.cross_entropy(net(to_input(batch[0])), batch[1])}

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loop = run.fit_config(max_steps=cfg.steps, seed=cfg.seed, log_every=max(1, cfg.steps // 5))
    eval_fn, report_idx = None, test_idx
    if cfg.target_accuracy is not None:  # select on one half of the held-out part, report on the other
        select_idx, report_idx = test_idx[: n_out // 2], test_idx[n_out // 2:]

        def eval_fn(net: nn.Module) -> dict[str, float]:
            acc = _accuracy(net, images[select_idx], labels[select_idx], to_input)[0]
            return {"score": acc, "accuracy": acc}

        loop = replace(loop, eval_every=cfg.check_every, stop_score=cfg.target_accuracy)
    t0 = time.perf_counter()
    res = fit(model, opt, loss_fn, batches, loop, eval_fn=eval_fn)
    train_s = time.perf_counter() - t0
    acc, chance = _accuracy(model, images[report_idx], labels[report_idx], to_input) if n_out else (float("nan"),) * 2
    save_atomic(saved(model.backbone).state_dict(), path)  # the weights before the metadata: a file without its
    # .json is retrained, never loaded half-described
    curve = tuple((int(h["step"]), round(h["eval/accuracy"], 4)) for h in res.history if "eval/accuracy" in h)
    return PretrainResult(path, acc, chance, n_classes, round(train_s, 1), False,
                          res.final_step, curve)


@torch.no_grad()
def _accuracy(model: nn.Module, images: Tensor, labels: Tensor, to_input: Callable[[Tensor], Tensor],
              batch: int = 250) -> tuple[float, float]:
    """(top-1 accuracy, majority-class rate) on a held-out set."""
    model.eval()
    pred = torch.cat([model(to_input(images[i:i + batch])).argmax(1) for i in range(0, len(images), batch)])
    model.train()
    return float((pred == labels).float().mean()), float(torch.bincount(labels).max() / len(labels))

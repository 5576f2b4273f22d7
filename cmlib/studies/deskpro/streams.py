"""Training one DeSKPro stream (eq. 7 terms of that stream) with validation-split model selection; cached."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from cmlib.data.worlds.deskpro import DeskproWorld
from cmlib.losses.reid import DeSKProLoss
from cmlib.models.deskpro import MultiBranchNet
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.cache import save_atomic
from cmlib.protocol.engine import fit, seed_everything
from cmlib.protocol.run import cache_key, with_threads
from cmlib.studies.deskpro.config import STREAMS, Config, StreamSpec
from cmlib.studies.deskpro.data import CACHE_VERSION, augment, batches
from cmlib.studies.deskpro.evaluation import descriptors, evaluate
from cmlib.studies.deskpro.priors import normalise

__all__ = ["train_stream"]


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
        xt = normalise(batch["x_teacher"]) if "x_teacher" in batch else None
        x, (mask, xt) = augment(normalise(batch["x"]), [batch.get("mask"), xt], cfg.random_erasing)
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


@with_threads
def train_stream(cfg: Config, world: DeskproWorld, name: str, seed: int,
                 protocol: Literal["celeb", "prcc"] = "celeb", dataset: str | None = None) -> tuple[MultiBranchNet, dict]:
    """Train (or load from the cache) stream ``name`` of :data:`STREAMS` on ``world`` with ``seed``.

    ``protocol`` picks (tau, alpha) for the student with L_fkp: (cfg.tau, cfg.alpha) or (cfg.tau_prcc, cfg.alpha_prcc).
    ``dataset`` names the real dataset ``world`` was read from (None: the synthetic world). The backbone starts from
    ``cfg.model.pretrained`` (the stand-in of :mod:`cmlib.studies.deskpro.priors`, or a user's file).

    Returns:
        (model in eval mode, info: steps, wall time, steps/s, best validation step and score, cached flag).
    """
    if name not in STREAMS:
        raise ValueError(f"unknown stream {name!r}; expected one of {sorted(STREAMS)}")
    spec = STREAMS[name]
    tau, alpha = (cfg.tau, cfg.alpha) if protocol == "celeb" else (cfg.tau_prcc, cfg.alpha_prcc)
    teacher = train_stream(cfg, world, "teacher", seed, dataset=dataset)[0] if spec.kd else None
    steps = cfg.body_steps if spec.kind == "body" else cfg.face_steps
    lr = cfg.lr if spec.kind == "body" or cfg.face_lr is None else cfg.face_lr
    labels = torch.unique(world.train.pids, return_inverse=True)[1]
    key_obj: list[Any] = [CACHE_VERSION, name, seed, asdict(cfg.world), asdict(cfg.model), steps, cfg.p, cfg.k, lr,
                          cfg.weight_decay, cfg.warmup_frac, cfg.epsilon, cfg.lam, cfg.margin, cfg.smoothing,
                          cfg.random_erasing, cfg.eval_every, (tau, alpha) if spec.kd else None]
    if spec.kind != "body":
        key_obj.append(asdict(cfg.restore))  # the teacher's input comes from the restorer
    if dataset is not None:
        key_obj += [dataset, str(Path(cfg.data[dataset]).resolve()), list(cfg.cloth_labels)]
    path = Path(cfg.run.cache_dir) / f"{name.replace('+', 'p').replace('-', 'm')}-{cache_key(cfg, *key_obj)}.pt"
    seed_everything(seed)
    model = MultiBranchNet(int(labels.max()) + 1, cfg.model.width, cfg.model.feat_dim, csa=spec.csa,
                           pretrained=cfg.model.pretrained)
    if path.is_file():
        blob = load_cached(path)
        model.load_state_dict(blob["model"])
        return model.eval(), {**json.loads(blob["info"]), "cached": True}
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    fit_cfg = cfg.run.fit_config(max_steps=steps, seed=seed, log_every=max(steps // 5, 1), eval_every=cfg.eval_every,
                                 select_best=True)
    result = fit(model, opt, _loss_fn(cfg, spec, teacher, tau, alpha), batches(cfg, spec, world.train, labels, seed),
                 fit_cfg, scheduler=_scheduler(opt, steps, cfg.warmup_frac), eval_fn=_val_score(spec, world))
    curve = [(int(r["step"]), round(r["eval/score"], 2)) for r in result.history if "eval/score" in r]
    info = {"stream": name, "steps": result.final_step, "wall_time_s": round(result.wall_time_s, 2),
            "steps_per_s": round(result.steps_per_s, 3), "best_step": result.best_step,
            "val_mAP": result.best_score, "val_curve": curve,
            "final_loss": next((r["loss"] for r in reversed(result.history) if "loss" in r), None), "cached": False}
    save_atomic({"model": model.state_dict(), "info": json.dumps(info)}, path)
    return model.eval(), info

"""What the paper takes pretrained from elsewhere, stood in for by models trained once on people no study world has.

- **ImageNet-pretrained OSNet** (Sec. 2.1, "truncated OSNet [18]"): :func:`with_pretrained_osnet` pretrains the
  whole OSNet (``width`` of the study) as an identity classifier over a pool of world people
  (:func:`cmlib.data.worlds.deskpro.pretraining_pool`, ``Config.pretrain_ids`` identities drawn from a stream no
  study world uses) with the generic :func:`cmlib.protocol.pretrain.pretrain_backbone` (the helper WHCMT's stand-in uses),
  saves its state dict and returns the config with ``model.pretrained`` set to that file: every stream (global,
  teacher, student) is then built through :func:`cmlib.models.osnet.load_osnet_weights`, the path a real
  ``osnet_x1_0_imagenet.pth`` takes. One file serves all streams, as one ImageNet checkpoint does in the paper.
  Choice (paper silent): body images of the pool (the face streams start from the same weights), AdamW. With
  ``Config.pretrain_images_per_id > 0`` (the study profile) every pool image wears an independently drawn outfit,
  so the classifier can only solve the task from cloth-irrelevant cues: ImageNet features are tied to no person's
  outfit, while a pool in which people keep their outfits teaches outfit features (issue 16; the paper is silent on
  what a stand-in for ImageNet should be, this is the stand-in's choice).
- **GPEN face restoration** (Sec. 2.2, [21]): :class:`FaceRestorer`, a small residual CNN trained once with an L1
  loss to map the pool's low-resolution head crops (cut from the body image, upsampled) to clean renders of the same
  faces. It is trained on faces of identities disjoint from the study's, as GPEN is pretrained on other faces, so
  it can recover only what a face prior learned from other people allows; the teacher then sees
  ``restore(lr_face)`` (:func:`restore_faces`) and never the oracle render. Choice (paper silent, GPEN is a GAN
  prior at 512 px): a 6-layer residual CNN at the study's face size; its cost is in the efficiency table.

Both files live in ``Config.pretrain_dir`` keyed by everything that determines them and do not depend on the
replicate seed (ImageNet and GPEN do not change between a paper's runs either). Both train under
``Config.num_threads`` torch threads wherever they are called from (the replicate runner trains them in its parent
process before the workers start): a CPU convolution's result depends on the thread count (20 pretraining steps
with 1 and with 2 threads give different weights), so the file a key names must not depend on the caller's setting.
A thread count other than 1 enters the keys.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cmlib.data.reid_folders import ReIDSet
from cmlib.data.worlds.deskpro import pretraining_pool, stand_in_world
from cmlib.models.osnet import osnet
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.cache import save_atomic
from cmlib.protocol.engine import fit, on_cpu, seed_everything, to_model_device, torch_threads
from cmlib.protocol.pretrain import pretrain_backbone
from cmlib.protocol.run import cache_key
from cmlib.studies.deskpro.config import Config

__all__ = ["FaceRestorer", "OSNetFeatures", "restore_faces", "train_restorer", "with_pretrained_osnet"]

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> ImageNet-normalised float."""
    return (x.float() / 255.0 - _MEAN) / _STD


class OSNetFeatures(nn.Module):
    """OSNet -> global average pool: (B, 3, H, W) -> (B, out_dim); ``net`` is the OSNet whose weights are saved."""

    def __init__(self, width: float) -> None:
        super().__init__()
        self.net = osnet(width)
        self.out_dim = self.net.channels[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.net(x), 1).flatten(1)


def pretrains_osnet(cfg: Config) -> bool:
    """Whether :func:`with_pretrained_osnet` pretrains the stand-in for ``cfg`` (or reads it from the cache): no
    weights file is named and the pool is not empty."""
    return cfg.model.pretrained is None and cfg.pretrain_ids > 0


def with_pretrained_osnet(cfg: Config) -> tuple[Config, dict]:
    """``cfg`` with ``model.pretrained`` pointing at the pretrained stand-in (trained now or read from the cache).

    A config that already names a weights file (a user's ImageNet OSNet) or has ``pretrain_ids == 0`` is returned
    unchanged. Returns (config, info: accuracy, chance, n_classes, train_s, cached, file).
    """
    if not pretrains_osnet(cfg):
        return cfg, {}
    world = cfg.world
    pool_key = {"set": "deskpro.pretraining_pool v1", "ids": cfg.pretrain_ids,
                "world": dataclasses.asdict(stand_in_world(world))}  # the world the pool is drawn in
    if cfg.pretrain_images_per_id:  # absent from the key when 0, so the outfit-keeping pool's files stay valid
        pool_key["images_per_id"] = cfg.pretrain_images_per_id
    key = {"width": cfg.model.width, "pool": pool_key}

    def data():
        pool = pretraining_pool(world, cfg.pretrain_ids, seed=0, images_per_id=cfg.pretrain_images_per_id)
        return pool.images, pool.pids

    with torch_threads(cfg.run.threads):
        res = pretrain_backbone("osnet", lambda: OSNetFeatures(cfg.model.width), data, cfg.pretrain,
                                cfg.pretrain_dir, key=key, to_input=normalise, saved=lambda b: b.net, run=cfg.run,
                                log=None)
    info = {"accuracy": res.accuracy, "chance": res.chance, "n_classes": res.n_classes, "train_s": res.train_s,
            "cached": res.cached, "file": res.path.name}
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=str(res.path))), info


class FaceRestorer(nn.Module):
    """Residual CNN restoring a face: uint8-range float (B, 3, f, f) -> (B, 3, f, f) in [0, 255].

    Six 3x3 convolutions (``channels`` wide, ReLU) predict a correction added to the input crop.
    """

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, f, f) float in [0, 255] -> restored (B, 3, f, f) float in [0, 255]."""
        z = x / 127.5 - 1.0
        return ((z + self.body(z)).clamp(-1.0, 1.0) + 1.0) * 127.5


def restorer_file(cfg: Config) -> Path:
    """Where :func:`train_restorer` keeps the restorer of ``cfg`` (``<pretrain_dir>/restorer-<key>.pt``)."""
    key = cache_key(cfg, "deskpro-restorer-v1", dataclasses.asdict(cfg.restore),
                    dataclasses.asdict(stand_in_world(cfg.world)))
    return Path(cfg.pretrain_dir) / f"restorer-{key}.pt"


def train_restorer(cfg: Config) -> tuple[FaceRestorer | None, dict]:
    """Train (or load) the restoration model on the pool's (lr_face -> clean hr_face) pairs; None when ``restore.ids``
    is 0. Returns (model in eval mode, info: pairs, steps, train_s, L1 before/after on a held-out fifth, cached)."""
    rc = cfg.restore
    if rc.ids == 0:
        return None, {}
    path = restorer_file(cfg)
    if path.is_file():
        model = FaceRestorer(rc.channels)
        blob = load_cached(path)
        model.load_state_dict(blob["model"])
        return model.eval(), {**json.loads(blob["info"]), "cached": True}
    with torch_threads(cfg.run.threads):  # the held-out L1 as well as the training (fit applies it too)
        return _fit_restorer(cfg, path)


def _fit_restorer(cfg: Config, path: Path) -> tuple[FaceRestorer, dict]:
    """Train the restorer of :func:`train_restorer` through :func:`cmlib.protocol.engine.fit` (the run's device and
    threads) and save it atomically to ``path``. The batches are drawn from the restorer's own generator (seed 0),
    in the order the former hand-written loop drew them, so the trained weights are the same."""
    rc = cfg.restore
    pool = pretraining_pool(cfg.world, rc.ids, seed=1)  # another draw of people than the OSNet pool
    has = pool.has_face
    lr, hr = pool.lr_face[has].float(), pool.hr_face[has].float()
    n_out = max(len(lr) // 5, 1)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(lr), generator=gen)
    test, train = perm[:n_out], perm[n_out:]
    seed_everything(0)
    model = FaceRestorer(rc.channels)
    opt = torch.optim.Adam(model.parameters(), lr=rc.lr)

    def batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # one epoch holds every step's batch
        for _ in range(rc.steps):
            idx = train[torch.randint(0, len(train), (min(rc.batch_size, len(train)),), generator=gen)]
            flip = (torch.rand(len(idx), generator=gen) < 0.5)[:, None, None, None]
            x, y = lr[idx], hr[idx]
            yield torch.where(flip, x.flip(3), x), torch.where(flip, y.flip(3), y)

    def l1(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"l1": F.l1_loss(m(batch[0]), batch[1])}

    res = fit(model, opt, l1, batches, cfg.run.fit_config(max_steps=rc.steps, seed=0, log_every=max(1, rc.steps // 5)))
    model.eval()
    with torch.no_grad():
        before = float(F.l1_loss(lr[test], hr[test]))
        after = float(F.l1_loss(on_cpu(model(to_model_device(model, lr[test]))), hr[test]))
    info = {"pairs": int(len(train)), "steps": rc.steps, "train_s": round(res.wall_time_s, 1),
            "l1_input": round(before, 3), "l1_restored": round(after, 3), "cached": False}
    save_atomic({"model": model.state_dict(), "info": json.dumps(info)}, path)
    return model, info


@torch.no_grad()
def restore_faces(restorer: FaceRestorer, data: ReIDSet, batch_size: int = 256) -> ReIDSet:
    """``data`` with ``hr_face`` = restore(lr_face) (uint8; zeros where no face was detected)."""
    out = torch.cat([on_cpu(restorer(to_model_device(restorer, data.lr_face[i:i + batch_size].float())))
                     for i in range(0, len(data), batch_size)])
    out = out.round().clamp(0, 255).to(torch.uint8) * data.has_face[:, None, None, None].to(torch.uint8)
    return dataclasses.replace(data, hr_face=out)

"""DeSKPro inference: stream descriptors, two-stream distances with faceless images handled without a bias, CMC/mAP,
and the chance level of a random ranking.

Faceless images (no face detected, Sec. 2.3: "for those query images with no face detected, we only enable the
global stream"). The official code concatenates the per-stream descriptors with a zero face part, so the score of a
pair is ``body + face`` similarity when both have a face and ``body`` alone when one lacks it: a faceless *gallery*
image is then scored on another scale than its neighbours (its missing face term counts as similarity 0), which
biases its rank. Here the score of a pair is the **mean, over the streams both images have, of the per-stream
cosine similarity** (a stream's descriptor is 7 L2-normalised embeddings, so its cosine is their mean dot product):
for a pair where both have a face this ranks exactly like the official ``1 - qf @ gf.T`` (a monotone rescaling),
and a pair missing a face is scored on the global stream alone on the same [-1, 1] scale. A pair that shares no
stream at all (a face-only model, 4/5/6, with a faceless query or gallery image) cannot be scored: it gets a
uniformly random score in [-1, 1], i.e. a random rank. Remaining ties (e.g. equal scores) are broken by a random
gallery order drawn per replicate (``generator``), never by the gallery index, which the world sorts by identity.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from cmlib.data.reid_folders import ReIDSet
from cmlib.metrics.reid import evaluate_rank
from cmlib.models.deskpro import flip_averaged_embedding
from cmlib.protocol.engine import on_cpu, to_model_device
from cmlib.studies.deskpro.config import STREAMS, StreamSpec
from cmlib.studies.deskpro.data import stream_input
from cmlib.studies.deskpro.priors import normalise

__all__ = ["chance_level", "descriptors", "distances", "evaluate"]

Mode = Literal["cloth_changing", "same_clothes", "standard"]


@torch.no_grad()
def descriptors(model: nn.Module, spec: StreamSpec | str, data: ReIDSet, batch_size: int = 128) -> torch.Tensor:
    """(N, 7 * feat_dim) flip-averaged descriptors of one stream; zeros for face streams where no face exists."""
    spec = STREAMS[spec] if isinstance(spec, str) else spec
    was_training = model.training
    model.eval()
    inputs = stream_input(spec, data)
    out = torch.cat([on_cpu(flip_averaged_embedding(model, to_model_device(model, normalise(inputs[i : i + batch_size]))))
                     for i in range(0, len(data), batch_size)])
    model.train(was_training)
    if spec.kind != "body":
        out = out * data.has_face[:, None].to(out.dtype)
    return out


def distances(q_desc: list[torch.Tensor], g_desc: list[torch.Tensor],
              generator: torch.Generator | None = None) -> torch.Tensor:
    """(Q, G) distances ``1 - score``; score = mean over the streams both images have of the stream's cosine.

    Args:
        q_desc, g_desc: one (Q, D_s) / (G, D_s) descriptor per stream; an all-zero row means "this image has no
            input for this stream" (no face).
        generator: draws the random score of pairs that share no stream (default: a generator seeded 0).

    Returns:
        (Q, G) float distances in [0, 2].
    """
    if len(q_desc) != len(g_desc) or not q_desc:
        raise ValueError(f"distances: {len(q_desc)} query and {len(g_desc)} gallery streams")
    total = torch.zeros(q_desc[0].shape[0], g_desc[0].shape[0])
    count = torch.zeros_like(total)
    for q, g in zip(q_desc, g_desc, strict=True):
        qa, ga = q.norm(dim=1) > 0, g.norm(dim=1) > 0
        both = (qa[:, None] & ga[None, :]).to(total.dtype)
        total += (F.normalize(q, dim=1) @ F.normalize(g, dim=1).T) * both
        count += both
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    random = torch.rand(total.shape, generator=gen) * 2.0 - 1.0
    score = torch.where(count > 0, total / count.clamp_min(1.0), random)
    return 1.0 - score


def evaluate(q_desc: list[torch.Tensor], g_desc: list[torch.Tensor], query: ReIDSet, gallery: ReIDSet, mode: Mode,
             generator: torch.Generator | None = None) -> dict[str, float]:
    """CMC rank-1/5 and mAP (%) of the stream descriptors under :func:`distances`, ties in a random gallery order.

    Returns:
        R1, R5, mAP (percent) and skipped (queries without a valid match).
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    return _rank(distances(q_desc, g_desc, gen), query, gallery, mode, gen)


def _rank(dist: torch.Tensor, query: ReIDSet, gallery: ReIDSet, mode: Mode, gen: torch.Generator) -> dict[str, float]:
    order = torch.randperm(len(gallery), generator=gen)  # ties follow a random order, not the identity-sorted index
    res = evaluate_rank(dist[:, order], query.pids, gallery.pids[order], query.camids, gallery.camids[order],
                        query.clothes, gallery.clothes[order], mode=mode, max_rank=5)
    return {"R1": 100 * float(res.cmc[0]), "R5": 100 * float(res.cmc[4]), "mAP": 100 * float(res.mAP),
            "skipped": int(res.n_skipped)}


def chance_level(query: ReIDSet, gallery: ReIDSet, mode: Mode, draws: int = 20, seed: int = 0) -> dict[str, float]:
    """R1, R5, mAP (%) of random rankings (uniform random distances), averaged over ``draws`` draws."""
    gen = torch.Generator().manual_seed(seed)
    runs = [_rank(torch.rand(len(query), len(gallery), generator=gen), query, gallery, mode, gen) for _ in range(draws)]
    return {k: sum(r[k] for r in runs) / draws for k in ("R1", "R5", "mAP")}

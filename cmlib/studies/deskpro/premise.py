"""The premises of DeSKPro's two mechanisms, measured on a world without training anything (issue 31, item 2).

- **Face propagation** (models 4-6, Sec. 2.3) can only add to the fused descriptor what the face tells about a person
  and the body does not. The paper's own order says the face carries at least as much: its face student beats the
  body baseline (Table 3, model 4 20.7 mAP vs model 1 18.8). Measured here with hand-made features (no learning) on
  the cloth-changing test queries (Celeb-reID-light-like: query and gallery never share clothes), each ranked alone
  by :func:`cmlib.studies.deskpro.evaluation.evaluate` (cosine of the feature vectors; an image without the stream's
  input gets a random rank):

  * **body-only** (:func:`body_cues`): what :attr:`WorldConfig.body_identity` scales, read with the ground-truth
    parsing as the ``params/deskpro/study.yaml`` diagnosis read it, minus the face pixels: mean RGB of the hair and
    of the bare skin (arms, legs), their pixel counts, the person's height in rows and the widest torso row;
    standardised over the gallery.
  * **face-only** (:func:`face_cues`): the face window of a face crop (rows 0.40-0.86, columns 0.25-0.75 of the head
    box, where the world draws the eyes and the 4x4 code and no hair), in grey, each image standardised to mean 0
    and sd 1, so neither the skin tone, the hair nor the camera's gain survives: only the face's pattern (eye spacing,
    code). Measured on the student's low-resolution crop (``lr_face``, the paper's model 4 input) and on the
    teacher's restored face (``hr_face``).

  The premise of the propagation claims is ``face_mAP - body_mAP`` (points, student's crop), at least 0.

- **CSA** (Sec. 2.2) suppresses clothes because, once clothes change, they mislead: a body model that matches
  clothes ranks other people who dress like the query above the query's own images. That needs people who dress
  alike: :func:`shared_pattern_share`, the share of pairs of different people that share an outfit colour pattern
  (the (top, bottom) palette colours of :attr:`DeskproWorld.patterns`; the world's ``palette_size`` sets it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import combinations

import torch

from cmlib.data.reid_folders import ReIDSet
from cmlib.data.worlds.deskpro import DeskproWorld
from cmlib.studies.deskpro.evaluation import chance_level, evaluate

__all__ = ["FACE_WINDOW", "SHARED_PATTERN_MINIMUM", "body_cues", "face_cues", "measure_premise",
           "shared_pattern_share"]

#: the face window of a head-box crop, fractions of its side: rows [0.40, 0.86), columns [0.25, 0.75) (the world's
#: eyes sit at 0.46, its code at rows 0.54-0.82 and columns 0.36-0.64; hair lies above 0.36 and beyond 0.76)
FACE_WINDOW = (0.40, 0.86, 0.25, 0.75)
#: CSA premise minimum: one pair of people in a hundred shares an outfit colour pattern. In a gallery of 150 people
#: (the study's test split) a query then has 1.5 look-alikes on average whose images a clothes-matching model ranks
#: above the query's own; below it clothes rarely mislead and suppressing them has little to gain. Fixed from that
#: reasoning before any measurement.
SHARED_PATTERN_MINIMUM = 0.01
_HAIR, _SKIN, _TOP = 1, 3, 4  # parsing labels of cmlib.data.worlds.deskpro.PARSING_LABELS


def body_cues(data: ReIDSet) -> torch.Tensor:
    """(N, 10) hand-measured body features from the world's parsing (labels of ``PARSING_LABELS``).

    Columns: mean RGB / 50 of hair pixels, mean RGB / 50 of bare-skin pixels (arms, legs; not the face), their pixel
    counts / 20, the person's height (rows holding any person pixel) / 5, the widest torso row (top pixels) / 2.
    A part absent from an image gives mean colour 0.

    Raises:
        ValueError: ``data`` has no parsing masks.
    """
    if data.parsing is None:
        raise ValueError("body_cues: the split has no parsing masks (the synthetic world has them)")
    img, lab = data.images.float(), data.parsing.long()
    out = []
    for label in (_HAIR, _SKIN):
        m = (lab == label).float()[:, None]  # (N, 1, H, W)
        n = m.sum((1, 2, 3))
        out += [(img * m).sum((2, 3)) / n.clamp(min=1)[:, None] / 50, (n / 20)[:, None]]
    height = (lab > 0).any(2).float().sum(1)[:, None] / 5
    torso = (lab == _TOP).float().sum(2).max(1).values[:, None] / 2
    return torch.cat(out + [height, torso], 1)


def face_cues(faces: torch.Tensor, has_face: torch.Tensor) -> torch.Tensor:
    """(N, h * w) face-only features: the :data:`FACE_WINDOW` of each (N, 3, f, f) crop, grey, standardised per image.

    Rows of images without a face (``has_face`` False) are all zero (no input: a random rank in ``evaluate``); a
    flat window (sd 0) stays all zero after centring.
    """
    f = faces.shape[-1]
    y0, y1, x0, x1 = (round(v * f) for v in FACE_WINDOW)
    grey = faces.float()[:, :, y0:y1, x0:x1].mean(1).flatten(1)  # (N, h * w)
    z = (grey - grey.mean(1, keepdim=True)) / grey.std(1, keepdim=True).clamp(min=1e-6)
    return z * has_face[:, None].to(z.dtype)


def shared_pattern_share(people: Mapping[int, Iterable[tuple[int, ...]]]) -> float:
    """Share of pairs of different people who share at least one outfit colour pattern.

    Args:
        people: person id -> the patterns of their outfits (e.g. (top colour, bottom colour)).

    Returns:
        (pairs sharing a pattern) / (all pairs), in [0, 1].

    Raises:
        ValueError: fewer than two people.
    """
    sets = [set(p) for p in people.values()]
    if len(sets) < 2:
        raise ValueError(f"shared_pattern_share: need at least 2 people, got {len(sets)}")
    pairs = list(combinations(sets, 2))
    return sum(bool(a & b) for a, b in pairs) / len(pairs)


def _standardised(query: torch.Tensor, gallery: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = gallery.mean(0), gallery.std(0).clamp(min=1e-6)
    return (query - mu) / sd, (gallery - mu) / sd


def measure_premise(world: DeskproWorld, seed: int = 0) -> dict[str, float]:
    """Both premises on the Celeb-reID-light-like test split of ``world`` (cloth-changing queries only).

    Returns:
        ``body_mAP``, ``face_mAP`` (student's crop), ``restored_face_mAP`` (teacher's input), ``chance_mAP`` (%),
        ``face_minus_body`` (points) and ``shared_pattern_share`` (test people, :func:`shared_pattern_share`).

    Raises:
        ValueError: the world records no outfit patterns or its test split has no parsing (real data).
    """
    q, g = world.celeb_query, world.celeb_gallery
    if world.patterns is None or q is None or g is None:
        raise ValueError("measure_premise: needs the synthetic world (outfit patterns, parsing of the test split)")
    score = lambda fq, fg: evaluate([fq], [fg], q, g, "cloth_changing", torch.Generator().manual_seed(seed))["mAP"]
    body = score(*_standardised(body_cues(q), body_cues(g)))
    face = score(face_cues(q.lr_face, q.has_face), face_cues(g.lr_face, g.has_face))
    restored = score(face_cues(q.hr_face, q.has_face), face_cues(g.hr_face, g.has_face)) if (
        q.hr_face is not None and g.hr_face is not None) else float("nan")
    people: dict[int, set] = {}
    for pid, clothes in zip(torch.cat([q.pids, g.pids]).tolist(), torch.cat([q.clothes, g.clothes]).tolist(),
                            strict=True):
        people.setdefault(pid, set()).add(world.patterns[clothes])
    return {"body_mAP": body, "face_mAP": face, "restored_face_mAP": restored,
            "chance_mAP": chance_level(q, g, "cloth_changing", seed=seed)["mAP"], "face_minus_body": face - body,
            "shared_pattern_share": shared_pattern_share(people)}

"""The world knobs of issue 31 (``body_identity``, ``palette_size``) and the premise measurements of
cmlib.studies.deskpro.premise, on hand-computed cases."""

import hashlib
import math

import numpy as np
import pytest
import torch

from cmlib.data.reid_folders import ReIDSet
from cmlib.data.worlds.deskpro import WorldConfig, _identity, make_world
from cmlib.protocol.config import ConfigError
from cmlib.studies.deskpro.premise import body_cues, face_cues, measure_premise, shared_pattern_share

SPLITS = ("train", "val_query", "val_gallery", "celeb_query", "celeb_gallery", "prcc_gallery", "prcc_same_query",
          "prcc_cross_query", "celeb_full_gallery")
#: sha256 of a small world's tensors rendered by the code before the knobs existed (main at fb8d6e7)
WORLD_BEFORE_KNOBS = "bf35a034da8456fe6945057743d3e9d0573660e5cb8017002bed4dade1fc1593"


def _world_hash(cfg: WorldConfig) -> str:
    w = make_world(cfg, 0)
    h = hashlib.sha256()
    for k in SPLITS:
        s = getattr(w, k)
        for t in (s.images, s.parsing, s.lr_face, s.hr_face, s.pids, s.clothes):
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def test_default_knobs_render_the_world_of_every_earlier_study():
    cfg = WorldConfig(n_train_ids=3, n_val_ids=2, n_test_ids=3)
    assert (cfg.body_identity, cfg.palette_size) == (1.0, 10)
    assert _world_hash(cfg) == WORLD_BEFORE_KNOBS


def test_body_identity_scales_each_body_trait_deviation_and_keeps_the_face():
    full = [_identity(np.random.default_rng(s), 1.0) for s in range(50)]
    half = [_identity(np.random.default_rng(s), 0.5) for s in range(50)]
    none = [_identity(np.random.default_rng(s), 0.0) for s in range(50)]
    for key, mid in (("shoulder", 0.54), ("height", 0.93), ("skin_t", 0.5)):
        for a, b, c in zip(full, half, none, strict=True):
            assert b[key] - mid == pytest.approx(0.5 * (a[key] - mid), abs=1e-12)
            assert c[key] == pytest.approx(mid, abs=1e-12)
        assert np.std([p[key] for p in half]) == pytest.approx(0.5 * np.std([p[key] for p in full]), rel=1e-9)
    assert len({tuple(p["hair"].round(6)) for p in none}) == 1  # one hair colour for everyone
    assert not any(p["long_hair"] for p in none) and any(p["long_hair"] for p in full)
    for a, c in zip(full, none, strict=True):  # same face code and eyes at every level (same draws)
        assert np.array_equal(a["face_code"], c["face_code"]) and a["eye"] == c["eye"]
    assert len({p["face_code"].tobytes() for p in none}) > 40


def test_palette_size_limits_the_outfit_patterns():
    w = make_world(WorldConfig(n_train_ids=6, n_val_ids=2, n_test_ids=6, palette_size=3), 0)
    assert w.patterns and all(0 <= t < 3 and 0 <= b < 3 for t, b in w.patterns.values())
    assert set(w.patterns) >= set(w.celeb_gallery.clothes.tolist()) | set(w.train.clothes.tolist())


@pytest.mark.parametrize("key,value", [("body_identity", 1.5), ("body_identity", -0.1), ("palette_size", 1),
                                       ("palette_size", 11)])
def test_knobs_out_of_range_fail_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"world.{key}: expected a value in"):
        WorldConfig(**{key: value})


def test_shared_pattern_share_counts_pairs_of_people():
    # pairs (1, 2) share (0, 1); (1, 3), (2, 3) share nothing; person 2's two outfits count once
    assert shared_pattern_share({1: [(0, 1)], 2: [(0, 1), (2, 2)], 3: [(3, 3)]}) == pytest.approx(1 / 3)
    assert shared_pattern_share({1: [(0, 1)], 2: [(1, 0)]}) == 0.0  # top and bottom are not interchangeable
    assert shared_pattern_share({1: [(5, 5)], 2: [(5, 5)], 3: [(5, 5), (1, 1)]}) == 1.0
    with pytest.raises(ValueError, match="at least 2 people"):
        shared_pattern_share({1: [(0, 0)]})


def _faces(window: torch.Tensor, skin: float, gain: float = 1.0) -> torch.Tensor:
    """(1, 3, 20, 20) crops: a flat skin tone with ``window`` (the face window's shape) darkening some pixels."""
    img = torch.full((1, 3, 20, 20), skin)
    img[0, :, 8:17, 5:15] = skin * window
    return img * gain


def test_face_cues_keep_the_pattern_and_drop_skin_tone_and_gain():
    pattern = torch.ones(9, 10)
    pattern[2, 3] = pattern[5, 6] = 0.5  # two dark marks inside the window (rows 8..16, columns 5..14 of 20)
    a = face_cues(_faces(pattern, 200.0), torch.tensor([True]))
    b = face_cues(_faces(pattern, 90.0, gain=0.7), torch.tensor([True]))
    assert a.shape == (1, 90) and torch.allclose(a, b, atol=1e-5)
    # hand value: 88 pixels at 1 and 2 at 0.5 -> mean 89/90, the marks sit at (0.5 - mean) / sd
    x = torch.ones(90)
    x[[2 * 10 + 3, 5 * 10 + 6]] = 0.5
    assert a[0].tolist() == pytest.approx(((x - x.mean()) / x.std()).tolist(), abs=1e-5)
    other = pattern.clone()
    other[2, 3], other[7, 1] = 1.0, 0.5
    assert not torch.allclose(face_cues(_faces(other, 200.0), torch.tensor([True])), a)
    assert face_cues(_faces(pattern, 200.0), torch.tensor([False])).abs().sum() == 0  # no face, no input


def test_body_cues_by_hand():
    lab = torch.zeros(1, 6, 4, dtype=torch.uint8)
    lab[0, 0, 1:3] = 1  # 2 hair pixels
    lab[0, 1, 1:3] = 2  # face pixels are not body cues
    lab[0, 2:4, :] = 4  # top: 4 wide
    lab[0, 4, 0] = 3  # 1 skin pixel
    img = torch.zeros(1, 3, 6, 4, dtype=torch.uint8)
    img[0, :, 0, 1:3] = torch.tensor([50, 100, 150], dtype=torch.uint8)[:, None]
    img[0, :, 4, 0] = torch.tensor([200, 100, 0], dtype=torch.uint8)
    data = ReIDSet(img, lab, torch.zeros(1, 3, 8, 8, dtype=torch.uint8), None, torch.tensor([True]),
                   torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))
    cues = body_cues(data)[0].tolist()
    assert cues == pytest.approx([1, 2, 3, 2 / 20, 4, 2, 0, 1 / 20, 5 / 5, 4 / 2])
    with pytest.raises(ValueError, match="no parsing masks"):
        body_cues(ReIDSet(*[None if f == "parsing" else getattr(data, f) for f in data.__dataclass_fields__]))


def test_measure_premise_follows_body_identity():
    """Fewer body differences: the body cues lose identity, the face's window keeps its own, so the face's lead over
    the body grows; the outfits (drawn after the traits) are the same at both levels."""
    cfg = {"n_train_ids": 2, "n_val_ids": 2, "n_test_ids": 40}
    full = measure_premise(make_world(WorldConfig(**cfg), 3))
    none = measure_premise(make_world(WorldConfig(**cfg, body_identity=0.0), 3))
    assert full["body_mAP"] > 2 * full["chance_mAP"]
    assert none["body_mAP"] < full["body_mAP"] - 5
    assert none["face_mAP"] > 2 * none["chance_mAP"]
    assert none["face_minus_body"] > full["face_minus_body"]
    assert full["face_minus_body"] == pytest.approx(full["face_mAP"] - full["body_mAP"])
    assert full["shared_pattern_share"] == none["shared_pattern_share"]
    assert all(math.isfinite(v) for v in full.values())

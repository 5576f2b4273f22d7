"""The CLAREL compositional world: deterministic, xlsa17-shaped splits, per-image sentences, bad config."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from cmlib.data.worlds.clarel import (
    GROUPS,
    WorldConfig,
    class_modes,
    make_world,
    off_mode_share,
    text_information,
    with_variation,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"n_classes": 30, "n_unseen": 8, "n_val_classes": 7, "n_genera": 6, "images_per_class": 6, "feature_dim": 64}


def test_same_seed_same_world_other_seed_differs():
    a, b, c = make_world(WorldConfig(**SMALL)), make_world(WorldConfig(**SMALL)), make_world(WorldConfig(**SMALL, seed=1))
    assert torch.equal(a.inputs, b.inputs) and a.sentences == b.sentences
    assert not torch.equal(a.inputs, c.inputs)


def test_splits_follow_the_gzsl_protocol():
    w = make_world(WorldConfig(**SMALL))
    sp, lab = w.splits, w.labels
    assert set(lab[sp["test_unseen"]]) == set(w.unseen_classes.tolist())
    assert not set(lab[sp["trainval"]]) & set(w.unseen_classes.tolist())
    assert set(lab[sp["test_seen"]]) <= set(lab[sp["trainval"]])
    assert not np.intersect1d(sp["trainval"], sp["test_seen"]).size
    assert len(sp["trainval"]) + len(sp["test_seen"]) + len(sp["test_unseen"]) == len(lab)
    assert set(lab[sp["val"]]) == set(w.val_classes.tolist()) and set(lab[sp["train"]]) == set(w.train_classes.tolist())


def test_sentences_describe_the_image_not_only_its_class():
    w = make_world(WorldConfig(**SMALL, wrong_value=0.0, mention=1.0))
    assert all(len(s) == 10 for s in w.sentences)
    # with every group mentioned and no wrong values, the crown value of each image appears in its sentences
    hits = [any(syn in " ".join(w.sentences[i]) for syn in GROUPS[0][1][w.attributes[i, 0]]) for i in range(40)]
    assert all(hits)
    same_class = np.flatnonzero(w.labels == 0)
    assert len({tuple(w.attributes[i]) for i in same_class}) > 1  # instances vary within a class


def test_images_mode_renders_small_rgb():
    w = make_world(WorldConfig(**SMALL, mode="images", image_size=24))
    assert w.inputs.shape == (30 * 6, 3, 24, 24) and 0 <= float(w.inputs.min()) and float(w.inputs.max()) <= 1


@pytest.mark.parametrize("bad", [{"n_unseen": 20, "n_val_classes": 20}, {"purity_low": 0.9, "purity_high": 0.5}, {"mention": 1.5},
                                 {"images_per_class": 2}])
def test_bad_config_raises_naming_the_field(bad):
    with pytest.raises(ValueError):
        WorldConfig(**{**SMALL, **bad})


def test_class_level_text_is_shared_within_a_class_and_leaves_images_alone():
    cfg = WorldConfig(n_classes=20, n_unseen=5, n_val_classes=5, n_genera=5, images_per_class=6, feature_dim=16)
    per_image = make_world(cfg)
    per_class = make_world(WorldConfig(**{**cfg.__dict__, "text_level": "class"}))
    assert torch.equal(per_image.inputs, per_class.inputs)
    assert (per_image.attributes == per_class.attributes).all()
    for c in range(cfg.n_classes):
        idx = np.flatnonzero(per_class.labels == c)
        assert all(per_class.sentences[i] == per_class.sentences[idx[0]] for i in idx)
    # per-image text differs between images of one class (their attributes are drawn per image)
    first = np.flatnonzero(per_image.labels == 0)
    assert len({tuple(per_image.sentences[i]) for i in first}) > 1


def test_profile_text_is_per_image_sentences_of_the_class_mode():
    cfg = WorldConfig(n_classes=20, n_unseen=5, n_val_classes=5, n_genera=5, images_per_class=6, feature_dim=16)
    per_image = make_world(cfg)
    profile = make_world(WorldConfig(**{**cfg.__dict__, "text_level": "profile"}))
    assert torch.equal(per_image.inputs, profile.inputs) and (per_image.attributes == profile.attributes).all()
    modes = class_modes(profile)
    stated = profile.mentions >= 0  # (N, S, G): a stated value is the class's mode (or a wrong value, 5%)
    agree = (profile.mentions == modes[profile.labels][:, None, :])[stated].mean()
    assert 0.9 < agree < 1.0
    # its own sentences per image (not shared within a class, unlike "class")
    first = np.flatnonzero(profile.labels == 0)
    assert len({tuple(profile.sentences[i]) for i in first}) == len(first)
    # with no within-class variation, per-image and profile text state the same values at the same rates
    flat = dataclasses.replace(cfg, variation=0.0, images_per_class=40)
    a, b = make_world(flat), make_world(dataclasses.replace(flat, text_level="profile"))
    assert (a.attributes == class_modes(a)[a.labels]).all()
    assert abs((a.mentions >= 0).mean() - (b.mentions >= 0).mean()) < 0.01


def test_text_information_on_a_hand_made_world():
    w = make_world(WorldConfig(n_classes=20, n_unseen=5, n_val_classes=5, n_genera=5, images_per_class=6,
                               feature_dim=16))
    g = len(GROUPS)
    # two images of class 0; class 0's mode is value argmax(p) per group
    mode = np.array([int(np.argmax(p)) for p in w.class_probs[0]])
    attrs = np.stack([mode, mode]).astype(np.int64)
    attrs[1, 0] = (mode[0] + 1) % len(GROUPS[0][1])  # image 1 is off-mode in group 0
    mentions = -np.ones((2, 3, g), np.int64)
    mentions[1, :2, 0] = attrs[1, 0]  # two of its sentences state its true group-0 value
    mentions[1, 2, 0] = mode[0]       # one states the class mode
    hand = dataclasses.replace(w, attributes=attrs, labels=np.array([0, 0]), mentions=mentions)
    info = text_information(hand)
    assert info["coverage"] == 1 / (2 * g)
    assert info["acc_class_profile"] == 1 - 1 / (2 * g) and info["acc_text"] == 1.0
    assert info["off_mode_share"] == 1 / (2 * g) and info["acc_text_off_mode"] == 1.0


def test_off_mode_share_on_a_hand_made_attribute_array():
    # 2 classes x 3 groups; profiles (modes) class 0: (0, 1, 2), class 1: (3, 3, 3)
    modes = np.array([[0, 1, 2], [3, 3, 3]])
    attributes = np.array([[0, 1, 2],   # class 0, on its profile: 0 of 3 off
                           [0, 2, 2],   # class 0, group 1 off: 1 of 3
                           [3, 3, 0],   # class 1, group 2 off: 1 of 3
                           [1, 0, 3]])  # class 1, groups 0 and 1 off: 2 of 3
    labels = np.array([0, 0, 1, 1])
    assert off_mode_share(attributes, labels, modes) == 4 / 12
    assert off_mode_share(attributes[[1, 3]], labels[[1, 3]], modes) == 3 / 6  # a subset: its own pairs only
    with pytest.raises(ValueError, match="off_mode_share"):
        off_mode_share(attributes[:, :2], labels, modes)


def test_text_information_measures_the_images_it_is_given():
    w = make_world(WorldConfig(n_classes=20, n_unseen=5, n_val_classes=5, n_genera=5, images_per_class=6,
                               feature_dim=16))
    train = w.splits["trainval"]
    modes = np.array([[int(np.argmax(p)) for p in groups] for groups in w.class_probs])
    share = float((w.attributes[train] != modes[w.labels[train]]).mean())
    assert text_information(w, train)["off_mode_share"] == share
    assert text_information(w)["off_mode_share"] == float((w.attributes != modes[w.labels]).mean())


def test_bad_text_level_is_named():
    with pytest.raises(ValueError, match="text_level"):
        make_world(WorldConfig(n_classes=20, n_unseen=5, n_val_classes=5, n_genera=5, feature_dim=16,
                               text_level="instance"))


def _check_study_world(w, seed: int) -> None:
    """Distinct classes, the xlsa17 partition of the images, and sentences that each state at least one group."""
    dominant = {tuple(int(np.argmax(p)) for p in groups) for groups in w.class_probs}
    assert len(dominant) == w.config.n_classes, f"seed {seed}: two classes share their dominant attributes"
    sp, lab = w.splits, w.labels
    parts = np.concatenate([sp["trainval"], sp["test_seen"], sp["test_unseen"]])
    assert np.array_equal(np.sort(parts), np.arange(len(lab))), f"seed {seed}: the splits do not partition the images"
    seen = w.seen_classes.tolist()
    assert set(lab[sp["trainval"]]) == set(lab[sp["test_seen"]]) == set(seen), seed
    assert set(lab[sp["test_unseen"]]) == set(w.unseen_classes.tolist()) and not set(seen) & set(lab[sp["test_unseen"]])
    assert sorted(w.train_classes.tolist() + w.val_classes.tolist()) == seen, seed
    assert all(s for per_image in w.sentences for s in per_image), seed
    assert ((w.mentions >= 0).sum(-1) >= 1).all(), seed


def test_world_builds_for_200_seeds_at_the_study_sizes() -> None:
    """Issue 33 item 8 ("every seed works"): world seeds 0-199 (a replicate's world seed is ``world.seed`` + its seed;
    params/clarel/study.yaml has the default ``world.seed`` 0) at the study profile's world: 60 classes in 20 genera,
    15 unseen, 15 validation, 20 images each, its purities.

    The classes, their attribute distributions, the class split, every image's attributes and visibility and the
    image splits are the study world's exactly: make_world draws them from streams (SeedSequence children 0, 1, 2 and
    5) that ``feature_dim``, ``sentences_per_image`` and ``text_level`` do not touch (checked on seed 0 below against
    the full study world). Those three are cut here, since features and ten sentences an image are what costs
    (0.55 s a world, 110 s for 200): 8-d features come from the same random map code, and the class-level text
    (one sentence per class, the study's class-text model) goes through the same sentence templates as the
    per-image text (``_sentence``: openers, synonyms, distractors, wrong values, the group named when none was).
    """
    from cmlib.protocol.config import from_params, load_profile

    study = from_params(WorldConfig, load_profile(ROOT / "params" / "clarel", "study")["world"])
    cheap = dataclasses.replace(study, feature_dim=8, sentences_per_image=1, text_level="class")
    full, cut = make_world(study), make_world(cheap)
    for name in ("labels", "attributes", "visible", "seen_classes", "unseen_classes", "train_classes", "val_classes"):
        assert np.array_equal(getattr(full, name), getattr(cut, name)), name
    assert all(np.array_equal(full.splits[k], cut.splits[k]) for k in full.splits)
    assert all(np.array_equal(a, b) for ca, cb in zip(full.class_probs, cut.class_probs) for a, b in zip(ca, cb))
    _check_study_world(full, 0)
    for seed in range(200):
        _check_study_world(make_world(dataclasses.replace(cheap, seed=seed)), seed)


def test_with_variation_scales_the_off_mode_share_and_keeps_every_other_draw():
    base = WorldConfig(**SMALL, purity_low=0.6, purity_high=0.9)
    assert with_variation(base, 1.0) is base
    scaled = with_variation(base, 2.0)
    assert scaled.variation == 2.0 and (scaled.purity_low, scaled.purity_high) == (0.6, 0.9)
    worlds = [make_world(with_variation(base, s)) for s in (0.0, 1.0, 2.0)]
    shares = [off_mode_share(w.attributes, w.labels, class_modes(w)) for w in worlds]
    assert shares[0] == 0.0 and 0.0 < shares[1] < shares[2]  # none at 0, more with the scale
    # the classes, splits and labels are the same draws at every scale; only the attributes move
    for w in worlds[1:]:
        assert np.array_equal(w.labels, worlds[0].labels) and np.array_equal(w.unseen_classes, worlds[0].unseen_classes)
        assert all(np.array_equal(w.splits[k], worlds[0].splits[k]) for k in w.splits)
    with pytest.raises(ValueError, match="largest variation is below 2.5"):
        with_variation(base, 3.0)
    with pytest.raises(ValueError, match=">= 0"):
        with_variation(base, -0.5)
    # a scaled world's purity is 1 - scale * (1 - drawn purity): the off-mode mass 1 - p[mode] of every (class, group)
    # doubles at scale 2 (the mode: the one value of the scale-0 world)
    def off_mass(world):
        return np.asarray([[1.0 - p[int(np.argmax(p0))] for p, p0 in zip(g, g0)]
                           for g, g0 in zip(world.class_probs, worlds[0].class_probs)])

    assert np.allclose(off_mass(worlds[2]), 2.0 * off_mass(worlds[1]), atol=1e-9)
    assert np.allclose(off_mass(worlds[0]), 0.0)


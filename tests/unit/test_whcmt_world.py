"""The synthetic WHCMT world: deterministic, multi-label with co-occurrence, weak noisy tags, protocol split."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cmlib.data.worlds.whcmt import (
    N_CONCEPTS,
    WorldConfig,
    concept_synonyms,
    make_world,
    protocol_split,
    render_images,
    sample_labels,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():
    return make_world(WorldConfig(n_query=60, n_database=300, n_train=200, image_size=32, seed=3))


def test_same_seed_same_world_other_seed_differs(world):
    again = make_world(WorldConfig(n_query=60, n_database=300, n_train=200, image_size=32, seed=3))
    assert np.array_equal(world.images, again.images) and world.tags == again.tags
    other = make_world(WorldConfig(n_query=60, n_database=300, n_train=200, image_size=32, seed=4))
    assert not np.array_equal(world.labels, other.labels)


def test_shapes_and_label_counts(world):
    n = 360
    assert world.images.shape == (n, 3, 32, 32) and world.images.dtype == np.uint8
    assert world.labels.shape == (n, N_CONCEPTS)
    per_image = world.labels.sum(1)
    assert per_image.min() >= 1 and per_image.max() <= 4
    assert len(world.label_names) == N_CONCEPTS


def test_split_follows_protocol(world):
    q, db, tr = world.query, world.database, world.train
    assert len(q) == 60 and len(db) == 300 and len(tr) == 200
    assert not set(q) & set(db) and set(tr) <= set(db) and len(set(q) | set(db)) == 360
    with pytest.raises(ValueError, match="n_query"):
        protocol_split(10, 10, 0, 0)


def test_tags_are_weak_and_noisy():
    cfg = WorldConfig(n_query=100, n_database=1500, n_train=1000, seed=0)
    labels, _ = sample_labels(1600, 0)
    from cmlib.data.worlds.whcmt import sample_tags
    tags = sample_tags(labels, cfg)
    syn = {s: c for c in range(N_CONCEPTS) for s in concept_synonyms(c)}
    n_inf = np.array([sum(t in syn for t in ts) for ts in tags])
    # some images carry no informative tag, most carry at least one noise tag, and tag recall is far from perfect
    assert 0.2 < (n_inf == 0).mean() < 0.8
    recall = sum(sum(syn[t] in np.flatnonzero(labels[i]) for t in ts if t in syn) for i, ts in enumerate(tags))
    assert 0.2 < recall / labels.sum() < 0.6
    assert np.mean([len(ts) > n for ts, n in zip(tags, n_inf)]) > 0.6


def test_cooccurrence_is_correlated():
    labels, _ = sample_labels(3000, 0)
    co = labels.T.astype(float) @ labels.astype(float)
    np.fill_diagonal(co, 0)
    # the strongest pairs co-occur far more often than the average pair
    assert np.sort(co.ravel())[-20:].mean() > 3 * co.mean()


def test_render_draws_colour_where_concepts_are():
    red_circle = np.zeros((1, N_CONCEPTS), dtype=np.uint8)
    red_circle[0, 0] = 1  # solid-red-circle
    img = render_images(red_circle, 32, seed=0, n_clutter=0)[0].astype(int)
    reddish = (img[0] > 150) & (img[1] < 90) & (img[2] < 90)
    assert reddish.sum() > 30
    with pytest.raises(ValueError, match="labels must have shape"):
        render_images(np.zeros((2, 5)), 32, seed=0)


def test_distractors_are_untagged_unlabelled_objects_and_zero_changes_nothing() -> None:
    """Issue 30 item 5's image knob: n_distractors = 0 renders exactly the images of before; > 0 adds yellow rings /
    diamonds (no concept is yellow) from their own stream, leaving labels, tags and the rest of the draw alone."""
    from cmlib.data.worlds.whcmt import WorldConfig, make_world

    labels, _ = sample_labels(40, 3)
    plain = render_images(labels, 32, seed=3, n_clutter=0)
    assert np.array_equal(plain, render_images(labels, 32, seed=3, n_clutter=0, n_distractors=0))
    busy = render_images(labels, 32, seed=3, n_clutter=0, n_distractors=3)
    yellow = lambda im: ((im[:, 0] > 180) & (im[:, 1] > 170) & (im[:, 2] < 110)).sum(axis=(1, 2))
    assert (yellow(plain) == 0).all() and (yellow(busy) > 20).mean() > 0.5  # 0..3 per image: 3/4 have one or more
    changed = np.any(busy != plain, axis=(1, 2, 3))
    assert np.array_equal(changed, yellow(busy) > 0)  # the images without a distractor are untouched
    a, b = make_world(WorldConfig(n_query=10, n_database=30, n_train=20)), make_world(
        WorldConfig(n_query=10, n_database=30, n_train=20, n_distractors=2))
    assert a.tags == b.tags and np.array_equal(a.labels, b.labels) and not np.array_equal(a.images, b.images)


def test_world_builds_for_200_seeds_at_the_study_settings() -> None:
    """Issue 33 item 8 ("every seed works"): world seeds 0-199 (a replicate's world seed is ``world.seed`` + its seed;
    params/whcmt/study.yaml has ``world.seed: 0``), with the study profile's noise settings.

    What each seed draws: the query / database / train split at the study sizes exactly (:func:`protocol_split`),
    labels and tags of 250 images, and the renders of the first 8. Not the study's 4,000 images: sample_labels and
    sample_tags draw every image the same way whatever their number is (a scene group, 1-4 concepts, a synonym per
    tagged concept, a wrong tag from the first concept's group unless the whole group is present, no informative tag
    at all, Poisson-Zipf noise tags), so 200 x 250 images meet each of those conditions over a thousand times
    (counted below) in about 5 s, where 4,000 images a seed would take 70 s; rendering has no branch a seed can break
    (masks and colours of whatever concepts a row holds), and the study's 4,000 renders a seed take 4 s alone.
    """
    from cmlib.data.worlds.whcmt import noise_words, sample_tags, scene_groups
    from cmlib.protocol.config import from_params, load_profile

    study = from_params(WorldConfig, load_profile(ROOT / "params" / "whcmt", "study")["world"])
    n = study.n_query + study.n_database
    synonyms = {s: c for c in range(N_CONCEPTS) for s in concept_synonyms(c)}
    vocabulary = set(synonyms) | set(noise_words(study.n_noise_words))
    seen = {"objects": set(), "no informative tag": 0, "tag of an absent concept": 0, "whole group present": 0}
    for seed in range(200):
        cfg = dataclasses.replace(study, seed=seed)
        query, database, train = protocol_split(n, cfg.n_query, cfg.n_train, seed)
        assert len(query) == cfg.n_query and len(train) == cfg.n_train and len(set(query) | set(database)) == n, seed
        labels, _ = sample_labels(250, seed)
        tags = sample_tags(labels, cfg)
        images = render_images(labels[:8], cfg.image_size, seed, cfg.n_clutter)
        assert images.shape == (8, 3, cfg.image_size, cfg.image_size), seed
        assert all(t in vocabulary for ts in tags for t in ts), seed
        group_of = {int(c): members for members in scene_groups(seed) for c in members}
        for row, ts in zip(labels, tags, strict=True):
            present = set(np.flatnonzero(row).tolist())
            seen["objects"].add(len(present))
            said = {synonyms[t] for t in ts if t in synonyms}
            seen["no informative tag"] += not said
            seen["tag of an absent concept"] += bool(said - present)
            seen["whole group present"] += set(group_of[min(present)].tolist()) <= present
    assert seen.pop("objects") == {1, 2, 3, 4}
    assert min(seen.values()) > 50, seen

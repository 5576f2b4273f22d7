"""Synthetic tagged-image world for weakly-supervised hashing (WHCMT, Yang, Chu & Dubey; Table 2-4 protocol).

Stands in for MIRFLICKR-25K when no images are available. Each of 24 concepts is a visual primitive
(shape x colour x texture: 4 x 3 x 2 = 24), so concepts share attributes and raw pixels confuse them. An image
holds 1-4 concepts drawn with correlated co-occurrence (6 latent scene groups of 4 concepts), placed at random
positions and scales over a noisy background with clutter blobs. Tags are weak and noisy like Flickr tags:
each present concept emits one of three synonyms with probability ``p_concept_tag`` (~0.4), an image sometimes
carries a synonym of an absent concept of its scene group, every image carries Zipf-distributed noise tags, and a
fraction of images have no informative tag at all. Labels are returned for evaluation only (never for training).

The split follows the MIRFLICKR hashing protocol (WSDHQ, Wang et al. AAAI 2021): a query set, the database is the
rest, and the training set is drawn from the database. Optional validation images (``n_val_query`` +
``n_val_database``) are drawn after them from the same scene distribution and belong to no test query or database:
settings are tuned on their MAP, never on the test split's.

Pretraining set (:func:`pretraining_set`, standing in for ImageNet): single-object images rendered from a separate
stream of scenes (seed stream 20, never used by the retrieval images), classified into the object's shape x colour
(12 classes). Its labels are not the retrieval labels (no texture, one object, no co-occurrence groups, single-label),
as ImageNet's 1,000 object classes are not MIRFLICKR's 24 labels.

Everything is deterministic in ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "COLOURS",
    "DISTRACTOR_RGB",
    "DISTRACTOR_SHAPES",
    "N_CONCEPTS",
    "PRETRAIN_CLASSES",
    "SHAPES",
    "TEXTURES",
    "HashingData",
    "WorldConfig",
    "concept_names",
    "concept_synonyms",
    "make_world",
    "noise_words",
    "pretraining_set",
    "protocol_split",
    "render_image",
    "render_images",
    "sample_labels",
    "sample_tags",
    "scene_groups",
    "text_corpus",
]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
COLOURS: tuple[str, ...] = ("red", "green", "blue")
TEXTURES: tuple[str, ...] = ("solid", "striped")
_RGB = {"red": (0.85, 0.15, 0.15), "green": (0.15, 0.75, 0.2), "blue": (0.2, 0.3, 0.9)}
_SHAPE_SYN = {"circle": ("circle", "disc", "round"), "square": ("square", "box", "block"),
              "triangle": ("triangle", "wedge", "pyramid"), "cross": ("cross", "plus", "xmark")}
_COLOUR_SYN = {"red": ("red", "crimson", "scarlet"), "green": ("green", "emerald", "lime"),
               "blue": ("blue", "azure", "navy")}
_TEXTURE_SYN = {"solid": ("plain", "flat", "solid"), "striped": ("striped", "lined", "banded")}
_SYLLABLES = ("ka", "lo", "mi", "zu", "re", "ta", "po", "ni", "se", "vu", "do", "fe")
N_CONCEPTS = len(SHAPES) * len(COLOURS) * len(TEXTURES)
PRETRAIN_CLASSES = len(SHAPES) * len(COLOURS)


@dataclass
class WorldConfig:
    """Sizes and noise levels of the synthetic hashing world (defaults: smoke profile).

    Attributes:
        n_query: Query images.
        n_database: Database images (the training set is drawn from them).
        n_train: Training images, a subset of the database.
        image_size: Side of the square RGB images in pixels (32 smoke, 64 study).
        p_concept_tag: Probability that a present concept emits one of its synonyms as a tag.
        p_wrong_tag: Probability that an image also carries a synonym of an absent concept of its scene group.
        p_no_informative: Probability that an image keeps no informative tag at all (noise tags only).
        mean_noise_tags: Mean of the Poisson number of Zipf-distributed noise tags per image.
        n_noise_words: Size of the noise-tag vocabulary.
        zipf_s: Zipf exponent of the noise-tag frequencies.
        n_clutter: Maximum number of clutter blobs per image.
        n_distractors: Tag-informativeness knob of the images (issue 30 item 5): each image holds 0..n_distractors
            distractor objects (uniform count) of shapes and a colour that no concept and no tag names (rings and
            diamonds, yellow), drawn under the labelled objects from their own random stream; 0 (default) = none,
            and every image is exactly what it was without the knob. With ``mean_noise_tags`` (noise tags per
            image) it sets how much of an image and of its tags says nothing about its labels.
        n_val_query: Validation queries (0 = no validation split).
        n_val_database: Validation database images (searched by the validation queries only).
        seed: World seed (concept layout, images, tags, split).
    """

    n_query: int = 100
    n_database: int = 600
    n_train: int = 400
    image_size: int = 32
    p_concept_tag: float = 0.4
    p_wrong_tag: float = 0.1
    p_no_informative: float = 0.15
    mean_noise_tags: float = 2.0
    n_noise_words: int = 200
    zipf_s: float = 1.1
    n_clutter: int = 3
    n_distractors: int = 0
    n_val_query: int = 0
    n_val_database: int = 0
    seed: int = 0


@dataclass
class HashingData:
    """Images, tags and labels with the query / database / train split.

    Attributes:
        images: uint8 array (N, 3, H, W).
        tags: N lists of tag strings (possibly empty).
        labels: uint8 array (N, C) of ground-truth concepts, for evaluation only.
        label_names: C names.
        query: int64 indices of query images.
        database: int64 indices of database images.
        train: int64 indices of training images (a subset of ``database``).
        val_query, val_database: int64 indices of the validation split (disjoint from the three above; empty when
            the config asks for none).
    """

    images: np.ndarray
    tags: list[list[str]]
    labels: np.ndarray
    label_names: list[str]
    query: np.ndarray
    database: np.ndarray
    train: np.ndarray
    val_query: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_database: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def concept_names() -> list[str]:
    """The 24 concept names ``texture-colour-shape``, index = (shape * 3 + colour) * 2 + texture."""
    return [f"{t}-{c}-{s}" for s in SHAPES for c in COLOURS for t in TEXTURES]


def concept_synonyms(concept: int) -> list[str]:
    """Three single-token synonyms of a concept, e.g. ``["stripedredcircle", "linedcrimsondisc", ...]``."""
    s, rest = divmod(concept, len(COLOURS) * len(TEXTURES))
    c, t = divmod(rest, len(TEXTURES))
    sh, co, te = _SHAPE_SYN[SHAPES[s]], _COLOUR_SYN[COLOURS[c]], _TEXTURE_SYN[TEXTURES[t]]
    return [f"{te[k]}{co[k]}{sh[k]}" for k in range(3)]


def noise_words(n: int) -> list[str]:
    """``n`` deterministic pseudo-words (three syllables) used as uninformative Flickr-like tags."""
    k = len(_SYLLABLES)
    return [_SYLLABLES[i % k] + _SYLLABLES[(i // k) % k] + _SYLLABLES[(i // (k * k)) % k] + "x" for i in range(n)]


def scene_groups(seed: int, n_groups: int = 6) -> np.ndarray:
    """Random partition of the 24 concepts into ``n_groups`` co-occurrence groups, shape (n_groups, 24 / n_groups)."""
    perm = np.random.default_rng([seed, 11]).permutation(N_CONCEPTS)
    return perm.reshape(n_groups, -1)


def sample_labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw 1-4 correlated concepts per image.

    Returns:
        labels: uint8 (n, 24); group: int64 (n,) scene group of each image.
    """
    rng = np.random.default_rng([seed, 1])
    groups = scene_groups(seed)
    g_w = 1.0 / np.sqrt(np.arange(1, len(groups) + 1))
    group = rng.choice(len(groups), size=n, p=g_w / g_w.sum())
    n_obj = rng.choice([1, 2, 3, 4], size=n, p=[0.35, 0.3, 0.2, 0.15])
    labels = np.zeros((n, N_CONCEPTS), dtype=np.uint8)
    for i in range(n):
        while labels[i].sum() < n_obj[i]:
            c = rng.choice(groups[group[i]]) if rng.random() < 0.75 else rng.integers(N_CONCEPTS)
            labels[i, c] = 1
    return labels, group


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if shape == "circle":
        return dx**2 + dy**2 < r**2
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) < 0.85 * r
    if shape == "triangle":
        return (dy > -r) & (dy < r) & (np.abs(dx) < (dy + r) / 2)
    return ((np.abs(dx) < r / 3) & (np.abs(dy) < r)) | ((np.abs(dy) < r / 3) & (np.abs(dx) < r))


#: Distractor objects (``WorldConfig.n_distractors``): shapes outside ``SHAPES`` in a colour outside ``COLOURS``.
DISTRACTOR_SHAPES: tuple[str, ...] = ("ring", "diamond")
DISTRACTOR_RGB = (0.9, 0.85, 0.2)


def _draw_distractors(img: np.ndarray, xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator, n_max: int) -> None:
    """Paint 0..``n_max`` (uniform) distractor objects (ring or diamond, yellow, radius 0.12-0.2) into ``img``
    (3, H, W) in place; ``xx`` / ``yy`` (H, W) the pixel coordinates in [0, 1)."""
    for _ in range(rng.integers(0, n_max + 1)):
        r = rng.uniform(0.12, 0.2)
        cx, cy = rng.uniform(r, 1 - r), rng.uniform(r, 1 - r)
        dx, dy = xx - cx, yy - cy
        if DISTRACTOR_SHAPES[rng.integers(len(DISTRACTOR_SHAPES))] == "ring":
            mask = (dx**2 + dy**2 < r**2) & (dx**2 + dy**2 > (0.55 * r) ** 2)
        else:
            mask = np.abs(dx) + np.abs(dy) < r
        rgb = np.clip(np.asarray(DISTRACTOR_RGB) + rng.normal(0, 0.05, 3), 0, 1).astype(np.float32)
        img[:, mask] = rgb[:, None]


def render_image(labels_row: np.ndarray, size: int, rng: np.random.Generator, n_clutter: int = 3,
                 n_distractors: int = 0, distractor_rng: np.random.Generator | None = None) -> np.ndarray:
    """Render one image holding the concepts of ``labels_row`` (24,), returns uint8 (3, size, size).

    With ``n_distractors`` > 0, 0..n_distractors distractor objects (:data:`DISTRACTOR_SHAPES`, no concept and no
    tag names them) are drawn from ``distractor_rng`` under the concepts; ``rng``'s draws are the same either way.

    Raises:
        ValueError: ``n_distractors`` > 0 without a ``distractor_rng``.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.full((3, size, size), rng.uniform(0.3, 0.7), dtype=np.float32)
    img += rng.normal(0, 0.06, size=img.shape).astype(np.float32)
    for _ in range(rng.integers(0, n_clutter + 1)):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.07)
        img[:, (xx - cx) ** 2 + (yy - cy) ** 2 < r**2] = rng.uniform(0, 1, size=(3, 1))
    if n_distractors > 0:
        if distractor_rng is None:
            raise ValueError("render_image: n_distractors > 0 needs a distractor_rng")
        _draw_distractors(img, xx, yy, distractor_rng, n_distractors)
    freq = size / 6.0
    for c in rng.permutation(np.flatnonzero(labels_row)):
        s, rest = divmod(int(c), len(COLOURS) * len(TEXTURES))
        col, tex = divmod(rest, len(TEXTURES))
        r = rng.uniform(0.14, 0.24)
        cx, cy = rng.uniform(r, 1 - r), rng.uniform(r, 1 - r)
        mask = _shape_mask(SHAPES[s], xx - cx, yy - cy, r)
        rgb = np.clip(np.asarray(_RGB[COLOURS[col]]) + rng.normal(0, 0.07, 3), 0, 1).astype(np.float32)
        if TEXTURES[tex] == "striped":
            on = (np.floor((xx + yy) * freq) % 2) == 0
            img[:, mask & on] = rgb[:, None]
            img[:, mask & ~on] = 0.3 * rgb[:, None]
        else:
            img[:, mask] = rgb[:, None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def render_images(labels: np.ndarray, size: int, seed: int, n_clutter: int = 3, n_distractors: int = 0) -> np.ndarray:
    """Render every row of ``labels`` (N, 24) into uint8 images (N, 3, size, size), deterministic in ``seed``.

    Only the first 24 label columns are drawn (MIRFLICKR-25K has exactly 24 labels, mapped one to one). Distractors
    (``n_distractors``, :func:`render_image`) come from the stream ``[seed, 8, i]``, so 0 leaves every image as it was.
    """
    if labels.ndim != 2 or labels.shape[1] != N_CONCEPTS:
        raise ValueError(f"render_images: labels must have shape (N, {N_CONCEPTS}), got {labels.shape}")
    out = np.empty((len(labels), 3, size, size), dtype=np.uint8)
    for i, row in enumerate(labels):
        out[i] = render_image(row, size, np.random.default_rng([seed, 2, i]), n_clutter, n_distractors,
                              np.random.default_rng([seed, 8, i]) if n_distractors else None)
    return out


def sample_tags(labels: np.ndarray, cfg: WorldConfig) -> list[list[str]]:
    """Draw noisy tags for each image from its labels (N, 24); see the module docstring for the noise model."""
    rng = np.random.default_rng([cfg.seed, 3])
    groups = scene_groups(cfg.seed)
    group_of = np.empty(N_CONCEPTS, dtype=np.int64)
    for g, members in enumerate(groups):
        group_of[members] = g
    noise = noise_words(cfg.n_noise_words)
    zipf = 1.0 / np.arange(1, cfg.n_noise_words + 1) ** cfg.zipf_s
    zipf /= zipf.sum()
    out: list[list[str]] = []
    for row in labels:
        present = np.flatnonzero(row)
        tags = [concept_synonyms(int(c))[rng.integers(3)] for c in present if rng.random() < cfg.p_concept_tag]
        if rng.random() < cfg.p_wrong_tag:
            absent = [c for c in groups[group_of[present[0]]] if not row[c]]
            if absent:
                tags.append(concept_synonyms(int(rng.choice(absent)))[rng.integers(3)])
        if rng.random() < cfg.p_no_informative:
            tags = []
        n_noise = rng.poisson(cfg.mean_noise_tags)
        tags += [noise[k] for k in rng.choice(cfg.n_noise_words, size=n_noise, p=zipf)]
        out.append(list(dict.fromkeys(tags)))
    return out


def text_corpus(n_sentences: int, seed: int, n_noise_words: int = 200) -> list[list[str]]:
    """A small "encyclopedia" of the world, standing in for the Wikipedia text the paper's word2vec was trained on.

    Each sentence names one concept by one of its synonyms next to plain attribute words of that concept (its colour,
    shape and texture words) and a few noise words drawn uniformly, so that synonyms of a concept share contexts
    (word2vec places them close) while noise words get no consistent context.

    Returns:
        ``n_sentences`` token lists.
    """
    rng = np.random.default_rng([seed, 6])
    noise = noise_words(n_noise_words)
    out = []
    for _ in range(n_sentences):
        c = int(rng.integers(N_CONCEPTS))
        s, rest = divmod(c, len(COLOURS) * len(TEXTURES))
        col, tex = divmod(rest, len(TEXTURES))
        words = [concept_synonyms(c)[rng.integers(3)], _COLOUR_SYN[COLOURS[col]][rng.integers(3)],
                 _SHAPE_SYN[SHAPES[s]][rng.integers(3)], _TEXTURE_SYN[TEXTURES[tex]][rng.integers(3)]]
        words += [noise[k] for k in rng.integers(n_noise_words, size=3)]
        out.append([words[i] for i in rng.permutation(len(words))])
    return out


def protocol_split(n: int, n_query: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query / database (= the rest) / train (subset of the database) indices, as in the MIRFLICKR protocol."""
    if n_query >= n or n_train > n - n_query:
        raise ValueError(f"protocol_split: need n_query < n and n_train <= n - n_query, got n={n}, "
                         f"n_query={n_query}, n_train={n_train}")
    perm = np.random.default_rng([seed, 4]).permutation(n)
    query, database = np.sort(perm[:n_query]), perm[n_query:]
    train = np.sort(database[:n_train])
    return query, np.sort(database), train


def make_world(cfg: WorldConfig) -> HashingData:
    """Build the whole world: labels, rendered images, noisy tags and the split (deterministic in ``cfg.seed``).

    The validation images come after the test split's (indices ``n_query + n_database`` on); each image's labels,
    pixels and tags are drawn the same whether or not they exist (sequential and per-image random streams)."""
    n = cfg.n_query + cfg.n_database
    n_all = n + cfg.n_val_query + cfg.n_val_database
    labels, _ = sample_labels(n_all, cfg.seed)
    images = render_images(labels, cfg.image_size, cfg.seed, cfg.n_clutter, cfg.n_distractors)
    tags = sample_tags(labels, cfg)
    query, database, train = protocol_split(n, cfg.n_query, cfg.n_train, cfg.seed)
    val_query = np.arange(n, n + cfg.n_val_query, dtype=np.int64)
    val_database = np.arange(n + cfg.n_val_query, n_all, dtype=np.int64)
    return HashingData(images, tags, labels, concept_names(), query, database, train, val_query, val_database)


def pretraining_set(n: int, size: int, seed: int, n_clutter: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ImageNet stand-in: ``n`` single-object images and their shape x colour class (``PRETRAIN_CLASSES``).

    Each image holds one object of a uniformly drawn shape, colour and texture (texture is not part of the class)
    over the world's background and clutter, from the random stream ``[seed, 20, i]`` that no retrieval image uses.

    Returns:
        images uint8 (n, 3, size, size); labels int64 (n,) = shape * 3 + colour.
    """
    rng = np.random.default_rng([seed, 20])
    shape = rng.integers(len(SHAPES), size=n)
    colour = rng.integers(len(COLOURS), size=n)
    texture = rng.integers(len(TEXTURES), size=n)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i in range(n):
        row = np.zeros(N_CONCEPTS, dtype=np.uint8)
        row[(shape[i] * len(COLOURS) + colour[i]) * len(TEXTURES) + texture[i]] = 1
        images[i] = render_image(row, size, np.random.default_rng([seed, 20, i]), n_clutter)
    return images, (shape * len(COLOURS) + colour).astype(np.int64)

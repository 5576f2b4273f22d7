"""Embedded default world for GRM-Net: scene sketches with instance masks and MATCHING-style referring expressions.

Each scene is a line drawing (ground line, sky objects above it, ground objects standing on it, nearer objects lower
on the canvas, bigger and drawn later so that they occlude farther ones) of objects from ten real SketchyScene
categories. Expressions follow the template grammar of SketchyScene-MATCHING (``png_to_text.py`` of Zou et al. 2019)
and use only words of its ``vocab.txt``: "the trees", "all the three sheep", "the second car on the left",
"the two trees on the left of the house", "the dog in front of the bench"... Most of them depend on where an instance
lies among the others of its category or relative to another object, which is what the global reference mechanism
is for; about 45% refer to more than one instance, as in the real corpus (44%). Deterministic in (seed, split).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from cmlib.data.sketchyscene import ReferringExpression, SketchInstance, SketchScene, box_of
from cmlib.data.worlds.grmnet_strokes import (
    CATEGORY_SIZE,
    SKY_CATEGORIES,
    WORLD_CATEGORIES,
    draw_object,
    make_shape,
)

__all__ = ["COUNT", "ORDINAL", "PLURAL", "SINGULAR", "SketchWorld", "WorldSpec", "expression_kind", "make_scene",
           "make_world", "sample_expressions", "scene_expressions"]

SINGULAR = {"people": "person"}  # SketchyScene's category is "people"; MATCHING says "the person" / "the people"
PLURAL = {"tree": "trees", "house": "houses", "sheep": "sheep", "car": "cars", "cloud": "clouds", "sun": "suns",
          "people": "people", "dog": "dogs", "bench": "benches", "grass": "grass"}
COUNT = {2: "two", 3: "three", 4: "four", 5: "five"}
ORDINAL = {1: "second"}
_SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}
_RELATIONAL = re.compile(r" (of|behind|near) the ")  # "on the left of the house", "in front of the", "behind the"
_RANK = re.compile(r"\b(left|right|leftmost|rightmost|first|second|third|middle|top|topmost|bottom|bottommost)\b")


def expression_kind(text: str) -> str:
    """What an expression's referent depends on, from its MATCHING-grammar text: ``"relational"`` (another
    category's instance: "the dog in front of the bench"), ``"rank"`` (its place among the instances of its own
    category: "the second tree on the left", "the topmost cloud") or ``"category"`` (its category alone: "the trees",
    "all the three sheep", "the sun in the sky")."""
    if _RELATIONAL.search(text):
        return "relational"
    return "rank" if _RANK.search(text) else "category"


@dataclass(frozen=True)
class WorldSpec:
    """Size of the world (the study's config copies these fields).

    Attributes:
        canvas: side of the square canvas in pixels (128 in the smoke and study profiles; SketchyScene's are 750).
        min_objects, max_objects: objects drawn per scene (before occlusion culling).
        expressions_per_scene: expressions sampled per scene.
        multi_fraction: target share of expressions that refer to more than one instance.
        reference_fraction: the strength of the phenomenon GRM exists for (issue 33's dose knob): the target share
            of expressions whose referent depends on another instance (rank among its category or relational,
            :func:`expression_kind`); each expression is drawn from that pool with this probability, else from the
            category-only pool (the other pool when one is empty). ``None``: no target, the grammar's own mix
            (about 0.69; the real SketchyScene-MATCHING test file has 0.511). The scenes never depend on it: the
            same seed draws the same scenes at every level, only the expressions change.
    """

    canvas: int = 128
    min_objects: int = 5
    max_objects: int = 9
    expressions_per_scene: int = 6
    multi_fraction: float = 0.45
    reference_fraction: float | None = None


def _place(rng: np.random.Generator, category: str, canvas: int, ground: float) -> tuple[float, float, float]:
    """Bottom-centre (x, y) and height in pixels for a new object."""
    frac, ratio = CATEGORY_SIZE[category]
    if category in SKY_CATEGORIES:
        y = rng.uniform(0.12, ground / canvas - 0.08) * canvas
        h = frac * canvas * rng.uniform(0.8, 1.15)
    else:
        t = rng.uniform(0.0, 1.0)
        y = (ground / canvas + 0.04 + t * (0.95 - ground / canvas - 0.04)) * canvas
        h = frac * canvas * (0.85 + 0.6 * t) * rng.uniform(0.9, 1.1)
    half = 0.5 * h * ratio
    x = rng.uniform(half + 1, canvas - half - 1)
    return x, y, h


def _choose_categories(rng: np.random.Generator, n_objects: int) -> list[str]:
    """Categories of a scene: 2-4 kinds, most with several instances (so relative words are needed)."""
    kinds = list(rng.choice([c for c in WORLD_CATEGORIES if c != "sun"], size=int(rng.integers(2, 5)), replace=False))
    cats = ["sun"] if rng.random() < 0.4 else []
    while len(cats) < n_objects:
        cats.append(kinds[int(rng.integers(len(kinds)))])
    return cats


def make_scene(rng: np.random.Generator, key: int, spec: WorldSpec) -> SketchScene:
    """Draw one scene: categories, positions (with occlusion), ink and visible instance masks."""
    s = spec.canvas
    ground = rng.uniform(0.38, 0.5) * s
    cats = _choose_categories(rng, int(rng.integers(spec.min_objects, spec.max_objects + 1)))
    placed = sorted((_place(rng, c, s, ground) + (c,) for c in cats), key=lambda p: p[1])  # far (small y) first
    canvas = np.ones((s, s), dtype=bool)  # True = paper
    gx = np.linspace(0, s - 1, 12)
    gy = ground + rng.normal(0, 0.01 * s, gx.shape)
    from PIL import Image, ImageDraw

    line = Image.new("1", (s, s), 0)
    ImageDraw.Draw(line).line(list(zip(gx, gy)), fill=1, width=max(1, s // 128))
    canvas &= ~np.array(line, dtype=bool)
    masks: list[np.ndarray] = []
    kept: list[str] = []
    for x, y, h, cat in placed:
        fill, ink, mask = draw_object(make_shape(cat, rng), x, y, h, CATEGORY_SIZE[cat][1], s, rng)
        canvas |= fill   # the interior hides what is behind it
        canvas &= ~ink
        masks = [m & ~mask for m in masks]
        masks.append(mask)
        kept.append(cat)
    instances = []
    for cat, m in zip(kept, masks):
        if m.sum() >= max(12, 0.0008 * s * s):  # drop objects that occlusion left (almost) invisible
            instances.append(SketchInstance(cat, box_of(m), m))
    image = np.where(canvas, 255, 0).astype(np.uint8)
    return SketchScene(key, image, tuple(instances))


def _centre(inst: SketchInstance) -> tuple[float, float]:
    x0, y0, x1, y1 = inst.box
    return 0.5 * (x0 + x1), 0.5 * (y0 + y1)


def _subject(cat: str, idx: list[int], total: int) -> str:
    """Noun phrase for a subset of a category: 'the tree', 'the two trees', 'the trees'."""
    if len(idx) == 1:
        return f"the {SINGULAR.get(cat, cat)}"
    if len(idx) == total:
        return f"the {PLURAL[cat]}"
    return f"the {COUNT.get(len(idx), '')} {PLURAL[cat]}".replace("  ", " ")


def _group_expressions(cat: str, idx: list[int], scene: SketchScene) -> list[tuple[str, tuple[int, ...]]]:
    """Expressions about instances of one category ranked among themselves (left/right/middle/top/bottom)."""
    n = len(idx)
    pl = PLURAL[cat]
    cat = SINGULAR.get(cat, cat)
    by_x = sorted(idx, key=lambda i: _centre(scene.instances[i])[0])
    by_y = sorted(idx, key=lambda i: scene.instances[i].box[3])
    out: list[tuple[str, tuple[int, ...]]] = []
    if n == 1:
        out.append((f"the {cat}", tuple(idx)))
        if cat in SKY_CATEGORIES:  # only sun and cloud, whose singular is the category name
            out.append((f"the {cat} in the sky", tuple(idx)))
        return out
    out += [(f"all the {pl}", tuple(idx)), (f"the {pl}", tuple(idx))]
    out.append((f"both the {pl}" if n == 2 else f"all the {COUNT.get(n, '')} {pl}".replace("  ", " "), tuple(idx)))
    out += [(f"the leftmost {cat}", (by_x[0],)), (f"the rightmost {cat}", (by_x[-1],)),
            (f"the {cat} on the left", (by_x[0],)), (f"the {cat} on the right", (by_x[-1],))]
    if n >= 3:
        out += [(f"the second {cat} on the left", (by_x[1],)), (f"the second {cat} on the right", (by_x[-2],)),
                (f"the two {pl} on the left", tuple(by_x[:2])), (f"the two {pl} on the right", tuple(by_x[-2:]))]
        if n % 2 == 1:
            out.append((f"the {cat} in the middle", (by_x[n // 2],)))
        if n >= 4 and n - 2 in COUNT:  # 8+ of one category has no number word: no such expression (it crashed
            out.append((f"the {COUNT[n - 2]} {pl} in the middle", tuple(by_x[1:-1])))  # 4 of seeds 0-59, issue 33)
    out += [(f"the topmost {cat}", (by_y[0],)), (f"the bottommost {cat}", (by_y[-1],))]
    return out


def _relation_expressions(cat: str, idx: list[int], anchor: str, a: int,
                          scene: SketchScene) -> list[tuple[str, tuple[int, ...]]]:
    """Expressions relating instances of ``cat`` to the single instance ``a`` of category ``anchor``."""
    ax, _ = _centre(scene.instances[a])
    ab = scene.instances[a].box[3]
    s = scene.image.shape[0]
    rel = {
        "on the left of": [i for i in idx if _centre(scene.instances[i])[0] < ax],
        "on the right of": [i for i in idx if _centre(scene.instances[i])[0] > ax],
        "in front of": [i for i in idx if scene.instances[i].box[3] > ab + 0.03 * s],
        "behind": [i for i in idx if scene.instances[i].box[3] < ab - 0.03 * s],
        "near": [i for i in idx if np.hypot(*np.subtract(_centre(scene.instances[i]), _centre(scene.instances[a])))
                 < 0.25 * s],
    }
    out = []
    for word, sub in rel.items():
        if 0 < len(sub) <= 5:
            noun = SINGULAR.get(anchor, anchor)
            out.append((f"{_subject(cat, sub, len(idx))} {word} the {noun}", tuple(sorted(sub))))
    return out


def scene_expressions(scene: SketchScene) -> list[ReferringExpression]:
    """Every expression the grammar can say about ``scene`` (unique text; a text with two meanings is dropped)."""
    by_cat: dict[str, list[int]] = {}
    for i, inst in enumerate(scene.instances):
        by_cat.setdefault(inst.category, []).append(i)
    cands: list[tuple[str, tuple[int, ...]]] = []
    for cat, idx in by_cat.items():
        cands += _group_expressions(cat, idx, scene)
        for anchor, aidx in by_cat.items():
            if anchor != cat and len(aidx) == 1 and anchor not in SKY_CATEGORIES and cat not in SKY_CATEGORIES:
                cands += _relation_expressions(cat, idx, anchor, aidx[0], scene)
    meaning: dict[str, set[tuple[int, ...]]] = {}
    for text, tgt in cands:
        meaning.setdefault(text, set()).add(tuple(sorted(tgt)))
    return [ReferringExpression(scene.key, t, next(iter(m))) for t, m in meaning.items() if len(m) == 1]


def _pick(rng: np.random.Generator, multi: list[ReferringExpression], single: list[ReferringExpression],
          multi_fraction: float) -> ReferringExpression:
    """Pop one expression: multi-instance with probability ``multi_fraction`` (the other list when one is empty)."""
    src = multi if (multi and (rng.random() < multi_fraction or not single)) else single
    return src.pop(int(rng.integers(len(src))))


def sample_expressions(rng: np.random.Generator, scene: SketchScene, spec: WorldSpec) -> list[ReferringExpression]:
    """Pick ``expressions_per_scene`` expressions, about ``multi_fraction`` of them multi-instance (and, with
    ``reference_fraction`` set, about that share depending on another instance)."""
    pool = scene_expressions(scene)
    n = min(spec.expressions_per_scene, len(pool))
    if spec.reference_fraction is None:
        multi = [e for e in pool if len(e.instance_indices) > 1]
        single = [e for e in pool if len(e.instance_indices) == 1]
        return [_pick(rng, multi, single, spec.multi_fraction) for _ in range(n)]
    # {depends on another instance: (multi-instance, single-instance)}, each in the pool's order
    groups: dict[bool, tuple[list[ReferringExpression], list[ReferringExpression]]] = {True: ([], []), False: ([], [])}
    for e in pool:
        groups[expression_kind(e.expression) != "category"][len(e.instance_indices) == 1].append(e)
    out: list[ReferringExpression] = []
    for _ in range(n):
        ref = rng.random() < spec.reference_fraction
        if not any(groups[ref]):
            ref = not ref
        out.append(_pick(rng, *groups[ref], spec.multi_fraction))
    return out


@dataclass(frozen=True)
class SketchWorld:
    """One split of the world: scenes and the expressions about them (``scene_key`` indexes ``scenes``)."""

    scenes: tuple[SketchScene, ...]
    expressions: tuple[ReferringExpression, ...]
    categories: tuple[str, ...] = WORLD_CATEGORIES


def make_world(n_scenes: int, spec: WorldSpec, seed: int = 0, split: str = "train") -> SketchWorld:
    """Generate ``n_scenes`` scenes and their expressions, deterministic in (seed, split, spec).

    Raises:
        ValueError: bad split or sizes (named).
    """
    if split not in _SPLIT_OFFSET:
        raise ValueError(f"grmnet world: split {split!r} unknown; expected one of {tuple(_SPLIT_OFFSET)}")
    if spec.reference_fraction is not None and not 0.0 <= spec.reference_fraction <= 1.0:
        raise ValueError(f"grmnet world: reference_fraction must lie in [0, 1] (or be None), got "
                         f"{spec.reference_fraction}")
    if n_scenes < 1 or spec.min_objects < 1 or spec.max_objects < spec.min_objects or spec.canvas < 64:
        raise ValueError(f"grmnet world: need n_scenes >= 1, 1 <= min_objects <= max_objects, canvas >= 64; "
                         f"got n_scenes={n_scenes}, {spec}")
    scenes, exprs = [], []
    for k in range(n_scenes):
        rng = np.random.default_rng([seed, _SPLIT_OFFSET[split], k])
        scene = make_scene(rng, k, spec)
        scenes.append(scene)
        exprs += sample_expressions(rng, scene, spec)
    return SketchWorld(tuple(scenes), tuple(exprs))

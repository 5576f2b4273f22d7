"""Stroke drawing for the GRM-Net sketch world: ten SketchyScene categories as jittered line drawings.

Each object is described in a unit frame (height 1, anchored at its bottom centre, y grows downwards) as a list of
*fill* polygons (closed outlines whose interior belongs to the object and occludes what lies behind it) and *stroke*
polylines (open lines: legs, rays, blades of grass). :func:`draw_object` turns that description into pixels with
per-vertex jitter, so no two instances of a category look alike. Used only by :mod:`cmlib.data.worlds.grmnet`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

__all__ = ["CATEGORY_SIZE", "SKY_CATEGORIES", "WORLD_CATEGORIES", "Shape", "draw_object", "make_shape"]

WORLD_CATEGORIES: tuple[str, ...] = (
    "tree", "house", "sheep", "car", "cloud", "sun", "people", "dog", "bench", "grass",
)
"""The ten real SketchyScene categories the world draws (names as in ``colorMapC46.mat``)."""

SKY_CATEGORIES = frozenset({"cloud", "sun"})

# Object height as a fraction of the canvas (before perspective scaling) and width / height ratio.
CATEGORY_SIZE: dict[str, tuple[float, float]] = {
    "tree": (0.30, 0.62), "house": (0.28, 1.0), "sheep": (0.12, 1.5), "car": (0.12, 1.9),
    "cloud": (0.10, 1.9), "sun": (0.15, 1.0), "people": (0.21, 0.5), "dog": (0.11, 1.4),
    "bench": (0.10, 1.9), "grass": (0.07, 1.2),
}


@dataclass(frozen=True)
class Shape:
    """One object in its unit frame: x in [-w/2, w/2] (w = width ratio), y in [-1, 0]."""

    fills: list[np.ndarray]    # each (P, 2) closed polygon
    strokes: list[np.ndarray]  # each (P, 2) open polyline


def _ellipse(cx: float, cy: float, rx: float, ry: float, rng: np.random.Generator, n: int = 18,
             wobble: float = 0.06) -> np.ndarray:
    """Polygon approximating an ellipse with radial wobble (hand-drawn look). Returns (n, 2)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 2 * np.pi)
    r = 1.0 + rng.normal(0, wobble, n)
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _poly(*pts: tuple[float, float]) -> np.ndarray:
    return np.array(pts, dtype=float)


def _tree(rng: np.random.Generator) -> Shape:
    trunk = _rect(-0.07, -0.42, 0.07, 0.0)
    if rng.random() < 0.5:  # leafy crown
        crown = _ellipse(0.0, -0.7, rng.uniform(0.24, 0.32), 0.3, rng, wobble=0.1)
    else:  # pine
        crown = _poly((-0.3, -0.35), (0.3, -0.35), (0.0, -1.0))
    return Shape(fills=[trunk, crown], strokes=[])


def _house(rng: np.random.Generator) -> Shape:
    body = _rect(-0.42, -0.6, 0.42, 0.0)
    roof = _poly((-0.52, -0.58), (0.52, -0.58), (rng.uniform(-0.1, 0.1), -1.0))
    dx = rng.uniform(-0.25, 0.15)
    door = _poly((dx, 0.0), (dx, -0.3), (dx + 0.14, -0.3), (dx + 0.14, 0.0))
    wx = 0.3 if dx < 0 else -0.3
    window = _poly((wx - 0.08, -0.45), (wx + 0.08, -0.45), (wx + 0.08, -0.3), (wx - 0.08, -0.3), (wx - 0.08, -0.45))
    return Shape(fills=[body, roof], strokes=[door, window])


def _sheep(rng: np.random.Generator) -> Shape:
    body = _ellipse(0.0, -0.55, 0.48, 0.28, rng, n=24, wobble=0.12)
    side = 1 if rng.random() < 0.5 else -1
    head = _ellipse(0.5 * side, -0.68, 0.14, 0.12, rng)
    legs = [_poly((x, -0.3), (x + rng.normal(0, 0.02), 0.0)) for x in (-0.3, -0.12, 0.12, 0.3)]
    return Shape(fills=[body, head], strokes=legs)


def _car(rng: np.random.Generator) -> Shape:
    body = _rect(-0.5, -0.5, 0.5, -0.15)
    top = rng.uniform(0.15, 0.25)
    cabin = _poly((-0.32, -0.5), (0.32, -0.5), (top, -0.85), (-top, -0.85))
    wheels = [_ellipse(x, -0.15, 0.13, 0.15, rng, n=12, wobble=0.03) for x in (-0.28, 0.28)]
    return Shape(fills=[body, cabin, *wheels], strokes=[])


def _cloud(rng: np.random.Generator) -> Shape:
    n = int(rng.integers(3, 5))
    xs = np.linspace(-0.32, 0.32, n)
    puffs = [_ellipse(x, -0.5 + rng.normal(0, 0.06), 0.25, 0.3, rng, n=14) for x in xs]
    return Shape(fills=puffs, strokes=[])


def _sun(rng: np.random.Generator) -> Shape:
    disc = _ellipse(0.0, -0.5, 0.28, 0.28, rng, wobble=0.04)
    rays = []
    for a in np.linspace(0, 2 * np.pi, int(rng.integers(6, 10)), endpoint=False):
        c, s = np.cos(a), np.sin(a)
        rays.append(_poly((0.34 * c, -0.5 + 0.34 * s), (0.48 * c, -0.5 + 0.48 * s)))
    return Shape(fills=[disc], strokes=rays)


def _person(rng: np.random.Generator) -> Shape:
    head = _ellipse(0.0, -0.88, 0.11, 0.11, rng, n=12, wobble=0.04)
    arm = rng.uniform(-0.2, 0.1)
    strokes = [
        _poly((0.0, -0.77), (0.0, -0.4)),
        _poly((-0.24, -0.62 + arm), (0.0, -0.68), (0.24, -0.62 - arm)),
        _poly((-0.18, 0.0), (0.0, -0.4), (0.18, 0.0)),
    ]
    return Shape(fills=[head], strokes=strokes)


def _dog(rng: np.random.Generator) -> Shape:
    side = 1 if rng.random() < 0.5 else -1
    body = _ellipse(0.0, -0.5, 0.42, 0.2, rng, wobble=0.05)
    head = _ellipse(0.45 * side, -0.76, 0.16, 0.15, rng, n=12)
    ear = _poly((0.4 * side, -0.88), (0.33 * side, -0.7))
    legs = [_poly((x, -0.35), (x, 0.0)) for x in (-0.3, -0.15, 0.15, 0.3)]
    tail = _poly((-0.42 * side, -0.55), (-0.62 * side, -0.85))
    return Shape(fills=[body, head], strokes=[ear, tail, *legs])


def _bench(rng: np.random.Generator) -> Shape:
    seat = _rect(-0.5, -0.5, 0.5, -0.4)
    back = _rect(-0.5, -0.98, 0.5, -0.72)
    legs = [_poly((x, -0.4), (x, 0.0)) for x in (-0.42, 0.42)]
    posts = [_poly((x, -0.72), (x, -0.5)) for x in (-0.35, 0.35)]
    return Shape(fills=[seat, back], strokes=[*legs, *posts])


def _grass(rng: np.random.Generator) -> Shape:
    blades = []
    for x in np.linspace(-0.45, 0.45, int(rng.integers(3, 6))):
        h = rng.uniform(0.6, 1.0)
        blades.append(_poly((x - 0.08, 0.0), (x + rng.normal(0, 0.05), -h), (x + 0.08, 0.0)))
    return Shape(fills=[], strokes=blades)


_SHAPES = {
    "tree": _tree, "house": _house, "sheep": _sheep, "car": _car, "cloud": _cloud,
    "sun": _sun, "people": _person, "dog": _dog, "bench": _bench, "grass": _grass,
}


def make_shape(category: str, rng: np.random.Generator) -> Shape:
    """Draw a random variant of ``category`` in its unit frame.

    Raises:
        ValueError: if the category is not one of :data:`WORLD_CATEGORIES`.
    """
    if category not in _SHAPES:
        raise ValueError(f"grmnet world: unknown category {category!r}; expected one of {WORLD_CATEGORIES}")
    return _SHAPES[category](rng)


def draw_object(shape: Shape, x: float, y: float, height: float, width_ratio: float, canvas: int,
                rng: np.random.Generator, jitter: float = 0.025) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise one object placed with bottom centre (x, y) and the given pixel height.

    Args:
        shape: the unit-frame description from :func:`make_shape`.
        x, y: bottom-centre position in pixels.
        height: object height in pixels; width is ``height * width_ratio``.
        width_ratio: width / height.
        canvas: canvas side in pixels.
        rng: jitter source (stroke wobble of ``jitter * height`` pixels per vertex).

    Returns:
        (fill, ink, mask), bool arrays (canvas, canvas): the occluding interior, the black pixels of the drawing,
        and the instance mask (fill plus stroke pixels).
    """
    width = max(1, canvas // 128)
    fill_img = Image.new("1", (canvas, canvas), 0)
    stroke_img = Image.new("1", (canvas, canvas), 0)
    fd, sd = ImageDraw.Draw(fill_img), ImageDraw.Draw(stroke_img)

    def to_px(pts: np.ndarray) -> list[tuple[float, float]]:
        p = pts * np.array([height * width_ratio, height]) + np.array([x, y])
        p = p + rng.normal(0, jitter * height, p.shape)
        return [tuple(q) for q in p]

    for poly in shape.fills:
        fd.polygon(to_px(poly), fill=1)
    for line in shape.strokes:
        sd.line(to_px(line), fill=1, width=width)
    fill = np.array(fill_img, dtype=bool)
    strokes = np.array(stroke_img, dtype=bool)
    outline = fill & ~ndimage.binary_erosion(fill, iterations=width)
    ink = outline | strokes
    mask = fill | ndimage.binary_dilation(strokes, iterations=1)
    return fill, ink, mask

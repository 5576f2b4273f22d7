"""SketchyScene-7k + SketchyScene-MATCHING parsers and the typed records shared with the GRM-Net sketch world.

Real layout (Zou et al. 2018 / 2019, as distributed):

    <data_root>/<split>/DRAWING_GT/L0_sample{id}.png          750x750 scene sketch
    <data_root>/<split>/CLASS_GT/sample_{id}_class.mat         key CLASS_GT: (750, 750) category ids, 0 = background
    <data_root>/<split>/INSTANCE_GT/sample_{id}_instance.mat   key INSTANCE_GT: (750, 750) instance ids, 0 = none
    <matching_dir>/sentence_instance_{split}.json               list of {key, sen_instIdx_map: {expression: [k, ...]}}
    <matching_dir>/vocab.txt                                    one word a line, <pad> and <unk> first (CRLF-safe)
    colorMapC46.mat                                             colorMap (46 x 2 cell): names (1-based ids) and RGB

Instance order and class follow ``load_mask`` in the official ``Instance_Matching/data_processing/
sketch_data_processing.py``: the k-th instance is the k-th non-empty instance id in ascending order, and its class
is the most frequent non-zero CLASS_GT value inside its mask.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SPLITS",
    "ReferringExpression",
    "SketchInstance",
    "SketchScene",
    "box_of",
    "check_instance_indices",
    "count_instances",
    "instances_from_gt",
    "load_categories",
    "load_example_predictions",
    "load_expressions",
    "load_scene",
    "load_vocab_words",
]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SketchInstance:
    """One object instance of a scene.

    Attributes:
        category: category name (a ``colorMapC46`` name).
        box: (x0, y0, x1, y1) in pixels, inclusive-exclusive (x1 = last column + 1).
        mask: bool (H, W) visible instance mask.
    """

    category: str
    box: tuple[float, float, float, float]
    mask: np.ndarray


@dataclass(frozen=True)
class SketchScene:
    """A scene sketch with its instances (in the MATCHING instance-index order).

    Attributes:
        key: scene id (the ``key`` of the MATCHING json, or the world's scene index).
        image: uint8 (H, W) grey sketch, 255 = paper, 0 = ink.
        instances: the instances; ``ReferringExpression.instance_indices`` index this tuple.
    """

    key: int
    image: np.ndarray
    instances: tuple[SketchInstance, ...]


@dataclass(frozen=True)
class ReferringExpression:
    """One expression and the instances it refers to (possibly none)."""

    scene_key: int
    expression: str
    instance_indices: tuple[int, ...]


def box_of(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Tight (x0, y0, x1, y1) box of a bool mask (x1, y1 exclusive); (0, 0, 0, 0) for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def load_categories(colormap_path: str | Path) -> list[str]:
    """The 46 SketchyScene category names from ``colorMapC46.mat``; element i has category id i + 1."""
    from cmlib.data.images import read_mat

    path = Path(colormap_path)
    if not path.is_file():
        raise FileNotFoundError(f"SketchyScene colour map not found: {path} (expected colorMapC46.mat)")
    cmap = read_mat(path, "SketchyScene colorMapC46.mat (46 x 2 cell 'colorMap')")
    if "colorMap" not in cmap:
        raise ValueError(f"{path}: expected a 'colorMap' cell array, found keys {sorted(cmap)}")
    return [str(np.asarray(row[0]).ravel()[0]) for row in cmap["colorMap"]]


def load_vocab_words(vocab_path: str | Path) -> list[str]:
    """Words of the MATCHING ``vocab.txt`` in file order (CRLF-safe, blank lines dropped)."""
    path = Path(vocab_path)
    if not path.is_file():
        raise FileNotFoundError(f"SketchyScene-MATCHING vocabulary not found: {path} (expected vocab.txt)")
    words = [w.strip() for w in path.read_text(encoding="utf-8").splitlines()]
    return [w for w in words if w]


def load_expressions(matching_dir: str | Path, split: str) -> list[ReferringExpression]:
    """Parse ``sentence_instance_{split}.json`` into records, in file order.

    Raises:
        ValueError: unknown split or malformed entry (the message names the file and entry).
        FileNotFoundError: missing json (named).
    """
    if split not in SPLITS:
        raise ValueError(f"SketchyScene-MATCHING split {split!r} unknown; expected one of {SPLITS}")
    path = Path(matching_dir) / f"sentence_instance_{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"SketchyScene-MATCHING file not found: {path}")
    out: list[ReferringExpression] = []
    for i, entry in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        if not isinstance(entry, dict) or "key" not in entry or "sen_instIdx_map" not in entry:
            raise ValueError(f"{path}: entry {i} should be {{key, sen_instIdx_map}}, got {str(entry)[:80]}")
        for expr, idx in entry["sen_instIdx_map"].items():
            out.append(ReferringExpression(int(entry["key"]), expr, tuple(int(k) for k in idx)))
    return out


def _loadmat_key(path: Path, key: str) -> np.ndarray:
    from cmlib.data.images import read_mat

    if not path.is_file():
        raise FileNotFoundError(f"SketchyScene file not found: {path}")
    data = read_mat(path, f"a SketchyScene {key} .mat ((750, 750) ids under key {key!r})")
    if key not in data:
        raise ValueError(f"{path}: expected key {key!r}, found {sorted(k for k in data if not k.startswith('__'))}")
    return np.asarray(data[key])


def count_instances(data_root: str | Path, split: str, key: int) -> int:
    """Number of instances (non-empty instance ids) of one scene's ``INSTANCE_GT``: the valid MATCHING indices are
    ``0 .. count - 1``.

    Raises:
        FileNotFoundError, ValueError: naming the INSTANCE_GT file.
    """
    path = Path(data_root) / split / "INSTANCE_GT" / f"sample_{key}_instance.mat"
    return int(np.count_nonzero(np.unique(_loadmat_key(path, "INSTANCE_GT"))))


def check_instance_indices(expressions: list[ReferringExpression], data_root: str | Path, split: str,
                           json_path: str | Path) -> None:
    """Check that every MATCHING instance index lies within its scene's INSTANCE_GT (one file read per scene).

    Raises:
        ValueError: naming the json file, the scene, its INSTANCE_GT file, the bad indices and the valid range.
    """
    by_scene: dict[int, set[int]] = {}
    for e in expressions:
        by_scene.setdefault(e.scene_key, set()).update(e.instance_indices)
    for key in sorted(by_scene):
        n = count_instances(data_root, split, key)
        bad = sorted(i for i in by_scene[key] if not 0 <= i < n)
        if bad:
            mat = Path(data_root) / split / "INSTANCE_GT" / f"sample_{key}_instance.mat"
            raise ValueError(f"{json_path}: scene {key} refers to instance indices {bad}, but {mat} has {n} "
                             f"instances (expected indices 0..{n - 1}, the k-th non-empty id in ascending order)")


def instances_from_gt(instance_gt: np.ndarray, class_gt: np.ndarray,
                      categories: list[str]) -> tuple[SketchInstance, ...]:
    """Instances in MATCHING order from INSTANCE_GT / CLASS_GT maps (official ``load_mask`` semantics).

    Args:
        instance_gt: int (H, W), 0 = no instance.
        class_gt: int (H, W), category ids 1..46, 0 = background.
        categories: the 46 names (id i + 1 -> categories[i]).
    """
    ids = [int(i) for i in np.unique(instance_gt) if i != 0]
    out = []
    for inst_id in ids:
        mask = instance_gt == inst_id
        counts = np.bincount(class_gt[mask].astype(np.int64).ravel(), minlength=len(categories) + 1)[1:]
        cls = int(np.argmax(counts)) + 1
        if cls > len(categories):
            raise ValueError(f"CLASS_GT holds class id {cls}, beyond the {len(categories)} categories")
        out.append(SketchInstance(categories[cls - 1], box_of(mask), mask))
    return tuple(out)


def load_scene(data_root: str | Path, split: str, key: int, categories: list[str]) -> SketchScene:
    """Load one SketchyScene-7k scene (sketch + instances in MATCHING order).

    Raises:
        FileNotFoundError: naming the missing DRAWING_GT / CLASS_GT / INSTANCE_GT file.
    """
    from cmlib.data.images import load_image

    root = Path(data_root) / split
    png = root / "DRAWING_GT" / f"L0_sample{key}.png"
    if not png.is_file():
        raise FileNotFoundError(f"SketchyScene sketch not found: {png}")
    instance_gt = _loadmat_key(root / "INSTANCE_GT" / f"sample_{key}_instance.mat", "INSTANCE_GT")
    class_gt = _loadmat_key(root / "CLASS_GT" / f"sample_{key}_class.mat", "CLASS_GT")
    image = np.array(load_image(png, "L", "a SketchyScene DRAWING_GT sketch PNG (750x750)"), dtype=np.uint8)
    return SketchScene(int(key), image, instances_from_gt(instance_gt, class_gt, categories))


def load_example_predictions(npz_path: str | Path, categories: list[str], size: int = 750) -> list[SketchInstance]:
    """Read an ``examples/seg_data/*_datas.npz`` file (the original authors' Mask R-CNN outputs, not ground truth).

    Boxes are stored (y1, x1, y2, x2); masks are cropped to their boxes (inclusive corners, so one pixel larger than
    y2 - y1) and pasted back here, clipped to the ``size`` canvas (some boxes run past the 750 px border).
    """
    data = np.load(str(npz_path), allow_pickle=True)
    out = []
    for box, cls, crop in zip(data["pred_boxes"], data["pred_class_ids"], data["pred_masks"]):
        y1, x1 = int(box[0]), int(box[1])
        mask = np.zeros((size, size), dtype=bool)
        crop = np.asarray(crop, dtype=bool)
        y1, x1 = max(y1, 0), max(x1, 0)
        crop = crop[: size - y1, : size - x1]
        mask[y1:y1 + crop.shape[0], x1:x1 + crop.shape[1]] = crop
        out.append(SketchInstance(categories[int(cls) - 1], box_of(mask), mask))
    return out

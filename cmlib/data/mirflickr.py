"""MIRFLICKR-25K parsers (Huiskes & Lew, MIR 2008) for weakly-supervised hashing (WHCMT, WDHT, WSDHQ protocol).

Two layouts are read exactly as distributed:

- **cleaned** (DCMH / VTMUCH convention, e.g. ``../shared/datasets/mirflickr25k/vtmuch``): ``all_imgs.txt``
  (``mirflickr/im<N>.jpg`` per line), ``all_tags.txt`` (comma-separated raw tags per line, filtered to the 1,386-tag
  ``TagList.txt``) and ``all_labels.txt`` (N x 24 binary, alphabetical columns). CRLF line endings are handled.
- **raw** (the official zips): ``mirflickr/im<N>.jpg``, ``mirflickr/meta/tags/tags<N>.txt`` (one tag per line) and an
  annotations folder with ``<label>.txt`` files listing 1-based image numbers (the ``*_r1`` files are ignored).

The hashing split (2,000 query / database = rest / 5,000 train drawn from the database) is read from a
``hash_split_for_flickr25k.json`` with 0-based row indices into ``allannots.txt`` (``im<N>.jpg`` + 24 labels), as in
``../shared/datasets/mirflickr25k/dreamupers``; :func:`protocol_split_from_json` maps it onto any record list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from cmlib.data.images import read_images

__all__ = [
    "LABELS_24",
    "HasImage",
    "MirflickrRecord",
    "find_file",
    "load_allannots",
    "load_cleaned",
    "load_images",
    "load_raw",
    "load_records",
    "protocol_split_from_json",
    "read_lines",
]

LABELS_24: tuple[str, ...] = (
    "animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake", "male", "night",
    "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset", "transport", "tree", "water",
)
_IM_NUM = re.compile(r"im(\d+)\.jpg$")


class HasImage(Protocol):
    """A record with an image path relative to the data root (``MirflickrRecord``, ``nuswide.NuswideRecord``)."""

    image: str


@dataclass
class MirflickrRecord:
    """One image: its path relative to the data root, its raw tags and its 24 labels.

    Attributes:
        image: e.g. ``"mirflickr/im1.jpg"``.
        tags: Raw user tags (possibly empty).
        labels: uint8 (24,), columns in ``LABELS_24`` order.
    """

    image: str
    tags: list[str]
    labels: np.ndarray

    @property
    def number(self) -> int:
        """The N of ``im<N>.jpg``."""
        m = _IM_NUM.search(self.image)
        if m is None:
            raise ValueError(f"MIRFLICKR image name {self.image!r} does not end with im<N>.jpg")
        return int(m.group(1))


def read_lines(path: Path) -> list[str]:
    """Lines of a text file without their line ending (LF or CRLF); a trailing empty line is dropped."""
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    return lines[:-1] if lines and not lines[-1].strip() else lines


def find_file(root: Path, name: str, subdirs: tuple[str, ...] = ("", "vtmuch", "dreamupers")) -> Path:
    """``root/<sub>/name`` for the first sub-folder that holds it.

    Raises:
        FileNotFoundError: naming every place looked at.
    """
    tried = [Path(root) / s / name for s in subdirs]
    for p in tried:
        if p.is_file():
            return p
    raise FileNotFoundError(f"MIRFLICKR-25K: {name} not found; looked at {', '.join(map(str, tried))}")


def load_cleaned(root: Path) -> list[MirflickrRecord]:
    """Parse the cleaned layout (all_imgs.txt / all_tags.txt / all_labels.txt) under ``root`` (or root/vtmuch)."""
    imgs = read_lines(find_file(root, "all_imgs.txt"))
    tags = read_lines(find_file(root, "all_tags.txt"))
    labels_path = find_file(root, "all_labels.txt")
    labels = np.loadtxt(labels_path, dtype=np.uint8, ndmin=2)
    if not (len(imgs) == len(tags) == len(labels)):
        raise ValueError(f"MIRFLICKR-25K cleaned files disagree: {len(imgs)} images, {len(tags)} tag lines, "
                         f"{len(labels)} label rows under {root}")
    if labels.shape[1] != len(LABELS_24):
        raise ValueError(f"{labels_path}: expected {len(LABELS_24)} label columns, got {labels.shape[1]}")
    return [MirflickrRecord(im.strip(), [t.strip() for t in tg.split(",") if t.strip()], lab)
            for im, tg, lab in zip(imgs, tags, labels)]


def load_raw(root: Path, annotations_dir: Path | None = None) -> list[MirflickrRecord]:
    """Parse the official layout: ``root/mirflickr/im<N>.jpg``, ``meta/tags/tags<N>.txt`` and ``<label>.txt`` files.

    Args:
        root: Folder holding ``mirflickr/``.
        annotations_dir: Folder of the 24 ``<label>.txt`` files (default ``root/annotations``).

    Returns:
        One record per ``im<N>.jpg`` found, sorted by N; images without a tag file get no tags.
    """
    root = Path(root)
    img_dir = root / "mirflickr"
    ann = Path(annotations_dir) if annotations_dir is not None else root / "annotations"
    if not img_dir.is_dir():
        raise FileNotFoundError(f"MIRFLICKR-25K raw layout: {img_dir} is not a folder (expected mirflickr/im<N>.jpg)")
    numbers = sorted(int(m.group(1)) for p in img_dir.glob("im*.jpg") if (m := _IM_NUM.search(p.name)))
    row = {n: i for i, n in enumerate(numbers)}
    labels = np.zeros((len(numbers), len(LABELS_24)), dtype=np.uint8)
    for j, name in enumerate(LABELS_24):
        path = ann / f"{name}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"MIRFLICKR-25K annotations: {path} missing (expected 24 <label>.txt files)")
        for line in read_lines(path):
            if line.strip() and int(line) in row:
                labels[row[int(line)], j] = 1
    records = []
    for n in numbers:
        tag_file = img_dir / "meta" / "tags" / f"tags{n}.txt"
        tags = [t.strip() for t in read_lines(tag_file) if t.strip()] if tag_file.is_file() else []
        records.append(MirflickrRecord(f"mirflickr/im{n}.jpg", tags, labels[row[n]]))
    return records


def load_records(root: Path) -> list[MirflickrRecord]:
    """Cleaned layout when ``all_tags.txt`` is found under ``root`` (or root/vtmuch), else the raw layout."""
    try:
        find_file(root, "all_tags.txt")
    except FileNotFoundError:
        return load_raw(root)
    return load_cleaned(root)


def load_allannots(path: Path) -> tuple[list[str], np.ndarray]:
    """``allannots.txt``: lines ``im<N>.jpg l1 ... l24`` -> (names, uint8 labels (N, 24))."""
    names, rows = [], []
    for line in read_lines(path):
        parts = line.split()
        if len(parts) != 1 + len(LABELS_24):
            raise ValueError(f"{path}: expected 'im<N>.jpg' and 24 labels per line, got {line[:60]!r}")
        names.append(parts[0])
        rows.append([int(v) for v in parts[1:]])
    return names, np.asarray(rows, dtype=np.uint8)


def protocol_split_from_json(records: list[MirflickrRecord], split_json: Path, allannots: Path
                             ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Map the query/db/train split (row indices into ``allannots``) onto ``records`` by image number.

    Returns:
        ({"query", "database", "train"}: int64 indices into ``records``), and per split how many split entries
        had no record (e.g. the 24,581 - 20,015 images absent from the cleaned tag files).
    """
    split = json.loads(Path(split_json).read_text())
    missing_keys = {"train", "query", "db"} - set(split)
    if missing_keys:
        raise ValueError(f"{split_json}: missing keys {sorted(missing_keys)} (expected train/query/db)")
    names, _ = load_allannots(allannots)
    where = {rec.number: i for i, rec in enumerate(records)}
    out, dropped = {}, {}
    for key, name in (("query", "query"), ("db", "database"), ("train", "train")):
        nums = [int(_IM_NUM.search(names[r]).group(1)) for r in split[key]]
        idx = [where[n] for n in nums if n in where]
        out[name] = np.asarray(sorted(idx), dtype=np.int64)
        dropped[name] = len(nums) - len(idx)
    return out, dropped


def load_images(root: Path, records: Sequence[HasImage], size: int, on_corrupt: str = "fail"
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read, RGB-convert and resize (bilinear) every record's image to uint8 (3, size, size).

    Args:
        root: Data root the record paths are relative to.
        records: Records to read (anything with an ``image`` path relative to ``root``: MIRFLICKR or NUS-WIDE).
        size: Output side in pixels.
        on_corrupt: ``"fail"`` raises on an unreadable image naming it; ``"skip"`` leaves it out.

    Returns:
        (images (M, 3, size, size), kept record indices (M,), paths (relative to ``root``) of skipped files).
    """
    return read_images(root, [rec.image for rec in records], size, on_corrupt)

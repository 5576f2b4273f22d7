"""Celeb-reID and Celeb-reID-light (Huang et al., TCSVT 2020) as plain :class:`ReIDRecord` lists.

Layout as distributed (both variants)::

    <root>/imgs/train/<pid>_<index>_<frame>.jpg    20,208 images (light: 9,021)
    <root>/imgs/query/...                            2,972 (light: 887)
    <root>/imgs/gallery/...                         11,006 (light: 934)

with DeSKPro's parallel folders beside ``imgs`` (see :mod:`cmlib.data.reid_folders`). The identity is the first
field of the name (official DeSKPro ``celeb_light.py``: ``([-\\d]+)_(\\d*)_(\\d*)``). The dataset has no camera
labels: every image is its own camera, so the same-camera exclusion of the evaluation removes nothing. It has no
clothes labels either: every image gets its own clothes id (query and gallery of Celeb-reID-light never share
clothes by construction), so cloth-changing mode equals standard mode here.
"""

from __future__ import annotations

import re
from pathlib import Path

from cmlib.data.reid_folders import ReIDRecord

__all__ = ["CELEB_SIZES", "read_celebreid"]

CELEB_SIZES = {"celeb": (20208, 2972, 11006), "celeb-light": (9021, 887, 934)}
_NAME = re.compile(r"^(-?\d+)_(\d*)_(\d*)")


def read_celebreid(root: str | Path, split: str, img_dir: str = "imgs") -> list[ReIDRecord]:
    """Records of one split (``train``, ``query`` or ``gallery``), sorted by file name.

    Args:
        root: the dataset root holding ``imgs/`` (and the parallel folders).
        split: ``train`` | ``query`` | ``gallery``.

    Returns:
        One record per image; camid and clothes_id are the image's running index over the split (unique).

    Raises:
        FileNotFoundError: naming the missing folder and the expected layout.
        ValueError: for an unknown split or a file name that does not start with ``<pid>_``.
    """
    if split not in ("train", "query", "gallery"):
        raise ValueError(f"read_celebreid: split must be train, query or gallery, got {split!r}")
    folder = Path(root) / img_dir / split
    if not folder.is_dir():
        raise FileNotFoundError(f"Celeb-reID folder {folder} not found; expected <root>/{img_dir}/{{train,query,gallery}}/<pid>_<i>_<j>.jpg")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    base = {"train": 0, "query": 1_000_000, "gallery": 2_000_000}[split]
    records = []
    for i, path in enumerate(files):
        m = _NAME.match(path.name)
        if m is None:
            raise ValueError(f"{path}: Celeb-reID file names start with '<pid>_<index>_'")
        records.append(ReIDRecord(f"{split}/{path.name}", int(m.group(1)), base + i, base + i))
    return records

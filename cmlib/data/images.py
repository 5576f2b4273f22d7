"""Reading real image files into uint8 arrays, with one policy for unreadable (corrupt, truncated, missing) files.

``on_corrupt="fail"`` (the default everywhere) raises naming the file; ``"skip"`` leaves it out and returns its name,
so the caller can drop its labels and warn (:func:`warn_skipped`). Used by the MIRFLICKR / NUS-WIDE loaders
(``cmlib.data.mirflickr.load_images``) and the CUB subset (``cmlib.data.cub.load_cub100``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["ON_CORRUPT", "name_some", "read_images", "warn_skipped"]

ON_CORRUPT: tuple[str, ...] = ("fail", "skip")


def read_images(root: str | Path, files: Sequence[str], size: int, on_corrupt: str = "fail"
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read, RGB-convert and resize (bilinear) each file to uint8 (3, size, size).

    Args:
        root: folder the ``files`` are relative to.
        files: image paths relative to ``root``.
        size: output side in pixels.
        on_corrupt: ``"fail"`` raises on an unreadable image naming it; ``"skip"`` leaves it out.

    Returns:
        (images (M, 3, size, size), indices into ``files`` of the M images read (M,), the skipped ``files``).

    Raises:
        ValueError: ``on_corrupt`` is not "fail" / "skip", or (with "fail") a file cannot be read, naming it.
    """
    from PIL import Image, UnidentifiedImageError

    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"on_corrupt: expected 'fail' or 'skip', got {on_corrupt!r}")
    out, kept, bad = [], [], []
    for i, name in enumerate(files):
        path = Path(root) / name
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
        except (OSError, UnidentifiedImageError) as err:
            if on_corrupt == "fail":
                raise ValueError(f"image {path} cannot be read ({err}); set on_corrupt='skip' to leave it out") from err
            bad.append(name)
            continue
        out.append(arr.transpose(2, 0, 1))
        kept.append(i)
    images = np.stack(out) if out else np.zeros((0, 3, size, size), dtype=np.uint8)
    return images, np.asarray(kept, dtype=np.int64), bad


def name_some(names: Sequence[str], n: int = 5) -> str:
    """The first ``n`` names and how many more, e.g. ``"a, b, c (+4 more)"``."""
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def warn_skipped(who: str, skipped: Sequence[str], root: str | Path) -> None:
    """Warn (once per call) that ``on_corrupt='skip'`` left out ``skipped`` files under ``root``; silent if none."""
    if skipped:
        warnings.warn(f"{who}: on_corrupt='skip': left out {len(skipped)} unreadable image(s) under {root}: "
                      f"{name_some(skipped)}", stacklevel=3)

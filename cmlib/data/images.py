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

__all__ = ["ON_CORRUPT", "CorruptFileError", "load_image", "name_some", "read_images", "read_mat", "warn_skipped"]

ON_CORRUPT: tuple[str, ...] = ("fail", "skip")


class CorruptFileError(ValueError):
    """A data file that exists but cannot be read (truncated, corrupt, not the format expected); names the file."""


def load_image(path: str | Path, mode: str, expected: str):  # -> PIL.Image.Image
    """Open and fully decode one image file, converted to ``mode`` (``"RGB"``, ``"L"``, or ``""`` to keep it).

    A truncated JPEG/PNG opens lazily in PIL and fails only on decode (``OSError: image file is truncated``); here it
    fails at once, naming the file and what it should have been.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: the file cannot be decoded (message: path, ``expected``, PIL's reason).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {expected})")
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode) if mode else im.copy()
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise CorruptFileError(f"{path}: cannot be read as {expected} ({type(err).__name__}: {err})") from err


def read_mat(path: str | Path, expected: str) -> dict:
    """``scipy.io.loadmat`` of one file, with read errors (truncated or not a MATLAB file) naming it.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: scipy cannot read it (message: path, ``expected``, scipy's reason).
    """
    import scipy.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected {expected})")
    try:
        return sio.loadmat(str(path))
    except (OSError, ValueError, TypeError, EOFError, NotImplementedError) as err:
        raise CorruptFileError(f"{path}: cannot be read as {expected} ({type(err).__name__}: {err})") from err


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

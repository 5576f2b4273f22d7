"""Typed re-ID records, the parallel folders DeSKPro needs, and loading them into tensors.

DeSKPro (Wu et al., ICASSP 2023) trains on three inputs per body image, all produced *offline* by external tools
(the official code reads them from ``dataset_path_cfg``: ``img_dir``, ``lr_face_dir``, ``face_dir``,
``clothing_mask_dir``). cmlib reads the same layout, one folder per input, each mirroring the image tree::

    <root>/imgs/<split>/<name>.jpg        body images as distributed (Celeb-reID / PRCC layout, see their parsers)
    <root>/mask/<split>/<name>.png        human-parsing label map (uint8, one label per pixel; LIP labels by default,
                                          e.g. SCHP [19] "lip" checkpoint), same size as the image (else resized
                                          or rejected, per ``mask_size_mismatch``)
    <root>/lr_face/<split>/<name>.jpg     face crop cut from the body image by a face detector (RetinaFace [20]);
                                          a missing file means "no face detected"
    <root>/hr_face/<split>/<name>.jpg     the same crop restored by a face-restoration model (GPEN [21])

How to produce them: run a human parser over ``imgs`` writing PNG label maps with identical relative names; run
RetinaFace on each image, keep the highest-scoring box, save the crop (no resize) under ``lr_face``; run GPEN on
each crop and save under ``hr_face`` with the same name. Only the training split needs ``mask`` and ``hr_face``
(they are removed at inference); ``lr_face`` is needed for every split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from cmlib.data.images import ON_CORRUPT, CorruptFileError, load_image, warn_skipped

__all__ = ["LIP_CLOTH_LABELS", "ParallelFolders", "ReIDRecord", "ReIDSet", "load_reid_set", "masks_present"]

# LIP labels: 0 bg, 1 hat, 2 hair, 3 glove, 4 sunglasses, 5 upper-clothes, 6 dress, 7 coat, 8 socks, 9 pants,
# 10 jumpsuits, 11 scarf, 12 skirt, 13 face, 14 left-arm, 15 right-arm, 16 left-leg, 17 right-leg, 18/19 shoes.
LIP_CLOTH_LABELS: tuple[int, ...] = (1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 18, 19)

FOLDER_LAYOUT = "<root>/{imgs,mask,lr_face,hr_face}/<split>/<same file name> (see cmlib.data.reid_folders)"


@dataclass(frozen=True)
class ReIDRecord:
    """One body image. ``relpath`` is relative to ``<root>/imgs``; ``camid``/``clothes_id`` are dataset-global ints."""

    relpath: str
    pid: int
    camid: int
    clothes_id: int


@dataclass
class ReIDSet:
    """A split held in memory (uint8 images keep it small).

    Attributes:
        images: (N, 3, H, W) uint8 body images.
        parsing: (N, H, W) uint8 parsing labels, or None (not needed at test time).
        lr_face: (N, 3, f, f) uint8 low-resolution face crops resized to f x f (zeros where no face).
        hr_face: (N, 3, f, f) uint8 restored / high-resolution faces, or None.
        has_face: (N,) bool.
        pids, camids, clothes: (N,) int64.
    """

    images: torch.Tensor
    parsing: torch.Tensor | None
    lr_face: torch.Tensor
    hr_face: torch.Tensor | None
    has_face: torch.Tensor
    pids: torch.Tensor
    camids: torch.Tensor
    clothes: torch.Tensor

    def __len__(self) -> int:
        return int(self.pids.shape[0])

    def subset(self, idx: torch.Tensor) -> ReIDSet:
        """The rows ``idx`` (LongTensor or bool mask) of every field."""
        pick = lambda t: None if t is None else t[idx]
        return ReIDSet(*(pick(getattr(self, f)) for f in self.__dataclass_fields__))


@dataclass
class ParallelFolders:
    """The four parallel folders under ``root``; each checked for existence with the expected layout named."""

    root: Path
    img_dir: str = "imgs"
    mask_dir: str = "mask"
    lr_face_dir: str = "lr_face"
    hr_face_dir: str = "hr_face"

    def folder(self, kind: Literal["img", "mask", "lr_face", "hr_face"]) -> Path:
        """The folder of one input; raises FileNotFoundError naming it and the expected layout when absent."""
        path = Path(self.root) / getattr(self, f"{kind}_dir")
        if not path.is_dir():
            raise FileNotFoundError(f"missing parallel folder {path} ({kind}); expected layout {FOLDER_LAYOUT}")
        return path

    def find(self, kind: str, relpath: str) -> Path | None:
        """The file for ``relpath`` in folder ``kind`` with any image suffix, or None."""
        base = self.folder(kind) / relpath  # type: ignore[arg-type]
        for cand in (base, base.with_suffix(".png"), base.with_suffix(".jpg")):
            if cand.is_file():
                return cand
        return None


def _read_rgb(path: Path, size: tuple[int, int], what: str = "an RGB image (JPEG/PNG)") -> np.ndarray:
    im = load_image(path, "RGB", what)
    return np.asarray(im.resize((size[1], size[0]), Image.BILINEAR))


def _read_mask(path: Path, image_size: tuple[int, int], size: tuple[int, int], mismatch: str) -> np.ndarray:
    im = load_image(path, "", "a human-parsing label map PNG (uint8, one label per pixel)")
    if (im.height, im.width) != image_size and mismatch == "error":
        raise ValueError(
            f"{path}: parsing mask is {im.height}x{im.width} but its image is {image_size[0]}x{image_size[1]} "
            "(set mask_size_mismatch='resize' to resize it)"
        )
    return np.asarray(im.resize((size[1], size[0]), Image.NEAREST))


def masks_present(records: Sequence[ReIDRecord], folders: ParallelFolders) -> bool:
    """Whether the ``mask`` folder exists and holds a parsing mask for every record (e.g. ``mask/gallery/*.png``)."""
    if not (Path(folders.root) / folders.mask_dir).is_dir():
        return False
    return all(folders.find("mask", r.relpath) is not None for r in records)


def load_reid_set(
    records: Sequence[ReIDRecord],
    folders: ParallelFolders,
    size: tuple[int, int] = (384, 128),
    face_size: int = 64,
    with_mask: bool | Literal["if_present"] = True,
    with_hr_face: bool = True,
    mask_size_mismatch: Literal["resize", "error"] = "resize",
    on_corrupt: Literal["fail", "skip"] = "fail",
) -> ReIDSet:
    """Read images, masks and faces of ``records`` into a :class:`ReIDSet` resized to ``size`` / ``face_size``.

    Args:
        with_mask: True = every record needs a parsing mask; ``"if_present"`` = load them when the ``mask`` folder
            holds one for every record (a test split's ``mask/gallery/*.png``), else ``parsing`` is None.
        on_corrupt: ``"fail"`` raises on an unreadable body image, mask or face crop, naming it; ``"skip"`` leaves
            that record out with a warning naming the files (as :func:`cmlib.data.images.read_images`).

    Raises:
        FileNotFoundError: a parallel folder or a training mask / restored face is missing (named).
        CorruptFileError: (``on_corrupt="fail"``) an unreadable file, naming it and what it should be.
        ValueError: a mask's size differs from its image with ``mask_size_mismatch="error"``; a bad ``on_corrupt``.
    """
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"on_corrupt: expected 'fail' or 'skip', got {on_corrupt!r}")
    if with_mask == "if_present":
        with_mask = masks_present(records, folders)
    n, (h, w), f = len(records), size, face_size
    images = np.zeros((n, h, w, 3), np.uint8)
    parsing = np.zeros((n, h, w), np.uint8) if with_mask else None
    lr = np.zeros((n, f, f, 3), np.uint8)
    hr = np.zeros((n, f, f, 3), np.uint8) if with_hr_face else None
    has_face = np.zeros(n, bool)
    img_root = folders.folder("img")
    kept: list[int] = []
    skipped: list[str] = []
    for i, rec in enumerate(records):
        path = img_root / rec.relpath
        try:
            body = load_image(path, "RGB", "a body image (JPEG/PNG)")
            images[i] = np.asarray(body.resize((w, h), Image.BILINEAR))
            if parsing is not None:
                mpath = folders.find("mask", rec.relpath)
                if mpath is None:
                    raise FileNotFoundError(f"no parsing mask for {rec.relpath} under {folders.folder('mask')}")
                parsing[i] = _read_mask(mpath, (body.height, body.width), size, mask_size_mismatch)
            face = folders.find("lr_face", rec.relpath)
            if face is not None:
                lr[i] = _read_rgb(face, (f, f), "a face crop (lr_face)")
                if hr is not None:
                    hpath = folders.find("hr_face", rec.relpath)
                    if hpath is None:
                        raise FileNotFoundError(f"face crop {face} has no restored face under "
                                                f"{folders.folder('hr_face')}")
                    hr[i] = _read_rgb(hpath, (f, f), "a restored face (hr_face)")
                has_face[i] = True
        except CorruptFileError as err:
            if on_corrupt == "fail":
                raise CorruptFileError(f"{err}; set on_corrupt: skip to leave the record out") from err
            skipped.append(str(err).split(": cannot be read")[0])
            continue
        kept.append(i)
    warn_skipped("re-id folders", skipped, folders.root)
    to_chw = lambda a: torch.from_numpy(a[kept]).permute(0, 3, 1, 2).contiguous()
    ints = lambda attr: torch.tensor([getattr(records[i], attr) for i in kept], dtype=torch.long)
    return ReIDSet(
        images=to_chw(images),
        parsing=None if parsing is None else torch.from_numpy(parsing[kept]),
        lr_face=to_chw(lr),
        hr_face=None if hr is None else to_chw(hr),
        has_face=torch.from_numpy(has_face[kept]),
        pids=ints("pid"),
        camids=ints("camid"),
        clothes=ints("clothes_id"),
    )

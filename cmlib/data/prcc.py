"""PRCC (Yang et al., TPAMI 2021) as plain :class:`ReIDRecord` lists.

Layout as distributed (``rgb`` renamed ``imgs`` to sit beside DeSKPro's parallel folders)::

    <root>/imgs/train/<pid>/<cam>_cropped_rgb<n>.jpg    cam in A, B, C
    <root>/imgs/val/<pid>/<cam>_cropped_rgb<n>.jpg
    <root>/imgs/test/<cam>/<pid>/cropped_rgb<n>.jpg

Camera A and B show a person in the same clothes, camera C in different clothes. Test protocol: gallery = camera
A; same-clothes query = camera B; cross-clothes query = camera C. Clothes id = 2 * pid + (camera == C).
"""

from __future__ import annotations

from pathlib import Path

from cmlib.data.reid_folders import ReIDRecord

__all__ = ["PRCC_PROTOCOLS", "read_prcc"]

_CAMS = {"A": 0, "B": 1, "C": 2}
PRCC_PROTOCOLS = {"gallery": "A", "same_clothes_query": "B", "cross_clothes_query": "C"}
_LAYOUT = "<root>/imgs/{train,val}/<pid>/<cam>_cropped_rgb<n>.jpg and <root>/imgs/test/<cam>/<pid>/cropped_rgb<n>.jpg"


def _record(rel: str, pid: int, cam: str) -> ReIDRecord:
    if cam not in _CAMS:
        raise ValueError(f"{rel}: PRCC camera must be A, B or C, got {cam!r}")
    return ReIDRecord(rel, pid, _CAMS[cam], 2 * pid + int(cam == "C"))


def read_prcc(root: str | Path, split: str, camera: str | None = None, img_dir: str = "imgs") -> list[ReIDRecord]:
    """Records of ``train``, ``val`` or ``test`` (optionally one camera of test: A gallery, B, C queries).

    Raises:
        FileNotFoundError: naming the missing folder and the expected layout.
        ValueError: for an unknown split / camera or a non-numeric identity folder.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"read_prcc: split must be train, val or test, got {split!r}")
    folder = Path(root) / img_dir / split
    if not folder.is_dir():
        raise FileNotFoundError(f"PRCC folder {folder} not found; expected {_LAYOUT}")
    records = []
    if split == "test":
        cams = [camera] if camera else sorted(_CAMS)
        for cam in cams:
            if cam not in _CAMS:
                raise ValueError(f"read_prcc: camera must be A, B or C, got {cam!r}")
            for pdir in sorted(p for p in (folder / cam).iterdir() if p.is_dir()):
                for img in sorted(pdir.glob("*.jpg")):
                    records.append(_record(f"test/{cam}/{pdir.name}/{img.name}", int(pdir.name), cam))
        return records
    for pdir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not pdir.name.isdigit():
            raise ValueError(f"{pdir}: PRCC identity folders are numeric")
        for img in sorted(pdir.glob("*.jpg")):
            records.append(_record(f"{split}/{pdir.name}/{img.name}", int(pdir.name), img.name[0]))
    return records

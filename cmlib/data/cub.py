"""The real 100-class CUB-200-2011 image subset (``../shared/datasets/cub``) for a real-image CLAREL run
(Oreshkin et al., CVPRW 2020, Section 4 uses CUB with Reed et al.'s sentences).

Reed's ``text_c10`` sentences are not available offline, so each image gets sentences generated from its
class's *real* CUB attribute vector (``class_attribute_labels_continuous.txt``, percentages of annotators): a
real-image run with class-level (not per-image) text, labelled as such in every report. Classes keep their
xlsa17 PS role (73 seen / 27 unseen); the seen classes in xlsa17 ``valclasses1.txt`` are the validation classes.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cmlib.data.images import read_images, warn_skipped

__all__ = ["SUBSET", "Cub100", "attribute_groups", "attribute_phrases", "class_sentences", "cub100_off_mode_share",
           "load_cub100", "off_mode_share_from_percentages", "read_subset"]

SUBSET = "cub100_subset_227px"


@dataclass
class Cub100:
    """Images (N, 3, S, S) uint8, labels (N,) subset class ids, sentences, xlsa17-style splits, class names;
    ``skipped_files``: the unreadable images ``on_corrupt="skip"`` left out (relative to ``images/``)."""

    images: torch.Tensor
    labels: np.ndarray
    sentences: list[list[str]]
    splits: dict[str, np.ndarray]
    class_names: list[str]
    image_files: list[str]
    skipped_files: list[str] = field(default_factory=list)  # unreadable images left out by on_corrupt="skip"


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (expected the cub folder of ../shared/datasets)")
    return [ln.strip() for ln in path.read_text().replace("\r\n", "\n").split("\n") if ln.strip()]


def read_subset(root: str | Path) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
    """Image paths (relative to ``images/``), subset labels and the per-class rows of ``cub100_subset_classes.tsv``."""
    root = Path(root)
    files = [ln.split(",", 1)[1].strip() for ln in _lines(root / SUBSET / "images.txt")]
    labels = np.array([int(ln.split(",")[1]) for ln in _lines(root / SUBSET / "image_class_labels.txt")])
    if len(files) != len(labels):
        raise ValueError(f"{root / SUBSET}: images.txt lists {len(files)} images, image_class_labels.txt {len(labels)}")
    with open(root / "derived" / "cub100_subset_classes.tsv") as f:
        classes = list(csv.DictReader(f, delimiter="\t"))
    return files, labels, classes


def attribute_phrases(root: str | Path) -> tuple[list[str], np.ndarray]:
    """CUB attribute phrases ("dagger bill shape") and the (200, 312) class percentages in CUB class-id order."""
    root = Path(root) / "CUB_200_2011_meta"
    phrases = []
    for ln in _lines(root / "attributes.txt"):
        part, value = ln.split(" ", 1)[1].split("::")
        part = part.removeprefix("has_").replace("_", " ")
        phrases.append(f"{value.replace('_', ' ')} {part}")
    table = np.loadtxt(root / "attributes" / "class_attribute_labels_continuous.txt")
    return phrases, table


def attribute_groups(root: str | Path) -> list[str]:
    """The group of each of the 312 CUB attributes (``"has_bill_shape"`` for ``has_bill_shape::dagger``)."""
    return [ln.split(" ", 1)[1].split("::")[0] for ln in _lines(Path(root) / "CUB_200_2011_meta" / "attributes.txt")]


def off_mode_share_from_percentages(percent: np.ndarray, groups: list[str],
                                    weights: np.ndarray | None = None) -> tuple[float, list[str]]:
    """The share of (image, attribute group) pairs whose value is not the class's modal value, from class-level
    percentages of per-image annotations (CUB's ``class_attribute_labels_continuous.txt``).

    Only *single-value* groups count: those whose percentages sum to 100 in every class (each annotation names one
    value: bill shape, size, shape, tail shape and the five pattern groups in CUB). There, 1 - (the modal value's
    percentage) / 100 is exactly the share of the class's annotations off the mode; multi-value groups (colours,
    summing to up to 290%) say nothing about one image's joint value. The result is the mean over classes
    (weighted by ``weights``, e.g. images per class) and single-value groups.

    Args:
        percent: (C, A) percentages in [0, 100].
        groups: A group names, one per attribute column.
        weights: (C,) class weights; None: equal.

    Returns:
        (share in [0, 1], the single-value groups used, in first-seen order).

    Raises:
        ValueError: shapes that do not match, or no single-value group.
    """
    percent = np.asarray(percent, dtype=float)
    if percent.ndim != 2 or percent.shape[1] != len(groups):
        raise ValueError(f"percentages {percent.shape} need one group name per column, got {len(groups)} names")
    names = list(dict.fromkeys(groups))
    cols = {g: [j for j, h in enumerate(groups) if h == g] for g in names}
    single = [g for g in names if np.allclose(percent[:, cols[g]].sum(axis=1), 100.0, atol=1e-6)]
    if not single:
        raise ValueError("no single-value attribute group (percentages summing to 100 in every class)")
    off = np.stack([1.0 - percent[:, cols[g]].max(axis=1) / 100.0 for g in single], axis=1)  # (C, G)
    w = np.ones(len(percent)) if weights is None else np.asarray(weights, dtype=float)
    return float(np.average(off.mean(axis=1), weights=w)), single


def cub100_off_mode_share(root: str | Path) -> dict[str, float | int | str]:
    """The premise of CLAREL's key novelty on real CUB annotations: the share of (image, attribute group) pairs
    off the class's modal value (:func:`off_mode_share_from_percentages`) over the cub100 subset's seen classes
    (what a cub100 run trains on), weighted by their images.

    CUB's per-image labels (``image_attribute_labels.txt``) are not in ``../shared/datasets/cub`` and the subset's
    image ids cannot be mapped back to CUB's, so the share is computed from the class percentages, which CUB
    aggregates from those per-image annotations (about two per image; the denominators differ per group, so
    "not visible" answers seem left out). Disagreement between annotators counts as off-mode here.

    Returns:
        {"share", "classes", "images", "groups" (comma-separated)}.
    """
    _, labels, classes = read_subset(root)
    seen = [r for r in classes if r["xlsa17_PS_role"] != "test_unseen"]
    cub_ids = np.array([int(r["cub_class"].split(".")[0]) for r in seen])
    counts = np.array([int((labels == int(r["subset_class_id"])).sum()) for r in seen])
    _, table = attribute_phrases(root)
    share, single = off_mode_share_from_percentages(table[cub_ids - 1], attribute_groups(root), counts)
    return {"share": share, "classes": len(seen), "images": int(counts.sum()), "groups": ", ".join(single)}


def class_sentences(percent: np.ndarray, phrases: list[str], n: int, rng: random.Random, k: int = 4) -> list[str]:
    """``n`` sentences for one image of a class: each names ``k`` attributes drawn with probability proportional
    to the squared annotator percentage (frequent attributes dominate, rare ones still appear)."""
    weights = (np.asarray(percent, float) / 100.0) ** 2
    idx = np.flatnonzero(weights > 0)
    if idx.size == 0:
        return ["a bird"] * n
    out = []
    for _ in range(n):
        picks = rng.choices(list(idx), weights=list(weights[idx]), k=k)
        out.append("this bird has " + " and ".join(phrases[i] for i in dict.fromkeys(picks)))
    return out


def load_cub100(root: str | Path, image_size: int = 64, seed: int = 0, test_seen_fraction: float = 0.2,
                sentences_per_image: int = 10, limit_per_class: int | None = None, on_corrupt: str = "fail") -> Cub100:
    """Load the subset: images resized to ``image_size`` (uint8), attribute sentences, GZSL splits.

    Args:
        root: the ``cub`` folder of ../shared/datasets.
        image_size: side of the resized images.
        seed: draws the test_seen hold-out and the sentences.
        test_seen_fraction: share of each seen class's images held out as test_seen (xlsa17 ratio: 0.2).
        sentences_per_image: generated sentences per image.
        limit_per_class: keep at most this many images per class (tests).
        on_corrupt: ``"fail"`` raises on an unreadable image, naming it; ``"skip"`` leaves it (and its label) out,
            warns naming the first files and the count, and lists them in ``Cub100.skipped_files``.

    Raises:
        ValueError: an unreadable image with ``on_corrupt="fail"`` (the message names the file), or a bad
            ``on_corrupt``.
    """
    root = Path(root)
    files, labels, classes = read_subset(root)
    if limit_per_class is not None:
        keep = np.concatenate([np.flatnonzero(labels == c)[:limit_per_class] for c in np.unique(labels)])
        files, labels = [files[i] for i in keep], labels[keep]
    images, kept, skipped = read_images(root / SUBSET / "images", files, image_size, on_corrupt)
    warn_skipped("load_cub100", skipped, root / SUBSET / "images")
    files, labels = [files[i] for i in kept], labels[kept]
    phrases, table = attribute_phrases(root)
    val_names = set(_lines(root / "xlsa17" / "valclasses1.txt"))
    role = {int(r["subset_class_id"]): r for r in classes}
    rng, text_rng = np.random.default_rng(seed), random.Random(seed)
    sentences = []
    for lab in labels:
        cub_id = int(role[int(lab)]["cub_class"].split(".")[0])
        sentences.append(class_sentences(table[cub_id - 1], phrases, sentences_per_image, text_rng))
    unseen = np.array(sorted(c for c, r in role.items() if r["xlsa17_PS_role"] == "test_unseen"))
    val = np.array(sorted(c for c, r in role.items() if c not in unseen and r["cub_class"] in val_names))
    splits = _splits(labels, unseen, val, test_seen_fraction, rng)
    names = [role[c]["cub_class"] for c in sorted(role)]
    return Cub100(torch.from_numpy(images).contiguous(), labels.astype(np.int64), sentences, splits, names, files,
                  skipped)


def _splits(labels: np.ndarray, unseen: np.ndarray, val: np.ndarray, frac: float,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    trainval, test_seen = [], []
    for c in np.setdiff1d(np.unique(labels), unseen):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = max(1, int(round(frac * len(idx))))
        test_seen.append(idx[:n])
        trainval.append(idx[n:])
    seen_mask = ~np.isin(labels, unseen)
    return {"trainval": np.sort(np.concatenate(trainval)), "test_seen": np.sort(np.concatenate(test_seen)),
            "test_unseen": np.flatnonzero(~seen_mask), "train": np.flatnonzero(seen_mask & ~np.isin(labels, val)),
            "val": np.flatnonzero(np.isin(labels, val))}

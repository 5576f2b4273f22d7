"""Parsers for the xlsa17 GZSL benchmark files (Xian et al., "Zero-shot learning - the good, the bad and the
ugly", TPAMI 2018) as used by CLAREL (Oreshkin et al., CVPRW 2020, Section 4: "We use the GZSL splits proposed by
Xian et al."):

* ``res101.mat``: ``features`` (2048, N) ResNet-101 pool features, ``labels`` (N, 1) 1-based class ids,
  ``image_files`` (N, 1) paths;
* ``att_splits.mat``: ``att`` (A, C), ``allclasses_names`` (C, 1), 1-based ``trainval_loc``, ``test_seen_loc``,
  ``test_unseen_loc`` and, in some copies, ``train_loc`` / ``val_loc`` (CUB's copy lacks them: they are in Reed's
  ``sent_splits.mat`` with the same indexing, see :mod:`cmlib.data.reed`).

All indices returned here are 0-based. Split sizes are checked against the named dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmlib.data.reed import read_text_c10

__all__ = [
    "LOC_KEYS",
    "SPLIT_SIZES",
    "AttSplits",
    "Res101",
    "Xlsa17Text",
    "check_split_sizes",
    "load_att_splits",
    "load_res101",
    "load_sent_splits",
    "load_xlsa17_with_text",
    "merge_train_val",
]

# (trainval, test_seen, test_unseen) sizes of the standard proposed splits.
SPLIT_SIZES = {"CUB": (7057, 1764, 2967), "FLO": (5631, 1403, 1155)}
LOC_KEYS = ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc")


@dataclass
class AttSplits:
    """An ``att_splits.mat`` (or ``sent_splits.mat``): class side information and 0-based split indices.

    Attributes:
        att: (C, A) float class embeddings (transposed from the file's (A, C)).
        class_names: C names in ``allclasses_names`` order (which is *not* CUB class-id order).
        splits: ``trainval``, ``test_seen``, ``test_unseen`` and, when present, ``train``, ``val`` (int64, 0-based).
    """

    att: np.ndarray
    class_names: list[str]
    splits: dict[str, np.ndarray]


@dataclass
class Res101:
    """A ``res101.mat``: features (N, 2048) float32, labels (N,) int64 0-based, image_files (N,) relative paths."""

    features: np.ndarray
    labels: np.ndarray
    image_files: list[str]


def _loadmat(path: Path) -> dict:
    from cmlib.data.images import read_mat

    return read_mat(path, f"an xlsa17 .mat file ({Path(path).name})")


def _strings(arr: np.ndarray) -> list[str]:
    return [str(np.asarray(x).ravel()[0]) if np.asarray(x).size else "" for x in np.asarray(arr).ravel()]


def load_att_splits(path: str | Path) -> AttSplits:
    """Read an xlsa17 ``att_splits.mat`` (or Reed ``sent_splits.mat``), converting 1-based locs to 0-based.

    Raises:
        FileNotFoundError: no file. KeyError: a required key is missing (named, with the keys found).
    """
    m = _loadmat(Path(path))
    missing = [k for k in ("att", *LOC_KEYS[:3]) if k not in m]
    if missing:
        raise KeyError(f"{path}: missing keys {missing}; found {sorted(k for k in m if not k.startswith('__'))}")
    splits = {k[:-4]: np.asarray(m[k]).ravel().astype(np.int64) - 1 for k in LOC_KEYS if k in m}
    for name, idx in splits.items():
        if idx.size and idx.min() < 0:
            raise ValueError(f"{path}: {name}_loc holds index 0; xlsa17 locs are 1-based")
    att = np.asarray(m["att"], dtype=np.float32).T
    # FLO's copy has no allclasses_names: classes are then named by their 1-based label.
    names = _strings(m["allclasses_names"]) if "allclasses_names" in m else [f"class_{i + 1}" for i in range(len(att))]
    return AttSplits(att=att, class_names=names, splits=splits)


def load_res101(path: str | Path) -> Res101:
    """Read an xlsa17 ``res101.mat``; image paths are cut after the dataset's ``images/`` folder when present.

    Raises:
        FileNotFoundError / KeyError naming the file; ValueError when features and labels disagree in N.
    """
    m = _loadmat(Path(path))
    for k in ("features", "labels", "image_files"):
        if k not in m:
            raise KeyError(f"{path}: missing key {k!r} (expected features (2048, N), labels (N, 1), image_files)")
    feats = np.asarray(m["features"], dtype=np.float32).T
    labels = np.asarray(m["labels"]).ravel().astype(np.int64) - 1
    files = [f.split("images/")[-1] for f in _strings(m["image_files"])]
    if not len(feats) == len(labels) == len(files):
        raise ValueError(f"{path}: features hold {len(feats)} images, labels {len(labels)}, image_files {len(files)}")
    return Res101(feats, labels, files)


def check_split_sizes(splits: dict[str, np.ndarray], dataset: str, where: str = "splits") -> None:
    """Fail unless trainval / test_seen / test_unseen have the sizes of the named dataset's proposed split.

    Raises:
        ValueError: naming the split, the expected and the found count; or an unknown dataset name.
    """
    if dataset not in SPLIT_SIZES:
        raise ValueError(f"{where}: unknown dataset {dataset!r}; expected one of {sorted(SPLIT_SIZES)}")
    for name, expected in zip(("trainval", "test_seen", "test_unseen"), SPLIT_SIZES[dataset]):
        found = len(splits.get(name, ()))
        if found != expected:
            raise ValueError(f"{where}: {dataset} {name} holds {found} images, expected {expected}")


def load_sent_splits(path: str | Path) -> AttSplits:
    """Reed ``sent_splits.mat``: (C, 1024) class sentence embeddings and 0-based train/val/trainval/test splits (the
    layout of ``att_splits.mat``)."""
    return load_att_splits(path)


def merge_train_val(att: AttSplits, sent: AttSplits) -> AttSplits:
    """Add ``train`` / ``val`` from Reed's ``sent_splits.mat`` to an ``att_splits.mat`` lacking them (CUB).

    Raises:
        ValueError: the two files disagree on trainval / test_seen / test_unseen (so the indexing differs).
    """
    for name in ("trainval", "test_seen", "test_unseen"):
        if not np.array_equal(np.sort(att.splits[name]), np.sort(sent.splits[name])):
            raise ValueError(f"att_splits and sent_splits disagree on {name}_loc: they do not share one indexing")
    if "train" not in sent.splits or "val" not in sent.splits:
        raise KeyError("sent_splits.mat holds no train_loc / val_loc")
    return AttSplits(att.att, att.class_names, {**att.splits, "train": sent.splits["train"], "val": sent.splits["val"]})


@dataclass
class Xlsa17Text:
    """res101 features, Reed sentences and splits of one dataset, ready for the CLAREL study."""

    features: np.ndarray
    labels: np.ndarray
    sentences: list[list[str]]
    splits: dict[str, np.ndarray]
    class_names: list[str]


def load_xlsa17_with_text(root: str | Path, dataset: str = "CUB") -> Xlsa17Text:
    """Load ``<root>/res101.mat``, ``<root>/att_splits.mat`` (+ ``<root>/sent_splits.mat`` when train/val locs are
    missing) and Reed's ``<root>/text_c10/<class>/<image>.txt``; check the split sizes of ``dataset``."""
    root = Path(root)
    res = load_res101(root / "res101.mat")
    att = load_att_splits(root / "att_splits.mat")
    if "train" not in att.splits:
        att = merge_train_val(att, load_att_splits(root / "sent_splits.mat"))
    check_split_sizes(att.splits, dataset, where=str(root / "att_splits.mat"))
    sentences = read_text_c10(root / "text_c10", res.image_files)
    return Xlsa17Text(res.features, res.labels, sentences, att.splits, att.class_names)

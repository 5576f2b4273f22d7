"""NUS-WIDE parsers (Chua et al., CIVR 2009) for weakly-supervised hashing (WHCMT, WDHT, WSDHQ protocol).

Formats read exactly as distributed:

- ``TagList1k.txt`` (the 1,000 tags, CRLF) and ``Concepts81.txt`` (the 81 concepts, CRLF);
- ``ImageList/Imagelist.txt`` (one ``<folder>\\<name>.jpg`` per line) with ``NUS_WID_Tags/AllTags1k.txt``
  (one row of 1,000 0/1 values per image, columns in TagList1k order) -> per-image tags;
- ``Groundtruth/AllLabels/Labels_<concept>.txt`` (one 0/1 per image, Imagelist order) -> the 81-concept matrix, from
  which :func:`most_frequent_concepts` keeps the 21 most frequent concepts (the usual NUS-WIDE hashing subset);
- hashing list files ``<path>.jpg l1 ... lC`` (DeepHash-pytorch ``nuswide_21/train.txt`` etc.);
- the BiAM GloVe-300 pickle ``NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300.pkl``: a list of two float32 arrays,
  (1000, 300) in TagList1k order and (81, 300) in Concepts81 order (``pickle.load(..., encoding="latin1")``).

:func:`load_records` reads a whole NUS-WIDE tree (the official layout, ``LAYOUT``) into per-image records for
``cmlib.studies.whcmt`` (``data: nuswide``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmlib.data.mirflickr import read_lines

__all__ = [
    "ALL_TAGS",
    "CONCEPTS",
    "IMAGE_DIR",
    "IMAGE_LIST",
    "LABELS_DIR",
    "LAYOUT",
    "TAG_LIST",
    "NuswideRecord",
    "image_path",
    "load_all_labels",
    "load_alltags1k",
    "load_glove_tag_vectors",
    "load_hash_list",
    "load_records",
    "load_word_list",
    "most_frequent_concepts",
]


def load_word_list(path: Path) -> list[str]:
    """A one-word-per-line list (TagList1k.txt, Concepts81.txt), CRLF-safe, stripped, empty lines dropped."""
    words = [w.strip() for w in read_lines(Path(path)) if w.strip()]
    if not words:
        raise ValueError(f"{path}: no words found (expected one tag or concept per line)")
    return words


def load_glove_tag_vectors(pickle_path: Path, tag_list: list[str], concepts: list[str] | None = None
                           ) -> dict[str, np.ndarray]:
    """``{tag: vector (300,)}`` from the BiAM GloVe pickle (rows in ``tag_list`` order; concepts appended if given).

    Raises:
        ValueError: the pickle is not two arrays whose row counts match the tag / concept lists.
    """
    with Path(pickle_path).open("rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    if not (isinstance(data, (list, tuple)) and len(data) == 2):
        raise ValueError(f"{pickle_path}: expected a list of 2 arrays (tags, concepts), got {type(data).__name__}")
    tag_vecs, concept_vecs = (np.asarray(a, dtype=np.float32) for a in data)
    if tag_vecs.shape[0] != len(tag_list):
        raise ValueError(f"{pickle_path}: {tag_vecs.shape[0]} tag vectors but {len(tag_list)} tags in the list")
    out = {t: tag_vecs[i] for i, t in enumerate(tag_list)}
    if concepts is not None:
        if concept_vecs.shape[0] != len(concepts):
            raise ValueError(f"{pickle_path}: {concept_vecs.shape[0]} concept vectors but {len(concepts)} concepts")
        for i, c in enumerate(concepts):
            out.setdefault(c, concept_vecs[i])
    return out


def load_hash_list(path: Path) -> tuple[list[str], np.ndarray]:
    """Hashing list file: lines ``<image path> l1 ... lC`` -> (paths, uint8 labels (N, C))."""
    names, rows = [], []
    for lineno, line in enumerate(read_lines(Path(path)), 1):
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{lineno}: expected '<image> l1 ... lC', got {line[:60]!r}")
        names.append(parts[0])
        rows.append([int(v) for v in parts[1:]])
    if len({len(r) for r in rows}) > 1:
        raise ValueError(f"{path}: rows have different numbers of labels")
    return names, np.asarray(rows, dtype=np.uint8)


def load_alltags1k(image_list: Path, alltags1k: Path, tag_list: list[str]) -> tuple[list[str], list[list[str]]]:
    """Per-image tags from ``Imagelist.txt`` + ``AllTags1k.txt`` -> (image paths with '/', tag lists)."""
    images = [p.strip().replace("\\", "/") for p in read_lines(Path(image_list)) if p.strip()]
    rows = read_lines(Path(alltags1k))
    if len(rows) != len(images):
        raise ValueError(f"{alltags1k}: {len(rows)} rows but {len(images)} images in {image_list}")
    tags = []
    for lineno, row in enumerate(rows, 1):
        flags = row.split()
        if len(flags) != len(tag_list):
            raise ValueError(f"{alltags1k}:{lineno}: {len(flags)} columns, expected {len(tag_list)} (TagList1k)")
        tags.append([tag_list[j] for j, f in enumerate(flags) if f == "1"])
    return images, tags


def load_all_labels(labels_dir: Path, concepts: list[str]) -> np.ndarray:
    """81-concept matrix uint8 (N, 81) from ``Labels_<concept>.txt`` files (Imagelist order)."""
    cols = []
    for c in concepts:
        path = Path(labels_dir) / f"Labels_{c}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"NUS-WIDE labels: {path} missing (expected Labels_<concept>.txt per concept)")
        cols.append([int(v) for v in read_lines(path) if v.strip()])
    if len({len(c) for c in cols}) > 1:
        raise ValueError(f"{labels_dir}: Labels_*.txt files have different lengths")
    return np.asarray(cols, dtype=np.uint8).T


def most_frequent_concepts(labels: np.ndarray, concepts: list[str], k: int = 21) -> list[int]:
    """Column indices of the ``k`` most frequent concepts (ties by name), in Concepts81 order."""
    counts = labels.sum(axis=0)
    top = sorted(range(len(concepts)), key=lambda j: (-int(counts[j]), concepts[j]))[:k]
    return sorted(top)


# Where the official NUS-WIDE download puts each file, relative to its root (the zips of lms.comp.nus.edu.sg).
IMAGE_LIST = "ImageList/Imagelist.txt"
TAG_LIST = "NUS_WID_Tags/TagList1k.txt"
ALL_TAGS = "NUS_WID_Tags/AllTags1k.txt"
CONCEPTS = "ConceptsList/Concepts81.txt"
LABELS_DIR = "Groundtruth/AllLabels"
IMAGE_DIR = "Flickr"
LAYOUT = (f"<root>/{IMAGE_LIST}, {TAG_LIST}, {ALL_TAGS}, {CONCEPTS}, {LABELS_DIR}/Labels_<concept>.txt and the "
          f"images under {IMAGE_DIR}/<concept folder>/<name>.jpg")


@dataclass
class NuswideRecord:
    """One image: its path relative to the data root, its TagList1k tags and its labels on the kept concepts.

    Attributes:
        image: e.g. ``"Flickr/actor/0001_2124494179.jpg"``.
        tags: Tags of TagList1k set for this image (possibly empty).
        labels: uint8 (C,), columns in the order of the kept concept names.
    """

    image: str
    tags: list[str]
    labels: np.ndarray


def image_path(listed: str) -> str:
    """An ``Imagelist.txt`` entry -> the image path under the root: ``Flickr/<folder>/<name>.jpg``.

    The official list names Windows paths such as ``C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg``; the part after
    ``Flickr`` is kept, or the last two components (``<folder>\\<name>.jpg``) when ``Flickr`` is not in the entry.
    """
    parts = [p for p in listed.strip().replace("\\", "/").split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"NUS-WIDE {IMAGE_LIST}: entry {listed!r} is not '<folder>\\<name>.jpg'")
    if IMAGE_DIR in parts[:-1]:
        parts = parts[len(parts) - 1 - parts[::-1].index(IMAGE_DIR) + 1:]
    else:
        parts = parts[-2:]
    return "/".join([IMAGE_DIR, *parts])


def _required(root: Path, rel: str) -> Path:
    path = Path(root) / rel
    if not path.exists():
        raise FileNotFoundError(f"NUS-WIDE: {path} not found (expected {LAYOUT})")
    return path


def load_records(root: Path, n_concepts: int = 21) -> tuple[list[NuswideRecord], list[str]]:
    """Records of the NUS-WIDE tree under ``root`` restricted to the ``n_concepts`` most frequent concepts.

    Tags come from ``AllTags1k.txt`` (TagList1k columns), labels from the 81 ``Labels_<concept>.txt`` files; only
    images with at least one of the kept concepts are returned (the usual NUS-WIDE-21 hashing subset: 195,834 of
    269,648 images in the full release).

    Returns:
        (records in Imagelist order, the kept concept names in Concepts81 order).

    Raises:
        FileNotFoundError: a file of the layout is missing (naming it and the expected layout).
        ValueError: the files disagree on the number of images.
    """
    tag_list = load_word_list(_required(root, TAG_LIST))
    images, tags = load_alltags1k(_required(root, IMAGE_LIST), _required(root, ALL_TAGS), tag_list)
    concepts = load_word_list(_required(root, CONCEPTS))
    labels81 = load_all_labels(_required(root, LABELS_DIR), concepts)
    if len(labels81) != len(images):
        raise ValueError(f"NUS-WIDE: {len(labels81)} rows in {Path(root) / LABELS_DIR}/Labels_*.txt but "
                         f"{len(images)} images in {Path(root) / IMAGE_LIST}")
    if n_concepts > len(concepts):
        raise ValueError(f"NUS-WIDE: {n_concepts} concepts asked for, {Path(root) / CONCEPTS} lists {len(concepts)}")
    keep = most_frequent_concepts(labels81, concepts, n_concepts)
    labels = labels81[:, keep]
    records = [NuswideRecord(image_path(im), tl, lab) for im, tl, lab in zip(images, tags, labels) if lab.any()]
    return records, [concepts[j] for j in keep]

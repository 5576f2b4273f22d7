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
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from cmlib.data.mirflickr import read_lines


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

"""CLAREL data: load or generate images/features and sentences, tokenise them, and build the protocol's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cmlib.data.worlds.clarel import make_world
from cmlib.studies.clarel.config import Config, TrainConfig
from cmlib.text import Vocabulary, embedding_matrix, load_word_vectors, tokenize, train_word2vec


@dataclass
class ClarelData:
    """Images/features, tokenised sentences, labels and xlsa17-style splits, whatever the source.

    Attributes:
        inputs: (N, F) float features or (N, 3, H, W) images (uint8 or float).
        ids: (N, S, L) int64 token ids of S sentences per image; lengths: (N, S).
        labels: (N,) int64 class ids in [0, C).
        splits: 0-based index arrays ``trainval``, ``test_seen``, ``test_unseen``, ``train``, ``val``.
        class_names: C names. vocab: the tokenizer. word_vectors: (V, E) frozen table. source: a label for reports.
        word_coverage: {"tokens", "with_vector", "coverage", "occurrence_coverage", "missing"} of the vocabulary
            (``<pad>``/``<unk>`` aside) in the word vectors (:func:`word_coverage`).
    """

    inputs: torch.Tensor
    ids: torch.Tensor
    lengths: torch.Tensor
    labels: np.ndarray
    splits: dict[str, np.ndarray]
    class_names: list[str]
    vocab: Vocabulary
    word_vectors: torch.Tensor
    source: str
    word_coverage: dict[str, float | int | str] = field(default_factory=dict)


@dataclass
class Stage:
    """One protocol stage: which images train, which are scored, and the seen/unseen classes.

    Attributes:
        name: "val" or "test". train_idx / seen_idx / unseen_idx: image indices. seen / unseen: class ids.
        proto_idx: images whose sentences build the prototypes.
    """

    name: str
    train_idx: np.ndarray
    seen_idx: np.ndarray
    unseen_idx: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray
    proto_idx: np.ndarray


# ----------------------------------------------------------------------------------------------- data
def build_data(cfg: Config) -> ClarelData:
    """Load or generate the data named by ``cfg.data`` and tokenise its sentences."""
    if cfg.data == "world":
        world = make_world(cfg.world)
        inputs, sentences, labels = world.inputs, world.sentences, world.labels
        splits, names, source = world.splits, world.class_names, f"compositional world ({cfg.world.mode})"
    elif cfg.data == "xlsa17":
        from cmlib.data.xlsa17 import load_xlsa17_with_text

        bundle = load_xlsa17_with_text(cfg.data_root, dataset=cfg.dataset)
        inputs, sentences, labels = torch.from_numpy(bundle.features), bundle.sentences, bundle.labels
        splits, names, source = bundle.splits, bundle.class_names, f"xlsa17 {cfg.dataset} + Reed text_c10"
    else:
        from cmlib.data.cub import load_cub100

        bundle = load_cub100(cfg.data_root, image_size=cfg.world.image_size, seed=cfg.world.seed,
                             test_seen_fraction=cfg.world.test_seen_fraction, on_corrupt=cfg.on_corrupt,
                             sentences_per_image=cfg.world.sentences_per_image)
        inputs, sentences, labels = bundle.images, bundle.sentences, bundle.labels
        skipped = f"; {len(bundle.skipped_files)} unreadable image(s) skipped" if bundle.skipped_files else ""
        source = ("cub100 real images + class-level attribute sentences (generated from each class's CUB attribute "
                  f"vector: no per-image text exists here){skipped}")
        splits, names = bundle.splits, bundle.class_names
    return tokenise(inputs, sentences, np.asarray(labels), splits, names, cfg.train, source)


def tokenise(inputs: torch.Tensor, sentences: list[list[str]], labels: np.ndarray, splits: dict[str, np.ndarray],
             class_names: list[str], tcfg: TrainConfig, source: str) -> ClarelData:
    """Tokenise all sentences, build the vocabulary (capped) and the frozen word-vector table.

    Raises:
        ValueError: images hold different numbers of sentences.
    """
    counts = {len(s) for s in sentences}
    if len(counts) != 1:
        raise ValueError(f"every image needs the same number of sentences; found counts {sorted(counts)}")
    tokens = [[tokenize(s) for s in per_image] for per_image in sentences]
    flat = [t for per_image in tokens for t in per_image]
    vocab = Vocabulary.build(flat, max_size=tcfg.vocab_size)
    if tcfg.word_vectors is not None:
        vectors = load_word_vectors(tcfg.word_vectors)
        dim = len(next(iter(vectors.values())))
    else:
        vectors, dim = train_word2vec(flat, dim=tcfg.word_dim, seed=0, epochs=tcfg.word2vec_epochs), tcfg.word_dim
    coverage = word_coverage(vocab, vectors, flat)
    if tcfg.word_vectors is not None:
        if coverage["coverage"] < tcfg.min_word_coverage:
            raise ValueError(f"train.word_vectors {tcfg.word_vectors}: only {coverage['with_vector']} of "
                             f"{coverage['tokens']} vocabulary tokens ({coverage['coverage']:.1%}) have a vector, "
                             f"below train.min_word_coverage={tcfg.min_word_coverage:.0%} (the rest would get random "
                             f"frozen vectors); missing e.g. {coverage['missing']}. Expected vectors of this corpus's "
                             f"language (or lower train.min_word_coverage)")
        source += (f"; word vectors {Path(tcfg.word_vectors).name}: {coverage['with_vector']}/{coverage['tokens']} "
                   f"tokens ({coverage['coverage']:.1%}, {coverage['occurrence_coverage']:.1%} of occurrences)")
    ids, lengths = vocab.encode_batch(flat, tcfg.max_len)
    n, s = len(sentences), counts.pop()
    return ClarelData(inputs=inputs, ids=ids.reshape(n, s, -1), lengths=lengths.reshape(n, s),
                      labels=labels.astype(np.int64), splits=splits, class_names=class_names, vocab=vocab,
                      word_vectors=embedding_matrix(vocab, vectors, dim, seed=0), source=source,
                      word_coverage=coverage)


def word_coverage(vocab: Vocabulary, vectors: dict, corpus: list[list[str]]) -> dict[str, float | int | str]:
    """How much of ``vocab`` (``<pad>``/``<unk>`` aside) has a vector in ``vectors``.

    Returns:
        {"tokens": vocabulary tokens, "with_vector": those with a vector, "coverage": their share,
        "occurrence_coverage": share of the corpus's in-vocabulary token occurrences with a vector,
        "missing": the most frequent tokens without one (up to 8, comma-separated)}.
    """
    from collections import Counter

    words = vocab.itos[2:]
    counts = Counter(t for sent in corpus for t in sent if t in vocab)
    have = [w for w in words if w in vectors]
    missing = sorted((w for w in words if w not in vectors), key=lambda w: (-counts[w], w))
    total = sum(counts[w] for w in words)
    return {"tokens": len(words), "with_vector": len(have), "coverage": len(have) / max(len(words), 1),
            "occurrence_coverage": sum(counts[w] for w in have) / max(total, 1), "missing": ", ".join(missing[:8])}


def make_stage(data: ClarelData, name: Literal["val", "test"], val_seen_fraction: float = 0.2, seed: int = 0) -> Stage:
    """The validation or test stage of the GZSL protocol (see the module docstring)."""
    sp, labels = data.splits, data.labels
    if name == "test":
        seen, unseen = np.unique(labels[sp["trainval"]]), np.unique(labels[sp["test_unseen"]])
        return Stage("test", sp["trainval"], sp["test_seen"], sp["test_unseen"], seen, unseen,
                     np.arange(len(labels)))
    trainval = np.asarray(sp["trainval"])
    train_pool = np.intersect1d(trainval, sp["train"])
    unseen_idx = np.intersect1d(trainval, sp["val"])
    rng = np.random.default_rng(seed + 7919)
    held, kept = [], []
    for c in np.unique(labels[train_pool]):
        idx = rng.permutation(train_pool[labels[train_pool] == c])
        k = max(1, round(val_seen_fraction * len(idx)))
        held.append(idx[:k])
        kept.append(idx[k:])
    seen, unseen = np.unique(labels[train_pool]), np.unique(labels[unseen_idx])
    return Stage("val", np.sort(np.concatenate(kept)), np.sort(np.concatenate(held)), unseen_idx, seen, unseen,
                 np.concatenate([train_pool, unseen_idx]))


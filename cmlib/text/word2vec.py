"""Word vectors: train gensim word2vec on a corpus, or load a user's vectors file; build an embedding matrix.

gensim's Word2Vec is bit-reproducible only with ``workers=1`` and a fixed ``PYTHONHASHSEED`` (the project kernel
``cmlib`` that ``make setup`` installs sets it to 0, as do the Makefile and the runner for the kernels they start);
:func:`train_word2vec` always uses one worker and a fixed ``hashfxn``-free seed.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from cmlib.protocol.perturb import jitter_array_, jitter_seed
from cmlib.text.vocab import Vocabulary

__all__ = ["embedding_matrix", "load_word_vectors", "train_word2vec"]


def train_word2vec(
    corpus: Sequence[Sequence[str]], *, dim: int = 300, seed: int = 0, epochs: int = 5, window: int = 5, min_count: int = 1
) -> dict[str, np.ndarray]:
    """Train skip-gram word2vec (gensim) on token lists; returns ``{word: float32 vector (dim,)}``.

    Raises:
        ValueError: the corpus holds no token.
    """
    from gensim.models import Word2Vec

    sentences = [list(s) for s in corpus if len(s)]
    if not sentences:
        raise ValueError("train_word2vec: the corpus holds no token (every sentence/tag list is empty)")
    settings = {"vector_size": dim, "window": window, "min_count": min_count, "sg": 1, "workers": 1, "seed": seed,
                "epochs": epochs}
    if not jitter_seed():
        model = Word2Vec(sentences, **settings)
    else:  # test-only numeric perturbation of the initial vectors (cmlib.protocol.perturb); otherwise the same training
        model = Word2Vec(**settings)
        model.build_vocab(sentences)
        jitter_array_(model.wv.vectors, salt=seed)
        model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    return {w: model.wv[w].astype(np.float32) for w in model.wv.index_to_key}


def load_word_vectors(path: str | Path) -> dict[str, np.ndarray]:
    """Load word vectors from a local file.

    Formats: word2vec binary (``.bin``), word2vec/GloVe text (``.txt``/``.vec``; a ``count dim`` header line is
    optional), or a pickle of ``{word: vector}`` (e.g. NUS-WIDE's GloVe-300 tag vectors, ``.pkl``).

    Raises:
        FileNotFoundError / ValueError naming the file and the expected format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: word-vector file not found (expected word2vec .bin, GloVe/word2vec .txt or a .pkl dict)")
    if path.suffix in (".pkl", ".pickle"):
        return _load_pickle(path)
    if path.suffix == ".bin":
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
        return {w: kv[w].astype(np.float32) for w in kv.index_to_key}
    return _load_text(path)


def _load_pickle(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as fh:
        data = pickle.load(fh)
    if not isinstance(data, Mapping):  # a file's content, not an argument's type: ValueError
        raise ValueError(  # noqa: TRY004
            f"{path}: expected a pickled dict {{word: vector}}, got {type(data).__name__} (NUS-WIDE's BiAM pickle of two "
            "arrays in TagList1k order is read by cmlib.data.nuswide.load_glove_tag_vectors)"
        )
    out = {str(w): np.asarray(v, dtype=np.float32).reshape(-1) for w, v in data.items()}
    dims = {v.shape[0] for v in out.values()}
    if len(dims) > 1:
        raise ValueError(f"{path}: vectors of different sizes {sorted(dims)}")
    return out


def _load_text(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    dim = None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec text header "count dim"
            if len(parts) < 2:
                continue
            try:
                vec = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected 'word v1 v2 ...' with numbers, got {line[:60]!r}") from None
            if dim is not None and vec.shape[0] != dim:
                raise ValueError(f"{path}:{lineno}: vector of size {vec.shape[0]}, expected {dim}")
            dim = vec.shape[0]
            out[parts[0]] = vec
    if not out:
        raise ValueError(f"{path}: no word vectors found")
    return out


def embedding_matrix(vocab: Vocabulary, vectors: Mapping[str, np.ndarray], dim: int, *, seed: int = 0) -> torch.Tensor:
    """FloatTensor (len(vocab), dim): a token's vector where known, N(0, 0.1) for the rest, zeros for ``<pad>``.

    Raises:
        ValueError: the vectors are not ``dim``-dimensional.
    """
    gen = torch.Generator().manual_seed(seed)
    out = torch.randn(len(vocab), dim, generator=gen) * 0.1
    out[0] = 0.0
    for i, tok in enumerate(vocab.itos[2:], start=2):
        vec = vectors.get(tok)
        if vec is not None:
            if vec.shape[-1] != dim:
                raise ValueError(f"word vector of {tok!r} has {vec.shape[-1]} dims, expected {dim}")
            out[i] = torch.from_numpy(np.asarray(vec, dtype=np.float32))
    return out

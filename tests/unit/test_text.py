"""cmlib.text: tokenizer, vocabulary, word2vec training and vector files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cmlib.text import Vocabulary, embedding_matrix, load_word_vectors, tokenize, train_word2vec


def test_tokenize() -> None:
    assert tokenize("The Red-bird, 2 wings!") == ["the", "red", "bird", "2", "wings"]
    assert tokenize("") == [] and tokenize("!!!") == []


def test_vocabulary_build_caps_and_orders_by_frequency() -> None:
    vocab = Vocabulary.build([["b", "a", "a"], ["c", "b", "a"]], max_size=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    ids, n = vocab.encode(["a", "zzz", "b"], max_len=5)
    assert ids.tolist() == [2, 1, 3, 0, 0] and n == 3
    ids, n = vocab.encode([], max_len=3)  # an empty sentence still encodes (all padding)
    assert ids.tolist() == [0, 0, 0] and n == 0
    batch, lengths = vocab.encode_batch([["a"], ["b", "b", "b", "b"]], max_len=3)
    assert batch.shape == (2, 3) and lengths.tolist() == [1, 3]
    assert vocab.count_unknown(["a", "q", "r"]) == 2


def test_vocabulary_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="same token twice"):
        Vocabulary(["<pad>", "<unk>", "a", "a"])


def test_word2vec_is_reproducible() -> None:
    corpus = [["red", "bird", "small"], ["blue", "bird", "large"]] * 20
    a, b = train_word2vec(corpus, dim=8, seed=3), train_word2vec(corpus, dim=8, seed=3)
    assert set(a) == {"red", "bird", "small", "blue", "large"}
    assert all(np.array_equal(a[w], b[w]) for w in a)
    with pytest.raises(ValueError, match="holds no token"):
        train_word2vec([[], []], dim=8)


def test_load_vector_files(tmp_path: Path) -> None:
    txt = tmp_path / "glove.txt"
    txt.write_text("red 0.1 0.2 0.3\nbird 1 2 3\n")
    w2v = tmp_path / "w2v.txt"
    w2v.write_text("2 3\nred 0.1 0.2 0.3\nbird 1 2 3\n")
    pkl = tmp_path / "vec.pkl"
    pkl.write_bytes(pickle.dumps({"red": [0.1, 0.2, 0.3], "bird": np.array([1.0, 2.0, 3.0])}))
    for path in (txt, w2v, pkl):
        vec = load_word_vectors(path)
        assert set(vec) == {"red", "bird"} and np.allclose(vec["bird"], [1, 2, 3])
    bad = tmp_path / "bad.txt"
    bad.write_text("red 0.1 0.2\nbird 1 2 3\n")
    with pytest.raises(ValueError, match="bad.txt:2: vector of size 3, expected 2"):
        load_word_vectors(bad)
    with pytest.raises(FileNotFoundError, match="word-vector file not found"):
        load_word_vectors(tmp_path / "missing.bin")


def test_embedding_matrix_uses_known_vectors() -> None:
    vocab = Vocabulary.from_tokens(["red", "bird"])
    emb = embedding_matrix(vocab, {"red": np.ones(3, dtype=np.float32)}, 3, seed=0)
    assert emb.shape == (4, 3)
    assert torch.equal(emb[0], torch.zeros(3)) and torch.equal(emb[2], torch.ones(3))
    with pytest.raises(ValueError, match="expected 4"):
        embedding_matrix(vocab, {"red": np.ones(3)}, 4)

"""Tokenizers, vocabularies and word vectors (gensim) shared by the papers' text towers.

Every name below is importable from ``cmlib.text``; gensim is imported only when a word2vec function is first used.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "vocab": ("PAD", "UNK", "Vocabulary", "tokenize"),
    "word2vec": ("embedding_matrix", "load_word_vectors", "train_word2vec"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

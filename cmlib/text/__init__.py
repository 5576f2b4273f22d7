"""Tokenizers, vocabularies and word vectors (gensim) shared by the papers' text towers."""

from cmlib.text.vocab import PAD, UNK, Vocabulary, tokenize
from cmlib.text.word2vec import embedding_matrix, load_word_vectors, train_word2vec

__all__ = ["PAD", "UNK", "Vocabulary", "embedding_matrix", "load_word_vectors", "tokenize", "train_word2vec"]

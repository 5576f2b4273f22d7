"""Tokenizer and vocabulary shared by the text towers (CLAREL sentences, WHCMT tags, GRM-Net expressions).

Ids 0 and 1 are reserved: ``<pad>`` (0) and ``<unk>`` (1). The vocabulary keeps the ``max_size`` most frequent
tokens (ties broken alphabetically so it is deterministic), as the CLAREL official code caps its tokenizer at
10,000 words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["PAD", "UNK", "Vocabulary", "tokenize"]

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens: ``"The Red-bird!" -> ["the", "red", "bird"]``; empty text -> ``[]``."""
    return _TOKEN.findall(text.lower())


@dataclass
class Vocabulary:
    """Token <-> id mapping with ``<pad>`` = 0 and ``<unk>`` = 1.

    Attributes:
        itos: id -> token, starting with the two specials.
    """

    itos: list[str]
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.itos[:2] != [PAD, UNK]:
            raise ValueError(f"a Vocabulary starts with {[PAD, UNK]}, got {self.itos[:2]}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("a Vocabulary may not hold the same token twice")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, corpus: Iterable[Sequence[str]], *, max_size: int | None = None, min_count: int = 1) -> Vocabulary:
        """The ``max_size`` most frequent tokens of ``corpus`` (lists of tokens) seen at least ``min_count`` times."""
        counts = Counter(tok for toks in corpus for tok in toks if tok not in (PAD, UNK))
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls([PAD, UNK, *ranked])

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> Vocabulary:
        """A vocabulary in the given order (e.g. a dataset's vocab.txt); specials are prepended when absent."""
        toks = [t for t in tokens if t not in (PAD, UNK)]
        return cls([PAD, UNK, *dict.fromkeys(toks)])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens map to ``<unk>`` (1)."""
        return [self.stoi.get(t, 1) for t in tokens]

    def encode(self, tokens: Sequence[str], max_len: int) -> tuple[torch.Tensor, int]:
        """Pad/truncate to ``max_len``: returns (LongTensor (max_len,), true length <= max_len)."""
        ids = self.ids(tokens)[:max_len]
        out = torch.zeros(max_len, dtype=torch.long)
        if ids:
            out[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out, len(ids)

    def encode_batch(self, batch: Sequence[Sequence[str]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode N token lists: (LongTensor (N, max_len), LongTensor (N,) lengths); the same as stacking
        :meth:`encode` per list, built in one NumPy array (117,880 CUB sentences: one tensor, not 117,880)."""
        get = self.stoi.get
        rows = [[get(t, 1) for t in toks[:max_len]] for toks in batch]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        out = np.zeros((len(rows), max_len), dtype=np.int64)
        if rows and max_len:
            flat = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(lengths.sum()))
            out[np.arange(max_len)[None, :] < lengths[:, None]] = flat
        return torch.from_numpy(out), torch.from_numpy(lengths)

    def count_unknown(self, tokens: Iterable[str]) -> int:
        """How many of ``tokens`` are outside the vocabulary."""
        return sum(t not in self.stoi for t in tokens)

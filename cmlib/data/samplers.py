"""Identity-balanced P x K batches for metric-learning losses (batch-hard triplet, Hermans et al. 2017).

A :class:`PKBatches` object is an engine ``batches`` callable: ``epoch -> iterable of batches``, deterministic in
(seed, epoch) because it draws only from its own ``torch.Generator``.

Sampling follows torchreid's / LightMBN's ``RandomIdentitySampler`` (official DeSKPro code, ``data/sampler.py``):
each epoch the identities are shuffled and cut into groups of P; each identity contributes K images, drawn without
replacement when it has at least K and with replacement otherwise. An identity with a single image cannot give a
positive pair: it is dropped and named (``on_singleton="drop"``) or rejected (``"error"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import torch

__all__ = ["PKBatches"]


class PKBatches:
    """P identities x K images per batch.

    Args:
        labels: identity label of every sample (any hashable values).
        p: identities per batch.
        k: images per identity.
        fetch: turns a LongTensor of sample indices (P*K,) into a batch (e.g. stacks images and labels).
        seed: base seed; epoch ``e`` uses ``seed * 1_000_003 + e``.
        on_singleton: "drop" (warn, naming the identities) or "error".

    Raises:
        ValueError: when fewer than P usable identities remain, or a single-image identity with "error".
    """

    def __init__(
        self,
        labels: Sequence[Any],
        p: int,
        k: int,
        fetch: Callable[[torch.Tensor], Any],
        seed: int = 0,
        on_singleton: Literal["drop", "error"] = "drop",
    ) -> None:
        if p < 2 or k < 2:
            raise ValueError(f"PKBatches: need p >= 2 and k >= 2 for batch-hard triplets, got p={p}, k={k}")
        by_id: dict[Any, list[int]] = {}
        for i, lab in enumerate(labels):
            by_id.setdefault(lab, []).append(i)
        singles = sorted((lab for lab, idx in by_id.items() if len(idx) < 2), key=str)
        if singles and on_singleton == "error":
            raise ValueError(f"PKBatches: identities with a single image cannot form a positive pair: {singles[:20]}")
        if singles:
            warnings.warn(f"PKBatches: dropped {len(singles)} identities with a single image: {singles[:20]}", stacklevel=2)
        self.dropped = singles
        self.groups = [torch.tensor(idx) for lab, idx in sorted(by_id.items(), key=lambda t: str(t[0])) if len(idx) >= 2]
        if len(self.groups) < p:
            raise ValueError(f"PKBatches: {len(self.groups)} identities with >= 2 images, fewer than p={p}")
        self.p, self.k, self.fetch, self.seed = p, k, fetch, seed

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.groups) // self.p

    def indices(self, epoch: int) -> list[torch.Tensor]:
        """The (P*K,) index tensors of one epoch."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.groups), generator=g)
        out = []
        for b in range(len(self)):
            chunk = []
            for gi in order[b * self.p : (b + 1) * self.p].tolist():
                members = self.groups[gi]
                if len(members) >= self.k:
                    pick = members[torch.randperm(len(members), generator=g)[: self.k]]
                else:
                    pick = members[torch.randint(len(members), (self.k,), generator=g)]
                chunk.append(pick)
            out.append(torch.cat(chunk))
        return out

    def __call__(self, epoch: int) -> Iterator[Any]:
        for idx in self.indices(epoch):
            yield self.fetch(idx)

"""The return type of every loss with several terms: a plain dict of named, already-weighted scalar terms.

``cmlib.protocol.engine.fit`` sums the values of whatever ``loss_fn`` returns (torchvision detection style: losses come back
as a dict of named terms), so a :class:`LossTerms` is exactly that dict, with the total made obvious for use outside
the engine::

    terms = ClarelLoss()(image_emb, text_emb, image_logits, text_logits, labels)
    terms.backward()                       # = terms.total().backward()
    print({k: float(v) for k, v in terms.items()}, float(terms.total()))

It holds no ``"loss"`` key (the engine would count it twice); ``total()`` sums the terms the way the engine does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["LossTerms"]


class LossTerms(dict[str, Tensor]):
    """Named, already-weighted scalar loss terms (a ``dict``); their sum is the loss that is minimised."""

    def total(self) -> Tensor:
        """The sum of the terms, a 0-d tensor (computed as ``cmlib.protocol.engine.fit`` does, bit for bit).

        Raises:
            ValueError: there is no term.
        """
        if not self:
            raise ValueError("LossTerms.total: no loss term to sum")
        return torch.stack([t.reshape(()) for t in self.values()]).sum()

    def backward(self, **kwargs: Any) -> None:
        """Backpropagate the total: ``terms.total().backward(**kwargs)`` (e.g. ``retain_graph=True``)."""
        self.total().backward(**kwargs)

"""Losses as functions and modules over tensors; they never import models.

Every name below is importable from ``cmlib.losses`` (imported on first use, so ``import cmlib.losses`` stays cheap):
``hashing`` (WHCMT), ``reid`` (DeSKPro), ``retrieval`` (CLAREL). A loss that returns several terms returns a
:class:`~cmlib.losses.terms.LossTerms`: a plain dict of named, already-weighted terms with ``.total()`` and
``.backward()``.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "hashing": ("WeakTagHashLoss", "hinge_loss", "pairwise_similarity_loss", "quantization_loss"),
    "reid": (
        "DeSKProLoss", "attention_loss", "batch_hard_triplet", "cloth_irrelevant_mask", "knowledge_propagation_loss",
        "label_smoothing_ce",
    ),
    "retrieval": ("ClarelLoss", "clarel_loss", "euclidean_distances", "image_retrieval_loss", "text_retrieval_loss"),
    "terms": ("LossTerms",),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

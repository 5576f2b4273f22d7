"""Paper-agnostic building blocks (attention, cross-attention, pooling); names imported from their module on first use."""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "attention": ("ClassTokenCrossBlock", "cross_attention_weights", "key_padding_bias"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

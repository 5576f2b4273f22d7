"""Paper-agnostic building blocks (attention, cross-attention, pooling)."""

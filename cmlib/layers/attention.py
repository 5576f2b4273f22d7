"""Class-token cross-attention blocks built from timm's CrossViT pieces.

Used by WHCMT (Yang, Chu & Dubey), Section 2.4: a = [v || t], b = a + MCA(LN(a)), a' = b + FFN(LN(b)).
MCA is read CrossViT-style (Chen et al., ICCV 2021, eq. (7)-(8), timm ``CrossAttention``): only the first token (the
visual class token) is the query; keys and values are all tokens of [v || t]. Only the class token is updated, which is
all the paper uses afterwards (v_f = [a'_cls || x_patch]). Unlike timm's ``CrossAttentionBlock`` the block here keeps
the FFN that the paper writes.
"""

from __future__ import annotations

import torch
from timm.layers import Mlp
from timm.models.crossvit import CrossAttention
from torch import Tensor, nn

__all__ = ["ClassTokenCrossBlock", "cross_attention_weights", "key_padding_bias"]


def key_padding_bias(key_padding: Tensor | None, dtype: torch.dtype = torch.float32) -> Tensor | None:
    """Additive attention bias from a padding mask.

    Args:
        key_padding: bool (B, N), True where the token is padding (never attended), or None.

    Returns:
        Float bias (B, 1, 1, N) with 0 for real tokens and -inf for padding, or None. Usable as ``attn_mask`` of timm's
        ``Block`` and by :func:`cross_attention_weights`.
    """
    if key_padding is None:
        return None
    bias = torch.zeros(key_padding.shape, dtype=dtype, device=key_padding.device)
    return bias.masked_fill(key_padding, float("-inf"))[:, None, None, :]


def cross_attention_weights(attn: CrossAttention, x: Tensor, bias: Tensor | None = None) -> Tensor:
    """Attention of the first token over all tokens inside a timm ``CrossAttention``.

    Args:
        attn: The module (its wq / wk / scale are used, no new parameters).
        x: Its (already layer-normed) input, shape (B, N, C).
        bias: Optional additive bias (B, 1, 1, N) from :func:`key_padding_bias`.

    Returns:
        Softmax weights, shape (B, heads, N); row sums are 1.
    """
    bsz, n, c = x.shape
    h = attn.num_heads
    q = attn.wq(x[:, :1]).reshape(bsz, 1, h, c // h).permute(0, 2, 1, 3)
    k = attn.wk(x).reshape(bsz, n, h, c // h).permute(0, 2, 1, 3)
    logits = (q @ k.transpose(-2, -1)) * attn.scale  # (B, h, 1, N)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1).squeeze(2)


class ClassTokenCrossBlock(nn.Module):
    """Transformer encoder block whose multi-head cross-attention uses the class token (token 0) as the only query.

    The parameters are those of timm's ``CrossAttention`` (wq, wk, wv, proj) plus a timm ``Mlp`` FFN; the forward
    adds a key-padding mask, which timm's ``CrossAttention`` lacks (tags come in variable numbers).

    Args:
        dim: Token width C.
        num_heads: Attention heads (must divide ``dim``).
        mlp_ratio: FFN hidden width / dim.
        qkv_bias: Bias in the q/k/v projections.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ClassTokenCrossBlock: dim={dim} must be divisible by num_heads={num_heads}")
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio))
        self.last_attn: Tensor | None = None
        self.keep_attn = False

    def forward(self, a: Tensor, key_padding: Tensor | None = None) -> Tensor:
        """b_cls = a_cls + MCA(LN(a)); a'_cls = b_cls + FFN(LN(b_cls)).

        Args:
            a: Tokens (B, N, C), token 0 is the query (class) token.
            key_padding: Optional bool (B, N), True for padding tokens.

        Returns:
            a'_cls, shape (B, 1, C). With ``keep_attn`` set, the weights (B, heads, N) are kept in ``last_attn``.
        """
        x = self.norm1(a)
        bsz, n, c = x.shape
        w = cross_attention_weights(self.attn, x, key_padding_bias(key_padding, x.dtype))  # (B, h, N)
        if self.keep_attn:
            self.last_attn = w.detach()
        h = self.attn.num_heads
        v = self.attn.wv(x).reshape(bsz, n, h, c // h).permute(0, 2, 1, 3)  # (B, h, N, C/h)
        out = (w.unsqueeze(2) @ v).transpose(1, 2).reshape(bsz, 1, c)
        b_cls = a[:, :1] + self.attn.proj_drop(self.attn.proj(out))
        return b_cls + self.mlp(self.norm2(b_cls))

"""WHCMT: Weakly-supervised deep image Hashing based on Cross-Modal Transformer (Yang, Chu & Dubey).

Equations and sections of the paper implemented here:
- eq. (1), Section 2.2: the visual representation v = [g^l(y^l_cls) || x^l_patch] is exactly the large-patch
  (L-) branch output of timm's ``CrossVit`` (``MultiScaleBlock``: ``projs`` = f^l, ``fusion`` = MCA with the L class
  token as query over the S-branch patches, ``revert_projs`` = g^l). Nothing of CrossViT is re-implemented.
- Section 2.3: tag transformer over word vectors, a class token, no positional embedding -> t = [t_cls || t_tag].
- Section 2.4: cross-modal transformer a = [v || t], b = a + MCA(LN(a)), a' = b + FFN(LN(b)); v_f = [a'_cls || x^l_patch];
  FC1, FC2, then lateral heads H1 (b-bit code h, sigmoid) and H2 (d-dim r compared with t_cls, as in WDHT).
- Retrieval (end of Section 2.5): only the image; the tag input is one all-ones tag vector. Codes = h > 0.5.

Choices where the paper is silent (no official code exists):
- MCA of the cross-modal transformer is CrossViT-style: the visual class token is the only query over [v || t]
  (``cmlib.layers.attention.ClassTokenCrossBlock``), so only a'_cls is produced, which is all v_f uses.
- Tag tokens (word_dim, 300) are projected to the visual width by a linear layer before concatenation (the same
  "projection for dimension alignment" CrossViT uses between branches).
- FC1 takes [a'_cls || mean of x^l_patch] (2 x width) rather than the flattened token sequence (which would make FC1
  ~237 M parameters at 240 px); ReLU between FC layers as in WDHT's AlexNet fc layers.
- The tag input is a tensor of tag ids into a frozen word-vector table whose row 0 is padding (zeros) and row 1 is
  the all-ones token; out-of-vocabulary tags are dropped before they get here (see ``cmlib.studies.whcmt``).
- ``tag_target`` (what eqs. (2)-(3) compare with): ``"cls"`` = the tag transformer's class token t_cls, as the paper
  writes; ``"mean"`` = WDHT's mean tag word vector (a diagnostic variant, not the paper).

Measured on the 64 px study world (8 bits, SGD lr 0.001, no gradient clip, seed 0), two reasons WHCMT learns less than
its own CrossViT backbone trained as WDHT:
- Train/retrieval mismatch. At training h and r see the image's tags through the cross-modal attention, and the same
  tags define the targets of eqs. (2)-(3): the losses fall to L1 0.074 / L2 0.097 (WDHT-CrossViT, image only: 0.246 /
  1.71) while the image path learns nothing (ITQ on FC2 features 0.199, retrieval MAP@K 0.186, chance 0.183, after
  200 steps). At retrieval the tags are one all-ones token, so only the image path counts. ``tag_dropout`` in
  ``cmlib.studies.whcmt`` trains part of each batch in the retrieval view (300 steps: 0.203 -> 0.239 at 0.5).
- The t_cls target. With stop-gradient targets (``cmlib.losses.hashing``) nothing keeps t_cls informative about the
  tags: the pair AUC of cos(t_cls) for label-sharing pairs is 0.50 at init (0.534 for the mean word vector), and when
  the tag transformer only ever sees the all-ones token (``tag_dropout`` 1.0) its t_cls collapse (L1 0.004 with
  constant codes; MAP@K 0.191). ``"mean"`` removes this part: 0.192 without and 0.239 with ``tag_dropout`` 0.5.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from timm.models.crossvit import CrossVit
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from cmlib.layers.attention import ClassTokenCrossBlock, cross_attention_weights, key_padding_bias
from cmlib.models.weights import check_backbone_weights, load_weights, timm_model
from cmlib.protocol.config import path_field

__all__ = [
    "ONES_ID",
    "PAD_ID",
    "WHCMT",
    "CrossViTEncoder",
    "CrossVitConfig",
    "HashHead",
    "TagTransformer",
    "WeakHashModel",
    "build_crossvit",
    "check_crossvit_weights",
    "check_weights_file",
    "crossvit_l_width",
    "init_layers",
    "load_state_file",
    "mean_tag_vector",
    "retrieval_tag_ids",
    "unit_variance_init",
    "warn_random_init",
]

PAD_ID = 0
ONES_ID = 1


@dataclass
class CrossVitConfig:
    """A timm ``CrossVit`` configuration (defaults: a small CPU model, 32 px).

    Attributes:
        variant: ``"custom"`` builds ``CrossVit`` from the fields below; otherwise a registered timm name such as
            ``"crossvit_9_240"`` (the paper's backbone).
        weights_file: Local checkpoint (checked to exist when params are loaded): for a registered variant read by
            timm (``pretrained_cfg_overlay=dict(file=...)``), for ``"custom"`` a ``torch.save``d state_dict of the
            model built from the fields below. None = random init, with a warning for a registered (pretrained-scale)
            variant such as the paper's. Never downloads.
        img_size: Input side in pixels.
        patch_size: (S, L) patch sizes; the larger one is the L-branch.
        embed_dim: (S, L) widths.
        depth: Number of multi-scale blocks; each is (1 S encoder, ``l_depth`` L encoders, 0 extra fusion), as crossvit_9.
        l_depth: L-branch encoders per multi-scale block (the paper: 3).
        num_heads: (S, L) heads.
        mlp_ratio: FFN ratio of the encoders.
    """

    variant: str = "custom"
    weights_file: Path | None = path_field(layout="a local timm checkpoint of the CrossViT variant (.pth/.safetensors)")
    img_size: int = 32
    patch_size: tuple[int, ...] = (4, 8)
    embed_dim: tuple[int, ...] = (48, 96)
    depth: int = 1
    l_depth: int = 3
    num_heads: tuple[int, ...] = (3, 3)
    mlp_ratio: float = 3.0


def check_weights_file(key: str, weights_file: str | Path | None, expected: str) -> Path | None:
    """``weights_file`` as a Path after checking that it is a file (None stays None: random init).

    Raises:
        FileNotFoundError: naming ``key``, the path and ``expected``.
    """
    if weights_file is None:
        return None
    if not Path(weights_file).is_file():
        raise FileNotFoundError(f"{key}: no file at {str(weights_file)!r} (expected {expected})")
    return Path(weights_file)


def warn_random_init(key: str, variant: str) -> None:
    """Warn that the pretrained-scale model ``variant`` starts from random weights (``key`` is unset)."""
    warnings.warn(f"{key} is not set: {variant} starts from random weights; the paper fine-tunes an ImageNet-"
                  f"pretrained {variant}, so its numbers are not comparable (set {key} to a local checkpoint)",
                  stacklevel=3)


def load_state_file(model: nn.Module, key: str, weights_file: Path) -> None:
    """Load a ``torch.save``d state_dict into ``model`` strictly (:func:`cmlib.models.weights.load_weights`).

    Raises:
        cmlib.models.weights.WeightsError: naming ``key``, the file, the model class and the first offending keys.
    """
    load_weights(model, weights_file, key=key, model_name=type(model).__name__)


def _custom_crossvit(cfg: CrossVitConfig) -> CrossVit:
    return CrossVit(img_size=cfg.img_size, patch_size=tuple(cfg.patch_size), embed_dim=tuple(cfg.embed_dim),
                    depth=((1, cfg.l_depth, 0),) * cfg.depth, num_heads=tuple(cfg.num_heads),
                    mlp_ratio=(cfg.mlp_ratio, cfg.mlp_ratio, 1.0), num_classes=0)


def crossvit_l_width(cfg: CrossVitConfig) -> int:
    """Width D_L of the L (large-patch) branch of ``cfg``'s CrossViT (a named variant is built on the meta device)."""
    if cfg.variant == "custom":
        return int(cfg.embed_dim[max(range(len(cfg.patch_size)), key=lambda i: cfg.patch_size[i])])
    with torch.device("meta"):
        model = timm.create_model(cfg.variant, pretrained=False, num_classes=0, img_size=cfg.img_size)
    sizes = [pe.patch_size[0] for pe in model.patch_embed]
    return int(model.embed_dim[max(range(len(sizes)), key=lambda i: sizes[i])])


def check_crossvit_weights(cfg: CrossVitConfig, key: str = "visual.weights_file") -> None:
    """Config-time check that ``cfg.weights_file`` (if set) fits the configured CrossViT (meta device, no memory).

    Raises:
        FileNotFoundError, cmlib.models.weights.WeightsError: naming ``key``, the file, the model, the first keys.
    """
    check_backbone_weights(cfg, lambda: _custom_crossvit(cfg), key=key, model_name="custom CrossVit")


def build_crossvit(cfg: CrossVitConfig) -> CrossVit:
    """Create the timm ``CrossVit`` (no classifier head) for ``cfg``; loads ``weights_file`` strictly when given.

    A registered variant gets ``img_size`` (timm builds it at that resolution); its checkpoint's classifier head
    (``head.0``/``head.1``) is dropped by name and every other weight must fit (:mod:`cmlib.models.weights`).
    A registered variant (``crossvit_9_240``: pretrained-scale) without ``weights_file`` warns that it starts from
    random weights; the small ``"custom"`` CPU model starts from random weights silently (the studies' setting).
    """
    key = "visual.weights_file"
    weights = check_weights_file(key, cfg.weights_file, f"a local checkpoint of {cfg.variant}")
    if cfg.variant == "custom":
        model = _custom_crossvit(cfg)
        if weights is not None:
            load_weights(model, weights, key=key, model_name="custom CrossVit")
        return model
    if weights is None:
        warn_random_init(key, cfg.variant)
    return timm_model(cfg.variant, weights, key=key, img_size=cfg.img_size)


class CrossViTEncoder(nn.Module):
    """Visual part of WHCMT: v = [g^l(y^l_cls) || x^l_patch] of eq. (1), from timm's ``CrossVit``.

    Args:
        cfg: Backbone configuration.
    """

    def __init__(self, cfg: CrossVitConfig) -> None:
        super().__init__()
        self.backbone = build_crossvit(cfg)
        sizes = [pe.patch_size[0] for pe in self.backbone.patch_embed]
        self.l_idx = max(range(len(sizes)), key=lambda i: sizes[i])
        self.s_idx = 1 - self.l_idx
        self.dim = self.backbone.embed_dim[self.l_idx]
        self.keep_attn = False
        self.last_cross_scale_attn: Tensor | None = None
        fusion = self.backbone.blocks[-1].fusion[self.l_idx]
        self._fusion = fusion[-1] if isinstance(fusion, nn.Sequential) else fusion
        self._fusion.register_forward_hook(self._keep_cross_scale)

    def _keep_cross_scale(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        if self.keep_attn:
            with torch.no_grad():
                x = module.norm1(inputs[0])
                self.last_cross_scale_attn = cross_attention_weights(module.attn, x)

    @property
    def s_grid(self) -> int:
        """Side of the S-branch patch grid."""
        pe = self.backbone.patch_embed[self.s_idx]
        return pe.img_size[0] // pe.patch_size[0]

    @property
    def l_grid(self) -> int:
        """Side of the L-branch patch grid."""
        pe = self.backbone.patch_embed[self.l_idx]
        return pe.img_size[0] // pe.patch_size[0]

    def forward(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> v (B, 1 + N_L, D_L) (after timm's final LayerNorm of the L-branch).

        With ``keep_attn`` set, ``last_cross_scale_attn`` holds the eq. (1) attention of the L class token over
        [f^l(x^l_cls) || x^s_patch] in the last multi-scale block, shape (B, heads, 1 + N_S).
        """
        return self.backbone.forward_features(images)[self.l_idx]


class TagTransformer(nn.Module):
    """Section 2.3: t = Encoder([t_cls || t_tag]) with no positional embedding (tags are order-agnostic).

    Args:
        tag_table: Frozen word vectors (V, word_dim); row ``PAD_ID`` zeros, row ``ONES_ID`` all ones.
        depth: Transformer encoder blocks (timm ``Block``).
        num_heads: Heads (must divide word_dim).
        mlp_ratio: FFN ratio.
    """

    def __init__(self, tag_table: Tensor, depth: int = 1, num_heads: int = 6, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        dim = tag_table.shape[1]
        if dim % num_heads:
            raise ValueError(f"TagTransformer: word_dim={dim} must be divisible by num_heads={num_heads}")
        self.register_buffer("tag_table", tag_table.float().clone(), persistent=True)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_ratio, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dim = dim

    def forward(self, tag_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Tag ids (B, T) (``PAD_ID`` = padding) -> t (B, 1 + T, word_dim) and padding mask (B, 1 + T)."""
        tokens = self.tag_table[tag_ids]
        pad = torch.cat([torch.zeros_like(tag_ids[:, :1], dtype=torch.bool), tag_ids == PAD_ID], dim=1)
        x = torch.cat([self.cls_token.expand(len(tag_ids), -1, -1), tokens], dim=1)
        bias = key_padding_bias(pad, x.dtype)
        for blk in self.blocks:
            x = blk(x, attn_mask=bias)
        return self.norm(x), pad


class HashHead(nn.Module):
    """FC1, FC2 then lateral heads H1 (sigmoid code h, b bits) and H2 (r, d dims), as in WDHT / WHCMT Fig. 1.

    Args:
        in_dim: Input feature width.
        hidden: Width of FC1 and FC2.
        bits: Code length b.
        r_dim: Width d of r (that of the tag class token).
    """

    def __init__(self, in_dim: int, hidden: int, bits: int, r_dim: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.h1 = nn.Linear(hidden, bits)
        self.h2 = nn.Linear(hidden, r_dim)
        self.bits = bits

    def forward(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Features (B, in_dim) -> (h in (0, 1) of shape (B, b), r of shape (B, d))."""
        z = self.fc(feats)
        return torch.sigmoid(self.h1(z)), self.h2(z)


def mean_tag_vector(tag_table: Tensor, tag_ids: Tensor) -> Tensor:
    """WDHT's tag representation: mean of the word vectors of an image's tags.

    Args:
        tag_table: (V, d); row ``PAD_ID`` is padding, row ``ONES_ID`` the all-ones token of untagged images.
        tag_ids: (B, T).

    Returns:
        (B, d).
    """
    keep = (tag_ids != PAD_ID).unsqueeze(-1).float()
    return (tag_table[tag_ids] * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def retrieval_tag_ids(batch_size: int, device: torch.device | str = "cpu") -> Tensor:
    """Tag input used at retrieval: one all-ones tag token per image, ids of shape (B, 1)."""
    return torch.full((batch_size, 1), ONES_ID, dtype=torch.long, device=device)


class WeakHashModel(nn.Module):
    """Common interface of WHCMT and the WDHT baselines: ``forward(images, tag_ids) -> dict(h, r, t_cls)``.

    Subclasses implement ``forward``; ``encode`` gives the retrieval codes from images alone.
    """

    bits: int

    @torch.no_grad()
    def encode(self, images: Tensor, bits: int | None = None) -> Tensor:
        """Binary codes (B, b) as bool (h > 0.5) from images alone (tags = one all-ones token).

        Raises:
            ValueError: ``bits`` differs from the code length this model was built for.
        """
        if bits is not None and bits != self.bits:
            raise ValueError(f"{type(self).__name__}.encode: model was built for {self.bits}-bit codes, "
                             f"asked for {bits} bits; train a model with bits={bits}")
        out = self(images, retrieval_tag_ids(len(images), images.device))
        return out["h"] > 0.5


@torch.no_grad()
def unit_variance_init(model: nn.Module, layers: list[nn.Module], *inputs: Tensor, n_iter: int = 2) -> None:
    """Data-dependent init (LSUV, Mishkin & Matas, ICLR 2016): rescale each layer so its outputs on ``inputs`` have
    unit standard deviation, in order.

    Used because no pretrained backbone is available on CPU profiles: with default init the hash logits barely differ
    between images (std ~0.04), so every h_i ~ h_j and the gradient of eq. (2), proportional to h_i - h_j, vanishes;
    the paper starts from an ImageNet-pretrained CrossViT whose features do differ. This changes weights' scale only.

    Args:
        model: The model; ``model(*inputs)`` is run once per layer and iteration.
        layers: ``nn.Linear`` / ``nn.Conv2d`` modules in forward order.
        inputs: A representative batch (e.g. images and tag ids).
        n_iter: Rescaling passes per layer.
    """
    was_training = model.training
    model.eval()
    for layer in layers:
        seen: dict[str, Tensor] = {}
        hook = layer.register_forward_hook(lambda m, i, o, seen=seen: seen.update(out=o))
        try:
            for _ in range(n_iter):
                model(*inputs)
                std = float(seen["out"].std())
                if std > 1e-8:
                    layer.weight.mul_(1.0 / std)
                    if layer.bias is not None:
                        layer.bias.mul_(1.0 / std)
        finally:
            hook.remove()
    model.train(was_training)


def init_layers(model: nn.Module, include_cnn: bool = True) -> list[nn.Module]:
    """Layers for :func:`unit_variance_init`: the Conv2d/Linear layers of a CNN backbone (when ``include_cnn``; leave
    pretrained weights alone), then the hash head's FC1, FC2 and H1. Transformer backbones keep timm's init (their
    LayerNorms already fix the scale)."""
    backbone = getattr(model, "backbone", None)
    cnn = []
    if include_cnn and backbone is not None and not any(isinstance(m, (CrossVit, Block)) for m in backbone.modules()):
        cnn = [m for m in backbone.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return cnn + [model.head.fc[0], model.head.fc[2], model.head.h1]


class WHCMT(WeakHashModel):
    """The full model of Fig. 1.

    Args:
        visual: CrossViT configuration.
        tag_table: Frozen word-vector table (V, word_dim), see ``TagTransformer``.
        bits: Code length b.
        hidden: Width of FC1 / FC2.
        tag_depth: Tag transformer blocks.
        tag_heads: Tag transformer heads.
        cm_heads: Heads of the cross-modal MCA.
        tag_target: The t_cls returned for eqs. (2)-(3): ``"cls"`` (the tag transformer's class token, the paper) or
            ``"mean"`` (WDHT's mean tag word vector, a diagnostic variant; see the module docstring).
    """

    def __init__(self, visual: CrossVitConfig, tag_table: Tensor, bits: int, hidden: int = 256,
                 tag_depth: int = 1, tag_heads: int = 6, cm_heads: int = 3, tag_target: str = "cls") -> None:
        if tag_target not in ("cls", "mean"):
            raise ValueError(f"WHCMT: tag_target must be 'cls' or 'mean', got {tag_target!r}")
        super().__init__()
        self.visual = CrossViTEncoder(visual)
        self.tags = TagTransformer(tag_table, depth=tag_depth, num_heads=tag_heads)
        self.tag_proj = nn.Linear(self.tags.dim, self.visual.dim)
        self.cross_modal = ClassTokenCrossBlock(self.visual.dim, num_heads=cm_heads)
        self.head = HashHead(2 * self.visual.dim, hidden, bits, self.tags.dim)
        self.bits = bits
        self.tag_target = tag_target

    def set_keep_attention(self, on: bool = True) -> None:
        """Keep the cross-scale (eq. 1) and cross-modal (Section 2.4) attention weights of the next forward."""
        self.visual.keep_attn = on
        self.cross_modal.keep_attn = on

    def forward(self, images: Tensor, tag_ids: Tensor, target_tag_ids: Tensor | None = None) -> dict[str, Tensor]:
        """Images (B, 3, H, W) and tag ids (B, T) -> h (B, b), r (B, d), t_cls (B, d).

        ``target_tag_ids`` (B, T'), when given, are the tags t_cls is computed from (the loss target) while
        ``tag_ids`` feed the cross-modal attention; training with ``tag_ids`` = the all-ones retrieval token and the
        real tags as target is the retrieval-view training of ``cmlib.studies.whcmt`` (``tag_dropout``).
        """
        v = self.visual(images)  # (B, 1 + N_L, D)
        t, t_pad = self.tags(tag_ids)  # (B, 1 + T, d)
        a = torch.cat([v, self.tag_proj(t)], dim=1)
        pad = torch.cat([torch.zeros(v.shape[:2], dtype=torch.bool, device=v.device), t_pad], dim=1)
        a_cls = self.cross_modal(a, pad)[:, 0]  # a'_cls (B, D)
        feats = torch.cat([a_cls, v[:, 1:].mean(dim=1)], dim=1)  # v_f = [a'_cls || x_patch], patches mean-pooled
        h, r = self.head(feats)
        target = tag_ids if target_tag_ids is None else target_tag_ids
        if self.tag_target == "mean":
            t_cls = mean_tag_vector(self.tags.tag_table, target)
        else:
            t_cls = t[:, 0] if target_tag_ids is None else self.tags(target_tag_ids)[0][:, 0]
        return {"h": h, "r": r, "t_cls": t_cls}

"""CLAREL two-tower model (Oreshkin et al., "CLAREL: Classification via retrieval loss for zero-shot learning",
CVPRW 2020): f_phi (image) and f_theta (text) into one space Z (Section 2, Fig. 1), plus the image and text
classifier heads used by the kappa-weighted classifier losses.

The architecture appendix (D) is missing from the paper text; widths follow the official code (boreshkinai/CLAREL
model/model.py, as restated in issue 4):

* image tower: precomputed 2048-d features (xlsa17 ResNet-101) -> dropout 0.25 -> linear 1024; or raw images ->
  a timm backbone by name (weights from a local file when given) -> the same head;
* text tower: word vectors (frozen) -> two residual 1-D CNN blocks -> bidirectional LSTM (512 per direction) ->
  mean pooling over the valid tokens -> linear 1024; an image's text embedding is the mean over its sentences.
  Our addition, not in the paper or the official description: a 1x1 convolution (word_dim -> cnn_channels) +
  BatchNorm + ReLU before the residual blocks (``TextTower.inp``), because a residual block needs equal input and
  output widths and the word vectors (300 in the paper profile, 32-64 on CPU) are narrower than its channels.

CPU profiles shrink the widths through :class:`ClarelModelConfig` (the report says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["ClarelModel", "ClarelModelConfig", "ImageTower", "ResidualConv1d", "TextTower", "bilstm_masked",
           "build_backbone"]


@dataclass
class ClarelModelConfig:
    """Widths of the two towers (defaults: the paper profile's; smoke/study shrink them).

    Attributes:
        embed_dim: width of the joint space Z (official: 1024).
        image_in_dim: width of precomputed image features (xlsa17 ResNet-101: 2048); ignored with a backbone.
        image_dropout: dropout before the image projection (official: 0.25).
        backbone: timm model name for raw images (e.g. "resnet18"); None = precomputed features.
        backbone_weights: local weights file for the backbone (None = random init; never downloaded).
        cnn_channels: channels of the residual 1-D CNN blocks.
        cnn_kernel: kernel size of the 1-D convolutions.
        lstm_hidden: LSTM width per direction (official: 512).
        freeze_word_vectors: keep the word-vector table fixed (official: a constant table).
        lstm_mode: how the BiLSTM skips padding; both compute the same function (equal to float rounding:
            outputs within 2e-7, gradients within 2e-5, ``tests/unit/test_clarel_model.py``). ``"masked"``: each
            direction runs on the padded batch, the backward one on every sentence reversed within its length, and
            padded positions are masked (:func:`bilstm_masked`); ``"packed"``: ``pack_padded_sequence``, whose
            backward pass zero-fills a (tokens, 4H) buffer per time step (60 per step at L = 30): 2.4x slower for
            the LSTM and 1.86x for a study training step on one core (``benchmarks/clarel.py --lstm``, issue 32).
    """

    embed_dim: int = 1024
    image_in_dim: int = 2048
    image_dropout: float = 0.25
    backbone: str | None = None
    backbone_weights: Path | None = None
    cnn_channels: int = 512
    cnn_kernel: int = 3
    lstm_hidden: int = 512
    freeze_word_vectors: bool = True
    lstm_mode: Literal["masked", "packed"] = "masked"


class ImageTower(nn.Module):
    """f_phi: features (or a timm backbone over images) -> dropout -> linear embed_dim."""

    def __init__(self, cfg: ClarelModelConfig) -> None:
        super().__init__()
        self.backbone: nn.Module | None = None
        in_dim = cfg.image_in_dim
        if cfg.backbone is not None:
            self.backbone = build_backbone(cfg.backbone, cfg.backbone_weights)
            in_dim = self.backbone.num_features
        self.dropout = nn.Dropout(cfg.image_dropout)
        self.proj = nn.Linear(in_dim, cfg.embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, image_in_dim) features or (B, 3, H, W) images -> (B, embed_dim)."""
        if self.backbone is not None:
            x = self.backbone(x)
        return self.proj(self.dropout(x))


def build_backbone(name: str, weights: Path | None) -> nn.Module:
    """A timm feature extractor (``num_classes=0``: pooled features), weights from a local file or random.

    The file is loaded by :func:`cmlib.models.weights.timm_model`: its classifier head is dropped by name and every
    other weight must fit ``name`` exactly (a checkpoint of another architecture fails, naming the first keys).

    Raises:
        FileNotFoundError: ``weights`` is given but is not a file.
        cmlib.models.weights.WeightsError: the file does not fit ``name``.
    """
    from cmlib.models.weights import timm_model

    return timm_model(name, weights, key="model.backbone_weights")


class ResidualConv1d(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))) over (B, C, L), padded positions kept at zero by ``mask``.

    Batch normalisation after each convolution (TF-slim ``conv2d`` with ``normalizer_fn=batch_norm``, the
    official code's convention) keeps the sentence signal from vanishing: without it the text tower's output
    varied ~200x less across sentences than the image tower's and J_TR stayed at log B (measured).
    """

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, C, L), mask (B, 1, L) float -> (B, C, L)."""
        h = torch.relu(self.bn1(self.conv1(x))) * mask
        return torch.relu(x + self.bn2(self.conv2(h))) * mask


class TextTower(nn.Module):
    """f_theta: word vectors -> 2 residual 1-D CNN blocks -> BiLSTM -> masked mean pooling -> linear embed_dim."""

    def __init__(self, word_vectors: Tensor, cfg: ClarelModelConfig) -> None:
        """Args: word_vectors: (V, E) table, row 0 = <pad> (zeros), row 1 = <unk>; cfg: widths."""
        super().__init__()
        self.words = nn.Embedding.from_pretrained(word_vectors.float(), freeze=cfg.freeze_word_vectors, padding_idx=0)
        self.inp = nn.Sequential(nn.Conv1d(word_vectors.shape[1], cfg.cnn_channels, 1, bias=False),
                                 nn.BatchNorm1d(cfg.cnn_channels), nn.ReLU())
        self.blocks = nn.ModuleList([ResidualConv1d(cfg.cnn_channels, cfg.cnn_kernel) for _ in range(2)])
        self.lstm = nn.LSTM(cfg.cnn_channels, cfg.lstm_hidden, batch_first=True, bidirectional=True)
        self.lstm_mode = cfg.lstm_mode
        self.proj = nn.Linear(2 * cfg.lstm_hidden, cfg.embed_dim)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Embed sentences.

        Args:
            ids: (N, L) int64 token ids (0 = padding).
            lengths: (N,) int64 true lengths; 0 (an empty sentence) is treated as one <pad> token, so every
                sentence embeds.

        Returns:
            (N, embed_dim) sentence embeddings.
        """
        lengths = lengths.clamp(min=1, max=ids.shape[1])
        if not self.training:  # trailing all-padding columns change nothing in eval (batch norm reads running
            ids = ids[:, : int(lengths.max())]  # statistics): trimmed, exact; in training they enter the BN batch stats
        mask = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]).float()  # (N, L)
        x = self.inp(self.words(ids).transpose(1, 2)) * mask[:, None, :]
        for block in self.blocks:
            x = block(x, mask[:, None, :])
        if self.lstm_mode == "masked":
            out = bilstm_masked(self.lstm, x.transpose(1, 2), lengths)
        else:
            packed = pack_padded_sequence(x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # (N, L, 2H)
        pooled = (out * mask[..., None]).sum(1) / lengths[:, None].to(out.dtype)
        return self.proj(pooled)


_LSTM_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def bilstm_masked(lstm: nn.LSTM, x: Tensor, lengths: Tensor) -> Tensor:
    """A one-layer bidirectional, batch-first ``lstm`` over padded sequences, padding skipped without packing.

    The forward direction runs on ``x`` as it is: its output at a valid position t reads tokens 0..t only. The
    backward direction runs forward over each sequence reversed within its length (token ``len - 1 - t`` at t), and
    its outputs are put back in place, so both match the packed BiLSTM at every valid position. Each direction uses
    the module's own weights (``torch.func.functional_call`` on a one-direction twin).

    Args:
        lstm: ``nn.LSTM(..., batch_first=True, bidirectional=True)`` with one layer.
        x: (N, L, C) inputs. lengths: (N,) valid lengths in [1, L].

    Returns:
        (N, L, 2H): forward then backward outputs; 0 at padded positions.
    """
    if not (lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1):
        raise ValueError("bilstm_masked: expects a one-layer, batch-first, bidirectional nn.LSTM")
    length = x.shape[1]
    t = torch.arange(length, device=x.device)[None, :]
    lengths = lengths.to(x.device)
    valid = t < lengths[:, None]  # (N, L)
    rev = torch.where(valid, lengths[:, None] - 1 - t, t)  # an involution: reversal within each length
    twin = _one_direction(lstm)
    fw, _ = functional_call(twin, {w: getattr(lstm, w) for w in _LSTM_WEIGHTS}, (x,))
    xr = x.gather(1, rev[..., None].expand(-1, -1, x.shape[2]))
    bw, _ = functional_call(twin, {w: getattr(lstm, w + "_reverse") for w in _LSTM_WEIGHTS}, (xr,))
    bw = bw.gather(1, rev[..., None].expand(-1, -1, bw.shape[2]))
    return torch.cat([fw, bw], dim=-1) * valid[..., None].to(x.dtype)


def _one_direction(lstm: nn.LSTM) -> nn.LSTM:
    """A parameter-free one-direction twin of ``lstm`` (cached on it; its weights come in through
    ``functional_call``)."""
    twin = lstm.__dict__.get("_cmlib_twin")
    if twin is None:
        twin = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True, device="meta")
        lstm.__dict__["_cmlib_twin"] = twin
    return twin


class ClarelModel(nn.Module):
    """Two towers into Z plus the image and text classifier heads over the seen (training) classes.

    Exposes ``encode_image`` / ``encode_text`` (open_clip style).
    """

    def __init__(self, word_vectors: Tensor, n_classes: int, cfg: ClarelModelConfig | None = None) -> None:
        """Args: word_vectors: (V, E) table; n_classes: seen classes of the training split; cfg: widths."""
        super().__init__()
        cfg = cfg or ClarelModelConfig()
        if n_classes < 1:
            raise ValueError(f"ClarelModel: n_classes={n_classes} must be >= 1 (the seen training classes)")
        self.cfg = cfg
        self.image = ImageTower(cfg)
        self.text = TextTower(word_vectors, cfg)
        self.image_head = nn.Linear(cfg.embed_dim, n_classes)
        self.text_head = nn.Linear(cfg.embed_dim, n_classes)

    def encode_image(self, x: Tensor) -> Tensor:
        """f_phi: (B, image_in_dim) or (B, 3, H, W) -> (B, embed_dim)."""
        return self.image(x)

    def encode_text(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """f_theta over sentences, averaged over each image's sentences.

        Args:
            ids: (N, L) sentences, or (B, K, L) K sentences per image.
            lengths: (N,) or (B, K).

        Returns:
            (N, embed_dim), or (B, embed_dim) = the mean over the K sentences of each image.
        """
        if ids.dim() == 2:
            return self.text(ids, lengths)
        b, k, length = ids.shape
        return self.text(ids.reshape(b * k, length), lengths.reshape(b * k)).reshape(b, k, -1).mean(1)

    def forward(self, x: Tensor, ids: Tensor, lengths: Tensor) -> dict[str, Tensor]:
        """Both towers and both heads: {"image_emb", "text_emb" (B, D), "image_logits", "text_logits" (B, C)}."""
        zi, zt = self.encode_image(x), self.encode_text(ids, lengths)
        return {"image_emb": zi, "text_emb": zt, "image_logits": self.image_head(zi), "text_logits": self.text_head(zt)}

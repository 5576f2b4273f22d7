"""GRM-Net: Mask R-CNN with language fusion in the RPN and RoI heads plus the global reference mechanism.

Paper: Ling, Mo, Gao, "Multi-instance Referring Image Segmentation of Scene Sketches based on Global Reference
Mechanism" (2022). Fig. 2 (framework), Sec. 2.2 (RPN / RoI fusion steps), Sec. 2.3 (GRM, eq. 1), Sec. 3.1 (K=10,
BiLSTM with 15 steps, AdamW lr 2e-4, batch 4), Table 2 (the ablation variants, selected here by :class:`GRMNetSpec`).

Everything detection-specific is torchvision's: GeneralizedRCNNTransform, AnchorGenerator, RPN head, proposal
filtering and NMS, MultiScaleRoIAlign's level mapping, TwoMLPHead, FastRCNNPredictor, MaskRCNNHeads / Predictor,
fastrcnn_loss, maskrcnn_loss, maskrcnn_inference; only the RoIAlign operator itself is ours
(:mod:`cmlib.models.roi_align`: the same values as torchvision's to float rounding, as a sparse matrix whose CPU
backward is ~2.5x faster; torchvision's backward was 30% of a training step). Classes are the categories plus background; a RoI holding an object that the
expression does not refer to is background ("non-object"), which is what training on the referred instances only
teaches. With ``use_language=False`` the same class is a plain Mask R-CNN: the world's instance detector that every
referring variant starts from (:meth:`GRMNet.load_detector`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import (
    RoIHeads,
    fastrcnn_loss,
    maskrcnn_inference,
    maskrcnn_loss,
)
from torchvision.models.detection.rpn import RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FeaturePyramidNetwork

from cmlib.models.grmnet_heads import LanguageEncoder, LanguageRPN, TiledFusion, grm_vectors
from cmlib.models.roi_align import MultiScaleRoIAlign

__all__ = ["CanvasTransform", "GRMNet", "GRMNetSpec", "GRMRoIHeads", "TinyFPN", "build_backbone", "resnet_body"]


@dataclass
class GRMNetSpec:
    """Architecture and GRM variant. Defaults are the CPU (smoke) sizes; the paper profile sets the paper's.

    Attributes:
        num_classes: categories + 1 (background / non-object).
        vocab_size: expression vocabulary size (ids 0 <pad>, 1 <unk>).
        backbone: "tiny" (3-level conv FPN for CPU profiles) or a torchvision ResNet-FPN ("resnet18"/"resnet50"/
            "resnet101", random init unless ``load_detector`` / a weights file is used).
        backbone_weights: local torchvision ImageNet state_dict of the ResNet (e.g. ``resnet50-0676ba61.pth``),
            loaded strictly before the FPN is built (:func:`resnet_body`); None = random init.
        channels: FPN channels of the tiny backbone (ResNet-FPN always has 256).
        canvas: input side (images are resized to it; 512 in the paper's code).
        anchor_sizes: one tuple of sizes per pyramid level (tiny backbone, in pixels at ``canvas``).
        embed_dim, lstm_hidden: language model sizes (paper: 256, 512).
        top_k, manner, delta_dim, use_position: the GRM variant (Table 2); top_k=0 disables references.
        delta_scaling: how eq. (1)'s vectors enter the network (``"none"``: as written, today's form; ``"log1p"``:
            sign * log1p; :func:`cmlib.models.grmnet_heads.scale_offsets`).
        self_exclusion: which reference manners leave out the candidate and its near-duplicates (``"both"``, the
            default: one rule for both manners, MAttNet's, chosen on validation in issue 33 (params/grmnet/
            tuning.yaml), a deviation the paper does not make explicit; ``"distance"``: the earlier form, where a
            consistency-based candidate could reference itself; :func:`cmlib.models.grmnet_heads.reference_indices`).
        use_language: False builds the plain instance detector.
    """

    num_classes: int = 11
    vocab_size: int = 78
    backbone: Literal["tiny", "resnet18", "resnet50", "resnet101"] = "tiny"
    backbone_weights: str | None = None
    channels: int = 64
    canvas: int = 128
    anchor_sizes: tuple[tuple[int, ...], ...] = ((8, 12), (16, 24), (32, 48))
    embed_dim: int = 32
    lstm_hidden: int = 64
    rpn_pre_nms_top_n_train: int = 300
    rpn_post_nms_top_n_train: int = 100
    rpn_pre_nms_top_n_test: int = 300
    rpn_post_nms_top_n_test: int = 100
    rpn_batch_size_per_image: int = 128
    box_batch_size_per_image: int = 64
    representation_size: int = 256
    mask_layers: tuple[int, ...] = (64, 64)
    box_score_thresh: float = 0.05
    detections_per_img: int = 30
    top_k: int = 10
    manner: Literal["consistency", "distance"] = "consistency"
    delta_dim: Literal[5, 3] = 5
    use_position: bool = True
    use_language: bool = True
    delta_scaling: Literal["none", "log1p"] = "none"
    self_exclusion: Literal["distance", "both"] = "both"

    @property
    def grm_dim(self) -> int:
        """Length of the per-RoI GRM vector: K * dim + 5 (position)."""
        return self.top_k * self.delta_dim + 5 * int(self.use_position)


class TinyFPN(nn.Module):
    """A small conv backbone (strides 4, 8, 16) + torchvision FeaturePyramidNetwork, for the CPU profiles."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.stem = block(3, 16)        # stride 2
        self.c2 = block(16, 32)         # stride 4
        self.c3 = block(32, 64)         # stride 8
        self.c4 = block(64, 96)         # stride 16
        self.fpn = FeaturePyramidNetwork([32, 64, 96], channels)
        self.out_channels = channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """x: (B, 3, H, W) -> {'0': stride 4, '1': stride 8, '2': stride 16}, each (B, channels, h, w)."""
        c2 = self.c2(self.stem(x))
        c3 = self.c3(c2)
        c4 = self.c4(c3)
        return self.fpn(OrderedDict([("0", c2), ("1", c3), ("2", c4)]))


def build_backbone(spec: GRMNetSpec) -> tuple[nn.Module, AnchorGenerator, list[str]]:
    """Backbone, anchor generator and RoIAlign level names for ``spec.backbone``."""
    if spec.backbone == "tiny":
        sizes = spec.anchor_sizes
        if len(sizes) != 3:
            raise ValueError(f"GRMNetSpec.anchor_sizes: the tiny backbone has 3 levels, got {len(sizes)} tuples")
        return TinyFPN(spec.channels), AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 3), ["0", "1", "2"]
    if spec.backbone_weights is None:
        body = resnet_fpn_backbone(backbone_name=spec.backbone, weights=None, trainable_layers=5)
    else:
        body = _resnet_fpn_extractor(resnet_body(spec.backbone, spec.backbone_weights), trainable_layers=5)
    sizes = ((32,), (64,), (128,), (256,), (512,))
    return body, AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5), ["0", "1", "2", "3"]


def resnet_body(name: str, weights: str | Path | None, check_only: bool = False) -> nn.Module | None:
    """torchvision ResNet ``name`` with ``FrozenBatchNorm2d`` (as ``resnet_fpn_backbone`` builds it), weights from a
    local ImageNet state_dict loaded strictly (every key, ``fc`` included; :mod:`cmlib.models.weights`).

    Raises:
        FileNotFoundError, cmlib.models.weights.WeightsError: naming ``model.backbone_weights``, file and keys.
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    from cmlib.models.weights import torchvision_model

    return torchvision_model(name, weights, key="model.backbone_weights", check_only=check_only,
                             norm_layer=FrozenBatchNorm2d)


class GRMRoIHeads(RoIHeads):
    """RoI Fusion Step + GRM (Sec. 2.2-2.3): RoIAlign features are fused with the tiled expression vector, the K
    tiled reference vectors delta_ij (eq. 1) and the absolute position before the box/class and mask heads.

    Two choices the paper leaves open (documented, not changed, after the issue-17 audit):

    - RoIAlign pools from the backbone (FPN) maps, *not* from the language-fused maps of the RPN step. Sec. 3.1
      fuses the language twice, "with the image features from the ResNet backbone and the RoI features after the
      RoIAlign operation": the first fusion feeds the RPN head (:class:`LanguageRPN`), the second is this RoI fusion
      step, applied to what RoIAlign pooled. Pooling from the fused maps as well would fuse the expression into
      every RoI twice, which the text does not describe.
    - One fusion module (``self.fusion``) serves the 7x7 box pool and the 14x14 mask pool. The paper describes one
      RoI fusion step and says nothing about the mask branch; Mask R-CNN's two heads pool the same RoIs at two
      resolutions and a 1x1 tile-and-project fusion does not depend on the resolution, so the same map from
      [RoI features, expression, GRM vector] to fused features is applied to both (half the fusion parameters).

    Extra inputs are passed explicitly to :meth:`forward` (never stored on the module).
    """

    def __init__(self, *args, fusion: TiledFusion | None, spec: GRMNetSpec, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fusion = fusion
        self.spec = spec

    def extras(self, boxes: list[Tensor], rpn_boxes: list[Tensor], rpn_scores: list[Tensor],
               image_shapes: list[tuple[int, int]], text: Tensor | None) -> Tensor | None:
        """Concatenated [expression, GRM] vector for every RoI of the batch, (sum N_b, D) or None."""
        if self.fusion is None or text is None:
            return None
        s = self.spec
        rows = []
        for b, cand in enumerate(boxes):
            g = grm_vectors(cand, rpn_boxes[b], rpn_scores[b], image_shapes[b], k=s.top_k, manner=s.manner,
                            dim=s.delta_dim, use_position=s.use_position, scaling=s.delta_scaling,
                            self_exclusion=s.self_exclusion)
            rows.append(torch.cat([text[b].expand(cand.shape[0], -1), g], dim=1))
        return torch.cat(rows, dim=0)

    def _pool(self, pool: nn.Module, features: dict[str, Tensor], boxes: list[Tensor],
              image_shapes: list[tuple[int, int]], extra: Tensor | None) -> Tensor:
        x = pool(features, boxes, image_shapes)
        return x if extra is None else self.fusion(x, extra)

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
                rpn_scores: list[Tensor] | None = None, text: Tensor | None = None,
                targets: list[dict[str, Tensor]] | None = None) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """Box / class / mask heads over language- and GRM-fused RoI features.

        Args:
            features: pyramid {name: (B, C, H, W)}.
            proposals: [(P_b, 4)] RPN proposals after NMS (the candidates and the GRM's reference pool).
            image_shapes: [(H, W)] per image.
            rpn_scores: [(P_b,)] objectness probabilities of ``proposals`` (GRM ranking).
            text: (B, D) expression vectors or None (plain Mask R-CNN).
            targets: referred instances {boxes, labels, masks} (training).

        Returns:
            (detections [{boxes, labels, scores, masks (N, 1, 28, 28) probs}], losses).
        """
        rpn_boxes = proposals
        rpn_scores = rpn_scores if rpn_scores is not None else [p.new_ones(p.shape[0]) for p in proposals]
        if self.training:
            if targets is None:
                raise ValueError("GRMRoIHeads: targets are required in training mode")
            proposals, matched_idxs, labels, reg_targets = self.select_training_samples(proposals, targets)
        extra = self.extras(proposals, rpn_boxes, rpn_scores, image_shapes, text)
        feats = self.box_head(self._pool(self.box_roi_pool, features, proposals, image_shapes, extra))
        class_logits, box_regression = self.box_predictor(feats)
        losses: dict[str, Tensor] = {}
        result: list[dict[str, Tensor]] = []
        if self.training:
            loss_cls, loss_box = fastrcnn_loss(class_logits, box_regression, labels, reg_targets)
            losses = {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
            pos = [torch.where(lab > 0)[0] for lab in labels]
            mask_boxes = [p[i] for p, i in zip(proposals, pos)]
            pos_matched = [m[i] for m, i in zip(matched_idxs, pos)]
        else:
            boxes, scores, labs = self.postprocess_detections(class_logits, box_regression, proposals, image_shapes)
            result = [{"boxes": b, "labels": lab, "scores": sc} for b, sc, lab in zip(boxes, scores, labs)]
            mask_boxes = boxes
        mextra = self.extras(mask_boxes, rpn_boxes, rpn_scores, image_shapes, text)
        mfeat = self._pool(self.mask_roi_pool, features, mask_boxes, image_shapes, mextra)
        mask_logits = self.mask_predictor(self.mask_head(mfeat))
        if self.training:
            losses["loss_mask"] = maskrcnn_loss(mask_logits, mask_boxes, [t["masks"] for t in targets],
                                                [t["labels"] for t in targets], pos_matched)
        else:
            for prob, r in zip(maskrcnn_inference(mask_logits, [r["labels"] for r in result]), result):
                r["masks"] = prob
        return result, losses


class CanvasTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform, without the resize of an image that is already ``canvas x canvas``.

    Every world scene is drawn at the canvas size, so torchvision's resize runs at scale 1: a bilinear
    interpolation that returns the same values (and a nearest one for the masks), ~2.6 ms of a ~120 ms training
    step at the study's sizes. ``tests/unit/test_grmnet_model.py`` checks that skipping it is exact; any other size
    goes through torchvision's resize unchanged. One difference: in training torchvision draws its (one-size) random
    choice of ``min_size`` from torch's global RNG, which a skipped resize does not, so the sampling stream of a
    training run (RPN and RoI sampling) is not the one torchvision's transform gives.
    """

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None
               ) -> tuple[Tensor, dict[str, Tensor] | None]:
        side = self.min_size[-1]
        if self.max_size == side and tuple(image.shape[-2:]) == (side, side):
            return image, target
        return super().resize(image, target)


class GRMNet(nn.Module):
    """GRM-Net (Fig. 2): backbone -> language-fused RPN -> GRM + language-fused RoI heads -> instances.

    ``forward(images, tokens, lengths, targets)`` returns the named loss terms in training mode and
    ``[{boxes, labels, scores, masks (N, 1, H, W) probabilities}]`` in eval mode.
    """

    def __init__(self, spec: GRMNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.transform = CanvasTransform(spec.canvas, spec.canvas, [0.9, 0.9, 0.9], [0.25, 0.25, 0.25])
        self.backbone, anchors, levels = build_backbone(spec)
        c = self.backbone.out_channels
        self.language = LanguageEncoder(spec.vocab_size, spec.embed_dim, spec.lstm_hidden) if spec.use_language else None
        d_text = self.language.out_dim if self.language is not None else 0
        self.rpn = LanguageRPN(
            anchors, RPNHead(c, anchors.num_anchors_per_location()[0]), 0.7, 0.3, spec.rpn_batch_size_per_image, 0.5,
            {"training": spec.rpn_pre_nms_top_n_train, "testing": spec.rpn_pre_nms_top_n_test},
            {"training": spec.rpn_post_nms_top_n_train, "testing": spec.rpn_post_nms_top_n_test}, 0.7,
            fusion=TiledFusion(c, d_text) if spec.use_language else None)
        box_pool = MultiScaleRoIAlign(levels, 7, 2)
        mask_pool = MultiScaleRoIAlign(levels, 14, 2)
        self.roi_heads = GRMRoIHeads(
            box_pool, TwoMLPHead(c * 49, spec.representation_size),
            FastRCNNPredictor(spec.representation_size, spec.num_classes),
            0.5, 0.5, spec.box_batch_size_per_image, 0.25, None, spec.box_score_thresh, 0.5, spec.detections_per_img,
            mask_roi_pool=mask_pool, mask_head=MaskRCNNHeads(c, list(spec.mask_layers), 1),
            mask_predictor=MaskRCNNPredictor(spec.mask_layers[-1], spec.mask_layers[-1], spec.num_classes),
            fusion=TiledFusion(c, d_text + spec.grm_dim) if spec.use_language else None, spec=spec)

    def encode_text(self, tokens: Tensor | None, lengths: Tensor | None) -> Tensor | None:
        """(B, T), (B,) -> (B, D) expression vectors; None for the plain detector."""
        if self.language is None:
            return None
        if tokens is None or lengths is None:
            raise ValueError("GRMNet: tokens and lengths are required when use_language=True")
        return self.language(tokens, lengths)

    def _trunk(self, images: list[Tensor], tokens: Tensor | None, lengths: Tensor | None,
               targets: list[dict[str, Tensor]] | None):
        original = [tuple(im.shape[-2:]) for im in images]
        il, targets = self.transform(images, targets)
        feats = self.backbone(il.tensors)
        text = self.encode_text(tokens, lengths)
        boxes, scores, rpn_losses = self.rpn(il, feats, text, targets)
        return il, feats, text, boxes, scores, rpn_losses, targets, original

    def forward(self, images: list[Tensor], tokens: Tensor | None = None, lengths: Tensor | None = None,
                targets: list[dict[str, Tensor]] | None = None) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Args: images [(3, H, W)] in [0, 1]; tokens (B, T); lengths (B,); targets (training) per image
        {boxes (N, 4) float, labels (N,) int64, masks (N, H, W) uint8} of the *referred* instances."""
        il, feats, text, boxes, scores, rpn_losses, targets, original = self._trunk(images, tokens, lengths, targets)
        dets, roi_losses = self.roi_heads(feats, boxes, il.image_sizes, scores, text, targets)
        if self.training:
            return {**rpn_losses, **roi_losses}
        return self.transform.postprocess(dets, il.image_sizes, original)

    @torch.no_grad()
    def inspect(self, images: list[Tensor], tokens: Tensor | None = None,
                lengths: Tensor | None = None) -> list[dict[str, Tensor]]:
        """Eval-mode intermediates for Fig. 5: RPN proposals + objectness, detections, each detection's references.

        Returns per image {proposals (P, 4), objectness (P,), detections (dict as forward), references (N, K) long
        indices into proposals, reference_valid (N, K)} in input-image coordinates (inputs must be ``canvas`` px).
        """
        from cmlib.models.grmnet_heads import reference_indices

        was = self.training
        self.eval()
        il, feats, text, boxes, scores, _, _, original = self._trunk(images, tokens, lengths, None)
        dets, _ = self.roi_heads(feats, boxes, il.image_sizes, scores, text, None)
        dets = self.transform.postprocess(dets, il.image_sizes, original)
        out = []
        for b, det in enumerate(dets):
            idx, valid = reference_indices(det["boxes"], boxes[b], scores[b], self.spec.top_k, self.spec.manner,
                                           self.spec.self_exclusion)
            out.append({"proposals": boxes[b], "objectness": scores[b], "detections": det, "references": idx,
                        "reference_valid": valid})
        self.train(was)
        return out

    @torch.no_grad()
    def classify_boxes(self, images: list[Tensor], tokens: Tensor | None, lengths: Tensor | None,
                       boxes: list[Tensor]) -> list[Tensor]:
        """Class probabilities of given boxes (Fig. 5 (e): "the predicted probability of their real object class").

        Args:
            images: [(3, H, W)] at ``canvas`` px; tokens, lengths: the expression; boxes: [(N_b, 4)] per image.

        Returns:
            [(N_b, num_classes)] softmax probabilities (column 0 = non-object).
        """
        was = self.training
        self.eval()
        il, feats, text, props, scores, _, _, _ = self._trunk(images, tokens, lengths, None)
        heads = self.roi_heads
        extra = heads.extras(boxes, props, scores, il.image_sizes, text)
        logits, _ = heads.box_predictor(heads.box_head(heads._pool(heads.box_roi_pool, feats, boxes,
                                                                   il.image_sizes, extra)))
        self.train(was)
        return list(torch.softmax(logits, dim=1).split([len(b) for b in boxes]))

    def load_detector(self, state: dict[str, Tensor]) -> list[str]:
        """Start from a trained instance detector (a ``use_language=False`` GRMNet's state dict).

        Returns:
            the names of the parameters that were not in ``state`` (language model and fusion layers).

        Raises:
            ValueError: if ``state`` holds keys this model does not have or shapes differ (named).
        """
        result = self.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"GRMNet.load_detector: unexpected keys {result.unexpected_keys[:5]}")
        new = [k for k in result.missing_keys if not (k.startswith("language.") or ".fusion." in k)]
        if new:
            raise ValueError(f"GRMNet.load_detector: detector checkpoint lacks {new[:5]}")
        return list(result.missing_keys)

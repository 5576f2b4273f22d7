"""Architectures only (timm / torchvision based), baselines included.

Every name below is importable from ``cmlib.models`` (``from cmlib.models import WHCMT``); its module, and torch, is
imported on first use. ``build_backbone`` exists in both ``clarel`` and ``grmnet``, and ``cmlib.models.osnet`` is the
module: import ``build_backbone`` and the ``osnet`` factory from their modules.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "clarel": ("ClarelModel", "ClarelModelConfig", "ImageTower", "ResidualConv1d", "TextTower", "bilstm_masked"),
    "deskpro": (
        "CSA", "BNNeck", "BatchDropTop", "ChannelBranch", "GlobalBranch", "MBNOutput", "MultiBranchNet", "PartBranch",
        "flip_averaged_embedding", "two_stream_descriptor",
    ),
    "grmnet": ("CanvasTransform", "GRMNet", "GRMNetSpec", "GRMRoIHeads", "TinyFPN", "resnet_body"),
    "grmnet_heads": (
        "LanguageEncoder", "LanguageRPN", "TiledFusion", "absolute_position", "grm_vectors", "reference_indices",
        "relative_offsets",
        "scale_offsets",
    ),
    "hashing_baselines": (
        "ITQ", "LSH", "SH", "UNSUPERVISED", "WDHT", "AlexNetFc7", "CrossViTFeatures", "SmallAlexNet", "ViTConfig",
        "ViTFeatures", "check_vit_weights",
    ),
    "osnet": ("OSBlock", "OSNet", "load_osnet_weights", "osnet_x0_5", "osnet_x0_25", "osnet_x1_0"),
    "roi_align": ("MultiScaleRoIAlign", "interpolation"),  # the operator itself: cmlib.models.roi_align.roi_align
    "refseg_baselines": ("BinaryRefSeg", "InstanceMatcher", "binary_loss", "binary_to_instances", "spatial_features"),
    "weights": (
        "WeightsError", "check_backbone_weights", "check_weights", "load_weights", "read_state_dict", "timm_head_names",
        "timm_model", "torchvision_model",
    ),
    "whcmt": (
        "ONES_ID", "PAD_ID", "WHCMT", "CrossViTEncoder", "CrossVitConfig", "HashHead", "TagTransformer",
        "WeakHashModel", "build_crossvit", "check_crossvit_weights", "check_weights_file", "crossvit_l_width", "init_layers", "load_state_file", "mean_tag_vector",
        "retrieval_tag_ids", "unit_variance_init", "warn_random_init",
    ),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""Evaluation metrics of the four papers: pure functions, tensors or arrays in, floats / small arrays out.

- ``hashing``: Hamming-ranking MAP@k, precision/recall within a radius, precision@N and PR curves (WHCMT).
- ``zsl``: per-class top-1, ZSL top-1, GZSL u/s/H with metric rescaling, alpha sweeps (CLAREL).
- ``reid``: CMC and mAP under standard / cloth-changing / same-clothes protocols, chunked distances (DeSKPro).
- ``refseg``: SketchyScene per-expression AP and COCO mask AP through pycocotools (GRM-Net).

Every name below is importable from ``cmlib.metrics``; its module is imported on first use.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "hashing": (
        "Convention", "HammingCodes", "MAPResult", "hamming_distances", "mean_average_precision", "pack_codes",
        "pack_labels", "pr_curve", "precision_at_n", "precision_recall_radius", "tag_label_auc", "top_k_ranking",
    ),
    "refseg": (
        "IOU_THRESHOLDS", "Prediction", "Target", "coco_mask_ap", "expression_ap", "mask_iou", "sketchyscene_ap",
        "sketchyscene_ap_per_threshold",
    ),
    "reid": ("Metric", "Mode", "RankResult", "evaluate_rank", "pairwise_distance", "query_flags"),
    "zsl": ("GZSLResult", "alpha_sweep", "gzsl", "gzsl_predictions", "per_class_top1", "zsl_top1"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

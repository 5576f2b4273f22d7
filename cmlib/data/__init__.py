"""Typed records, real-dataset parsers (one file per dataset) and synthetic worlds (``cmlib.data.worlds``).

Every name below is importable from ``cmlib.data``; its module is imported on first use. ``load_records`` exists in
both ``mirflickr`` and ``nuswide``: import it from its module.
"""

from cmlib._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "celebreid": ("CELEB_SIZES", "read_celebreid"),
    "cub": (
        "SUBSET", "Cub100", "attribute_groups", "attribute_phrases", "class_sentences", "cub100_off_mode_share",
        "load_cub100", "off_mode_share_from_percentages", "read_subset",
    ),
    "images": ("ON_CORRUPT", "CorruptFileError", "load_image", "name_some", "read_images", "read_mat", "warn_skipped"),
    "mirflickr": (
        "LABELS_24", "HasImage", "MirflickrRecord", "find_file", "load_allannots", "load_cleaned", "load_images",
        "load_raw", "protocol_split_from_json", "read_lines",
    ),
    "nuswide": (
        "ALL_TAGS", "CONCEPTS", "IMAGE_DIR", "IMAGE_LIST", "LABELS_DIR", "LAYOUT", "TAG_LIST", "NuswideRecord",
        "image_path", "load_all_labels", "load_alltags1k", "load_glove_tag_vectors", "load_hash_list",
        "load_word_list", "most_frequent_concepts",
    ),
    "prcc": ("PRCC_PROTOCOLS", "read_prcc"),
    "reed": ("read_sentences", "read_text_c10"),
    "reid_folders": (
        "LIP_CLOTH_LABELS", "ParallelFolders", "ReIDRecord", "ReIDSet", "load_reid_set", "masks_present",
    ),
    "samplers": ("PKBatches",),
    "sketchyscene": (
        "SPLITS", "ReferringExpression", "SketchInstance", "SketchScene", "box_of", "check_instance_indices",
        "count_instances", "instances_from_gt",
        "load_categories", "load_example_predictions", "load_expressions", "load_scene", "load_vocab_words",
    ),
    "xlsa17": (
        "LOC_KEYS", "SPLIT_SIZES", "AttSplits", "Res101", "Xlsa17Text", "check_split_sizes", "load_att_splits",
        "load_res101", "load_sent_splits", "load_xlsa17_with_text", "merge_train_val",
    ),
    "worlds": (),  # one synthetic world per paper: cmlib.data.worlds.<paper>
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

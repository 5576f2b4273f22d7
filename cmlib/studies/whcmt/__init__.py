"""The WHCMT study (Yang, Chu & Dubey, weakly-supervised hashing with a cross-modal transformer): data, models,
training, MAP@K, Tables 2-4, attention maps, claims and explorer; what the notebooks in ``notebooks/whcmt/`` call.

Every notebook of ``notebooks/whcmt`` builds one :class:`Config` (defaults = smoke profile), prepares the data once
(:func:`prepare_data`: one rendered world and one word2vec shared by every run of the notebook) and calls the table
functions below. With ``cache_dir`` set (study profile), a trained run is stored under a key of everything that
determines it (method, bits, lambdas, seed, the data/model/training config and the source code of the WHCMT modules),
so notebooks 03 and 04 reuse the 8-bit WHCMT/WDHT runs that notebook 01 trained instead of training them again.

Protocol (WSDHQ, Wang et al. AAAI 2021, which the paper follows): Hamming ranking of database codes for each query
code, relevance = sharing at least one label, MAP@K with K = 5000 on MIRFLICKR-25K; in the worlds K is 5000 scaled by
database size / 22,581 (MIRFLICKR's database size), stated in each notebook.

Training (Section 3.1): SGD, lr 0.001, momentum 0.9, batch 50, lambdas (1, 10, 1). The paper states no step count, no
reduction other than its plain sums, and no gradient clipping. We average each loss over its batch terms by default
(``loss_reduction="mean"``, WDHT's official Keras code; see ``cmlib.losses.hashing``) and do not clip gradients
(``grad_clip: null``). With the literal sums the first SGD steps at lr 0.001 diverge to NaN, so notebook 02's one run
with the literal sums clips the global gradient norm at ``sum_grad_clip`` (10, our choice).

Why no clipping for the mean losses (measured, 64 px study world, 8 bits, 200 SGD steps at lr 0.001, seed 0): a
from-scratch transformer's gradient norm is ~300 in the first steps (the lambda2 = 10 hinge on raw dot products with
the tag vectors), so a clip at 10 divides every early update by ~30. WDHT-ViT stayed at chance with the clip (MAP@K
0.186, chance 0.183) and reaches 0.260 without it; WDHT-CrossViT 0.252, WDHT-CNN 0.247 without it. The clip at 10
was the main reason the transformer backbones "barely learned" in the first study report. With pretrained backbones
the validation grid of params/whcmt/study.yaml reverses this: at lr 0.001 a clip at 10 gives the best
validation MAP@K for every method (e.g. WDHT-CNN 0.312 against 0.235 unclipped, WHCMT 0.304 against 0.197 at 100
steps), so the study profile clips at 10; the smoke default stays unclipped (the paper states no clipping).

Diagnostic variant (``"WHCMT-meanvec"``, notebook 03): WHCMT whose eqs. (2)-(3) target is WDHT's mean tag word vector
instead of the tag transformer's t_cls (see ``cmlib.models.whcmt``): it separates what the cross-modal attention adds
from what the from-scratch tag-transformer target costs. ``"WHCMT-paper"``: WHCMT trained as the paper states, every
image with its own tags (``tag_dropout`` 0 whatever the config says), so our training choice and the paper's are
measured side by side (Table 4 and its cross-modal claim, notebook 03). ``"WHCMT-notags"``: WHCMT whose cross-modal
branch never sees a tag in training (tag input = the all-ones retrieval token, tags still the target): notebook 03's
cross-modal diagnostic (``crossmodal_diagnostic``) pairs every model's image-only MAP@K with it, per replicate.

Convergence and saturation (issue 30 item 4): every trained run records validation MAP@K every ``steps /
curve_points`` steps (``validation_map``; needs a validation split), which the convergence gate of its claims reads;
the headroom table logs bit balance, saturation (mean |h - 0.5|) and the curve's last-third gain per model.

Pretraining, replicates and tuning: every backbone is first pretrained on the world's ImageNet stand-in (``pretraining``, with
the generic ``cmlib.protocol.pretrain``) and loaded through its weights key; each notebook runs >= 5 replicates
(``experiments``, through ``cmlib.protocol.replicates.run_replicates``; the world seed varies with the replicate); steps,
learning rate, clipping and tag dropout were chosen on a validation split (``tuning``, ``data.validation_view``:
the test split sealed), recorded in params/whcmt/study.yaml; every claim carries the gate of ``cmlib.protocol.claims`` (chance
MAP@K of a random ranking, collapsed codes) and the paper's own effect.

Layout: ``config`` (the Config), ``data`` (world / MIRFLICKR / NUS-WIDE records, word vectors, tag ids, OOV counts,
validation view, unsupervised features), ``pretraining`` (the pretraining stage), ``runs`` (models, training, run
cache, MAP@K, chance, code statistics), ``experiments`` (one replicate per notebook), ``tuning`` (validation grid),
``tables`` (Tables 2-4, headroom, claims), ``attention`` (notebook 04).
"""

from cmlib.studies.whcmt.attention import attention_examples, attention_maps, attention_summary, plot_attention
from cmlib.studies.whcmt.config import METHODS, Config
from cmlib.studies.whcmt.data import (
    backbone_features,
    data_summary,
    encode_tags,
    load_backbone,
    prepare_data,
    pretrained_cnn_features,
    tag_auc,
    to_input,
    unsupervised_features,
    validation_view,
    world_tag_auc,
)
from cmlib.studies.whcmt.dose import dose_claims, dose_config, dose_replicate, dose_rows, dose_table
from cmlib.studies.whcmt.experiments import (
    attention_replicate,
    fit_main,
    replicate_model,
    table2_replicate,
    table3_replicate,
    table4_replicate,
)
from cmlib.studies.whcmt.pretraining import pretrain_summary, with_pretrained
from cmlib.studies.whcmt.runs import (
    activations,
    build_model,
    chance_map,
    code_stats,
    encode,
    evaluate_map,
    literal_sum_row,
    saturation,
    train_run,
    unsupervised_rows,
    validation_map,
)
from cmlib.studies.whcmt.tables import (
    PRETRAIN_MATCH,
    REAL_TAG_AUC,
    TAG_AUC_MINIMUM,
    attention_claims,
    crossmodal_diagnostic,
    flat_map,
    headline_level,
    headroom,
    matched_pretraining,
    model_curves,
    pivot_map,
    plot_map_vs_bits,
    plot_precision_recall,
    table2_claims,
    table3_claims,
    table3_summary,
    table4_claims,
    table4_summary,
    tag_premise,
)
from cmlib.studies.whcmt.tuning import tune_on_validation

__all__ = [
    "METHODS",
    "PRETRAIN_MATCH",
    "REAL_TAG_AUC",
    "TAG_AUC_MINIMUM",
    "Config",
    "activations",
    "attention_claims",
    "attention_examples",
    "attention_maps",
    "attention_replicate",
    "attention_summary",
    "backbone_features",
    "build_model",
    "chance_map",
    "code_stats",
    "crossmodal_diagnostic",
    "data_summary",
    "dose_claims",
    "dose_config",
    "dose_replicate",
    "dose_rows",
    "dose_table",
    "encode",
    "encode_tags",
    "evaluate_map",
    "fit_main",
    "flat_map",
    "headline_level",
    "headroom",
    "literal_sum_row",
    "load_backbone",
    "matched_pretraining",
    "model_curves",
    "pivot_map",
    "plot_attention",
    "plot_map_vs_bits",
    "plot_precision_recall",
    "prepare_data",
    "pretrain_summary",
    "pretrained_cnn_features",
    "replicate_model",
    "saturation",
    "table2_claims",
    "table2_replicate",
    "table3_claims",
    "table3_replicate",
    "table3_summary",
    "table4_claims",
    "table4_replicate",
    "table4_summary",
    "tag_auc",
    "tag_premise",
    "to_input",
    "train_run",
    "tune_on_validation",
    "unsupervised_features",
    "unsupervised_rows",
    "validation_map",
    "validation_view",
    "with_pretrained",
    "world_tag_auc",
]

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: cmlib (Python 3)
#     language: python
#     name: cmlib
# ---

# %% [markdown]
# # WHCMT — Table 2: MAP@K of semantic image retrieval at 8/16/24/32 bits
#
# Yang, Chu & Dubey, *Weakly-supervised deep image hashing based on cross-modal transformer*. Images are hashed by a
# network trained only with their noisy tags (eqs. 2-4); labels serve evaluation only. We compare unsupervised
# hashing (LSH, ITQ, SH; `unsup_features`: in the study the fc7 features of the pretrained CNN that WDHT starts from,
# as the paper's protocol hashes AlexNet fc7 features for its shallow baselines; in the smoke profile pooled pixels),
# WDHT (an AlexNet-shaped CNN + the same tag losses) and WHCMT (CrossViT + tag transformer + cross-modal transformer).
#
# Protocol (WSDHQ): Hamming ranking of the database for each query, relevant = sharing at least one label, MAP over
# the top K. On MIRFLICKR-25K K = 5000 of a 22,581-image database; in the embedded world K is 5000 scaled by the
# database size (printed below). Codes at retrieval come from the image alone (tags = one all-ones token).
#
# Every backbone starts where the paper's does, pretrained: once per config on the world's ImageNet stand-in (single-
# object images from a stream no retrieval image uses, 12 shape x colour classes), then loaded through its weights key
# (`visual.weights_file`, `vit.weights_file`, `cnn_weights`). With `pretrain.target_accuracy` set (study and real-tag
# profiles) each stand-in pretrains until its held-out accuracy reaches that target, so the backbones start from
# matched points (the table's `steps` says when each stopped; its accuracy is measured on images the stop never saw).
# Each replicate (one seed) draws its own world, split,
# word2vec, initialisation and batch order. Steps, learning rate, clipping and tag dropout were chosen on a validation
# split (params/whcmt/study.yaml). Every compared model is gated: its MAP@K against the MAP@K of a random ranking
# (chance) and its code statistics; a collapsed or at-chance model makes a claim *invalid*.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.whcmt.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/whcmt/<profile>/01_retrieval

# %%
import matplotlib.pyplot as plt

from cmlib.execution.claim_plots import plot_curves
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import whcmt

cfg, rep = setup("whcmt", "01_retrieval", params, report_dir)

# %% [markdown]
# ## One replicate per seed: data, pretrained backbones, unsupervised baselines, WDHT (CNN) and WHCMT
#
# The data table below is the first replicate's. The vocabulary is the training tags that have a word vector.
# `*_tags_dropped_oov` count the tag occurrences of each split outside it (query and database tags never seen in
# training, or without a vector; the database includes the training images), `tags_without_vector` the training tags
# a user vectors file lacks, `corrupt_images_skipped` the unreadable images left out with `on_corrupt: skip`.

# %%
reps = run_replicates(whcmt.table2_replicate, cfg)
unsup = [r for rep_ in reps for r in rep_["unsupervised"]]
deep = [r for rep_ in reps for r in rep_["deep"]]

# %%
# NBVAL_CHECK_OUTPUT
show(metrics_table([reps[0]["data"]]))

# %% [markdown]
# ## The premise: how well the tags supervise (per replicate)
#
# `tag_auc`: the ROC AUC with which the cosine of two training images' mean tag vectors (the study's own word vectors
# and tag table) separates label-sharing pairs from the rest; 0.5 = tags say nothing about labels. Real MIRFLICKR-25K
# tags give 0.555 with GloVe-300 (0.59 with word2vec on the tags): real tags are weak supervision too. Below
# `minimum` the tag and cross-modal claims are *invalid* (premise absent).

# %%
# NBVAL_CHECK_OUTPUT
premise = [{"seed": r["seed"], "tag_auc": r["deep"][0]["tag_auc"], "minimum": whcmt.TAG_AUC_MINIMUM,
            "real": whcmt.REAL_TAG_AUC} for r in reps]
show(metrics_table(premise, digits=3))

# %% [markdown]
# ## Pretraining (the ImageNet stand-in): held-out accuracy of each backbone

# %%
# NBVAL_CHECK_OUTPUT
pre = whcmt.pretrain_summary(reps[0]["pretrain"])
show(metrics_table(pre, digits=3))

# %% [markdown]
# ## Table 2: MAP@K per method and bit length (mean over replicates)

# %%
# NBVAL_CHECK_OUTPUT
table = metrics_table(whcmt.pivot_map(unsup + deep), digits=3)
show(table)

# %% [markdown]
# ## Headroom: MAP@K above chance (95% interval over replicates) and code statistics
#
# `above_chance` = MAP@K - chance MAP@K (a random ranking of the same database) per replicate; `min_distinct_codes`
# over the database; `collapsed_replicates`: replicates where one code holds >= `collapse_share` of the database.
# `bit_balance`: mean over bits of |P(bit = 1) - 0.5| (0 = balanced, 0.5 = constant bits); `saturation`: mean
# |h - 0.5| of the sigmoid activations before the threshold (0 = undecided, 0.5 = saturated; none for the unsupervised
# methods), both on the database codes, means over replicates.
# The unsupervised baselines get the same gate: "deep beats unsupervised" is invalid when the replicate's best
# unsupervised method is at chance or collapsed.

# %%
# NBVAL_CHECK_OUTPUT
head = whcmt.headroom(unsup + deep)
show(metrics_table(head, digits=3))
rep.save_metrics({"table2": whcmt.flat_map(unsup + deep), "headroom": head, "pretrain": pre, "runs": deep,
                  "unsupervised": unsup, "data": reps[0]["data"], "tag_premise": premise})
rep.save_level(**whcmt.headline_level(deep))  # WHCMT's MAP@K beside the paper's Table 2 MAP, same bits

# %%
fig = whcmt.plot_map_vs_bits(unsup + deep)
rep.save_figure(fig, "map_vs_bits")
plt.show()

# %% [markdown]
# ## Validation curves (the convergence gate's input)
#
# Validation MAP@K of the image-only codes during training, every `steps / curve_points` steps (mean over replicates,
# min-max band, the last third shaded). A claim is *invalid: still improving* when a compared model's mean curve
# gains more than the claim's margin over the last third (`curve_gain` in the headroom table). Profiles without a
# validation split (smoke) record no curve.

# %%
curves = whcmt.model_curves(deep)
if curves:
    rep.save_figure(plot_curves(curves, metric="validation MAP@K", width=2.2), "validation_curves")
    plt.show()

# %% [markdown]
# ## Precision within Hamming radius 2 and precision-recall curves (Table 2's deep methods)

# %%
# NBVAL_CHECK_OUTPUT
show(metrics_table(whcmt.pivot_map(deep, values="precision_r2"), digits=3))

# %%
fig = whcmt.plot_precision_recall(deep)
rep.save_figure(fig, "precision_recall")
plt.show()

# %% [markdown]
# ## Claims of Table 2 (per bit length; one paired value per replicate, n = replicates; the paper's effect beside ours)

# %%
# NBVAL_CHECK_OUTPUT
c = claims(whcmt.table2_claims(unsup, deep))
rep.save_claims(c)
show(c)

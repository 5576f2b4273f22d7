# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # WHCMT — Table 2: MAP@K of semantic image retrieval at 8/16/24/32 bits
#
# Yang, Chu & Dubey, *Weakly-supervised deep image hashing based on cross-modal transformer*. Images are hashed by a
# network trained only with their noisy tags (eqs. 2-4); labels serve evaluation only. We compare unsupervised
# hashing (LSH, ITQ, SH on pooled pixels: no pretrained CNN can be loaded here; ``unsup_features: backbone`` uses a
# local timm checkpoint instead), WDHT (an AlexNet-shaped CNN + the same tag losses) and WHCMT (CrossViT + tag
# transformer + cross-modal transformer).
#
# Protocol (WSDHQ): Hamming ranking of the database for each query, relevant = sharing at least one label, MAP over
# the top K. On MIRFLICKR-25K K = 5000 of a 22,581-image database; in the embedded world K is 5000 scaled by the
# database size (printed below). Codes at retrieval come from the image alone (tags = one all-ones token).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.whcmt.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/whcmt/<profile>/01_retrieval

# %%
import os

import matplotlib.pyplot as plt

from cmlib.config import from_params
from cmlib.reporting import Report, claims, metrics_table, project_root, show
from cmlib.studies import whcmt

os.chdir(project_root())
cfg = from_params(whcmt.Config, params)
rep = Report(report_dir, paper="whcmt", notebook="01_retrieval")
rep.run_info(cfg)

# %% [markdown]
# ## Data: one rendered world and one word2vec (trained on the training tags) shared by every run
#
# The vocabulary is the training tags that have a word vector. `*_tags_dropped_oov` count the tag occurrences of each
# split outside it (query and database tags never seen in training, or without a vector; the database includes the
# training images), `tags_without_vector` the training tags a user vectors file lacks, `corrupt_images_skipped` the
# unreadable images left out with `on_corrupt: skip` (their names follow when there are any).

# %%
data = whcmt.prepare_data(cfg)
print(f"data prepared in {data.stats['prepare_s']} s")

# %%
# NBVAL_CHECK_OUTPUT
show(metrics_table([whcmt.data_summary(data)]))

# %% [markdown]
# ## Unsupervised baselines (fit on database features)

# %%
unsup = whcmt.unsupervised_rows(data, cfg)

# %% [markdown]
# ## Weakly supervised deep methods: WDHT (CNN) and WHCMT, one run per bit length and seed

# %%
deep = whcmt.deep_rows(["WDHT-CNN", "WHCMT"], cfg.bits, data, cfg)

# %%
# NBVAL_CHECK_OUTPUT
table = metrics_table(whcmt.pivot_map(unsup + deep), digits=3)
show(table)
rep.save_metrics({"table2": whcmt.flat_map(unsup + deep), "runs": deep, "unsupervised": unsup,
                  "data": whcmt.data_summary(data)})

# %%
fig = whcmt.plot_map_vs_bits(unsup + deep)
rep.save_figure(fig, "map_vs_bits")
plt.show()

# %% [markdown]
# ## Claims of Table 2 (one value per bit length and seed; verdicts computed from the numbers above)

# %%
# NBVAL_CHECK_OUTPUT
c = claims(whcmt.table2_claims(unsup, deep))
rep.save_claims(c)
show(c)

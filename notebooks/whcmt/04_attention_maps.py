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
# # WHCMT — attention maps
#
# For a few query images, the head-averaged attention of the visual class token
# - in the cross-modal transformer (Section 2.4) over the L-branch image patches (overlay) and over the tags (bars,
#   with the tag names; `[tag cls]` is the tag transformer's class token),
# - in CrossViT's cross-attention of eq. (1) over the S-branch patches (cross-scale attention).
#
# Top: the training view (the image's own tags). Bottom: the retrieval view (one all-ones tag token, as the paper
# prescribes), where the tags can carry no information.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.whcmt.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/whcmt/<profile>/04_attention_maps

# %%
import os

import matplotlib.pyplot as plt

from cmlib.config import from_params
from cmlib.reporting import Report, metrics_table, project_root, show
from cmlib.studies import whcmt

os.chdir(project_root())
cfg = from_params(whcmt.Config, params)
rep = Report(report_dir, paper="whcmt", notebook="04_attention_maps")
rep.run_info(cfg)
data = whcmt.prepare_data(cfg)

# %%
row, model = whcmt.train_run("WHCMT", cfg.bits[0], data, cfg, seed=cfg.seeds[0])
idx = whcmt.attention_examples(data, cfg.n_attention_images)

# %% [markdown]
# ## Training view: the images' own tags

# %%
maps = whcmt.attention_maps(model, data, idx, with_tags=True)
fig = whcmt.plot_attention(maps, data, idx)
rep.save_figure(fig, "attention_with_tags")
plt.show()

# %% [markdown]
# ## Retrieval view: one all-ones tag token

# %%
maps_ret = whcmt.attention_maps(model, data, idx, with_tags=False)
fig = whcmt.plot_attention(maps_ret, data, idx)
rep.save_figure(fig, "attention_retrieval")
plt.show()

# %% [markdown]
# ## How much of the class token's attention goes to the tag side, and does it favour informative tags?
#
# `tag_share`: attention mass on [t_cls || tags]; `informative_vs_noise`: mean attention on a tag that names a
# present concept divided by the mean attention on a noise tag (world data only; > 1 means informative tags are
# preferred), over all query images that carry both kinds.

# %%
# NBVAL_CHECK_OUTPUT
summary = whcmt.attention_summary(model, data, cfg)
show(metrics_table([summary], digits=3))
rep.save_metrics({"attention": summary, "map_of_model": row["map"]})

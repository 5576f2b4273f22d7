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
import matplotlib.pyplot as plt

from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import whcmt

cfg, rep = setup("whcmt", "04_attention_maps", params, report_dir)

# %% [markdown]
# Figures: the first replicate's WHCMT (pretrained CrossViT, first bit length; from the run cache of notebook 01).

# %%
rcfg, data, model, row = whcmt.replicate_model(cfg, cfg.run.seeds[0])
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
# preferred), over up to 200 query images that carry both kinds, per replicate. `bit_balance` / `saturation`: WHCMT's
# database codes (mean |P(bit = 1) - 0.5|; mean |h - 0.5| of the sigmoid activations); `tag_auc`: the tag premise
# (notebook 01), the claim's premise.

# %%
reps = run_replicates(whcmt.attention_replicate, cfg)

# %%
# NBVAL_CHECK_OUTPUT
per_rep = [{"seed": r["seed"], "tag_share": r["tag_share"], "informative_vs_noise": r["informative_vs_noise"],
            "n_images_with_both": r["n_images_with_both"], "map": r["run"]["map"], "chance": r["run"]["chance"],
            "bit_balance": r["run"]["bit_balance"], "saturation": r["run"]["saturation"], "tag_auc": r["tag_auc"]}
           for r in reps]
show(metrics_table(per_rep, digits=3))
rep.save_metrics({"attention": per_rep})

# %% [markdown]
# ## Claim (Section 2.4): the class token prioritises informative tags (one ratio per replicate; gated on WHCMT's MAP)

# %%
# NBVAL_CHECK_OUTPUT
c = claims(whcmt.attention_claims(reps))
rep.save_claims(c)
show(c)

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
# # DeSKPro 3 — CSA attention maps and refined feature maps (Figure 3)
#
# Models 2 (CSA without L_att) and 3 (CSA with the mask-guided attention loss L_att, eq. 4) on the same test images,
# beside the parsing masks. Fig. 3 of the paper shows that after training with L_att the CSA attends to
# cloth-irrelevant regions. The figure is qualitative; the claim is checked on a number per replicate: the mean
# attention on cloth-irrelevant person pixels (hair, face, skin) minus the mean attention on clothing pixels, over
# the whole test gallery. The models are the ones of 01-02 (same config and seeds: read from the cache).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.deskpro.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/deskpro/<profile>/03_attention_maps

# %%
import warnings

from cmlib.execution.notebook import setup
from cmlib.execution.reporting import metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import deskpro

warnings.filterwarnings("ignore", message=".*deterministic.*")
cfg, rep = setup("deskpro", "03_attention_maps", params, report_dir)

# %% [markdown]
# ## One replicate per seed
#
# A replicate draws its own world (the world seed is the replicate seed), split, initialisation and batch order, and
# trains every stream once (01-03 share the finished replicates through `cache_dir`, so only the first notebook of a
# run computes them). The OSNet stand-in and the restoration model are trained once for all replicates.

# %%
deskpro.prepare(cfg)  # the priors every replicate shares, trained once before the workers start
reps = run_replicates(deskpro.run_seed, cfg)

# %% [markdown]
# The contrast needs parsing masks of the test gallery: the world has them; real folders usually parse only the
# training split (cmlib/data/reid_folders.py), and then this notebook says so instead of measuring.

# %%
measurable = all(r["attention"] is not None for r in reps)
if measurable:
    maps = deskpro.attention_maps(cfg, cfg.run.seeds[0], n_images=4)
    rep.save_figure(deskpro.plot_attention_maps(maps), "attention_maps")
else:
    print("no parsing masks for the test gallery: the Fig. 3 contrast is not measurable on this data")

# %%
# NBVAL_CHECK_OUTPUT
rows = [{"seed": r["seed"], "model": name, "contrast": r["attention"][f"{key}/contrast"]}
        for r in reps if r["attention"] is not None
        for name, key in [("2 (CSA)", "G+CSA"), ("3 (CSA + L_att)", "G+CSA+Latt")]]
if rows:
    show(metrics_table(rows, digits=3))
rep.save_metrics({"contrast": rows})

# %%
# NBVAL_CHECK_OUTPUT
if measurable:
    result = deskpro.attention_claims(reps)
    rep.save_claims(result)
    show(result)

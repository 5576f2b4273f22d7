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
# # GRM-Net 02 — ablation of the global reference mechanism (Table 2)
#
# Seven rows, each replicate's every row started from that replicate's instance detector: (a) references chosen by
# consistency (top-K RPN proposals by objectness, the paper's) or by distance (MAttNet's K nearest); (b) with or
# without the absolute position of the RoI; (c) K in {0, 5, 10, 20}; (d) the 5-d reference vector of eq. 1 or the
# 3-d centre-offset one. The replicates are notebook 01's (the same config, loaded from the cache). Every comparison
# the paper draws from Table 2 is a claim, on COCO mask AP (the paper's Table 2 metric), paired per replicate, with
# the paper's own difference beside ours and the SketchyScene AP version shown after.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/02_ablation

# %%
import matplotlib.pyplot as plt

from cmlib.execution.claim_plots import plot_curves
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import grmnet

cfg, rep = setup("grmnet", "02_ablation", params, report_dir)
reps = run_replicates(grmnet.run_replicate, cfg)
print(grmnet.timing_summary(reps))

# %%
# NBVAL_CHECK_OUTPUT
rows = grmnet.table2_rows(reps)
table = grmnet.mean_table(rows, ["row", "manner", "use_position", "top_k", "delta_dim"], grmnet.PAPER_TABLE2)
show(metrics_table(table, digits=2))
print("chance (language-blind detector), COCO AP per replicate:",
      [round(next(t["coco_AP"] for t in r["table1"] if t["method"] == grmnet.BLIND), 2) for r in reps])

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(table["row"].astype(str), table["coco_AP"], yerr=table["coco_AP_sd"], label="ours (COCO mask AP)")
ax.plot(table["row"].astype(str), table["paper_AP"], "k.--", label="paper")
ax.set_xlabel("Table 2 row")
ax.set_ylabel("AP (%)")
ax.legend(fontsize=7)
rep.save_figure(fig, "table2")

# %% [markdown]
# ## Did the rows learn spatial language? COCO AP per expression type
# Category-only expressions ("the trees") need no position; rank expressions ("the second tree on the left") are
# settled by absolute position alone; relational ones ("the dog in front of the bench") need another instance. Row
# #3 (with position) should beat #2 (without) on rank expressions before any GRM comparison means anything (a
# claim below).

# %%
# NBVAL_CHECK_OUTPUT
kinds = [c for c in ("AP_category", "AP_rank", "AP_relational") if c in table]
show(metrics_table(table[["row", "top_k", "use_position", "coco_AP", *kinds]], digits=2))

# %% [markdown]
# The validation curves the convergence gate reads (COCO mask AP on each replicate's validation split during
# training; a row still gaining ≥ `CURVE_TOLERANCE` over its last third makes its claims invalid):

# %%
curves = grmnet.validation_curves(rows, "row")
if curves:
    rep.save_figure(plot_curves(curves, metric="validation COCO AP [%]", width=2.4), "validation_curves")

# %% [markdown]
# ## Claims (COCO mask AP)

# %%
# NBVAL_CHECK_OUTPUT
verdicts = claims(grmnet.table2_claims(reps, shares=grmnet.reference_shares(cfg)))
rep.save_claims(verdicts)
show(verdicts)

# %% [markdown]
# The same claims on SketchyScene per-expression AP (shown, not counted):

# %%
# NBVAL_CHECK_OUTPUT
other = grmnet.other_flavour(grmnet.table2_claims, reps)
show(other)
rep.save_metrics({"table2": rows, "claims_sketchyscene_AP": other.to_dict("records")})

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
# # GRM-Net 06 — when do references help? GRM's gain against the share of expressions that need them
#
# The global reference mechanism (Sec. 2.3) gives each candidate references so that expressions whose referent
# depends on *other* instances can be resolved: its rank among its category ("the second tree on the left") or its
# relation to another object ("the dog in front of the bench"). "The trees" needs none. The world's knob
# `reference_fraction` sets the share of expressions of the first two kinds; the scenes, and so each replicate's
# detector, stay the same at every level (`reference_levels`; the study's own level shares notebook 01's models).
# At each level rows #7 (GRM, K=10), #3 (no GRM) and #1 (distance-based references) are trained under the study's
# schedule and scored on that level's test split, read once, overall and per expression type.
#
# The dose axis is the share *measured* on the test expressions, with the real SketchyScene-MATCHING test share
# (0.511) marked. Claims (`cmlib.studies.grmnet.dose`): GRM's gain over #3 and over #1 grows with the share (margin:
# the GRM margin, 1.46 AP, over the real share: 2.86 AP per unit), and on category-only expressions #7 - #3 is
# within ± 1.46 AP of 0 (an equivalence test).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/06_dose

# %%
from cmlib.execution.claim_plots import plot_dose
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import grmnet

cfg, rep = setup("grmnet", "06_dose", params, report_dir)
reps = run_replicates(grmnet.dose_replicate, cfg, grmnet.dose_seeds(cfg))
rows = grmnet.dose_rows(reps)
print(f"{len(reps)} replicates, levels {cfg.reference_levels} (study level: {cfg.reference_fraction})")

# %% [markdown]
# Per level, mean over replicates: the measured share, COCO mask AP of the three rows and of the language-blind
# detector, GRM's gains (`d73` = #7 - #3, `d71` = #7 - #1) and #7 - #3 per expression type.

# %%
# NBVAL_CHECK_OUTPUT
if rows:
    import pandas as pd

    table = pd.DataFrame(rows).drop(columns="seed").groupby("level").mean().reset_index()
    show(metrics_table(table, digits=2))
rep.save_metrics({"rows": rows})

# %% [markdown]
# ## Claims

# %%
# NBVAL_CHECK_OUTPUT
c = claims(grmnet.dose_claims(reps))
rep.save_claims(c)
show(c)

# %%
for r in [r for r in c.to_dict(orient="records") if r["dose"]]:
    fig = plot_dose(r["dose"], effect="COCO AP gain [points]", title=f"{r['claim']}: {r['verdict']}")
    rep.save_figure(fig, "dose_vs_distance" if "#1" in r["claim"] else "dose_vs_none")

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
# # Demo — the study pipeline end to end
#
# Not a paper: a two-class Gaussian world and a logistic regression, trained with `cmlib.protocol.engine.fit` on several
# replicates, reported through `cmlib.execution.reporting` (metrics.json, a figure, a claims table). It shows the shape every
# paper notebook follows: a `parameters` cell, a typed config, replicates run in parallel processes and kept on disk
# (`cmlib.protocol.replicates`), settings chosen on a validation split with the test split sealed until the final score
# (`cmlib.protocol.splits`), verdicts under the rules of `cmlib.protocol.claims` (margins, the convergence gate, a premise, a
# dose-response trend), rounded tables checked by nbval.

# %% tags=["parameters"]
params: dict = {}  # overrides of the Config defaults (empty: smoke profile)
report_dir = None  # set by the runner: reports/demo/<profile>/01_engine_demo

# %%
import matplotlib.pyplot as plt

from cmlib.execution.claim_plots import plot_curves, plot_dose
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import demo

cfg, rep = setup("demo", "01_engine_demo", params, report_dir)

# %% [markdown]
# ## One replicate per seed
#
# Each replicate draws its own world, split, initialisation and batch order from its seed, chooses the learning rate
# on its validation split and reads its test split once. Replicates run in parallel processes (`cfg.run.workers`, 0 = one
# per core); with `cache_dir` set, each finished replicate is kept, so an interrupted run resumes.

# %%
rows = run_replicates(demo.run_seed, cfg)

# %%
# NBVAL_CHECK_OUTPUT
evidence = ("curve_best", "curve_lr_min", "dose")
table = metrics_table([{k: v for k, v in r.items() if k not in evidence} for r in rows], digits=3)
show(table)
rep.save_metrics({"per_seed": rows, "accuracy_mean": float(table["accuracy"].mean())})

# %%
fig, ax = plt.subplots(figsize=(4, 3))
ax.bar([str(r["seed"]) for r in rows], [r["accuracy"] for r in rows], label="test accuracy")
ax.axhline(rows[0]["chance"], color="k", ls="--", label="chance")
ax.set_xlabel("seed")
ax.set_ylabel("accuracy")
ax.legend()
rep.save_figure(fig, "accuracy_per_seed")

# %% [markdown]
# ## Did every compared model converge?
#
# Validation accuracy every `log_every` steps, per replicate. The convergence gate of `cmlib.protocol.claims` reads the mean
# curve's gain over the last third of training (shaded): a model that still gains more than the claim's margin there
# makes the claim `invalid: <model> still improving`, whatever its test numbers say.

# %%
fig = plot_curves({"lr*": [r["curve_best"] for r in rows], "min lr": [r["curve_lr_min"] for r in rows]},
                  metric="validation accuracy")
rep.save_figure(fig, "validation_curves")

# %% [markdown]
# ## Claims
#
# Each claim states its margin (the smallest effect of interest, fixed in `cmlib.studies.demo.demo_claims` before
# any run). The last one is a dose-response trend: the gain over chance at each class separation, one replicate set
# per level; its verdict is on the per-replicate slope.

# %%
# NBVAL_CHECK_OUTPUT
verdicts = claims(demo.demo_claims(rows, cfg))
rep.save_claims(verdicts)
show(verdicts)

# %%
dose_row = verdicts[verdicts["dose"].notna()]
if len(dose_row):
    row = dose_row.iloc[0]
    fig = plot_dose(row["dose"], effect="test accuracy - chance", title=f"{row['claim']}: {row['verdict']}")
    rep.save_figure(fig, "dose_response")

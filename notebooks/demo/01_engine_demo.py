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
# # Demo — the study pipeline end to end
#
# Not a paper: a two-class Gaussian world and a logistic regression, trained with `cmlib.engine.fit` on several
# seeds, reported through `cmlib.reporting` (metrics.json, a figure, a claims table). It shows the shape every paper
# notebook follows: a `parameters` cell, a typed config, calls into `cmlib.studies`, rounded tables checked by nbval.

# %% tags=["parameters"]
params: dict = {}  # overrides of the Config defaults (empty: smoke profile)
report_dir = None  # set by the runner: reports/demo/<profile>/01_engine_demo

# %%
import os

import matplotlib.pyplot as plt

from cmlib.config import from_params
from cmlib.reporting import Claim, Report, claims, metrics_table, project_root, show
from cmlib.studies import demo

os.chdir(project_root())
cfg = from_params(demo.Config, params)
rep = Report(report_dir, paper="demo", notebook="01_engine_demo")
rep.run_info(cfg)
cfg

# %% [markdown]
# ## Train one logistic regression per seed

# %%
rows = [demo.run_seed(cfg, seed) for seed in cfg.seeds]

# %%
# NBVAL_CHECK_OUTPUT
table = metrics_table(rows, digits=3)
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
# ## Claims

# %%
# NBVAL_CHECK_OUTPUT
verdicts = claims([
    Claim("the trained model beats chance", [r["accuracy"] - r["chance"] for r in rows], ">", 0.0, "accuracy - chance"),
])
rep.save_claims(verdicts)
show(verdicts)

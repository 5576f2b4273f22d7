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
# replicates, reported through `cmlib.reporting` (metrics.json, a figure, a claims table). It shows the shape every
# paper notebook follows: a `parameters` cell, a typed config, replicates run in parallel processes and kept on disk
# (`cmlib.replicates`), settings chosen on a validation split with the test split sealed until the final score
# (`cmlib.splits`), verdicts under the rules of `cmlib.claims`, rounded tables checked by nbval.

# %% tags=["parameters"]
params: dict = {}  # overrides of the Config defaults (empty: smoke profile)
report_dir = None  # set by the runner: reports/demo/<profile>/01_engine_demo

# %%
import os

import matplotlib.pyplot as plt

from cmlib.config import from_params
from cmlib.replicates import run_replicates
from cmlib.reporting import Claim, ModelCheck, Report, claims, metrics_table, paired, project_root, show
from cmlib.studies import demo

os.chdir(project_root())
cfg = from_params(demo.Config, params)
rep = Report(report_dir, paper="demo", notebook="01_engine_demo")
rep.run_info(cfg)
cfg

# %% [markdown]
# ## One replicate per seed
#
# Each replicate draws its own world, split, initialisation and batch order from its seed, chooses the learning rate
# on its validation split and reads its test split once. Replicates run in parallel processes (`cfg.jobs`, 0 = one
# per core); with `cache_dir` set, each finished replicate is kept, so an interrupted run resumes.

# %%
rows = run_replicates(demo.run_seed, cfg, cfg.seeds, cache_dir=cfg.cache_dir, jobs=cfg.jobs)

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
acc, acc_min, chance = ([r[k] for r in rows] for k in ("accuracy", "accuracy_lr_min", "chance"))
verdicts = claims([
    Claim("the trained model beats chance", paired(acc, chance), ">", 0.0, "accuracy - chance"),
    Claim("the validated learning rate beats the smallest one", paired(acc, acc_min), ">", 0.0,
          "accuracy(lr*) - accuracy(min lr), test", models=[ModelCheck("lr*", acc, chance),
                                                             ModelCheck("min lr", acc_min, chance)]),
])
rep.save_claims(verdicts)
show(verdicts)

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
# # DeSKPro 2 — ablation (Table 3)
#
# Models 1-7, DeSKPro and DeSKPro* on the Celeb-reID-light-like protocol (cloth-changing mode):
#
# | model | global stream | face stream |
# |---|---|---|
# | 1 (baseline) | G (no CSA) | — |
# | 2 | G + CSA | — |
# | 3 | G + CSA + L_att | — |
# | 4 | — | student without L_fkp (phi_s^-) |
# | 5 | — | student with L_fkp (phi_s^+) |
# | 6 | — | teacher on restored faces (phi_t) |
# | 7 | G + CSA + L_att | phi_s^- |
# | DeSKPro | G + CSA + L_att | phi_s^+ |
# | DeSKPro* | G + CSA + L_att | phi_t |
#
# Each stream is trained once per seed (cached and shared with the other notebooks); the combined models
# concatenate the streams' descriptors, which is the same model as training them jointly because the streams share
# no parameter and eq. (7) is a sum of per-stream terms.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.deskpro.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/deskpro/<profile>/02_ablation

# %%
import os
import warnings

import matplotlib.pyplot as plt
import pandas as pd

from cmlib.config import from_params
from cmlib.reporting import Claim, Report, claims, metrics_table, project_root, show
from cmlib.studies import deskpro

warnings.filterwarnings("ignore", message=".*deterministic.*")
os.chdir(project_root())
cfg = from_params(deskpro.Config, params)
rep = Report(report_dir, paper="deskpro", notebook="02_ablation")
rep.run_info(cfg)
cfg

# %%
results = [deskpro.run_ablation(cfg, seed) for seed in cfg.seeds]
rows = [r for rs, _ in results for r in rs]
streams = [s for _, ss in results for s in ss]

# %%
# NBVAL_CHECK_OUTPUT
table = pd.DataFrame(rows).groupby("model", sort=False)[["R1", "R5", "mAP"]].mean().reset_index()
show(metrics_table(table, digits=2))

# %%
show(metrics_table(pd.DataFrame(streams).drop(columns=["cached"]), digits=3))
print("queries without a face crop, per row:", sorted({(r["model"], r["queries_without_face"]) for r in rows}))
rep.save_metrics({
    "table": metrics_table(table, digits=4).to_dict(orient="records"),
    "per_seed": rows,
    "streams": [{k: v for k, v in s.items() if k != "cached"} for s in streams],
})

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(table["model"], table["mAP"], color="tab:blue", label="mAP")
ax.plot(table["model"], table["R1"], "o", color="tab:red", label="R-1")
ax.set_ylabel("%")
ax.set_title("Table 3 on the Celeb-reID-light-like world")
ax.legend()
plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
rep.save_figure(fig, "ablation")

# %% [markdown]
# ## Claims (Sec. 3.3)
#
# Statistics are mAP differences in points, one value per seed. "Nears the teacher" is read as: propagation closes
# more than half of the gap between the student without L_fkp and the teacher (the paper: 20.7 -> 25.6 of 25.8).

# %%
# NBVAL_CHECK_OUTPUT
per = {(r["seed"], r["model"]): r["mAP"] for r in rows}


def stat(fn):
    """One value per seed of ``fn(mAP_of)``, where ``mAP_of(model)`` reads that seed's row."""
    return [fn({m: v for (seed, m), v in per.items() if seed == s}.__getitem__) for s in cfg.seeds]


result = claims([
    Claim("CSA helps (model 2 > model 1)", stat(lambda m: m("2") - m("1 (baseline)")), ">", 0.0, "mAP2 - mAP1"),
    Claim("L_att helps further (model 3 > model 2)", stat(lambda m: m("3") - m("2")), ">", 0.0, "mAP3 - mAP2"),
    Claim("restored faces help (teacher 6 > student 4)", stat(lambda m: m("6") - m("4")), ">", 0.0, "mAP6 - mAP4"),
    Claim("propagation helps (model 5 > model 4)", stat(lambda m: m("5") - m("4")), ">", 0.0, "mAP5 - mAP4"),
    Claim("propagated student nears the teacher", stat(lambda m: (m("5") - m("4")) - 0.5 * (m("6") - m("4"))), ">", 0.0,
          "(mAP5 - mAP4) - (mAP6 - mAP4) / 2"),
    Claim("two streams beat either alone (DeSKPro)", stat(lambda m: min(m("DeSKPro") - m("3"), m("DeSKPro") - m("5"))), ">", 0.0,
          "min(mAP_DeSKPro - mAP3, mAP_DeSKPro - mAP5)"),
    Claim("two streams beat either alone (model 7)", stat(lambda m: min(m("7") - m("3"), m("7") - m("4"))), ">", 0.0,
          "min(mAP7 - mAP3, mAP7 - mAP4)"),
    Claim("DeSKPro* >= DeSKPro", stat(lambda m: m("DeSKPro*") - m("DeSKPro")), ">", 0.0, "mAP_DeSKPro* - mAP_DeSKPro"),
], digits=2)
rep.save_claims(result)
show(result)

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
# # WHCMT — Table 3: weights of the three losses (8 bits)
#
# L = λ1 L1 + λ2 L2 + λ3 L3 (pairwise similarity, hinge, quantization; eqs. 2-4). The paper finds that scaling λ3 by
# 0.1 drops MAP sharply (0.755 → 0.577) while λ2 from 10 to 1 or 0.1 changes little (≤ 0.002). Settings as in Table 3.
# The last row trains setting 1 with the paper's literal (un-averaged) sums instead of WDHT's batch means, our
# default (see `cmlib.losses.hashing`).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.whcmt.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/whcmt/<profile>/02_loss_weights

# %%
import os

from cmlib.config import from_params
from cmlib.reporting import Report, claims, metrics_table, project_root, show
from cmlib.studies import whcmt

os.chdir(project_root())
cfg = from_params(whcmt.Config, params)
rep = Report(report_dir, paper="whcmt", notebook="02_loss_weights")
rep.run_info(cfg)
data = whcmt.prepare_data(cfg)
print(f"data prepared in {data.stats['prepare_s']} s; MAP@K with K = {data.stats['map_topk']}")

# %% [markdown]
# ## The five settings of Table 3, WHCMT at 8 bits

# %%
rows = whcmt.table3_rows(data, cfg, bits=8)
literal = whcmt.literal_sum_row(data, cfg, bits=8)

# %%
# NBVAL_CHECK_OUTPUT
table = metrics_table(whcmt.table3_summary(rows, literal), digits=3)
show(table)
rep.save_metrics({"table3": {f"setting_{r['setting']}": r["map"] for r in table.to_dict("records")},
                  "runs": rows + [literal]})

# %% [markdown]
# ## Claims of Table 3 (one value per seed)

# %%
# NBVAL_CHECK_OUTPUT
c = claims(whcmt.table3_claims(rows, cfg))
rep.save_claims(c)
show(c)

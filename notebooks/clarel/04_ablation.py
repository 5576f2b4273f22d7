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
# # CLAREL 04 — ablation of α, λ, κ (Table 3)
#
# The six lines of Table 3: (1) α = 0, λ = κ = 0.5; (2) α = 0, κ = 0 (no classifier loss); (3) α validated,
# κ = 0 (retrieval only, no class labels in training); (4) α validated, λ = 0 (no text retrieval); (5) α
# validated, λ = 1 (no image retrieval); (6) α validated, λ = κ = 0.5 (the full method). Mean over seeds (%).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.clarel.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/clarel/<profile>/04_ablation

# %%
import os

from cmlib.config import from_params
from cmlib.reporting import Report, claims, project_root, show
from cmlib.studies import clarel

os.chdir(project_root())
cfg = from_params(clarel.Config, params)
rep = Report(report_dir, paper="clarel", notebook="04_ablation")
rep.run_info(cfg)
data = clarel.build_data(cfg)
print(f"data: {data.source}; {len(data.labels)} images, {len(data.class_names)} classes, vocabulary {len(data.vocab)}")

# %%
rows = clarel.ablation_rows(cfg, data)

# %%
# NBVAL_CHECK_OUTPUT
table = clarel.mean_table(rows, ["line", "alpha", "lambda", "kappa"], ["u", "s", "H"])
show(table)
rep.save_metrics({"rows": rows, "table": table.to_dict(orient="records")})

# %% [markdown]
# ## Claims

# %%
# NBVAL_CHECK_OUTPUT
c = claims(clarel.ablation_claims(rows, cfg.seeds))
rep.save_claims(c)
show(c)

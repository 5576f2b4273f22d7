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
# # DeSKPro 3 — CSA attention maps and refined feature maps (Figure 3)
#
# Models 2 (CSA without L_att) and 3 (CSA with the mask-guided attention loss L_att, eq. 4) on the same test images,
# beside the parsing masks. Fig. 3 of the paper shows that after training with L_att the CSA attends to
# cloth-irrelevant regions. The figure is qualitative; the claim is checked on a number: the mean attention on
# cloth-irrelevant person pixels (hair, face, skin) minus the mean attention on clothing pixels, over the whole test
# gallery. The models are the ones trained for 02_ablation (same config, same seed: read from the cache).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.deskpro.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/deskpro/<profile>/03_attention_maps

# %%
import os
import warnings

from cmlib.config import from_params
from cmlib.reporting import Claim, Report, claims, metrics_table, project_root, show
from cmlib.studies import deskpro

warnings.filterwarnings("ignore", message=".*deterministic.*")
os.chdir(project_root())
cfg = from_params(deskpro.Config, params)
rep = Report(report_dir, paper="deskpro", notebook="03_attention_maps")
rep.run_info(cfg)
cfg

# %%
maps = [deskpro.attention_maps(cfg, seed, n_images=4) for seed in cfg.seeds]

# %%
fig = deskpro.plot_attention_maps(maps[0])
rep.save_figure(fig, "attention_maps")

# %%
# NBVAL_CHECK_OUTPUT
rows = [{"seed": s, "model": name, "contrast": float(m[f"{key}/contrast"])}
        for s, m in zip(cfg.seeds, maps) for name, key in [("2 (CSA)", "G+CSA"), ("3 (CSA + L_att)", "G+CSA+Latt")]]
show(metrics_table(rows, digits=3))
rep.save_metrics({"contrast": rows})

# %%
# NBVAL_CHECK_OUTPUT
diff = [float(m["G+CSA+Latt/contrast"] - m["G+CSA/contrast"]) for m in maps]
result = claims([
    Claim("with L_att the CSA attends to cloth-irrelevant regions", [float(m["G+CSA+Latt/contrast"]) for m in maps], ">", 0.0,
          "mean Psi_hat(cloth-irrelevant) - mean Psi_hat(clothes), model 3"),
    Claim("L_att suppresses clothes more than CSA alone", diff, ">", 0.0, "contrast(model 3) - contrast(model 2)"),
], digits=3)
rep.save_claims(result)
show(result)

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
# # GRM-Net 03 — what the references do (Figure 5)
#
# For a test expression where the model without GRM (Table 2 row 3, K=0) keeps an instance the expression does not
# refer to: (b, d) the top RPN proposals with their objectness after the language-fused RPN, (c, e) the output
# instances without and with GRM, and in (e) the wrongly kept candidate of (c) with its K references (the top-K
# proposals by objectness) and GRM-Net's probability of its real class. The models are the ones of notebook 02
# (loaded from the cache when it exists, trained otherwise).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/03_references

# %%
import os

from cmlib.config import from_params
from cmlib.reporting import Report, metrics_table, project_root, show
from cmlib.studies import grmnet

os.chdir(project_root())
cfg = from_params(grmnet.Config, params)
grmnet.setup(cfg)
rep = Report(report_dir, paper="grmnet", notebook="03_references")
rep.run_info(cfg)
data = grmnet.build_data(cfg)
detector, _ = grmnet.train_detector(cfg, data)
seed = cfg.seeds[0]
no_grm, _ = grmnet.train_referring(cfg, data, detector, seed, **grmnet.variant_of(3))
grm, _ = grmnet.train_referring(cfg, data, detector, seed, **grmnet.variant_of(7))

# %%
targets = grmnet.targets_of(data, data.test)
pred_no = grmnet.predict_grmnet(no_grm, data, data.test, cfg.max_tokens)
pred_grm = grmnet.predict_grmnet(grm, data, data.test, cfg.max_tokens)
wrong = {name: sum(len(grmnet.wrong_detections({"masks": p["masks"][p["scores"] > 0.5],
                                                 "scores": p["scores"][p["scores"] > 0.5]}, t))
                   for p, t in zip(pred, targets)) for name, pred in (("K=0", pred_no), ("K=10", pred_grm))}

# %%
# NBVAL_CHECK_OUTPUT
stats = [{"model": k, "wrong instances kept (score > 0.5)": v, "test expressions": len(targets)} for k, v in wrong.items()]
show(metrics_table(stats))
rep.save_metrics({"wrong_kept": wrong})

# %%
idx = grmnet.figure5_example(pred_no, pred_grm, targets)
if idx is None:
    print("no test expression where the K=0 model keeps a wrong instance: nothing to show")
else:
    fig = grmnet.plot_figure5(cfg, data, data.test[idx], no_grm, grm)
    rep.save_figure(fig, "figure5")

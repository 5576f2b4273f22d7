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
# # GRM-Net 05 — explore the instances: a scene, an expression, and what is kept with and without GRM
#
# Pick an expression (in JupyterLab), or type one, and a score threshold and see, side by side, the instances the model without
# the global reference mechanism (Table 2 #3, K = 0) and GRM-Net (#7, K = 10) keep: green when they overlap a referred
# instance (mask IoU >= 0.5), red when not; referred instances a model missed are outlined in blue. The models are
# the first replicate's (from the cache of notebooks 01-03 with the same params); the expressions are the
# *validation* split's, so the test split stays read once, for the scores.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/05_explore

# %%
from cmlib.data.sketchyscene import ReferringExpression
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import metrics_table, show
from cmlib.studies import grmnet
from cmlib.studies.grmnet import explore

cfg, rep = setup("grmnet", "05_explore", params, report_dir, explorer=True)
data = grmnet.build_data(cfg, cfg.run.seeds[0])
detector, _ = grmnet.train_detector(cfg, data)
models = {"#3 (K=0)": grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(3))[0],
          "#7 (K=10)": grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(7))[0]}
exprs = data.val[:24]
targets = grmnet.targets_of(data, exprs, "val")
preds = {name: grmnet.predict_grmnet(m, data, exprs, cfg.max_tokens, "val") for name, m in models.items()}
items = [{"image": data.scene("val", e.scene_key).image, "expression": e.expression,
          "target_masks": targets[i]["masks"], "preds": {name: p[i] for name, p in preds.items()}}
         for i, e in enumerate(exprs)]
print(f"replicate {cfg.run.seeds[0]}: {len(exprs)} validation expressions")

# %%
# NBVAL_CHECK_OUTPUT
# Per model, over these expressions: referred instances found, wrong ones kept, referred ones missed (score >= 0.5).
views = {name: [explore.instance_view(it["preds"][name], it["target_masks"], cfg.kept_score) for it in items]
         for name in models}
summary = metrics_table([{"model": name, "right": float(sum(len(v.correct) for v in vs)),
                          "wrong": float(sum(len(v.wrong) for v in vs)), "missed": float(sum(len(v.missed) for v in vs))}
                         for name, vs in views.items()])
show(summary)
rep.save_metrics({"seed": cfg.run.seeds[0], "kept_score": cfg.kept_score, "summary": summary.to_dict("records")})

# %% [markdown]
# ## Static views: the expression where GRM removes the most wrong instances, and the first expression

# %%
gain = [len(a.wrong) - len(b.wrong) for a, b in zip(*views.values())]
for i, name in ((max(range(len(items)), key=gain.__getitem__), "most_wrong_removed"), (0, "first")):
    it = items[i]
    rep.save_figure(explore.plot_instances(it["image"], it["expression"], it["preds"], it["target_masks"],
                                           cfg.kept_score), f"instances_{name}")

# %% [markdown]
# ## Interactive: pick an expression and the score threshold, or type your own expression for the picked scene
#
# A typed expression runs both models on the scene (words outside the study's vocabulary are named, not run); it has
# no ground truth, so the kept instances are shown in orange.

# %%
def predict(i: int, text: str) -> dict:
    typed = ReferringExpression(exprs[i].scene_key, text, ())
    return {name: grmnet.predict_grmnet(m, data, [typed], cfg.max_tokens, "val")[0] for name, m in models.items()}


explore.expression_explorer(items, cfg.kept_score, predict=predict, vocabulary=data.vocab)

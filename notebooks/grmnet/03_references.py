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
# # GRM-Net 03 — what the references do (Figure 5)
#
# Fig. 5 of the paper: without GRM (Table 2 #3, K=0) the model keeps proposals of instances the expression does not
# refer to; with GRM (#7, K=10) "the model learns to classify the incorrectly identified proposals ... as
# non-objects", so "these non-object instances that are mismatched with the expression are removed from the final
# outputs". Measured here as a claim: the wrong instances kept (score >= ``kept_score``, overlapping no referred
# instance at mask IoU 0.5) per test expression, #3 minus #7, paired per replicate (notebook 01's replicates, loaded
# from the cache). Then, for the first replicate, one example drawn as Fig. 5: (b, d) the top RPN proposals with
# their objectness, (c, e) the outputs without and with GRM, and in (e) the wrongly kept candidate of (c) with its
# K references and GRM-Net's probability of its real class.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/03_references

# %%
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import grmnet

cfg, rep = setup("grmnet", "03_references", params, report_dir)
reps = run_replicates(grmnet.run_replicate, cfg)

# %%
# NBVAL_CHECK_OUTPUT
stats = [{"seed": r["seed"], "wrong kept per expression, #3 (K=0)": r["fig5"]["wrong_per_expr_K0"],
          "wrong kept per expression, #7 (K=10)": r["fig5"]["wrong_per_expr_K10"],
          "test expressions": r["fig5"]["test_expressions"]} for r in reps]
show(metrics_table(stats, digits=3))

# %% [markdown]
# ## Claim

# %%
# NBVAL_CHECK_OUTPUT
verdicts = claims(grmnet.fig5_claims(reps, shares=grmnet.reference_shares(cfg)))
rep.save_claims(verdicts)
show(verdicts)
rep.save_metrics({"fig5": stats})

# %% [markdown]
# ## One example (first replicate, test split)

# %%
data = grmnet.build_data(cfg, cfg.run.seeds[0])
test = data.test.open("Fig. 5 example (the count above comes from the replicate's own read)")
detector, _ = grmnet.train_detector(cfg, data)
no_grm, _ = grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(3))
grm, _ = grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(7))
targets = grmnet.targets_of(data, test, "test")
pred_no = grmnet.predict_grmnet(no_grm, data, test, cfg.max_tokens, "test")
pred_grm = grmnet.predict_grmnet(grm, data, test, cfg.max_tokens, "test")
idx = grmnet.figure5_example(pred_no, pred_grm, targets)
if idx is None:
    print("no test expression where the K=0 model keeps a wrong instance: nothing to show")
else:
    fig = grmnet.plot_figure5(cfg, data, test[idx], no_grm, grm)
    rep.save_figure(fig, "figure5")

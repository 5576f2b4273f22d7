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
# # GRM-Net 01 — multi-instance against binary and two-stage referring segmentation (Table 1)
#
# Ling, Mo & Gao (2022) segment *every* instance an expression refers to ("the two trees on the left of the house")
# with a Mask R-CNN whose RPN and RoI heads are fused with the expression, plus a global reference mechanism (GRM).
# Table 1 compares it with standard (binary) referring segmentation models, whose one merged mask is scored as a
# single instance, and with the two-stage method of Zou et al. (segment everything, then keep the matching ones).
#
# Here: the embedded sketch world (line-drawn scenes of ten real SketchyScene categories, expressions in the
# SketchyScene-MATCHING grammar and vocabulary). Each **replicate** (one seed) draws its own train / validation /
# test scenes, trains its own instance detector, and starts every method from it: a binary language-conditioned
# FCN on the detector's backbone, a two-stage detector + matcher, and GRM-Net (K=10, Table 2 #7). Every threshold
# is chosen on the replicate's validation split (the two-stage match threshold, the binary mask threshold); the
# learning rate and step counts were chosen once on a tuning replicate's validation split (params/grmnet/study.yaml);
# the test split is sealed and read once, for the final scores.
#
# **Which AP.** The paper's Tables 1-2 are COCO mask AP / AP50 / AP75 (Sec. 3.1: "the standard COCO metrics
# including mask AP, AP50 and AP75") on the SketchyScene-MATCHING test set. COCO mask AP is the primary statistic of
# every claim; the SketchyScene per-expression AP is shown beside it. **Chance** is the language-blind detector:
# every detected instance for every expression; a model that does not beat it has not used the expression, and a
# comparison with it is invalid.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/01_multi_instance

# %%
import os

from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import grmnet

cfg, rep = setup("grmnet", "01_multi_instance", params, report_dir)

# %% [markdown]
# ## The data (replicate of the first seed)
# Expressions per split, the share referring to more than one instance (44% in the real corpus) and a few scenes.

# %%
# NBVAL_CHECK_OUTPUT
data = grmnet.build_data(cfg, cfg.run.seeds[0])
summary = grmnet.world_summary(data)
show(metrics_table([{"quantity": k, "value": v} for k, v in summary.items()], digits=3))

# %%
fig = grmnet.show_scenes(data, data.train[:: max(1, len(data.train) // 4)], "train", n=4)
rep.save_figure(fig, "world_examples")

# %% [markdown]
# ## The replicates
# Every training of every replicate (its detector, then the binary baseline, the Table 2 rows and the matcher
# started from it) and then each replicate's evaluation run as tasks on `jobs` processes: five replicates as whole
# units would leave a core idle. Everything is cached (resumable); `run_replicates` then loads the replicates, and
# notebooks 02 and 03 load them too.

# %%
study = grmnet.run_study(cfg)
print(f"{study['tasks']:.0f} tasks ({study['trained']:.0f} models trained, the rest loaded from the cache; "
      f"{study['replicates_loaded']:.0f} replicates already done): {study['core_s'] / 60:.1f} core-min in "
      f"{study['wall_s'] / 60:.1f} min on {cfg.run.workers or os.cpu_count()} processes")
reps = run_replicates(grmnet.run_replicate, cfg)
print(grmnet.timing_summary(reps))

# %% [markdown]
# ## Settings chosen on validation, per replicate

# %%
# NBVAL_CHECK_OUTPUT
chosen = [{"seed": r["seed"], "two-stage threshold": r["chosen"]["two_stage_threshold"],
           "binary threshold (x max prob)": r["chosen"]["binary_threshold"],
           "GRM-Net val COCO AP": r["chosen"]["grmnet_val"]["coco_AP"]} for r in reps]
show(metrics_table(chosen, digits=2))

# %% [markdown]
# ## Table 1 (mean over replicates; sd of COCO AP; single-instance COCO AP beside)

# %%
# NBVAL_CHECK_OUTPUT
rows = grmnet.table1_rows(reps)
paper1 = {grmnet.BINARY: grmnet.PAPER_TABLE1["binary (CEFNet, best of four)"],
          grmnet.TWO_STAGE: grmnet.PAPER_TABLE1["two-stage (Zou et al.)"], grmnet.GRM: grmnet.PAPER_TABLE1["GRM-Net"]}
table = grmnet.mean_table(rows, ["method"], paper1)
show(metrics_table(table, digits=2))
print("paper (SketchyScene-MATCHING test, COCO AP/AP50/AP75): DMN 4.01, CMSA 8.77, CMPC 10.20, CEFNet 26.72/55.28/23.07,"
      " Zou et al. 45.97/70.79/53.90, GRM-Net 59.39/71.37/62.07")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3))
x = range(len(table))
ax.bar([i - 0.2 for i in x], table["coco_AP"], 0.4, yerr=table["coco_AP_sd"], label="COCO mask AP (primary)")
ax.bar([i + 0.2 for i in x], table["sketchyscene_AP"], 0.4, label="SketchyScene AP")
ax.plot(list(x), table["paper_AP"], "k*", label="paper (COCO AP)")
ax.set_xticks(list(x), [m.replace(" (", "\n(") for m in table["method"]], fontsize=6)
ax.set_ylabel("AP (%)")
ax.legend(fontsize=6)
rep.save_figure(fig, "table1")

# %% [markdown]
# Validation curves of the compared methods (COCO mask AP on the validation split during training; the binary
# baseline at the middle threshold of its grid, the two-stage matcher keeping every detection), which the
# convergence gate of every claim reads:

# %%
from cmlib.execution.claim_plots import plot_curves

curves = grmnet.validation_curves(rows, "method")
if curves:
    rep.save_figure(plot_curves(curves, metric="validation COCO AP [%]", width=2.6), "validation_curves")

# %% [markdown]
# ## Claims (COCO mask AP, paired per replicate)

# %%
# NBVAL_CHECK_OUTPUT
verdicts = claims(grmnet.table1_claims(reps))
rep.save_claims(verdicts)
show(verdicts)

# %% [markdown]
# GRM-Net's (#7) absolute level beside the paper's (mean test COCO mask AP over replicates; the index shows the ratio:
# how far the stand-in world and budget sit from the paper's):

# %%
level = grmnet.headline_level(reps)
rep.save_level(**level)
print(f"{level['model']} {level['ours']:.2f} vs {level['paper']} {level['metric']} ({level['source']})")

# %% [markdown]
# The same claims on the other flavour (SketchyScene per-expression AP), beside the primary ones (not counted):

# %%
# NBVAL_CHECK_OUTPUT
other = grmnet.other_flavour(grmnet.table1_claims, reps)
show(other)
rep.save_metrics({"replicates": grmnet.for_metrics(reps), "data": summary,
                  "claims_sketchyscene_AP": other.to_dict("records")})

# %% [markdown]
# ## Fig. 3/4-style cases (replicate of the first seed, test split)
# Every instance of a category meant, a single target, an ordinal: the referred instances, then each method's
# instances kept (score >= ``kept_score``). The models are this replicate's, loaded from the cache.

# %%
data = grmnet.build_data(cfg, cfg.run.seeds[0])
test = data.test.open("Fig. 3/4 panels (the scores above come from the replicate's own read)")
detector, _ = grmnet.train_detector(cfg, data)
grm, _ = grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(7))
matcher, _, dets = grmnet.train_two_stage(cfg, data, detector)
binary, _ = grmnet.train_binary(cfg, data, detector)
r0 = reps[0]["chosen"]
preds = {"GRM-Net": grmnet.predict_grmnet(grm, data, test, cfg.max_tokens, "test"),
         "two-stage": grmnet.two_stage_predictions(
             grmnet.two_stage_scores(matcher, dets, data, test, cfg.max_tokens, "test"), r0["two_stage_threshold"]),
         "binary": grmnet.binary_predictions(grmnet.binary_probabilities(binary, data, test, cfg.max_tokens, "test"),
                                             r0["binary_threshold"])}
cases = grmnet.case_examples(data, test, "test")
print("cases:", {k: test[i].expression for k, i in cases.items()})
fig = grmnet.plot_cases(data, test, cases, preds, "test", cfg.kept_score)
rep.save_figure(fig, "cases")

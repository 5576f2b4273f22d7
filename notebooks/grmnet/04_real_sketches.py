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
# # GRM-Net 04 — inference on real scene sketches (qualitative)
#
# The 12 real SketchyScene-style sketches shipped with the colorization code of Zou et al. (in `examples_dir`),
# resized to the canvas, run through the GRM-Net (Table 2 #7) of the first replicate, trained on the embedded world. There is no ground truth for them:
# the `*_datas.npz` files are the original authors' Mask R-CNN *predictions*, drawn here for comparison only. The
# expression for each sketch is "all the <category>" for the world category the authors' model found most often.
# Nothing is scored. Skipped with a message when `examples_dir` is absent.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.grmnet.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/grmnet/<profile>/04_real_sketches

# %%
from cmlib.execution.notebook import setup
from cmlib.studies import grmnet

cfg, rep = setup("grmnet", "04_real_sketches", params, report_dir)
examples = grmnet.real_examples(cfg)
print(f"{len(examples)} real sketches found in {cfg.examples_dir}" if examples else
      f"skipped: no real sketches under {cfg.examples_dir}/example_scenes (set examples_dir to a copy of them)")
rep.save_metrics({"real_sketches_found": len(examples)})

# %%
if examples:
    data = grmnet.build_data(cfg, cfg.run.seeds[0])  # the first replicate's models (cached by notebook 01)
    detector, _ = grmnet.train_detector(cfg, data)
    grm, _ = grmnet.train_referring(cfg, data, detector, **grmnet.variant_of(7))
    fig = grmnet.plot_real_examples(cfg, data, grm, examples)
    rep.save_figure(fig, "real_sketches")

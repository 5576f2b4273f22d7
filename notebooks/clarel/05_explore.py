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
# # CLAREL 05 — explore metric rescaling: slide α, watch u, s, H and the seen/unseen confusion
#
# Section 2.1: multiplying the distances to seen prototypes by 1 + α makes every image less likely to be assigned
# a seen class, so u rises and s falls with α. Move the slider (in JupyterLab) to see it on the study's validation
# model, the one α* is chosen on; the static figures below show α = 0 and α*. Nothing here is trained anew when the
# notebook runs after 01 with the same params (the model comes from the study's cache). The test split is not read
# here: it is read once, by notebook 01, for the final score.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.clarel.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/clarel/<profile>/05_explore

# %%
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import metrics_table, show
from cmlib.protocol.run import replicate_config
from cmlib.studies import clarel
from cmlib.studies.clarel import explore

cfg, rep = setup("clarel", "05_explore", params, report_dir, explorer=True)
seed = cfg.run.seeds[0]
rcfg = replicate_config(cfg, seed)  # replicate `seed`'s world, as notebooks 01-04 draw it
data = clarel.build_data(rcfg)
scored = clarel.trained_scores(rcfg, data, "val", seed, rcfg.lam, rcfg.kappa)
print(f"validation model of seed {seed}: {len(scored.seen_cols)} seen and {len(scored.unseen_cols)} unseen classes, "
      f"{len(scored.labels)} images")

# %%
# NBVAL_CHECK_OUTPUT
views = [explore.alpha_view(scored, a) for a in cfg.alphas]
table = metrics_table([{"alpha": v.alpha, "u": v.u, "s": v.s, "H": v.h, "P(seen|unseen image)": v.p_seen_given_unseen}
                       for v in views], digits=1)
show(table)
best = max(views, key=lambda v: v.h)
rep.save_metrics({"seed": seed, "alphas": cfg.alphas, "u": [v.u for v in views], "s": [v.s for v in views],
                  "H": [v.h for v in views], "p_seen_given_unseen": [v.p_seen_given_unseen for v in views],
                  "alpha_best_val": best.alpha})

# %% [markdown]
# ## Static views: α = 0 and the validated α*

# %%
for a, name in ((0.0, "alpha_0"), (best.alpha, "alpha_best")):
    rep.save_figure(explore.plot_alpha_view(scored, a, cfg.alphas), name)

# %% [markdown]
# ## Interactive: drag the slider (JupyterLab; a static report shows the first state)

# %%
explore.alpha_explorer(scored, cfg.alphas)

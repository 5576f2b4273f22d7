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
# # CLAREL 02 — H against α on the validation split (Figure 2)
#
# Section 2.1 argues that multiplying distances to seen prototypes by 1 + α lowers the chance of predicting a
# seen class for any image, so u rises and s falls with α and H should trace an inverted U. Figure 2 shows H on
# the validation split, mean and 95% interval over 10 repeats. α acts at inference only: one model per repeat.
# Appendix B proves that P(predicted class is seen | unseen image) cannot increase with α; it is checked here too.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.clarel.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/clarel/<profile>/02_alpha_sweep

# %%
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import clarel

cfg, rep = setup("clarel", "02_alpha_sweep", params, report_dir)

# %%
reps = run_replicates(clarel.alpha_replicate, cfg)
h, p = clarel.alpha_matrix(reps), clarel.alpha_matrix(reps, "p_seen_given_unseen")

# %%
# NBVAL_CHECK_OUTPUT
u, s = clarel.alpha_matrix(reps, "u"), clarel.alpha_matrix(reps, "s")
table = metrics_table([{"alpha": a, "H_mean": float(h[:, i].mean()), "H_min": float(h[:, i].min()),
                        "H_max": float(h[:, i].max()), "u_mean": float(u[:, i].mean()), "s_mean": float(s[:, i].mean()),
                        "P(seen|unseen) [%]": float(p[:, i].mean())} for i, a in enumerate(cfg.alphas)], digits=1)
show(table)
rep.save_metrics({"alphas": cfg.alphas, "H_val": h.tolist(), "u_val": u.tolist(), "s_val": s.tolist(),
                  "p_seen_given_unseen": p.tolist(), "best_alpha_per_repeat":
                  [cfg.alphas[int(i)] for i in h.argmax(axis=1)]})

# %%
fig = clarel.plot_alpha_sweep(cfg.alphas, h)
rep.save_figure(fig, "alpha_sweep")

# %% [markdown]
# ## Claims

# %%
# NBVAL_CHECK_OUTPUT
c = claims(clarel.alpha_claims(reps))
rep.save_claims(c)
show(c)

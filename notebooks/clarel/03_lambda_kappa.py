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
# # CLAREL 03 — H, u, s against λ and κ (Figures 3 and 4)
#
# λ mixes text retrieval (λ) and image retrieval (1 − λ); κ mixes the classifier losses (κ) with the retrieval
# losses (1 − κ). The paper finds a stable range λ ∈ [0.2, 0.9], the largest drop at λ = 0 (no text retrieval),
# a stable κ ∈ [0.2, 0.6] and a collapse at κ = 1 (classifier losses alone do not align the modalities).
# Each point: the validation stage (train-class model, α* chosen on it, u, s, H at α* on the validation split; the
# paper does not name the split of Figs. 3-4, and this keeps the test split to Tables 1-3), mean over replicates.
# Stability is an equivalence claim (`cmlib.studies.clarel.tables`): per replicate, the signed difference of H (u, s)
# at every grid point inside the paper's interval against λ = κ = 0.5 (paired within the replicate). The claim
# "every point is within ± 2 points" is reproduced when every point's 95% interval lies inside ± 2, not reproduced
# when some point's interval lies wholly outside, else inconclusive; the claims table shows the worst point.
# The margin (`STABLE_MARGIN`) is fixed before the run: Figs. 3-4 give no numbers, and λ = 1, just outside the
# paper's range, costs 2.0 H in Table 3 (lines 5 vs 6). The grid trains on the first `grid_replicates` of the
# profile's seeds (study: 3 of 5): its models feed only these figures and claims, and converged models cost
# ~8x the steps of the earlier 300-step ones (issue 32).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.clarel.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/clarel/<profile>/03_lambda_kappa

# %%
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import clarel

cfg, rep = setup("clarel", "03_lambda_kappa", params, report_dir)

# %%
reps = run_replicates(clarel.sweep_replicate, clarel.grid_config(cfg))  # the first grid_replicates seeds
lam_rows, kappa_rows = clarel.sweep_rows(reps, "lambda"), clarel.sweep_rows(reps, "kappa")

# %%
# NBVAL_CHECK_OUTPUT
show(clarel.mean_table(lam_rows, ["lambda"], ["alpha", "u", "s", "H"]))
show(clarel.mean_table(kappa_rows, ["kappa"], ["alpha", "u", "s", "H"]))
rep.save_metrics({"lambda_rows": lam_rows, "kappa_rows": kappa_rows})

# %%
rep.save_figure(clarel.plot_sweep(lam_rows, "lambda"), "h_against_lambda")

# %%
rep.save_figure(clarel.plot_sweep(kappa_rows, "kappa"), "h_against_kappa")

# %% [markdown]
# ## Claims
#
# First the evidence behind the stability claims: every grid point inside the paper's interval against the
# paper's setting, each with its own equivalence verdict. Each stability claim below is its metric's worst point.

# %%
# NBVAL_CHECK_OUTPUT
points = claims(clarel.stability_points(reps, cfg.lam, cfg.kappa))
rep.save_metrics({"stability_points": points.to_dict(orient="records")})
show(points)

# %%
# NBVAL_CHECK_OUTPUT
c = claims(clarel.sweep_claims(reps, cfg.lam, cfg.kappa))
rep.save_claims(c)
show(c)

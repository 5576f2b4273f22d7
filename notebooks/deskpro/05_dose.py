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
# # DeSKPro 5 — when do propagation and CSA help? Their dose-response
#
# Each mechanism exploits something in the data (notebook 02's premises). The world lets us turn it up and down,
# every other draw kept, and ask whether the gain follows:
#
# - **Face propagation** (model 5 minus model 4, the student with and without L_fkp) against `body_identity`, the
#   spread of skin tone, hair, build and height between people (1 = the world of every earlier study). The less the
#   body tells people apart, the more of who a person is sits in the face's own pattern, which the teacher sees in
#   the restored face and the student must learn to read in the low-resolution crop. Claim: the gain falls as
#   `body_identity` grows. The share of the teacher's lead the student recovers is tabled.
# - **CSA** (model 2 minus model 1) against clothing confusability, the measured share of pairs of test people who
#   share an outfit colour pattern, set by the palette size. Claim: the gain grows with the share.
#
# Every model is scored alone on the Celeb-reID-light-like test split; the priors (OSNet stand-in, restorer) are the
# study's at every level, and the models at the study's own level are notebook 02's (read from the cache). Margins
# (`cmlib.studies.deskpro.dose`): each mechanism's own margin spread over the knob's span, fixed before the run. The
# figures mark the study setting.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.deskpro.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/deskpro/<profile>/05_dose

# %%
import warnings

from cmlib.execution.claim_plots import plot_dose
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import claims, metrics_table, show
from cmlib.protocol.replicates import run_replicates
from cmlib.studies import deskpro

warnings.filterwarnings("ignore", message=".*deterministic.*")
cfg, rep = setup("deskpro", "05_dose", params, report_dir)

# %%
deskpro.prepare(cfg)  # the priors every replicate and level shares, trained once before the workers start
reps = run_replicates(deskpro.dose_replicate, cfg)
rows = deskpro.dose_rows(reps)

# %% [markdown]
# Per knob and level, mean over replicates: the measured premise (`face_minus_body`: hand-measured face-only minus
# body-only mAP; `shared_pattern_share`), the models' test mAP and the gain (points); `recovered`: (mAP5 - mAP4) /
# (mAP6 - mAP4). Real data has no knob to turn: the tables and claims are then empty.

# %%
# NBVAL_CHECK_OUTPUT
table = deskpro.dose_table(rows)
show(metrics_table(table, digits=2))
rep.save_metrics({"rows": rows, "table": metrics_table(table, digits=4).to_dict(orient="records")})

# %% [markdown]
# ## Claims

# %%
# NBVAL_CHECK_OUTPUT
study_level = cfg.world.body_identity
c = claims(deskpro.dose_claims(reps, study_body_identity=study_level))
rep.save_claims(c)
show(c)

# %%
for r in c.to_dict(orient="records"):
    fig = plot_dose(r["dose"], effect="gain [mAP points]", title=f"{r['claim']}: {r['verdict']}")
    rep.save_figure(fig, "dose_propagation" if "propagation" in r["claim"] else "dose_csa")

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
# # DeSKPro 4 — explore the rankings: a query person and the gallery G, the student and DeSKPro return
#
# Pick a query (in JupyterLab) and see the top of the gallery under the cloth-changing protocol of the
# Celeb-reID-light-like world for three Table 3 rows: 1 (the global stream G), 5 (the face student with knowledge
# propagation) and DeSKPro (both). A green frame is the same person, red another; a match is marked "same clothes"
# or "new clothes". Items the protocol removes (same person in the same camera or the same clothes) are not shown,
# as the metric does not count them. The streams come from the study's cache (trained by notebooks 01-02 with the
# same params).

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.deskpro.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/deskpro/<profile>/04_explore

# %%
import warnings

from cmlib.execution.notebook import setup
from cmlib.execution.reporting import metrics_table, show
from cmlib.studies import deskpro
from cmlib.studies.deskpro import explore

warnings.filterwarnings("ignore", message=".*deterministic.*")
cfg, rep = setup("deskpro", "04_explore", params, report_dir, explorer=True)
seed = cfg.run.seeds[0]
cfg, restorer, _ = deskpro.prepare(cfg)
dataset, world = deskpro.sources(cfg, seed, restorer)[0]
needed = sorted({s for row, names in deskpro.ABLATION_ROWS if row in explore.EXPLORED_ROWS for s in names})
models = {name: deskpro.train_stream(cfg, world, name, seed, dataset=dataset)[0] for name in needed}
query, gallery = deskpro.protocols(world)[0][2:4]
dists = explore.model_distances(models, query, gallery)
print(f"seed {seed}: {len(query)} queries, {len(gallery)} gallery images; streams {', '.join(needed)}")

# %%
# NBVAL_CHECK_OUTPUT
# Rank of the first true match of the first queries, per model, over the whole gallery (junk removed; None only for a
# query with no true match in the gallery at all, which depends on the world, not on training).
shown = list(range(min(6, len(query))))
first = {row: [next((it.rank for it in explore.ranked_gallery(d[q], query, gallery, q, len(gallery)) if it.match), None)
               for q in shown] for row, d in dists.items()}
# (ranks shown as floats: they are trained outcomes, which nbval compares masked; NaN = no true match)
table = metrics_table([{"query": q, "id": int(query.pids[q]),
                        **{row: float(first[row][i] or "nan") for row in dists}} for i, q in enumerate(shown)])
show(table)
rep.save_metrics({"seed": seed, "queries": shown, "first_match_rank": first})

# %% [markdown]
# ## Static gallery: the first query with a true match in DeSKPro's top 8 (else the first query)

# %%
q = next((q for q in shown if (first["DeSKPro"][shown.index(q)] or 99) <= 8), shown[0])
ranked = {row: explore.ranked_gallery(d[q], query, gallery, q, 8) for row, d in dists.items()}
rep.save_figure(explore.plot_ranked(query, gallery, q, ranked), f"ranked_gallery_q{q}", dpi=72)

# %% [markdown]
# ## Interactive: pick a query and the length of the list

# %%
explore.gallery_explorer(dists, query, gallery, k=8)

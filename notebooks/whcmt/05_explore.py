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
# # WHCMT 5 — explore the retrieval: a query image and its nearest database images at each code length
#
# Pick a query (in JupyterLab) and see the top of its Hamming ranking at every code length of the study: each
# retrieved image with its Hamming distance, framed green when it shares an evaluation label with the query (the
# relevance MAP@K scores), red otherwise. The codes are WHCMT's on the first replicate (from the run cache of
# notebook 01 with the same params), computed from images alone, as at retrieval.

# %% tags=["parameters"]
params: dict = {}  # overrides of cmlib.studies.whcmt.Config (empty: smoke profile)
report_dir = None  # set by the runner: reports/whcmt/<profile>/05_explore

# %%
from cmlib.execution.notebook import setup
from cmlib.execution.reporting import metrics_table, show
from cmlib.studies import whcmt
from cmlib.studies.whcmt import explore
from cmlib.studies.whcmt.runs import encode

cfg, rep = setup("whcmt", "05_explore", params, report_dir, explorer=True)
seed = cfg.run.seeds[0]
codes = {}
for bits in cfg.bits:
    rcfg, data, model, row = whcmt.replicate_model(cfg, seed, "WHCMT", bits)
    codes[bits] = (encode(model, data.images, data.query, bits), encode(model, data.images, data.database, bits))
q_labels, db_labels = data.labels[data.query], data.labels[data.database]
print(f"replicate {seed}: {len(data.query)} queries, {len(data.database)} database images, bits {list(codes)}")

# %%
# NBVAL_CHECK_OUTPUT
# Precision among the top 8 of the first queries, per code length (shown as floats: trained outcomes).
shown = list(range(min(6, len(data.query))))
prec = {b: [sum(r.relevant for r in explore.retrieved(qc, dc, q_labels, db_labels, q, 8)) / 8 for q in shown]
        for b, (qc, dc) in codes.items()}
show(metrics_table([{"query": q, **{f"P@8 ({b} bits)": float(prec[b][i]) for b in codes}}
                    for i, q in enumerate(shown)]))
rep.save_metrics({"seed": seed, "queries": shown, "precision_at_8": {str(b): v for b, v in prec.items()}})

# %% [markdown]
# ## Static gallery: the first query

# %%
q = shown[0]
ranked = {b: explore.retrieved(qc, dc, q_labels, db_labels, q, 8, data.label_names) for b, (qc, dc) in codes.items()}
names = [n for n, on in zip(data.label_names, q_labels[q].astype(bool)) if on]
fig = explore.plot_retrieval(data.images[data.query[q]], data.images[data.database], ranked, q_label_names=names)
rep.save_figure(fig, f"retrieval_gallery_q{q}", dpi=72)

# %% [markdown]
# ## Interactive: pick a query and the length of the list

# %%
explore.retrieval_explorer(codes, q_labels, db_labels, data.images[data.query], data.images[data.database],
                           data.label_names, k=8)

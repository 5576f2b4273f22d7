"""Study glue for WHCMT (Yang, Chu & Dubey): data, models, training, MAP@K, Tables 2-4, attention maps, claims.

Every notebook of ``notebooks/whcmt`` builds one :class:`Config` (defaults = smoke profile), prepares the data once
(:func:`prepare_data`: one rendered world and one word2vec shared by every run of the notebook) and calls the table
functions below. With ``cache_dir`` set (study profile), a trained run is stored under a key of everything that
determines it (method, bits, lambdas, seed, the data/model/training config and the source code of the WHCMT modules),
so notebooks 03 and 04 reuse the 8-bit WHCMT/WDHT runs that notebook 01 trained instead of training them again.

Protocol (WSDHQ, Wang et al. AAAI 2021, which the paper follows): Hamming ranking of database codes for each query
code, relevance = sharing at least one label, MAP@K with K = 5000 on MIRFLICKR-25K; in the worlds K is 5000 scaled by
database size / 22,581 (MIRFLICKR's database size), stated in each notebook.

Training (Section 3.1): SGD, lr 0.001, momentum 0.9, batch 50, lambdas (1, 10, 1). The paper states no step count, no
reduction other than its plain sums, and no gradient clipping. We average each loss over its batch terms by default
(``loss_reduction="mean"``, WDHT's official Keras code; see ``cmlib.losses.hashing``); with the literal sums the first
SGD steps at lr 0.001 diverge to NaN, so the global gradient norm is clipped (``grad_clip``, our choice, the engine's
``FitConfig.grad_clip``); notebook 02 also reports one run with the literal sums.

Layout: ``config`` (the Config), ``data`` (world / MIRFLICKR records, word vectors, tag ids), ``runs`` (models,
training, run cache, MAP@K), ``tables`` (Tables 2-4 and their claims), ``attention`` (notebook 04).
"""

from cmlib.studies.whcmt.attention import attention_examples, attention_maps, attention_summary, plot_attention
from cmlib.studies.whcmt.config import METHODS, MIRFLICKR_DB, TABLE3, Config
from cmlib.studies.whcmt.data import (
    WhcmtData,
    data_summary,
    encode_tags,
    map_topk,
    prepare_data,
    to_input,
    unsupervised_features,
    word_vectors,
)
from cmlib.studies.whcmt.runs import (
    build_model,
    deep_rows,
    encode,
    evaluate_map,
    literal_sum_row,
    table3_rows,
    train_run,
    unsupervised_rows,
)
from cmlib.studies.whcmt.tables import (
    flat_map,
    pivot_map,
    plot_map_vs_bits,
    table2_claims,
    table3_claims,
    table3_summary,
    table4_claims,
    table4_summary,
)

__all__ = ["METHODS", "MIRFLICKR_DB", "TABLE3", "Config", "WhcmtData", "attention_examples", "attention_maps",
           "attention_summary", "build_model", "data_summary", "deep_rows", "encode", "encode_tags", "evaluate_map",
           "flat_map", "literal_sum_row", "map_topk", "pivot_map", "plot_attention", "plot_map_vs_bits",
           "prepare_data", "table2_claims", "table3_claims", "table3_rows", "table3_summary", "table4_claims",
           "table4_summary", "to_input", "train_run", "unsupervised_features", "unsupervised_rows", "word_vectors"]

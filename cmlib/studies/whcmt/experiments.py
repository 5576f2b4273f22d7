"""One replicate of each WHCMT notebook: the functions ``cmlib.protocol.replicates.run_replicates`` calls, one per seed.

A replicate is an independent draw of everything random: the world (``world.seed`` + seed: labels, images, tags,
split, word2vec), the initialisation and the batch order. Each function prepares that replicate's data, loads the
pretrained backbones (:func:`cmlib.studies.whcmt.pretraining.with_pretrained`, paid once per config, not per
replicate), trains the notebook's runs (the run cache shares them between notebooks) and returns JSON-able rows.
"""

from __future__ import annotations

from cmlib.protocol.run import replicate_config
from cmlib.studies.whcmt.attention import attention_summary
from cmlib.studies.whcmt.config import METHODS, TABLE3, Config
from cmlib.studies.whcmt.data import data_summary, prepare_data, tag_auc
from cmlib.studies.whcmt.pretraining import with_pretrained
from cmlib.studies.whcmt.runs import deep_rows, literal_sum_row, table3_rows, train_run, unsupervised_rows

__all__ = ["attention_replicate", "fit_main", "replicate_model", "table2_replicate", "table3_replicate", "table4_replicate"]

TABLE2_METHODS = ["WDHT-CNN", "WHCMT"]


def _with_premise(rows: list[dict], data) -> list[dict]:
    """``rows`` with the replicate's tag premise (:func:`tag_auc` of ``data``) in each (no trained number changes)."""
    auc = tag_auc(data)
    return [{**r, "tag_auc": auc} for r in rows]


def _setup(cfg: Config, seed: int):
    """Replicate config with every backbone's weights file set (so a run's cache key is the same in every notebook,
    whichever methods it trains), and the replicate's data."""
    rcfg = replicate_config(cfg, seed)
    data = prepare_data(rcfg)
    rcfg, pretrain = with_pretrained(rcfg, list(METHODS))
    return rcfg, data, pretrain


def table2_replicate(cfg: Config, seed: int) -> dict:
    """Table 2, one replicate: unsupervised baselines and WDHT-CNN / WHCMT at every bit length."""
    rcfg, data, pretrain = _setup(cfg, seed)
    return {"seed": seed, "unsupervised": unsupervised_rows(data, rcfg),
            "deep": _with_premise(deep_rows(TABLE2_METHODS, rcfg.bits, data, rcfg), data), "data": data_summary(data),
            "pretrain": pretrain}


def table3_replicate(cfg: Config, seed: int) -> dict:
    """Table 3, one replicate: WHCMT at 8 bits for the five loss weightings, and setting 1 with the literal sums."""
    rcfg, data, _ = _setup(cfg, seed)
    return {"seed": seed, "settings": _with_premise(table3_rows(data, rcfg, bits=8), data),
            "literal": literal_sum_row(data, rcfg, bits=8),
            "weights": [list(w) for w in TABLE3]}


def table4_replicate(cfg: Config, seed: int) -> dict:
    """Table 4, one replicate: the four frameworks and the diagnostic rows at 8 bits."""
    methods = list(METHODS) + list(cfg.diagnostics)
    rcfg, data, pretrain = _setup(cfg, seed)
    return {"seed": seed, "runs": _with_premise(deep_rows(methods, [8], data, rcfg), data), "pretrain": pretrain}


def attention_replicate(cfg: Config, seed: int) -> dict:
    """Notebook 04, one replicate: the informative/noise tag attention ratio of WHCMT at the first bit length."""
    rcfg, data, _ = _setup(cfg, seed)
    row, model = train_run("WHCMT", rcfg.bits[0], data, rcfg, seed=seed)
    return {"seed": seed, "run": row, "tag_auc": tag_auc(data), **attention_summary(model, data, rcfg)}


def fit_main(cfg: Config, seed: int) -> dict:
    """Train WHCMT once at the first bit length (backbones pretrained first, run-cached like every run) with the
    params' ``run.device`` settings: what ``examples/fit_distributed.py`` launches on one GPU or under torchrun."""
    _, _, _, row = replicate_model(cfg, seed)
    return {"model": f"WHCMT {row['bits']} bits", "final_loss": row["final_loss"], "map": row["map"],
            "cached": row["cached"]}


def replicate_model(cfg: Config, seed: int, method: str = "WHCMT", bits: int | None = None):
    """(replicate config, its data, the trained ``method`` model at ``bits`` (default the first) and its row), for
    figures; the run comes from the run cache when a replicate function trained it already."""
    rcfg, data, _ = _setup(cfg, seed)
    row, model = train_run(method, rcfg.bits[0] if bits is None else bits, data, rcfg, seed=seed)
    return rcfg, data, model, row

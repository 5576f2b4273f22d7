"""Notebook 06: the dose-response of WHCMT's cross-modal gain against how informative the tags are (issue 30, item 5).

The paper's implicit prediction (Sections 1 and 2.4): attention between image patches and tags lets the model weigh
the tags that name what the image shows against the noise, so cross-modal attention should matter *more* the noisier
the tags are (WDHT's mean tag vector weighs every tag alike). The world lets us vary tag noise and ask whether it does.

The knob: at each level the world's ``mean_noise_tags`` (the Poisson mean of Zipf-drawn tags that name nothing in the
image) and ``n_distractors`` (0..n shapes in the image that no tag names) take the values of
``Config.dose_noise_tags`` / ``Config.dose_distractors``; the study world is one of the levels, and every other
random draw is unchanged. The dose axis is *measured*: the premise of the tag claims, the pair AUC of the training
images' mean tag vectors for shared labels (:func:`cmlib.studies.whcmt.data.tag_auc`), per replicate and level,
with the real MIRFLICKR-25K level (:data:`~cmlib.studies.whcmt.tables.REAL_TAG_AUC`) marked on the figure.

Per replicate and level, at 8 bits (Table 4's bit length): WHCMT, WDHT-CrossViT (the same backbone without the
cross-modal branch) and WHCMT-meanvec (the cross-modal branch with WDHT's mean-vector target), each through
:func:`cmlib.studies.whcmt.runs.train_run` on that level's data; at the study world's level these are notebook 03's
runs (the run cache shares them).

Claims (margins fixed before the run), for WHCMT - WDHT-CrossViT and WHCMT - WHCMT-meanvec:

* **the gain grows as tags get noisier**: the per-replicate least-squares slope of the MAP@K gain against the
  measured tag AUC is < 0 (:func:`cmlib.protocol.claims.trend`, ``op="<"``). Margin: a quarter of the paper's
  cross-modal gain (Table 4: 0.755 - 0.733 = 0.022 MAP, so 0.0055) spread over the real tags' distance from chance
  (0.555 - 0.5): 0.0055 / 0.055 = 0.1 MAP per unit of AUC, i.e. a slope whose effect between chance-level tags and
  real ones stays under the margin is of no interest.

Every compared model at every level passes the gate (chance, collapse, and the convergence gate at the pairwise
margin, 0.0055 MAP, as tolerance: the slope's margin is on another scale).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cmlib.protocol.claims import Claim, Dose, trend
from cmlib.protocol.run import first_seeds
from cmlib.studies.whcmt.config import Config
from cmlib.studies.whcmt.data import tag_auc
from cmlib.studies.whcmt.experiments import _setup
from cmlib.studies.whcmt.runs import deep_rows
from cmlib.studies.whcmt.tables import PAPER_TABLE4, REAL_TAG_AUC, _gate

__all__ = ["DOSE_BITS", "DOSE_METHODS", "GAINS", "MARGIN", "SLOPE_MARGIN", "dose_claims", "dose_config",
           "dose_replicate", "dose_rows", "dose_table", "level_config"]

#: the methods trained at every level, and the bit length (Table 4's)
DOSE_METHODS = ("WHCMT", "WDHT-CrossViT", "WHCMT-meanvec")
DOSE_BITS = 8
#: the gains the claims read: name -> (minuend, subtrahend)
GAINS = {"over WDHT-CrossViT": ("WHCMT", "WDHT-CrossViT"), "over WHCMT-meanvec": ("WHCMT", "WHCMT-meanvec")}
#: a quarter of the paper's cross-modal gain (Table 4, 8 bits): the pairwise margin, and the gate's curve tolerance
MARGIN = (PAPER_TABLE4["WHCMT"] - PAPER_TABLE4["WDHT-CrossViT"]) / 4
#: the trend's margin: MARGIN over the real tags' distance from chance (module docstring), MAP per unit of tag AUC
SLOPE_MARGIN = MARGIN / (REAL_TAG_AUC - 0.5)


def dose_config(cfg: Config) -> Config:
    """``cfg`` with ``run.seeds`` cut to the first ``cfg.dose_replicates`` (notebook 06's replicates; 0: all)."""
    return first_seeds(cfg, cfg.dose_replicates)


def level_config(cfg: Config, noise_tags: float, distractors: int) -> Config:
    """``cfg`` with the world at one dose level; the profile's own values return ``cfg`` itself (so the study
    world's runs keep notebook 03's cache keys)."""
    world = cfg.world
    if world.mean_noise_tags == noise_tags and world.n_distractors == distractors:
        return cfg
    return dataclasses.replace(cfg, world=dataclasses.replace(world, mean_noise_tags=float(noise_tags),
                                                              n_distractors=int(distractors)))


def dose_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """One replicate of notebook 06: at each level of ``cfg.dose_noise_tags`` / ``cfg.dose_distractors``, the tag
    AUC of the training images and the 8-bit runs of :data:`DOSE_METHODS`.

    Returns:
        ``{"seed", "levels": [{"noise_tags", "distractors", "tag_auc", "runs": {method: row}}, ...]}``; with real
        data (``cfg.data`` not "world") nothing can be varied: ``levels`` is empty and nothing is trained.
    """
    levels: list[dict[str, Any]] = []
    if cfg.data != "world":
        return {"seed": seed, "levels": levels}
    for noise, distractors in zip(cfg.dose_noise_tags, cfg.dose_distractors):
        rcfg, data, _ = _setup(level_config(cfg, noise, distractors), seed)
        rows = deep_rows(list(DOSE_METHODS), [DOSE_BITS], data, rcfg)
        levels.append({"noise_tags": float(noise), "distractors": int(distractors), "tag_auc": tag_auc(data),
                       "runs": {r["method"]: r for r in rows}})
    return {"seed": seed, "levels": levels}


def dose_rows(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per (replicate, level): the knob, the measured tag AUC, MAP@K of each method and the gains of
    :data:`GAINS` (``gain over WDHT-CrossViT``, ``gain over WHCMT-meanvec``)."""
    out = []
    for r in reps:
        for lv in r["levels"]:
            row: dict[str, Any] = {"seed": r["seed"], "noise_tags": lv["noise_tags"],
                                   "distractors": lv["distractors"], "tag_auc": lv["tag_auc"]}
            row.update({f"MAP {m}": lv["runs"][m]["map"] for m in DOSE_METHODS})
            row.update({f"gain {g}": lv["runs"][a]["map"] - lv["runs"][b]["map"] for g, (a, b) in GAINS.items()})
            out.append(row)
    return out


def dose_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per level (in the order of ``rows``), the mean over replicates of every column of :func:`dose_rows`."""
    import pandas as pd

    if not rows:
        return []
    df = pd.DataFrame(rows).drop(columns="seed")
    return df.groupby(["noise_tags", "distractors"], sort=False).mean().reset_index().to_dict(orient="records")


def dose_claims(reps: list[dict[str, Any]]) -> list[Claim]:
    """Notebook 06's trend claims (module docstring), the levels ordered by their mean measured tag AUC; every
    compared model at every level gated, its curve read at :data:`MARGIN`."""
    if not reps or not reps[0]["levels"]:
        return []
    n = len(reps[0]["levels"])
    if any(len(r["levels"]) != n for r in reps):
        raise ValueError("dose_claims: every replicate needs the same dose levels")
    aucs = [float(np.mean([r["levels"][i]["tag_auc"] for r in reps])) for i in range(n)]
    order = sorted(range(n), key=lambda i: aucs[i])
    paper = ("implicit (Sections 1, 2.4): attention weighs the tags that name what the image shows, so it should "
             "matter more the noisier the tags")
    out = []
    for gain, (a, b) in GAINS.items():
        effects = [[r["levels"][i]["runs"][a]["map"] - r["levels"][i]["runs"][b]["map"] for r in reps] for i in order]
        dose = Dose([aucs[i] for i in order], effects, knob="tag AUC (pair AUC of mean tag vectors)",
                    paper_level=REAL_TAG_AUC)
        models = [dataclasses.replace(_gate(f"{m} {DOSE_BITS}b, noise tags {reps[0]['levels'][i]['noise_tags']:g}, "
                                            f"distractors {reps[0]['levels'][i]['distractors']}",
                                            [r["levels"][i]["runs"][m] for r in reps]), tolerance=MARGIN)
                  for i in order for m in (a, b)]
        out.append(trend(f"the cross-modal gain {gain} grows as tags get noisier", dose, margin=SLOPE_MARGIN, op="<",
                         statistic=f"slope of MAP@K({a}) - MAP@K({b}) per unit of tag AUC", paper=paper,
                         models=models))
    return out

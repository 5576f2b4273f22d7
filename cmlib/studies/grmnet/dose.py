"""Notebook 06: the dose-response of GRM's gain against the share of expressions that need another instance
(issue 33, item 4).

The global reference mechanism exists for expressions whose referent depends on *other* instances: its rank among
its category ("the second tree on the left") or its relation to another object ("the dog in front of the bench").
An expression that names a category alone ("the trees") needs no reference. The world's knob
``reference_fraction`` (:class:`cmlib.data.worlds.grmnet.WorldSpec`) sets the share of such expressions while the
scenes stay the same (same seed, same scenes, same detector at every level); the share is *measured* on each
replicate's test expressions (:func:`cmlib.studies.grmnet.data.reference_share`) and that measured share is the dose
axis, with the real SketchyScene-MATCHING test share (0.511) marked.

Per replicate (the first ``cfg.dose_replicates`` of ``run.seeds``) and level: the replicate's detector, rows #7
(GRM, K=10, consistency), #3 (no GRM) and #1 (distance-based K=10) trained under the study's schedule (at the
study's own level these are notebook 01's models, shared through the cache), each level's test split read once,
COCO mask AP overall and per expression type (:func:`cmlib.studies.grmnet.runs.kind_scores`), the language-blind
level from the same detector.

Claims (margins fixed before the run):

* **GRM's gain grows with the share** (:func:`cmlib.protocol.claims.trend`), #7 - #3 and #7 - #1: the per-replicate
  least-squares slope against the measured share, > 0. Margin :data:`SLOPE_MARGIN`: the GRM claims' margin (a quarter
  of the paper's +5.84) spread over the real share 0.511, i.e. 2.86 AP per unit of share: the paper's gain, if it
  comes from these expressions only, is 5.84 / 0.511 = 11.4 AP per unit, and a quarter of it is the smallest slope of
  interest.
* **no gain where no reference is needed**: on the category-only expressions of every level pooled per replicate,
  #7 - #3 is within +-1.46 AP of 0 (an equivalence test, the GRM margin). A gain there would mean GRM helps through
  something other than the references (e.g. more capacity).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cmlib.protocol.claims import Claim, Dose, ModelCheck, replicate_curves, trend
from cmlib.protocol.run import first_seeds, replicate_config
from cmlib.studies.grmnet.config import Config, variant_of
from cmlib.studies.grmnet.data import build_data, reference_share, targets_of
from cmlib.studies.grmnet.runs import predict_blind, predict_grmnet, scene_detections, train_detector, train_referring
from cmlib.studies.grmnet.tables import BLIND, CURVE_TOLERANCE, REAL_REFERENCE_SHARE, scored_row

__all__ = ["DOSE_ROWS", "SLOPE_MARGIN", "dose_claims", "dose_replicate", "dose_rows", "dose_seeds"]

#: the rows notebook 06 trains at every level: GRM (#7), no GRM (#3), distance-based references (#1)
DOSE_ROWS = (7, 3, 1)
#: the trend claims' margin, AP per unit of share (module docstring): the GRM margin over the real share
SLOPE_MARGIN = CURVE_TOLERANCE / REAL_REFERENCE_SHARE


def dose_seeds(cfg: Config) -> list[int]:
    """The replicates notebook 06 runs: the first ``cfg.dose_replicates`` of ``run.seeds`` (0: all of them)."""
    return list(first_seeds(cfg, cfg.dose_replicates).run.seeds)


def dose_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """One replicate of notebook 06: at each ``cfg.reference_levels`` level, the measured share and rows
    :data:`DOSE_ROWS` scored on that level's test split.

    Returns:
        ``{"seed", "levels": [{"level", "share", "blind": row, "rows": {row number: row}}, ...]}``, each row as
        :func:`cmlib.studies.grmnet.tables.scored_row` makes it (both AP flavours, ``AP_<type>``, collapsed, curve). With real data (``data_root`` set) there is no knob to turn: ``levels`` is empty.
    """
    rcfg = replicate_config(cfg, seed)
    levels: list[dict[str, Any]] = []
    if rcfg.data_root is not None:
        return {"seed": seed, "levels": levels}
    for level in rcfg.reference_levels:
        lcfg = dataclasses.replace(rcfg, reference_fraction=float(level))
        data = build_data(lcfg, seed)
        detector, _ = train_detector(lcfg, data)
        models = {row: train_referring(lcfg, data, detector, **variant_of(row)) for row in DOSE_ROWS}
        test = data.test.open(f"notebook 06, level {level:g}, replicate {seed}")
        tg = targets_of(data, test, "test")
        rows = {str(row): scored_row(f"#{row}", predict_grmnet(model, data, test, lcfg.max_tokens, "test"), tg, test,
                                     [], info["curve"]) for row, (model, info) in models.items()}
        blind = scored_row(BLIND, predict_blind(scene_detections(detector, data), test, "test"), tg, test, [])
        levels.append({"level": float(level), "share": reference_share(test), "blind": blind, "rows": rows})
    return {"seed": seed, "levels": levels}


def dose_rows(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per (replicate, level): level, measured share, COCO AP of #7 / #3 / #1 and the blind level,
    and the two gains overall and per expression type (``d73``, ``d71``, ``d73_<type>``)."""
    out = []
    for r in reps:
        for lv in r["levels"]:
            row = {"seed": r["seed"], "level": lv["level"], "share": lv["share"], "blind": lv["blind"]["coco_AP"]}
            for k in DOSE_ROWS:
                row[f"#{k}"] = lv["rows"][str(k)]["coco_AP"]
            row["d73"], row["d71"] = row["#7"] - row["#3"], row["#7"] - row["#1"]
            for key in lv["rows"]["7"]:
                if key.startswith("AP_"):
                    kind = key[3:]
                    row[f"d73_{kind}"] = lv["rows"]["7"][key] - lv["rows"]["3"].get(key, float("nan"))
            out.append(row)
    return out


def _gate(reps: list[dict[str, Any]], i: int, row: int) -> ModelCheck:
    """Row ``row`` at level ``i`` over the replicates: above the language-blind level, converged."""
    sel = [r["levels"][i]["rows"][str(row)] for r in reps]
    return ModelCheck(f"#{row}, share target {reps[0]['levels'][i]['level']:g}", [s["coco_AP"] for s in sel],
                      [r["levels"][i]["blind"]["coco_AP"] for r in reps], [s["collapsed"] for s in sel],
                      curves=replicate_curves(sel), tolerance=CURVE_TOLERANCE)


def dose_claims(reps: list[dict[str, Any]]) -> list[Claim]:
    """Notebook 06's claims (module docstring): GRM's gain over #3 and over #1 grows with the measured share, and
    #7 - #3 is about 0 on category-only expressions; every level's rows gated."""
    if not reps or not reps[0]["levels"]:
        return []
    n = len(reps[0]["levels"])
    if any(len(r["levels"]) != n for r in reps):
        raise ValueError("dose_claims: every replicate needs the same levels")
    shares = [float(np.mean([r["levels"][i]["share"] for r in reps])) for i in range(n)]
    paper = "GRM gives each candidate the references that rank and relational expressions need (Sec. 2.3)"
    out = []
    for other, what in ((3, "no GRM (#3)"), (1, "distance-based references (#1)")):
        effects = [[r["levels"][i]["rows"]["7"]["coco_AP"] - r["levels"][i]["rows"][str(other)]["coco_AP"]
                    for r in reps] for i in range(n)]
        dose = Dose(shares, effects, knob="share of expressions needing another instance",
                    paper_level=REAL_REFERENCE_SHARE)
        gates = [_gate(reps, i, row) for i in range(n) for row in (7, other)]
        out.append(trend(f"GRM's gain over {what} grows with the share of expressions that need references", dose,
                         margin=SLOPE_MARGIN, statistic=f"slope of COCO AP(#7) - COCO AP(#{other}) per unit of share "
                         "[AP points]", paper=paper, models=gates))
    cat = [_pooled_category_gain(r) for r in reps]
    if all(np.isfinite(cat)):
        out.append(Claim("no GRM gain on category-only expressions (#7 - #3, all levels pooled)", cat, "~", 0.0,
                         "mean over levels of COCO AP on category-only expressions, #7 - #3", paper,
                         [_gate(reps, i, row) for i in range(n) for row in (7, 3)], margin=CURVE_TOLERANCE))
    return out


def _pooled_category_gain(rep: dict[str, Any]) -> float:
    """#7 - #3 on the category-only expressions, averaged over the levels that have any (NaN if none has)."""
    vals = [lv["rows"]["7"]["AP_category"] - lv["rows"]["3"]["AP_category"] for lv in rep["levels"]
            if "AP_category" in lv["rows"]["7"] and "AP_category" in lv["rows"]["3"]]
    return float(np.mean(vals)) if vals else float("nan")

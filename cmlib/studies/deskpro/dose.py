"""Notebook 05: the dose-response of DeSKPro's two mechanisms (issue 31, item 4).

The world lets us vary what each mechanism exploits and ask *when* its gain holds (the premises of
:mod:`cmlib.studies.deskpro.premise`); every other draw of the world (identities, faces, outfits, cameras) stays the
same across levels, and the pretrained priors (OSNet stand-in, restorer) are the study's at every level (they stand
in for ImageNet and GPEN, which do not depend on the dataset).

* **Propagation** (model 5 minus model 4, Celeb-reID-light-like test mAP) against ``world.body_identity``
  (``Config.body_identity_levels``): the less the body tells people apart, the more of a person's identity sits in
  the face alone (skin tone and hair colour leave the face crop too), so the more the teacher's restored faces have
  to teach. Claim: the gain *falls* as ``body_identity`` grows (slope < 0). The share of the teacher's lead the
  student recovers, (mAP5 - mAP4) / (mAP6 - mAP4), is tabled, not claimed (a ratio of two small differences).
* **CSA** (model 2 minus model 1) against clothing confusability, the measured share of pairs of test people who
  share an outfit colour pattern, set through ``world.palette_size`` (``Config.palette_levels``): the more people
  dress alike, the more clothes mislead once they change, the more suppressing them gains. Claim: the gain grows
  with the share (slope > 0).

Margins (fixed before any run, as CLAREL's notebook 06 fixes its own): the mechanism's own margin (a quarter of the
paper's Table 3 difference: propagation 4.9 / 4, CSA 1.3 / 4 mAP) spread over the knob's span at the study world, so
that a slope whose whole effect across that span stays below the mechanism's margin is of no interest: propagation
over the full ``body_identity`` range [0, 1] (1.225 points per unit); CSA over the study world's shared-outfit
share (:data:`STUDY_SHARE` 0.083, measured on probe seeds 1000 and 1001, 150 test people at palette 10, before
any training: 0.325 / 0.083 = 3.9 points per unit of share).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cmlib.protocol.claims import Claim, Dose, ModelCheck, trend
from cmlib.protocol.run import with_threads
from cmlib.studies.deskpro.config import Config
from cmlib.studies.deskpro.data import build_world, protocols
from cmlib.studies.deskpro.evaluation import chance_level, descriptors, evaluate
from cmlib.studies.deskpro.experiments import prepare
from cmlib.studies.deskpro.premise import measure_premise
from cmlib.studies.deskpro.streams import train_stream
from cmlib.studies.deskpro.tables import PAPER_TABLE3

__all__ = ["MARGIN_CSA", "MARGIN_PROPAGATION", "STUDY_SHARE", "dose_claims", "dose_replicate", "dose_rows",
           "dose_table"]

#: the mechanisms' own margins: a quarter of the paper's Table 3 differences (mAP points)
MARGIN_PROPAGATION = (PAPER_TABLE3["5"][1] - PAPER_TABLE3["4"][1]) / 4
MARGIN_CSA = (PAPER_TABLE3["2"][1] - PAPER_TABLE3["1 (baseline)"][1]) / 4
#: shared-outfit share of the world at palette 10 (probe seeds 1000 and 1001: 0.083 each, 150 test people; measured
#: before any training; params/deskpro/tuning.yaml)
STUDY_SHARE = 0.083
_FACE, _BODY = ("teacher", "student-", "student+"), ("G", "G+CSA")


def _level_cfg(cfg: Config, **world: Any) -> Config:
    return dataclasses.replace(cfg, world=dataclasses.replace(cfg.world, **world))


def _scores(cfg: Config, seed: int, restorer, names: tuple[str, ...]) -> dict[str, Any]:
    """Train ``names`` on the world of ``cfg`` and score each alone on its Celeb-reID-light-like test protocol."""
    world = build_world(cfg, seed, restorer)
    _, _, query, gallery, mode = protocols(world)[0]
    out: dict[str, Any] = {"premise": measure_premise(world, seed),
                           "chance_mAP": chance_level(query, gallery, mode, seed=seed)["mAP"], "curves": {}}
    for name in names:
        model, info = train_stream(cfg, world, name, seed)
        res = evaluate([descriptors(model, name, query)], [descriptors(model, name, gallery)], query, gallery, mode)
        out[name], out["curves"][name] = res["mAP"], info.get("val_curve", [])
    return out


@with_threads
def dose_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """One replicate of notebook 05: the face streams at each ``body_identity_levels`` level and the body streams G
    and G+CSA at each ``palette_levels`` level, each scored alone on the Celeb-reID-light-like test split.

    Returns:
        ``{"seed", "body_identity": [{"level", "premise", "chance_mAP", "teacher", "student-", "student+",
        "curves"}, ...], "palette": [{"level", ..., "G", "G+CSA", ...}, ...]}``; real data (``cfg.data``): both
        lists empty, nothing trained (there is no world knob to turn).
    """
    if cfg.data:
        return {"seed": seed, "body_identity": [], "palette": []}
    base, restorer, _ = prepare(cfg)
    return {"seed": seed,
            "body_identity": [{"level": float(b), **_scores(_level_cfg(base, body_identity=float(b)), seed, restorer,
                                                             _FACE)} for b in cfg.body_identity_levels],
            "palette": [{"level": int(p), **_scores(_level_cfg(base, palette_size=int(p)), seed, restorer, _BODY)}
                        for p in cfg.palette_levels]}


def dose_rows(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per (replicate, knob, level): the measured premises, the models' test mAP and the gains."""
    rows = []
    for r in reps:
        for lv in r["body_identity"]:
            lead = lv["teacher"] - lv["student-"]
            rows.append({"seed": r["seed"], "knob": "body_identity", "level": lv["level"],
                         "face_minus_body": lv["premise"]["face_minus_body"], "mAP4": lv["student-"],
                         "mAP5": lv["student+"], "mAP6": lv["teacher"], "gain": lv["student+"] - lv["student-"],
                         "recovered": (lv["student+"] - lv["student-"]) / lead if lead != 0 else float("nan")})
        for lv in r["palette"]:
            rows.append({"seed": r["seed"], "knob": "palette_size", "level": lv["level"],
                         "shared_pattern_share": lv["premise"]["shared_pattern_share"], "mAP1": lv["G"],
                         "mAP2": lv["G+CSA"], "gain": lv["G+CSA"] - lv["G"]})
    return rows


def dose_table(rows: list[dict[str, Any]]):
    """Mean over replicates per (knob, level) of :func:`dose_rows` (a DataFrame; empty for real data)."""
    import pandas as pd

    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).drop(columns="seed").groupby(["knob", "level"], sort=False).mean().reset_index()


def _checks(reps: list[dict[str, Any]], knob: str, names: tuple[str, ...], label: str,
            tolerance: float) -> list[ModelCheck]:
    """Chance/collapse and convergence gate of every model at every level (its validation curve per replicate);
    ``tolerance``: the mechanism's own margin in mAP points (the claim's margin is a slope, another scale)."""
    n = len(reps[0][knob])
    return [ModelCheck(f"{name}, {label} {reps[0][knob][i]['level']:g}", [r[knob][i][name] for r in reps],
                       [r[knob][i]["chance_mAP"] for r in reps],
                       curves=[[(float(s), float(v)) for s, v in r[knob][i]["curves"][name]] for r in reps]
                       if all(r[knob][i]["curves"].get(name) for r in reps) else [], tolerance=tolerance)
            for i in range(n) for name in names]


def dose_claims(reps: list[dict[str, Any]], study_body_identity: float | None = None) -> list[Claim]:
    """Notebook 05's two trend claims (module docstring); empty for real data. ``study_body_identity``: the study
    world's level, marked on the figure."""
    if not reps or not reps[0]["body_identity"]:
        return []
    for knob in ("body_identity", "palette"):
        if any([lv["level"] for lv in r[knob]] != [lv["level"] for lv in reps[0][knob]] for r in reps):
            raise ValueError(f"dose_claims: every replicate needs the same {knob} levels")
    bi, pal = reps[0]["body_identity"], reps[0]["palette"]
    prop = Dose([lv["level"] for lv in bi],
                [[r["body_identity"][i]["student+"] - r["body_identity"][i]["student-"] for r in reps]
                 for i in range(len(bi))], knob="body_identity (body traits' spread, 1 = earlier studies)",
                paper_level=study_body_identity)
    shares = [float(np.mean([r["palette"][i]["premise"]["shared_pattern_share"] for r in reps]))
              for i in range(len(pal))]
    order = sorted(range(len(pal)), key=lambda i: shares[i])  # fewer colours, more sharing: ascending share
    csa = Dose([shares[i] for i in order],
               [[r["palette"][i]["G+CSA"] - r["palette"][i]["G"] for r in reps] for i in order],
               knob="pairs of people sharing an outfit colour pattern (share)", paper_level=STUDY_SHARE)
    return [trend("the propagation gain falls as the body carries more identity", prop, op="<",
                  margin=MARGIN_PROPAGATION / 1.0, statistic="slope of mAP5 - mAP4 per unit of body_identity [points]",
                  paper="face propagation helps where the face carries identity (Sec. 2.3; no trend in the paper)",
                  models=_checks(reps, "body_identity", _FACE, "body_identity", MARGIN_PROPAGATION)),
            trend("the CSA gain grows with clothing confusability", csa, op=">", margin=MARGIN_CSA / STUDY_SHARE,
                  statistic="slope of mAP2 - mAP1 per unit of shared-outfit share [points]",
                  paper="CSA suppresses misleading clothes (Sec. 2.2; no trend in the paper)",
                  models=_checks(reps, "palette", _BODY, "palette", MARGIN_CSA))]

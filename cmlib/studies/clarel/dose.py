"""Notebook 06: the dose-response of CLAREL's key novelty (issue 32, item 4).

The paper's headline is that per-image text supervision beats class-only supervision (abstract, Section 1). Its
mechanism is that an image's own sentences state attributes its class profile does not: an image whose wing is
brown in a mostly-grey species. The world lets us vary that phenomenon and ask *when* the gain holds. The knob scales
the within-class attribute variation (:func:`cmlib.data.worlds.clarel.with_variation`: 0 = every image shows its
class's mode, so per-image and class-level text state the same values; 1 = the study world); everything else (the
classes, the splits, every random draw) stays the same across levels. Its strength is *measured* at each level as
the premise of notebook 04, the share of (image, attribute group) pairs off the class profile on the training images
(``off_mode_share``), and that measured share is the dose axis, with the real CUB share (0.399) marked
(the notebook draws it with :func:`cmlib.execution.claim_plots.plot_dose`).

Per replicate and level, the main setting (lambda = kappa = 0.5) is trained with three texts under the full protocol
(:func:`cmlib.studies.clarel.runs.evaluate_setting`: alpha* on the validation stage, the test stage read once):
per-image text, class-level text (ten sentences per class, shared by its images) and the *profile* control (ten
sentences per image, as many distinct sentences as per-image text, drawn from the class's mode: what per-image text
would say if the image were its class's profile). At scale 1.0 the first two are notebook 04's models (the run
cache shares them). The control splits the key novelty's gain in two:

* **content** = per-image - profile: what the image's own attributes add, the paper's mechanism. At scale 0 the two
  texts are drawn from one distribution (every image shows its class's mode), so it must vanish there.
* **diversity** = profile - class-level: what more distinct sentences per class add, with the same content. The
  first study run (fcc0d4d) found per-image text +26 H over class-level text at scale 0, where no image differs
  from its class: a gain the paper's mechanism cannot explain, which this control names.

Claims (margins fixed before the run, on the scale of the key novelty's own margins, notebook 04), on GZSL H and on
ZSL top-1, for the total gain (per-image - class-level, the paper's comparison) and for its content part:

* **the gain grows with the variation** (:func:`cmlib.protocol.claims.trend`): the per-replicate least-squares slope
  of the gain against the measured off-mode share, > 0. Margin: the key novelty's margin (H 0.45, ZSL 1.425 points)
  spread over the study world's share (0.17, issue 32's measurement: 0.167-0.180), i.e. a slope whose total effect
  across the study world's variation stays below the margin is of no interest: 0.45 / 0.17 = 2.6 H and
  1.425 / 0.17 = 8.4 ZSL points per unit of share.
* **no variation, no gain**: at scale 0 the gain is within +-margin of 0 (an equivalence test, ``op="~"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmlib.data.worlds.clarel import make_world, text_information
from cmlib.protocol.claims import Claim, Dose, trend
from cmlib.protocol.run import replicate_config
from cmlib.studies.clarel.config import Config
from cmlib.studies.clarel.data import build_data
from cmlib.studies.clarel.runs import evaluate_setting, sealed_test
from cmlib.studies.clarel.study import DOSE_TEXTS, variation_config
from cmlib.studies.clarel.tables import OFF_MODE_CUB, model_gate

__all__ = ["GAINS", "MARGIN_H", "MARGIN_ZSL", "STUDY_SHARE", "dose_claims", "dose_replicate", "dose_rows"]

#: the key novelty's margins (notebook 04: a quarter of the paper's lead over the best class-level method)
MARGIN_H, MARGIN_ZSL = (55.8 - 54.0) / 4, (66.7 - 61.0) / 4
#: the study world's off-mode share (issue 32: 0.167-0.180 over the study replicates), fixed before the run
STUDY_SHARE = 0.17


def dose_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """One replicate of notebook 06: at each ``cfg.variation_levels`` scale, the off-mode share of the training
    images and the main setting's full protocol with each text of :data:`~cmlib.studies.clarel.study.DOSE_TEXTS`.

    Returns:
        ``{"seed", "levels": [{"scale", "off_mode_share", "image": row, "class": row, "profile": row}, ...]}`` (rows of
        :func:`evaluate_setting`: u, s, H, zsl, ..., curve). With real data (``cfg.data`` not "world") there is
        no variation to scale: ``levels`` is empty and nothing is trained (the notebook's tables and claims are
        empty).
    """
    rcfg = replicate_config(cfg, seed)
    levels: list[dict[str, Any]] = []
    if rcfg.data != "world":
        return {"seed": seed, "levels": levels}
    for scale in rcfg.variation_levels:
        rows = {}
        for text in DOSE_TEXTS:
            tcfg = variation_config(rcfg, float(scale), text)
            data = build_data(tcfg)
            rows[text] = evaluate_setting(tcfg, data, seed, tcfg.lam, tcfg.kappa,
                                          test=sealed_test(tcfg, data, seed, tcfg.lam, tcfg.kappa))
        world = make_world(variation_config(rcfg, float(scale)).world)
        share = text_information(world, world.splits["trainval"])["off_mode_share"]
        levels.append({"scale": float(scale), "off_mode_share": share, **rows})
    return {"seed": seed, "levels": levels}


#: the gains notebook 06 reads: name -> (minuend text, subtrahend text)
GAINS = {"total": ("image", "class"), "content": ("image", "profile"), "diversity": ("profile", "class")}


def dose_rows(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per (replicate, level): scale, off-mode share, H and ZSL of the three texts and the gains of
    :data:`GAINS` (points): ``dH`` (total), ``dH content``, ``dH diversity`` and the same for ZSL."""
    out = []
    for r in reps:
        for lv in r["levels"]:
            row: dict[str, Any] = {"seed": r["seed"], "scale": lv["scale"], "off_mode_share": lv["off_mode_share"]}
            for key, name in (("H", "H"), ("zsl", "ZSL")):
                row.update({f"{name} {text}": lv[text][key] for text in DOSE_TEXTS})
                for gain, (a, b) in GAINS.items():
                    row[f"d{name}" + ("" if gain == "total" else f" {gain}")] = lv[a][key] - lv[b][key]
            out.append(row)
    return out


def _doses(reps: list[dict[str, Any]], a: str, b: str) -> dict[str, Dose]:
    """The H and ZSL :class:`Dose` of text ``a`` minus text ``b`` over the replicates: levels = the mean measured
    off-mode share per scale."""
    n = len(reps[0]["levels"])
    if any(len(r["levels"]) != n for r in reps):
        raise ValueError("dose_claims: every replicate needs the same variation levels")
    shares = [float(np.mean([r["levels"][i]["off_mode_share"] for r in reps])) for i in range(n)]
    out = {}
    for key in ("H", "zsl"):
        effects = [[r["levels"][i][a][key] - r["levels"][i][b][key] for r in reps] for i in range(n)]
        out[key] = Dose(shares, effects, knob="off-mode share of (image, attribute) pairs", paper_level=OFF_MODE_CUB)
    return out


def dose_claims(reps: list[dict[str, Any]]) -> list[Claim]:
    """Notebook 06's claims (module docstring): for the total gain (per-image - class-level) and its content part
    (per-image - profile), the trend with the variation and the equivalence to 0 at the lowest level, on H and
    ZSL top-1; every compared model at every level gated (chance, collapse, convergence)."""
    if not reps or not reps[0]["levels"]:
        return []  # real data: nothing was varied (dose_replicate)
    n = len(reps[0]["levels"])
    paper = "the gain comes from per-image text stating what the class profile cannot (abstract, Section 1)"
    names = {"image": "per-image", "class": "class-level", "profile": "profile"}
    claims: list[Claim] = []
    for gain, label in (("total", "per-image text gain"), ("content", "per-image text gain over profile text")):
        a, b = GAINS[gain]
        doses = _doses(reps, a, b)
        for key, margin, what, chance in (("H", MARGIN_H, "GZSL H", "H_chance"),
                                          ("zsl", MARGIN_ZSL, "ZSL top-1", "zsl_chance")):
            gates = {(i, t): model_gate(f"{names[t]} text, scale {reps[0]['levels'][i]['scale']:g} ({what})",
                                        [r["levels"][i][t] for r in reps], key, chance) for i in range(n) for t in (a, b)}
            statistic = f"{what}({names[a]}) - {what}({names[b]})"
            claims.append(trend(f"the {label} grows with within-class variation ({what})", doses[key],
                                margin=margin / STUDY_SHARE, statistic=f"slope of {statistic} per unit of "
                                "off-mode share [points]", paper=paper, models=list(gates.values())))
            low = reps[0]["levels"][0]
            claims.append(Claim(f"no within-class variation, no {label} ({what}, scale {low['scale']:g})",
                                [r["levels"][0][a][key] - r["levels"][0][b][key] for r in reps], "~", 0.0,
                                f"{statistic} at off-mode share {doses[key].levels[0]:.3f} [points]", paper,
                                [gates[(0, a)], gates[(0, b)]], margin=margin))
    return claims

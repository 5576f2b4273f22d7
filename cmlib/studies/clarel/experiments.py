"""One replicate of each CLAREL notebook: the functions ``cmlib.protocol.replicates.run_replicates`` calls, one per seed.

A replicate is an independent draw of everything random: the world (``world.seed + seed``: classes, instances,
images, sentences, splits; for cub100 the test_seen hold-out and the generated sentences), the validation hold-out,
the initialisation and the batch order (``seed``). Each function builds that replicate's data, trains (or loads
from the run cache, ``Config.cache_dir``) the models it needs and returns JSON-able rows; notebooks that need the
same model (01 and 04 the main setting, 03 and 04 the ablation settings) share it through the run cache.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cmlib.data.worlds.clarel import make_world, text_information
from cmlib.protocol.claims import curve_from_history
from cmlib.protocol.run import replicate_config
from cmlib.studies.clarel.config import Config
from cmlib.studies.clarel.data import build_data
from cmlib.studies.clarel.runs import evaluate_setting, sealed_test, trained_scores, validate_setting

__all__ = ["ABLATION", "ablation_replicate", "alpha_replicate", "gzsl_replicate", "sweep_replicate"]

# Table 3: (alpha validated?, lambda, kappa) of lines 1-6
ABLATION = [(False, 0.5, 0.5), (False, 0.5, 0.0), (True, 0.5, 0.0), (True, 0.0, 0.5), (True, 1.0, 0.5),
            (True, 0.5, 0.5)]


def gzsl_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """Notebook 01: the main setting (cfg.lam, cfg.kappa) under the full protocol (:func:`evaluate_setting`)."""
    rcfg = replicate_config(cfg, seed)
    return evaluate_setting(rcfg, build_data(rcfg), seed, rcfg.lam, rcfg.kappa)


def alpha_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """Notebook 02: u, s, H and P(predicted class is seen | unseen image) against alpha on the validation stage
    (the model alpha* is chosen on; the test split is not read)."""
    from cmlib.studies.clarel.explore import alpha_view

    rcfg = replicate_config(cfg, seed)
    scored = trained_scores(rcfg, lambda: build_data(rcfg), "val", seed, rcfg.lam, rcfg.kappa)
    views = [alpha_view(scored, a) for a in rcfg.alphas]
    return {"seed": seed, "alphas": list(rcfg.alphas), "H": [v.h for v in views], "u": [v.u for v in views],
            "s": [v.s for v in views], "p_seen_given_unseen": [100 * v.p_seen_given_unseen for v in views],
            "H_chance": 100.0 / scored.distances.shape[1], "curve": curve_from_history(scored.history)}


def sweep_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """Notebook 03 / Figures 3-4: the validation stage (:func:`validate_setting`: alpha* and u, s, H on the
    validation split) over ``cfg.lambdas`` (kappa = cfg.kappa) and ``cfg.kappas`` (lambda = cfg.lam). The paper does
    not name the split of Figs. 3-4; reading them on validation trains one model per point instead of two and leaves
    the test split to Tables 1-3 (notebooks 01 and 04)."""
    rcfg = replicate_config(cfg, seed)
    data = build_data(rcfg)
    return {"seed": seed,
            "lambda": [validate_setting(rcfg, data, seed, v, rcfg.kappa) for v in rcfg.lambdas],
            "kappa": [validate_setting(rcfg, data, seed, rcfg.lam, v) for v in rcfg.kappas]}


def ablation_replicate(cfg: Config, seed: int) -> dict[str, Any]:
    """Notebook 04: Table 3's six lines, and (``cfg.class_text``, world data) the main setting trained and scored
    with class-level text against per-image text, with the world's :func:`text_information` measured on the
    replicate's training images (``trainval``: what the compared test-stage models train on).

    Each trained setting's test stage is evaluated once (one :func:`sealed_test` view per setting): lines 1 and 6
    (alpha 0 / alpha*) come from one evaluation of (0.5, 0.5), lines 2 and 3 from one of (0.5, 0), and the
    per-image text row is that same (0.5, 0.5) evaluation, not a second reading of its test split."""
    rcfg = replicate_config(cfg, seed)
    data = build_data(rcfg)
    evaluated: dict[tuple[float, float], dict[str, Any]] = {}
    for lam, kappa in dict.fromkeys((lam, kappa) for _, lam, kappa in ABLATION):
        evaluated[(lam, kappa)] = evaluate_setting(rcfg, data, seed, lam, kappa,
                                                   test=sealed_test(rcfg, data, seed, lam, kappa))
    lines = []
    for line, (use_alpha, lam, kappa) in enumerate(ABLATION, start=1):
        r = evaluated[(lam, kappa)]
        k = "" if use_alpha else "0"
        lines.append({"line": line, "alpha": "validated" if use_alpha else "0", "lambda": lam, "kappa": kappa,
                      "seed": seed, "u": r["u" + k], "s": r["s" + k], "H": r["H" + k], "H_chance": r["H_chance"],
                      "top_share": r["top_share"], "curve": r["curve"]})
    out: dict[str, Any] = {"seed": seed, "lines": lines}
    if rcfg.class_text and rcfg.data == "world":
        ccfg = dataclasses.replace(rcfg, world=dataclasses.replace(rcfg.world, text_level="class"))
        cdata = build_data(ccfg)
        per_class = evaluate_setting(ccfg, cdata, seed, rcfg.lam, rcfg.kappa,
                                     test=sealed_test(ccfg, cdata, seed, rcfg.lam, rcfg.kappa))
        out["text"] = [{"text": "per-image", **evaluated[(rcfg.lam, rcfg.kappa)]}, {"text": "class-level", **per_class}]
        world = make_world(rcfg.world)
        out["text_information"] = text_information(world, world.splits["trainval"])
    return out

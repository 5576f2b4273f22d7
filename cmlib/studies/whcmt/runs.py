"""WHCMT training runs: model construction, one run per (method, bits, lambdas, seed) with its cache, MAP@K."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cmlib.data import mirflickr, nuswide
from cmlib.data.worlds import whcmt as world_lib
from cmlib.losses.hashing import WeakTagHashLoss
from cmlib.metrics.hashing import mean_average_precision, pr_curve, precision_recall_radius
from cmlib.models.hashing_baselines import UNSUPERVISED, WDHT, AlexNetFc7, CrossViTFeatures, SmallAlexNet, ViTFeatures
from cmlib.models.whcmt import (
    ONES_ID,
    PAD_ID,
    WHCMT,
    WeakHashModel,
    check_weights_file,
    init_layers,
    load_state_file,
    retrieval_tag_ids,
    unit_variance_init,
)
from cmlib.protocol.cache import load as load_cached
from cmlib.protocol.cache import save_atomic, source_text
from cmlib.protocol.claims import curve_from_history
from cmlib.protocol.config import to_dict
from cmlib.protocol.engine import epoch_batches, fit, on_cpu, seed_everything, to_model_device
from cmlib.protocol.run import cache_key
from cmlib.studies.whcmt.config import DIAGNOSTIC_METHODS, METHODS, TABLE3, Config
from cmlib.studies.whcmt.data import WhcmtData, map_topk, to_input, unsupervised_features


def build_model(method: str, bits: int, data: WhcmtData, cfg: Config) -> WeakHashModel:
    """One of ``METHODS`` for ``bits``-bit codes over ``data``'s tag table."""
    if method in ("WHCMT", "WHCMT-meanvec", "WHCMT-paper", "WHCMT-notags"):
        return WHCMT(cfg.visual, data.tag_table, bits, cfg.hidden, cfg.tag_depth, cfg.tag_heads, cfg.cm_heads,
                     tag_target="mean" if method == "WHCMT-meanvec" else "cls")
    if method == "WDHT-CrossViT":
        backbone = CrossViTFeatures(cfg.visual)
    elif method == "WDHT-ViT":
        backbone = ViTFeatures(cfg.vit)
    elif method == "WDHT-CNN":
        backbone = (AlexNetFc7(None if cfg.cnn_weights is None else str(cfg.cnn_weights)) if cfg.cnn == "alexnet"
                    else small_cnn(cfg))
    else:
        raise ValueError(f"method: expected one of {METHODS + DIAGNOSTIC_METHODS}, got {method!r}")
    return WDHT(backbone, data.tag_table, bits, cfg.hidden)


def small_cnn(cfg: Config) -> SmallAlexNet:
    """The AlexNet-shaped CPU CNN, weights from ``cfg.cnn_weights`` when set (e.g. the pretraining stage's file)."""
    net = SmallAlexNet(cfg.world.image_size)
    weights = check_weights_file("cnn_weights", cfg.cnn_weights, "a SmallAlexNet state_dict (cnn: small)")
    if weights is not None:
        load_state_file(net, "cnn_weights", weights)
    return net


def chance_map(data: WhcmtData, cfg: Config, draws: int = 5) -> float:
    """MAP@K of a random ranking: mean over ``draws`` random permutations of the database, each ranked as one code
    for every image (ties fall back to database order, so the ranking is the permutation). The chance level of the
    gate (``cmlib.protocol.claims.ModelCheck``); it is also what a collapsed model scores, up to the order of the database."""
    q, d = data.query, data.database
    zeros_q, zeros_d = np.zeros((len(q), 8), dtype=bool), np.zeros((len(d), 8), dtype=bool)
    k = map_topk(cfg, len(d))
    gen = np.random.default_rng([int(cfg.world.seed), 9])
    return float(np.mean([mean_average_precision(zeros_q, zeros_d, data.labels[q], data.labels[d][gen.permutation(
        len(d))], topk=k, convention="wsdhq").map for _ in range(draws)]))


def code_stats(codes: np.ndarray, collapse_share: float) -> dict[str, float | int | bool]:
    """Bit balance, distinct codes and the largest code bucket of database codes (N, b) bool.

    Returns:
        ``bit_balance`` (mean |P(bit = 1) - 0.5| over bits: 0 = balanced, 0.5 = constant bits), ``n_distinct_codes``,
        ``top_code_share`` (fraction of the database on its most frequent code) and ``collapsed`` (that share is at
        least ``collapse_share``: Hamming ranking then orders most of the database by index alone).
    """
    _, counts = np.unique(np.packbits(codes, axis=1), axis=0, return_counts=True)
    top = float(counts.max() / len(codes))
    return {"bit_balance": float(np.abs(codes.mean(axis=0) - 0.5).mean()), "n_distinct_codes": int(len(counts)),
            "top_code_share": top, "collapsed": bool(top >= collapse_share)}


@torch.no_grad()
def activations(model: WeakHashModel, images: np.ndarray, idx: np.ndarray, bits: int, batch: int = 250
                ) -> np.ndarray:
    """Sigmoid code activations h (len(idx), bits) in (0, 1), from images alone (tags = the all-ones token): the
    retrieval codes are ``h > 0.5`` (``WeakHashModel.encode``, the same forward pass).

    Raises:
        ValueError: the model was built for another code length than ``bits`` (naming both).
    """
    if bits != model.bits:
        raise ValueError(f"{type(model).__name__}.encode: model was built for {model.bits}-bit codes, asked for {bits} "
                         f"bits; train a model with bits={bits}")
    model.eval()
    out = [on_cpu(model(*to_model_device(model, (x, retrieval_tag_ids(len(x)))))["h"])
           for x in (to_input(torch.from_numpy(images[idx[i:i + batch]])) for i in range(0, len(idx), batch))]
    return torch.cat(out).numpy()


def encode(model: WeakHashModel, images: np.ndarray, idx: np.ndarray, bits: int, batch: int = 250) -> np.ndarray:
    """Retrieval codes (len(idx), bits) as bool, from images alone (tags = the all-ones token): :func:`activations`
    above 0.5.

    Raises:
        ValueError: the model was built for another code length than ``bits`` (naming both).
    """
    return activations(model, images, idx, bits, batch) > 0.5


def saturation(h: np.ndarray) -> float:
    """Mean |h - 0.5| of sigmoid code activations h (N, b) (issue 30 item 4): 0 = every activation at the decision
    boundary 0.5 (codes flip with any noise), 0.5 = every activation at 0 or 1 (saturated; eq. 4's quantisation
    loss pushes towards it, and a saturated sigmoid passes no gradient)."""
    return float(np.abs(np.asarray(h, dtype=np.float64) - 0.5).mean())


def validation_map(model: WeakHashModel, data: WhcmtData, cfg: Config, bits: int) -> float:
    """MAP@K of the image-only ``bits``-bit codes of the validation queries against the validation database
    (``data.val_query`` / ``data.val_database``, disjoint from the test split; K scaled to the validation database):
    one point of a run's validation curve, the convergence gate's input (issue 30 item 4).

    Raises:
        ValueError: the data has no validation split, or the model was built for another code length.
    """
    if len(data.val_query) == 0 or len(data.val_database) == 0:
        raise ValueError("validation_map: no validation split; set world.n_val_query and world.n_val_database")
    q = encode(model, data.images, data.val_query, bits)
    d = encode(model, data.images, data.val_database, bits)
    return mean_average_precision(q, d, data.labels[data.val_query], data.labels[data.val_database],
                                  topk=map_topk(cfg, len(data.val_database)), convention="wsdhq").map


def curve_every(cfg: Config, data: WhcmtData) -> int:
    """Steps between two points of a run's validation curve: ``max(1, steps // curve_points)``, 0 (no curve) when
    ``cfg.curve_points`` is 0 or ``data`` has no validation split."""
    if not cfg.curve_points or len(data.val_query) == 0 or len(data.val_database) == 0:
        return 0
    return max(1, cfg.steps // cfg.curve_points)


def evaluate_map(model: WeakHashModel, data: WhcmtData, cfg: Config, bits: int) -> dict[str, float]:
    """MAP@K of the model's ``bits``-bit codes: query vs database, relevance = shared label (WSDHQ convention), with
    the gate's numbers (chance MAP@K, :func:`code_stats`), the database codes' :func:`saturation`, precision / recall within Hamming radius 2 and the
    precision-recall curve over radii 0..b.

    Raises:
        ValueError: the model was built for another code length than ``bits``.
    """
    q = encode(model, data.images, data.query, bits)
    d_h = activations(model, data.images, data.database, bits)
    d = d_h > 0.5
    ql, dl = data.labels[data.query], data.labels[data.database]
    res = mean_average_precision(q, d, ql, dl, topk=map_topk(cfg, len(data.database)), convention="wsdhq")
    p_r2, r_r2 = precision_recall_radius(q, d, ql, dl, radius=min(2, bits))
    prec, rec = pr_curve(q, d, ql, dl)
    out = {"map": res.map, "n_scored": res.n_scored, "n_dropped": res.n_dropped, "chance": chance_map(data, cfg),
           **code_stats(d, cfg.collapse_share), "saturation": saturation(d_h), "precision_r2": p_r2, "recall_r2": r_r2,
           "pr_precision": prec.tolist(), "pr_recall": rec.tolist()}
    if isinstance(model, WHCMT):  # diagnostic outside the paper's protocol: codes computed with each image's tags
        q_t, d_t = (_codes_with_tags(model, data, s) for s in (data.query, data.database))
        out["map_with_own_tags"] = mean_average_precision(
            q_t, d_t, data.labels[data.query], data.labels[data.database],
            topk=map_topk(cfg, len(data.database))).map
    return out


@torch.no_grad()
def _codes_with_tags(model: WHCMT, data: WhcmtData, idx: np.ndarray, batch: int = 250) -> np.ndarray:
    """Codes (len(idx), b) from images *and their tags* (not the retrieval protocol; a diagnostic only)."""
    model.eval()
    out = [on_cpu(model(*to_model_device(model, (to_input(torch.from_numpy(data.images[idx[i:i + batch]])),
                                                  data.tag_ids[idx[i:i + batch]])))["h"]) > 0.5
           for i in range(0, len(idx), batch)]
    return torch.cat(out).numpy()  # code length already checked by encode() in evaluate_map


def method_config(cfg: Config, method: str) -> Config:
    """``cfg`` as ``method`` trains under it: its ``steps`` from ``cfg.method_steps`` when set there (issue 30 item 4:
    a model still improving at the common length trains longer). ``method_steps`` itself is left out of the run key
    (:func:`_run_key`), so a method without an override keeps the key it had before any override existed."""
    if method not in cfg.method_steps:
        return cfg
    return dataclasses.replace(cfg, steps=cfg.method_steps[method])


def _run_key(method: str, bits: int, lambdas: tuple, seed: int, cfg: Config) -> str:
    skip = {"method_steps", "bits", "run", "collapse_share", "diagnostics", "unsupervised", "n_attention_images", "drop_threshold",
            "little_threshold", "lambdas", "unsup_pool", "unsup_features", "unsup_backbone", "unsup_backbone_weights"}
    conf = {k: v for k, v in to_dict(cfg).items() if k not in skip}
    src = source_text(world_lib, mirflickr, nuswide, *(importlib.import_module(m) for m in (
        "cmlib.models.whcmt", "cmlib.models.hashing_baselines", "cmlib.losses.hashing", "cmlib.layers.attention",
        "cmlib.studies.whcmt.data")), sys.modules[__name__])
    return f"{method}-{bits}b-{cache_key(cfg, method, bits, list(lambdas), seed, conf, src)}"


def train_run(method: str, bits: int, data: WhcmtData, cfg: Config, *, seed: int = 0,
              lambdas: tuple[float, float, float] | None = None, verbose: bool = True
              ) -> tuple[dict, WeakHashModel]:
    """Train one method with the three losses (eqs. 2-4) and evaluate MAP@K; reuses ``cfg.run.cache_dir`` when set.

    Returns:
        (row with method, bits, seed, lambdas, map, n_scored, bit_balance, final_loss, train_s, s_per_step, cached;
        the trained model).
    """
    lambdas = tuple(cfg.lambdas if lambdas is None else lambdas)
    cfg = method_config(cfg, method)
    seed_everything(seed)
    model = build_model(method, bits, data, cfg)
    key = _run_key(method, bits, lambdas, seed, cfg)
    cache = Path(cfg.run.cache_dir) if cfg.run.cache_dir is not None else None
    if cache is not None and (cache / f"{key}.pt").is_file():
        blob = load_cached(cache / f"{key}.pt")
        model.load_state_dict(blob["model"])
        row = {**json.loads(blob["row"]), "cached": True}
    else:
        row = _fit_and_eval(model, method, bits, lambdas, seed, data, cfg)
        if cache is not None:  # weights and their evaluation row in one atomic file
            save_atomic({"model": model.state_dict(), "row": json.dumps(row)}, cache / f"{key}.pt")
        row = {**row, "cached": False}
    if verbose:
        how = "reused from cache" if row["cached"] else f"trained in {row['train_s']:.1f}s"
        extra = f", with own tags {row['map_with_own_tags']:.3f}" if "map_with_own_tags" in row else ""
        print(f"{method:14s} {bits:2d} bits seed {seed} lambdas {lambdas}: MAP@K {row['map']:.3f}{extra}, bit "
              f"balance {row['bit_balance']:.2f} ({how}, {row['s_per_step']:.3f} s/step)")
    return row, model


def _fit_and_eval(model: WeakHashModel, method: str, bits: int, lambdas: tuple, seed: int, data: WhcmtData,
                  cfg: Config, eval_every: int | None = None) -> dict:
    """Train with eqs. (2)-(4) and evaluate on ``data``'s query / database. The row's ``curve`` = [(step, validation
    MAP@K)] (:func:`validation_map`) every ``eval_every`` steps (None: :func:`curve_every`; tuning passes its own
    grid step and a validation view, whose query / database are the validation split too); empty without one."""
    criterion = WeakTagHashLoss(lambdas, cfg.margin, cfg.loss_reduction, detach_targets=not cfg.tag_target_grad)
    train = torch.utils.data.TensorDataset(torch.from_numpy(data.images[data.train]), data.tag_ids[data.train])
    batches = epoch_batches(train, min(cfg.batch_size, len(train)), seed=seed, num_workers=cfg.run.device.num_workers)

    drop_gen = torch.Generator().manual_seed(int(seed))
    # the paper trains every image with its tags; WHCMT-notags none (its cross-modal branch sees only the ones token)
    tag_dropout = {"WHCMT-paper": 0.0, "WHCMT-notags": 1.0}.get(method, cfg.tag_dropout)

    def loss_fn(net: torch.nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        tags = batch[1]
        if tag_dropout > 0 and isinstance(model, WHCMT):  # retrieval view: input = all-ones token, target = tags
            drop = torch.rand(len(tags), generator=drop_gen) < tag_dropout
            inputs = tags.clone()
            inputs[drop] = PAD_ID
            inputs[drop, 0] = ONES_ID
            out = net(to_input(batch[0]), inputs, tags)
        else:
            out = net(to_input(batch[0]), tags)
        return criterion(out["h"], out["r"], out["t_cls"])

    if cfg.unit_variance_init:
        first = next(iter(batches(0)))
        unit_variance_init(model, init_layers(model, include_cnn=cfg.cnn_weights is None), to_input(first[0]), first[1])
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    every = curve_every(cfg, data) if eval_every is None else eval_every
    fit_cfg = cfg.run.fit_config(max_steps=cfg.steps, seed=seed, log_every=max(1, cfg.steps // 10),
                                 grad_clip=cfg.grad_clip, eval_every=every)
    eval_fn = (lambda net: {"score": validation_map(model, data, cfg, bits)}) if every else None
    res = fit(model, opt, loss_fn, batches, fit_cfg, eval_fn=eval_fn)
    metrics = evaluate_map(model, data, cfg, bits)
    last = next(h for h in reversed(res.history) if "loss" in h)
    return {"method": method, "bits": bits, "seed": seed, "lambdas": list(lambdas), **metrics,
            "final_loss": last["loss"], "final_terms": {k: float(v) for k, v in last.items() if k not in ("step", "loss")},
            "train_s": round(res.wall_time_s, 2), "s_per_step": round(res.wall_time_s / max(1, res.final_step), 4),
            "curve": curve_from_history(res.history) if every else []}


def unsupervised_rows(data: WhcmtData, cfg: Config) -> list[dict]:
    """Table 2's unsupervised baselines: fit on database features, MAP@K per method, bit length and seed, with the
    same gate numbers as a deep run (:func:`evaluate_map`): ``chance`` (:func:`chance_map`) and :func:`code_stats` of
    the database codes, so a claim against an unsupervised baseline is ``invalid`` when that baseline is at chance or
    collapsed (``cmlib.protocol.claims.ModelCheck``)."""
    feats = unsupervised_features(data, cfg)
    k = map_topk(cfg, len(data.database))
    chance = chance_map(data, cfg)
    rows = []
    for name in cfg.unsupervised:
        for bits in cfg.bits:
            for seed in cfg.run.seeds:
                kw = {} if name == "SH" else {"seed": seed}
                m = UNSUPERVISED[name](bits, **kw).fit(feats[data.database])
                db_codes = m.encode(feats[data.database])
                res = mean_average_precision(m.encode(feats[data.query]), db_codes, data.labels[data.query],
                                             data.labels[data.database], topk=k, convention="wsdhq")
                rows.append({"method": name, "bits": bits, "seed": seed, "map": res.map, "chance": chance,
                             **code_stats(db_codes, cfg.collapse_share)})
    return rows


def deep_rows(methods: list[str], bits_list: list[int], data: WhcmtData, cfg: Config,
              lambdas: tuple[float, float, float] | None = None) -> list[dict]:
    """Train every (method, bits, seed) and return one row each (printing each run's wall time)."""
    rows = []
    for method in methods:
        for bits in bits_list:
            for seed in cfg.run.seeds:
                rows.append(train_run(method, bits, data, cfg, seed=seed, lambdas=lambdas)[0])
    return rows


def table3_rows(data: WhcmtData, cfg: Config, bits: int = 8) -> list[dict]:
    """Table 3: WHCMT at ``bits`` for the five lambda settings (setting 1 = the paper's default)."""
    rows = []
    for i, lam in enumerate(TABLE3, start=1):
        for seed in cfg.run.seeds:
            row, _ = train_run("WHCMT", bits, data, cfg, seed=seed, lambdas=lam)
            rows.append({**row, "setting": i, "weights": f"l1={lam[0]:g}, l2={lam[1]:g}, l3={lam[2]:g}"})
    return rows


def literal_sum_row(data: WhcmtData, cfg: Config, bits: int = 8) -> dict:
    """Setting 1 of Table 3 trained with the paper's literal sums (``loss_reduction="sum"``, gradient norm clipped at
    ``cfg.sum_grad_clip``), first seed."""

    row, _ = train_run("WHCMT", bits, data, dataclasses.replace(cfg, loss_reduction="sum", grad_clip=cfg.sum_grad_clip), seed=cfg.run.seeds[0],
                       lambdas=TABLE3[0])
    return {**row, "setting": "1 (literal sums)", "weights": "l1=1, l2=10, l3=1"}

"""DeSKPro diagnosis probes (not a test): why the body streams stay near chance, on seed 0's validation split.

The numbers they printed on 2026-12-01 are in params/deskpro/study.yaml (the lr / schedule choice and the diagnosis).

    .venv/bin/python benchmarks/deskpro_probe.py ceiling                 # hand-measured cues with GT parsing
    .venv/bin/python benchmarks/deskpro_probe.py stream "{lr: 0.002, body_steps: 160}"
    .venv/bin/python benchmarks/deskpro_probe.py stream "{stream: student-, face_steps: 160}"
    .venv/bin/python benchmarks/deskpro_probe.py stream "{grey: cloth, body_steps: 160}"   # clothing pixels greyed
    .venv/bin/python benchmarks/deskpro_probe.py classifier              # plain OSNet + linear CE speed
    .venv/bin/python benchmarks/deskpro_probe.py pool "{images_per_id: 12, steps: 300, lr: 0.002}"  # stand-in CE
    .venv/bin/python benchmarks/deskpro_probe.py stream "{model: {pretrained: standin}, pretrain_images_per_id: 12}"
    .venv/bin/python benchmarks/deskpro_probe.py schedule "{seeds: [0, 2, 4], body_steps: [160, 240]}"  # per core
    .venv/bin/python benchmarks/deskpro_probe.py schedule-read a.log b.log   # the rule of tuning.yaml on its lines
    .venv/bin/python benchmarks/deskpro_probe.py batch-read base*.log -- cand*.log   # the batch rule (tuning.yaml)

``stream`` trains one stream of cmlib.studies.deskpro.STREAMS with the study params plus YAML overrides (nested
dicts merge) and prints its validation curve; it caches under build/probe/cache (the key does not include ``grey``,
so clear that folder between a greyed and a plain run of the same settings). ``model.pretrained`` defaults to
PRETRAINED, the OSNet stand-in file the first probes used (the smoke profile's; pass ``{model: {pretrained: none}}``
for a random start, ``{model: {pretrained: standin}}`` for the stand-in the study params (plus overrides) pretrain,
kept in the study's pretrain_dir). Run with one thread (``taskset -c N``).
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from pathlib import Path

import torch
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cmlib.protocol.config import from_params
from cmlib.studies import deskpro
from cmlib.studies.deskpro.data import build_world
from cmlib.studies.deskpro.evaluation import chance_level, evaluate
from cmlib.studies.deskpro.priors import OSNetFeatures, normalise, train_restorer
from cmlib.studies.deskpro.streams import train_stream

PRETRAINED = ".cache/deskpro/pretrain/osnet-6643acee5b71f140.pth"
CLOTH = torch.tensor([4, 5, 6, 7])


def study_config(overrides: dict) -> deskpro.Config:
    """The study params with ``overrides`` merged (one level of nested dicts)."""
    p = yaml.safe_load((ROOT / "params/deskpro/study.yaml").read_text())
    for k, v in overrides.items():
        p[k] = {**p[k], **v} if isinstance(v, dict) and isinstance(p.get(k), dict) else v
    model = p.setdefault("model", {})
    model.setdefault("pretrained", PRETRAINED)
    if model["pretrained"] == "none":
        model["pretrained"], p["pretrain_ids"] = None, 0
    standin = model["pretrained"] == "standin"
    if standin:  # the study's own stand-in recipe (trained once into the study's pretrain_dir, then reused)
        model["pretrained"] = None
    p["run"] = {**p.get("run", {}), "cache_dir": "build/probe/cache"}
    cfg = from_params(deskpro.Config, p)
    if standin:
        cfg, info = deskpro.with_pretrained_osnet(cfg)
        print("stand-in", info, flush=True)
    return cfg


def cue_features(d, which: str) -> torch.Tensor:
    """(N, F) hand-measured cues with the ground-truth parsing: mean RGB of hair / face / skin ('col'), their pixel
    counts ('cnt'), person height in rows and widest torso row ('shape')."""
    img, lab = d.images.float(), d.parsing.long()
    out = []
    for label in (1, 2, 3):
        m = (lab == label).float()[:, None]
        n = m.sum((1, 2, 3)).clamp(min=1)
        if "col" in which:
            out.append((img * m).sum((2, 3)) / n[:, None] / 50)
        if "cnt" in which:
            out.append((n / 20)[:, None])
    if "shape" in which:
        out += [(lab > 0).any(2).float().sum(1)[:, None] / 5, (lab == 4).float().sum(2).max(1).values[:, None] / 2]
    return torch.cat(out, 1)


def ceiling() -> None:
    """Validation and Celeb-light test scores of the hand-measured cues (standardised on the validation gallery)."""
    world = build_world(study_config({}), 0)
    gen = lambda: torch.Generator().manual_seed(0)
    for which in ("col", "col cnt", "col cnt shape", "shape", "cnt"):
        fg = cue_features(world.val_gallery, which)
        mu, sd = fg.mean(0), fg.std(0) + 1e-6
        z = lambda d, which=which, mu=mu, sd=sd: (cue_features(d, which) - mu) / sd
        val = evaluate([z(world.val_query)], [z(world.val_gallery)], world.val_query, world.val_gallery,
                       "cloth_changing", gen())
        test = evaluate([z(world.celeb_query)], [z(world.celeb_gallery)], world.celeb_query, world.celeb_gallery,
                        "cloth_changing", gen())
        print(which, "val", {k: round(v, 2) for k, v in val.items()}, "test", {k: round(v, 2) for k, v in test.items()})
    print("chance val", chance_level(world.val_query, world.val_gallery, "cloth_changing"),
          "test", chance_level(world.celeb_query, world.celeb_gallery, "cloth_changing"))


def stream(overrides: dict) -> None:
    """Train one stream (``stream`` key, default G; ``seed``, default 0; ``grey``: cloth | all greys clothing (and
    background) pixels) and print its validation curve; faces restored by the study's restorer."""
    name, grey = overrides.pop("stream", "G"), overrides.pop("grey", None)
    seed = overrides.pop("seed", 0)
    cfg = study_config(overrides)
    restorer, _ = train_restorer(cfg)  # the teacher sees restored faces, as in the study (same cache key)
    world = build_world(cfg, seed, restorer)
    if grey:
        for k in ("train", "val_query", "val_gallery"):
            d = getattr(world, k)
            lab = d.parsing.long()
            m = torch.isin(lab, CLOTH) | ((lab == 0) if grey == "all" else torch.zeros_like(lab, dtype=torch.bool))
            setattr(world, k, dataclasses.replace(d, images=torch.where(m[:, None], torch.full_like(d.images, 128),
                                                                        d.images)))
    _, info = train_stream(cfg, world, name, seed)
    print(overrides, name, grey, "best", info["best_step"], round(info["val_mAP"], 2), "curve", info["val_curve"],
          "train_s", info["wall_time_s"], flush=True)


def schedule(overrides: dict) -> None:
    """Validation best step and mAP of every stream for each candidate ``body_steps`` / ``face_steps`` (lists), on
    the study's seeds (``seeds``), from the study's own stand-in recipe (trained once into build/probe/pretrain; run
    it alone first with ``{seeds: []}``) and restorer. Reads no test split. Prints one JSON line per training."""
    import json

    seeds = overrides.pop("seeds", [0])
    grid = {"body": overrides.pop("body_steps", [160]), "face": overrides.pop("face_steps", [80])}
    cfg = study_config({"model": {"pretrained": "standin"}, "pretrain_dir": "build/probe/pretrain", **overrides})
    restorer, _ = train_restorer(cfg)
    for seed in seeds:
        world = build_world(cfg, seed, restorer)
        for name, spec in deskpro.STREAMS.items():
            kind = "body" if spec.kind == "body" else "face"
            for steps in grid[kind]:
                run = dataclasses.replace(cfg, **{f"{kind}_steps": steps})
                info = train_stream(run, world, name, seed)[1]
                print(json.dumps({"seed": seed, "stream": name, "steps": steps, "best_step": info["best_step"],
                                  "val_mAP": round(info["val_mAP"], 2), "curve": info["val_curve"],
                                  "train_s": info["wall_time_s"]}), flush=True)


def schedule_tolerances() -> dict[str, float]:
    """The convergence gate's tolerance per stream kind, as the study's claims set it (the default margin of
    :meth:`cmlib.protocol.claims.Claim.effective_margin` on the claim's ``paper_effect``): body streams the L_att
    claim's (the smallest that gates a body stream), face streams the "nears the teacher" claim's."""
    from cmlib.protocol.claims import Claim
    from cmlib.studies.deskpro.tables import paper_ablation_effects

    e = paper_ablation_effects()
    margin = lambda key: Claim(key, [0.0], ">", 0.0, paper_effect=e[key]).effective_margin()
    return {"body": margin("3-2"), "face": margin("near")}


def schedule_read(paths: list[str]) -> None:
    """Apply the 128x64 schedule rule (params/deskpro/tuning.yaml) to the JSON lines ``schedule`` printed into the
    log files ``paths``: per stream and length, the seeds' mean validation curve's last-third gain against the gate's
    tolerance and the mean best validation mAP; per kind, the paired (by seed) gain of the longer candidate over the
    shorter against one standard error of it; then the rule's choice."""
    import numpy as np

    from cmlib.protocol.claims import last_third_gain

    runs = _load_runs(paths)
    tol = schedule_tolerances()
    for kind in ("body", "face"):
        names = [n for n, spec in deskpro.STREAMS.items() if (spec.kind == "body") == (kind == "body")]
        lengths = sorted({steps for (n, steps) in runs if n in names})
        passes = {}
        for steps in lengths:
            ok = True
            for n in names:
                by_seed = runs.get((n, steps), {})
                gain = last_third_gain([by_seed[s]["curve"] for s in sorted(by_seed)]) if by_seed else float("nan")
                best = np.mean([r["val_mAP"] for r in by_seed.values()]) if by_seed else float("nan")
                ok &= bool(gain < tol[kind])
                print(f"{kind} {steps:4d} {n:11s} seeds {sorted(by_seed)} gain {gain:+.2f} (tolerance {tol[kind]:.2f})"
                      f" mean best val mAP {best:.2f}")
            passes[steps] = ok
        choice = lengths[-1] if lengths else None
        for short, long in itertools.pairwise(lengths):
            plateau = True
            for n in names:
                a, b = runs.get((n, short), {}), runs.get((n, long), {})
                seeds = sorted(set(a) & set(b))
                d = np.asarray([b[s]["val_mAP"] - a[s]["val_mAP"] for s in seeds])
                se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
                plateau &= bool(d.mean() <= se)
                print(f"{kind} {n:11s} {long} - {short}: {d.mean():+.2f} (SE {se:.2f}, seeds {seeds})")
            if passes[short] and plateau:
                choice = short
                break
        print(f"{kind}: the rule takes {choice} steps (gate passed at each length: {passes})", flush=True)


def _load_runs(paths: list[str]) -> dict[tuple[str, int], dict[int, dict]]:
    """The JSON lines ``schedule`` printed into the log files ``paths``: {(stream, steps): {seed: line}}."""
    import json

    runs: dict[tuple[str, int], dict[int, dict]] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("{") and '"stream"' in line:
                r = json.loads(line)
                runs.setdefault((r["stream"], r["steps"]), {})[r["seed"]] = r
    return runs


def batch_read(base: list[str], cand: list[str], max_extra_gain: float = 0.5) -> None:
    """Apply the batch-shrink rule (params/deskpro/tuning.yaml, 22:29) to two sets of ``schedule`` logs: ``base``
    (the 5 x 6 batch) and ``cand`` (the smaller one), at each (stream, length) both ran on the same seeds: the paired
    cand - base best validation mAP against minus one standard error of it (a), and the mean curves' last-third gains,
    the candidate's at most ``max_extra_gain`` above the base's (b); then whether the rule takes the candidate."""
    import numpy as np

    from cmlib.protocol.claims import last_third_gain

    a, b = _load_runs(base), _load_runs(cand)
    common = sorted(set(a) & set(b))
    take = bool(common)  # nothing in common decides nothing
    for key in common:
        seeds = sorted(set(a[key]) & set(b[key]))
        d = np.asarray([b[key][s]["val_mAP"] - a[key][s]["val_mAP"] for s in seeds])
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
        ga, gb = (last_third_gain([runs[key][s]["curve"] for s in seeds]) for runs in (a, b))
        ok = bool(d.mean() >= -se) and bool(gb - ga <= max_extra_gain)
        take &= ok
        sa, sb = (np.mean([runs[key][s]["train_s"] for s in seeds]) for runs in (a, b))
        print(f"{key[0]:11s} {key[1]:4d} steps, seeds {seeds}: cand - base best val mAP {d.mean():+.2f} (SE {se:.2f}); "
              f"last-third gain base {ga:+.2f}, cand {gb:+.2f}; train_s {sa:.0f} -> {sb:.0f}: {'ok' if ok else 'FAILS'}")
    print(f"the rule {'takes the candidate batch' if take else 'keeps the base batch'}", flush=True)


def classifier(steps: int = 150, bs: int = 32) -> None:
    """Mean training CE per 25 steps of OSNetFeatures + Linear on the 100 training identities, three optimisers."""
    world = build_world(study_config({}), 0)
    x_all, y_all = world.train.images, torch.unique(world.train.pids, return_inverse=True)[1]
    n_cls = int(y_all.max()) + 1
    opts = {"adam2e-3": lambda p: torch.optim.Adam(p, 2e-3), "sgd0.05": lambda p: torch.optim.SGD(p, 0.05, momentum=0.9),
            "adam6e-4": lambda p: torch.optim.Adam(p, 6e-4)}
    for name, make in opts.items():
        torch.manual_seed(0)
        net = nn.Sequential(OSNetFeatures(0.25), nn.Linear(OSNetFeatures(0.25).out_dim, n_cls))
        opt, gen, hist, t0 = make(net.parameters()), torch.Generator().manual_seed(0), [], time.time()
        for _ in range(steps):
            idx = torch.randint(0, len(x_all), (bs,), generator=gen)
            loss = nn.functional.cross_entropy(net(normalise(x_all[idx])), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            hist.append(float(loss.detach()))
        print(name, [round(sum(hist[i:i + 25]) / 25, 2) for i in range(0, steps, 25)], f"{time.time() - t0:.0f} s")


def pool_classifier(overrides: dict) -> None:
    """Training CE per 50 steps and held-out accuracy of OSNetFeatures + Linear on the pretraining pool
    (``ids``, ``images_per_id`` (0: outfits kept), ``steps``, ``lr``, ``bs``, ``opt`` adam | sgd)."""
    from cmlib.data.worlds.deskpro import pretraining_pool

    o = {"ids": 200, "images_per_id": 12, "steps": 300, "lr": 2e-3, "bs": 64, "opt": "adam", **overrides}
    cfg = study_config({"world": o.pop("world", {})})
    pool = pretraining_pool(cfg.world, o["ids"], seed=0, images_per_id=o["images_per_id"])
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(pool), generator=gen)
    n_out = len(pool) // 5
    test, train = perm[:n_out], perm[n_out:]
    torch.manual_seed(0)
    net = nn.Sequential(OSNetFeatures(0.25), nn.Linear(OSNetFeatures(0.25).out_dim, o["ids"]))
    opt = (torch.optim.AdamW(net.parameters(), o["lr"], weight_decay=0.05) if o["opt"] == "adam"
           else torch.optim.SGD(net.parameters(), o["lr"], momentum=0.9, weight_decay=5e-4))
    t0 = time.time()
    hist, acc = _fit_classifier(net, opt, pool.images, pool.pids, train, test, o["steps"], o["bs"], gen)
    print(o, "CE/50", [round(sum(hist[i:i + 50]) / 50, 2) for i in range(0, o["steps"], 50)], "held-out acc",
          round(acc, 4), "chance", round(1 / o["ids"], 4), f"{time.time() - t0:.0f} s", flush=True)


def _fit_classifier(net: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                    train: torch.Tensor, test: torch.Tensor, steps: int, bs: int, gen: torch.Generator
                    ) -> tuple[list[float], float]:
    """Cross-entropy on random batches of ``bs`` of the ``train`` indices for ``steps`` steps; returns the loss per step
    and the accuracy on the ``test`` mask (the two probes' shared loop)."""
    hist = []
    for _ in range(steps):
        idx = train[torch.randint(0, len(train), (bs,), generator=gen)]
        loss = nn.functional.cross_entropy(net(normalise(images[idx])), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
    net.eval()
    with torch.no_grad():
        acc = float((net(normalise(images[test])).argmax(1) == labels[test]).float().mean())
    return hist, acc


def attribute_classifier(overrides: dict) -> None:
    """Like ``pool`` but the classes are coarse cloth-irrelevant attributes (hair palette x long hair x skin tercile,
    30 classes) and the held-out fifth is whole people: does OSNet learn head / skin cues at all in this budget?"""
    import numpy as np

    from cmlib.data.worlds import deskpro as w

    o = {"ids": 300, "images_per_id": 10, "steps": 300, "lr": 2e-3, "bs": 64, **overrides}
    cfg = study_config({"world": o.pop("world", {})})
    rng = np.random.default_rng(123)
    r = w._Renderer(cfg.world, rng)
    labels = []
    for pid in range(o["ids"]):
        ident = w._identity(rng)
        hair = int(np.argmin(((w._HAIR - ident["hair"]) ** 2).sum(1)))
        lab = hair * 6 + int(ident["long_hair"]) * 3 + min(int(ident["skin_t"] * 3), 2)
        for i in range(o["images_per_id"]):
            r.shot(pid, ident, w._outfit(rng), i, w._camera(rng, cfg.world), i)
            labels.append(lab)
    pool, y = r.take(), torch.tensor(labels)
    test = pool.pids >= int(o["ids"] * 0.8)
    train = torch.nonzero(~test).flatten()
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = nn.Sequential(OSNetFeatures(0.25), nn.Linear(OSNetFeatures(0.25).out_dim, 30))
    opt = torch.optim.AdamW(net.parameters(), o["lr"], weight_decay=0.05)
    t0 = time.time()
    hist, acc = _fit_classifier(net, opt, pool.images, y, train, test, o["steps"], o["bs"], gen)
    print(o, "CE/50", [round(sum(hist[i:i + 50]) / 50, 2) for i in range(0, o["steps"], 50)], "held-out-people acc",
          round(acc, 4), "majority", round(float(torch.bincount(y[test]).max()) / int(test.sum()), 4),
          f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    cmd = sys.argv[1] if len(sys.argv) > 1 else "ceiling"
    if cmd == "ceiling":
        ceiling()
    elif cmd == "stream":
        stream(yaml.safe_load(sys.argv[2]) if len(sys.argv) > 2 else {})
    elif cmd == "schedule":
        schedule(yaml.safe_load(sys.argv[2]) if len(sys.argv) > 2 else {})
    elif cmd == "schedule-read":
        schedule_read(sys.argv[2:])
    elif cmd == "batch-read":
        split = sys.argv.index("--")
        batch_read(sys.argv[2:split], sys.argv[split + 1:])
    elif cmd == "classifier":
        classifier()
    elif cmd == "attr":
        attribute_classifier(yaml.safe_load(sys.argv[2]) if len(sys.argv) > 2 else {})
    elif cmd == "pool":
        pool_classifier(yaml.safe_load(sys.argv[2]) if len(sys.argv) > 2 else {})
    else:
        raise SystemExit(f"unknown probe {cmd!r}; expected ceiling | stream | schedule | schedule-read | classifier | "
                         "attr | pool")

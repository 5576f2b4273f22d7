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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor

from cmlib.cache import load as load_cached
from cmlib.cache import save_atomic, stable_hash
from cmlib.config import ConfigError, check_range, path_field, to_dict
from cmlib.data import mirflickr
from cmlib.data.worlds import whcmt as world_lib
from cmlib.engine import FitConfig, epoch_batches, fit, seed_everything
from cmlib.losses.hashing import WeakTagHashLoss
from cmlib.metrics.hashing import mean_average_precision
from cmlib.models.hashing_baselines import (
    UNSUPERVISED,
    WDHT,
    AlexNetFc7,
    CrossViTFeatures,
    SmallAlexNet,
    ViTConfig,
    ViTFeatures,
)
from cmlib.models.whcmt import ONES_ID, PAD_ID, WHCMT, CrossVitConfig, WeakHashModel, init_layers, unit_variance_init
from cmlib.text import Vocabulary, load_word_vectors, train_word2vec

METHODS = ("WDHT-CNN", "WDHT-ViT", "WDHT-CrossViT", "WHCMT")
MIRFLICKR_DB = 22581
TABLE3 = ((1.0, 10.0, 1.0), (1.0, 1.0, 1.0), (1.0, 0.1, 1.0), (1.0, 10.0, 0.1), (1.0, 10.0, 10.0))


_MIRFLICKR_LAYOUT = ("<root>/all_imgs.txt, all_tags.txt, all_labels.txt (or vtmuch/...), optional "
                     "dreamupers/hash_split_for_flickr25k.json + allannots.txt")


@dataclass
class Config:
    """Everything a WHCMT notebook needs (defaults: the smoke profile, seconds on 2 CPU cores).

    Attributes:
        data: ``world`` (embedded default), ``mirflickr_tags`` (real MIRFLICKR tags and labels from ``data_root``,
            images rendered from the real labels) or ``mirflickr`` (real images under ``data_root``).
        data_root: MIRFLICKR-25K folder (cleaned all_*.txt files or the raw layout; split json optional).
        on_corrupt: ``fail`` or ``skip`` an unreadable image (real images only).
        max_database: Keep at most this many database images (real data), None = all.
        world: Synthetic world sizes and noise (also the image size / split sizes for ``mirflickr_tags``).
        word_vectors: Local word-vector file (word2vec .bin/.txt, GloVe .txt, pickled dict or the NUS-WIDE BiAM
            GloVe pickle with TagList1k.txt beside it); None = train word2vec (gensim) on the training tags.
        w2v_epochs: Epochs of that word2vec.
        w2v_corpus_sentences: World only: sentences of the world's text corpus (``text_corpus``) added to the
            training tags for word2vec, standing in for the paper's Wikipedia-pretrained word2vec; 0 = tags only.
        center_word_vectors: Subtract the vocabulary mean from the tag vectors (our choice: word2vec trained on a
            small corpus puts every vector along one common direction, all cosines ~0.99, which would make the
            targets of eq. (2) constant; pretrained vectors have mean cosine near 0).
        tag_min_count: Training-tag frequency needed to enter the vocabulary.
        max_tags: Tags per image kept (in the given order).
        visual: CrossViT backbone (WHCMT and WDHT-CrossViT).
        vit: ViT backbone (WDHT-ViT).
        cnn: ``small`` (AlexNet-shaped CNN for small images) or ``alexnet`` (torchvision, ``cnn_weights`` file).
        cnn_weights: Local AlexNet state_dict for ``cnn: alexnet``.
        hidden: Width of FC1 / FC2.
        tag_depth: Tag transformer blocks.
        tag_heads: Tag transformer heads (divide the word-vector size).
        cm_heads: Heads of the cross-modal MCA (divide the CrossViT L width).
        bits: Code lengths of Table 2.
        lambdas: (lambda1, lambda2, lambda3) of the main runs.
        margin: Hinge margin of eq. (3) (WDHT's 0.2).
        loss_reduction: ``mean`` (WDHT's official code averages each loss over the batch) or ``sum`` (the paper's
            formulas read literally); see ``cmlib.losses.hashing``.
        lr: SGD learning rate. momentum: SGD momentum. batch_size: Mini-batch size B.
        steps: Optimizer steps per run.
        grad_clip: Max global gradient norm (None = off; see the module docstring).
        tag_target_grad: Let L1 / L2 back-propagate into the tag class token (False = stop-gradient, our choice: with
            the joint gradient the hinge squeezes every t_cls together and the codes collapse; see
            ``cmlib.losses.hashing``).
        threads: torch intra-op threads, set by :func:`prepare_data` and every run (results depend on the thread
            count through float summation order, so the golden notebooks fix it; 1 is also the fastest on the
            shared 2-core machine).
        unit_variance_init: Rescale the hash head (and a from-scratch CNN) so activations have unit variance on the
            first training batch (LSUV; ``cmlib.models.whcmt.unit_variance_init``); without a pretrained backbone the
            codes of all images start equal and eq. (2)'s gradient vanishes.
        seeds: Seeds; every deep run is repeated per seed and claims use one value per seed (and bit length).
        unsupervised: Unsupervised baselines of Table 2 (LSH, ITQ, SH).
        unsup_pool: Images are average-pooled to this side before flattening into unsupervised features.
        topk: MAP depth K; None = 5000 x database size / 22,581.
        cache_dir: Where trained runs are kept for reuse by later notebooks (None = no cache).
        n_attention_images: Images shown in notebook 04.
        drop_threshold: Table 3: a MAP drop counts as "sharp" above this.
        little_threshold: Table 3: a MAP change counts as "little" below this.
    """

    data: Literal["world", "mirflickr_tags", "mirflickr"] = "world"
    data_root: Path | None = path_field(layout=_MIRFLICKR_LAYOUT)  # noqa: RUF009
    on_corrupt: Literal["fail", "skip"] = "fail"
    max_database: int | None = None
    world: world_lib.WorldConfig = field(default_factory=world_lib.WorldConfig)
    word_vectors: Path | None = path_field(layout="a word2vec/GloVe file or the NUS-WIDE GloVe pickle")  # noqa: RUF009
    w2v_epochs: int = 5
    w2v_corpus_sentences: int = 5000
    center_word_vectors: bool = True
    tag_min_count: int = 1
    max_tags: int = 10
    visual: CrossVitConfig = field(default_factory=CrossVitConfig)
    vit: ViTConfig = field(default_factory=ViTConfig)
    cnn: Literal["small", "alexnet"] = "small"
    cnn_weights: Path | None = path_field(layout="a torchvision alexnet state_dict (.pth)")  # noqa: RUF009
    hidden: int = 256
    tag_depth: int = 1
    tag_heads: int = 6
    cm_heads: int = 3
    bits: list[int] = field(default_factory=lambda: [8, 16])
    lambdas: list[float] = field(default_factory=lambda: [1.0, 10.0, 1.0])
    margin: float = 0.2
    loss_reduction: Literal["mean", "sum"] = "mean"
    lr: float = 0.001
    momentum: float = 0.9
    batch_size: int = 50
    steps: int = 20
    grad_clip: float | None = 10.0
    tag_target_grad: bool = False
    threads: int = 1
    unit_variance_init: bool = True
    seeds: list[int] = field(default_factory=lambda: [0])
    unsupervised: list[str] = field(default_factory=lambda: ["LSH", "ITQ", "SH"])
    unsup_pool: int = 8
    topk: int | None = None
    cache_dir: Path | None = path_field(must_exist=False)  # noqa: RUF009
    n_attention_images: int = 3
    drop_threshold: float = 0.05
    little_threshold: float = 0.02

    def __post_init__(self) -> None:
        check_range("steps", self.steps, lo=1)
        check_range("batch_size", self.batch_size, lo=2)
        check_range("lr", self.lr, lo=0.0)
        check_range("margin", self.margin, lo=0.0)
        check_range("threads", self.threads, lo=1)
        for b in self.bits:
            check_range("bits", b, lo=1, hi=64)
        for name in self.unsupervised:
            if name not in UNSUPERVISED:
                raise ConfigError(f"unsupervised: unknown method {name!r}; expected some of {sorted(UNSUPERVISED)}")
        if self.data != "world" and self.data_root is None:
            raise ConfigError(f"data_root: data={self.data!r} needs data_root (a MIRFLICKR-25K folder)")
        if self.visual.img_size != self.world.image_size and self.visual.variant == "custom":
            raise ConfigError(f"visual.img_size={self.visual.img_size} must equal world.image_size="
                              f"{self.world.image_size}")
        if len(self.lambdas) != 3:
            raise ConfigError(f"lambdas: expected 3 weights (lambda1, lambda2, lambda3), got {self.lambdas}")
        if not self.seeds:
            raise ConfigError("seeds: expected at least one seed")


@dataclass
class WhcmtData:
    """Images, weak tags, evaluation labels and split, shared by every run of a notebook.

    Attributes:
        images: uint8 (N, 3, H, W).
        labels: uint8 (N, C), evaluation only.
        label_names: C names.
        query, database, train: int64 index arrays (train is a subset of database).
        tags: N raw tag lists (as given, before the vocabulary).
        tag_ids: LongTensor (N, max_tags): vocabulary ids, ``PAD_ID`` padding, ``ONES_ID`` for an image without a
            known tag (the all-ones token, as at retrieval).
        vocab: Tag vocabulary (``<pad>`` = 0; id 1 carries the all-ones token, out-of-vocabulary tags are dropped).
        tag_table: FloatTensor (V, d) frozen tag vectors (row 0 zeros, row 1 ones).
        stats: Counts reported by the notebooks (tags dropped as out of vocabulary, untagged images, ...).
    """

    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    query: np.ndarray
    database: np.ndarray
    train: np.ndarray
    tags: list[list[str]]
    tag_ids: Tensor
    vocab: Vocabulary
    tag_table: Tensor
    stats: dict[str, float]


def map_topk(cfg: Config, n_database: int) -> int:
    """K of MAP@K: ``cfg.topk`` or 5000 scaled by database size / 22,581."""
    return cfg.topk if cfg.topk is not None else max(1, round(5000 * n_database / MIRFLICKR_DB))


def _load_source(cfg: Config) -> tuple[np.ndarray, np.ndarray, list[str], list[list[str]], tuple, dict]:
    """(images, labels, label names, tags, (query, database, train), stats) for ``cfg.data``."""
    w = cfg.world
    if cfg.data == "world":
        d = world_lib.make_world(w)
        return d.images, d.labels, d.label_names, d.tags, (d.query, d.database, d.train), {}
    records = mirflickr.load_records(cfg.data_root)
    stats: dict = {}
    try:
        split, dropped = mirflickr.protocol_split_from_json(
            records, mirflickr.find_file(cfg.data_root, "hash_split_for_flickr25k.json"),
            mirflickr.find_file(cfg.data_root, "allannots.txt"))
        query, database, train = split["query"], split["database"], split["train"]
        stats.update({f"split_entries_without_record_{k}": v for k, v in dropped.items()})
    except FileNotFoundError:
        query, database, train = world_lib.protocol_split(len(records), w.n_query, w.n_train, w.seed)
    if cfg.max_database is not None and len(database) > cfg.max_database:
        keep = np.random.default_rng([w.seed, 5]).choice(len(database), cfg.max_database, replace=False)
        database = np.sort(database[keep])
        train = np.intersect1d(train, database)
    used = np.union1d(query, database)  # keep (and render / read) only the images of the split
    remap = np.full(len(records), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    query, database, train = remap[query], remap[database], remap[train]
    records = [records[i] for i in used]
    labels = np.stack([r.labels for r in records])
    if cfg.data == "mirflickr_tags":
        images = world_lib.render_images(labels, w.image_size, w.seed, w.n_clutter)
    else:
        images, kept, bad = mirflickr.load_images(cfg.data_root, records, w.image_size, cfg.on_corrupt)
        stats["corrupt_images_skipped"] = len(bad)
        remap = -np.ones(len(records), dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        query, database, train = (remap[s][remap[s] >= 0] for s in (query, database, train))
        records, labels = [records[i] for i in kept], labels[kept]
    return images, labels, list(mirflickr.LABELS_24), [r.tags for r in records], (query, database, train), stats


def word_vectors(cfg: Config, train_tags: list[list[str]]) -> dict[str, np.ndarray]:
    """The user's vectors file (``cfg.word_vectors``) or word2vec trained on the training tags (gensim, 300-d)."""
    if cfg.word_vectors is None:
        corpus = list(train_tags)
        if cfg.data == "world" and cfg.w2v_corpus_sentences:
            corpus += world_lib.text_corpus(cfg.w2v_corpus_sentences, cfg.world.seed, cfg.world.n_noise_words)
        return train_word2vec(corpus, dim=300, seed=cfg.world.seed, epochs=cfg.w2v_epochs)
    try:
        return load_word_vectors(cfg.word_vectors)
    except ValueError as err:
        taglist = Path(cfg.word_vectors).parent / "TagList1k.txt"
        if "pickled dict" not in str(err) or not taglist.is_file():
            raise
    from cmlib.data.nuswide import load_glove_tag_vectors, load_word_list

    return load_glove_tag_vectors(cfg.word_vectors, load_word_list(taglist))


def encode_tags(tags: list[list[str]], vocab: Vocabulary, max_tags: int) -> tuple[Tensor, int, int]:
    """Tag lists -> ids (N, max_tags); out-of-vocabulary tags dropped; an empty list -> one ``ONES_ID`` token.

    Returns:
        (ids, number of tags dropped as out of vocabulary, number of images left without a known tag).
    """
    ids = torch.full((len(tags), max_tags), PAD_ID, dtype=torch.long)
    dropped = untagged = 0
    for i, tl in enumerate(tags):
        known = [vocab.stoi[t] for t in tl if t in vocab.stoi and vocab.stoi[t] > ONES_ID]
        dropped += len(tl) - len(known)
        if not known:
            untagged += 1
            known = [ONES_ID]
        ids[i, : min(len(known), max_tags)] = torch.tensor(known[:max_tags])
    return ids, dropped, untagged


def prepare_data(cfg: Config) -> WhcmtData:
    """Build the data once per notebook: images, split, word vectors, vocabulary, tag ids and the tag table."""
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    images, labels, names, tags, (query, database, train), stats = _load_source(cfg)
    train_tags = [tags[i] for i in train]
    vectors = word_vectors(cfg, train_tags)
    counts = Vocabulary.build(train_tags, min_count=cfg.tag_min_count)
    vocab = Vocabulary.from_tokens(t for t in counts.itos[2:] if t in vectors)
    dim = len(next(iter(vectors.values())))
    table = torch.zeros(len(vocab), dim)
    table[ONES_ID] = 1.0
    for i, tok in enumerate(vocab.itos[2:], start=2):
        table[i] = torch.from_numpy(np.asarray(vectors[tok], dtype=np.float32))
    if cfg.center_word_vectors and len(vocab) > 2:
        table[2:] -= table[2:].mean(dim=0)
    tag_ids, _, _ = encode_tags(tags, vocab, cfg.max_tags)
    _, dropped, untagged = encode_tags(train_tags, vocab, cfg.max_tags)
    stats.update({"n_images": len(images), "n_query": len(query), "n_database": len(database),
                  "n_train": len(train), "vocab_size": len(vocab) - 2, "train_tags_total": sum(map(len, train_tags)),
                  "train_tags_dropped_oov": dropped, "train_images_without_known_tag": untagged,
                  "map_topk": map_topk(cfg, len(database)), "prepare_s": round(time.perf_counter() - t0, 2)})
    return WhcmtData(images, labels, names, query, database, train, tags, tag_ids, vocab, table, stats)


_MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)


def to_input(images: Tensor) -> Tensor:
    """uint8 (B, 3, H, W) -> float, ImageNet-normalised (as timm's CrossViT expects)."""
    return (images.float() / 255.0 - _MEAN.to(images.device)) / _STD.to(images.device)


def build_model(method: str, bits: int, data: WhcmtData, cfg: Config) -> WeakHashModel:
    """One of ``METHODS`` for ``bits``-bit codes over ``data``'s tag table."""
    if method == "WHCMT":
        return WHCMT(cfg.visual, data.tag_table, bits, cfg.hidden, cfg.tag_depth, cfg.tag_heads, cfg.cm_heads)
    if method == "WDHT-CrossViT":
        backbone = CrossViTFeatures(cfg.visual)
    elif method == "WDHT-ViT":
        backbone = ViTFeatures(cfg.vit)
    elif method == "WDHT-CNN":
        backbone = (AlexNetFc7(None if cfg.cnn_weights is None else str(cfg.cnn_weights)) if cfg.cnn == "alexnet"
                    else SmallAlexNet(cfg.world.image_size))
    else:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return WDHT(backbone, data.tag_table, bits, cfg.hidden)


@torch.no_grad()
def encode(model: WeakHashModel, images: np.ndarray, idx: np.ndarray, batch: int = 250) -> np.ndarray:
    """Retrieval codes (len(idx), b) as bool, from images alone (tags = the all-ones token)."""
    model.eval()
    out = [model.encode(to_input(torch.from_numpy(images[idx[i:i + batch]]))) for i in range(0, len(idx), batch)]
    return torch.cat(out).numpy()


def evaluate_map(model: WeakHashModel, data: WhcmtData, cfg: Config) -> dict[str, float]:
    """MAP@K of the model's codes: query vs database, relevance = shared label (WSDHQ convention)."""
    q = encode(model, data.images, data.query)
    d = encode(model, data.images, data.database)
    res = mean_average_precision(q, d, data.labels[data.query], data.labels[data.database],
                                 topk=map_topk(cfg, len(data.database)), convention="wsdhq")
    out = {"map": res.map, "n_scored": res.n_scored, "n_dropped": res.n_dropped,
           "bit_balance": float(np.abs(d.mean(axis=0) - 0.5).mean())}
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
    out = [model(to_input(torch.from_numpy(data.images[idx[i:i + batch]])), data.tag_ids[idx[i:i + batch]])["h"] > 0.5
           for i in range(0, len(idx), batch)]
    return torch.cat(out).numpy()


def _run_key(method: str, bits: int, lambdas: tuple, seed: int, cfg: Config) -> str:
    skip = {"bits", "seeds", "cache_dir", "unsupervised", "n_attention_images", "drop_threshold",
            "little_threshold", "lambdas", "unsup_pool"}
    conf = {k: v for k, v in to_dict(cfg).items() if k not in skip}
    src = b"".join(Path(m.__file__).read_bytes() for m in (world_lib, mirflickr, __import__(
        "cmlib.models.whcmt", fromlist=["x"]), __import__("cmlib.models.hashing_baselines", fromlist=["x"]),
        __import__("cmlib.losses.hashing", fromlist=["x"]), __import__("cmlib.layers.attention", fromlist=["x"])))
    return f"{method}-{bits}b-{stable_hash([method, bits, list(lambdas), seed, conf, src.decode()])}"


def train_run(method: str, bits: int, data: WhcmtData, cfg: Config, *, seed: int = 0,
              lambdas: tuple[float, float, float] | None = None, verbose: bool = True
              ) -> tuple[dict, WeakHashModel]:
    """Train one method with the three losses (eqs. 2-4) and evaluate MAP@K; reuses ``cfg.cache_dir`` when set.

    Returns:
        (row with method, bits, seed, lambdas, map, n_scored, bit_balance, final_loss, train_s, s_per_step, cached;
        the trained model).
    """
    lambdas = tuple(cfg.lambdas if lambdas is None else lambdas)
    seed_everything(seed)
    model = build_model(method, bits, data, cfg)
    key = _run_key(method, bits, lambdas, seed, cfg)
    cache = Path(cfg.cache_dir) if cfg.cache_dir is not None else None
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
                  cfg: Config) -> dict:
    torch.set_num_threads(cfg.threads)
    criterion = WeakTagHashLoss(lambdas, cfg.margin, cfg.loss_reduction, detach_targets=not cfg.tag_target_grad)
    train = torch.utils.data.TensorDataset(torch.from_numpy(data.images[data.train]), data.tag_ids[data.train])
    batches = epoch_batches(train, min(cfg.batch_size, len(train)), seed=seed)

    def loss_fn(net: torch.nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        out = net(to_input(batch[0]), batch[1])
        return criterion(out["h"], out["r"], out["t_cls"])

    if cfg.unit_variance_init:
        first = next(iter(batches(0)))
        unit_variance_init(model, init_layers(model, include_cnn=cfg.cnn_weights is None), to_input(first[0]), first[1])
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    fit_cfg = FitConfig(max_steps=cfg.steps, seed=seed, log_every=max(1, cfg.steps // 10), grad_clip=cfg.grad_clip)
    res = fit(model, opt, loss_fn, batches, fit_cfg)
    metrics = evaluate_map(model, data, cfg)
    return {"method": method, "bits": bits, "seed": seed, "lambdas": list(lambdas), **metrics,
            "final_loss": res.history[-1]["loss"], "train_s": round(res.wall_time_s, 2),
            "s_per_step": round(res.wall_time_s / max(1, res.final_step), 4)}


def unsupervised_features(data: WhcmtData, cfg: Config) -> np.ndarray:
    """Average-pooled raw pixels (N, 3 * pool^2), standardised on the database (no pretrained CNN is available)."""
    x = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(data.images).float() / 255.0, cfg.unsup_pool)
    feats = x.flatten(1).numpy()
    db = feats[data.database]
    return (feats - db.mean(0)) / (db.std(0) + 1e-6)


def unsupervised_rows(data: WhcmtData, cfg: Config) -> list[dict]:
    """Table 2's unsupervised baselines: fit on database features, MAP@K per method, bit length and seed."""
    feats = unsupervised_features(data, cfg)
    k = map_topk(cfg, len(data.database))
    rows = []
    for name in cfg.unsupervised:
        for bits in cfg.bits:
            for seed in cfg.seeds:
                kw = {} if name == "SH" else {"seed": seed}
                m = UNSUPERVISED[name](bits, **kw).fit(feats[data.database])
                res = mean_average_precision(m.encode(feats[data.query]), m.encode(feats[data.database]),
                                             data.labels[data.query], data.labels[data.database], topk=k)
                rows.append({"method": name, "bits": bits, "seed": seed, "map": res.map})
    return rows


def deep_rows(methods: list[str], bits_list: list[int], data: WhcmtData, cfg: Config,
              lambdas: tuple[float, float, float] | None = None) -> list[dict]:
    """Train every (method, bits, seed) and return one row each (printing each run's wall time)."""
    rows = []
    for method in methods:
        for bits in bits_list:
            for seed in cfg.seeds:
                rows.append(train_run(method, bits, data, cfg, seed=seed, lambdas=lambdas)[0])
    return rows


def pivot_map(rows: list[dict], index: str = "method", columns: str = "bits"):
    """Mean MAP over seeds as a table (``index`` rows x ``columns``)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.pivot_table(index=index, columns=columns, values="map", aggfunc="mean", sort=False).reset_index()


def _by(rows: list[dict], **match) -> dict[tuple, float]:
    """{(bits, seed): map} for the rows matching every key=value."""
    return {(r["bits"], r["seed"]): r["map"] for r in rows if all(r.get(k) == v for k, v in match.items())}


def table2_claims(unsup: list[dict], deep: list[dict]) -> list:
    """Claims of Table 2, one value per (bits, seed)."""
    from cmlib.reporting import Claim

    keys = sorted(_by(deep, method="WHCMT"))
    best_unsup = {k: max(r["map"] for r in unsup if (r["bits"], r["seed"]) == k) for k in keys}
    deep_methods = sorted({r["method"] for r in deep})
    worst_deep = {k: min(_by(deep, method=m)[k] for m in deep_methods) for k in keys}
    whcmt, wdht = _by(deep, method="WHCMT"), _by(deep, method="WDHT-CNN")
    return [
        Claim("weakly-supervised deep methods beat unsupervised ones", [worst_deep[k] - best_unsup[k] for k in keys],
              ">", 0.0, "min deep MAP - max unsupervised MAP (per bits, seed)"),
        Claim("WHCMT beats WDHT", [whcmt[k] - wdht[k] for k in keys], ">", 0.0,
              "MAP(WHCMT) - MAP(WDHT-CNN) (per bits, seed)"),
    ]


def table3_rows(data: WhcmtData, cfg: Config, bits: int = 8) -> list[dict]:
    """Table 3: WHCMT at ``bits`` for the five lambda settings (setting 1 = the paper's default)."""
    rows = []
    for i, lam in enumerate(TABLE3, start=1):
        for seed in cfg.seeds:
            row, _ = train_run("WHCMT", bits, data, cfg, seed=seed, lambdas=lam)
            rows.append({**row, "setting": i, "weights": f"l1={lam[0]:g}, l2={lam[1]:g}, l3={lam[2]:g}"})
    return rows


def table3_claims(rows: list[dict], cfg: Config) -> list:
    """Claims of Table 3, one value per seed."""
    from cmlib.reporting import Claim

    m = {(r["setting"], r["seed"]): r["map"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    return [
        Claim(f"lambda3 = 0.1 drops MAP sharply (> {cfg.drop_threshold:g})", [m[1, s] - m[4, s] for s in seeds],
              ">", cfg.drop_threshold, "MAP(setting 1) - MAP(setting 4)"),
        Claim(f"lambda2 changes matter little (< {cfg.little_threshold:g})",
              [max(abs(m[2, s] - m[1, s]), abs(m[3, s] - m[1, s])) for s in seeds], "<", cfg.little_threshold,
              "max |MAP(setting 2 or 3) - MAP(setting 1)|"),
    ]


def table4_claims(rows: list[dict]) -> list:
    """Claims of Table 4 (8 bits), one value per seed."""
    from cmlib.reporting import Claim

    m = {(r["method"], r["seed"]): r["map"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    return [
        Claim("ViT backbone improves WDHT", [m["WDHT-ViT", s] - m["WDHT-CNN", s] for s in seeds], ">", 0.0,
              "MAP(WDHT-ViT) - MAP(WDHT-CNN)"),
        Claim("CrossViT backbone improves WDHT", [m["WDHT-CrossViT", s] - m["WDHT-CNN", s] for s in seeds], ">", 0.0,
              "MAP(WDHT-CrossViT) - MAP(WDHT-CNN)"),
        Claim("cross-modal attention adds over the CrossViT backbone alone",
              [m["WHCMT", s] - m["WDHT-CrossViT", s] for s in seeds], ">", 0.0, "MAP(WHCMT) - MAP(WDHT-CrossViT)"),
    ]


@torch.no_grad()
def attention_maps(model: WHCMT, data: WhcmtData, idx: np.ndarray, with_tags: bool = True) -> dict[str, np.ndarray]:
    """Head-averaged attention of the visual class token for images ``idx``.

    Args:
        model: A trained WHCMT.
        data: The data (images, tag ids).
        idx: Image indices.
        with_tags: Use the images' tags (training view) or the all-ones token (retrieval view).

    Returns:
        ``patches`` (n, g_L, g_L): cross-modal attention over the L-branch patches; ``tags`` (n, 1 + T): over
        [t_cls || tags] (padding gets 0); ``cross_scale`` (n, g_S, g_S): eq. (1) attention over the S patches;
        ``modality_share`` (n, 2): attention mass on [visual tokens, tag tokens].
    """
    model.eval()
    model.set_keep_attention(True)
    try:
        ids = data.tag_ids[idx] if with_tags else torch.full((len(idx), 1), ONES_ID, dtype=torch.long)
        model(to_input(torch.from_numpy(data.images[idx])), ids)
        cm = model.cross_modal.last_attn.mean(dim=1)  # (n, 1 + N_L + 1 + T)
        cs = model.visual.last_cross_scale_attn.mean(dim=1)  # (n, 1 + N_S)
    finally:
        model.set_keep_attention(False)
    g_l, g_s = model.visual.l_grid, model.visual.s_grid
    n_vis = 1 + g_l * g_l
    return {"patches": cm[:, 1:n_vis].reshape(-1, g_l, g_l).numpy(), "tags": cm[:, n_vis:].numpy(),
            "cross_scale": cs[:, 1:].reshape(-1, g_s, g_s).numpy(), "tag_ids": ids.numpy(),
            "modality_share": torch.stack([cm[:, :n_vis].sum(1), cm[:, n_vis:].sum(1)], 1).numpy()}


def plot_attention(maps: dict[str, np.ndarray], data: WhcmtData, idx: np.ndarray):
    """Figure: image, cross-modal attention over patches (overlay), cross-scale attention, and tag attention bars."""
    import matplotlib.pyplot as plt

    n = len(idx)
    fig, axes = plt.subplots(n, 4, figsize=(12, 2.8 * n), squeeze=False)
    for r, i in enumerate(idx):
        img = data.images[i].transpose(1, 2, 0)
        size = img.shape[0]
        labels = ", ".join(data.label_names[j] for j in np.flatnonzero(data.labels[i]))
        axes[r, 0].imshow(img)
        axes[r, 0].set_title(labels, fontsize=7)
        for c, (key, title) in enumerate([("patches", "cross-modal: cls -> L patches"),
                                          ("cross_scale", "cross-scale (eq. 1): cls -> S patches")], start=1):
            axes[r, c].imshow(img)
            axes[r, c].imshow(maps[key][r], cmap="jet", alpha=0.5, extent=(0, size, size, 0),
                              interpolation="nearest")
            axes[r, c].set_title(title, fontsize=8)
        ids = maps["tag_ids"][r]
        names = ["[tag cls]"] + [("[all ones]" if t == ONES_ID else data.vocab.itos[t]) for t in ids if t != PAD_ID]
        axes[r, 3].barh(range(len(names)), maps["tags"][r][: len(names)])
        axes[r, 3].set_yticks(range(len(names)), names, fontsize=7)
        axes[r, 3].invert_yaxis()
        axes[r, 3].set_title("cross-modal: cls -> tags", fontsize=8)
        for ax in axes[r, :3]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def data_summary(data: WhcmtData) -> dict:
    """Counts of the prepared data (no timings), for a stable notebook table."""
    keys = ("n_query", "n_database", "n_train", "vocab_size", "train_tags_total", "train_tags_dropped_oov",
            "train_images_without_known_tag", "map_topk")
    return {k: data.stats[k] for k in keys}


def flat_map(rows: list[dict]) -> dict[str, float]:
    """{"<method>_<bits>bits": mean MAP over seeds} for metrics.json."""
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(f"{r['method']}_{r['bits']}bits", []).append(r["map"])
    return {k: float(np.mean(v)) for k, v in out.items()}


def plot_map_vs_bits(rows: list[dict]):
    """MAP@K against code length, one line per method (mean over seeds)."""
    import matplotlib.pyplot as plt

    table = pivot_map(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bits = [c for c in table.columns if c != "method"]
    for _, r in table.iterrows():
        ax.plot(bits, [r[b] for b in bits], marker="o", label=r["method"])
    ax.set_xlabel("bits")
    ax.set_ylabel("MAP@K")
    ax.set_xticks(bits)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def literal_sum_row(data: WhcmtData, cfg: Config, bits: int = 8) -> dict:
    """Setting 1 of Table 3 trained with the paper's literal sums (``loss_reduction="sum"``), first seed."""
    import dataclasses

    row, _ = train_run("WHCMT", bits, data, dataclasses.replace(cfg, loss_reduction="sum"), seed=cfg.seeds[0],
                       lambdas=TABLE3[0])
    return {**row, "setting": "1 (literal sums)", "weights": "l1=1, l2=10, l3=1"}


def table3_summary(rows: list[dict], literal: dict | None = None) -> list[dict]:
    """Mean MAP per Table 3 setting (+ the literal-sums run), with the difference to setting 1."""
    import pandas as pd

    df = pd.DataFrame(rows).groupby(["setting", "weights"], sort=True)["map"].mean().reset_index()
    base = float(df.loc[df["setting"] == 1, "map"].iloc[0])
    out = [{"setting": str(r.setting), "weights": r.weights, "map": float(r.map), "diff_vs_1": float(r.map) - base}
           for r in df.itertuples()]
    if literal is not None:
        out.append({"setting": literal["setting"], "weights": literal["weights"], "map": literal["map"],
                    "diff_vs_1": literal["map"] - base})
    return out


def table4_summary(rows: list[dict]) -> list[dict]:
    """Mean MAP per framework at 8 bits and the improvement (%) over WDHT's CNN, as in Table 4."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    df = frame.groupby("method", sort=False)["map"].mean()
    balance = frame.groupby("method", sort=False)["bit_balance"].mean() if "bit_balance" in frame else None
    base = float(df["WDHT-CNN"])
    return [{"method": m, "map": float(v), "improvement_pct": 100.0 * (float(v) - base) / base,
             **({"bit_balance": float(balance[m])} if balance is not None else {})} for m, v in df.items()]


def attention_examples(data: WhcmtData, n: int) -> np.ndarray:
    """The first ``n`` query images that carry at least two known tags (deterministic)."""
    known = ((data.tag_ids > ONES_ID).sum(dim=1) >= 2).numpy()
    idx = data.query[known[data.query]]
    return idx[:n] if len(idx) >= n else data.query[:n]


def _informative_tags(data: WhcmtData, i: int) -> tuple[set[str], set[str]]:
    """(tags naming a present concept, tags naming no concept at all) of image ``i``."""
    present = np.flatnonzero(data.labels[i])
    if data.label_names == world_lib.concept_names():
        names = {c: set(world_lib.concept_synonyms(c)) for c in range(world_lib.N_CONCEPTS)}
    else:
        names = {c: {n, n.replace("_", "")} for c, n in enumerate(data.label_names)}
    concept_words = set().union(*names.values())
    inf = set().union(*(names[c] for c in present)) if len(present) else set()
    return inf, {t for t in data.tags[i] if t not in concept_words}


@torch.no_grad()
def attention_summary(model: WHCMT, data: WhcmtData, cfg: Config, n_max: int = 200) -> dict[str, float]:
    """Tag-side attention share and the informative/noise attention ratio over up to ``n_max`` query images."""
    idx = data.query[:n_max]
    shares, ratios = [], []
    for start in range(0, len(idx), 50):
        part = idx[start:start + 50]
        maps = attention_maps(model, data, part, with_tags=True)
        shares.extend(maps["modality_share"][:, 1].tolist())
        for row, i in enumerate(part):
            inf, noise = _informative_tags(data, int(i))
            toks = [data.vocab.itos[t] for t in maps["tag_ids"][row] if t > ONES_ID]
            att = maps["tags"][row][1:1 + len(toks)]
            a_inf = [a for t, a in zip(toks, att) if t in inf]
            a_noise = [a for t, a in zip(toks, att) if t in noise]
            if a_inf and a_noise:
                ratios.append(float(np.mean(a_inf) / max(np.mean(a_noise), 1e-12)))
    return {"tag_share": float(np.mean(shares)), "informative_vs_noise": float(np.mean(ratios)) if ratios else
            float("nan"), "n_images_with_both": len(ratios)}

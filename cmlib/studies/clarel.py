"""CLAREL study glue (Oreshkin et al., CVPRW 2020): config, data, training, GZSL scoring, sweeps, claims, figures.

Notebooks in ``notebooks/clarel/`` call only this module. The protocol (Section 4 and the GZSL practice the paper
follows): train on the train classes, choose alpha by maximising H on the validation split (held-out images of the
train classes = "seen", the validation classes = "unseen"), then retrain on train+val and score u, s, H (Eq. (1)
with d_alpha) and ZSL top-1 on the test split. alpha only acts at inference, so one trained model per
(seed, lambda, kappa, stage) is cached and alpha is swept on its distance matrix.

Choices where the paper is silent (sources):
* validation "seen" images: 20% of each train class's trainval images (xlsa17's test_seen ratio 1,764/8,821);
  validation "unseen": the val classes (xlsa17 ``valclasses1`` / Reed ``sent_splits.mat`` ``val_loc``).
* class prototypes p(y) (Section 2.1): mean text embedding over every image of class y available to the stage
  (validation stage: trainval images; test stage: all images), each image's embedding the mean of its sentences.
* vocabulary and word2vec are built on all sentences (official code fits its tokenizer on the 'all' split);
  word vectors stay frozen (official code: a constant table).
* optimiser: paper profile SGD lr 0.1, lr / 10 at 1/3 and 2/3 of the steps, gradient clipping 1.0, weight decay
  1e-3, batch 32 (official code via issue 4); CPU profiles use Adam lr 1e-3 with the same schedule (TrainConfig).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from cmlib.cache import load as load_cached
from cmlib.cache import save_atomic, stable_hash
from cmlib.config import ConfigError, check_range, path_field, to_dict
from cmlib.data.worlds.clarel import WorldConfig, make_world
from cmlib.engine import DeviceConfig, fit, seed_everything
from cmlib.losses.retrieval import clarel_loss, euclidean_distances
from cmlib.models.clarel import ClarelModel, ClarelModelConfig
from cmlib.text import Vocabulary, embedding_matrix, load_word_vectors, tokenize, train_word2vec


@dataclass
class TrainConfig:
    """Optimisation (paper profile: official values; smoke/study shrink steps).

    Attributes:
        steps: optimizer steps.
        optimizer: "sgd" (paper profile: the official SGD lr 0.1) or "adam" (CPU profiles: with a few hundred
            steps SGD at lr 0.1 left J_TR at log B and the text classifier at chance, while Adam lr 1e-3 started
            aligning the towers after ~150 steps (measured on the smoke world); a deviation the report states).
        lr, momentum, weight_decay: learning rate, SGD momentum, weight decay.
        lr_drops: fractions of ``steps`` where the learning rate is divided by 10 (official: [1/3, 2/3]; CPU
            profiles drop once at 3/4, since their short runs are still aligning the towers at 1/3).
        grad_clip: global gradient-norm clip (official: 1.0).
        batch_size: image/text pairs per batch (official: 32).
        sentences_per_image: sentences sampled per image per step, their embeddings averaged.
        max_len: tokens per sentence (official: 30).
        vocab_size: tokenizer cap (official: 10,000).
        word_dim: word-vector width when trained on the corpus (paper: 300).
        word2vec_epochs: gensim epochs on the corpus.
        word_vectors: a local word2vec/GloVe file (frozen); None = train word2vec on the corpus's sentences.
        eval_batch: batch size for embedding at inference.
    """

    steps: int = 30
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 1e-4
    lr_drops: list[float] = field(default_factory=lambda: [0.75])
    grad_clip: float | None = 1.0
    batch_size: int = 32
    sentences_per_image: int = 1
    max_len: int = 30
    vocab_size: int = 10000
    word_dim: int = 32
    word2vec_epochs: int = 5
    word_vectors: Path | None = path_field(layout="word2vec .bin, GloVe/word2vec .txt or a {word: vector} .pkl")
    eval_batch: int = 2048

    def __post_init__(self) -> None:
        check_range("train.steps", self.steps, lo=1)
        check_range("train.lr", self.lr, lo=0.0)
        check_range("train.batch_size", self.batch_size, lo=2)
        check_range("train.sentences_per_image", self.sentences_per_image, lo=1)
        check_range("train.max_len", self.max_len, lo=1)
        for i, f in enumerate(self.lr_drops):
            check_range(f"train.lr_drops[{i}]", f, lo=0.0, hi=1.0)


def _small_model() -> ClarelModelConfig:
    return ClarelModelConfig(embed_dim=128, cnn_channels=64, lstm_hidden=64)


@dataclass
class Config:
    """Every parameter of the CLAREL notebooks; defaults are the smoke profile.

    Attributes:
        data: "world" (the compositional world), "xlsa17" (res101.mat + att_splits.mat + Reed text_c10 under
            ``data_root``) or "cub100" (the real 100-class CUB image subset with attribute sentences).
        data_root: dataset folder for "xlsa17" (``<root>/res101.mat``, ``<root>/att_splits.mat``, optional
            ``<root>/sent_splits.mat``, ``<root>/text_c10/``) or "cub100" (``../shared/datasets/cub``).
        dataset: which xlsa17 split sizes to check ("CUB" or "FLO").
        on_corrupt: data="cub100": ``fail`` on an unreadable image (naming it) or ``skip`` it with a warning.
        world: the compositional world (data="world").
        model: tower widths (default: CPU widths; a partial ``model`` mapping starts from ClarelModelConfig's own
            defaults, the paper's widths, so profiles restate every width).
        train: optimisation.
        lam, kappa: the loss mixing of the main model (paper: 0.5, 0.5).
        alphas: metric-rescaling grid swept at inference on the validation split (alpha >= 0).
        seeds: the replicates of every notebook (01 main table, 02 alpha sweep, 03 lambda/kappa grids, 04 ablation;
            paper: 10 repeats for Figures 2-4); one field, so ``python -m cmlib.runner clarel --seeds 10-14`` draws
            new replicates for all four.
        lambdas / kappas: grids of Figures 3 and 4 (the other parameter held at 0.5).
        val_seen_fraction: share of each train class's images held out as validation "seen" images.
        cache_dir: where trained models and their distance matrices are cached across notebooks (None: memory only).
        fit: where training runs (accelerator, devices, strategy, precision, pin_memory; default one CPU process),
            the same section in every paper (cmlib.engine.DeviceConfig).
        threads: torch intra-op threads while training/scoring (on the shared 2-core machine one thread was ~10x
            faster per step than two under contention: 0.05-0.07 s against 0.57 s, measured).
    """

    data: Literal["world", "xlsa17", "cub100"] = "world"
    data_root: Path | None = path_field(layout="xlsa17: res101.mat, att_splits.mat, text_c10/; cub100: the cub folder")
    dataset: Literal["CUB", "FLO"] = "CUB"
    on_corrupt: Literal["fail", "skip"] = "fail"
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ClarelModelConfig = field(default_factory=_small_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    lam: float = 0.5
    kappa: float = 0.5
    alphas: list[float] = field(default_factory=lambda: [0.0, 0.01, 0.02, 0.04, 0.06, 0.1, 0.15, 0.25])
    seeds: list[int] = field(default_factory=lambda: [0])
    lambdas: list[float] = field(default_factory=lambda: [0.0, 0.5])
    kappas: list[float] = field(default_factory=lambda: [0.5, 1.0])
    val_seen_fraction: float = 0.2
    cache_dir: str | None = None
    threads: int = 1
    fit: DeviceConfig = field(default_factory=DeviceConfig)

    def __post_init__(self) -> None:
        check_range("lam", self.lam, lo=0.0, hi=1.0)
        check_range("kappa", self.kappa, lo=0.0, hi=1.0)
        for i, a in enumerate(self.alphas):
            check_range(f"alphas[{i}]", a, lo=0.0)
        for i, v in enumerate(self.lambdas):
            check_range(f"lambdas[{i}]", v, lo=0.0, hi=1.0)
        for i, v in enumerate(self.kappas):
            check_range(f"kappas[{i}]", v, lo=0.0, hi=1.0)
        check_range("val_seen_fraction", self.val_seen_fraction, lo=0.01, hi=0.9)
        check_range("threads", self.threads, lo=1)
        if not self.seeds or not self.alphas:
            raise ConfigError("seeds and alphas must each hold at least one value")
        if self.data != "world" and self.data_root is None:
            raise ConfigError(f"data={self.data!r} needs data_root (a folder with the dataset files)")


@dataclass
class ClarelData:
    """Images/features, tokenised sentences, labels and xlsa17-style splits, whatever the source.

    Attributes:
        inputs: (N, F) float features or (N, 3, H, W) images (uint8 or float).
        ids: (N, S, L) int64 token ids of S sentences per image; lengths: (N, S).
        labels: (N,) int64 class ids in [0, C).
        splits: 0-based index arrays ``trainval``, ``test_seen``, ``test_unseen``, ``train``, ``val``.
        class_names: C names. vocab: the tokenizer. word_vectors: (V, E) frozen table. source: a label for reports.
    """

    inputs: torch.Tensor
    ids: torch.Tensor
    lengths: torch.Tensor
    labels: np.ndarray
    splits: dict[str, np.ndarray]
    class_names: list[str]
    vocab: Vocabulary
    word_vectors: torch.Tensor
    source: str


@dataclass
class Stage:
    """One protocol stage: which images train, which are scored, and the seen/unseen classes.

    Attributes:
        name: "val" or "test". train_idx / seen_idx / unseen_idx: image indices. seen / unseen: class ids.
        proto_idx: images whose sentences build the prototypes.
    """

    name: str
    train_idx: np.ndarray
    seen_idx: np.ndarray
    unseen_idx: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray
    proto_idx: np.ndarray


@dataclass
class Scored:
    """A trained model's Euclidean distances from eval images to class prototypes (columns: seen then unseen).

    Attributes:
        distances: (N_eval, C_eval) float tensor. labels: (N_eval,) column index of the true class.
        seen_cols / unseen_cols: column indices. history: training log rows. wall_s: training wall time.
    """

    distances: torch.Tensor
    labels: torch.Tensor
    seen_cols: list[int]
    unseen_cols: list[int]
    history: list[dict[str, float]]
    wall_s: float


# ----------------------------------------------------------------------------------------------- data
def build_data(cfg: Config) -> ClarelData:
    """Load or generate the data named by ``cfg.data`` and tokenise its sentences."""
    if cfg.data == "world":
        world = make_world(cfg.world)
        inputs, sentences, labels = world.inputs, world.sentences, world.labels
        splits, names, source = world.splits, world.class_names, f"compositional world ({cfg.world.mode})"
    elif cfg.data == "xlsa17":
        from cmlib.data.xlsa17 import load_xlsa17_with_text

        bundle = load_xlsa17_with_text(cfg.data_root, dataset=cfg.dataset)
        inputs, sentences, labels = torch.from_numpy(bundle.features), bundle.sentences, bundle.labels
        splits, names, source = bundle.splits, bundle.class_names, f"xlsa17 {cfg.dataset} + Reed text_c10"
    else:
        from cmlib.data.cub import load_cub100

        bundle = load_cub100(cfg.data_root, image_size=cfg.world.image_size, seed=cfg.world.seed,
                             test_seen_fraction=cfg.world.test_seen_fraction, on_corrupt=cfg.on_corrupt)
        inputs, sentences, labels = bundle.images, bundle.sentences, bundle.labels
        skipped = f"; {len(bundle.skipped_files)} unreadable image(s) skipped" if bundle.skipped_files else ""
        splits, names, source = bundle.splits, bundle.class_names, f"cub100 real images + attribute sentences{skipped}"
    return tokenise(inputs, sentences, np.asarray(labels), splits, names, cfg.train, source)


def tokenise(inputs: torch.Tensor, sentences: list[list[str]], labels: np.ndarray, splits: dict[str, np.ndarray],
             class_names: list[str], tcfg: TrainConfig, source: str) -> ClarelData:
    """Tokenise all sentences, build the vocabulary (capped) and the frozen word-vector table.

    Raises:
        ValueError: images hold different numbers of sentences.
    """
    counts = {len(s) for s in sentences}
    if len(counts) != 1:
        raise ValueError(f"every image needs the same number of sentences; found counts {sorted(counts)}")
    tokens = [[tokenize(s) for s in per_image] for per_image in sentences]
    flat = [t for per_image in tokens for t in per_image]
    vocab = Vocabulary.build(flat, max_size=tcfg.vocab_size)
    if tcfg.word_vectors is not None:
        vectors = load_word_vectors(tcfg.word_vectors)
        dim = len(next(iter(vectors.values())))
    else:
        vectors, dim = train_word2vec(flat, dim=tcfg.word_dim, seed=0, epochs=tcfg.word2vec_epochs), tcfg.word_dim
    ids, lengths = vocab.encode_batch(flat, tcfg.max_len)
    n, s = len(sentences), counts.pop()
    return ClarelData(inputs=inputs, ids=ids.reshape(n, s, -1), lengths=lengths.reshape(n, s),
                      labels=labels.astype(np.int64), splits=splits, class_names=class_names, vocab=vocab,
                      word_vectors=embedding_matrix(vocab, vectors, dim, seed=0), source=source)


def make_stage(data: ClarelData, name: Literal["val", "test"], val_seen_fraction: float = 0.2, seed: int = 0) -> Stage:
    """The validation or test stage of the GZSL protocol (see the module docstring)."""
    sp, labels = data.splits, data.labels
    if name == "test":
        seen, unseen = np.unique(labels[sp["trainval"]]), np.unique(labels[sp["test_unseen"]])
        return Stage("test", sp["trainval"], sp["test_seen"], sp["test_unseen"], seen, unseen,
                     np.arange(len(labels)))
    trainval = np.asarray(sp["trainval"])
    train_pool = np.intersect1d(trainval, sp["train"])
    unseen_idx = np.intersect1d(trainval, sp["val"])
    rng = np.random.default_rng(seed + 7919)
    held, kept = [], []
    for c in np.unique(labels[train_pool]):
        idx = rng.permutation(train_pool[labels[train_pool] == c])
        k = max(1, round(val_seen_fraction * len(idx)))
        held.append(idx[:k])
        kept.append(idx[k:])
    seen, unseen = np.unique(labels[train_pool]), np.unique(labels[unseen_idx])
    return Stage("val", np.sort(np.concatenate(kept)), np.sort(np.concatenate(held)), unseen_idx, seen, unseen,
                 np.concatenate([train_pool, unseen_idx]))


# ------------------------------------------------------------------------------------------- training
def _as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float inputs unchanged."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def stage_batches(data: ClarelData, stage: Stage, tcfg: TrainConfig, seed: int):
    """``epoch -> batches`` over the stage's training images: dicts with x (B, ...), ids (B, K, L), lengths (B, K),
    labels (B,) (index among the stage's seen classes). K sentences are drawn per image from a generator seeded by
    (seed, epoch) only, so resumed runs see the same batches."""
    remap = {int(c): i for i, c in enumerate(stage.seen)}
    targets = torch.tensor([remap[int(c)] for c in data.labels[stage.train_idx]], dtype=torch.long)
    idx = torch.as_tensor(stage.train_idx, dtype=torch.long)
    n_sent = data.ids.shape[1]

    def batches(epoch: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(idx), generator=gen)
        k = tcfg.sentences_per_image
        for start in range(0, len(order) - tcfg.batch_size + 1, tcfg.batch_size):
            sel = order[start:start + tcfg.batch_size]
            rows = idx[sel]
            pick = torch.randint(n_sent, (len(rows), k), generator=gen)
            yield {"x": _as_float(data.inputs[rows]), "ids": data.ids[rows[:, None], pick],
                   "lengths": data.lengths[rows[:, None], pick], "labels": targets[sel]}

    return batches


def model_config(mcfg: ClarelModelConfig, data: ClarelData) -> ClarelModelConfig:
    """The tower widths with ``image_in_dim`` taken from the features.

    Raises:
        ValueError: the data are images but no ``model.backbone`` is named.
    """
    if data.inputs.dim() == 2:
        return dataclasses.replace(mcfg, image_in_dim=int(data.inputs.shape[1]))
    if mcfg.backbone is None:
        raise ValueError(f"{data.source} holds images {tuple(data.inputs.shape[1:])}: set model.backbone to a timm "
                         "model name (e.g. resnet18), or use features")
    return mcfg


def train_model(data: ClarelData, stage: Stage, cfg: Config, seed: int, lam: float, kappa: float):
    """Train one CLAREL model on the stage's training images with the composite loss (lam, kappa).

    Returns:
        (model, FitResult).
    """
    torch.set_num_threads(cfg.threads)
    seed_everything(seed)
    model = ClarelModel(data.word_vectors, n_classes=len(stage.seen), cfg=model_config(cfg.model, data))
    tcfg = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    if tcfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=tcfg.lr, momentum=tcfg.momentum, weight_decay=tcfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    milestones = sorted({max(1, round(f * tcfg.steps)) for f in tcfg.lr_drops})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)

    def loss_fn(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = m(batch["x"], batch["ids"], batch["lengths"])
        return clarel_loss(out["image_emb"], out["text_emb"], out["image_logits"], out["text_logits"],
                           batch["labels"], lam, kappa)

    fcfg = cfg.fit.fit_config(max_steps=tcfg.steps, seed=seed, log_every=max(1, tcfg.steps // 10),
                              grad_clip=tcfg.grad_clip)
    result = fit(model, opt, loss_fn, stage_batches(data, stage, tcfg, seed), fcfg, scheduler=sched)
    return model, result


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the main model once (train+val classes, ``cfg.lam``/``cfg.kappa``) with the params' ``fit`` device
    settings: what ``examples/fit_distributed.py`` launches on one GPU or under torchrun. Returns steps, final_loss,
    wall_time_s. Under DDP each process sees its shard of a batch: the retrieval loss's in-batch negatives are local."""
    data = build_data(cfg)
    _, result = train_model(data, make_stage(data, "test", cfg.val_seen_fraction, seed), cfg, seed, cfg.lam, cfg.kappa)
    return {"model": f"CLAREL lambda={cfg.lam} kappa={cfg.kappa}", "steps": result.final_step,
            "final_loss": result.history[-1]["loss"], "wall_time_s": round(result.wall_time_s, 2)}


@torch.no_grad()
def score(model: ClarelModel, data: ClarelData, stage: Stage, eval_batch: int = 2048) -> tuple[torch.Tensor, ...]:
    """Distances (Eq. (1)) from the stage's eval images (seen then unseen) to class prototypes (seen then unseen).

    Returns:
        (distances (N_eval, C_eval), labels (N_eval,) column of the true class).
    """
    model.eval()
    classes = np.concatenate([stage.seen, stage.unseen])
    col = {int(c): i for i, c in enumerate(classes)}
    proto_idx = stage.proto_idx[np.isin(data.labels[stage.proto_idx], classes)]
    text = torch.cat([model.encode_text(data.ids[i], data.lengths[i]) for i in _chunks(proto_idx, eval_batch // 8)])
    proto_cols = torch.tensor([col[int(c)] for c in data.labels[proto_idx]])
    protos = torch.zeros(len(classes), text.shape[1]).index_add_(0, proto_cols, text)
    protos /= torch.bincount(proto_cols, minlength=len(classes)).clamp_min(1)[:, None].float()
    eval_idx = np.concatenate([stage.seen_idx, stage.unseen_idx])
    img = torch.cat([model.encode_image(_as_float(data.inputs[i])) for i in _chunks(eval_idx, eval_batch)])
    labels = torch.tensor([col[int(c)] for c in data.labels[eval_idx]])
    return euclidean_distances(img, protos), labels


def _chunks(idx: np.ndarray, size: int):
    t = torch.as_tensor(idx, dtype=torch.long)
    return [t[i:i + size] for i in range(0, len(t), max(1, size))]


_MEMORY: dict[str, Scored] = {}


def _key(cfg: Config, stage: str, seed: int, lam: float, kappa: float) -> str:
    blob = {"data": cfg.data, "root": str(cfg.data_root), "dataset": cfg.dataset, "world": to_dict(cfg.world),
            "model": to_dict(cfg.model), "train": to_dict(cfg.train), "vsf": cfg.val_seen_fraction,
            "stage": stage, "seed": seed, "lam": lam, "kappa": kappa,
            **cfg.fit.key_part()}
    return stable_hash(blob)


def trained_scores(cfg: Config, data: ClarelData, stage_name: Literal["val", "test"], seed: int, lam: float,
                   kappa: float) -> Scored:
    """Train (or load from the cache) the model for (stage, seed, lam, kappa) and return its distance matrix.

    The cache (memory, and ``cfg.cache_dir`` when set) keys on every parameter that changes the model, so alpha
    sweeps and later notebooks reuse a model instead of retraining it.
    """
    key = _key(cfg, stage_name, seed, lam, kappa)
    if key in _MEMORY:
        return _MEMORY[key]
    path = Path(cfg.cache_dir) / f"{key}.pt" if cfg.cache_dir else None
    if path is not None and path.is_file():
        blob = load_cached(path)
        scored = Scored(blob["distances"], blob["labels"], blob["seen_cols"], blob["unseen_cols"],
                        blob["history"], blob["wall_s"])
    else:
        stage = make_stage(data, stage_name, cfg.val_seen_fraction, seed)
        model, result = train_model(data, stage, cfg, seed, lam, kappa)
        dist, labels = score(model, data, stage, cfg.train.eval_batch)
        n_seen = len(stage.seen)
        scored = Scored(dist, labels, list(range(n_seen)), list(range(n_seen, dist.shape[1])),
                        result.history, result.wall_time_s)
        if path is not None:
            save_atomic({"distances": dist, "labels": labels, "seen_cols": scored.seen_cols,
                         "unseen_cols": scored.unseen_cols, "history": result.history, "wall_s": result.wall_time_s,
                         "state_dict": model.state_dict()}, path)
    _MEMORY[key] = scored
    return scored


# ---------------------------------------------------------------------------------------- experiments
def gzsl_at(scored: Scored, alpha: float) -> dict[str, float]:
    """u, s, H (in %) of Eq. (1) with d_alpha on a distance matrix (cmlib.metrics.zsl.gzsl)."""
    from cmlib.metrics import zsl

    r = zsl.gzsl(scored.distances, scored.labels, scored.seen_cols, alpha=alpha)
    return {"u": 100 * float(r.u), "s": 100 * float(r.s), "H": 100 * float(r.h)}


def h_curve(scored: Scored, alphas: list[float]) -> list[float]:
    """H (in %) for each alpha (cmlib.metrics.zsl.alpha_sweep)."""
    from cmlib.metrics import zsl

    return [100 * float(r.h) for r in zsl.alpha_sweep(scored.distances, scored.labels, scored.seen_cols, alphas)]


def evaluate_setting(cfg: Config, data: ClarelData, seed: int, lam: float, kappa: float) -> dict[str, Any]:
    """The full protocol for one (seed, lam, kappa): alpha* = argmax of H on the validation stage, then the
    train+val model scored on test at alpha=0 and alpha*. Returns one flat row (percentages)."""
    from cmlib.metrics import zsl

    curve = h_curve(trained_scores(cfg, data, "val", seed, lam, kappa), cfg.alphas)
    alpha = float(cfg.alphas[int(np.argmax(curve))])
    test = trained_scores(cfg, data, "test", seed, lam, kappa)
    at0, at_a = gzsl_at(test, 0.0), gzsl_at(test, alpha)
    rows = torch.isin(test.labels, torch.tensor(test.unseen_cols))
    z = 100 * float(zsl.zsl_top1(test.distances[rows], test.labels[rows], test.unseen_cols))
    return {"seed": seed, "lambda": lam, "kappa": kappa, "alpha": alpha, "val_H": max(curve),
            "u0": at0["u"], "s0": at0["s"], "H0": at0["H"], "u": at_a["u"], "s": at_a["s"], "H": at_a["H"],
            "zsl": z, "train_s": test.wall_s}


def gzsl_rows(cfg: Config, data: ClarelData) -> list[dict[str, Any]]:
    """01: the main model (cfg.lam, cfg.kappa) under the full protocol for every seed."""
    return [evaluate_setting(cfg, data, s, cfg.lam, cfg.kappa) for s in cfg.seeds]


def alpha_sweep_matrix(cfg: Config, data: ClarelData) -> np.ndarray:
    """02 / Figure 2: H (%) on the validation stage, (len(seeds), len(alphas))."""
    return np.array([h_curve(trained_scores(cfg, data, "val", s, cfg.lam, cfg.kappa), cfg.alphas)
                     for s in cfg.seeds])


def sweep_rows(cfg: Config, data: ClarelData, which: Literal["lambda", "kappa"]) -> list[dict[str, Any]]:
    """03 / Figures 3-4: the protocol over ``cfg.lambdas`` (kappa = cfg.kappa) or ``cfg.kappas`` (lambda = cfg.lam)."""
    grid = cfg.lambdas if which == "lambda" else cfg.kappas
    rows = []
    for v in grid:
        lam, kappa = (v, cfg.kappa) if which == "lambda" else (cfg.lam, v)
        rows += [evaluate_setting(cfg, data, s, lam, kappa) for s in cfg.seeds]
    return rows


ABLATION = [(False, 0.5, 0.5), (False, 0.5, 0.0), (True, 0.5, 0.0), (True, 0.0, 0.5), (True, 1.0, 0.5),
            (True, 0.5, 0.5)]


def ablation_rows(cfg: Config, data: ClarelData) -> list[dict[str, Any]]:
    """04 / Table 3: the six (alpha on/off, lambda, kappa) rows, one row per seed and line."""
    rows = []
    for line, (use_alpha, lam, kappa) in enumerate(ABLATION, start=1):
        for s in cfg.seeds:
            r = evaluate_setting(cfg, data, s, lam, kappa)
            k = "" if use_alpha else "0"
            rows.append({"line": line, "alpha": "validated" if use_alpha else "0", "lambda": lam, "kappa": kappa,
                         "seed": s, "u": r["u" + k], "s": r["s" + k], "H": r["H" + k]})
    return rows


def mean_table(rows: list[dict[str, Any]], by: list[str], cols: list[str]):
    """Mean over seeds of ``cols`` grouped by ``by`` (a DataFrame, rounded to 1 decimal like the paper)."""
    import pandas as pd

    df = pd.DataFrame(rows).groupby(by, sort=False)[cols].mean().reset_index()
    return df.round(1)


# ------------------------------------------------------------------------------------------ claims
def _pick(rows: list[dict[str, Any]], **where: float) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def gzsl_claims(rows: list[dict[str, Any]]) -> list:
    """01: H(alpha*) beats H(0), and the u/s gap shrinks, per seed."""
    from cmlib.reporting import Claim

    return [Claim("H at validated alpha beats H at alpha=0", [r["H"] - r["H0"] for r in rows], ">", 0.0,
                  "H(alpha*) - H(0) [points]"),
            Claim("metric rescaling shrinks the u/s gap", [abs(r["u0"] - r["s0"]) - abs(r["u"] - r["s"]) for r in rows],
                  ">", 0.0, "|u0 - s0| - |u - s| [points]"),
            Claim("at alpha=0 seen accuracy exceeds unseen (the imbalance of Eq. (2))",
                  [r["s0"] - r["u0"] for r in rows], ">", 0.0, "s(0) - u(0) [points]")]


def alpha_claims(alphas: list[float], h: np.ndarray) -> list:
    """02: H against alpha is an inverted U: the best interior alpha beats both ends of the grid, per repeat."""
    from cmlib.reporting import Claim

    if len(alphas) < 3:
        raise ValueError(f"an inverted U needs at least 3 alphas, got {alphas}")
    inner = h[:, 1:-1].max(axis=1)
    return [Claim("H against alpha is an inverted U", list(np.minimum(inner - h[:, 0], inner - h[:, -1])), ">", 0.0,
                  "min(H(best interior) - H(alpha_min), H(best interior) - H(alpha_max))")]


def sweep_claims(lam_rows: list[dict[str, Any]], kappa_rows: list[dict[str, Any]], seeds: list[int],
                 lam: float, kappa: float) -> list:
    """03: lambda=0 gives the lowest H of the lambda grid; kappa=1 collapses (H below half of H at kappa=cfg)."""
    from cmlib.reporting import Claim

    out = []
    lams = sorted({r["lambda"] for r in lam_rows})
    if 0.0 in lams and len(lams) > 1:
        gap = [min(_pick(lam_rows, seed=s, **{"lambda": v})[0]["H"] for v in lams if v != 0.0)
               - _pick(lam_rows, seed=s, **{"lambda": 0.0})[0]["H"] for s in seeds]
        out.append(Claim("lambda=0 gives the lowest H among lambda values", gap, ">", 0.0,
                         "min_{lambda>0} H - H(lambda=0) [points]"))
    kappas = {r["kappa"] for r in kappa_rows}
    if 1.0 in kappas and kappa in kappas:
        ratio = [_pick(kappa_rows, seed=s, kappa=1.0)[0]["H"] / max(_pick(kappa_rows, seed=s, kappa=kappa)[0]["H"], 1e-9)
                 for s in seeds]
        out.append(Claim("kappa=1 collapses", ratio, "<", 0.5, f"H(kappa=1) / H(kappa={kappa:g})"))
    return out


def ablation_claims(rows: list[dict[str, Any]], seeds: list[int]) -> list:
    """04: retrieval-only (kappa=0) with alpha is competitive (H >= 0.9 x full); the full loss with alpha is best;
    the classifier loss raises s at alpha=0."""
    from cmlib.reporting import Claim

    def h(line: int, s: int, key: str = "H") -> float:
        return _pick(rows, line=line, seed=s)[0][key]

    return [Claim("retrieval-only training (kappa=0) with alpha is competitive with the full loss",
                  [h(3, s) / max(h(6, s), 1e-9) for s in seeds], ">", 0.9, "H(line 3) / H(line 6)"),
            Claim("the full loss with validated alpha gives the best H (line 6)",
                  [h(6, s) - max(h(i, s) for i in range(1, 6)) for s in seeds], ">", 0.0,
                  "H(line 6) - max H(lines 1-5) [points]"),
            Claim("the classifier loss raises seen accuracy at alpha=0 (line 1 vs 2)",
                  [h(1, s, "s") - h(2, s, "s") for s in seeds], ">", 0.0, "s(line 1) - s(line 2) [points]")]


# ----------------------------------------------------------------------------------------- figures
def _ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% t half-width over axis 0 (half-width 0 with one repeat)."""
    from scipy import stats

    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean, np.zeros_like(mean)
    return mean, stats.t.ppf(0.975, len(values) - 1) * values.std(axis=0, ddof=1) / np.sqrt(len(values))


def plot_alpha_sweep(alphas: list[float], h: np.ndarray):
    """Figure 2: H against alpha on the validation split, mean and 95% interval over repeats."""
    import matplotlib.pyplot as plt

    mean, half = _ci(h)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(alphas, mean, marker="o")
    ax.fill_between(alphas, mean - half, mean + half, alpha=0.25)
    ax.set(xlabel="alpha", ylabel="H on validation [%]", title=f"H against alpha ({len(h)} repeats, 95% CI)")
    return fig


def plot_sweep(rows: list[dict[str, Any]], which: Literal["lambda", "kappa"]):
    """Figures 3/4: H, u, s (validated alpha, test split) against lambda or kappa, mean over seeds."""
    import matplotlib.pyplot as plt

    table = mean_table(rows, [which], ["u", "s", "H"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for col in ("H", "u", "s"):
        ax.plot(table[which], table[col], marker="o", label=col)
    ax.set(xlabel=which, ylabel="top-1 [%]", title=f"H, u, s against {which}")
    ax.legend()
    return fig


def gzsl_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tables 1-2 shape: mean u, s, H over seeds at alpha = 0 and at the validated alpha, with ZSL top-1."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("u0", "s0", "H0", "u", "s", "H", "zsl")}
    return [{"alpha": "0", "u": mean["u0"], "s": mean["s0"], "H": mean["H0"], "ZSL top-1": mean["zsl"]},
            {"alpha": "validated", "u": mean["u"], "s": mean["s"], "H": mean["H"], "ZSL top-1": mean["zsl"]}]

"""WHCMT data preparation: the world or MIRFLICKR records, word vectors, the tag vocabulary and tag ids, inputs."""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor

from cmlib.data import mirflickr, nuswide
from cmlib.data.images import name_some, warn_skipped
from cmlib.data.worlds import whcmt as world_lib
from cmlib.metrics.hashing import tag_label_auc
from cmlib.models.weights import timm_model
from cmlib.models.whcmt import ONES_ID, PAD_ID, check_weights_file, mean_tag_vector
from cmlib.protocol.run import with_threads
from cmlib.protocol.splits import SealedSplit
from cmlib.studies.whcmt.config import MIRFLICKR_DB, Config
from cmlib.text import Vocabulary, load_word_vectors, train_word2vec

SUMMARY_KEYS = ("n_query", "n_database", "n_train", "n_val_query", "n_val_database", "vocab_size",
                "tags_without_vector", "train_tags_total",
                "train_tags_dropped_oov", "query_tags_dropped_oov", "database_tags_dropped_oov",
                "train_images_without_known_tag", "query_images_without_known_tag", "corrupt_images_skipped",
                "map_topk")
SUMMARY_NAME_KEYS = ("tags_without_vector_examples", "corrupt_images_skipped_files")


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
        stats: Counts reported by the notebooks (tags dropped as out of vocabulary per split, training tags without a
            word vector, untagged images, unreadable images skipped, ...) and a few names behind the counts.
        val_query, val_database: int64 indices of the validation split (disjoint from query, database and train;
            empty when the config asks for none).
        sealed_test: In a :func:`validation_view` only: the test (query, database) indices, sealed
            (``cmlib.protocol.splits.SealedSplit``): tuning code cannot read them.
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
    stats: dict[str, float | str]
    val_query: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_database: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sealed_test: SealedSplit | None = None


def validation_view(data: WhcmtData) -> WhcmtData:
    """The same data with the validation split as query / database and the test split sealed.

    Everything that evaluates ``data.query`` against ``data.database`` (``evaluate_map``, ``train_run``) then scores
    on validation; a setting chosen on this view never saw a test query or database image.

    Raises:
        ValueError: the data has no validation split (``world.n_val_query`` / ``n_val_database`` are 0).
    """
    if len(data.val_query) == 0 or len(data.val_database) == 0:
        raise ValueError("validation_view: no validation split; set world.n_val_query and world.n_val_database")
    return dataclasses.replace(data, query=data.val_query, database=data.val_database,
                               sealed_test=SealedSplit((data.query, data.database), "whcmt test (query, database)"))


def map_topk(cfg: Config, n_database: int) -> int:
    """K of MAP@K: ``cfg.topk`` or 5000 scaled by database size / 22,581."""
    return cfg.topk if cfg.topk is not None else max(1, round(5000 * n_database / MIRFLICKR_DB))


def _records_and_split(cfg: Config) -> tuple[list, list[str], tuple[np.ndarray, np.ndarray, np.ndarray], dict]:
    """Real-data records, label names, (query, database, train) indices into the records, and split stats."""
    w = cfg.world
    stats: dict = {}
    if cfg.data == "nuswide":
        records, names = nuswide.load_records(cfg.data_root)
        n_query, n_train = cfg.nuswide_split
        try:
            split = world_lib.protocol_split(len(records), n_query, n_train, w.seed)
        except ValueError as err:
            raise ValueError(f"nuswide_split={cfg.nuswide_split} does not fit the {len(records)} NUS-WIDE images "
                             f"with one of the 21 concepts under {cfg.data_root}: {err}") from None
        return records, names, split, stats
    records = mirflickr.load_records(cfg.data_root)
    try:
        split, dropped = mirflickr.protocol_split_from_json(
            records, mirflickr.find_file(cfg.data_root, "hash_split_for_flickr25k.json"),
            mirflickr.find_file(cfg.data_root, "allannots.txt"))
        stats.update({f"split_entries_without_record_{k}": v for k, v in dropped.items()})
        return records, list(mirflickr.LABELS_24), (split["query"], split["database"], split["train"]), stats
    except FileNotFoundError as err:
        if cfg.mirflickr_split is None:
            raise FileNotFoundError(f"data_root {cfg.data_root}: {err}; the MIRFLICKR protocol split (2,000 query / "
                                    f"rest database / 5,000 train) is hash_split_for_flickr25k.json + allannots.txt "
                                    f"(../shared/datasets/mirflickr25k/dreamupers); put them there, or set "
                                    f"mirflickr_split: [n_query, n_train] for a random split") from None
        n_query, n_train = cfg.mirflickr_split
        split = world_lib.protocol_split(len(records), n_query, n_train, w.seed)
        stats["split"] = f"random {n_query} query / {n_train} train (mirflickr_split; no split file)"
        return records, list(mirflickr.LABELS_24), split, stats


def _validation_from_rest(cfg: Config, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validation (query, database) drawn from ``rest`` (non-query images outside the kept database: the training side
    of the protocol, disjoint from the test queries and database), sizes ``world.n_val_query`` / ``n_val_database``.

    Raises:
        ValueError: ``rest`` is smaller than the validation split asked for.
    """
    w = cfg.world
    need = w.n_val_query + w.n_val_database
    if need == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(rest) < need:
        raise ValueError(f"world.n_val_query + n_val_database = {need}, but only {len(rest)} non-query images lie "
                         f"outside the database (max_database={cfg.max_database}); lower them or max_database")
    pick = np.random.default_rng([w.seed, 7]).choice(rest, need, replace=False)
    return np.sort(pick[:w.n_val_query]), np.sort(pick[w.n_val_query:])


def _cap_database(cfg: Config, database: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``cfg.max_database`` database images: every training image when they fit, the rest sampled."""
    if cfg.max_database is None or len(database) <= cfg.max_database:
        return database, train
    # Sampling the whole database instead kept only 1,314 of the 5,000 training images at max_database 6,000, and
    # word2vec on their tags put the tag vectors nearly on one line (cosines of the training images' mean tag
    # vectors 0.49 +- 0.77; 0.01 +- 0.37 with every training image).
    rng = np.random.default_rng([cfg.world.seed, 5])
    train = np.intersect1d(train, database)
    if len(train) >= cfg.max_database:
        database = np.sort(rng.choice(train, cfg.max_database, replace=False))
    else:
        rest = np.setdiff1d(database, train)
        database = np.sort(np.concatenate([train, rng.choice(rest, cfg.max_database - len(train), replace=False)]))
    return database, np.intersect1d(train, database)


def _skip_corrupt(bad: list[str], root: Path | None, stats: dict) -> None:
    """Warn naming the skipped unreadable images and record their count and (capped) names in ``stats``."""
    stats["corrupt_images_skipped"] = len(bad)
    if bad:
        stats["corrupt_images_skipped_files"] = name_some(bad)
        warn_skipped("whcmt data", bad, root)


def _load_source(cfg: Config) -> tuple[np.ndarray, np.ndarray, list[str], list[list[str]], tuple, dict]:
    """(images, labels, label names, tags, (query, database, train, val_query, val_database), stats) for
    ``cfg.data``."""
    w = cfg.world
    if cfg.data == "world":
        d = world_lib.make_world(w)
        return (d.images, d.labels, d.label_names, d.tags, (d.query, d.database, d.train, d.val_query,
                                                             d.val_database), {"corrupt_images_skipped": 0})
    records, names, (query, database, train), stats = _records_and_split(cfg)
    full_database = database
    database, train = _cap_database(cfg, database, train)
    val_query, val_database = _validation_from_rest(cfg, np.setdiff1d(full_database, database))
    used = np.union1d(np.union1d(query, database), np.union1d(val_query, val_database))  # only the split's images
    remap = np.full(len(records), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    query, database, train, val_query, val_database = (remap[s] for s in (query, database, train, val_query,
                                                                           val_database))
    records = [records[i] for i in used]
    labels = np.stack([r.labels for r in records])
    if cfg.data == "mirflickr_tags":
        images = world_lib.render_images(labels, w.image_size, w.seed, w.n_clutter, w.n_distractors)
        stats["corrupt_images_skipped"] = 0
    else:
        images, kept, bad = mirflickr.load_images(cfg.data_root, records, w.image_size, cfg.on_corrupt)
        _skip_corrupt(bad, cfg.data_root, stats)
        remap = -np.ones(len(records), dtype=np.int64)
        remap[kept] = np.arange(len(kept))
        query, database, train, val_query, val_database = (remap[s][remap[s] >= 0] for s in (
            query, database, train, val_query, val_database))
        records, labels = [records[i] for i in kept], labels[kept]
    return images, labels, names, [r.tags for r in records], (query, database, train, val_query, val_database), stats


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
    return nuswide.load_glove_tag_vectors(cfg.word_vectors, nuswide.load_word_list(taglist))


def build_vocabulary(train_tags: list[list[str]], vectors: dict[str, np.ndarray], min_count: int
                     ) -> tuple[Vocabulary, list[str]]:
    """Vocabulary of the training tags seen ``min_count`` times *and* present in ``vectors``.

    Returns:
        (vocabulary, the training tags left out because ``vectors`` has no vector for them, most frequent first).
    """
    counts = Vocabulary.build(train_tags, min_count=min_count)
    candidates = counts.itos[2:]
    return (Vocabulary.from_tokens(t for t in candidates if t in vectors),
            [t for t in candidates if t not in vectors])


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


def oov_counts(tags: list[list[str]], vocab: Vocabulary, splits: dict[str, np.ndarray]) -> dict[str, int]:
    """Per split: tag occurrences dropped as out of vocabulary (``<split>_tags_dropped_oov``; not in the training
    tags, below ``tag_min_count`` or without a word vector) and images left without a known tag
    (``<split>_images_without_known_tag``). The database counts include its training images."""
    out = {}
    for name, idx in splits.items():
        _, dropped, untagged = encode_tags([tags[i] for i in idx], vocab, 1)
        out[f"{name}_tags_dropped_oov"] = dropped
        out[f"{name}_images_without_known_tag"] = untagged
    return out


def _tag_table(cfg: Config, train_tags: list[list[str]]) -> tuple[Vocabulary, Tensor, list[str]]:
    """(vocabulary, frozen tag table (V, d): row ``PAD_ID`` zeros, row ``ONES_ID`` ones, centred when
    ``cfg.center_word_vectors``, training tags without a vector) from the word vectors of :func:`word_vectors`."""
    vectors = word_vectors(cfg, train_tags)
    vocab, no_vector = build_vocabulary(train_tags, vectors, cfg.tag_min_count)
    dim = len(next(iter(vectors.values())))
    table = torch.zeros(len(vocab), dim)
    table[ONES_ID] = 1.0
    for i, tok in enumerate(vocab.itos[2:], start=2):
        table[i] = torch.from_numpy(np.asarray(vectors[tok], dtype=np.float32))
    if cfg.center_word_vectors and len(vocab) > 2:
        table[2:] -= table[2:].mean(dim=0)
    return vocab, table, no_vector


@with_threads
def prepare_data(cfg: Config) -> WhcmtData:
    """Build the data once per notebook: images, split, word vectors, vocabulary, tag ids and the tag table."""
    t0 = time.perf_counter()
    images, labels, names, tags, (query, database, train, val_query, val_database), stats = _load_source(cfg)
    train_tags = [tags[i] for i in train]
    vocab, table, no_vector = _tag_table(cfg, train_tags)
    if no_vector:
        stats["tags_without_vector_examples"] = name_some(no_vector)
        if cfg.word_vectors is not None:
            warnings.warn(f"word_vectors {cfg.word_vectors}: no vector for {len(no_vector)} training tag(s), dropped "
                          f"from the vocabulary: {name_some(no_vector)}", stacklevel=2)
    tag_ids, _, _ = encode_tags(tags, vocab, cfg.max_tags)
    stats.update({"n_images": len(images), "n_query": len(query), "n_database": len(database),
                  "n_train": len(train), "n_val_query": len(val_query), "n_val_database": len(val_database),
                  "vocab_size": len(vocab) - 2, "tags_without_vector": len(no_vector),
                  "train_tags_total": sum(map(len, train_tags))})
    stats.update(oov_counts(tags, vocab, {"train": train, "query": query, "database": database}))
    stats.update({"map_topk": map_topk(cfg, len(database)), "prepare_s": round(time.perf_counter() - t0, 2)})
    return WhcmtData(images, labels, names, query, database, train, tags, tag_ids, vocab, table, stats, val_query,
                     val_database)


#: Images whose pairs :func:`tag_auc` scores (the number of the real MIRFLICKR measurement, issue 30).
TAG_AUC_SAMPLE = 3000


def tag_auc(data: WhcmtData, sample: int = TAG_AUC_SAMPLE, seed: int = 0) -> float:
    """The premise of the tag-supervised claims (issue 30): how well the study's tags supervise its training images.

    The ROC AUC with which the cosine of two training images' mean tag vectors separates label-sharing pairs from
    the rest (:func:`cmlib.metrics.hashing.tag_label_auc`), with exactly the tags and vectors the models see: the
    tag ids ``data.tag_ids`` (vocabulary, ``max_tags``) over the tag table ``data.tag_table`` (centred when
    ``center_word_vectors``), averaged as WDHT's target (:func:`cmlib.models.whcmt.mean_tag_vector`). Training images
    without a known tag (only the all-ones token) are left out, as the images without a GloVe vector were on the real
    files. Real MIRFLICKR-25K: 0.55 (GloVe-300), 0.59 (word2vec on the tags).

    Raises:
        ValueError: fewer than two training images with a known tag, or no label-sharing / no other pair among them.
    """
    ids = data.tag_ids[data.train]
    known = (ids > ONES_ID).any(dim=1).numpy()
    if known.sum() < 2:
        raise ValueError(f"tag_auc: {int(known.sum())} training images carry a known tag; the AUC needs >= 2")
    vectors = mean_tag_vector(data.tag_table, ids[torch.from_numpy(known)])
    return tag_label_auc(vectors, data.labels[data.train][known], sample=sample, seed=seed)


@with_threads
def world_tag_auc(cfg: Config, sample: int = TAG_AUC_SAMPLE) -> float:
    """:func:`tag_auc` of the world ``cfg`` describes, without rendering a pixel: the world's labels, tags and split
    (:mod:`cmlib.data.worlds.whcmt`, the streams ``make_world`` draws them from), its word2vec, tag table and tag ids,
    as :func:`prepare_data` builds them. Seconds at the study sizes, for choosing the world's tag knobs (issue 30:
    ``world.p_concept_tag`` against the real MIRFLICKR-25K level) on probe seeds.

    Raises:
        ValueError: ``cfg.data`` is not ``world`` (real tags: use :func:`tag_auc` of :func:`prepare_data`).
    """
    if cfg.data != "world":
        raise ValueError(f"world_tag_auc: data={cfg.data!r}; only the synthetic world is drawn without images")
    w = cfg.world
    n = w.n_query + w.n_database
    labels, _ = world_lib.sample_labels(n + w.n_val_query + w.n_val_database, w.seed)
    tags = world_lib.sample_tags(labels, w)
    _, _, train = world_lib.protocol_split(n, w.n_query, w.n_train, w.seed)
    vocab, table, _ = _tag_table(cfg, [tags[i] for i in train])
    ids = encode_tags([tags[i] for i in train], vocab, cfg.max_tags)[0]
    known = (ids > ONES_ID).any(dim=1)
    return tag_label_auc(mean_tag_vector(table, ids[known]), labels[train][known.numpy()], sample=sample)


_MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)


_STD = torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)


def to_input(images: Tensor) -> Tensor:
    """uint8 (B, 3, H, W) -> float, ImageNet-normalised (as timm's CrossViT expects)."""
    return (images.float() / 255.0 - _MEAN.to(images.device)) / _STD.to(images.device)


def data_summary(data: WhcmtData) -> dict:
    """Counts of the prepared data (no timings), for a stable notebook table; the names of skipped images and of
    tags without a word vector (first few) are added when there are any."""
    out = {k: data.stats[k] for k in SUMMARY_KEYS}
    out.update({k: data.stats[k] for k in SUMMARY_NAME_KEYS if k in data.stats})
    return out


def unsupervised_features(data: WhcmtData, cfg: Config) -> np.ndarray:
    """Features of the unsupervised baselines (N, D), standardised on the database.

    ``cfg.unsup_features``:

    * ``pretrained`` (study and real-tag profiles): :func:`pretrained_cnn_features`, the fc7-like output of the WDHT
      CNN loaded from ``cfg.cnn_weights`` (the pretraining stage's file, or the paper profile's AlexNet), i.e. the
      pretrained features the deep methods start from. The paper follows WSDHQ's protocol (Section 3.1), where the
      shallow baselines (LSH, SH, SpH, ITQ, AQ) hash 4,096-d AlexNet fc7 features of an ImageNet-pretrained network.
    * ``pixels`` (default, smoke): average-pooled raw pixels (N, 3 * pool^2), needing no pretrained network.
    * ``backbone``: pooled features of the timm model ``cfg.unsup_backbone`` loaded from the local
      ``cfg.unsup_backbone_weights`` (:func:`backbone_features`; never downloaded).

    Raises:
        ValueError: ``pretrained`` without ``cnn_weights`` (naming the keys).
    """
    if cfg.unsup_features == "backbone":  # Config has checked that unsup_backbone_weights is set
        feats = backbone_features(data.images, cfg.unsup_backbone, Path(cfg.unsup_backbone_weights))
    elif cfg.unsup_features == "pretrained":
        feats = pretrained_cnn_features(data.images, cfg)
    else:
        x = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(data.images).float() / 255.0, cfg.unsup_pool)
        feats = x.flatten(1).numpy()
    db = feats[data.database]
    return (feats - db.mean(0)) / (db.std(0) + 1e-6)


@torch.no_grad()
def pretrained_cnn_features(images: np.ndarray, cfg: Config, batch: int = 250) -> np.ndarray:
    """fc7 features (N, D) of uint8 images (N, 3, H, W) from the WDHT CNN (``cfg.cnn``: the small AlexNet-shaped CNN,
    D = 256, or torchvision AlexNet, D = 4,096) loaded from ``cfg.cnn_weights``, before any hashing training: the
    layer WDHT's hash head reads (:class:`cmlib.models.hashing_baselines.WDHT`).

    Raises:
        ValueError: ``cfg.cnn_weights`` is unset (the pretraining stage sets it when ``pretrain_images`` > 0).
    """
    from cmlib.models.hashing_baselines import AlexNetFc7, SmallAlexNet
    from cmlib.models.whcmt import load_state_file

    if cfg.cnn_weights is None:
        raise ValueError("unsup_features='pretrained': cnn_weights is unset; the pretraining stage sets it when "
                         "pretrain_images > 0 (cmlib.studies.whcmt.with_pretrained), or give a file, or set "
                         "unsup_features: pixels")
    if cfg.cnn == "alexnet":
        net: torch.nn.Module = AlexNetFc7(str(cfg.cnn_weights))
    else:
        net = SmallAlexNet(cfg.world.image_size)
        load_state_file(net, "cnn_weights", Path(cfg.cnn_weights))
    net.eval()
    out = [net(to_input(torch.from_numpy(images[i:i + batch]))) for i in range(0, len(images), batch)]
    return torch.cat(out).numpy()


def load_backbone(name: str, weights_file: Path) -> torch.nn.Module:
    """The timm model ``name`` without classifier (``num_classes=0``), weights from the local ``weights_file``.

    Loaded by :func:`cmlib.models.weights.timm_model`: the file's classifier head is dropped by name, every other
    weight must fit the model exactly.

    Raises:
        FileNotFoundError: no file at ``weights_file``.
        ValueError: unknown timm name, or (``WeightsError``) the file does not fit the model, naming the first keys.
    """
    check_weights_file("unsup_backbone_weights", weights_file,
                       f"a local state_dict of the timm model {name!r}; nothing is downloaded")
    model = timm_model(name, weights_file, key="unsup_backbone_weights")
    return model.eval()


@torch.no_grad()
def backbone_features(images: np.ndarray, name: str, weights_file: Path, batch: int = 100) -> np.ndarray:
    """Pooled features (N, D) of uint8 images (N, 3, H, W) from :func:`load_backbone` (ImageNet-normalised input)."""
    model = load_backbone(name, weights_file)
    out = [model(to_input(torch.from_numpy(images[i:i + batch]))) for i in range(0, len(images), batch)]
    return torch.cat(out).flatten(1).numpy()

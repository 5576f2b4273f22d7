"""WHCMT data preparation: the world or MIRFLICKR records, word vectors, the tag vocabulary and tag ids, inputs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor

from cmlib.data import mirflickr
from cmlib.data.worlds import whcmt as world_lib
from cmlib.models.whcmt import ONES_ID, PAD_ID
from cmlib.studies.whcmt.config import MIRFLICKR_DB, Config
from cmlib.text import Vocabulary, load_word_vectors, train_word2vec


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
        # Every training image stays when it fits (train is a subset of the database); the rest is a random sample.
        # Sampling the whole database instead kept only 1,314 of the 5,000 training images at max_database 6,000, and
        # word2vec on their tags put the tag vectors nearly on one line (cosines of the training images' mean tag
        # vectors 0.49 +- 0.77; 0.01 +- 0.37 with every training image).
        rng = np.random.default_rng([w.seed, 5])
        train = np.intersect1d(train, database)
        if len(train) >= cfg.max_database:
            database = np.sort(rng.choice(train, cfg.max_database, replace=False))
        else:
            rest = np.setdiff1d(database, train)
            database = np.sort(np.concatenate([train, rng.choice(rest, cfg.max_database - len(train), replace=False)]))
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


def data_summary(data: WhcmtData) -> dict:
    """Counts of the prepared data (no timings), for a stable notebook table."""
    keys = ("n_query", "n_database", "n_train", "vocab_size", "train_tags_total", "train_tags_dropped_oov",
            "train_images_without_known_tag", "map_topk")
    return {k: data.stats[k] for k in keys}


def unsupervised_features(data: WhcmtData, cfg: Config) -> np.ndarray:
    """Average-pooled raw pixels (N, 3 * pool^2), standardised on the database (no pretrained CNN is available)."""
    x = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(data.images).float() / 255.0, cfg.unsup_pool)
    feats = x.flatten(1).numpy()
    db = feats[data.database]
    return (feats - db.mean(0)) / (db.std(0) + 1e-6)

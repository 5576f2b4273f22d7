"""WHCMT data sources end to end through ``prepare_data``: corrupt MIRFLICKR images (fail / skip), out-of-vocabulary
counts per split and tags missing from a user vectors file, and ``data: nuswide`` on small NUS-WIDE trees made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cmlib.data import mirflickr, nuswide
from cmlib.data.worlds import whcmt as world_lib
from cmlib.protocol.config import ConfigError, from_params
from cmlib.studies import whcmt
from cmlib.studies.whcmt.config import NUSWIDE_SPLIT

TINY = {"world": {"n_query": 30, "n_database": 120, "n_train": 100}, "w2v_corpus_sentences": 500, "steps": 1,
        "hidden": 16, "bits": [8], "unsupervised": ["ITQ"], "w2v_epochs": 1}
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def _write_mirflickr(root: Path, n: int = 12, corrupt: int = 5) -> list[list[str]]:
    """Cleaned MIRFLICKR layout with ``n`` rendered jpgs, image ``corrupt`` unreadable; returns the tags written."""
    (root / "mirflickr").mkdir(parents=True)
    rng = np.random.default_rng(0)
    words = ["sky", "sea", "dog", "tree", "car", "red"]
    tags = [[words[i % 6], words[(i + 2) % 6]] for i in range(n)]
    labels = rng.integers(0, 2, size=(n, 24))
    labels[:, 0] = 1  # every image has a label
    for i in range(1, n + 1):
        Image.new("RGB", (40, 30), COLOURS[i % 4]).save(root / f"mirflickr/im{i}.jpg")
    (root / f"mirflickr/im{corrupt}.jpg").write_bytes(b"not a jpeg")
    (root / "all_imgs.txt").write_text("".join(f"mirflickr/im{i}.jpg\r\n" for i in range(1, n + 1)))
    (root / "all_tags.txt").write_text("".join(",".join(t) + "\r\n" for t in tags))
    (root / "all_labels.txt").write_text("".join(" ".join(map(str, r)) + "\r\n" for r in labels))
    return tags


def _mirflickr_cfg(root: Path, on_corrupt: str) -> whcmt.Config:
    return from_params(whcmt.Config, {**TINY, "data": "mirflickr", "data_root": str(root), "on_corrupt": on_corrupt,
                                      "world": {"n_query": 3, "n_train": 6}, "mirflickr_split": [3, 6]})


def test_corrupt_image_fails_naming_the_file(tmp_path):
    _write_mirflickr(tmp_path)
    with pytest.raises(ValueError, match=r"im5\.jpg cannot be read.*on_corrupt='skip'"):
        whcmt.prepare_data(_mirflickr_cfg(tmp_path, "fail"))


def test_corrupt_image_skipped_is_warned_named_and_counted(tmp_path):
    _write_mirflickr(tmp_path)
    with pytest.warns(UserWarning, match=r"left out 1 unreadable image\(s\).*mirflickr/im5\.jpg"):
        data = whcmt.prepare_data(_mirflickr_cfg(tmp_path, "skip"))
    summary = whcmt.data_summary(data)
    assert summary["corrupt_images_skipped"] == 1
    assert summary["corrupt_images_skipped_files"] == "mirflickr/im5.jpg"
    assert len(data.images) == 11 and len(data.query) + len(data.database) == 11
    # the kept images are the rendered ones, in record order (im6 follows im4 once im5 is gone)
    assert np.allclose(data.images[3:5, :, 0, 0], [COLOURS[4 % 4], COLOURS[6 % 4]], atol=3)


def test_many_skipped_images_are_capped_in_the_summary(tmp_path):
    _write_mirflickr(tmp_path, n=12)
    for i in (1, 2, 3, 4, 6, 7):
        (tmp_path / f"mirflickr/im{i}.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"left out 7 unreadable"):
        data = whcmt.prepare_data(_mirflickr_cfg(tmp_path, "skip"))
    names = data.stats["corrupt_images_skipped_files"]
    assert data.stats["corrupt_images_skipped"] == 7 and names.endswith("(+2 more)") and names.count("mirflickr/") == 5


def _world_tags(cfg: whcmt.Config) -> tuple[list[list[str]], world_lib.HashingData]:
    d = world_lib.make_world(cfg.world)
    return [d.tags[i] for i in d.train], d


def test_vectors_file_lacking_tags_drops_and_counts_them(tmp_path):
    cfg = from_params(whcmt.Config, TINY)
    train_tags, world = _world_tags(cfg)
    freq: dict[str, int] = {}
    for tl in train_tags:
        for t in tl:
            freq[t] = freq.get(t, 0) + 1
    missing = sorted(freq, key=lambda t: (-freq[t], t))[:3]  # the three most frequent training tags
    rng = np.random.default_rng(1)
    lines = [f"{t} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(12)) for t in freq if t not in missing]
    vec_file = tmp_path / "vectors.txt"
    vec_file.write_text("\n".join(lines) + "\n")
    cfg = from_params(whcmt.Config, {**TINY, "word_vectors": str(vec_file)})
    with pytest.warns(UserWarning, match=rf"no vector for 3 training tag\(s\).*{missing[0]}"):
        data = whcmt.prepare_data(cfg)
    known = set(freq) - set(missing)
    expected = {split: sum(t not in known for i in idx for t in world.tags[i])
                for split, idx in (("train", world.train), ("query", world.query), ("database", world.database))}
    summary = whcmt.data_summary(data)
    assert summary["tags_without_vector"] == 3 and summary["vocab_size"] == len(known)
    assert summary["train_tags_dropped_oov"] == expected["train"] == sum(freq[t] for t in missing) > 0
    assert summary["query_tags_dropped_oov"] == expected["query"] > 0
    assert summary["database_tags_dropped_oov"] == expected["database"] >= expected["train"]
    assert all(t in summary["tags_without_vector_examples"] for t in missing)
    assert data.tag_table.shape == (len(known) + 2, 12)


def test_query_tags_unseen_in_training_are_counted():
    cfg = from_params(whcmt.Config, TINY)
    train_tags, world = _world_tags(cfg)
    seen = {t for tl in train_tags for t in tl}
    data = whcmt.prepare_data(cfg)
    unseen_query = sum(t not in seen for i in world.query for t in world.tags[i])
    assert unseen_query > 0 and data.stats["query_tags_dropped_oov"] == unseen_query
    assert data.stats["train_tags_dropped_oov"] == 0 and data.stats["tags_without_vector"] == 0


def test_real_glove_pickle_through_word_vectors(shared_datasets):
    """NUS-WIDE's GloVe vectors (1,000 NUS tags) on real MIRFLICKR tags: tags outside TagList1k are dropped, counted."""
    glove = shared_datasets / "nus-wide/biam/NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300.pkl"
    cfg = from_params(whcmt.Config, {**TINY, "data": "mirflickr_tags", "max_database": 300, "word_vectors": str(glove),
                                     "data_root": str(shared_datasets / "mirflickr25k")})
    with pytest.warns(UserWarning, match="no vector for"):
        data = whcmt.prepare_data(cfg)
    s = whcmt.data_summary(data)
    nus_tags = set(nuswide.load_word_list(glove.parent / "TagList1k.txt"))
    train_vocab = {t for i in data.train for t in data.tags[i]}
    assert s["vocab_size"] == len(train_vocab & nus_tags) > 0
    assert s["tags_without_vector"] == len(train_vocab - nus_tags) > 0
    assert s["train_tags_dropped_oov"] == sum(t not in nus_tags for i in data.train for t in data.tags[i]) > 0
    assert s["query_tags_dropped_oov"] > 0 and data.tag_table.shape[1] == 300
    assert set(data.vocab.itos[2:]) <= nus_tags


def _write_nuswide(root: Path, tag_list: list[str], concepts: list[str], n: int = 16) -> dict:
    """A NUS-WIDE tree (official layout) with ``n`` rendered jpgs; the last image has only rare concepts."""
    rng = np.random.default_rng(0)
    for sub in ("ImageList", "NUS_WID_Tags", "ConceptsList", "Groundtruth/AllLabels"):
        (root / sub).mkdir(parents=True)
    (root / "NUS_WID_Tags/TagList1k.txt").write_text("\r\n".join(tag_list) + "\r\n")
    (root / "ConceptsList/Concepts81.txt").write_text("\r\n".join(concepts) + "\r\n")
    # concept j is set for images with (i + j) % 3 == 0 for the first 21 concepts, never for the rest but the last
    # image, which only has the rare concepts (so it leaves the 21-concept subset)
    labels = np.zeros((n, len(concepts)), dtype=np.uint8)
    for i in range(n - 1):
        labels[i, :21] = [(i + j) % 3 == 0 for j in range(21)]
    labels[n - 1, 21:] = 1
    flags = rng.random((n, len(tag_list))) < 3 / len(tag_list)
    entries = []
    for i in range(n):
        folder = concepts[i % 21]
        name = f"{i:04d}_{1000 + i}.jpg"
        (root / "Flickr" / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (50, 40), COLOURS[i % 4]).save(root / "Flickr" / folder / name)
        entries.append(f"C:\\ImageData\\Flickr\\{folder}\\{name}")
    (root / "ImageList/Imagelist.txt").write_text("\r\n".join(entries) + "\r\n")
    (root / "NUS_WID_Tags/AllTags1k.txt").write_text(
        "".join("\t".join(str(int(f)) for f in row) + "\r\n" for row in flags))
    for j, c in enumerate(concepts):
        (root / f"Groundtruth/AllLabels/Labels_{c}.txt").write_text("".join(f"{v}\r\n" for v in labels[:, j]))
    tags = [[tag_list[k] for k in np.flatnonzero(row)] for row in flags]
    return {"labels": labels, "tags": tags, "entries": entries}


def _nuswide_cfg(root: Path, **kw) -> whcmt.Config:
    return from_params(whcmt.Config, {**TINY, "data": "nuswide", "data_root": str(root), "nuswide_split": [3, 6],
                                      **kw})


def test_nuswide_tree_end_to_end(tmp_path):
    tag_list = [f"tag{k}" for k in range(12)]
    concepts = [f"concept{j:02d}" for j in range(23)]
    made = _write_nuswide(tmp_path, tag_list, concepts)
    data = whcmt.prepare_data(_nuswide_cfg(tmp_path))
    assert data.label_names == concepts[:21]  # the 21 most frequent; the two rare ones are left out
    assert len(data.images) == 15 and data.labels.shape == (15, 21)  # the image with only rare concepts is left out
    assert len(data.query) == 3 and len(data.database) == 12 and len(data.train) == 6
    assert set(data.train) <= set(data.database) and not set(data.query) & set(data.database)
    assert data.tags == made["tags"][:15] and np.array_equal(data.labels, made["labels"][:15, :21])
    assert np.allclose(data.images[:, :, 0, 0], [COLOURS[i % 4] for i in range(15)], atol=3)
    assert whcmt.data_summary(data)["corrupt_images_skipped"] == 0
    rows = whcmt.unsupervised_rows(data, _nuswide_cfg(tmp_path))
    assert len(rows) == 1 and 0 < rows[0]["map"] <= 1


def test_nuswide_errors_name_the_file_and_the_split(tmp_path):
    _write_nuswide(tmp_path, [f"tag{k}" for k in range(12)], [f"concept{j:02d}" for j in range(23)])
    with pytest.raises(ValueError, match=r"nuswide_split=\[10, 6\] does not fit the 15 NUS-WIDE images"):
        whcmt.prepare_data(_nuswide_cfg(tmp_path, nuswide_split=[10, 6]))
    (tmp_path / "Groundtruth/AllLabels/Labels_concept03.txt").write_text("1\r\n0\r\n")
    with pytest.raises(ValueError, match="Labels_.*different lengths"):
        nuswide.load_records(tmp_path)
    (tmp_path / "ConceptsList/Concepts81.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"ConceptsList/Concepts81\.txt not found \(expected <root>/ImageList"):
        nuswide.load_records(tmp_path)
    with pytest.raises(ConfigError, match="data_root.*NUS-WIDE folder"):
        from_params(whcmt.Config, {"data": "nuswide"})
    with pytest.raises(ConfigError, match="nuswide_split"):
        from_params(whcmt.Config, {"nuswide_split": [0, 5]})


def test_nuswide_image_list_entries():
    assert nuswide.image_path("C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg") == "Flickr/actor/0001_2124494179.jpg"
    assert nuswide.image_path("actor\\0001_2124494179.jpg") == "Flickr/actor/0001_2124494179.jpg"
    with pytest.raises(ValueError, match="not '<folder>"):
        nuswide.image_path("0001.jpg")


def test_nuswide_tree_with_the_real_tag_and_concept_lists(tmp_path, shared_datasets):
    """The real TagList1k (1,000 columns of AllTags1k) and Concepts81 (81 Labels_<concept>.txt files) through
    ``load_records`` and ``prepare_data``, with the real GloVe pickle as word vectors (every TagList1k tag has one)."""
    biam = shared_datasets / "nus-wide/biam"
    tag_list = nuswide.load_word_list(biam / "TagList1k.txt")
    concepts = nuswide.load_word_list(biam / "Concepts81.txt")
    made = _write_nuswide(tmp_path, tag_list, concepts, n=20)
    records, names = nuswide.load_records(tmp_path)
    assert names == concepts[:21] and len(records) == 19
    assert records[0].image == f"Flickr/{concepts[0]}/0000_1000.jpg" and made["entries"][0].endswith("0000_1000.jpg")
    assert records[4].tags == made["tags"][4]
    glove = biam / "NUS_WIDE_pretrained_w2v_glove-wiki-gigaword-300.pkl"
    data = whcmt.prepare_data(_nuswide_cfg(tmp_path, word_vectors=str(glove)))
    assert data.stats["tags_without_vector"] == 0 and data.tag_table.shape[1] == 300
    assert data.stats["train_tags_dropped_oov"] == 0


def test_nuswide_split_sizes_match_the_real_hashing_lists(shared_datasets):
    """The 2,100 / 10,500 NUS-WIDE split of the study is that of the DeepHash-pytorch nuswide_21 lists (21 labels)."""
    root = shared_datasets / "nus-wide/deephash_pytorch/nuswide_21"
    q_names, q_labels = nuswide.load_hash_list(root / "test.txt")
    t_names, t_labels = nuswide.load_hash_list(root / "train.txt")
    assert (len(q_names), len(t_names)) == NUSWIDE_SPLIT and q_labels.shape[1] == t_labels.shape[1] == 21
    assert not set(q_names) & set(t_names)
    assert q_labels.sum(0).min() >= 100 and t_labels.sum(0).min() >= 500  # at least 100 / 500 images per concept


def test_mirflickr_records_keep_paths_relative_for_skips(tmp_path):
    _write_mirflickr(tmp_path, n=4, corrupt=2)
    recs = mirflickr.load_records(tmp_path)
    _, kept, bad = mirflickr.load_images(tmp_path, recs, 8, on_corrupt="skip")
    assert kept.tolist() == [0, 2, 3] and bad == ["mirflickr/im2.jpg"]

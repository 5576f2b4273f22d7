"""CLAREL real-data parsers: xlsa17 att_splits / res101, Reed sent_splits + text_c10, the cub100 subset."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from cmlib.data.reed import read_sentences, read_text_c10
from cmlib.data.xlsa17 import check_split_sizes, load_att_splits, load_res101, load_sent_splits, merge_train_val


def test_cub_att_splits_and_reed_train_val(shared_datasets):
    att = load_att_splits(shared_datasets / "cub/xlsa17/att_splits.mat")
    assert att.att.shape == (200, 312) and att.class_names[0] == "002.Laysan_Albatross"
    assert "train" not in att.splits  # CUB's copy lacks train/val locs
    merged = merge_train_val(att, load_sent_splits(shared_datasets / "cub/reed_sentence_embeddings/sent_splits.mat"))
    check_split_sizes(merged.splits, "CUB")
    assert (len(merged.splits["train"]), len(merged.splits["val"])) == (5875, 2946)
    assert merged.splits["test_unseen"].min() >= 0  # converted from 1-based
    assert not np.intersect1d(merged.splits["trainval"], merged.splits["test_unseen"]).size


def test_flo_split_sizes_and_a_mismatch_names_both_counts(shared_datasets):
    flo = load_att_splits(shared_datasets / "flowers/FLO_att_splits.mat")
    check_split_sizes(flo.splits, "FLO")
    assert flo.att.shape == (102, 1024)
    with pytest.raises(ValueError, match="holds 5631 images, expected 7057"):
        check_split_sizes(flo.splits, "CUB")


def test_res101_roundtrip_is_zero_based(tmp_path):
    feats = np.arange(12, dtype=np.float64).reshape(3, 4)  # (D, N)
    files = np.array([[np.array(["/x/CUB/images/001.A/a_1.jpg"])], [np.array(["/x/CUB/images/001.A/a_2.jpg"])],
                      [np.array(["/x/CUB/images/002.B/b_1.jpg"])], [np.array(["/x/CUB/images/002.B/b_2.jpg"])]],
                     dtype=object)
    sio.savemat(tmp_path / "res101.mat", {"features": feats, "labels": np.array([[1], [1], [2], [2]]),
                                          "image_files": files})
    r = load_res101(tmp_path / "res101.mat")
    assert r.features.shape == (4, 3) and r.labels.tolist() == [0, 0, 1, 1] and r.image_files[2] == "002.B/b_1.jpg"


def test_text_c10_reading(tmp_path):
    (tmp_path / "001.A").mkdir()
    (tmp_path / "001.A" / "a_1.txt").write_bytes(b"a red bird\r\n\r\nsmall wings\r\n")
    assert read_sentences(tmp_path / "001.A" / "a_1.txt") == ["a red bird", "", "small wings"]
    sents = read_text_c10(tmp_path, ["001.A/a_1.jpg"])
    assert len(sents[0]) == 10 and sents[0][3] == "a red bird"
    with pytest.raises(FileNotFoundError, match="image 001.A/a_2.jpg"):
        read_text_c10(tmp_path, ["001.A/a_2.jpg"])


def test_cub100_subset(shared_datasets):
    from cmlib.data.cub import load_cub100

    b = load_cub100(shared_datasets / "cub", image_size=16, limit_per_class=2)
    assert b.images.shape == (200, 3, 16, 16) and len(b.sentences[0]) == 10
    unseen = set(b.labels[b.splits["test_unseen"]].tolist())
    assert len(unseen) == 27 and not unseen & set(b.labels[b.splits["trainval"]].tolist())
    assert "bill shape" in " ".join(s for sents in b.sentences for s in sents)


def test_off_mode_share_from_hand_made_class_percentages():
    from cmlib.data.cub import off_mode_share_from_percentages

    # 2 classes; group "size" (2 columns) and "pattern" (2 columns) name one value per annotation (sum 100 in every
    # class); "colour" (2 columns) is multi-value (sums 130, 100) and is left out.
    groups = ["size", "size", "colour", "colour", "pattern", "pattern"]
    percent = np.array([[80.0, 20.0, 70.0, 60.0, 50.0, 50.0],    # off-mode: size 0.2, pattern 0.5 -> mean 0.35
                        [10.0, 90.0, 40.0, 60.0, 100.0, 0.0]])  # off-mode: size 0.1, pattern 0.0 -> mean 0.05
    share, single = off_mode_share_from_percentages(percent, groups)
    assert single == ["size", "pattern"] and share == pytest.approx(0.2)
    # weighted by images per class: (3 x 0.35 + 1 x 0.05) / 4 = 0.275
    assert off_mode_share_from_percentages(percent, groups, np.array([3, 1]))[0] == pytest.approx(0.275)
    with pytest.raises(ValueError, match="single-value"):
        off_mode_share_from_percentages(percent[:, 2:4], groups[2:4])


def test_cub100_off_mode_share_matches_the_premise_constant(shared_datasets):
    from cmlib.data.cub import cub100_off_mode_share
    from cmlib.studies.clarel import OFF_MODE_CUB

    real = cub100_off_mode_share(shared_datasets / "cub")
    assert (real["classes"], real["images"], len(real["groups"].split(", "))) == (73, 4292, 9)
    assert round(real["share"], 3) == OFF_MODE_CUB


def _fake_xlsa17(root, n_trainval=2):
    """A 4-image xlsa17 folder: res101.mat, att_splits.mat (with train/val locs) and text_c10."""
    files = np.array([[np.array([f"/d/CUB/images/00{c}.K/k_{i}.jpg"])] for c in (1, 2) for i in (1, 2)], dtype=object)
    sio.savemat(root / "res101.mat", {"features": np.ones((3, 4)), "labels": np.array([[1], [1], [2], [2]]),
                                      "image_files": files})
    sio.savemat(root / "att_splits.mat", {"att": np.ones((5, 2)), "trainval_loc": np.arange(1, n_trainval + 1)[:, None],
                                          "test_seen_loc": np.array([[3]]), "test_unseen_loc": np.array([[4]]),
                                          "train_loc": np.array([[1]]), "val_loc": np.array([[2]])})
    for c in (1, 2):
        (root / "text_c10" / f"00{c}.K").mkdir(parents=True)
        for i in (1, 2):
            (root / "text_c10" / f"00{c}.K" / f"k_{i}.txt").write_text("a small bird\n")


def test_xlsa17_bundle_checks_split_sizes_and_sentence_files(tmp_path):
    from cmlib.data.xlsa17 import load_xlsa17_with_text

    _fake_xlsa17(tmp_path)
    with pytest.raises(ValueError, match="CUB trainval holds 2 images, expected 7057"):
        load_xlsa17_with_text(tmp_path, dataset="CUB")
    (tmp_path / "text_c10" / "002.K" / "k_2.txt").unlink()
    with pytest.raises(FileNotFoundError, match="image 002.K/k_2.jpg"):
        from cmlib.data.reed import read_text_c10

        read_text_c10(tmp_path / "text_c10", ["001.K/k_1.jpg", "002.K/k_2.jpg"])


def _tiny_cub(root: Path) -> Path:
    """A 3-class CUB subset tree (seen 001.A, validation 002.B, unseen 003.C; 2 images each) whose 002.B/1.jpg is
    not a JPEG."""
    from PIL import Image

    sub = root / "cub100_subset_227px"
    names = [f"{c}/{i}.jpg" for c in ("A", "B", "C") for i in (0, 1)]
    for n, name in enumerate(names):
        (sub / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20), (40 * n, 100, 200)).save(sub / "images" / name)
    (sub / "images" / "B" / "1.jpg").write_bytes(b"not a jpeg at all")
    (sub / "images.txt").write_text("".join(f"{i}, {n}\n" for i, n in enumerate(names)))
    (sub / "image_class_labels.txt").write_text("".join(f"{i}, {i // 2}\n" for i in range(6)))
    (root / "derived").mkdir()
    rows = [(0, "001.A", "trainval(seen)"), (1, "002.B", "trainval(seen)"), (2, "003.C", "test_unseen")]
    (root / "derived" / "cub100_subset_classes.tsv").write_text(
        "subset_class_id\tcub_class\txlsa17_PS_role\n" + "".join(f"{i}\t{c}\t{r}\n" for i, c, r in rows))
    meta = root / "CUB_200_2011_meta"
    (meta / "attributes").mkdir(parents=True)
    (meta / "attributes.txt").write_text("1 has_bill_shape::dagger\n2 has_wing_color::blue\n")
    (meta / "attributes" / "class_attribute_labels_continuous.txt").write_text("50.0 10.0\n0.0 80.0\n30.0 30.0\n")
    (root / "xlsa17").mkdir()
    (root / "xlsa17" / "valclasses1.txt").write_text("002.B\n")
    return root


def test_cub_corrupt_image_is_named_or_skipped_with_a_warning(tmp_path: Path) -> None:
    from cmlib.data.cub import load_cub100

    root = _tiny_cub(tmp_path)
    with pytest.raises(ValueError, match=r"image .*cub100_subset_227px/images/B/1.jpg cannot be read .*on_corrupt='skip'"):
        load_cub100(root, image_size=8)
    with pytest.warns(UserWarning, match=r"load_cub100: on_corrupt='skip': left out 1 unreadable image\(s\) under "
                      r".*images: B/1.jpg"):
        b = load_cub100(root, image_size=8, on_corrupt="skip")
    assert b.skipped_files == ["B/1.jpg"] and "B/1.jpg" not in b.image_files
    assert b.images.shape == (5, 3, 8, 8) and b.images.is_contiguous() and b.labels.tolist() == [0, 0, 1, 2, 2]
    assert len(b.sentences) == 5 and b.labels[b.splits["val"]].tolist() == [1]
    with pytest.raises(ValueError, match="on_corrupt: expected 'fail' or 'skip', got 'ignore'"):
        load_cub100(root, on_corrupt="ignore")


def test_clarel_config_passes_on_corrupt_to_the_cub_loader(tmp_path: Path) -> None:
    from cmlib.protocol.config import ConfigError, from_params
    from cmlib.studies import clarel

    root = _tiny_cub(tmp_path)
    cfg = from_params(clarel.Config, {"data": "cub100", "data_root": str(root), "on_corrupt": "skip",
                                      "world": {"image_size": 8}})
    with pytest.warns(UserWarning, match="left out 1 unreadable image"):
        data = clarel.build_data(cfg)
    assert data.source.endswith("; 1 unreadable image(s) skipped") and len(data.labels) == 5
    with pytest.raises(ValueError, match="B/1.jpg cannot be read"):
        clarel.build_data(dataclasses.replace(cfg, on_corrupt="fail"))
    with pytest.raises(ConfigError, match=r"params.on_corrupt: expected one of \['fail', 'skip'\]"):
        from_params(clarel.Config, {"on_corrupt": "ignore"})

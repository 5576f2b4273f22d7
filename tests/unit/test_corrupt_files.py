"""Truncated data files fail naming the file and what it should be; ``on_corrupt: skip`` leaves re-id records out."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image

from cmlib.data.images import CorruptFileError
from cmlib.data.reid_folders import ParallelFolders, ReIDRecord, load_reid_set
from cmlib.data.sketchyscene import load_scene
from cmlib.data.xlsa17 import load_res101


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_mat_files_are_named(tmp_path):
    sio.savemat(tmp_path / "res101.mat", {"features": np.random.rand(2048, 40).astype(np.float32),
                                          "labels": np.ones((40, 1)), "image_files": np.array(["a"] * 40)})
    _truncate(tmp_path / "res101.mat")
    with pytest.raises(CorruptFileError, match=r"res101\.mat: cannot be read as an xlsa17 \.mat file"):
        load_res101(tmp_path / "res101.mat")


def _scene_tree(root, key=3):
    for sub in ("DRAWING_GT", "CLASS_GT", "INSTANCE_GT"):
        (root / "train" / sub).mkdir(parents=True)
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(root / "train" / "DRAWING_GT" / f"L0_sample{key}.png")
    inst = np.zeros((64, 64), np.int32)
    inst[5:20, 5:20] = 1
    sio.savemat(root / "train" / "INSTANCE_GT" / f"sample_{key}_instance.mat", {"INSTANCE_GT": inst})
    sio.savemat(root / "train" / "CLASS_GT" / f"sample_{key}_class.mat", {"CLASS_GT": inst})


def test_truncated_sketch_png_and_instance_mat_are_named(tmp_path):
    _scene_tree(tmp_path)
    assert len(load_scene(tmp_path, "train", 3, ["tree"]).instances) == 1
    png = tmp_path / "train" / "DRAWING_GT" / "L0_sample3.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(png)
    _truncate(png)
    with pytest.raises(CorruptFileError, match=r"L0_sample3\.png: cannot be read as a SketchyScene DRAWING_GT"):
        load_scene(tmp_path, "train", 3, ["tree"])
    _scene_tree(tmp_path / "b")
    _truncate(tmp_path / "b" / "train" / "INSTANCE_GT" / "sample_3_instance.mat", 0.3)
    with pytest.raises(CorruptFileError, match=r"sample_3_instance\.mat: cannot be read as a SketchyScene INSTANCE_GT"):
        load_scene(tmp_path / "b", "train", 3, ["tree"])


def test_truncated_reid_jpeg_fails_by_name_or_is_skipped(tmp_path):
    (tmp_path / "imgs" / "train").mkdir(parents=True)
    (tmp_path / "lr_face").mkdir()
    rng = np.random.default_rng(0)
    recs = []
    for i in range(3):
        name = f"train/{i + 1}_{i}_0.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(tmp_path / "imgs" / name, quality=95)
        recs.append(ReIDRecord(name, i, 0, i))
    _truncate(tmp_path / "imgs" / "train" / "2_1_0.jpg", 0.4)
    folders = ParallelFolders(tmp_path)
    with pytest.raises(CorruptFileError, match=r"2_1_0\.jpg: cannot be read as a body image .*truncated"):
        load_reid_set(recs, folders, (32, 16), 8, with_mask=False, with_hr_face=False)
    with pytest.warns(UserWarning, match=r"left out 1 unreadable image"):
        got = load_reid_set(recs, folders, (32, 16), 8, with_mask=False, with_hr_face=False, on_corrupt="skip")
    assert got.pids.tolist() == [0, 2] and got.images.shape == (2, 3, 32, 16)

"""GRM-Net's paper profile on a real-layout SketchyScene-7k + MATCHING folder, end to end through the runner.

The tree: the first scenes of each released MATCHING file (sentence_instance_{train,val,test}.json, real expressions
and instance indices) and the real vocab.txt from ../shared/datasets/sketchyscene; for each scene a generated
DRAWING_GT PNG, INSTANCE_GT and CLASS_GT .mat in <root>/<split>/ with as many instances as its expressions index;
a torchvision ResNet-18 file saved here with a marker in ``conv1.weight``. params/grmnet/paper.yaml is used as
shipped except: data_root / matching_dir, ResNet-18 instead of ResNet-50 (file size), canvas 64, widths and budgets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import torch
import torchvision
from PIL import Image

from cmlib.protocol.config import ConfigError, from_params, load_yaml
from cmlib.runner import Job, execute
from cmlib.studies import grmnet

ROOT = Path(__file__).resolve().parents[2]
SKETCHY = ROOT.parent / "shared" / "datasets" / "sketchyscene"
MARKER = 0.0123
N_SCENES = {"train": 5, "val": 2, "test": 2}
SIDE = 96


def _need_shared() -> None:
    if not (SKETCHY / "matching").is_dir():
        pytest.skip(f"real SketchyScene-MATCHING files not found at {SKETCHY} (../shared/datasets beside the project)")


def _write_scene(root: Path, split: str, key: int, n_inst: int, rng: np.random.Generator) -> None:
    for sub in ("DRAWING_GT", "CLASS_GT", "INSTANCE_GT"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    inst = np.zeros((SIDE, SIDE), np.int32)
    cls = np.zeros((SIDE, SIDE), np.int32)
    image = np.full((SIDE, SIDE), 255, np.uint8)
    cells = int(np.ceil(np.sqrt(n_inst)))
    step = SIDE // cells
    for k in range(n_inst):  # instance ids 1..n in ascending order = MATCHING index k
        y, x = divmod(k, cells)
        sl = np.s_[y * step + 2: (y + 1) * step - 2, x * step + 2: (x + 1) * step - 2]
        inst[sl], cls[sl] = k + 1, rng.integers(1, 46)
        image[sl][::3] = 0
    Image.fromarray(image).save(root / split / "DRAWING_GT" / f"L0_sample{key}.png")
    sio.savemat(root / split / "INSTANCE_GT" / f"sample_{key}_instance.mat", {"INSTANCE_GT": inst})
    sio.savemat(root / split / "CLASS_GT" / f"sample_{key}_class.mat", {"CLASS_GT": cls})


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    _need_shared()
    d = tmp_path_factory.mktemp("grmnet_paper")
    root, matching = d / "SketchyScene-7k", d / "SketchyScene-MATCHING"
    matching.mkdir()
    shutil.copy(SKETCHY / "matching" / "vocab.txt", matching / "vocab.txt")
    rng = np.random.default_rng(0)
    for split, n in N_SCENES.items():
        entries = json.loads((SKETCHY / "matching" / f"sentence_instance_{split}.json").read_text())[:n]
        (matching / f"sentence_instance_{split}.json").write_text(json.dumps(entries))
        for e in entries:
            n_inst = 1 + max(i for idx in e["sen_instIdx_map"].values() for i in idx)
            _write_scene(root, split, int(e["key"]), n_inst, rng)
    state = torchvision.models.resnet18().state_dict()
    state["conv1.weight"] = torch.full_like(state["conv1.weight"], MARKER)
    torch.save(state, d / "resnet18.pth")
    params = load_yaml(ROOT / "params/grmnet/paper.yaml")
    params.update({
        "data_root": str(root), "matching_dir": str(matching), "examples_dir": str(SKETCHY), "run": {"seeds": [0], "threads": 1, "cache_dir": str(d / "cache")},
        "canvas": 64, "batch_size": 2, "detector_steps": 1, "referring_steps": 1, "baseline_steps": 1,
        "matcher_steps": 1,
        "model": {**params["model"], "backbone": "resnet18", "backbone_weights": str(d / "resnet18.pth"),
                  "embed_dim": 8, "lstm_hidden": 8, "rpn_pre_nms_top_n": 20, "rpn_post_nms_top_n": 10,
                  "rpn_batch_size_per_image": 16, "box_batch_size_per_image": 8, "representation_size": 16,
                  "mask_layers": [8], "detections_per_img": 5},
    })
    return {"dir": d, "root": root, "matching": matching, "params": params}


def test_released_val_file_is_the_validation_split(tree):
    cfg = from_params(grmnet.Config, tree["params"])
    data = grmnet.build_data(cfg, 0)
    val_keys = {e["key"] for e in json.loads((tree["matching"] / "sentence_instance_val.json").read_text())}
    train_keys = {e["key"] for e in json.loads((tree["matching"] / "sentence_instance_train.json").read_text())}
    assert {e.scene_key for e in data.val} == val_keys and {e.scene_key for e in data.train} == train_keys
    assert data.scene("val", min(val_keys)).image.shape == (64, 64)


def test_an_index_beyond_instance_gt_fails_at_data_building_naming_the_scene(tree, tmp_path):
    matching = tmp_path / "m"
    shutil.copytree(tree["matching"], matching)
    entries = json.loads((matching / "sentence_instance_test.json").read_text())
    expr = next(iter(entries[0]["sen_instIdx_map"]))
    entries[0]["sen_instIdx_map"][expr] = [99]
    (matching / "sentence_instance_test.json").write_text(json.dumps(entries))
    cfg = from_params(grmnet.Config, {**tree["params"], "matching_dir": str(matching)})
    key = entries[0]["key"]
    with pytest.raises(ValueError, match=rf"sentence_instance_test\.json: scene {key} refers to instance indices "
                                         rf"\[99\], but .*test/INSTANCE_GT/sample_{key}_instance\.mat has \d+ "):
        grmnet.build_data(cfg, 0)


def test_wrong_backbone_file_fails_at_config_time(tree):
    with pytest.raises(ConfigError, match=r"model\.backbone_weights: .*resnet18\.pth does not fit torchvision resnet50"):
        from_params(grmnet.Config, {**tree["params"], "model": {**tree["params"]["model"], "backbone": "resnet50"}})


def test_paper_profile_runs_every_notebook_from_the_given_backbone(tree):
    for nb in sorted((ROOT / "notebooks/grmnet").glob("0*.py")):
        report = tree["dir"] / "reports" / nb.stem
        job = Job("grmnet", nb.relative_to(ROOT), "paper", tree["params"], report, report / f"{nb.stem}.ipynb",
                  progress_every=0)
        out = execute(job, ROOT)
        assert out.ok, f"{nb.stem}: {out.error}"
    blobs = [torch.load(p, map_location="cpu", weights_only=False) for p in (tree["dir"] / "cache").rglob("*.pt")]
    conv1 = [b["model"][k] for b in blobs if isinstance(b, dict) and isinstance(b.get("model"), dict)
             for k in b["model"] if k.endswith("backbone.body.conv1.weight")]
    assert conv1, "no trained ResNet-FPN model in the cache"
    for w in conv1:  # 1 AdamW step at lr 2e-4 from the marker: still at the marker
        assert torch.allclose(w, torch.full_like(w, MARKER), atol=2e-3)

"""The real-data path end to end: the paper profile's notebooks, run by the runner's own executor, train and evaluate
every stream on tiny Celeb-reID-light, Celeb-reID and PRCC trees in the layout cmlib/data/reid_folders.py documents,
starting from a torchreid-format OSNet file (``model.pretrained``) saved here with a marker in its first convolution;
the test splits' parsing masks (``mask/query``, ``mask/gallery``, ``mask/test``) are loaded and notebook 03 measures
the attention contrast on them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_deskpro_study import _write, write_celeb_light_tree

from cmlib.models.osnet import osnet
from cmlib.protocol.config import from_params, load_yaml
from cmlib.runner import Job, execute
from cmlib.studies import deskpro

ROOT = Path(__file__).resolve().parents[2]
MARKER = 0.0123
WIDTH = 0.1


def write_torchreid_osnet(path: Path, width: float = WIDTH) -> Path:
    """An OSNet state dict in torchreid's naming (conv2a..conv2d streams, an ImageNet ``fc`` / ``classifier`` head)
    with ``conv1.conv.weight`` set to the marker."""
    state = {}
    for key, value in osnet(width).state_dict().items():
        key = key.replace(".streams.0.0.", ".conv2a.")
        for i, letter in enumerate("bcd", start=1):
            key = key.replace(f".streams.{i}.", f".conv2{letter}.")
        state[key] = value
    state["conv1.conv.weight"] = torch.full_like(state["conv1.conv.weight"], MARKER)
    state["fc.0.weight"], state["classifier.weight"] = torch.zeros(512, 51), torch.zeros(1000, 512)
    torch.save(state, path)
    return path


def write_prcc_tree(root: Path, seed: int = 1) -> None:
    """train/val: <pid>/<cam>_cropped_rgb<n>.jpg; test: <cam>/<pid>/cropped_rgb<n>.jpg; every image has a face."""
    rng = np.random.default_rng(seed)
    rels = [f"train/{p:03d}/{c}_cropped_rgb{n:03d}.jpg" for p in range(1, 6) for c in "AC" for n in (1, 2)]
    rels += [f"val/{p:03d}/{c}_cropped_rgb{n:03d}.jpg" for p in (7, 8) for c in "AC" for n in (1, 2)]
    rels += [f"test/{c}/{p:03d}/cropped_rgb{n:03d}.jpg" for c in "ABC" for p in (10, 11, 12) for n in (1, 2)]
    for rel in rels:
        _write(root / "imgs" / rel, rng.integers(0, 255, (48, 24, 3), dtype=np.uint8))
        _write(root / "mask" / rel.replace(".jpg", ".png"), rng.integers(0, 20, (48, 24), dtype=np.uint8))
        _write(root / "lr_face" / rel, rng.integers(0, 255, (10, 10, 3), dtype=np.uint8))
        _write(root / "hr_face" / rel, rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))


@pytest.mark.slow
def test_paper_profile_runs_every_notebook_on_real_folders(tmp_path):
    write_celeb_light_tree(tmp_path / "celeb-light", seed=0)
    write_celeb_light_tree(tmp_path / "celeb", seed=2)
    write_prcc_tree(tmp_path / "prcc")
    params = load_yaml(ROOT / "params/deskpro/paper.yaml")
    weights = write_torchreid_osnet(tmp_path / "osnet_x0_1_imagenet.pth")
    params.update({  # the paper profile at toy sizes: only the data roots, the OSNet file and the budget change
        "data": {k: str(tmp_path / k) for k in ("celeb-light", "celeb", "prcc")},
        "world": {"n_val_ids": 2, "height": 32, "width": 16, "face_size": 16},
        "model": {"width": WIDTH, "feat_dim": 8, "pretrained": str(weights)},
        "pretrain_ids": 4, "pretrain": {"steps": 2, "batch_size": 8}, "p": 2, "k": 2, "body_steps": 2,
        "face_steps": 2, "eval_every": 1, "timing_images": 2, "run": {"seeds": [0], "cache_dir": str(tmp_path / "cache")},
        "pretrain_dir": str(tmp_path / "cache/pretrain"),
    })
    for nb in sorted((ROOT / "notebooks/deskpro").glob("0*.py")):
        report = tmp_path / "reports" / nb.stem
        job = Job("deskpro", nb.relative_to(ROOT), "paper", params, report, report / f"{nb.stem}.ipynb", progress_every=0)
        out = execute(job, ROOT)
        assert out.ok, f"{nb.stem}: {out.error}"
    rows = json.loads((tmp_path / "reports/01_ccreid/metrics.json").read_text())["per_seed"]
    assert {(r["protocol"], r["setting"]) for r in rows} == {
        ("celeb-light", "cloth-changing"), ("celeb", "standard"), ("prcc", "cross-clothes"), ("prcc", "same-clothes")}
    assert len(json.loads((tmp_path / "reports/02_ablation/metrics.json").read_text())["per_seed"]) == 9
    contrast = json.loads((tmp_path / "reports/03_attention_maps/metrics.json").read_text())["contrast"]
    assert {r["model"] for r in contrast} == {"2 (CSA)", "3 (CSA + L_att)"}, "test-split masks reached notebook 03"
    blobs = [torch.load(p, map_location="cpu", weights_only=False) for p in (tmp_path / "cache").glob("*.pt")]
    stems = [b["model"]["stem.0.conv.weight"] for b in blobs
             if isinstance(b, dict) and isinstance(b.get("model"), dict) and "stem.0.conv.weight" in b["model"]]
    assert len(stems) >= 9, "every stream of every dataset cached"
    for w in stems:  # 2 Adam steps at lr 6e-4 from the marker: still at the marker
        assert torch.allclose(w, torch.full_like(w, MARKER), atol=2e-3)
    assert not list((tmp_path / "cache/pretrain").rglob("*.pt")), "the given OSNet file is used, no stand-in trained"


def test_test_split_masks_load_when_present(tmp_path):
    write_celeb_light_tree(tmp_path / "celeb-light", seed=0)
    params = {"data": {"celeb-light": str(tmp_path / "celeb-light")}, "run": {"seeds": [0]}, "model": {"width": WIDTH},
              "world": {"n_val_ids": 2, "height": 32, "width": 16, "face_size": 16}}
    world = deskpro.load_real(from_params(deskpro.Config, params), "celeb-light")
    assert world.celeb_query.parsing is not None and world.celeb_gallery.parsing is not None
    assert world.celeb_gallery.parsing.shape[1:] == (32, 16)
    shutil.rmtree(tmp_path / "celeb-light/mask/gallery")  # real folders often parse only the training split
    world = deskpro.load_real(from_params(deskpro.Config, params), "celeb-light")
    assert world.celeb_gallery.parsing is None and world.celeb_query.parsing is not None and world.train.parsing is not None

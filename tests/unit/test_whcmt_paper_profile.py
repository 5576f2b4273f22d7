"""WHCMT's paper profile on a real-layout MIRFLICKR-25K folder, end to end through the runner's executor.

The tree: the real cleaned tag files (vtmuch/all_{imgs,tags,labels}.txt, first N_RECORDS lines) and the real split
(dreamupers/hash_split_for_flickr25k.json + allannots.txt) from ../shared/datasets/mirflickr25k, generated pixels under
mirflickr/im<N>.jpg, and a crossvit_9_240 / ViT / CNN weight file saved here with a marker in its first weight.
params/whcmt/paper.yaml is used as shipped except: data_root, the image side (120 px, the smallest crossvit_9_240
takes), a one-block custom ViT instead of ViT-Base (patch 16 does not divide 120) and the small CNN instead of AlexNet
(file sizes), widths and budgets. The split on the full 20,015 records is checked apart (no images needed): 2,000 query / 5,000 train.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from cmlib.models.hashing_baselines import SmallAlexNet
from cmlib.protocol.config import from_params, load_yaml
from cmlib.runner import Job, execute
from cmlib.studies import whcmt

ROOT = Path(__file__).resolve().parents[2]
MIR = ROOT.parent / "shared" / "datasets" / "mirflickr25k"
N_RECORDS = 120
MARKER = 0.0123
SIDE = 120  # the smallest side crossvit_9_240 takes: 12 | 120 and its L branch's 112 (= 120 * 224 / 240) is 16 * 7


VIT = {"patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 2.0}


def _custom_vit() -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=SIDE, num_classes=0, **VIT)


def _need_shared() -> None:
    if not MIR.is_dir():
        pytest.skip(f"real MIRFLICKR annotation files not found at {MIR} (../shared/datasets beside the project)")


def _marked(state: dict, path: Path) -> Path:
    state = dict(state)
    first = next(iter(state))
    state[first] = torch.full_like(state[first], MARKER)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    """The real-layout folder, the weight files and the shipped paper params pointed at them (shrunk)."""
    _need_shared()
    d = tmp_path_factory.mktemp("whcmt_paper")
    root = d / "mirflickr25k"
    (root / "mirflickr").mkdir(parents=True)
    for name in ("all_imgs.txt", "all_tags.txt", "all_labels.txt"):
        lines = (MIR / "vtmuch" / name).read_bytes().split(b"\n")[:N_RECORDS]
        (root / name).write_bytes(b"\n".join(lines) + b"\n")
    for name in ("hash_split_for_flickr25k.json", "allannots.txt"):
        shutil.copy(MIR / "dreamupers" / name, root / name)
    rng = np.random.default_rng(0)
    for rel in (root / "all_imgs.txt").read_text().split():
        Image.fromarray(rng.integers(0, 255, (SIDE + 8, SIDE, 3), dtype=np.uint8)).save(root / rel)
    files = {
        "crossvit": _marked(timm.create_model("crossvit_9_240", num_classes=1000, img_size=SIDE).state_dict(),
                            d / "crossvit_9_240.pth"),
        "vit": _marked(_custom_vit().state_dict(), d / "vit.pth"),
        "cnn": _marked(SmallAlexNet(SIDE).state_dict(), d / "small_cnn.pth"),
    }
    params = load_yaml(ROOT / "params/whcmt/paper.yaml")
    params.update({
        "data_root": str(root), "world": {"image_size": SIDE, "seed": 0},
        "visual": {**params["visual"], "img_size": SIDE, "weights_file": str(files["crossvit"])},
        "vit": {**VIT, "variant": "custom", "img_size": SIDE, "weights_file": str(files["vit"])},
        "cnn": "small", "cnn_weights": str(files["cnn"]), "hidden": 16, "bits": [8], "steps": 1, "batch_size": 8,
        "topk": 20, "run": {"cache_dir": str(d / "cache")}, "pretrain_dir": str(d / "pretrain"), "n_attention_images": 1,
        "w2v_epochs": 1, "diagnostics": [],
    })
    return {"dir": d, "root": root, "files": files, "params": params}


def test_full_real_split_is_the_protocols():
    _need_shared()
    cfg = from_params(whcmt.Config, {"data": "mirflickr_tags", "data_root": str(MIR)})
    records, _, (query, database, train), stats = whcmt.data._records_and_split(cfg)
    assert (len(records), len(query), len(train)) == (20015, 2000 - stats["split_entries_without_record_query"],
                                                     5000 - stats["split_entries_without_record_train"])
    assert len(query) > 1500 and len(train) > 3500 and len(np.intersect1d(query, database)) == 0


def test_missing_split_file_is_an_error_unless_sizes_are_given(tree, tmp_path):
    for name in ("all_imgs.txt", "all_tags.txt", "all_labels.txt"):
        shutil.copy(tree["root"] / name, tmp_path / name)
    cfg = from_params(whcmt.Config, {"data": "mirflickr_tags", "data_root": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r"hash_split_for_flickr25k\.json not found.*mirflickr_split"):
        whcmt.data._records_and_split(cfg)
    cfg = from_params(whcmt.Config, {"data": "mirflickr_tags", "data_root": str(tmp_path), "mirflickr_split": [20, 50]})
    _, _, (query, _, train), stats = whcmt.data._records_and_split(cfg)
    assert (len(query), len(train)) == (20, 50) and "random" in stats["split"]


def test_paper_profile_runs_every_notebook_with_the_given_weights(tree):
    cfg = from_params(whcmt.Config, tree["params"])
    data = whcmt.prepare_data(cfg)
    split = json.loads((tree["root"] / "hash_split_for_flickr25k.json").read_text())
    names = [ln.split()[0] for ln in (tree["root"] / "allannots.txt").read_text().splitlines() if ln.strip()]
    present = {f"mirflickr/{n}" for n in names}.intersection((tree["root"] / "all_imgs.txt").read_text().split())
    want_query = sorted(f"mirflickr/{names[r]}" for r in split["query"] if f"mirflickr/{names[r]}" in present)
    assert len(data.query) == len(want_query) > 0, "the query set is the protocol file's, not a random draw"
    assert data.stats["corrupt_images_skipped"] == 0 and "split" not in data.stats
    for nb in sorted((ROOT / "notebooks/whcmt").glob("0*.py")):
        report = tree["dir"] / "reports" / nb.stem
        job = Job("whcmt", nb.relative_to(ROOT), "paper", tree["params"], report, report / f"{nb.stem}.ipynb",
                  progress_every=0)
        out = execute(job, ROOT)
        assert out.ok, f"{nb.stem}: {out.error}"
    blobs = [torch.load(p, map_location="cpu", weights_only=False) for p in (tree["dir"] / "cache").glob("*.pt")]
    first = {"crossvit": "pos_embed_0", "vit": "vit.cls_token"}  # the first tensor of each file
    got = {k: [v for b in blobs if isinstance(b, dict) and "model" in b for n, v in b["model"].items()
               if n.endswith(first[k])] for k in ("crossvit", "vit")}
    for kind, tensors in got.items():  # fine-tuned 1 SGD step at lr 1e-3 from the marker: still at the marker
        assert tensors, f"no trained {kind} in the cache"
        assert all(torch.allclose(t, torch.full_like(t, MARKER), atol=1e-3) for t in tensors), kind

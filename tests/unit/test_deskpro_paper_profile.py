"""The real-data path end to end: the paper profile's notebooks, run by the runner's own executor, train and evaluate
every stream on tiny Celeb-reID-light, Celeb-reID and PRCC trees in the layout cmlib/data/reid_folders.py documents."""

import json
from pathlib import Path

import numpy as np
import pytest
from test_deskpro_study import _write, write_celeb_light_tree

from cmlib.config import load_yaml
from cmlib.runner import Job, execute

ROOT = Path(__file__).resolve().parents[2]


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
    params.update({  # the paper profile at toy sizes: only the data roots and the budget change
        "seeds": [0], "data": {k: str(tmp_path / k) for k in ("celeb-light", "celeb", "prcc")},
        "world": {"n_val_ids": 2, "height": 32, "width": 16, "face_size": 16}, "model": {"width": 0.1, "feat_dim": 8},
        "pretrain_ids": 4, "pretrain": {"steps": 2, "batch_size": 8}, "p": 2, "k": 2, "body_steps": 2,
        "face_steps": 2, "eval_every": 1, "timing_images": 2, "cache_dir": str(tmp_path / "cache"),
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

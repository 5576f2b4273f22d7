"""The DeSKPro study: data, the streams of Table 3, pretrained stand-ins, training with validation-split model
selection, evaluation, replicates and explorer; what the notebooks in ``notebooks/deskpro/`` call.

Paper: Wu et al., "Identity-Sensitive Knowledge Propagation for Cloth-Changing Person Re-identification",
ICASSP 2023 (Tables 1-3, Fig. 3). Notebooks: ``notebooks/deskpro/{01_ccreid,02_ablation,03_attention_maps,04_explore,05_dose}``.

Streams (each trained once per seed and cached under ``cache_dir`` keyed by the hash of everything it depends on):

========================  ===========================================================================
``G``                     global stream, no CSA (model 1, the LightMBN-like baseline)
``G+CSA``                 global stream with CSA, no L_att (model 2)
``G+CSA+Latt``            global stream with CSA and L_att (model 3; the global stream of DeSKPro)
``teacher``               face stream on restored faces, phi_t (model 6)
``student-``              face stream on low-resolution crops without L_fkp, phi_s^- (model 4)
``student+``              face stream on low-resolution crops with L_fkp from the teacher, phi_s^+ (model 5)
========================  ===========================================================================

Models 7, DeSKPro and DeSKPro* concatenate a global and a face stream. The two streams share no parameter and
eq. (7) is a sum of per-stream terms, so training them jointly on the same batches (as the official code does) and
training them separately are the same optimisation; cmlib trains each stream once and reuses it in every
combination. As in the official code (``main.py``: ``find_best_model`` per stream), each stream is selected on its
own validation score, but here on a held-out validation split of identities disjoint from train and test
(the official code selects on test mAP).

What the paper takes from elsewhere (ImageNet OSNet, GPEN restoration) is stood in for by models trained once on
people disjoint from every study world (:mod:`cmlib.studies.deskpro.priors`). Face detection is the world's
ground-truth head box (no detector is trained; a real run reads RetinaFace crops from ``lr_face``). Faceless images
are scored without a bias and ties broken in a random order (:mod:`cmlib.studies.deskpro.evaluation`).

A replicate (:func:`run_seed`) is one seed: world, split, initialisation and batch order; the notebooks run it for
every seed with :func:`cmlib.protocol.replicates.run_replicates` (each finished replicate kept, shared by all notebooks).

Choices where the paper is silent (official code, KimbingNg/DeskPro ``config_files/base.yaml``): Adam with
weight decay 5e-4, warm-up then cosine annealing of the learning rate (``w_cosine_annealing: true``), random
horizontal flip and random erasing (``random_erasing: true``, probability 0.5), P x K = 5 x 6 (``celeb_config``).
The teacher is frozen and run in eval mode while the student learns (Sec. 2.2, "we fix its parameters").
"""

from __future__ import annotations

from typing import Any

from cmlib.studies.deskpro.config import (
    ABLATION_ROWS,
    DATASETS,
    STREAMS,
    Config,
    ModelConfig,
    RestoreConfig,
)
from cmlib.studies.deskpro.data import build_world, load_real, protocols
from cmlib.studies.deskpro.dose import dose_claims, dose_replicate, dose_rows, dose_table
from cmlib.studies.deskpro.evaluation import chance_level, distances, evaluate
from cmlib.studies.deskpro.experiments import (
    attention_maps,
    plot_attention_maps,
    prepare,
    run_seed,
    sources,
)
from cmlib.studies.deskpro.priors import train_restorer, with_pretrained_osnet
from cmlib.studies.deskpro.streams import train_stream
from cmlib.studies.deskpro.tables import (
    ablation_claims,
    ablation_table,
    attention_claims,
    ccreid_claims,
    ccreid_table,
    efficiency_claims,
    efficiency_table,
    headline_level,
    premise_table,
    premises,
    stream_table,
)

__all__ = [
    "ABLATION_ROWS",
    "DATASETS",
    "STREAMS",
    "Config",
    "ModelConfig",
    "RestoreConfig",
    "ablation_claims",
    "ablation_table",
    "attention_claims",
    "attention_maps",
    "build_world",
    "ccreid_claims",
    "ccreid_table",
    "chance_level",
    "distances",
    "dose_claims",
    "dose_replicate",
    "dose_rows",
    "dose_table",
    "efficiency_claims",
    "efficiency_table",
    "evaluate",
    "fit_main",
    "headline_level",
    "load_real",
    "plot_attention_maps",
    "premise_table",
    "premises",
    "prepare",
    "protocols",
    "run_seed",
    "sources",
    "stream_table",
    "train_restorer",
    "train_stream",
    "with_pretrained_osnet",
]


def fit_main(cfg: Config, seed: int) -> dict[str, Any]:
    """Train the global stream G once with the params' ``run.device`` settings (cached like every stream): what
    ``examples/fit_distributed.py`` launches on one GPU or under torchrun. Returns steps, final_loss, wall_time_s."""
    cfg, restorer, _ = prepare(cfg)
    dataset, world = sources(cfg, seed, restorer)[0]
    info = train_stream(cfg, world, "G", seed, dataset=dataset)[1]
    return {"model": "DeSKPro stream G", **{k: info[k] for k in ("steps", "final_loss", "wall_time_s", "cached")}}

"""The CLAREL study (Oreshkin et al., "Improving zero-shot learning by retrieval loss", CVPRW 2020): its Config,
data, training, GZSL scoring, sweeps, claims, figures and explorer; what the notebooks in ``notebooks/clarel/`` call. The protocol (Section 4 and the GZSL practice the paper
follows): train on the train classes, choose alpha by maximising H on the validation split (held-out images of the
train classes = "seen", the validation classes = "unseen"), then retrain on train+val and score u, s, H (Eq. (1)
with d_alpha) and ZSL top-1 on the test split. alpha only acts at inference, so one trained model per
(seed, lambda, kappa, stage) is cached and alpha is swept on its distance matrix.

Layout: ``config`` (Config, TrainConfig), ``data`` (data sources, tokenising, the protocol stages), ``runs`` (training,
scoring, the run cache, one setting under the protocol), ``study`` (every training of the study as tasks on a worker
pool: :func:`run_study`, called by notebook 01), ``tables`` (the rows of notebooks 01-04, claims, figures), ``explore`` (the explorer of notebook 05), ``dose``
(notebook 06: the key novelty against the world's within-class variation).

Choices where the paper is silent (sources):
* validation "seen" images: 20% of each train class's trainval images (xlsa17's test_seen ratio 1,764/8,821);
  validation "unseen": the val classes (xlsa17 ``valclasses1`` / Reed ``sent_splits.mat`` ``val_loc``).
* class prototypes p(y) (Section 2.1): mean text embedding over every image of class y available to the stage
  (validation stage: trainval images; test stage: all images), each image's embedding the mean of its sentences.
* vocabulary and word2vec are built on all sentences (official code fits its tokenizer on the 'all' split);
  word vectors stay frozen (official code: a constant table).
* optimiser: paper profile SGD lr 0.1, lr / 10 at 1/3 and 2/3 of the steps, gradient clipping 1.0, weight decay
  1e-3, batch 32 (official code via issue 4). The CPU profiles (smoke, study, cub100) do NOT use that schedule:
  Adam lr 1e-3 (SGD at lr 0.1 left the towers unaligned in a few hundred steps, see TrainConfig), weight decay
  1e-4 (not 1e-3), gradient clipping 1.0, batch 32 (study: 64); the lr drops and the steps are each profile's
  (params/clarel/tuning.yaml: the study's were chosen on its validation curves, issue 32).
* text tower input projection: word vectors (E wide) pass through a 1x1 convolution to ``cnn_channels`` + batch
  normalisation + ReLU before the two residual CNN blocks (``cmlib.models.clarel.TextTower.inp``). The official
  description has word vectors enter the residual blocks directly; a residual block needs equal input and output
  widths, so our towers add this projection (E = 32 or 64 on CPU, 300 in the paper profile, against 64 / 512
  channels). It is an extra layer, not in the paper.

Replicates and claims: every notebook runs its replicates through ``cmlib.protocol.replicates.run_replicates``
(``experiments``: a replicate draws its own world, ``world.seed + seed``); every claim (``tables``) carries the
chance/collapse gate of ``cmlib.protocol.claims`` and the paper's own number; the key-novelty ablation trains the
main setting on class-level text (``world.text_level="class"``) against per-image text; the alpha transfer from the
validation to the train+val model is reported as a diagnostic (``tables.alpha_transfer``); steps were chosen on the
validation stage (params/clarel/study.yaml, params/clarel/tuning.yaml). Each trained setting's test split is sealed (``cmlib.protocol.splits.SealedSplit``,
``runs.sealed_test``) and opened once, after its alpha* is fixed on validation; the study's Figs. 3-4 grids are
lambda {0, .1, .2, .35, .5, .65, .8, .9, 1} and kappa {0, .1, .2, .4, .5, .6, .8, 1}.
"""

from __future__ import annotations

from cmlib.studies.clarel.config import Config, TrainConfig, dose_config, grid_config
from cmlib.studies.clarel.data import build_data, make_stage
from cmlib.studies.clarel.dose import dose_claims, dose_replicate, dose_rows
from cmlib.studies.clarel.experiments import (
    ablation_replicate,
    alpha_replicate,
    gzsl_replicate,
    sweep_replicate,
)
from cmlib.studies.clarel.runs import (
    Scored,
    evaluate_setting,
    fit_main,
    score,
    sealed_test,
    train_model,
    trained_scores,
)
from cmlib.studies.clarel.study import notebook_models, run_study, study_tasks
from cmlib.studies.clarel.tables import (
    OFF_MODE_CUB,
    OFF_MODE_CUB_SOURCE,
    STABLE_MARGIN,
    ablation_claims,
    ablation_curves,
    ablation_table,
    alpha_claims,
    alpha_matrix,
    alpha_transfer,
    gzsl_claims,
    gzsl_summary,
    headline_level,
    mean_table,
    plot_alpha_sweep,
    plot_sweep,
    stability_claims,
    stability_point_claims,
    stability_points,
    sweep_claims,
    sweep_rows,
    text_claims,
    text_table,
    worst_grid_point,
)

__all__ = [
    "OFF_MODE_CUB",
    "OFF_MODE_CUB_SOURCE",
    "STABLE_MARGIN",
    "Config",
    "Scored",
    "TrainConfig",
    "ablation_claims",
    "ablation_curves",
    "ablation_replicate",
    "ablation_table",
    "alpha_claims",
    "alpha_matrix",
    "alpha_replicate",
    "alpha_transfer",
    "build_data",
    "dose_claims",
    "dose_config",
    "dose_replicate",
    "dose_rows",
    "evaluate_setting",
    "fit_main",
    "grid_config",
    "gzsl_claims",
    "gzsl_replicate",
    "gzsl_summary",
    "headline_level",
    "make_stage",
    "mean_table",
    "notebook_models",
    "plot_alpha_sweep",
    "plot_sweep",
    "run_study",
    "score",
    "sealed_test",
    "stability_claims",
    "stability_point_claims",
    "stability_points",
    "study_tasks",
    "sweep_claims",
    "sweep_replicate",
    "sweep_rows",
    "text_claims",
    "text_table",
    "train_model",
    "trained_scores",
    "worst_grid_point",
]

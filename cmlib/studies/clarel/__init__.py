"""CLAREL study glue (Oreshkin et al., CVPRW 2020): config, data, training, GZSL scoring, sweeps, claims, figures.

Notebooks in ``notebooks/clarel/`` call only this module. The protocol (Section 4 and the GZSL practice the paper
follows): train on the train classes, choose alpha by maximising H on the validation split (held-out images of the
train classes = "seen", the validation classes = "unseen"), then retrain on train+val and score u, s, H (Eq. (1)
with d_alpha) and ZSL top-1 on the test split. alpha only acts at inference, so one trained model per
(seed, lambda, kappa, stage) is cached and alpha is swept on its distance matrix.

Layout: ``config`` (Config, TrainConfig), ``data`` (data sources, tokenising, the protocol stages), ``runs`` (training,
scoring, the run cache, one setting under the protocol), ``tables`` (the rows of notebooks 01-04, claims, figures).

Choices where the paper is silent (sources):
* validation "seen" images: 20% of each train class's trainval images (xlsa17's test_seen ratio 1,764/8,821);
  validation "unseen": the val classes (xlsa17 ``valclasses1`` / Reed ``sent_splits.mat`` ``val_loc``).
* class prototypes p(y) (Section 2.1): mean text embedding over every image of class y available to the stage
  (validation stage: trainval images; test stage: all images), each image's embedding the mean of its sentences.
* vocabulary and word2vec are built on all sentences (official code fits its tokenizer on the 'all' split);
  word vectors stay frozen (official code: a constant table).
* optimiser: paper profile SGD lr 0.1, lr / 10 at 1/3 and 2/3 of the steps, gradient clipping 1.0, weight decay
  1e-3, batch 32 (official code via issue 4); CPU profiles use Adam lr 1e-3 with the same schedule (TrainConfig).
"""

from __future__ import annotations

from cmlib.studies.clarel.config import Config, TrainConfig
from cmlib.studies.clarel.data import ClarelData, Stage, build_data, make_stage, tokenise
from cmlib.studies.clarel.runs import (
    _MEMORY,
    Scored,
    evaluate_setting,
    fit_main,
    gzsl_at,
    h_curve,
    model_config,
    score,
    stage_batches,
    train_model,
    trained_scores,
)
from cmlib.studies.clarel.tables import (
    ABLATION,
    ablation_claims,
    ablation_rows,
    alpha_claims,
    alpha_sweep_matrix,
    gzsl_claims,
    gzsl_rows,
    gzsl_summary,
    mean_table,
    plot_alpha_sweep,
    plot_sweep,
    sweep_claims,
    sweep_rows,
)

__all__ = [
    "ABLATION",
    "_MEMORY",
    "ClarelData",
    "Config",
    "Scored",
    "Stage",
    "TrainConfig",
    "ablation_claims",
    "ablation_rows",
    "alpha_claims",
    "alpha_sweep_matrix",
    "build_data",
    "evaluate_setting",
    "fit_main",
    "gzsl_at",
    "gzsl_claims",
    "gzsl_rows",
    "gzsl_summary",
    "h_curve",
    "make_stage",
    "mean_table",
    "model_config",
    "plot_alpha_sweep",
    "plot_sweep",
    "score",
    "stage_batches",
    "sweep_claims",
    "sweep_rows",
    "tokenise",
    "train_model",
    "trained_scores",
]

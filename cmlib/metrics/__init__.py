"""Evaluation metrics of the four papers: pure functions, tensors or arrays in, floats / small arrays out.

- ``hashing``: Hamming-ranking MAP@k, precision/recall within a radius, precision@N and PR curves (WHCMT).
- ``zsl``: per-class top-1, ZSL top-1, GZSL u/s/H with metric rescaling, alpha sweeps (CLAREL).
- ``reid``: CMC and mAP under standard / cloth-changing / same-clothes protocols, chunked distances (DeSKPro).
- ``refseg``: SketchyScene per-expression AP and COCO mask AP through pycocotools (GRM-Net).
"""

from cmlib.metrics import hashing, refseg, reid, zsl
from cmlib.metrics.hashing import MAPResult
from cmlib.metrics.reid import RankResult
from cmlib.metrics.zsl import GZSLResult

__all__ = ["GZSLResult", "MAPResult", "RankResult", "hashing", "refseg", "reid", "zsl"]

"""cmlib: a reproducible study of four cross-modal vision papers (WHCMT, CLAREL, DeSKPro, GRM-Net).

Subpackages: ``config`` (strict configs), ``engine`` (training loop), ``reporting`` (metrics, figures, claims),
``runner`` (papermill reports), ``text``, ``layers``, ``data``, ``models``, ``losses``, ``metrics``, ``studies``.
Nothing heavy is imported here: ``import cmlib`` is instant.
"""

__version__ = "0.1.0"

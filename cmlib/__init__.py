"""cmlib: a reproducible study of four cross-modal vision papers (WHCMT, CLAREL, DeSKPro, GRM-Net).

Subpackages: ``config`` (strict configs), ``engine`` (training loop), ``reporting`` (metrics, figures, claims),
``runner`` (papermill reports, live ``progress``), ``text``, ``layers``, ``data``, ``models``, ``losses``, ``metrics``,
``studies``, ``explore`` (interactive explorers).
Nothing heavy is imported here: ``import cmlib`` is instant, and ``cmlib.metrics`` (say) is imported the first time
it is used. Each subpackage exports the public names of its modules the same lazy way
(``from cmlib.losses import clarel_loss``, ``from cmlib.models import WHCMT``).
"""

from cmlib._lazy import lazy_exports

__version__ = "0.1.0"

_MODULES = ("cache", "claims", "config", "data", "engine", "explore", "golden", "index", "layers", "losses", "metrics",
            "models", "perturb", "progress", "replicates", "reporting", "runner", "splits", "studies", "text")

__getattr__, __dir__, __all__ = lazy_exports(__name__, {name: () for name in _MODULES})

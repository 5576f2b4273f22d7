"""cmlib: a reproducible study of four cross-modal vision papers (WHCMT, CLAREL, DeSKPro, GRM-Net).

The package is built in floors; each imports only from the floors below it:

1. ``protocol``: the study protocol (configs and the run section, the training engine, seeds, splits, caches,
   replicates and executors, pretraining stand-ins, claims and their gates);
2. the library a researcher reuses: ``text``, ``layers``, ``data`` (real-data readers and the embedded worlds),
   ``models``, ``losses``, ``metrics``;
3. ``studies``: one package per paper (its Config, data, runs, tables and explorer) plus the demo;
4. ``execution``: notebooks' set-up, reports, claims views, the golden bands, the index and the site; and
   ``runner``, the command line (``python -m cmlib.runner clarel --profile study``).

Nothing heavy is imported here: ``import cmlib`` is instant, and ``cmlib.metrics`` (say) is imported the first time
it is used. Each subpackage exports the public names of its modules the same lazy way
(``from cmlib.losses import clarel_loss``, ``from cmlib.models import WHCMT``).
"""

from cmlib._lazy import lazy_exports

__version__ = "0.1.0"

_MODULES = ("data", "execution", "layers", "losses", "metrics", "models", "protocol", "runner", "studies", "text")

__getattr__, __dir__, __all__ = lazy_exports(__name__, {name: () for name in _MODULES})

"""The study protocol: what every paper's study is made of, whatever runs it.

``config`` (strict configs, profiles, overrides), ``run`` (the run section every paper's Config holds: seeds,
workers, cache directory, threads, device, executor), ``engine`` (the training loop on Lightning Fabric), ``seeds`` (the seed
ranges of study, stability and tuning), ``splits``, ``cache`` and ``files`` (atomic writes, content keys),
``replicates`` and ``executors`` (replicates and tasks on a local pool, SLURM or Dask), ``pretrain`` (the backbone
stand-ins), ``claims`` (verdicts: margins, convergence gates, premises, dose-response) and ``perturb`` (the test-only
numeric jitter). Nothing here imports from :mod:`cmlib.execution` or :mod:`cmlib.studies`.
"""

from cmlib._lazy import lazy_exports

_MODULES = ("cache", "claims", "config", "engine", "executors", "files", "perturb", "pretrain", "replicates", "run",
            "seeds", "splits")

__getattr__, __dir__, __all__ = lazy_exports(__name__, {name: () for name in _MODULES})

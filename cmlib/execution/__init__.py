"""The execution layer: how a study's notebooks run and how their results leave them.

``notebook`` (the one-call set-up every notebook starts with), ``reporting`` (metrics.json, run_info, figures,
tables, claim verdicts), ``claims_view`` and ``claim_plots`` (claims as tables and figures), ``progress`` (live
progress of a papermill run), ``golden`` (the golden notebooks' bands), ``index``, ``site`` and ``study_figure``
(``reports/README.md``, ``reports/index.html``, ``reports/study.png``). The command line that drives them is
:mod:`cmlib.runner`. This floor reads the protocol (:mod:`cmlib.protocol`), never the other way round.
"""

from cmlib._lazy import lazy_exports

_MODULES = ("claim_plots", "claims_view", "golden", "index", "notebook", "progress", "reporting", "site",
            "study_figure")

__getattr__, __dir__, __all__ = lazy_exports(__name__, {name: () for name in _MODULES})

"""The public API: every subpackage exports its modules' public names lazily; ``import cmlib`` stays cheap."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cmlib", "cmlib.losses", "cmlib.models", "cmlib.metrics", "cmlib.data", "cmlib.data.worlds", "cmlib.layers",
            "cmlib.text", "cmlib.studies", "cmlib.protocol", "cmlib.execution")
MODULES_ONLY = ("cmlib", "cmlib.data.worlds", "cmlib.studies", "cmlib.protocol", "cmlib.execution")  # one module per paper; their names repeat across papers


def _submodules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_imports_and_matches_the_modules(package: str) -> None:
    pkg = importlib.import_module(package)
    subs = _submodules(package)
    assert sorted(n for n in pkg.__all__ if n in subs) == subs, "every public submodule is exported"
    owners: dict[str, list[object]] = {}
    for sub in subs:
        module = importlib.import_module(f"{package}.{sub}")
        if package in MODULES_ONLY or hasattr(module, "__path__"):  # a subpackage exports its own modules
            continue
        for name in module.__all__:
            owners.setdefault(name, []).append(getattr(module, name))
    # a name in two modules is exported only if it is the same object (a re-export) and is not a module's name
    unique = {n for n, objs in owners.items() if all(o is objs[0] for o in objs) and n not in subs}
    assert set(pkg.__all__) - set(subs) == unique, f"{package}.__all__ against its modules' __all__"
    for name in pkg.__all__:
        value = getattr(pkg, name)
        if name in unique:
            assert value is owners[name][0], f"{package}.{name}"
    assert set(pkg.__all__) <= set(dir(pkg))
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_name'"):
        pkg.no_such_name  # noqa: B018


def test_the_names_of_the_issue_import() -> None:
    import cmlib
    from cmlib.losses import ClarelLoss, clarel_loss
    from cmlib.models import WHCMT
    from cmlib.models.whcmt import WHCMT as WHCMT_

    assert WHCMT is WHCMT_ and callable(clarel_loss) and ClarelLoss.__name__ == "ClarelLoss"
    assert cmlib.metrics.zsl.gzsl is cmlib.metrics.gzsl
    assert "models" in cmlib.__all__ and "studies" in dir(cmlib)


def test_import_cmlib_imports_nothing_heavy() -> None:
    code = ("import sys, cmlib, cmlib.losses, cmlib.models, cmlib.metrics, cmlib.data, cmlib.studies\n"
            "heavy = [m for m in ('torch', 'numpy', 'timm', 'gensim', 'numba', 'cmlib.models.whcmt', "
            "'cmlib.losses.retrieval', 'cmlib.metrics.hashing', 'cmlib.studies.clarel') if m in sys.modules]\n"
            "print(heavy)\n"
            "import cmlib as c\n"
            "bare = [m for m in sys.modules if m.startswith('cmlib.') and m != 'cmlib._lazy']\n"
            "print(sorted(bare))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    heavy, bare = out.stdout.splitlines()
    assert heavy == "[]", heavy
    assert bare == "['cmlib.data', 'cmlib.losses', 'cmlib.metrics', 'cmlib.models', 'cmlib.studies']", bare
    bare_only = "import sys, cmlib; print(sorted(m for m in sys.modules if m.startswith('cmlib')))"
    out = subprocess.run([sys.executable, "-c", bare_only], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "['cmlib', 'cmlib._lazy']"

"""The project kernel: ``make setup`` installs ``cmlib`` into the venv, its python with ``PYTHONHASHSEED=0`` (gensim
word2vec is bit-reproducible only with a fixed hash seed, which a kernel started by ``jupyter lab`` would lack), and
every notebook's jupytext header names it, so JupyterLab and the runner start it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNELSPEC = {"name": "cmlib", "display_name": "cmlib (Python 3)", "language": "python"}


def test_the_installed_project_kernel_fixes_the_hash_seed() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("cmlib")
    except NoSuchKernel:
        pytest.skip("the project kernel 'cmlib' is not installed (`make setup` installs it into .venv)")
    assert spec.env.get("PYTHONHASHSEED") == "0", spec.env
    assert (spec.display_name, spec.language) == (KERNELSPEC["display_name"], KERNELSPEC["language"])
    assert Path(spec.argv[0]).is_file(), f"the kernel's python {spec.argv[0]} is gone: rerun `make setup`"


def test_every_notebook_header_names_the_project_kernel() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*/[0-9][0-9]_*.py"))
    assert notebooks
    wrong = {str(nb.relative_to(ROOT)): jupytext.read(nb).metadata.get("kernelspec") for nb in notebooks}
    assert {k: v for k, v in wrong.items() if v != KERNELSPEC} == {}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_setup_installs_the_project_kernel() -> None:
    out = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), "setup"], capture_output=True, text=True,
                         check=True).stdout
    assert ('-m ipykernel install --sys-prefix --name cmlib --display-name "cmlib (Python 3)" --env PYTHONHASHSEED 0'
            in out), out

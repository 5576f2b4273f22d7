"""Shared fixtures: the real annotation files beside the project, and test ordering for the golden notebooks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
SESSION_START = time.time()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets (real annotation files); tests that need it skip, saying why, when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATASETS} (../shared/datasets beside the project)")
    return SHARED_DATASETS


@pytest.fixture()
def one_thread():
    """One torch intra-op thread for the test (restored after): results then match the studies' pinned setting, and
    on a shared 2-core machine two OpenMP threads per process spin against each other."""
    from cmlib.engine import torch_threads

    with torch_threads(1):
        yield


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the golden notebooks (nbval) before the tolerance test that reads the metrics.json they write."""
    items.sort(key=lambda item: "test_golden_metrics" in item.nodeid)

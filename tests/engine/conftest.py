"""Fixtures for the engine tests: a pristine copy of the demo store per session, and a private writable copy per
test (runs are recorded into the store, so tests never share one)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from storebuild import private_store  # noqa: E402


@pytest.fixture(scope="session")
def pristine_store(demo_artifacts, tmp_path_factory) -> Path:
    return private_store(demo_artifacts, tmp_path_factory.mktemp("pristine") / "demo.store")


@pytest.fixture
def store_copy(pristine_store, tmp_path) -> Path:
    dest = tmp_path / "demo.store"
    shutil.copytree(pristine_store, dest)
    return dest


@pytest.fixture(scope="session")
def demo_contract(demo_artifacts):
    from contracts.load import load_contract

    return load_contract(demo_artifacts.contract)

"""Backends tests reuse the engine tests' store helper (a private store per test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))

from storebuild import private_store  # noqa: E402


@pytest.fixture(scope="session")
def backend_store(demo_artifacts, tmp_path_factory) -> Path:
    return private_store(demo_artifacts, tmp_path_factory.mktemp("backend-store") / "demo.store")


@pytest.fixture(scope="session")
def demo_contract(demo_artifacts):
    from contracts.load import load_contract

    return load_contract(demo_artifacts.contract)

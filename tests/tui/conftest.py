"""Fixtures of the inspector's tests: a deterministic synthetic store written by the real `store.Store` with runs
recorded by the real parity engine (`synthetic`, this folder), an app factory, and `settle` (wait until every
worker is done and every message handled)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tui_helpers import screen_text, settle_app  # noqa: E402

STREAMS = ("utt-0001", "utt-0002")
CHUNKS = 12
IMPORT_SAMPLES = Path(__file__).parents[1] / "importers" / "data"
"""The seed-format samples of the importer tests (a parity report, streaming summaries)."""
FAULTY_CHUNKS = (3, 5, 7, 9)
"""`synthetic.DEFAULT_RUNS`: spike in cache_last_channel_out on 3, encoder_output over atol on 5,
NaN in encoder_output on 7, the backend raises on 9."""


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory):
    """`SyntheticStore` (path ends in ``synthetic.zarr``; runs: planted-clean closed-loop without saved outputs,
    planted-faults functional with them)."""
    from synthetic import build_synthetic_store

    folder = tmp_path_factory.mktemp("tui-store")
    return build_synthetic_store(folder / "synthetic.zarr", chunks=CHUNKS, streams=STREAMS)


@pytest.fixture
def make_inspector(synthetic_store) -> Callable[..., Any]:
    """Build an `InspectorApp` on the synthetic store (no store polling, so runs are deterministic)."""
    from inspector.tui.app import make_app

    def make(**kwargs: Any):
        kwargs.setdefault("poll_interval", 0)
        return make_app(synthetic_store.path, **kwargs)

    return make


@pytest.fixture
def settle() -> Callable[[Any], Awaitable[None]]:
    return settle_app


@pytest.fixture
def shown() -> Callable[[Any], str]:
    return screen_text


@pytest.fixture
def imported_store(synthetic_store, tmp_path):
    """A copy of the synthetic store with two imported runs on its first stream: the seed's ORT CUDA report (37 of
    40 chunks undecided) and a streaming summary of a stateful closed loop."""
    from inspector.importers.record import import_file

    copy = tmp_path / "imported.zarr"
    shutil.copytree(synthetic_store.path, copy)
    report = import_file(IMPORT_SAMPLES / "ort_cuda_closed_loop.json", copy, stream="utt-0001")
    summary = import_file(IMPORT_SAMPLES / "summary_stateful.jsonl", copy, stream="utt-0001")
    return copy, report.run_id, summary.run_id

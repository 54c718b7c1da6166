"""Fixtures for the state tests: private stores of the demo reference and of the planted faults' references.

Runs are recorded in the store they run against, so every test that runs gets its own copy
(`state_stores.fresh_copy`).
The faulty references are made by NeMo's own encoder (`tiny_encoder`) over the demo stream's inputs, on the first
`FAULT_CHUNKS` chunks (enough for three probes and the growth test, half the cost of 50).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from state_stores import FAULT_CHUNKS, build_store  # noqa: E402


@pytest.fixture(scope="session")
def base_store(demo_artifacts, tmp_path_factory) -> Path:
    """The demo's 50-chunk reference as a store (never run against: copy it first)."""
    folder = tmp_path_factory.mktemp("state-base")
    if demo_artifacts.store is not None and Path(demo_artifacts.store).exists():
        return Path(shutil.copytree(demo_artifacts.store, folder / "demo.zarr"))
    return build_store(Path(demo_artifacts.reference_jsonl), folder / "demo.zarr")


@pytest.fixture(scope="session")
def stream_name(base_store) -> str:
    from store import Store

    return Store.open(base_store, "r").streams()[0]


@pytest.fixture(scope="session")
def stuck_onnx(demo_artifacts, tmp_path_factory) -> Path:
    """Fault (a): the demo export with `cache_last_channel_len_out` forced to 0."""
    from state_faults import force_output_zero

    return force_output_zero(Path(demo_artifacts.onnx), tmp_path_factory.mktemp("state-stuck") / "stuck.onnx")


@pytest.fixture(scope="session")
def stuck_store(base_store, stream_name, tiny_encoder, tmp_path_factory) -> Path:
    """Fault (a)'s reference: NeMo's encoder with its length output forced to 0 the same way."""
    from state_faults import stuck_length_reference
    from store import Store

    dest = tmp_path_factory.mktemp("state-stuck-ref") / "stuck.zarr"
    return stuck_length_reference(tiny_encoder, Store.open(base_store, "r"), dest, stream_name,
                                  n_chunks=FAULT_CHUNKS)


@pytest.fixture(scope="session")
def padded_store(base_store, stream_name, tiny_encoder, tmp_path_factory) -> Path:
    """Fault (b): the demo stream's first chunks, the last of them padded (30 real frames of 57), NeMo's outputs."""
    from state_faults import padded_last_chunk_store
    from store import Store

    dest = tmp_path_factory.mktemp("state-padded") / "padded.zarr"
    return padded_last_chunk_store(tiny_encoder, Store.open(base_store, "r"), dest, stream_name, real_frames=30,
                                   n_chunks=FAULT_CHUNKS)

"""Fixtures for the executor tests: a 4-stream store built from the demo store, and a Ray temp folder per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

N_CHUNKS = 20
STREAMS = ("utt-a", "utt-b", "utt-c", "utt-d")


def four_stream_store(src: Path, dest: Path, n: int = N_CHUNKS) -> Path:
    """Four streams, each the demo stream's first `n` chunks (closed loops need consecutive chunks from 0)."""
    from store import Store

    s = Store.open(src)
    first = s.streams()[0]
    keep = {k: v for k, v in (s.attrs or {}).items() if k in ("header", "contract")}
    st = Store.create(dest, attrs=keep)
    for name in STREAMS:
        for k in range(n):
            view = s.chunk(first, k)
            st.write_chunk(name, k, view.inputs(), view.outputs(), dict(view.meta or {}))
    return dest


@pytest.fixture(scope="session")
def four_streams(demo_artifacts, tmp_path_factory) -> Path:
    return four_stream_store(Path(demo_artifacts.store), tmp_path_factory.mktemp("four") / "four.zarr")


@pytest.fixture
def four_copy(four_streams, tmp_path) -> Path:
    dest = tmp_path / "s.zarr"
    shutil.copytree(four_streams, dest)
    return dest


@pytest.fixture
def ray_tmp(tmp_path_factory) -> str:
    # Ray's socket paths must stay short (AF_UNIX limit ~107 bytes): a short folder under pytest's base temp.
    return str(tmp_path_factory.mktemp("ray", numbered=True))

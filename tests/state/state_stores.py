"""Test helpers: private stores for the state tests (runs are recorded in the store they run against, so every test
that runs gets its own copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

FAULT_CHUNKS = 24


def build_store(jsonl: Path, dest: Path, n_chunks: int | None = None) -> Path:
    """A store from one of our reference JSONL files (header line → store header), optionally its first chunks."""
    from inspector.reference import decode_tensor, iter_lines
    from store import Store

    st = None
    for line in iter_lines(jsonl):
        if "format" in line and "inputs" not in line:
            st = Store.create(dest, attrs={"header": line})
            continue
        if st is None:
            st = Store.create(dest)
        index = int(line["chunk_index"])
        if n_chunks is not None and index >= n_chunks:
            continue
        st.write_chunk(line.get("stream", "default"), index, {k: decode_tensor(v) for k, v in line["inputs"].items()},
                       {k: decode_tensor(v) for k, v in line["outputs"].items()}, line.get("meta"))
    return dest


def fresh_copy(src: Path, tmp_path: Path, name: str = "store.zarr") -> Path:
    dest = tmp_path / name
    shutil.copytree(src, dest)
    return dest

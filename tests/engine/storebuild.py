"""Test helper: a private, writable copy of the demo store (runs are written into it), built from the demo JSONL
when the demo artifacts carry no store yet."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def store_from_jsonl(jsonl: Path, dest: Path) -> Path:
    """Write a store from one of our reference JSONL files (header line → store header)."""
    from inspector.reference import decode_tensor, iter_lines
    from store import Store

    st = None
    for line in iter_lines(jsonl):
        if "format" in line and "inputs" not in line:
            st = Store.create(dest, attrs={"header": line})
            continue
        if st is None:
            st = Store.create(dest)
        inputs = {k: decode_tensor(v) for k, v in line["inputs"].items()}
        outputs = {k: decode_tensor(v) for k, v in line["outputs"].items()}
        st.write_chunk(line.get("stream", "default"), int(line["chunk_index"]), inputs, outputs, line.get("meta"))
    return dest


def private_store(artifacts: Any, dest: Path, jsonl: Path | None = None) -> Path:
    """A copy of the demo store at `dest` (or one built from `jsonl`, default the demo reference)."""
    if jsonl is None and artifacts.store is not None and Path(artifacts.store).exists():
        shutil.copytree(artifacts.store, dest)
        return dest
    return store_from_jsonl(jsonl or artifacts.reference_jsonl, dest)

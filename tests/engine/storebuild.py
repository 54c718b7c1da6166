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


def two_stream_store(src: Path, dest: Path, n: int = 8, streams: tuple[str, str] = ("utt-a", "utt-b"),
                     bad_chunk: int = 3) -> Path:
    """A store with two streams copied from the demo store's first `n` chunks; in `streams[1]` the reference
    encoder_output of chunk `bad_chunk` is off by 0.01, so a run on it fails there and a run on `streams[0]` passes
    (which stream ran shows in the verdict)."""
    from store import Store

    s = Store.open(src)
    first = s.streams()[0]
    st = Store.create(dest, attrs={"header": dict((s.attrs or {}).get("header") or {})})
    for name in streams:
        for k in range(n):
            view = s.chunk(first, k)
            outputs = view.outputs()
            if name == streams[1] and k == bad_chunk:
                outputs["encoder_output"] = outputs["encoder_output"] + 0.01
            st.write_chunk(name, k, view.inputs(), outputs, dict(view.meta or {}))
    return dest

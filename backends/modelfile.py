"""Identity of a model file: a content hash covering the .onnx and its external-data files.

Used in run records (which export was checked) and in TensorRT engine-cache keys (an engine is only reused for the
exact same bytes). Hashes are remembered per (path, size, mtime) for the life of the process.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CACHE: dict[tuple[str, int, int], str] = {}


def _external_files(path: Path) -> list[Path]:
    """External-data files an ONNX model references (read from the graph's initializers, not guessed)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 — not an ONNX file (a .nemo, a plan): hash the file alone
        return []
    names: set[str] = set()
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                names.add(entry.value)
    return [path.parent / n for n in sorted(names)]


def model_sha256(path: str | Path) -> str:
    """sha256 over the model file and, for an ONNX model with external data, each data file (in name order)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    h = hashlib.sha256()
    files = [path]
    if path.suffix == ".onnx":
        files += _external_files(path)
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
    _CACHE[key] = h.hexdigest()
    return _CACHE[key]


def model_size(path: str | Path) -> int:
    """Bytes of the model file plus its external data."""
    path = Path(path)
    files = [path] + (_external_files(path) if path.suffix == ".onnx" else [])
    return sum(os.path.getsize(f) for f in files if f.exists())

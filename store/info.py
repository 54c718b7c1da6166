"""What `inspector info` shows about a store, as JSON-ready data (metadata only: no tensor data is read)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from store import layout
from store.arrays import array_meta

if TYPE_CHECKING:
    from store.zarr_store import Store


def _missing(indices: list[int]) -> list[int]:
    """Chunk indices absent between 0 and the last present one (gaps a --skip-invalid conversion left)."""
    if not indices:
        return []
    present = set(indices)
    return [i for i in range(indices[-1] + 1) if i not in present]


def _stream_info(store: Store, stream: str) -> dict[str, Any]:
    indices = store.chunk_indices(stream)
    folder = Path(store.path) / layout.STREAMS / layout.stream_dirname(stream)
    shapes: dict[tuple[str, str], list[tuple[int, tuple[int, ...]]]] = {}
    dtypes: dict[tuple[str, str], Counter] = {}
    nbytes: dict[tuple[str, str], int] = {}
    meta_keys: Counter = Counter()
    order: list[tuple[str, str]] = []
    for index in indices:
        chunk_folder = folder / layout.chunk_dirname(index)
        attrs = layout.read_group_attrs(chunk_folder)
        meta_keys.update((attrs.get("meta") or {}).keys())
        for kind in ("inputs", "outputs"):
            for name in attrs.get(kind) or ():
                key = (kind, name)
                if key not in shapes:
                    order.append(key)
                    shapes[key], dtypes[key], nbytes[key] = [], Counter(), 0
                shape, dtype = array_meta(chunk_folder / kind / name)
                shapes[key].append((index, shape))
                dtypes[key][dtype] += 1
                nbytes[key] += math.prod(shape) * np.dtype(dtype).itemsize
    tensors = []
    for key in order:
        kind, name = key
        runs: list[dict[str, Any]] = []  # consecutive chunks with one shape: [{shape, first, last, count}]
        for index, shape in shapes[key]:
            if runs and runs[-1]["shape"] == list(shape):
                runs[-1]["last"] = index
                runs[-1]["count"] += 1
            else:
                runs.append({"shape": list(shape), "first": index, "last": index, "count": 1})
        distinct = {tuple(r["shape"]) for r in runs}
        tensors.append({
            "kind": kind, "name": name, "dtype": dtypes[key].most_common(1)[0][0],
            "dtypes": dict(dtypes[key]), "chunks": len(shapes[key]),
            "shape": runs[0]["shape"] if len(distinct) == 1 else None,
            "shapes": runs, "shape_varies": len(distinct) > 1, "nbytes": nbytes[key],
        })
    return {
        "name": stream, "chunks": len(indices), "first": indices[0] if indices else None,
        "last": indices[-1] if indices else None, "missing": _missing(indices),
        "meta_keys": sorted(meta_keys), "tensors": tensors,
    }


def _run_info(record: Any, store: Store) -> dict[str, Any]:
    from store.runs import open_run

    run = open_run(store, record.run_id)
    summary = record.summary or {}
    verdict = summary.get("verdict")
    if verdict is None and isinstance(summary.get("passed"), bool):
        verdict = "pass" if summary["passed"] else "fail"
    done = len(run.done_chunks(record.stream)) if record.stream else 0
    return {
        "run_id": record.run_id, "backend": record.backend, "mode": record.mode, "status": record.status,
        "stream": record.stream, "chunks_done": done, "chunks_planned": len(record.chunks or []),
        "verdict": verdict, "started": record.started, "finished": record.finished, "baseline": record.baseline,
    }


def _disk_bytes(path: Path) -> int:
    total = 0
    for entry in Path(path).rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


def store_info(store: Store) -> dict[str, Any]:
    """Streams, chunk counts, tensors (shapes, dtypes, bytes), metadata keys, source, skipped lines and runs."""
    attrs = store.attrs
    streams = [_stream_info(store, s) for s in store.streams()]
    return {
        "path": str(store.path),
        "format": attrs.get("format"), "version": attrs.get("version"), "codec": attrs.get("codec"),
        "source": attrs.get("source"), "source_format": attrs.get("source_format"),
        "header": attrs.get("header"), "contract": attrs.get("contract"),
        "conversion": attrs.get("conversion"), "skipped": attrs.get("skipped") or [],
        "warnings": attrs.get("warnings") or [],
        "streams": streams,
        "total_chunks": sum(s["chunks"] for s in streams),
        "tensor_bytes": sum(t["nbytes"] for s in streams for t in s["tensors"]),
        "disk_bytes": _disk_bytes(store.path),
        "runs": [_run_info(r, store) for r in store.runs()],
    }

"""What `inspector info` shows about a store, as JSON-ready data (metadata only: no tensor data is read)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from store import layout
from store.api import StoreCorrupt
from store.arrays import array_meta, array_problem
from store.locks import converting_now

if TYPE_CHECKING:
    from store.zarr_store import Store


MAX_LISTED_MISSING = 1000


def _missing(indices: list[int], limit: int = MAX_LISTED_MISSING) -> list[int]:
    """Chunk indices absent between 0 and the last present one (gaps a --skip-invalid conversion left), at most
    `limit` of them (a chunk_index of 10**9 must not make a list of a billion); see `_missing_count`."""
    out: list[int] = []
    expected = 0
    for i in indices:
        if i > expected:
            out.extend(range(expected, min(i, expected + limit - len(out))))
            if len(out) >= limit:
                break
        expected = i + 1
    return out


def _missing_count(indices: list[int]) -> int:
    return (indices[-1] + 1 - len(indices)) if indices else 0


def _note_meta(acc: dict[str, Any], value: Any) -> None:
    """Accumulate what `inspector info` says about one metadata key: numeric range, or the distinct values."""
    from store.jsonsafe import restore_nonfinite

    value = restore_nonfinite(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:  # NaN: counted, kept out of the range
            acc["nan"] = acc.get("nan", 0) + 1
            return
        acc["lo"] = value if "lo" not in acc else min(acc["lo"], value)
        acc["hi"] = value if "hi" not in acc else max(acc["hi"], value)
    else:
        distinct = acc.setdefault("distinct", [])
        text = json_text(value)
        if text not in distinct and len(distinct) < 4:
            distinct.append(text)
        elif text not in distinct:
            acc["more"] = True


def json_text(value: Any) -> str:
    import orjson

    from store.jsonsafe import to_jsonable

    text = value if isinstance(value, str) else orjson.dumps(to_jsonable(value)).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _meta_text(acc: dict[str, Any], present: int, chunks: int) -> str:
    parts = []
    if "lo" in acc:
        parts.append(f"{acc['lo']:g}" if acc["lo"] == acc["hi"] else f"{acc['lo']:g}..{acc['hi']:g}")
    if acc.get("nan"):
        parts.append(f"NaN on {acc['nan']} chunk(s)")
    if acc.get("distinct"):
        parts.append(" | ".join(acc["distinct"]) + (" | …" if acc.get("more") else ""))
    if present < chunks:
        parts.append(f"on {present} of {chunks} chunks")
    return ", ".join(parts)


def _damage(stream: str, index: int, folder: Path, problem: str) -> dict[str, Any]:
    return {"stream": stream, "chunk": index, "folder": str(folder), "problem": problem}


def _stream_info(store: Store, stream: str, damaged: list[dict[str, Any]]) -> dict[str, Any]:
    indices = store.chunk_indices(stream)
    folder = store._stream_folder(stream)
    shapes: dict[tuple[str, str], list[tuple[int, tuple[int, ...]]]] = {}
    dtypes: dict[tuple[str, str], Counter] = {}
    nbytes: dict[tuple[str, str], int] = {}
    meta_keys: Counter = Counter()
    meta_values: dict[str, dict[str, Any]] = {}
    order: list[tuple[str, str]] = []
    for index in indices:
        chunk_folder = folder / layout.chunk_dirname(index)
        try:
            attrs = layout.read_group_attrs(chunk_folder)
        except FileNotFoundError:
            damaged.append(_damage(stream, index, chunk_folder, f"{chunk_folder}/zarr.json is missing"))
            continue
        except StoreCorrupt as exc:
            damaged.append(_damage(stream, index, chunk_folder, str(exc)))
            continue
        meta = attrs.get("meta")
        meta_keys.update(meta.keys() if isinstance(meta, dict) else ())
        for key, value in (meta.items() if isinstance(meta, dict) else ()):
            _note_meta(meta_values.setdefault(key, {}), value)
        for kind in ("inputs", "outputs"):
            for name in attrs.get(kind) or ():
                array_folder = layout.array_folder(chunk_folder, kind, name)
                problem = array_problem(array_folder)
                if problem is not None:
                    damaged.append(_damage(stream, index, chunk_folder, f"{kind[:-1]} {name!r}: {problem}"))
                    continue
                key = (kind, name)
                if key not in shapes:
                    order.append(key)
                    shapes[key], dtypes[key], nbytes[key] = [], Counter(), 0
                shape, dtype = array_meta(array_folder)
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
        "missing_count": _missing_count(indices),
        "meta_keys": sorted(meta_keys), "tensors": tensors,
        "meta_summary": {k: _meta_text(v, meta_keys[k], len(indices)) for k, v in sorted(meta_values.items())},
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
    damaged: list[dict[str, Any]] = []
    streams = [_stream_info(store, s, damaged) for s in store.streams()]
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
        "damaged": damaged + _damaged_runs(store),
        "converting_now": converting_now(store.path),
    }


def _damaged_runs(store: Store) -> list[dict[str, Any]]:
    """Run folders whose record cannot be read (`Store.runs` leaves them out)."""
    folder = Path(store.path) / layout.RUNS
    out: list[dict[str, Any]] = []
    if not folder.is_dir():
        return out
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            continue
        try:
            layout.read_group_attrs(entry)
        except FileNotFoundError:
            continue  # not a run (yet): create_run writes the record right after the folder
        except StoreCorrupt as exc:
            out.append({"run": entry.name, "folder": str(entry), "problem": str(exc)})
    return out

"""The store's public API, as the other packages use it. `store.zarr_store` and `store.runs` implement it.

Layout (Zarr v3, one directory):
    zarr.json                       root attrs: format "parity-store", version, codec, source {path, size,
                                    fingerprint}, source_format ("parity" | "seed"), header (the JSONL's optional
                                    first line), header_line, contract (name), conversion {status, lines, chunks …},
                                    skipped [...] (lines left out by --skip-invalid), warnings [...] (gaps …)
    streams/<stream>/<chunk:06d>/   one group per streaming chunk; attrs: meta (the line's "meta"/"metadata"),
                                    inputs / outputs (names in the file's order), line {number, offset, size,
                                    sample}, stream, chunk_index, format, dtypes
        inputs/<ref_name>           one Zarr array per tensor, in its true shape, a single Zarr chunk, compressed
        outputs/<ref_name>
    runs/<run_id>/                  one group per run; attrs: RunRecord (backend info, mode, options, env, status …)
        chunks/<stream>/<chunk:06d>.json    per-chunk metrics, written atomically (the commit mark of that chunk)
        outputs/<stream>/<chunk:06d>/<ref_name>   backend outputs (only with save_outputs), written before the json
    tmp/*.partial                   work in progress of a writer; deleted on resume, never read

Stream directory names are the stream names percent-encoded (any string works). A chunk directory appears in one
atomic rename once all its arrays are written, so whatever is visible is complete. JSON written by the store keeps
NaN/±inf as the strings "NaN"/"Infinity"/"-Infinity" and reads them back as floats (`store.jsonsafe`).

Names are reference names; tensors are in the reference file's layout (the engine maps layouts via the contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np


class StoreError(Exception):
    """A store cannot be opened, read or written; the message says which file/stream/chunk and what to do."""


class StoreCorrupt(StoreError, ValueError):
    """A file inside a store is damaged (unreadable JSON, a missing array or chunk file). A ValueError too, so code
    that skips unreadable entries (``except (OSError, ValueError)``) keeps doing so."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    kind: str  # "inputs" | "outputs"
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


class ChunkView(Protocol):
    """One streaming chunk. Arrays load lazily, on first access."""

    stream: str
    index: int
    meta: Mapping[str, Any]

    def input(self, name: str) -> np.ndarray: ...
    def output(self, name: str) -> np.ndarray: ...
    def input_names(self) -> tuple[str, ...]: ...
    def output_names(self) -> tuple[str, ...]: ...
    def inputs(self) -> dict[str, np.ndarray]: ...
    def outputs(self) -> dict[str, np.ndarray]: ...
    def tensor_infos(self) -> list[TensorInfo]: ...


@dataclass
class RunRecord:
    """What one backend run is. Stored as the run group's attrs; `summary` is filled at the end."""

    run_id: str
    backend: str
    mode: str  # "functional" | "closed-loop" | "imported"
    stream: str
    chunks: list[int]
    backend_info: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    contract: str = ""
    model: str = ""
    baseline: str = ""  # "" = the reference; else the run_id/backend compared against
    status: str = "running"  # running | complete | interrupted | failed
    started: str = ""
    finished: str = ""
    summary: dict[str, Any] = field(default_factory=dict)  # acceptance verdicts, state verdicts, …



class RunReader(Protocol):
    """A recorded run, read side. Only committed chunks are visible."""

    record: RunRecord

    def chunk_metrics(self, stream: str, index: int) -> dict[str, Any] | None: ...
    def all_metrics(self, stream: str) -> dict[int, dict[str, Any]]: ...
    def outputs(self, stream: str, index: int) -> dict[str, np.ndarray] | None: ...


class RunWriter(RunReader, Protocol):
    """A run being recorded. `write_chunk` is atomic per chunk: outputs first, then the metrics JSON (the commit)."""

    def done_chunks(self, stream: str) -> set[int]: ...
    def write_chunk(self, stream: str, index: int, metrics: Mapping[str, Any],
                    outputs: Mapping[str, np.ndarray] | None = None) -> None: ...
    def update(self, **fields: Any) -> None: ...  # e.g. summary=..., status=...
    def finish(self, status: str = "complete", summary: Mapping[str, Any] | None = None) -> None: ...


class StoreProtocol(Protocol):
    """`store.Store`: `Store.open(path, mode="r"|"a")`, `Store.create(path)`."""

    path: Any
    attrs: Mapping[str, Any]

    def streams(self) -> list[str]: ...
    def chunk_indices(self, stream: str) -> list[int]: ...  # complete chunks only, sorted
    def num_chunks(self, stream: str) -> int: ...
    def chunk(self, stream: str, index: int) -> ChunkView: ...
    def info(self) -> dict[str, Any]: ...  # streams, counts, tensors (shape/dtype/bytes), runs, source
    def runs(self) -> list[RunRecord]: ...
    def run(self, run_id: str) -> RunReader: ...
    def create_run(self, record: RunRecord) -> RunWriter: ...
    def resume_run(self, run_id: str) -> RunWriter: ...
    # writing reference chunks (used by `convert` and by `inspector reference --store`):
    def write_chunk(self, stream: str, index: int, inputs: Mapping[str, np.ndarray],
                    outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None: ...

"""Run records inside a store: one group per run, per-chunk metrics JSON as the commit mark of each chunk.

Layout (see `store.api`)::

    runs/<run_id>/zarr.json                       group attrs: {"record": RunRecord, "writer": {pid, host}}
    runs/<run_id>/chunks/<stream>/<chunk>.json    metrics of one chunk; its presence means "chunk done"
    runs/<run_id>/outputs/<stream>/<chunk>/<ref_name>   saved backend outputs, renamed into place BEFORE the json

Metrics are arbitrary JSON chosen by the engine. Numpy scalars/arrays are converted; NaN and ±inf are written as
the strings "NaN", "Infinity", "-Infinity" and read back as floats (`store.jsonsafe`). A run whose writer process is
gone while its status still says "running" is reported as "interrupted"; `Store.resume_run` continues it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from store import layout
from store.api import RunRecord, StoreError
from store.arrays import DEFAULT_CODEC, list_array_names, read_array_at, write_arrays
from store.jsonsafe import atomic_write_json, read_json, restore_nonfinite, to_jsonable

if TYPE_CHECKING:
    from store.zarr_store import Store

_RECORD_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}


def new_run_id(backend: str, mode: str, when: float | None = None) -> str:
    """A sortable, unique-enough id: ``20261125T163000-ort-cpu-functional-3fa2`` (UTC start time first)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(when if when is not None else time.time()))
    slug = lambda s: re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower() or "x"  # noqa: E731
    return f"{stamp}-{slug(backend)}-{slug(mode)}-{secrets.token_hex(2)}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _record_from_attrs(attrs: Mapping[str, Any]) -> RunRecord:
    data = restore_nonfinite(dict(attrs.get("record") or {}))
    known = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
    known.setdefault("run_id", "")
    known.setdefault("backend", "")
    known.setdefault("mode", "")
    known.setdefault("stream", "")
    known.setdefault("chunks", [])
    return RunRecord(**known)


def _writer_alive(writer: Mapping[str, Any] | None) -> bool | None:
    """Whether the process that wrote a run still runs (None when it ran on another host or is unknown)."""
    if not writer or writer.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(writer["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return None
    return True


class Run:
    """One recorded run (implements `store.api.RunReader`, and `RunWriter` when the store is writable).

    Attributes:
        record: The `RunRecord` as last read or written.
        folder: The run's directory.
    """

    def __init__(self, store: Store, run_id: str, *, writable: bool) -> None:
        self._store = store
        self.folder = Path(store.path) / layout.RUNS / run_id
        self._writable = writable
        attrs = layout.read_group_attrs(self.folder)
        self._writer = attrs.get("writer")
        self.record = _record_from_attrs(attrs)
        if self.record.status == "running" and _writer_alive(self._writer) is False and not writable:
            self.record.status = "interrupted"

    def __repr__(self) -> str:
        return f"Run({self.record.run_id!r}, {self.record.backend}, {self.record.mode}, {self.record.status})"

    # --- read side -------------------------------------------------------------------------------------------
    def _metrics_path(self, stream: str, index: int) -> Path:
        return self.folder / "chunks" / layout.stream_dirname(stream) / f"{layout.chunk_dirname(index)}.json"

    def _outputs_folder(self, stream: str, index: int) -> Path:
        return self.folder / "outputs" / layout.stream_dirname(stream) / layout.chunk_dirname(index)

    def done_chunks(self, stream: str) -> set[int]:
        """Chunks of `stream` whose metrics are committed."""
        folder = self.folder / "chunks" / layout.stream_dirname(stream)
        if not folder.is_dir():
            return set()
        return {int(p.stem) for p in folder.iterdir() if p.suffix == ".json" and p.stem.isdigit()}

    def chunk_metrics(self, stream: str, index: int) -> dict[str, Any] | None:
        """The committed metrics of one chunk, or None if that chunk is not done."""
        try:
            return restore_nonfinite(read_json(self._metrics_path(stream, index)))
        except FileNotFoundError:
            return None

    def all_metrics(self, stream: str) -> dict[int, dict[str, Any]]:
        """Every committed chunk's metrics, by chunk index, in order."""
        out = {}
        for index in sorted(self.done_chunks(stream)):
            metrics = self.chunk_metrics(stream, index)
            if metrics is not None:
                out[index] = metrics
        return out

    def output_names(self, stream: str, index: int) -> tuple[str, ...]:
        folder = self._outputs_folder(stream, index) / "outputs"
        if not folder.is_dir() or not self._metrics_path(stream, index).exists():
            return ()
        return tuple(list_array_names(folder))

    def outputs(self, stream: str, index: int) -> dict[str, np.ndarray] | None:
        """The saved backend outputs of a committed chunk, or None (not done, or run without save_outputs)."""
        names = self.output_names(stream, index)
        if not names:
            return None
        folder = self._outputs_folder(stream, index) / "outputs"
        return {name: read_array_at(layout.array_folder(folder.parent, folder.name, name)) for name in names}

    def saved_outputs_size(self, stream: str) -> tuple[int, int]:
        """(chunks of `stream` with committed saved outputs, bytes those outputs take on disk)."""
        folder = self.folder / "outputs" / layout.stream_dirname(stream)
        if not folder.is_dir():
            return 0, 0
        chunks = 0
        size = 0
        for entry in folder.iterdir():
            index = layout.parse_chunk_dirname(entry.name)
            if index is None or not self._metrics_path(stream, index).exists():
                continue  # not committed: not part of the run
            chunks += 1
            size += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        return chunks, size

    # --- write side ------------------------------------------------------------------------------------------
    def _require_writable(self) -> None:
        if not self._writable:
            raise StoreError(f"run {self.record.run_id} was opened for reading; use Store.resume_run to write it.")

    def _save_record(self) -> None:
        layout.write_group(self.folder, {"record": to_jsonable(dataclasses.asdict(self.record)),
                                         "writer": self._writer})

    def write_chunk(self, stream: str, index: int, metrics: Mapping[str, Any],
                    outputs: Mapping[str, np.ndarray] | None = None) -> None:
        """Commit one chunk: outputs (if given) renamed into place first, then the metrics JSON, atomically.

        Writing a chunk that is already done replaces it.
        """
        self._require_writable()
        if outputs:
            partial = layout.new_partial_dir(self.folder, f"{layout.stream_dirname(stream)}-{index}")
            try:
                write_arrays(partial, {"outputs": outputs}, self._store.attrs.get("codec", DEFAULT_CODEC))
                layout.write_group(partial, {})
                final = self._outputs_folder(stream, index)
                if final.exists():
                    trash = layout.new_partial_dir(self.folder, "replaced")
                    final.rename(trash / "old")
                    shutil.rmtree(trash, ignore_errors=True)
                layout.ensure_group(final.parent.parent, {})
                layout.ensure_group(final.parent, {"name": stream})
                layout.commit_dir(partial, final)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        path = self._metrics_path(stream, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, dict(metrics), indent=False)

    def update(self, **fields: Any) -> None:
        """Change record fields (e.g. ``summary=…``, ``status=…``) and save the record atomically."""
        self._require_writable()
        unknown = set(fields) - _RECORD_FIELDS
        if unknown:
            raise StoreError(f"RunRecord has no field(s) {', '.join(sorted(unknown))}; fields: "
                             f"{', '.join(sorted(_RECORD_FIELDS))}.")
        for key, value in fields.items():
            setattr(self.record, key, value)
        self._save_record()

    def finish(self, status: str = "complete", summary: Mapping[str, Any] | None = None) -> None:
        """Mark the run finished (``complete`` / ``failed`` / ``interrupted``), with its summary if given."""
        fields: dict[str, Any] = {"status": status, "finished": _now()}
        if summary is not None:
            fields["summary"] = dict(summary)
        self.update(**fields)


def _writer_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


def _check_run_id(run_id: str) -> None:
    """A run id is one plain folder name (never a path): letters, digits, '.', '_' and '-'."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise StoreError(f"{run_id!r} is not a run id: run ids are folder names of letters, digits, '.', '_' and "
                         f"'-' (see `inspector info STORE` for the runs a store holds).")


def create_run(store: Store, record: RunRecord) -> Run:
    if record.run_id:
        _check_run_id(record.run_id)
    runs = Path(store.path) / layout.RUNS
    layout.ensure_group(runs, {})
    record.started = record.started or _now()
    record.status = "running"
    for attempt in range(100):
        if not record.run_id or attempt:
            record.run_id = new_run_id(record.backend, record.mode)
        try:
            (runs / record.run_id).mkdir()
            break
        except FileExistsError:
            if attempt == 99:
                raise StoreError(f"could not find a free run id under {runs}.") from None
    layout.write_group(runs / record.run_id, {"record": to_jsonable(dataclasses.asdict(record)),
                                               "writer": _writer_info()})
    return Run(store, record.run_id, writable=True)


def open_run(store: Store, run_id: str) -> Run:
    _check_run_id(run_id)
    folder = Path(store.path) / layout.RUNS / run_id
    if not layout.group_meta_path(folder).exists():
        known = [r.run_id for r in list_runs(store)]
        raise StoreError(f"{store.path} has no run {run_id!r}; runs: {', '.join(known) or '(none)'}.")
    return Run(store, run_id, writable=False)


def resume_run(store: Store, run_id: str) -> Run:
    open_run(store, run_id)  # the clear error when missing
    run = Run(store, run_id, writable=True)
    layout.clean_partials(run.folder)
    run._writer = _writer_info()
    run.update(status="running", finished="")
    return run


def annotate_run(store: Store, run_id: str, **environment: Any) -> RunRecord:
    """Add fields to a finished run's ``environment`` (e.g. the worker that ran it), leaving its status and writer."""
    open_run(store, run_id)  # the clear error when missing
    run = Run(store, run_id, writable=True)
    run.update(environment={**dict(run.record.environment or {}), **to_jsonable(environment)})
    return run.record


def list_runs(store: Store) -> list[RunRecord]:
    folder = Path(store.path) / layout.RUNS
    if not folder.is_dir():
        return []
    records = []
    for entry in sorted(folder.iterdir()):
        if layout.group_meta_path(entry).exists():
            try:
                records.append(Run(store, entry.name, writable=False).record)
            except (OSError, ValueError, TypeError):
                continue  # a run folder another tool broke; `info` still shows the rest
    return records

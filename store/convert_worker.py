"""What one conversion worker process does: parse one line (by byte range) and write its chunk to a ``*.partial``
folder. The main process decides, in file order, whether to commit (rename) it.

Kept in its own small module so that spawned workers import only what they need.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store import layout
from store.errors import JsonlError
from store.jsonl import Header, LineSpan, ReferenceFile
from store.validate import ContractRules, LineSummary

_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class LineResult:
    """A worker's answer for one line: its summary and partial folder, or the error that line has."""

    span: LineSpan
    summary: LineSummary | None = None
    partial: str | None = None
    error: dict[str, Any] | None = None


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the main process dies (even by kill -9)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def init_worker(source: str, store_root: str, rules: ContractRules | None, codec: str, in_child: bool = True) -> None:
    """Open the source file (mmap) once per process."""
    if in_child:
        _die_with_parent()
    close_worker()
    _STATE.update(ref=ReferenceFile(source, rules), root=Path(store_root), codec=codec)


def close_worker() -> None:
    ref = _STATE.pop("ref", None)
    if ref is not None:
        ref.close()


def convert_line(span: LineSpan) -> LineResult:
    """Parse one line and write its chunk under ``tmp/*.partial`` (never commits).

    Each tensor is compressed and written as soon as it is decoded, so a worker holds about one tensor at a time.
    """
    from store.arrays import write_arrays
    from store.zarr_store import write_chunk_attrs

    ref: ReferenceFile = _STATE["ref"]
    codec = _STATE["codec"]
    partial = layout.new_partial_dir(_STATE["root"], f"line{span.number}")
    try:
        try:
            parsed = ref.parse(span, sink=lambda kind, name, array: write_arrays(partial, {kind: {name: array}},
                                                                                codec))
        except JsonlError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            return LineResult(span, error=exc.to_dict())
        if isinstance(parsed, Header):
            shutil.rmtree(partial, ignore_errors=True)
            return LineResult(span, LineSummary(span.number, "header", header=dict(parsed.fields)))
        summary = parsed.summary()
        write_chunk_attrs(
            partial, list(parsed.infos["inputs"]), list(parsed.infos["outputs"]), parsed.meta,
            line={"number": span.number, "offset": span.offset, "size": span.size,
                  "sample": ref.line_sample(span)},
            extra={"stream": parsed.stream, "chunk_index": parsed.chunk_index, "format": parsed.format,
                   "dtypes": {k: dict(v) for k, v in summary.dtypes.items()}},
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return LineResult(span, summary, str(partial))

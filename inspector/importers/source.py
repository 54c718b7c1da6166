"""Reading an imported file: bytes, hash, and JSON or JSON Lines with errors that name the line and column."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import InspectorError


@dataclass(frozen=True)
class SourceFile:
    """An imported file as read from disk.

    Attributes:
        path: The file, resolved.
        size: Its size in bytes.
        sha256: Hex digest of its bytes; it names the imported run, so importing the same file twice is a no-op.
        data: The parsed document: a dict or list for a JSON file, a list of objects for JSON Lines.
        format: ``"json"`` or ``"jsonl"``.
    """

    path: Path
    size: int
    sha256: str
    data: Any
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256, "format": self.format}


_COMPRESSED = ((b"\x1f\x8b", "gzip", "gunzip -k"), (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"),
               (b"BZh", "bzip2", "bunzip2 -k"), (b"\xfd7zXZ", "xz", "unxz -k"), (b"PK\x03\x04", "zip", "unzip"))


def read_source(path: str | Path) -> SourceFile:
    """Read `path` as one JSON document, or, if it is not one, as JSON Lines (one object per non-blank line).

    Raises:
        InspectorError: the file is missing, empty, or neither valid JSON nor valid JSON Lines; the message names
            the line and column of the first error.
    """
    import json

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InspectorError(f"{p}: no such file. Give the path of a parity report (.json) or a streaming "
                             f"summary (.jsonl).") from None
    except OSError as exc:
        raise InspectorError(f"{p}: cannot be read ({exc.strerror}).") from None
    digest = hashlib.sha256(raw).hexdigest()
    for magic, what, tool in _COMPRESSED:
        if raw.startswith(magic):
            raise InspectorError(f"{p}: is {what}-compressed, not JSON. Decompress it first ({tool} {p.name}) and "
                                 f"import the file it gives.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")  # Windows tools write UTF-16 with a BOM
    else:
        text = raw.decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")  # a UTF-8 BOM is no error
    if not text.strip():
        raise InspectorError(f"{p}: the file is empty; expected a parity report (one JSON object) or a streaming "
                             f"summary (JSON Lines, one object per chunk).")
    try:
        doc = json.loads(text)
        return SourceFile(p.resolve(), len(raw), digest, doc, "json")
    except json.JSONDecodeError as whole_exc:
        first_error = whole_exc
    # Not one document: maybe JSON Lines. Only call it that if the first line alone parses.
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if records:
                raise InspectorError(
                    f"{p}, line {lineno}, column {exc.colno}: not valid JSON ({exc.msg}). The file reads as JSON "
                    f"Lines up to that line; fix or remove the line and import again.") from None
            raise InspectorError(
                f"{p}, line {first_error.lineno}, column {first_error.colno}: not valid JSON ({first_error.msg}). "
                f"Expected a parity report (one JSON object) or a streaming summary (JSON Lines or a JSON list).",
            ) from None
    return SourceFile(p.resolve(), len(raw), digest, records, "jsonl")

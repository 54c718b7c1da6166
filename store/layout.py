"""Where things live inside a store directory, and the small atomic metadata writes that keep it consistent.

Group metadata (``zarr.json`` of a group) is written here directly, atomically, instead of through zarr: it is a
tiny JSON document and the commit protocol relies on it being replaced in one step. Arrays go through zarr.

Commit protocol for a chunk (reference chunk or run outputs): everything is written under ``tmp/<name>.partial``
first, then the directory is renamed into place (``os.rename`` of a directory is atomic on POSIX). A chunk directory
with its final name is therefore always complete; ``*.partial`` leftovers of a killed writer are deleted on resume.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from store.api import StoreCorrupt, StoreError
from store.jsonsafe import atomic_write_json, read_json

FORMAT = "parity-store"
VERSION = 1
STREAMS = "streams"
RUNS = "runs"
TMP = "tmp"
PARTIAL_SUFFIX = ".partial"
CHUNK_DIGITS = 6

_SAFE = "-_"  # plus ASCII letters and digits (quote's default); '.' is escaped so names never start with a dot
MAX_PART = 200  # bytes of an encoded name kept as is (file systems allow 255 per path part; partial folders add ~30)
SHORTENED_HEAD = 80
SHORTENED_MARK = "%%"  # never produced by percent-encoding: marks a name shortened with a hash
MAX_CHUNK_INDEX = 10**15 - 1


def _encode_name(name: str, what: str) -> str:
    """`name` as one safe, reversible path part: percent-encoded UTF-8 ('.' escaped too, so never ``.``/``..``
    and never a hidden file); names whose encoding would pass `MAX_PART` bytes are shortened to a readable prefix
    plus a hash after `SHORTENED_MARK` (the full name is then kept in the folder's metadata)."""
    if not isinstance(name, str) or not name:
        raise StoreError(f"{what} names must be non-empty strings, got {name!r}.")
    encoded = quote(name.encode("utf-8", "surrogatepass"), safe=_SAFE).replace(".", "%2E")
    if len(encoded) <= MAX_PART:
        return encoded
    head = encoded[:SHORTENED_HEAD]
    escape = head.rfind("%", len(head) - 2)
    if escape >= 0:  # never cut through a %XX escape
        head = head[:escape]
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()
    return f"{head}{SHORTENED_MARK}{digest}"


def _decode_name(part: str) -> str | None:
    """Inverse of `_encode_name`, or None for a shortened name (read the name from the folder's metadata)."""
    if SHORTENED_MARK in part:
        return None
    return unquote(part, errors="surrogatepass")


def stream_dirname(stream: str) -> str:
    """The directory name of a stream: its name, percent-encoded so any string is a safe, reversible path part
    (shortened with a hash when very long; the stream group's ``name`` attr then holds the full name)."""
    return _encode_name(stream, "stream")


def stream_name(dirname: str) -> str:
    """Inverse of `stream_dirname` (for a shortened name, the group's ``name`` attr is the truth; see
    `stream_name_of`)."""
    decoded = _decode_name(dirname)
    return dirname if decoded is None else decoded


def stream_name_of(folder: Path) -> str:
    """The stream name of a stream folder: its group's ``name`` attr, else decoded from the folder name."""
    try:
        name = read_group_attrs(folder).get("name")
    except (OSError, ValueError):
        name = None
    return name if isinstance(name, str) and name else stream_name(Path(folder).name)


def legacy_dirname(name: str) -> str | None:
    """The unshortened encoding of a long name, as stores written before names were shortened hold it (None when
    the name is not long enough to have been shortened)."""
    encoded = quote(name.encode("utf-8", "surrogatepass"), safe=_SAFE).replace(".", "%2E")
    return encoded if MAX_PART < len(encoded) <= 255 else None


def tensor_dirname(name: str) -> str:
    """The directory name of a tensor's array (same encoding as streams: a name such as ``../x`` or ``a/b`` from a
    user's file can never leave its chunk folder)."""
    return _encode_name(name, "tensor")


def array_folder(chunk_folder: Path, kind: str, name: str) -> Path:
    """Where tensor `name` of `kind` lives in a chunk (or run-output) folder; stores written before tensor names
    were encoded hold it under its raw name (when that is one safe path part) or its unshortened encoding."""
    base = Path(chunk_folder) / kind
    folder = base / tensor_dirname(name)
    if folder.exists():
        return folder
    legacy = legacy_dirname(name)
    raw_ok = "/" not in name and "\\" not in name and "\x00" not in name and name not in (".", "..")
    for old in ((legacy,) if legacy else ()) + ((name,) if raw_ok and len(name.encode()) <= 255 else ()):
        if (base / old / "zarr.json").exists():
            return base / old
    return folder


def tensor_name(dirname: str) -> str | None:
    """Inverse of `tensor_dirname`; None for a shortened name (its array's ``attributes.name`` holds it)."""
    return _decode_name(dirname)


def chunk_dirname(index: int) -> str:
    """``000012`` for chunk 12 (zero-padded so a plain listing sorts; larger indices simply get longer)."""
    if not 0 <= int(index) <= MAX_CHUNK_INDEX:
        raise StoreError(f"chunk indices count from 0 (and stay below {MAX_CHUNK_INDEX + 1:.0e}), got {index}.")
    return f"{int(index):0{CHUNK_DIGITS}d}"


def parse_chunk_dirname(name: str) -> int | None:
    """The chunk index of a committed chunk directory name, or None for anything else (partials, tmp files)."""
    return int(name) if name.isdigit() else None


def group_meta_path(folder: Path) -> Path:
    return Path(folder) / "zarr.json"


def write_group(folder: Path, attributes: dict[str, Any]) -> None:
    """Create or replace the Zarr v3 group metadata of `folder`, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(group_meta_path(folder), {"zarr_format": 3, "node_type": "group", "attributes": attributes})


def ensure_group(folder: Path, attributes: dict[str, Any] | None = None) -> None:
    """`write_group` unless the group exists already (idempotent; concurrent callers write identical content)."""
    if not group_meta_path(folder).exists():
        write_group(folder, attributes or {})


def read_group_attrs(folder: Path) -> dict[str, Any]:
    """The attributes of the group at `folder` ({} when it has none).

    Raises:
        FileNotFoundError: `folder` has no ``zarr.json``.
        StoreCorrupt: The ``zarr.json`` is damaged.
    """
    path = group_meta_path(folder)
    doc = read_json(path)
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(attrs, (dict, type(None))):
        raise StoreCorrupt(f"{path} is not a Zarr group's metadata (expected an object with 'attributes', got "
                           f"{type(doc).__name__}); something else changed this file.")
    return dict(attrs or {})


def is_store(path: Path) -> bool:
    """Whether `path` is a parity store (a Zarr group whose attrs say ``format: parity-store``)."""
    try:
        return read_group_attrs(Path(path)).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def new_partial_dir(root: Path, name: str) -> Path:
    """A fresh, unique ``tmp/<name>-<pid>-<rand>.partial`` directory under the store root."""
    tmp = Path(root) / TMP
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{name}-{os.getpid()}-{os.urandom(4).hex()}{PARTIAL_SUFFIX}"
    path.mkdir()
    return path


def clean_partials(root: Path) -> int:
    """Delete every ``*.partial`` directory and stray temporary file a killed writer left; returns how many."""
    removed = 0
    tmp = Path(root) / TMP
    if tmp.is_dir():
        for entry in tmp.iterdir():
            if entry.name.endswith(PARTIAL_SUFFIX) or entry.name.endswith(".tmp"):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed += 1
    return removed


def commit_dir(partial: Path, final: Path) -> None:
    """Move a finished ``*.partial`` directory to its final name in one atomic rename.

    Raises:
        FileExistsError: `final` exists already (the caller decides whether that is a duplicate or a redo).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(final)
    os.rename(partial, final)

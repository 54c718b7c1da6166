"""What a path given to `inspector tui` is, found by its content, and what the app does to open it.

`sniff` looks at a file's first bytes (a reference line can be 68 MB, so never a whole line): the top-level keys of
its first JSON value are read by a small tokenizer that skips over values. A first value with ``inputs`` or
``outputs`` is a reference JSONL (``chunk_idx``/``metadata`` make it the seed team's format; a first line
``{"format": "parity-reference"}`` is our header and the next value decides). Anything else that is JSON is read
whole by the importers' reader and is a streaming summary or a parity report when the importers recognise it. A
directory is a store when its ``zarr.json`` says so (`store.layout.is_store`).

`plan_open` turns a sniffed path into an `OpenPlan`: the store the app shows, the reference JSONL to convert into it
first (resuming an earlier conversion), and the report to import into it once it is ready. No Textual here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from inspector.errors import InspectorError

Kind = Literal["reference", "store", "report", "summary", "unknown"]

HEAD_BYTES = 256 << 10
"""How much of a file `sniff` reads: enough for a header line and the keys before a first big tensor."""
WHOLE_JSON_LIMIT = 64 << 20
"""Reports and summaries are small; a JSON file larger than this that is not a reference is not read whole."""
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bzip2"), (b"\xfd7zXZ", "xz"),
               (b"PK\x03\x04", "zip"))
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|"')
"""JSON strings, structural characters, and a lone quote (a string cut off by the end of what was read)."""
_SPACE = b" \t\r\n"
KIND_ORDER = {"reference": 0, "store": 1, "report": 2, "summary": 3, "unknown": 4}


@dataclass(frozen=True)
class Sniffed:
    """What one path is.

    Attributes:
        path: The path as given.
        kind: ``reference``, ``store``, ``report``, ``summary`` or ``unknown``.
        size: Bytes (a store: the bytes of its files, counted up to `STORE_SIZE_FILES` files).
        what: One line for people: the format and what is in it (for a reference, the state of its store).
        problem: Why an ``unknown`` path is not something the app opens.
        ref: For a report: its ``ref`` field (the reference file it was made from), if any.
    """

    path: Path
    kind: Kind
    size: int
    what: str
    problem: str = ""
    ref: str | None = None


@dataclass(frozen=True)
class _Value:
    """The first JSON value found: an object's top-level keys (an array's: its first element's), the short string
    values among them, and where the value ends (None when it runs past what was read)."""

    container: str
    keys: tuple[str, ...]
    strings: dict[str, str]
    end: int | None


def _skip_space(buf: bytes, pos: int) -> int:
    while pos < len(buf) and buf[pos] in _SPACE:
        pos += 1
    return pos


def _scan_value(buf: bytes, pos: int) -> _Value | None:
    """The first JSON value at `pos` (after blanks) if it is an object or an array, else None."""
    pos = _skip_space(buf, pos)
    if pos >= len(buf) or buf[pos] not in b"{[":
        return None
    container = "object" if buf[pos] == ord("{") else "array"
    stack: list[int] = []
    keys: list[str] = []
    strings: dict[str, str] = {}
    want = 1 if container == "object" else 2  # depth whose keys count: the object's, or the array's first element's
    first_element_done = False
    pending_key: str | None = None
    for m in _TOKEN.finditer(buf, pos):
        tok = m.group()
        if tok == b'"':
            return _Value(container, tuple(keys), strings, None)  # a string cut off: the value goes on
        c = tok[0]
        if c in b"{[":
            stack.append(c)
            pending_key = None
        elif c in b"}]":
            if not stack:
                return None
            stack.pop()
            if container == "array" and len(stack) == 1:
                first_element_done = True
            if not stack:
                return _Value(container, tuple(keys), strings, m.end())
        elif c == ord('"') and len(stack) == want and not first_element_done and stack[-1] == ord("{"):
            after = _skip_space(buf, m.end())
            text = _decode_string(tok)
            if after < len(buf) and buf[after] == ord(":"):
                keys.append(text)
                pending_key = text
            elif pending_key is not None:
                strings[pending_key] = text  # the key's value is this short string
                pending_key = None
        elif c == ord(","):
            pending_key = None
    return _Value(container, tuple(keys), strings, None)


def _decode_string(tok: bytes) -> str:
    try:
        value = json.loads(tok)
        return value if isinstance(value, str) else ""
    except ValueError:
        return tok[1:-1].decode("utf-8", "replace")


def sniff(path: str | os.PathLike) -> Sniffed:
    """What `path` is, from its content (see the module docstring). Never raises for a readable path; a path that
    cannot be read is ``unknown`` with the reason."""
    p = Path(path)
    if p.is_dir():
        return _sniff_folder(p)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        return Sniffed(p, "unknown", 0, "unreadable", f"cannot be read ({exc.strerror or exc}).")
    if not head.strip():
        return Sniffed(p, "unknown", size, "empty file", "is empty.")
    for magic, what in _COMPRESSED:
        if head.startswith(magic):
            return Sniffed(p, "unknown", size, f"{what}-compressed",
                           f"is {what}-compressed; decompress it first and open the file it gives.")
    head = head.removeprefix(b"\xef\xbb\xbf")
    first = _scan_value(head, 0)
    if first is None:
        return Sniffed(p, "unknown", size, "not JSON", "does not start with a JSON object or list.")
    value, header = first, False
    if first.container == "object" and first.strings.get("format") == "parity-reference":
        header = True
        nxt = _scan_value(head, first.end) if first.end is not None else None
        if nxt is None:
            what = "reference JSONL (ours), header only" if first.end is not None and not head[first.end:].strip() \
                and size <= len(head) else "reference JSONL (ours)"
            return Sniffed(p, "reference", size, what)
        value = nxt
    if value.container == "object" and ("inputs" in value.keys or "outputs" in value.keys):
        seed = "chunk_idx" in value.keys or "metadata" in value.keys
        fmt = "seed team's format" if seed else "ours"
        return Sniffed(p, "reference", size, f"reference JSONL ({fmt}{', with header' if header else ''})")
    if header:
        return Sniffed(p, "unknown", size, "reference header without chunks",
                       f"starts with a reference header but its next line has no 'inputs'/'outputs' (keys: "
                       f"{', '.join(value.keys) or 'none'}).")
    return _sniff_json(p, size)


def _sniff_json(p: Path, size: int) -> Sniffed:
    """A JSON file that is not a reference: a report or a summary when the importers recognise it."""
    if size > WHOLE_JSON_LIMIT:
        return Sniffed(p, "unknown", size, "large JSON", f"is {size / 1e6:,.0f} MB of JSON without reference "
                       f"tensors ('inputs'/'outputs') in its first object: neither a reference nor a report.")
    from inspector.importers.reports import detect_schema
    from inspector.importers.source import read_source
    from inspector.importers.summaries import looks_like_summary

    try:
        data = read_source(p).data
    except InspectorError as exc:
        return Sniffed(p, "unknown", size, "not valid JSON", str(exc))
    if looks_like_summary(data):
        records = data.get("chunks") if isinstance(data, dict) and isinstance(data.get("chunks"), list) else data
        n = len(records) if isinstance(records, list) else 1
        return Sniffed(p, "summary", size, f"streaming summary ({n} chunks)")
    try:
        schema = detect_schema(data, str(p))
    except InspectorError as exc:
        return Sniffed(p, "unknown", size, "JSON, not a known format", str(exc))
    chunks = data.get("total_chunks")
    ref = data.get("ref") if isinstance(data.get("ref"), str) else None
    label = {"ort": "ONNX Runtime", "trt": "TensorRT"}[schema]
    return Sniffed(p, "report", size, f"parity report ({label} schema" + (f", {chunks} chunks)" if isinstance(
        chunks, int) else ")"), ref=ref)


STORE_SIZE_FILES = 20_000


def _folder_size(folder: Path, limit: int = STORE_SIZE_FILES) -> tuple[int, bool]:
    """Bytes of the files under `folder`, and whether every file was counted (a store with many saved runs can
    hold hundreds of thousands: the picker must not stall on one)."""
    total, seen = 0, 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                seen += 1
                if seen > limit:
                    return total, False
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
    return total, True


def _sniff_folder(p: Path) -> Sniffed:
    from store import layout

    if not layout.is_store(p):
        return Sniffed(p, "unknown", 0, "folder", "is a folder, not a parity store (no zarr.json with format "
                                                 "'parity-store').")
    size, _ = _folder_size(p)
    return Sniffed(p, "store", size, describe_store(p))


def describe_store(path: Path) -> str:
    """``parity store · 2 streams · 24 chunks · 2 runs · conversion stopped at line 13``: what a store holds."""
    from store import Store, StoreError

    try:
        st = Store.open(path)
        streams = st.streams()
        chunks = sum(st.num_chunks(s) for s in streams)
        runs_dir = Path(path) / "runs"
        runs = sum(1 for e in runs_dir.iterdir() if e.is_dir()) if runs_dir.is_dir() else 0
        conversion = st.attrs.get("conversion") or {}
    except (StoreError, OSError, ValueError) as exc:
        return f"parity store (unreadable: {exc})"
    bits = ["parity store", f"{len(streams)} stream{'s' * (len(streams) != 1)}", f"{chunks} chunks",
            f"{runs} run{'s' * (runs != 1)}"]
    status = conversion.get("status")
    if status and status != "complete":
        line = (conversion.get("error") or {}).get("line")
        bits.append(f"conversion {status}" + (f" at line {line}" if line else ""))
    return " · ".join(bits)


def store_beside(reference: Path) -> Path:
    """The store a reference JSONL converts into when no --store is given: ``ref.jsonl`` → ``ref.zarr``."""
    return reference.with_suffix(".zarr") if reference.suffix else reference.with_name(reference.name + ".zarr")


def list_folder(folder: str | os.PathLike) -> list[Sniffed]:
    """Every reference JSONL, store, report and summary directly in `folder` (hidden entries left out), references
    first, then by name. Each reference says whether its store exists already."""
    found = []
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError as exc:
        raise InspectorError(f"{folder}: cannot list the folder ({exc.strerror or exc}).") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        s = sniff(entry)
        if s.kind == "unknown":
            continue
        if s.kind == "reference":
            beside = store_beside(entry)
            state = f"store {beside.name}: {describe_store(beside)}" if beside.exists() else "not converted yet"
            s = Sniffed(s.path, s.kind, s.size, f"{s.what} · {state}", s.problem, s.ref)
        found.append(s)
    found.sort(key=lambda s: (KIND_ORDER[s.kind], s.path.name))
    return found


# --- what the app does with a path ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenPlan:
    """How the app opens a path.

    Attributes:
        given: What the user named.
        store: The store the app shows.
        convert_from: A reference JSONL to convert into `store` first (an earlier conversion of the same file is
            resumed; a complete one makes this a no-op).
        report: A report or summary to import into `store` as a run once the store is ready.
    """

    given: Sniffed
    store: Path
    convert_from: Path | None = None
    report: Path | None = None


OPENS = ("`inspector tui` opens a reference JSONL (ours or the seed team's), a store written by `inspector convert`, "
         "or a parity report / streaming summary (with --store naming the store or reference JSONL to import it "
         "into).")


def plan_open(path: str | os.PathLike, store: str | os.PathLike | None = None) -> OpenPlan:
    """What opening `path` takes (see `OpenPlan`).

    Args:
        path: What the user named.
        store: ``--store``: the store to convert into (for a JSONL) or to import into (for a report: a store or a
            reference JSONL, which is then converted beside itself).

    Raises:
        InspectorError: `path` is missing or not something the app opens; a report with no store to import into.
    """
    p = Path(path)
    if not p.exists():
        raise InspectorError(f"{p}: no such file or folder. {OPENS}")
    given = sniff(p)
    target = Path(store) if store is not None else None
    if given.kind == "reference":
        return OpenPlan(given, target if target is not None else store_beside(p), convert_from=p)
    if given.kind == "store":
        if target is not None and target.resolve() != p.resolve():
            raise InspectorError(f"--store {target}: {p} is a store already; --store names where a reference JSONL "
                                 f"converts to, or the store a report is imported into. Open the store alone.")
        return OpenPlan(given, p)
    if given.kind in ("report", "summary"):
        return _plan_report(given, target)
    problem = given.problem if given.problem.startswith(str(p)) else f"{p}: {given.problem}"
    raise InspectorError(f"{problem} {OPENS}")


def _plan_report(given: Sniffed, target: Path | None) -> OpenPlan:
    """A report goes into the store it names with --store, else the store of the reference it names (its ``ref``),
    else the only store in its folder."""
    what = "parity report" if given.kind == "report" else "streaming summary"
    if target is not None:
        if not target.exists():
            raise InspectorError(f"--store {target}: no such store or reference JSONL. Give the store (or the "
                                 f"reference JSONL) the {what} {given.path.name} is about.")
        named = sniff(target)
        if named.kind == "store":
            return OpenPlan(given, target, report=given.path)
        if named.kind == "reference":
            return OpenPlan(given, store_beside(target), convert_from=target, report=given.path)
        raise InspectorError(f"--store {target}: {named.problem or 'not a store'} Give the store (or the reference "
                             f"JSONL) the {what} {given.path.name} is about.")
    folder = given.path.parent
    if given.ref:
        for base in (folder, Path.cwd()):
            ref = (base / given.ref)
            if ref.is_file() and sniff(ref).kind == "reference":
                return OpenPlan(given, store_beside(ref), convert_from=ref, report=given.path)
            beside = store_beside(folder / Path(given.ref).name)
            if beside.exists() and sniff(beside).kind == "store":
                return OpenPlan(given, beside, report=given.path)
    stores = [e for e in sorted(folder.iterdir()) if e.is_dir() and not e.name.startswith(".")
              and sniff(e).kind == "store"]
    if len(stores) == 1:
        return OpenPlan(given, stores[0], report=given.path)
    named_ref = f" It names the reference {given.ref!r}, which is not there." if given.ref else ""
    found = f" {len(stores)} stores are in its folder ({', '.join(s.name for s in stores[:5])})." if stores else ""
    raise InspectorError(f"{given.path}: a {what}; the app shows its figures over the reference tensors, so it needs "
                         f"the store of that reference.{named_ref}{found} Pass --store STORE.zarr (or --store "
                         f"REF.jsonl to convert the reference first).")


def describe_kind(kind: str) -> str:
    return {"reference": "reference JSONL", "store": "store", "report": "parity report",
            "summary": "streaming summary"}.get(kind, kind)


def human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


__all__ = ["Kind", "OpenPlan", "Sniffed", "describe_store", "human_size", "list_folder", "plan_open", "sniff",
           "store_beside"]

"""Streaming reader of reference JSONL files: ours (DESIGN.md, version 1) and the seed team's, auto-detected.

Formats (one JSON object per line, one line per chunk):

* ours: ``{"stream", "chunk_index", "inputs", "outputs", "meta"}``, optional first line
  ``{"format": "parity-reference", "version": 1, ...}``; a tensor is a nested list, ``{dtype, shape, data}`` or
  ``{dtype, shape, b64}``;
* the seed team's: ``{"chunk_idx", "inputs", "outputs", "metadata"}``; a tensor is ``{dtype, shape, data_b64}``,
  a nested list, or ``{"npy_path": "relative/to/the/jsonl.npy"}``.

How a line is read (`LineParser.parse`): the big values are cut out of the line by byte search
(`store.skeleton`), the remaining small skeleton is parsed with orjson, and each tensor is decoded straight from the
line's bytes in an mmap (`store.tensors`): simdjson for numbers, pybase64 for base64, both in pieces into one
preallocated array. Lines with the strings "NaN"/"Infinity" go through Python's json module instead, which keeps
them; bare NaN/Infinity tokens are kept by the number decoder itself. A tensor's dtype comes from the tensor, else
the contract, else float32 for numbers with a fraction or exponent and int64 for plain integers.

`read_reference` iterates a whole file in order with every check; `inspector convert` (`store.convert`) runs the
same parser in worker processes on byte ranges (`iter_line_spans`) and the cross-line checks in order.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from store.errors import JsonlError, TensorProblem, Where
from store.layout import MAX_CHUNK_INDEX
from store.skeleton import SkeletonError, Span, skeletonize, span_index
from store.tensors import (
    ParserPool, byte_order, check_dtype, check_shape, decode_b64_span, decode_b64_text, from_python, load_npy,
    parse_dtype, parse_number_span,
)
from store.pages import release
from store.validate import KINDS, ContractRules, LineChecker, LineSummary

HEADER_FORMAT = "parity-reference"
HEADER_VERSION = 1
FORMAT_OURS = "parity"
FORMAT_SEED = "seed"
_NONFINITE_STRINGS = (b'"NaN"', b'"Infinity"', b'"-Infinity"')
_SCAN_BLOCK = 4 << 20
_COMPRESSED = ((b"\x1f\x8b", "gzip", "gunzip -k"), (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d"),
               (b"BZh", "bzip2", "bunzip2 -k"), (b"\xfd7zXZ", "xz", "unxz -k"), (b"PK\x03\x04", "zip", "unzip"))
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe", "UTF-16LE"),
              (b"\xfe\xff", "UTF-16BE"))


@dataclass(frozen=True)
class LineSpan:
    """One line's place in the file.

    Attributes:
        number: 1-based line number.
        offset: Byte offset of its first byte.
        size: Its length in bytes, without the newline.
        terminated: Whether a newline ends it (False only for a last line without one).
        blank: Whether it is empty or whitespace only (skipped).
    """

    number: int
    offset: int
    size: int
    terminated: bool = True
    blank: bool = False

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Header:
    """The optional first line ``{"format": "parity-reference", "version": 1, ...}``."""

    fields: Mapping[str, Any]
    span: LineSpan


@dataclass(frozen=True)
class ReferenceLine:
    """One parsed chunk line.

    Attributes:
        stream: Stream name (``"default"`` when the line has none).
        chunk_index: Index within the stream (``chunk_index`` / ``chunk_idx``).
        inputs, outputs: Tensors by reference name, in the file's layout and their true shapes (empty when the
            line was parsed with a `sink`, which received them one by one instead).
        meta: The line's ``meta`` / ``metadata`` object ({} if none).
        span: Where the line is in the file.
        format: ``"parity"`` (ours) or ``"seed"``.
        infos: kind → name → (shape, dtype name) of every tensor, in the line's order.
    """

    stream: str
    chunk_index: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    meta: dict[str, Any]
    span: LineSpan
    format: str
    infos: dict[str, dict[str, tuple[tuple[int, ...], str]]]

    def summary(self) -> LineSummary:
        return LineSummary(self.span.number, "chunk", self.format, self.stream, self.chunk_index,
                           {kind: {n: dtype for n, (_, dtype) in named.items()} for kind, named in self.infos.items()})


Parsed = Header | ReferenceLine
Sink = Callable[[str, str, np.ndarray], None]
"""Receives each decoded tensor as (kind, name, array) so that the parser need not hold them all."""


# --- the file --------------------------------------------------------------------------------------------------
def check_source(path: str | os.PathLike) -> Path:
    """`path` as a readable, non-empty regular file.

    Raises:
        JsonlError: It does not exist, is not a file, or is empty.
    """
    p = Path(path)
    if not p.exists():
        raise JsonlError(Where(str(p)), "does not exist. Check the path (a reference JSONL written by `inspector "
                                        "reference` or the seed team's scripts).", "not_found")
    if not p.is_file():
        raise JsonlError(Where(str(p)), "is not a file; give the reference .jsonl file itself.", "not_found")
    if p.stat().st_size == 0:
        raise JsonlError(Where(str(p)), "is empty: it has no lines, so there is nothing to convert.", "empty")
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise JsonlError(Where(str(p)), f"cannot be read ({exc.strerror or exc}).", "not_found") from None
    for magic, what, tool in _COMPRESSED:
        if head.startswith(magic):
            raise JsonlError(Where(str(p)), f"is {what}-compressed, not a text JSONL file. Decompress it first "
                                            f"({tool} {p.name}) and convert the .jsonl it gives.", "compressed")
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            raise JsonlError(Where(str(p)), f"is {encoding} text; reference JSONL is UTF-8. Re-encode it first "
                                            f"(iconv -f {encoding} -t UTF-8 {p.name} > {p.stem}.utf8.jsonl).",
                             "encoding")
    return p


def iter_line_spans(path: str | os.PathLike, block: int = _SCAN_BLOCK) -> Iterator[LineSpan]:
    """Every line's offset and size, found by byte search in a reused buffer (constant memory, any line length)."""
    buf = bytearray(block)
    view = memoryview(buf)
    number, line_start, file_pos = 0, 0, 0
    carried: bytes | None = b""  # the part of the current line read so far from earlier blocks, while short
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                break
            i = 0
            while True:
                j = buf.find(b"\n", i, n)
                if j < 0:
                    break
                number += 1
                size = file_pos + j - line_start
                head = carried if line_start < file_pos else b""
                blank = size < 256 and head is not None and not (head + bytes(buf[i:j])).strip()
                yield LineSpan(number, line_start, size, True, blank)
                line_start, i, carried = file_pos + j + 1, j + 1, b""
            if carried is not None:
                rest = bytes(buf[i:n]) if n - i < 256 else None
                carried = None if rest is None or len(carried) + len(rest) >= 256 else carried + rest
            file_pos += n
    if line_start < file_pos:
        yield LineSpan(number + 1, line_start, file_pos - line_start, False,
                       carried is not None and not carried.strip())


def fingerprint(path: str | os.PathLike, samples: int = 32, sample_size: int = 64 << 10) -> dict[str, Any]:
    """A fast identity of a file: its size and a BLAKE2b hash of its first and last MiB and `samples` blocks
    spread evenly between them (reads ~4 MB whatever the file's size; a full hash of 3 GB would take seconds)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as f:
        offsets = [0, max(0, size - (1 << 20))] + [size * k // (samples + 1) for k in range(1, samples + 1)]
        for off in offsets:
            f.seek(off)
            h.update(f.read(1 << 20 if off in offsets[:2] else sample_size))
    return {"path": str(p.resolve()), "size": size, "fingerprint": f"blake2b-sampled:{h.hexdigest()}"}


def line_sample(buf: Any, span: LineSpan, edge: int = 64 << 10) -> str:
    """See `ReferenceFile.line_sample`."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(span.size).encode())
    h.update(buf[span.offset:min(span.end, span.offset + edge)])
    h.update(buf[max(span.offset, span.end - edge):span.end])
    release(buf, span.offset, min(span.end, span.offset + edge))
    release(buf, max(span.offset, span.end - edge), span.end)
    return h.hexdigest()


# --- one line --------------------------------------------------------------------------------------------------
class LineParser:
    """Parses lines of one reference file (see the module docstring). Keep one per process and reuse it.

    Args:
        path: The JSONL file (for messages and for resolving ``npy_path``).
        rules: The contract's tensor rules, or None.
    """

    def __init__(self, path: str | os.PathLike, rules: ContractRules | None = None) -> None:
        self.path = str(path)
        self.base_dir = Path(path).resolve().parent
        self.rules = rules
        self._parsers = ParserPool()

    # errors
    def _err(self, span: LineSpan, problem: str, code: str, stream: str | None = None, chunk: int | None = None,
             tensor: str | None = None, kind: str | None = None) -> JsonlError:
        return JsonlError(Where(self.path, span.number, stream, chunk, tensor, kind), problem, code)

    def _invalid_json(self, span: LineSpan, detail: str, excerpt: str = "", buf: Any = None) -> JsonlError:
        hint = self._layout_hint(span, buf) if buf is not None else ""
        if hint:
            return self._err(span, f"is not valid JSON ({detail}): {hint}", "invalid_json")
        near = f" near {excerpt}" if excerpt else ""
        if not span.terminated:
            return self._err(span, f"is the last line, has no newline at its end and is not complete JSON "
                                   f"({detail}{near}): the file looks cut off while being written. Re-create it, or "
                                   f"pass --skip-invalid to convert every line before it.", "truncated")
        return self._err(span, f"is not valid JSON ({detail}{near}).", "invalid_json")

    @staticmethod
    def _layout_hint(span: LineSpan, buf: Any) -> str:
        """What a line that is not JSON looks like when the whole file is in another shape than JSON Lines."""
        head = bytes(buf[span.offset:min(span.end, span.offset + 4096)])
        release(buf, span.offset, min(span.end, span.offset + 4096))
        if head.strip(b"\x00 \t\r") == b"" and b"\x00" in head:
            return ("the line is NUL bytes, which is what a file not completely written looks like (a crash or a "
                    "full disk while writing). Re-create the file, or pass --skip-invalid to convert every line "
                    "before it.")
        stripped = head.strip().lstrip(b"\xef\xbb\xbf")
        if stripped in (b"[", b"{") or (stripped.startswith(b"[") and stripped[1:].lstrip().startswith(b"{")):
            return ("the file looks like one JSON document (a pretty-printed object or an array of chunk objects), "
                    "but a reference file is JSON Lines: one complete chunk object per line. Rewrite it with one "
                    "object per line (e.g. `jq -c '.[]' FILE > FILE.jsonl` for an array).")
        if buf.find(b"}\r{", span.offset, span.end) >= 0:
            return ("the line holds carriage returns between objects: the file uses old Mac (CR-only) line endings. "
                    "Convert them to newlines (e.g. `tr '\\r' '\\n' < FILE > FILE.jsonl`).")
        return ""

    # entry point
    def parse(self, buf: Any, span: LineSpan, sink: Sink | None = None) -> Parsed:
        """Parse one line of `buf` (the file's bytes or an mmap of it).

        Args:
            buf: The file's bytes, or an mmap of the file.
            span: Which line.
            sink: If given, receives each tensor as soon as it is decoded (and the result holds none), so that
                memory stays near one tensor's size; a `JsonlError` may still come after some tensors were sunk.

        Raises:
            JsonlError: Anything wrong with the line, located to the tensor where possible.
        """
        start, end = span.offset, span.end
        try:
            try:
                skeleton, spans = skeletonize(buf, start, end)
            except SkeletonError as exc:
                raise self._invalid_json(span, str(exc), buf=buf) from None
            if any(tok in skeleton for tok in _NONFINITE_STRINGS):  # "NaN" strings sit in the small skeleton
                return self._parse_slow(buf, span, sink)
            try:
                doc = self._load_skeleton(skeleton, span, buf)
            except JsonlError:
                if not spans:
                    raise
                # A string inside a big array (e.g. numbers written as strings) splits it into pieces that are not
                # JSON apart: the whole line decides, so a valid line names its bad tensor, an invalid one fails.
                return self._parse_slow(buf, span, sink)
            try:
                return self._build(doc, buf, spans, span, sink)
            except _NeedsSlowPath:
                return self._parse_slow(buf, span, sink)
        finally:
            release(buf, start, end)

    def _load_skeleton(self, skeleton: bytes, span: LineSpan, buf: Any = None) -> Any:
        import orjson

        try:
            return orjson.loads(skeleton)
        except orjson.JSONDecodeError:
            pass
        try:  # bare NaN / Infinity tokens outside tensors (e.g. in meta): Python's json accepts them
            return json.loads(skeleton)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            pos = getattr(exc, "pos", 0) or 0
            text = skeleton[max(0, pos - 30):pos + 30].decode("utf-8", "replace").replace("\\u0000pi:", "<data#")
            raise self._invalid_json(span, getattr(exc, "msg", str(exc)), repr(text), buf) from None

    def _parse_slow(self, buf: Any, span: LineSpan, sink: Sink | None) -> Parsed:
        """Python's json on the whole line: keeps "NaN"/"Infinity" strings and bare tokens; slow, rare."""
        try:
            doc = json.loads(bytes(buf[span.offset:span.end]))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._invalid_json(span, getattr(exc, "msg", str(exc)), buf=buf) from None
        return self._build(doc, buf, [], span, sink)

    # the document
    def _build(self, doc: Any, buf: Any, spans: list[Span], span: LineSpan, sink: Sink | None) -> Parsed:
        if isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc[:3]):
            raise self._err(span, f"is a JSON array of {len(doc)} objects, not one chunk object: a reference file is "
                                  f"JSON Lines, one chunk object per line. Rewrite it with one object per line (e.g. "
                                  f"`jq -c '.[]' FILE > FILE.jsonl`).", "not_object")
        if not isinstance(doc, dict):
            raise self._err(span, f"is not a JSON object but {_json_type(doc)}; each line must be one object "
                                  f"{{\"stream\", \"chunk_index\", \"inputs\", \"outputs\", \"meta\"}} (or the seed "
                                  f"team's {{\"chunk_idx\", \"inputs\", \"outputs\", \"metadata\"}}).", "not_object")
        if doc.get("format") == HEADER_FORMAT:
            version = doc.get("version")
            if version != HEADER_VERSION:
                raise self._err(span, f"is a header of version {version!r}; this reader knows version "
                                      f"{HEADER_VERSION}.", "header_version")
            return Header(self._restore(doc, buf, spans), span)
        seed = "chunk_idx" in doc or "metadata" in doc
        fmt = FORMAT_SEED if seed else FORMAT_OURS
        index_key, meta_key = ("chunk_idx", "metadata") if seed else ("chunk_index", "meta")
        stream = doc.get("stream", "default")
        if not isinstance(stream, str) or not stream:
            raise self._err(span, f"has stream {stream!r}; a stream name must be a non-empty string.", "stream")
        index = doc.get(index_key)
        if isinstance(index, float) and index.is_integer():  # 3.0: a writer that keeps every number a float
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_CHUNK_INDEX:
            what = "has no" if index is None else f"has an invalid ({index!r})"
            raise self._err(span, f"{what} {index_key!r}; each line needs the chunk's index, an integer from 0 "
                                  f"(below {MAX_CHUNK_INDEX + 1:.0e}; keys present: {', '.join(doc) or 'none'}).",
                            "chunk_index", stream)
        meta = doc.get(meta_key) or {}
        if not isinstance(meta, dict):
            raise self._err(span, f"has a {meta_key!r} that is {_json_type(meta)}, not an object.", "meta",
                            stream, index)
        tensors: dict[str, dict[str, np.ndarray]] = {}
        infos: dict[str, dict[str, tuple[tuple[int, ...], str]]] = {}
        for kind in KINDS:
            group = doc.get(kind)
            if not isinstance(group, dict):
                what = "has no" if group is None else f"has a non-object ({_json_type(group)})"
                raise self._err(span, f"{what} {kind!r}; each line needs an object of {kind} by name (keys "
                                      f"present: {', '.join(doc) or 'none'}).", "missing_tensor", stream, index)
            tensors[kind], infos[kind] = {}, {}
            for name, value in group.items():
                if not name.strip():
                    raise self._err(span, f"has a tensor with an empty name in {kind!r}; every tensor needs its "
                                          f"reference name.", "tensor", stream, index, name, kind)
                try:
                    array = self._tensor(value, kind, name, buf, spans)
                except TensorProblem as exc:
                    raise self._err(span, str(exc), "tensor", stream, index, name, kind) from None
                infos[kind][name] = (tuple(array.shape), str(array.dtype))
                if sink is None:
                    tensors[kind][name] = array
                else:
                    sink(kind, name, array)
                del array
        if self.rules is not None:
            problems = self.rules.check(infos)
            if problems:
                kind, name, problem = problems[0]
                code = ("missing_tensor" if problem.startswith("is missing") else
                        "unexpected_tensor" if problem.startswith("is not in") else
                        "dtype" if problem.startswith("has dtype") else "shape")
                raise self._err(span, problem, code, stream, index, name, kind)
        return ReferenceLine(stream, index, tensors["inputs"], tensors["outputs"],
                             self._restore(meta, buf, spans), span, fmt, infos)

    def _tensor(self, value: Any, kind: str, name: str, buf: Any, spans: list[Span]) -> np.ndarray:
        contract_dtype = self.rules.dtype_of(kind, name) if self.rules is not None else None
        k = span_index(value)
        if k is not None:
            s = spans[k]
            if s.kind != "arr":
                raise TensorProblem("is a string; a tensor is a nested list or an object with dtype/shape and one "
                                    "of data, b64, data_b64, npy_path.")
            dtype = check_dtype(contract_dtype) if contract_dtype else None
            return parse_number_span(buf, s.start, s.end, dtype, self._parsers)
        if isinstance(value, (list, int, float)) and not isinstance(value, bool):
            return from_python(value, check_dtype(contract_dtype) if contract_dtype else None)
        if not isinstance(value, dict):
            raise TensorProblem(f"is {_json_type(value)}; a tensor is a nested list or an object with dtype/shape "
                                f"and one of data, b64, data_b64, npy_path.")
        file_dtype = value.get("dtype")
        dtype, dtype_order = parse_dtype(file_dtype) if file_dtype is not None else (None, None)
        order = byte_order(value, dtype_order)
        if dtype is not None and contract_dtype and str(dtype) != contract_dtype:
            raise TensorProblem(f"has dtype {dtype}; the contract says {contract_dtype}.")
        if dtype is None and contract_dtype:
            dtype = check_dtype(contract_dtype)
        if "npy_path" in value:
            array = load_npy(value["npy_path"], self.base_dir)
            if dtype is not None and file_dtype is not None and array.dtype != dtype:
                raise TensorProblem(f"has dtype {array.dtype} in its .npy file but {dtype} in the line.")
            if "shape" in value and tuple(array.shape) != check_shape(value["shape"]):
                raise TensorProblem(f"has shape {list(array.shape)} in its .npy file but {value['shape']} in the "
                                    f"line.")
            return array
        payload_keys = [key for key in ("data", "b64", "data_b64") if key in value]
        if len(payload_keys) != 1:
            raise TensorProblem(f"is an object with keys {', '.join(value) or 'none'}; it needs exactly one of "
                                f"'data', 'b64', 'data_b64', 'npy_path' (plus 'dtype' and 'shape').")
        if "shape" not in value:
            raise TensorProblem(f"has {payload_keys[0]!r} but no 'shape'.")
        shape = check_shape(value["shape"])
        payload = value[payload_keys[0]]
        k = span_index(payload)
        if payload_keys[0] == "data":
            if k is not None:
                s = spans[k]
                if s.kind != "arr":
                    raise TensorProblem("has a string as 'data'; 'data' is a flat list of numbers.")
                return parse_number_span(buf, s.start, s.end, dtype, self._parsers, shape=shape)
            if not isinstance(payload, list):
                raise TensorProblem(f"has 'data' of type {_json_type(payload)}; it must be a flat list of numbers.")
            return from_python(payload, dtype, shape=shape)
        if dtype is None:
            raise TensorProblem(f"has {payload_keys[0]!r} but no 'dtype' (and no contract gives one); base64 "
                                f"data needs its dtype.")
        if k is not None:
            s = spans[k]
            if s.kind != "str":
                raise TensorProblem(f"has {payload_keys[0]!r} that is not a string.")
            return decode_b64_span(buf, s.start, s.end, dtype, shape, order=order)
        if not isinstance(payload, str):
            raise TensorProblem(f"has {payload_keys[0]!r} of type {_json_type(payload)}; it must be a base64 string.")
        return decode_b64_text(payload, dtype, shape, order=order)

    def _restore(self, value: Any, buf: Any, spans: list[Span]) -> Any:
        """Put big values cut out of the skeleton back where they are not tensors (meta, header)."""
        if not spans:
            return value
        k = span_index(value)
        if k is not None:
            import orjson

            s = spans[k]
            text = buf[s.start:s.end]
            try:
                return orjson.loads(b'"' + text + b'"' if s.kind == "str" else text)
            except orjson.JSONDecodeError:
                raise _NeedsSlowPath() from None
        if isinstance(value, dict):
            return {key: self._restore(v, buf, spans) for key, v in value.items()}
        if isinstance(value, list):
            return [self._restore(v, buf, spans) for v in value]
        return value


class _NeedsSlowPath(Exception):
    """The skeleton cut something that is not one JSON value: parse the whole line the slow way."""


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


# --- whole files -----------------------------------------------------------------------------------------------
class ReferenceFile:
    """An open reference JSONL: its line spans, and parsing by span from an mmap of the file.

    Args:
        path: The file.
        rules: Contract rules to validate against, or None.

    Raises:
        JsonlError: The file does not exist or is empty.
    """

    def __init__(self, path: str | os.PathLike, rules: ContractRules | None = None) -> None:
        self.path = check_source(path)
        self.size = self.path.stat().st_size
        self.parser = LineParser(self.path, rules)
        self._file = open(self.path, "rb")
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)

    def spans(self) -> Iterator[LineSpan]:
        return iter_line_spans(self.path)

    def parse(self, span: LineSpan, sink: Sink | None = None) -> Parsed:
        return self.parser.parse(self._mm, span, sink)

    def line_sample(self, span: LineSpan) -> str:
        """A cheap identity of one line (BLAKE2b of its first and last 64 KiB, plus its size): lets a resumed
        conversion check that lines converted earlier are still the same bytes after the file was edited."""
        return line_sample(self._mm, span)

    def close(self) -> None:
        self._mm.close()
        self._file.close()

    def __enter__(self) -> ReferenceFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_reference(path: str | os.PathLike, contract: Any = None, *, skip_invalid: bool = False,
                   skipped: list[JsonlError] | None = None) -> Iterator[Parsed]:
    """Every header and chunk line of a reference file, in order, with every check.

    Args:
        path: The JSONL file.
        contract: A `contracts.Contract` (or `ContractRules`) to validate tensors against, or None.
        skip_invalid: Leave out bad lines instead of raising; they are appended to `skipped`.
        skipped: Receives the problems of lines left out (and of gaps, which do not stop reading).

    Raises:
        JsonlError: The first problem, unless `skip_invalid`.
    """
    rules = (contract if contract is None or isinstance(contract, ContractRules)
             else ContractRules.from_contract(contract))
    checker = LineChecker(str(path), with_contract=rules is not None)
    with ReferenceFile(path, rules) as ref:
        for span in ref.spans():
            if span.blank:
                continue
            try:
                parsed = ref.parse(span)
            except JsonlError as exc:
                if not skip_invalid:
                    raise
                if skipped is not None:
                    skipped.append(exc)
                continue
            summary = (LineSummary(span.number, "header", header=dict(parsed.fields)) if isinstance(parsed, Header)
                       else parsed.summary())
            verdict = checker.check(summary)
            if verdict.problems and not skip_invalid:
                raise verdict.problems[0]
            if skipped is not None:
                skipped.extend(verdict.problems)
            if verdict.accept:
                yield parsed
        if checker.data_lines == 0 and not skip_invalid:
            raise JsonlError(Where(str(path)), "has no chunk lines (only blank lines or a header): nothing to convert.",
                             "empty")

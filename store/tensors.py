"""Decoding one tensor of a reference line into a numpy array, fast and without holding much memory.

Big values are decoded straight from the line's bytes (an mmap of the file), piece by piece, into one preallocated
output array, so memory stays near the tensor's own size whatever the line's size:

* number arrays (nested JSON lists, or the flat ``data`` list): the text goes to simdjson as it is, in ~1 MB
  pieces cut after a comma (flat) or between two lists (nested), each copied once into a reused buffer and wrapped
  in just the brackets that make it one JSON array; ``as_buffer`` gives its numbers. The nesting is checked on
  each parsed piece, with list lengths counted across pieces (so ragged lists are an error, never silently
  flattened: ``as_buffer`` flattens anything). No copy of the text is translated or re-joined. Arrays holding
  the tokens ``NaN`` / ``Infinity`` (which simdjson refuses) and nested lists of very short rows take the older
  path: the nesting checked from the structure characters alone, the numbers parsed with the brackets blanked
  out, pieces with non-finite tokens by numpy's text parser, which keeps them.
* base64 strings: decoded with pybase64 in pieces straight from the mmap, with the byte count checked against
  shape × dtype before anything is decoded.
* ``npy_path``: loaded with numpy (``allow_pickle=False``) after checking that the path stays inside the JSONL's
  folder, symlinks resolved.

Small values arrive as Python objects (lists, strings) from the line's skeleton and are converted directly.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from store.errors import TensorProblem
from store.pages import release

PIECE = 1 << 20  # bytes of text parsed at a time (simdjson's buffers are ~12× the piece)
_STRUCT_DELETE = bytes(c for c in range(256) if c not in b"[],")
_BRACKETS_TO_SPACE = bytes.maketrans(b"[]", b"  ")
_NONFINITE = (b"NaN", b"Infinity")

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
KNOWN_DTYPES = (*FLOAT_DTYPES, *INT_DTYPES, "bool")


class ParserPool:
    """One reusable simdjson parser; replaced after any error (a parser that raised while a document was still
    referenced refuses every later parse). Also the one buffer that every piece of number text is copied into."""

    def __init__(self) -> None:
        self._parser: Any = None
        self.room = bytearray()

    def wrap(self, buf: Any, start: int, end: int, opening: int, closing: int) -> int:
        """Copy buf[start:end] into `room` behind `opening` ``[`` and before `closing` ``]``; returns the length.

        One copy into a reused buffer instead of new bytes objects per piece (slice, then two concatenations)."""
        size = opening + (end - start) + closing
        if len(self.room) < size:
            self.room = bytearray(max(size, 2 * PIECE))  # replaced, never resized: a view of the old one may live on
        room = self.room
        room[:opening] = b"[" * opening
        with memoryview(buf) as src:
            room[opening:size - closing] = src[start:end]
        room[size - closing:size] = b"]" * closing
        return size

    def get(self) -> Any:
        if self._parser is None:
            import simdjson

            self._parser = simdjson.Parser()
        return self._parser

    def reset(self) -> None:
        self._parser = None


_DTYPE_ALIASES = {
    "half": "float16", "double": "float64", "long": "int64", "short": "int16", "byte": "uint8", "bool_": "bool",
    "boolean": "bool", "f2": "float16", "f4": "float32", "f8": "float64", "i1": "int8", "i2": "int16",
    "i4": "int32", "i8": "int64", "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "b1": "bool",
    "?": "bool",
}
_BYTE_ORDERS = {"<": "<", ">": ">", "=": "<", "|": "<", "little": "<", "big": ">", "le": "<", "be": ">",
                "little-endian": "<", "big-endian": ">", "native": "<"}


def parse_dtype(name: Any) -> tuple[np.dtype, str | None]:
    """A dtype name as files write it → (native numpy dtype, byte order ``"<"``/``">"`` if the name says one).

    Accepts ``float32``, numpy's ``<f4`` / ``>f4`` / ``|b1`` (``a.dtype.str``), ``torch.float32``, ``np.int64``,
    ``numpy.float32`` and short aliases (``f4``, ``half``, ``double``, ``long``).
    """
    if not isinstance(name, str) or not name.strip():
        raise TensorProblem(f"dtype {name!r} is not supported; expected one of {', '.join(KNOWN_DTYPES)}.")
    text = name.strip()
    order = None
    if text[0] in "<>=|" and len(text) > 1:
        order, text = _BYTE_ORDERS[text[0]], text[1:]
    low = text.lower()
    for prefix in ("torch.", "numpy.", "np.", "tensor(", "dtype("):
        if low.startswith(prefix):
            low = low[len(prefix):].rstrip(")").strip("'\"")
    low = _DTYPE_ALIASES.get(low, low)
    if low not in KNOWN_DTYPES:
        raise TensorProblem(f"dtype {name!r} is not supported; expected one of {', '.join(KNOWN_DTYPES)} (numpy's "
                            f"'<f4' style and 'torch.float32' style are understood too).")
    return np.dtype(low), order


def check_dtype(name: Any) -> np.dtype:
    """The native numpy dtype for a dtype name from a file or contract (``float32``, ``int64``, ``<f4`` …)."""
    return parse_dtype(name)[0]


def byte_order(value: Any, dtype_order: str | None) -> str:
    """The byte order of a tensor's base64 bytes: from a ``byteorder``/``endian`` key, else the dtype name's
    (``>f4``), else little-endian as the format says. Conflicting statements are an error."""
    stated = None
    for key in ("byteorder", "byte_order", "endian", "endianness"):
        if key in value:
            raw = value[key]
            stated = _BYTE_ORDERS.get(raw.lower() if isinstance(raw, str) else raw)
            if stated is None:
                raise TensorProblem(f"has {key}={raw!r}; expected 'little' or 'big'.")
            break
    if stated is not None and dtype_order is not None and stated != dtype_order:
        raise TensorProblem(f"says byte order {stated!r} in its {key!r} key but {dtype_order!r} in its dtype.")
    return stated or dtype_order or "<"


def check_shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise TensorProblem(f"'shape' must be a list of non-negative integers, got {shape!r}.")
    return tuple(shape)


# --- number arrays ---------------------------------------------------------------------------------------------
def _structure(buf: Any, start: int, end: int) -> bytes:
    """Only the ``[``, ``]`` and ``,`` characters of buf[start:end], in order."""
    parts = []
    for p in range(start, end, PIECE):
        q = min(end, p + PIECE)
        parts.append(buf[p:q].translate(None, _STRUCT_DELETE))
        release(buf, p, q)
    return b"".join(parts)


def _shape_from_structure(st: bytes) -> tuple[int, ...] | None:
    """The shape a regular nested list with this structure string has, or None when it cannot be regular.

    The first array at nesting level j starts at index j and ends at the first run of (rank - j) closing brackets;
    its length L_j satisfies L_j = 1 + d_{j+1} * (L_{j+1} + 1), which gives each dimension from the lengths.
    """
    rank = len(st) - len(st.lstrip(b"["))
    if rank == 0:
        return None
    lengths = []
    for j in range(rank):
        k = st.find(b"]" * (rank - j))
        if k < 0:
            return None
        lengths.append(k + (rank - j) - j)
    lengths.append(0)  # numbers have no structure characters
    dims = []
    for j in range(rank):
        d, rem = divmod(lengths[j] - 1, lengths[j + 1] + 1)
        if rem or d < 1:
            return None
        dims.append(d)
    return tuple(dims)


def _structure_len(shape: tuple[int, ...]) -> int:
    """len(_regular_structure(shape)), computed without building it."""
    inner = 0
    for d in reversed(shape):
        inner = 2 + d * inner + max(d - 1, 0)
    return inner


def _regular_structure(shape: tuple[int, ...]) -> bytes:
    inner = b""
    for d in reversed(shape):
        inner = b"[" + b",".join([inner] * d) + b"]"
    return inner


def _parse_piece(text: bytes, integer: bool, parsers: ParserPool) -> np.ndarray:
    """Flat numbers in `text` (commas, spaces) → float64 or int64 array."""
    wrapped = b"[" + text + b"]"
    try:
        doc = parsers.get().parse(wrapped)
        try:
            if integer:
                try:
                    return np.frombuffer(doc.as_buffer(of_type="i"), dtype=np.int64)
                except TypeError:  # floats among the numbers: checked for integrality by the caller
                    pass
            return np.frombuffer(doc.as_buffer(of_type="d"), dtype=np.float64)
        finally:
            del doc
    except _SIMDJSON_ERRORS as exc:
        parsers.reset()
        if any(tok in text for tok in _NONFINITE):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    values = np.fromstring(text, dtype=np.float64, sep=",")
                except (ValueError, DeprecationWarning):
                    values = None
            if values is not None and len(values) == text.count(b",") + 1:
                return values
        raise TensorProblem(f"invalid number list ({str(exc).split(':')[0]}): {_excerpt(text)}") from None


def _excerpt(text: bytes, width: int = 60) -> str:
    """A short, readable excerpt around the first thing that is not number syntax."""
    allowed = set(b"0123456789+-.eE, \t\r\n")
    for i, c in enumerate(text):
        if c not in allowed:
            lo = max(0, i - width // 2)
            return repr(text[lo:lo + width].decode("utf-8", "replace").strip())
    return repr(text[:width].decode("utf-8", "replace"))


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iub":
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
                raise TensorProblem(f"holds non-integer numbers but its dtype is {dtype}.")
        if dtype.kind in "iu" and values.size:
            info = np.iinfo(dtype)
            if values.min() < info.min or values.max() > info.max:
                raise TensorProblem(f"holds numbers outside the range of {dtype}.")
    return values.astype(dtype, copy=False)


def _looks_float(buf: Any, start: int, end: int) -> bool:
    return any(buf.find(tok, start, end) >= 0 for tok in (b".", b"e", b"E", b"N", b"I"))


def _parse_via_structure(buf: Any, start: int, end: int, dtype: np.dtype | None, parsers: ParserPool,
                         shape: tuple[int, ...] | None = None) -> np.ndarray:
    """`parse_number_span` by the structure string: the nesting is checked exactly from the ``[``, ``]``, ``,``
    characters alone, then the numbers are parsed in pieces of the text with its brackets blanked out (pieces with
    NaN/Infinity tokens through numpy's text parser). Several times slower than the direct path (~4× on the dense
    file of bench/convert.py, with ~5× its memory), so it is used only where that path cannot go: non-finite tokens, innermost lists of a few numbers (where checking row
    by row would cost more) and rows too long for simdjson's counts."""
    st = _structure(buf, start, end)
    if shape is None:
        nested = _shape_from_structure(st)
        if nested is None or st != _regular_structure(nested):
            raise TensorProblem(
                "is a ragged or malformed nested list: its sub-lists do not all have the same length"
                + (f" (the first ones suggest shape {list(nested)})" if nested else "") + "."
            )
        total = math.prod(nested)
        out_shape = nested
    else:
        total = math.prod(shape)
        # Compare lengths first: a declared shape of 10**15 elements must never build a 10**15-byte string.
        flat = _regular_structure((total,)) if total and len(st) == total + 1 else (b"[]" if not total else None)
        if st != flat and len(shape) > 1 and total and len(st) == _structure_len(shape) \
                and st == _regular_structure(shape):
            flat = st  # 'data' nested exactly as the declared shape: unambiguous, accepted
        if st != flat:
            raise TensorProblem(
                f"'data' must be one flat list of {total} numbers for shape {list(shape)}; "
                f"it has {st.count(b',') + 1 if st.count(b'[') == 1 else 'nested lists and'} "
                f"{'numbers' if st.count(b'[') == 1 else 'is not flat'}."
            )
        out_shape = shape
    del st
    if dtype is None:
        dtype = np.dtype(np.float32) if _looks_float(buf, start, end) else np.dtype(np.int64)
    out = np.empty(total, dtype=dtype)
    integer = dtype.kind in "iub"
    filled, pos = 0, start
    while pos < end:
        cut = end
        if end - pos > PIECE:
            cut = buf.rfind(b",", pos, pos + PIECE)
            if cut < 0:
                cut = buf.find(b",", pos + PIECE, end)
                cut = end if cut < 0 else cut
        values = _parse_piece(buf[pos:cut].translate(_BRACKETS_TO_SPACE), integer, parsers)
        if filled + len(values) > total:
            raise TensorProblem(f"holds more than the {total} numbers its shape {list(out_shape)} needs.")
        out[filled:filled + len(values)] = _cast(values, dtype)
        filled += len(values)
        release(buf, pos, cut)
        pos = cut + 1
    if filled != total:
        raise TensorProblem(f"holds {filled} numbers; its shape {list(out_shape)} needs {total}.")
    return out.reshape(out_shape)


# The direct path: the number text goes to simdjson as it is, in pieces of about PIECE bytes cut where the text
# allows it (after a comma in a flat list; after a closing bracket followed by a comma in a nested one), each
# piece wrapped in just enough brackets to be one JSON array. No copy of the text is translated or re-joined;
# the nesting is checked on simdjson's parse of each piece.
_SIMDJSON_ERRORS = (ValueError, TypeError, RuntimeError)  # RuntimeError: integers beyond 64 bits (BIGINT_ERROR)
_SATURATED = 0xFFFFFF  # simdjson's array length saturates here: longer rows are counted the structure way
# Checking a row costs ~0.3 µs of Python, the structure string ~3 ns a byte: rows shorter than this (bytes of text)
# are cheaper to check the structure-string way.
SMALL_ROW = 256
_WS = b" \t\r\n"


class _Fallback(Exception):
    """The direct path cannot decide this array; parse it by the structure string."""


def parse_number_span(buf: Any, start: int, end: int, dtype: np.dtype | None, parsers: ParserPool,
                      shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A JSON number array at buf[start:end] → array, checked as strictly as a full parse would be.

    Args:
        buf: The line's bytes (bytes or an mmap of the file).
        start, end: The array text, ``[`` to the matching ``]``.
        dtype: Target dtype; None → float32 if any number has a fraction/exponent/non-finite token, else int64.
        parsers: The simdjson parser to use.
        shape: For a flat ``data`` list: the declared shape (the text must be one flat list of that many
            numbers, or nested exactly as that shape). None for a nested list, whose shape comes from its nesting.

    Raises:
        TensorProblem: Ragged nesting, wrong count, invalid numbers, integers out of range.
    """
    if buf[start] != 0x5B or buf[end - 1] != 0x5D:
        raise TensorProblem(f"is not a JSON list of numbers: {_excerpt(bytes(buf[start:min(end, start + 60)]))}")
    if dtype is None:
        dtype = np.dtype(np.float32) if _looks_float(buf, start, end) else np.dtype(np.int64)
    rank = _leading_brackets(buf, start, end)
    try:
        if rank == 1:
            return _parse_flat(buf, start, end, dtype, parsers, shape)
        if shape is not None and (len(shape) < 2 or not math.prod(shape) or rank != len(shape)):
            raise _flat_data_error(buf, start, end, shape)  # 'data' nested, but not as its declared shape
        if _first_row_bytes(buf, start, end) < SMALL_ROW:
            raise _Fallback()
        return _parse_nested(buf, start, end, dtype, parsers, rank, shape)
    except _Fallback:
        return _parse_via_structure(buf, start, end, dtype, parsers, shape)


def _leading_brackets(buf: Any, start: int, end: int) -> int:
    """How many ``[`` open the text (whitespace between them allowed): the rank, if the list is regular."""
    rank, i = 0, start
    while i < end and (buf[i] == 0x5B or buf[i] in _WS):
        rank += buf[i] == 0x5B
        i += 1
    return rank


def _first_row_bytes(buf: Any, start: int, end: int) -> int:
    close = buf.find(b"]", start, end)
    return close - buf.rfind(b"[", start, close)


def _ragged(dims: list[int | None] | None) -> TensorProblem:
    known = dims is not None and all(d is not None for d in dims)
    return TensorProblem("is a ragged or malformed nested list: its sub-lists do not all have the same length"
                         + (f" (the first ones suggest shape {list(dims)})" if known else "") + ".")


def _flat_data_error(buf: Any, start: int, end: int, shape: tuple[int, ...]) -> TensorProblem:
    """The message for a 'data' list that does not match its declared shape (counted from the text: error path)."""
    st = _structure(buf, start, end)
    flat = st.count(b"[") == 1
    count = (st.count(b",") + 1 if bytes(buf[start + 1:end - 1]).strip() else 0) if flat else 0
    return TensorProblem(f"'data' must be one flat list of {math.prod(shape)} numbers for shape {list(shape)}; "
                         f"it has {f'{count} numbers' if flat else 'nested lists and is not flat'}.")


def _numbers(size: int, text: tuple[int, int], integer: bool, parsers: ParserPool,
             check: Any = None) -> tuple[np.ndarray, Any]:
    """The numbers of the wrapped piece in ``parsers.room[:size]`` (its own text at room[text[0]:text[1]]),
    flattened, as float64 or int64; `check(doc)` runs on the parsed piece first (the nesting check) and its result
    is returned beside them."""
    try:
        doc = parsers.get().parse(memoryview(parsers.room)[:size])
        try:
            seen = check(doc) if check is not None else None
            if integer:
                try:
                    return np.frombuffer(doc.as_buffer(of_type="i"), dtype=np.int64), seen
                except TypeError:  # floats among the numbers: checked for integrality by the caller
                    pass
            return np.frombuffer(doc.as_buffer(of_type="d"), dtype=np.float64), seen
        finally:
            del doc
    except _SIMDJSON_ERRORS as exc:
        parsers.reset()
        text = bytes(parsers.room[text[0]:text[1]])
        if b"N" in text or b"I" in text:  # NaN / Infinity tokens, which simdjson refuses: the other path keeps them
            raise _Fallback() from None
        raise TensorProblem(f"invalid number list ({str(exc).split(':')[0]}): {_excerpt(text)}") from None
    except BaseException:
        parsers.reset()  # the traceback may still reference the document: this parser would refuse the next parse
        raise


def _bounded_output(buf: Any, start: int, end: int, dtype: np.dtype) -> np.ndarray:
    """An array big enough for every number the text can hold (each takes at least 2 bytes with its comma); only
    the part written ever takes memory, so the count need not be known in advance."""
    return np.empty((end - start) // 2 + 1, dtype=dtype)


def _parse_flat(buf: Any, start: int, end: int, dtype: np.dtype, parsers: ParserPool,
                shape: tuple[int, ...] | None) -> np.ndarray:
    """A list with no inner ``[`` → array of `shape` (or 1-D), parsed in pieces cut after commas."""
    if shape is not None:
        total = math.prod(shape)
        if total > (end - start) // 2 + 1:  # never allocate what the text cannot hold (shape [1e5, 1e5, 1e5])
            raise _flat_data_error(buf, start, end, shape)
        out = np.empty(total, dtype=dtype)
    else:
        out = _bounded_output(buf, start, end, dtype)
    integer = dtype.kind in "iub"
    filled, pos, close = 0, start + 1, end - 1
    while pos < close:
        cut = close
        if close - pos > PIECE:
            cut = buf.rfind(b",", pos, pos + PIECE)
            if cut < 0:
                cut = buf.find(b",", pos + PIECE, close)
                cut = close if cut < 0 else cut
        size = parsers.wrap(buf, pos, cut, 1, 1)
        if parsers.room.find(b"[", 1, size - 1) >= 0:  # a list inside: searched in the piece, in the cache now
            raise _ragged(None) if shape is None else _flat_data_error(buf, start, end, shape)
        values = _numbers(size, (1, size - 1), integer, parsers)[0]
        if not len(values) and (pos > start + 1 or cut < close):  # blank between two commas, or a trailing comma
            raise TensorProblem(f"invalid number list (an empty element between commas): "
                                f"{_excerpt(bytes(buf[pos:cut]))}")
        if filled + len(values) > len(out):  # only a declared shape can be too small: the bound holds every number
            raise _flat_data_error(buf, start, end, shape or (len(out),))
        out[filled:filled + len(values)] = values if dtype.kind == "f" else _cast(values, dtype)
        filled += len(values)
        release(buf, pos, cut)
        pos = cut + 1
    if shape is not None:
        if filled != len(out):
            raise _flat_data_error(buf, start, end, shape)
        return out.reshape(shape)
    return out[:filled]


class _Nesting:
    """Checks a nested list piece by piece against the regular nesting of one shape: every list at depth j has
    dims[j] elements (the first list to close at a depth sets it, unless the shape was declared), lists hold only
    lists down to the innermost ones, which hold only numbers.

    A piece is the text between two cuts wrapped as ``[`` × depth_in + text + ``]`` × depth_out, where depth_in /
    depth_out are the number of lists open at its cuts: its leftmost lists above depth_in continue lists begun in
    earlier pieces, its rightmost ones above depth_out go on in later pieces, so children are counted across pieces.
    """

    def __init__(self, rank: int, shape: tuple[int, ...] | None) -> None:
        import simdjson

        self._array = simdjson.Array
        self.rank = rank
        self.declared = shape is not None
        self.dims: list[int | None] = list(shape) if shape is not None else [None] * rank
        self.counts = [0] * rank
        self.rows = 0

    def piece(self, doc: Any, depth_in: int, depth_out: int) -> int:
        """Check one parsed piece; returns how many lists begin in it (its ``[`` characters, to be counted)."""
        if not isinstance(doc, self._array):
            raise self._problem()
        return self._walk(doc, 0, depth_in > 0, depth_out > 0, depth_in, depth_out)

    def _walk(self, node: Any, j: int, left: bool, right: bool, din: int, dout: int) -> int:
        n = len(node)
        if not left:
            self.counts[j] = 0
        self.counts[j] += n - (left and j + 1 < din)  # a continued first child was counted in an earlier piece
        begun = 0 if left else 1
        if j == self.rank - 2:  # the children are the innermost lists: checked here, without a call per row
            try:
                lengths = {len(row) for row in node}
            except TypeError:  # a number where a list belongs
                raise self._problem() from None
            # a string or object in a row's place has a len() too: as_buffer refuses it right after this check
            if lengths:
                if len(lengths) > 1 or max(lengths) >= _SATURATED:
                    if max(lengths) >= _SATURATED:
                        raise _Fallback()
                    raise self._problem()
                self._close(self.rank - 1, lengths.pop())
            self.rows += n
            begun += n
        else:
            for i, child in enumerate(node):
                if not isinstance(child, self._array):
                    raise self._problem()
                begun += self._walk(child, j + 1, left and i == 0 and j + 1 < din, right and i == n - 1
                                    and j + 1 < dout, din, dout)
        if not right:
            self._close(j, self.counts[j])
        return begun

    def _close(self, j: int, n: int) -> None:
        if self.dims[j] is None:
            self.dims[j] = n
        elif self.dims[j] != n:
            raise self._problem()

    def _problem(self) -> TensorProblem:
        if self.declared:
            return TensorProblem(f"'data' must be one flat list of {math.prod(self.dims)} numbers for shape "
                                 f"{list(self.dims)}; it has nested lists and is not flat.")
        return _ragged(self.dims)


def _parse_nested(buf: Any, start: int, end: int, dtype: np.dtype, parsers: ParserPool, rank: int,
                  shape: tuple[int, ...] | None) -> np.ndarray:
    """A nested list (rank >= 2) → array of its shape (or of the declared `shape`), in pieces cut between lists."""
    nesting = _Nesting(rank, shape)
    out = _bounded_output(buf, start, end, dtype)
    integer = dtype.kind in "iub"
    filled, pos, depth = 0, start, 0
    while pos < end:
        cut, depth_out = _nested_cut(buf, pos, end, rank, nesting)
        size = parsers.wrap(buf, pos, cut, depth, depth_out)
        rows = nesting.rows
        values, begun = _numbers(size, (depth, size - depth_out), integer, parsers,
                                 lambda doc: nesting.piece(doc, depth, depth_out))
        if (_count_opening(parsers.room, depth, size - depth_out, begun + 1) != begun
                or len(values) != (nesting.rows - rows) * (nesting.dims[-1] or 0)):
            raise nesting._problem()  # a list inside an innermost list (its numbers were flattened into the count)
        out[filled:filled + len(values)] = values if dtype.kind == "f" else _cast(values, dtype)
        filled += len(values)
        release(buf, pos, cut)
        pos, depth = cut + 1, depth_out
    dims = tuple(nesting.dims)
    if filled != math.prod(dims):
        raise nesting._problem()
    return out[:filled].reshape(dims)


def _count_opening(text: bytearray, lo: int, hi: int, limit: int) -> int:
    """``[`` characters in text[lo:hi], counted up to `limit` (byte search: as many calls as lists)."""
    count, i = 0, text.find(b"[", lo, hi)
    while i >= 0 and count < limit:
        count += 1
        i = text.find(b"[", i + 1, hi)
    return count


def _nested_cut(buf: Any, pos: int, end: int, rank: int, nesting: _Nesting) -> tuple[int, int]:
    """Where the piece starting at `pos` ends: (the comma after a run of ``]`` about PIECE bytes on, lists open
    there), or (end, 0) for the last piece. A row longer than PIECE makes a longer piece."""
    if end - pos <= PIECE:
        return end, 0
    c = buf.rfind(b"]", pos, pos + PIECE)
    if c < 0:
        c = buf.find(b"]", pos + PIECE, end)
    closers, i = 0, c
    while i >= pos and (buf[i] == 0x5D or buf[i] in _WS):  # the whole run of closing brackets around c
        closers += buf[i] == 0x5D
        i -= 1
    i = c + 1
    while i < end and (buf[i] == 0x5D or buf[i] in _WS):
        closers += buf[i] == 0x5D
        i += 1
    if i >= end:
        return end, 0
    if buf[i] != 0x2C or closers >= rank:  # not "],": the wrapped piece would misplace lists; refuse plainly
        if buf[i] != 0x2C:
            raise TensorProblem(f"invalid number list (no comma after a list): {_excerpt(bytes(buf[c:c + 60]))}")
        raise nesting._problem()
    return i, rank - closers


def from_python(value: Any, dtype: np.dtype | None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A small value already parsed to Python (nested list, flat list, number) → array.

    The strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` inside numeric lists become the non-finite floats.
    """
    try:
        if dtype is not None:
            arr = np.array(value, dtype=np.float64 if dtype.kind == "f" else None)
        else:
            arr = np.array(value)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise TensorProblem("is a ragged nested list: its sub-lists do not all have the same length.") from None
        raise TensorProblem(f"holds something that is not a number ({exc}).") from None
    if arr.dtype.kind in "UO":
        try:
            arr = np.array(value, dtype=np.float64)
        except ValueError as exc:
            raise TensorProblem(f"holds something that is not a number ({exc}).") from None
    if arr.dtype.kind not in "biuf":
        raise TensorProblem(f"holds values of type {arr.dtype} where numbers were expected.")
    if dtype is None:
        dtype = np.dtype(np.float32) if arr.dtype.kind == "f" else (np.dtype(np.bool_) if arr.dtype.kind == "b"
                                                                      else np.dtype(np.int64))
    if shape is not None:
        if arr.ndim != 1 and tuple(arr.shape) == tuple(shape):
            arr = arr.reshape(-1)  # 'data' nested exactly as the declared shape: unambiguous, accepted
        if arr.ndim != 1:
            raise TensorProblem(f"'data' must be one flat list for shape {list(shape)}, got nesting "
                                f"{list(arr.shape)}.")
        if arr.size != math.prod(shape):
            raise TensorProblem(f"'data' holds {arr.size} numbers; shape {list(shape)} needs {math.prod(shape)}.")
        arr = arr.reshape(shape)
    return _cast(arr, dtype)


# --- base64 ----------------------------------------------------------------------------------------------------
def _b64_length(n_chars: int, tail: bytes) -> int:
    """Decoded bytes of `n_chars` base64 characters ending in `tail`; unpadded text (2 or 3 characters in the last
    group, as some encoders write) is allowed, a single trailing character never is."""
    if n_chars % 4 == 1:
        raise TensorProblem(f"is broken base64: {n_chars} characters cannot be base64 (one too many or three too "
                            f"few: truncated?).")
    if n_chars % 4:
        return n_chars // 4 * 3 + n_chars % 4 - 1
    return n_chars // 4 * 3 - len(tail) + len(tail.rstrip(b"="))


def decode_b64_span(buf: Any, start: int, end: int, dtype: np.dtype, shape: tuple[int, ...], *,
                    json_escapes: bool = True, order: str = "<") -> np.ndarray:
    """Base64 text at buf[start:end] (no quotes) → array of `shape`, decoded in pieces straight from `buf`.

    Args:
        json_escapes: The text is still JSON-escaped (as in a line); a backslash means it must be unescaped first.
        order: Byte order of the encoded bytes (``"<"``, as the format says, or ``">"`` when the tensor says so).
    """
    import pybase64

    expected = math.prod(shape) * dtype.itemsize
    if json_escapes and buf.find(b"\\", start, end) >= 0:  # escaped characters, e.g. wrapped lines
        import orjson

        return decode_b64_text(orjson.loads(b'"' + buf[start:end] + b'"'), dtype, shape, order=order)
    n = _b64_length(end - start, buf[max(start, end - 2):end])
    if n != expected:
        raise TensorProblem(f"base64 data holds {n} bytes; shape {list(shape)} × {dtype} needs {expected}.")
    out = np.empty(expected, dtype=np.uint8)
    filled, pos, step = 0, start, (PIECE // 4) * 4
    while pos < end:
        cut = min(end, pos + step)
        text = buf[pos:cut]
        if cut == end and (cut - pos) % 4:  # unpadded last group
            text = bytes(text) + b"=" * (-(cut - pos) % 4)
        try:
            piece = pybase64.b64decode(text, validate=True)
        except ValueError as exc:
            raise TensorProblem(f"is broken base64 near character {pos - start}: {exc}.") from None
        out[filled:filled + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        filled += len(piece)
        release(buf, pos, cut)
        pos = cut
    return out.view(dtype.newbyteorder(order)).astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def decode_b64_text(text: str, dtype: np.dtype, shape: tuple[int, ...], *, order: str = "<") -> np.ndarray:
    """A base64 string (already JSON-decoded; line breaks allowed) → array of `shape`."""
    raw = "".join(text.split()).encode("ascii", "replace")
    return decode_b64_span(raw, 0, len(raw), dtype, shape, json_escapes=False, order=order)


# --- npy files -------------------------------------------------------------------------------------------------
def load_npy(rel: Any, base_dir: Path) -> np.ndarray:
    """The array in ``base_dir/rel``, refusing absolute paths and anything that leaves `base_dir` (symlinks too)."""
    if not isinstance(rel, str) or not rel:
        raise TensorProblem(f"'npy_path' must be a non-empty relative path string, got {rel!r}.")
    if "\x00" in rel:
        raise TensorProblem(f"'npy_path' {rel!r} holds a NUL character; it is not a file name.")
    if os.path.isabs(rel) or rel.startswith("~"):
        raise TensorProblem(f"'npy_path' {rel!r} is absolute; only paths relative to the JSONL's folder "
                            f"{base_dir} are allowed (for safety).")
    root = os.path.realpath(base_dir)
    target = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, target]) != root:
        raise TensorProblem(f"'npy_path' {rel!r} leads outside the JSONL's folder {root} (to {target}); "
                            f"only files inside that folder are read.")
    if os.path.isdir(target):
        raise TensorProblem(f"'npy_path' {rel!r} is a folder ({target}); it must name a .npy file.")
    if not os.path.isfile(target):
        raise TensorProblem(f"'npy_path' {rel!r} does not exist (looked for {target}).")
    try:
        array = np.load(target, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TensorProblem(f"'npy_path' {rel!r} is not a readable .npy file: {exc}.") from None
    if array.dtype.byteorder == ">":  # a big-endian .npy: same values, native bytes
        array = array.astype(array.dtype.newbyteorder("="))
    if str(array.dtype) not in KNOWN_DTYPES:
        raise TensorProblem(f"'npy_path' {rel!r} holds a {array.dtype} array; tensors are one of "
                            f"{', '.join(KNOWN_DTYPES)}.")
    return array

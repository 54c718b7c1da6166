"""A reference line's small JSON skeleton, with every big value replaced by a placeholder pointing into the line.

A 64 MB line is mostly one or two dozen huge values (number arrays or base64 strings) held together by a few
hundred bytes of structure. `skeletonize` finds those values with byte searches only (strings by their quotes,
number arrays as the bracketed text between two strings) and returns the structure as small JSON bytes, parsed
afterwards with orjson in microseconds; each big value becomes the string ``"\\u0000pi:<k>"`` and `Span` k says
where its text is. The tensor decoders then read each value straight from the line's bytes.

Nothing here decides validity: a span that turns out not to be what it looked like is parsed by the slow path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.pages import release

BIG = 64 * 1024  # values longer than this (bytes of text) are cut out of the skeleton
PLACEHOLDER = "\x00pi:"


@dataclass(frozen=True)
class Span:
    """A big value's text inside the line: ``kind`` "str" (without its quotes) or "arr" (``[`` to ``]``)."""

    kind: str
    start: int
    end: int


class SkeletonError(ValueError):
    """The line's string quoting is broken (unterminated string): it cannot be valid JSON."""


def _closing_quote(buf: Any, q: int, end: int) -> int:
    e = q + 1
    while True:
        e = buf.find(b'"', e, end)
        if e < 0:
            raise SkeletonError("unterminated string")
        k, slashes = e - 1, 0
        while k > q and buf[k] == 0x5C:  # backslash
            slashes += 1
            k -= 1
        if slashes % 2 == 0:
            return e
        e += 1


def _placeholder(spans: list[Span], span: Span) -> bytes:
    spans.append(span)
    return b'"\\u0000pi:%d"' % (len(spans) - 1)


def skeletonize(buf: Any, start: int, end: int, big: int = BIG) -> tuple[bytes, list[Span]]:
    """The skeleton of the JSON text buf[start:end] and the spans its placeholders refer to.

    Args:
        buf: bytes or mmap holding the line.
        start, end: The line's extent (no newline).
        big: Values longer than this many bytes are replaced by placeholders.

    Raises:
        SkeletonError: An unterminated string.
    """
    parts: list[bytes] = []
    spans: list[Span] = []
    pos = start
    while pos < end:
        q = buf.find(b'"', pos, end)
        gap_end = end if q < 0 else q
        if gap_end - pos > big:
            lo = buf.find(b"[", pos, gap_end)
            hi = buf.rfind(b"]", pos, gap_end)
            if lo >= 0 and hi > lo:
                parts.append(buf[pos:lo])
                parts.append(_placeholder(spans, Span("arr", lo, hi + 1)))
                parts.append(buf[hi + 1:gap_end])
            else:
                parts.append(buf[pos:gap_end])
        else:
            parts.append(buf[pos:gap_end])
        if q < 0:
            release(buf, pos, gap_end)
            break
        e = _closing_quote(buf, q, end)
        if e - q - 1 > big:
            parts.append(_placeholder(spans, Span("str", q + 1, e)))
        else:
            parts.append(buf[q:e + 1])
        if e + 1 - pos > big:  # scanned: let those pages go until a decoder reads them again
            release(buf, pos, e + 1)
        pos = e + 1
    return b"".join(parts), spans


def span_index(value: Any) -> int | None:
    """k if `value` is the placeholder of span k, else None."""
    if isinstance(value, str) and value.startswith(PLACEHOLDER):
        tail = value[len(PLACEHOLDER):]
        if tail.isdigit():
            return int(tail)
    return None

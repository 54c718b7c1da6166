"""Markdown text pieces shared by every report that writes Markdown or plain lines: the outcome marks
(`status_word`) and text made safe for one line or one table cell.

Below the reports (`inspector.reports.markdown`), the state section (`inspector.state.report`) and the importers'
summaries (`inspector.importers.record`), so all three say the outcomes the same way without importing each other.
"""

from __future__ import annotations

import re
from typing import Any

_MARK = {"pass": "✓ pass", "fail": "✗ FAIL", "undetermined": "? UNDETERMINED", "info": "i info"}
_LEGACY = {"skip": "undetermined", "warn": "info"}


def status_word(status: str) -> str:
    """The mark and word of an outcome (a rule's or a run's), e.g. ``? UNDETERMINED``."""
    status = _LEGACY.get(status, status)
    return _MARK.get(status, status)


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def inline(x: Any) -> str:
    """One line of Markdown text: line breaks become spaces, control characters go, and ``<`` that could open an
    HTML tag is escaped (a message quoting ``<failure`` must not turn into markup on a CI page)."""
    text = _CONTROL.sub("", str(x)).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return _TAG_START.sub("&lt;", text)


def cell(x: Any) -> str:
    """A table cell: `inline`, with ``|`` escaped so the row keeps its columns (GFM honours ``\\|`` inside code
    spans in tables too)."""
    if x is None or x == "":
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return inline(x).replace("|", "\\|")


def code(x: Any) -> str:
    """An inline code span that survives backticks and line breaks in the value."""
    text = inline(x).replace("`", "'")
    return f"`{text}`"


__all__ = ["cell", "code", "inline", "status_word"]

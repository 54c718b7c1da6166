"""The contract's verdicts: every rule for the current chunk (invariants, tolerances, alarms) and for the run
(acceptance: P95/P100, pass rate, growth, state carried), each with pass/fail and its numbers.

Drawn as prepared text lines (one per rule, failures first with their detail wrapped below), not as Rich tables:
the panel changes on every step and a table's measuring pass cost more than the heatmap itself.
"""

from __future__ import annotations

import textwrap
from typing import Any, Iterable, Mapping

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.tui.records import RuleRow, fmt

OK_MARK = {True: ("✓", "green"), False: ("✗", "bold red"), None: ("–", "dim")}


def rule_lines(rows: Iterable[RuleRow], width: int, empty: str) -> Text:
    """One line per rule (mark, id, value / threshold), failures first, each failure's detail wrapped below it."""
    order = {False: 0, None: 1, True: 2}
    rows = sorted(rows, key=lambda r: order.get(r.ok, 1))  # failures first: what triage needs (stable otherwise)
    if not rows:
        return Text(empty, style="dim italic")
    width = max(width, 24)
    out = Text()
    for n, row in enumerate(rows):
        if n:
            out.append("\n")
        mark, style = OK_MARK.get(row.ok, ("?", ""))
        if row.ok is False and row.severity != "error":
            style = "yellow"
        value = row.value + (f" / {row.threshold}" if row.threshold and row.threshold != row.value else "")
        room = width - 2 - (len(value) + 1 if value else 0)
        label = row.id if len(row.id) <= room else row.id[: max(room - 1, 1)] + "…"
        out.append(mark, style=style)
        out.append(" " + label)
        if value:
            out.append(" " * max(width - 2 - len(label) - len(value), 1))
            out.append(value, style="bold" if row.ok is False else "")
        if row.detail and row.ok is False:
            for line in textwrap.wrap(row.detail, max(width - 2, 10))[:6]:
                out.append("\n  " + line, style="dim")
    return out


class ContractStatus(VerticalScroll):
    """Rules for the chunk and the run; scrolls when they do not fit."""

    DEFAULT_CSS = """
    ContractStatus {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ContractStatus > Static {
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content: tuple[Any, ...] | None = None
        self._shown: Text | None = None

    def compose(self):  # type: ignore[override]
        yield Static(id="contract-body")

    def show(self, chunk_title: str, chunk_rules: Iterable[RuleRow], run_title: str, run_rules: Iterable[RuleRow],
             meta: Mapping[str, Any] | None = None, note: str = "") -> None:
        """Replace the panel's content (redrawn only when the text changes)."""
        self._content = (chunk_title, tuple(chunk_rules), run_title, tuple(run_rules), dict(meta or {}), note)
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        if self._content is not None:
            self._draw()

    def _draw(self) -> None:
        assert self._content is not None
        chunk_title, chunk_rules, run_title, run_rules, meta, note = self._content
        width = max(self.scrollable_content_region.width - 1, 24)
        text = Text()
        text.append(chunk_title, style="bold underline")
        text.append("\n")
        text.append_text(rule_lines(chunk_rules, width, "no rules recorded for this chunk"))
        if meta:
            shown = ", ".join(f"{k}={fmt(v) if not isinstance(v, (dict, list)) else '…'}"
                              for k, v in list(meta.items())[:8])
            text.append(f"\nmeta: {shown}", style="dim")
        text.append("\n\n")
        text.append(run_title, style="bold underline")
        text.append("\n")
        text.append_text(rule_lines(run_rules, width, "no acceptance verdicts yet (run still going, or none recorded)"))
        if note:
            text.append("\n" + note, style="italic yellow")
        if text != self._shown:
            self._shown = text
            self.query_one("#contract-body", Static).update(text)

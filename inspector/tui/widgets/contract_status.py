"""The contract's verdicts: every rule for the current chunk (invariants, tolerances, alarms) and for the run
(acceptance: P95/P100, pass rate, growth, state carried), each with pass/fail and its numbers."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.tui.records import RuleRow, fmt

OK_MARK = {True: ("✓", "green"), False: ("✗", "bold red"), None: ("–", "dim")}


def rule_table(rows: Iterable[RuleRow], empty: str) -> Table | Text:
    """One line per rule (mark, id, value / threshold), failures first and with their detail below them."""
    order = {False: 0, None: 1, True: 2}
    rows = sorted(rows, key=lambda r: order.get(r.ok, 1))  # failures first: what triage needs (stable otherwise)
    if not rows:
        return Text(empty, style="dim italic")
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=1)
    table.add_column(ratio=1)
    table.add_column(justify="right", no_wrap=True)
    for row in rows:
        mark, style = OK_MARK.get(row.ok, ("?", ""))
        if row.ok is False and row.severity != "error":
            style = "yellow"
        value = row.value + (f" / {row.threshold}" if row.threshold and row.threshold != row.value else "")
        label = Text(row.id, no_wrap=True, overflow="ellipsis")
        table.add_row(Text(mark, style=style), label, Text(value, style="bold" if row.ok is False else ""))
        if row.detail and row.ok is False:
            table.add_row("", Text(row.detail, style="dim"), "")
    return table


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

    def compose(self):  # type: ignore[override]
        yield Static(id="contract-body")

    def show(self, chunk_title: str, chunk_rules: Iterable[RuleRow], run_title: str, run_rules: Iterable[RuleRow],
             meta: Mapping[str, Any] | None = None, note: str = "") -> None:
        """Replace the panel's content."""
        parts: list[Any] = [Text(chunk_title, style="bold underline")]
        parts.append(rule_table(chunk_rules, "no rules recorded for this chunk"))
        if meta:
            shown = ", ".join(f"{k}={fmt(v) if not isinstance(v, (dict, list)) else '…'}"
                              for k, v in list(meta.items())[:8])
            parts.append(Text(f"meta: {shown}", style="dim"))
        parts.append(Text(""))
        parts.append(Text(run_title, style="bold underline"))
        parts.append(rule_table(run_rules, "no acceptance verdicts yet (run still going, or none recorded)"))
        if note:
            parts.append(Text(note, style="italic yellow"))
        self.query_one("#contract-body", Static).update(Group(*parts))

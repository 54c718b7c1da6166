"""The contract's verdicts: every rule for the current chunk (invariants, tolerances, alarms) and for the run
(acceptance: P95/P100, pass rate, growth, state carried), each with pass/fail and its numbers.

Drawn as prepared text lines (one per rule, failures first with their detail wrapped below), not as Rich tables:
the panel changes on every step and a table's measuring pass cost more than the heatmap itself.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any, Iterable, Mapping

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.widgets import Static

from inspector.tui.records import ChunkState, RuleRow, fmt
from inspector.tui.widgets.guard import Guarded

OK_MARK = {True: ("✓", "green"), False: ("✗", "bold red"), None: ("–", "dim")}
OUTCOME_MARK = {"pass": ("✓", "green", ""), "fail": ("✗", "bold red", ""),
                "undetermined": ("?", "bold yellow", "UNDETERMINED "), "info": ("i", "cyan", "info ")}
"""A run verdict's four outcomes, each with its own mark and (where the mark alone could be misread) word."""


def rule_lines(rows: Iterable[RuleRow], width: int, empty: str) -> Text:
    """One line per rule (mark, id, value / threshold), failures first, each failure's detail wrapped below it."""
    # failures first (what triage needs), then the rules whose words are the result (state verdicts, undecided
    # figures), then the rest; stable otherwise
    rows = sorted(rows, key=lambda r: 0 if r.ok is False else 1 if r.explain else 2 if r.ok is None else 3)
    if not rows:
        return Text(empty, style="dim italic")
    width = max(width, 24)
    out = Text()
    for n, row in enumerate(rows):
        if n:
            out.append("\n")
        mark, style = OK_MARK.get(row.ok, ("?", ""))
        word = ""
        if row.outcome in OUTCOME_MARK:
            mark, style, word = OUTCOME_MARK[row.outcome]
        elif row.ok is None and row.kind == "tolerance":
            mark, style = "?", "yellow"  # recorded but undecided (an imported figure): unknown, not skipped
        if row.ok is False and row.severity != "error":
            style = "yellow"
        value = row.value + (f" / {row.threshold}" if row.threshold and row.threshold != row.value else "")
        room = width - 2 - (len(value) + 1 if value else 0)
        name = word + row.id
        label = name if len(name) <= room else name[: max(room - 1, 1)] + "…"
        out.append(mark, style=style)
        out.append(" " + label)
        if value:
            out.append(" " * max(width - 2 - len(label) - len(value), 1))
            out.append(value, style="bold" if row.ok is False else "")
        if row.detail and (row.ok is False or row.explain):
            lines = textwrap.wrap(row.detail, max(width - 2, 10))
            limit = 10 if row.explain else 6
            if len(lines) > limit:
                lines = lines[:limit - 1] + [lines[limit - 1][: max(width - 4, 8)] + " …"]
            for line in lines:
                out.append("\n  " + line, style="dim")
    return out


META_FIRST = ("chunk_len", "input_len", "cache_len_in", "cache_len_out_value", "cache_len_out", "encoded_len",
              "timing_ms")
"""Chunk-metadata keys shown first (the seed's per-chunk figures); the others follow in the file's order."""


def _meta_value(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str, separators=(",", ":"))
        return text if len(text) <= 24 else text[:23] + "…"
    return fmt(value)


def meta_lines(meta: Mapping[str, Any], width: int) -> Text:
    """The chunk's metadata from the reference file as ``key value`` pairs, wrapped to `width`."""
    keys = [k for k in META_FIRST if k in meta] + [k for k in meta if k not in META_FIRST]
    out = Text()
    line = 0
    for key in keys:
        piece = f"{key} {_meta_value(meta[key])}"
        if line and line + 3 + len(piece) > width:
            out.append("\n")
            line = 0
        elif line:
            out.append(" · ", style="dim")
            line += 3
        out.append(f"{key} ", style="dim")
        out.append(_meta_value(meta[key]))
        line += len(piece)
    return out


def _n(value: Any) -> str:
    return "?" if value is None else str(value)


def state_lines(state: ChunkState, width: int) -> Text:
    """The state carried through the chunk: cache length in → out, frames, and each cache's fingerprint."""
    out = Text()
    out.append("cache len ", style="dim")
    out.append(f"{_n(state.cache_len_in)} → {_n(state.cache_len_out)}", style="bold")
    if state.input_len is not None:
        out.append(f" · in {state.input_len} frames", style="dim")
    if state.valid_out_len is not None:
        out.append(f" · out {state.valid_out_len}", style="dim")
    if state.backend_error:
        out.append("\n  the backend raised: lengths are the reference's", style="yellow")
    if state.feedback_ok is False:
        out.append("\n  a fed-back output does not fit its input", style="bold red")
    for fp in state.fingerprints:
        name = fp.name.removeprefix("cache_last_")
        out.append(f"\n  {name:<12}", style="dim")
        out.append(f"rows {_n(fp.rows):>4}  norm {fmt(fp.norm) if fp.norm is not None else '?':>8}")
        if fp.digest and width >= 44:
            out.append(f"  {fp.digest}", style="dim")
    return out


class ContractStatus(Guarded, VerticalScroll):
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
             meta: Mapping[str, Any] | None = None, note: str = "", state: ChunkState | None = None) -> None:
        """Replace the panel's content (redrawn only when the text changes).

        Args:
            chunk_title, chunk_rules: The chunk's heading and rules (invariants, tolerances, alarms).
            run_title, run_rules: The run's heading and verdicts (acceptance, state, alarms).
            meta: The chunk's metadata from the reference file.
            note: A line in italics at the end (e.g. no run selected).
            state: What the run recorded about the state it carried through the chunk (closed loop).
        """
        self._content = (chunk_title, tuple(chunk_rules), run_title, tuple(run_rules), dict(meta or {}), note,
                         state)
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        if self._content is not None:
            self._draw()

    def _draw(self) -> None:
        assert self._content is not None
        chunk_title, chunk_rules, run_title, run_rules, meta, note, state = self._content
        width = max(self.scrollable_content_region.width - 1, 24)
        text = Text()
        text.append(chunk_title, style="bold underline")
        text.append("\n")
        text.append_text(rule_lines(chunk_rules, width, "no rules recorded for this chunk"))
        if state is not None:
            text.append("\n\nstate carried", style="bold")
            text.append(" (p: trajectory plot)\n", style="dim")
            text.append_text(state_lines(state, width))
        if meta:
            text.append("\n\nchunk meta", style="bold")
            text.append(" (reference file)\n", style="dim")
            text.append_text(meta_lines(meta, width))
        text.append("\n\n")
        text.append(run_title, style="bold underline")
        text.append("\n")
        text.append_text(rule_lines(run_rules, width, "no acceptance verdicts yet (run still going, or none recorded)"))
        if note:
            text.append("\n" + note, style="italic yellow")
        if text != self._shown:
            self._shown = text
            self.query_one("#contract-body", Static).update(text)

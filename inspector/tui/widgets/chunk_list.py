"""The chunk list: one row per chunk with a status mark per run (backend × mode) and the selected tensor's error.

Runs are numbered columns (1, 2, …) so that many runs fit in a narrow list; the key below the table names them and
highlights the selected run, whose figures the ``worst`` column and the rest of the screen show.
"""

from __future__ import annotations

import math
from typing import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from inspector.tui.records import STATUS_MARKS, ChunkRecord, RunInfo, fmt
from inspector.tui.widgets.guard import Guarded

MARK_STYLES = {"pass": "green", "fail": "bold red", "error": "bold magenta", "warn": "yellow", "unknown": "yellow",
               "missing": "dim"}
FAILING = ("fail", "error")
WORST_WIDTH = 10
"""Cells of the figure column: ``2.48e-05``, ``1 NaN``, ``≤ 1.00e-03`` (an imported bound)."""


def is_failing(status: str) -> bool:
    return status in FAILING


class ChunkList(Guarded, Vertical):
    """A `DataTable` of chunks and a key of the runs; posts `ChunkHighlighted` whenever its cursor lands on a chunk.

    The list's cursor is where "the current chunk" is decided: keys that step (j/k, n/N, g) move the cursor, and
    the screen loads whatever `ChunkHighlighted` names, so quick key repeats always end on the last chunk asked for.
    """

    DEFAULT_CSS = """
    ChunkList {
        width: 34;
        height: 1fr;
    }
    ChunkList > DataTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ChunkList > #chunk-title {
        height: 1;
    }
    ChunkList > #run-key {
        height: auto;
        max-height: 8;
        color: $text-muted;
    }
    ChunkList > #run-progress {
        display: none;
        height: auto;
        max-height: 3;
    }
    ChunkList > #run-progress.-shown {
        display: block;
    }
    """

    class ChunkHighlighted(Message):
        """The user moved the list's cursor to a chunk."""

        def __init__(self, chunk_list: "ChunkList", index: int) -> None:
            super().__init__()
            self.chunk_list = chunk_list
            self.index = index

        @property
        def control(self) -> "ChunkList":
            return self.chunk_list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.indices: list[int] = []
        """Every chunk of the stream."""
        self.listed: list[int] = []
        """The chunks listed (all, or only the failing ones)."""
        self.runs: list[RunInfo] = []
        self.records: dict[str, dict[int, ChunkRecord]] = {}
        self.selected_run: str = ""
        self.tensor: str = ""
        self.failing_only: bool = False

    def compose(self) -> ComposeResult:
        yield Static(id="chunk-title")
        yield DataTable(id="chunk-table", cursor_type="row", zebra_stripes=False)
        yield Static(id="run-progress")
        yield Static(id="run-key")

    @property
    def table(self) -> DataTable:
        return self.query_one("#chunk-table", DataTable)

    # ---- data ---------------------------------------------------------------------------------------------------
    def set_data(self, indices: list[int], runs: list[RunInfo], records: Mapping[str, Mapping[int, ChunkRecord]],
                 selected_run: str, tensor: str, failing_only: bool, current: int | None) -> None:
        """Replace everything and keep the cursor on `current` when it is still listed."""
        self.indices = list(indices)
        self.runs = list(runs)
        self.records = {k: dict(v) for k, v in records.items()}
        self.selected_run = selected_run
        self.tensor = tensor
        self.failing_only = failing_only
        self._rebuild(current)

    def status(self, index: int, run_id: str | None = None) -> str:
        run_id = self.selected_run if run_id is None else run_id
        rec = self.records.get(run_id, {}).get(index)
        return rec.status if rec is not None else "missing"

    def failing(self) -> list[int]:
        """Chunks that fail in the selected run (in any run when none is selected)."""
        if self.selected_run:
            return [i for i in self.indices if is_failing(self.status(i))]
        return [i for i in self.indices if any(is_failing(self.status(i, r.run_id)) for r in self.runs)]

    def _rebuild(self, current: int | None) -> None:
        table = self.table
        failing = set(self.failing()) if self.failing_only else None
        self.listed = [i for i in self.indices if failing is None or i in failing]
        table.clear(columns=True)
        # fixed widths: the layout does not depend on when the table measures its rows, and needs no measuring
        table.add_column("#", key="index", width=max(len(str(max(self.indices, default=0))), 1))
        for n, _run in enumerate(self.runs, 1):
            table.add_column(str(n), key=f"run{n}", width=len(str(n)))
        table.add_column(f"{self._metric_title()}", key="worst", width=WORST_WIDTH)
        for index in self.listed:
            table.add_row(*self._cells(index), key=str(index))
        if current is not None and self.listed:
            nearest = current if current in self.listed else self.neighbour(current, 1)
            assert nearest is not None
            table.move_cursor(row=self.listed.index(nearest), animate=False, scroll=True)
        title = Text()
        title.append(f"chunks {len(self.listed)}/{len(self.indices)}", style="bold")
        if self.failing_only:
            title.append(" · failing only", style="bold red")
        self.query_one("#chunk-title", Static).update(title)
        self._update_key()

    def _metric_title(self) -> str:
        return "max|err|" if self.tensor else "worst"

    def _cells(self, index: int) -> list[Text | str]:
        cells: list[Text | str] = [Text(str(index), justify="right")]
        for run in self.runs:
            status = self.status(index, run.run_id)
            style = MARK_STYLES.get(status, "")
            if run.run_id == self.selected_run:
                style += " underline"
            cells.append(Text(STATUS_MARKS.get(status, "?"), style=style))
        rec = self.records.get(self.selected_run, {}).get(index)
        value = rec.figure(self.tensor, "max_abs") if rec is not None and self.tensor else None
        fig = rec.tensors.get(self.tensor) if rec is not None else None
        style = "red" if fig is not None and fig.passed is False else ""
        if value is None and rec is not None and rec.status == "error":
            cells.append(Text("error", style="magenta"))
        elif value is None and rec is not None and (rec.status == "unknown" or (fig is not None and fig.bound)):
            shown = fig.bound_text() if fig is not None and fig.bound else "unknown"
            cells.append(Text(shown if shown != "unknown" else "?", style="yellow", justify="right"))
        elif fig is not None and fig.nonfinite:
            cells.append(Text(f"{fig.nonfinite} NaN", style="bold red", justify="right"))
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            cells.append(Text("–" if value is None else "NaN", style="dim" if value is None else "bold red"))
        else:
            cells.append(Text(fmt(value), style=style, justify="right"))
        return cells

    def _update_key(self) -> None:
        key = Text()
        if not self.runs:
            key.append("no runs recorded for this stream yet\n(inspector run --batch …)", style="italic")
        for n, run in enumerate(self.runs, 1):
            if n > 1:
                key.append("\n")
            style = "bold reverse" if run.run_id == self.selected_run else ""
            key.append(f"{n} {run.label}", style=style)
            if run.verdict is not None:
                key.append(" ✓" if run.verdict else " ✗", style="green" if run.verdict else "red")
            if run.status not in ("complete",):
                key.append(f" ({run.status})", style="italic")
        self.query_one("#run-key", Static).update(key)

    def set_progress(self, text: Text | None) -> None:
        """Show how a run started from the app is going (None: hide the line)."""
        line = self.query_one("#run-progress", Static)
        line.set_class(text is not None, "-shown")
        line.update(text if text is not None else "")

    # ---- cursor -------------------------------------------------------------------------------------------------
    def current(self) -> int | None:
        """The chunk under the list's cursor (None when nothing is listed)."""
        row = self.table.cursor_row
        return self.listed[row] if 0 <= row < len(self.listed) else None

    def highlight(self, index: int) -> bool:
        """Move the cursor to chunk `index`; a `ChunkHighlighted` follows. False when `index` is not listed."""
        if index not in self.listed:
            return False
        row = self.listed.index(index)
        if self.table.cursor_row != row:
            self.table.move_cursor(row=row, animate=False, scroll=True)
        return True

    def neighbour(self, index: int, step: int) -> int | None:
        """The listed chunk `step` rows away from `index` (or from where `index` would be), clamped."""
        if not self.listed:
            return None
        if index in self.listed:
            pos = self.listed.index(index) + step
        else:
            later = [i for i, v in enumerate(self.listed) if v > index]
            pos = (later[0] if later else len(self.listed)) + (step if step < 0 else step - 1)
        return self.listed[min(max(pos, 0), len(self.listed) - 1)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is None or event.row_key.value is None:
            return
        self.post_message(self.ChunkHighlighted(self, int(event.row_key.value)))

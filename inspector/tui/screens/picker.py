"""`inspector tui` without a path: pick a reference JSONL, a store or a report in the current folder.

Entries are recognised by content (`inspector.tui.opening.sniff`), listed with their size and what each is; Enter
opens one. Sniffing reads only the first bytes of each file, in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from inspector.tui.opening import Sniffed, describe_kind, human_size, list_folder

KIND_STYLE = {"reference": "bold cyan", "store": "bold green", "report": "bold magenta", "summary": "magenta"}


class PickerScreen(Screen[None]):
    """The recognised files and stores of `folder`; Enter posts `PickerScreen.Chosen` (the app opens it, or says
    why not and the picker stays)."""

    @dataclass
    class Chosen(Message):
        path: Path

    DEFAULT_CSS = """
    PickerScreen > #picker-title {
        padding: 0 1;
        height: auto;
    }
    PickerScreen > DataTable {
        height: 1fr;
    }
    """

    BINDINGS = [Binding("escape", "leave", "Quit", id="picker.quit")]

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.entries: list[Sniffed] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Looking for reference JSONL files, stores and reports in {self.folder.resolve()} …",
                     id="picker-title")
        table: DataTable[Text | str] = DataTable(cursor_type="row", zebra_stripes=True, id="picker-table")
        table.add_columns("name", "kind", "size", "what it is")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "open a file or store"
        self._scan()

    @work(thread=True, exclusive=True, group="picker", exit_on_error=False)
    def _scan(self) -> None:
        try:
            entries = list_folder(self.folder)
        except Exception as exc:  # noqa: BLE001 — shown on the screen; q quits
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._fill, entries)

    def _show_error(self, text: str) -> None:
        self.query_one("#picker-title", Static).update(Text(text, style="bold red"))

    def _fill(self, entries: list[Sniffed]) -> None:
        self.entries = entries
        title = self.query_one("#picker-title", Static)
        if not entries:
            title.update(Text(f"No reference JSONL, store, parity report or streaming summary in "
                              f"{self.folder.resolve()}. Run `inspector tui PATH` with one (or `inspector demo` to "
                              f"make one); q quits.", style="bold"))
            return
        title.update(f"{len(entries)} found in {self.folder.resolve()} (recognised by content). Enter opens one: a "
                     f"reference JSONL converts into a store beside it while you browse.")
        table = self.query_one(DataTable)
        for s in entries:
            name = s.path.name + ("/" if s.kind == "store" else "")
            table.add_row(name, Text(describe_kind(s.kind), style=KIND_STYLE.get(s.kind, "")), human_size(s.size),
                          s.what, key=str(s.path))
        table.focus()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(self.Chosen(Path(event.row_key.value)))

    def action_leave(self) -> None:
        self.app.exit()

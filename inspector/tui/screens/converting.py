"""The screen shown while a reference JSONL converts and no chunk is in its store yet: the conversion panel and what
happens next. The app replaces it with the main screen as soon as the first chunk is committed; a bad first line
leaves its error here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from inspector.tui.conversion import ConvertStatus
from inspector.tui.widgets.convert_progress import ConvertProgress


class ConvertingScreen(Screen[None]):
    """Waiting for the first converted chunk."""

    DEFAULT_CSS = """
    ConvertingScreen > #converting-note {
        padding: 1 2;
        color: $text-muted;
    }
    """

    def __init__(self, status: ConvertStatus) -> None:
        super().__init__()
        self.initial = status

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConvertProgress(self.initial, id="conversion")
        yield Static(f"Converting {self.initial.source} into {self.initial.store}. The chunk list opens as soon as "
                     f"the first chunk is converted; the others join it as they land. Press q to stop: converted "
                     f"chunks are kept, and opening the file again resumes.", id="converting-note")
        yield Footer()

    @property
    def panel(self) -> ConvertProgress:
        return self.query_one(ConvertProgress)

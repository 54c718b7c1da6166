"""The Textual inspector: `InspectorApp` and `make_app`, the factory the `inspector tui` command and the tests use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding

from inspector.tui.commands import InspectorCommands
from inspector.tui.data import InspectorData
from inspector.tui.screens.main import MainScreen, StartAt


class InspectorApp(App[None]):
    """Step through a store's chunks, see each run's errors as heatmaps, plots and contract verdicts."""

    CSS_PATH = "inspector.tcss"
    TITLE = "parity-inspector"
    COMMANDS = App.COMMANDS | {InspectorCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, data: InspectorData, start: StartAt | None = None, poll_interval: float = 5.0) -> None:
        super().__init__()
        self.data = data
        """The store adapter (the only object that reads the store)."""
        self.start = start or StartAt()
        self.poll_interval = poll_interval

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.data, self.start, self.poll_interval))

    @property
    def main(self) -> MainScreen:
        """The main screen (also while a modal is on top of it)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not open")

    def action_help(self) -> None:
        from inspector.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(MainScreen.help_sections()))


def make_app(store: str | Path | Any, contract: Any = None, model: str | Path | None = None, *,
             stream: str | None = None, run: str | None = None, chunk: int | None = None,
             tensor: str | None = None, poll_interval: float = 5.0) -> InspectorApp:
    """Build the inspector for a store path (or an open `store.Store`).

    Args:
        store: Path of the store, or an open store.
        contract: Contract object, path or shipped name (default: the one the store names, if any).
        model: The ONNX export, for runs started from the app (R), the diagnostics (d, i) and the bundle's backend
            outputs (b); recorded runs are browsed without it.
        stream, run, chunk, tensor: Where to open (defaults: first stream, newest run with saved outputs, first
            chunk, the frames output).
        poll_interval: Seconds between checks for new results in the store (0: never; tests use 0).

    Raises:
        store.StoreError: The store cannot be opened.
    """
    if isinstance(store, (str, Path)):
        data = InspectorData.open(store, contract=contract, model=model)
    else:
        data = InspectorData(store, contract=contract, model=model)
    return InspectorApp(data, StartAt(stream=stream, run=run, chunk=chunk, tensor=tensor), poll_interval)


def run_app(store: str | Path, contract: Any = None, model: str | Path | None = None, **start: Any) -> None:
    """Open the inspector on `store` in this terminal and return when the user quits (what `inspector tui` and
    `inspector demo` call). Keyword arguments are `make_app`'s (stream, run, chunk, tensor, poll_interval)."""
    make_app(store, contract=contract, model=model, **start).run()

"""The diagnostics panel: progress and results of a diagnostic run on the current chunk from a worker.

Phase 1 has the plumbing (messages, worker, progress bar, result area); the diagnostics themselves
(`cache_last_time` checks, state probe, first diverging node, reproduction bundle) plug in through
`MainScreen.run_diagnostic` once `inspector.diagnostics` provides them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static


class DiagnosticsPanel(Vertical):
    """Title line, a progress bar while something runs, and the last result."""

    DEFAULT_CSS = """
    DiagnosticsPanel {
        height: auto;
        max-height: 14;
        border-top: solid $primary-background;
    }
    DiagnosticsPanel > ProgressBar {
        display: none;
        height: 1;
    }
    DiagnosticsPanel.-running > ProgressBar {
        display: block;
    }
    DiagnosticsPanel > #diag-body {
        height: auto;
        max-height: 12;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("diagnostics", style="bold underline"), id="diag-title")
        yield ProgressBar(total=None, show_eta=False, id="diag-progress")
        yield Static(Text("d: cache_last_time checks on this chunk", style="dim"), id="diag-body")

    def start(self, name: str) -> None:
        self.add_class("-running")
        self.query_one("#diag-title", Static).update(Text(f"diagnostics · {name} …", style="bold underline"))
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)

    def progress(self, done: int, total: int, text: str = "") -> None:
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        if text:
            self.query_one("#diag-body", Static).update(Text(text, style="dim"))

    def finish(self, title: str, verdict: str, body: str, ok: bool | None = None) -> None:
        self.remove_class("-running")
        self.query_one("#diag-title", Static).update(Text(f"diagnostics · {title}", style="bold underline"))
        style = {True: "green", False: "bold red", None: "yellow"}[ok]
        text = Text.assemble((verdict, style))
        if body:
            text.append("\n")
            text.append(body)
        self.query_one("#diag-body", Static).update(text)

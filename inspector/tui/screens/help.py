"""The help screen: every key of the inspector, generated from the bindings so it never drifts from them."""

from __future__ import annotations

from typing import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Each row of the chunk list is a chunk; its marks are the runs (1, 2, … named under the list): "
    "✓ pass  ✗ fail  ! backend error  ~ warning  ? undecided (an imported report gives no figure)  · not run. "
    "The heatmap shows the selected run's output of the "
    "selected tensor against the reference, max-pooled (a cell is the worst of the elements it covers) on a log "
    "colour scale; black is exactly equal. Tab moves the focus between the chunk list (arrows step chunks) and "
    "the heatmap (arrows move the cursor). R runs a backend into the store; d, i and b run the diagnostics and "
    "the reproduction bundle on the current chunk in the background (c cancels), their results in the diagnostics "
    "panel (o: the full report). Every command is also in the command palette (ctrl+p)."
)


def binding_rows(sections: Iterable[tuple[str, Iterable[BindingType]]], key_display) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, max_width=26)
    table.add_column(ratio=1)
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), "")
        seen: dict[str, list[str]] = {}
        for b in bindings:
            if not isinstance(b, Binding) or not b.description:
                continue
            text = b.tooltip or b.description
            for key in b.key.split(","):
                seen.setdefault(text, []).append(key_display(Binding(key.strip(), b.action)))
        for description, keys in seen.items():
            table.add_row(" ".join(dict.fromkeys(keys)), description)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """Keys by area (chunks, tensors and heatmap, panels, app); Escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close help", id="help.close"),
    ]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("parity-inspector — keys", style="bold"))
            yield Static(Text(INTRO, style="dim"))
            yield Static(binding_rows(self.sections, self.app.get_key_display))

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows, page keys and home/end scroll the list

    def action_close(self) -> None:
        self.dismiss(None)

"""Pick one of a few things (a stream, a run): an option list in a modal that answers the chosen key or None."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class Choose(ModalScreen[str | None]):
    """A titled option list; `choices` are (key, label) pairs, `current` is highlighted first."""

    DEFAULT_CSS = """
    Choose {
        align: center middle;
    }
    Choose > Vertical {
        width: 80%;
        max-width: 100;
        height: auto;
        max-height: 80%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    Choose OptionList {
        height: auto;
        max-height: 20;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choose.cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str | Text]], current: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield OptionList(*[Option(label, id=f"choice-{i}") for i, (_, label) in enumerate(self.choices)])

    def on_mount(self) -> None:
        found = self.query(OptionList)
        if not found:  # dismissed (or the app quit) before it was composed
            return
        options = found.first()
        keys = [key for key, _ in self.choices]
        options.highlighted = keys.index(self.current) if self.current in keys else (0 if keys else None)
        options.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)

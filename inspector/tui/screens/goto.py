"""Go to a chunk by number: a small modal that answers the chunk index, or None when cancelled."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class GotoChunk(ModalScreen[int | None]):
    """Ask for a chunk index among `indices`; Enter answers it, Escape cancels."""

    DEFAULT_CSS = """
    GotoChunk {
        align: center middle;
    }
    GotoChunk > Vertical {
        width: 44;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    GotoChunk #goto-error {
        color: $error;
        height: auto;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(self, indices: list[int], current: int | None = None, typed: list[str] | None = None) -> None:
        super().__init__()
        self.indices = list(indices)
        self.current = current
        self.typed = list(typed or [])
        """Keys typed before the modal opened: digits, ``backspace``, ``enter`` (answers)."""

    def compose(self) -> ComposeResult:
        lo, hi = (min(self.indices), max(self.indices)) if self.indices else (0, 0)
        with Vertical():
            yield Label(f"Go to chunk ({lo}–{hi}):")
            yield Input(value="" if self.current is None else "", placeholder=str(self.current or lo),
                        type="integer", id="goto-input")
            yield Label("", id="goto-error")

    def on_mount(self) -> None:
        field = self.query_one("#goto-input", Input)
        field.focus()
        for key in self.typed:  # typed behind g before this modal opened (MainScreen.on_key kept them)
            if key == "enter":
                self.call_after_refresh(self.answer, field.value)
                break
            if key == "backspace":
                field.value = field.value[:-1]
            else:
                field.insert_text_at_cursor(key)

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.answer(event.value)

    def answer(self, value: str) -> None:
        """Go to chunk `value`, or say why not (the modal stays)."""
        text = value.strip()
        try:
            index = int(text)
        except ValueError:
            self.query_one("#goto-error", Label).update(
                "type a chunk number, then Enter" if not text else f"{text!r} is not a chunk number")
            return
        if index not in self.indices:
            self.query_one("#goto-error", Label).update(
                f"chunk {index} is not in this stream ({len(self.indices)} chunks)")
            return
        self.dismiss(index)

    def action_cancel(self) -> None:
        self.dismiss(None)

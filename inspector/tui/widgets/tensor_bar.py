"""One line of tensor names, the selected one highlighted; click a name (or press t / T) to switch tensors.

Plain `Tabs` need ~95 columns for the five encoder outputs; this bar drops the common ``cache_last_`` prefix of the
names that are not selected, and then truncates them, so all names stay visible in a narrow centre column.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from inspector.tui.widgets.guard import Guarded

SEPARATOR = " │ "
PREFIX = "cache_last_"


def short_name(name: str, width: int) -> str:
    """`name` without the ``cache_last_`` prefix, then cut to `width` with an ellipsis."""
    short = name[len(PREFIX):] if name.startswith(PREFIX) else name
    return short if len(short) <= width else short[: max(width - 1, 1)] + "…"


class TensorBar(Guarded, Widget):
    """The output tensors of the stream; posts `TensorBar.Selected` when one is clicked."""

    DEFAULT_CSS = """
    TensorBar {
        height: 1;
        width: 1fr;
    }
    """

    class Selected(Message):
        def __init__(self, bar: "TensorBar", name: str) -> None:
            super().__init__()
            self.bar = bar
            self.name = name

        @property
        def control(self) -> "TensorBar":
            return self.bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.names: tuple[str, ...] = ()
        self.active: str = ""
        self._spans: list[tuple[int, int, str]] = []

    def set_tensors(self, names: tuple[str, ...], active: str) -> None:
        self.names, self.active = tuple(names), active
        self.refresh()

    def labels(self, width: int) -> list[str]:
        """The label of every name, shortened until the line fits `width` cells."""
        labels = list(self.names)
        budget = max(width - len(SEPARATOR) * max(len(labels) - 1, 0), 10)
        if sum(map(len, labels)) <= budget:
            return labels
        for cut in (64, 20, 16, 12, 10, 8, 6, 4):
            labels = [n if n == self.active else short_name(n, cut) for n in self.names]
            if sum(map(len, labels)) <= budget:
                break
        return labels

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        for i, (name, label) in enumerate(zip(self.names, self.labels(self.size.width))):
            if i:
                text.append(SEPARATOR, style="dim")
            start = text.cell_len
            text.append(label, style="bold reverse" if name == self.active else "")
            self._spans.append((start, text.cell_len, name))
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, name in self._spans:
            if start <= event.x < end:
                self.post_message(self.Selected(self, name))
                return

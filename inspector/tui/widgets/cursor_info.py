"""What lies under the heatmap cursor, the line above the heatmap that says what is drawn, and the chunk's info line
(its status, the state carried, and its metadata from the reference file).

Both have a fixed height and change on every step or cursor move, so they are plain widgets that `render()` a
prepared `Text` and `refresh()` without a layout pass (`Static.update` would re-lay out the whole screen each time).
"""

from __future__ import annotations

from typing import Any, Mapping

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from inspector.tui.imaging import HeatImage
from inspector.tui.records import ChunkState, fmt
from inspector.tui.tensors import VIEW_TITLES, ElementValues, TensorPair
from inspector.tui.widgets.guard import Guarded
from inspector.tui.widgets.heatmap import CursorReport


def _values(values: ElementValues) -> Text:
    text = Text()
    text.append(f"[{', '.join(str(i) for i in values.index)}]", style="bold")
    text.append("  ref ")
    text.append(fmt(values.reference), style="cyan")
    if values.backend is not None:
        text.append("  backend ")
        text.append(fmt(values.backend), style="cyan")
        text.append("  |err| ")
        text.append(fmt(values.error), style="bold yellow")
        text.append("  rel ")
        text.append(fmt(values.relative), style="yellow")
    return text


class _TextLine(Guarded, Widget):
    """A fixed-height widget showing one prepared `Text`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text()
        self._strips: tuple[tuple, list[Strip]] | None = None
        self._version = 0

    def set_text(self, text: Text) -> None:
        if text != self._text:
            self._text = text
            self._version += 1
            self.refresh()

    @property
    def text(self) -> Text:
        return self._text

    def render_line(self, y: int) -> Strip:
        # Line API, strips made once per text and width (these lines change on every step; Textual's content
        # pipeline for `render()` took ~2 ms a step). One terminal line per text line, cut with an ellipsis: a
        # wrapped line would push the next one out of the fixed height (the cursor's "worst" line is last).
        width = self.size.width
        key = (self._version, width, self.rich_style)
        if self._strips is None or self._strips[0] != key:
            console = self.app.console
            strips = []
            for line in self._text.split("\n", allow_blank=True):
                line.truncate(max(width, 1), overflow="ellipsis")
                line.no_wrap = True
                segments = [Segment(seg.text, self.rich_style + seg.style if seg.style else self.rich_style)
                            for seg in line.render(console, end="")]
                strips.append(Strip(segments).extend_cell_length(width, self.rich_style).crop(0, width))
            self._strips = (key, strips)
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, self.rich_style)


class CursorInfo(_TextLine):
    """Three lines: the cell's range in the original tensor; its worst element's values; the tensor's worst."""

    DEFAULT_CSS = """
    CursorInfo {
        height: 3;
        width: 1fr;
    }
    """

    def show(self, report: CursorReport | None) -> None:
        if report is None:
            self.set_text(Text("no tensor", style="dim"))
            return
        line1 = Text.assemble(("cursor  ", "dim"))
        line1.append(report.where)
        rows, cols = report.cell_shape
        if rows * cols > 1:
            line1.append(f"  ({rows}×{cols} pooled: its worst shown)", style="dim")
        line2 = Text.assemble(("value   ", "dim"))
        if report.element is not None:
            line2.append_text(_values(report.element))
        line3 = Text.assemble(("worst   ", "dim"))
        if report.worst is not None:
            line3.append_text(_values(report.worst))
            if report.worst_where:
                line3.append(f"  in {report.worst_where} (w: go there)", style="dim")
        elif report.note:
            line3.append(report.note, style="italic")
        else:
            line3.append("identical to the reference" if report.view != "reference" else "reference only",
                         style="dim")
        text = Text("\n", no_wrap=True, overflow="ellipsis").join([line1, line2, line3])
        text.no_wrap, text.overflow = True, "ellipsis"  # one line each: the third must never be pushed out
        self.set_text(text)


class TensorHeader(_TextLine):
    """``encoder_output [1, 64, 3] · |error| · layer 3/24 · 120×80 px`` and the reason when a view is missing."""

    DEFAULT_CSS = """
    TensorHeader {
        height: 1;
        width: 1fr;
    }
    """

    def show(self, pair: TensorPair | None, image: HeatImage | None) -> None:
        if pair is None:
            self.set_text(Text("loading…", style="dim"))
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(pair.name, style="bold")
        text.append(f" [{','.join(str(s) for s in pair.shape)}]", style="dim")
        if image is not None:
            _, view, layer, batch, _, _ = image.params
            text.append(" · ")
            text.append(VIEW_TITLES.get(view, view), style="bold magenta")
            axes = pair.axes
            if axes.layer_axis is not None:
                text.append(f" · {axes.labels[axes.layer_axis]} {layer} of {axes.layers}")
            if axes.batch_axis is not None and axes.batches > 1:
                text.append(f" · batch {batch} of {axes.batches}")
            if axes.row_axis is not None and axes.col_axis is not None:
                text.append(f" · ↕{axes.labels[axes.row_axis]} ↔{axes.labels[axes.col_axis]}", style="dim")
            if axes.guessed and pair.reference.ndim >= 3:
                text.append(" (guessed)", style="dim italic")
        if pair.note:
            text.append(f" · {pair.note}", style="italic yellow")
        self.set_text(text)


INFO_META_FIRST = ("chunk_len", "cache_len_in", "cache_len_out_value", "timing_ms")
"""Metadata keys the info line shows first (the seed's per-chunk figures); the rest follow while they fit."""


class ChunkInfo(_TextLine):
    """``chunk 3 · fail · state 7→10 · chunk_len 57 · cache_len_out_value 10 · timing_ms 3.72 · …``."""

    DEFAULT_CSS = """
    ChunkInfo {
        height: 1;
        width: 1fr;
    }
    """

    def show(self, chunk: int, status: str, meta: Mapping[str, Any], state: ChunkState | None,
             position: tuple[int, int] | None = None) -> None:
        """`position`: (n, of) of the chunk in the list, shown as ``3/12`` (the list itself may be hidden)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"chunk {chunk}", style="bold")
        if position is not None:
            text.append(f" ({position[0]}/{position[1]})", style="dim")
        if status:
            style = {"pass": "green", "fail": "bold red", "error": "bold magenta", "unknown": "yellow"}.get(status, "")
            text.append(" · ")
            text.append(status if status != "missing" else "not run", style=style or "dim")
        if state is not None and (state.cache_len_in is not None or state.cache_len_out is not None):
            text.append(" · state ", style="dim")
            text.append(f"{'?' if state.cache_len_in is None else state.cache_len_in}→"
                        f"{'?' if state.cache_len_out is None else state.cache_len_out}")
        keys = [k for k in INFO_META_FIRST if k in meta] + [k for k in meta if k not in INFO_META_FIRST]
        for key in keys:
            value = meta[key]
            if isinstance(value, (dict, list, tuple)):
                continue
            text.append(f" · {key} ", style="dim")
            text.append(fmt(value))
        self.set_text(text)

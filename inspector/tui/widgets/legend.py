"""The heatmap's legend: a colour bar on the log scale with decade ticks, the tolerance marked, and the markers."""

from __future__ import annotations

import math
from typing import Sequence

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.filter import ANSIToTruecolor, LineFilter
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from inspector.tui.imaging import CURSOR, LEVELS, NONFINITE, PALETTE, WORST, ZERO, LogScale
from inspector.tui.records import fmt
from inspector.tui.widgets.guard import Guarded


def _swatch(index: int) -> Style:
    return Style(bgcolor=RichColor.from_rgb(*PALETTE[index]))


def tick_label(value: float) -> str:
    """Compact decade label: ``1e-05``, ``0.01``, ``1``, ``100``."""
    if value <= 0 or not math.isfinite(value):
        return fmt(value)
    exp = math.log10(value)
    if abs(exp - round(exp)) < 1e-9:
        e = int(round(exp))
        return {-2: "0.01", -1: "0.1", 0: "1", 1: "10", 2: "100"}.get(e, f"1e{e:+03d}")
    return f"{value:.2g}"


class ColourLegend(Guarded, Widget):
    """Two lines: the colour bar (with the tolerance as ``┃``) and its tick labels plus the marker colours."""

    DEFAULT_CSS = """
    ColourLegend {
        height: 2;
        width: 1fr;
    }
    """

    scale: reactive[LogScale | None] = reactive(None)
    title: reactive[str] = reactive("")
    tolerance: reactive[float | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._strips: tuple[tuple, list[Strip]] | None = None

    def set_scale(self, scale: LogScale | None, title: str, tolerance: float | None = None) -> None:
        with self.app.batch_update():
            self.scale = scale
            self.title = title
            self.tolerance = tolerance

    def get_line_filters(self) -> Sequence[LineFilter]:
        # truecolor already (the palette's RGB), as the heatmap: Textual's ANSIToTruecolor filter only costs time
        return [f for f in super().get_line_filters() if not isinstance(f, ANSIToTruecolor)]

    def render_line(self, y: int) -> Strip:
        """Line API: the two lines are made once per scale, title, tolerance and width (a step to the next chunk
        changes the scale; `render()` through Textual's content pipeline took ~4 ms a step)."""
        width = self.size.width
        key = (self.scale, self.title, self.tolerance, width, self.rich_style)
        if self._strips is None or self._strips[0] != key:
            console = self.app.console
            lines = self.legend_text().split("\n", allow_blank=True)
            strips = []
            for line in lines:
                line.no_wrap = True
                base = self.rich_style  # the widget's own colours under text that sets none
                segments = [Segment(seg.text, base + seg.style if seg.style else base)
                            for seg in line.render(console, end="")]
                strips.append(Strip(segments).extend_cell_length(width, base).crop(0, width))
            self._strips = (key, strips)
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, self.rich_style)

    def legend_text(self) -> Text:
        """The legend as text (two lines)."""
        width = max(self.size.width, 20)
        scale = self.scale
        if scale is None:
            return Text("no data", style="dim")
        keys = Text.assemble(
            (" ", _swatch(ZERO)), " 0 ", (" ", _swatch(NONFINITE)), " NaN/Inf ", (" ", _swatch(WORST)), " worst ",
            (" ", _swatch(CURSOR)), " cursor",
        )
        title = f"{self.title} "
        bar_width = max(width - len(title) - keys.cell_len - 2, 10)
        bar = Text.assemble((title, "bold"))
        tol_cell = None
        if self.tolerance is not None and scale.lo <= self.tolerance <= scale.hi:
            tol_cell = int(round(scale.position(self.tolerance) * (bar_width - 1)))
        for i in range(bar_width):
            level = 1 + int(round(i / max(bar_width - 1, 1) * (LEVELS - 1)))
            if i == tol_cell:
                bar.append("┃", Style(color="white", bold=True, bgcolor=RichColor.from_rgb(*PALETTE[level])))
            else:
                bar.append(" ", _swatch(level))
        bar.append("  ")
        bar.append_text(keys)

        ticks = [" "] * (len(title) + bar_width + 12)
        last_end = -1
        for value in scale.ticks():
            label = tick_label(value)
            pos = len(title) + int(round(scale.position(value) * (bar_width - 1)))
            start = min(max(pos - len(label) // 2, len(title)), len(title) + bar_width - len(label))
            if start <= last_end + 1:
                continue
            ticks[start:start + len(label)] = list(label)
            last_end = start + len(label) - 1
        line2 = Text.assemble(("".join(ticks).rstrip(), "dim"))
        if tol_cell is not None:
            line2.append(f"   ┃ atol {fmt(self.tolerance)}")
        return Text("\n").join([bar, line2])

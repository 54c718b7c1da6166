"""The error heatmap: half-block cells drawn with Textual's Line API from a pre-quantised image.

Each terminal cell shows two pixels with ``▄`` (foreground = bottom pixel, background = top pixel), as
textual-canvas does. The image (`imaging.HeatImage`: uint8 palette indices, max-pooled to the widget's size) is made
off the UI thread, by the screen's chunk worker or by this widget's own pooling worker when the view, layer, batch or
size changes; `render_line` only looks long-lived `Segment`s up in a table and caches the resulting `Strip`s keyed on
everything that changes a line (image, row, width, cursor, styles). Textual's `ANSIToTruecolor` line filter is
dropped for this widget only: the palette is truecolor already, and the filter's cache thrashes on thousands of
colour pairs (~11 ms a frame); the other filters (NO_COLOR, dim) still apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.filter import ANSIToTruecolor, LineFilter
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from inspector.tui.imaging import BACKGROUND, CURSOR, PALETTE, HeatImage
from inspector.tui.tensors import VIEWS, ElementValues, TensorPair, pair_image
from inspector.tui.widgets.guard import Guarded

HALF_BLOCK = "\u2584"
UPPER_HALF = "\u2580"
_RICH = tuple(RichColor.from_rgb(*rgb) for rgb in PALETTE)


class _SegmentTable(dict):
    """``top * 256 + bottom`` → Segment, built on first use and kept for the process (Rich caches escape codes
    on each Style, so long-lived objects are what make lines cheap)."""

    def __missing__(self, code: int) -> Segment:
        top, bottom = divmod(code, 256)
        segment = Segment(HALF_BLOCK, Style.from_color(_RICH[bottom], _RICH[top]))
        self[code] = segment
        return segment


SEGMENTS = _SegmentTable()


@dataclass(frozen=True)
class CursorReport:
    """What lies under the heatmap cursor, in the coordinates of the original tensor.

    Attributes:
        tensor: Reference name.
        where: The pooled cell's range, e.g. ``layer 3 · time 120–123 · channel 500–507``.
        cell_shape: How many source rows × cols the cell covers.
        element: Reference/backend values at the cell's worst element (by the current view).
        view: The current view, and `view_value` its value at that element.
        worst: The whole tensor's worst element and its values, when known.
        worst_where: e.g. ``layer 7`` (where it lies, so the user knows to switch layers).
    """

    tensor: str
    where: str
    cell_shape: tuple[int, int]
    element: ElementValues | None
    view: str
    view_value: float | None
    worst: ElementValues | None
    worst_where: str
    note: str = ""


class Heatmap(Guarded, Widget, can_focus=True):
    """Half-block heatmap of one output tensor (one layer/batch slice of it) with a cursor."""

    DEFAULT_CSS = """
    Heatmap {
        width: 1fr;
        height: 1fr;
        min-height: 4;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "Cursor up", show=False, id="heatmap.up"),
        Binding("down", "move(1, 0)", "Cursor down", show=False, id="heatmap.down"),
        Binding("left", "move(0, -1)", "Cursor left", show=False, id="heatmap.left"),
        Binding("right", "move(0, 1)", "Cursor right", show=False, id="heatmap.right"),
        Binding("shift+up", "move(-8, 0)", "Cursor up ×8", show=False, id="heatmap.up8"),
        Binding("shift+down", "move(8, 0)", "Cursor down ×8", show=False, id="heatmap.down8"),
        Binding("shift+left", "move(0, -8)", "Cursor left ×8", show=False, id="heatmap.left8"),
        Binding("shift+right", "move(0, 8)", "Cursor right ×8", show=False, id="heatmap.right8"),
        Binding("w", "to_worst", "Cursor to worst", id="heatmap.worst"),
    ]

    view: reactive[str] = reactive("error", init=False)
    layer_index: reactive[int] = reactive(0, init=False)
    batch_index: reactive[int] = reactive(0, init=False)

    class CursorMoved(Message):
        """The cursor moved, or the tensor under it changed."""

        def __init__(self, heatmap: "Heatmap", report: CursorReport | None) -> None:
            super().__init__()
            self.heatmap = heatmap
            self.report = report

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Heatmap.CursorMoved)

        @property
        def control(self) -> "Heatmap":
            return self.heatmap

    class ImageChanged(Message):
        """A new image is shown (new tensor, view, layer, batch or size)."""

        def __init__(self, heatmap: "Heatmap", image: HeatImage) -> None:
            super().__init__()
            self.heatmap = heatmap
            self.image = image

        @property
        def control(self) -> "Heatmap":
            return self.heatmap

    class Painted(Message):
        """A new image's first line reached the screen (the screen starts its read-ahead then)."""

        def __init__(self, key: int) -> None:
            super().__init__()
            self.key = key

    class Pooled(Message):
        """Internal: the pooling worker made an image."""

        def __init__(self, image: HeatImage, pair: TensorPair) -> None:
            super().__init__()
            self.image = image
            self.pair = pair

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.pair: TensorPair | None = None
        """The tensor shown."""
        self.image: HeatImage | None = None
        """The image drawn (None until the first one is made)."""
        self.cursor: tuple[int, int] = (0, 0)
        """Cursor position in image pixels (row, col)."""
        self.painted_key: int = 0
        """Key of the last image a line was rendered from (the step benchmark waits on it)."""
        self._strips: LRUCache[tuple, Strip] = LRUCache(1024)
        self._edge_segments: dict[int, Segment] = {}
        self._pending_worst: tuple[int, int] | None = None

    # ---- what to draw -------------------------------------------------------------------------------------------
    def image_params(self) -> tuple[str, int, int, int, int]:
        """(view, layer, batch, cell cols, cell rows) that an image for this widget must be made with."""
        size = self.content_region.size if self.is_mounted else self.size
        return self.view, self.layer_index, self.batch_index, max(size.width, 1), max(size.height, 1)

    def wants(self, image: HeatImage | None, pair: TensorPair) -> bool:
        """Whether `image` of `pair` matches the current view, layer, batch and size."""
        if image is None:
            return False
        view, layer, batch, cols, rows = self.image_params()
        view = view if view in pair.available_views() else "reference"
        layer = min(max(layer, 0), pair.axes.layers - 1)
        batch = min(max(batch, 0), pair.axes.batches - 1)
        return image.params == (pair.key, view, layer, batch, cols, rows)

    def show(self, pair: TensorPair, image: HeatImage | None = None) -> None:
        """Show `pair`, with a ready image when the caller made one for the current parameters."""
        self.pair = pair
        if self.layer_index >= pair.axes.layers:
            self.set_reactive(Heatmap.layer_index, pair.axes.layers - 1)
        if self.batch_index >= pair.axes.batches:
            self.set_reactive(Heatmap.batch_index, pair.axes.batches - 1)
        if image is not None and self.wants(image, pair):
            self._set_image(image)
        else:
            self._repool()

    def clear(self) -> None:
        self.pair = None
        self.image = None
        self._strips.clear()
        self.refresh()
        self.post_message(self.CursorMoved(self, None))

    def _set_image(self, image: HeatImage) -> None:
        self.image = image
        rows, cols = max(image.pixel_rows, 1), max(image.cols.n, 1)
        self.cursor = (min(self.cursor[0], rows - 1), min(self.cursor[1], cols - 1))
        self.refresh()
        self.post_message(self.ImageChanged(self, image))
        self._report()

    def _repool(self) -> None:
        if self.pair is None or not self.is_mounted:
            return
        self._pool(self.pair, *self.image_params())

    @work(thread=True, exclusive=True, group="heatmap-pool")
    def _pool(self, pair: TensorPair, view: str, layer: int, batch: int, cols: int, rows: int) -> None:
        image = pair_image(pair, view, layer, batch, cols, rows)
        self.post_message(self.Pooled(image, pair))

    @on(Pooled)
    def _pooled(self, message: Pooled) -> None:
        message.stop()
        if message.pair is self.pair and self.wants(message.image, message.pair):
            self._set_image(message.image)

    def watch_view(self) -> None:
        self._repool()

    def watch_layer_index(self) -> None:
        self._repool()

    def watch_batch_index(self) -> None:
        self._repool()

    def on_resize(self, event: events.Resize) -> None:
        # also with no image yet: a pooling for the size before this resize is refused when it lands (`wants`)
        if self.pair is not None and not self.wants(self.image, self.pair):
            self._repool()

    def cycle_view(self, step: int = 1) -> str:
        """Next (or previous) view among those the tensor has; returns it."""
        views = self.pair.available_views() if self.pair is not None else VIEWS
        current = self.view if self.view in views else views[0]
        self.view = views[(views.index(current) + step) % len(views)]
        return self.view

    def step_layer(self, step: int) -> None:
        layers = self.pair.axes.layers if self.pair is not None else 1
        self.layer_index = (self.layer_index + step) % max(layers, 1)

    # ---- drawing ------------------------------------------------------------------------------------------------
    def get_line_filters(self) -> Sequence[LineFilter]:
        return [f for f in super().get_line_filters() if not isinstance(f, ANSIToTruecolor)]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._edge_segments.clear()

    def _edge_segment(self, code: int) -> Segment:
        """A cell whose bottom pixel lies outside the image: upper half block on the widget's background."""
        segment = self._edge_segments.get(code)
        if segment is None:
            top = code // 256
            segment = Segment(UPPER_HALF, Style(color=_RICH[top], bgcolor=self.rich_style.bgcolor))
            self._edge_segments[code] = segment
        return segment

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        image = self.image
        if image is None:
            return Strip.blank(width, self.rich_style)
        cursor_row, cursor_col = self.cursor
        in_row = cursor_row // 2 == y and self.pair is not None
        key = (image.key, y, width, (cursor_row, cursor_col) if in_row else None)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(image, y, width, in_row)
            self._strips[key] = strip
        if self.painted_key != image.key:
            self.painted_key = image.key
            self.post_message(self.Painted(image.key))
        return strip

    def _render_row(self, image: HeatImage, y: int, width: int, in_row: bool) -> Strip:
        if y >= image.cell_rows:
            return Strip.blank(width, self.rich_style)
        codes = image.codes[y]
        if in_row and self.cursor[1] < len(codes):
            codes = list(codes)
            top, bottom = divmod(codes[self.cursor[1]], 256)
            if self.cursor[0] % 2 == 0:
                top = CURSOR
            else:
                bottom = CURSOR
            codes[self.cursor[1]] = top * 256 + bottom
        if y == image.cell_rows - 1 and image.pixel_rows % 2:
            segments = [self._edge_segment(c) if c % 256 == BACKGROUND else SEGMENTS[c] for c in codes]
        else:
            segments = list(map(SEGMENTS.__getitem__, codes))
        used = len(codes)
        if used > width:
            return Strip(segments, used).crop(0, width)
        if used < width:
            segments.append(Segment(" " * (width - used), self.rich_style))
        return Strip(segments, width)

    # ---- cursor -------------------------------------------------------------------------------------------------
    def action_move(self, rows: int, cols: int) -> None:
        if self.image is None:
            return
        r = min(max(self.cursor[0] + rows, 0), max(self.image.pixel_rows - 1, 0))
        c = min(max(self.cursor[1] + cols, 0), max(self.image.cols.n - 1, 0))
        self.move_cursor(r, c)

    def move_cursor(self, row: int, col: int) -> None:
        """Put the cursor on pixel (row, col) of the image."""
        old_cell = self.cursor[0] // 2
        self.cursor = (row, col)
        self.refresh_line_of(old_cell)
        self.refresh_line_of(row // 2)
        self._report()

    def refresh_line_of(self, y: int) -> None:
        self.refresh(Region(0, y, self.size.width, 1))

    def action_to_worst(self) -> None:
        """Move the cursor to the tensor's worst element, switching layer/batch when it lies elsewhere."""
        if self.pair is None:
            return
        worst = self.pair.worst()
        if worst is None:
            self.notify("No error to point at: this tensor has no backend values, or they equal the reference.",
                        title="Worst element")
            return
        layer, batch, row, col = self.pair.axes.locate(worst)
        self._pending_worst = (row, col)
        if (layer, batch) != (self.layer_index, self.batch_index):
            self.layer_index, self.batch_index = layer, batch
        elif self.image is not None:
            self._cursor_to_element(row, col)

    def on_heatmap_image_changed(self, message: ImageChanged) -> None:
        pending = self._pending_worst
        if pending is not None and message.heatmap is self:
            self._pending_worst = None
            self._cursor_to_element(*pending)

    def _cursor_to_element(self, row: int, col: int) -> None:
        assert self.image is not None
        self.move_cursor(self.image.rows.pixel_of(row), self.image.cols.pixel_of(col))

    def on_click(self, event: events.Click) -> None:
        if self.image is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row, col = offset.y * 2, offset.x
        if row < self.image.pixel_rows and col < self.image.cols.n:
            self.move_cursor(row, col)

    def cursor_report(self) -> CursorReport | None:
        """Describe the cell under the cursor (cheap: a small window of the already computed view array)."""
        pair, image = self.pair, self.image
        if pair is None or image is None:
            return None
        _, view, layer, batch, _, _ = image.params
        prow, pcol = self.cursor
        if prow >= image.rows.n or pcol >= image.cols.n:
            return None
        rows, cols = image.rows.span(prow), image.cols.span(pcol)
        values = pair.slice_view(view, layer, batch)
        window = np.asarray(values[rows[0]:rows[1], cols[0]:cols[1]], dtype=np.float64)
        element = view_value = None
        if window.size:
            bad = ~np.isfinite(window)
            flat = int(np.argmax(bad)) if bad.any() else int(np.argmax(window))
            r, c = np.unravel_index(flat, window.shape)
            index = pair.axes.full_index(rows[0] + int(r), cols[0] + int(c), layer, batch)
            element = pair.values_at(index)
            view_value = float(window[r, c])
        worst = pair.worst()
        worst_values = pair.values_at(worst) if worst is not None else None
        worst_where = ""
        if worst is not None and pair.axes.locate(worst)[:2] != (layer, batch):
            w_layer, w_batch, _, _ = pair.axes.locate(worst)
            bits = []
            if pair.axes.layer_axis is not None:
                bits.append(f"{pair.axes.labels[pair.axes.layer_axis]} {w_layer}")
            if pair.axes.batch_axis is not None and pair.axes.batches > 1:
                bits.append(f"batch {w_batch}")
            worst_where = " · ".join(bits)
        return CursorReport(
            tensor=pair.name, where=pair.axes.describe_range(rows, cols, layer, batch),
            cell_shape=(rows[1] - rows[0], cols[1] - cols[0]), element=element, view=view, view_value=view_value,
            worst=worst_values, worst_where=worst_where, note=pair.note,
        )

    def _report(self) -> None:
        self.post_message(self.CursorMoved(self, self.cursor_report()))

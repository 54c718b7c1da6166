"""One widget's failure never takes the inspector down.

Textual stops the whole app on any unhandled exception (and a widget whose message handler raised stops handling
messages). The inspector's widgets, its main screen and the app itself mix in `Guarded`:

- `render_lines` failing draws a one-line error in the widget's place instead of breaking the frame (so a resize
  that upsets one widget still paints the others);
- a message handler failing (a key's action, a worker's result) is reported and the next message is handled.

Both report through `report_failure`, which names the widget the error came from (the deepest of our widgets in
the traceback), and the app shows it in a notification and writes it to the log (`InspectorApp.widget_failed`).
Errors that reach `App._handle_exception` anyway (a worker that exits on error, a timer) go the same way when a
widget can be named; anything else still stops the app, and `inspector tui` then exits non-zero with the message.
"""

from __future__ import annotations

from asyncio import CancelledError
from types import TracebackType
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

ERROR_STYLE = Style(color="red", bold=True)


def widget_name(node: Any) -> str:
    """``Heatmap#heatmap``: the widget's class and id, as the notification names it."""
    name = type(node).__name__
    node_id = getattr(node, "id", None)
    return f"{name}#{node_id}" if node_id else name


def _tracebacks(error: BaseException) -> list[TracebackType]:
    """The traceback of `error` and of the errors it wraps (a `WorkerFailed` holds the worker's in ``.error``)."""
    found: list[TracebackType] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            found.append(exc.__traceback__)
        inner = getattr(exc, "error", None)
        todo += [inner if isinstance(inner, BaseException) else None, exc.__cause__, exc.__context__]
    return found


def failing_widget(error: BaseException, default: Any = None) -> Any:
    """The widget `error` was raised in: the deepest frame whose ``self`` is a widget of this package (else any
    widget that is not the app), or `default`."""
    ours = other = None
    for tb in _tracebacks(error):
        frame_tb: TracebackType | None = tb
        while frame_tb is not None:
            owner = frame_tb.tb_frame.f_locals.get("self")
            if isinstance(owner, Widget):
                if type(owner).__module__.startswith("inspector."):
                    ours = owner
                else:
                    other = owner
            frame_tb = frame_tb.tb_next
        if ours is not None:
            return ours
    return other if other is not None else default


def error_line(error: BaseException) -> str:
    """``ValueError: math domain error``."""
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if str(error) else text


def report_failure(node: Any, error: BaseException) -> None:
    """Tell the app that `node` (or the widget deeper in the traceback) failed with `error`; re-raise it when the
    app cannot take reports (a test app without `widget_failed`)."""
    app = node.app
    handler = getattr(app, "widget_failed", None)
    if handler is None:
        raise error
    handler(failing_widget(error, default=node), error)


class Guarded:
    """Mixin (first base) for the app, its screens and its widgets: see the module's docstring."""

    async def _dispatch_message(self, message: Any) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 — reported (notification + log); the widget keeps working
            report_failure(self, error)

    def render_lines(self, crop: Region) -> list[Strip]:
        try:
            return super().render_lines(crop)  # type: ignore[misc]
        except Exception as error:  # noqa: BLE001 — drawn as an error line, reported once by the app
            app = self.app  # type: ignore[attr-defined]
            # not from inside the compositor's frame: the report notifies, which touches the screen
            app.call_later(report_failure, self, error)
            width = crop.width
            lines = [Strip([Segment(f"⚠ {widget_name(self)}: {error_line(error)}"[:width], ERROR_STYLE)])
                     .extend_cell_length(width)]
            lines += [Strip.blank(width)] * (crop.height - 1)
            return lines[: crop.height]

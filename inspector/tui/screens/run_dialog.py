"""Run a backend from the app: choose the backend, the mode, the chunks, the streams and the backend's options, and
answer a `RunRequest` (or None).

As `inspector run --batch`, a run covers every stream of the store and every chunk unless narrowed: the chunks
``current`` (the chunk on screen, of this stream), a range ``A:B`` (in each stream run) or ``all``; the streams
``all`` or ``this one``. Options are ``KEY=VALUE`` words as ``--backend-opt`` takes them (``use_tf32=0``), checked
against the chosen backend before the dialog closes.

Every registered backend is listed; those that cannot run on this machine are greyed out (not selectable) with the
reason and what to install, straight from `backends.base.availability`. Checking availability imports runtimes
(~1.5 s for torch), so it runs in a worker the first time and the answer is kept for the session.
"""

from __future__ import annotations

from typing import Callable, Sequence

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from inspector.errors import InspectorError
from inspector.tui.jobs import MODES, BackendChoice, RunRequest, backend_options, chunks_of

RANGES = ("current", "range", "all")
STREAM_CHOICES = ("all", "this")


def backend_option(choice: BackendChoice) -> Option:
    """One backend as a list entry: its name, and for one that cannot run here, greyed, why and what to install."""
    text = Text()
    if choice.available:
        text.append(choice.name, style="bold")
        text.append("  can run here", style="dim green")
    else:
        text.append(choice.name, style="dim strike")
        text.append("  not available: ", style="dim")
        text.append(choice.why, style="dim italic")
    return Option(text, id=f"backend-{choice.name}", disabled=not choice.available)


class RunDialog(ModalScreen[RunRequest | None]):
    """Backend, mode and chunks of a run on `stream`: Tab moves between them, Enter (on a backend, in the range
    field or on Run) starts it, Escape cancels."""

    DEFAULT_CSS = """
    RunDialog {
        align: center middle;
    }
    RunDialog > Vertical {
        width: 90%;
        max-width: 110;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    RunDialog OptionList {
        height: auto;
        max-height: 18;
    }
    RunDialog .row {
        height: auto;
        margin-top: 1;
    }
    RunDialog .row > Label {
        width: 8;
        padding-top: 1;
    }
    RunDialog RadioSet {
        layout: horizontal;
        width: auto;
        height: auto;
    }
    RunDialog RadioSet > RadioButton {
        width: auto;
        margin-right: 2;
    }
    RunDialog #run-range-text {
        width: 14;
    }
    RunDialog #run-options {
        width: 1fr;
    }
    RunDialog #run-error {
        color: $error;
        height: auto;
    }
    RunDialog #run-buttons {
        height: auto;
        align-horizontal: right;
    }
    RunDialog #run-buttons > Button {
        margin-left: 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="run-dialog.cancel"),
                # priority: the mode and chunk choices (RadioSet) would take Enter as "select" and do nothing more
                Binding("enter", "enter", "Run", show=False, priority=True, id="run-dialog.enter")]

    class Checked(Message):
        """Internal: the availability of every backend is known."""

        def __init__(self, choices: list[BackendChoice]) -> None:
            super().__init__()
            self.choices = choices

    def __init__(self, stream: str, indices: list[int], current: int | None,
                 choices: list[BackendChoice] | None, check: Callable[[], list[BackendChoice]], *,
                 backend: str = "ort-cpu", mode: str = "functional", model_missing: str | None = None,
                 streams: Sequence[str] | None = None) -> None:
        super().__init__()
        self.all_streams: list[str] | None = list(streams) if streams is not None else None
        """Every stream of the store (None: asked of the app's data when the dialog opens)."""
        self.stream_choice = "all"
        """Which streams: ``all`` (the default, as `inspector run --batch`) or ``this`` (the one on screen)."""
        self.model_missing = model_missing
        """What to pass when the app has no model (ONNX backends need it; torch ones rebuild the reference's)."""
        self.stream = stream
        self.indices = list(indices)
        self.current = current
        self.choices: list[BackendChoice] = list(choices or [])
        self._check_fn = check
        self.default_backend = backend
        self.default_mode = mode if mode in MODES else MODES[0]
        self.mode_choice = ""
        """The mode taken by Enter on the mode choice ("" : the pressed button's)."""
        self.range_choice = "all"
        """Which chunks: ``current`` (this stream's chunk on screen), ``range`` (the field's A:B) or ``all`` (the
        default, as `inspector run --batch`)."""

    def compose(self) -> ComposeResult:
        lo, hi = (self.indices[0], self.indices[-1]) if self.indices else (0, 0)
        with Vertical():
            yield Label(Text(f"Run a backend on stream {self.stream}", style="bold"))
            yield Label(Text("backend (greyed: cannot run on this machine, and why) · Tab: mode, chunks, streams, options · "
                             f"Enter: run (from any field) · mode default: {self.default_mode}", style="dim"))
            yield OptionList(id="run-backends")
            with Horizontal(classes="row"):
                yield Label("mode")
                with RadioSet(id="run-mode"):
                    for mode in MODES:
                        yield RadioButton(mode, value=mode == self.default_mode)
            with Horizontal(classes="row"):
                yield Label("chunks")
                with RadioSet(id="run-range"):
                    yield RadioButton(f"current ({self.current}, this stream)", value=self.range_choice == "current")
                    yield RadioButton("range A:B", value=self.range_choice == "range")
                    yield RadioButton("all", value=self.range_choice == "all")
                yield Input(placeholder=f"{lo}:{hi + 1}", id="run-range-text")
            streams = self._streams()
            with Horizontal(classes="row"):
                yield Label("streams")
                with RadioSet(id="run-streams"):
                    yield RadioButton(f"all {len(streams)}", value=True)
                    yield RadioButton(f"this one ({self.stream})")
            with Horizontal(classes="row"):
                yield Label("options")
                yield Input(placeholder="KEY=VALUE … for the backend, e.g. use_tf32=0 (as --backend-opt)",
                            id="run-options")
            yield Static(Text("Each run is recorded in the store with its outputs (heatmaps); a closed-loop run also "
                              "records the state trajectory. Default: every chunk of every stream. c cancels (kept, "
                              "resumable).", style="dim"), id="run-note")
            yield Static("", id="run-error")
            with Horizontal(id="run-buttons"):
                yield Button("Run", variant="primary", id="run-go")
                yield Button("Cancel", id="run-cancel")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.choices:
            self._fill(self.choices)
        else:
            options.add_option(Option(Text("checking which backends can run here …", style="dim italic"),
                                      disabled=True))
            self._check()
        options.focus()

    @work(thread=True, exclusive=True, group="run-dialog-check")
    def _check(self) -> None:
        self.post_message(self.Checked(self._check_fn()))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        self._fill(message.choices)

    def _fill(self, choices: list[BackendChoice]) -> None:
        self.choices = list(choices)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([backend_option(c) for c in self.choices])
        names = [c.name for c in self.choices if c.available]
        want = self.default_backend if self.default_backend in names else (names[0] if names else None)
        if want is not None:
            options.highlighted = [c.name for c in self.choices].index(want)

    # ---- answers --------------------------------------------------------------------------------------------------
    @on(OptionList.OptionSelected)
    def _backend_chosen(self, event: OptionList.OptionSelected) -> None:
        # Enter on a backend runs it with the mode and chunks set (as Enter in the range field or on Run does);
        # Tab reaches them first. (Moving the focus from here instead would race with keys typed ahead.)
        event.stop()
        self.submit()

    @on(Input.Changed, "#run-range-text")
    def _range_typed(self, event: Input.Changed) -> None:
        if event.value.strip():
            # decided here, at once: the radio set learns of the button below only when its message is handled,
            # which may be after an Enter typed right behind the range
            self.range_choice = "range"
            buttons = list(self.query_one("#run-range", RadioSet).query(RadioButton))
            buttons[RANGES.index("range")].value = True

    @on(RadioSet.Changed, "#run-range")
    def _range_chosen(self, event: RadioSet.Changed) -> None:
        self.range_choice = RANGES[event.index]

    @on(RadioSet.Changed, "#run-streams")
    def _streams_chosen(self, event: RadioSet.Changed) -> None:
        self.stream_choice = STREAM_CHOICES[event.index]

    def _streams(self) -> list[str]:
        """Every stream of the store: as given, else the app's data's (never silently just this one)."""
        if self.all_streams is None:
            data = getattr(getattr(self.app, "main", None), "data", None)
            found = list(data.streams()) if data is not None and hasattr(data, "streams") else []
            self.all_streams = found or [self.stream]
        return self.all_streams

    @on(Input.Submitted, "#run-range-text")
    def _range_submitted(self) -> None:
        self.submit()

    @on(Button.Pressed, "#run-go")
    def _go(self) -> None:
        self.submit()

    @on(Button.Pressed, "#run-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def _error(self, text: str) -> None:
        self.query_one("#run-error", Static).update(text)

    def request(self) -> RunRequest:
        """What the dialog asks for now.

        Raises:
            InspectorError: No runnable backend is chosen, or the range selects nothing.
        """
        options = self.query_one(OptionList)
        index = options.highlighted
        if not self.choices or index is None or not 0 <= index < len(self.choices):
            raise InspectorError("choose a backend first (up/down in the list).")
        choice = self.choices[index]
        if not choice.available:
            raise InspectorError(f"{choice.name} cannot run here: {choice.why}")
        if self.model_missing and not choice.name.startswith("torch-"):
            raise InspectorError(self.model_missing)
        mode_set = self.query_one("#run-mode", RadioSet)
        mode = self.mode_choice or MODES[mode_set.pressed_index if mode_set.pressed_index >= 0 else 0]
        which = self.range_choice
        text = self.query_one("#run-range-text", Input).value if which == "range" else which
        chunks = chunks_of(text, self.indices, self.current)
        options = backend_options(self.query_one("#run-options", Input).value, choice.name)
        # the chunk on screen is this stream's; a range or "all" applies to every stream run
        streams = (self.stream,) if which == "current" or self.stream_choice == "this" else tuple(self._streams())
        label = (f"chunk {chunks[0]}" if which == "current" else
                 f"all {len(chunks)} chunks" if which == "all" else f"chunks {text.strip()} ({len(chunks)})")
        if len(streams) > 1:
            label = ("all chunks" if which == "all" else f"chunks {text.strip()}") + f" of {len(streams)} streams"
        return RunRequest(choice.name, mode, self.stream, chunks, label, streams=streams,
                          chunk_range="" if which == "all" else text.strip(), options=options)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # A choice gets the focus with its cursor on what is selected (Textual starts it on the first button), so
        # Enter without moving keeps the selection.
        widget = event.widget
        if isinstance(widget, RadioSet) and widget.pressed_index >= 0:
            widget._selected = widget.pressed_index  # RadioSet's cursor (not public in Textual 8)

    def action_enter(self) -> None:
        """Enter: run, from any field. On a mode or chunks choice the one under the cursor is taken (what the user
        pointed at); on a button, that button."""
        focused = self.focused
        if isinstance(focused, Button):
            focused.press()
            return
        if isinstance(focused, RadioSet):
            buttons = list(focused.query(RadioButton))
            cursor = getattr(focused, "_selected", None)  # RadioSet's cursor (not public in Textual 8)
            if cursor is not None and 0 <= cursor < len(buttons):
                buttons[cursor].value = True
                if focused.id == "run-range":
                    self.range_choice = RANGES[cursor]
                elif focused.id == "run-streams":
                    self.stream_choice = STREAM_CHOICES[cursor]
                elif focused.id == "run-mode":
                    self.mode_choice = MODES[cursor]  # the set turns the old button off only later
        self.submit()

    def submit(self) -> None:
        try:
            request = self.request()
        except InspectorError as exc:
            self._error(str(exc))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Small modals of the chunk jobs: what to triage against (``i``), where to write the bundle (``b``), and the last
result's full report (``o``)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from inspector.tui.jobs import ONNX_BACKENDS, BackendChoice, TriageRequest

_DIALOG_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 90%;
    max-width: 110;
    height: auto;
    max-height: 90%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{name} .row {{
    height: auto;
    margin-top: 1;
}}
{name} .row > Label {{
    width: 10;
    padding-top: 1;
}}
{name} RadioSet {{
    layout: horizontal;
    width: auto;
    height: auto;
}}
{name} RadioSet > RadioButton {{
    width: auto;
    margin-right: 2;
}}
{name} .error {{
    color: $error;
    height: auto;
}}
{name} .buttons {{
    height: auto;
    align-horizontal: right;
    margin-top: 1;
}}
{name} .buttons > Button {{
    margin-left: 2;
}}
"""


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


class TriageDialog(ModalScreen[TriageRequest | None]):
    """Backend and baseline runtimes (ONNX ones: triage taps the graph) and the baseline model (default: the model).

    The same runtime on the same model compares nothing; the dialog says so and asks for another runtime or the
    model to compare against (a known-good export).
    """

    DEFAULT_CSS = _DIALOG_CSS.format(name="TriageDialog") + """
    TriageDialog #triage-model {
        width: 1fr;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="triage-dialog.cancel")]

    class Checked(Message):
        def __init__(self, choices: list[BackendChoice]) -> None:
            super().__init__()
            self.choices = choices

    def __init__(self, chunk: int, model: Path, choices: list[BackendChoice] | None,
                 check: Callable[[], list[BackendChoice]], *, backend: str = "ort-cpu",
                 baseline: str = "ort-cpu", baseline_model: Path | None = None) -> None:
        super().__init__()
        self.chunk = chunk
        self.model = model
        self.choices = list(choices or [])
        self._check_fn = check
        self.default_backend = backend if backend in ONNX_BACKENDS else "ort-cpu"
        self.default_baseline = baseline if baseline in ONNX_BACKENDS else "ort-cpu"
        self.baseline_model = baseline_model or model

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"First diverging node on chunk {self.chunk}", style="bold"))
            yield Static(Text(f"Runs the model node by node on the backend and on the baseline, and finds the first "
                              f"node whose error clearly rises above its inputs'. Model: {self.model}", style="dim"))
            for key, label, default in (("backend", "backend", self.default_backend),
                                        ("baseline", "baseline", self.default_baseline)):
                with Horizontal(classes="row"):
                    yield Label(label)
                    with RadioSet(id=f"triage-{key}"):
                        for name in ONNX_BACKENDS:
                            yield RadioButton(name, value=name == default, id=f"triage-{key}-{name}")
            with Horizontal(classes="row"):
                yield Label("baseline\nmodel")
                yield Input(str(self.baseline_model), id="triage-model")
            yield Static("", id="triage-unavailable")
            yield Static("", id="triage-hint", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Triage", variant="primary", id="triage-go")
                yield Button("Cancel", id="triage-cancel")

    def on_mount(self) -> None:
        if self.choices:
            self._apply(self.choices)
        else:
            self._check()
        self._hint()
        self.query_one("#triage-model", Input).focus()

    @work(thread=True, exclusive=True, group="triage-dialog-check")
    def _check(self) -> None:
        self.post_message(self.Checked(self._check_fn()))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        self._apply(message.choices)

    def _apply(self, choices: list[BackendChoice]) -> None:
        """Grey out the runtimes that cannot run here and say why."""
        self.choices = list(choices)
        lines = Text()
        for choice in choices:
            if choice.name not in ONNX_BACKENDS or choice.available:
                continue
            for key in ("backend", "baseline"):
                button = self.query_one(f"#triage-{key}-{choice.name}", RadioButton)
                button.disabled = True
                button.label = f"{choice.name} (not here)"
            if lines:
                lines.append("\n")
            lines.append(f"{choice.name}: ", style="dim bold")
            lines.append(choice.why, style="dim italic")
        self.query_one("#triage-unavailable", Static).update(lines)

    def _pressed(self, key: str) -> str:
        radio = self.query_one(f"#triage-{key}", RadioSet)
        return ONNX_BACKENDS[radio.pressed_index] if radio.pressed_index >= 0 else "ort-cpu"

    def request(self) -> TriageRequest | str:
        """The request, or why it cannot be made (in words)."""
        backend, baseline = self._pressed("backend"), self._pressed("baseline")
        model = self.query_one("#triage-model", Input).value.strip() or str(self.model)
        unavailable = {c.name: c.why for c in self.choices if not c.available}
        for name in (backend, baseline):
            if name in unavailable:
                return f"{name} cannot run here: {unavailable[name]}"
        if not Path(model).expanduser().is_file():
            return f"baseline model {model}: no such file."
        if backend == baseline and _same_file(model, self.model):
            return (f"{backend} on the same model compares nothing: give the baseline model to compare against "
                    "(a known-good export) or choose another baseline runtime.")
        return TriageRequest(backend, baseline, model)

    def _hint(self) -> None:
        answer = self.request()
        self.query_one("#triage-hint", Static).update(answer if isinstance(answer, str) else "")

    @on(RadioSet.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self._hint()

    @on(Input.Submitted)
    @on(Button.Pressed, "#triage-go")
    def submit(self) -> None:
        answer = self.request()
        if isinstance(answer, str):
            self.query_one("#triage-hint", Static).update(answer)
            return
        self.dismiss(answer)

    @on(Button.Pressed, "#triage-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class BundleDialog(ModalScreen[tuple[Path, bool] | None]):
    """Where to write the chunk's reproduction bundle (default: next to the store); answers (folder, overwrite)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="BundleDialog") + """
    BundleDialog #bundle-dir {
        width: 1fr;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="bundle-dialog.cancel")]

    def __init__(self, chunk: int, default: Path, what: str) -> None:
        super().__init__()
        self.chunk = chunk
        self.default = default
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Reproduction bundle of chunk {self.chunk}", style="bold"))
            yield Static(Text(self.what, style="dim"))
            with Horizontal(classes="row"):
                yield Label("folder")
                yield Input(str(self.default), id="bundle-dir")
            yield Checkbox("replace the files of an existing bundle there", id="bundle-overwrite")
            yield Static("", id="bundle-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="bundle-go")
                yield Button("Cancel", id="bundle-cancel")

    def on_mount(self) -> None:
        self.query_one("#bundle-dir", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#bundle-go")
    def submit(self) -> None:
        text = self.query_one("#bundle-dir", Input).value.strip()
        if not text:
            self.query_one("#bundle-error", Static).update("give the folder to write the bundle into.")
            return
        folder = Path(text).expanduser()
        overwrite = self.query_one("#bundle-overwrite", Checkbox).value
        if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not overwrite)):
            self.query_one("#bundle-error", Static).update(
                f"{folder} exists and is not an empty folder: choose another, or tick 'replace'.")
            return
        self.dismiss((folder, overwrite))

    @on(Button.Pressed, "#bundle-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(ModalScreen[None]):
    """A finished job's whole report as plain text (what the command line prints), scrollable; Escape closes."""

    DEFAULT_CSS = """
    ReportScreen {
        align: center middle;
    }
    ReportScreen > VerticalScroll {
        width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,q,o", "close", "Close", id="report.close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(self.title_text, style="bold"))
            yield Static(Text(self.text))

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

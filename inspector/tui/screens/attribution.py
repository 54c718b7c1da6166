"""The ``a`` key: precision or bug? The attribution ladder of the chunk on screen, run in a worker and shown as a
table (one row per step: backend, status, the failing tensors' max-abs errors, the change), with the verdict.

The job (`attribution_job`) is plain code without Textual: it picks the selected run's backend, options, mode and
model (a registry backend; otherwise ``ort-cpu`` in closed loop on the app's model) and calls
`inspector.attribution.attribute.attribute_chunk`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from inspector.errors import InspectorError

MAX_PROBES = 32
"""Chunk runs the layer bisection may spend from the app (the CLI's default is larger)."""


def attribution_job(data: Any, stream: str, chunk: int, run_id: str, say: Callable[[str], None]) -> Any:
    """`attribute_chunk` on one chunk for the app: the selected run's backend, options, mode and model.

    Raises:
        InspectorError: The app has no contract, or no model to run.
    """
    from backends.base import backend_names
    from inspector.attribution.attribute import attribute_chunk
    from store import Store

    if data.contract is None:
        raise InspectorError("attribution needs the contract: open the app with --contract C.")
    backend, options, mode, model = "ort-cpu", {}, "closed-loop", data.model
    record = data.run_record(run_id) if run_id else None
    if record is not None and record.backend in backend_names():
        backend, options = record.backend, dict(record.options or {})
        mode = record.mode if record.mode in ("closed-loop", "functional") else mode
        if record.model and Path(record.model).is_file():
            model = Path(record.model)  # the export the run used (the demo's examples are other files)
    if model is None and not backend.startswith("torch-"):
        raise InspectorError("attribution re-runs the chunk: open the app with --model M.onnx (the export the run "
                             "used).")
    say(f"{backend} on {Path(model).name if model else 'NeMo'}, chunk {chunk} ({mode}) …")
    return attribute_chunk(Store.open(data.path, mode="r"), data.contract, model, backend, chunk, stream=stream,
                           options=options, mode=mode, max_probes=MAX_PROBES, store_path=str(data.path), say=say)


class AttributionScreen(ModalScreen[None]):
    """The ladder of one chunk: starts its worker on mount; closing the screen cancels it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="attribution.close")]
    DEFAULT_CSS = """
    AttributionScreen { align: center middle; }
    AttributionScreen > Vertical { width: 95%; height: auto; max-height: 90%; border: round $accent;
                                   background: $surface; padding: 0 1; }
    AttributionScreen #attr-title { text-style: bold; }
    AttributionScreen DataTable { height: auto; max-height: 12; }
    AttributionScreen #attr-verdict { margin-top: 1; }
    """

    def __init__(self, data: Any, stream: str, chunk: int, run_id: str) -> None:
        super().__init__()
        self.data = data
        self.stream = stream
        self.chunk = chunk
        self.run_id = run_id
        self.report: Any = None
        """The `AttributionReport` once the worker is done."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Precision or bug? · stream {self.stream} · chunk {self.chunk}", id="attr-title")
            yield Static("running the ladder …", id="attr-status")
            yield DataTable(id="attr-ladder", zebra_stripes=True, cursor_type="row")
            yield Static("", id="attr-verdict")

    def on_mount(self) -> None:
        self._attribute()

    @work(thread=True, exclusive=True, group="attribution", exit_on_error=False)
    def _attribute(self) -> None:
        worker = get_current_worker()

        def say(text: str) -> None:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._status, text)

        try:
            report = attribution_job(self.data, self.stream, self.chunk, self.run_id, say)
        except Exception as exc:  # noqa: BLE001 — shown on the screen and as a notification, never swallowed
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, _error_text(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, report)

    def _status(self, text: str) -> None:
        self.query_one("#attr-status", Static).update(text)

    def _failed(self, text: str) -> None:
        self._status(f"could not attribute: {text}")
        self.notify(text, title="Attribution could not run", severity="error", timeout=15)

    def _show(self, report: Any) -> None:
        self.report = report
        cols = report.columns()
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns("step", "backend", "status", *cols, "change / why not")
        for r in report.steps:
            figs = []
            for c in cols:
                v = r.max_abs(c) if r.ran else None
                ok = r.tensor(c).get("passed") if r.ran else None
                figs.append("—" if v is None else f"{v:.3g}" + ("" if ok is None else (" ok" if ok else " ✗")))
            why = r.step.change if r.ran else r.error
            table.add_row(r.step.key, r.step.backend, r.status.upper() if r.status == "fail" else r.status, *figs,
                          why)
        v = report.verdict
        lines = [f"verdict: {v.short} — {v.summary}"]
        if v.triage:
            lines.append(f"next: {v.triage}")
        if report.bisection is not None:
            lines += report.bisection.render()
        lines += [f"note: {n}" for n in v.notes]
        self.query_one("#attr-verdict", Static).update("\n".join(lines))
        self._status(f"{report.backend} · {report.mode} · every figure: max-abs error against the NeMo reference")


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, InspectorError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

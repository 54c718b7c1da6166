"""The main screen: chunk list on the left; tensor tabs, heatmap, legend, cursor read-out and the error plot in the
centre; contract status and diagnostics on the right.

State lives here (stream, run, chunk, tensor, filter); the heatmap owns its view, layer, batch and cursor. Every
read goes through `InspectorData` in a thread worker that posts a message (`inspector.tui.messages`); handlers
only move data into widgets. Workers are grouped and exclusive, so a new request cancels the one it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, ClassVar, Iterator

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from inspector.tui.data import InspectorData
from inspector.tui.messages import (
    ChunkLoaded, DiagnosticFinished, DiagnosticProgress, LoadFailed, RowsLoaded, SeriesLoaded, StoreChanged,
)
from inspector.tui.records import RuleRow, fmt
from inspector.tui.tensors import VIEW_TITLES, VIEWS, pair_image
from inspector.tui.widgets.chunk_list import ChunkList
from inspector.tui.widgets.contract_status import ContractStatus
from inspector.tui.widgets.cursor_info import CursorInfo, TensorHeader
from inspector.tui.widgets.diagnostics import DiagnosticsPanel
from inspector.tui.widgets.heatmap import Heatmap
from inspector.tui.widgets.legend import ColourLegend
from inspector.tui.widgets.plots import ErrorPlot
from inspector.tui.widgets.tensor_bar import TensorBar

PANEL_DEBOUNCE_S = 0.1
"""The plot's chunk marker and the contract panel follow a step this long after it (only the last of quick steps
is drawn: plotext redraws the whole plot, and the panel re-lays out)."""


@dataclass(frozen=True)
class StartAt:
    """Where the screen opens (each None: a sensible default)."""

    stream: str | None = None
    run: str | None = None
    chunk: int | None = None
    tensor: str | None = None


class MainScreen(Screen[None]):
    """Step through chunks of one stream and see one run's errors, tensor by tensor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "step(1)", "Next chunk", id="chunk.next", tooltip="Next chunk in the list"),
        Binding("k", "step(-1)", "Prev chunk", id="chunk.prev", tooltip="Previous chunk in the list"),
        Binding("n", "next_failing(1)", "Next failing", id="chunk.next-failing",
                tooltip="Next chunk that fails in the selected run"),
        Binding("N", "next_failing(-1)", "Prev failing", id="chunk.prev-failing",
                tooltip="Previous chunk that fails in the selected run"),
        Binding("g", "goto", "Go to chunk", id="chunk.goto", tooltip="Go to a chunk by number"),
        Binding("f", "toggle_failing", "Failing only", id="chunk.filter-failing",
                tooltip="List only the chunks that fail in the selected run (again: all chunks)"),
        Binding("t", "tensor(1)", "Next tensor", id="tensor.next", tooltip="Next output tensor (or click its name)"),
        Binding("T", "tensor(-1)", "Prev tensor", show=False, id="tensor.prev"),
        Binding("v", "view(1)", "View", id="heatmap.view-next",
                tooltip="Next view: |error|, relative error, |reference|, |backend|"),
        Binding("V", "view(-1)", "Prev view", show=False, id="heatmap.view-prev"),
        Binding("]", "layer(1)", "Next layer", id="heatmap.layer-next", tooltip="Next layer of a cache tensor"),
        Binding("[", "layer(-1)", "Prev layer", id="heatmap.layer-prev", tooltip="Previous layer of a cache tensor"),
        Binding("}", "batch(1)", "Next batch", show=False, id="heatmap.batch-next"),
        Binding("{", "batch(-1)", "Prev batch", show=False, id="heatmap.batch-prev"),
        Binding("s", "choose_stream", "Stream", id="select.stream", tooltip="Choose the stream (utterance)"),
        Binding("r", "choose_run", "Run", id="select.run",
                tooltip="Choose the run (backend × mode) whose errors are shown"),
        Binding("d", "diagnose('cache-time')", "Diagnose", id="diagnostics.cache-time",
                tooltip="cache_last_time checks on this chunk (phase 2)"),
        Binding("ctrl+r", "reload", "Reload store", show=False, id="store.reload",
                tooltip="Re-read the store's runs now (it is also polled every few seconds)"),
        Binding("question_mark", "app.help", "Help", id="app.help"),
    ]

    def __init__(self, data: InspectorData, start: StartAt | None = None, poll_interval: float = 5.0) -> None:
        super().__init__()
        self.data = data
        start = start or StartAt()
        self.stream: str = start.stream or ""
        self.run_id: str = start.run or ""
        self.chunk: int | None = start.chunk
        self.tensor: str = start.tensor or ""
        self.tensors: tuple[str, ...] = ()
        self.failing_only = False
        self.poll_interval = poll_interval
        self._start = start
        self._request = 0
        self._rows_generation = 0
        self._loaded_key: tuple | None = None
        self._requested_key: tuple | None = None
        self._debounce: dict[str, Timer] = {}
        self._atol: float | None = None
        self._pending_chunk: int | None = start.chunk

    # ---- widgets ------------------------------------------------------------------------------------------------
    @property
    def chunk_list(self) -> ChunkList:
        return self.query_one(ChunkList)

    @property
    def heatmap(self) -> Heatmap:
        return self.query_one(Heatmap)

    @property
    def plot(self) -> ErrorPlot:
        return self.query_one(ErrorPlot)

    @property
    def tensor_bar(self) -> TensorBar:
        return self.query_one(TensorBar)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            yield ChunkList(id="chunks")
            with Vertical(id="centre"):
                yield TensorBar(id="tensor-bar")
                yield TensorHeader(id="tensor-header")
                yield Heatmap(id="heatmap")
                yield ColourLegend(id="legend")
                yield CursorInfo(id="cursor-info")
                yield ErrorPlot(id="plot")
            with Vertical(id="side"):
                yield ContractStatus(id="contract")
                yield DiagnosticsPanel(id="diagnostics")
        yield Footer()

    def on_mount(self) -> None:
        streams = self.data.streams()
        if not streams:
            self.notify("This store holds no reference chunks yet: convert a reference JSONL into it first "
                        "(inspector convert REF.jsonl STORE.zarr).", title="Empty store", severity="warning",
                        timeout=30)
            return
        if self.stream not in streams:
            if self.stream:
                self.notify(f"No stream {self.stream!r} in this store; showing {streams[0]!r}. "
                            f"Streams: {', '.join(streams[:10])}.", severity="warning")
            self.stream = streams[0]
        self._open_stream(self.stream, keep_run=bool(self.run_id))
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._poll)
        self.chunk_list.table.focus()

    # ---- stream / run / tensor ----------------------------------------------------------------------------------
    def _open_stream(self, stream: str, keep_run: bool = False) -> None:
        self.stream = stream
        self.tensors = self.data.output_names(stream)
        if self.tensor not in self.tensors:
            self.tensor = self.tensors[0] if self.tensors else ""
        runs = self.data.runs(stream)
        if not (keep_run and any(r.run_id == self.run_id for r in runs)):
            if keep_run and self.run_id:
                self.notify(f"No run {self.run_id!r} for stream {stream!r}.", severity="warning")
            self.run_id = self._default_run(runs)
        self._fill_tabs()
        self._update_titles()
        self._load_rows()
        self._load_series()

    @staticmethod
    def _default_run(runs: list) -> str:
        """The newest run that saved outputs (its heatmaps show errors), else the newest run, else none."""
        if not runs:
            return ""
        with_outputs = [r for r in runs if r.saves_outputs]
        return (with_outputs or runs)[-1].run_id

    def _fill_tabs(self) -> None:
        self.tensor_bar.set_tensors(self.tensors, self.tensor)

    def _update_titles(self) -> None:
        self.title = "parity-inspector"
        bits = [self.data.name, f"stream {self.stream}", self.data.describe_run(self.run_id)]
        if self.data.contract_name:
            bits.append(f"contract {self.data.contract_name}")
        self.sub_title = " · ".join(b for b in bits if b)

    @on(TensorBar.Selected)
    def _tensor_clicked(self, message: TensorBar.Selected) -> None:
        self.select_tensor(message.name)

    def select_run(self, run_id: str) -> None:
        """Show run `run_id` ("" = the reference only)."""
        if run_id == self.run_id:
            return
        self.run_id = run_id
        self._update_titles()
        self._refresh_rows_only()
        self._load_series()
        self._load_current()

    def select_stream(self, stream: str) -> None:
        if stream != self.stream:
            self.chunk = None
            self._pending_chunk = None
            self._open_stream(stream)

    def select_tensor(self, name: str) -> None:
        """Show output tensor `name` of the current chunk."""
        if name not in self.tensors or name == self.tensor:
            return
        self.tensor = name
        self.tensor_bar.set_tensors(self.tensors, name)
        self._refresh_rows_only()
        self._load_series()
        self._load_current()

    # ---- rows ---------------------------------------------------------------------------------------------------
    def _load_rows(self) -> None:
        self._rows_generation += 1
        self._rows_worker(self.stream, self._rows_generation)

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def _rows_worker(self, stream: str, generation: int) -> None:
        try:
            indices = self.data.chunk_indices(stream)
            runs = self.data.runs(stream)
            records = {}
            for run in runs:
                if get_current_worker().is_cancelled:
                    return
                records[run.run_id] = self.data.chunk_records(run.run_id, stream)
        except Exception as exc:  # noqa: BLE001 — shown to the user, the app keeps running
            self.post_message(LoadFailed(f"stream {stream!r}", str(exc)))
            return
        self.post_message(RowsLoaded(stream, indices, runs, records, generation))

    @on(RowsLoaded)
    def _rows_loaded(self, message: RowsLoaded) -> None:
        if message.stream != self.stream or message.generation != self._rows_generation:
            return
        if self.run_id and not any(r.run_id == self.run_id for r in message.runs):
            self.run_id = self._default_run(message.runs)
        current = self._pending_chunk if self._pending_chunk is not None else self.chunk
        if current is None or current not in message.indices:
            if current is not None and self._pending_chunk is not None:
                self.notify(f"No chunk {current} in stream {self.stream!r}.", severity="warning")
            current = message.indices[0] if message.indices else None
        self._pending_chunk = None
        self.chunk_list.set_data(message.indices, message.runs, message.records, self.run_id, self.tensor,
                                 self.failing_only, current)
        self._update_titles()
        listed = self.chunk_list.current()
        if listed is not None:
            self._select_chunk(listed)

    def _refresh_rows_only(self) -> None:
        """Re-list the chunks from the records already loaded (new run or tensor selected)."""
        cl = self.chunk_list
        cl.set_data(cl.indices, cl.runs, cl.records, self.run_id, self.tensor, self.failing_only, self.chunk)

    # ---- chunk --------------------------------------------------------------------------------------------------
    @on(ChunkList.ChunkHighlighted)
    def _chunk_highlighted(self, message: ChunkList.ChunkHighlighted) -> None:
        # Only the chunk still under the list's cursor counts: an older echo of quick key repeats is stale.
        if message.index == self.chunk_list.current():
            self._select_chunk(message.index)

    def _select_chunk(self, index: int) -> None:
        if index == self.chunk and self._requested_key == self._want_key():
            return
        self.chunk = index
        self._load_current()
        self._schedule_plot_marker()

    def _want_key(self) -> tuple:
        return (self.stream, self.chunk, self.tensor, self.run_id)

    def _load_current(self) -> None:
        if self.chunk is None or not self.tensor:
            return
        self._request += 1
        self._loaded_key = None
        self._requested_key = self._want_key()
        self._chunk_worker(self.stream, self.chunk, self.tensor, self.run_id, self.heatmap.image_params(),
                           self._request, tuple(self.chunk_list.listed))

    @work(thread=True, exclusive=True, group="chunk", exit_on_error=False)
    def _chunk_worker(self, stream: str, chunk: int, tensor: str, run_id: str, params: tuple, request: int,
                      listed: tuple[int, ...]) -> None:
        worker = get_current_worker()
        try:
            pair = self.data.tensor_pair(stream, chunk, tensor, run_id)
            if worker.is_cancelled:
                return
            image = pair_image(pair, *params)
            chunk_rules: tuple[RuleRow, ...] = ()
            run_rules: tuple[RuleRow, ...] = ()
            status = error = ""
            if run_id:
                record = self.data.chunk_record(run_id, stream, chunk)
                chunk_rules, status, error = record.rules, record.status, record.error
                # per-invariant run verdicts repeat the chunk rows and the "invariants" rule: keep failures only
                run_rules = tuple(r for r in self.data.run_rules(run_id) if r.kind != "invariant" or r.ok is False)
            meta = self.data.chunk_meta(stream, chunk)
        except Exception as exc:  # noqa: BLE001 — shown to the user, the app keeps running
            self.post_message(LoadFailed(f"chunk {chunk} of stream {stream!r}, tensor {tensor}", str(exc)))
            return
        self.post_message(ChunkLoaded(pair, image, chunk_rules, run_rules, meta, request, status, error))
        # Read ahead the neighbours, so that the next step is a cache hit (cancelled as soon as the user moves on).
        if chunk in listed:
            pos = listed.index(chunk)
            for nxt in (listed[pos + 1] if pos + 1 < len(listed) else None, listed[pos - 1] if pos else None):
                if nxt is None or worker.is_cancelled:
                    continue
                try:
                    ahead = self.data.tensor_pair(stream, nxt, tensor, run_id)
                    ahead.scale(params[0])
                    ahead.worst()
                except Exception:  # noqa: BLE001 — read-ahead is best effort; the real load reports errors
                    return

    @on(ChunkLoaded)
    def _chunk_loaded(self, message: ChunkLoaded) -> None:
        pair = message.pair
        if message.request != self._request or (pair.stream, pair.chunk, pair.name, pair.run_id) != self._want_key():
            return
        self._loaded_key = self._want_key()
        self.heatmap.show(pair, message.image)
        self.query_one(TensorHeader).show(pair, message.image if self.heatmap.image is message.image else None)
        run_title = f"run · {self.data.describe_run(self.run_id)}" if self.run_id else "run · none selected"
        chunk_title = f"chunk {pair.chunk}"
        if message.status:
            chunk_title += f" · {message.status}"
        if message.error:
            chunk_title += f" · {message.error}"
        note = "" if self.run_id else "No run selected: press r to choose one (or record one with inspector run)."
        contract = self.query_one(ContractStatus)
        self._later("contract", PANEL_DEBOUNCE_S, lambda: contract.show(
            chunk_title, message.chunk_rules, run_title, message.run_rules, message.meta, note))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self._requested_key = None  # stepping back onto the chunk tries again
        self.notify(f"Could not read {message.what}: {message.error}", title="Read error", severity="error",
                    timeout=15)
        self.log.error(f"read error: {message.what}: {message.error}")

    @on(Heatmap.ImageChanged)
    def _image_changed(self, message: Heatmap.ImageChanged) -> None:
        image = message.image
        view = image.params[1]
        self.query_one(ColourLegend).set_scale(image.scale, VIEW_TITLES.get(view, view),
                                               self._atol if view == "error" else None)
        self.query_one(TensorHeader).show(self.heatmap.pair, image)

    @on(Heatmap.CursorMoved)
    def _cursor_moved(self, message: Heatmap.CursorMoved) -> None:
        self.query_one(CursorInfo).show(message.report)

    # ---- plot ---------------------------------------------------------------------------------------------------
    def _load_series(self) -> None:
        if self.run_id and self.tensor:
            self._series_worker(self.run_id, self.stream, self.tensor)
        else:
            self._atol = None
            self.plot.set_series(f"{self.tensor} · no run selected", [], [], [], current=self.chunk)

    @work(thread=True, exclusive=True, group="series", exit_on_error=False)
    def _series_worker(self, run_id: str, stream: str, tensor: str) -> None:
        try:
            xs, ys = self.data.series(run_id, stream, tensor)
            thresholds = self.data.thresholds(run_id, tensor)
            other = {}
            for run in self.data.runs(stream):
                if run.run_id != run_id:
                    other[run.short] = self.data.series(run.run_id, stream, tensor)
        except Exception as exc:  # noqa: BLE001
            self.post_message(LoadFailed(f"the figures of run {run_id}", str(exc)))
            return
        self.post_message(SeriesLoaded(run_id, tensor, "max_abs", xs, ys, thresholds, other))

    @on(SeriesLoaded)
    def _series_loaded(self, message: SeriesLoaded) -> None:
        if (message.run_id, message.tensor) != (self.run_id, self.tensor):
            return
        self._atol = next((v for label, v in message.thresholds if label == "atol"), None)
        info = self.data.run_info(message.run_id)
        title = f"{message.tensor} max|err| per chunk"
        if message.thresholds:
            title += " · " + "  ".join(f"{label} {fmt(v)}" for label, v in message.thresholds)
        self.plot.set_series(title, message.xs, message.ys, message.thresholds, message.other, current=self.chunk,
                             label=info.short if info else "")
        if self.heatmap.image is not None:
            self._image_changed(Heatmap.ImageChanged(self.heatmap, self.heatmap.image))

    def _schedule_plot_marker(self) -> None:
        self._later("plot", PANEL_DEBOUNCE_S, lambda: self.plot.mark_chunk(self.chunk))

    def _later(self, name: str, delay: float, callback: Callable[[], Any]) -> None:
        """Run `callback` after `delay` unless asked again before (the last request wins).

        The plot and the contract panel follow the heatmap this way: while a key is held they are not redrawn on
        every step, and the heatmap of the new chunk is painted first.
        """
        timer = self._debounce.pop(name, None)
        if timer is not None:
            timer.stop()

        def fire() -> None:
            self._debounce.pop(name, None)
            callback()

        self._debounce[name] = self.set_timer(delay, fire, name=f"later-{name}")

    @property
    def pending_updates(self) -> tuple[str, ...]:
        """Panels waiting for their debounced update (tests and benchmarks wait for none)."""
        return tuple(self._debounce)

    # ---- store polling ------------------------------------------------------------------------------------------
    def _poll(self) -> None:
        self._poll_worker()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_worker(self, force: bool = False) -> None:
        try:
            changed = self.data.refresh()
        except Exception as exc:  # noqa: BLE001 — a store being written may be briefly unreadable
            if force:
                self.post_message(LoadFailed("the store's runs", str(exc)))
            return
        if changed or force:
            self.post_message(StoreChanged())

    @on(StoreChanged)
    def _store_changed(self) -> None:
        self._load_rows()
        self._load_series()
        self._update_titles()

    def action_reload(self) -> None:
        self._poll_worker(force=True)

    # ---- actions ------------------------------------------------------------------------------------------------
    def _anchor(self) -> int | None:
        current = self.chunk_list.current()
        return current if current is not None else self.chunk

    def action_step(self, step: int) -> None:
        anchor = self._anchor()
        if anchor is None:
            return
        target = self.chunk_list.neighbour(anchor, step)
        if target is not None:
            self.chunk_list.highlight(target)
            self._select_chunk(target)  # at once, not a message hop later (the list's echo is then a no-op)

    def action_next_failing(self, direction: int) -> None:
        failing = self.chunk_list.failing()
        if not failing:
            self.notify("No failing chunk in this run." if self.run_id else "No run selected (press r).",
                        title="Failing chunks")
            return
        anchor = self._anchor()
        if anchor is None:
            return
        later = [i for i in failing if (i > anchor if direction > 0 else i < anchor)]
        if not later:
            self.notify("No more failing chunks " + ("after" if direction > 0 else "before") + f" chunk {anchor}.",
                        title="Failing chunks")
            return
        self.go_to(later[0] if direction > 0 else later[-1])

    def go_to(self, index: int) -> None:
        """Make chunk `index` current (turning the failing-only filter off when it hides the chunk)."""
        if index not in self.chunk_list.indices:
            self.notify(f"No chunk {index} in stream {self.stream!r}.", severity="warning")
            return
        if index not in self.chunk_list.listed:
            self.failing_only = False
            self.chunk_list.set_data(self.chunk_list.indices, self.chunk_list.runs, self.chunk_list.records,
                                     self.run_id, self.tensor, False, index)
        self.chunk_list.highlight(index)
        self._select_chunk(index)

    def action_goto(self) -> None:
        from inspector.tui.screens.goto import GotoChunk

        def answer(index: int | None) -> None:
            if index is not None:
                self.go_to(index)

        self.app.push_screen(GotoChunk(self.chunk_list.indices, self.chunk), answer)

    def action_toggle_failing(self) -> None:
        self.failing_only = not self.failing_only
        if self.failing_only and not self.chunk_list.failing():
            self.notify("No failing chunks to filter to." if self.run_id else "No run selected (press r).",
                        title="Failing only")
        self._refresh_rows_only()
        listed = self.chunk_list.current()
        if listed is not None and listed != self.chunk:
            self._select_chunk(listed)

    def action_tensor(self, step: int) -> None:
        if not self.tensors:
            return
        pos = self.tensors.index(self.tensor) if self.tensor in self.tensors else 0
        self.select_tensor(self.tensors[(pos + step) % len(self.tensors)])

    def action_view(self, step: int) -> None:
        heatmap = self.heatmap
        if heatmap.pair is not None and heatmap.pair.available_views() == ("reference",):
            self.notify(heatmap.pair.note or "Only the reference is available for this tensor.", title="Views")
        heatmap.cycle_view(step)

    def action_layer(self, step: int) -> None:
        heatmap = self.heatmap
        if heatmap.pair is not None and heatmap.pair.axes.layers <= 1:
            self.notify(f"{heatmap.pair.name} has no layer axis.", title="Layers")
            return
        heatmap.step_layer(step)

    def action_batch(self, step: int) -> None:
        heatmap = self.heatmap
        batches = heatmap.pair.axes.batches if heatmap.pair is not None else 1
        heatmap.batch_index = (heatmap.batch_index + step) % max(batches, 1)

    def action_choose_stream(self) -> None:
        from inspector.tui.screens.choose import Choose

        streams = self.data.streams()
        # counting chunks lists a folder per stream: only worth it (and cheap enough) for a few streams
        choices = [(s, f"{s}  ({len(self.data.chunk_indices(s))} chunks, {len(self.data.runs(s))} runs)"
                    if len(streams) <= 50 else s) for s in streams]

        def answer(stream: str | None) -> None:
            if stream is not None:
                self.select_stream(stream)

        self.app.push_screen(Choose("Stream", choices, self.stream), answer)

    def action_choose_run(self) -> None:
        from inspector.tui.screens.choose import Choose

        choices: list[tuple[str, str | Text]] = [("", Text("reference only (no run)", style="italic"))]
        for n, run in enumerate(self.data.runs(self.stream), 1):
            label = Text(f"{n} ")
            label.append(run.label, style="bold")
            bits = [run.run_id, f"{run.n_chunks} chunks", run.status]
            if run.precision:
                bits.append(run.precision)
            if run.baseline:
                bits.append(f"vs {run.baseline}")
            if run.saves_outputs is False:
                bits.append("metrics only")
            label.append("  " + " · ".join(bits), style="dim")
            if run.verdict is not None:
                label.append("  PASS" if run.verdict else "  FAIL", style="green" if run.verdict else "bold red")
            choices.append((run.run_id, label))

        def answer(run_id: str | None) -> None:
            if run_id is not None:
                self.select_run(run_id)

        self.app.push_screen(Choose(f"Run for stream {self.stream}", choices, self.run_id), answer)

    # ---- diagnostics (phase 1: plumbing; the checks come with inspector.diagnostics) ----------------------------
    def action_diagnose(self, name: str) -> None:
        if self.chunk is None:
            return
        self.query_one(DiagnosticsPanel).start(f"{name} · chunk {self.chunk}")
        self.run_diagnostic(name, self.stream, self.chunk, self.run_id)

    @work(thread=True, exclusive=True, group="diagnostics", exit_on_error=False)
    def run_diagnostic(self, name: str, stream: str, chunk: int, run_id: str) -> None:
        """Run diagnostic `name` on one chunk in a worker, posting progress and the result."""
        self.post_message(DiagnosticProgress(name, 0, 1, f"preparing {name} on chunk {chunk} …"))
        try:
            finished = self._diagnostic_impl(name, stream, chunk, run_id)
        except Exception as exc:  # noqa: BLE001 — a failing diagnostic is a result to show, not a crash
            finished = DiagnosticFinished(name, f"{name} · chunk {chunk}", f"failed: {exc}", "", False)
        self.post_message(finished)

    def _diagnostic_impl(self, name: str, stream: str, chunk: int, run_id: str) -> DiagnosticFinished:
        return DiagnosticFinished(
            name, f"{name} · chunk {chunk}", "not available in this build yet",
            "The cache_last_time checks, state probe and first-diverging-node triage run from the command line "
            "for now: inspector diagnose cache-time / inspector triage.", None)

    @on(DiagnosticProgress)
    def _diagnostic_progress(self, message: DiagnosticProgress) -> None:
        self.query_one(DiagnosticsPanel).progress(message.done, message.total, message.text)

    @on(DiagnosticFinished)
    def _diagnostic_finished(self, message: DiagnosticFinished) -> None:
        self.query_one(DiagnosticsPanel).finish(message.title, message.verdict, message.body, message.ok)

    # ---- command palette and help -------------------------------------------------------------------------------
    def palette_commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        """(title, help, callback) of every command, for the command palette."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.description and binding.action != "app.help":
                key = self.app.get_key_display(binding)
                yield (f"{binding.description}  [{key}]", binding.tooltip or binding.description,
                       partial(self.run_action, binding.action))
        yield ("Cursor to worst element  [w]", "Move the heatmap cursor to the tensor's worst element",
               self.heatmap.action_to_worst)
        for name in self.tensors:
            yield (f"Tensor: {name}", f"Show {name}", partial(self.select_tensor, name))
        for view in VIEWS:
            yield (f"View: {VIEW_TITLES[view]}", f"Draw {VIEW_TITLES[view]}", partial(setattr, self.heatmap, "view", view))
        for stream in self.data.streams():
            yield (f"Stream: {stream}", f"Open stream {stream}", partial(self.select_stream, stream))
        for run in self.data.runs(self.stream):
            yield (f"Run: {run.label} ({run.run_id})", f"Show run {run.run_id}", partial(self.select_run, run.run_id))

    @staticmethod
    def help_sections() -> list[tuple[str, list[BindingType]]]:
        screen = MainScreen.BINDINGS
        chunk_keys = [b for b in screen if isinstance(b, Binding) and (b.id or "").startswith("chunk.")]
        chunk_keys += [Binding("up,down", "", "Step chunks (chunk list focused)"),
                       Binding("pageup,pagedown,home,end", "", "Scroll the chunk list")]
        tensor_keys = [b for b in screen if isinstance(b, Binding) and (b.id or "").split(".")[0] in
                       ("tensor", "heatmap")]
        heat = [b for b in Heatmap.BINDINGS if isinstance(b, Binding)]
        heat_keys = [Binding("up,down,left,right", "", "Move the cursor (heatmap focused)"),
                     Binding("shift+up,shift+down,shift+left,shift+right", "", "Move the cursor by 8"),
                     *[b for b in heat if b.id == "heatmap.worst"]]
        other = [b for b in screen if isinstance(b, Binding) and (b.id or "").split(".")[0] in
                 ("select", "diagnostics", "store", "app")]
        other += [Binding("tab,shift+tab", "", "Move the focus (chunk list, heatmap, contract panel)"),
                  Binding("ctrl+p", "", "Command palette"), Binding("q", "", "Quit")]
        return [("Chunks", chunk_keys), ("Tensors and views", tensor_keys), ("Heatmap cursor", heat_keys),
                ("Runs, streams, panels", other)]

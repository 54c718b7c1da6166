"""The main screen: chunk list on the left; tensor tabs, heatmap, legend, cursor read-out and the error plot in the
centre; contract status and diagnostics on the right.

State lives here (stream, run, chunk, tensor, filter); the heatmap owns its view, layer, batch and cursor. Every
read goes through `InspectorData` in a thread worker that posts a message (`inspector.tui.messages`); handlers
only move data into widgets. Workers are grouped and exclusive, so a new request cancels the one it replaces.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, ClassVar, Iterator

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from inspector.tui.data import InspectorData, distinct_labels
from inspector.tui.jobs import (
    MODES, BackendChoice, Diagnosis, JobCancelled, JobContext, RunOutcome, RunRequest, TriageRequest,
)
from inspector.tui.messages import (
    ChunkLoaded, DiagnosticFinished, DiagnosticProgress, LoadFailed, RowsLoaded, RunFinished, RunProgress,
    RunStarted, SeriesLoaded, StoreChanged, StoreCondition,
)
from inspector.tui.records import RuleRow, fmt
from inspector.tui.tensors import VIEW_TITLES, VIEWS, pair_image
from inspector.tui.widgets.chunk_list import ChunkList
from inspector.tui.widgets.contract_status import ContractStatus
from inspector.tui.widgets.cursor_info import ChunkInfo, CursorInfo, TensorHeader
from inspector.tui.widgets.diagnostics import DiagnosticsPanel
from inspector.tui.widgets.guard import Guarded
from inspector.tui.widgets.heatmap import Heatmap
from inspector.tui.widgets.legend import ColourLegend
from inspector.tui.widgets.plots import ErrorPlot
from inspector.tui.widgets.tensor_bar import TensorBar

NARROW_COLUMNS = 100
"""Below this width both side panels collapse (l and C bring one back)."""
MEDIUM_COLUMNS = 160
"""Below this width the side panels are narrower."""
SHORT_ROWS = 40
TINY_ROWS = 22
RUN_REFRESH_S = 0.2
"""While a run started from the app commits chunks, the chunk list re-reads the store at most this often."""
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


class MainScreen(Guarded, Screen[None]):
    """Step through chunks of one stream and see one run's errors, tensor by tensor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the app runs these as the key arrives, not after it went down to the focused widget and bubbled
        # back up through every container (each hop a message; under load that was ~10 ms of a step)
        Binding("j", "step(1)", "Next chunk", id="chunk.next", tooltip="Next chunk in the list", priority=True),
        Binding("k", "step(-1)", "Prev chunk", id="chunk.prev", tooltip="Previous chunk in the list",
                priority=True),
        Binding("n", "next_failing(1)", "Next failing", id="chunk.next-failing",
                tooltip="Next chunk that fails in the selected run", priority=True),
        Binding("N", "next_failing(-1)", "Prev failing", id="chunk.prev-failing",
                tooltip="Previous chunk that fails in the selected run", priority=True),
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
        Binding("p", "toggle_plot", "Plot", id="plot.toggle",
                tooltip="Plot: error per chunk, or the run's state trajectory (cache length in/out, rows fed)"),
        Binding("R", "run_backend", "Run backend", id="jobs.run",
                tooltip="Run a backend on this chunk, a range or all chunks (recorded into the store)"),
        Binding("d", "diagnose", "Diagnose", id="jobs.cache-time",
                tooltip="cache_last_time checks on this chunk: where the error sits, is the cache used, does it "
                        "propagate (needs --model and a contract)"),
        Binding("i", "triage", "Triage", id="jobs.triage",
                tooltip="First diverging node on this chunk: backend vs baseline, node by node (needs --model)"),
        Binding("a", "attribute", "Attribute", show=False, id="jobs.attribute",
                tooltip="Precision or bug? Re-run this chunk under stricter math, one change at a time (needs "
                        "--model and a contract)"),
        Binding("b", "bundle", "Bundle", id="jobs.bundle",
                tooltip="Export this chunk's reproduction bundle (inputs, outputs, Polygraphy files, README)"),
        Binding("o", "report", "Full report", show=False, id="jobs.report",
                tooltip="The last diagnostic's full report, as the command line prints it"),
        Binding("c", "cancel_jobs", "Cancel jobs", show=False, id="jobs.cancel",
                tooltip="Cancel the running backend run and diagnostic (committed chunks are kept; the run resumes "
                        "when started again)"),
        Binding("ctrl+r", "reload", "Reload store", show=False, id="store.reload",
                tooltip="Re-read the store's runs now (it is also polled every few seconds)"),
        Binding("l", "toggle_panel('chunks')", "Chunk list", show=False, id="panel.chunks",
                tooltip="Show or hide the chunk list (hidden by itself below 100 columns)"),
        Binding("C", "toggle_panel('side')", "Contract panel", show=False, id="panel.side",
                tooltip="Show or hide the contract and diagnostics panel (hidden by itself below 100 columns)"),
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
        self._job_ids = itertools.count(1)
        self._diag_job = 0
        """The diagnostic whose messages the panel shows (older ones, replaced or cancelled, are ignored)."""
        self._run_job = 0
        self._run_running = False
        self._run_request: RunRequest | None = None
        self.run_progress: tuple[int, int] | None = None
        """(done, total) of the run started from the app, while it runs."""
        self._follow_run = ""
        """A run started from the app: selected as soon as it appears in the store."""
        self._reload_current = False
        self._choices: list[BackendChoice] | None = None
        self._choices_lock = threading.Lock()
        self.plot_kind = "error"
        self._read_ahead_after: tuple[int | None, tuple] | None = None
        """(image key, read-ahead arguments): the read-ahead starts when that image is painted."""
        self._goto_typed: list[str] | None = None
        """Keys typed right behind g, before the go-to modal opened (see `on_key`)."""

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
        yield Static(id="banner")
        with Horizontal(id="body"):
            yield ChunkList(id="chunks")
            with Vertical(id="centre"):
                yield TensorBar(id="tensor-bar")
                yield ChunkInfo(id="chunk-info")
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
            records = list(self.data.store.runs())
            if records:  # imported reports only (`inspector import-run` made the store): say so, list their verdicts
                shown = "; ".join(f"{r.backend} {r.mode} {r.run_id}: {(r.summary or {}).get('outcome') or '?'}"
                                  for r in records[:6]) + (f"; and {len(records) - 6} more" if len(records) > 6 else "")
                self.show_banner(f"No reference chunks: this store holds runs only (imported reports carry their "
                                 f"own figures; `inspector convert REF.jsonl -o STORE` adds the reference and keeps "
                                 f"the runs). {shown}", severity="information")
                return
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
        self._condition_worker()
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._poll)
        self.chunk_list.table.focus()

    # ---- layout, banner --------------------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        """Size classes (see inspector.tcss): below `NARROW_COLUMNS` the side panels collapse so the heatmap keeps
        at least 60% of the width; short terminals get a lower plot, tiny ones none."""
        width, height = event.size
        self.set_class(width < NARROW_COLUMNS, "-narrow")
        self.set_class(NARROW_COLUMNS <= width < MEDIUM_COLUMNS, "-medium")
        self.set_class(height < SHORT_ROWS, "-short")
        self.set_class(height < TINY_ROWS, "-tiny")

    def action_toggle_panel(self, panel: str) -> None:
        """l / C: show or hide the chunk list / the contract panel. In a narrow terminal one panel at a time is
        shown, over at most 40% of the width."""
        if self.has_class("-narrow"):
            shown = f"-show-{panel}"
            on = not self.has_class(shown)
            self.remove_class("-show-chunks", "-show-side")
            self.set_class(on, shown)
        else:
            self.toggle_class(f"-hide-{panel}")

    def show_banner(self, text: str | Text, severity: str = "warning") -> None:
        """A banner above the panes (``information``, ``warning`` or ``error``) that stays until `hide_banner`:
        for what is true of the whole store (unfinished, damaged), not for one event (those are notifications)."""
        banner = self.query_one("#banner", Static)
        banner.remove_class("-information", "-warning", "-error")
        banner.add_class("-shown", f"-{severity}")
        banner.update(text)

    def hide_banner(self) -> None:
        banner = self.query_one("#banner", Static)
        banner.remove_class("-shown")
        banner.update("")

    @property
    def banner_text(self) -> str:
        """What the banner says ("" when hidden)."""
        banner = self.query_one("#banner", Static)
        return str(banner.render()) if banner.has_class("-shown") else ""

    @work(thread=True, exclusive=True, group="condition", exit_on_error=False)
    def _condition_worker(self) -> None:
        try:
            items = self.data.condition()
        except Exception as exc:  # noqa: BLE001 — a store that cannot even be described is itself worth a banner
            items = [("error", f"Could not check the store ({type(exc).__name__}: {exc}); `inspector info "
                               f"{self.data.path}` says more.")]
        self.post_message(StoreCondition(items))

    @on(StoreCondition)
    def _store_condition(self, message: StoreCondition) -> None:
        if not message.items:
            self.hide_banner()
            return
        order = ("error", "warning", "information")
        worst = min((severity for severity, _ in message.items), key=order.index)
        self.show_banner(Text("\n".join(text for _, text in message.items)), worst)

    def recheck_store(self) -> None:
        """Check the store's condition again for the banner (e.g. once a conversion running in the app ended)."""
        self._condition_worker()

    def refresh_chunks(self) -> None:
        """Re-read the stream's chunks and every run's records (for a store that grows while it is open, e.g. a
        conversion running in the app); the current chunk stays selected."""
        if not self.stream:  # opened empty: the first stream may have arrived
            streams = self.data.streams()
            if streams:
                self._open_stream(streams[0])
            return
        self._poll_worker(force=True)

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
        if self._follow_run and any(r.run_id == self._follow_run for r in message.runs):
            # a run started from the app: show it as its chunks arrive
            if self.run_id != self._follow_run:
                self.run_id = self._follow_run
                self._load_series()
                self._reload_current = True
            self._follow_run = ""
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
        if self._reload_current and listed is not None and listed == self.chunk:
            self._reload_current = False
            self._load_current()
            self._schedule_plot_marker()
        elif listed is not None:
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
        params = self.heatmap.image_params()
        ready = self._ready(self.stream, self.chunk, self.tensor, self.run_id, params, self._request)
        if ready is not None:  # read ahead: show it now, without a worker's round trip
            self._chunk_loaded(ready)
            return
        self._chunk_worker(self.stream, self.chunk, self.tensor, self.run_id, params, self._request)

    def _ready(self, stream: str, chunk: int, tensor: str, run_id: str, params: tuple,
               request: int) -> ChunkLoaded | None:
        """What the chunk worker would post, when the read-ahead left all of it in the caches (lookups only)."""
        from inspector.tui.tensors import cached_image

        cached = self.data.cached_step(stream, chunk, tensor, run_id)
        if cached is None:
            return None
        pair, meta = cached
        image = cached_image(pair, *params)
        if image is None:
            return None
        return self._chunk_message(pair, image, meta, run_id, stream, chunk, request)

    def _chunk_message(self, pair: Any, image: Any, meta: Any, run_id: str, stream: str, chunk: int,
                       request: int) -> ChunkLoaded:
        chunk_rules: tuple[RuleRow, ...] = ()
        run_rules: tuple[RuleRow, ...] = ()
        status = error = ""
        state = None
        if run_id:
            record = self.data.chunk_record(run_id, stream, chunk)
            chunk_rules, status, error, state = record.rules, record.status, record.error, record.state
            # per-invariant run verdicts repeat the chunk rows and the "invariants" rule: keep failures only
            run_rules = tuple(r for r in self.data.run_rules(run_id) if r.kind != "invariant" or r.ok is False)
        return ChunkLoaded(pair, image, chunk_rules, run_rules, meta, request, status, error, state)

    @work(thread=True, exclusive=True, group="chunk", exit_on_error=False)
    def _chunk_worker(self, stream: str, chunk: int, tensor: str, run_id: str, params: tuple, request: int) -> None:
        worker = get_current_worker()
        try:
            pair = self.data.tensor_pair(stream, chunk, tensor, run_id)
            if worker.is_cancelled:
                return
            image = pair_image(pair, *params)
            meta = self.data.chunk_meta(stream, chunk)
            message = self._chunk_message(pair, image, meta, run_id, stream, chunk, request)
        except Exception as exc:  # noqa: BLE001 — shown to the user, the app keeps running
            self.post_message(LoadFailed(f"chunk {chunk} of stream {stream!r}, tensor {tensor}", str(exc)))
            return
        self.post_message(message)

    @work(thread=True, exclusive=True, group="read-ahead", exit_on_error=False)
    def _read_ahead_worker(self, stream: str, chunk: int, tensor: str, run_id: str, params: tuple,
                           listed: tuple[int, ...]) -> None:
        """Read the listed neighbours of `chunk` and make their images, so that the next step only paints
        (cancelled as soon as the user moves on)."""
        worker = get_current_worker()
        if chunk not in listed:
            return
        pos = listed.index(chunk)
        for nxt in (listed[pos + 1] if pos + 1 < len(listed) else None, listed[pos - 1] if pos else None):
            if nxt is None or worker.is_cancelled:
                continue
            try:
                ahead = self.data.tensor_pair(stream, nxt, tensor, run_id)
                pair_image(ahead, *params)  # kept on the pair
                self.data.chunk_meta(stream, nxt)  # (cached: the step then needs no worker at all)
                if run_id:
                    self.data.chunk_record(run_id, stream, nxt)
            except Exception:  # noqa: BLE001 — read-ahead is best effort; the real load reports errors
                return

    @on(ChunkLoaded)
    def _chunk_loaded(self, message: ChunkLoaded) -> None:
        pair = message.pair
        if message.request != self._request or (pair.stream, pair.chunk, pair.name, pair.run_id) != self._want_key():
            return
        self._loaded_key = self._want_key()
        self.heatmap.show(pair, message.image)
        if message.image is not None:
            # started once the new heatmap is painted (Heatmap.Painted): the read-ahead must not compete with this
            # step's paint (after the next refresh was too early: that is often the chunk list's frame)
            self._read_ahead_after = (self.heatmap.image.key if self.heatmap.image is not None else None,
                                      (pair.stream, pair.chunk, pair.name, pair.run_id, self.heatmap.image_params(),
                                       tuple(self.chunk_list.listed)))
        self.query_one(TensorHeader).show(pair, message.image if self.heatmap.image is message.image else None)
        run_title = f"run · {self.data.describe_run(self.run_id)}" if self.run_id else "run · none selected"
        chunk_title = f"chunk {pair.chunk}"
        if message.status:
            chunk_title += f" · {message.status}"
        if message.error:
            chunk_title += f" · {message.error}"
        note = "" if self.run_id else "No run selected: press r to choose one, or R to run a backend."
        listed = self.chunk_list.listed
        position = (listed.index(pair.chunk) + 1, len(listed)) if pair.chunk in listed else None
        self.query_one(ChunkInfo).show(pair.chunk, message.status if self.run_id else "", message.meta,
                                       message.state, position)
        contract = self.query_one(ContractStatus)
        self._later("contract", PANEL_DEBOUNCE_S, lambda: contract.show(
            chunk_title, message.chunk_rules, run_title, message.run_rules, message.meta, note, message.state))

    @on(Heatmap.Painted)
    def _heatmap_painted(self, message: Heatmap.Painted) -> None:
        pending = self._read_ahead_after
        if pending is not None and pending[0] == message.key:
            self._read_ahead_after = None
            self._read_ahead_worker(*pending[1])

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
            self.plot.set_state("no run selected: no state trajectory", None)
            self.plot.set_latency("no run selected: no step times", None)
            self.plot.set_series(f"{self.tensor} · no run selected", [], [], [], current=self.chunk)

    @work(thread=True, exclusive=True, group="series", exit_on_error=False)
    def _series_worker(self, run_id: str, stream: str, tensor: str) -> None:
        try:
            xs, ys = self.data.series(run_id, stream, tensor)
            thresholds = self.data.thresholds(run_id, tensor)
            other = {}
            runs = self.data.runs(stream)
            labels = distinct_labels(runs)  # two runs never share a legend entry (nor one dict key)
            for run in runs:
                if run.run_id != run_id:
                    other[labels[run.run_id]] = self.data.series(run.run_id, stream, tensor)
            trajectory = self.data.trajectory(run_id, stream)
            state_title = self.data.state_title(run_id) if trajectory is not None else (
                f"no state trajectory in this run ({self.data.describe_run(run_id)}): closed-loop runs record one "
                "(R runs one)")
        except Exception as exc:  # noqa: BLE001
            self.post_message(LoadFailed(f"the figures of run {run_id}", str(exc)))
            return
        self.post_message(SeriesLoaded(run_id, tensor, "max_abs", xs, ys, thresholds, other, trajectory,
                                       state_title, labels.get(run_id, "")))

    @on(SeriesLoaded)
    def _series_loaded(self, message: SeriesLoaded) -> None:
        if (message.run_id, message.tensor) != (self.run_id, self.tensor):
            return
        self._atol = next((v for label, v in message.thresholds if label == "atol"), None)
        info = self.data.run_info(message.run_id)
        title = f"{message.tensor} max|err| per chunk"
        if message.thresholds:
            title += " · " + "  ".join(f"{label} {fmt(v)}" for label, v in message.thresholds)
        self.plot.set_state(message.state_title, message.trajectory)
        self._set_latency(message.run_id)
        self.plot.set_series(title, message.xs, message.ys, message.thresholds, message.other, current=self.chunk,
                             label=message.label or (info.short if info else ""))
        if self.heatmap.image is not None:
            self._image_changed(Heatmap.ImageChanged(self.heatmap, self.heatmap.image))

    def _set_latency(self, run_id: str) -> None:
        """The latency plot's series of a run, from its chunk records (already read for the error series)."""
        from inspector.latency import latency_series

        records = {i: rec.raw for i, rec in self.data.chunk_records(run_id, self.stream).items()}
        info = self.data.run_info(run_id)
        series = latency_series(records, getattr(info, "backend", "") or "")
        title = "step ms per chunk"
        if series.median is not None:
            title += f" · steady median {series.median:.3g} ms"
        if series.warmup:
            title += f" · warm-up {', '.join(str(c) for c in sorted(series.warmup)[:6])}"
        if series.outliers:
            title += f" · {len(series.outliers)} outlier(s)"
        if series.notes:
            title += " · " + series.notes[0]
        self.plot.set_latency(title, series)

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

    def _at_most_every(self, name: str, delay: float, callback: Callable[[], Any]) -> None:
        """Run `callback` `delay` after the first of a burst of requests (later ones join it): a run committing
        chunks every few milliseconds refreshes the list a few times a second, not once per chunk."""
        if name in self._debounce:
            return

        def fire() -> None:
            self._debounce.pop(name, None)
            callback()

        self._debounce[name] = self.set_timer(delay, fire, name=f"throttle-{name}")

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

    def on_key(self, event: events.Key) -> None:
        # Keys reach this handler before Textual runs the bindings of the keys before them: typed in one burst,
        # "g 1 5 Enter" brings 1, 5 and Enter here before g has opened the go-to modal (which would then see Enter
        # alone). So after a g, digits and Enter are kept for the modal (anything else ends that).
        typed = self._goto_typed
        if event.key == "g":
            self._goto_typed = []
        elif typed is not None:
            if event.key == "enter" or event.key == "backspace" or (event.character or "").isdigit():
                typed.append(event.key if event.key in ("enter", "backspace") else event.character or "")
                event.stop()
                event.prevent_default()
            else:
                self._goto_typed = None

    def action_goto(self) -> None:
        from inspector.tui.screens.goto import GotoChunk

        def answer(index: int | None) -> None:
            if index is not None:
                self.go_to(index)

        typed, self._goto_typed = self._goto_typed or [], None
        self.app.push_screen(GotoChunk(self.chunk_list.indices, self.chunk, typed), answer)

    def action_toggle_failing(self) -> None:
        """f: list only the failing chunks (again: all). With nothing failing the list stays as it is."""
        if not self.failing_only and not self.chunk_list.failing():
            self.notify("No failing chunks in this run: the list stays as it is." if self.run_id else
                        "No run selected (press r): nothing to filter on.", title="Failing only")
            return
        self.failing_only = not self.failing_only
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

    # ---- jobs on the chunk: diagnostics, bundle, backend runs ----------------------------------------------------
    @property
    def diagnostics(self) -> DiagnosticsPanel:
        return self.query_one(DiagnosticsPanel)

    def backend_choices(self) -> list[BackendChoice]:
        """Every registered backend and whether it can run here (checked once per session; call from a worker)."""
        from inspector.tui.jobs import backend_choices

        with self._choices_lock:
            known = self._choices
        if known is None:
            known = backend_choices()  # (not under the lock: the UI thread reads it when a dialog opens)
            with self._choices_lock:
                self._choices = known
        return list(known)

    def _run_defaults(self) -> tuple[str, str]:
        """The backend and mode the dialogs start on: the selected run's, when it is a registry backend."""
        from backends.base import backend_names

        info = self.data.run_info(self.run_id) if self.run_id else None
        backend = info.backend if info is not None and info.backend in backend_names() else "ort-cpu"
        mode = info.mode if info is not None and info.mode in MODES else MODES[0]
        return backend, mode

    def _start_diagnostic(self, name: str, title: str, job: Callable[[JobContext], Diagnosis]) -> None:
        if self._diag_job and self.diagnostics.has_class("-running"):
            self.notify("The previous diagnostic was cancelled for this one.", title="Diagnostics")
        self._diag_job = next(self._job_ids)
        self.diagnostics.start(title)
        self._diagnostic_worker(self._diag_job, name, title, job)

    @work(thread=True, exclusive=True, group="diagnostics", exit_on_error=False)
    def _diagnostic_worker(self, job: int, name: str, title: str, fn: Callable[[JobContext], Diagnosis]) -> None:
        """Run one diagnostic job, posting progress and its result (an exclusive group: a new one replaces it)."""
        worker = get_current_worker()
        ctx = JobContext(say=lambda text: self.post_message(DiagnosticProgress(job, 0, 0, text)),
                         step=lambda done, total, text: self.post_message(DiagnosticProgress(job, done, total, text)),
                         cancelled=lambda: worker.is_cancelled)
        try:
            result = fn(ctx)
        except JobCancelled:
            self.post_message(DiagnosticFinished(job, name, title, cancelled=True))
        except Exception as exc:  # noqa: BLE001 — the package's errors say what to do; anything else is shown too
            self.post_message(DiagnosticFinished(job, name, title, error=_error_text(exc)))
        else:
            self.post_message(DiagnosticFinished(job, name, title, result=result))

    @on(DiagnosticProgress)
    def _diagnostic_progress(self, message: DiagnosticProgress) -> None:
        if message.job == self._diag_job:
            self.diagnostics.progress(message.done, message.total, message.text)

    @on(DiagnosticFinished)
    def _diagnostic_finished(self, message: DiagnosticFinished) -> None:
        if message.job != self._diag_job:
            return
        if message.result is not None:
            self.diagnostics.show_result(message.title, message.result)
        else:
            self.diagnostics.show_error(message.title, message.error, message.cancelled)
            if not message.cancelled:
                self.notify(message.error, title=f"{message.name} could not run", severity="error", timeout=15)

    def _missing(self, title: str, text: str | None) -> bool:
        """Show what a job needs (in the panel and as a notification); True when something is missing."""
        if not text:
            return False
        self.diagnostics.show_error(title, text)
        self.notify(text, title="Missing", severity="warning", timeout=15)
        return True

    def action_diagnose(self) -> None:
        """d: the cache_last_time checks on the current chunk."""
        from inspector.tui.jobs import diagnose_cache_time, need_contract

        if self.chunk is None:
            return
        stream, chunk, run_id = self.stream, self.chunk, self.run_id
        backend, _ = self._run_defaults()
        title = f"cache_last_time · chunk {chunk} · {backend}"
        if self._missing(title, need_contract(self.data, "cache_last_time diagnostic")):
            return
        self._start_diagnostic("cache_last_time diagnostic", title,
                               lambda ctx: diagnose_cache_time(self.data, stream, chunk, run_id, ctx))

    def action_triage(self) -> None:
        """i: first-diverging-node triage of the current chunk (a dialog asks what to compare against)."""
        from inspector.tui.jobs import ONNX_BACKENDS, requirement, triage
        from inspector.tui.screens.job_dialogs import TriageDialog

        if self.chunk is None:
            return
        stream, chunk = self.stream, self.chunk
        if self._missing(f"triage · chunk {chunk}", requirement(self.data, "first-diverging-node triage")):
            return
        assert self.data.model is not None
        backend, _ = self._run_defaults()
        backend = backend if backend in ONNX_BACKENDS else "ort-cpu"

        def answer(request: TriageRequest | None) -> None:
            if request is None:
                return
            title = f"triage · chunk {chunk} · {request.backend} vs {request.baseline}"
            self._start_diagnostic("triage", title, lambda ctx: triage(self.data, stream, chunk, request, ctx))

        with self._choices_lock:
            choices = self._choices
        self.app.push_screen(TriageDialog(chunk, self.data.model, choices, self.backend_choices, backend=backend),
                             answer)

    def action_attribute(self) -> None:
        """a: precision or bug? The attribution ladder of the current chunk, in a worker, on its own screen."""
        from inspector.tui.screens.attribution import AttributionScreen

        if self.chunk is not None:
            self.app.push_screen(AttributionScreen(self.data, self.stream, self.chunk, self.run_id))

    def action_bundle(self) -> None:
        """b: export the current chunk's reproduction bundle (a dialog asks where)."""
        from inspector.tui.jobs import default_bundle_dir, export_bundle
        from inspector.tui.screens.job_dialogs import BundleDialog

        if self.chunk is None:
            return
        stream, chunk, run_id = self.stream, self.chunk, self.run_id
        backend, _ = self._run_defaults()
        if self.data.model is not None and self.data.contract is not None:
            what = (f"inputs.npz (the model's feed dict), reference_outputs.npz, backend_outputs.npz ({backend} on "
                    f"{self.data.model.name}), Polygraphy JSON of both, meta.json and a README with the commands.")
        else:
            what = ("inputs.npz, reference_outputs.npz, Polygraphy JSON, meta.json and a README. Without "
                    + ("--model" if self.data.contract is not None else "--contract and --model")
                    + " it holds no backend outputs.")

        def answer(where: tuple | None) -> None:
            if where is None:
                return
            folder, overwrite = where
            self._start_diagnostic(
                "bundle export", f"bundle · chunk {chunk}",
                lambda ctx: export_bundle(self.data, stream, chunk, run_id, folder, overwrite, ctx))

        self.app.push_screen(BundleDialog(chunk, default_bundle_dir(self.data, stream, chunk), what), answer)

    def action_report(self) -> None:
        """o: the last diagnostic's full report."""
        from inspector.tui.screens.job_dialogs import ReportScreen

        last = self.diagnostics.last
        if last is None:
            self.notify("No diagnostic has finished yet: d, i or b run one on the current chunk.",
                        title="Full report")
            return
        self.app.push_screen(ReportScreen(f"{last.kind} · stream {last.stream} · chunk {last.chunk}",
                                          last.full_text()))

    def action_cancel_jobs(self) -> None:
        """c: cancel the running diagnostic and backend run."""
        running = []
        if self.diagnostics.has_class("-running"):
            running.append("diagnostic")
        if self._run_running:
            running.append("run")
        if not running:
            self.notify("Nothing is running.", title="Cancel")
            return
        self.workers.cancel_group(self, "diagnostics")
        self.workers.cancel_group(self, "run")
        self.notify(f"Cancelling the {' and the '.join(running)} (a run stops after the chunk it is writing).",
                    title="Cancel")

    def action_run_backend(self) -> None:
        """R: choose a backend, mode and chunks, and run it into the store."""
        from inspector.tui.jobs import need_contract, need_model
        from inspector.tui.screens.run_dialog import RunDialog

        if self._run_running:
            request = self._run_request
            what = f"{request.backend} {request.mode} on {request.label}" if request else "a run"
            self.notify(f"{what} is running: wait for it, or press c to cancel it.", title="Run backend")
            return
        missing = need_contract(self.data, "run")
        if missing:
            self.notify(missing, title="Run backend", severity="warning", timeout=15)
            return
        backend, _ = self._run_defaults()
        mode = MODES[0]  # stated in the dialog, not taken from the run on screen
        with self._choices_lock:
            choices = self._choices

        def answer(request: RunRequest | None) -> None:
            if request is not None:
                self.start_run(request)

        self.app.push_screen(RunDialog(self.stream, self.chunk_list.indices, self.chunk, choices,
                                       self.backend_choices, backend=backend, mode=mode,
                                       model_missing=need_model(self.data, "run of an ONNX backend")), answer)

    def start_run(self, request: RunRequest) -> None:
        """Run `request` in the run worker; its chunks appear in the list as they are committed."""
        self._run_job = next(self._job_ids)
        self._run_running = True
        self.run_progress = (0, len(request.chunks))
        self._run_request = request
        self.chunk_list.set_progress(Text.assemble(
            (f"{request.backend} {request.mode}", "bold"), f" on {request.label}: starting …"))
        self._run_worker(self._run_job, request)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run_worker(self, job: int, request: RunRequest) -> None:
        from inspector.tui.jobs import run_backend

        worker = get_current_worker()
        ctx = JobContext(cancelled=lambda: worker.is_cancelled)

        def chunk_done(done: int, total: int, record: Any) -> None:
            status = str(record.get("status", ""))
            self.post_message(RunProgress(job, done, total, int(record.get("chunk", -1)), status))

        try:
            outcome = run_backend(self.data, request, ctx, started=lambda run_id: self.post_message(
                RunStarted(job, run_id)), chunk_done=chunk_done)
        except JobCancelled:
            self.post_message(RunFinished(job, cancelled=True))
        except Exception as exc:  # noqa: BLE001 — the package's errors say what to do; anything else is shown too
            self.post_message(RunFinished(job, error=_error_text(exc)))
        else:
            self.post_message(RunFinished(job, outcome=outcome))

    @on(RunStarted)
    def _run_started(self, message: RunStarted) -> None:
        if message.job != self._run_job:
            return
        self._follow_run = message.run_id
        self._poll_worker(force=True)

    @on(RunProgress)
    def _run_progress(self, message: RunProgress) -> None:
        if message.job != self._run_job:
            return
        self.run_progress = (message.done, message.total)
        request = self._run_request
        text = Text.assemble((f"{request.backend} {request.mode}" if request else "run", "bold"),
                             f" {message.done}/{message.total} · chunk {message.chunk} ")
        text.append(message.status, style="green" if message.status == "ok" else "bold red")
        text.append(" · c cancels", style="dim")
        self.chunk_list.set_progress(text)
        if message.chunk == self.chunk:
            self._reload_current = True
        self._at_most_every("run-refresh", RUN_REFRESH_S, lambda: self._poll_worker(force=True))

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        if message.job != self._run_job:
            return
        self._run_running = False
        self.run_progress = None
        outcome: RunOutcome | None = message.outcome
        if outcome is not None:
            good = outcome.passed and outcome.status == "complete"
            self.chunk_list.set_progress(Text(outcome.text(), style="green" if good else "bold red"))
            notes = "".join(f"\nnote: {n}" for n in outcome.notes[:3])
            self.notify(outcome.text() + notes, title="Run finished", severity="information" if good else "warning",
                        timeout=10)
        elif message.cancelled:
            self.chunk_list.set_progress(Text("run cancelled: its committed chunks are kept; start the same run "
                                              "again to resume it", style="yellow"))
        else:
            self.chunk_list.set_progress(Text(f"run failed: {message.error}", style="bold red"))
            self.notify(message.error, title="Run failed", severity="error", timeout=20)
        self._reload_current = True
        self._poll_worker(force=True)

    # ---- plot -------------------------------------------------------------------------------------------------------
    def action_toggle_plot(self) -> None:
        """p: the error plot, the run's state trajectory, or its step latency (in turn)."""
        kinds = ("error", "state", "latency")
        self.plot_kind = kinds[(kinds.index(self.plot_kind) + 1) % len(kinds)] if self.plot_kind in kinds else "error"
        self.plot.show_kind(self.plot_kind)

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
        jobs = [b for b in screen if isinstance(b, Binding) and (b.id or "").split(".")[0] == "jobs"]
        other = [b for b in screen if isinstance(b, Binding) and (b.id or "").split(".")[0] in
                 ("select", "plot", "panel", "store", "app")]
        other += [Binding("tab,shift+tab", "", "Move the focus (chunk list, heatmap, contract panel)"),
                  Binding("ctrl+p", "", "Command palette"), Binding("q", "", "Quit")]
        return [("Chunks", chunk_keys), ("Tensors and views", tensor_keys), ("Heatmap cursor", heat_keys),
                ("Jobs on this chunk", jobs), ("Runs, streams, panels", other)]


def _error_text(exc: BaseException) -> str:
    """The message of one of our errors as it is (it says what to do); other exceptions with their type."""
    from backends.base import BackendError
    from contracts import ContractError
    from inspector.errors import InspectorError
    from store import StoreError

    if isinstance(exc, (InspectorError, BackendError, ContractError, StoreError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

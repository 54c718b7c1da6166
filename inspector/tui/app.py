"""The Textual inspector: `InspectorApp`, and the factories the `inspector tui` command, the demo and the tests use:
`make_app` (a store) and `make_open_app` (any path the app opens: a reference JSONL, converted while you browse, a
store, a report or summary imported into its store, or nothing: a picker over the folder).

Opening a path (`InspectorApp.open_path`): `inspector.tui.opening.plan_open` says what it takes; a conversion runs
in a thread worker (`inspector.tui.conversion.Conversion`) and posts its progress and the chunks it commits; the
main screen opens on the first committed chunk (at once when the store holds chunks already: a resumed or complete
conversion) and its chunk list grows as the others land; a report is imported once its store is ready.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Textual paints at most MAX_FPS frames a second (60: a step waited up to 17 ms for its frame). 120 halves that
# wait and costs nothing while nothing changes. Textual reads it once, when first imported (a user's value wins).
os.environ.setdefault("TEXTUAL_FPS", "120")

from textual import on, work  # noqa: E402
from textual.app import App  # noqa: E402
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header

from inspector.errors import InspectorError
from inspector.tui.commands import InspectorCommands
from inspector.tui.conversion import ChunksLanded, Conversion, ConversionDone, ConversionUpdate, ConvertStatus
from inspector.tui.data import InspectorData
from inspector.tui.opening import OpenPlan, plan_open
from inspector.tui.screens.converting import ConvertingScreen
from inspector.tui.screens.main import MainScreen, StartAt
from inspector.tui.screens.picker import PickerScreen
from inspector.tui.widgets.convert_progress import ConvertProgress
from inspector.tui.widgets.guard import Guarded, error_line, failing_widget, widget_name

LOG = logging.getLogger("inspector.tui")

CHUNK_REFRESH_S = 0.3
"""While chunks land, the chunk list re-reads the store at most this often."""
DONE_PANEL_S = 6.0
"""A conversion that ended cleanly leaves its panel up this long (with an error, skipped lines or warnings it
stays)."""


@dataclass(frozen=True)
class OpenRequest:
    """What `inspector tui` was asked to open, and how.

    Attributes:
        path: A reference JSONL, a store, a report or summary; None opens the picker over `folder`.
        folder: Where the picker looks.
        store: ``--store``: where a JSONL converts to (default beside it), or the store (or reference JSONL) a report
            is imported into.
        skip_invalid: Leave bad lines out of the conversion instead of stopping at the first.
        workers: Conversion worker processes (default: all cores).
        contract: The contract (object) for the app and the conversion's checks, or None.
        contract_ref: The contract as given (path or shipped name), for the importer.
        model: The ONNX export (runs, diagnostics, bundles).
        start: Where the main screen opens.
    """

    path: Path | None = None
    folder: Path = field(default_factory=Path.cwd)
    store: Path | None = None
    skip_invalid: bool = False
    workers: int | None = None
    contract: Any = None
    contract_ref: str | None = None
    model: Path | None = None
    start: StartAt = field(default_factory=StartAt)


@dataclass
class ImportDone(Message):
    """A report or summary was imported into the store (`outcome`), or could not be (`error`)."""

    outcome: Any = None
    stream: str | None = None
    error: str = ""


class InspectorApp(Guarded, App[None]):
    """Step through a store's chunks, see each run's errors as heatmaps, plots and contract verdicts.

    A widget that fails is reported (`widget_failed`: a notification naming it, the traceback in the log) and the
    app keeps running; see `inspector.tui.widgets.guard`.
    """

    CSS_PATH = "inspector.tcss"
    TITLE = "parity-inspector"
    COMMANDS = App.COMMANDS | {InspectorCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, data: InspectorData | None, start: StartAt | None = None, poll_interval: float = 5.0, *,
                 request: OpenRequest | None = None) -> None:
        super().__init__()
        self.data = data
        """The store adapter (the only object that reads the store); None until the store to show is ready."""
        self.start = start or (request.start if request is not None else StartAt())
        self.poll_interval = poll_interval
        self.request = request or OpenRequest()
        self.plan: OpenPlan | None = None
        self.conversion: Conversion | None = None
        """The conversion of the reference JSONL being opened, if any (its `status` is the latest state)."""
        self.user_error = ""
        """An error the user caused (a bad line, a refused store, a report that cannot be imported): after the app
        closes, `inspector tui` prints it and exits 2."""
        self.conversion_result: Any = None
        """The converter's `ConvertResult` once the conversion finished (chunks_before: resumed chunks)."""
        self.imported: Any = None
        """The `ImportOutcome` of the report opened, once imported."""
        self._panel: ConvertProgress | None = None
        self._refresh_due = False
        self.error_log = Path(tempfile.gettempdir()) / "parity-inspector-errors.log"
        """Where the traceback of a widget's failure is appended."""
        self.failures: list[tuple[str, str]] = []
        """(widget name, error) of every distinct failure reported so far (the tests read it)."""

    def widget_failed(self, widget: Any, error: BaseException) -> None:
        """Report that `widget` failed with `error`: logged with its traceback, notified once per distinct error;
        the app keeps running."""
        name = widget_name(widget)
        entry = (name, error_line(error))
        if entry in self.failures:  # a render that fails fails on every frame: say it once
            return
        self.failures.append(entry)
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        LOG.error("%s failed: %s\n%s", name, entry[1], trace)
        self.log.error(f"{name} failed: {entry[1]}\n{trace}")
        where = "the log"
        try:
            with open(self.error_log, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {name} failed\n{trace}\n")
            where = str(self.error_log)
        except OSError as exc:  # the notification still says what failed
            LOG.warning("could not write %s: %s", self.error_log, exc)
        self.notify(f"{entry[1]}\nThe app keeps running; the traceback is in {where}.",
                    title=f"{name} failed", severity="error", timeout=20)

    def _handle_exception(self, error: Exception) -> None:
        # Textual's default stops the app on any error. One raised by one of our widgets (a worker that exits on
        # error, a timer, a callback) is reported instead; anything else still stops it, with the exit code set.
        widget = failing_widget(error)
        if widget is not None and not isinstance(widget, Screen) and self.is_running:
            self.widget_failed(widget, error)
            return
        super()._handle_exception(error)

    def on_mount(self) -> None:
        if self.data is not None:
            self.push_screen(MainScreen(self.data, self.start, self.poll_interval))
        elif self.request.path is None:
            self.push_screen(PickerScreen(self.request.folder))
        else:
            self.open_path(self.request.path)

    # ---- opening a path ------------------------------------------------------------------------------------------
    @on(PickerScreen.Chosen)
    def _picked(self, message: PickerScreen.Chosen) -> None:
        self.open_path(message.path)

    def open_path(self, path: Path) -> bool:
        """Open `path` (see the module docstring); False, with the reason notified, when it cannot be opened."""
        try:
            plan = plan_open(path, self.request.store)
        except InspectorError as exc:
            self.notify(str(exc), title=f"Cannot open {path.name}", severity="error", timeout=30, markup=False)
            if not isinstance(self._top(), PickerScreen):  # nothing else to show: close, the command prints it
                self.user_error = str(exc)
                self.exit()
            return False
        self.plan = plan
        if plan.convert_from is not None:
            self._start_conversion(plan)
        elif plan.report is not None:
            self._import_worker(plan)
        else:
            self._show_main()
        return True

    def _start_conversion(self, plan: OpenPlan) -> None:
        assert plan.convert_from is not None
        self.conversion = Conversion(plan.convert_from, plan.store, self.post_message,
                                     skip_invalid=self.request.skip_invalid, workers=self.request.workers,
                                     contract=self.request.contract)
        if _has_chunks(plan.store):
            self._show_main()  # a resumed (or finished) conversion: browse what is there while the rest converts
        else:
            self._replace_top(ConvertingScreen(self.conversion.status))
        self.run_worker(self.conversion.run, name="conversion", group="conversion", thread=True,
                        exit_on_error=False)

    def _top(self) -> Screen[Any] | None:
        """The screen on top, or None once the app has closed (a worker's last messages may still arrive)."""
        return self.screen_stack[-1] if self.screen_stack else None

    def _replace_top(self, screen: Screen[Any]) -> None:
        """Show `screen`: in place of a main screen; over the picker or the converting screen, which stay below
        (switching them away as soon as the first chunk lands could remove them while their header is still
        mounting, which Textual does not survive)."""
        if isinstance(self._top(), MainScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def _show_main(self, start: StartAt | None = None) -> None:
        """Open the main screen on the plan's store, with the conversion panel on top while there is one."""
        assert self.plan is not None
        try:
            self.data = InspectorData.open(self.plan.store, contract=self.request.contract, model=self.request.model)
        except Exception as exc:  # noqa: BLE001 — a StoreError says what is wrong with the store; shown, app stays
            self.user_error = str(exc)
            self.notify(str(exc), title="Cannot open the store", severity="error", timeout=30, markup=False)
            return
        main = MainScreen(self.data, start or self.start, self.poll_interval)
        self._replace_top(main)
        if self.conversion is not None:
            self.call_after_refresh(self._mount_panel, main)

    def _mount_panel(self, main: MainScreen) -> None:
        panel = ConvertProgress(self.conversion.status if self.conversion else None, id="conversion")
        headers = main.query(Header)
        if headers:
            main.mount(panel, after=headers.first())
        else:
            main.mount(panel, before=0)
        self._panel = panel
        if self.conversion is not None and self._clean_end(self.conversion.status):
            self.set_timer(DONE_PANEL_S, self._drop_panel)

    @staticmethod
    def _clean_end(status: ConvertStatus) -> bool:
        """Ended with nothing to read in the panel (no error, no skipped line, no warning)."""
        return status.state in ("complete", "up-to-date", "cancelled") and not status.skipped and not status.warnings

    def _current_panel(self) -> ConvertProgress | None:
        screen = self._top()
        if isinstance(screen, ConvertingScreen):
            return screen.panel
        if self._panel is not None and self._panel.is_attached:
            return self._panel
        return None

    def _show_status(self, status: ConvertStatus) -> None:
        panel = self._current_panel()
        if panel is not None:
            panel.show(status)

    @on(ConversionUpdate)
    def _conversion_update(self, message: ConversionUpdate) -> None:
        self._show_status(message.status)

    @on(ChunksLanded)
    def _chunks_landed(self, message: ChunksLanded) -> None:
        self._show_status(message.status)
        if isinstance(self._top(), ConvertingScreen):
            self._show_main()  # the first chunk is in: show it while the rest converts
        else:
            self._refresh_chunks()

    def _refresh_chunks(self) -> None:
        """Have the main screen re-list its chunks, at most every `CHUNK_REFRESH_S` (chunks can land every few ms)."""
        if self._refresh_due:
            return
        self._refresh_due = True

        def fire() -> None:
            self._refresh_due = False
            try:
                main = self.main
            except LookupError:
                return
            main.refresh_chunks()

        self.set_timer(CHUNK_REFRESH_S, fire)

    @on(ConversionDone)
    def _conversion_done(self, message: ConversionDone) -> None:
        status = message.status
        self.conversion_result = message.result
        if status.state in ("stopped", "refused", "failed"):
            self.user_error = status.error
        if status.chunks and isinstance(self._top(), ConvertingScreen):
            self._show_main()
        else:
            self._show_status(status)
            self._refresh_chunks()
            try:
                self.main.recheck_store()  # its banner said "being converted now"
            except LookupError:
                pass
        if status.state in ("complete", "up-to-date") and self.plan is not None and self.plan.report is not None:
            self._import_worker(self.plan)
        elif self.plan is not None and self.plan.report is not None:
            self.notify(f"{self.plan.report.name} was not imported: the reference's conversion did not finish.",
                        title="Import", severity="warning", timeout=20, markup=False)
        if self._clean_end(status):
            self.set_timer(DONE_PANEL_S, self._drop_panel)

    def _drop_panel(self) -> None:
        if self._panel is not None and self._panel.is_attached:
            self._panel.remove()
        self._panel = None

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def _import_worker(self, plan: OpenPlan) -> None:
        from inspector.importers.record import import_file
        from store import Store

        assert plan.report is not None
        try:
            outcome = import_file(plan.report, plan.store, contract=self.request.contract_ref)
            stream = Store.open(plan.store).run(outcome.run_id).record.stream
        except Exception as exc:  # noqa: BLE001 — InspectorError/StoreError/ContractError say what to do; shown
            self.post_message(ImportDone(error=str(exc)))
            return
        self.post_message(ImportDone(outcome, stream))

    @on(ImportDone)
    def _import_done(self, message: ImportDone) -> None:
        assert self.plan is not None and self.plan.report is not None
        name = self.plan.report.name
        if message.error:
            self.user_error = f"{name} could not be imported: {message.error}"
            self.notify(self.user_error, title="Import failed", severity="error", timeout=60, markup=False)
            if self.data is None:
                self._show_main()
            return
        outcome = message.outcome
        self.imported = outcome
        again = " (imported before: the same run)" if outcome.already else ""
        self.notify("\n".join(outcome.lines[:6]), title=f"{name}: {outcome.outcome.upper()}{again}",
                    severity="error" if outcome.failed else "information", timeout=20, markup=False)
        # a fresh main screen on the imported run (also when one is open: its run list and chunk list are new)
        self._show_main(StartAt(stream=message.stream, run=outcome.run_id, chunk=self.start.chunk,
                                tensor=self.start.tensor))

    def action_quit(self) -> None:
        """Quit; a conversion in progress stops at its next line and keeps every chunk it committed."""
        if self.conversion is not None:
            self.conversion.cancel()
        self.exit()

    def on_unmount(self) -> None:
        if self.conversion is not None:  # closed some other way than q: the conversion must not outlive the app
            self.conversion.cancel()

    @property
    def main(self) -> MainScreen:
        """The main screen (also while a modal is on top of it)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not open")

    def action_help(self) -> None:
        from inspector.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(MainScreen.help_sections()))


def make_app(store: str | Path | Any, contract: Any = None, model: str | Path | None = None, *,
             stream: str | None = None, run: str | None = None, chunk: int | None = None,
             tensor: str | None = None, poll_interval: float = 5.0) -> InspectorApp:
    """Build the inspector for a store path (or an open `store.Store`).

    Args:
        store: Path of the store, or an open store.
        contract: Contract object, path or shipped name (default: the one the store names, if any).
        model: The ONNX export, for runs started from the app (R), the diagnostics (d, i) and the bundle's backend
            outputs (b); recorded runs are browsed without it.
        stream, run, chunk, tensor: Where to open (defaults: first stream, newest run with saved outputs, first
            chunk, the frames output).
        poll_interval: Seconds between checks for new results in the store (0: never; tests use 0).

    Raises:
        store.StoreError: The store cannot be opened.
    """
    if isinstance(store, (str, Path)):
        data = InspectorData.open(store, contract=contract, model=model)
    else:
        data = InspectorData(store, contract=contract, model=model)
    return InspectorApp(data, StartAt(stream=stream, run=run, chunk=chunk, tensor=tensor), poll_interval)


class AppStopped(InspectorError):
    """The app stopped on an error it could not recover from (its traceback was printed above): exit code 3."""

    exit_code = 3


def run_checked(app: App[Any], **run_options: Any) -> None:
    """Run `app` until it exits; raise `AppStopped` when it stopped on an error rather than on the user's quit
    (Textual itself would return normally, and the command exit 0).

    Raises:
        AppStopped: with the error's message.
    """
    app.run(**run_options)
    error = getattr(app, "_exception", None)
    if app.return_code or error is not None:
        what = f"{type(error).__name__}: {error}" if error is not None else f"return code {app.return_code}"
        raise AppStopped(f"the inspector stopped on an error ({what}); its traceback is printed above. Nothing in "
                         "the store was changed by it: open the store again to carry on.")


def exit_now() -> None:
    """End the process at once with status 0, output flushed: what the command line does after a clean quit.

    Python's own teardown takes 3-6 s once a job imported torch (measured on the 2-core VM: `import torch`, a few
    matmuls in a thread, then exit), and there is nothing left for it to do: Textual has joined the worker threads
    when `app.run()` returns (a cancelled run stops after its chunk) and every store write is committed by an
    atomic rename. Never call it from a test or a library.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said there anyway
            pass
    os._exit(0)


def make_open_app(request: OpenRequest, poll_interval: float = 5.0) -> InspectorApp:
    """Build the inspector for `request` (a reference JSONL, a store, a report or summary, or None for the picker);
    what `inspector tui PATH` runs. The path is only planned when the app mounts: call `plan_open` first to
    report a bad path before the app starts (the command does)."""
    from inspector.tui.conversion import prepare_workers

    prepare_workers()  # while stderr is still the terminal's (see there)
    return InspectorApp(None, request.start, poll_interval, request=request)


def _has_chunks(store: Path) -> bool:
    """Whether `store` is a store holding at least one committed chunk."""
    from store import Store, StoreError

    try:
        st = Store.open(store)
        return any(st.chunk_indices(s) for s in st.streams())
    except (StoreError, OSError):
        return False


def run_app(store: str | Path, contract: Any = None, model: str | Path | None = None, **start: Any) -> None:
    """Open the inspector on `store` in this terminal and return when the user quits (what `inspector tui` and
    `inspector demo` call). Keyword arguments are `make_app`'s (stream, run, chunk, tensor, poll_interval).

    Raises:
        AppStopped: The app stopped on an error.
    """
    run_checked(make_app(store, contract=contract, model=model, **start))

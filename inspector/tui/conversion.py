"""The conversion the app runs when it opens a reference JSONL: `store.convert.convert` (its worker processes parse
on all cores, as `inspector convert` does) driven from a thread, reporting progress and each committed chunk to the
UI as messages.

`Conversion.run` blocks (call it in a thread worker). It posts `ConversionUpdate` a few times a second with the
bytes done, the speed over the last seconds and the chunks committed; `ChunksLanded` as soon as the first chunk is
committed and then in batches (a committed chunk is complete in the store and can be read at once); and one
`ConversionDone` at the end, with the converter's result or its one-paragraph error. `cancel()` stops it at the next
line: the converter records the store as interrupted and keeps every committed chunk, so the next open resumes.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from store.api import StoreError
from store.errors import JsonlError
from store.progress import Progress

LOG = logging.getLogger("inspector.tui")
RATE_WINDOW_S = 5.0
"""The speed shown is over this many seconds (lines resumed from an earlier run count instantly: a window keeps them
from inflating the figure for long)."""
UPDATE_EVERY_S = 0.1
LANDED_EVERY_S = 0.2


class ConversionCancelled(Exception):
    """Raised inside the converter's thread to stop it (the converter keeps what it committed)."""


@dataclass(frozen=True)
class ConvertStatus:
    """Where a conversion stands.

    Attributes:
        source: The reference JSONL.
        store: The store it converts into.
        total: Bytes of the file.
        done: Bytes handled so far (lines converted by an earlier run included).
        rate: Bytes per second over the last `RATE_WINDOW_S` seconds.
        chunks: Chunks in the store (earlier runs' included).
        state: ``starting``, ``converting``, ``complete``, ``up-to-date``, ``stopped`` (a bad line or file),
            ``refused`` (the store cannot be used: another file's, being written), ``cancelled`` or ``failed`` (an
            unexpected error).
        error: The converter's one-paragraph message when stopped or failed.
        skipped: Lines left out with --skip-invalid (error dicts: line, stream, chunk, tensor, problem).
        warnings: Problems that did not lose the line (gaps, disorder).
        seconds: Time since the start.
    """

    source: Path
    store: Path
    total: int = 0
    done: int = 0
    rate: float = 0.0
    chunks: int = 0
    state: str = "starting"
    error: str = ""
    skipped: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0

    @property
    def running(self) -> bool:
        return self.state in ("starting", "converting")

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed (None while unknown)."""
        if not self.running or self.rate <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


@dataclass
class ConversionUpdate(Message):
    """Progress of the conversion."""

    status: ConvertStatus


@dataclass
class ChunksLanded(Message):
    """Chunks committed since the last one of these (stream, index), readable in the store now."""

    status: ConvertStatus
    landed: tuple[tuple[str, int], ...]


@dataclass
class ConversionDone(Message):
    """The conversion ended: complete, up to date, stopped at a bad line, cancelled or failed."""

    status: ConvertStatus
    result: Any = None
    """`store.convert.ConvertResult` when it finished."""


class _Meter(Progress):
    """The converter's progress object, reporting to the `Conversion` instead of a terminal."""

    def __init__(self, total: int, on_advance: Callable[[], None]) -> None:
        super().__init__(total, enabled=False)
        self._on_advance = on_advance

    def advance(self, nbytes: int, lines: int = 1) -> None:
        self.done += nbytes
        self.lines += lines
        self._on_advance()

    def note(self, text: str) -> None:
        """Skipped lines and warnings come back in the result (and the store's attrs); nothing to print."""


@dataclass
class Conversion:
    """One conversion of `source` into `store`, run by `run()` in a worker thread.

    Args:
        source: The reference JSONL.
        store: The store to create or resume.
        post: Delivers a message to the UI (`App.post_message`, which is thread-safe).
        skip_invalid: Leave bad lines out instead of stopping at the first (``--skip-invalid``).
        workers: Worker processes (default: all cores).
        contract: Contract to check every tensor against (what `convert --contract` does), or None.
    """

    source: Path
    store: Path
    post: Callable[[Message], Any]
    skip_invalid: bool = False
    workers: int | None = None
    contract: Any = None
    status: ConvertStatus = field(init=False)
    finished: threading.Event = field(init=False, default_factory=threading.Event)
    crash: BaseException | None = field(init=False, default=None)
    """An unexpected exception (not a bad line or store): the command re-raises it after the app closes."""

    def __post_init__(self) -> None:
        self.status = ConvertStatus(self.source, self.store)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._landed: list[tuple[str, int]] = []
        self._last_update = 0.0
        self._last_landed = 0.0
        self._meter: _Meter | None = None

    def cancel(self) -> None:
        """Stop at the next line (committed chunks stay; the next open resumes)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # ---- the worker thread --------------------------------------------------------------------------------------
    def run(self) -> None:
        """Convert, posting messages; returns when the conversion ends (never raises: the end is a message)."""
        result = None
        _lower_priority()
        try:
            from store.convert import convert

            total = self.source.stat().st_size
            self._set(total=total, chunks=_chunks_in(self.store), state="converting")
            self._meter = _Meter(total, self._advanced)
            self._post_update(force=True)
            result = convert(self.source, self.store, contract=self.contract, workers=self.workers,
                             skip_invalid=self.skip_invalid, progress=self._meter, on_chunk=self._chunk_committed)
        except ConversionCancelled:
            self._set(state="cancelled")
        except JsonlError as exc:  # a bad line or file: the CLI's paragraph, verbatim
            self._set(state="stopped", error=str(exc), chunks=_chunks_in(self.store))
        except StoreError as exc:  # the store cannot be used (another file's, being written, not a store)
            self._set(state="refused", error=str(exc), chunks=_chunks_in(self.store))
        except Exception as exc:  # noqa: BLE001 — shown in the app, and re-raised by the command once it closes
            self.crash = exc
            self._set(state="failed", error=f"the conversion failed unexpectedly: {type(exc).__name__}: {exc}",
                      chunks=_chunks_in(self.store))
        else:
            self._set(state=result.status, chunks=result.chunks_total, skipped=tuple(result.skipped),
                      warnings=tuple(result.warnings), done=self.status.total)
        finally:
            self._flush_landed()
            self._set(seconds=time.monotonic() - self._t0)
            self.post(ConversionDone(self.status, result))
            self.finished.set()

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self.status = replace(self.status, **changes)

    def _advanced(self) -> None:
        if self._cancel.is_set():
            raise ConversionCancelled()
        assert self._meter is not None
        now = time.monotonic()
        done = self._meter.done
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        t_first, d_first = self._samples[0]
        rate = (done - d_first) / (now - t_first) if now > t_first else 0.0
        self._set(done=done, rate=rate, seconds=now - self._t0)
        self._post_update()

    def _chunk_committed(self, stream: str, index: int) -> None:
        self._set(chunks=self.status.chunks + 1)
        with self._lock:
            self._landed.append((stream, index))
            first = self._last_landed == 0.0
        if first or time.monotonic() - self._last_landed >= LANDED_EVERY_S:
            self._flush_landed()  # the first chunk at once: it is what the user waits for
        if self._cancel.is_set():
            raise ConversionCancelled()

    def _flush_landed(self) -> None:
        with self._lock:
            landed, self._landed = tuple(self._landed), []
        self._last_landed = time.monotonic()
        if landed:
            self.post(ChunksLanded(self.status, landed))

    def _post_update(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_update >= UPDATE_EVERY_S:
            self._last_update = now
            self.post(ConversionUpdate(self.status))
            if self._landed and now - self._last_landed >= LANDED_EVERY_S:
                self._flush_landed()


CONVERT_NICENESS = 5


def _lower_priority() -> None:
    """Give this thread, and the worker processes it starts (they inherit it), a lower CPU priority than the UI.

    On a busy machine the parse processes would otherwise take the cores from the UI thread: the first chunk was
    committed in 3 s but painted 5 s later with 2 cores under load 10 (`bench/tui_open.py`). A nice value only
    yields to other work; on idle cores the conversion runs at full speed. Linux sets it per thread; elsewhere this
    does nothing.
    """
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CONVERT_NICENESS)
    except OSError as exc:  # not permitted: the conversion still runs, at normal priority
        LOG.info("conversion keeps normal CPU priority: %s", exc)


def prepare_workers() -> None:
    """Start multiprocessing's resource tracker now, before the app runs: the converter's worker pool needs it,
    and launching it passes this process's stderr on, which Textual replaces (with no file descriptor) while the
    app runs; the launch then fails ("bad value(s) in fds_to_keep"). Started once, it serves every pool after."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def _chunks_in(store: Path) -> int:
    """Committed chunks in `store` (0 when there is no store yet)."""
    from store import Store, StoreError

    try:
        st = Store.open(store)
        return sum(st.num_chunks(s) for s in st.streams())
    except (StoreError, OSError):
        return 0


__all__ = ["ChunksLanded", "Conversion", "ConversionCancelled", "ConversionDone", "ConversionUpdate",
           "ConvertStatus", "prepare_workers"]

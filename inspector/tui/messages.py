"""Messages that workers post to the UI thread (`post_message` is thread-safe; nothing else in a worker touches
widgets). Widget-local messages (`Heatmap.CursorMoved`, `ChunkList.ChunkChosen`) live with their widgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from inspector.tui.imaging import HeatImage
from inspector.tui.records import ChunkRecord, RuleRow, RunInfo
from inspector.tui.tensors import TensorPair


@dataclass
class RowsLoaded(Message):
    """The chunk list's data for a stream: every chunk index and every run's record of it."""

    stream: str
    indices: list[int]
    runs: list[RunInfo]
    records: dict[str, dict[int, ChunkRecord]]
    generation: int


@dataclass
class ChunkLoaded(Message):
    """One chunk's selected tensor (and its heatmap image, when the worker could make it) is ready."""

    pair: TensorPair
    image: HeatImage | None
    chunk_rules: tuple[RuleRow, ...]
    run_rules: tuple[RuleRow, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    request: int = 0
    status: str = ""
    error: str = ""
    state: Any = None
    """The run's `records.ChunkState` for the chunk (closed loop), or None."""


@dataclass
class LoadFailed(Message):
    """A worker could not read what it was asked for (the message says which stream/chunk/tensor and why)."""

    what: str
    error: str


@dataclass
class SeriesLoaded(Message):
    """Per-chunk values of one tensor's metric over a run, for the error plot."""

    run_id: str
    tensor: str
    metric: str
    xs: list[int]
    ys: list[float]
    thresholds: list[tuple[str, float]]
    other: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    trajectory: Any = None
    """The run's `inspector.state.trajectory.Trajectory` (None: it recorded none)."""
    state_title: str = ""
    label: str = ""
    """The run's legend entry (`inspector.tui.data.distinct_labels`)."""


@dataclass
class StoreChanged(Message):
    """New runs or new chunk results appeared in the store (a batch run writing while the app is open)."""


@dataclass
class DiagnosticProgress(Message):
    """Progress of a diagnostic running in a worker: `done` of `total` steps (0 of 0: not countable), and what it
    does now."""

    job: int
    done: int
    total: int
    text: str = ""


@dataclass
class DiagnosticFinished(Message):
    """A diagnostic's end: its result (`inspector.tui.jobs.Diagnosis`), or why it could not run (`error`, the
    package's own message: it says what to pass or install), or that it was cancelled."""

    job: int
    name: str
    title: str
    result: Any = None
    error: str = ""
    cancelled: bool = False


@dataclass
class RunStarted(Message):
    """A run started from the app has its id (the engine opened it in the store)."""

    job: int
    run_id: str


@dataclass
class RunProgress(Message):
    """A run started from the app committed chunk `chunk` (`done` of `total`) with status `status`."""

    job: int
    done: int
    total: int
    chunk: int
    status: str
    text: str = ""


@dataclass
class RunFinished(Message):
    """A run started from the app ended: its `inspector.tui.jobs.RunOutcome`, or the error that stopped it."""

    job: int
    outcome: Any = None
    error: str = ""
    cancelled: bool = False


@dataclass
class StoreCondition(Message):
    """What is wrong with the store as a whole (`InspectorData.condition`): (severity, text) items."""

    items: list[tuple[str, str]]

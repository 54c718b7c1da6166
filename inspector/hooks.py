"""What a run is (`RunSpec`, `RunInfo`) and what a chunk hook sees (`ChunkEvent`, `ChunkHook`).

Their own module so the hooks (`inspector.state`'s trajectory and probe, the app's watchers) depend on these types,
not on the engine that calls them; `inspector.engine` re-exports them for callers that import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from backends.base import Backend, BackendInfo
from contracts.model import Contract
from inspector.acceptance import Verdict


# --- hooks -----------------------------------------------------------------------------------------------------------

@dataclass
class ChunkEvent:
    """What a `ChunkHook` sees for one chunk (on the inference thread, right after the backend ran).

    Attributes:
        stream, index, mode: Where we are.
        feeds: What the backend was fed (reference names, model layout).
        outputs: What it returned (reference names, model layout); empty if it raised.
        expected: Reference (or baseline) outputs, model layout.
        state: Closed loop: the state the backend carries into the next chunk (opaque; `backend.state_arrays(state)`
            gives host arrays). None in functional mode.
        backend: The active backend (hooks may run extra chunks on it, e.g. a state probe).
        error: The backend's exception text, if it raised.
    """

    stream: str
    index: int
    mode: str
    feeds: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    expected: Mapping[str, np.ndarray]
    state: Any
    backend: Backend
    error: str | None = None


class ChunkHook:
    """Per-chunk extra recorder. Subclass and override what you need; every method is optional.

    The values `chunk` returns are stored in the chunk record under ``extra[hook.name]`` (JSON-ready values only);
    `verdicts` adds rules to the run's verdicts (a verdict whose rule id equals a contract acceptance id, e.g.
    ``state_carried``, replaces the engine's "not evaluated" placeholder for it).
    """

    name: str = "hook"

    def start(self, run: "RunInfo") -> None:
        """Called once before the first chunk (also when a run is resumed)."""

    def chunk(self, event: ChunkEvent) -> Mapping[str, Any] | None:
        """Called for every chunk that is recorded (not for replayed ones)."""
        return None

    def replay(self, event: ChunkEvent) -> None:
        """Called for chunks replayed on resume (already recorded), so a hook can rebuild its own state."""

    def verdicts(self, records: Sequence[Mapping[str, Any]], run: "RunInfo") -> Iterable[Verdict]:
        """Called once at the end with every chunk record of the run (resumed ones included)."""
        return ()


# --- what a run is ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One backend × mode over one stream's chunks."""

    backend: str
    mode: str
    stream: str
    chunks: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    baseline_options: Mapping[str, Any] = field(default_factory=dict)
    save_outputs: bool | str = False
    """Whose outputs to store: ``"failing"``, ``"all"`` (or True), ``"none"`` (or False)."""
    resume: bool = True
    reuse_complete: bool = False
    """Also "resume" a *complete* run of the same configuration: nothing runs, every chunk is replayed and judged
    again (what `inspector demo` does, so reruns neither repeat work nor pile up identical runs)."""


@dataclass(frozen=True)
class RunInfo:
    """Identity of a run as hooks and reports see it."""

    run_id: str
    spec: RunSpec
    contract: Contract
    backend_info: BackendInfo
    baseline_info: BackendInfo | None
    reference: Mapping[str, Any]
    model: str
    model_sha256: str


__all__ = ["ChunkEvent", "ChunkHook", "RunInfo", "RunSpec"]

"""Units of work for a batch: one backend configuration × mode × stream (× chunk range for functional runs).

A unit is the smallest piece an executor schedules. The run API (`inspector.api`) cuts a batch into units and hands
them to an executor (`inspector.executors`: ``local`` in process, ``ray`` on actors); each unit is run by
`inspector.api.run_unit`, which records its chunks in the store exactly as a local run does, so a unit that is
interrupted and run again resumes from the store's committed chunks.

Everything here is plain, frozen and picklable: units and jobs travel to Ray actors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class BatchJob:
    """What every unit of one batch shares (paths are absolute strings so that workers on other hosts see them).

    Attributes:
        store: The store directory; it must be on a filesystem every worker sees.
        model: The ONNX export (torch backends: see `inspector.api`).
        contract: Path of the contract file the batch is judged with (or a shipped contract's bare name).
        save_outputs: ``"failing"`` (default: outputs of failing chunks), ``"all"`` or ``"none"``.
        baseline: A backend whose outputs replace the reference, or ``""``.
        baseline_options: That backend's options.
        resume: Continue an interrupted run of the same identity.
        reuse_complete: Re-judge a complete run of the same identity from its records instead of running again.
        attribute: Attribute the first failing chunk of each failing run (precision or bug).
        contract_object: The `Contract` itself when it is not what `contract` names (one edited in memory): units
            use it instead of loading `contract`. None: units load `contract`.
    """

    store: str
    model: str
    contract: str
    save_outputs: str = "failing"
    baseline: str = ""
    baseline_options: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = True
    reuse_complete: bool = False
    attribute: bool = False
    contract_object: Any = None


@dataclass(frozen=True)
class Unit:
    """One backend configuration × mode × stream, optionally a chunk range of a functional run.

    Attributes:
        backend: Registry name, e.g. ``"ort-cuda"``.
        options: The backend's options (``{"use_tf32": 0}``), JSON-ready scalars only.
        mode: ``"functional"`` or ``"closed-loop"``.
        stream: The stream's name in the store.
        chunks: The chunk indices to run; empty = every chunk of the stream. A closed-loop unit is never split.
    """

    backend: str
    options: Mapping[str, Any]
    mode: str
    stream: str
    chunks: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        span = f" chunks {self.chunks[0]}..{self.chunks[-1]}" if self.chunks else ""
        return f"{self.backend}{' ' + opts if opts else ''} {self.mode} {self.stream}{span}"


@dataclass(frozen=True)
class UnitOutcome:
    """What a unit's run returns to the driver (JSON-ready; the full records stay in the store).

    Attributes:
        unit: The unit.
        run_id: The run's id in the store ("" if it never started).
        status: ``pass``, ``fail``, ``undetermined`` or ``error`` (the unit could not run: `error` says why).
        chunks_checked: How many chunks were judged.
        error: Exception type and message when the unit could not run.
        host: Hostname of the worker that ran it.
        device: The device it ran on (``cpu``, ``cuda:0`` …) as the backend reports it.
        summary: The run's summary document (as `inspector.engine.run_summary` builds it), if it ran.
    """

    unit: Unit
    run_id: str = ""
    status: str = "error"
    chunks_checked: int = 0
    error: str = ""
    host: str = ""
    device: str = ""
    summary: Mapping[str, Any] = field(default_factory=dict)

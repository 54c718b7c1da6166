"""The local executor: every unit in this process, one after another (what `inspector run --batch` always did)."""

from __future__ import annotations

import os
import socket
from typing import Sequence

from inspector.executors import Log, Progress, RunUnit
from inspector.executors.unit_call import call_unit
from inspector.units import BatchJob, Unit, UnitOutcome


def execute_local(units: Sequence[Unit], job: BatchJob, run_unit: RunUnit, *, progress: Progress | None = None,
                  log: Log | None = None) -> list[UnitOutcome]:
    """Run `units` in order in this process (see `inspector.executors.execute`)."""
    if progress:
        progress({"event": "workers", "workers": [{"pid": os.getpid(), "host": socket.gethostname(), "gpus": []}]})
    return [call_unit(job, unit, run_unit, progress=progress, log=log) for unit in units]

"""Calling the run API for one unit, wherever it runs: exceptions become the unit's error outcome (never silence).

A unit that raises is not retried here: an exception (bad model, out of GPU memory, a backend that refuses an
option) is something a restart cannot fix, so the unit ends with the error in its outcome and the batch goes on. A
worker process that dies (SIGKILL, a segfault) is another matter: Ray restarts it and runs the unit again, and the
unit resumes from the store's committed chunks.
"""

from __future__ import annotations

import inspect
import os
import socket
from typing import Any, Callable

from inspector.units import BatchJob, Unit, UnitOutcome


def worker_identity() -> dict[str, Any]:
    """Host, pid and the GPUs this process may use (what a run records about where it ran)."""
    gpus: list[Any] = []
    try:
        import ray

        if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
            gpus = [str(g) for g in ray.get_gpu_ids()]
    except ImportError:  # Ray is an optional extra; without it no process of ours is a Ray worker.
        pass
    return {"host": socket.gethostname(), "pid": os.getpid(), "gpus": gpus,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def call_unit(job: BatchJob, unit: Unit, run_unit: Callable[..., UnitOutcome], *, progress: Callable[[dict[str, Any]], None] | None = None,
              log: Callable[[str], None] | None = None, executor: str = "local") -> UnitOutcome:
    """`run_unit` (`inspector.api.run_unit`) for `unit`, its exceptions turned into an ``error`` outcome naming them."""
    from dataclasses import replace

    where = worker_identity()
    where["executor"] = executor

    def chunk_progress(done: int, total: int, *_record: Any) -> None:
        if progress:
            progress({"event": "chunk", "unit": unit.label, "done": done, "total": total, "pid": where["pid"],
                      "host": where["host"]})

    kwargs: dict[str, Any] = {"progress": chunk_progress, "log": log}
    if "worker" in inspect.signature(run_unit).parameters:
        kwargs["worker"] = where
    try:
        out = run_unit(job, unit, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an outcome, reported with its type and message, never dropped
        out = UnitOutcome(unit=unit, status="error", error=f"{type(exc).__name__}: {exc}")
    device = out.device or (f"cuda:{','.join(where['gpus'])}" if where["gpus"] else out.device)
    out = replace(out, host=out.host or where["host"], device=device)
    if progress:
        progress({"event": "unit", "unit": unit.label, "status": out.status, "run_id": out.run_id,
                  "host": out.host, "error": out.error})
    return out

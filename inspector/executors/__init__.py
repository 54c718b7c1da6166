"""Executors: where a batch's units run.

``local`` runs them one after another in this process (the default, and what CI uses). ``ray`` runs them on Ray
actors, on this machine or on a cluster (`inspector.executors.ray_exec`). Both call the same
`inspector.api.run_unit`, which records each chunk in the store as it commits, so what a batch records does not depend
on the executor, and a unit interrupted anywhere resumes from the store's committed chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from inspector.errors import InspectorError
from inspector.units import BatchJob, Unit, UnitOutcome

Progress = Callable[[dict[str, Any]], None]
"""Receives events: ``{"event": "workers", "workers": [{"pid", "host", "gpus"}, ...]}``, ``{"event": "chunk",
"unit": label, "done": n, "total": m}``, ``{"event": "unit", "unit": label, "status": ...}``."""

Log = Callable[[str], None]

RunUnit = Callable[..., UnitOutcome]
"""`inspector.api.run_unit`: ``run_unit(job, unit, *, progress, log[, worker]) -> UnitOutcome``. The run API passes it
in (executors sit below the run API and never import it); Ray ships it to the actors by reference."""


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed ``--executor`` value.

    Attributes:
        kind: ``local`` or ``ray``.
        address: For ray: ``""`` (start a local Ray), ``auto`` (join the cluster this machine belongs to), or
            ``ray://HOST:PORT`` / ``HOST:PORT``.
    """

    kind: str
    address: str = ""


def parse_executor(text: str) -> ExecutorSpec:
    """``local`` | ``ray`` | ``ray:auto`` | ``ray:ray://HOST:PORT`` | ``ray:HOST:PORT`` → `ExecutorSpec`.

    Raises:
        InspectorError: Anything else.
    """
    text = (text or "local").strip()
    if text == "local":
        return ExecutorSpec("local")
    if text == "ray":
        return ExecutorSpec("ray")
    if text.startswith("ray:"):
        address = text[4:].strip()
        if not address:
            raise InspectorError("--executor ray: needs an address after the colon (ray:auto, ray:ray://HOST:10001 "
                                 "or ray:HOST:6379), or plain `ray` to start Ray on this machine.")
        return ExecutorSpec("ray", address)
    raise InspectorError(f"--executor {text!r}. Note: valid choices are local, ray (a Ray started on this machine), "
                         "ray:auto (the cluster this machine belongs to) and ray:ray://HOST:PORT (a remote cluster).")


def execute(units: Sequence[Unit], job: BatchJob, executor: str | ExecutorSpec = "local", workers: int = 1,
            gpus_per_worker: float = 0.0, progress: Progress | None = None, *, run_unit: RunUnit,
            log: Log | None = None, ray_temp_dir: str | None = None, max_unit_retries: int = 4) -> list[UnitOutcome]:
    """Run every unit and return their outcomes in the order given.

    Args:
        units: The batch's units (`inspector.api` cuts them).
        job: What the units share (store, model, contract …).
        executor: ``local``, ``ray`` or ``ray:ADDRESS`` (see `parse_executor`).
        workers: Ray actors to start (ignored by ``local``).
        gpus_per_worker: GPU share each Ray actor asks for (0 = CPU actors; 0.5 = two actors share a GPU).
        progress: Receives progress events (see `Progress`).
        run_unit: What runs one unit (`inspector.api.run_unit`).
        log: Where messages go.
        ray_temp_dir: Ray's temporary folder when it is started here (default: Ray's own).
        max_unit_retries: How often a unit whose worker died is started again before it ends with an error.

    Returns:
        One `UnitOutcome` per unit. A unit that could not run has status ``error`` and says why; the others complete.

    Raises:
        InspectorError: Bad executor settings, Ray missing, a cluster that cannot be reached or cannot see the store.
    """
    spec = executor if isinstance(executor, ExecutorSpec) else parse_executor(executor)
    if workers < 1:
        raise InspectorError(f"--workers {workers}: needs at least 1.")
    if gpus_per_worker < 0:
        raise InspectorError(f"--gpus-per-worker {gpus_per_worker}: cannot be negative (0 = CPU workers, 0.5 = two "
                             "workers share one GPU, 1 = one GPU each).")
    if spec.kind == "local":
        from inspector.executors.local import execute_local

        return execute_local(units, job, run_unit, progress=progress, log=log)
    from inspector.executors.ray_exec import execute_ray

    return execute_ray(units, job, run_unit, address=spec.address, workers=workers, gpus_per_worker=gpus_per_worker,
                       progress=progress, log=log, temp_dir=ray_temp_dir, max_unit_retries=max_unit_retries)

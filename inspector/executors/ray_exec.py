"""The Ray executor: a batch's units on Ray actors, on this machine or on a cluster.

Why Ray (measured, see shared/DESIGN.md): actors declared with ``max_restarts=-1`` survive a SIGKILL and Ray runs
the interrupted call again on the restarted actor; GPU shares per actor (``num_gpus=0.5``) let several sessions
share one device; Dask restarts no actors and pins no GPUs without dask-cuda.

How nothing is lost: every chunk a unit runs is committed to the store by `inspector.api.run_unit` as it finishes
(the engine's atomic chunk commits). A worker killed mid-unit is restarted by Ray, which calls the unit again, and
the unit resumes from the store's committed chunks, so each chunk is recorded exactly once. A driver killed and run
again resumes the same way. A unit that raises (bad model, out of GPU memory) ends with its error; the others go on.

The store must be on a filesystem every worker sees (one machine: any folder; a cluster: NFS, Lustre, a shared
volume in KubeRay). `execute_ray` checks that each worker can write and read it before any unit runs.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from inspector.errors import InspectorError
from inspector.executors import Log, Progress, RunUnit
from inspector.units import BatchJob, Unit, UnitOutcome

_POLL_S = 0.25


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise InspectorError("--executor ray needs Ray: `pip install \"parity-inspector[ray]\"` (or `pip install "
                             "ray`). The default `--executor local` needs nothing more.") from exc
    return ray


def _classes(ray: Any) -> tuple[Any, Any]:
    """The actor classes, defined once Ray is imported (Ray is an optional extra)."""

    class ProgressBoard:
        """Collects workers' progress events; the driver drains them while it waits."""

        def __init__(self) -> None:
            self.events: list[dict[str, Any]] = []

        def put(self, event: dict[str, Any]) -> None:
            self.events.append(event)

        def drain(self) -> list[dict[str, Any]]:
            out, self.events = self.events, []
            return out

    class UnitWorker:
        """One worker process: runs units one at a time through the run API."""

        def identity(self) -> dict[str, Any]:
            from inspector.executors.unit_call import worker_identity

            return worker_identity()

        def probe_store(self, store: str) -> str:
            """"" when this worker can write and read `store`, else why not."""
            path = Path(store)
            if not path.is_dir():
                return f"{store} is not a folder this worker can see"
            probe = path / f".worker-probe-{uuid.uuid4().hex}"
            try:
                probe.write_text("ok")
                ok = probe.read_text() == "ok"
                probe.unlink()
            except OSError as exc:
                return f"{type(exc).__name__}: {exc}"
            return "" if ok else "a file written there read back differently"

        def run(self, job: BatchJob, unit: Unit, run_unit: RunUnit, board: Any) -> UnitOutcome:
            from inspector.executors.unit_call import call_unit

            return call_unit(job, unit, run_unit, progress=lambda ev: board.put.remote(ev), executor="ray")

    return ray.remote(ProgressBoard), ray.remote(UnitWorker)


def _start(ray: Any, address: str, workers: int, temp_dir: str | None, log: Log) -> bool:
    """Start or join Ray; True when this call started it (and so shuts it down)."""
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING",
             "configure_logging": True}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:  # noqa: BLE001 - re-raised as the user's error, with the address and the cause
            raise InspectorError(f"--executor ray:{address}: could not join the Ray cluster ({type(exc).__name__}: "
                                 f"{exc}). Start one with `ray start --head` (or point at a KubeRay head service "
                                 "as ray://HOST:10001), or use plain `--executor ray` to start Ray on this "
                                 "machine.") from exc
        log(f"ray: joined the cluster at {address}")
        return True
    kwargs: dict[str, Any] = dict(quiet)
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        kwargs["_temp_dir"] = str(Path(temp_dir).resolve())
    # Bound to loopback: a local Ray serves nobody else.
    ray.init(address="local", _node_ip_address="127.0.0.1", **kwargs)
    log(f"ray: started on this machine ({int(ray.cluster_resources().get('CPU', 0))} CPUs, "
        f"{int(ray.cluster_resources().get('GPU', 0))} GPUs) for {workers} workers")
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a cluster address nobody answers at (Ray itself retries for minutes before it gives up)."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InspectorError(f"--executor ray:{address}: expected ray:auto, ray:ray://HOST:PORT (Ray Client, port "
                             "10001 by default) or ray:HOST:PORT (the head's GCS, port 6379 by default).")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InspectorError(f"--executor ray:{address}: could not join the Ray cluster: nothing answers at "
                             f"{host}:{port} ({exc}). Start one with `ray start --head` (or point at a KubeRay head "
                             "service as ray://HOST:10001), or use plain `--executor ray` to start Ray on this "
                             "machine.") from exc


def execute_ray(units: Sequence[Unit], job: BatchJob, run_unit: RunUnit, *, address: str = "", workers: int = 1,
                gpus_per_worker: float = 0.0, progress: Progress | None = None, log: Log | None = None,
                temp_dir: str | None = None, max_unit_retries: int = 4) -> list[UnitOutcome]:
    """Run `units` on `workers` Ray actors (see `inspector.executors.execute` for the arguments)."""
    ray = _ray()
    say: Log = log or (lambda m: None)
    if temp_dir is None and os.environ.get("INSPECTOR_RAY_TMPDIR"):
        temp_dir = os.environ["INSPECTOR_RAY_TMPDIR"]
    started = _start(ray, address, workers, temp_dir, say)
    try:
        return _run(ray, units, job, run_unit, workers, gpus_per_worker, progress, say, max_unit_retries)
    finally:
        if started:
            ray.shutdown()


def _run(ray: Any, units: Sequence[Unit], job: BatchJob, run_unit: RunUnit, workers: int, gpus: float, progress: Progress | None,
         say: Log, max_unit_retries: int) -> list[UnitOutcome]:
    resources = ray.cluster_resources()
    if gpus > 0 and resources.get("GPU", 0) < gpus:
        raise InspectorError(f"--gpus-per-worker {gpus}: the Ray cluster has {resources.get('GPU', 0):g} GPUs. Use "
                             "--gpus-per-worker 0 for CPU backends, or join a cluster with GPUs.")
    if gpus > 1 and gpus != int(gpus):
        raise InspectorError(f"--gpus-per-worker {gpus}: a share above 1 must be a whole number of GPUs.")
    cpus = float(resources.get("CPU", 1)) or 1.0
    # One CPU per actor where there are enough; otherwise equal shares, so every actor is placed (a GPU actor's
    # CPU share only reserves room for its feeding thread).
    cpu_share = 1.0 if workers <= cpus else round(cpus / workers, 3)
    Board, Worker = _classes(ray)
    board = Board.options(num_cpus=0).remote()
    actors = [Worker.options(num_cpus=cpu_share, num_gpus=gpus, max_restarts=-1,
                             max_task_retries=max_unit_retries).remote() for _ in range(min(workers, max(len(units), 1)))]
    ids = ray.get([a.identity.remote() for a in actors])
    say("ray workers: " + "; ".join(f"pid {i['pid']} on {i['host']}" + (f" GPU {','.join(i['gpus'])}" if i["gpus"]
                                                                         else "") for i in ids))
    if progress:
        progress({"event": "workers", "workers": ids})
    problems = ray.get([a.probe_store.remote(job.store) for a in actors])
    bad = [(i, p) for i, p in zip(ids, problems) if p]
    if bad:
        who = "; ".join(f"worker {i['pid']} on {i['host']}: {p}" for i, p in bad)
        raise InspectorError(f"the store {job.store} cannot be written and read by every Ray worker ({who}). Put the "
                             "store on a filesystem every node mounts at the same path (NFS, a shared volume in "
                             "KubeRay), or run with --executor local.")

    results: list[UnitOutcome | None] = [None] * len(units)
    pending = list(range(len(units)))
    idle = list(actors)
    inflight: dict[Any, tuple[int, Any]] = {}
    while pending or inflight:
        while idle and pending:
            actor = idle.pop(0)
            i = pending.pop(0)
            inflight[actor.run.remote(job, units[i], run_unit, board)] = (i, actor)
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=_POLL_S)
        _drain(ray, board, progress)
        for ref in ready:
            i, actor = inflight.pop(ref)
            try:
                results[i] = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                # The worker died more often than max_unit_retries (or Ray itself failed): the unit ends with the
                # error; chunks it committed stay in the store and a rerun resumes them.
                results[i] = UnitOutcome(unit=units[i], status="error",
                                         error=f"{type(exc).__name__}: the worker running this unit died "
                                               f"{max_unit_retries + 1} times; last: {str(exc).splitlines()[0]}")
            idle.append(actor)
    _drain(ray, board, progress)
    return [r for r in results if r is not None]


def _drain(ray: Any, board: Any, progress: Progress | None) -> None:
    if progress is None:
        return
    for event in ray.get(board.drain.remote()):
        progress(event)
    time.sleep(0)

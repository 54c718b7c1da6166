"""The Ray executor on a real local Ray (127.0.0.1, 2 CPUs): the same records and verdicts as the local executor,
and nothing lost when a worker is SIGKILLed mid-stream."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the Ray executor needs the `ray` extra")
pytest.importorskip("onnxruntime")

from conftest import N_CHUNKS, STREAMS  # noqa: E402

pytestmark = pytest.mark.slow

_VOLATILE = re.compile(r"(_ms$|_ms_|^notes$|time|latency|seconds|started|finished|created|updated|host|pid|run_id|writer|"
                       r"worker|memory|rss|duration|elapsed|wall_s|timings|_s$|^calls$)")
# ("notes": include step-latency notes, which depend on timing; "calls": the state probe's count of backend calls; a resumed run measures its jitter floor once more)


def _stable(x: Any) -> Any:
    """Figures and verdicts without timings, ids and places (what must be equal between executors)."""
    if isinstance(x, dict):
        return {k: _stable(v) for k, v in sorted(x.items()) if not _VOLATILE.search(str(k))}
    if isinstance(x, (list, tuple)):
        return [_stable(v) for v in x]
    return x


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two documents first differ ("" when equal): keeps the assertion message readable."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'second' if k not in a else 'first'}"
            d = _first_difference(a[k], b[k], f"{path}/{k}")
            if d:
                return d
        return ""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return ""
    return "" if a == b else f"{path}: {a!r} != {b!r}"


def _recorded(store: Path) -> dict[tuple[str, str, str], dict[int, Any]]:
    """(backend, mode, stream) → per-chunk metrics of the store's run of that unit (exactly one run per unit)."""
    from store import Store

    st = Store.open(store)
    out: dict[tuple[str, str, str], dict[int, Any]] = {}
    for rec in st.runs():
        key = (rec.backend, rec.mode, rec.stream)
        assert key not in out, f"two runs recorded for one unit {key}: a restarted unit started afresh"
        out[key] = {k: _stable(v) for k, v in st.run(rec.run_id).all_metrics(rec.stream).items()}
    return out


def _units(modes=("functional", "closed-loop")):
    from inspector.units import Unit

    return [Unit("ort-cpu", {}, mode, s) for mode in modes for s in STREAMS]


def _job(store: Path, demo_artifacts) -> Any:
    from inspector.units import BatchJob

    return BatchJob(store=str(store), model=str(Path(demo_artifacts.onnx).resolve()),
                    contract=str(demo_artifacts.contract))


def test_ray_run_equals_local_run(four_streams, tmp_path, demo_artifacts, monkeypatch, ray_tmp):
    """4 streams x 2 modes on 2 Ray workers record the same chunks, figures and verdicts as the local executor."""
    import shutil

    from inspector.api import run_unit
    from inspector.executors import execute

    local_store, ray_store = tmp_path / "local.zarr", tmp_path / "ray.zarr"
    shutil.copytree(four_streams, local_store)
    shutil.copytree(four_streams, ray_store)
    local = execute(_units(), _job(local_store, demo_artifacts), executor="local", run_unit=run_unit)
    events: list[dict] = []
    remote = execute(_units(), _job(ray_store, demo_artifacts), executor="ray", workers=2,
                     progress=events.append, ray_temp_dir=ray_tmp, run_unit=run_unit)

    assert [o.status for o in local] == [o.status for o in remote]
    assert all(o.status in ("pass", "fail", "undetermined") for o in remote), [o.error for o in remote]
    assert [o.chunks_checked for o in remote] == [N_CHUNKS] * len(remote)
    assert not _first_difference([_stable(o.summary) for o in local], [_stable(o.summary) for o in remote]), \
        _first_difference([_stable(o.summary) for o in local], [_stable(o.summary) for o in remote])
    assert not _first_difference(_recorded(local_store), _recorded(ray_store)), \
        _first_difference(_recorded(local_store), _recorded(ray_store))
    pids = {w["pid"] for e in events if e["event"] == "workers" for w in e["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids, "the units ran on two Ray worker processes"
    assert all(o.host for o in remote), "each unit records the host it ran on"


def test_sigkilled_worker_loses_nothing(four_streams, tmp_path, demo_artifacts, ray_tmp):
    """A worker SIGKILLed mid-stream is restarted by Ray; its unit resumes from the committed chunks."""
    import shutil

    from inspector.api import run_unit
    from inspector.executors import execute

    store = tmp_path / "killed.zarr"
    shutil.copytree(four_streams, store)
    reference = tmp_path / "reference.zarr"
    shutil.copytree(four_streams, reference)
    units = _units(("closed-loop",))
    expected = execute(units, _job(reference, demo_artifacts), executor="local", run_unit=run_unit)

    worker_pids: set[int] = set()
    killed: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def on_event(ev: dict) -> None:
        if ev["event"] == "workers":
            worker_pids.update(w["pid"] for w in ev["workers"])
        if ev["event"] == "chunk" and not killed and 2 <= ev["done"] <= ev["total"] - 5:
            with lock:
                if not killed and ev["pid"] in worker_pids and ev["pid"] != os.getpid():
                    os.kill(ev["pid"], signal.SIGKILL)  # one of this run's own Ray workers, found by pid
                    killed.append((ev["pid"], ev["unit"], ev["done"]))

    outcomes = execute(units, _job(store, demo_artifacts), executor="ray", workers=2, progress=on_event,
                       ray_temp_dir=ray_tmp, run_unit=run_unit)
    assert killed, "no worker was killed mid-stream (the units finished before a chunk event arrived)"
    assert [o.status for o in outcomes] == [o.status for o in expected], [o.error for o in outcomes]
    recorded = _recorded(store)
    assert len(recorded) == len(units)
    for key, chunks in recorded.items():
        assert sorted(chunks) == list(range(N_CHUNKS)), f"{key}: chunks {sorted(chunks)}"
    assert not _first_difference(recorded, _recorded(reference)), _first_difference(recorded, _recorded(reference))


def test_unit_that_cannot_run_ends_with_its_error(four_streams, tmp_path, demo_artifacts, ray_tmp):
    """A unit with a bad backend option ends with the error; the other units complete."""
    import shutil

    from inspector.api import run_unit
    from inspector.executors import execute
    from inspector.units import Unit

    store = tmp_path / "bad.zarr"
    shutil.copytree(four_streams, store)
    units = [Unit("ort-cpu", {"intra_op_threads": "not-a-number"}, "functional", STREAMS[0]),
             Unit("ort-cpu", {}, "functional", STREAMS[1])]
    out = execute(units, _job(store, demo_artifacts), executor="ray", workers=2, ray_temp_dir=ray_tmp, run_unit=run_unit)
    assert out[0].status == "error" and "intra_op_threads" in out[0].error
    assert out[1].status in ("pass", "fail")


def test_bad_executor_and_unreachable_cluster_are_user_errors(four_streams, demo_artifacts, tmp_path):
    from inspector.errors import InspectorError
    from inspector.api import run_unit
    from inspector.executors import execute, parse_executor

    with pytest.raises(InspectorError, match="valid choices"):
        parse_executor("dask")
    with pytest.raises(InspectorError, match="needs an address"):
        parse_executor("ray:")
    with pytest.raises(InspectorError, match="at least 1"):
        execute(_units(), _job(four_streams, demo_artifacts), executor="ray", workers=0, run_unit=run_unit)
    with pytest.raises(InspectorError, match="could not join"):
        execute(_units()[:1], _job(four_streams, demo_artifacts), executor="ray:127.0.0.1:1", workers=1, run_unit=run_unit)


def test_cli_run_on_ray_reports_every_stream_like_local(four_copy, tmp_path, demo_artifacts, monkeypatch, ray_tmp):
    """`inspector run --batch --executor ray --workers 2`: same exit code, runs and verdicts as --executor local."""
    import json
    import shutil
    import subprocess
    import sys

    local_copy = tmp_path / "local.zarr"
    shutil.copytree(four_copy, local_copy)
    docs = {}
    for name, store, extra in (("local", local_copy, []), ("ray", four_copy, ["--executor", "ray", "--workers", "2"])):
        out = tmp_path / f"{name}.json"
        cmd = [sys.executable, "-m", "inspector.cli", "run", "--batch", "--store", str(store), "--model",
               str(demo_artifacts.onnx), "--contract", str(demo_artifacts.contract), "--backend", "ort-cpu",
               "--mode", "functional", "--no-progress", "--report", str(out), *extra]
        env = {**os.environ, "INSPECTOR_RAY_TMPDIR": ray_tmp}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs[name] = json.loads(out.read_text())
    for doc in docs.values():
        assert sorted(r["stream"] for r in doc["runs"]) == sorted(STREAMS)
    key = lambda d: sorted((r["stream"], [(v["rule"], v["status"], v.get("value")) for v in r["verdicts"]])  # noqa: E731
                           for r in d["runs"])
    assert key(docs["local"]) == key(docs["ray"])

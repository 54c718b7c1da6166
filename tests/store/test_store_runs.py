"""Runs in a store: atomic per-chunk commits, arbitrary JSON metrics (numpy, NaN), resume, listing."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from store_samples import chunk_tensors

from store import RunRecord, Store, StoreError


def _store(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    for i in range(3):
        store.write_chunk("default", i, *chunk_tensors(i))
    return store


def _record(**kw):
    base = dict(run_id="", backend="ort-cpu", mode="functional", stream="default", chunks=[0, 1, 2])
    base.update(kw)
    return RunRecord(**base)


def test_metrics_and_outputs_round_trip_with_numpy_and_nonfinite(tmp_path):
    store = _store(tmp_path)
    run = store.create_run(_record())
    out = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    run.write_chunk("default", 0, {"max_abs": np.float32(2.5e-5), "worst": np.int64(7), "nan": math.nan,
                                    "inf": -math.inf, "per_frame": np.array([1.0, np.nan]), "tensor": "x"},
                    outputs={"encoder_output": out})
    reader = Store.open(store.path).run(run.record.run_id)
    metrics = reader.chunk_metrics("default", 0)
    assert metrics["max_abs"] == pytest.approx(2.5e-5) and metrics["worst"] == 7 and metrics["tensor"] == "x"
    assert math.isnan(metrics["nan"]) and metrics["inf"] == -math.inf
    assert metrics["per_frame"][0] == 1.0 and math.isnan(metrics["per_frame"][1])
    np.testing.assert_array_equal(reader.outputs("default", 0)["encoder_output"], out)
    assert reader.chunk_metrics("default", 1) is None and reader.outputs("default", 1) is None
    assert reader.all_metrics("default").keys() == {0}


def test_run_ids_sort_by_start_and_are_unique(tmp_path):
    store = _store(tmp_path)
    ids = [store.create_run(_record(backend="trt fp16", mode="closed-loop")).record.run_id for _ in range(5)]
    assert len(set(ids)) == 5
    assert all(i.split("-")[1:4] == ["trt", "fp16", "closed"] for i in ids)
    assert [r.run_id for r in store.runs()] == sorted(ids)


_CRASHING_WRITER = """
import os, sys
from store import RunRecord, Store
run = Store.open(sys.argv[1], mode="a").create_run(
    RunRecord(run_id="", backend="ort-cpu", mode="functional", stream="default", chunks=[0, 1, 2]))
run.write_chunk("default", 0, {"max_abs": 1e-6})
print(run.record.run_id, flush=True)
os._exit(0)  # dies without finish(), like a crash
"""


def test_interrupted_run_is_shown_and_resumes_keeping_finished_chunks(tmp_path):
    store = _store(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(store.path)], capture_output=True, text=True,
                          timeout=120, check=True)
    run_id = proc.stdout.strip()
    (record,) = Store.open(store.path).runs()
    assert record.run_id == run_id and record.status == "interrupted"
    run = Store.open(store.path, mode="a").resume_run(run_id)
    assert run.done_chunks("default") == {0}
    for i in sorted({0, 1, 2} - run.done_chunks("default")):
        run.write_chunk("default", i, {"max_abs": 1e-6 * i})
    run.finish(summary={"verdict": "pass", "p95": np.float64(1e-6)})
    info = Store.open(store.path).info()
    (shown,) = info["runs"]
    assert shown["status"] == "complete" and shown["chunks_done"] == 3 and shown["verdict"] == "pass"
    assert Store.open(store.path).run(run_id).record.summary["p95"] == pytest.approx(1e-6)


def test_run_errors(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run("nope")
    with pytest.raises(StoreError, match="read-only"):
        Store.open(store.path).create_run(_record())
    run = store.create_run(_record())
    with pytest.raises(StoreError, match="no field"):
        run.update(colour="red")
    with pytest.raises(StoreError, match="opened for reading"):
        store.run(run.record.run_id).write_chunk("default", 0, {})

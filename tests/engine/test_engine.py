"""The parity engine on the real demo export: failures recorded and the run goes on, resume, closed loop vs
functional on a planted cache fault, saved outputs, hooks."""

from __future__ import annotations

import numpy as np
import pytest

import onnx_faults
from backends.base import make_backend
from inspector.engine import ChunkHook, ParityEngine, RunSpec
from store import Store


def _engine(store_path, contract, model, hooks=()):
    st = Store.open(store_path, "a")
    return ParityEngine(st, contract, model, hooks=hooks), st


def _run(store_path, contract, model, mode, chunks="0:10", backend="ort-cpu", options=None, progress=None, **kw):
    from inspector.state import default_hooks

    # the state hooks are part of every closed-loop run (as `inspector.api` runs it): without them state_carried
    # is undetermined and no closed-loop run can pass
    eng, st = _engine(store_path, contract, model, kw.pop("hooks", None) or default_hooks(backend, mode))
    stream = eng.resolve_stream(None)
    spec = RunSpec(backend, mode, stream, eng.resolve_chunks(stream, chunks), options=options or {}, **kw)
    with make_backend(backend, model, contract, options) as be:
        return eng.run(spec, be, progress=progress), st


def _verdict(res, rule):
    return next(v for v in res.verdicts if v.rule == rule)


def test_nan_output_is_recorded_as_a_failed_chunk_and_the_run_goes_on(demo_artifacts, store_copy, demo_contract,
                                                                     tmp_path):
    bad = tmp_path / "nan.onnx"
    onnx_faults.nan_on_first_chunk(demo_artifacts.onnx, bad)
    res, _ = _run(store_copy, demo_contract, bad, "functional", "0:6")
    assert len(res.records) == 6 and res.status == "complete" and not res.passed
    first = res.records[0]
    assert first["status"] == "failed" and "encoder_output" in first["failed_tensors"]
    assert first["tensors"]["encoder_output"]["nonfinite_out"] == 192
    assert "finite_encoder_output" in first["failed_invariants"]
    assert all(r["passed"] for r in res.records[1:])
    assert _verdict(res, "encoder_output_p100").first_failing_chunk == 0


def test_a_raising_backend_fails_that_chunk_only(demo_artifacts, store_copy, demo_contract, tmp_path):
    bad = tmp_path / "raise.onnx"
    onnx_faults.raise_on_first_chunk(demo_artifacts.onnx, bad)
    res, st = _run(store_copy, demo_contract, bad, "closed-loop", "0:6")
    first = res.records[0]
    assert first["status"] == "error" and "Reshape" in first["error"]
    assert "restarts from the reference" in first["note"]
    assert all(r["passed"] for r in res.records[1:])  # the loop restarted from chunk 1's reference state
    v = _verdict(res, "backend_errors")
    assert not v and v.first_failing_chunk == 0 and "Reshape" in v.message
    assert st.run(res.run_id).record.status == "complete"


def test_closed_loop_catches_a_cache_fault_that_functional_mode_cannot_see(demo_artifacts, store_copy,
                                                                           demo_contract, tmp_path):
    """A cache output scaled by 1.5: each chunk on reference caches computes encoder_output right; fed back, the
    wrong cache corrupts the next chunk's frames."""
    bad = tmp_path / "cache-fault.onnx"
    onnx_faults.scale_output(demo_artifacts.onnx, bad, "cache_last_time_out", 1.5)
    fun, _ = _run(store_copy, demo_contract, bad, "functional", "0:12")
    loop, _ = _run(store_copy, demo_contract, bad, "closed-loop", "0:12")
    assert all(r["tensors"]["encoder_output"]["passed"] for r in fun.records)
    assert not any(r["tensors"]["cache_last_time_out"]["passed"] for r in fun.records)
    assert _verdict(fun, "encoder_output_p100")
    p100 = _verdict(loop, "encoder_output_p100")
    assert not p100 and p100.first_failing_chunk == 1  # chunk 0 starts from the reference's state


class _StopAfter:
    def __init__(self, n: int):
        self.n = n

    def __call__(self, done, total, record):
        if done == self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("mode", ["functional", "closed-loop"])
def test_an_interrupted_run_resumes_and_keeps_every_finished_chunk(demo_artifacts, store_copy, demo_contract, mode):
    with pytest.raises(KeyboardInterrupt):
        _run(store_copy, demo_contract, demo_artifacts.onnx, mode, "0:12", progress=_StopAfter(5))
    st = Store.open(store_copy)
    (rec,) = st.runs()
    assert rec.status == "interrupted"
    kept = st.run(rec.run_id).all_metrics(rec.stream)
    assert len(kept) >= 5
    res, _ = _run(store_copy, demo_contract, demo_artifacts.onnx, mode, "0:12")
    assert res.run_id == rec.run_id and res.resumed_chunks == len(kept)
    assert [r["chunk"] for r in res.records] == list(range(12)) and res.passed
    fresh, _ = _run(store_copy, demo_contract, demo_artifacts.onnx, mode, "0:12", resume=False)
    assert fresh.run_id != rec.run_id
    for a, b in zip(res.records, fresh.records):  # resumed = uninterrupted, closed-loop state included
        assert a["tensors"]["encoder_output"]["max_abs"] == b["tensors"]["encoder_output"]["max_abs"]
        assert a["invariants"] == b["invariants"]
    assert Store.open(store_copy).run(rec.run_id).record.status == "complete"
    assert {"backend", "judge", "read", "write"} <= set(fresh.timings_ms)  # where the time went, per chunk


def test_save_outputs_writes_outputs_in_reference_layout(demo_artifacts, store_copy, demo_contract):
    res, st = _run(store_copy, demo_contract, demo_artifacts.onnx, "closed-loop", "0:8", save_outputs=True)
    run = st.run(res.run_id)
    out = run.outputs(res.spec.stream, 2)
    ref = st.chunk(res.spec.stream, 2).outputs()
    assert set(out) == set(ref)
    assert np.abs(out["encoder_output"] - ref["encoder_output"]).max() < 1e-5
    assert run.record.summary["passed"] is True


def test_chunk_hooks_see_every_chunk_and_add_figures_and_verdicts(demo_artifacts, store_copy, demo_contract):
    from inspector.acceptance import Verdict

    class CacheNorm(ChunkHook):
        name = "cache_norm"

        def chunk(self, ev):
            state = ev.backend.state_arrays(ev.state)
            return {"len_in": int(ev.feeds["cache_last_channel_len"][0]),
                    "norm_next": float(np.linalg.norm(state["cache_last_channel"]))}

        def verdicts(self, records, run):
            lens = [r["extra"]["cache_norm"]["len_in"] for r in records]
            ok = lens == sorted(lens) and lens[-1] > 0
            return [Verdict("state_carried", "state_carried", "pass" if ok else "fail", message=f"lengths {lens}")]

    res, _ = _run(store_copy, demo_contract, demo_artifacts.onnx, "closed-loop", "0:5", hooks=[CacheNorm()])
    assert [r["extra"]["cache_norm"]["len_in"] for r in res.records] == [0, 1, 4, 7, 10]
    v = _verdict(res, "state_carried")
    assert v.status == "pass" and "lengths" in v.message


def test_tightening_switches_tolerances_from_the_chunk_it_first_triggers(demo_artifacts, store_copy, demo_contract):
    """A re-validation trigger (here: from chunk 3 on) tightens the tolerances from that chunk and is an alarm."""
    import dataclasses

    from contracts.model import Tightening, Tolerance

    tight = dataclasses.replace(demo_contract, tightening=Tightening(
        when=("chunk >= 3",), per_output={"encoder_output": Tolerance(atol=1e-12)}))
    res, _ = _run(store_copy, tight, demo_artifacts.onnx, "functional", "0:6")
    assert [r["tightened"] for r in res.records] == [False, False, False, True, True, True]
    assert res.records[3]["tightening_fired"] == ["chunk >= 3"] and "tightening_fired" not in res.records[4]
    assert all(r["tensors"]["encoder_output"]["passed"] for r in res.records[:3])
    assert not any(r["tensors"]["encoder_output"]["passed"] for r in res.records[3:])
    assert res.records[3]["tensors"]["encoder_output"]["atol"] == 1e-12
    alarm = _verdict(res, "alarm:tightening")
    assert not alarm and alarm.first_failing_chunk == 3 and "chunk >= 3" in alarm.message

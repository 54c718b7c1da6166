"""A chunk that gave no figure (an empty output) is an undetermined step, never a failing one: the ladder must not
call a bug on it. The records are shaped as `inspector.engine.ChunkJudge` writes them for an empty tensor."""

from __future__ import annotations

from pathlib import Path

from inspector.attribution.ladder import Step, StepResult, step_status
from inspector.attribution.verdict import TriageHint, decide

M = Path("m.onnx")
HINT = TriageHint("s.zarr", "m.onnx", "c", 3)


def _failed(key: str, backend: str, strict: bool) -> StepResult:
    rec = {"status": "failed", "passed": False, "failed_tensors": ["encoder_output"], "failed_invariants": [],
           "tensors": {"encoder_output": {"max_abs": 2e-3, "atol": 1e-4, "rtol": 0.0, "passed": False}}}
    status, why = step_status(rec, 3)
    return StepResult(Step(key, backend, {}, M, change=key, strict=strict), status, rec, error=why)


def _empty(key: str, backend: str, strict: bool) -> StepResult:
    rec = {"status": "undetermined", "passed": False, "failed_tensors": [], "failed_invariants": [],
           "undetermined_tensors": ["encoder_output"],
           "tensors": {"encoder_output": {"max_abs": None, "atol": 1e-4, "rtol": 0.0, "passed": False}}}
    status, why = step_status(rec, 3)
    return StepResult(Step(key, backend, {}, M, change=key, strict=strict), status, rec, error=why)


def test_an_empty_chunk_is_an_undetermined_step_naming_the_tensor():
    r = _empty("strict-cpu", "ort-cpu", True)
    assert r.status == "undetermined" and not r.ran
    assert "encoder_output" in r.error
    assert _failed("as-run", "ort-cuda", False).status == "fail"


def test_an_empty_strict_step_leaves_the_verdict_undetermined_not_bug():
    v = decide([_failed("as-run", "ort-cuda", False), _empty("strict-cpu", "ort-cpu", True)], HINT)
    assert v.kind == "undetermined" and v.exit_code == 3
    assert "encoder_output" in v.summary


def test_an_empty_as_run_chunk_is_undetermined():
    v = decide([_empty("as-run", "ort-cuda", False), _failed("strict-cpu", "ort-cpu", True)], HINT)
    assert v.kind == "undetermined" and v.exit_code == 3

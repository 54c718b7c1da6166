"""The ladder's steps per backend and the verdict's wording, where no GPU or TensorRT is needed to check them: the
switch each backend's step turns off (written to the backends' option names), and the verdict on the figures the
issue measured on the H200 (ort-cuda TF32 on: 2.06e-3; use_tf32=0: 2.9e-6; atol 1e-4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.attribution.ladder import Step, StepResult, Target, build_ladder, switch_step
from inspector.attribution.verdict import TriageHint, decide

M = Path("model.onnx")


def test_each_backend_turns_off_its_own_reduced_precision_switch(monkeypatch):
    from backends.base import option_problems

    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    cuda = switch_step("ort-cuda", {"io_binding": "1"}, M)
    assert cuda.options == {"io_binding": 1, "use_tf32": 0} and cuda.switch == "TF32" and not cuda.skip
    assert option_problems("ort-cuda", cuda.options) == []  # the option name the CUDA EP takes
    assert switch_step("ort-cuda", {"use_tf32": "0"}, M).skip.startswith("TF32 is already off")
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert "NVIDIA_TF32_OVERRIDE=0" in switch_step("ort-cuda", {}, M).skip
    trt = switch_step("trt-fp16", {"fp16_mode": "onnx", "workspace_mb": 2048}, M)
    assert trt.backend == "trt-fp32" and trt.options == {"workspace_mb": 2048} and trt.switch == "FP16 (TensorRT)"
    assert option_problems("trt-fp32", trt.options) == []
    assert "TF32 builder flag cleared" in switch_step("trt-fp32", {}, M).skip
    assert "TF32 off" in switch_step("torch-cuda", {}, None).skip
    assert "no reduced-precision switch" in switch_step("ort-cpu", {}, M).skip


def test_an_fp32_export_on_ort_cuda_climbs_tf32_off_then_ort_cpu(monkeypatch):
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    t = Target(None, None, "s", 3, "closed-loop", "ort-cuda", {}, M)
    steps = build_ladder(t, None, "FP32", "the graph is already FP32", True)
    assert [(s.key, s.backend, bool(s.skip)) for s in steps] == [
        ("as-run", "ort-cuda", False), ("switches-off", "ort-cuda", False), ("upcast", "ort-cuda", True),
        ("strict-cpu", "ort-cpu", False)]
    assert not steps[0].strict and all(s.strict for s in steps[1:])
    half = build_ladder(t, Path("up.onnx"), "float16 math", "83 Cast round trips removed", False)
    assert half[2].model == Path("up.onnx") and half[2].options == {"use_tf32": 0} and half[3].model == Path("up.onnx")
    assert not half[1].strict  # TF32 off on a float16 graph is not strict FP32 yet


def _result(key, backend, status, max_abs, switch="", strict=True):
    tensors = {"encoder_output": {"max_abs": max_abs, "atol": 1e-4, "rtol": 0.0, "passed": status == "pass"}}
    record = {"passed": status == "pass", "tensors": tensors,
              "failed_tensors": [] if status == "pass" else ["encoder_output"], "failed_invariants": []}
    return StepResult(Step(key, backend, {}, M, change=key, switch=switch, strict=strict), status, record)


def test_the_h200_figures_read_as_precision_tf32():
    results = [_result("as-run", "ort-cuda", "fail", 2.06e-3, strict=False),
               _result("switches-off", "ort-cuda", "pass", 2.9e-6, switch="TF32"),
               StepResult(Step("upcast", "ort-cuda", {}, M, skip="already FP32"), "skipped", error="already FP32"),
               _result("strict-cpu", "ort-cpu", "pass", 2.0e-6, switch="ort-cuda kernels")]
    v = decide(results, TriageHint("s.zarr", "m.onnx", "c", 3))
    assert v.kind == "precision" and v.short == "precision: TF32" and v.exit_code == 0
    assert v.summary == "TF32: encoder_output 0.00206 → 2.9e-06 with TF32 off, within tolerance (atol 0.0001)"


def test_a_backend_wrong_where_ort_cpu_passes_is_a_bug_of_that_backend_not_precision():
    results = [_result("as-run", "trt-fp32", "fail", 0.3),
               StepResult(Step("switches-off", "trt-fp32", {}, M, skip="x"), "skipped", error="x"),
               StepResult(Step("upcast", "trt-fp32", {}, M, skip="y"), "skipped", error="y"),
               _result("strict-cpu", "ort-cpu", "pass", 1e-6, switch="trt-fp32 kernels")]
    v = decide(results, TriageHint("s.zarr", "m.onnx", "c", 3))
    assert v.kind == "bug" and "where ort-cpu passes" in v.summary
    assert v.triage.endswith("--backend trt-fp32 --baseline ort-cpu")


@pytest.mark.parametrize("fails", ["switches-off", "strict-cpu"])
def test_steps_that_could_not_run_leave_it_undetermined_only_when_no_strict_step_ran(fails):
    err = StepResult(Step(fails, "ort-cuda", {}, M), "error", error="CUDA out of memory")
    other = _result("strict-cpu" if fails == "switches-off" else "switches-off", "ort-cpu", "fail", 2e-3)
    results = [_result("as-run", "ort-cuda", "fail", 2.06e-3, strict=False), err, other]
    v = decide(results, TriageHint("s.zarr", "m.onnx", "c", 3))
    assert v.kind == "bug" and any("CUDA out of memory" in n for n in v.notes)
    v2 = decide(results[:2], TriageHint("s.zarr", "m.onnx", "c", 3))
    assert v2.kind == "undetermined" and v2.exit_code == 3 and "CUDA out of memory" in v2.summary

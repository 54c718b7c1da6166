"""TensorRT backend logic that runs without TensorRT: outputs keep the engine's dtypes (host conversion with the
real torch, on the CPU), what `info()` states before an engine exists, and an undetermined precision check becoming
an undetermined run verdict. No engine is built or run here (TensorRT cannot be installed in this workplace)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import BackendInfo, make_backend
from inspector.acceptance import Verdict, run_outcome
from inspector.engine import backend_check_verdicts

torch = pytest.importorskip("torch")


def test_outputs_keep_the_engines_dtypes(demo_artifacts, demo_contract):
    """An engine that returns int32 lengths must show int32 (the contract says int64): the outputs rule, not the
    backend, decides whether that is acceptable."""
    be = make_backend("trt-fp32", demo_artifacts.onnx, demo_contract)
    be._torch = torch  # what activate() sets; the conversion itself is plain torch → numpy
    lengths = be._host("encoded_lengths", torch.tensor([3], dtype=torch.int32))
    assert lengths.dtype == np.int32 and demo_contract.output("encoded_lengths").dtype == "int64"
    half = be._host("encoder_output", torch.ones((1, 2), dtype=torch.float16))
    assert half.dtype == np.float16
    wide = be._host("encoder_output", torch.full((2,), 1.5, dtype=torch.bfloat16))
    assert wide.dtype == np.float32 and wide.tolist() == [1.5, 1.5]
    assert any("bfloat16" in n for n in be.notes)  # the widening is said, not silent


def test_info_before_an_engine_exists_claims_nothing(demo_artifacts, demo_contract):
    info = make_backend("trt-fp32", demo_artifacts.onnx, demo_contract).info()
    assert "tf32=unknown" in info.math_mode  # no build config seen yet: not a fixed "tf32=off"
    assert info.extra["checks"] == {} and info.extra["precision_check"] == {}


def test_an_undetermined_precision_check_keeps_the_run_from_passing():
    info = BackendInfo("trt-fp32", "tensorrt", "10.13", "gpu", extra={"checks": {"precision": {
        "status": "undetermined", "message": "cannot confirm FP32: the engine inspector reports no layer precisions"}}})
    (v,) = backend_check_verdicts(info)
    assert v.rule == "backend:precision" and v.status == "undetermined" and v.required
    assert "no layer precisions" in v.message
    passing = Verdict("encoder_output_p95", "quantile", "pass")
    assert run_outcome([passing, v]) == "undetermined"
    ok = BackendInfo("trt-fp32", "tensorrt", "", "", extra={"checks": {"precision": {"status": "pass"}}})
    assert run_outcome([passing, *backend_check_verdicts(ok)]) == "pass"
    assert backend_check_verdicts(BackendInfo("ort-cpu", "onnxruntime", "", "")) == []

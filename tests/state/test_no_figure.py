"""A frames output with no figure (empty) leaves the state checks undetermined, never "no error" or "inert".

`frames_error` (the feedback-wiring test's judge) reads the one comparison kernel; the sensitivity probe checks
`Movement.determined` before it turns the run-to-run jitter into a threshold (an infinite one would call every
state input inert and fail `state_carried` for a reason that is not true).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from inspector.metrics import compare
from inspector.state.feedback import frames_error
from state_stores import fresh_copy


def test_frames_error_is_the_kernels_max_abs_and_none_when_there_is_no_figure():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((1, 8, 5)).astype(np.float32)
    out = ref + np.float32(1e-3) * rng.standard_normal(ref.shape).astype(np.float32)
    assert frames_error({"y": out}, {"y": ref}, "y") == compare(ref, out).max_abs
    # An empty output is undetermined (was 0.0: "no error"), like an absent one.
    empty = np.zeros((1, 8, 0), np.float32)
    assert frames_error({"y": empty}, {"y": empty}, "y") is None
    assert frames_error({}, {"y": ref}, "y") is None
    # The kernel's non-finite rule: a NaN both sides share is no error (was inf), one the reference lacks is inf.
    both = ref.copy()
    both[0, 0, 0] = np.nan
    assert frames_error({"y": both}, {"y": both}, "y") == 0.0
    assert frames_error({"y": both}, {"y": ref}, "y") == math.inf
    assert frames_error({"y": ref[..., :4]}, {"y": ref}, "y") == math.inf  # shape mismatch


def _empty_frames_export(src: Path, dst: Path, output: str = "encoder_output") -> Path:
    """Copy of `src` whose frames output is sliced to zero frames (last axis), the rest of the graph unchanged."""
    model = onnx.load(str(src))
    inner = f"{output}__before_fault"
    for node in model.graph.node:
        node.output[:] = [inner if o == output else o for o in node.output]
        node.input[:] = [inner if i == output else i for i in node.input]
    for name, value in (("starts", 0), ("ends", 0), ("axes", -1)):
        model.graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), f"{output}__{name}"))
    model.graph.node.append(helper.make_node(
        "Slice", [inner, f"{output}__starts", f"{output}__ends", f"{output}__axes"], [output],
        name=f"fault/{output}/empty"))
    onnx.save(model, str(dst))
    return dst


def test_an_empty_frames_output_leaves_state_carried_undetermined_not_inert(base_store, demo_artifacts, tmp_path):
    from inspector.batch import run_batch
    from inspector.state import default_hooks

    model = _empty_frames_export(Path(demo_artifacts.onnx), tmp_path / "empty_frames.onnx")
    res = run_batch(store=fresh_copy(base_store, tmp_path), model=model, contract="demo_streaming",
                    backends=["ort-cpu"], modes=["closed-loop"], chunks="0:12", progress=False,
                    log=lambda _m: None, report=tmp_path / "r.json", hook_factory=default_hooks)
    run = res.runs[0]
    v = {x.rule: x for x in run.verdicts}
    assert not res.passed
    state = v["state_carried"]
    assert state.status == "undetermined", state.message
    assert "inert" not in state.message and "encoder_output gives no figure" in state.message
    probes = [r["extra"]["state"]["probe"] for r in run.records if "probe" in r["extra"].get("state", {})]
    assert probes and all("gives no figure" in p["error"] for p in probes)

"""One tolerance resolver: `Contract.tolerance_for` / `Contract.threshold_for` decide what a tensor is judged with,
and the engine's records and the app's plot lines both come from them (so the line drawn is the run's own)."""

from __future__ import annotations

import dataclasses

import pytest

from backends.base import make_backend
from contracts.model import EXACT_TOLERANCE, Tightening, Tolerance, ToleranceSet
from contracts.rules import acceptance_threshold, tolerance_for
from inspector.engine import ParityEngine, RunSpec, judge_atols
from store import Store


def _layered(contract):
    """A default set with a ``*`` entry, and a more specific ORT set that lists only one output and overrides P95."""
    sets = (ToleranceSet("default", {"*": Tolerance(2e-4), "encoded_lengths": Tolerance(0.0)}),
            ToleranceSet("ort", {"cache_last_time_out": Tolerance(3e-4, 1e-3)}, applies_to=("ort-*",),
                         acceptance_overrides={"encoder_output_p95": 7e-4}),
            ToleranceSet("ort-fp16", {"encoder_output": Tolerance(5e-3)}, applies_to=("ort-*",),
                         precisions=("fp16",)))
    tight = Tightening(when=("chunk > 100",), per_output={"encoder_output": Tolerance(1e-5)})
    return dataclasses.replace(contract, tolerances=sets, tightening=tight)


def test_most_specific_set_that_lists_the_tensor_wins_then_fallbacks(demo_contract):
    c = _layered(demo_contract)
    assert c.tolerance_for("cache_last_time_out", "ort-cpu", "fp32") == Tolerance(3e-4, 1e-3)
    assert c.tolerance_for("encoder_output", "ort-cpu", "fp32") == Tolerance(2e-4)  # ort set lacks it: default's *
    assert c.tolerance_for("encoder_output", "ort-cuda", "fp16") == Tolerance(5e-3)
    assert c.tolerance_for("cache_last_time_out", "trt-fp32", "fp32") == Tolerance(2e-4)  # ort sets do not apply
    assert c.tolerance_for("encoder_output", "ort-cpu", "fp32", tightened=True) == Tolerance(1e-5)
    assert c.tolerance_for("cache_last_time_out", "ort-cpu", "fp32", tightened=True) == Tolerance(3e-4, 1e-3)
    bare = dataclasses.replace(c, tolerances=())
    assert bare.tolerance_for("encoder_output", "ort-cpu", "fp32") is EXACT_TOLERANCE
    assert [s.name for s in c.tolerance_sets_for("ort-cpu", "fp16")] == ["ort-fp16", "ort", "default"]
    assert c.threshold_for("encoder_output_p95", "ort-cpu", "fp32") == 7e-4
    assert c.threshold_for("encoder_output_p95", "trt-fp32", "fp32") == 5e-4
    with pytest.raises(KeyError):
        c.threshold_for("no_such_rule")
    # The older helpers are the same resolver.
    assert tolerance_for(c, "encoder_output", "ort-cpu", "fp32") == c.tolerance_for("encoder_output", "ort-cpu",
                                                                                     "fp32")
    assert acceptance_threshold(c, "encoder_output_p95", "ort-cpu") == c.threshold_for("encoder_output_p95",
                                                                                        "ort-cpu")


def test_the_plot_draws_the_tolerance_and_threshold_the_run_was_judged_with(demo_artifacts, store_copy,
                                                                            demo_contract):
    from inspector.tui.data import InspectorData

    c = _layered(demo_contract)
    st = Store.open(store_copy, "a")
    eng = ParityEngine(st, c, demo_artifacts.onnx)
    stream = eng.resolve_stream(None)
    spec = RunSpec("ort-cpu", "functional", stream, eng.resolve_chunks(stream, "0:2"))
    with make_backend("ort-cpu", demo_artifacts.onnx, c) as be:
        res = eng.run(spec, be)
    judged = {name: t["atol"] for name, t in res.records[0]["tensors"].items()}
    assert judged["encoder_output"] == 2e-4 and judged["cache_last_time_out"] == 3e-4
    assert judge_atols(c, "ort-cpu", "fp32") == judged
    p95 = next(v for v in res.verdicts if v.rule == "encoder_output_p95")
    assert p95.threshold == 7e-4

    data = InspectorData.open(store_copy, contract=c)
    for tensor in ("encoder_output", "cache_last_time_out"):
        assert dict(data.thresholds(res.run_id, tensor))["atol"] == judged[tensor]
    assert dict(data.thresholds(res.run_id, "encoder_output"))["P95"] == p95.threshold

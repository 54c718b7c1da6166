"""TensorRT planning without TensorRT: profiles from the contract, engine-cache keys, bindings, double buffers, the
precision check, and the FP16 ONNX that TensorRT 11 builds from (run here through ONNX Runtime)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from backends.tensorrt import onnx_input_dims
from backends.trt_plan import (
    DoubleBufferPlan, InputRange, TrtPlanError, binding_plan, check_precision, derive_profiles, double_buffer_plan,
    engine_cache_key, engine_cache_paths, layer_precisions, math_mode, select_profile, trt_dtype_name,
)
from contracts.model import Profile, ShapeRange


def test_demo_export_inputs_are_dynamic_and_every_one_gets_a_range(demo_artifacts, demo_contract):
    dims = onnx_input_dims(demo_artifacts.onnx)
    assert set(dims) == set(demo_contract.input_names)
    plans = derive_profiles(demo_contract, dims)
    assert [p.name for p in plans] == ["stream", "batch"]
    dynamic = {n for n, d in dims.items() if any(not isinstance(x, int) or x <= 0 for x in d)}
    for p in plans:
        assert set(p.inputs) == dynamic  # caches included
    assert plans[0].inputs["audio_signal"] == InputRange((1, 128, 41), (1, 128, 57), (1, 128, 57))
    assert plans[1].inputs["cache_last_channel"].max == (8, 2, 256, 64)


def test_inputs_left_out_of_a_profile_take_their_shape_from_bound_symbols(demo_contract):
    prof = Profile("p", {"audio_signal": ShapeRange((1, 128, 41), (2, 128, 57), (4, 128, 57))})
    c = dataclasses.replace(demo_contract, profiles=(prof,))
    dims = {"audio_signal": ["B", 128, "T"], "length": ["B"], "cache_last_channel": ["B", 2, 256, 64],
            "cache_last_time": ["B", 2, 64, 4], "cache_last_channel_len": ["B"]}
    (plan,) = derive_profiles(c, dims)
    assert plan.inputs["cache_last_channel"] == InputRange((1, 2, 256, 64), (2, 2, 256, 64), (4, 2, 256, 64))
    assert plan.inputs["length"] == InputRange((1,), (2,), (4,))


def test_unresolvable_or_inconsistent_profiles_are_clear_errors(demo_contract):
    dims = {"audio_signal": ["B", 128, "T"], "length": ["B"]}
    c = dataclasses.replace(demo_contract, profiles=(Profile("p", {"length": ShapeRange((1,), (1,), (1,))}),))
    with pytest.raises(TrtPlanError, match="'audio_signal' axis 2 .*symbol 'T'"):
        derive_profiles(c, dims)
    bad = Profile("p", {"audio_signal": ShapeRange((1, 128, 41), (2, 128, 57), (4, 128, 57)),
                        "length": ShapeRange((1,), (1,), (8,))})
    with pytest.raises(TrtPlanError, match="symbol 'B'"):
        derive_profiles(dataclasses.replace(demo_contract, profiles=(bad,)), dims)
    with pytest.raises(TrtPlanError, match="no TensorRT optimization profiles"):
        derive_profiles(dataclasses.replace(demo_contract, profiles=()), dims)
    wrong = Profile("p", {"audio_signal": ShapeRange((1, 80, 41), (1, 80, 57), (1, 80, 57)),
                          "length": ShapeRange((1,), (1,), (1,))})
    with pytest.raises(TrtPlanError, match="fixes it to 128"):
        derive_profiles(dataclasses.replace(demo_contract, profiles=(wrong,)), dims)
    backwards = Profile("p", {"audio_signal": ShapeRange((1, 128, 57), (1, 128, 41), (1, 128, 57))})
    with pytest.raises(TrtPlanError, match="min <= opt <= max"):
        derive_profiles(dataclasses.replace(demo_contract, profiles=(backwards,)), dims)


def test_profile_selection(demo_artifacts, demo_contract):
    plans = derive_profiles(demo_contract, onnx_input_dims(demo_artifacts.onnx))
    steady = {"audio_signal": (1, 128, 57), "length": (1,), "cache_last_channel": (1, 2, 256, 64)}
    assert select_profile(plans, steady) == 0
    assert select_profile(plans, {**steady, "audio_signal": (4, 128, 57), "length": (4,),
                                  "cache_last_channel": (4, 2, 256, 64)}) == 1
    with pytest.raises(TrtPlanError, match="audio_signal \\[1, 128, 99\\]"):
        select_profile(plans, {**steady, "audio_signal": (1, 128, 99)})


def test_engine_cache_key_changes_with_everything_that_changes_the_engine(demo_artifacts, demo_contract, tmp_path):
    plans = derive_profiles(demo_contract, onnx_input_dims(demo_artifacts.onnx))
    base = dict(model_sha256="a" * 64, trt_version="10.13.0", gpu_name="NVIDIA H100 80GB HBM3", precision="fp32",
                profiles=plans, builder={"tf32": False})
    k = engine_cache_key(**base)
    assert k == engine_cache_key(**base)
    for change in ({"model_sha256": "b" * 64}, {"trt_version": "11.0.0"}, {"gpu_name": "NVIDIA H200"},
                   {"precision": "fp16"}, {"profiles": plans[:1]}, {"builder": {"tf32": True}}):
        assert engine_cache_key(**{**base, **change}) != k
    paths = engine_cache_paths(tmp_path, k, "10.13.0", "NVIDIA H100 80GB HBM3")
    assert paths.plan.name == f"{k}.plan" and paths.timing_cache.name == "timing-10.13.0-NVIDIA-H100-80GB-HBM3.cache"


def test_binding_plan_outputs_missing_inputs_and_data_dependent_shapes():
    io = {"audio_signal": (True, "float32"), "length": (True, "int32"), "encoder_output": (False, "float32"),
          "encoded_lengths": (False, "int32")}
    plan = binding_plan(io, {"audio_signal": (1, 128, 57), "length": (1,)},
                        {"encoder_output": (1, 64, 3), "encoded_lengths": (1,)})
    assert [(t.name, t.dtype, t.shape) for t in plan.outputs] == [("encoder_output", "float32", (1, 64, 3)),
                                                                  ("encoded_lengths", "int32", (1,))]
    with pytest.raises(TrtPlanError, match="data-dependent"):
        binding_plan(io, {"audio_signal": (1, 128, 57), "length": (1,)},
                     {"encoder_output": (1, 64, -1), "encoded_lengths": (1,)})
    with pytest.raises(TrtPlanError, match="'length' \\(input\\) has no shape"):
        binding_plan(io, {"audio_signal": (1, 128, 57)}, {"encoder_output": (1, 64, 3), "encoded_lengths": (1,)})


def test_double_buffers_never_alias_input_and_output(demo_contract):
    shapes = {"cache_last_channel": (1, 2, 256, 64), "cache_last_channel_out": (1, 2, 256, 64),
              "cache_last_time": (1, 2, 64, 4), "cache_last_time_out": (1, 2, 64, 3),
              "cache_last_channel_len": (1,), "cache_last_channel_len_out": (1,)}
    dtypes = {n: ("int64" if "len" in n else "float32") for n in shapes}
    plan = double_buffer_plan(demo_contract, shapes, dtypes)
    by = {l.target: l for l in plan.links}
    assert by["cache_last_channel"].direct and by["cache_last_channel_len"].direct
    assert not by["cache_last_time"].direct and "padding" in by["cache_last_time"].reason
    buffers = {l.target: (1000 + 10 * i, 2000 + 10 * i) for i, l in enumerate(plan.links)}
    for k in range(6):
        addr = plan.bind(k, buffers)
        i, o = DoubleBufferPlan.slots(k)
        assert i != o
        assert addr["cache_last_channel"] != addr["cache_last_channel_out"]
        nxt = plan.bind(k + 1, buffers)
        assert nxt["cache_last_channel"] == addr["cache_last_channel_out"]  # what chunk k wrote, chunk k+1 reads
        assert "cache_last_time_out" not in addr  # padded: written elsewhere, then copied in
        assert addr["cache_last_time"] == buffers["cache_last_time"][i]  # but its input still reads slot k % 2


INSPECTOR_JSON = {"Layers": [
    {"Name": "conv", "Outputs": [{"Name": "a", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
    {"Name": "mm", "Outputs": [{"Name": "b", "Format/Datatype": "Row major linear FP32"}]},
    "a layer without detail",
]}


def test_precision_check_catches_a_silently_fp32_fp16_engine():
    io = {"audio_signal": "float32", "encoder_output": "float32"}
    mixed = layer_precisions(json.dumps(INSPECTOR_JSON))
    assert mixed == {"float16": 1, "float32": 1}
    assert check_precision("fp16", io, mixed)
    all32 = layer_precisions({"Layers": [{"Outputs": [{"Format/Datatype": "Row major linear FP32"}]}] * 3})
    c = check_precision("fp16", io, all32)
    assert not c and "entirely in FP32" in c.message
    assert check_precision("fp16", io, all32).status == "fail"
    assert check_precision("fp32", io, all32).status == "pass"
    assert check_precision("fp32", io, mixed).status == "fail"
    assert check_precision("fp32", {**io, "encoder_output": "float16"}, {}).status == "fail"  # FP16 I/O is enough


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_precision_without_layer_data_is_undetermined_never_a_pass(precision):
    """An engine inspector that gives no layer data (engine cached without DETAILED verbosity, or the inspector
    raised) cannot show what the layers compute in: FP32 I/O alone does not confirm FP32."""
    c = check_precision(precision, {"audio_signal": "float32", "encoder_output": "float32"}, {})
    assert c.status == "undetermined" and not c and "no layer precisions" in c.message
    assert c.to_dict()["status"] == "undetermined"


def test_math_mode_states_the_tf32_flag_the_build_had():
    assert math_mode("fp32", "", False) == "fp32, tf32=off"
    assert math_mode("fp32", "", True) == "fp32, tf32=on"  # e.g. a TensorRT that ignored clear_flag: said, not hidden
    assert math_mode("fp16", "flag", True) == "fp16 (FP16 builder flag), tf32=on"
    assert "tf32=unknown" in math_mode("fp32", "", None)
    assert trt_dtype_name("DataType.HALF") == "float16" and trt_dtype_name("DataType.INT64") == "int64"


def test_fp16_onnx_keeps_fp32_io_and_runs_close_to_fp32(demo_artifacts, demo_contract, backend_store, tmp_path):
    """What TensorRT 11 builds for trt-fp16; run here through ONNX Runtime's CPU EP."""
    import onnxruntime as ort

    from backends.fp16_onnx import convert_to_fp16, float_dtypes
    from store import Store

    half = convert_to_fp16(demo_artifacts.onnx, tmp_path / "fp16.onnx")
    assert set(float_dtypes(half)) == {"float16"}
    sess = ort.InferenceSession(str(half))
    assert [i.type for i in sess.get_inputs()] == [i.type for i in ort.InferenceSession(str(demo_artifacts.onnx)).get_inputs()]
    st = Store.open(backend_store)
    ch = st.chunk(st.streams()[0], 4)
    out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, ch.inputs())))
    err = np.abs(out["encoder_output"] - ch.output("encoder_output")).max()
    assert out["encoder_output"].dtype == np.float32 and 1e-5 < err < 2e-2  # FP16-sized, not FP32-sized, error
    np.testing.assert_array_equal(out["encoded_lengths"], ch.output("encoded_lengths"))

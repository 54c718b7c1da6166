"""`inspector export` and the demo artifacts: the ONNX graph's I/O, ONNX Runtime against NeMo, the first chunk."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("nemo.collections.asr")

from backends.nemo import REF_INPUTS, REF_OUTPUTS  # noqa: E402
from inspector.reference import decode_tensor, iter_lines  # noqa: E402

STATE = {"cache_last_channel_out": "cache_last_channel", "cache_last_time_out": "cache_last_time",
         "cache_last_channel_len_out": "cache_last_channel_len"}


def _chunks(path):
    return [ln for ln in iter_lines(path) if "chunk_index" in ln]


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(sess, feeds):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def test_export_io_uses_reference_names_and_an_ir_ort_accepts(demo_artifacts):
    model = onnx.load(str(demo_artifacts.onnx))
    assert [i.name for i in model.graph.input] == list(REF_INPUTS)
    assert [o.name for o in model.graph.output] == list(REF_OUTPUTS)
    assert model.ir_version <= 10
    dims = [d.dim_param or d.dim_value for d in model.graph.input[2].type.tensor_type.shape.dim]
    assert dims == ["B", 2, "cache_frames", 64]  # batch-first cache, as the reference files hold it
    types = {i.name: i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)}
    assert types["length"] == types["cache_last_channel_len_out"] == onnx.TensorProto.INT64
    assert not list(demo_artifacts.onnx.parent.glob("*.data"))  # tiny: weights inside the .onnx


def test_export_matches_the_demo_contract(demo_artifacts):
    """`contracts.check.check_model` passes the export against `demo_streaming`."""
    check = pytest.importorskip("contracts.check")
    from contracts.load import load_contract

    from inspector.commands.export import _problems

    report = check.check_model(str(demo_artifacts.onnx), load_contract("demo_streaming"))
    assert _problems(report) == [], report


@pytest.mark.parametrize("mode", ["functional", "closed-loop"])
def test_ort_cpu_matches_the_nemo_reference(demo_artifacts, mode):
    """ONNX Runtime on the export vs NeMo's eager steps, 50 chunks: ≤ 2e-6 max-abs on every float output, lengths
    equal — with the reference's caches fed in (functional) and with ORT's own caches fed back (closed loop)."""
    sess = _session(demo_artifacts.onnx)
    worst: dict[str, float] = {}
    state = None
    for line in _chunks(demo_artifacts.reference_jsonl):
        feeds = {k: decode_tensor(v) for k, v in line["inputs"].items()}
        if mode == "closed-loop" and state is not None:
            feeds.update(state)
        out = _run(sess, feeds)
        for name, tensor in line["outputs"].items():
            ref = decode_tensor(tensor)
            assert out[name].dtype == ref.dtype and out[name].shape == ref.shape
            worst[name] = max(worst.get(name, 0.0), float(np.max(np.abs(out[name].astype(np.float64) - ref))))
        state = {STATE[k]: out[k] for k in STATE}
    assert worst["encoder_output"] <= 2e-6 and worst["cache_last_channel_out"] <= 2e-6
    assert worst["cache_last_time_out"] <= 2e-6
    assert worst["encoded_lengths"] == 0 and worst["cache_last_channel_len_out"] == 0


def test_first_chunk_export_mode_agrees_and_nemo_mode_differs(demo_artifacts):
    """Chunk 0: the export-mode reference agrees with ORT to 1e-5; NeMo's own first-chunk handling does not (the
    planted fault), while from chunk 1 on (reference caches in) both modes agree with ORT again."""
    sess = _session(demo_artifacts.onnx)
    good = _chunks(demo_artifacts.reference_jsonl)
    fault = _chunks(demo_artifacts.nemo_first_chunk_jsonl)
    assert good[0]["meta"]["drop_extra_pre_encoded"] == 2 and fault[0]["meta"]["drop_extra_pre_encoded"] == 0
    np.testing.assert_array_equal(decode_tensor(good[0]["inputs"]["audio_signal"]),
                                  decode_tensor(fault[0]["inputs"]["audio_signal"]))
    for lines, expect_ok in ((good, True), (fault, False)):
        feeds = {k: decode_tensor(v) for k, v in lines[0]["inputs"].items()}
        err = float(np.max(np.abs(_run(sess, feeds)["encoder_output"]
                                  - decode_tensor(lines[0]["outputs"]["encoder_output"]))))
        assert (err <= 1e-5) is expect_ok, err
    assert err > 0.05
    feeds = {k: decode_tensor(v) for k, v in fault[1]["inputs"].items()}
    out1 = _run(sess, feeds)["encoder_output"]
    err1 = float(np.max(np.abs(out1 - decode_tensor(fault[1]["outputs"]["encoder_output"]))))
    assert err1 <= 1e-5


def test_torch_backend_runs_the_reference_live(demo_artifacts):
    """`torch-cpu` (NemoBackend) takes a chunk's feeds in the export layout and returns what the export would."""
    from backends.base import make_backend
    from contracts.model import Contract, TensorSpec

    contract = Contract(name="t", version=1, inputs=tuple(TensorSpec(n, "float32", ()) for n in REF_INPUTS),
                        outputs=tuple(TensorSpec(n, "float32", ()) for n in REF_OUTPUTS))
    line = _chunks(demo_artifacts.reference_jsonl)[3]
    with make_backend("torch-cpu", None, contract, {"preset": "tiny", "seed": 0}) as backend:
        out = backend.run({k: decode_tensor(v) for k, v in line["inputs"].items()})
        info = backend.info()
    assert set(out) == set(REF_OUTPUTS)
    for name, tensor in line["outputs"].items():
        np.testing.assert_array_equal(out[name], decode_tensor(tensor))
    assert info.runtime == "torch" and info.math_mode == "tf32=off" and info.precision == "fp32"
    assert backend.inference_time is not None and backend.inference_time > 0


def test_torch_cuda_availability_says_what_to_install():
    import torch

    from backends.nemo import NemoBackend

    avail = NemoBackend.availability_for({"device": "cuda"})
    assert bool(avail) == torch.cuda.is_available()
    if not avail:
        assert "CUDA" in avail.reason and "torch==2.13.0" in avail.install
    assert NemoBackend.availability_for({"device": "cpu"})

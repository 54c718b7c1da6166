"""ONNX Runtime backends: the runner contract, options, math mode, availability, and the IO-binding closed loop
(exercised on the CPU EP here, which runs the very code path the CUDA EP uses; the GPU figures are in
bench/RESULTS.engine.md)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import BackendError, availability, make_backend
from backends.onnxrt import DeviceState, OrtBackend, parse_option
from store import Store


def _chunk(store_path, i):
    st = Store.open(store_path)
    ch = st.chunk(st.streams()[0], i)
    return ch.inputs(), ch.outputs()


def test_runner_lifecycle_and_info(demo_artifacts, demo_contract):
    be = make_backend("ort-cpu", demo_artifacts.onnx, demo_contract, {"intra_op_threads": "1", "allow_spinning": "0"})
    assert not be.is_active
    with be:
        assert be.is_active
        info = be.info()
        assert info.runtime == "onnxruntime" and info.provider == "CPUExecutionProvider"
        assert info.math_mode.startswith("fp32") and info.options["intra_op_threads"] == 1
    assert not be.is_active
    with pytest.raises(BackendError, match="not active"):
        be.run({})


def test_run_matches_the_reference(demo_artifacts, demo_contract, backend_store):
    feeds, ref = _chunk(backend_store, 3)
    with make_backend("ort-cpu", demo_artifacts.onnx, demo_contract) as be:
        out = be.run(feeds)
        assert be.inference_time and be.inference_time > 0
    assert set(out) == set(demo_contract.output_names)
    assert np.abs(out["encoder_output"] - ref["encoder_output"]).max() < 1e-5


def test_io_binding_closed_loop_equals_host_round_trips(demo_artifacts, demo_contract, backend_store):
    """Caches kept as OrtValues and fed back bound (never the output buffer itself) give bit-identical results."""
    chunks = [_chunk(backend_store, i)[0] for i in range(6)]
    state_names = set(demo_contract.state_inputs)
    results = {}
    for io in (0, 1):
        with make_backend("ort-cpu", demo_artifacts.onnx, demo_contract, {"io_binding": io}) as be:
            state, outs = None, []
            init = {k: v for k, v in chunks[0].items() if k in state_names}
            for i, feeds in enumerate(chunks):
                stream = {k: v for k, v in feeds.items() if k not in state_names}
                out, new = be.step(stream, state, init if state is None else None)
                if io:
                    assert isinstance(new, DeviceState)
                    if state is not None:  # the next input is a fresh output buffer, not the previous input's
                        for k in new.values:
                            assert new.values[k].data_ptr() != state.values[k].data_ptr()
                state = new
                outs.append(out)
            assert be.info().extra["io_binding"] is bool(io)
            results[io] = outs
            host = be.state_arrays(state)
            assert set(host) == state_names
    for a, b in zip(results[0], results[1]):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_unknown_option_is_a_clear_error(demo_artifacts, demo_contract):
    with pytest.raises(BackendError, match="unknown option.*use_tf32"):
        with make_backend("ort-cpu", demo_artifacts.onnx, demo_contract, {"use_tf32": 0}):
            pass


def test_missing_model_is_a_clear_error(demo_contract, tmp_path):
    with pytest.raises(BackendError, match="does not exist"):
        with make_backend("ort-cpu", tmp_path / "nope.onnx", demo_contract):
            pass


def test_cuda_availability_names_what_to_install():
    avail = availability("ort-cuda")
    if avail:
        pytest.skip("this machine has onnxruntime-gpu and a GPU")
    assert "onnxruntime-gpu" in avail.install or "GPU" in avail.install
    assert OrtBackend.availability_for({"provider": "cpu"})


def test_parse_option():
    assert parse_option("0") == 0 and parse_option("1e-3") == 1e-3 and parse_option("on") is True
    assert parse_option("DEFAULT") == "DEFAULT"


@pytest.mark.gpu
def test_cuda_tf32_state_is_recorded(demo_artifacts, demo_contract, backend_store):
    if not availability("ort-cuda"):
        pytest.skip("needs onnxruntime-gpu and an NVIDIA GPU (see bench/RESULTS.engine.md for the GPU runs)")
    feeds, ref = _chunk(backend_store, 2)
    for opts, mode in (({}, "tf32=on (CUDA EP default)"), ({"use_tf32": 0}, "tf32=off")):
        with make_backend("ort-cuda", demo_artifacts.onnx, demo_contract, opts) as be:
            assert be.info().math_mode == mode
            out = be.run(feeds)
            assert np.abs(out["encoder_output"] - ref["encoder_output"]).max() < 1e-2

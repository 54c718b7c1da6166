"""TensorRT on real hardware: skipped unless TensorRT, a CUDA torch and an NVIDIA GPU are all present (never faked).
TensorRT cannot be installed in this project's workplace; these run on a machine that has it."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import availability, make_backend

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


def _need(name):
    avail = availability(name)
    if not avail:
        pytest.skip(f"{name} cannot run here: {avail.reason}")


@pytest.mark.parametrize("name, tol", [("trt-fp32", 1e-4), ("trt-fp16", 1e-2)])
def test_engine_builds_runs_and_reports_its_precision(demo_artifacts, demo_contract, backend_store, tmp_path, name, tol):
    _need(name)
    from store import Store

    st = Store.open(backend_store)
    ch = st.chunk(st.streams()[0], 3)
    with make_backend(name, demo_artifacts.onnx, demo_contract, {"cache_dir": str(tmp_path)}) as be:
        info = be.info()
        assert info.extra["precision_check"] and info.extra["io_dtypes"]
        out = be.run(ch.inputs())
    assert np.abs(out["encoder_output"] - ch.output("encoder_output")).max() < tol
    with make_backend(name, demo_artifacts.onnx, demo_contract, {"cache_dir": str(tmp_path)}) as be:
        assert be.info().extra["build"]["cached"] is True


def test_closed_loop_double_buffers_match_host_round_trips(demo_artifacts, demo_contract, backend_store, tmp_path):
    _need("trt-fp32")
    from store import Store

    st = Store.open(backend_store)
    chunks = [st.chunk(st.streams()[0], i).inputs() for i in range(5)]
    names = set(demo_contract.state_inputs)
    with make_backend("trt-fp32", demo_artifacts.onnx, demo_contract, {"cache_dir": str(tmp_path)}) as be:
        state = None
        for feeds in chunks:
            stream = {k: v for k, v in feeds.items() if k not in names}
            init = {k: v for k, v in feeds.items() if k in names} if state is None else None
            out, state = be.step(stream, state, init)
        assert state.k == 5

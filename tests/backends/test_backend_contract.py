"""One contract every registered backend keeps (Polygraphy's runner contract, STYLE.md §2), run against each of
them on the tiny NeMo demo export: lifecycle, output names, output dtypes as the model really produces them, and a
closed loop whose device-kept state equals host round trips. A backend that cannot run here is skipped with the
registry's own reason (`backends.base.availability_report`), never faked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backends.base import Backend, BackendError, availability_report, backend_names, make_backend
from contracts.feedback import next_state
from store import Store

REPORT = availability_report()
CHUNKS = 6


def _need(name: str) -> None:
    avail = REPORT[name]
    if not avail:
        pytest.skip(f"{name} cannot run here: {avail.reason}" + (f" (to use it: {avail.install})"
                                                                  if avail.install else ""))


def _open(name: str, demo_artifacts: Any, contract: Any, tmp_path: Any, **extra: Any) -> Backend:
    """The demo model for every runtime: the ONNX export, or for torch the same tiny NeMo encoder (preset, seed)."""
    if name.startswith("torch-"):
        return make_backend(name, None, contract, {"preset": demo_artifacts.model, "seed": demo_artifacts.seed,
                                                   **extra})
    opts = {"cache_dir": str(tmp_path)} if name.startswith("trt-") else {}
    return make_backend(name, demo_artifacts.onnx, contract, {**opts, **extra})


def _chunks(store_path: Any) -> list[tuple[dict, dict]]:
    st = Store.open(store_path)
    stream = st.streams()[0]
    return [(st.chunk(stream, i).inputs(), st.chunk(stream, i).outputs()) for i in range(CHUNKS)]


def _produced_dtypes(name: str, be: Backend, demo_artifacts: Any, contract: Any, reference: dict) -> dict[str, str]:
    """What the model itself produces, by runtime: the ONNX graph's declared output types, the TensorRT engine's
    I/O tensor types, and for the live NeMo encoder the dtypes of the reference NeMo recorded."""
    if name.startswith("ort-"):
        import onnx
        from onnx.helper import tensor_dtype_to_np_dtype

        graph = onnx.load(str(demo_artifacts.onnx), load_external_data=False).graph
        by_model = {o.name: np.dtype(tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type)).name
                    for o in graph.output}
        return {s.ref_name: by_model[s.name] for s in contract.outputs}
    if name.startswith("trt-"):
        io = be.info().extra["io_dtypes"]
        return {s.ref_name: ("float32" if io[s.name] == "bfloat16" else io[s.name]) for s in contract.outputs}
    return {k: np.asarray(v).dtype.name for k, v in reference.items()}


@pytest.mark.parametrize("name", backend_names())
def test_lifecycle_names_and_dtypes(name, demo_artifacts, demo_contract, backend_store, tmp_path):
    _need(name)
    feeds, reference = _chunks(backend_store)[2]
    be = _open(name, demo_artifacts, demo_contract, tmp_path)
    assert not be.is_active
    with pytest.raises(BackendError, match="not active"):
        be.run(feeds)
    with be as active:
        assert active is be and be.is_active
        with pytest.raises(BackendError, match="already active"):
            be.activate()
        out = be.run(feeds)
        assert be.inference_time is not None and be.inference_time > 0
        info = be.info()
        assert info.name == name and info.runtime and info.math_mode  # every knob that changes numerics, stated
        produced = _produced_dtypes(name, be, demo_artifacts, demo_contract, reference)
    assert not be.is_active
    be.deactivate()  # a second deactivate is harmless
    assert not be.is_active
    assert set(out) == set(demo_contract.output_names)
    assert {k: v.dtype.name for k, v in out.items()} == produced
    for k, v in out.items():
        assert v.shape == reference[k].shape, k
    # Activating again after deactivation works (resources acquired in activate, not in the constructor).
    with be:
        again = be.run(feeds)
    assert set(again) == set(out)


def _device_state_options(name: str) -> dict[str, Any] | None:
    if name.startswith("ort-"):
        return {"io_binding": 1}  # caches kept as OrtValues between chunks
    if name.startswith("trt-"):
        return {}  # always double-buffered on the device
    return None


@pytest.mark.parametrize("name", backend_names())
def test_closed_loop_with_device_state_equals_host_round_trips(name, demo_artifacts, demo_contract, backend_store,
                                                               tmp_path):
    _need(name)
    options = _device_state_options(name)
    if options is None:
        pytest.skip(f"{name} keeps closed-loop state on the host only (Backend's own step): no second path to "
                    "compare")
    chunks = [feeds for feeds, _ in _chunks(backend_store)]
    state_names = set(demo_contract.state_inputs)
    init = {k: v for k, v in chunks[0].items() if k in state_names}
    with _open(name, demo_artifacts, demo_contract, tmp_path, **options) as be:
        assert type(be)._step_impl is not Backend._step_impl
        stepped, state = [], None
        for feeds in chunks:
            stream = {k: v for k, v in feeds.items() if k not in state_names}
            out, state = be.step(stream, state, init if state is None else None)
            stepped.append(out)
        kept = be.state_arrays(state)
        host, carried = [], dict(init)
        for feeds in chunks:
            stream = {k: v for k, v in feeds.items() if k not in state_names}
            out = be.run({**carried, **stream})
            carried = next_state(demo_contract, out, carried)
            host.append(out)
    for i, (a, b) in enumerate(zip(stepped, host)):
        assert set(a) == set(b)
        for k in a:
            assert a[k].dtype == b[k].dtype, (i, k)
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"chunk {i}, {k}")
    assert set(kept) == state_names
    for k in state_names:
        np.testing.assert_array_equal(kept[k], carried[k], err_msg=k)


def test_every_registered_backend_is_in_the_availability_report():
    assert set(REPORT) == set(backend_names())
    for name, avail in REPORT.items():
        assert avail or avail.reason, f"{name} is unavailable without a reason"

"""Fixtures of the diagnostics tests: the demo's store and contract, and planted-fault copies of the demo export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import diag_faults as faults


@dataclass(frozen=True)
class Demo:
    onnx: Path
    store: Path
    contract: object
    cache_lengths: tuple[int, ...]
    stream: str


def _store_from_jsonl(jsonl: Path, dest: Path) -> Path:
    from inspector.reference import decode_tensor, iter_lines
    from store import Store

    st = None
    for line in iter_lines(jsonl):
        if "inputs" not in line:
            st = Store.create(dest, attrs={"header": line})
            continue
        if st is None:
            st = Store.create(dest)
        st.write_chunk(line.get("stream", "default"), int(line["chunk_index"]),
                       {k: decode_tensor(v) for k, v in line["inputs"].items()},
                       {k: decode_tensor(v) for k, v in line["outputs"].items()}, line.get("meta"))
    return dest


@pytest.fixture(scope="session")
def demo(demo_artifacts, tmp_path_factory) -> Demo:
    """The demo export, its store (the demo's own, or one written from its JSONL) and its contract."""
    from contracts.load import load_contract

    store = demo_artifacts.store
    if store is None or not Path(store).exists():
        store = _store_from_jsonl(demo_artifacts.reference_jsonl, tmp_path_factory.mktemp("diag") / "ref.zarr")
    from store import Store

    (stream,) = Store.open(store).streams()
    return Demo(Path(demo_artifacts.onnx), Path(store), load_contract(demo_artifacts.contract),
                tuple(demo_artifacts.cache_lengths), stream)


@pytest.fixture(scope="session")
def planted(demo, tmp_path_factory) -> dict[str, Path]:
    """Edited copies of the demo export, one planted fault each (see `faults`)."""
    d = tmp_path_factory.mktemp("planted")
    src = demo.onnx
    node = faults.find_node(src, "layers.1/feed_forward1/linear2", "MatMul")
    weight, _, _ = faults.edit_weight(src, d / "weight.onnx", node, 1.5)
    return {
        # (a) junk at the right end of cache_last_time_out's time axis, where NeMo's export writes zeros
        "padding": faults.add_to_output_positions(src, d / "padding.onnx", "cache_last_time_out", 0.5, (3,)),
        # (b) an error where the values matter, which the next chunk reads
        "scaled": faults.scale_output(src, d / "scaled.onnx", "cache_last_time_out", 1.05),
        # (c) the cache_last_time input rewired to zeros of its shape
        "disconnected": faults.disconnect_input(src, d / "disconnected.onnx", "cache_last_time"),
        # triage: one MatMul weight of layer 1 scaled by 1.5
        "weight": weight,
    }


@pytest.fixture(scope="session")
def weight_node(demo) -> str:
    return faults.find_node(demo.onnx, "layers.1/feed_forward1/linear2", "MatMul")

"""The demo's real reference (tiny NeMo encoder, 50 chunks) converts against its contract and reads back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from store import Store
from store.convert import convert
from store.jsonl import ReferenceLine, read_reference


@pytest.mark.slow
def test_demo_reference_converts_against_its_contract_and_matches_the_file(demo_artifacts, tmp_path):
    result = convert(demo_artifacts.reference_jsonl, tmp_path / "demo.zarr", contract="demo_streaming", workers=2,
                     progress=False)
    store = Store.open(tmp_path / "demo.zarr")
    assert result.chunks_total == sum(store.num_chunks(s) for s in store.streams()) >= 50
    lines = [p for p in read_reference(demo_artifacts.reference_jsonl) if isinstance(p, ReferenceLine)]
    for line in lines[:: max(1, len(lines) // 7)]:
        chunk = store.chunk(line.stream, line.chunk_index)
        for name, array in {**line.inputs, **line.outputs}.items():
            got = chunk.input(name) if name in line.inputs else chunk.output(name)
            assert got.dtype == array.dtype and got.shape == array.shape
            np.testing.assert_array_equal(got, array)
    if demo_artifacts.store is not None:  # the demo's own store (converted by the demo) holds the same chunks
        demo = Store.open(demo_artifacts.store)
        assert {s: demo.chunk_indices(s) for s in demo.streams()} == {s: store.chunk_indices(s) for s in store.streams()}

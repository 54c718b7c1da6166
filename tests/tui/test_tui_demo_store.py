"""The inspector on real data: the demo store (tiny NeMo encoder reference) with an ONNX Runtime CPU closed-loop run
recorded by `inspector.batch.run_batch` with saved outputs."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_store_with_run(demo_artifacts, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from inspector.batch import run_batch

    if demo_artifacts.store is None:
        pytest.skip("the demo artifacts carry no store")
    store = tmp_path_factory.mktemp("tui-demo") / "demo.zarr"
    shutil.copytree(demo_artifacts.store, store)
    run_batch(store=store, model=demo_artifacts.onnx, contract=demo_artifacts.contract, backends=("ort-cpu",),
              modes=("closed-loop",), chunks="0:10", save_outputs=True, progress=False, log=lambda _m: None)
    return store


async def test_ort_closed_loop_run_on_the_demo_store(demo_store_with_run, settle, shown) -> None:
    from inspector.tui.app import make_app

    app = make_app(demo_store_with_run, poll_interval=0, tensor="cache_last_channel_out")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.main
        run = app.data.run_info(screen.run_id)
        assert run is not None and run.backend == "ort-cpu" and run.mode == "closed-loop"
        records = screen.chunk_list.records[screen.run_id]
        assert sorted(records) == list(range(10))
        assert {r.status for r in records.values()} == {"pass"}
        pair = screen.heatmap.pair
        assert pair.has_backend and pair.axes.labels == ("batch", "layer", "time", "channel")
        assert float(pair.view("error").max()) <= 1e-5  # ORT CPU matches the NeMo reference closely
        await pilot.press("n")  # nothing fails: the app says so and stays
        await settle(pilot)
        assert screen.chunk == 0
        await pilot.press("j", "j")
        await settle(pilot)
        assert screen.heatmap.pair.chunk == 2 and "chunk 2 · pass" in shown(app)

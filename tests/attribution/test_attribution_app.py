"""The app's ``a`` key: the attribution ladder of the chunk on screen, run in a worker, shown as a table."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tui"))

from tui_helpers import settle_app  # noqa: E402


async def test_a_shows_the_ladder_and_the_verdict_of_the_selected_runs_chunk(demo, planted, tmp_path) -> None:
    from textual.widgets import DataTable

    from backends.base import make_backend
    from inspector.engine import ParityEngine, RunSpec
    from inspector.tui.app import make_app
    from inspector.tui.screens.attribution import AttributionScreen
    from store import Store

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, demo.contract, planted["bug"])
    with make_backend("ort-cpu", planted["bug"], demo.contract) as be:
        run = eng.run(RunSpec("ort-cpu", "closed-loop", demo.stream, tuple(range(4)), save_outputs=True), be)
    # the app's model is the faithful export; the run's own model (the scaled weight) is the one re-run
    app = make_app(store_path, contract=demo.contract, model=demo.onnx, run=run.run_id, chunk=2, poll_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle_app(pilot)
        await pilot.press("a")
        await settle_app(pilot)
        screen = app.screen
        assert isinstance(screen, AttributionScreen) and screen.report is not None
        assert screen.report.model == str(planted["bug"]) and screen.report.chunk == 2
        table = screen.query_one(DataTable)
        assert table.row_count == 4
        assert [table.get_row_at(i)[0] for i in range(4)] == ["as-run", "switches-off", "upcast", "strict-cpu"]
        assert table.get_row_at(0)[2] == "FAIL" and table.get_row_at(0)[3].endswith("✗")
        verdict = str(screen.query_one("#attr-verdict").render())
        assert "verdict: bug: see triage" in verdict and "inspector triage" in verdict
        await pilot.press("escape")
        await settle_app(pilot)
        assert not isinstance(app.screen, AttributionScreen)


async def test_a_without_a_model_says_what_is_missing(demo, tmp_path) -> None:
    from inspector.tui.app import make_app
    from inspector.tui.screens.attribution import AttributionScreen

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    app = make_app(store_path, contract=demo.contract, model=None, chunk=1, poll_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle_app(pilot)
        await pilot.press("a")
        await settle_app(pilot)
        assert isinstance(app.screen, AttributionScreen) and app.screen.report is None
        assert "open the app with --model" in str(app.screen.query_one("#attr-status").render())

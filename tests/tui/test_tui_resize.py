"""The inspector survives any terminal size and any widget failure (issue 15, item 1).

Resizing re-renders every widget (the error plot's plotext figure is rebuilt on each render): the app is resized
through 60×20 … 300×80 and back in each plot mode and heatmap view, with a failing run, a NaN chunk and imported
runs on screen. A widget that fails is reported by name and the app keeps running (an app that does stop on an
error exits non-zero: tests/tui/test_tui_e2e_tmux.py).
"""

from __future__ import annotations

import pytest

from inspector.tui.app import make_app
from inspector.tui.widgets.plots import ErrorPlot

SIZES = ((60, 20), (80, 24), (120, 40), (200, 55), (300, 80), (200, 55), (120, 40), (80, 24), (60, 20))
NAN_CHUNK = 7
"""`inspector.tui.synthetic.DEFAULT_RUNS`: NaN in encoder_output of chunk 7 of the planted-faults run."""


async def _resize_through(pilot, settle, app) -> None:
    for width, height in SIZES:
        await pilot.resize_terminal(width, height)
        await settle(pilot)
        assert app.size == (width, height)
        assert app.failures == [], f"at {width}x{height}: {app.failures}"
        assert app.is_running


@pytest.mark.parametrize("plot_kind", ["error", "state", "latency"])
async def test_resizes_in_every_view_and_plot_mode(imported_store, settle, plot_kind) -> None:
    path, report_run, summary_run = imported_store
    app = make_app(path, chunk=NAN_CHUNK, poll_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.main
        run = app.data.run_info(screen.run_id)
        assert run is not None and run.backend == "planted-faults" and screen.chunk == NAN_CHUNK
        assert screen.chunk_list.status(NAN_CHUNK) == "fail"
        assert {report_run, summary_run} <= {r.run_id for r in screen.chunk_list.runs}  # imported runs listed
        assert len(screen.plot.other) >= 3  # their figures are on the plot too (faded)
        for _ in range(("error", "state", "latency").index(plot_kind)):  # p cycles error → state → latency
            await pilot.press("p")
            await settle(pilot)
        assert screen.plot.kind == plot_kind
        seen_views = []
        for _ in range(4):
            seen_views.append(screen.heatmap.image.params[1])
            await _resize_through(pilot, settle, app)
            await pilot.press("v")
            await settle(pilot)
        assert seen_views == ["error", "relative", "reference", "backend"]
        # an imported run selected (figures only: the reference is drawn), resized once more
        screen.select_run(summary_run)
        await settle(pilot)
        await _resize_through(pilot, settle, app)
        await pilot.press("j")
        await settle(pilot)
        assert screen.chunk == NAN_CHUNK + 1 and app.failures == []


async def test_plot_rebuilds_on_every_render() -> None:
    """plotext's log scale took the log of already logged values on the second build: values are logged once."""
    from textual.app import App

    class PlotApp(App[None]):
        def compose(self):
            yield ErrorPlot()

    app = PlotApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(ErrorPlot)
        plot.set_series("x", [0, 1, 2, 3], [1e-6, 0.0, 3e-3, 2.0], [("atol", 1e-3)],
                        other={"other": ([0, 1], [1e-5, 1e-4])}, current=1, label="run")
        for width in (80, 50, 120, 80):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            built = plot.plt.build()  # what each render does
            assert "1e-03" in built or "0.001" in built  # decade labels of the log axis


async def test_a_failing_widget_is_named_and_the_app_keeps_running(make_inspector, settle, shown) -> None:
    app = make_inspector()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.main
        legend = screen.query_one("#legend")

        def broken_render(y):
            raise RuntimeError("planted render failure")

        legend.render_line = broken_render  # the next frame raises inside the compositor
        legend.refresh()
        await settle(pilot)
        assert ("ColourLegend#legend", "RuntimeError: planted render failure") in app.failures
        text = shown(app)
        notes = [(n.title, n.message) for n in app._notifications]
        assert any(title == "ColourLegend#legend failed" and "planted render failure" in message
                   for title, message in notes), notes  # a notification names the widget
        assert "⚠ ColourLegend#legend: RuntimeError" in text  # drawn in its place; the rest of the frame is there
        del legend.render_line

        def broken_action():
            raise ValueError("planted action failure")

        screen.action_toggle_plot = broken_action  # a key's action raises in the screen's handler
        await pilot.press("p")
        await settle(pilot)
        assert any(err == "ValueError: planted action failure" for _, err in app.failures)
        await pilot.press("j")  # still handles keys
        await settle(pilot)
        assert screen.chunk == 1 and app.is_running

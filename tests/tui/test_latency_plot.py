"""The app's latency plot (p, third mode): a run's inference ms per chunk, warm-up chunks and outliers marked apart,
the steady median and the shape-change note in its title; it survives resizes."""

from __future__ import annotations

from inspector.latency import latency_series
from inspector.tui.widgets.plots import ErrorPlot


def _records() -> dict[int, dict]:
    """A parakeet-like EXHAUSTIVE run: chunk 0 (41 frames) and chunk 1 (first of 57) search for seconds."""
    recs = {}
    for i in range(12):
        frames = 41 if i == 0 else 57
        ms = {0: 1500.0, 1: 1100.0, 7: 400.0}.get(i, 28.0 + i % 3)
        recs[i] = {"inference_ms": ms, "input_shapes": f"audio_signal=1x128x{frames};length=1"}
    recs[12] = {"inference_ms": None, "input_shapes": ""}  # a chunk that raised: not timed, not drawn
    return recs


def test_latency_series_marks_warmup_outliers_and_the_shape_note() -> None:
    s = latency_series(_records(), "ort-cuda", {"cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert s.chunks == tuple(range(12)) and s.warmup == {0, 1} and s.outliers == {7}
    assert 28.0 <= s.median <= 30.0
    assert not s.notes  # chunk 7 is slow without a shape change: not "exactly where the shape changes"
    recs = _records()
    recs[7]["inference_ms"] = 29.0
    s = latency_series(recs, "ort-cuda", {"cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert any("input shape changes" in n and "HEURISTIC" in n for n in s.notes)


async def test_latency_plot_draws_and_survives_resizes() -> None:
    from textual.app import App

    class PlotApp(App[None]):
        def compose(self):
            yield ErrorPlot()

    app = PlotApp()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(ErrorPlot)
        plot.set_latency("step ms per chunk", latency_series(_records(), "ort-cuda"))
        plot.show_kind("latency")
        for width, height in ((100, 30), (40, 10), (200, 60), (20, 6), (100, 30)):
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            built = plot.plt.build()  # what each render does
        assert "warm-up" in built and "outlier" in built and "steady ms" in built
        plot.set_latency("", None)  # no run selected
        await pilot.pause()
        assert "no step times" in plot.plt.build()

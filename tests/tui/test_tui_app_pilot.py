"""The inspector driven by keys (Textual Pilot, headless) on the synthetic store: navigation, filtering, tensors,
views, layers, the cursor, run and stream selectors, help, command palette, diagnostics panel."""

from __future__ import annotations

import pytest
from textual.filter import ANSIToTruecolor

from inspector.tui.imaging import CURSOR, PALETTE, WORST
from inspector.tui.screens.choose import Choose
from inspector.tui.screens.goto import GotoChunk
from inspector.tui.screens.help import HelpScreen
from inspector.tui.widgets.heatmap import Heatmap

SIZE = (160, 50)


def colours_in(heatmap: Heatmap) -> set[tuple[int, int, int]]:
    """Every colour the heatmap's lines use (foreground and background of each cell)."""
    found = set()
    for y in range(heatmap.size.height):
        for seg in heatmap.render_line(y):
            for colour in (seg.style.color, seg.style.bgcolor) if seg.style else ():
                if colour is not None and colour.triplet is not None:
                    found.add(tuple(colour.triplet))
    return found


async def test_opens_on_the_faulty_run_and_steps(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        run = app.data.run_info(screen.run_id)
        assert run is not None and run.backend == "planted-faults"  # newest run with saved outputs
        assert screen.chunk == 0 and screen.tensor == "encoder_output"
        assert screen.heatmap.image is not None and screen.heatmap.pair.chunk == 0
        await pilot.press("j", "j")
        await settle(pilot)
        assert screen.chunk == 2 and screen.heatmap.pair.chunk == 2
        await pilot.press("k")
        await settle(pilot)
        assert screen.chunk == 1
        await pilot.press("down", "down", "down")  # the chunk list has the focus: arrows step too
        await settle(pilot)
        assert screen.chunk == 4 and screen.heatmap.pair.chunk == 4
        await pilot.press("k", "k", "k", "k", "k", "k")  # clamps at the first chunk
        await settle(pilot)
        assert screen.chunk == 0


async def test_failing_chunks_next_previous_and_filter(make_inspector, settle, shown) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        seen = []
        for _ in range(4):
            await pilot.press("n")
            await settle(pilot)
            seen.append(screen.chunk)
        assert seen == [3, 5, 7, 9]
        await pilot.press("n")  # none after 9: stays, says so
        await settle(pilot)
        assert screen.chunk == 9
        await pilot.press("N")
        await settle(pilot)
        assert screen.chunk == 7
        await pilot.press("f")
        await settle(pilot)
        assert screen.chunk_list.listed == [3, 5, 7, 9]
        assert "chunks 4/12 · failing only" in shown(app)
        await pilot.press("j")
        await settle(pilot)
        assert screen.chunk == 9  # j steps within the filtered list
        await pilot.press("f")
        await settle(pilot)
        assert screen.chunk_list.listed == list(range(12)) and screen.chunk == 9


async def test_goto_modal(make_inspector, settle, shown) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, GotoChunk)
        await pilot.press("4", "2", "enter")  # not a chunk of this stream: the modal says so and stays
        await settle(pilot)
        assert isinstance(app.screen, GotoChunk)
        assert "chunk 42 is not in this stream" in shown(app)
        await pilot.press("backspace", "backspace", "1", "1", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, GotoChunk)
        assert app.main.chunk == 11 and app.main.heatmap.pair.chunk == 11
        await pilot.press("g", "escape")
        await settle(pilot)
        assert app.main.chunk == 11


async def test_tensors_views_and_layers(make_inspector, settle) -> None:
    app = make_inspector(chunk=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        heatmap = screen.heatmap
        assert screen.chunk == 3
        await pilot.press("t", "t")
        await settle(pilot)
        assert screen.tensor == "cache_last_channel_out" and heatmap.pair.name == "cache_last_channel_out"
        assert heatmap.image.params[1:4] == ("error", 0, 0)
        # layer 0 holds no error beyond the noise; layer 1 holds the planted spike, drawn in the worst colour
        assert PALETTE[WORST] not in colours_in(heatmap)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert heatmap.layer_index == 1 and heatmap.image.params[2] == 1
        assert PALETTE[WORST] in colours_in(heatmap)
        await pilot.press("]")  # wraps around the 2 layers
        await settle(pilot)
        assert heatmap.layer_index == 0
        views = []
        for _ in range(4):
            await pilot.press("v")
            await settle(pilot)
            views.append(heatmap.image.params[1])
        assert views == ["relative", "reference", "backend", "error"]
        await pilot.press("T", "T", "T")  # back past the first tensor to the last one
        await settle(pilot)
        assert screen.tensor == "cache_last_channel_len_out"
        assert screen.heatmap.pair.name == "cache_last_channel_len_out"
        assert screen.chunk_list.tensor == "cache_last_channel_len_out"  # the list's figure column follows


async def test_cursor_reports_original_coordinates_and_values(make_inspector, settle, shown) -> None:
    app = make_inspector(chunk=3, tensor="cache_last_channel_out")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        heatmap = app.main.heatmap
        heatmap.focus()
        await pilot.press("w")  # to the tensor's worst element: switches to its layer
        await settle(pilot)
        assert heatmap.layer_index == 1
        report = heatmap.cursor_report()
        assert report.element is not None and report.element.index == (0, 1, 200, 10)
        assert report.element.error == pytest.approx(5e-3, rel=1e-3)
        assert report.worst.index == (0, 1, 200, 10)
        assert "layer 1" in report.where and "time" in report.where and "channel" in report.where
        assert "worst   [0, 1, 200, 10]" in shown(app)
        assert "value   [0, 1, 200, 10]" in shown(app)
        assert PALETTE[CURSOR] in colours_in(heatmap)
        before = heatmap.cursor
        await pilot.press("left")
        await settle(pilot)
        assert heatmap.cursor == (before[0], before[1] - 1)
        assert heatmap.cursor_report().element.index != (0, 1, 200, 10)
        await pilot.press("shift+down")
        await settle(pilot)
        assert heatmap.cursor[0] == before[0] + 8
        # a mouse click puts the cursor on the clicked cell's top pixel
        await pilot.click(Heatmap, offset=(5, 3))
        await settle(pilot)
        assert heatmap.cursor == (6, 5)


async def test_run_selector_metrics_only_run(make_inspector, settle, shown) -> None:
    app = make_inspector(chunk=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, Choose)
        await pilot.press("up", "enter")  # choices: reference only, run 1 (clean), run 2 (faults, current)
        await settle(pilot)
        assert app.data.run_info(screen.run_id).backend == "planted-clean"
        pair = screen.heatmap.pair
        assert pair.run_id == screen.run_id and not pair.has_backend
        assert screen.heatmap.image.params[1] == "reference"
        assert "--save-outputs" in shown(app)
        assert screen.chunk_list.failing() == []
        await pilot.press("n")  # nothing fails in this run
        await settle(pilot)
        assert screen.chunk == 2


async def test_stream_selector(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, Choose)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.main
        assert screen.stream == "utt-0002" and screen.run_id == ""  # no run recorded for this stream
        assert screen.heatmap.pair.stream == "utt-0002" and screen.heatmap.pair.chunk == 0
        assert screen.chunk_list.runs == []


async def test_help_screen_lists_every_key(make_inspector, settle, shown) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = shown(app)
        await pilot.press("end")  # the list scrolls when the terminal is short
        await settle(pilot)
        text += shown(app)
        for description in ("Next chunk that fails", "Go to a chunk by number", "List only the chunks that fail",
                            "Next output tensor", "Next view: |error|", "Next layer of a cache tensor",
                            "Choose the stream", "Choose the run", "cache_last_time checks", "Cursor to worst",
                            "Move the cursor by 8", "Command palette", "Quit", "Run a backend on this chunk",
                            "First diverging node", "reproduction bundle", "full report", "Cancel the running",
                            "state trajectory"):
            assert description in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_commands(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"next failing")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.main.chunk == 3
        await pilot.press("ctrl+p")
        await pilot.press(*"tensor: cache_last_time_out")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.main.tensor == "cache_last_time_out"
        await pilot.press("ctrl+p")  # the new keys are commands too
        await pilot.press(*"plot [p]")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.main.plot.kind == "state"


async def test_diagnostics_panel_runs_in_a_worker(make_inspector, settle, shown) -> None:
    """d without --model: the selected run's recorded outputs of the chunk are diagnosed (checks 1-2) in a worker,
    and the panel says what checks 3-4 need."""
    app = make_inspector(chunk=3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        panel = app.main.diagnostics
        assert not panel.has_class("-running")
        assert panel.last is not None and panel.last.kind == "cache-time"
        assert panel.verdict == "no significant error · not checked"
        assert "cache_last_time · chunk 3 · planted-faults" in shown(app)
        assert "--model PATH.onnx" in " ".join(str(panel.query_one("#diag-body").render()).split())


async def test_heatmap_skips_only_the_truecolor_filter(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        filters = app.main.heatmap.get_line_filters()
        assert not any(isinstance(f, ANSIToTruecolor) for f in filters)
        assert len(filters) == len([f for f in app.get_line_filters() if not isinstance(f, ANSIToTruecolor)])


async def test_runs_written_while_open_appear(synthetic_store, tmp_path, settle, shown) -> None:
    """A batch run recorded into the store while the inspector is open shows up on reload (and by polling)."""
    import shutil

    from inspector.engine import ParityEngine, RunSpec
    from inspector.tui.app import make_app
    from synthetic import Fault, PlantedBackend, Shapes, _key, reference_chunks
    from store import Store

    copy = tmp_path / "synthetic.zarr"
    shutil.copytree(synthetic_store.path, copy)
    app = make_app(copy, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(app.main.chunk_list.runs) == 2
        by_audio = {_key(inputs["audio_signal"]): (i, outputs)
                    for i, inputs, outputs in reference_chunks(Shapes(), 12, seed=0)}
        backend = PlantedBackend(None, synthetic_store.contract,
                                 {"by_audio": by_audio, "faults": (Fault(1, "encoder_output", (0, 0, 0), 1.0),),
                                  "noise": 0.0})
        backend.name = "planted-late"
        with backend:
            ParityEngine(Store.open(copy, mode="a"), synthetic_store.contract).run(
                RunSpec("planted-late", "functional", "utt-0001", tuple(range(12)), save_outputs=True), backend)
        await pilot.press("ctrl+r")
        await settle(pilot)
        screen = app.main
        assert [r.backend for r in screen.chunk_list.runs] == ["planted-clean", "planted-faults", "planted-late"]
        assert screen.chunk_list.status(1, screen.chunk_list.runs[2].run_id) == "fail"
        assert "3 planted-late functional" in shown(app)

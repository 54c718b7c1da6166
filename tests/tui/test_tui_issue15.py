"""Issue 15's smaller fixes, each as the user meets it: go-to typed in one burst, ``f`` with nothing failing, Enter
in any field of the run dialog, runs told apart by options and model, a banner on an unfinished store, a store of
imported runs only, and large tensors read one layer at a time (store chunked by layer)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from textual import events
from textual.app import App

import inspector.tui.app
from inspector.tui.app import make_app
from inspector.tui.data import distinct_labels, options_text
from inspector.tui.jobs import BackendChoice
from inspector.tui.records import RunInfo
from inspector.tui.screens.goto import GotoChunk
from inspector.tui.screens.run_dialog import RunDialog

SIZE = (160, 50)


async def test_goto_takes_keys_typed_in_one_burst(make_inspector, settle) -> None:
    """``g 1 1 Enter`` sent at once (as a fast typist or a paste does): before, the digits went to the screen below
    while the modal opened, and Enter answered "'' is not a chunk number"."""
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, char in (("g", "g"), ("1", "1"), ("1", "1"), ("enter", "\r")):
            app.post_message(events.Key(key, char))  # no waiting in between
        await settle(pilot)
        assert not isinstance(app.screen, GotoChunk)
        assert app.main.chunk == 11 and app.main.heatmap.pair.chunk == 11


async def test_filter_with_nothing_failing_keeps_the_list(make_inspector, settle) -> None:
    app = make_inspector(chunk=4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        clean = next(r.run_id for r in screen.chunk_list.runs if r.backend == "planted-clean")
        screen.select_run(clean)
        await settle(pilot)
        assert screen.chunk_list.failing() == []
        await pilot.press("f")
        await settle(pilot)
        assert screen.chunk_list.listed == list(range(12)) and not screen.failing_only and screen.chunk == 4
        assert any("No failing chunks" in n.message for n in app._notifications)


class DialogApp(App[None]):
    """Only the run dialog (with the app's style sheet), with a backend list as the availability check gives it."""

    CSS_PATH = str(Path(inspector.tui.app.__file__).with_name("inspector.tcss"))

    def __init__(self) -> None:
        super().__init__()
        self.answer: object = "unanswered"

    def on_mount(self) -> None:
        choices = [BackendChoice("ort-cpu", True), BackendChoice("ort-cuda", False, "no CUDA device", "")]
        self.push_screen(RunDialog("utt-0001", list(range(12)), 3, choices, lambda: choices),
                         lambda answer: setattr(self, "answer", answer))


@pytest.mark.parametrize("keys, mode, chunks", [
    (["enter"], "functional", list(range(12))),  # on the backend list (default: every chunk)
    (["tab", "right", "enter"], "closed-loop", list(range(12))),  # on the mode choice: the one under the cursor
    (["tab", "tab", "enter"], "functional", list(range(12))),  # on the chunks choice, not moved: the selection
    (["tab", "tab", "right", "enter"], "functional", [3]),  # moved from "all" on to "current": that one
    (["tab", "tab", "tab", "2", ":", "5", "enter"], "functional", [2, 3, 4]),  # in the range field
])
async def test_enter_runs_from_any_field_of_the_run_dialog(keys, mode, chunks) -> None:
    app = DialogApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, RunDialog)
        assert "mode default: functional" in str(dialog.query("Label").first().parent.query("Label")[1].render())
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        assert app.answer != "unanswered", "Enter did not run"
        assert (app.answer.backend, app.answer.mode, list(app.answer.chunks)) == ("ort-cpu", mode, chunks)


async def test_the_selection_is_marked_apart_from_the_cursor() -> None:
    """In a choice the selected button is bold green, the cursor (focused) only underlined; moving the cursor off
    the selection leaves the selection's mark where it was."""
    from textual.widgets import RadioButton

    app = DialogApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ("tab", "tab", "right"):  # the chunks choice, cursor moved from "all" (selected) to "current"
            await pilot.press(key)
        await pilot.pause()
        buttons = {str(b.label).split()[0]: b for b in app.screen.query_one("#run-range").query(RadioButton)}
        selected = buttons["all"].get_component_rich_style("toggle--label")
        cursor = buttons["current"].get_component_rich_style("toggle--label")
        assert buttons["all"].value and not buttons["current"].value
        assert selected.bold and not selected.underline
        assert cursor.underline and not cursor.bold and cursor.color != selected.color


def test_runs_are_labelled_by_options_and_model() -> None:
    base = dict(backend="ort-cuda", mode="closed-loop", stream="s", status="complete", n_chunks=3)
    one = RunInfo(run_id="a", model="m.onnx", digest="3fa2", options=options_text({"use_tf32": 0}), **base)
    assert one.short == "ort-cuda·CL tf32=off m.onnx#3fa2"
    assert one.label == "ort-cuda closed-loop tf32=off m.onnx#3fa2"
    assert options_text({"use_tf32": "1", "io_binding": False, "save_outputs": True, "threads": 4}) == \
        "io_binding=off threads=4 tf32=on"  # sorted by the recorded key (use_tf32)
    # two runs that still read the same (same backend, mode, options, model) never share a legend entry
    twins = [RunInfo(run_id=f"r{i}", started=f"2026-12-02T17:0{i}:00+00:00", **base) for i in (1, 2)]
    labels = distinct_labels(twins)
    assert len(set(labels.values())) == 2 and labels["r1"].startswith("ort-cuda·CL")


async def test_plot_legend_tells_runs_apart(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        plot = app.main.plot
        assert plot.label.startswith("planted-faults·F") and "noise=2e-06" in plot.label
        assert [label.split()[0] for label in plot.other] == ["planted-clean·CL"]


async def test_an_unfinished_store_opens_with_a_banner(synthetic_store, tmp_path, settle, shown) -> None:
    """A conversion killed half way leaves ``conversion.status`` at ``running`` with nobody holding the lock."""
    from store import Store

    copy = tmp_path / "half.zarr"
    shutil.copytree(synthetic_store.path, copy)
    Store.open(copy, mode="a").update_attrs(conversion={"status": "running"}, source="ref.jsonl")
    app = make_app(copy, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.main.banner_text
        assert "Unfinished conversion: 24 chunks converted" in banner
        assert f"inspector convert ref.jsonl {copy}" in banner
        assert "Unfinished conversion" in shown(app)


async def test_a_complete_store_has_no_banner(make_inspector, settle) -> None:
    app = make_inspector()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main.banner_text == ""


async def test_a_store_of_imported_runs_only_opens_on_them(tmp_path, settle, shown) -> None:
    from inspector.importers.record import import_file
    from store import Store

    from conftest import IMPORT_SAMPLES

    path = tmp_path / "imported-only.zarr"
    Store.create(path, attrs={"contract": "demo_streaming"})
    outcome = import_file(IMPORT_SAMPLES / "ort_cuda_closed_loop.json", path, stream="utt-0001")
    app = make_app(path, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.main
        assert screen.stream == "utt-0001" and screen.run_id == outcome.run_id
        assert len(screen.chunk_list.listed) >= 3 and screen.chunk is not None
        assert screen.tensor  # the tensors the run has figures for
        assert "imported runs only" in screen.banner_text
        assert "no reference chunks" in shown(app)
        await pilot.press("j")
        await settle(pilot)
        assert app.failures == []


def test_large_tensors_are_stored_one_chunk_per_layer(tmp_path) -> None:
    """A [1, 24, 256, 1024] cache: one chunk file per layer; any Zarr reader reads it; a layer is read alone."""
    import zarr

    from store.arrays import array_problem, read_array_at, read_array_part, write_array

    rng = np.random.default_rng(0)
    cache = rng.standard_normal((1, 24, 256, 1024)).astype(np.float32)
    cache[0, 3] = 0.0  # an all-zero layer gets no file, as zarr does
    write_array(tmp_path / "cache", cache, "blosc-lz4")
    files = sorted(p.relative_to(tmp_path / "cache").as_posix() for p in (tmp_path / "cache" / "c").rglob("*")
                   if p.is_file())
    assert len(files) == 23 and "c/0/3/0/0" not in files
    assert np.array_equal(read_array_at(tmp_path / "cache"), cache)
    assert np.array_equal(zarr.open_array(store=str(tmp_path / "cache"), mode="r")[...], cache)
    assert np.array_equal(read_array_part(tmp_path / "cache", (0, 7)), cache[0, 7])
    assert np.array_equal(read_array_part(tmp_path / "cache", (0, 3)), cache[0, 3])
    (tmp_path / "cache" / "c" / "0" / "7" / "0" / "0").write_bytes(b"garbage")
    assert "c/0/7/0/0 is 7 bytes" in array_problem(tmp_path / "cache")
    # a small tensor keeps one chunk (as every store written before did): read whole, parts indexed
    small = rng.standard_normal((1, 2, 8, 4)).astype(np.float32)
    write_array(tmp_path / "small", small, "blosc-lz4")
    assert (tmp_path / "small" / "c" / "0" / "0" / "0" / "0").is_file()
    assert np.array_equal(read_array_part(tmp_path / "small", (0, 1)), small[0, 1])


async def test_a_step_reads_only_the_layer_shown(make_inspector, settle) -> None:
    app = make_inspector(chunk=3, tensor="cache_last_channel_out")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pair = app.main.heatmap.pair
        for side in (pair.reference, pair.backend):
            assert side._whole is None  # never read whole
            assert set(side._slabs) <= {(0, 0), (0, 1)}  # the layer shown and the worst element's

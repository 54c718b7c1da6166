"""`inspector tui` with no path: a picker over the folder lists reference JSONL files, stores and reports recognised
by content (whatever their names), with size and what each is; Enter opens one."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))

from store_samples import write_reference, write_seed_reference  # noqa: E402
from test_tui_open import listed  # noqa: E402

from inspector.tui.app import OpenRequest, make_open_app  # noqa: E402
from inspector.tui.screens.main import MainScreen  # noqa: E402
from inspector.tui.screens.picker import PickerScreen  # noqa: E402

SIZE = (160, 40)
IMPORT_SAMPLES = Path(__file__).parents[1] / "importers" / "data"


def folder_of_everything(folder: Path) -> None:
    from store.convert import convert

    write_reference(folder / "ours.jsonl", n=3)
    write_seed_reference(folder / "seed_dump.txt", n=2)  # the seed team's lines under a name that says nothing
    convert(folder / "ours.jsonl", folder / "ours.zarr", progress=False, workers=1)
    shutil.copy(IMPORT_SAMPLES / "trt_fp16.json", folder / "trt_fp16.json")
    shutil.copy(IMPORT_SAMPLES / "summary_stateful.jsonl", folder / "steps.log")
    (folder / "notes.json").write_text('{"a": 1}')  # JSON, but none of ours
    (folder / "README.txt").write_text("hello")
    (folder / "empty-dir").mkdir()


async def wait_for(pilot: Any, test: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_picker_lists_what_the_app_opens_by_content(tmp_path, shown) -> None:
    folder_of_everything(tmp_path)
    app = make_open_app(OpenRequest(path=None, folder=tmp_path), poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.entries, "the listing")
        picker = app.screen
        kinds = {s.path.name: s.kind for s in picker.entries}
        assert kinds == {"ours.jsonl": "reference", "seed_dump.txt": "reference", "ours.zarr": "store",
                         "trt_fp16.json": "report", "steps.log": "summary"}
        await pilot.pause(0.1)
        text = shown(app)
        assert "5 found in" in text
        assert "reference JSONL (ours, with header) · store ours.zarr: parity store · 1 stream · 3 chunks" in text
        assert "reference JSONL (seed team's format) · not converted yet" in text
        assert "parity report (TensorRT schema, 50 chunks)" in text and "streaming summary (100 chunks)" in text
        for s in picker.entries:  # sizes as the files are
            if s.kind != "store":
                assert s.size == s.path.stat().st_size


async def test_enter_on_a_jsonl_converts_and_opens_it(tmp_path, settle) -> None:
    folder_of_everything(tmp_path)
    app = make_open_app(OpenRequest(path=None, folder=tmp_path), poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.entries, "the listing")
        names = [s.path.name for s in app.screen.entries]
        for _ in range(names.index("seed_dump.txt")):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.conversion is not None and app.conversion.finished.is_set(),
                       "the conversion")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and listed(app) == [0, 1],
                       "the main screen on the two chunks")
        assert app.conversion.store == tmp_path / "seed_dump.zarr"


async def test_a_folder_with_nothing_to_open_says_so(tmp_path, shown) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    app = make_open_app(OpenRequest(path=None, folder=tmp_path), poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "No reference JSONL, store" in shown(app), "the empty message")
        await pilot.press("escape")
    assert app.return_code in (0, None)


async def test_a_report_without_a_store_is_refused_in_the_picker(tmp_path, shown) -> None:
    shutil.copy(IMPORT_SAMPLES / "trt_fp16.json", tmp_path / "trt_fp16.json")
    app = make_open_app(OpenRequest(path=None, folder=tmp_path), poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.entries, "the listing")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.title == "Cannot open trt_fp16.json" for n in app._notifications),
                       "the reason in a notification")
        (note,) = [n for n in app._notifications if n.title == "Cannot open trt_fp16.json"]
        assert "needs the store of that reference" in note.message and "Pass --store STORE.zarr" in note.message
        assert isinstance(app.screen, PickerScreen)  # the picker stays: choose something else

"""`inspector tui PATH` on what users have (Textual Pilot, headless, the real converter and store): a reference JSONL
in our format and the seed team's converts inside the app, its chunk list grows as chunks land, a quit keeps the
converted chunks and the next open resumes, a bad line's error is shown with the chunks before it browsable,
--skip-invalid converts the rest, and a parity report is imported into its store and shown."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))

from store_samples import write_lines, write_reference, write_seed_reference  # noqa: E402

from tui_helpers import screen_text  # noqa: E402

from inspector.tui.app import OpenRequest, make_open_app  # noqa: E402
from inspector.tui.screens.converting import ConvertingScreen  # noqa: E402
from inspector.tui.screens.main import MainScreen  # noqa: E402
from inspector.tui.widgets.chunk_list import ChunkList  # noqa: E402
from inspector.tui.widgets.convert_progress import ConvertProgress  # noqa: E402

SIZE = (160, 50)
IMPORT_SAMPLES = Path(__file__).parents[1] / "importers" / "data"


def open_app(path: Path | None, **request: Any):
    return make_open_app(OpenRequest(path=path, **request), poll_interval=0)


async def wait_until(pilot: Any, test: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listed(app: Any) -> list[int]:
    """The chunk indices the main screen's chunk list holds (empty before the main screen is up)."""
    try:
        found = app.main.query(ChunkList)
    except LookupError:
        return []
    return list(found.first().indices) if found else []  # (none while the screen is still being composed)


async def until_listed(pilot: Any, app: Any, expected: list[int]) -> None:
    """Wait until the chunk list holds `expected` (the list re-reads the store a moment after chunks land)."""
    await wait_until(pilot, lambda: listed(app) == expected, f"the chunk list to hold {expected} (it holds "
                     f"{listed(app)})", timeout=10)


def panel_text(app: Any) -> str:
    """What the conversion panel shows on the screen on top ("" when it has none)."""
    panels = app.screen.query(ConvertProgress)
    if not panels:
        return ""
    region = panels.first().region
    lines = screen_text(app).splitlines()
    return "\n".join(line[region.x:region.right] for line in lines[region.y:region.bottom])


@pytest.mark.parametrize("writer", [write_reference, write_seed_reference], ids=["ours", "seed"])
async def test_a_reference_jsonl_converts_beside_itself_and_opens(tmp_path, writer, settle, shown) -> None:
    ref, expected = writer(tmp_path / "ref.jsonl", n=5)
    app = open_app(ref)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion is not None and app.conversion.finished.is_set(),
                         "the conversion")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await until_listed(pilot, app, [0, 1, 2, 3, 4])
        assert app.main.heatmap.pair is not None and app.main.heatmap.pair.chunk == 0
        assert app.conversion.status.state == "complete" and app.conversion.status.chunks == 5
        assert "ref.zarr: 5 chunks from ref.jsonl" in shown(app)
    from store import Store

    st = Store.open(tmp_path / "ref.zarr")
    assert st.attrs["conversion"]["status"] == "complete"
    assert st.attrs["source_format"] == ("seed" if writer is write_seed_reference else "parity")
    assert {(s, i) for s in st.streams() for i in st.chunk_indices(s)} == set(expected)


async def test_store_option_names_where_the_jsonl_converts(tmp_path, settle) -> None:
    ref, _ = write_reference(tmp_path / "ref.jsonl", n=3)
    app = open_app(ref, store=tmp_path / "elsewhere" / "mine.zarr")
    (tmp_path / "elsewhere").mkdir()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion.finished.is_set(), "the conversion")
        await settle(pilot)
        await until_listed(pilot, app, [0, 1, 2])
    assert (tmp_path / "elsewhere" / "mine.zarr" / "zarr.json").is_file() and not (tmp_path / "ref.zarr").exists()


def slow_reference(path: Path, n: int = 40) -> Path:
    """Lines big enough (~0.4 MB) that one converter process takes a noticeable time over the file."""
    ref, _ = write_reference(path, n=n, d_model=64, cache=64)
    return ref


async def test_the_chunk_list_grows_while_the_file_converts_under_a_progress_bar(tmp_path) -> None:
    ref = slow_reference(tmp_path / "ref.jsonl")
    app = open_app(ref, workers=1)
    seen: list[int] = []
    panels: list[str] = []
    screens: set[str] = set()
    async with app.run_test(size=SIZE) as pilot:
        while not app.conversion.finished.is_set():
            screens.add(type(app.screen).__name__)
            seen.append(len(listed(app)))
            if 0 < seen[-1] < 40:
                panels.append(panel_text(app))
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: len(listed(app)) == 40, "every chunk in the list")
    growing = sorted({n for n in seen if 0 < n < 40})
    assert growing, f"the list never showed part of the file while it converted: {sorted(set(seen))}"
    assert seen == sorted(seen), "the list shrank while chunks landed"
    assert "MainScreen" in screens  # browsable before the conversion ended
    # while chunks were browsable, the panel above them showed the progress: speed, chunks, ETA
    progress = [t for t in panels if "Converting ref.jsonl → ref.zarr" in t]
    assert progress, panels[-1:]
    assert any("MB/s" in t and " chunks · ETA " in t and "%" in t for t in progress), progress[-1]


async def test_quit_keeps_the_converted_chunks_and_the_next_open_resumes(tmp_path, settle) -> None:
    from store import Store

    ref = slow_reference(tmp_path / "ref.jsonl")
    app = open_app(ref, workers=1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(listed(app)) >= 1, "the first chunk in the list")
        await pilot.press("q")
    assert app.conversion.finished.wait(60)
    assert app.conversion.status.state == "cancelled"
    st = Store.open(tmp_path / "ref.zarr")
    kept = st.num_chunks("default")
    assert 0 < kept < 40, kept
    assert st.attrs["conversion"]["status"] == "interrupted"

    again = open_app(ref, workers=1)
    async with again.run_test(size=SIZE) as pilot:
        # the chunks already there are browsable at once, before the conversion goes on
        await wait_until(pilot, lambda: len(listed(again)) >= kept, "the kept chunks")
        await wait_until(pilot, lambda: again.conversion.finished.is_set(), "the resumed conversion")
        await settle(pilot)
        await until_listed(pilot, again, list(range(40)))
    result = again.conversion_result
    assert result is not None and result.status == "complete"
    assert result.chunks_before == kept and result.chunks_new == 40 - kept


def bad_reference(path: Path) -> Path:
    """Four good chunks, then a line whose tensor says shape [1, 8, 3] but holds 5 numbers, then two more."""
    good, _ = write_reference(path.with_name("good.jsonl"), n=7, header=False)
    lines = good.read_text().splitlines()
    lines[4] = lines[4].replace('"shape": [1, 8, 3]', '"shape": [1, 8, 4]', 1)
    return write_lines(path, lines)


async def test_a_bad_line_shows_the_clis_error_and_keeps_the_chunks_before_it(tmp_path, settle) -> None:
    bad = bad_reference(tmp_path / "bad.jsonl")
    app = open_app(bad)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion.finished.is_set(), "the conversion to stop")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        await until_listed(pilot, app, [0, 1, 2, 3])  # the chunks before the bad line, browsable
        await pilot.press("j", "j", "j")
        await settle(pilot)
        assert app.main.heatmap.pair.chunk == 3
        status = app.conversion.status
        assert status.state == "stopped"
        panel = app.screen.query_one(ConvertProgress)
        assert panel.border_title == "conversion stopped at a bad line" and panel.has_class("-error")
        assert "line 5" in status.error and "chunk 4" in status.error and "encoder_output" in status.error
        assert "The 4 chunks converted before it are kept" in panel_text(app)
    assert app.user_error == status.error  # `inspector tui` prints it and exits 2 once the app closes
    # the same paragraph as `inspector convert` prints for the same file and store
    cli = subprocess.run([sys.executable, "-m", "inspector.cli", "convert", str(bad), "-o", str(tmp_path / "bad.zarr"),
                          "-q"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"error: {status.error}"


async def test_a_bad_first_line_keeps_the_error_on_the_converting_screen(tmp_path, settle) -> None:
    bad = write_lines(tmp_path / "bad.jsonl", ['{"chunk_idx": 0, "inputs": {"x": [1, 2]}, "outputs": {"y": [1,'])
    app = open_app(bad)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion.finished.is_set(), "the conversion to stop")
        await settle(pilot)
        assert isinstance(app.screen, ConvertingScreen)
        text = panel_text(app)
        assert "bad.jsonl, line 1" in text and "No chunk was converted." in text
    assert app.user_error.startswith(f"{bad}, line 1")


async def test_skip_invalid_converts_the_other_lines_and_lists_the_bad_one(tmp_path, settle) -> None:
    bad = bad_reference(tmp_path / "bad.jsonl")
    app = open_app(bad, skip_invalid=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion.finished.is_set(), "the conversion")
        await settle(pilot)
        await until_listed(pilot, app, [0, 1, 2, 3, 5, 6])
        text = panel_text(app)
        assert "1 line(s) left out (--skip-invalid)" in text and "line 5 (stream 'default', chunk 4" in text
    assert app.user_error == ""


async def test_a_changed_file_is_refused_as_convert_refuses_it(tmp_path, settle) -> None:
    from store.convert import convert

    ref, _ = write_reference(tmp_path / "ref.jsonl", n=3)
    convert(ref, tmp_path / "ref.zarr", progress=False, workers=1)
    write_reference(ref, n=4)  # another file under the same name
    app = open_app(ref)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.conversion.finished.is_set(), "the conversion")
        await settle(pilot)
        assert app.conversion.status.state == "refused"
        assert "was converted from a different file" in app.conversion.status.error
        await until_listed(pilot, app, [0, 1, 2])  # the store as it was, still browsable
    assert "--overwrite" in app.user_error


async def test_a_report_is_imported_into_the_store_of_its_reference(tmp_path, settle) -> None:
    ref, _ = write_reference(tmp_path / "ref.jsonl", n=6, header=False)
    report = tmp_path / "ort.json"
    shutil.copy(IMPORT_SAMPLES / "ort_cuda_closed_loop.json", report)
    app = open_app(report, store=ref)  # --store REF.jsonl: converted first, then the report imported
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.imported is not None or bool(app.user_error), "the import")
        await settle(pilot)
        assert app.user_error == ""
        assert app.imported.kind == "report"
        assert app.main.run_id == app.imported.run_id
        await until_listed(pilot, app, list(range(6)))
        assert app.data.run_info(app.imported.run_id).mode == "imported"


async def test_a_report_opens_in_the_only_store_of_its_folder(tmp_path, settle) -> None:
    from store.convert import convert

    ref, _ = write_reference(tmp_path / "ref.jsonl", n=4, header=False)
    convert(ref, tmp_path / "ref.zarr", progress=False, workers=1)
    report = tmp_path / "summary.jsonl"
    shutil.copy(IMPORT_SAMPLES / "summary_stateful.jsonl", report)
    app = open_app(report)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.imported is not None or bool(app.user_error), "the import")
        await settle(pilot)
        assert app.imported.kind == "summary" and app.main.run_id == app.imported.run_id
        assert app.conversion is None  # nothing to convert


async def test_a_store_opens_as_before(synthetic_store, settle) -> None:
    app = open_app(synthetic_store.path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and app.conversion is None
        assert len(listed(app)) == 12

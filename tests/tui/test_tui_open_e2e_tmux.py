"""The real `inspector tui ref.jsonl` in a real terminal (tmux): the file converts on all cores while its chunks are
browsed, q keeps the converted chunks and says how to resume, and a bad line's error is on screen and printed with
exit status 2 when the app closes. Skips when tmux is not installed (see test_tui_e2e_tmux.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))

from store_samples import write_lines, write_reference  # noqa: E402
from test_tui_e2e_tmux import Terminal, pytestmark  # noqa: E402,F401  (the same skip when tmux is missing)


def inspector_tui(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector.cli", "tui", *args, "--poll", "0"]


def test_a_jsonl_converts_in_the_real_app_and_a_quit_keeps_its_chunks(tmp_path) -> None:
    from store import Store

    ref, _ = write_reference(tmp_path / "ref.jsonl", n=60, d_model=64, cache=64)
    term = Terminal(inspector_tui(str(ref)))
    try:
        screen = term.wait_for(lambda s: "Converting ref.jsonl → ref.zarr" in s and "chunks " in s and "▄" in s,
                               "the first chunk's heatmap under the conversion's progress bar")
        assert "MB/s" in screen and "ETA" in screen
        term.send("q")
        screen = term.wait_for(lambda s: "INSPECTOR-EXITED" in s, "the app to quit")
        assert "INSPECTOR-EXITED 0" in screen
    finally:
        term.close()
    st = Store.open(tmp_path / "ref.zarr")
    kept = st.num_chunks("default")
    if kept < 60:  # stopped mid-way (on a fast machine it may have finished first)
        assert st.attrs["conversion"]["status"] == "interrupted"
        assert f"conversion stopped with {kept} chunks kept" in screen  # printed once the app closed

    term = Terminal(inspector_tui(str(ref)))
    try:
        term.wait_for(lambda s: "chunks 60/60" in s and "ref.zarr: 60 chunks from ref.jsonl" in s,
                      "the resumed conversion to finish with every chunk listed")
        term.send("q")
        term.wait_for(lambda s: "INSPECTOR-EXITED 0" in s, "the app to quit with status 0")
    finally:
        term.close()


def test_a_bad_line_in_the_real_app(tmp_path) -> None:
    good, _ = write_reference(tmp_path / "good.jsonl", n=5, header=False)
    lines = good.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]  # a line cut in the middle
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    term = Terminal(inspector_tui(str(bad)))
    try:
        screen = term.wait_for(lambda s: "conversion stopped at a bad line" in s and "chunks 3/3" in s,
                               "the error panel over the three chunks before the bad line")
        assert "line 4" in screen and "The 3 chunks converted before it are kept" in screen
        term.send("q")
        screen = term.wait_for(lambda s: "INSPECTOR-EXITED" in s, "the app to quit")
        assert "INSPECTOR-EXITED 2" in screen
        assert "error: " in screen and "bad.jsonl, line 4" in " ".join(screen.split())
    finally:
        term.close()

"""Snapshots of the inspector's main screens on the deterministic synthetic store (pytest-textual-snapshot).

Update with ``python -m pytest tests/tui/test_snapshots.py --snapshot-update`` only after checking the report
(``snapshot_report.html``) shows the intended change. Each interaction settles every worker before the screenshot.
"""

from __future__ import annotations

from typing import Any

from tui_helpers import settle_app

SIZE = (160, 50)


def keys(*presses: str):
    async def run_before(pilot: Any) -> None:
        await settle_app(pilot)
        for key in presses:
            await pilot.press(key)
            await settle_app(pilot)

    return run_before


class TestMainScreen:
    def test_failing_chunk_cache_heatmap(self, snap_compare, make_inspector) -> None:
        """Chunk 3 of the faulty run, cache_last_channel_out, layer 1: the planted spike is the one red cell,
        the empty (exact) part of the cache is black; the contract panel lists the failing tolerance first."""
        app = make_inspector(chunk=3, tensor="cache_last_channel_out")
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("right_square_bracket"))

    def test_failing_only_on_a_nan_chunk(self, snap_compare, make_inspector) -> None:
        """n n n then f: only the failing chunks are listed, chunk 7 is current; its encoder_output NaN shows in
        the NaN colour and the finite-output invariant fails."""
        app = make_inspector()
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("n", "n", "n", "f"))

    def test_metrics_only_run(self, snap_compare, make_inspector) -> None:
        """The closed-loop run kept metrics only: the heatmap falls back to the reference and says why; the run's
        acceptance verdicts all pass."""
        app = make_inspector(chunk=4)
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("r", "up", "enter"))


class TestModals:
    def test_help_screen(self, snap_compare, make_inspector) -> None:
        """? lists every key by area, generated from the bindings."""
        app = make_inspector()
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("question_mark"))


class TestImportedRuns:
    def test_undecided_chunks_are_unknown(self, snap_compare, imported_store) -> None:
        """The seed's ORT CUDA report imported as a run: chunks it gives no figure for are '?' (unknown, never a
        pass), the failing ones ✗; the contract panel says why chunk 0 is undecided."""
        from inspector.tui.app import make_app

        path, report_run, _ = imported_store
        app = make_app(path, poll_interval=0, run=report_run)
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_state_trajectory_plot(self, snap_compare, imported_store) -> None:
        """p on an imported streaming summary: cache length in/out per chunk; the panel shows the chunk's state
        and the trajectory verdict in words."""
        from inspector.tui.app import make_app

        path, _, summary_run = imported_store
        app = make_app(path, poll_interval=0, run=summary_run, chunk=5)
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("p"))


class TestTerminalSizes:
    def test_80x24_heatmap_legend_and_position(self, snap_compare, make_inspector) -> None:
        """80×24: the side panels collapse (l and C bring them back); the heatmap takes the width, with its legend
        and the chunk's position (8/12) on the info line; the plot is lower."""
        app = make_inspector(chunk=7)
        assert snap_compare(app, terminal_size=(80, 24), run_before=keys())

    def test_200x55_cache_heatmap(self, snap_compare, make_inspector) -> None:
        """200×55: every panel, the cache heatmap at layer 1 with the planted spike."""
        app = make_inspector(chunk=3, tensor="cache_last_channel_out")
        assert snap_compare(app, terminal_size=(200, 55), run_before=keys("right_square_bracket"))

"""Helpers of the inspector's tests (imported by `conftest.py` and the snapshot tests)."""

from __future__ import annotations

from typing import Any


def _pending_panels(app: Any) -> bool:
    try:
        return bool(app.main.pending_updates)
    except LookupError:
        return False


async def settle_app(pilot: Any, rounds: int = 200) -> None:
    """Wait until no worker is pending or running, no debounced panel update is due, and the queues are drained."""
    from textual.worker import WorkerCancelled, WorkerState

    app = pilot.app
    active = (WorkerState.PENDING, WorkerState.RUNNING)
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in app.workers if w.state in active]
        if not busy:
            if _pending_panels(app):
                await pilot.pause(0.05)  # debounced panel updates (plot marker, contract panel)
                continue
            await pilot.pause()
            if not any(w.state in active for w in app.workers) and not _pending_panels(app):
                return
            continue
        try:
            await app.workers.wait_for_complete(busy)
        except WorkerCancelled:
            pass
    raise AssertionError("the app did not settle")


def screen_text(app: Any) -> str:
    """What the terminal shows right now, as plain text (the compositor's lines of the top screen)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

"""Does the closed loop carry state? Trajectory, sensitivity probe and verdicts (issue 8).

A closed loop whose caches do nothing "passes" while testing nothing: the seed report's 50-chunk closed loop had
``cache_last_channel_len`` at 0 on every chunk. This package makes such a vacuous pass impossible:

- `trajectory.TrajectoryHook` records per chunk the cache length in and out and a fingerprint of each cache;
- `probe.StateProbeHook` (a `TrajectoryHook`) also re-runs a few chunks with each state input zeroed or swapped
  for an earlier chunk's and measures how far the outputs move, and tries other feedback wirings when the loop breaks
  on its first fed-back chunk;
- `verdict.state_verdicts` turns the records into the run's ``state_carried``, ``state_trajectory`` and
  ``state_feedback`` verdicts, in words, and marks ``no_growth`` "not meaningful" when no state is carried;
- `report.state_report` / `report.state_markdown` render the trajectory and the probe's numbers for the JSON and
  Markdown reports; `loop.inspect_state` runs a closed loop with these hooks without recording a run
  (``inspector diagnose state``).

Use `default_hooks` as `inspector.batch.run_batch`'s ``hook_factory`` (closed-loop runs get a `StateProbeHook`), or
pass `state_hooks()` to `inspector.engine.ParityEngine(..., hooks=...)`.
"""

from __future__ import annotations

from typing import Any, Sequence


def state_hooks(probe_chunks: Sequence[str | int] | None = None, **options: Any) -> list[Any]:
    """Fresh hooks for one closed-loop run (hooks keep per-run state: make new ones for every run).

    Args:
        probe_chunks: Where to probe (``early``/``middle``/``late`` or chunk indices); default: the contract's
            ``diagnostics.probe_chunks``.
        options: Passed to `StateProbeHook` (``fingerprints``, ``feedback_test``, ``swap``).
    """
    from inspector.state.probe import StateProbeHook

    return [StateProbeHook(probe_chunks=probe_chunks, **options)]


def default_hooks(backend: str, mode: str) -> list[Any]:
    """`inspector.batch.HookFactory`: the state hooks for closed-loop runs, nothing for functional ones."""
    return state_hooks() if mode == "closed-loop" else []


__all__ = ["default_hooks", "state_hooks"]

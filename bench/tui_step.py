"""How long the inspector takes to step to the next chunk and redraw a parakeet-size cache heatmap.

Builds synthetic stores with the real store and engine (`tests/tui/synthetic.py`; one functional run with saved
outputs; attention caches full from the first chunk, so nothing compresses away) for the caches of issue 6 (24 × 70 × 1024) and of our parakeet preset (24 × 256 × 1024), opens the app
headless with a Pilot on ``cache_last_channel_out`` and presses ``j``/``k``; a step is timed from the key press until
the heatmap has painted the new chunk's image (`Heatmap.painted_key`); the key goes in as a terminal driver sends it.
Every worker (the read-ahead of the neighbours included, which starts once the new heatmap is painted) and the
debounced panel updates (plot marker, contract panel) finish between steps, as they would while a user looks at the
screen.

Measured side by side in one process:
    prefetched   the normal case: the chunk worker read the neighbours ahead while the previous chunk was shown
    cold         the inspector's tensor caches emptied before each step: Zarr read + |error| + pooling + paint
                 (only the selected tensor of the run is read when the store's run reader offers
                 `output(stream, index, name)`; else all the chunk's outputs, the others kept for a tensor switch)
    +truecolor   prefetched, but with Textual's ANSIToTruecolor line filter kept on the heatmap (what we drop)

Usage: ``python bench/tui_step.py [--chunks 8] [--steps 60] [--size 160x50] [--out DIR] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "tui"))  # the synthetic store builder (a test double)

CONFIGS = {"24x70x1024": 70, "24x256x1024": 256}
WARMUP = 8
"""Untimed steps first in each mode: the first app of the process builds the heatmap's long-lived segment table and
Rich's style caches (~20 ms a step more at first), which a user pays once per session."""


def build(out: Path, cache: int, chunks: int) -> Path:
    from synthetic import RunPlan, Shapes, build_synthetic_store

    path = out / f"tui-step-{cache}x{chunks}-full.zarr"
    if (path / "zarr.json").exists() and (path / "runs").exists():
        return path
    t0 = time.perf_counter()
    build_synthetic_store(path, chunks=chunks, shapes=Shapes(layers=24, cache=cache, d_model=1024),
                          runs=(RunPlan("planted", "functional", noise=1e-6, save_outputs=True),),
                          contract="parakeet-tdt-0.6b-v3", prefill=True)
    print(f"built {path.name}: {chunks} chunks in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


async def measure(store: Path, mode: str, steps: int, size: tuple[int, int]) -> list[float]:
    """Seconds per step (press → the new chunk's heatmap painted)."""
    from inspector.tui.app import make_app  # first: it sets Textual's frame rate, read when Textual is imported
    from textual import events
    from textual.widget import Widget
    from textual.worker import WorkerCancelled, WorkerState

    from inspector.tui.widgets.heatmap import Heatmap

    if mode == "+truecolor":
        Heatmap.get_line_filters = Widget.get_line_filters  # type: ignore[method-assign]
    app = make_app(store, tensor="cache_last_channel_out", poll_interval=0)
    times: list[float] = []

    async def settle(pilot) -> None:
        active = (WorkerState.PENDING, WorkerState.RUNNING)
        for _ in range(1000):
            await pilot.pause()
            busy = [w for w in app.workers if w.state in active]
            if not busy:
                if app.main.pending_updates:  # the plot marker and contract panel follow a step 0.1 s later
                    await asyncio.sleep(0.02)
                    continue
                return
            try:
                await app.workers.wait_for_complete(busy)
            except WorkerCancelled:
                pass

    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.main
        heatmap = screen.heatmap
        indices = screen.chunk_list.listed
        assert heatmap.pair is not None and heatmap.pair.has_backend, "the run has no saved outputs"
        if mode == "prefetched":
            print(f"  heatmap {heatmap.size.width}x{heatmap.size.height} cells "
                  f"({heatmap.size.width}x{2 * heatmap.size.height} pixels)", flush=True)
        position, direction = 0, 1
        for step in range(WARMUP + steps):
            if not 0 <= position + direction < len(indices):
                direction = -direction
            position += direction
            target = indices[position]
            if mode == "cold":
                app.data.clear_caches()
            key = "j" if direction > 0 else "k"
            event = events.Key(key, key)
            event.set_sender(app)
            start = time.perf_counter()
            # what a terminal driver does with a key press (Pilot.press also waits for the process to go idle,
            # which would be timed too)
            app._driver.send_message(event)
            while not (heatmap.pair is not None and heatmap.pair.chunk == target and heatmap.image is not None
                       and heatmap.image.params[0] == heatmap.pair.key and heatmap.painted_key == heatmap.image.key):
                await asyncio.sleep(0.0005)
            if step >= WARMUP:
                times.append(time.perf_counter() - start)
            await settle(pilot)
    if mode == "+truecolor":
        del Heatmap.get_line_filters  # back to the class's own method
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1e3 for t in times)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return statistics.median(ms), p95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--size", default="160x50", help="terminal WIDTHxHEIGHT")
    ap.add_argument("--out", type=Path, default=None, help="where the stores go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the stores (reused by the next run with --out)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    out = args.out or Path(tempfile.mkdtemp(prefix="tui-step-"))
    out.mkdir(parents=True, exist_ok=True)

    import textual

    print(f"textual {textual.__version__}, python {platform.python_version()}, {os.cpu_count()} cpus, "
          f"terminal {size[0]}x{size[1]}, {args.steps} steps per row", flush=True)
    rows = []
    try:
        for name in args.configs.split(","):
            store = build(out, CONFIGS[name], args.chunks)
            for mode in ("prefetched", "cold", "+truecolor"):
                med, p95 = summary(asyncio.run(measure(store, mode, args.steps, size)))  # type: ignore[arg-type]
                rows.append((name, mode, med, p95))
                print(f"  {name:12s} {mode:11s} median {med:6.1f} ms   p95 {p95:6.1f} ms", flush=True)
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    print("\nstep to the next chunk + redraw of cache_last_channel_out (ms)")
    print(f"{'cache':12s} {'mode':11s} {'median':>7s} {'p95':>7s}  vs prefetched")
    base = {name: med for name, mode, med, _ in rows if mode == "prefetched"}
    for name, mode, med, p95 in rows:
        print(f"{name:12s} {mode:11s} {med:7.1f} {p95:7.1f}  ×{med / base[name]:.2f}")


if __name__ == "__main__":
    main()

"""How soon `inspector tui ref.jsonl` shows the first chunk of a large reference file that it converts in the app.

Writes a reference JSONL in the seed team's format at parakeet size (caches [1, 24, 256, 1024] and [1, 24, 1024, 4]
in base64, ~68 MB a line), opens the app headless with a Pilot exactly as `inspector tui` does (conversion on all
cores in worker processes, started from a thread of the running app), and times from the app's start:

    committed     the converter has committed the first chunk to the store
    main screen   the main screen is up
    first chunk   chunk 0's heatmap is painted (what the user waits for)
    converted     the conversion has finished (every chunk listed)

and the conversion's own throughput (MB of JSONL per second over the whole file).

Usage: ``python bench/tui_open.py [--lines 8] [--workers N] [--out DIR] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def tensor(a) -> dict:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data_b64": base64.b64encode(a.tobytes()).decode()}


def write_reference(path: Path, lines: int) -> int:
    """A seed-format file of `lines` parakeet-size chunks; returns its size."""
    import numpy as np

    rng = np.random.default_rng(0)
    channel = rng.standard_normal((1, 24, 256, 1024)).astype(np.float32)
    time_cache = rng.standard_normal((1, 24, 1024, 4)).astype(np.float32)
    with open(path, "w") as f:
        for i in range(lines):
            frames = 41 if i == 0 else 57
            line = {
                "chunk_idx": i,
                "inputs": {"audio_signal": tensor(rng.standard_normal((1, 128, frames)).astype(np.float32)),
                           "length": tensor(np.array([frames], np.int64)),
                           "cache_last_channel": tensor(channel), "cache_last_time": tensor(time_cache),
                           "cache_last_channel_len": tensor(np.array([min(256, 1 + 3 * i)], np.int64))},
                "outputs": {"encoder_output": tensor(rng.standard_normal((1, 1024, 3)).astype(np.float32)),
                            "encoded_lengths": tensor(np.array([3], np.int64)),
                            "cache_last_channel_out": tensor(channel), "cache_last_time_out": tensor(time_cache),
                            "cache_last_channel_len_out": tensor(np.array([min(256, 4 + 3 * i)], np.int64))},
                "metadata": {"chunk_len": frames},
            }
            f.write(json.dumps(line) + "\n")
    return path.stat().st_size


async def measure(ref: Path, workers: int | None) -> dict:
    from inspector.tui.app import OpenRequest, make_open_app
    from inspector.tui.screens.main import MainScreen
    from inspector.tui.widgets.heatmap import Heatmap

    t0 = time.monotonic()
    app = make_open_app(OpenRequest(path=ref, workers=workers), poll_interval=0)
    first = committed = main_up = None
    async with app.run_test(size=(160, 50)) as pilot:
        while True:
            screen = app.screen
            if committed is None and app.conversion is not None and app.conversion.status.chunks:
                committed = time.monotonic() - t0
            if main_up is None and isinstance(screen, MainScreen):
                main_up = time.monotonic() - t0
            maps = screen.query(Heatmap) if isinstance(screen, MainScreen) else ()
            if first is None and maps and maps.first().pair is not None:
                first = time.monotonic() - t0
            if app.conversion is not None and app.conversion.finished.is_set() and first is not None:
                break
            await pilot.pause(0.02)
        done = time.monotonic() - t0
        status = app.conversion.status
    return {"first_chunk_s": first, "committed_s": committed, "main_s": main_up, "converted_s": done, "state": status.state, "chunks": status.chunks,
            "mb_per_s": status.total / 1e6 / status.seconds if status.seconds else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="conversion processes (default: all cores)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the file and the store")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="tui-open-"))
    out.mkdir(parents=True, exist_ok=True)
    ref = out / "ref.jsonl"
    try:
        t = time.perf_counter()
        size = write_reference(ref, args.lines)
        print(f"wrote {ref}: {args.lines} lines, {size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s "
              f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
        shutil.rmtree(out / "ref.zarr", ignore_errors=True)
        result = asyncio.run(measure(ref, args.workers))
        print(f"first chunk committed {result['committed_s']:.2f} s, main screen up {result['main_s']:.2f} s, "
              f"first chunk on screen {result['first_chunk_s']:.2f} s; all {result['chunks']} chunks converted "
              f"{result['converted_s']:.2f} s ({result['state']}, {result['mb_per_s']:,.0f} MB/s)")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()

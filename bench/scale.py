"""How does a batch scale over Ray workers? Chunks per second for 1, 2, 4 … workers on the same units.

Every configuration runs the same units (backend × mode × stream) into a fresh copy of the same store, so each one
really runs (nothing is re-used from an earlier configuration), and the figures are side by side from one process:
    local:   the in-process executor (the baseline: what `inspector run --batch` does without --executor);
    ray xN:  N Ray actors (``--gpus-per-worker F`` each), one Ray started for all of them.
GPU utilisation is sampled with ``nvidia-smi`` every 200 ms while a configuration runs (where there is one).

Streams: the store's streams, or ``--streams K`` copies of its first stream (hard links: no extra disk) so that a
one-stream reference can feed K units.

Usage:
    python bench/scale.py --store S --model M.onnx --contract C --backend ort-cpu --streams 4 --workers 1,2
    python bench/scale.py --store S --model M.onnx --contract C --backend ort-cuda --backend-opt use_tf32=0 \
        --streams 8 --modes functional,closed-loop --workers 1,2,4 --gpus-per-worker 1,0.5,0.25 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class GpuSampler:
    """Samples `nvidia-smi` utilisation and memory every 200 ms on a thread (no GPU: no samples)."""

    def __init__(self) -> None:
        self.samples: list[list[float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        if not shutil.which("nvidia-smi"):
            return
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                for line in out.stdout.strip().splitlines():
                    util, mem = (float(x) for x in line.split(","))
                    self.samples.append([util, mem])
            except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
                print(f"gpu sampler: {exc}", file=sys.stderr)
                return
            self._stop.wait(0.2)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=6)

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        util = sorted(s[0] for s in self.samples)
        return {"gpu_util_mean": round(sum(util) / len(util), 1), "gpu_util_p90": util[int(0.9 * (len(util) - 1))],
                "gpu_mem_max_mb": max(s[1] for s in self.samples), "samples": len(util)}


def fan_out(src: Path, dest: Path, streams: int) -> list[str]:
    """A copy of `src` whose first stream is repeated `streams` times (hard-linked chunk files)."""
    from store import Store

    shutil.copytree(src, dest, copy_function=os.link, ignore=shutil.ignore_patterns("runs"))
    st = Store.open(dest, "a")
    names = st.streams()
    if streams <= 0:
        return names
    first = names[0]
    folder = st._stream_folder(first)  # noqa: SLF001 - a bench: hard-link the stream folder under new names
    out = [first]
    from store import layout

    for k in range(1, streams):
        name = f"{first}-copy{k}"
        copy = folder.parent / layout.stream_dirname(name)
        shutil.copytree(folder, copy, copy_function=os.link)
        (copy / "zarr.json").unlink()  # a hard link to the original's: replace it, never write through it
        layout.write_group(copy, {"name": name})
        out.append(name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--backend", default="ort-cpu")
    ap.add_argument("--backend-opt", action="append", default=[])
    ap.add_argument("--streams", type=int, default=4, help="copies of the first stream (0: the store's streams)")
    ap.add_argument("--modes", default="closed-loop")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--gpus-per-worker", default="0", help="one value, or one per --workers entry")
    ap.add_argument("--no-local", action="store_true", help="skip the in-process baseline")
    ap.add_argument("--json")
    ap.add_argument("--tmp", default=None, help="folder for the store copies and Ray's files")
    args = ap.parse_args()

    from backends.onnxrt import parse_option
    from inspector.api import run_unit
    from inspector.executors import execute
    from inspector.units import BatchJob, Unit

    opts = {}
    for item in args.backend_opt:
        k, _, v = item.partition("=")
        opts[k] = parse_option(v)
    workers = [int(x) for x in args.workers.split(",")]
    shares = [float(x) for x in args.gpus_per_worker.split(",")]
    shares = shares * len(workers) if len(shares) == 1 else shares
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    configs: list[tuple[str, int, float]] = ([] if args.no_local else [("local", 1, 0.0)]) + \
        [("ray", w, g) for w, g in zip(workers, shares)]
    rows = []
    if any(kind == "ray" for kind, _, _ in configs):
        import ray

        # one Ray for every configuration: its own start-up (~10 s) is not what is measured
        (tmp / "ray").mkdir(exist_ok=True)
        ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                 _temp_dir=str((tmp / "ray").resolve()))
    for i, (kind, n, share) in enumerate(configs):
        store = tmp / f"store-{i}"
        streams = fan_out(Path(args.store), store, args.streams)
        units = [Unit(args.backend, opts, m, s) for m in args.modes.split(",") for s in streams]
        job = BatchJob(store=str(store), model=str(Path(args.model).resolve()), contract=args.contract,
                       save_outputs="none")
        ready: list[float] = []

        def on_event(ev: dict, ready: list[float] = ready) -> None:
            if ev.get("event") == "workers" and not ready:
                ready.append(time.perf_counter())  # workers up: actor start-up is not throughput

        t0 = time.perf_counter()
        with GpuSampler() as gpu:
            outs = execute(units, job, executor=kind, workers=n, gpus_per_worker=share, progress=on_event,
                           run_unit=run_unit, ray_temp_dir=str(tmp / "ray"))
        end = time.perf_counter()
        wall = end - t0
        busy = end - (ready[0] if ready else t0)
        chunks = sum(o.chunks_checked for o in outs)
        row = {"executor": kind, "workers": n, "gpus_per_worker": share, "units": len(units), "chunks": chunks,
               "seconds": round(wall, 2), "start_up_s": round(wall - busy, 2),
               "chunks_per_s": round(chunks / busy, 2), "chunks_per_s_wall": round(chunks / wall, 2),
               "statuses": sorted({o.status for o in outs}), "errors": [o.error for o in outs if o.error][:3],
               **gpu.summary()}
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(store, ignore_errors=True)
    base = next((r for r in rows if r["executor"] == "ray" and r["workers"] == 1), rows[0])
    print("\nchunks/s counted from the moment the workers are up (actor start-up apart, in start_up_s)")
    print("executor  workers  gpu share  chunks/s  speed-up vs ray x1  gpu util mean")
    for r in rows:
        print(f"{r['executor']:8s}  {r['workers']:7d}  {r['gpus_per_worker']:9g}  {r['chunks_per_s']:8.2f}  "
              f"{r['chunks_per_s'] / base['chunks_per_s']:18.2f}x  {r.get('gpu_util_mean', '-')}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""Per-chunk cost of judging one parakeet-size chunk (metrics of every output + every invariant), by the number of
metric threads, with no inference running: what the writer thread needs per chunk.

Usage: python bench/judge_cost.py [--threads 0,2,4,8] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="0,2,4,8")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from contracts.load import load_contract
    from inspector import metrics
    from inspector.engine import ChunkJudge, ChunkJob

    c = load_contract("parakeet-tdt-0.6b-v3")
    rng = np.random.default_rng(0)

    def mk(shape):
        return rng.standard_normal(shape, dtype=np.float32)

    feeds = {"audio_signal": mk((1, 128, 57)), "length": np.array([57]), "cache_last_channel": mk((1, 24, 256, 1024)),
             "cache_last_time": mk((1, 24, 1024, 4)), "cache_last_channel_len": np.array([10])}
    ref = {"encoder_output": mk((1, 1024, 3)), "encoded_lengths": np.array([3]),
           "cache_last_channel_out": mk((1, 24, 256, 1024)), "cache_last_time_out": mk((1, 24, 1024, 4)),
           "cache_last_channel_len_out": np.array([13])}
    out = {k: (v + (rng.standard_normal(v.shape) * 1e-6).astype(v.dtype) if v.dtype == np.float32 else v.copy())
           for k, v in ref.items()}
    res: dict[str, dict[str, float]] = {}
    for th in args.threads.split(","):
        os.environ["INSPECTOR_METRIC_THREADS"] = th
        j = ChunkJudge(c, "functional", "ort-cpu", "fp32", "s")
        j.judge(ChunkJob(0, feeds, out, ref, None, 0.1, {}))
        judge, cmp_big = [], []
        for i in range(args.reps):
            t0 = time.perf_counter()
            j.judge(ChunkJob(i + 1, feeds, out, ref, None, 0.1, {}))
            judge.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            metrics.compare_tensor("c", out["cache_last_channel_out"], ref["cache_last_channel_out"], 1e-4, 0.0)
            cmp_big.append(time.perf_counter() - t0)
        res[th] = {"judge_ms": statistics.median(judge) * 1e3, "compare_cache_ms": statistics.median(cmp_big) * 1e3}
        print(th, json.dumps(res[th]), flush=True)
    d = np.abs(out["cache_last_channel_out"] - ref["cache_last_channel_out"]).ravel()
    parts = {}
    for name, fn in [("partition_top1pct", lambda: np.partition(d, d.size - d.size // 100)),
                     ("p99_tail_trick", lambda: metrics._p99(d)),
                     ("sum_f64", lambda: d.sum(dtype=np.float64)), ("sum_f32", lambda: d.sum()),
                     ("sub_abs", lambda: np.abs(out["cache_last_channel_out"] - ref["cache_last_channel_out"]))]:
        fn()
        t0 = time.perf_counter()
        for _ in range(args.reps):
            fn()
        parts[name] = (time.perf_counter() - t0) / args.reps * 1e3
    print(json.dumps({"by_threads": res, "parts_ms": parts, "cpu_count": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()

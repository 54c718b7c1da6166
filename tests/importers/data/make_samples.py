"""Write the sample parity reports and streaming summaries in this folder (run once; the outputs are kept).

The seed team's real files are not available here; these follow the formats as issue 9 describes them, with numbers
shaped like the ones their reports and DESIGN.md quote (ORT FP32 max-abs 6e-5..7.3e-4, 58 % passing at atol 1e-4;
TensorRT FP16 P95 1.1e-3 with 3/50 passing; FP32 with TF32 off P100 2e-7; cache length 1, 4, 7, … ≤ 256).

    python tests/importers/data/make_samples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def fmt(name: str, max_abs: float, mean_abs: float, max_rel: float) -> str:
    return f"{name}: max_abs={max_abs:.3e} mean_abs={mean_abs:.3e} max_rel={max_rel:.3e}"


def ort_functional_cpu() -> dict:
    """ORT CPU, functional, 50 chunks run, chunk 17 raised (so total_chunks is 49), rtol 0."""
    rng = np.random.default_rng(7)
    failures = []
    fail_frames = sorted(rng.choice([i for i in range(50) if i != 17], size=20, replace=False).tolist())
    # One chunk fails on cache_last_time_out only: its encoder_output passed.
    cache_only = [next(c for c in range(44, 50) if c not in fail_frames)]
    for c in sorted(set(fail_frames) | set(cache_only)):
        errors = []
        if c in fail_frames:
            m = float(rng.uniform(1.05e-4, 6.9e-4)) if c != fail_frames[-3] else 7.322e-4
            errors.append(fmt("encoder_output", m, m / 6.2, float(rng.uniform(0.5, 20))))
        if c in cache_only or c % 9 == 0:
            errors.append(fmt("cache_last_time_out", float(rng.uniform(0.101, 0.14)), 0.011, 3.1))
        failures.append({"chunk": c, "errors": errors})
    failures.insert(5, {"chunk": 17, "error": "RuntimeException: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : "
                                              "Non-zero status code returned while running Concat node."})
    failed = len(fail_frames) + len(cache_only)
    total = 49
    passed = total - failed
    return {"mode": "functional", "providers": ["CPUExecutionProvider"],
            "onnx": "exports/encoder_streaming.onnx", "ref": "ref/ref_50chunks.jsonl", "total_chunks": total,
            "passed": passed, "failed": failed, "pass_rate": round(100.0 * passed / total, 2), "atol": 1e-4,
            "rtol": 0.0, "cache_atol": 0.1, "failures": failures}


def ort_cuda_closed_loop() -> dict:
    """ORT CUDA (TF32 at its default), closed loop, rtol > 0: passing chunks have no upper bound on max-abs."""
    failures = [{"chunk": c, "errors": [fmt("encoder_output", 2.1e-3 + 1e-5 * c, 3e-4, 4.2)]} for c in (3, 11, 29)]
    return {"mode": "closed_loop", "providers": [["CUDAExecutionProvider", {"device_id": 0}], "CPUExecutionProvider"],
            "onnx": "exports/encoder_streaming.onnx", "ref": "ref/ref_50chunks.jsonl", "total_chunks": 40,
            "passed": 37, "failed": 3, "pass_rate": 92.5, "atol": 1e-3, "rtol": 1e-3, "cache_atol": 0.1,
            "failures": failures}


def trt_report(name: str, values: np.ndarray, atol: float, mode: str, engine: str, extra: dict | None = None) -> dict:
    rng = np.random.default_rng(11)
    stats, failures = [], []
    for c, v in enumerate(values.tolist()):
        mean = v / float(rng.uniform(5, 8))
        ok = v <= atol
        stats.append({"chunk": c, "encoder_output_max_abs": v, "encoder_output_mean_abs": mean, "passed": ok})
        if not ok:
            failures.append({"chunk": c, "errors": [fmt("encoder_output", v, mean, float(rng.uniform(1, 30)))]})
    passed = sum(1 for s in stats if s["passed"])
    dist = {"min": float(values.min()), "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)), "p99": float(np.percentile(values, 99)),
            "max": float(values.max()), "mean": float(values.mean())}
    doc = {"mode": mode, "providers": ["TensorrtExecutionProvider"], "onnx": "exports/encoder_streaming.onnx",
           "ref": "ref/ref_50chunks_stateful.jsonl", "engine": engine, "zero_feed_cache": False,
           "total_chunks": len(values), "passed": passed, "failed": len(values) - passed,
           "pass_rate": round(100.0 * passed / len(values), 2), "atol": atol, "rtol": 0.0, "cache_atol": 0.1,
           "timing_ms": {"mean": 4.12, "p50": 4.05, "p95": 4.61, "p99": 5.2},
           "encoder_output_error_distribution": dist, "chunk_stats": stats, "failures": failures}
    doc.update(extra or {})
    return doc


def trt_fp16() -> dict:
    """TensorRT FP16, closed loop: 3/50 pass at atol 5e-4, P95 of max-abs 1.1e-3 (fails P95 < 5e-4)."""
    rng = np.random.default_rng(3)
    v = rng.uniform(6.0e-4, 1.06e-3, size=50)
    v[[4, 22, 37]] = [3.1e-4, 4.4e-4, 4.8e-4]  # the three that pass
    v[[9, 30, 45]] = [1.14e-3, 1.17e-3, 1.21e-3]  # the top: P95 lands at ~1.1e-3
    return trt_report("fp16", v, 5e-4, "closed_loop", "engines/parakeet-tdt-0.6b-v3_encoder_fp16.engine")


def trt_fp32_tf32_off() -> dict:
    """TensorRT FP32 with TF32 off, closed loop: 50/50 pass, P100 2e-7."""
    rng = np.random.default_rng(5)
    v = rng.uniform(4e-8, 1.8e-7, size=50)
    v[31] = 2.0e-7
    return trt_report("fp32", v, 1e-4, "closed_loop", "engines/parakeet-tdt-0.6b-v3_encoder_fp32_notf32.engine")


def trt_growing() -> dict:
    """TensorRT FP32 with TF32 on, closed loop: error grows steadily over 50 chunks (P95 and P100 still pass)."""
    rng = np.random.default_rng(9)
    v = np.linspace(2e-5, 4.2e-4, 50) * rng.uniform(0.9, 1.1, size=50)
    return trt_report("fp32", v, 5e-4, "closed_loop", "engines/encoder.engine",
                      {"engine": {"path": "engines/encoder.engine", "precision": "fp32", "tf32": True}})


def summary_never_carried() -> list[dict]:
    """The seed's chunk-isolated export: cache_drop_size 72, one frame per chunk, cache length clamped to 0."""
    return [{"chunk_idx": i, "input_len": 577 if i == 0 else 593, "cache_len_in": 0, "cache_len_out": 0,
             "cache_len_out_raw": -67, "cache_drop_size": 72, "valid_out_len": 1, "encoded_len": 1,
             "time_ms": round(38.0 + 0.1 * (i % 7), 2)} for i in range(50)]


def summary_stateful() -> list[dict]:
    """NeMo's stateful set-up (chunk_size 6, shift 3, cache 256): 1, 4, 7, … saturating at 256 (chunk 85)."""
    rows, length = [], 0
    for i in range(100):
        out = min((1 if i == 0 else length + 3), 256)
        rows.append({"chunk_idx": i, "input_len": 41 if i == 0 else 57, "cache_len_in": length, "cache_len_out": out,
                     "cache_drop_size": 3, "valid_out_len": 3, "encoded_len": 3})
        length = out
    return rows


def summary_padded_last() -> list[dict]:
    """A stream whose short last chunk (25 real frames, padded to 57) still grows the cache by a full 3."""
    rows = summary_stateful()[:20]
    rows[-1] = {**rows[-1], "input_len": 25}
    return rows


def main() -> None:
    for name, doc in (("ort_functional_cpu.json", ort_functional_cpu()), ("ort_cuda_closed_loop.json",
                      ort_cuda_closed_loop()), ("trt_fp16.json", trt_fp16()), ("trt_fp32_tf32off.json",
                      trt_fp32_tf32_off()), ("trt_fp32_growing.json", trt_growing())):
        (HERE / name).write_text(json.dumps(doc, indent=2) + "\n")
    for name, rows in (("summary_never_carried.jsonl", summary_never_carried()),
                       ("summary_stateful.jsonl", summary_stateful())):
        (HERE / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (HERE / "summary_padded_last.json").write_text(json.dumps(summary_padded_last(), indent=1) + "\n")


if __name__ == "__main__":
    main()

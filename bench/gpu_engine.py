"""The GPU-machine session for issue 4: ort-cuda (TF32 default vs off, IO binding vs host round-trips) and
torch-cuda against the reference, on the tiny demo model and at parakeet size, plus the overhead bench.

Every stage is independent (a failure is recorded and the next stage runs); results accumulate in
``<out>/gpu_engine.json`` after each stage, so a call cut short still returns what it measured.

Usage (on the device; see bench/RESULTS.engine.md for the exact call):
    python bench/gpu_engine.py --out $OUT --tiny-onnx .devdata/tiny/encoder_streaming.onnx \
        --tiny-store .devdata/tiny/demo.store [--preset parakeet-tdt-0.6b-v3 --chunks 24] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS: dict[str, Any] = {"stages": {}}


def _save(out: Path) -> None:
    (out / "gpu_engine.json").write_text(json.dumps(RESULTS, indent=2, default=str))


def stage(out: Path, name: str):
    def deco(fn):
        def wrapped(*a, **k):
            t0 = time.perf_counter()
            print(f"=== {name}", flush=True)
            try:
                res = fn(*a, **k)
                RESULTS["stages"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 1), "result": res}
            except BaseException as exc:  # noqa: BLE001 — record and go on to the next stage
                RESULTS["stages"][name] = {"ok": False, "seconds": round(time.perf_counter() - t0, 1),
                                           "error": f"{type(exc).__name__}: {exc}",
                                           "traceback": traceback.format_exc()[-3000:]}
                print(f"!!! {name} failed: {type(exc).__name__}: {exc}", flush=True)
                res = None
            _save(out)
            return res
        return wrapped
    return deco


def summarize(result: Any) -> list[dict[str, Any]]:
    """Per run: the figures that go into RESULTS.engine.md."""
    rows = []
    for run in result.report["runs"]:
        t = run["tensors"]
        v = {x["rule"]: x for x in run["verdicts"]}
        rows.append({
            "backend": run["backend"], "mode": run["mode"], "options": run["options"], "passed": run["passed"],
            "math_mode": run["math_mode"]["backend"], "device": run["backend_info"]["device"],
            "io_binding": run["backend_info"]["extra"].get("io_binding"),
            "chunks": run["total_chunks"], "chunks_passed": run["passed_chunks"],
            "enc_p95": v.get("encoder_output_p95", {}).get("value"), "enc_p100": v.get("encoder_output_p100", {}).get("value"),
            "enc_max_abs": t.get("encoder_output", {}).get("max_abs_max"),
            "clc_max_abs": t.get("cache_last_channel_out", {}).get("max_abs_max"),
            "clt_max_abs": t.get("cache_last_time_out", {}).get("max_abs_max"),
            "enc_min_cos": t.get("encoder_output", {}).get("min_cosine"),
            "mean_inference_ms": run["summary"]["mean_inference_ms"], "wall_s": run["summary"]["wall_s"],
            "failing": [r for r, x in v.items() if x["status"] == "fail"], "notes": run["notes"],
            "timings_ms_per_chunk": run["summary"].get("timings_ms_per_chunk"),
        })
    return rows


def batch(store: Path, model: Path, contract: str, backends: list[str], modes: str, opts: list[str],
          out: Path, tag: str, chunks: str | None = None) -> list[dict[str, Any]]:
    from inspector.batch import run_batch

    res = run_batch(store=store, model=model, contract=contract, backends=backends, modes=[modes],
                    backend_options=opts, chunks=chunks, report=out / f"{tag}.json", progress=False, resume=False)
    rows = summarize(res)
    for r in rows:
        print(json.dumps({k: r[k] for k in ("backend", "mode", "options", "passed", "math_mode", "enc_p100",
                                            "clc_max_abs", "clt_max_abs", "mean_inference_ms", "failing")},
                         default=str), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tiny-onnx")
    ap.add_argument("--tiny-store")
    ap.add_argument("--preset", default="parakeet-tdt-0.6b-v3")
    ap.add_argument("--chunks", type=int, default=24)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-tiny", action="store_true")
    ap.add_argument("--gpu-backends", default="ort-cuda,torch-cuda")
    ap.add_argument("--work", default="/tmp/gpu-engine")
    ap.add_argument("--only-overhead", action="store_true", help="after the reference and export, only the benches")
    ap.add_argument("--overhead-opt", action="append", default=[], help="extra --backend-opt for the benches")
    ap.add_argument("--benches", default="overhead_ort_cpu,overhead_ort_cuda_tf32off,overhead_ort_cuda_default")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    gpu = args.gpu_backends.split(",")
    ort_gpu = "ort-cuda" if "ort-cuda" in gpu else "ort-cpu"

    @stage(out, "environment")
    def env() -> dict[str, Any]:
        import onnxruntime as ort

        from backends.base import availability_report
        from inspector.engine import environment

        e = environment()
        e["ort_providers"] = ort.get_available_providers()
        e["availability"] = {k: [v.available, v.reason] for k, v in availability_report().items()}
        print(json.dumps(e, indent=1, default=str), flush=True)
        return e

    env()

    if not args.skip_tiny:
        tiny_store = work / "tiny.store"

        @stage(out, "tiny_artifacts")
        def tiny_artifacts() -> str:
            shutil.rmtree(tiny_store, ignore_errors=True)
            if args.tiny_store:
                shutil.copytree(args.tiny_store, tiny_store)
                return str(args.tiny_onnx)
            # build the demo artifacts here (NeMo), as `inspector demo` does
            from inspector.demo import build_demo_artifacts

            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine"))
            from storebuild import private_store

            art = build_demo_artifacts(work / "demo")
            private_store(art, tiny_store)
            return str(art.onnx)

        onnx = Path(tiny_artifacts() or "missing.onnx")

        def fresh_tiny() -> Path:  # runs accumulate in one store (resume=False: each is a new run)
            return tiny_store
        for tag, backends, mode, opts in [
            ("tiny_ort_cuda_default", [ort_gpu], "both", []),
            ("tiny_ort_cuda_tf32off", [ort_gpu], "both", ["use_tf32=0"] if ort_gpu == "ort-cuda" else []),
            ("tiny_ort_cuda_host_roundtrip", [ort_gpu], "closed-loop", ["io_binding=0"]),
            ("tiny_torch_cuda", ["torch-cuda" if "torch-cuda" in gpu else "torch-cpu"], "both", []),
        ]:
            stage(out, tag)(batch)(fresh_tiny(), onnx, "demo_streaming", backends, mode, opts, out, tag)

    if args.skip_big:
        return
    big_store = work / "big.store"
    big_onnx = work / "big" / "encoder.onnx"

    @stage(out, "big_reference")
    def big_reference() -> dict[str, Any]:
        from inspector.reference import make_reference

        shutil.rmtree(big_store, ignore_errors=True)
        res = make_reference(args.preset, store=big_store, n_chunks=args.chunks, device="cpu")
        return {"seconds": res.seconds, "seconds_per_chunk": res.seconds_per_chunk,
                "cache_lengths": {k: list(v) for k, v in res.cache_lengths.items()}}

    big_reference()

    @stage(out, "big_export")
    def big_export() -> dict[str, Any]:
        from backends.nemo import load_reference_model
        from backends.nemo_export import export_onnx

        model = load_reference_model(args.preset, seed=0, device="cpu")
        return export_onnx(model, big_onnx).to_dict()

    big_export()
    contract = args.preset if args.preset != "tiny" else "demo_streaming"

    def fresh_big() -> Path:  # runs accumulate in one store (resume=False: each is a new run)
        return big_store

    for tag, backends, mode, opts in [] if args.only_overhead else [
        ("big_ort_cuda_default", [ort_gpu], "both", []),
        ("big_ort_cuda_tf32off", [ort_gpu], "both", ["use_tf32=0"] if ort_gpu == "ort-cuda" else []),
        ("big_ort_cuda_tf32off_host_roundtrip", [ort_gpu], "closed-loop",
         ["io_binding=0"] + (["use_tf32=0"] if ort_gpu == "ort-cuda" else [])),
        ("big_torch_cuda", ["torch-cuda" if "torch-cuda" in gpu else "torch-cpu"], "both", []),
    ]:
        stage(out, tag)(batch)(fresh_big(), big_onnx, contract, backends, mode, opts, out, tag)

    from bench.run_overhead import main as overhead

    for tag, backend, extra in [("overhead_ort_cpu", "ort-cpu", []),
                                ("overhead_ort_cuda_tf32off", ort_gpu,
                                 (["--backend-opt", "use_tf32=0"] if ort_gpu == "ort-cuda" else []) + ["--closed-loop"]),
                                ("overhead_ort_cuda_default", ort_gpu, ["--closed-loop"])]:
        if tag not in args.benches.split(","):
            continue
        stage(out, tag)(overhead)(["--store", str(fresh_big()), "--model", str(big_onnx), "--contract", contract,
                                   "--backend", backend, "--chunks", f"0:{args.chunks}", "--rounds", "2",
                                   "--json", str(out / f"{tag}.json"), *extra,
                                   *[x for o in args.overhead_opt for x in ("--backend-opt", o)]])


if __name__ == "__main__":
    main()

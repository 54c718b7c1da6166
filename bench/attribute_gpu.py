"""Issue 17 on the GPU: ort-cuda's default (TF32) failure at parakeet size attributed to TF32 by `inspector attribute`.

Steps (each printed as it goes; everything lands in ``<out>/attribute_gpu.json``):
1. NeMo reference at parakeet size (random weights, seed 0) for N chunks into a store, with inspector's own
   `inspector.reference.make_reference`, and the ONNX export of the same model (`backends.nemo_export.export_onnx`).
2. A closed-loop run of ``ort-cuda`` with its default options (TF32 on) over those chunks, outputs saved, recorded in
   the store (`inspector.engine.ParityEngine`): the failing run a user would have.
3. `inspector.attribution.attribute_chunk` on a failing chunk of that run (the first failing chunk at or after
   ``--chunk``, so the closed loop carries state): the ladder's figures and the verdict, expected "precision: TF32".

Exit 0 when the verdict is "precision: TF32", 1 otherwise (or when no chunk fails with TF32 on).

Usage (on the GPU machine, with onnxruntime-gpu and nemo_toolkit[asr] installed):
    PYTHONPATH=. python bench/attribute_gpu.py --out $OUT [--chunks 8] [--chunk 3] [--preset parakeet-tdt-0.6b-v3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="Folder for the store, the export and the JSON.")
    ap.add_argument("--preset", default="parakeet-tdt-0.6b-v3")
    ap.add_argument("--contract", default=None, help="Contract (default: the preset's shipped contract).")
    ap.add_argument("--chunks", type=int, default=8, help="Chunks in the reference.")
    ap.add_argument("--chunk", type=int, default=3, help="Attribute the first failing chunk at or after this one.")
    ap.add_argument("--device", default="cpu", help="Device of the NeMo reference (cpu: FP32, no TF32 question).")
    ap.add_argument("--artifacts", type=Path, default=None,
                    help="Reuse a reference store and export made by bench/gpu_build.py (reference.zarr, "
                         "export/encoder.onnx in this folder) instead of building them.")
    args = ap.parse_args()

    from backends.base import availability, make_backend
    from backends.nemo import load_reference_model
    from backends.nemo_export import export_onnx
    from contracts.load import load_contract
    from inspector.attribution.attribute import attribute_chunk
    from inspector.engine import ParityEngine, RunSpec
    from inspector.reference import make_reference
    from store import Store

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"preset": args.preset, "chunks": args.chunks}

    def save() -> None:
        (out / "attribute_gpu.json").write_text(json.dumps(results, indent=2, default=str))

    avail = availability("ort-cuda")
    if not avail:
        print(f"ort-cuda cannot run here: {avail.reason} ({avail.install})", flush=True)
        return 1
    contract = load_contract(args.contract or args.preset)
    store_path, onnx_path = out / "reference.zarr", out / "export" / "encoder.onnx"

    t = time.perf_counter()
    if args.artifacts is not None:
        import shutil

        shutil.copytree(args.artifacts / "reference.zarr", store_path, dirs_exist_ok=False,
                        ignore=shutil.ignore_patterns("runs"))
        onnx_path = args.artifacts / "export" / "encoder.onnx"
        print(f"[1/3] reusing {args.artifacts} (reference copied, export {onnx_path})", flush=True)
    else:
        print(f"[1/3] NeMo reference ({args.preset}, {args.chunks} chunks, {args.device}) and ONNX export …",
              flush=True)
        model = load_reference_model(args.preset, seed=0, device=args.device)
        make_reference(args.preset, model=model, store=store_path, n_chunks=args.chunks, device=args.device,
                       overwrite=True)
        export_onnx(model, onnx_path)  # after the reference: the export prepares the module for tracing
    results["reference_and_export_s"] = round(time.perf_counter() - t, 1)
    save()

    t = time.perf_counter()
    print("[2/3] ort-cuda, default options (TF32 on), closed loop, outputs saved …", flush=True)
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, contract, onnx_path)
    stream = eng.resolve_stream(None)
    with make_backend("ort-cuda", onnx_path, contract, {}) as be:
        run = eng.run(RunSpec("ort-cuda", "closed-loop", stream, eng.resolve_chunks(stream, None), save_outputs=True,
                              resume=False), be)
        math_mode = be.info().math_mode
    per_chunk = [{"chunk": r["chunk"], "passed": r["passed"],
                  "encoder_output_max_abs": (r.get("tensors", {}).get("encoder_output") or {}).get("max_abs")}
                 for r in run.records]
    results["run"] = {"run_id": run.run_id, "math_mode": math_mode, "passed": run.passed, "chunks": per_chunk,
                      "seconds": round(time.perf_counter() - t, 1)}
    save()
    for row in per_chunk:
        err = row["encoder_output_max_abs"]
        print(f"  chunk {row['chunk']:>3}: encoder_output max-abs {'n/a' if err is None else f'{err:.3g}'} "
              f"{'ok' if row['passed'] else 'FAIL'}", flush=True)
    failing = [r["chunk"] for r in per_chunk if not r["passed"]]
    if not failing:
        print(f"no chunk fails with ort-cuda's defaults ({math_mode}): nothing to attribute", flush=True)
        return 1
    chunk = next((c for c in failing if c >= args.chunk), failing[0])

    t = time.perf_counter()
    print(f"[3/3] inspector attribute on chunk {chunk} …", flush=True)
    report = attribute_chunk(Store.open(store_path), contract, onnx_path, "ort-cuda", chunk, stream=stream,
                             options={}, store_path=str(store_path), contract_ref=args.contract or args.preset,
                             say=lambda m: print(f"  … {m}", flush=True))
    results["attribution"] = report.to_dict()
    results["attribution_s"] = round(time.perf_counter() - t, 1)
    save()
    print(report.render(), flush=True)
    ok = report.verdict.short == "precision: TF32"
    print(f"\nexpected 'precision: TF32': {'yes' if ok else 'NO'} (verdict: {report.verdict.short})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

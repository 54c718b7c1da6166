"""Build the parakeet-size artifacts the GPU benches share, once per machine: a NeMo reference store and its export.

``<out>/reference.zarr`` (one stream, N chunks of NeMo's `cache_aware_stream_step` on the CPU, FP32, seed 0) and
``<out>/export/encoder.onnx`` (NeMo's export, one data file). Skips what is already there, so a second call on a
warm machine costs nothing. Used by bench/run_overhead.py, bench/conv_search.py, bench/attribute_gpu.py
(``--artifacts``) and bench/scale.py on the device.

Usage: PYTHONPATH=. python bench/gpu_build.py --out /tmp/pk [--chunks 24] [--preset parakeet-tdt-0.6b-v3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--chunks", type=int, default=24)
    ap.add_argument("--preset", default="parakeet-tdt-0.6b-v3")
    args = ap.parse_args()

    from backends.nemo import load_reference_model
    from backends.nemo_export import export_onnx
    from inspector.reference import make_reference

    store, onnx = args.out / "reference.zarr", args.out / "export" / "encoder.onnx"
    if store.exists() and onnx.exists():
        print(f"reusing {store} and {onnx}", flush=True)
        return
    t = time.perf_counter()
    model = load_reference_model(args.preset, seed=0, device="cpu")
    print(f"model built in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    make_reference(args.preset, model=model, store=store, n_chunks=args.chunks, device="cpu", overwrite=True)
    print(f"reference ({args.chunks} chunks) in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    export_onnx(model, onnx)  # after the reference: the export prepares the module for tracing
    print(f"export in {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()

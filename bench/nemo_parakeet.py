"""NeMo reference and ONNX export at parakeet size (random weights) on this CPU machine, and at `tiny` size.

Per preset: time to build the encoder, RSS, NeMo's `cache_aware_stream_step` time per chunk, export time and size,
the size of one reference JSONL line (ours and the seed team's format), ONNX Runtime CPU's step time, and ORT's
max-abs error against the NeMo reference per output tensor over N chunks in both modes:
  functional   the reference's own caches go in every chunk (errors do not carry);
  closed loop  ORT's own cache outputs are fed back (errors carry, as in deployment).
Nothing is written to disk but the export: references are compared chunk by chunk as they are produced.

    python bench/nemo_parakeet.py                       # tiny + both parakeet presets, 50 chunks
    python bench/nemo_parakeet.py --presets tiny --chunks 50
    python bench/nemo_parakeet.py --seed-chunks 20      # fewer chunks for the 577/593-frame seed preset
Results: printed as Markdown and written as JSON (--json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATE = {"cache_last_channel_out": "cache_last_channel", "cache_last_time_out": "cache_last_time",
         "cache_last_channel_len_out": "cache_last_channel_len"}


def rss_gb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def bench_preset(name: str, n_chunks: int, workdir: Path, threads: int) -> dict:
    import onnxruntime as ort

    from backends.nemo import load_reference_model
    from backends.nemo_export import export_onnx
    from inspector.reference import chunk_line
    from inspector.synthetic_audio import speech_like

    import orjson

    from backends.nemo import _conformer_class

    row: dict = {"preset": name, "chunks": n_chunks, "loadavg_start": os.getloadavg()[0]}
    t = time.perf_counter()
    _conformer_class()  # NeMo's import (~7-10 s the first time) is not part of the build
    row["import_s"] = time.perf_counter() - t
    gc.collect()
    rss0 = rss_gb()
    t = time.perf_counter()
    model = load_reference_model(name, seed=0)
    row["build_s"] = time.perf_counter() - t
    row["params"] = model.n_parameters
    row["rss_model_gb"] = rss_gb() - rss0
    row["streaming"] = model.streaming
    print(f"[{name}] built in {row['build_s']:.1f} s, {row['params'] / 1e6:.1f} M params, "
          f"+{row['rss_model_gb']:.2f} GB RSS", flush=True)

    onnx_path = workdir / f"{name}.onnx"
    t = time.perf_counter()
    exported = export_onnx(model, onnx_path)
    row["export_s"] = time.perf_counter() - t
    row["export_bytes"] = exported.size_bytes
    row["export_files"] = [p.name for p in (exported.onnx, exported.data) if p is not None]
    row["ir_version"] = exported.ir_version
    print(f"[{name}] exported in {row['export_s']:.1f} s: {exported.size_bytes / 1e9:.3f} GB in "
          f"{row['export_files']}", flush=True)

    try:
        from contracts.check import check_model
        from contracts.load import load_contract

        diffs = check_model(str(onnx_path), load_contract(model.contract))
        row["contract"] = model.contract
        row["contract_errors"] = [d.message for d in diffs if d.severity == "error"]
    except ImportError:
        row["contract_errors"] = None

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    # torch and ORT alternate in this process: ORT's idle threads must not spin on the cores torch needs next
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t = time.perf_counter()
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    row["ort_load_s"] = time.perf_counter() - t
    out_names = [o.name for o in sess.get_outputs()]
    row["rss_with_ort_gb"] = rss_gb()

    hop = float(model.preprocessor_config.get("window_stride", 0.01))
    from backends.nemo import frames_needed

    seconds = (frames_needed(model.streaming, n_chunks) + 4) * hop + 0.05
    feats = model.features(speech_like(seconds, model.sample_rate, seed=0))

    worst = {"functional": {}, "closed-loop": {}}
    per_chunk_enc = {"functional": [], "closed-loop": []}
    torch_s, ort_s = [], []
    lens = []
    ort_state = None
    for result in model.stream(feats, n_chunks):
        torch_s.append(result.seconds)
        lens.append(int(result.outputs["cache_last_channel_len_out"][0]))
        if result.span.index == 0:
            for fmt in ("ours", "seed"):
                row[f"jsonl_line_bytes_{fmt}"] = len(orjson.dumps(chunk_line("utt-0000", result, fmt, "export")))
        for mode in ("functional", "closed-loop"):
            feeds = dict(result.inputs)
            if mode == "closed-loop" and ort_state is not None:
                feeds.update(ort_state)
            t = time.perf_counter()
            out = dict(zip(out_names, sess.run(None, feeds)))
            ort_s.append(time.perf_counter() - t)
            for k, ref in result.outputs.items():
                err = float(np.max(np.abs(out[k].astype(np.float64) - ref.astype(np.float64))))
                worst[mode][k] = max(worst[mode].get(k, 0.0), err)
                if k == "encoder_output":
                    per_chunk_enc[mode].append(err)
            if mode == "closed-loop":
                ort_state = {STATE[k]: out[k] for k in STATE}
        if result.span.index % 10 == 9:
            print(f"[{name}] chunk {result.span.index + 1}/{n_chunks}: torch {np.mean(torch_s):.3f} s/step, "
                  f"ORT {np.mean(ort_s):.3f} s/step, closed-loop enc max-abs so far "
                  f"{worst['closed-loop']['encoder_output']:.2e}", flush=True)
    row["torch_step_s"] = float(np.mean(torch_s))
    row["ort_step_s"] = float(np.mean(ort_s))
    row["cache_len_sequence"] = lens[:8] + (["…", lens[-1]] if len(lens) > 8 else [])
    row["max_abs"] = worst
    row["encoder_output_closed_loop_first_last"] = [per_chunk_enc["closed-loop"][0], per_chunk_enc["closed-loop"][-1]]
    row["peak_rss_gb"] = peak_rss_gb()
    row["loadavg_end"] = os.getloadavg()[0]  # other processes on the same cores inflate every time above
    del sess, model
    gc.collect()
    for p in workdir.glob(f"{name}.onnx*"):
        p.unlink()
    return row


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _load(r: dict) -> str:
    if "loadavg_start" not in r:
        return "not recorded"
    return f"{r['loadavg_start']:.1f}→{r['loadavg_end']:.1f}"


def markdown(rows: list[dict]) -> str:
    out = ["| preset | params | build (+ NeMo import) | RSS: model / peak with ORT | torch step | ORT step | export | "
           "export size | JSONL line (ours / seed) | cache len | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        files = " + ".join(".onnx" if f.endswith(".onnx") else ".data" for f in r["export_files"])
        out.append(
            f"| {r['preset']} | {r['params'] / 1e6:.1f} M | {r['build_s']:.1f} s (+{r.get('import_s', 0):.1f} s) | "
            f"{r['rss_model_gb']:.2f} / {r['peak_rss_gb']:.1f} GB | "
            f"{r['torch_step_s'] * 1e3:.0f} ms | {r['ort_step_s'] * 1e3:.0f} ms | {r['export_s']:.1f} s | "
            f"{_size(r['export_bytes'])} ({files}) | "
            f"{r['jsonl_line_bytes_ours'] / 1e6:.2f} / {r['jsonl_line_bytes_seed'] / 1e6:.2f} MB | "
            f"{', '.join(map(str, r['cache_len_sequence']))} | {_load(r)} |")
    out += ["", "ORT CPU vs NeMo reference, max-abs over all chunks (functional / closed loop):", "",
            "| preset | chunks | encoder_output | cache_last_channel_out | cache_last_time_out | encoded_lengths | "
            "cache_last_channel_len_out |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for k in ("encoder_output", "cache_last_channel_out", "cache_last_time_out", "encoded_lengths",
                  "cache_last_channel_len_out"):
            f, c = r["max_abs"]["functional"][k], r["max_abs"]["closed-loop"][k]
            cells.append(f"{f:.1e} / {c:.1e}" if k.startswith(("encoder_o", "cache_last_channel_o", "cache_last_t"))
                         else f"{f:g} / {c:g}")
        out.append(f"| {r['preset']} | {r['chunks']} | " + " | ".join(cells) + " |")
    out += ["", "Contract check of each export (`contracts.check.check_model`): " + "; ".join(
        f"{r['preset']} vs {r.get('contract')}: " + ("not run" if r.get("contract_errors") is None else
                                                     "pass" if not r["contract_errors"] else
                                                     f"{len(r['contract_errors'])} error(s)") for r in rows)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,parakeet-tdt-0.6b-v3,parakeet-tdt-0.6b-v3-seed")
    ap.add_argument("--chunks", type=int, default=50)
    ap.add_argument("--seed-chunks", type=int, default=None, help="chunks for the -seed preset (default --chunks)")
    ap.add_argument("--threads", type=int, default=2, help="ORT intra-op threads")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    ap.add_argument("--workdir", default=None, help="where exports go (deleted after each preset)")
    ap.add_argument("--markdown-from", default=None, metavar="JSON",
                    help="only print the tables of earlier --json files (comma-separated)")
    args = ap.parse_args()
    if args.markdown_from:
        rows = [row for f in args.markdown_from.split(",") for row in json.loads(Path(f).read_text())]
        print(markdown(rows))
        return
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-nemo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name in args.presets.split(","):
            n = args.seed_chunks if (name.endswith("-seed") and args.seed_chunks) else args.chunks
            rows.append(bench_preset(name, n, workdir, args.threads))
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    import torch

    import onnxruntime

    from backends.nemo import versions

    print(f"\n{os.cpu_count()} CPU cores; {versions()}; onnxruntime {onnxruntime.__version__}; "
          f"torch threads {torch.get_num_threads()}\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()

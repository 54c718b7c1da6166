"""Does ort-cuda's cuDNN algorithm search change what a run computes, and what does each setting cost per chunk?
(issue 16, item 4: the HEURISTIC default needs the evidence that it gives EXHAUSTIVE's figures over whole runs.)

Runs `inspector.api.run_batch` once per setting of one backend option (default ``cudnn_conv_algo_search`` =
HEURISTIC, EXHAUSTIVE, DEFAULT) on the same store, model, chunks and modes (functional and closed-loop by default),
then prints:
    - per run: each chunk's inference ms, the steady p50/p95/max, the warm-up chunks and the run's latency notes;
    - per mode: whether every per-chunk figure (every field of every output's metrics, the chunk's status) and every
      verdict is equal between the settings, and where the first difference is when not.
Nothing is asserted: the output is the evidence for bench/RESULTS.md.

Usage (on the GPU machine; extra options apply to every setting):
    python bench/conv_search.py --store S --model M.onnx --contract parakeet-tdt-0.6b-v3 --chunks 0:24 \
        --backend-opt use_tf32=0 [--settings HEURISTIC,EXHAUSTIVE,DEFAULT] [--modes functional,closed-loop] \
        [--json out.json]
Here (no GPU), the same comparison on another option: ``--backend ort-cpu --key graph_optimization
--settings all,basic``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _differences(a: Mapping[int, Mapping[str, Any]], b: Mapping[int, Mapping[str, Any]]) -> tuple[int, list[str]]:
    """(number of differing values, the first few described) between two runs' chunk records."""
    n, where = 0, []
    for chunk in sorted(set(a) | set(b)):
        ra, rb = a.get(chunk), b.get(chunk)
        if ra is None or rb is None:
            n += 1
            where.append(f"chunk {chunk}: only in one run")
            continue
        pairs = [("status", ra.get("status"), rb.get("status"))]
        for name in sorted(set(ra.get("tensors") or {}) | set(rb.get("tensors") or {})):
            ta, tb = (ra.get("tensors") or {}).get(name, {}), (rb.get("tensors") or {}).get(name, {})
            pairs += [(f"{name}.{k}", ta.get(k), tb.get(k)) for k in sorted(set(ta) | set(tb))]
        for key, x, y in pairs:
            if x != y and not (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)):
                n += 1
                if len(where) < 8:
                    where.append(f"chunk {chunk} {key}: {_short(x)} vs {_short(y)}")
    return n, where


def _short(x: Any) -> str:
    text = json.dumps(x, default=str)
    return text if len(text) < 80 else text[:77] + "…"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--backend", default="ort-cuda")
    ap.add_argument("--key", default="cudnn_conv_algo_search", help="the backend option compared")
    ap.add_argument("--settings", default="HEURISTIC,EXHAUSTIVE,DEFAULT")
    ap.add_argument("--modes", default="functional,closed-loop")
    ap.add_argument("--chunks", default=None)
    ap.add_argument("--stream", default=None)
    ap.add_argument("--backend-opt", action="append", default=[], help="KEY=VALUE for every setting (use_tf32=0)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from inspector.api import run_batch

    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    result: dict[str, Any] = {"backend": args.backend, "key": args.key, "settings": settings, "modes": modes,
                              "options": args.backend_opt, "runs": {}, "equal": {}}
    records: dict[tuple[str, str, str], dict[int, Mapping[str, Any]]] = {}
    verdicts: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for setting in settings:
        opts = [*args.backend_opt, f"{args.key}={setting}"]
        res = run_batch(store=args.store, model=args.model, contract=args.contract, backends=[args.backend],
                        modes=modes, stream=args.stream, chunks=args.chunks, backend_options=opts,
                        save_outputs="none", progress=False, resume=False)
        for run in res.runs:
            key = (setting, run.spec.mode, run.spec.stream)
            records[key] = {int(r["chunk"]): r for r in run.records}
            verdicts[key] = [(v.rule, v.status) for v in run.verdicts]
            lat = dict(run.latency_ms)
            ms = [r.get("inference_ms") for r in run.records]
            result["runs"][f"{setting}/{run.spec.mode}/{run.spec.stream}"] = {
                "outcome": run.outcome, "inference_ms": ms, "latency_ms": lat, "memory": dict(run.memory),
                "judge": dict(run.judge), "backend_extra": {k: v for k, v in run.backend_info.extra.items()
                                                             if k in ("cudnn_conv_algo_search", "provider_options")},
                "math_mode": run.backend_info.math_mode}
            print(f"\n== {args.key}={setting} · {run.spec.mode} · {run.spec.stream}: {run.outcome}, "
                  f"math {run.backend_info.math_mode}, recorded search "
                  f"{run.backend_info.extra.get('cudnn_conv_algo_search', '–')}")
            print("   inference ms per chunk: " + ", ".join("–" if x is None else f"{x:.1f}" for x in ms))
            print(f"   steady p50 {lat.get('p50')} p95 {lat.get('p95')} max {lat.get('max')} ms over "
                  f"{lat.get('count')} chunks; warm-up chunks {lat.get('warmup', {}).get('chunks')} "
                  f"(max {lat.get('warmup', {}).get('max')} ms); outliers "
                  f"{[o['chunk'] for o in lat.get('outliers') or []]}")
            for note in lat.get("notes") or []:
                print(f"   note: {note}")
    base = settings[0]
    print()
    for (setting, mode, stream), recs in records.items():
        if setting == base:
            continue
        ref = records.get((base, mode, stream))
        if ref is None:
            continue
        n, where = _differences(ref, recs)
        same_verdicts = verdicts[(base, mode, stream)] == verdicts[(setting, mode, stream)]
        label = f"{base} vs {setting} · {mode} · {stream}"
        result["equal"][label] = {"figures_equal": n == 0, "differences": n, "first": where,
                                  "verdicts_equal": same_verdicts}
        print(f"{label}: every per-chunk figure {'EQUAL' if n == 0 else f'DIFFERS ({n} values)'}; verdicts "
              f"{'equal' if same_verdicts else 'DIFFER'}")
        for w in where:
            print(f"   {w}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()

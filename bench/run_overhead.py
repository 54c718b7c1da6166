"""What does `inspector run` cost beyond inference? (issue 4, part 5)

In one process, on the same chunks and the same ONNX Runtime session, alternating to share any drift:
    bare:    ``sess.run(None, feeds)`` over feeds already in memory (nothing else);
    engine:  `ParityEngine.run` in functional mode: reads each chunk from the store, runs the backend, computes every
             metric and invariant, commits a record per chunk (metrics and writes overlap inference on threads).
Reported: seconds per chunk of each and the ratio engine / bare, twice (issue 16's bar: <= 1.3 for both):
    whole run:    every chunk, warm-up included (what a user waits for);
    steady state: the warm-up chunks excluded from both sides — the first call at each input-shape signature
                  (`inspector.latency`: chunk 0 of 41 frames and chunk 1, the first of 57, on parakeet), where
                  runtimes allocate and search algorithms; they are reported apart, with their times.
Bare times are per `sess.run` call. The engine's per-chunk time is the interval between consecutive chunk commits
(its progress callback; inference, judge and writes overlap on threads, so this is its throughput per chunk); its
steady figure sums those intervals over the steady chunks. Also printed: where the judge ran (GPU: torch kernel,
CPU: numpy; ``$INSPECTOR_JUDGE`` overrides), the engine's stage timers and per-chunk inference ms.

With ``--closed-loop`` it also times the closed loop of the same backend with caches kept on the device through IO
binding (``io_binding=1``) against host round-trips (``io_binding=0``), both bare (`Backend.step` alone) and
through the engine.

Usage:
    python bench/run_overhead.py --store S --model M.onnx --contract C [--backend ort-cpu|ort-cuda]
        [--chunks 0:20] [--rounds 2] [--backend-opt use_tf32=0] [--closed-loop] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _bare_functional(sess: Any, feeds: list[dict]) -> list[float]:
    """Seconds of each `sess.run` call, in chunk order."""
    out = []
    for f in feeds:
        t0 = time.perf_counter()
        sess.run(None, f)
        out.append(time.perf_counter() - t0)
    return out


def _engine_functional(eng: Any, spec: Any, be: Any) -> tuple[Any, float, list[float]]:
    """One engine run: its result, wall seconds, and seconds between consecutive chunk commits (chunk order)."""
    stamps: list[float] = []
    t0 = time.perf_counter()
    res = eng.run(spec, be, progress=lambda done, total, record: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    return res, wall, [b - a for a, b in zip([t0] + stamps[:-1], stamps)]


def _split(chunks: tuple[int, ...], per_chunk: list[float], warm: set[int]) -> tuple[float, float]:
    """(seconds over the steady chunks, seconds over the warm-up chunks)."""
    steady = sum(t for c, t in zip(chunks, per_chunk) if c not in warm)
    return steady, sum(t for c, t in zip(chunks, per_chunk) if c in warm)


def _bare_closed(be: Any, feeds: list[dict], state_names: set[str]) -> float:
    state = None
    init = {k: v for k, v in feeds[0].items() if k in state_names}
    t0 = time.perf_counter()
    for f in feeds:
        stream = {k: v for k, v in f.items() if k not in state_names}
        _, state = be.step(stream, state, init if state is None else None)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--contract", required=True)
    ap.add_argument("--backend", default="ort-cpu")
    ap.add_argument("--chunks", default="0:20")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--backend-opt", action="append", default=[])
    ap.add_argument("--closed-loop", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from backends.base import make_backend
    from contracts.load import load_contract
    from inspector.batch import parse_backend_options
    from inspector.engine import ParityEngine, RunSpec, load_chunk
    from store import Store

    contract = load_contract(args.contract)
    opts = parse_backend_options(args.backend_opt, [args.backend])[args.backend]
    st = Store.open(args.store, "a")
    eng = ParityEngine(st, contract, args.model)
    stream = eng.resolve_stream(None)
    chunks = eng.resolve_chunks(stream, args.chunks)
    t0 = time.perf_counter()
    sha = eng.model_sha256  # once per model and process; not a per-chunk cost
    result_hash_s = time.perf_counter() - t0
    feeds = [load_chunk(st, contract, stream, i).inputs for i in chunks]
    model_feeds = [{contract.input(k).name: v for k, v in f.items()} for f in feeds]
    result: dict[str, Any] = {"backend": args.backend, "options": opts, "chunks": len(chunks), "rounds": args.rounds,
                              "model_hash_s": round(result_hash_s, 2), "model_sha256": sha}

    with make_backend(args.backend, args.model, contract, {**opts, "io_binding": 0}) as be:
        info = be.info()
        result["backend_info"] = info.to_dict()
        sess = be.sess
        for f in model_feeds[:2]:  # warm-up (CUDA EP: kernels, cuDNN algorithm search)
            sess.run(None, f)
        # the engine's per-process warm-up likewise (imports, the GPU judge's CUDA context and kernels)
        eng.run(RunSpec(args.backend, "functional", stream, chunks[:2], options=opts, resume=False), be)
        rounds = []
        for r in range(args.rounds):
            bare = _bare_functional(sess, model_feeds)
            spec = RunSpec(args.backend, "functional", stream, chunks, options=opts, resume=False)
            res, wall, per_chunk = _engine_functional(eng, spec, be)
            warm = set(res.latency_ms.get("warmup", {}).get("chunks") or [])
            b_steady, b_warm = _split(chunks, bare, warm)
            e_steady, e_warm = _split(chunks, per_chunk, warm)
            rounds.append({"bare_s": sum(bare), "engine_s": wall, "bare_steady_s": b_steady, "bare_warm_s": b_warm,
                           "engine_steady_s": e_steady, "engine_warm_s": e_warm, "warm": sorted(warm),
                           "bare_ms": [round(t * 1e3, 2) for t in bare],
                           "engine_ms": [round(t * 1e3, 2) for t in per_chunk],
                           "inference_ms": [r.get("inference_ms") for r in res.records]})
        n = len(chunks)
        med = {k: statistics.median(x[k] for x in rounds) for k in ("bare_s", "engine_s", "bare_steady_s",
                                                                    "engine_steady_s", "bare_warm_s", "engine_warm_s")}
        warm = rounds[-1]["warm"]
        n_steady = n - len(warm)
        result["functional"] = {
            "bare_s_per_chunk": med["bare_s"] / n, "engine_s_per_chunk": med["engine_s"] / n,
            "ratio": med["engine_s"] / med["bare_s"],
            "steady": {"chunks": n_steady, "bare_s_per_chunk": med["bare_steady_s"] / max(1, n_steady),
                       "engine_s_per_chunk": med["engine_steady_s"] / max(1, n_steady),
                       "ratio": med["engine_steady_s"] / med["bare_steady_s"] if med["bare_steady_s"] else None},
            "warmup": {"chunks": warm, "bare_s": med["bare_warm_s"], "engine_s": med["engine_warm_s"]},
            "judge": dict(res.judge), "latency_ms": dict(res.latency_ms), "memory": dict(res.memory),
            "rounds": rounds, "engine_passed": res.passed, "engine_timings_ms_per_chunk": dict(res.timings_ms),
        }
    if args.closed_loop:
        state_names = set(contract.state_inputs)
        cl: dict[str, Any] = {}
        for io in (0, 1):
            with make_backend(args.backend, args.model, contract, {**opts, "io_binding": io}) as be:
                _bare_closed(be, feeds[:2], state_names)  # warm-up
                bare, engine = [], []
                for r in range(args.rounds):
                    bare.append(_bare_closed(be, feeds, state_names))
                    spec = RunSpec(args.backend, "closed-loop", stream, chunks, options={**opts, "io_binding": io},
                                   resume=False)
                    t0 = time.perf_counter()
                    res = eng.run(spec, be)
                    engine.append(time.perf_counter() - t0)
                p100 = next(v for v in res.verdicts if v.rule.endswith("p100")) if any(
                    v.rule.endswith("p100") for v in res.verdicts) else None
                cl[f"io_binding={io}"] = {
                    "bare_step_s_per_chunk": statistics.median(bare) / len(chunks),
                    "engine_s_per_chunk": statistics.median(engine) / len(chunks),
                    "mean_inference_ms": statistics.mean(r["inference_ms"] for r in res.records if r.get("inference_ms")),
                    "encoder_output_p100": p100.value if p100 else None, "notes": list(res.notes),
                    "latency_ms": dict(res.latency_ms), "judge": res.judge.get("place"),
                    "engine_timings_ms_per_chunk": dict(res.timings_ms),
                }
        result["closed_loop"] = cl
    print(json.dumps(result, indent=2, default=str))
    f = result["functional"]
    st_ = f["steady"]
    bar = 1.3

    def verdict(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f} ({'within' if x <= bar else 'OVER'} the {bar}x bar)"

    print(f"\n{args.backend} {info.math_mode} on {info.device}, judge on {f['judge'].get('place', '?')}: "
          f"{len(chunks)} chunks\n"
          f"  whole run:    bare {f['bare_s_per_chunk'] * 1e3:.1f} ms/chunk, engine "
          f"{f['engine_s_per_chunk'] * 1e3:.1f} ms/chunk, ratio {verdict(f['ratio'])}\n"
          f"  steady state: {st_['chunks']} chunks, bare {st_['bare_s_per_chunk'] * 1e3:.1f} ms/chunk, engine "
          f"{st_['engine_s_per_chunk'] * 1e3:.1f} ms/chunk, ratio {verdict(st_['ratio'])}\n"
          f"  warm-up chunks {f['warmup']['chunks']} (excluded from the steady figures): bare "
          f"{f['warmup']['bare_s'] * 1e3:.1f} ms, engine {f['warmup']['engine_s'] * 1e3:.1f} ms in all\n"
          f"  engine stages (ms/chunk): {f['engine_timings_ms_per_chunk']}\n"
          f"  engine inference ms per chunk: {f['rounds'][-1]['inference_ms']}\n"
          f"  bare ms per chunk:             {f['rounds'][-1]['bare_ms']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()

"""Step latency of a run: percentiles, the warm-up chunks apart, outliers with their likely cause.

A mean step time hides what users wait for. On the H200 at parakeet size, ORT's CUDA EP with
``cudnn_conv_algo_search=EXHAUSTIVE`` takes 1.0-1.8 s on chunks 0 and 1 of every stream (cuDNN searches again
whenever a Conv's input shape changes: 41 frames on chunk 0, 57 after) and ~28 ms on the rest, so its "118 ms mean"
is neither. Hence:

- **warm-up** chunks are the first call at each distinct input-shape signature (the first call of a session and the
  first at a new shape are where runtimes allocate, search algorithms or build engines); they are reported apart,
  with their indices, and the steady percentiles exclude them;
- an **outlier** is a steady chunk slower than `OUTLIER_FACTOR` × the steady median; its likely cause is named where
  it is known (a new input shape on a backend that searches algorithms; an engine rebuild the backend reported);
- the **shape-change pattern** (the slow chunks are exactly those where the input shape changes) is said in words,
  with the setting that removes it when the backend is known.

Pure functions of per-chunk figures: the engine records them, reports and the app read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

OUTLIER_FACTOR = 5.0
"""A steady chunk slower than this many times the steady median is an outlier."""

SLOW_WARMUP_FACTOR = 5.0
"""A warm-up chunk slower than this many times the steady median counts as slow for the shape-change pattern."""


@dataclass(frozen=True)
class Step:
    """One chunk's step: its index, inference time in ms (None: it did not run), and its input-shape signature."""

    chunk: int
    ms: float | None
    shapes: str = ""
    rebuilt: bool = False


def shape_signature(feeds: Mapping[str, Any]) -> str:
    """``"audio_signal=1x128x57;length=1"``: what changes when a runtime must re-plan (names sorted)."""
    parts = []
    for name in sorted(feeds):
        shape = getattr(feeds[name], "shape", None)
        parts.append(f"{name}={'x'.join(str(int(d)) for d in shape) if shape is not None else '?'}")
    return ";".join(parts)


def _pct(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    v = sorted(values)
    return {"count": len(v), "p50": round(_pct(v, 50), 3), "p95": round(_pct(v, 95), 3),
            "p99": round(_pct(v, 99), 3), "max": round(v[-1], 3), "mean": round(sum(v) / len(v), 3)}


def summarize(steps: Sequence[Step], *, backend: str = "", options: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """The run's ``latency_ms`` document.

    Returns:
        ``{p50, p95, p99, max, mean, count}`` over the steady chunks, ``warmup: {chunks, p50, max, …}``,
        ``all: {…}`` over every chunk that ran, ``outliers: [{chunk, ms, x_median, cause}]``, ``notes: [str]``.
        With no timed chunk: ``{"count": 0, "note": …}``.
    """
    timed = [s for s in sorted(steps, key=lambda s: s.chunk) if s.ms is not None]
    if not timed:
        return {"count": 0, "note": "no chunk was timed (none ran)"}
    seen: set[str] = set()
    warm: list[Step] = []
    steady: list[Step] = []
    changes: set[int] = set()
    prev_shape: str | None = None
    for s in timed:
        if prev_shape is not None and s.shapes != prev_shape:
            changes.add(s.chunk)
        prev_shape = s.shapes
        if s.shapes not in seen or s.rebuilt:
            seen.add(s.shapes)
            warm.append(s)
        else:
            steady.append(s)
    base = steady or warm
    median = _pct(sorted(x.ms for x in base), 50) or 0.0
    doc: dict[str, Any] = _stats([s.ms for s in steady])
    doc["warmup"] = {"chunks": [s.chunk for s in warm], **_stats([s.ms for s in warm])}
    doc["all"] = _stats([s.ms for s in timed])
    outliers = []
    for s in steady:
        if median > 0 and s.ms > OUTLIER_FACTOR * median:
            outliers.append({"chunk": s.chunk, "ms": round(s.ms, 3), "x_median": round(s.ms / median, 1),
                             "cause": _cause(s, changes, backend, options)})
    doc["outliers"] = outliers
    notes = []
    slow_warm = {s.chunk for s in warm if median > 0 and s.ms > SLOW_WARMUP_FACTOR * median}
    slow = slow_warm | {o["chunk"] for o in outliers}
    shape_moves = changes | {timed[0].chunk}
    if slow and slow <= shape_moves and (slow & changes or len(slow) > 1):
        notes.append(_shape_note(sorted(slow), median, backend, options))
    if not steady:
        notes.append("every timed chunk was a warm-up chunk (a new input shape each time): no steady figures")
    doc["notes"] = notes
    return doc


def _searches(backend: str, options: Mapping[str, Any] | None) -> str:
    """Which algorithm-search setting is in force, for backends that search ('' when not known to search)."""
    opts = dict(options or {})
    if backend.startswith("ort-cuda") or (backend.startswith("ort") and opts.get("provider") == "cuda"):
        return str(opts.get("cudnn_conv_algo_search", "HEURISTIC"))
    if backend.startswith("trt"):
        return "TensorRT tactic selection"
    if backend.startswith("torch-cuda"):
        return "cudnn.benchmark" if opts.get("cudnn_benchmark") else ""
    return ""


def _cause(step: Step, changes: set[int], backend: str, options: Mapping[str, Any] | None) -> str:
    if step.rebuilt:
        return "the backend rebuilt its engine for this chunk"
    if step.chunk in changes:
        search = _searches(backend, options)
        return (f"a new input shape on a backend that searches algorithms ({search})" if search
                else "a new input shape")
    return "unknown (not a shape change; look for contention on the machine)"


def _shape_note(slow: list[int], median: float, backend: str, options: Mapping[str, Any] | None) -> str:
    where = ", ".join(str(c) for c in slow[:8]) + (" …" if len(slow) > 8 else "")
    text = (f"slow steps exactly where the input shape changes (chunks {where}; steady median {median:.1f} ms)")
    search = _searches(backend, options)
    if search.upper() == "EXHAUSTIVE":
        text += (": ONNX Runtime's cuDNN search (cudnn_conv_algo_search=EXHAUSTIVE) runs again at every new Conv "
                 "input shape, i.e. at the start of every utterance; cudnn_conv_algo_search=HEURISTIC (our default) "
                 "avoids it")
    elif search:
        text += f": the backend re-plans at each new shape ({search})"
    return text


def _ms(x: Any) -> str:
    return "–" if x is None else f"{float(x):.3g}"


def latency_markdown(run: Mapping[str, Any]) -> list[str]:
    """A run's step latency and peak memory as Markdown lines (a table, then the outliers): for the summary of a
    report document's run (``run["latency_ms"]``, ``run["memory"]``, ``run["judge"]``). Nothing for documents of
    older versions that lack them."""
    lat = run.get("latency_ms") or {}
    mem = run.get("memory") or {}
    if not lat and not mem:
        return []
    warm = lat.get("warmup") or {}
    chunks = warm.get("chunks") or []
    warm_text = (f"{len(chunks)} (chunks {', '.join(str(c) for c in chunks[:6])}{' …' if len(chunks) > 6 else ''}; "
                 f"max {_ms(warm.get('max'))})") if chunks else "–"
    judge = (run.get("judge") or {}).get("place", "")
    lines = ["", "| step ms p50 | p95 | p99 | max | steady chunks | warm-up chunks | outliers | peak RSS MB | "
                 "peak device MB | judge |",
             "|---|---|---|---|---|---|---|---|---|---|",
             f"| {_ms(lat.get('p50'))} | {_ms(lat.get('p95'))} | {_ms(lat.get('p99'))} | {_ms(lat.get('max'))} | "
             f"{lat.get('count', 0)} | {warm_text} | {len(lat.get('outliers') or [])} | "
             f"{_ms(mem.get('peak_rss_mb'))} | {_ms(mem.get('peak_device_mb'))} | {judge or '–'} |"]
    if lat.get("note"):
        lines += ["", f"> latency: {lat['note']}"]
    for o in (lat.get("outliers") or [])[:10]:
        lines += ["", f"> slow chunk {o.get('chunk')}: {_ms(o.get('ms'))} ms ({o.get('x_median')}× the steady "
                      f"median): {o.get('cause', '')}"]
    return lines


def latency_properties(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A run's latency and memory as JUnit ``<property>`` name/value pairs (empty values left out)."""
    lat = run.get("latency_ms") or {}
    mem = run.get("memory") or {}
    warm = lat.get("warmup") or {}
    pairs = [(f"latency_ms_{k}", lat.get(k)) for k in ("p50", "p95", "p99", "max")]
    pairs += [("latency_steady_chunks", lat.get("count")),
              ("latency_warmup_chunks", ",".join(str(c) for c in warm.get("chunks") or []) or None),
              ("latency_warmup_max_ms", warm.get("max")),
              ("latency_outlier_chunks", ",".join(str(o.get("chunk")) for o in lat.get("outliers") or []) or None),
              ("peak_rss_mb", mem.get("peak_rss_mb")), ("peak_device_mb", mem.get("peak_device_mb")),
              ("judge", (run.get("judge") or {}).get("place"))]
    return [(k, str(v)) for k, v in pairs if v is not None and v != ""]


@dataclass(frozen=True)
class LatencySeries:
    """What the app's latency plot draws for one run: per-chunk inference ms, which chunks were warm-up or outliers,
    the steady median, and the run's latency notes (from `summarize`, so plot and reports agree)."""

    chunks: tuple[int, ...] = ()
    ms: tuple[float, ...] = ()
    warmup: frozenset[int] = frozenset()
    outliers: frozenset[int] = frozenset()
    median: float | None = None
    notes: tuple[str, ...] = ()


def latency_series(records: Mapping[int, Mapping[str, Any]], backend: str = "",
                   options: Mapping[str, Any] | None = None) -> LatencySeries:
    """The plot's series from a run's chunk records (``{chunk: record}``; records without a finite
    ``inference_ms`` are left out: they did not run)."""
    steps = []
    for chunk, rec in sorted(records.items()):
        ms = rec.get("inference_ms")
        if isinstance(ms, (int, float)) and math.isfinite(ms):
            steps.append(Step(int(chunk), float(ms), str(rec.get("input_shapes") or ""), bool(rec.get("rebuilt"))))
    if not steps:
        return LatencySeries()
    doc = summarize(steps, backend=backend, options=options)
    return LatencySeries(tuple(s.chunk for s in steps), tuple(float(s.ms) for s in steps),
                         frozenset(doc["warmup"]["chunks"]), frozenset(o["chunk"] for o in doc["outliers"]),
                         doc.get("p50"), tuple(doc.get("notes") or ()))


def describe(doc: Mapping[str, Any]) -> str:
    """One line for a terminal: ``p50 28.1 ms, p95 30.2, p99 31.0, max 31.5 over 22 steady steps; warm-up 0, 1 (max
    1520 ms); outliers: none`` and the notes."""
    if not doc.get("count") and not (doc.get("warmup") or {}).get("chunks"):
        return str(doc.get("note") or "no step was timed")
    warm = doc.get("warmup") or {}
    chunks = warm.get("chunks") or []
    listed = ", ".join(str(c) for c in chunks[:8]) + (" …" if len(chunks) > 8 else "")
    text = (f"p50 {_ms(doc.get('p50'))} ms, p95 {_ms(doc.get('p95'))}, p99 {_ms(doc.get('p99'))}, max "
            f"{_ms(doc.get('max'))} over {doc.get('count', 0)} steady steps; warm-up "
            + (f"{listed} (max {_ms(warm.get('max'))} ms)" if chunks else "none"))
    outliers = doc.get("outliers") or []
    text += "; outliers: " + (", ".join(f"{o['chunk']} ({_ms(o['ms'])} ms: {o['cause']})" for o in outliers[:5])
                              if outliers else "none")
    for note in doc.get("notes") or []:
        text += f". {note}"
    return text

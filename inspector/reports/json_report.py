"""The JSON report of a batch: per-run verdicts, per-chunk and per-tensor figures, invariants, environment.

In the spirit of the seed team's ``parity_50chunks_functional_cpu.json`` (each run also carries their summary fields:
``total_chunks``, ``passed``, ``failed``, ``pass_rate`` in percent, ``failures[{chunk, errors[]}]`` with their
``"encoder_output: max_abs=… mean_abs=… max_rel=…"`` strings), plus everything a triage needs: which chunk fails
first, which tensor, where in it, the math mode of every side.

`build_report` makes the document (a plain dict); the JUnit and Markdown writers render from that dict, so a saved
report can be re-rendered without the store.

Outcomes: every verdict's ``status`` is one of ``pass``, ``fail``, ``undetermined``, ``info`` (see
`inspector.acceptance`), with ``required`` and ``accepted_by`` (the ``--allow-undetermined`` flag that accepted an
undetermined rule, else null). Each run and the whole report have an ``outcome`` (``pass``, ``fail``,
``undetermined``) and the report its ``exit_code`` (0, 1, 3); ``passed`` is true only for ``pass``.
``failures_by_rule`` / ``undetermined_by_rule`` list the rules that decide a run's outcome.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import orjson

REPORT_FORMAT = "parity-inspector-report"
REPORT_VERSION = 1

_CHUNK_TENSOR_KEYS = (
    "passed", "max_abs", "mean_abs", "p99_abs", "rel_l2", "max_rel", "cosine", "worst_index", "worst_out",
    "worst_ref", "n_fail", "nonfinite_ref", "nonfinite_out", "nonfinite_mismatch", "atol", "rtol",
    "min_frame_cosine", "diverging_frames", "n_frames", "frame_cosine", "shape", "message",
)


def build_report(runs: Sequence[Any], *, contract: Any, model: str | Path, model_sha256: str = "",
                 store: str | Path = "", per_chunk: bool = True,
                 allow_undetermined: Sequence[str] = ()) -> dict[str, Any]:
    """The report document for a list of `inspector.engine.RunResult`.

    Args:
        runs: The runs, in the order they ran.
        contract: The `Contract` they were judged against.
        model: The model file.
        model_sha256: Its hash (the engine's).
        store: The store path.
        per_chunk: Include every chunk's figures (the default; off for very long runs).
        allow_undetermined: The ``--allow-undetermined`` arguments the runs were judged with (recorded).
    """
    from inspector.acceptance import EXIT_CODES, combine_outcomes
    from inspector.engine import run_summary

    docs = []
    for res in runs:
        summary = run_summary(res)
        docs.append(_run_doc(res, summary, per_chunk))
    outcome = combine_outcomes(d["outcome"] for d in docs)
    first = next((r for r in runs), None)
    return {
        "format": REPORT_FORMAT, "version": REPORT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "outcome": outcome, "passed": outcome == "pass", "exit_code": EXIT_CODES[outcome],
        "allow_undetermined": list(allow_undetermined),
        "contract": {"name": contract.name, "version": contract.version, "source": contract.source},
        "model": {"path": str(model), "sha256": model_sha256},
        "store": str(store),
        "reference": dict(first.reference) if first is not None else {},
        "environment": dict(first.environment) if first is not None else {},
        "runs": docs,
        "failures": [f for d in docs for f in d["failures_by_rule"]],
        "undetermined": [f for d in docs for f in d["undetermined_by_rule"]],
    }


def _run_doc(res: Any, summary: Mapping[str, Any], per_chunk: bool) -> dict[str, Any]:
    recs = res.records
    from inspector.acceptance import run_outcome

    verdicts = [v.to_dict() for v in res.verdicts]
    failing = [v for v in verdicts if v["status"] == "fail" and v["required"]]
    undecided = [v for v in verdicts if v["status"] == "undetermined" and v["required"] and not v["accepted_by"]]
    outcome = run_outcome(res.verdicts) if res.status == "complete" else "undetermined"
    doc: dict[str, Any] = {
        "run_id": res.run_id, "backend": res.spec.backend, "mode": res.spec.mode, "stream": res.spec.stream,
        "chunks": _ranges(res.spec.chunks), "baseline": res.spec.baseline or "reference",
        "outcome": outcome, "passed": outcome == "pass", "status": res.status, "started": res.started,
        "finished": res.finished,
        "backend_info": res.backend_info.to_dict(),
        "baseline_info": res.baseline_info.to_dict() if res.baseline_info is not None else None,
        "math_mode": {"backend": res.backend_info.math_mode,
                      "baseline": (res.baseline_info.math_mode if res.baseline_info is not None
                                   else res.reference.get("math_mode", ""))},
        "options": dict(res.spec.options), "save_outputs": res.spec.save_outputs,
        "resumed_chunks": res.resumed_chunks, "notes": list(res.notes),
        "summary": {k: summary[k] for k in ("n_chunks", "n_passed", "first_failing_chunk", "mean_inference_ms",
                                             "wall_s", "timings_ms_per_chunk")},
        # step latency (steady percentiles, warm-up apart, outliers with cause), peak memory, where the judge ran
        "latency_ms": dict(summary.get("latency_ms") or {}), "memory": dict(summary.get("memory") or {}),
        "judge": dict(summary.get("judge") or {}),
        "verdicts": verdicts,
        "failures_by_rule": [
            {"backend": res.spec.backend, "mode": res.spec.mode, "rule": v["rule"], "kind": v["kind"],
             "chunk": v["first_failing_chunk"], "tensor": v["tensor"] or _tensor_of(v, recs),
             "message": v["message"]} for v in failing],
        "undetermined_by_rule": [
            {"backend": res.spec.backend, "mode": res.spec.mode, "rule": v["rule"], "kind": v["kind"],
             "tensor": v["tensor"], "message": v["message"]} for v in undecided],
        "tensors": _tensor_summary(recs),
        "state": _state_section(verdicts),
        # the seed team's summary fields, so their dashboards read our reports
        "total_chunks": len(recs), "passed_chunks": sum(1 for r in recs if r.get("passed")),
        "failed_chunks": sum(1 for r in recs if not r.get("passed")),
        "pass_rate": round(100.0 * sum(1 for r in recs if r.get("passed")) / len(recs), 3) if recs else None,
        "failures": [_seed_failure(r) for r in recs if not r.get("passed")],
    }
    if per_chunk:
        doc["chunk_records"] = [_chunk_doc(r) for r in recs]
    return doc


def accept_hint(report: Mapping[str, Any]) -> str:
    """`` Accept explicitly with --allow-undetermined RULE …`` for the required rules left undetermined ("" if none)."""
    rules = sorted({u["rule"] for run in report.get("runs", []) for u in run.get("undetermined_by_rule", [])})
    if not rules:
        return ""
    return (" To accept explicitly what cannot be decided here: "
            + " ".join(f"--allow-undetermined {r}" for r in rules[:4]) + (" …" if len(rules) > 4 else "")
            + " (or --allow-undetermined all); the reports record what was accepted.")


def undetermined_summary(report: Mapping[str, Any]) -> str:
    """One paragraph naming, per run, the required rules that could not be decided and why, and how to accept them
    (for the exit-3 message)."""
    parts = []
    for run in report.get("runs", []):
        items = [f"{u['rule']} ({u['message']})" for u in run.get("undetermined_by_rule", [])[:4]]
        more = len(run.get("undetermined_by_rule", [])) - 4
        if items:
            parts.append(f"{run['backend']} {run['mode']}"
                         + (f" stream {run['stream']!r}" if run.get("stream") else "") + ": " + "; ".join(items)
                         + (f"; and {more} more" if more > 0 else ""))
    rules = sorted({u["rule"] for run in report.get("runs", []) for u in run.get("undetermined_by_rule", [])})
    return ("Parity undetermined: nothing failed, but required rules could not be decided. " + " | ".join(parts)
            + ". Fix what kept them from being decided, or accept them explicitly with "
            + " ".join(f"--allow-undetermined {r}" for r in rules[:4]) + (" …" if len(rules) > 4 else "")
            + " (or --allow-undetermined all); the report records what was accepted.")


def _state_section(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Closed loop: the state trajectory and the probe's numbers (issue 8), from the state_carried verdict."""
    from inspector.state.report import state_report

    return state_report(verdicts)


def _tensor_of(verdict: Mapping[str, Any], recs: Sequence[Mapping[str, Any]]) -> str:
    """The tensor that fails first on a rule's first failing chunk (for rules not about one tensor)."""
    chunk = verdict.get("first_failing_chunk")
    for r in recs:
        if r["chunk"] == chunk:
            ft = r.get("failed_tensors") or []
            return ft[0] if ft else ""
    return ""


def _chunk_doc(r: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: r.get(k) for k in ("chunk", "status", "passed", "error", "inference_ms", "tightened", "note")
           if k in r}
    out["tensors"] = {name: {k: t.get(k) for k in _CHUNK_TENSOR_KEYS if k in t}
                      for name, t in (r.get("tensors") or {}).items()}
    out["invariants"] = {k: v.get("ok") for k, v in (r.get("invariants") or {}).items()}
    failed_inv = {k: v.get("detail") for k, v in (r.get("invariants") or {}).items() if v.get("ok") is False}
    if failed_inv:
        out["invariant_failures"] = failed_inv
    if r.get("tightening_fired"):
        out["tightening_fired"] = r["tightening_fired"]
    if r.get("extra"):
        out["extra"] = r["extra"]
    return out


def _seed_failure(r: Mapping[str, Any]) -> dict[str, Any]:
    if r.get("status") == "error":
        return {"chunk": r["chunk"], "error": r.get("error", "")}
    errors = []
    for name, t in (r.get("tensors") or {}).items():
        if not t.get("passed"):
            if t.get("message") and t.get("max_abs") is None:
                errors.append(t["message"])
            else:
                errors.append(f"{name}: max_abs={_e(t.get('max_abs'))} mean_abs={_e(t.get('mean_abs'))} "
                              f"max_rel={_e(t.get('max_rel'))}")
    for inv_id, v in (r.get("invariants") or {}).items():
        if v.get("ok") is False:
            errors.append(f"invariant {inv_id}: {v.get('detail', '')}")
    return {"chunk": r["chunk"], "errors": errors}


def _e(x: Any) -> str:
    return "nan" if x is None else f"{float(x):.3e}"


def _tensor_summary(recs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per tensor over the run: max/P95 of per-chunk max-abs, pass rate, worst chunk, min cosine."""
    from inspector.acceptance import chunk_metric, quantile

    names: list[str] = []
    for r in recs:
        for n in r.get("tensors") or {}:
            if n not in names:
                names.append(n)
    out = {}
    for n in names:
        vals = [chunk_metric(r, n, "max_abs") for r in recs]
        passed = [bool((r.get("tensors") or {}).get(n, {}).get("passed")) for r in recs]
        cos = [(r.get("tensors") or {}).get(n, {}).get("cosine") for r in recs]
        cos = [c for c in cos if c is not None]
        worst = max(range(len(vals)), key=lambda i: vals[i]) if vals else None
        out[n] = {
            "max_abs_max": _fin(max(vals)) if vals else None, "max_abs_p95": _fin(quantile(vals, 95)),
            "max_abs_p50": _fin(quantile(vals, 50)), "pass_rate": sum(passed) / len(passed) if passed else None,
            "worst_chunk": recs[worst]["chunk"] if worst is not None else None,
            "min_cosine": min(cos) if cos else None,
            "first_failing_chunk": next((r["chunk"] for r, p in zip(recs, passed) if not p), None),
        }
    return out


def _fin(x: float) -> Any:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else ("inf" if x == math.inf else None)


def _ranges(chunks: Sequence[int]) -> list[list[int]]:
    """[0, 1, 2, 5, 6] → [[0, 3], [5, 7]] (half-open ranges)."""
    out: list[list[int]] = []
    for c in chunks:
        if out and out[-1][1] == c:
            out[-1][1] = c + 1
        else:
            out.append([c, c + 1])
    return out


def strict_json(doc: Any, indent: bool = True) -> bytes:
    """`doc` as strict JSON (RFC 8259): NaN and ±Infinity become ``null`` (strict parsers — ``JSON.parse``, Go,
    jq — reject the bare tokens Python's `json` writes), numpy scalars and arrays become numbers and lists, non-string
    keys become strings, anything else unknown (paths, sets) its text or list."""
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(doc, option=option, default=_default)


def _default(x: Any) -> Any:
    if isinstance(x, (set, frozenset)):
        return sorted(x, key=str)
    if hasattr(x, "to_dict"):
        return x.to_dict()
    return str(x)


def write_strict_json(doc: Any, path: str | Path) -> Path:
    """Write `strict_json(doc)` atomically (temp file + rename), with a final newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(strict_json(doc) + b"\n")
    tmp.replace(path)
    return path


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report atomically (temp file + rename) as strict JSON (see `strict_json`)."""
    return write_strict_json(report, path)

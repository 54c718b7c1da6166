"""Record an imported file as a run in a store, judged by the contract: the work behind `inspector import-run`.

An imported run is a `store.RunRecord` with ``mode="imported"``; its per-chunk records have the engine's layout
(`inspector.engine`, "chunk record"), so reports and the TUI read it like a live run. What differs is said in the
record: ``options.importer`` names the format, ``options.source`` holds the file's path, size and SHA-256 (which is
how a second import of the same file is recognised and skipped), and each chunk's ``imported`` entry keeps what the
file said verbatim.

Parity reports become runs with per-chunk encoder_output figures and per-tensor failures (see `judge`); streaming
summaries become runs whose chunks carry a ``state`` dict (``cache_len_in``, ``cache_len_out``, ``input_len``,
``valid_out_len``, ``cache_drop_size``) and the contract's invariants evaluated on those lengths.

Outcomes are those of live runs (`inspector.acceptance`): ``pass`` only when every required rule passes; a rule the
file cannot decide is ``undetermined`` (exit 3 from ``import-run``) unless accepted with ``--allow-undetermined``
(recorded in the verdict's ``accepted_by`` and the summary's ``allow_undetermined``); with no contract the run is
``not judged`` (exit 3 too: nothing was checked).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from contracts.model import Contract
from inspector.errors import InspectorError
from inspector.importers.judge import ImportJudgement, chunk_records, judge
from inspector.importers.reports import FRAMES, ParsedReport, detect_schema, parse_report
from inspector.importers.source import SourceFile, read_source
from inspector.importers.summaries import (
    SummaryStep, TrajectoryVerdict, describe_trajectory, looks_like_summary, parse_summary, state_env,
    summary_stream,
)
from inspector.text import status_word

Kind = Literal["auto", "report", "summary"]
REPORT_IMPORTER = "seed-parity-report"
SUMMARY_IMPORTER = "seed-streaming-summary"
_ZERO_LEN_RULE = re.compile(r"^\s*cache_last_channel_len(_out)?\s*==\s*0\s*$")


@dataclass(frozen=True)
class ImportOutcome:
    """What one `import-run` did.

    Attributes:
        run_id: The run in the store (new, or the one recorded by an earlier import of the same file).
        already: True when the same file (same SHA-256) had been imported before: nothing was written.
        kind: ``report`` or ``summary``.
        outcome: ``pass``, ``fail``, ``undetermined`` or ``not judged``, after ``--allow-undetermined``.
        summary: The run's summary as stored (and written by ``--json``), JSON-ready.
        lines: What to print, one line each.
    """

    run_id: str
    already: bool
    kind: str
    outcome: str
    summary: Mapping[str, Any]
    lines: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 3 undetermined or not judged (nothing failed, but not everything required was shown)."""
        return {"pass": 0, "fail": 1}.get(self.outcome, 3)


# --- entry point ---------------------------------------------------------------------------------------------------

def import_file(path: str | Path, store_path: str | Path, contract: str | Path | None = None,
                kind: Kind = "auto", stream: str | None = None, backend: str | None = None,
                allow_undetermined: Sequence[str] = ()) -> ImportOutcome:
    """Import a parity report or a streaming summary into a store as a run, and judge it.

    Args:
        path: The report (.json) or summary (.jsonl / .json list).
        store_path: An existing store (the run is added to it).
        contract: Contract path or shipped name; default: the store's contract, if it names one.
        kind: ``auto`` detects the format from the content.
        stream: The stream to record the run under; default: the file's stream, the store's only stream, or
            ``default``.
        backend: Override the backend name (summaries carry none; default ``unknown``).
        allow_undetermined: Rule ids (or ``all``) whose undetermined verdict is accepted (``--allow-undetermined``).

    Raises:
        InspectorError: unreadable or unknown file, bad usage.
        store.StoreError: no store at `store_path`.
        contracts.ContractError: the contract cannot be loaded.
    """
    from store import Store

    src = read_source(path)  # read the file first: a bad file is reported before anything touches the store
    detected = _detect_kind(src, kind)
    st = Store.open(store_path, "a")
    con, contract_note = _resolve_contract(st, contract)
    allow = _allow_list(allow_undetermined, con)
    if detected == "report":
        done = _import_report(st, src, con, contract_note, stream, backend)
    else:
        done = _import_summary(st, src, con, contract_note, stream, backend)
    return _with_allowed(done, allow)


def _allow_list(allow: Sequence[str], contract: Contract | None) -> list[str]:
    from inspector.acceptance import check_allow_undetermined

    try:
        return check_allow_undetermined(allow, contract)
    except ValueError as exc:
        raise InspectorError(str(exc)) from None


def _with_allowed(done: ImportOutcome, allow: Sequence[str]) -> ImportOutcome:
    """The outcome after the user's ``--allow-undetermined``: accepted verdicts name the flag, the outcome is
    recomputed from the verdicts (also for a file imported before, whose stored verdicts are re-read)."""
    from inspector.acceptance import Verdict, accept_undetermined, run_outcome

    if done.outcome == "not judged" or not allow:
        return done
    verdicts = accept_undetermined([Verdict.from_dict(v) for v in done.summary.get("verdicts", [])], allow)
    outcome = run_outcome(verdicts)
    accepted = [v for v in verdicts if v.accepted_by]
    lines = list(done.lines)
    if accepted:
        lines.append(f"accepted undetermined ({', '.join(sorted({v.accepted_by for v in accepted}))}): "
                     + ", ".join(v.rule for v in accepted) + f"; verdict {outcome.upper()}")
    summary = {**done.summary, "verdicts": [v.to_dict() for v in verdicts], "outcome": outcome,
               "passed": outcome == "pass", "judged_outcome": done.outcome, "allow_undetermined": list(allow)}
    return dataclasses.replace(done, outcome=outcome, summary=summary, lines=tuple(lines))


def _detect_kind(src: SourceFile, kind: Kind) -> Literal["report", "summary"]:
    where = str(src.path)
    first = src.data[0] if isinstance(src.data, list) and src.data else src.data
    if isinstance(first, dict) and "outputs" in first and ("inputs" in first or "chunk_idx" in first):
        raise InspectorError(f"{where}: this is a reference JSONL (lines hold 'inputs'/'outputs' tensors), not a parity "
                             f"report or streaming summary; convert it with `inspector convert {src.path.name} -o "
                             f"STORE`.")
    if kind == "report":
        detect_schema(src.data, where)
        return "report"
    if kind == "summary":
        return "summary"
    if isinstance(src.data, dict) and not looks_like_summary(src.data):
        detect_schema(src.data, where)  # raises the "unknown schema" error naming both schemas
        return "report"
    if looks_like_summary(src.data):
        return "summary"
    raise InspectorError(
        f"{where}: not a format import-run knows. Expected a parity report (one JSON object, the seed's ORT schema "
        f"with total_chunks, failures … or the TensorRT schema with engine, chunk_stats …) or a streaming summary "
        f"(JSON Lines or a JSON list of objects with chunk_idx, cache_len_in, cache_len_out …). Use --kind to force "
        f"one and see what is missing.")


def _resolve_contract(st: Any, contract: str | Path | None) -> tuple[Contract | None, str]:
    from contracts.load import load_contract

    if contract is not None:
        return load_contract(contract), ""
    named = st.attrs.get("contract")
    if isinstance(named, Mapping):
        named = named.get("name") or named.get("path")
    if isinstance(named, str) and named:
        from contracts.errors import ContractError

        try:
            return load_contract(named), f"contract {named!r} from the store"
        except ContractError:
            return None, (f"the store names contract {named!r}, which is neither a file nor a shipped contract; "
                          f"pass --contract to judge the run")
    return None, "no contract given (--contract) and the store names none: figures only, no verdict"


def contract_digest(contract: Contract | None) -> str:
    """A hash of what a contract says (not of its file's bytes): an edited threshold makes another digest."""
    if contract is None:
        return ""
    import hashlib
    import json

    from contracts.load import contract_to_dict

    text = json.dumps(contract_to_dict(contract), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _previous_import(st: Any, sha256: str, importer: str, contract: str, digest: str | None = None) -> Any | None:
    """The run an earlier import of the same bytes, judged by the same contract, recorded (None if none).

    The same file judged by another contract, or by the same contract after an edit (another `digest`), is
    another run: both verdicts are kept.
    """
    for rec in st.runs():
        options = rec.options or {}
        src = options.get("source") or {}
        if rec.mode == "imported" and options.get("importer") == importer and \
                src.get("sha256") == sha256 and (rec.contract or "") == contract and \
                (digest is None or options.get("contract_digest", "") == digest):
            return rec
    return None


def _default_stream(st: Any, stream: str | None, from_file: str | None) -> str:
    if stream:
        return stream
    if from_file:
        return from_file
    streams = st.streams()
    return streams[0] if len(streams) == 1 else "default"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _environment() -> dict[str, Any]:
    import platform
    import sys

    from inspector import __version__

    return {"inspector": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "imported_at": _now(), "note": "imported: the run was made elsewhere; this is where it was imported"}


def _again(st: Any, rec: Any, kind: str) -> ImportOutcome:
    summary = dict(rec.summary or {})
    outcome = str(summary.get("outcome", "not judged"))
    if rec.contract and summary.get("verdicts") and outcome != "not judged":
        # Re-read with today's semantics (an older import may hold "skip" verdicts: undetermined now).
        from inspector.acceptance import Verdict, run_outcome

        outcome = run_outcome(Verdict.from_dict(v) for v in summary["verdicts"])
        summary["outcome"] = outcome
    judged = f"judged by contract {rec.contract}" if rec.contract else "with no contract"
    lines = [f"already imported: {rec.options.get('source', {}).get('path', '?')} (sha256 "
             f"{rec.options.get('source', {}).get('sha256', '')[:12]}…), {judged}, is run {rec.run_id}; nothing "
             f"written.",
             *summary.get("lines", [])]
    return ImportOutcome(rec.run_id, True, kind, outcome, summary, tuple(lines))


def _write_run(st: Any, record: Any, records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """Create the run, commit every chunk, finish it; resume an earlier interrupted import of the same file."""
    existing = _previous_import(st, record.options["source"]["sha256"], record.options["importer"], record.contract,
                                record.options.get("contract_digest", ""))
    if existing is not None and existing.status != "complete":
        writer = st.resume_run(existing.run_id)
    else:
        writer = st.create_run(record)
    done = writer.done_chunks(record.stream)
    try:
        for rec in records:
            if rec["chunk"] not in done:
                writer.write_chunk(record.stream, rec["chunk"], rec)
    except BaseException:
        writer.update(status="interrupted")
        raise
    writer.finish("complete", summary=summary)
    return writer.record.run_id


# --- parity reports ------------------------------------------------------------------------------------------------

def _import_report(st: Any, src: SourceFile, contract: Contract | None, contract_note: str, stream: str | None,
                   backend: str | None) -> ImportOutcome:
    from store.api import RunRecord

    report = parse_report(src.data, str(src.path))
    if backend:
        report = dataclasses.replace(report, backend=backend)
    prev = _previous_import(st, src.sha256, REPORT_IMPORTER, contract.name if contract else "",
                            contract_digest(contract))
    if prev is not None and prev.status == "complete":
        return _again(st, prev, "report")
    stream_name = _default_stream(st, stream, None)
    mode = report.mode or "closed-loop"
    notes = list(report.notes)
    if not report.mode:
        notes.append("the report does not say functional or closed loop; judged as closed loop (all rules apply).")
    if report.zero_feed_cache:
        notes.append("zero_feed_cache is true: the caches fed were zeros, so this run says nothing about state carried "
                     "between chunks.")
    if contract_note:
        notes.append(contract_note)

    tolerances, outputs = _tolerances(report, contract)
    recs = chunk_records(report, stream_name, tolerances, outputs)
    judgement = judge(report, recs, contract, mode)
    lines = _report_lines(src, report, judgement, contract, notes)
    summary = _report_summary(src, report, judgement, contract, notes, lines, mode)
    record = RunRecord(
        run_id="", backend=report.backend, mode="imported", stream=stream_name, chunks=report.indices,
        backend_info=_backend_info(report), options={
            "importer": REPORT_IMPORTER, "schema": report.schema, "source": src.to_dict(),
            "contract_digest": contract_digest(contract),
            "source_mode": report.raw_mode, "judged_mode": mode,
            "report_tolerance": {"atol": report.atol, "rtol": report.rtol, "cache_atol": report.cache_atol},
            "report_claims": dict(report.claims), "extra": _small(report.extra)},
        environment=_environment(), contract=contract.name if contract else "", model=report.model or report.engine,
        started=_now())
    run_id = _write_run(st, record, judgement.records, summary)
    return ImportOutcome(run_id, False, "report", judgement.outcome, summary,
                         (f"imported {src.path.name} as run {run_id} in {st.path}", *lines))


def _tolerances(report: ParsedReport, contract: Contract | None) -> tuple[dict[str, Any], list[str]]:
    """The outputs to record per chunk and our tolerance for each.

    Only tensors the report speaks about: encoder_output (its figures are what reports carry) and every tensor named
    in a failure somewhere (so the report did compare it; where a chunk does not list it, it passed). A tensor the
    report never names may not have been compared at all, so nothing is recorded for it.
    """
    names = [FRAMES, *sorted({e.tensor for c in report.chunks for e in c.errors} - {FRAMES})]
    if contract is None:
        return {n: None for n in names}, names
    from contracts.rules import tolerance_for

    return {n: tolerance_for(contract, n, report.backend, report.precision) for n in names}, names


def _backend_info(report: ParsedReport) -> dict[str, Any]:
    return {"name": report.backend, "runtime": report.runtime, "version": str(report.extra.get("version", "")),
            "device": str(report.extra.get("device", report.extra.get("gpu", ""))), "provider": report.provider,
            "precision": report.precision, "math_mode": report.math_mode, "options": {},
            "extra": {"engine": report.engine, "onnx": report.model, "ref": report.ref,
                      "timing_ms": dict(report.timing_ms) if report.timing_ms else None,
                      "zero_feed_cache": report.zero_feed_cache, "imported": True}}


def _small(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Keep unknown top-level keys of the report unless they are large (they stay in the source file)."""
    import json

    out = {}
    for k, v in extra.items():
        text = json.dumps(v, default=str)
        out[k] = v if len(text) <= 2000 else f"<{len(text)} characters, see the source file>"
    return out


def _report_summary(src: SourceFile, report: ParsedReport, j: ImportJudgement, contract: Contract | None,
                    notes: Sequence[str], lines: Sequence[str], mode: str) -> dict[str, Any]:
    recs = j.records
    failed = [r["chunk"] for r in recs if r.get("passed") is False]
    unknown = [r["chunk"] for r in recs if r.get("passed") is None]
    verdicts = [r.verdict for r in j.rules]
    passed = None if j.outcome in ("undetermined", "not judged") else j.outcome == "pass"
    return {
        # The engine's run summary keys (inspector.engine.run_summary), so reports and the TUI read it as usual.
        "passed": passed, "status": "complete", "n_chunks": len(recs), "n_passed": len(recs) - len(failed)
        - len(unknown), "failed_chunks": failed[:500], "first_failing_chunk": failed[0] if failed else None,
        "verdicts": verdicts, "baseline": "reference", "notes": list(notes), "resumed_chunks": 0, "wall_s": 0.0,
        "mean_inference_ms": (report.timing_ms or {}).get("mean"),
        # What is particular to an import.
        "outcome": j.outcome, "imported": True, "kind": "report", "schema": report.schema,
        "source": src.to_dict(), "backend": report.backend, "precision": report.precision,
        "math_mode": report.math_mode, "judged_mode": mode, "contract": contract.name if contract else None,
        "tolerance": dict(j.tolerance), "undetermined_chunks": unknown[:500],
        "rule_outcomes": [r.to_dict() for r in j.rules],
        "figures": dict(j.figures), "failures_per_tensor": report.failures_per_tensor(),
        "report_claims": dict(report.claims), "timing_ms": dict(report.timing_ms) if report.timing_ms else None,
        "error_distribution": report.error_distribution, "lines": list(lines),
    }


def _report_lines(src: SourceFile, report: ParsedReport, j: ImportJudgement, contract: Contract | None,
                  notes: Sequence[str]) -> list[str]:
    runtime = "TensorRT" if report.schema == "trt" else "ONNX Runtime"
    what = ", ".join(x for x in (report.backend, report.precision, report.math_mode,
                                 report.raw_mode or "mode not stated") if x)
    lines = [f"{runtime} parity report ({what}): {len(report.chunks)} chunks"
             + (f", engine {Path(report.engine).name}" if report.engine else "")]
    c = report.claims
    raised = [ch.index for ch in report.chunks if ch.status == "raised"]
    lines.append(f"  the report says: {c.get('passed')}/{c.get('total_chunks')} passed ({c.get('pass_rate')}%) at atol "
                 f"{report.atol:g}" if report.atol is not None else f"  the report says: {c.get('passed')}/"
                 f"{c.get('total_chunks')} passed")
    if raised:
        lines[-1] += f"; {len(raised)} chunk(s) raised ({', '.join(map(str, raised[:8]))}) and are not in its count"
    fig = j.figures
    known = fig.get(f"{FRAMES}_max_abs_known_chunks", 0)
    ran = fig.get("chunks_ran", 0)
    rng = fig.get(f"{FRAMES}_max_abs_known_range")
    if known == ran:
        lines.append(f"  encoder_output max-abs known for every chunk ({rng[0]:.3g} .. {rng[1]:.3g})" if rng else
                     "  encoder_output max-abs: no chunk ran")
    else:
        bound = f"<= {report.atol:g}" if report.atol is not None and not report.rtol else "no upper bound (rtol > 0)"
        lines.append(f"  encoder_output max-abs known for {known} of {ran} chunks"
                     + (f" ({rng[0]:.3g} .. {rng[1]:.3g})" if rng else "")
                     + f"; the other {ran - known} passed and are only bounded ({bound})")
    for q in ("95", "100"):
        f = fig.get(f"{FRAMES}_max_abs_p{q}", {})
        if f and ran:
            text = _g(f["lower"]) if f.get("exact") else f"between {_g(f['lower'])} and {_g(f['upper'])}"
            if raised and f.get("lower") == "inf":
                text = "infinite (a chunk that raised counts as +inf, as in live runs)"
            lines.append(f"  P{q} of encoder_output max-abs: {text}")
    per = report.failures_per_tensor()
    if per:
        lines.append("  failures per tensor: " + "; ".join(
            f"{t} {v['chunks_failed']} chunk(s), first {v['first_chunk']}"
            + (f", worst {v['worst_max_abs']:.3g} (chunk {v['worst_chunk']})" if v.get("worst_max_abs") is not None
               else "") for t, v in per.items()))
    if report.timing_ms:
        lines.append("  timing (ms): " + ", ".join(f"{k} {v}" for k, v in report.timing_ms.items()))
    lines.append("")
    if contract is None:
        lines.append("verdict: NOT JUDGED (no contract)")
    else:
        tol = j.tolerance
        lines.append(f"verdict: {j.outcome.upper()} (contract {contract.name}, judged as {j.judged_mode}; "
                     f"encoder_output atol {_g(tol.get('atol'))})")
        lines.extend(_rule_lines([(r.outcome, r.rule, r.message, r.verdict.get("kind", "")) for r in j.rules],
                                 "a parity report holds no tensor values"))
    if notes:
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in notes)
    return lines


def _rule_lines(rows: Sequence[tuple[str, str, str, str]], why_skipped: str) -> list[str]:
    """One line per rule; invariants that could not be evaluated are collapsed into one line saying why."""
    out, skipped = [], []
    for status, rule, message, kind in rows:
        if status == "undetermined" and kind in ("invariant", "alarm"):
            skipped.append(rule.split(":", 1)[-1])
            continue
        name = "" if message.startswith(f"{rule}:") else f"{rule}: "
        out.append(f"  {status_word(status):<16} {name}{message}")
    if skipped:
        out.append(f"  {status_word('undetermined'):<16} {len(skipped)} invariant(s) not evaluated ({why_skipped}): "
                   f"{', '.join(skipped)}")
    return out


def _g(x: Any) -> str:
    if x is None:
        return "?"
    if isinstance(x, str):
        return "unbounded" if x == "inf" else x
    return f"{x:.3g}"


# --- streaming summaries ---------------------------------------------------------------------------------------------

def _import_summary(st: Any, src: SourceFile, contract: Contract | None, contract_note: str, stream: str | None,
                    backend: str | None) -> ImportOutcome:
    from store.api import RunRecord

    steps = parse_summary(src.data, str(src.path))
    prev = _previous_import(st, src.sha256, SUMMARY_IMPORTER, contract.name if contract else "",
                            contract_digest(contract))
    if prev is not None and prev.status == "complete":
        return _again(st, prev, "summary")
    stream_name = _default_stream(st, stream, summary_stream(steps))
    cache_size = contract.streaming.cache_size if contract else None
    valid_out = contract.streaming.valid_out_len if contract else None
    trajectory = describe_trajectory(steps, cache_size, valid_out)
    records = _summary_records(steps, stream_name, contract)
    verdicts = _summary_verdicts(records, trajectory, contract)
    notes = [contract_note] if contract_note else []
    outcome = _outcome_of(verdicts, contract)
    lines = _summary_lines(steps, trajectory, verdicts, contract, notes, outcome)
    failed = [r["chunk"] for r in records if r["passed"] is False]
    summary = {
        "passed": outcome == "pass", "status": "complete", "n_chunks": len(records),
        "n_passed": len(records) - len(failed), "failed_chunks": failed[:500],
        "first_failing_chunk": failed[0] if failed else None, "verdicts": verdicts, "baseline": "reference",
        "notes": notes, "resumed_chunks": 0, "wall_s": 0.0, "mean_inference_ms": None,
        "outcome": outcome, "imported": True, "kind": "summary", "source": src.to_dict(),
        "contract": contract.name if contract else None, "state_trajectory": {
            **trajectory.to_dict(), "chunks": [s.index for s in steps],
            "cache_len_in": [s.cache_len_in for s in steps], "cache_len_out": [s.cache_len_out for s in steps]},
        "lines": lines,
    }
    record = RunRecord(
        run_id="", backend=backend or str(steps[0].fields.get("backend") or "unknown"), mode="imported",
        stream=stream_name, chunks=[s.index for s in steps],
        backend_info={"name": backend or "unknown", "runtime": "", "version": "", "device": "", "provider": "",
                      "precision": "", "math_mode": "", "options": {}, "extra": {"imported": True}},
        options={"importer": SUMMARY_IMPORTER, "source": src.to_dict(), "judged_mode": "closed-loop",
                 "contract_digest": contract_digest(contract)},
        environment=_environment(), contract=contract.name if contract else "", started=_now())
    run_id = _write_run(st, record, records, summary)
    return ImportOutcome(run_id, False, "summary", outcome, summary,
                         (f"imported {src.path.name} as run {run_id} in {st.path}", *lines))


def _summary_records(steps: Sequence[SummaryStep], stream: str, contract: Contract | None) -> list[dict[str, Any]]:
    """Per-chunk records: the ``state`` dict, and the contract's invariants evaluated on the lengths."""
    from contracts.rules import compile_rule

    rules = [(inv, compile_rule(inv.check)) for inv in (contract.invariants if contract else ())
             if "closed-loop" in inv.modes]
    out = []
    prev_env: dict[str, Any] | None = None
    prev_index: int | None = None
    for step in steps:
        env = state_env(step)
        # prev is the chunk before only if the summary has it (a gap would compare unrelated chunks).
        chained = prev_env if prev_index is not None and prev_index == step.index - 1 else None
        invariants: dict[str, Any] = {}
        for inv, rule in rules:
            res = rule.evaluate({**env, "chunk": step.index, "prev": chained})
            invariants[inv.id] = {"ok": res.ok, "detail": res.detail, "severity": inv.severity, "kind": inv.kind}
        failed_inv = [i for i, r in invariants.items() if r["ok"] is False and r["severity"] == "error"]
        evaluated = [r for r in invariants.values() if r["ok"] is not None]
        passed = (not failed_inv) if evaluated else None
        out.append({
            "stream": stream, "chunk": step.index, "status": "failed" if failed_inv else "ok", "passed": passed,
            "error": None, "inference_ms": _float(step.fields.get("time_ms")), "tightened": False, "tensors": {},
            "invariants": invariants, "failed_tensors": [], "failed_invariants": failed_inv,
            "state": step.state(), "imported": {"summary": dict(step.fields)},
        })
        prev_env, prev_index = env, step.index
    return out


def _float(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _summary_verdicts(records: Sequence[Mapping[str, Any]], trajectory: TrajectoryVerdict,
                      contract: Contract | None) -> list[dict[str, Any]]:
    """The state verdicts: the trajectory in words, ``state_carried`` where the data decide it, the invariants.

    The contract's invariants are judged by `inspector.acceptance` (the same code as live runs); tensor rules
    (quantiles, pass rates, growth) do not apply to a summary and are left out.
    """
    from inspector.acceptance import RunContext, Verdict, evaluate_run

    verdicts: list[dict[str, Any]] = []
    status = "fail" if trajectory.problems else ("pass" if trajectory.carried else "undetermined")
    verdicts.append(Verdict("state_trajectory", "state_trajectory", status, message=trajectory.summary,
                            details=trajectory.to_dict()).to_dict())
    # A summary is a closed loop: state_carried is always required (whether or not the contract names the rule).
    rule = next((a.id for a in (contract.acceptance if contract else ()) if a.kind == "state_carried"),
                "state_carried")
    if trajectory.carried is False:
        verdicts.append(Verdict(rule, "state_carried", "fail", message=trajectory.summary).to_dict())
    else:
        verdicts.append(Verdict(rule, "state_carried", "undetermined", message=(
            f"{rule}: not decided: the cache-length trajectory is "
            f"{'consistent with carried state' if trajectory.carried else 'not conclusive'}, but only the "
            "state-sensitivity probe shows that the caches are used, and it needs tensors and a backend. Run "
            "`inspector run --batch --mode closed-loop` on the export to probe it")).to_dict())
    if contract is not None:
        ctx = RunContext(dataclasses.replace(contract, acceptance=()), "closed-loop", "unknown")
        for v in evaluate_run(records, ctx):
            if v.kind in ("invariant", "alarm"):
                d = v.to_dict()
                check = d["details"].get("check", "")
                if d["status"] == "pass" and _ZERO_LEN_RULE.match(check or ""):
                    d["message"] += (" - note: this rule means the attention cache is never carried; a closed loop "
                                     "that passes it tests no state (see state_trajectory)")
                verdicts.append(d)
    return verdicts


def _outcome_of(verdicts: Sequence[Mapping[str, Any]], contract: Contract | None) -> str:
    from inspector.acceptance import Verdict, run_outcome

    outcome = run_outcome(Verdict.from_dict(v) for v in verdicts)
    if contract is None and outcome == "pass":
        return "not judged"
    return outcome


def _summary_lines(steps: Sequence[SummaryStep], t: TrajectoryVerdict, verdicts: Sequence[Mapping[str, Any]],
                   contract: Contract | None, notes: Sequence[str], outcome: str) -> list[str]:
    outs = [s.cache_len_out for s in steps]
    shown = ", ".join("?" if v is None else str(v) for v in outs[:8]) + (", …" if len(outs) > 8 else "")
    lines = [f"streaming summary: {len(steps)} chunks (chunk {steps[0].index}..{steps[-1].index}); "
             f"cache_len_out {shown}",
             f"state: {t.summary}"]
    lines.extend(f"  - {p}" for p in t.problems[1:] if p != t.summary)
    lines.extend(f"  - {f}" for f in t.findings)
    lines.append("")
    judged = f"contract {contract.name}" if contract else "no contract: trajectory only"
    lines.append(f"verdict: {outcome.upper()} ({judged})")
    lines.extend(_rule_lines([(v["status"], v["rule"], v["message"], v["kind"]) for v in verdicts],
                             "a summary holds lengths only, no tensors"))
    if notes:
        lines.append("notes:")
        lines.extend(f"  - {n}" for n in notes)
    return lines

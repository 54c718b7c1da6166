"""A Markdown summary of a report document, for a CI job page: one table per backend × mode, failing rules first,
each with its first failing chunk, worst chunk and tensor.

The four outcomes have distinct marks and words (`status_word`): ``✓ pass``, ``✗ FAIL``, ``? UNDETERMINED`` (could
not be decided; with why, and "accepted by --allow-undetermined RULE" or "not required" where that applies) and
``i info`` (an informational figure, never a pass)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from inspector.text import cell as _cell, code as _code, inline as _inline, status_word

_ORDER = {"fail": 0, "undetermined": 1, "info": 2, "pass": 3}


def verdict_label(v: Mapping[str, Any]) -> str:
    """A verdict's outcome as a table shows it: the mark and word, and whether it gates the run."""
    label = status_word(v.get("status", ""))
    if v.get("status") == "undetermined" and v.get("accepted_by"):
        label += f" (accepted by {v['accepted_by']})"
    elif v.get("status") in ("undetermined", "fail") and v.get("required") is False:
        label += " (not required)"
    return label


def outcome_of(doc: Mapping[str, Any]) -> str:
    """A report's or run's outcome word; older documents carry only ``passed``."""
    if doc.get("outcome"):
        return str(doc["outcome"])
    return "pass" if doc.get("passed") else "fail"


def build_markdown(report: Mapping[str, Any]) -> str:
    lines: list[str] = []
    verdict = status_word(outcome_of(report))
    contract = report.get("contract", {})
    model = report.get("model", {})
    ref = report.get("reference", {})
    lines.append(f"# Parity: {verdict}")
    lines.append("")
    sha = (model.get("sha256") or "")[:12]
    model_name = Path(str(model.get("path", ""))).name
    lines.append(f"Contract **{_inline(contract.get('name', ''))}** · model {_code(model_name)}"
                 + (f" (sha256 {sha}…)" if sha else "") + f" · store {_code(report.get('store', ''))} · reference "
                 f"math: {_inline(ref.get('math_mode', 'unknown'))}")
    accepted = report.get("allow_undetermined") or []
    if accepted:
        lines.append("")
        lines.append("> accepted undetermined: " + _inline(", ".join(f"--allow-undetermined {a}" for a in accepted)))
    cov = report.get("coverage") or {}
    if cov:
        lines.append("")
        lines.append(_inline(f"Checked: {len(report.get('runs', []))} run(s) over {cov.get('n_streams', 0)} "
                             f"stream(s), {cov.get('n_chunks', 0)} chunk(s)."))
    for name in cov.get("empty_streams") or []:
        lines.append("")
        lines.append(f"> ? UNDETERMINED: stream {_code(name)} has no complete chunk: nothing was checked")
    lines.append("")
    lines.append("| backend | mode | stream | compared with | math mode | chunks passed | result | failing rules | "
                 "undetermined rules |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for run in report.get("runs", []):
        fails = [v["rule"] for v in run.get("verdicts", []) if v["status"] == "fail" and v.get("required", True)]
        undecided = [v["rule"] for v in run.get("verdicts", []) if v["status"] == "undetermined"
                     and v.get("required", True) and not v.get("accepted_by")]
        lines.append(
            f"| {_cell(run['backend'])} | {_cell(run['mode'])} | {_cell(run.get('stream'))} | "
            f"{_cell(run.get('baseline'))} | "
            f"{_cell(run.get('math_mode', {}).get('backend'))} | {run.get('passed_chunks')}/{run.get('total_chunks')} | "
            f"{_cell(_result_word(run))} | {_cell(', '.join(fails))} | {_cell(', '.join(undecided))} |")
    for run in report.get("runs", []):
        lines.append("")
        stream = f" · {_inline(run['stream'])}" if run.get("stream") else ""
        lines.append(f"## {_inline(run['backend'])} · {_inline(run['mode'])}{stream}: {_inline(_result_word(run))}")
        if run.get("attribution"):
            lines += ["", _inline(f"attribution (chunk {run['attribution'].get('chunk')}): "
                                  f"{run['attribution']['verdict']['summary']}")]
        lines.append("")
        info = run.get("backend_info", {})
        lines.append(_inline(f"{info.get('runtime', '')} {info.get('version', '')} · {info.get('provider', '')} on "
                             f"{info.get('device', '')} · precision {info.get('precision', '')} · math "
                             f"{info.get('math_mode', '')} · compared with {run.get('baseline')} "
                             f"({run.get('math_mode', {}).get('baseline', '')})")
                     + f" · stream {_code(run.get('stream'))} · run {_code(run.get('run_id'))}")
        for note in run.get("notes", []):
            lines.append("")
            lines.append(f"> note: {_inline(note)}")
        from inspector.latency import latency_markdown

        lines.extend(_inline(x) for x in latency_markdown(run))
        lines.append("")
        lines.append("| status | rule | tensor | first failing chunk | worst chunk | value | threshold | message |")
        lines.append("|---|---|---|---|---|---|---|---|")
        tensor_of = {f["rule"]: f.get("tensor", "") for f in run.get("failures_by_rule", [])}
        for v in sorted(run.get("verdicts", []), key=lambda v: _ORDER.get(v["status"], 9)):
            lines.append(
                f"| {_cell(verdict_label(v))} | {_cell(v['rule'])} | "
                f"{_cell(v.get('tensor') or tensor_of.get(v['rule']))} | {_cell(v.get('first_failing_chunk'))} | "
                f"{_cell(v.get('worst_chunk'))} | {_cell(v.get('value'))} | {_cell(v.get('threshold'))} | "
                f"{_cell(v.get('message'))} |")
        from inspector.state.report import state_markdown

        lines.extend(state_markdown(run))
        tensors = run.get("tensors", {})
        if tensors:
            lines.append("")
            lines.append("| tensor | max-abs (worst chunk) | P95 max-abs | pass rate | first failing chunk | min cosine |")
            lines.append("|---|---|---|---|---|---|")
            for name, t in tensors.items():
                rate = t.get("pass_rate")
                lines.append(
                    f"| {_cell(name)} | {_cell(t.get('max_abs_max'))} (chunk {_cell(t.get('worst_chunk'))}) | "
                    f"{_cell(t.get('max_abs_p95'))} | {'–' if rate is None else f'{rate:.0%}'} | "
                    f"{_cell(t.get('first_failing_chunk'))} | {_cell(t.get('min_cosine'))} |")
    lines.append("")
    return "\n".join(lines)


def _result_word(run: Mapping[str, Any]) -> str:
    """The run's outcome word, with its attribution when `run --batch --attribute` made one: ``✗ FAIL — precision:
    TF32``."""
    word = status_word(outcome_of(run))
    short = (run.get("attribution") or {}).get("verdict", {}).get("short")
    return f"{word} — {short}" if short else word


def write_markdown(report: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(build_markdown(report), encoding="utf-8")
    tmp.replace(path)
    return path

"""The state section of a report: the trajectory and the probe's numbers, from a run's verdicts.

Everything comes from the ``state_carried`` verdict's ``details`` (`inspector.state.verdict.StateAssessment.to_dict`),
which the JSON report already holds, so a saved report renders without the store. `state_report` gives the JSON
section, `state_markdown` the Markdown lines for a CI job page.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from inspector.text import cell as _cell, inline as _inline, status_word


def _details(verdicts: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    for v in verdicts:
        if v.get("kind") == "state_carried" and isinstance(v.get("details"), Mapping) \
                and "trajectory" in v["details"]:
            return v, v["details"]
    return None


def state_report(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The JSON ``state`` section of one run (None when the run has no state verdict, e.g. functional mode).

    Args:
        verdicts: The run's verdicts as dicts (`Verdict.to_dict`).

    Returns:
        ``{"status", "summary", "trajectory": {chunks, cache_len_in, cache_len_out, input_len, valid_out_len, errors,
        fp: {tensor: {norm, rows, nonzero_rows}}}, "trajectory_text", "probes": [{"chunk", "donor", "threshold",
        "noise_floor", "calls", "inputs": {name: {"role", "moved", "max_abs", "cosine", "variants": [{"label",
        "kind", "max_abs", "cosine"}]}}}], "sensitivity", "feedback"}``.
    """
    found = _details(verdicts)
    if found is None:
        return None
    v, d = found
    probes = []
    for p in d.get("probes") or []:
        inputs = {}
        for name, e in (p.get("inputs") or {}).items():
            inputs[name] = {
                "role": e.get("role"), "probed": e.get("probed"), "moved": e.get("moved"), "max_abs": e.get("max_abs"),
                "cosine": e.get("cosine"),
                "variants": [{"label": x.get("label"), "kind": x.get("kind"),
                              "max_abs": (x.get("frames") or {}).get("max_abs"),
                              "cosine": (x.get("frames") or {}).get("cosine"), "error": x.get("error") or None}
                             for x in e.get("variants", [])]}
        probes.append({"chunk": p.get("chunk"), "donor": p.get("donor"), "threshold": p.get("threshold"),
                       "noise_floor": p.get("noise_floor"), "frames_output": p.get("frames_output"),
                       "calls": p.get("calls"), "inputs": inputs})
    fb = d.get("feedback") or {}
    return {"rule": v.get("rule"), "status": v.get("status"), "summary": v.get("message", ""),
            "headline": d.get("headline", ""), "trajectory": d.get("trajectory"),
            "trajectory_text": d.get("trajectory_text", ""), "trajectory_problems": d.get("trajectory_problems", []),
            "probes": probes, "sensitivity": d.get("sensitivity", {}),
            "feedback": {k: fb.get(k) for k in ("contract", "mismatch", "suggested", "explanation") if k in fb},
            "findings": d.get("findings", [])}


def lengths_text(values: Sequence[int | None], head: int = 4, tail: int = 2) -> str:
    """``1, 4, 7, 10, …, 145, 148`` (None as ``?``)."""
    vals = ["?" if v is None else str(v) for v in values]
    if len(vals) <= head + tail + 1:
        return ", ".join(vals)
    return ", ".join(vals[:head]) + ", …, " + ", ".join(vals[-tail:])


def _num(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "inf"
        return "0.0" if x == 0 else f"{x:.3g}"
    return str(x)


def state_markdown(run: Mapping[str, Any]) -> list[str]:
    """Markdown lines for one run of a report document: the state verdict in words, the cache-length trajectory,
    the caches' non-zero frames, and a table of the probe's numbers. Empty for a run without a state verdict."""
    sec = state_report(run.get("verdicts", []))
    if sec is None:
        return []
    mark = status_word(sec["status"])
    lines = ["", f"### State carried: {mark}", "", _inline(sec["summary"]).replace("|", "\\|"), ""]
    traj = sec.get("trajectory") or {}
    if any(v is not None for v in traj.get("cache_len_out", [])):
        n = len(traj.get("chunks", []))
        lines.append(f"- cache length out, chunks {traj['chunks'][0]}..{traj['chunks'][-1]} ({n}): "
                     f"{lengths_text(traj.get('cache_len_out', []))}")
        if sec.get("trajectory_text"):
            lines.append(_inline(f"- trajectory: {sec['trajectory_text']}").replace("|", "\\|"))
    for name, fp in (traj.get("fp") or {}).items():
        rows = fp.get("rows") or []
        if any(r is not None for r in rows) and not name.endswith("_out"):
            lines.append(f"- {name} non-zero frames fed in: {lengths_text(rows)}")
    for f in sec.get("findings", []):
        lines.append(_inline(f"- note: {f}").replace("|", "\\|"))
    if sec["probes"]:
        frames = sec["probes"][0].get("frames_output") or "frames"
        lines += ["", f"| chunk | state input | replaced by | {frames} max-abs | cosine | threshold | used |",
                  "|---|---|---|---|---|---|---|"]
        for p in sec["probes"]:
            for name, e in p["inputs"].items():
                if not e["variants"]:
                    lines.append(f"| {p['chunk']} | {_cell(name)} | (nothing different to try) | – | – | "
                                 f"{_num(p['threshold'])} | not probed |")
                for x in e["variants"]:
                    used = "error" if x.get("error") else ("yes" if (x["max_abs"] or 0) > (p["threshold"] or 0)
                                                          else "no")
                    lines.append(f"| {p['chunk']} | {_cell(name)} | {_cell(x['label'])} | {_num(x['max_abs'])} | "
                                 f"{_num(x['cosine'])} | {_num(p['threshold'])} | {used} |")
    return lines


__all__ = ["lengths_text", "state_markdown", "state_report"]

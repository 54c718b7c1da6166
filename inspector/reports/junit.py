"""JUnit XML from a report document: one test case per backend × mode × rule, so CI systems list every rule.

Layout: one ``<testsuite name="<backend>/<mode>">`` per run; each verdict is a ``<testcase
classname="parity.<backend>.<mode>" name="<rule>">``; a failing rule has ``<failure message="…">`` whose message
names the rule, the first failing chunk and the tensor, and whose text holds the full sentence. A required rule that
could not be decided is a ``<failure type="undetermined">`` whose message says why (never ``<skipped/>``: CI must
not read it as green); an undetermined rule the user accepted (``--allow-undetermined``) or that is not required is a
passing case that says so in ``<system-out>``; an ``info`` rule is a passing case whose ``<system-out>`` holds its
figure. No case is ever ``<skipped/>``.

Readers: the file validates against the JUnit schema Jenkins' xUnit plugin uses (``junit-10.xsd``; GitLab and GitHub
reporters read the same elements): ``<testsuites name tests failures errors time>`` (no other attributes there),
``<testsuite name tests failures errors skipped time timestamp>`` with ``time`` in seconds (``1.234``) and
``timestamp`` as ``YYYY-MM-DDThh:mm:ss`` (UTC, no offset, as Ant writes it); the counts always equal the number of
``<testcase>``, ``<failure>``, ``<error>`` and ``<skipped>`` elements. Built with `xml.etree.ElementTree` (text and
attributes escaped, ``]]>`` included); characters XML 1.0 cannot hold (control characters from a runtime's message)
are written as visible ``\\xNN`` escapes, so the file always parses.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

_NOT_XML = re.compile("[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def xml_text(value: Any) -> str:
    """`value` as text XML 1.0 can hold: characters it cannot (NUL, ESC, other C0 controls, lone surrogates, U+FFFE)
    become visible ``\\xNN`` / ``\\uNNNN`` escapes."""
    text = "" if value is None else str(value)
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _seconds(value: Any) -> str:
    """A JUnit ``time`` attribute: seconds with 3 decimals, never NaN or negative."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "0.000"
    return f"{x:.3f}" if math.isfinite(x) and x >= 0 else "0.000"


def _timestamp(value: Any) -> str:
    """ISO 8601 without offset (``2026-01-31T12:00:00``), or "" if unknown; reports store UTC."""
    m = re.match(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", str(value or ""))
    return m.group(1) if m else ""


def failure_message(run: Mapping[str, Any], v: Mapping[str, Any], tensor: str = "") -> str:
    """``<rule> failed for <backend> <mode>: chunk K, tensor T: <message>`` (``was not decided`` for an undetermined
    rule)."""
    where = []
    if v.get("first_failing_chunk") is not None:
        where.append(f"chunk {v['first_failing_chunk']}")
    t = v.get("tensor") or tensor
    if t:
        where.append(f"tensor {t}")
    loc = (", ".join(where) + ": ") if where else ""
    verb = "was not decided" if v.get("status") == "undetermined" else "failed"
    why = run.get("attribution_short")  # `run --batch --attribute`: "FAIL — precision: TF32"
    tail = f" [{why}: {run['attribution']['verdict']['summary']}]" if why and run.get("attribution") else ""
    return f"{v['rule']} {verb} for {run['backend']} {run['mode']}: {loc}{v.get('message', '')}{tail}"


def build_junit(report: Mapping[str, Any]) -> ET.ElementTree:
    root = ET.Element("testsuites", name="parity-inspector")
    total = failures = 0
    total_time = 0.0
    several_streams = len({r.get("stream") for r in report.get("runs", [])}) > 1
    for run in report.get("runs", []):
        # one suite per run: with several streams, the stream tells them apart
        name = f"{run['backend']}/{run['mode']}" + (f"/{run.get('stream')}" if several_streams else "")
        attrs = {"name": xml_text(name)}
        stamp = _timestamp(run.get("started"))
        if stamp:
            attrs["timestamp"] = stamp
        suite = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(suite, "properties")
        for key, value in (("backend", run["backend"]), ("mode", run["mode"]), ("stream", run.get("stream", "")),
                           ("baseline", run.get("baseline", "")), ("run_id", run.get("run_id", "")),
                           ("math_mode", run.get("math_mode", {}).get("backend", "")),
                           ("baseline_math_mode", run.get("math_mode", {}).get("baseline", "")),
                           ("contract", report.get("contract", {}).get("name", "")),
                           ("model_sha256", report.get("model", {}).get("sha256", "")),
                           ("timestamp_utc", run.get("started", ""))):
            ET.SubElement(props, "property", name=key, value=xml_text(value))
        from inspector.latency import latency_properties

        for key, value in latency_properties(run):  # step latency percentiles, warm-up, outliers, peak memory
            ET.SubElement(props, "property", name=key, value=xml_text(value))
        n = f = s = 0
        by_rule_tensor = {x["rule"]: x.get("tensor", "") for x in run.get("failures_by_rule", [])}
        classname = xml_text(f"parity.{run['backend']}.{run['mode']}")
        for v in run.get("verdicts", []):
            n += 1
            case = ET.SubElement(suite, "testcase", classname=classname, name=xml_text(v["rule"]), time="0.000")
            status = {"skip": "undetermined", "warn": "info", "error": "undetermined"}.get(v["status"], v["status"])
            if status not in ("pass", "fail", "undetermined", "info"):
                status = "undetermined"  # a status this writer does not know never reads as a pass
            gates = v.get("required", True) and not v.get("accepted_by")
            if status == "fail" and gates:
                f += 1
                msg = failure_message(run, v, by_rule_tensor.get(v["rule"], ""))
                el = ET.SubElement(case, "failure", message=xml_text(msg), type=xml_text(v.get("kind") or "rule"))
                el.text = xml_text(_detail(v))
            elif status == "undetermined" and gates:
                f += 1
                el = ET.SubElement(case, "failure", message=xml_text(failure_message(run, v)), type="undetermined")
                el.text = xml_text(_detail(v))
            elif status != "pass":
                out = ET.SubElement(case, "system-out")
                out.text = xml_text(_passing_note(status, v))
        wall = (run.get("summary") or {}).get("wall_s")
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", "0")
        suite.set("skipped", str(s))
        suite.set("time", _seconds(wall))
        total, failures = total + n, failures + f
        total_time += float(_seconds(wall))
    # What the runs above cannot show: streams with no chunk to check, and a batch outcome no case carries. A JUnit
    # reader must never see green where the JSON report says the batch did not pass.
    extra = [(f"stream:{name}", "undetermined", f"stream {name!r} has no complete chunk: nothing was checked")
             for name in (report.get("coverage") or {}).get("empty_streams") or []]
    outcome = report.get("outcome")
    if outcome not in (None, "pass") and failures + len(extra) == 0:
        extra.append(("batch_outcome", str(outcome), f"the batch outcome is {outcome}: "
                                                     + str(report.get("outcome_reason") or "see the JSON report")))
    if extra:
        suite = ET.SubElement(root, "testsuite", {"name": "coverage", "tests": str(len(extra)),
                                                   "failures": str(len(extra)), "errors": "0", "skipped": "0",
                                                   "time": "0.000"})
        for case_name, kind, message in extra:
            case = ET.SubElement(suite, "testcase", classname="parity.coverage", name=xml_text(case_name),
                                 time="0.000")
            el = ET.SubElement(case, "failure", message=xml_text(message), type=xml_text(kind))
            el.text = xml_text(message)
        total, failures = total + len(extra), failures + len(extra)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("time", _seconds(total_time))
    return ET.ElementTree(root)


def _passing_note(status: str, v: Mapping[str, Any]) -> str:
    """What a passing case that is not a plain pass says: an info rule's figure, an accepted or non-required
    undetermined rule and why, a non-required failure."""
    if status == "info":
        figure = "" if v.get("value") in (None, "") else f"{v['rule']} = {_figure(v['value'])}"
        if v.get("threshold") not in (None, ""):
            figure += f" (threshold {_figure(v['threshold'])})"
        return f"info: {figure + ': ' if figure else ''}{v.get('message', '')}"
    why = f"accepted by {v['accepted_by']}" if v.get("accepted_by") else "not required"
    return f"{status} ({why}): {v.get('message', '')}"


def _figure(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _detail(v: Mapping[str, Any]) -> str:
    lines = [v.get("message", "")]
    for key in ("value", "threshold", "first_failing_chunk", "worst_chunk", "tensor", "metric"):
        if v.get(key) not in (None, ""):
            lines.append(f"{key}: {v[key]}")
    return "\n".join(lines)


def write_junit(report: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = build_junit(report)
    ET.indent(tree)
    tmp = path.with_name(path.name + ".partial")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path

"""JUnit XML from a report document: one test case per backend × mode × rule, so CI systems list every rule.

Layout: one ``<testsuite name="<backend>/<mode>">`` per run; each verdict is a ``<testcase
classname="parity.<backend>.<mode>" name="<rule>">``; a failing rule has ``<failure message="…">`` whose message
names the rule, the first failing chunk and the tensor, and whose text holds the full sentence; a rule that could
not be evaluated is ``<skipped/>``; a warning is a pass with the warning in ``<system-out>``. Built with
`xml.etree.ElementTree`, so the text is always escaped and the file always parses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping


def failure_message(run: Mapping[str, Any], v: Mapping[str, Any], tensor: str = "") -> str:
    """``<rule> failed for <backend> <mode>: chunk K, tensor T: <message>``."""
    where = []
    if v.get("first_failing_chunk") is not None:
        where.append(f"chunk {v['first_failing_chunk']}")
    t = v.get("tensor") or tensor
    if t:
        where.append(f"tensor {t}")
    loc = (", ".join(where) + ": ") if where else ""
    return f"{v['rule']} failed for {run['backend']} {run['mode']}: {loc}{v.get('message', '')}"


def build_junit(report: Mapping[str, Any]) -> ET.ElementTree:
    root = ET.Element("testsuites", name="parity-inspector")
    total = failures = skipped = 0
    for run in report.get("runs", []):
        suite = ET.SubElement(root, "testsuite", name=f"{run['backend']}/{run['mode']}",
                              timestamp=str(run.get("started", "")))
        props = ET.SubElement(suite, "properties")
        for key, value in (("backend", run["backend"]), ("mode", run["mode"]), ("stream", run.get("stream", "")),
                           ("baseline", run.get("baseline", "")), ("run_id", run.get("run_id", "")),
                           ("math_mode", run.get("math_mode", {}).get("backend", "")),
                           ("baseline_math_mode", run.get("math_mode", {}).get("baseline", "")),
                           ("contract", report.get("contract", {}).get("name", "")),
                           ("model_sha256", report.get("model", {}).get("sha256", ""))):
            ET.SubElement(props, "property", name=key, value=str(value))
        n = f = s = 0
        by_rule_tensor = {x["rule"]: x.get("tensor", "") for x in run.get("failures_by_rule", [])}
        for v in run.get("verdicts", []):
            n += 1
            case = ET.SubElement(suite, "testcase", classname=f"parity.{run['backend']}.{run['mode']}",
                                 name=v["rule"], time="0")
            if v["status"] == "fail":
                f += 1
                msg = failure_message(run, v, by_rule_tensor.get(v["rule"], ""))
                el = ET.SubElement(case, "failure", message=msg, type=v.get("kind", "rule"))
                el.text = _detail(v)
            elif v["status"] == "skip":
                s += 1
                ET.SubElement(case, "skipped", message=v.get("message", ""))
            elif v["status"] == "warn":
                out = ET.SubElement(case, "system-out")
                out.text = "warning: " + v.get("message", "")
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", "0")
        suite.set("skipped", str(s))
        total, failures, skipped = total + n, failures + f, skipped + s
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    return ET.ElementTree(root)


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

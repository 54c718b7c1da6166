"""Reports as their real readers parse them: JUnit XML against the schema CI servers use, strict JSON, Markdown
tables that keep their columns whatever a message holds."""

from __future__ import annotations

import copy
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import onnx_faults
from inspector.cli import main
from inspector.reports.junit import build_junit, write_junit
from inspector.reports.markdown import build_markdown

SCHEMA = Path(__file__).parent / "data" / "junit-ci.xsd"
NASTY = "rule|with pipes\nand a newline\r\n\x00NUL \x1b[31mESC\x1b[0m ]]> <failure> & \"quotes\" 'single' \ud800"


@pytest.fixture(scope="module")
def failing_report(demo_artifacts, tmp_path_factory) -> dict:
    """A real report with failing, undetermined, informational and passing rules, NaN figures and a backend error:
    chunk 0 returns NaN (functional and closed loop, 6 chunks, so no_growth is undetermined)."""
    from storebuild import private_store

    tmp = tmp_path_factory.mktemp("reports")
    store = private_store(demo_artifacts, tmp / "s.zarr")
    bad = tmp / "nan.onnx"
    onnx_faults.nan_on_first_chunk(demo_artifacts.onnx, bad)
    rep = tmp / "r.json"
    with pytest.raises(SystemExit) as exc:
        main(["run", "--batch", "--no-progress", "--store", str(store), "--model", str(bad), "--contract",
              "demo_streaming", "--backend", "ort-cpu", "--mode", "both", "--chunks", "0:6", "--report", str(rep)])
    assert exc.value.code == 1
    return {"path": rep, "text": rep.read_text(), "doc": json.loads(rep.read_text())}


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def test_json_report_is_strict_json(failing_report):
    doc = json.loads(failing_report["text"], parse_constant=_reject_constant)
    run = doc["runs"][0]
    first = run["chunk_records"][0]["tensors"]["encoder_output"]
    assert first["max_abs"] is None and first["nonfinite_out"] == 192  # NaN figures are null, counts stay
    assert next(v for v in run["verdicts"] if v["rule"] == "encoder_output_p100")["value"] == "inf"


def _validate(tree: ET.ElementTree, tmp_path: Path) -> None:
    etree = pytest.importorskip("lxml.etree", reason="schema validation uses lxml")
    path = tmp_path / "j.xml"
    tree.write(path, encoding="utf-8", xml_declaration=True)
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log


def _check_counts(root: ET.Element) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counts = {"tests": len(cases), "failures": sum(len(c.findall("failure")) for c in cases),
                  "errors": sum(len(c.findall("error")) for c in cases),
                  "skipped": sum(len(c.findall("skipped")) for c in cases)}
        for key, n in counts.items():
            assert int(suite.get(key)) == n, (suite.get("name"), key)
        for key in totals:
            totals[key] += counts[key]
        assert math.isfinite(float(suite.get("time")))
    for key, n in totals.items():
        assert int(root.get(key)) == n
    assert math.isfinite(float(root.get("time")))


def test_junit_of_a_real_failing_run_validates_and_counts_add_up(failing_report, tmp_path):
    tree = build_junit(failing_report["doc"])
    _validate(tree, tmp_path)
    root = tree.getroot()
    _check_counts(root)
    kinds = {c.get("name"): c for c in root.iter("testcase")}
    # Not decided is a failure of its own type with the reason, never <skipped> (CI would read that as green).
    assert not list(root.iter("skipped"))
    undecided = kinds["no_growth"].find("failure")
    assert undecided is not None and undecided.get("type") == "undetermined"
    assert "no_growth was not decided" in undecided.get("message") and "not enough chunks" in undecided.get("message")
    # An informational rule is a passing case whose system-out holds its figure.
    info = kinds["encoder_output_pass_rate"]
    assert info.find("failure") is None and info.find("skipped") is None
    out = info.find("system-out").text
    assert out.startswith("info: encoder_output_pass_rate = ") and "(threshold 0)" in out and "chunks pass" in out
    fail = kinds["encoder_output_p100"].find("failure")
    assert fail.get("type") == "quantile" and "chunk 0" in fail.get("message")
    assert "tensor encoder_output" in fail.get("message")
    for el in root.iter():
        for key in ("tests", "failures", "errors", "skipped", "time"):
            if el.get(key) is not None:
                assert el.get(key).lower() not in ("nan", "inf", "none", "")


def _poison(doc: dict) -> dict:
    """The report with hostile text wherever a runtime's words can end up: rule messages, notes, tensor names."""
    doc = copy.deepcopy(doc)
    run = doc["runs"][0]
    for v in run["verdicts"]:
        v["message"] = NASTY
    run["verdicts"][0]["status"] = "info"
    run["notes"] = [NASTY]
    run["failures_by_rule"] = [{**f, "tensor": "enc|oder\nout"} for f in run["failures_by_rule"]]
    run["tensors"] = {"weird|name\n": next(iter(run["tensors"].values()))}
    return doc


def test_junit_escapes_control_characters_and_cdata_ends(failing_report, tmp_path):
    tree = build_junit(_poison(failing_report["doc"]))
    _validate(tree, tmp_path)
    path = write_junit(_poison(failing_report["doc"]), tmp_path / "out" / "j.xml")
    raw = path.read_text(encoding="utf-8")
    assert "]]>" not in raw and "\x00" not in raw and "\x1b" not in raw
    root = ET.parse(path).getroot()  # the stdlib parser (what many CI plugins use) reads it back
    _check_counts(root)
    msg = next(f.get("message") for f in root.iter("failure"))
    assert "rule|with pipes\nand a newline" in msg and "\\x00NUL \\x1b[31mESC" in msg and "]]> <failure> &" in msg
    assert "\\ud800" in msg
    assert any((c.find("system-out") is not None and "info: " in c.find("system-out").text
                and "rule|with" in c.find("system-out").text) for c in root.iter("testcase"))


def _table_blocks(md: str) -> list[list[str]]:
    blocks, cur = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def test_json_and_markdown_show_the_four_outcomes(failing_report):
    """The JSON status words and the Markdown marks: fail, undetermined, info and pass each look different."""
    doc = failing_report["doc"]
    assert doc["outcome"] == "fail" and doc["exit_code"] == 1 and doc["passed"] is False
    statuses = {v["status"] for run in doc["runs"] for v in run["verdicts"]}
    assert statuses <= {"pass", "fail", "undetermined", "info"} and {"fail", "undetermined", "info"} <= statuses
    closed = next(r for r in doc["runs"] if r["mode"] == "closed-loop")
    assert any(u["rule"] == "no_growth" for u in closed["undetermined_by_rule"])
    md = build_markdown(doc)
    assert md.startswith("# Parity: ✗ FAIL")
    for mark in ("| ✗ FAIL |", "| ? UNDETERMINED |", "| i info |", "| ✓ pass |"):
        assert mark in md, mark


def test_markdown_tables_keep_their_columns_with_pipes_and_newlines_in_messages(failing_report):
    md = build_markdown(_poison(failing_report["doc"]))
    blocks = _table_blocks(md)
    assert len(blocks) >= 4
    for block in blocks:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block}
        assert len(widths) == 1, block
    assert "\x00" not in md and "\x1b" not in md and "<failure>" not in md and "&lt;failure>" in md
    assert "rule\\|with pipes and a newline" in md
    note = next(line for line in md.splitlines() if line.startswith("> note:"))
    assert "and a newline" in note  # one line: the note's newline did not end the quote

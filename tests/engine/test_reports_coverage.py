"""A JUnit or Markdown reader never sees green where the JSON report says the batch did not pass: streams with
nothing to check, and an outcome no case carries, become failing cases."""

from __future__ import annotations

from inspector.reports.junit import build_junit
from inspector.reports.markdown import build_markdown


def _report(**extra):
    return {"contract": {"name": "demo_streaming"}, "model": {"path": "m.onnx", "sha256": "ab" * 32},
            "reference": {}, "runs": [], **extra}


def _failures(tree):
    return [(c.get("name"), f.get("type")) for c in tree.getroot().iter("testcase") for f in c.findall("failure")]


def test_empty_streams_are_undetermined_failures_in_junit_and_named_in_markdown():
    doc = _report(outcome="undetermined", coverage={"n_streams": 1, "n_chunks": 0, "empty_streams": ["utt-0001"]})
    tree = build_junit(doc)
    assert _failures(tree) == [("stream:utt-0001", "undetermined")]
    assert tree.getroot().get("failures") == "1"
    md = build_markdown(doc)
    assert "utt-0001" in md and "nothing was checked" in md


def test_an_outcome_no_case_carries_still_fails_junit():
    tree = build_junit(_report(outcome="undetermined", outcome_reason="no runs"))
    assert _failures(tree) == [("batch_outcome", "undetermined")]


def test_unknown_verdict_status_is_never_a_passing_case():
    run = {"backend": "ort-cpu", "mode": "functional", "stream": "s", "verdicts": [
        {"rule": "r1", "status": "error", "message": "raised"},
        {"rule": "r2", "status": "something-new", "message": "?"},
        {"rule": "r3", "status": "pass", "message": "ok"}]}
    tree = build_junit(_report(outcome="undetermined", runs=[run]))
    assert sorted(_failures(tree)) == [("r1", "undetermined"), ("r2", "undetermined")]


def test_a_passing_batch_adds_no_coverage_suite():
    run = {"backend": "ort-cpu", "mode": "functional", "stream": "s",
           "verdicts": [{"rule": "r", "status": "pass", "message": "ok"}]}
    tree = build_junit(_report(outcome="pass", runs=[run], coverage={"empty_streams": []}))
    assert _failures(tree) == [] and tree.getroot().get("tests") == "1"

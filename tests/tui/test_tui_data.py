"""The store adapter on a store written by the real store and engine: runs, chunk statuses, tensors, plots."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from inspector.tui.data import InspectorData
from inspector.tui.records import parse_chunk, parse_summary

STREAM = "utt-0001"


@pytest.fixture(scope="module")
def data(synthetic_store) -> InspectorData:
    return InspectorData.open(synthetic_store.path)


def runs_by_backend(data: InspectorData) -> dict[str, str]:
    return {r.backend: r.run_id for r in data.runs(STREAM)}


def test_streams_tensors_and_runs(data: InspectorData) -> None:
    assert data.streams() == ["utt-0001", "utt-0002"]
    assert data.chunk_indices(STREAM) == list(range(12))
    assert data.contract_name == "demo_streaming"  # named by the store, loaded without --contract
    assert data.output_names(STREAM)[0] == "encoder_output"  # the contract's order
    runs = {r.backend: r for r in data.runs(STREAM)}
    assert set(runs) == {"planted-clean", "planted-faults"}
    assert runs["planted-faults"].saves_outputs is True and runs["planted-clean"].saves_outputs is False
    assert runs["planted-faults"].verdict is False and runs["planted-clean"].verdict is True
    assert data.runs("utt-0002") == []


def test_chunk_statuses_follow_the_planted_faults(data: InspectorData) -> None:
    faulty = runs_by_backend(data)["planted-faults"]
    records = data.chunk_records(faulty, STREAM)
    status = {i: r.status for i, r in records.items()}
    assert [i for i, s in status.items() if s != "pass"] == [3, 5, 7, 9]
    assert status[9] == "error" and "planted failure" in records[9].error
    assert records[3].tensors["cache_last_channel_out"].max_abs == pytest.approx(5e-3, rel=1e-3)
    assert records[3].tensors["cache_last_channel_out"].worst_index == (0, 1, 200, 10)
    failing = [r for r in records[3].rules if r.ok is False]
    assert [r.id for r in failing] == ["cache_last_channel_out"]
    assert failing[0].kind == "tolerance" and failing[0].threshold == "1.00e-04"
    nan_rules = {r.id: r for r in records[7].rules}
    assert nan_rules["finite_encoder_output"].ok is False
    assert records[7].tensors["encoder_output"].nonfinite == 1
    clean = runs_by_backend(data)["planted-clean"]
    assert {r.status for r in data.chunk_records(clean, STREAM).values()} == {"pass"}


def test_run_acceptance_rows(data: InspectorData) -> None:
    rows = {r.id: r for r in data.run_rules(runs_by_backend(data)["planted-faults"])}
    assert rows["encoder_output_p95"].ok is False and rows["encoder_output_p95"].threshold == "5.00e-04"
    # an informational rule (threshold 0) shows its figure as info, never as a pass
    rate = rows["encoder_output_pass_rate"]
    assert rate.ok is None and rate.outcome == "info" and rate.value == "0.75"
    assert rows["invariants"].ok is False and "chunk 7" in rows["invariants"].detail


def test_tensor_pair_with_saved_outputs(data: InspectorData) -> None:
    faulty = runs_by_backend(data)["planted-faults"]
    pair = data.tensor_pair(STREAM, 3, "cache_last_channel_out", faulty)
    assert pair.has_backend and pair.available_views() == ("error", "relative", "reference", "backend")
    assert pair.axes.labels == ("batch", "layer", "time", "channel") and not pair.axes.guessed
    assert pair.worst() == (0, 1, 200, 10)
    values = pair.values_at((0, 1, 200, 10))
    assert values.error == pytest.approx(5e-3, rel=1e-3)
    err = pair.view("error")
    assert float(err.max()) == pytest.approx(values.error)
    # the empty part of the cache is exactly equal: the error view is 0 there, drawn black
    assert np.count_nonzero(err[0, 0, :200]) == 0
    assert data.tensor_pair(STREAM, 3, "cache_last_channel_out", faulty) is pair  # cached


def test_tensor_pair_without_outputs_explains_why(data: InspectorData) -> None:
    clean = runs_by_backend(data)["planted-clean"]
    pair = data.tensor_pair(STREAM, 2, "encoder_output", clean)
    assert not pair.has_backend and pair.available_views() == ("reference",)
    assert "--save-outputs" in pair.note
    errored = data.tensor_pair(STREAM, 9, "encoder_output", runs_by_backend(data)["planted-faults"])
    assert "backend failed on chunk 9" in errored.note
    reference_only = data.tensor_pair(STREAM, 0, "encoder_output")
    assert reference_only.backend is None and reference_only.note == ""


def test_series_and_thresholds(data: InspectorData) -> None:
    faulty = runs_by_backend(data)["planted-faults"]
    xs, ys = data.series(faulty, STREAM, "encoder_output")
    # 9 (the backend raised) has no figure; 7's NaN is counted apart, its max-abs is over the finite elements
    assert xs == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert ys[xs.index(5)] == pytest.approx(3e-4, rel=0.05)
    lines = dict(data.thresholds(faulty, "encoder_output"))
    assert lines == {"atol": 1e-4, "P95": 5e-4, "P100": 1e-3}
    assert dict(data.thresholds(faulty, "cache_last_channel_out")) == {"atol": 1e-4}


def test_parsers_tolerate_foreign_and_partial_records() -> None:
    """Imported runs and older engines write other keys; nothing may crash and what is there is shown."""
    assert parse_chunk(4, None).status == "missing"
    assert parse_chunk(0, {}).status == "unknown"  # nothing judged is not a pass
    assert parse_chunk(0, {"passed": None, "status": "undetermined"}).status == "unknown"
    rec = parse_chunk(1, {"passed": False, "tensors": [{"name": "encoder_output", "max_abs": "7.3e-4"}]})
    assert rec.status == "fail" and rec.figure("encoder_output") == pytest.approx(7.3e-4)
    rec = parse_chunk(2, {"status": "error", "error": "CUDA OOM"})
    assert rec.status == "error" and rec.error == "CUDA OOM"
    nan = parse_chunk(3, {"tensors": {"encoder_output": {"max_abs": float("nan"), "passed": False}}})
    assert nan.status == "fail" and math.isnan(nan.figure("encoder_output"))
    rows = parse_summary({"verdicts": [{"rule": "p95", "status": "warn", "value": 1.0}], "state": {"ok": True}})
    assert [(r.id, r.ok, r.severity) for r in rows] == [("p95", False, "warning"), ("state", True, "error")]
    assert parse_summary(None) == ()


def test_undecided_records_and_state_figures() -> None:
    """Imported records: ``passed: null`` chunks and ``max_abs: null`` tensors are unknown, never a pass; the state
    a chunk carried is read from a live run's ``extra.state`` and from an imported summary's top-level ``state``."""
    undecided = parse_chunk(0, {"status": "undetermined", "passed": None, "tensors": {"encoder_output": {
        "max_abs": None, "max_abs_bound": [0.0, 1e-3], "passed": None, "atol": 1e-4,
        "source": "not listed among failures"}}})
    assert undecided.status == "unknown"
    row = next(r for r in undecided.rules if r.id == "encoder_output")
    assert row.ok is None and row.value == "≤ 0.001" and row.explain and "not listed" in row.detail
    live = parse_chunk(2, {"status": "ok", "passed": True, "extra": {"state": {
        "cache_len_in": 4, "cache_len_out": 7, "fp": {"cache_last_channel_out": {"rows": 7, "norm": 2.0},
                                                      "cache_last_channel": {"rows": 4, "norm": 1.5}}}}})
    assert (live.state.cache_len_in, live.state.cache_len_out) == (4, 7)
    assert [f.name for f in live.state.fingerprints] == ["cache_last_channel", "cache_last_channel_out"]
    imported = parse_chunk(3, {"status": "ok", "passed": True, "state": {"cache_len_in": 7, "cache_len_out": 10}})
    assert imported.state.cache_len_out == 10 and not any(r.kind == "state" for r in imported.rules)


def test_chunk_ranges_of_the_run_dialog() -> None:
    """The run dialog reads ranges as `inspector run --chunks` does, and refuses chunks the stream lacks."""
    from inspector.errors import InspectorError
    from inspector.tui.jobs import chunks_of

    indices = list(range(50))
    assert chunks_of("current", indices, 7) == (7,)
    assert chunks_of("0:4", indices, 7) == (0, 1, 2, 3) and chunks_of("48:", indices, 7) == (48, 49)
    assert len(chunks_of("all", indices, 7)) == 50
    for bad, words in (("40:60", "does not have (first: 50)"), ("5:5", "selects no chunk"), ("x", "A:B")):
        with pytest.raises(InspectorError, match=re.escape(words)):
            chunks_of(bad, indices, 7)

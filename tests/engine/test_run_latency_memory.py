"""Every run records its step latency (steady percentiles, warm-up chunks apart, outliers) and peak memory, in the
store and in every report; the torch judge (forced onto the CPU) records the numpy judge's figures."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

import onnx_faults
from backends.base import make_backend
from inspector.engine import ParityEngine, RunSpec
from inspector.errors import InspectorError
from store import Store


def _run(store_path, contract, model, chunks="0:8", mode="functional"):
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, contract, model)
    stream = eng.resolve_stream(None)
    spec = RunSpec("ort-cpu", mode, stream, eng.resolve_chunks(stream, chunks), resume=False)
    with make_backend("ort-cpu", model, contract, {}) as be:
        return eng.run(spec, be), st


def test_a_run_records_latency_and_memory_in_the_store_and_every_report(demo_artifacts, store_copy, demo_contract,
                                                                        monkeypatch):
    from inspector.api import load_run_result
    from inspector.reports.json_report import build_report
    from inspector.reports.junit import build_junit
    from inspector.reports.markdown import build_markdown

    monkeypatch.delenv("INSPECTOR_JUDGE", raising=False)
    res, st = _run(store_copy, demo_contract, demo_artifacts.onnx)
    assert all(r["input_shapes"].startswith("audio_signal=") for r in res.records)
    lat = res.latency_ms
    warm = lat["warmup"]["chunks"]
    assert warm[0] == 0  # the first call is a warm-up chunk, never in the steady figures
    assert lat["count"] + len(warm) == 8 and lat["count"] > 0
    assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    steady = sorted(r["inference_ms"] for r in res.records if r["chunk"] not in warm)
    assert lat["max"] == pytest.approx(steady[-1], abs=1e-3)
    assert res.memory["peak_rss_mb"] > 10 and res.memory["chunks_measured"] == 8
    assert res.judge["device"] == "numpy" and res.judge["place"].startswith("CPU")

    stored = st.run(res.run_id).record.summary
    assert stored["latency_ms"]["p50"] == lat["p50"] and stored["memory"]["peak_rss_mb"] == res.memory["peak_rss_mb"]
    again = load_run_result(st, res.run_id)
    assert again.latency_ms == stored["latency_ms"] and again.judge == res.judge

    report = build_report([res], contract=demo_contract, model=demo_artifacts.onnx)
    run = report["runs"][0]
    assert {"p50", "p95", "p99", "max", "warmup", "outliers"} <= set(run["latency_ms"])
    assert run["memory"]["peak_rss_mb"] == res.memory["peak_rss_mb"]
    md = build_markdown(report)
    assert "| step ms p50 |" in md and f"chunks {warm[0]}" in md
    props = {p.get("name"): p.get("value") for p in build_junit(report).getroot().iter("property")}
    assert float(props["latency_ms_p50"]) == lat["p50"]
    assert props["latency_warmup_chunks"].split(",")[0] == "0"
    assert float(props["peak_rss_mb"]) == res.memory["peak_rss_mb"]
    ET.fromstring(ET.tostring(build_junit(report).getroot()))  # still well-formed XML


def _figures(res):
    return {r["chunk"]: (r["status"], r["failed_tensors"], r["tensors"]) for r in res.records}


def test_the_torch_judge_records_the_numpy_judges_figures(demo_artifacts, store_copy, demo_contract, tmp_path,
                                                          monkeypatch):
    """A planted cache fault (failing chunks): the same statuses, counts and indices, figures to 1e-6."""
    pytest.importorskip("torch")
    bad = tmp_path / "fault.onnx"
    onnx_faults.scale_output(demo_artifacts.onnx, bad, "cache_last_time_out", 1.5)
    monkeypatch.setenv("INSPECTOR_JUDGE", "numpy")
    cpu, _ = _run(store_copy, demo_contract, bad, "0:6", "closed-loop")
    monkeypatch.setenv("INSPECTOR_JUDGE", "torch-cpu")
    tor, _ = _run(store_copy, demo_contract, bad, "0:6", "closed-loop")
    assert tor.judge["device"] == "cpu" and "torch" in tor.judge["place"]
    assert [v.to_dict()["status"] for v in cpu.verdicts] == [v.to_dict()["status"] for v in tor.verdicts]
    a, b = _figures(cpu), _figures(tor)
    assert a.keys() == b.keys() and any(s != "ok" for s, _, _ in a.values())
    for chunk in a:
        assert a[chunk][:2] == b[chunk][:2]
        for name, ta in a[chunk][2].items():
            tb = b[chunk][2][name]
            for key, va in ta.items():
                vb = tb[key]
                if isinstance(va, float) and isinstance(vb, float) and key not in ("max_abs", "p99_abs", "max_rel"):
                    assert math.isclose(va, vb, rel_tol=1e-6, abs_tol=1e-12), (chunk, name, key, va, vb)
                elif isinstance(va, list) and va and isinstance(va[0], float) and key == "frame_cosine":
                    assert all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(va, vb)), (chunk, name, key)
                else:
                    assert va == vb, (chunk, name, key, va, vb)


def test_a_wrong_judge_placement_is_refused_before_anything_runs(demo_artifacts, store_copy, demo_contract,
                                                                 monkeypatch):
    monkeypatch.setenv("INSPECTOR_JUDGE", "gpu")
    with pytest.raises(InspectorError, match="INSPECTOR_JUDGE='gpu'.*valid choices"):
        _run(store_copy, demo_contract, demo_artifacts.onnx, "0:2")


def test_inspector_reference_records_and_prints_nemos_step_times(tmp_path):
    """Each chunk's NeMo step time is in its metadata; the command prints the steady percentiles and warm-up."""
    pytest.importorskip("nemo.collections.asr")
    from click.testing import CliRunner

    from inspector.cli import cli
    from inspector.reference import iter_lines

    out = tmp_path / "ref.jsonl"
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--chunks", "6", "-o", str(out)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("NeMo step latency: "))
    assert "ms, p95 " in line and "steady steps; warm-up 0" in line
    chunks = list(iter_lines(out))[1:]
    assert len(chunks) == 6 and all(c["meta"]["timing_ms"] > 0 for c in chunks)

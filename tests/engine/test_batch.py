"""`inspector run --batch` on the real demo export: exit codes, reports, planted faults (real ONNX edits)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import onnx_faults
from inspector.cli import main


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--batch", "--no-progress", *args])
    return int(exc.value.code)


def _base(store: Path, model: Path) -> list[str]:
    return ["--store", str(store), "--model", str(model), "--contract", "demo_streaming"]


def test_ort_cpu_both_modes_pass_and_reports_parse(demo_artifacts, store_copy, tmp_path):
    rep, jun, md = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "s.md"
    code = _run(*_base(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--mode", "both",
                "--report", str(rep), "--junit", str(jun), "--markdown", str(md))
    assert code == 0
    doc = json.loads(rep.read_text())
    assert doc["passed"] and [r["mode"] for r in doc["runs"]] == ["functional", "closed-loop"]
    run = doc["runs"][0]
    assert run["total_chunks"] == 50 and run["pass_rate"] == 100.0
    assert run["math_mode"]["backend"].startswith("fp32") and "tf32=off" in doc["reference"]["math_mode"]
    assert doc["model"]["sha256"] and doc["environment"]["onnxruntime"]
    chunk = run["chunk_records"][7]
    enc = chunk["tensors"]["encoder_output"]
    assert enc["passed"] and enc["max_abs"] < 1e-5 and len(enc["worst_index"]) == 3 and enc["cosine"] > 0.9999
    assert chunk["invariants"]["frames_per_chunk"] is True
    rules = {v["rule"] for v in doc["runs"][1]["verdicts"]}
    assert {"encoder_output_p95", "encoder_output_p100", "no_growth", "state_carried", "backend_errors"} <= rules
    root = ET.parse(jun).getroot()
    assert root.get("failures") == "0" and int(root.get("tests")) > 10
    assert {s.get("name") for s in root.iter("testsuite")} == {"ort-cpu/functional", "ort-cpu/closed-loop"}
    head = md.read_text().splitlines()[0]
    assert head.startswith("# Parity:") and "pass" in head.lower() and "fail" not in head.lower()


def test_perturbed_weight_fails_and_reports_name_chunk_tensor_rule(demo_artifacts, store_copy, tmp_path):
    bad = tmp_path / "perturbed.onnx"
    onnx_faults.perturb_weight(demo_artifacts.onnx, bad)
    jun, md = tmp_path / "j.xml", tmp_path / "s.md"
    code = _run(*_base(store_copy, bad), "--backend", "ort-cpu", "--chunks", "0:12", "--junit", str(jun),
                "--markdown", str(md))
    assert code == 1
    failures = [(c.get("name"), f.get("message")) for c in ET.parse(jun).getroot().iter("testcase")
                for f in c.findall("failure")]
    names = {n for n, _ in failures}
    assert "encoder_output_p100" in names and "encoder_output_p95" in names
    msg = dict(failures)["encoder_output_p100"]
    assert "chunk 0" in msg and "tensor encoder_output" in msg and "encoder_output_p100" in msg
    text = md.read_text()
    assert text.startswith("# Parity:") and "fail" in text.splitlines()[0].lower()
    row = next(line for line in text.splitlines() if "| encoder_output_p100 |" in line and "fail" in line.lower())
    assert "| encoder_output | 0 |" in row


def test_tightened_contract_tolerance_fails(demo_artifacts, store_copy, tmp_path):
    doc = json.loads(Path(demo_artifacts.contract).read_text())
    for acc in doc["acceptance"]:
        if acc["id"] == "encoder_output_p100":
            acc["threshold"] = 1e-9
    strict = tmp_path / "strict.contract.json"
    strict.write_text(json.dumps(doc))
    rep = tmp_path / "r.json"
    code = _run("--store", str(store_copy), "--model", str(demo_artifacts.onnx), "--contract", str(strict),
                "--backend", "ort-cpu", "--chunks", "0:8", "--report", str(rep))
    assert code == 1
    fails = json.loads(rep.read_text())["failures"]
    assert [f["rule"] for f in fails] == ["encoder_output_p100"]
    assert fails[0]["tensor"] == "encoder_output" and fails[0]["chunk"] is not None


def test_unavailable_backend_is_reported_before_any_chunk_runs(demo_artifacts, store_copy, capsys):
    from backends.base import availability

    if availability("ort-cuda"):
        pytest.skip("ort-cuda is available on this machine")
    code = _run(*_base(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--backend", "ort-cuda")
    assert code == 2
    err = capsys.readouterr().err
    assert "ort-cuda" in err and "onnxruntime-gpu" in err
    from store import Store

    assert Store.open(store_copy).runs() == []  # not even ort-cpu ran


@pytest.mark.parametrize("args, needle", [
    (["--chunks", "x:y"], "--chunks"),
    (["--stream", "nope"], "no stream 'nope'"),
    (["--backend-opt", "novalue"], "KEY=VALUE"),
    (["--backend-opt", "intra_op_threadz=2"], "unknown option"),
])
def test_bad_usage_exits_2_with_a_clear_message(demo_artifacts, store_copy, capsys, args, needle):
    code = _run(*_base(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", *args)
    assert code == 2
    assert needle in capsys.readouterr().err


def test_baseline_backend_instead_of_the_reference(demo_artifacts, store_copy, tmp_path):
    """ORT against the live NeMo encoder (torch-cpu) on the same feeds, as the seed compared TRT against ORT."""
    rep = tmp_path / "r.json"
    code = _run(*_base(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--baseline", "torch-cpu",
                "--mode", "closed-loop", "--chunks", "0:8", "--report", str(rep))
    assert code == 0
    run = json.loads(rep.read_text())["runs"][0]
    assert run["baseline"] == "torch-cpu" and run["baseline_info"]["runtime"] == "torch"
    assert run["math_mode"]["baseline"] == "tf32=off"
    assert run["tensors"]["encoder_output"]["max_abs_max"] < 1e-4

"""Run identity is content: a contract edited in place, or a model file overwritten, never lets the run API reuse
per-chunk verdicts recorded with the old one (re-judged from stored figures where they suffice, else run again, and
the log and the run record say which)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import onnx_faults
from inspector.api import run_batch
from inspector.engine import ChunkHook
from store import Store


def _batch(store: Path, model: Path, contract: Path, **kw):
    logs: list[str] = []
    kw.setdefault("reuse_complete", True)
    res = run_batch(store=store, model=model, contract=contract, backends=("ort-cpu",), modes=("functional",),
                    chunks="0:8", progress=False, log=logs.append, **kw)
    return res, logs


def _contract(demo_artifacts, tmp_path: Path) -> Path:
    path = tmp_path / "mine.contract.json"
    shutil.copy(demo_artifacts.contract, path)
    return path


def _edit(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))


def _set_threshold(rule: str, value: float):
    def change(doc):
        next(a for a in doc["acceptance"] if a["id"] == rule)["threshold"] = value
    return change


def _set_atol(tensor: str, value: float):
    def change(doc):
        sets = doc["tolerances"]["sets"]
        next(s for s in sets if s["name"] == "default")["per_output"][tensor]["atol"] = value
    return change


def test_an_acceptance_edit_rejudges_the_recorded_chunks(demo_artifacts, store_copy, tmp_path):
    contract = _contract(demo_artifacts, tmp_path)
    first, _ = _batch(store_copy, demo_artifacts.onnx, contract)
    assert first.status == "pass"
    _edit(contract, _set_threshold("encoder_output_p100", 1e-9))
    again, logs = _batch(store_copy, demo_artifacts.onnx, contract)
    run = again.runs[0]
    assert run.run_id == first.runs[0].run_id  # the stored figures suffice: nothing was run again
    assert again.status == "fail"
    assert next(v for v in run.verdicts if v.rule == "encoder_output_p100").status == "fail"
    assert any(m.startswith(f"re-judged run {run.run_id}") and "acceptance rules changed" in m for m in logs)
    assert any("re-judged" in n for n in run.notes)
    record = Store.open(store_copy).run(run.run_id).record
    assert record.environment["reuse"][-1]["how"] == "rejudged"
    assert record.summary["verdicts"] == [v.to_dict() for v in run.verdicts]


def test_a_tolerance_edit_runs_again(demo_artifacts, store_copy, tmp_path):
    """Per-chunk pass/fail marks depend on the tolerance: they are stale, so the chunks are judged anew."""
    contract = _contract(demo_artifacts, tmp_path)
    first, _ = _batch(store_copy, demo_artifacts.onnx, contract)
    assert first.status == "pass"
    _edit(contract, _set_atol("encoder_output", 1e-12))
    again, logs = _batch(store_copy, demo_artifacts.onnx, contract)
    run = again.runs[0]
    assert run.run_id != first.runs[0].run_id and run.resumed_chunks == 0
    assert not any(r["tensors"]["encoder_output"]["passed"] for r in run.records)
    assert any("is not reused" in m and "tolerances" in m and "running again" in m for m in logs)
    record = Store.open(store_copy).run(run.run_id).record
    assert record.environment["reuse"][0]["how"] == "ran again"


def test_an_interrupted_run_is_not_continued_under_an_edited_contract(demo_artifacts, store_copy, tmp_path):
    class Interrupt(ChunkHook):
        name = "interrupt"

        def chunk(self, event):
            if event.index == 4:
                raise KeyboardInterrupt

    contract = _contract(demo_artifacts, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _batch(store_copy, demo_artifacts.onnx, contract, reuse_complete=False,
               hook_factory=lambda _b, _m: [Interrupt()])
    (stopped,) = Store.open(store_copy).runs()
    assert stopped.status == "interrupted"
    _edit(contract, _set_atol("cache_last_time_out", 2e-4))
    again, logs = _batch(store_copy, demo_artifacts.onnx, contract, reuse_complete=False)
    run = again.runs[0]
    assert run.run_id != stopped.run_id and run.resumed_chunks == 0 and len(run.records) == 8
    assert any(f"run {stopped.run_id} (interrupted)" in m and "running again" in m for m in logs)
    assert Store.open(store_copy).run(stopped.run_id).record.status == "interrupted"


def test_an_overwritten_model_file_runs_again(demo_artifacts, store_copy, tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(demo_artifacts.onnx, model)
    contract = _contract(demo_artifacts, tmp_path)
    first, _ = _batch(store_copy, model, contract)
    assert first.status == "pass"
    perturbed = tmp_path / "perturbed.onnx"
    onnx_faults.perturb_weight(demo_artifacts.onnx, perturbed)
    shutil.copy(perturbed, model)  # same path, new bytes
    again, logs = _batch(store_copy, model, contract)
    assert again.runs[0].run_id != first.runs[0].run_id
    assert again.status == "fail"
    assert any("the sha256 differs" in m and "running again" in m for m in logs)


def test_a_matching_run_is_reused_silently_beside_runs_of_another_model(demo_artifacts, store_copy, tmp_path):
    """Runs of another model in the same store (the demo's planted examples) are not this run: the matching one is
    re-judged, with no word about the others."""
    contract = _contract(demo_artifacts, tmp_path)
    first, _ = _batch(store_copy, demo_artifacts.onnx, contract)
    other = tmp_path / "perturbed.onnx"
    onnx_faults.perturb_weight(demo_artifacts.onnx, other)
    _batch(store_copy, other, contract)  # newer, same backend/mode/stream/chunks, another model
    again, logs = _batch(store_copy, demo_artifacts.onnx, contract)
    assert again.runs[0].run_id == first.runs[0].run_id and again.status == "pass"
    assert not any("running again" in m for m in logs)

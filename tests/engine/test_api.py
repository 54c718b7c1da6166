"""The run API's unit of work, as executors call it: `run_unit` in another process, an error outcome that names its
cause, and a report that counts a unit that could not run as a failure (real store, real ONNX Runtime)."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from inspector.api import build_batch_report, run_unit, write_reports
from inspector.units import BatchJob, Unit, UnitOutcome
from store import Store


def _job(store: Path, model: Path, contract) -> BatchJob:
    return BatchJob(store=str(store), model=str(model), contract=str(contract))


def test_run_unit_runs_in_another_process_and_records_its_run(demo_artifacts, store_copy):
    job = _job(store_copy, demo_artifacts.onnx, demo_artifacts.contract)
    unit = Unit("ort-cpu", {}, "functional", "utt-0000", tuple(range(4)))
    assert pickle.loads(pickle.dumps((job, unit))) == (job, unit)
    with ProcessPoolExecutor(1) as pool:
        out: UnitOutcome = pool.submit(run_unit, job, unit).result()
    assert out.status == "pass" and out.chunks_checked == 4 and out.error == ""
    record = Store.open(store_copy).run(out.run_id).record
    assert record.status == "complete" and record.chunks == [0, 1, 2, 3]
    assert record.environment["worker"]["host"] == out.host and record.environment["identity"]["model_sha256"]


def test_a_unit_that_cannot_run_is_an_error_outcome_and_fails_the_report(demo_artifacts, store_copy, demo_contract,
                                                                        tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(Path(demo_artifacts.onnx).read_bytes()[:1000])  # truncated: no runtime can load it
    job = _job(store_copy, broken, demo_artifacts.contract)
    unit = Unit("ort-cpu", {}, "functional", "utt-0000", (0, 1))
    out = run_unit(job, unit)
    assert out.status == "error" and out.chunks_checked == 0
    assert out.error.split(":")[0].isidentifier() and len(out.error) > 20  # "ExceptionType: what went wrong"
    good = run_unit(_job(store_copy, demo_artifacts.onnx, demo_artifacts.contract), unit)
    _, doc = build_batch_report(Store.open(store_copy), demo_contract, broken, "", [out, good], [], "failing")
    assert doc["status"] == "fail" and doc["exit_code"] == 1
    error_run = doc["runs"][0]
    assert error_run["outcome"] == "error" and error_run["verdicts"][0]["status"] == "fail"
    assert doc["runs"][1]["outcome"] == "pass"
    written = write_reports(doc, report=tmp_path / "r.json", junit=tmp_path / "j.xml", markdown=tmp_path / "s.md")
    assert json.loads(written["report"].read_text())["runs"][0]["error"] == out.error
    assert "unit_error" in written["junit"].read_text() and "unit_error" in written["markdown"].read_text()


def test_a_contract_edited_in_memory_is_the_one_the_units_judge_with(demo_artifacts, store_copy, demo_contract):
    """A `Contract` changed with dataclasses.replace differs from its file: the units use the object, not the file."""
    import dataclasses

    from inspector.api import run_batch

    strict = dataclasses.replace(demo_contract, acceptance=tuple(
        dataclasses.replace(a, threshold=1e-12) if a.id == "encoder_output_p100" else a
        for a in demo_contract.acceptance))
    res = run_batch(store=store_copy, model=demo_artifacts.onnx, contract=strict, backends=("ort-cpu",),
                    chunks="0:4", progress=False, log=lambda _m: None)
    assert res.status == "fail"
    assert [v.rule for v in res.runs[0].verdicts if v.status == "fail"] == ["encoder_output_p100"]

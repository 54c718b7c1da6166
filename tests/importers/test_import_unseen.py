"""Reports and summaries from writers we have never seen: a BOM, compressed files, failures keyed by tensor,
failure strings in other spellings, chunk numbers as floats or negative, an empty report, a one-chunk summary, a
contract edited between two imports. Each is read for what it says, or refused with one paragraph (exit 2)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from inspector.importers.reports import parse_failure, parse_report

DATA = Path(__file__).parent / "data"
CONTRACT = DATA / "seed_trt_test.contract.json"
ORT = json.loads((DATA / "ort_functional_cpu.json").read_text())
SUMMARY = [json.loads(line) for line in (DATA / "summary_stateful.jsonl").read_text().splitlines() if line.strip()]


def _ort() -> dict:
    return copy.deepcopy(ORT)


def _chunk(report, index):
    return next(c for c in report.chunks if c.index == index)


def test_bom_and_utf16_reports_import(cli, store_path: Path, tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(ORT).encode())
    utf16 = tmp_path / "summary16.jsonl"
    utf16.write_bytes("\n".join(json.dumps(s) for s in SUMMARY).encode("utf-16"))
    # Read fine; no contract (the report) and no probe (the summary): nothing shown as a pass, exit 3.
    assert cli("import-run", bom, "--store", store_path).code == 3
    res = cli("import-run", utf16, "--store", store_path)
    assert res.code == 3 and "attention cache carried" in res.out


def test_compressed_report_says_so(cli, store_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.json.gz"
    path.write_bytes(gzip.compress(json.dumps(ORT).encode()))
    res = cli("import-run", path, "--store", store_path)
    assert res.code == 2 and "gzip-compressed" in res.err and "Traceback" not in res.err


@pytest.mark.parametrize("errors", [
    {"encoder_output": "max_abs=2.310e-04 mean_abs=3.725e-05"},
    {"encoder_output": {"max_abs": 2.31e-4, "mean_abs": 3.725e-05}},
    ["encoder_output max_abs 2.310e-04"],
    ["encoder_output - max_abs: 2.310e-04, mean_abs: 3.725e-05"],
])
def test_failure_spellings_keep_the_number(errors) -> None:
    doc = _ort()
    doc["failures"][0]["errors"] = errors
    chunk = _chunk(parse_report(doc), doc["failures"][0]["chunk"])
    assert chunk.status == "failed" and chunk.frames_passed is False
    assert chunk.frames_max_abs.exact and chunk.frames_max_abs.lo == pytest.approx(2.31e-4)


def test_a_failure_naming_the_frames_without_a_number_is_not_counted_as_within_atol() -> None:
    doc = _ort()
    doc["failures"][0]["errors"] = ["encoder_output: shapes differ (1, 1024, 3) vs (1, 1024, 2)"]
    chunk = _chunk(parse_report(doc), doc["failures"][0]["chunk"])
    assert chunk.frames_passed is False
    assert chunk.frames_max_abs.lo >= doc["atol"] and chunk.frames_max_abs.hi == float("inf")
    doc["failures"][0]["errors"] = ["something went wrong on the encoder_output tensor"]
    chunk = _chunk(parse_report(doc), doc["failures"][0]["chunk"])
    assert chunk.status == "failed" and chunk.frames_passed is False and chunk.frames_max_abs.lo >= doc["atol"]


def test_metric_words_are_not_taken_for_tensor_names() -> None:
    assert parse_failure("max_abs=3e-4") is None
    assert parse_failure("encoder_output: max_abs=1.2e-3 (atol 1e-4)").max_abs == pytest.approx(1.2e-3)


def test_chunk_numbers_as_floats_are_read_and_negative_ones_refused(cli, store_path: Path, tmp_path: Path) -> None:
    doc = _ort()
    doc["failures"][0]["chunk"] = float(doc["failures"][0]["chunk"])
    assert _chunk(parse_report(doc), int(doc["failures"][0]["chunk"])).status == "failed"
    doc["failures"][0]["chunk"] = -1
    path = tmp_path / "neg.json"
    path.write_text(json.dumps(doc))
    res = cli("import-run", path, "--store", store_path)
    assert res.code == 2 and "failures[0]" in res.err and "neg.json" in res.err


def test_a_report_of_no_chunks_is_not_a_pass(cli, store_path: Path, tmp_path: Path) -> None:
    doc = _ort()
    doc.update(total_chunks=0, passed=0, failed=0, pass_rate=0.0, failures=[])
    path = tmp_path / "empty_run.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "v.json"
    res = cli("import-run", path, "--store", store_path, "--contract", CONTRACT, "--json", out)
    assert json.loads(out.read_text())["outcome"] == "undetermined"
    assert "nan" not in res.out and "no chunk ran" in res.out
    assert res.code == 3


def test_one_chunk_summary_as_a_single_object_is_undecided_not_failed(cli, store_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(SUMMARY[0]))
    out = tmp_path / "v.json"
    res = cli("import-run", path, "--store", store_path, "--json", out)
    assert res.code == 3, res.text
    assert "single chunk" in res.out and json.loads(out.read_text())["outcome"] == "undetermined"


def test_summary_chunk_numbers_as_floats(cli, store_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "floats.jsonl"
    path.write_text("\n".join(json.dumps({**s, "chunk_idx": float(s["chunk_idx"])}) for s in SUMMARY))
    res = cli("import-run", path, "--store", store_path)
    assert res.code == 3 and "attention cache carried" in res.out


def test_a_summary_starting_after_the_cache_filled_is_saturated_not_constant(cli, store_path: Path,
                                                                            tmp_path: Path) -> None:
    path = tmp_path / "late.jsonl"
    late = [s for s in SUMMARY if s["cache_len_in"] == 256]
    assert len(late) >= 3
    path.write_text("\n".join(json.dumps(s) for s in late))
    res = cli("import-run", path, "--store", store_path, "--contract", CONTRACT)
    assert "never grows" not in res.out and "saturated" in res.out


def test_an_edited_contract_judges_again(cli, store_path: Path, tmp_path: Path) -> None:
    """Same report, same contract name, a changed threshold: a new verdict, not the stale one."""
    contract = json.loads(CONTRACT.read_text())
    strict, lax = tmp_path / "c.contract.json", tmp_path / "lax" / "c.contract.json"
    strict.write_text(json.dumps(contract))
    for acc in contract["acceptance"]:
        if "threshold" in acc:
            acc["threshold"] = 1e9 if acc.get("kind") == "quantile" else 0.0
    lax.parent.mkdir()
    lax.write_text(json.dumps(contract))
    report = DATA / "trt_fp16.json"
    assert cli("import-run", report, "--store", store_path, "--contract", strict).code == 1
    second = cli("import-run", report, "--store", store_path, "--contract", lax)
    assert "already imported" not in second.out
    again = cli("import-run", report, "--store", store_path, "--contract", lax)
    assert "already imported" in again.out

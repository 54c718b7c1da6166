"""`inspector import-run`: reports and summaries become runs in the store, judged by the contract."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CONTRACT = DATA / "seed_trt_test.contract.json"


def verdicts(doc: dict) -> dict[str, dict]:
    return {r["rule"]: r for r in doc["rule_outcomes"]}


def imported_runs(store_path: Path) -> list:
    from store import Store

    return [r for r in Store.open(store_path).runs() if r.mode == "imported"]


class TestTensorRTReports:
    def test_fp16_fails_p95(self, cli, store_path: Path, tmp_path: Path) -> None:
        """The seed's FP16 engine (P95 1.1e-3) fails P95 < 5e-4; the run is recorded as a TensorRT FP16 run."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", CONTRACT, "--json", out)
        assert res.code == 1, res.text
        doc = json.loads(out.read_text())
        v = verdicts(doc)
        assert doc["outcome"] == "fail" and doc["backend"] == "trt-fp16" and doc["precision"] == "fp16"
        assert v["encoder_output_p95"]["outcome"] == "fail"
        assert 1.05e-3 < v["encoder_output_p95"]["lower"] == v["encoder_output_p95"]["upper"] < 1.15e-3
        assert v["encoder_output_pass_rate"]["outcome"] == "fail"  # 3/50 at the contract's TensorRT atol 5e-4
        assert v["encoder_output_pass_rate"]["verdict"]["value"] == pytest.approx(3 / 50)
        assert v["no_growth"]["outcome"] == "pass"
        assert "encoder_output_p95" in res.err and "FAIL" in res.out
        (run,) = imported_runs(store_path)
        assert (run.backend, run.mode, run.status) == ("trt-fp16", "imported", "complete")
        assert run.backend_info["precision"] == "fp16" and run.backend_info["runtime"] == "tensorrt"
        assert run.options["source"]["sha256"] == doc["source"]["sha256"] and run.options["schema"] == "trt"
        assert run.backend_info["extra"]["timing_ms"]["p95"] == 4.61

    def test_fp32_tf32_off_closed_loop_is_undetermined(self, cli, store_path: Path, tmp_path: Path) -> None:
        """FP32 with TF32 off: P100 2e-7 passes every figure rule, but a closed-loop report with no cache lengths and
        no probe cannot show that state was carried: exit 3, and the message says what to run instead."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                  "--json", out)
        assert res.code == 3, res.text
        assert "inspector run --batch --mode closed-loop" in res.err and "state_carried" in res.err
        doc = json.loads(out.read_text())
        v = verdicts(doc)
        assert doc["outcome"] == "undetermined" and doc["math_mode"] == "tf32=off"
        assert v["encoder_output_p100"]["lower"] == pytest.approx(2e-7)
        assert {v[r]["outcome"] for r in ("encoder_output_p95", "encoder_output_p100", "encoder_output_pass_rate",
                                           "no_growth", "backend_errors")} == {"pass"}
        # What a report cannot show is said, never passed: no tensors, no invariants; no probe, no state verdict.
        assert v["invariants"]["outcome"] == "undetermined" and v["state_carried"]["outcome"] == "undetermined"
        assert "no cache lengths and no state probe" in v["state_carried"]["message"]
        assert v["state_carried"]["verdict"]["status"] == "undetermined"

    def test_accepting_undetermined_rules_is_explicit_and_recorded(self, cli, store_path: Path,
                                                                  tmp_path: Path) -> None:
        """--allow-undetermined for only some rules still exits 3; for all of them 0, each verdict naming the flag."""
        out = tmp_path / "v.json"
        some = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                   "--allow-undetermined", "state_carried")
        assert some.code == 3 and "invariants" in some.err
        res = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                  "--allow-undetermined", "state_carried", "--allow-undetermined", "all", "--json", out)
        assert res.code == 0, res.text
        doc = json.loads(out.read_text())
        v = {x["rule"]: x for x in doc["verdicts"]}
        assert doc["outcome"] == "pass" and doc["judged_outcome"] == "undetermined"
        assert v["state_carried"]["status"] == "undetermined"  # still undetermined: accepted, not passed
        assert v["state_carried"]["accepted_by"] == "--allow-undetermined state_carried"
        assert v["invariants"]["accepted_by"] == "--allow-undetermined all"
        assert doc["allow_undetermined"] == ["state_carried", "all"]

    def test_an_unknown_rule_to_accept_is_bad_input(self, cli, store_path: Path) -> None:
        res = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                  "--allow-undetermined", "state_carry")
        assert res.code == 2 and "did you mean 'state_carried'" in res.err

    def test_growing_error_fails_no_growth(self, cli, store_path: Path, tmp_path: Path) -> None:
        """An error that grows steadily over a closed loop fails no-growth even though P95 and P100 pass."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "trt_fp32_growing.json", "--store", store_path, "--contract", CONTRACT,
                  "--json", out)
        assert res.code == 1
        v = verdicts(json.loads(out.read_text()))
        assert v["no_growth"]["outcome"] == "fail" and "grows with chunk index" in v["no_growth"]["message"]
        assert v["encoder_output_p95"]["outcome"] == v["encoder_output_p100"]["outcome"] == "pass"

    def test_nan_chunk_counts_as_infinite(self, cli, store_path: Path, tmp_path: Path) -> None:
        """An FP16 engine that produced NaN on one chunk: that chunk is the worst, P100 fails."""
        doc = json.loads((DATA / "trt_fp32_tf32off.json").read_text())
        doc["chunk_stats"][12].update(encoder_output_max_abs=float("nan"), passed=False)
        path = tmp_path / "nan.json"
        path.write_text(json.dumps(doc))  # Python writes the bare NaN token, as the seed's scripts would
        out = tmp_path / "v.json"
        assert cli("import-run", path, "--store", store_path, "--contract", CONTRACT, "--json", out).code == 1
        v = verdicts(json.loads(out.read_text()))
        assert v["encoder_output_p100"]["outcome"] == "fail" and v["encoder_output_p100"]["verdict"]["worst_chunk"] == 12

    def test_without_a_contract_only_figures(self, cli, store_path: Path, tmp_path: Path) -> None:
        """No contract anywhere: the run is recorded with its figures and no verdict; nothing was checked: exit 3."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--json", out)
        assert res.code == 3 and "NOT JUDGED" in res.out and "--contract" in res.err
        doc = json.loads(out.read_text())
        assert doc["outcome"] == "not judged" and doc["figures"]["encoder_output_max_abs_p95"]["exact"]

    def test_the_stores_contract_is_the_default(self, cli, tmp_path: Path) -> None:
        from store import Store

        path = tmp_path / "with_contract.zarr"
        Store.create(path, attrs={"contract": "parakeet-tdt-0.6b-v3"})
        res = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", path, "--allow-undetermined", "all")
        assert res.code == 0 and "contract parakeet-tdt-0.6b-v3" in res.out and "PASS" in res.out

    def test_per_chunk_records_have_the_engine_layout(self, cli, store_path: Path) -> None:
        """Imported chunks read like live ones: chunk, status, passed, tensors.encoder_output.max_abs."""
        from inspector.acceptance import chunk_metric
        from store import Store

        cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", CONTRACT)
        st = Store.open(store_path)
        (rec,) = [r for r in st.runs() if r.mode == "imported"]
        metrics = st.run(rec.run_id).all_metrics(rec.stream)
        assert sorted(metrics) == list(range(50))
        m4 = metrics[4]
        assert m4["status"] == "ok" and m4["passed"] is True and chunk_metric(m4, "encoder_output", "max_abs") == 3.1e-4
        assert metrics[9]["failed_tensors"] == ["encoder_output"] and metrics[9]["imported"]["errors"]


class TestOrtReports:
    def test_functional_report_with_a_raised_chunk(self, cli, store_path: Path, tmp_path: Path) -> None:
        """Their pass_rate leaves out a chunk that raised; here it fails backend_errors and counts as +inf."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "ort_functional_cpu.json", "--store", store_path, "--contract", CONTRACT,
                  "--json", out)
        assert res.code == 1
        doc = json.loads(out.read_text())
        v = verdicts(doc)
        assert doc["backend"] == "ort-cpu" and doc["judged_mode"] == "functional"
        assert "no_growth" not in v  # a closed-loop rule; this report is functional
        assert v["backend_errors"]["outcome"] == "fail" and v["backend_errors"]["verdict"]["first_failing_chunk"] == 17
        # P95 is exact although 29 chunks have no number: it falls among the failing chunks' figures.
        p95 = doc["figures"]["encoder_output_max_abs_p95"]
        assert p95["exact"] and 5e-4 < p95["lower"] < 7.4e-4
        assert doc["figures"]["report_pass_rate"]["claimed_percent"] == 57.14
        assert doc["figures"]["report_pass_rate"]["percent_of_all"] == 56.0  # 28 of 50, the raised chunk failed

    def test_unknown_figures_are_stored_as_unknown(self, cli, store_path: Path) -> None:
        """A passing chunk of an ORT report has no max-abs: stored as None with its bound, never a made-up value."""
        from store import Store

        cli("import-run", DATA / "ort_functional_cpu.json", "--store", store_path, "--contract", CONTRACT)
        st = Store.open(store_path)
        (rec,) = [r for r in st.runs() if r.mode == "imported"]
        metrics = st.run(rec.run_id).all_metrics(rec.stream)
        passing = [m for m in metrics.values() if m["imported"]["report_status"] == "passed"]
        enc = passing[0]["tensors"]["encoder_output"]
        assert enc["max_abs"] is None and enc["max_abs_bound"] == [0.0, 1e-4] and enc["passed"] is True
        assert metrics[17]["status"] == "error" and "RUNTIME_EXCEPTION" in metrics[17]["error"]

    def test_closed_loop_without_chunk_stats_cannot_judge_growth(self, cli, store_path: Path, tmp_path: Path) -> None:
        """No per-chunk numbers for passing chunks: growth is 'not computable', with the reason."""
        out = tmp_path / "v.json"
        cli("import-run", DATA / "ort_cuda_closed_loop.json", "--store", store_path, "--contract", CONTRACT,
            "--json", out)
        v = verdicts(json.loads(out.read_text()))
        assert v["no_growth"]["outcome"] == "undetermined" and "not computable" in v["no_growth"]["message"]
        # 3 of 40 chunks above 2e-3 already put P95 over 5e-4, whatever the unknown chunks hold.
        assert v["encoder_output_p95"]["outcome"] == "fail" and "even the favourable end fails" in \
            v["encoder_output_p95"]["message"]

    def test_undetermined_when_the_data_bracket_the_threshold(self, cli, store_path: Path, tmp_path: Path) -> None:
        """One failing chunk of 40 and rtol > 0: P95 may be 0 or unbounded. Undetermined: exit 3 (--strict, the old
        way to ask for that, is accepted and changes nothing)."""
        doc = json.loads((DATA / "ort_cuda_closed_loop.json").read_text())
        doc["failures"] = [{"chunk": 3, "errors": ["encoder_output: max_abs=5.000e-04 mean_abs=6.1e-05 max_rel=2.0"]}]
        doc.update(passed=39, failed=1, pass_rate=97.5, atol=2e-4)
        path = tmp_path / "one_failure.json"
        path.write_text(json.dumps(doc))
        out = tmp_path / "v.json"
        res = cli("import-run", path, "--store", store_path, "--contract", CONTRACT, "--json", out)
        assert res.code == 3, res.text
        result = json.loads(out.read_text())
        v = verdicts(result)
        assert result["outcome"] == "undetermined" and v["encoder_output_p95"]["outcome"] == "undetermined"
        assert (v["encoder_output_p95"]["lower"], v["encoder_output_p95"]["upper"]) == (0.0, "inf")
        assert v["encoder_output_p100"]["outcome"] == "undetermined"  # at least 5e-4, perhaps above 1e-3
        assert "UNDETERMINED" in res.out
        path2 = tmp_path / "one_failure_again.json"
        path2.write_text(json.dumps(doc, indent=1))  # other bytes: a new import
        strict = cli("import-run", path2, "--store", store_path, "--contract", CONTRACT, "--strict")
        assert strict.code == 3 and "--strict is the default now" in strict.err


class TestIdempotence:
    def test_reimport_is_a_no_op(self, cli, store_path: Path, tmp_path: Path) -> None:
        first = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT)
        runs = imported_runs(store_path)
        out = tmp_path / "v.json"
        again = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                    "--json", out)
        assert first.code == again.code == 3  # closed loop, no probe: state_carried undetermined both times
        assert "already imported" in again.out and runs[0].run_id in again.out
        assert [r.run_id for r in imported_runs(store_path)] == [r.run_id for r in runs]
        doc = json.loads(out.read_text())
        assert doc["already_imported"] is True and doc["run_id"] == runs[0].run_id and doc["outcome"] == "undetermined"
        accepted = cli("import-run", DATA / "trt_fp32_tf32off.json", "--store", store_path, "--contract", CONTRACT,
                       "--allow-undetermined", "all")
        assert accepted.code == 0 and "already imported" in accepted.out

    def test_another_contract_is_another_run(self, cli, store_path: Path) -> None:
        """The same file judged by another contract keeps both verdicts (nothing is overwritten)."""
        cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", CONTRACT)
        cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", "parakeet-tdt-0.6b-v3")
        runs = imported_runs(store_path)
        assert sorted(r.contract for r in runs) == ["parakeet-tdt-0.6b-v3", "seed-trt-acceptance-test"]
        assert {r.summary["outcome"] for r in runs} == {"fail"}  # 1.1e-3 fails the shipped FP16 P95 (1e-3) too


class TestSummaries:
    def test_never_carried(self, cli, store_path: Path, tmp_path: Path) -> None:
        """cache_len_out 0 on every chunk: 'never carried', and the trajectory is stored per chunk under state."""
        from store import Store

        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "summary_never_carried.jsonl", "--store", store_path, "--contract", CONTRACT,
                  "--json", out)
        assert res.code == 1
        assert "attention cache never carried: cache_len_out stayed 0 for 50 chunks" in res.out
        doc = json.loads(out.read_text())
        assert doc["kind"] == "summary" and doc["state_trajectory"]["pattern"] == "never-carried"
        v = {x["rule"]: x for x in doc["verdicts"]}
        assert v["state_trajectory"]["status"] == "fail" and v["state_carried"]["status"] == "fail"
        st = Store.open(store_path)
        (rec,) = [r for r in st.runs() if r.mode == "imported"]
        metrics = st.run(rec.run_id).all_metrics(rec.stream)
        assert len(metrics) == 50
        assert metrics[7]["state"] == {"cache_len_in": 0, "cache_len_out": 0, "input_len": 593, "valid_out_len": 1,
                                       "cache_drop_size": 72}

    def test_seed_rule_holds_and_is_explained(self, cli, store_path: Path, tmp_path: Path) -> None:
        """Under the seed's own contract `cache_last_channel_len_out == 0` holds, and the tool says what that means."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "summary_never_carried.jsonl", "--store", store_path, "--contract",
                  "encoder_streaming", "--json", out)
        assert res.code == 1  # the trajectory verdict fails although the seed's invariants hold
        v = {x["rule"]: x for x in json.loads(out.read_text())["verdicts"]}
        zero = [x for r, x in v.items() if r.startswith("invariant:") and
                x["details"].get("check") == "cache_last_channel_len_out == 0"]
        assert zero and zero[0]["status"] == "pass" and "never carried" in zero[0]["message"]
        assert v["state_trajectory"]["status"] == "fail"

    def test_stateful_summary_passes(self, cli, store_path: Path, tmp_path: Path) -> None:
        """NeMo's stateful trajectory: the contract's state invariants hold and the words say why."""
        out = tmp_path / "v.json"
        res = cli("import-run", DATA / "summary_stateful.jsonl", "--store", store_path, "--contract", CONTRACT,
                  "--json", out)
        assert res.code == 3, res.text
        doc = json.loads(out.read_text())
        assert "grows by 3 per chunk, saturating at 256" in doc["state_trajectory"]["summary"]
        v = {x["rule"]: x for x in doc["verdicts"]}
        for rule in ("invariant:cache_len_grows", "invariant:cache_len_saturates", "invariant:cache_len_fed_back",
                     "invariant:frames_per_chunk"):
            assert v[rule]["status"] == "pass", v[rule]
        assert v["invariant:finite_encoder_output"]["status"] == "undetermined"  # needs a tensor; a summary has none
        # lengths but no probe: state_carried cannot be shown, so the import is undetermined (exit 3)
        assert v["state_carried"]["status"] == "undetermined" and "inspector run" in v["state_carried"]["message"]

    def test_padded_last_chunk_fails(self, cli, store_path: Path) -> None:
        res = cli("import-run", DATA / "summary_padded_last.json", "--store", store_path, "--contract", CONTRACT)
        assert res.code == 1 and "grows by padded frames on the last chunk" in res.out

    def test_without_a_contract_the_trajectory_is_still_judged(self, cli, store_path: Path) -> None:
        res = cli("import-run", DATA / "summary_never_carried.jsonl", "--store", store_path, "--kind", "summary")
        assert res.code == 1 and "never carried" in res.out and "no contract" in res.out


class TestBadInput:
    def test_unknown_schema(self, cli, store_path: Path, tmp_path: Path) -> None:
        bad = tmp_path / "r.json"
        bad.write_text(json.dumps({"model": "x.onnx", "results": [1, 2]}))
        res = cli("import-run", bad, "--store", store_path)
        assert res.code == 2
        assert "unknown report schema" in res.err and "total_chunks" in res.err and "chunk_stats" in res.err
        assert not imported_runs(store_path)

    def test_malformed_json(self, cli, store_path: Path, tmp_path: Path) -> None:
        bad = tmp_path / "r.json"
        bad.write_text('{"mode": "functional", "total_chunks": 50,\n "failures": [}\n')
        res = cli("import-run", bad, "--store", store_path)
        assert res.code == 2 and "line 2, column" in res.err and "not valid JSON" in res.err

    def test_missing_store_is_created(self, cli, tmp_path: Path) -> None:
        """A store that does not exist yet is created (runs only; more in test_import_storeless.py)."""
        res = cli("import-run", DATA / "trt_fp16.json", "--store", tmp_path / "nope.zarr", "--contract", CONTRACT)
        assert res.code == 1 and "created store" in res.err and len(imported_runs(tmp_path / "nope.zarr")) == 1

    def test_missing_file_and_reference_jsonl(self, cli, store_path: Path, tmp_path: Path) -> None:
        res = cli("import-run", tmp_path / "absent.json", "--store", store_path)
        assert res.code == 2 and "no such file" in res.err
        ref = tmp_path / "ref.jsonl"
        ref.write_text(json.dumps({"chunk_idx": 0, "inputs": {}, "outputs": {}, "metadata": {}}) + "\n")
        res = cli("import-run", ref, "--store", store_path)
        assert res.code == 2 and "inspector convert" in res.err

    def test_bad_contract(self, cli, store_path: Path) -> None:
        res = cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", "no-such-contract")
        assert res.code == 2 and "no such file" in res.err


def test_runs_are_listed_with_the_others(cli, store_path: Path) -> None:
    """Both kinds of import show up in Store.runs() as imported runs, each with its source."""
    cli("import-run", DATA / "trt_fp16.json", "--store", store_path, "--contract", CONTRACT)
    cli("import-run", DATA / "summary_stateful.jsonl", "--store", store_path, "--contract", CONTRACT)
    runs = imported_runs(store_path)
    assert sorted(r.options["importer"] for r in runs) == ["seed-parity-report", "seed-streaming-summary"]
    assert all(r.status == "complete" and r.options["source"]["path"].endswith((".json", ".jsonl")) for r in runs)
    assert not any(math.isnan(float(r.summary.get("n_chunks", 0))) for r in runs)

"""Planted faults the seed never showed us, each on an edited copy of the demo export run by real ONNX Runtime
through `inspector run --batch` (or the engine): the right verdict, and a message naming chunk, tensor and rule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

import onnx_faults
from backends.onnxrt import OrtBackend
from inspector.cli import main
from inspector.engine import ParityEngine, RunSpec
from store import Store
from storebuild import two_stream_store


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--batch", "--no-progress", *args])
    return int(exc.value.code)


def _batch(store: Path, model: Path, tmp: Path, *args: str, contract: str = "demo_streaming") -> tuple[int, dict]:
    rep = tmp / "r.json"
    code = _cli("--store", str(store), "--model", str(model), "--contract", contract, "--backend", "ort-cpu",
                "--report", str(rep), *args)
    return code, (json.loads(rep.read_text()) if rep.exists() else {})


def _verdicts(doc: dict, mode: str = "") -> dict[str, dict]:
    run = next(r for r in doc["runs"] if not mode or r["mode"] == mode)
    return {v["rule"]: v for v in run["verdicts"]}


def test_a_fault_only_on_the_last_chunks_is_found_where_it_starts(demo_artifacts, store_copy, tmp_path):
    bad = tmp_path / "late.onnx"
    onnx_faults.error_on_late_chunks(demo_artifacts.onnx, bad)  # chunks 45..49 only
    code, doc = _batch(store_copy, bad, tmp_path, "--chunks", "30:50", "--mode", "both")
    assert code == 1
    for mode in ("functional", "closed-loop"):
        v = _verdicts(doc, mode)
        assert v["encoder_output_p100"]["status"] == "fail" and v["encoder_output_p100"]["first_failing_chunk"] == 45
        assert "first chunk over the limit: 45" in v["encoder_output_p100"]["message"]
        assert v["outputs"]["status"] == "pass"
    grow = _verdicts(doc, "closed-loop")["no_growth"]
    # a step on the last chunks is not a rising trend; the quantile rules carry the failure and the message says so
    assert grow["status"] == "pass" and "quantile rules" in grow["message"]
    run = doc["runs"][0]
    assert run["tensors"]["encoder_output"]["first_failing_chunk"] == 45
    assert [f["chunk"] for f in run["failures"]] == [45, 46, 47, 48, 49]


def test_slowly_growing_closed_loop_error_fails_no_growth(demo_artifacts, store_copy, tmp_path):
    """A cache output 2e-5 too large, fed back every chunk: the error compounds slowly, stays under P100 and only
    the growth test fails."""
    bad = tmp_path / "grow.onnx"
    onnx_faults.scale_output(demo_artifacts.onnx, bad, "cache_last_channel_out", 1.00002)
    code, doc = _batch(store_copy, bad, tmp_path, "--mode", "closed-loop")
    assert code == 1
    v = _verdicts(doc)
    assert v["encoder_output_p100"]["status"] == "pass"
    g = v["no_growth"]
    assert g["status"] == "fail" and g["tensor"] == "encoder_output" and g["first_failing_chunk"] is not None
    assert "grows with chunk index" in g["message"] and g["details"]["kendall_tau"] > 0.9
    assert v["state_carried"]["status"] == "pass"


@pytest.mark.parametrize("fault", ["encoder_output+5e-5", "cache_last_time_out*1.0001"])
def test_a_constant_small_error_is_not_growth(demo_artifacts, store_copy, tmp_path, fault):
    bad = tmp_path / "const.onnx"
    if "+" in fault:
        onnx_faults.add_constant(demo_artifacts.onnx, bad, "encoder_output", 5e-5)
    else:
        onnx_faults.scale_output(demo_artifacts.onnx, bad, "cache_last_time_out", 1.0001)  # fed back, stays bounded
    code, doc = _batch(store_copy, bad, tmp_path, "--mode", "closed-loop")
    v = _verdicts(doc)
    msg = v["no_growth"]["message"]
    assert v["no_growth"]["status"] == "pass" and ("no growth" in msg or "not growth" in msg), msg
    failing = {rule for rule, verdict in v.items() if verdict["status"] == "fail"}
    if "+" in fault:
        assert code == 0 and not failing
    else:  # the scaled cache is outside its 1e-4 atol on every chunk: a failure, but not growth
        assert code == 1 and failing == {"cache_last_time_out_within_tolerance"}


def test_a_wrong_frame_count_is_named_by_the_invariant(demo_artifacts, store_copy, tmp_path):
    bad = tmp_path / "lengths.onnx"
    onnx_faults.add_constant(demo_artifacts.onnx, bad, "encoded_lengths", 1)
    code, doc = _batch(store_copy, bad, tmp_path, "--chunks", "0:6", "--junit", str(tmp_path / "j.xml"))
    assert code == 1
    v = _verdicts(doc)
    inv = v["invariant:frames_per_chunk"]
    assert inv["status"] == "fail" and inv["first_failing_chunk"] == 0 and inv["tensor"] == "encoded_lengths"
    assert "encoded_lengths = [4]" in inv["message"]
    assert "`encoded_lengths != 3` first held on chunk 0" in v["alarm:tightening"]["message"]
    rec = doc["runs"][0]["chunk_records"][0]
    assert "encoded_lengths" in rec["tensors"] and rec["tensors"]["encoded_lengths"]["passed"] is False
    assert "frames_per_chunk" in rec["invariant_failures"]
    assert "chunk 0, tensor encoded_lengths" in (tmp_path / "j.xml").read_text()


@pytest.mark.parametrize("output, to, want", [
    ("encoder_output", TensorProto.FLOAT16, "float16 in the model but float32"),
    ("encoded_lengths", TensorProto.INT32, "int32 in the model but int64"),
])
def test_an_export_with_other_output_dtypes_does_not_match_its_contract(demo_artifacts, store_copy, tmp_path, capsys,
                                                                        output, to, want):
    bad = tmp_path / "dtype.onnx"
    onnx_faults.cast_output(demo_artifacts.onnx, bad, output, to)
    code, _ = _batch(store_copy, bad, tmp_path)
    assert code == 2
    err = capsys.readouterr().err
    assert f"output '{output}'" in err and want in err and "nothing was run" in err
    assert Store.open(store_copy).runs() == []


class _Reshaping(OrtBackend):
    """ORT on the faithful export whose outputs are then changed on chosen chunks, as a runtime with a different
    engine (a TensorRT plan, a server) could return them: the engine must judge what comes back, not the graph."""

    def __init__(self, model, contract, change):
        super().__init__(model, contract, {"provider": "cpu"})
        self.name = "ort-cpu"
        self.change = change
        self.calls = 0

    def _run_impl(self, feeds):
        out = super()._run_impl(feeds)
        self.change(self.calls, out)
        self.calls += 1
        return out


def _engine_run(store_path, contract, backend, chunks=range(6), mode="functional"):
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, contract, backend.model)
    stream = eng.resolve_stream(None)
    with backend:
        return eng.run(RunSpec("ort-cpu", mode, stream, eng.resolve_chunks(stream, list(chunks))), backend)


def _verdict(res, rule):
    return next(v for v in res.verdicts if v.rule == rule)


def test_outputs_of_the_wrong_dtype_at_run_time_fail_the_outputs_rule(demo_artifacts, store_copy, demo_contract):
    def change(i, out):
        if i >= 2:
            out["encoded_lengths"] = out["encoded_lengths"].astype(np.int32)
            out["encoder_output"] = out["encoder_output"].astype(np.float16)

    res = _engine_run(store_copy, demo_contract, _Reshaping(demo_artifacts.onnx, demo_contract, change))
    v = _verdict(res, "outputs")
    assert not v and v.first_failing_chunk == 2 and v.tensor == "encoder_output"
    assert "wrong dtype" in v.message and "float16 where the contract says float32" in v.message
    assert "encoded_lengths wrong dtype" in v.message
    rec = res.records[2]
    assert not rec["passed"] and set(rec["failed_tensors"]) >= {"encoder_output", "encoded_lengths"}
    assert "int32 where the contract says int64" in rec["tensors"]["encoded_lengths"]["message"]
    assert all(r["passed"] for r in res.records[:2])


def test_a_missing_or_extra_output_is_named_with_its_chunk(demo_artifacts, store_copy, demo_contract):
    def change(i, out):
        if i == 3:
            del out["cache_last_time_out"]  # an output no acceptance rule covers: only `outputs` can fail the run
        out["debug_tensor"] = np.zeros(2, np.float32)

    res = _engine_run(store_copy, demo_contract, _Reshaping(demo_artifacts.onnx, demo_contract, change))
    v = _verdict(res, "outputs")
    assert not v and v.first_failing_chunk == 3 and v.tensor == "cache_last_time_out"
    assert "cache_last_time_out missing on 1 of 6 chunks (first chunk 3)" in v.message
    assert "debug_tensor not in the contract" in v.message
    assert not res.passed and _verdict(res, "encoder_output_p100")  # the frames were right: only `outputs` fails
    only_extra = _engine_run(store_copy, demo_contract, _Reshaping(
        demo_artifacts.onnx, demo_contract, lambda i, out: out.update(debug_tensor=np.zeros(1))))
    # an extra output breaks nothing the contract requires: a pass that names it (not a hidden warning)
    extra = _verdict(only_extra, "outputs")
    assert extra.status == "pass" and "debug_tensor, which the contract does not list" in extra.message
    assert only_extra.passed


def test_an_output_with_another_shape_on_one_chunk(demo_artifacts, store_copy, tmp_path):
    bad = tmp_path / "short.onnx"
    onnx_faults.short_frames_on_chunk(demo_artifacts.onnx, bad)  # chunk 34 returns 2 frames
    code, doc = _batch(store_copy, bad, tmp_path, "--chunks", "30:40", "--markdown", str(tmp_path / "s.md"))
    assert code == 1
    v = _verdicts(doc)
    assert v["outputs"]["first_failing_chunk"] == 34 and v["outputs"]["tensor"] == "encoder_output"
    assert "shape [1, 64, 2] differs from the reference's [1, 64, 3]" in v["outputs"]["message"]
    assert v["invariant:frames_shape"]["first_failing_chunk"] == 34
    assert v["encoder_output_p100"]["value"] == "inf" and v["encoder_output_p100"]["first_failing_chunk"] == 34
    md = (tmp_path / "s.md").read_text()
    assert "| ✗ FAIL | outputs | encoder_output | 34 |" in md


def test_infinite_outputs_fail_with_the_chunk_and_tensor(demo_artifacts, store_copy, tmp_path):
    bad = tmp_path / "inf.onnx"
    onnx_faults.inf_on_chunk(demo_artifacts.onnx, bad)  # +inf on chunk 20
    code, doc = _batch(store_copy, bad, tmp_path, "--chunks", "15:25", "--mode", "both")
    assert code == 1
    for mode in ("functional", "closed-loop"):
        v = _verdicts(doc, mode)
        assert v["invariant:finite_encoder_output"]["first_failing_chunk"] == 20
        assert "192 infinite" in v["invariant:finite_encoder_output"]["message"]
        assert v["outputs"]["first_failing_chunk"] == 20 and "non-finite" in v["outputs"]["message"]
    rec = next(r for r in doc["runs"][0]["chunk_records"] if r["chunk"] == 20)
    t = rec["tensors"]["encoder_output"]
    assert t["nonfinite_out"] == 192 and t["nonfinite_ref"] == 0 and t["max_abs"] is None


def test_nemo_output_names_are_a_contract_mismatch_with_a_clear_error(demo_artifacts, store_copy, tmp_path, capsys):
    bad = tmp_path / "nemo-names.onnx"
    onnx_faults.rename_outputs(demo_artifacts.onnx, bad, {"encoder_output": "outputs",
                                                          "cache_last_channel_out": "cache_last_channel_next"})
    code, _ = _batch(store_copy, bad, tmp_path, "--mode", "closed-loop")
    assert code == 2
    err = capsys.readouterr().err
    assert "no output 'encoder_output'" in err and "'outputs', NeMo's export name" in err
    assert "inspector contract check" in err
    assert Store.open(store_copy).runs() == []


def test_ort_backend_refuses_a_model_missing_a_contract_output(demo_artifacts, demo_contract, tmp_path):
    from backends.base import BackendError, make_backend

    bad = tmp_path / "dropped.onnx"
    onnx_faults.drop_output(demo_artifacts.onnx, bad, "cache_last_time_out")
    with pytest.raises(BackendError, match=r"no output\(s\) \['cache_last_time_out'\]"):
        make_backend("ort-cpu", bad, demo_contract).activate()
    renamed = tmp_path / "renamed.onnx"
    onnx_faults.rename_outputs(demo_artifacts.onnx, renamed, {"encoder_output": "outputs"})
    with pytest.raises(BackendError, match="NeMo's export names \\('outputs' for 'encoder_output'\\)"):
        make_backend("ort-cpu", renamed, demo_contract).activate()


def test_the_star_tolerance_applies_to_an_output_the_contract_does_not_list(demo_artifacts, store_copy,
                                                                          demo_contract):
    from contracts.model import Tolerance

    default = demo_contract.tolerance_set("ort-cpu", "fp32")
    per = {k: v for k, v in default.per_output.items() if k != "cache_last_time_out"}
    star = dataclasses.replace(demo_contract, tolerances=(dataclasses.replace(
        default, per_output={**per, "*": Tolerance(atol=3e-4)}),))
    res = _engine_run(store_copy, star, OrtBackend(demo_artifacts.onnx, star, {"provider": "cpu"}))
    t = res.records[0]["tensors"]
    assert t["cache_last_time_out"]["atol"] == 3e-4 and t["encoder_output"]["atol"] == 1e-4
    assert t["encoded_lengths"]["atol"] == 3e-4  # "*" covers every unlisted output, integers included
    assert res.passed
    none = dataclasses.replace(demo_contract, tolerances=(dataclasses.replace(default, per_output=per),))
    exact = _engine_run(store_copy, none, OrtBackend(demo_artifacts.onnx, none, {"provider": "cpu"}))
    msg = next(r for r in exact.records if not r["tensors"]["cache_last_time_out"]["passed"])
    assert "compared exactly: the contract gives cache_last_time_out no tolerance" in \
        msg["tensors"]["cache_last_time_out"]["message"]


def test_a_single_chunk_stream_says_not_enough_chunks(demo_artifacts, store_copy, tmp_path):
    """One chunk shows neither growth nor carried state: undetermined (exit 3), never a pass."""
    code, doc = _batch(store_copy, demo_artifacts.onnx, tmp_path, "--chunks", "7:8", "--mode", "closed-loop")
    assert code == 3
    v = _verdicts(doc)
    assert v["no_growth"]["status"] == "undetermined" and "not enough chunks" in v["no_growth"]["message"]
    assert v["state_carried"]["status"] == "undetermined" and "not enough chunks" in v["state_carried"]["message"]
    assert v["state_trajectory"]["status"] == "undetermined"
    assert "chunk 7: 19 -> 22" in v["state_trajectory"]["message"]


@pytest.mark.parametrize("chunks, needle", [
    ("60:70", "10 chunk(s) the store does not have (60..69); it has chunks 0..49"),
    ("45:60", "(50..59)"),
    ("55", "(55)"),
    ("5:5", "selects no chunk"),
])
def test_a_chunk_range_outside_the_store_is_bad_input(demo_artifacts, store_copy, tmp_path, capsys, chunks, needle):
    code, _ = _batch(store_copy, demo_artifacts.onnx, tmp_path, "--chunks", chunks)
    assert code == 2
    assert needle in capsys.readouterr().err
    assert Store.open(store_copy).runs() == []


def test_a_store_with_two_streams_runs_both_or_the_one_asked_for(demo_artifacts, tmp_path, capsys):
    store = two_stream_store(demo_artifacts.store, tmp_path / "two.zarr")
    code, doc = _batch(store, demo_artifacts.onnx, tmp_path)  # every stream by default: the fault in utt-b counts
    assert code == 1 and [r["stream"] for r in doc["runs"]] == ["utt-a", "utt-b"]
    assert "2 run(s) over 2 stream(s)" in capsys.readouterr().err
    code, doc = _batch(store, demo_artifacts.onnx, tmp_path, "--stream", "utt-a")
    assert code == 0 and [r["stream"] for r in doc["runs"]] == ["utt-a"]
    code, doc = _batch(store, demo_artifacts.onnx, tmp_path, "--stream", "utt-b", "--junit", str(tmp_path / "j.xml"))
    assert code == 1 and doc["runs"][0]["stream"] == "utt-b"
    assert _verdicts(doc)["encoder_output_p100"]["first_failing_chunk"] == 3
    assert '<property name="stream" value="utt-b"' in (tmp_path / "j.xml").read_text()


def test_backend_against_a_baseline_backend(demo_artifacts, store_copy, tmp_path, capsys):
    """ORT against ORT on the same feeds: bit-identical, whatever the reference says; the report says what the
    comparison was against, and the log says it proves little."""
    bad = tmp_path / "late.onnx"
    onnx_faults.error_on_late_chunks(demo_artifacts.onnx, bad)
    code, doc = _batch(store_copy, bad, tmp_path, "--baseline", "ort-cpu", "--chunks", "40:50", "--mode", "both")
    assert code == 0  # the same faulty model on both sides: the fault is invisible to a backend-vs-backend run
    for run in doc["runs"]:
        assert run["baseline"] == "ort-cpu" and run["baseline_info"]["runtime"] == "onnxruntime"
        assert run["tensors"]["encoder_output"]["max_abs_max"] == 0.0
    assert "both a backend and the baseline" in capsys.readouterr().err

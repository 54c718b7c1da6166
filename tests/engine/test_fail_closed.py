"""Every way a check can silently not happen, planted on the real engine, store, export and importers: each must end
non-green (undetermined or failed) with its reason in the verdict, the run's record and the exit code (issue 13).

A probe that raises, a hook that raises (on a chunk, or while judging), the state package missing, a closed loop
without state hooks, a rule over an empty tensor, a rule whose tensor never appears, an unknown acceptance kind, an
imported closed-loop report without cache lengths, a run over zero chunks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.base import make_backend
from inspector.acceptance import RunContext, evaluate_run, run_outcome
from inspector.engine import ChunkHook, ParityEngine, RunSpec
from inspector.state.probe import StateProbeHook
from store import Store

IMPORT_DATA = Path(__file__).parent.parent / "importers" / "data"


def _run(store_path: Path, contract: Any, model: Path, mode: str, hooks=(), chunks: str = "0:12"):
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, contract, model, hooks=list(hooks))
    stream = eng.resolve_stream(None)
    spec = RunSpec("ort-cpu", mode, stream, eng.resolve_chunks(stream, chunks))
    with make_backend("ort-cpu", model, contract, {}) as be:
        return eng.run(spec, be), st


def _v(result, rule: str):
    return next(v for v in result.verdicts if v.rule == rule)


def _stored(st: Store, result, rule: str) -> dict:
    """The verdict as the store's run record keeps it (what the app and later reports read)."""
    summary = st.run(result.run_id).record.summary
    return next(v for v in summary["verdicts"] if v["rule"] == rule)


class _ExplodingProbe(StateProbeHook):
    """The real state hooks, whose sensitivity probe raises (a backend that rejects the probe's feeds)."""

    def probe(self, event, cache_rows=None):  # noqa: ANN001 — the hook's own signature
        raise RuntimeError("probe exploded on purpose")


class _BrokenRecorder(StateProbeHook):
    """The real state hooks, whose trajectory recorder raises on one chunk."""

    def record(self, event):  # noqa: ANN001
        if event.index == 4:
            raise KeyError("cache_last_channel_len_out")
        return super().record(event)


class _RaisesOnChunk(ChunkHook):
    name = "flaky"

    def chunk(self, event):  # noqa: ANN001
        if event.index == 2:
            raise ValueError("recorder broke on chunk 2")
        return {"seen": event.index}


class _RaisesWhileJudging(ChunkHook):
    name = "judge-breaker"

    def verdicts(self, records, run):  # noqa: ANN001
        raise ZeroDivisionError("no chunks to average")


def test_a_probe_that_raises_leaves_state_carried_undetermined(demo_artifacts, store_copy, demo_contract):
    res, st = _run(store_copy, demo_contract, demo_artifacts.onnx, "closed-loop", [_ExplodingProbe()])
    v = _v(res, "state_carried")
    assert v.status == "undetermined" and v.required and not v
    assert "RuntimeError: probe exploded on purpose" in v.message
    assert res.outcome == "undetermined" and not res.passed
    stored = _stored(st, res, "state_carried")
    assert stored["status"] == "undetermined" and "probe exploded on purpose" in stored["message"]
    probed = [r for r in res.records if "probe" in r["extra"]["state"]]
    assert probed and all("RuntimeError" in r["extra"]["state"]["probe"]["error"] for r in probed)


def test_a_trajectory_recorder_that_raises_on_one_chunk_cannot_pass_state_carried(demo_artifacts, store_copy,
                                                                                 demo_contract):
    res, st = _run(store_copy, demo_contract, demo_artifacts.onnx, "closed-loop", [_BrokenRecorder()])
    hook = _v(res, "hook:state")
    assert hook.status == "undetermined" and hook.first_failing_chunk == 4 and "KeyError" in hook.message
    assert _v(res, "state_carried").status == "undetermined"
    assert "the state hook raised on 1 chunk(s)" in _v(res, "state_carried").message
    assert res.outcome == "undetermined"
    assert "KeyError" in res.records[4]["extra"]["state"]["error"]  # the chunk's record keeps the exception


def test_a_hook_that_raises_on_a_chunk_or_while_judging_is_undetermined(demo_artifacts, store_copy, demo_contract):
    res, st = _run(store_copy, demo_contract, demo_artifacts.onnx, "functional",
                   [_RaisesOnChunk(), _RaisesWhileJudging()], chunks="0:6")
    flaky, judge = _v(res, "hook:flaky"), _v(res, "hook:judge-breaker")
    assert flaky.status == judge.status == "undetermined" and not flaky and not judge
    assert "ValueError: recorder broke on chunk 2" in flaky.message and flaky.first_failing_chunk == 2
    assert "ZeroDivisionError: no chunks to average" in judge.message
    assert res.outcome == "undetermined"
    # every other rule still ran and passed: the hooks' failures are the only reason
    assert all(v.status in ("pass", "info") for v in res.verdicts if not v.rule.startswith("hook:"))
    assert _stored(st, res, "hook:flaky")["status"] == "undetermined"
    assert res.records[2]["extra"]["flaky"] == {"error": "ValueError: recorder broke on chunk 2"}


def test_a_closed_loop_without_state_hooks_is_undetermined(demo_artifacts, store_copy, demo_contract):
    res, _ = _run(store_copy, demo_contract, demo_artifacts.onnx, "closed-loop", hooks=(), chunks="0:10")
    v = _v(res, "state_carried")
    assert v.status == "undetermined" and v.required and "state hooks" in v.message
    assert res.outcome == "undetermined"


def test_the_state_package_missing_stops_a_closed_loop_batch(demo_artifacts, store_copy, monkeypatch):
    """The state checks are part of the closed loop: without them the batch raises, it never runs (and passes) a
    closed loop unchecked."""
    from inspector.batch import run_batch

    from inspector.errors import InspectorError

    monkeypatch.setitem(sys.modules, "inspector.state", None)
    with pytest.raises(InspectorError, match="state checks .* cannot be imported"):
        run_batch(store=store_copy, model=demo_artifacts.onnx, contract="demo_streaming", backends=["ort-cpu"],
                  modes=["closed-loop"], chunks="0:4", progress=False, log=lambda _m: None)
    assert not [r for r in Store.open(store_copy).runs() if r.status == "complete"]


def _judge_chunks(store_path: Path, contract: Any, n: int, empty: str) -> list[dict]:
    """Chunk records made by the engine's own judge from the reference's tensors, with `empty` emptied on both
    sides (the model returned, and the reference holds, zero frames)."""
    from inspector.engine import ChunkJudge, ChunkJob, load_chunk

    st = Store.open(store_path)
    stream = st.streams()[0]
    judge = ChunkJudge(contract, "functional", "ort-cpu", "fp32", stream)
    records = []
    for i in range(n):
        ref = load_chunk(st, contract, stream, i)
        outputs = dict(ref.outputs)
        shape = list(outputs[empty].shape)
        shape[-1] = 0
        outputs[empty] = np.zeros(shape, outputs[empty].dtype)
        records.append(judge.judge(ChunkJob(i, ref.inputs, outputs, outputs, None, 0.001, {})))
    return records


def test_a_rule_over_an_empty_tensor_is_undetermined(store_copy, demo_contract):
    records = _judge_chunks(store_copy, demo_contract, 10, "encoder_output")
    assert records[0]["tensors"]["encoder_output"]["size"] == 0
    assert records[0]["invariants"]["finite_encoder_output"]["undecided"] is True
    verdicts = {v.rule: v for v in evaluate_run(records, RunContext(demo_contract, "functional", "ort-cpu"))}
    for rule in ("encoder_output_p95", "encoder_output_p100", "invariant:finite_encoder_output"):
        assert verdicts[rule].status == "undetermined" and not verdicts[rule], rule
        assert "empty" in verdicts[rule].message
    # the informational pass rate (threshold 0) is decided either way, and says its chunks were empty
    rate = verdicts["encoder_output_pass_rate"]
    assert rate.status == "info" and not rate.required and "was empty on chunks 0, 1" in rate.message
    assert verdicts["invariant:frames_shape"].status == "fail"  # shape(encoder_output, 2) == 3 still decides


def test_a_metric_that_raises_leaves_its_rule_undetermined(store_copy, demo_contract):
    """A comparison kernel that raises on one chunk's tensor: that chunk has no figure (the exception kept in its
    record), and the rule over it cannot be decided, where before the run would have stopped or the chunk passed."""
    from inspector.engine import ChunkJudge, ChunkJob, load_chunk
    from inspector.metrics import register_kernel

    st = Store.open(store_copy)
    stream = st.streams()[0]
    judge = ChunkJudge(demo_contract, "functional", "ort-cpu", "fp32", stream)
    planted: list[Any] = []

    def kernel(reference, candidate, settings, name):  # noqa: ANN001 — `inspector.metrics.Kernel`
        raise RuntimeError("kernel ran out of scratch memory")

    remove = register_kernel(lambda ref, cand: any(cand is p for p in planted), kernel)
    try:
        records = []
        for i in range(6):
            ref = load_chunk(st, demo_contract, stream, i)
            outputs = dict(ref.outputs)
            if i == 3:
                outputs["cache_last_time_out"] = outputs["cache_last_time_out"].copy()
                planted.append(outputs["cache_last_time_out"])
            records.append(judge.judge(ChunkJob(i, ref.inputs, outputs, ref.outputs, None, 0.001, {})))
    finally:
        remove()
    t = records[3]["tensors"]["cache_last_time_out"]
    assert t["determined"] is False and "RuntimeError: kernel ran out of scratch memory" in t["message"]
    verdicts = {v.rule: v for v in evaluate_run(records, RunContext(demo_contract, "functional", "ort-cpu"))}
    v = verdicts["cache_last_time_out_within_tolerance"]
    assert v.status == "undetermined" and not v
    assert "no figure on chunk 3" in v.message and "kernel ran out of scratch memory" in v.message
    assert run_outcome(verdicts.values()) == "undetermined"


def test_a_rule_whose_tensor_never_appears_is_undetermined(cli_main, tmp_path):
    """A contract rule on a tensor the imported report never mentions: undecided, exit 3, never a pass."""
    doc = json.loads((IMPORT_DATA / "seed_trt_test.contract.json").read_text())
    doc["acceptance"].append({"id": "cache_time_p100", "kind": "quantile", "tensor": "cache_last_time_out",
                              "metric": "max_abs", "q": 100, "threshold": 1e-3})
    contract = tmp_path / "c.contract.json"
    contract.write_text(json.dumps(doc))
    out = tmp_path / "v.json"
    # Everything else this report cannot show is accepted explicitly, so the new rule is the only open one.
    others = ["state_carried", "invariants", *(f"invariant:{i['id']}" for i in doc["invariants"])]
    code, _out, err = cli_main("import-run", IMPORT_DATA / "trt_fp32_tf32off.json", "--store", _empty_store(tmp_path),
                               "--contract", contract, *(a for r in others for a in ("--allow-undetermined", r)),
                               "--json", out)
    verdicts = {v["rule"]: v for v in json.loads(out.read_text())["verdicts"]}
    assert verdicts["cache_time_p100"]["status"] == "undetermined"
    assert "never appeared" in verdicts["cache_time_p100"]["message"]
    assert code == 3 and "1 required rule(s) cannot be decided from this file: cache_time_p100." in err


def test_an_unknown_acceptance_kind_is_bad_input_naming_the_key(cli_main, demo_artifacts, store_copy, tmp_path):
    doc = json.loads(Path(demo_artifacts.contract).read_text())
    doc["acceptance"][1]["kind"] = "quantille"
    contract = tmp_path / "typo.contract.json"
    contract.write_text(json.dumps(doc))
    code, _out, err = cli_main("run", "--batch", "--no-progress", "--store", store_copy, "--model",
                               demo_artifacts.onnx, "--contract", contract, "--backend", "ort-cpu")
    assert code == 2 and "acceptance[1].kind" in err and "did you mean 'quantile'" in err
    assert not Store.open(store_copy).runs()
    code, _out, err = cli_main("import-run", IMPORT_DATA / "trt_fp16.json", "--store", _empty_store(tmp_path),
                               "--contract", contract)
    assert code == 2 and "acceptance[1].kind" in err


def test_an_unknown_kind_built_in_code_is_never_a_pass(demo_contract):
    import dataclasses

    odd = dataclasses.replace(demo_contract.acceptance[0], id="odd", kind="median")  # type: ignore[arg-type]
    contract = dataclasses.replace(demo_contract, acceptance=(odd,), invariants=())
    rec = {"chunk": 0, "status": "ok", "passed": True, "tensors": {}, "invariants": {}}
    verdicts = {v.rule: v for v in evaluate_run([rec], RunContext(contract, "functional", "ort-cpu"))}
    assert verdicts["odd"].status == "undetermined" and "unknown acceptance kind" in verdicts["odd"].message


def test_an_imported_closed_loop_report_without_cache_lengths_exits_3(cli_main, tmp_path):
    code, out, err = cli_main("import-run", IMPORT_DATA / "trt_fp32_tf32off.json", "--store",
                              _empty_store(tmp_path), "--contract", IMPORT_DATA / "seed_trt_test.contract.json")
    assert code == 3 and "UNDETERMINED" in out
    assert "state_carried" in err and "inspector run --batch --mode closed-loop" in err


def test_a_run_over_zero_chunks_is_undetermined(demo_contract):
    verdicts = evaluate_run([], RunContext(demo_contract, "functional", "ort-cpu", check_outputs=True))
    assert run_outcome(verdicts) == "undetermined"
    assert {v.status for v in verdicts if v.required} == {"undetermined"}
    assert run_outcome([]) == "undetermined"


def _empty_store(tmp_path: Path) -> Path:
    path = tmp_path / f"imports-{len(list(tmp_path.iterdir()))}.zarr"
    Store.create(path)
    return path


@pytest.fixture
def cli_main(capsys):
    """`inspector ARGS…` in-process through the real entry point: (exit code, stdout, stderr)."""
    from inspector.cli import main

    def run(*args: Any) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        return int(exc.value.code or 0), captured.out, captured.err

    return run

"""`inspector attribute` on planted causes (tiny NeMo model, ONNX Runtime CPU, the demo contract).

The demo contract's tolerances (atol 1e-4 on the float outputs) are tight enough: the faithful export's errors are
~1e-6, float16 rounding of every MatMul/Conv input gives ~1e-3 on every output, the 1.01 weight scale ~3e-3 on
encoder_output only.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from inspector.attribution.attribute import attribute_chunk, attribute_run_failure

CHUNK = 5


def _attribute(demo, model, chunk=CHUNK, **kw):
    from store import Store

    return attribute_chunk(Store.open(demo.store), demo.contract, model, "ort-cpu", chunk, **kw)


def _step(report, key):
    return next(s for s in report.steps if s.step.key == key)


def test_float16_math_is_precision_and_the_upcast_step_passes(demo, planted):
    rep = _attribute(demo, planted["precision"], bisect=False)
    assert rep.verdict.kind == "precision" and rep.verdict.switch == "float16 math"
    assert rep.verdict.short == "precision: float16 math" and rep.exit_code == 0
    as_run, up = _step(rep, "as-run"), _step(rep, "upcast")
    assert as_run.status == "fail" and set(as_run.record["failed_tensors"]) >= {"encoder_output",
                                                                                 "cache_last_channel_out"}
    assert up.status == "pass" and up.max_abs("encoder_output") < 1e-5
    assert "Cast round trips removed" in up.step.change
    assert _step(rep, "switches-off").status == "skipped"  # ort-cpu has no TF32
    assert rep.verdict.before > 1e-4 > rep.verdict.after
    assert "with the model upcast to FP32, within tolerance" in rep.verdict.summary
    # closed loop: each step rebuilt its own state from chunk 0, and says so
    assert "closed loop from chunk 0" in up.state and as_run.failed_before == tuple(range(CHUNK))


def test_a_scaled_weight_is_a_bug_and_points_to_triage(demo, planted):
    rep = _attribute(demo, planted["bug"])
    assert rep.verdict.kind == "bug" and rep.verdict.short == "bug: see triage" and rep.exit_code == 0
    assert _step(rep, "upcast").status == "skipped"
    assert "already FP32" in _step(rep, "upcast").error
    assert rep.verdict.tensor == "encoder_output" and rep.verdict.before > 1e-3
    assert f"inspector triage --store {demo.store}" in rep.verdict.triage and f"--chunk {CHUNK}" in rep.verdict.triage
    assert rep.bisection is None


def test_both_at_once_is_mixed_with_both_figures(demo, planted):
    rep = _attribute(demo, planted["mixed"])
    assert rep.verdict.kind == "mixed" and rep.verdict.switch == "float16 math" and rep.exit_code == 0
    up = _step(rep, "upcast")
    assert up.status == "fail" and up.record["failed_tensors"] == ["encoder_output"]
    assert up.tensor("cache_last_channel_out")["passed"]  # the part precision explains
    s = rep.verdict.summary
    assert "cache_last_channel_out" in s and "within tolerance" in s and "encoder_output" in s and "still above" in s
    assert rep.verdict.triage


def test_the_faithful_export_passes_and_nothing_is_attributed(demo):
    rep = _attribute(demo, demo.onnx, chunk=2)
    assert rep.verdict.kind == "pass" and rep.exit_code == 0


def test_as_run_takes_the_state_from_a_recorded_run_with_saved_outputs(demo, planted, tmp_path):
    from backends.base import make_backend
    from inspector.engine import ParityEngine, RunSpec
    from store import Store

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    st = Store.open(store_path, "a")
    eng = ParityEngine(st, demo.contract, planted["precision"])
    with make_backend("ort-cpu", planted["precision"], demo.contract) as be:
        res = eng.run(RunSpec("ort-cpu", "closed-loop", demo.stream, tuple(range(CHUNK + 1)), save_outputs=True), be)
    recorded = res.records[CHUNK]["tensors"]["encoder_output"]["max_abs"]
    rep = attribute_chunk(Store.open(store_path), demo.contract, planted["precision"], "ort-cpu", CHUNK, bisect=False)
    as_run = _step(rep, "as-run")
    assert as_run.state.startswith(f"recorded run {res.run_id}") and rep.recorded_run == res.run_id
    assert as_run.max_abs("encoder_output") == pytest.approx(recorded, rel=1e-6)
    assert "closed loop from chunk 0" in _step(rep, "upcast").state  # stricter steps still use their own state


def test_run_failure_entry_point_attributes_the_first_failing_chunk(demo, planted):
    from store import Store

    records = [{"chunk": 0, "passed": True}, {"chunk": 1, "passed": True}, {"chunk": 2, "passed": False}]
    doc = attribute_run_failure(Store.open(demo.store), demo.contract, planted["bug"], backend="ort-cpu", options={},
                                mode="closed-loop", stream=demo.stream, records=records)
    assert doc["chunk"] == 2 and doc["verdict"]["short"] == "bug: see triage"
    assert attribute_run_failure(Store.open(demo.store), demo.contract, planted["bug"], backend="ort-cpu",
                                 options={}, mode="closed-loop", stream=demo.stream, records=records[:2]) is None
    imported = attribute_run_failure(Store.open(demo.store), demo.contract, None, backend="ort-cpu", options={},
                                     mode="imported", stream=demo.stream, records=records)
    assert imported["verdict"]["kind"] == "undetermined" and "imported" in imported["verdict"]["summary"]


def test_bisection_finds_a_small_one_minimal_set_of_fp32_nodes(demo, planted, tmp_path):
    """At atol 6e-4 (functional chunk 5) float16 rounding of every MatMul/Conv input fails, and a few nodes kept in
    FP32 make it pass: the set found passes, and dropping any one of its nodes fails (checked by fresh runs)."""
    from contracts.model import Tolerance
    from inspector.attribution.ladder import Step, Target, run_step
    from inspector.attribution.upcast import candidate_nodes, emulate_reduced_precision, load_model, save_model
    from store import Store

    ts = demo.contract.tolerances[0]
    loose = {k: Tolerance(6e-4) for k in ("encoder_output", "cache_last_channel_out", "cache_last_time_out")}
    con = dataclasses.replace(demo.contract, tolerances=(dataclasses.replace(
        ts, per_output={**ts.per_output, **loose}),))
    rep = attribute_chunk(Store.open(demo.store), con, planted["precision"], "ort-cpu", CHUNK, mode="functional",
                          max_probes=200)
    assert rep.verdict.short == "precision: float16 math"
    bis = rep.bisection
    assert bis is not None and bis.found and bis.minimal and bis.backend == "ort-cpu"
    model = load_model(demo.onnx)
    assert 0 < len(bis.nodes) < len(candidate_nodes(model)) // 2
    assert bis.polygraphy().startswith("--precision-constraints obey --layer-precisions ")
    assert all(f"{n}:float32" in bis.polygraphy() for n in bis.nodes)
    assert bis.node_block_list() == f"node_block_list={list(bis.nodes)!r}"

    target = Target(Store.open(demo.store), con, demo.stream, CHUNK, "functional", "ort-cpu", {}, None)

    def status(keep, path):
        save_model(emulate_reduced_precision(model, keep=keep), path)
        return run_step(target, Step("check", "ort-cpu", {}, path)).status

    assert status(bis.nodes, tmp_path / "keep.onnx") == "pass"
    for n in bis.nodes:
        assert status([x for x in bis.nodes if x != n], tmp_path / "drop.onnx") == "fail", n


def test_cli_writes_the_verdict_and_exits_0_2_3(demo, planted, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    out = tmp_path / "attr.json"
    args = ["attribute", "--store", str(demo.store), "--contract", str(demo.contract.source or "demo_streaming"),
            "--backend", "ort-cpu", "--chunk", "3", "--no-bisect"]
    r = CliRunner().invoke(cli, [*args, "--model", str(planted["precision"]), "--json", str(out)],
                           standalone_mode=False)
    assert r.exception is None and r.return_value == 0, r.output
    assert "verdict: precision: float16 math" in r.output
    doc = json.loads(out.read_text())
    assert doc["verdict"]["kind"] == "precision" and [s["key"] for s in doc["steps"]] == [
        "as-run", "switches-off", "upcast", "strict-cpu"]
    assert doc["steps"][2]["tensors"]["encoder_output"]["passed"] is True

    from inspector.cli import main

    with pytest.raises(SystemExit) as bad:
        main([*args[:-3], "--chunk", "999", "--model", str(planted["precision"])])
    assert bad.value.code == 2


def test_a_step_that_cannot_run_makes_the_verdict_undetermined(demo, planted):
    from backends.base import availability

    if availability("ort-cuda"):
        pytest.skip("ort-cuda runs here: this test needs a backend that cannot run")
    rep = attribute_chunk(__import__("store").Store.open(demo.store), demo.contract, planted["bug"], "ort-cuda",
                          CHUNK, bisect=False)
    assert rep.verdict.kind == "undetermined" and rep.exit_code == 3
    assert "could not be run" in rep.verdict.summary and "ort-cuda" in rep.verdict.summary


def test_upcast_is_exact_on_round_trips_and_types_a_real_fp16_export_back_to_fp32(demo, planted, tmp_path):
    import onnx
    import onnxruntime as ort

    from backends.fp16_onnx import convert_to_fp16
    from inspector.attribution.upcast import load_model, precision_of, save_model, upcast
    from store import Store

    ref = Store.open(demo.store).chunk(demo.stream, CHUNK)
    feeds = ref.inputs()

    def run(path):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {n: feeds[n] for n in names})))

    base = run(demo.onnx)
    assert precision_of(load_model(demo.onnx)).is_fp32
    p = precision_of(load_model(planted["precision"]))
    assert not p.is_fp32 and p.round_trips > 0 and p.label == "float16 math"
    up, rep = upcast(load_model(planted["precision"]))
    assert rep.round_trips_removed == p.round_trips and precision_of(up).is_fp32
    save_model(up, tmp_path / "up.onnx")
    got = run(tmp_path / "up.onnx")
    for k, v in base.items():
        np.testing.assert_array_equal(got[k], v)  # the round trips were the only change

    half = convert_to_fp16(demo.onnx, tmp_path / "half.onnx")  # onnxconverter-common's FP16, float32 I/O kept
    hp = precision_of(load_model(half))
    assert hp.float16_initializers > 0 and not hp.io
    up2, rep2 = upcast(load_model(half))
    assert precision_of(up2).is_fp32 and rep2.initializers == hp.float16_initializers
    save_model(up2, tmp_path / "half-up.onnx")
    m = onnx.load(str(tmp_path / "half-up.onnx"))
    assert [i.type.tensor_type.elem_type for i in m.graph.input] == \
        [i.type.tensor_type.elem_type for i in onnx.load(str(demo.onnx)).graph.input]
    got2 = run(tmp_path / "half-up.onnx")
    assert np.abs(got2["encoder_output"] - base["encoder_output"]).max() < 5e-2  # weights stay float16-rounded


def test_demo_examples_are_recorded_labelled_and_attributed(demo, tmp_path):
    from inspector.attribution.planted import record_examples
    from store import Store

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    lines: list[str] = []
    got = record_examples(store_path, demo.onnx, demo.contract, tmp_path, say=lines.append)
    assert [g["example"] for g in got] == ["float16-math", "scaled-weight"]
    assert not any(g["passed"] for g in got)
    assert [g["verdict"]["verdict"]["short"] for g in got] == ["precision: float16 math", "bug: see triage"]
    runs = {r.run_id: r for r in Store.open(store_path).runs()}
    for g in got:
        rec = runs[g["run_id"]]
        assert rec.status == "complete" and rec.summary["example"].startswith("planted example:")
        assert rec.summary["attribution"]["verdict"]["short"] == g["verdict"]["verdict"]["short"]
        assert rec.summary["passed"] is False and rec.model.endswith(f"example-{g['example']}.onnx")
    assert any("attributed: precision: float16 math" in line for line in lines)
    again = record_examples(store_path, demo.onnx, demo.contract, tmp_path)  # a rerun re-judges, adds no run
    assert [a["run_id"] for a in again] == [g["run_id"] for g in got] and len(Store.open(store_path).runs()) == 2


def test_a_batch_report_gets_each_failing_runs_verdict(demo, planted, tmp_path):
    """What `run --batch --attribute` adds to the report document: the first failing chunk's verdict per run."""
    from backends.base import make_backend
    from inspector.attribution.attribute import annotate_report
    from inspector.engine import ParityEngine, RunSpec
    from inspector.reports.json_report import build_report
    from store import Store

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    st = Store.open(store_path, "a")
    results = []
    for model in (demo.onnx, planted["precision"]):
        eng = ParityEngine(st, demo.contract, model)
        with make_backend("ort-cpu", model, demo.contract) as be:
            results.append(eng.run(RunSpec("ort-cpu", "closed-loop", demo.stream, tuple(range(4))), be))
    doc = build_report(results[1:], contract=demo.contract, model=planted["precision"], store=store_path)
    good = build_report(results[:1], contract=demo.contract, model=demo.onnx, store=store_path)
    annotate_report(doc, st, demo.contract, planted["precision"])
    annotate_report(good, st, demo.contract, demo.onnx)
    (run,) = doc["runs"]
    assert run["attribution"]["chunk"] == 0 and run["attribution_short"] == "FAIL — precision: float16 math"
    assert "attribution" not in good["runs"][0]  # nothing failed (a 4-chunk run may be undetermined, not failing)


def test_run_batch_attribute_puts_the_verdict_in_every_report(demo, planted, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    store_path = tmp_path / "store"
    shutil.copytree(demo.store, store_path)
    rep, junit, md = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "s.md"
    r = CliRunner().invoke(cli, ["run", "--batch", "--store", str(store_path), "--model", str(planted["precision"]),
                                 "--contract", str(demo.contract.source), "--backend", "ort-cpu", "--mode",
                                 "closed-loop", "--chunks", "0:4", "--attribute", "--report", str(rep), "--junit",
                                 str(junit), "--markdown", str(md)])
    assert r.exit_code == 1, r.output
    (run,) = json.loads(rep.read_text())["runs"]
    assert run["attribution"]["chunk"] == 0 and run["attribution"]["verdict"]["short"] == "precision: float16 math"
    assert run["attribution_short"] == "FAIL — precision: float16 math"
    assert "[FAIL — precision: float16 math: float16 math:" in junit.read_text()
    text = md.read_text()
    assert "✗ FAIL — precision: float16 math" in text and "attribution (chunk 0): float16 math:" in text


def test_bad_input_is_refused_before_anything_runs(demo, planted, tmp_path):
    from inspector.errors import InspectorError
    from store import Store

    st = Store.open(demo.store)
    with pytest.raises(InspectorError, match="pass the one the run used with --model"):
        attribute_chunk(st, demo.contract, None, "ort-cpu", 1)
    with pytest.raises(InspectorError, match="Bad --backend-opt.*no_such_option"):
        attribute_chunk(st, demo.contract, planted["bug"], "ort-cpu", 1, options={"no_such_option": 1})
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))
    from onnx_faults import drop_output  # the engine tests' planted faults

    dropped = tmp_path / "dropped.onnx"
    drop_output(demo.onnx, dropped, "cache_last_time_out")
    with pytest.raises(InspectorError, match="does not match the contract"):
        attribute_chunk(st, demo.contract, dropped, "ort-cpu", 1)
    with pytest.raises(InspectorError, match="stream 'nope' is not in store"):
        attribute_chunk(st, demo.contract, planted["bug"], "ort-cpu", 1, stream="nope")
    with pytest.raises(InspectorError, match="mode 'open-loop'. Note: valid choices"):
        attribute_chunk(st, demo.contract, planted["bug"], "ort-cpu", 1, mode="open-loop")

"""Issue 8 on the tiny model: the faithful export carries state, and each planted fault is caught with its words.

Every run goes through `inspector.batch.run_batch` (what `inspector run --batch` calls) with the state hooks, real
ONNX Runtime, and a reference made by NeMo's own encoder.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from contracts.load import load_contract
from inspector.state import default_hooks
from state_stores import FAULT_CHUNKS, fresh_copy


def _run(store: Path, model: Path, contract, tmp_path: Path, chunks: str | None = None, **kw):
    from inspector.batch import run_batch

    kw.setdefault("hook_factory", default_hooks)
    if hasattr(contract, "outputs"):
        return _run_in_memory(store, model, contract, tmp_path, chunks)
    return run_batch(store=store, model=model, contract=contract, backends=["ort-cpu"], modes=["closed-loop"],
                     chunks=chunks, progress=False, log=lambda _m: None, report=tmp_path / "r.json",
                     junit=tmp_path / "j.xml", markdown=tmp_path / "s.md", **kw)


def _run_in_memory(store: Path, model: Path, contract, tmp_path: Path, chunks: str | None):
    """A contract edited in memory (a miswired feedback map the loader would refuse as a file: what a harness that
    pairs states by sorted name does): the engine with the state hooks, then the run API's own report path."""
    from backends.base import make_backend
    from inspector.api import BatchResult, build_batch_report, run_status, write_reports
    from inspector.engine import ParityEngine, RunSpec
    from inspector.units import Unit, UnitOutcome
    from store import Store

    st = Store.open(store, "a")
    engine = ParityEngine(st, contract, model, hooks=default_hooks("ort-cpu", "closed-loop"))
    stream = engine.resolve_stream(None)
    spec = RunSpec("ort-cpu", "closed-loop", stream, engine.resolve_chunks(stream, chunks))
    with make_backend("ort-cpu", model, contract, {}) as be:
        result = engine.run(spec, be)
    outcome = UnitOutcome(Unit("ort-cpu", {}, "closed-loop", stream, spec.chunks), result.run_id,
                          run_status(result), len(result.records))
    results, doc = build_batch_report(st, contract, Path(model), engine.model_sha256, [outcome], [], "none")
    written = write_reports(doc, report=tmp_path / "r.json", junit=tmp_path / "j.xml", markdown=tmp_path / "s.md")
    return BatchResult(tuple(results), doc, written, (outcome,))


def _verdicts(result) -> dict:
    return {v.rule: v for v in result.runs[0].verdicts}


def test_faithful_export_carries_state_and_reports_show_it(base_store, demo_artifacts, tmp_path):
    res = _run(fresh_copy(base_store, tmp_path), demo_artifacts.onnx, "demo_streaming", tmp_path)
    v = _verdicts(res)
    assert res.passed, res.failure_summary()
    assert v["state_carried"].status == "pass" and v["state_trajectory"].status == "pass"
    assert v["state_feedback"].status == "pass" and v["no_growth"].status == "pass"
    msg = v["state_carried"].message
    assert msg.startswith("state carried: cache_last_channel_len_out 1 → 148 over 50 chunks, +3 per chunk; zeroing "
                          "cache_last_channel moves encoder_output by ")
    sens = v["state_carried"].details["sensitivity"]
    assert {s["status"] for s in sens.values()} == {"used"}
    assert sens["cache_last_channel"]["max_abs"] > 0.1  # far above atol 1e-4: the attention cache matters
    # Every chunk record holds the trajectory (keys shared with the summary importer) and fingerprints.
    rec = res.runs[0].records[10]["extra"]["state"]
    assert (rec["cache_len_in"], rec["cache_len_out"]) == (28, 31)
    assert rec["fp"]["cache_last_channel"]["rows"] == 28 and rec["fp"]["cache_last_channel_out"]["rows"] == 31
    assert set(rec["fp"]) == {"cache_last_channel", "cache_last_time", "cache_last_channel_out",
                              "cache_last_time_out"}
    # JSON: the trajectory and the probe's numbers; JUnit: its own case; Markdown: its own line.
    doc = json.loads((tmp_path / "r.json").read_text(), parse_constant=_no_nan)
    sc = next(x for x in doc["runs"][0]["verdicts"] if x["rule"] == "state_carried")
    assert sc["details"]["trajectory"]["cache_len_out"][:4] == [1, 4, 7, 10]
    assert [p["chunk"] for p in sc["details"]["probes"]] == [5, 25, 49]
    assert doc["runs"][0]["chunk_records"][3]["extra"]["state"]["cache_len_out"] == 10
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    assert {"state_carried", "state_trajectory", "state_feedback"} <= set(cases)
    assert cases["state_carried"].find("failure") is None
    md = (tmp_path / "s.md").read_text()
    assert "| ✓ pass | state_carried |" in md


def test_shipped_demo_contract_states_what_the_export_does_up_to_saturation(demo_artifacts):
    """Measured, not assumed: 90 chunks through the faithful export in closed loop; the demo contract's state rules
    hold on every chunk, and the length saturates at 256 (1, 4, 7, … 253, 256, 256)."""
    from backends.base import make_backend
    from contracts.rules import compile_rule

    c = load_contract("demo_streaming")
    rules = [(inv.id, compile_rule(inv.check)) for inv in c.invariants if inv.kind == "state"]
    rng = np.random.default_rng(0)
    lengths, prev, failures = [], None, []
    with make_backend("ort-cpu", demo_artifacts.onnx, c) as be:
        state = None
        init = {"cache_last_channel": np.zeros((1, 2, 256, 64), np.float32),
                "cache_last_time": np.zeros((1, 2, 64, 4), np.float32),
                "cache_last_channel_len": np.zeros((1,), np.int64)}
        for k in range(90):
            frames = 41 if k == 0 else 57
            stream = {"audio_signal": rng.standard_normal((1, 128, frames)).astype(np.float32),
                      "length": np.array([frames], np.int64)}
            feeds = {**(init if state is None else be.state_arrays(state)), **stream}
            out, state = be.step(stream, state, init if state is None else None)
            env = {**feeds, **out, "chunk": k, "prev": prev}
            failures += [(k, i) for i, r in rules if r.evaluate(env).ok is False]
            lengths.append(int(out["cache_last_channel_len_out"][0]))
            prev = {**feeds, **out}
    assert failures == []
    assert lengths[:4] == [1, 4, 7, 10] and lengths[84:88] == [253, 256, 256, 256] and lengths[-1] == 256


def test_stuck_length_fails_state_carried_though_every_chunk_matches(stuck_store, stuck_onnx, tmp_path):
    """Fault (a): the export's length output is forced to 0; its reference is NeMo's encoder with its length forced
    to 0 the same way, so every per-chunk comparison passes: only the state checks can tell."""
    res = _run(fresh_copy(stuck_store, tmp_path), stuck_onnx, "demo_streaming", tmp_path)
    v = _verdicts(res)
    recs = res.runs[0].records
    assert all(not r["failed_tensors"] for r in recs) and len(recs) == FAULT_CHUNKS
    assert v["encoder_output_p100"].status == "pass"
    sc = v["state_carried"]
    assert sc.status == "fail" and sc.value == 0.0
    assert sc.message.startswith(
        f"attention cache never carried (cache_last_channel_len stayed 0 in and out for {FAULT_CHUNKS} chunks; "
        "zeroing or swapping cache_last_channel changes encoder_output by 0.0); only cache_last_time moves the output")
    assert "the attention cache serves within a chunk only" in sc.message
    assert "the length hides frames the cache carries" in sc.message
    assert v["no_growth"].status == "undetermined" and v["no_growth"].message.startswith("not meaningful: the state is not "
                                                                                 "carried (attention cache never "
                                                                                 "carried)")
    assert v["state_trajectory"].status == "fail"
    assert v["state_trajectory"].message.startswith("attention cache never carried: cache_last_channel_len_out "
                                                    "stayed 0")
    case = next(c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase") if c.get("name") == "state_carried")
    assert case.find("failure").get("message").startswith("state_carried failed for ort-cpu closed-loop: chunk 0, "
                                                           "tensor cache_last_channel: attention cache never carried")
    assert "| ✗ FAIL | state_carried |" in (tmp_path / "s.md").read_text()


def test_stuck_length_under_the_seed_rules_is_no_longer_a_vacuous_pass(stuck_store, stuck_onnx, tmp_path):
    """Under the seed team's own rule (cache_last_channel_len_out == 0) every invariant and every tolerance rule
    passes: the run fails on state_carried alone, and says what that rule means."""
    from state_faults import seed_style_contract

    res = _run(fresh_copy(stuck_store, tmp_path), stuck_onnx, seed_style_contract(load_contract("demo_streaming")),
               tmp_path)
    v = _verdicts(res)
    assert v["invariant:cache_len_zero"].status == "pass" and v["invariants"].status == "pass"
    failing = sorted(r for r, x in v.items() if x.status == "fail")
    assert failing == ["state_carried", "state_trajectory"] and not res.passed
    assert ("The contract's rule `cache_last_channel_len_out == 0` means the attention cache is never carried"
            in v["state_carried"].message)
    assert f"(invariant cache_len_zero held on all {FAULT_CHUNKS} chunks)" in v["state_carried"].message


def test_padded_last_chunk_breaks_the_trajectory_rule(padded_store, demo_artifacts, tmp_path):
    """Fault (b): the last chunk carries 30 real frames of 57; the export (like NeMo) still adds 3 to the cache
    length though only 2 output frames are valid."""
    res = _run(fresh_copy(padded_store, tmp_path), demo_artifacts.onnx, "demo_streaming", tmp_path)
    v = _verdicts(res)
    last = FAULT_CHUNKS - 1
    inv = v["invariant:cache_len_grows_by_real_frames"]
    assert inv.status == "fail" and inv.first_failing_chunk == last
    assert v["state_trajectory"].status == "fail"
    assert "but grows by padded frames on the last chunk: +3 while only 2 output frame(s) were valid" in \
        v["state_trajectory"].message
    assert v["state_trajectory"].first_failing_chunk == last
    assert v["state_carried"].status == "pass"  # the state is carried; it is the length that lies
    assert all(not r["failed_tensors"] for r in res.runs[0].records)


def test_sorted_state_names_swap_is_named_as_the_likely_cause(base_store, demo_artifacts, tmp_path):
    """Fault (c): a harness that pairs state outputs and inputs by sorted name swaps cache_last_channel and
    cache_last_channel_len; ORT then rejects chunk 1. The report names the swap, and the wiring that restores
    parity."""
    from state_faults import sorted_state_feedback

    contract = sorted_state_feedback(load_contract("demo_streaming"))
    res = _run(fresh_copy(base_store, tmp_path), demo_artifacts.onnx, contract, tmp_path, chunks=f"0:{FAULT_CHUNKS}")
    v = _verdicts(res)
    assert v["backend_errors"].status == "fail" and v["backend_errors"].first_failing_chunk == 1
    for rule in ("state_carried", "state_feedback"):
        assert v[rule].status == "fail" and v[rule].first_failing_chunk == 1
        assert v[rule].message.startswith(
            "state not carried as wired: likely cause: cache_last_channel and cache_last_channel_len are swapped in "
            "the feedback map, as when an inference server pairs state outputs and inputs sorted by name")
    assert ("wired cache_last_channel_out → cache_last_channel, cache_last_channel_len_out → cache_last_channel_len "
            "instead it matches the reference again") in v["state_carried"].message
    assert "state_carried (chunk 1" in res.failure_summary()
    md = (tmp_path / "s.md").read_text()
    assert "| ✗ FAIL | state_feedback | cache_last_channel, cache_last_channel_len | 1 |" in md


def test_same_shape_miswiring_diverges_and_the_right_wiring_is_found(base_store, demo_artifacts, tmp_path):
    """A wrong source of the same shape and dtype (encoded_lengths fed as the cache length) does not crash: the loop
    diverges from chunk 1 on, and re-running chunk 1 with the other wiring restores parity."""
    import dataclasses

    from contracts.model import Feedback

    c = load_contract("demo_streaming")
    fb = tuple(Feedback("encoded_lengths", f.target) if f.target == "cache_last_channel_len" else f
               for f in c.feedback)
    res = _run(fresh_copy(base_store, tmp_path), demo_artifacts.onnx, dataclasses.replace(c, feedback=fb), tmp_path,
               chunks="0:12")
    v = _verdicts(res)
    assert v["encoder_output_p100"].first_failing_chunk == 1
    assert v["state_feedback"].status == "fail"
    assert v["state_feedback"].message.startswith(
        "state not carried as wired: likely cause: the feedback map feeds cache_last_channel_len from encoded_lengths "
        "instead of cache_last_channel_len_out. With the contract's wiring chunk 1 broke (encoder_output max-abs")
    test = v["state_feedback"].details["test"]
    assert test["restores"]["cache_last_channel_len"] == "cache_last_channel_len_out"
    assert test["restored_max_abs"] <= test["atol"]


def test_diagnose_state_command_judges_without_recording(stuck_store, stuck_onnx, tmp_path):
    from click.testing import CliRunner

    from inspector.commands.diagnose_state import state
    from store import Store

    store = fresh_copy(stuck_store, tmp_path)
    out = tmp_path / "d.json"
    r = CliRunner().invoke(state, ["--store", str(store), "--model", str(stuck_onnx), "--contract", "demo_streaming",
                                   "--chunks", "0:12", "--probe-chunks", "6,late", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "state: FAIL: attention cache never carried (cache_last_channel_len stayed 0 in and out for 12 chunks" \
        in r.output
    doc = json.loads(out.read_text(), parse_constant=_no_nan)
    assert [p["chunk"] for p in doc["assessment"]["probes"]] == [6, 11]
    assert Store.open(store, "r").runs() == []  # a diagnosis records nothing


def test_a_cache_fed_but_unused_is_inert_though_its_length_grows(base_store, demo_artifacts, tmp_path):
    """An export that takes cache_last_channel but never reads it: the length trajectory looks healthy, only the
    probe can tell, and it says the attention cache is inert while cache_last_time alone moves the output."""
    from state_faults import disconnect_input

    model = disconnect_input(Path(demo_artifacts.onnx), tmp_path / "deaf.onnx", "cache_last_channel")
    res = _run(fresh_copy(base_store, tmp_path), model, "demo_streaming", tmp_path, chunks="0:12")
    sc = _verdicts(res)["state_carried"]
    assert sc.status == "fail"
    assert sc.message.startswith("attention cache inert (zeroing or swapping cache_last_channel changes encoder_output "
                                 "by 0.0), although cache_last_channel_len_out runs 1 → 34; only cache_last_time moves "
                                 "the output")
    assert _verdicts(res)["state_trajectory"].status == "pass"


def test_an_interrupted_run_resumes_with_its_probes_and_is_rejudged_from_the_store(base_store, demo_artifacts,
                                                                                  tmp_path):
    from click.testing import CliRunner

    from inspector.commands.diagnose_state import state
    from inspector.engine import ChunkHook

    class Interrupt(ChunkHook):
        name = "interrupt"

        def chunk(self, event):
            if event.index == 15:
                raise KeyboardInterrupt

    store = fresh_copy(base_store, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _run(store, demo_artifacts.onnx, "demo_streaming", tmp_path, chunks="0:24",
             hook_factory=lambda b, m: [*default_hooks(b, m), Interrupt()])
    res = _run(store, demo_artifacts.onnx, "demo_streaming", tmp_path, chunks="0:24")
    run = res.runs[0]
    sc = _verdicts(res)["state_carried"]
    assert run.resumed_chunks == 15 and sc.status == "pass"
    assert [p["chunk"] for p in sc.details["probes"]] == [2, 12, 23]  # 2 and 12 recorded before the interruption
    r = CliRunner().invoke(state, ["--store", str(store), "--contract", "demo_streaming", "--run", run.run_id])
    assert r.exit_code == 0, r.output
    assert "state_carried: PASS: state carried: cache_last_channel_len_out 1 → 70 over 24 chunks" in r.output


def _no_nan(name: str):
    """Strict JSON: the bare NaN/Infinity tokens Python's json writes are not JSON."""
    raise ValueError(f"non-standard JSON constant {name}")

"""The state verdicts' logic and words on hand-made records (no runtime): probe placement, wiring explanations, the
seed's zero-length rule, and judging a trajectory without a probe."""

from __future__ import annotations

from contracts.load import load_contract
from inspector.state.feedback import explain_wiring, sorted_pairing, static_suggestion
from inspector.state.probe import donor_of, probe_positions
from inspector.state.verdict import assess_state, state_verdicts, zero_length_rule_note

RIGHT = {"cache_last_channel": "cache_last_channel_out", "cache_last_time": "cache_last_time_out",
         "cache_last_channel_len": "cache_last_channel_len_out"}
SORTED = {"cache_last_channel": "cache_last_channel_len_out", "cache_last_channel_len": "cache_last_channel_out",
          "cache_last_time": "cache_last_time_out"}


def test_probe_positions_early_middle_late_and_indices():
    chunks = list(range(50))
    assert probe_positions(("early", "middle", "late"), chunks) == [5, 25, 49]
    assert probe_positions((0, 7, 99, "late"), chunks) == [7, 49]  # chunk 0 takes the reference's state; 99 absent
    assert probe_positions(("early",), [10, 11]) == [11]
    assert probe_positions(("early",), [10]) == []
    assert donor_of(25, chunks) == 12 and donor_of(0, chunks) is None


def test_wiring_words_name_a_swap_and_a_wrong_source():
    assert explain_wiring(SORTED, RIGHT) == ("cache_last_channel and cache_last_channel_len are swapped in the "
                                             "feedback map")
    wrong = {**RIGHT, "cache_last_channel_len": "encoded_lengths"}
    assert explain_wiring(wrong, RIGHT) == ("the feedback map feeds cache_last_channel_len from encoded_lengths "
                                            "instead of cache_last_channel_len_out")
    assert explain_wiring(RIGHT, RIGHT) == ""
    assert sorted_pairing(SORTED) and not sorted_pairing(RIGHT)


def test_static_suggestion_from_shapes():
    c = load_contract("demo_streaming")
    shapes = {"edges": [
        {"source": "cache_last_channel_len_out", "target": "cache_last_channel", "ok": False,
         "fits": ["cache_last_channel_out"]},
        {"source": "cache_last_time_out", "target": "cache_last_time", "ok": True, "fits": ["cache_last_time_out"]},
        {"source": "cache_last_channel_out", "target": "cache_last_channel_len", "ok": False,
         "fits": ["encoded_lengths", "cache_last_channel_len_out"]}]}
    assert static_suggestion(shapes, c) == RIGHT


def test_zero_length_rule_is_recognised():
    c = load_contract("demo_streaming")
    note = zero_length_rule_note("cache_last_channel_len_out == 0", c)
    assert note.startswith("`cache_last_channel_len_out == 0` means the attention cache is never carried")
    assert zero_length_rule_note("encoded_lengths == 0", c) == ""
    assert zero_length_rule_note("cache_last_channel_len_out == 3", c) == ""


def _summary_records(outs: list[int]) -> list[dict]:
    ins = [0] + outs[:-1]
    return [{"chunk": i, "status": "ok", "state": {"cache_len_in": a, "cache_len_out": b, "input_len": 57,
                                                   "valid_out_len": 3}}
            for i, (a, b) in enumerate(zip(ins, outs))]


def test_lengths_stuck_at_zero_fail_without_a_probe():
    """An imported summary has no tensors, so no probe; a length stuck at 0 still decides it."""
    c = load_contract("demo_streaming")
    a = assess_state(_summary_records([0] * 50), c)
    assert a.status == "fail" and a.carried is False
    assert a.summary.startswith("attention cache never carried (cache_last_channel_len stayed 0 in and out for 50 "
                                "chunks)")


def test_growing_lengths_without_a_probe_are_not_judged_carried():
    c = load_contract("demo_streaming")
    recs = _summary_records([1 + 3 * i for i in range(50)])
    a = assess_state(recs, c)
    assert a.status == "undetermined" and "probe did not run" in a.summary
    by_rule = {v.rule: v for v in state_verdicts(recs, c)}
    assert by_rule["state_carried"].status == "undetermined" and not by_rule["state_carried"]
    assert by_rule["state_trajectory"].status == "pass"
    assert by_rule["state_trajectory"].message.startswith("attention cache carried: starts at 1 after chunk 0, grows "
                                                          "by 3 per chunk")


def test_nothing_recorded_is_not_judged():
    a = assess_state([{"chunk": 0, "status": "ok", "tensors": {}}], load_contract("demo_streaming"))
    assert a.status == "undetermined" and a.carried is None


def _probe(chunk: int, moved: dict[str, float]) -> dict:
    inputs = {name: {"role": "", "probed": True, "moved": amount > 1e-4, "max_abs": amount, "cosine": 0.9,
                     "variant": "zeros",
                     "variants": [{"label": "zeros", "kind": "zeros", "input_change_rms": 1.0,
                                   "frames": {"max_abs": amount, "cosine": 0.9}, "outputs": {}, "error": ""}]}
              for name, amount in moved.items()}
    return {"chunk": chunk, "donor": chunk // 2, "threshold": 1e-4, "atol": 1e-4, "noise_floor": 0.0,
            "frames_output": "encoder_output", "calls": len(moved), "inputs": inputs}


def test_a_length_stuck_at_zero_over_a_used_cache_blames_the_length_not_the_state():
    """If zeroing the attention cache moves the output although its length stays 0, state does flow (through the
    cache content): state_carried passes and says so; the trajectory rule is what fails."""
    c = load_contract("demo_streaming")
    recs = [{"chunk": i, "status": "ok", "extra": {"state": {"cache_len_in": 0, "cache_len_out": 0}}}
            for i in range(10)]
    recs[5]["extra"]["state"]["probe"] = _probe(5, {"cache_last_channel": 1.2, "cache_last_time": 0.1})
    by_rule = {v.rule: v for v in state_verdicts(recs, c)}
    assert by_rule["state_carried"].status == "pass"
    assert any("yet cache_last_channel is used" in f for f in by_rule["state_carried"].details["findings"])
    assert by_rule["state_trajectory"].status == "fail"


def test_an_inert_conv_cache_fails_state_carried():
    c = load_contract("demo_streaming")
    recs = [{"chunk": i, "status": "ok", "extra": {"state": {"cache_len_in": 3 * i, "cache_len_out": 3 * i + 1}}}
            for i in range(10)]
    recs[5]["extra"]["state"]["probe"] = _probe(5, {"cache_last_channel": 1.2, "cache_last_time": 0.0})
    v = next(v for v in state_verdicts(recs, c) if v.rule == "state_carried")
    assert v.status == "fail"
    assert v.message.startswith("cache_last_time inert: zeroing cache_last_time moves encoder_output by at most 0.0 "
                                "(threshold 0.0001) at chunk(s) 5: it is fed back but not used")


def _probed(variants: list[dict]) -> list[dict]:
    """Records of a 12-chunk loop carrying state, probed at chunk 6 with these variants of the attention cache."""
    recs = _summary_records([1 + 3 * i for i in range(12)])
    entry = {"role": "attention", "probed": any(not v.get("error") for v in variants), "moved": False,
             "max_abs": None, "cosine": None, "variant": "", "variants": variants}
    recs[6]["state"]["probe"] = {"chunk": 6, "donor": 3, "threshold": 1e-4, "atol": 1e-4, "noise_floor": 0.0,
                                 "frames_output": "encoder_output", "calls": 2,
                                 "inputs": {"cache_last_channel": entry}}
    return recs


def test_a_probe_replacement_that_raised_leaves_state_undetermined_not_inert():
    """Zeroing the cache raised and swapping it moved nothing: 'inert' is not shown, so not a failure, not a pass."""
    c = load_contract("demo_streaming")
    raised = {"label": "zeros", "kind": "zeros", "input_change_rms": None, "frames": None, "outputs": {},
              "error": "RuntimeError: CUDA out of memory"}
    quiet = {"label": "fed to chunk 3", "kind": "swap", "input_change_rms": 0.5,
             "frames": {"max_abs": 1e-7, "cosine": 1.0}, "outputs": {}, "error": None}
    a = assess_state(_probed([raised, quiet]), c)
    assert a.status == "undetermined" and "CUDA out of memory" in a.summary
    assert a.sensitivity["cache_last_channel"].status == "error"
    v = {x.rule: x for x in state_verdicts(_probed([raised, quiet]), c)}["state_carried"]
    assert v.status == "undetermined" and not v

"""`state_carried` must never pass without a fed-back state input shown to be used.

The contract's diagnostics names can match none of the inputs (another team's names, or defaults left in place): then
the attention input is not known, so its silence is no reason to fail; the probe's records alone must decide. The
records here are made up the way the probe writes them (`inspector.state.probe`): three probed chunks of a ten-chunk
closed-loop run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from contracts.load import load_contract
from contracts.model import Contract
from inspector.state.verdict import state_verdicts


def _foreign_names() -> Contract:
    """The demo contract with diagnostics names that match none of its inputs."""
    c = load_contract("demo_streaming")
    d = dataclasses.replace(c.diagnostics, cache_channel_input="", cache_len_input="", cache_len_output="",
                            cache_time_input="")
    return dataclasses.replace(c, diagnostics=d)


def _entry(probed: bool, moved: bool, max_abs: float | None) -> dict[str, Any]:
    return {"role": "state", "probed": probed, "moved": moved, "max_abs": max_abs, "cosine": None, "variant": "",
            "variants": []}


def _records(inputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    recs = []
    for k in range(10):
        st: dict[str, Any] = {}
        if k in (1, 5, 9):
            st["probe"] = {"chunk": k, "donor": k // 2, "threshold": 1e-4, "atol": 1e-4, "noise_floor": 0.0,
                           "frames_output": "encoder_output", "calls": 1, "inputs": inputs}
        recs.append({"chunk": k, "status": "ok", "passed": True, "extra": {"state": st}})
    return recs


def _carried(contract: Contract, inputs: dict[str, dict[str, Any]]):
    (v,) = [v for v in state_verdicts(_records(inputs), contract) if v.rule == "state_carried"]
    return v


def test_every_input_unprobed_is_undetermined_not_pass():
    c = _foreign_names()
    v = _carried(c, {n: _entry(False, False, None) for n in c.state_inputs})
    assert v.status == "undetermined"
    assert v.message.startswith("no state input could be perturbed: ")
    assert all(n in v.message for n in c.state_inputs)


def test_every_input_inert_fails():
    c = _foreign_names()
    v = _carried(c, {n: _entry(True, False, 1e-7) for n in c.state_inputs})
    assert v.status == "fail"
    assert "inert" in v.message


def test_probe_naming_no_state_input_is_undetermined():
    c = _foreign_names()
    v = _carried(c, {"not_an_input": _entry(True, True, 1.0)})
    assert v.status == "undetermined"
    assert "none of the contract's state inputs" in v.message


def test_one_input_shown_used_passes():
    # The guard asks for evidence, not for every input: one used cache is state carried.
    c = _foreign_names()
    inputs = {n: _entry(False, False, None) for n in c.state_inputs}
    inputs[c.state_inputs[0]] = _entry(True, True, 0.5)
    v = _carried(c, inputs)
    assert v.status == "pass", v.message

"""An acceptance rule may not take an id the tool uses for its own verdicts: the tool's verdict would stand in for
the rule, so a user's threshold would silently never be applied."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from contracts import ContractError
from contracts.load import SHIPPED_DIR, contract_from_dict, load_contract
from contracts.model import Acceptance
from inspector.acceptance import PASS, RunContext, Verdict, evaluate_run
from inspector.cli import main

QUANTILE = {"id": "state_trajectory", "kind": "quantile", "tensor": "encoder_output", "q": 100, "threshold": 1e-9}


@pytest.fixture()
def demo_doc() -> dict:
    return json.loads((SHIPPED_DIR / "demo_streaming.contract.json").read_text())


def _with_rule(doc: dict, rule: dict) -> tuple[dict, int]:
    d = copy.deepcopy(doc)
    d["acceptance"].append(rule)
    return d, len(d["acceptance"]) - 1


def test_a_reserved_id_on_a_quantile_rule_is_a_load_error_exit_2(demo_doc, tmp_path: Path, capsys):
    doc, i = _with_rule(demo_doc, QUANTILE)
    path = tmp_path / "mine.contract.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ContractError) as info:
        load_contract(path)
    msg = str(info.value)
    assert f"acceptance[{i}].id" in msg and "'state_trajectory' is reserved" in msg
    assert "backend_errors" in msg and "'hook:'" in msg  # the reserved ids are listed
    with pytest.raises(SystemExit) as ex:  # the console entry point: one paragraph, exit 2
        main(["contract", "show", str(path)])
    assert ex.value.code == 2
    assert f"acceptance[{i}].id" in capsys.readouterr().err


@pytest.mark.parametrize("aid", ["state_feedback", "outputs", "backend_errors", "chunks_present", "unit_error",
                                 "hook:state", "backend:trt"])
def test_every_reserved_id_is_refused_for_a_user_rule(demo_doc, aid: str):
    doc, i = _with_rule(demo_doc, {**QUANTILE, "id": aid})
    with pytest.raises(ContractError, match=rf"acceptance\[{i}\]\.id: '{aid}' is reserved"):
        contract_from_dict(doc, label="demo")


def test_state_carried_is_reserved_for_its_own_kind(demo_doc):
    # The shipped contracts name {"id": "state_carried", "kind": "state_carried"}: that stays valid.
    assert any(a.id == "state_carried" and a.kind == "state_carried" for a in load_contract("demo_streaming").acceptance)
    doc, i = _with_rule({**demo_doc, "acceptance": [a for a in demo_doc["acceptance"] if a["id"] != "state_carried"]},
                        {**QUANTILE, "id": "state_carried"})
    with pytest.raises(ContractError, match=r"only a rule of kind 'state_carried' may use it"):
        contract_from_dict(doc, label="demo")


def test_duplicate_rule_ids_are_a_load_error(demo_doc):
    doc, i = _with_rule(demo_doc, {**QUANTILE, "id": "encoder_output_p95"})
    with pytest.raises(ContractError, match=rf"acceptance\[{i}\]\.id: duplicate acceptance id 'encoder_output_p95'"):
        contract_from_dict(doc, label="demo")


def test_a_supplied_verdict_of_another_kind_does_not_replace_the_rule():
    # A contract built in code bypasses the loader: the tool's state_trajectory pass must not stand for a quantile.
    c = load_contract("demo_streaming")
    rule = Acceptance(id="state_trajectory", kind="quantile", tensor="encoder_output", q=100.0, threshold=1e-9)
    c = dataclasses.replace(c, acceptance=(rule,), invariants=())
    recs = [{"chunk": k, "status": "ok", "passed": True, "tensors": {"encoder_output": {
        "max_abs": 1e-3, "passed": True, "determined": True}}} for k in range(3)]
    supplied = Verdict("state_trajectory", "state_trajectory", PASS, message="trajectory fine")
    out = evaluate_run(recs, RunContext(c, "functional", "ort-cpu", "fp32", check_outputs=False), [supplied])
    judged = [v for v in out if v.rule == "state_trajectory" and v.kind == "quantile"]
    assert len(judged) == 1 and judged[0].status == "fail", [v.to_dict() for v in out]

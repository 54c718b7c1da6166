"""Run verdicts on synthetic chunk records: quantiles that keep failures visible, pass rate, growth, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts.model import Acceptance, Contract, Invariant, TensorSpec, Tolerance, ToleranceSet
from inspector.acceptance import (
    RunContext, accept_undetermined, check_allow_undetermined, evaluate_run, growth_statistics, quantile, run_outcome,
)


def _contract(*acc: Acceptance, invariants=()) -> Contract:
    return Contract(
        name="t", version=1, inputs=(TensorSpec("x", "float32", ("B",)),),
        outputs=(TensorSpec("y", "float32", ("B",), role="frames"),),
        tolerances=(ToleranceSet("default", {"y": Tolerance(1e-4)}),
                    ToleranceSet("fp16", {"y": Tolerance(1e-3)}, applies_to=("trt-*",), precisions=("fp16",),
                                 acceptance_overrides={"p95": 1.0})),
        acceptance=acc, invariants=tuple(invariants))


def _recs(values, passed=None):
    out = []
    for i, v in enumerate(values):
        p = (v <= 1e-4) if passed is None else passed[i]
        out.append({"chunk": i, "status": "ok" if p else "failed", "passed": p,
                    "tensors": {"y": {"max_abs": v, "passed": p}}, "invariants": {}})
    return out


def _by_rule(verdicts):
    return {v.rule: v for v in verdicts}


def test_quantile_is_numpys_linear_and_keeps_inf():
    vals = [0.1, 0.4, 0.2, 0.3]
    assert quantile(vals, 95) == pytest.approx(np.percentile(vals, 95))
    assert quantile([0.1, math.inf], 100) == math.inf
    assert quantile([0.1, 0.2, math.inf], 50) == pytest.approx(0.2)


def test_p95_p100_name_first_and_worst_chunk():
    c = _contract(Acceptance("p95", "quantile", "y", q=95, threshold=5e-4),
                  Acceptance("p100", "quantile", "y", q=100, threshold=1e-3))
    recs = _recs([1e-5] * 10 + [2e-3] + [1e-5] * 9)
    v = _by_rule(evaluate_run(recs, RunContext(c, "functional", "ort-cpu")))
    assert v["p95"] and not v["p100"]
    assert v["p100"].first_failing_chunk == 10 and v["p100"].worst_chunk == 10
    assert v["p100"].value == pytest.approx(2e-3)


def test_a_chunk_that_raised_counts_as_infinitely_bad():
    c = _contract(Acceptance("p100", "quantile", "y", q=100, threshold=1e-3))
    recs = _recs([1e-5] * 5)
    recs[3] = {"chunk": 3, "status": "error", "passed": False, "error": "boom", "tensors": {}, "invariants": {}}
    v = _by_rule(evaluate_run(recs, RunContext(c, "functional", "ort-cpu")))
    assert not v["p100"] and v["p100"].first_failing_chunk == 3
    assert not v["backend_errors"] and "boom" in v["backend_errors"].message


def test_overrides_of_the_matching_tolerance_set_apply():
    c = _contract(Acceptance("p95", "quantile", "y", q=95, threshold=5e-4))
    recs = _recs([2e-3] * 10)
    assert not _by_rule(evaluate_run(recs, RunContext(c, "functional", "ort-cpu")))["p95"]
    v = _by_rule(evaluate_run(recs, RunContext(c, "functional", "trt-fp16", "fp16")))["p95"]
    assert v and v.threshold == 1.0


def test_pass_rate():
    c = _contract(Acceptance("rate", "pass_rate", "y", threshold=0.9))
    v = _by_rule(evaluate_run(_recs([1e-5] * 8 + [1.0] * 2), RunContext(c, "functional", "ort-cpu")))["rate"]
    assert not v and v.value == pytest.approx(0.8) and v.first_failing_chunk == 8


def test_growth_is_flagged_only_for_a_real_monotonic_rise():
    acc = Acceptance("grow", "no_growth", "y", modes=("closed-loop",))
    c = _contract(acc)
    ctx = RunContext(c, "closed-loop", "ort-cpu", atol_of={"y": 1e-4})
    rng = np.random.default_rng(0)
    growing = [1e-5 * 1.1 ** i * (1 + 0.1 * rng.random()) for i in range(40)]
    flat = list(1e-5 * (1 + 0.5 * rng.random(40)))
    g = _by_rule(evaluate_run(_recs(growing, [True] * 40), ctx))["grow"]
    assert not g and g.first_failing_chunk is not None and g.details["kendall_tau"] > 0.8
    assert _by_rule(evaluate_run(_recs(flat, [True] * 40), ctx))["grow"]
    # a cache filling up: rising, but far below the tolerance → not growth
    tiny = [1e-9 * (1 + i) for i in range(40)]
    t = _by_rule(evaluate_run(_recs(tiny, [True] * 40), ctx))["grow"]
    assert t and "noise floor" in t.message
    few = _by_rule(evaluate_run(_recs(growing[:5], [True] * 5), ctx))["grow"]
    assert few.status == "undetermined" and not few and "not enough chunks" in few.message
    # not judged in functional mode at all
    assert "grow" not in _by_rule(evaluate_run(_recs(growing), RunContext(c, "functional", "ort-cpu")))


def test_growth_statistics_ratio():
    st = growth_statistics([1.0] * 4 + [4.0] * 4)
    assert st["late_early_ratio"] == pytest.approx(4.0)


def test_invariants_verdicts_and_tightening_alarm():
    inv = (Invariant("len0", "y == 0"), Invariant("soft", "y < 5", severity="warning"),
           Invariant("cache_alarm", "y >= 0", kind="alarm"))
    c = _contract(Acceptance("invariants", "invariants"), invariants=inv)
    recs = _recs([0.0] * 6)
    recs[4]["invariants"] = {"len0": {"ok": False, "detail": "y == 0 failed: y = 3"},
                             "soft": {"ok": False, "detail": "soft"}, "cache_alarm": {"ok": True}}
    for r in recs[:4] + recs[5:]:
        r["invariants"] = {"len0": {"ok": True}, "soft": {"ok": True}, "cache_alarm": {"ok": True}}
    recs[2]["tightening_fired"] = ["y > 0"]
    v = _by_rule(evaluate_run(recs, RunContext(c, "functional", "ort-cpu")))
    assert not v["invariants"] and v["invariants"].first_failing_chunk == 4 and "len0" in v["invariants"].message
    assert not v["invariant:len0"] and v["invariant:len0"].tensor == "y"
    # a warning-severity invariant that did not hold is informational: shown, never a pass, not gating
    assert v["invariant:soft"].status == "info" and not v["invariant:soft"].required and v["invariant:soft"]
    assert v["alarm:cache_alarm"]
    assert not v["alarm:tightening"] and v["alarm:tightening"].first_failing_chunk == 2


def test_state_carried_is_undetermined_without_its_hook():
    c = _contract(Acceptance("state_carried", "state_carried", modes=("closed-loop",)))
    verdicts = evaluate_run(_recs([0.0] * 3), RunContext(c, "closed-loop", "ort-cpu"))
    v = _by_rule(verdicts)["state_carried"]
    assert v.status == "undetermined" and v.required and not v and "state hooks" in v.message
    assert run_outcome(verdicts) == "undetermined"


def test_an_informational_rule_is_info_with_its_figure_and_never_gates():
    c = _contract(Acceptance("rate0", "pass_rate", "y", threshold=0.0),
                  Acceptance("p95", "quantile", "y", q=95, threshold=5e-4, informational=True))
    verdicts = evaluate_run(_recs([1e-5] * 5 + [1.0] * 5), RunContext(c, "functional", "ort-cpu"))
    v = _by_rule(verdicts)
    assert v["rate0"].status == "info" and v["rate0"].value == pytest.approx(0.5) and not v["rate0"].required
    assert "threshold 0: informational" in v["rate0"].message and not v["rate0"].passed
    assert v["p95"].status == "info" and v["p95"].details["measured_status"] == "fail"  # over, but only reported
    assert run_outcome(verdicts) == "pass"


def test_undetermined_blocks_until_accepted_by_name_or_all():
    c = _contract(Acceptance("grow", "no_growth", "y", modes=("closed-loop",)),
                  Acceptance("state_carried", "state_carried", modes=("closed-loop",)))
    verdicts = evaluate_run(_recs([1e-5] * 3), RunContext(c, "closed-loop", "ort-cpu"))
    assert run_outcome(verdicts) == "undetermined"
    some = accept_undetermined(verdicts, ["grow"])
    assert _by_rule(some)["grow"].accepted_by == "--allow-undetermined grow" and run_outcome(some) == "undetermined"
    every = accept_undetermined(verdicts, ["grow", "all"])
    assert run_outcome(every) == "pass"
    assert _by_rule(every)["state_carried"].accepted_by == "--allow-undetermined all"
    assert _by_rule(every)["state_carried"].status == "undetermined"  # accepted, still not a pass
    # a failure is never accepted away
    failing = evaluate_run(_recs([1.0] * 3), RunContext(_contract(Acceptance("p", "quantile", "y", q=95,
                                                                             threshold=1e-3)), "functional", "x"))
    assert run_outcome(accept_undetermined(failing, ["all"])) == "fail"


def test_allow_undetermined_arguments_must_name_rules():
    c = _contract(Acceptance("state_carried", "state_carried", modes=("closed-loop",)))
    assert check_allow_undetermined(["state_carried", "all", "state_carried"], c) == ["state_carried", "all"]
    with pytest.raises(ValueError, match="did you mean 'state_carried'"):
        check_allow_undetermined(["state_carry"], c)


def test_old_statuses_read_from_stores_are_not_green():
    from inspector.acceptance import Verdict

    skip = Verdict.from_dict({"rule": "no_growth", "kind": "no_growth", "status": "skip"})
    warn = Verdict.from_dict({"rule": "outputs", "kind": "outputs", "status": "warn"})
    assert skip.status == "undetermined" and not skip
    assert warn.status == "info" and not warn.required

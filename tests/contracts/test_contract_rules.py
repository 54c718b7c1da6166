"""The invariant language: every construct, failure details with values, `prev` semantics, refusal of code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.load import load_contract
from contracts.rules import (
    EXACT, RuleError, acceptance_threshold, compile_rule, tightening_triggered, tolerance_for,
)


def ev(text: str, **env):  # noqa: ANN003, ANN201
    env.setdefault("chunk", 1)
    env.setdefault("prev", None)
    return compile_rule(text).evaluate(env)


class TestValues:
    def test_comparison_detail_names_actual_values(self) -> None:
        r = ev("cache_last_channel_len_out == 0", cache_last_channel_len_out=np.array([4]))
        assert r.ok is False
        assert r.detail == "cache_last_channel_len_out == 0 failed: cache_last_channel_len_out = [4]"
        assert r.values == {"cache_last_channel_len_out": [4]}
        assert not r

    def test_holds(self) -> None:
        r = ev("encoded_lengths == 3", encoded_lengths=np.array([3]))
        assert r.ok is True and bool(r)
        assert r.detail.startswith("encoded_lengths == 3 holds")

    def test_arrays_reduce_with_all_and_say_where(self) -> None:
        x = np.zeros((2, 3), np.float32)
        x[1, 2] = 5.0
        assert ev("abs(x) < 1", x=np.zeros((2, 3))).ok is True
        r = ev("abs(x) < 1", x=x)
        assert r.ok is False
        assert "fails at 1 of 6 elements; first at index [1, 2]: 5 vs 1" in r.detail

    def test_arithmetic_and_min_max(self) -> None:
        env = {"a": np.array([7]), "b": np.array([2])}
        assert ev("a + b * 2 - 1 == 10", **env).ok
        assert ev("a // b == 3 and a % b == 1 and a / b == 3.5", **env).ok
        assert ev("-a == -7 and +a == 7", **env).ok
        assert ev("min(a + 300, 256) == 256 and max(a, b, 9) == 9", **env).ok
        assert ev("min(x) == -1 and max(x) == 4", x=np.array([3, -1, 4])).ok
        assert ev("mean(x) == 2 and numel(x) == 3", x=np.array([1.0, 2.0, 3.0])).ok

    def test_chained_comparison_reports_failing_link(self) -> None:
        r = ev("0 <= n <= 256", n=np.array([300]))
        assert r.ok is False
        assert r.detail.startswith("n <= 256 failed: n = [300]")

    def test_boolean_logic(self) -> None:
        assert ev("a == 1 or a == 2", a=2).ok
        assert ev("not a == 1", a=2).ok
        r = ev("a == 2 and b == 3", a=2, b=4)
        assert r.ok is False and r.detail.startswith("b == 3 failed: b = 4")
        r = ev("not a == 2", a=2)
        assert r.ok is False and "a == 2 holds" in r.detail

    def test_all_any_finite(self) -> None:
        assert ev("all(x > 0) and any(x > 2)", x=np.array([1, 3])).ok
        assert ev("any(x > 5)", x=np.array([1, 3])).ok is False
        x = np.ones((1, 4, 3), np.float32)
        x[0, 2, 1] = np.nan
        x[0, 3, 0] = np.inf
        r = ev("finite(y)", y=x)
        assert r.ok is False
        assert r.detail == ("finite(y) failed: y has 2 non-finite values of 12 (1 NaN, 1 infinite), the first at index "
                            "[0, 2, 1]")
        assert r.values["y"]["nonfinite"] == 2

    def test_shape(self) -> None:
        x = np.zeros((1, 64, 3))
        assert ev("shape(x) == (1, 64, 3)", x=x).ok
        assert ev("shape(x, 2) == 3 and shape(x, -1) == 3 and shape(x)[1] == 64", x=x).ok
        assert ev("shape(x) == shape(y)", x=x, y=np.zeros((1, 64, 3))).ok
        r = ev("shape(x) == shape(y)", x=x, y=np.zeros((1, 64)))
        assert r.ok is False and "shape(x) = (1, 64, 3), shape(y) = (1, 64)" in r.detail
        r = ev("shape(x, 5) == 1", x=x)
        assert r.ok is False and "axis 5 is out of range" in r.detail

    def test_implies(self) -> None:
        rule = "implies(chunk == 0, n == 1)"
        assert ev(rule, chunk=3, n=np.array([9])).ok is True
        r = ev(rule, chunk=0, n=np.array([9]))
        assert r.ok is False
        assert r.detail == "chunk == 0 holds, so n == 1 failed: n = [9]"

    def test_true_false_numbers(self) -> None:
        assert ev("True").ok and ev("not False").ok and ev("1.5e-3 < 2e-3").ok

    def test_large_arrays_summarised(self) -> None:
        x = np.arange(100, dtype=np.float32).reshape(10, 10)
        r = ev("x < 50", x=x)
        assert "float32 array of shape [10, 10] (min 0, max 99)" in r.detail
        assert r.values["x"] == {"dtype": "float32", "shape": [10, 10], "min": 0.0, "max": 99.0, "nonfinite": 0}


class TestPrev:
    def test_prev_rules_skipped_on_first_chunk(self) -> None:
        r = ev("n >= prev.n", n=np.array([1]), prev=None, chunk=0)
        assert r.ok is None and r.skipped and bool(r)
        assert "first chunk" in r.detail

    def test_prev_values(self) -> None:
        rule = compile_rule("cache_last_channel_len == prev.cache_last_channel_len_out")
        assert rule.names == ("cache_last_channel_len", "cache_last_channel_len_out")
        assert rule.prev_names == ("cache_last_channel_len_out",)
        prev = {"cache_last_channel_len_out": np.array([4])}
        assert rule.evaluate({"cache_last_channel_len": np.array([4]), "prev": prev, "chunk": 2}).ok
        r = rule.evaluate({"cache_last_channel_len": np.array([0]), "prev": prev, "chunk": 2})
        assert r.ok is False
        assert "cache_last_channel_len = [0], prev.cache_last_channel_len_out = [4]" in r.detail
        assert r.values == {"cache_last_channel_len": [0], "prev.cache_last_channel_len_out": [4]}

    def test_nondecreasing(self) -> None:
        rule = compile_rule("nondecreasing(n)")
        assert rule.prev_names == ("n",)
        assert rule.evaluate({"n": np.array([4]), "prev": {"n": np.array([4])}}).ok
        r = rule.evaluate({"n": np.array([3]), "prev": {"n": np.array([4])}})
        assert r.ok is False and r.detail == "nondecreasing(n) failed: n went down from [4] to [3]"

    @pytest.mark.parametrize(("prev", "cur", "ok"), [
        (1, 4, True), (253, 256, True), (256, 256, True), (0, 0, True),
        (7, 4, False), (256, 255, False), (250, 260, False),
    ])
    def test_saturates(self, prev: int, cur: int, ok: bool) -> None:
        r = compile_rule("saturates(n, 256)").evaluate({"n": np.array([cur]), "prev": {"n": np.array([prev])}})
        assert r.ok is ok
        if not ok:
            assert r.detail.startswith("saturates(n, 256) failed: n ")

    def test_nemo_cache_length_sequence_passes_demo_rules(self) -> None:
        """The demo contract's state rules hold on the sequence NeMo 3.0 produced (1, 4, 7, … 256)."""
        contract = load_contract("demo_streaming")
        lens = [min(1 + 3 * i, 256) for i in range(100)]
        prev, len_in = None, 0
        for k, out in enumerate(lens):
            env = {"cache_last_channel_len": np.array([len_in]), "cache_last_channel_len_out": np.array([out]),
                   "encoded_lengths": np.array([3]), "chunk": k, "prev": prev}
            for inv in contract.invariants:
                rule = compile_rule(inv.check)
                if set(rule.names) <= set(env):
                    assert rule.evaluate(env).ok is not False, (k, inv.id)
            prev, len_in = env, out
        # A cache length stuck at 0 (the seed's bug) fails the growth rule with the numbers in the detail.
        env = {"cache_last_channel_len": np.array([0]), "cache_last_channel_len_out": np.array([0]),
               "encoded_lengths": np.array([3]), "chunk": 5, "prev": None}
        grow = next(i for i in contract.invariants if i.id == "cache_len_grows_by_real_frames")
        r = compile_rule(grow.check).evaluate(env)
        assert r.ok is False and "cache_last_channel_len_out = [0]" in r.detail

    def test_missing_tensor_is_not_applicable(self) -> None:
        r = ev("x == 1")
        assert r.ok is None and "tensor 'x' is not in this chunk" in r.detail
        r = ev("x == prev.y", x=1, prev={"x": 1})
        assert r.ok is None and "not in the previous chunk" in r.detail


class TestRefusals:
    @pytest.mark.parametrize(("text", "what"), [
        ("__import__('os').system('ls')", "may be called"),
        ("__import__('os')", "unknown function '__import__'"),
        ("x.__class__", "attribute access"),
        ("prev.__class__", "attribute '__class__'"),
        ("x[0] == 1", "subscript x[0]"),
        ("'a' == 'a'", "strings are not allowed"),
        ("(lambda: 1)()", "only the functions"),
        ("lambda: 1", "a lambda"),
        ("[i for i in x]", "a list comprehension"),
        ("x ** 2", "'**'"),
        ("x & y", "'&'"),
        ("x if y else z", "conditional expression"),
        ("x in y", "'in'"),
        ("x is None", "'is'"),
        ("open('f')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("finite(x, y)", "finite() takes 1 argument, got 2"),
        ("saturates(x + 1, 3)", "must be a tensor name"),
        ("shape(x, y)", "must be an integer constant"),
        ("min(x, key=y)", "no keyword arguments"),
        ("prev", "'prev' must be followed"),
        ("finite", "finite is a function"),
        ("x ==", "not a valid expression"),
        ("", "empty"),
        ("{1: 2}", "a dict"),
        ("f'{x}'", "f-string"),
        ("(x := 1)", "assignment"),
        ("None", "constant None"),
    ])
    def test_refused_with_construct_named(self, text: str, what: str) -> None:
        with pytest.raises(RuleError) as info:
            compile_rule(text)
        assert what in str(info.value)

    def test_error_carries_column(self) -> None:
        with pytest.raises(RuleError) as info:
            compile_rule("n == 1 and x.y")
        assert info.value.column == 12
        assert "column 12" in str(info.value)

    def test_unknown_function_suggests(self) -> None:
        with pytest.raises(RuleError, match="did you mean saturates"):
            compile_rule("saturate(n, 3)")


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(a=st.integers(-1000, 1000), b=st.integers(-1000, 1000), c=st.integers(1, 50))
    def test_integer_arithmetic_matches_python(self, a: int, b: int, c: int) -> None:
        """The walker computes what Python computes for the whitelisted operators."""
        for expr, want in ((f"a + b * {c}", a + b * c), (f"(a - b) // {c}", (a - b) // c), (f"a % {c}", a % c),
                           ("min(a, b) - max(a, b)", min(a, b) - max(a, b)), ("abs(a - b)", abs(a - b))):
            r = compile_rule(f"{expr} == want").evaluate({"a": a, "b": b, "want": want})
            assert r.ok is True, (expr, r.detail)

    @settings(max_examples=40, deadline=None)
    @given(xs=st.lists(st.integers(-5, 5), min_size=1, max_size=12), t=st.integers(-5, 5))
    def test_array_comparison_is_all_elements(self, xs: list[int], t: int) -> None:
        r = compile_rule("x <= t").evaluate({"x": np.array(xs), "t": t})
        assert r.ok is all(x <= t for x in xs)


class TestContractHelpers:
    def test_tolerance_for_chooses_set_and_tightening(self) -> None:
        seed = load_contract("encoder_streaming")
        assert tolerance_for(seed, "cache_last_time_out", "ort-cpu", "fp32").atol == 0.1
        assert tolerance_for(seed, "cache_last_time_out", "ort-cpu", "fp32", tightened=True).atol == 1e-4
        assert tolerance_for(seed, "encoded_lengths") == EXACT
        demo = load_contract("demo_streaming")
        assert tolerance_for(demo, "encoder_output", "trt-fp16", "fp16").atol == 1e-3
        assert tolerance_for(demo, "encoder_output", "trt-fp32", "fp32").atol == 1e-4
        assert tolerance_for(demo, "encoder_output", "ort-cpu", "fp32").atol == 1e-4

    def test_acceptance_threshold_overrides(self) -> None:
        demo = load_contract("demo_streaming")
        assert acceptance_threshold(demo, "encoder_output_p95", "ort-cpu", "fp32") == 5e-4
        assert acceptance_threshold(demo, "encoder_output_p95", "trt-fp16", "fp16") == 1e-3

    def test_tightening_triggered(self) -> None:
        seed = load_contract("encoder_streaming")
        env = {"cache_last_channel_len": np.array([0]), "encoded_lengths": np.array([1]),
               "audio_signal": np.zeros((1, 128, 593), np.float32), "chunk": 3, "prev": None}
        assert tightening_triggered(seed, env) == []
        env["cache_last_channel_len"] = np.array([5])
        env["audio_signal"] = np.zeros((1, 128, 300), np.float32)
        assert tightening_triggered(seed, env) == ["cache_last_channel_len > 0",
                                                   "chunk > 0 and shape(audio_signal, 2) != 593"]


class TestEmptyTensors:
    """A rule over an empty tensor would hold vacuously ("every element is finite"): it is undecided instead."""

    @pytest.mark.parametrize("text", ["finite(x)", "x == 3", "all(x > 0)", "any(x)", "implies(chunk > 0, x < 1)"])
    def test_undecided_not_held(self, text: str) -> None:
        r = compile_rule(text).evaluate({"x": np.zeros((1, 4, 0), np.float32), "chunk": 2})
        assert r.ok is None and r.undecided and "x (shape [1, 4, 0]) is empty" in r.detail

    def test_shape_and_numel_of_an_empty_tensor_still_decide(self) -> None:
        env = {"x": np.zeros((1, 4, 0), np.float32)}
        assert compile_rule("shape(x, 2) == 0").evaluate(env).ok is True
        assert compile_rule("numel(x) > 0").evaluate(env).ok is False

    def test_a_missing_tensor_is_not_applicable_not_undecided(self) -> None:
        r = compile_rule("finite(x)").evaluate({"chunk": 0})
        assert r.ok is None and not r.undecided

"""Loading contracts: the shipped ones load and round-trip; every invalid document names the offending key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from contracts import ContractError
from contracts.load import (
    SHIPPED_DIR, contract_from_dict, contract_to_dict, dump_contract, load_contract, shipped_contracts,
)

SHIPPED = ("demo_streaming", "encoder_streaming", "parakeet-tdt-0.6b-v3")


@pytest.fixture(scope="module")
def demo_doc() -> dict:
    return json.loads((SHIPPED_DIR / "demo_streaming.contract.json").read_text())


def broken(doc: dict, edit) -> str:  # noqa: ANN001 - a callable that edits the copy in place
    """The error message for `doc` after `edit` (which must make it invalid)."""
    d = copy.deepcopy(doc)
    edit(d)
    with pytest.raises(ContractError) as info:
        contract_from_dict(d, label="demo.contract.json")
    return str(info.value)


class TestShipped:
    @pytest.mark.parametrize("name", SHIPPED)
    def test_loads_by_bare_name_and_round_trips(self, name: str) -> None:
        """A bare name finds the shipped file; to_dict → from_dict gives an equal contract."""
        c = load_contract(name)
        assert c.name == name
        assert Path(c.source) == SHIPPED_DIR / f"{name}.contract.json"
        again = contract_from_dict(contract_to_dict(c), source=c.source)
        assert again == c

    def test_shipped_names_listed(self) -> None:
        assert set(SHIPPED) <= set(shipped_contracts())

    def test_load_by_path_and_by_file_name(self, tmp_path: Path) -> None:
        c = load_contract(SHIPPED_DIR / "demo_streaming.contract.json")
        assert load_contract("demo_streaming.contract.json") == c
        out = dump_contract(c, tmp_path / "copy.contract.json")
        assert load_contract(out) == load_contract(str(out))
        assert contract_to_dict(load_contract(out)) == contract_to_dict(c)

    def test_demo_contract_states_the_tiny_model(self) -> None:
        """The demo contract describes the `tiny` preset's stateful set-up (checked against NeMo 3.0)."""
        c = load_contract("demo_streaming")
        assert c.input("cache_last_channel").shape == ("B", 2, 256, 64)
        assert c.input("cache_last_time").shape == ("B", 2, 64, 4)
        assert (c.streaming.chunk_frames_first, c.streaming.chunk_frames, c.streaming.valid_out_len) == (41, 57, 3)
        checks = {i.id: i.check for i in c.invariants}
        assert checks["frames_per_chunk"] == "encoded_lengths == 3"
        assert "saturates(cache_last_channel_len_out, 256)" in checks.values()
        assert [f.target for f in c.feedback] == ["cache_last_channel", "cache_last_time", "cache_last_channel_len"]
        assert {p.name for p in c.profiles} == {"stream", "batch"}

    def test_seed_contract_keeps_the_seed_rules(self) -> None:
        c = load_contract("encoder_streaming")
        inv = {i.id: i for i in c.invariants}
        assert inv["frames_per_chunk"].check == "encoded_lengths == 1"
        assert inv["cache_len_zero"].check == "cache_last_channel_len_out == 0"
        assert "never carried" in inv["cache_len_zero"].description.lower()
        assert c.tolerance_set().for_output("cache_last_time_out").atol == 0.1
        assert c.tightening is not None and "cache_last_channel_len > 0" in c.tightening.when
        acc = {a.id: a for a in c.acceptance}
        assert (acc["encoder_output_p95"].q, acc["encoder_output_p95"].threshold) == (95.0, 5e-4)
        assert (acc["encoder_output_p100"].q, acc["encoder_output_p100"].threshold) == (100.0, 1e-3)
        assert acc["encoder_output_pass_rate"].atol == 1e-4
        assert acc["no_growth"].modes == ("closed-loop",)


class TestFileErrors:
    def test_missing_file_lists_shipped_names(self) -> None:
        with pytest.raises(ContractError, match=r"no such file.*demo_streaming"):
            load_contract("demo_streamin")

    def test_invalid_json_names_line(self, tmp_path: Path) -> None:
        p = tmp_path / "bad.contract.json"
        p.write_text('{"format": "parity-contract",\n "version": 1,,}')
        with pytest.raises(ContractError, match=r"bad.contract.json.*not valid JSON at line 2"):
            load_contract(p)

    def test_seed_schema_points_to_import(self) -> None:
        data = Path(__file__).parent / "data" / "encoder_streaming.contract.json"
        with pytest.raises(ContractError, match=r"inspector contract import"):
            load_contract(data)

    def test_not_an_object(self) -> None:
        with pytest.raises(ContractError, match=r"must be a JSON object"):
            contract_from_dict([1, 2])


class TestValidation:
    """Each invalid document gets a message naming the key path, the problem and what is allowed."""

    def test_bad_dtype_names_path_and_allowed(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["outputs"][2].update(dtype="floa32"))
        assert "contract demo.contract.json: outputs[2].dtype: 'floa32' is not a dtype; allowed: float32" in msg
        assert "did you mean 'float32'" in msg

    def test_unknown_key_with_suggestion(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["inputs"][0].update(shpae=[1]))
        assert "inputs[0].shpae: unknown key; did you mean 'shape'?" in msg
        msg = broken(demo_doc, lambda d: d.update(invariant=[]))
        assert "invariant: unknown key; did you mean 'invariants'?" in msg

    def test_missing_required_key(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["inputs"][1].pop("dtype"))
        assert "inputs[1]: missing required key 'dtype'" in msg

    def test_wrong_format_and_version(self, demo_doc: dict) -> None:
        assert "format: must be 'parity-contract'" in broken(demo_doc, lambda d: d.update(format="other"))
        assert "reads contract version 1, the file is version 2" in broken(demo_doc, lambda d: d.update(version=2))

    def test_bad_dim(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["inputs"][0]["shape"].__setitem__(1, -3))
        assert "inputs[0].shape[1]: -3 is not a dimension" in msg

    def test_duplicate_names(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["outputs"][1].update(name="encoder_output"))
        assert "outputs[1].name: duplicate tensor name 'encoder_output' (also outputs[0])" in msg

    def test_feedback_source_and_target_must_exist(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["feedback"][0].update({"from": "cache_last_chanel_out"}))
        assert "feedback[0].from: 'cache_last_chanel_out' is not an output's reference name; did you mean " \
               "'cache_last_channel_out'?" in msg
        msg = broken(demo_doc, lambda d: d["feedback"][1].update({"to": "nowhere"}))
        assert "feedback[1].to: 'nowhere' is not an input's reference name" in msg

    def test_feedback_target_fed_twice(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["feedback"][1].update({"from": "cache_last_channel_out",
                                                                  "to": "cache_last_channel"}))
        assert "feedback[1].to: input 'cache_last_channel' is already fed by feedback[0]" in msg

    def test_state_input_without_feedback(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["feedback"].pop(2))
        assert "inputs[4].role: 'cache_last_channel_len' has role 'state' but no feedback entry feeds it" in msg

    def test_feedback_pad_checks(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["feedback"][0].update(pad={"axis": 2, "to": 128, "side": "top"}))
        assert "feedback[0].pad.side: 'top' is not a side; allowed: left, right" in msg
        assert "feedback[0].pad.to: pads to 128 but input 'cache_last_channel' has size 256 on axis 2" in msg
        msg = broken(demo_doc, lambda d: d["feedback"][0].update(pad={"axis": 7, "to": 256}))
        assert "feedback[0].pad.axis: axis 7 is out of range" in msg

    def test_profile_checks(self, demo_doc: dict) -> None:
        def swap_min_max(d: dict) -> None:
            r = d["profiles"][0]["shapes"]["audio_signal"]
            r["min"], r["max"] = [1, 128, 80], [1, 128, 41]
        msg = broken(demo_doc, swap_min_max)
        assert "profiles[0].shapes.audio_signal: axis 2: min <= opt <= max does not hold (80, 57, 41)" in msg
        msg = broken(demo_doc, lambda d: d["profiles"][0]["shapes"]["audio_signal"].update(opt=[1, 57]))
        assert "profiles[0].shapes.audio_signal.opt: has rank 2 but 'audio_signal' has rank 3" in msg
        msg = broken(demo_doc, lambda d: d["profiles"][0]["shapes"]["audio_signal"].update(opt=[1, 80, 57]))
        assert "profiles[0].shapes.audio_signal.opt: axis 1 is 80 but 'audio_signal' fixes it to 128" in msg
        msg = broken(demo_doc, lambda d: d["profiles"][0]["shapes"].pop("length"))
        assert "profiles[0].shapes: missing dynamic input 'length'" in msg
        msg = broken(demo_doc, lambda d: d["profiles"][0]["shapes"].update(
            audio_sig={"min": [1], "opt": [1], "max": [1]}))
        assert "profiles[0].shapes.audio_sig: 'audio_sig' is not a model input" in msg
        msg = broken(demo_doc, lambda d: d["profiles"][1].update(name="stream"))
        assert "profiles[1].name: duplicate profile name 'stream'" in msg

    def test_profile_symbol_consistency(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["profiles"][1]["shapes"]["length"].update(max=[9]))
        assert "dimension 'B' (axis 0)" in msg and "one symbol, one range" in msg

    def test_profile_needs_dynamic_input(self, demo_doc: dict) -> None:
        def fix_length(d: dict) -> None:
            d["inputs"][1]["shape"] = [1]
        msg = broken(demo_doc, fix_length)
        assert "profiles[0].shapes.length: input 'length' has a fixed shape [1]" in msg

    def test_invariant_must_compile_naming_id_and_column(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["invariants"][0].update(check="encoded_lengths == __import__('os')"))
        assert "invariants[0].check: invariant 'frames_per_chunk': " in msg
        assert "column 20" in msg
        msg = broken(demo_doc, lambda d: d["invariants"][1].update(check="encoded_lengths =="))
        assert "invariants[1].check: invariant 'frames_shape': not a valid expression" in msg

    def test_invariant_unknown_tensor(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["invariants"][0].update(check="encoded_length == 3"))
        assert "invariants[0].check: invariant 'frames_per_chunk': unknown tensor 'encoded_length'" in msg
        assert "did you mean 'encoded_lengths'" in msg

    def test_duplicate_invariant_id_and_bad_fields(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["invariants"][1].update(id="frames_per_chunk"))
        assert "invariants[1].id: duplicate invariant id 'frames_per_chunk' (also invariants[0])" in msg
        msg = broken(demo_doc, lambda d: d["invariants"][0].update(severity="fatal", modes=["closed_loop"]))
        assert "invariants[0].severity: 'fatal' is not a severity; allowed: error, warning, info" in msg
        assert "invariants[0].modes[0]: 'closed_loop' is not a run mode; allowed: functional, closed-loop" in msg

    @pytest.mark.parametrize("bad", [-1e-4, float("nan"), float("inf"), "1e-4"])
    def test_tolerance_values_non_negative_finite(self, demo_doc: dict, bad: object) -> None:
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][0]["per_output"]["encoder_output"].update(atol=bad))
        assert "tolerances.sets[0].per_output.encoder_output.atol: must be" in msg

    def test_tolerance_output_and_override_names(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][0]["per_output"].update(encoder_out={"atol": 1}))
        assert "tolerances.sets[0].per_output.encoder_out: 'encoder_out' is not an output's reference name" in msg
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][2]["acceptance_overrides"].update(p95=1))
        assert "tolerances.sets[2].acceptance_overrides.p95: 'p95' is not an acceptance id" in msg
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][1].update(name="default"))
        assert "tolerances.sets[1].name: duplicate tolerance set 'default'" in msg
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][1].update(precisions=["fp61"]))
        assert "tolerances.sets[1].precisions[0]: 'fp61' is not a precision" in msg

    def test_tightening_rules_compile(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["tightening"]["when"].append("cache_len > 0"))
        assert "tightening.when[3]: unknown tensor 'cache_len'" in msg

    def test_acceptance_checks(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(q=120))
        assert "acceptance[0].q: must be between 0.0 and 100.0, got 120" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][2].update(threshold=58))
        assert "acceptance[2].threshold: must be between 0.0 and 1.0" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(kind="p95"))
        assert "acceptance[0].kind: 'p95' is not an acceptance kind; allowed: quantile" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][1].update(id="encoder_output_p95"))
        assert "acceptance[1].id: duplicate acceptance id 'encoder_output_p95'" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(tensor="encoder"))
        assert "acceptance[0].tensor: 'encoder' is not an output's reference name" in msg

    def test_rules_that_could_never_be_decided_are_load_errors(self, demo_doc: dict) -> None:
        """A metric no chunk records, a quantile that can only fail, a threshold on a rule without one: named by key
        path at load, not discovered as a silent +inf or a vacuous pass at the end of a run."""
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(metric="maxabs"))
        assert "acceptance[0].metric: 'maxabs' is not a per-chunk metric; did you mean 'max_abs'?" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(threshold=0))
        assert "acceptance[0].threshold: a quantile must be < its threshold; 0 can never hold" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][6].update(threshold=0.5))
        assert "acceptance[6].threshold: kind 'state_carried' has no threshold" in msg
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][2]["acceptance_overrides"].update(state_carried=1))
        assert "acceptance_overrides.state_carried: acceptance 'state_carried' is of kind 'state_carried'" in msg
        msg = broken(demo_doc, lambda d: d["tolerances"]["sets"][2]["acceptance_overrides"].update(
            cache_last_time_out_within_tolerance=95))
        assert "acceptance_overrides.cache_last_time_out_within_tolerance: must be between 0.0 and 1.0" in msg

    def test_informational_rules(self, demo_doc: dict) -> None:
        """`informational` is read, written back, implied by a pass rate of threshold 0, refused on state_carried."""
        c = contract_from_dict(demo_doc)
        flags = {a.id: a.informational for a in c.acceptance}
        assert flags["encoder_output_pass_rate"] is True and flags["encoder_output_p95"] is False
        assert contract_to_dict(c)["acceptance"][2]["informational"] is True
        d = copy.deepcopy(demo_doc)
        del d["acceptance"][2]["informational"]  # threshold 0: a reported figure whatever the file says
        assert contract_from_dict(d).acceptance[2].informational is True
        d["acceptance"][0]["informational"] = True
        assert contract_from_dict(d).acceptance[0].informational is True
        msg = broken(demo_doc, lambda d: d["acceptance"][6].update(informational=True))
        assert "acceptance[6].informational: a state_carried rule cannot be informational" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][2].update(informational=False))
        assert "acceptance[2].informational: a required pass rate needs a threshold above 0" in msg
        msg = broken(demo_doc, lambda d: d["acceptance"][0].update(informational="yes"))
        assert "acceptance[0].informational: must be true or false, got a string" in msg

    def test_acceptance_metrics_are_fields_the_engine_records(self) -> None:
        """The loader's metric list and the per-chunk figures `TensorMetrics` records stay in step."""
        from contracts.load import ACCEPTANCE_METRICS
        from inspector.metrics import TensorMetrics

        fields = set(TensorMetrics.__dataclass_fields__)
        assert set(ACCEPTANCE_METRICS) <= fields

    def test_several_problems_reported_together(self, demo_doc: dict) -> None:
        def two(d: dict) -> None:
            d["outputs"][0]["dtype"] = "floa32"
            d["streaming"]["first_chunk"] = "odd"
        msg = broken(demo_doc, two)
        assert "2 problems" in msg and "outputs[0].dtype" in msg and "streaming.first_chunk" in msg

    def test_ref_perm_and_axes(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d["inputs"][2].update(ref_perm=[0, 0, 1, 2]))
        assert "inputs[2].ref_perm: must be a permutation of 0..3" in msg
        msg = broken(demo_doc, lambda d: d["inputs"][2].update(axes=["batch", "layer"]))
        assert "inputs[2].axes: has 2 labels but the shape has rank 4" in msg

    def test_diagnostics_tensor_names(self, demo_doc: dict) -> None:
        msg = broken(demo_doc, lambda d: d.update(diagnostics={"cache_time_output": "cache_last_tim_out"}))
        assert "diagnostics.cache_time_output: 'cache_last_tim_out' is not a tensor of this contract" in msg

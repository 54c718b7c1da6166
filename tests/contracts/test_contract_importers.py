"""Importing the seed team's two contract schemas (samples written from issue 9's description)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from contracts import ContractError
from contracts.importers import detect_schema, import_contract, import_contract_file
from contracts.load import load_contract
from contracts.rules import acceptance_threshold, compile_rule, tolerance_for
from inspector.cli import main

DATA = Path(__file__).parent / "data"
SEED_A = DATA / "encoder_streaming.contract.json"
SEED_B = DATA / "parakeet-tdt-0.6b-v3.contract.json"


def test_detects_both_schemas_and_not_ours() -> None:
    assert detect_schema(json.loads(SEED_A.read_text())) == "encoder_streaming"
    assert detect_schema(json.loads(SEED_B.read_text())) == "parakeet-tdt-0.6b-v3"
    ours = json.loads(Path(load_contract("demo_streaming").source).read_text())
    assert detect_schema(ours) is None
    assert detect_schema({"hello": 1}) is None


class TestEncoderStreamingSchema:
    @pytest.fixture(scope="class")
    def result(self):  # noqa: ANN201
        return import_contract_file(SEED_A)

    def test_streaming_and_tensors(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert result.schema == "encoder_streaming"
        assert c.name == "encoder_streaming"
        s = c.streaming
        assert (s.layers, s.cache_size, s.valid_out_len, s.cache_drop_size) == (24, 256, 1, 72)
        assert (s.chunk_frames_first, s.chunk_frames, s.shift_frames) == (577, 593, 8)
        # symbolic dims resolved from `streaming` (layers, cache_size, d_model, time_ctx)
        assert c.input("cache_last_channel").shape == ("B", 24, 256, 1024)
        assert c.input("cache_last_time").shape == ("B", 24, 1024, 4)
        assert c.output("encoder_output").role == "frames"

    def test_padding_becomes_feedback_padding(self, result) -> None:  # noqa: ANN001
        fb = result.contract.feedback_for("cache_last_channel")
        assert fb is not None and fb.source == "cache_last_channel_out"
        assert (fb.padding.axis, fb.padding.to, fb.padding.side, fb.padding.value) == (2, 256, "left", 0.0)
        assert result.contract.feedback_for("cache_last_channel_len").padding is None

    def test_profile_full_shapes(self, result) -> None:  # noqa: ANN001
        [prof] = result.contract.profiles
        r = prof.shapes["audio_signal"]
        assert (r.min, r.opt, r.max) == ((1, 128, 577), (1, 128, 593), (1, 128, 593))
        assert prof.shapes["cache_last_channel"].max == (1, 24, 256, 1024)

    def test_assertions_and_constraints_become_rules(self, result) -> None:  # noqa: ANN001
        checks = {i.check: i for i in result.contract.invariants}
        assert "encoded_lengths == 1" in checks
        assert "never carried" in checks["cache_last_channel_len_out == 0"].description
        assert "saturates(cache_last_channel_len_out, 256)" in checks
        assert "finite(encoder_output)" in checks
        assert "cache_last_channel_len <= 256" in checks  # cache_size substituted
        assert "shape(encoder_output, 2) == 1" in checks  # the tensor's own dim symbol T_out
        assert "implies(chunk == 0, cache_last_channel_len == 0)" in checks  # initialization

    def test_tolerances(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert tolerance_for(c, "encoder_output").atol == 1e-4
        assert tolerance_for(c, "encoder_output").rtol == 1e-3
        assert tolerance_for(c, "cache_last_time_out").atol == 0.1

    def test_unmapped_listed_and_kept_as_notes(self, result) -> None:  # noqa: ANN001
        unmapped = "\n".join(result.unmapped)
        assert "assertions[4]: the attention cache is only used inside a forward pass" in unmapped
        assert "inputs.audio_signal.constraints[0]" in unmapped
        assert "validation.num_chunks" in unmapped
        assert any("chunk-isolated" in n for n in result.contract.notes)

    def test_rules_run_on_a_chunk(self, result) -> None:  # noqa: ANN001
        """The imported rules evaluate, and the seed rule fires on a carried cache."""
        r = compile_rule("cache_last_channel_len_out == 0").evaluate(
            {"cache_last_channel_len_out": np.array([3]), "chunk": 1, "prev": None})
        assert r.ok is False


class TestParakeetSchema:
    @pytest.fixture(scope="class")
    def result(self):  # noqa: ANN201
        return import_contract_file(SEED_B)

    def test_nemo_names_get_reference_names(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert c.output("encoder_output").name == "outputs"
        assert c.output("cache_last_channel_len_out").name == "cache_last_channel_next_len"

    def test_layer_first_layout_becomes_ref_perm(self, result) -> None:  # noqa: ANN001
        c = result.contract
        for name in ("cache_last_channel", "cache_last_time", "cache_last_channel_out", "cache_last_time_out"):
            assert c.tensor(name).ref_perm == (1, 0, 2, 3)
        assert c.tensor("cache_last_channel_len").ref_perm is None

    def test_cache_pad_and_profiles(self, result) -> None:  # noqa: ANN001
        c = result.contract
        fb = c.feedback_for("cache_last_channel")
        assert fb.padding is not None and fb.padding.to == 256
        names = [p.name for p in c.profiles]
        assert names == ["stream", "batched"]
        batched = c.profiles[1].shapes
        assert batched["audio_signal"].opt == (4, 128, 57)
        assert batched["cache_last_channel_len"].max == (8,)

    def test_mode_and_bounds(self, result) -> None:  # noqa: ANN001
        checks = {i.check for i in result.contract.invariants}
        assert "saturates(cache_last_channel_len_out, 256)" in checks
        assert "0 <= cache_last_channel_len_out <= 256" in checks
        assert "encoded_lengths == 3" in checks
        kinds = {a.kind for a in result.contract.acceptance}
        assert {"state_carried", "no_growth", "quantile"} <= kinds

    def test_tolerance_sets_by_backend_and_precision(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert tolerance_for(c, "cache_last_time_out", "ort-cpu", "fp32").atol == 1e-3
        assert tolerance_for(c, "encoder_output", "trt-fp32", "fp32").atol == 1e-4
        assert acceptance_threshold(c, "encoder_output_p95", "trt-fp32", "fp32") == 5e-4
        assert acceptance_threshold(c, "encoder_output_p95", "trt-fp16", "fp16") == 2e-3
        assert acceptance_threshold(c, "encoder_output_p100", "trt-fp16", "fp16") == 1e-3

    def test_chunk_isolated_mode(self) -> None:
        doc = json.loads(SEED_B.read_text())
        doc["mode"] = "chunk_isolated"
        res = import_contract(doc)
        inv = {i.check: i for i in res.contract.invariants}
        assert "never carried" in inv["cache_last_channel_len_out == 0"].description.lower()


class TestErrors:
    def test_unknown_schema(self) -> None:
        with pytest.raises(ContractError, match="unknown contract schema"):
            import_contract({"foo": 1, "bar": 2}, label="x.json")

    def test_ours_needs_no_import(self) -> None:
        with pytest.raises(ContractError, match="no import needed"):
            import_contract({"format": "parity-contract"})


class TestCli:
    def run(self, argv: list[str], capsys) -> tuple[int, str, str]:  # noqa: ANN001
        with pytest.raises(SystemExit) as info:
            main(argv)
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    def test_import_writes_a_loadable_contract(self, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        out = tmp_path / "ours.contract.json"
        code, stdout, err = self.run(["contract", "import", str(SEED_B), "-o", str(out)], capsys)
        assert code == 0
        assert "parakeet-tdt-0.6b-v3 schema" in stdout
        assert load_contract(out) == dataclasses.replace(import_contract_file(SEED_B).contract, source=str(out))
        # refuses to overwrite without --force
        code, _, err = self.run(["contract", "import", str(SEED_B), "-o", str(out)], capsys)
        assert code == 2 and "--force" in err

    def test_import_lists_unmapped(self, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        code, _, err = self.run(["contract", "import", str(SEED_A), "-o", str(tmp_path / "a.contract.json")], capsys)
        assert code == 0
        assert "Not mapped" in err and "assertions[4]" in err

    def test_unknown_schema_exit_2(self, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        p = tmp_path / "other.json"
        p.write_text('{"something": "else"}')
        code, _, err = self.run(["contract", "import", str(p), "-o", str(tmp_path / "o.json")], capsys)
        assert code == 2 and "unknown contract schema" in err
        code, _, err = self.run(["contract", "import", str(tmp_path / "missing.json")], capsys)
        assert code == 2 and "no such file" in err


WHOLE = DATA / "whole_model" / "parakeet-tdt-0.6b-v3.contract.json"


class TestWholeModelSchema:
    """The seed team's real, whole-model contract (encoder + predictor + joint + decode + streaming + trt)."""

    @pytest.fixture(scope="class")
    def result(self):  # noqa: ANN201
        return import_contract_file(WHOLE)

    def test_detected_by_its_encoder_section(self, result) -> None:  # noqa: ANN001
        assert detect_schema(json.loads(WHOLE.read_text())) == "whole_model"
        assert result.schema == "whole_model"
        assert result.contract.name == "parakeet-tdt-0.6b-v3"

    def test_streaming_sizes(self, result) -> None:  # noqa: ANN001
        s = result.contract.streaming
        assert (s.layers, s.cache_size, s.time_ctx, s.valid_out_len) == (24, 256, 4, 3)
        assert (s.chunk_frames_first, s.chunk_frames, s.shift_frames) == (41, 57, 24)
        assert (s.cache_drop_size, s.pre_encode_cache_size, s.drop_extra_pre_encoded) == (3, 9, 2)
        assert s.extra["architecture"]["n_heads"] == 8 and s.extra["architecture"]["conv_kernel_size"] == 9

    def test_streaming_io_names_dtypes_shapes_layouts(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert c.output("encoder_output").name == "outputs"
        assert c.input("cache_last_channel").shape == ("B", 24, 256, 1024)
        assert c.input("cache_last_channel").axes == ("batch", "layer", "time", "channel")
        assert c.input("cache_last_time").axes == ("batch", "layer", "channel", "time")  # BLDK
        assert c.output("cache_last_channel_out").shape == ("B", 24, "C_out", 1024)
        assert c.output("encoded_lengths").dtype == "int64"
        assert all(t.ref_perm is None for t in (*c.inputs, *c.outputs))  # batch_first everywhere

    def test_cache_pad_and_feedback(self, result) -> None:  # noqa: ANN001
        c = result.contract
        ch, tm = c.feedback_for("cache_last_channel").padding, c.feedback_for("cache_last_time").padding
        assert (ch.axis, ch.to, ch.side, ch.value) == (2, 256, "left", 0.0)
        assert (tm.axis, tm.to) == (3, 4)
        assert c.feedback_for("cache_last_channel_len").source == "cache_last_channel_len_out"

    def test_rules_from_mode_bounds_and_behaviour(self, result) -> None:  # noqa: ANN001
        checks = {i.check for i in result.contract.invariants}
        assert "encoded_lengths == 3" in checks
        assert "saturates(cache_last_channel_len_out, 256)" in checks
        assert "0 <= cache_last_channel_len_out <= 256" in checks
        assert ("implies(chunk > 0, cache_last_channel_len_out == min(cache_last_channel_len + 3, 256))"
                in checks)
        # the rules hold on NeMo's real trajectory 1, 4, 7 and fail on a length stuck at 0
        rule = compile_rule("implies(chunk > 0, cache_last_channel_len_out == min(cache_last_channel_len + 3, 256))")
        assert rule.evaluate({"chunk": 1, "prev": None, "cache_last_channel_len": np.array([1]),
                              "cache_last_channel_len_out": np.array([4])}).ok is True
        assert rule.evaluate({"chunk": 1, "prev": None, "cache_last_channel_len": np.array([0]),
                              "cache_last_channel_len_out": np.array([0])}).ok is False

    def test_tolerances_and_acceptance(self, result) -> None:  # noqa: ANN001
        c = result.contract
        assert tolerance_for(c, "encoder_output", "ort-cpu", "fp32").atol == 1e-4
        assert tolerance_for(c, "encoder_output", "ort-cpu", "fp32").rtol == 1e-3
        assert tolerance_for(c, "cache_last_time_out", "ort-cuda", "fp32").atol == 0.1
        assert acceptance_threshold(c, "encoder_output_p95", "trt-fp32", "fp32") == 5e-4
        assert acceptance_threshold(c, "encoder_output_p100", "trt-fp32", "fp32") == 1e-3
        assert acceptance_threshold(c, "encoder_output_p95", "trt-fp16", "fp16") == 1.8e-3

    def test_streaming_profiles(self, result) -> None:  # noqa: ANN001
        profiles = {p.name: p.shapes for p in result.contract.profiles}
        assert list(profiles) == ["stream", "batched"]
        assert profiles["stream"]["audio_signal"].min == (1, 128, 41)
        assert profiles["batched"]["audio_signal"].opt == (4, 128, 57)
        assert profiles["batched"]["cache_last_channel"].max == (8, 24, 256, 1024)

    def test_ignored_unmapped_and_provenance(self, result) -> None:  # noqa: ANN001
        ignored = " | ".join(result.ignored)
        for part in ("predictor", "joint", "decode", "tokenizer", "features", "encoder.offline_io",
                     "trt.profiles.encoder:"):
            assert part in ignored
        assert [u for u in result.unmapped if u.startswith("streaming.cache_valid_region")]
        assert result.provenance["hashes"]["nemo_sha256"].startswith("4d2a0c3f")
        assert any("nemo_sha256" in n for n in result.contract.notes)
        assert "nvidia/parakeet-tdt-0.6b-v3" in result.contract.description

    def test_cli_lists_ignored_and_provenance(self, tmp_path: Path, capsys) -> None:  # noqa: ANN001
        out = tmp_path / "ours.contract.json"
        with pytest.raises(SystemExit) as info:
            main(["contract", "import", str(WHOLE), "-o", str(out)])
        captured = capsys.readouterr()
        assert info.value.code in (0, None)
        assert "whole_model schema" in captured.out
        assert "Ignored (" in captured.err and "predictor" in captured.err and "nemo_sha256" in captured.err
        assert load_contract(out).streaming.chunk_frames == 57

"""Users' own contract files, odd but valid: sparse documents, the other schema's naming style, numbers written as
text, dtype spellings from torch/numpy, TensorRT's whole-shape profiles, a UTF-8 BOM. Each imports to what it
means, and what cannot be mapped is listed (never silently dropped, never a wrong dtype)."""

from __future__ import annotations

import copy
import re
import json
from pathlib import Path

import pytest

from contracts.importers import detect_schema, import_contract, import_contract_file
from contracts.load import load_contract
from contracts.rules import acceptance_threshold, tolerance_for

DATA = Path(__file__).parent / "data"
SEED_A = json.loads((DATA / "encoder_streaming.contract.json").read_text())
SEED_B = json.loads((DATA / "parakeet-tdt-0.6b-v3.contract.json").read_text())


def _a() -> dict:
    return copy.deepcopy(SEED_A)


def _b() -> dict:
    return copy.deepcopy(SEED_B)


def test_sparse_documents_of_either_schema_are_recognised() -> None:
    a = {k: SEED_A[k] for k in ("streaming", "inputs", "outputs")}
    b = {k: SEED_B[k] for k in ("name", "mode", "inputs", "outputs")}
    assert detect_schema(a) == "encoder_streaming"
    assert detect_schema(b) == "parakeet-tdt-0.6b-v3"
    assert import_contract(a).contract.streaming.chunk_frames == 593
    assert "cache_len_fed_back" in {i.id for i in import_contract(b).contract.invariants}


def test_a_bom_does_not_stop_either_loader(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.json"
    theirs.write_bytes(b"\xef\xbb\xbf" + json.dumps(SEED_B).encode())
    result = import_contract_file(theirs)
    ours = tmp_path / "ours.contract.json"
    ours.write_bytes(b"\xef\xbb\xbf" + Path(load_contract("demo_streaming").source).read_bytes())
    assert result.contract.name == "parakeet-tdt-0.6b-v3"
    assert load_contract(ours).name == "demo_streaming"


def test_profiles_in_the_other_schemas_naming_style() -> None:
    a = _a()
    a["trt_optimization_profiles"] = [{"name": "p", "dims": {"audio_signal_T": {"min": 577, "opt": 593,
                                                                               "max": 593}}}]
    b = _b()
    b["trt_profiles"] = [{"audio_signal.T": {"min": 41, "opt": 57, "max": 57}, "B": {"min": 1, "opt": 1, "max": 1}}]
    pa = import_contract(a).contract.profiles[0].shapes["audio_signal"]
    pb = import_contract(b).contract.profiles[0].shapes["audio_signal"]
    assert (pa.min, pa.max) == ((1, 128, 577), (1, 128, 593))
    assert (pb.min, pb.opt, pb.max) == ((1, 128, 41), (1, 128, 57), (1, 128, 57))


def test_tensorrt_whole_shape_profiles() -> None:
    b = _b()
    b["trt_profiles"] = {"stream": {"audio_signal": {"min": [1, 128, 41], "opt": [1, 128, 57], "max": [2, 128, 57]},
                                    "B": {"min": 1, "opt": 1, "max": 2}}}
    result = import_contract(b)
    shapes = result.contract.profiles[0].shapes
    assert shapes["audio_signal"].max == (2, 128, 57)
    assert not [u for u in result.unmapped if "trt_profiles" in u]


def test_profile_dimensions_that_name_nothing_are_listed_not_dropped() -> None:
    b = _b()
    b["trt_profiles"][0]["dims"]["foo_T"] = {"min": 1, "opt": 1, "max": 1}
    b["trt_profiles"][0]["dims"]["cache_last_channel_C"] = {"min": 1, "opt": 1, "max": 1}
    unmapped = " | ".join(import_contract(b).unmapped)
    assert "foo_T" in unmapped and "cache_last_channel" in unmapped and "ignored" in unmapped


@pytest.mark.parametrize("spelling, want", [("torch.float32", "float32"), ("np.int64", "int64"),
                                            ("tensor(int64)", "int64"), ("<i8", "int64"), ("FLOAT32", "float32")])
def test_dtype_spellings(spelling: str, want: str) -> None:
    b = _b()
    b["outputs"][1]["dtype"] = spelling  # encoded_lengths
    result = import_contract(b)
    assert result.contract.output("encoded_lengths").dtype == want
    assert not [u for u in result.unmapped if "dtype" in u]


def test_numbers_written_as_text_are_read_as_numbers() -> None:
    a = _a()
    a["streaming"]["cache_size"] = "256"
    a["validation"]["tolerance"] = {"atol": "1e-4", "rtol": "1e-3"}
    c = import_contract(a).contract
    assert c.streaming.cache_size == 256
    assert c.profiles, "the profile needs cache_size and must not be dropped"
    assert c.tolerances[0].per_output["encoder_output"].atol == pytest.approx(1e-4)


@pytest.mark.parametrize("layout", ["layer-first", "Layer First", "LBTD"])
def test_cache_layout_spellings(layout: str) -> None:
    b = _b()
    b["cache_layout"] = {"reference": layout, "model": "batch-first"}
    c = import_contract(b).contract
    assert c.input("cache_last_channel").ref_perm == (1, 0, 2, 3)


def test_pad_side_words_and_an_unusable_pad_rule() -> None:
    b = _b()
    b["cache_pad"]["cache_last_channel_next"]["side"] = "start"
    fb = {f.source: f for f in import_contract(b).contract.feedback}
    assert fb["cache_last_channel_out"].padding.side == "left"
    b["cache_pad"]["cache_last_channel_next"].update(side="end", value="nan")
    result = import_contract(b)
    assert any("cache_pad" in u and "finite" in u for u in result.unmapped)


def test_tolerance_set_names_choose_backends_and_precisions() -> None:
    b = _b()
    b["tolerances"] = {"onnxruntime_cuda": {"atol": 1e-4}, "trt_fp16": {"atol": 2e-3},
                       "TensorRT": {"encoder_output_p95_max_abs": 5e-4}}
    sets = {s.name: s for s in import_contract(b).contract.tolerances}
    assert sets["onnxruntime_cuda"].applies_to == ("ort-cuda",)
    assert sets["trt_fp16"].applies_to == ("trt-*",) and sets["trt_fp16"].precisions == ("fp16",)
    assert "default" in sets


def test_extra_keys_everywhere_are_listed_and_the_rest_imports() -> None:
    a = _a()
    a["x_custom"] = {"a": 1}
    a["inputs"]["audio_signal"]["quantized"] = False
    a["inputs"]["audio_signal"]["layout"] = "BCT"  # understood: becomes the axis labels
    a["runtime_contract"]["cache_padding"]["cache_last_channel_out"]["note"] = "hi"
    result = import_contract(a)
    unmapped = " | ".join(result.unmapped)
    assert "x_custom" in unmapped and "inputs.audio_signal.quantized" in unmapped and ".note" in unmapped
    assert "layout" not in unmapped
    assert result.contract.input("audio_signal").axes == ("batch", "feature", "time")
    assert result.contract.feedback[0].padding is not None


def test_our_format_allows_annotation_keys_but_still_catches_typos() -> None:
    from contracts import ContractError
    from contracts.load import contract_from_dict

    doc = json.loads(Path(load_contract("demo_streaming").source).read_text())
    doc["$schema"] = "https://example.invalid/contract.schema.json"
    doc["_comment"] = "edited by hand"
    doc["inputs"][0]["_note"] = "log-mel"
    assert contract_from_dict(doc).name == "demo_streaming"
    doc["invariantz"] = []
    with pytest.raises(ContractError, match="did you mean 'invariants'"):
        contract_from_dict(doc)


# --- the whole-model schema: variants another team could plausibly write -------------------------------------------

WHOLE = json.loads((DATA / "whole_model" / "parakeet-tdt-0.6b-v3.contract.json").read_text())


def _w() -> dict:
    return copy.deepcopy(WHOLE)


def _same_essentials(a, b) -> None:  # noqa: ANN001
    assert a.streaming == b.streaming
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert a.feedback == b.feedback and a.profiles == b.profiles
    assert {i.check for i in a.invariants} == {i.check for i in b.invariants}
    assert a.tolerances == b.tolerances and a.acceptance == b.acceptance


def test_whole_model_sections_in_another_order_import_the_same() -> None:
    base = import_contract(_w()).contract
    w = _w()
    shuffled = {k: w[k] for k in reversed(list(w))}
    shuffled["streaming"] = {k: w["streaming"][k] for k in reversed(list(w["streaming"]))}
    shuffled["encoder"]["streaming_io"] = {"outputs": w["encoder"]["streaming_io"]["outputs"],
                                           "inputs": w["encoder"]["streaming_io"]["inputs"]}
    _same_essentials(import_contract(shuffled).contract, base)


@pytest.mark.parametrize("wrap", ["contract", "models"])
def test_whole_model_nested_under_another_key(wrap: str) -> None:
    base = import_contract(_w()).contract
    w = _w()
    if wrap == "contract":
        doc = {"schema_version": "2.1", "contract": w}
    else:  # encoder, predictor and joint grouped under "models"
        doc = {k: v for k, v in w.items() if k not in ("encoder", "predictor", "joint")}
        doc["models"] = {"encoder": w["encoder"], "predictor": w["predictor"], "joint": w["joint"]}
    result = import_contract(doc)
    assert result.schema == "whole_model"
    _same_essentials(result.contract, base)
    ignored = " | ".join(result.ignored)
    assert "predictor" in ignored and "joint" in ignored
    if wrap == "contract":
        assert any(u.startswith("schema_version") for u in result.unmapped)


def test_flat_schema_nested_under_a_key_is_found_and_messages_name_the_real_path() -> None:
    b = _b()
    b["inputs"][0]["quantized"] = True
    result = import_contract({"generated_by": "export.py", "contract": b})
    assert result.schema == "parakeet-tdt-0.6b-v3" and result.located == "contract"
    assert result.contract.streaming.chunk_frames == 57
    assert any(u.startswith("contract.inputs.audio_signal.quantized") for u in result.unmapped)


def test_whole_model_extra_keys_are_listed_by_path_and_the_rest_imports() -> None:
    w = _w()
    w["ci_run"] = {"id": 17}
    w["encoder"]["streaming_io"]["inputs"][0]["quantization"] = "none"
    w["encoder"]["onnx_opset"] = 17
    w["trt"]["builder_flags"] = ["STRICT_TYPES"]
    w["streaming"]["lookahead_frames"] = 3
    result = import_contract(w)
    unmapped = " | ".join(result.unmapped)
    for path in ("ci_run", "encoder.streaming_io.inputs.audio_signal.quantization", "encoder.onnx_opset",
                 "trt.builder_flags", "streaming.lookahead_frames"):
        assert path in unmapped, path
    assert result.contract.streaming.extra["lookahead_frames"] == 3
    assert result.contract.streaming.chunk_frames == 57


def test_whole_model_missing_optional_sections_still_imports() -> None:
    w = _w()
    for key in ("trt", "hashes", "features", "timebase", "tokenizer", "predictor", "joint", "decode"):
        del w[key]
    for key in ("cache", "cache_pad", "cache_len_behavior", "cache_valid_region", "chunk_size_units", "shift_size"):
        del w["streaming"][key]
    for t in w["encoder"]["streaming_io"]["inputs"] + w["encoder"]["streaming_io"]["outputs"]:
        del t["layout"]
    result = import_contract(w)
    c = result.contract
    assert c.streaming.cache_size == 256  # from cache_len_expected when the cache section is absent
    assert c.streaming.layers == 24 and c.streaming.shift_frames is None  # layers from encoder.architecture
    assert c.profiles == () and c.tolerances == ()
    assert c.input("cache_last_channel").axes == ("batch", "layer", "time", "channel")  # NeMo's names
    assert c.feedback_for("cache_last_channel").padding is None
    assert not result.ignored or all("offline_io" in i for i in result.ignored)


def test_whole_model_layer_first_caches() -> None:
    """A team whose export keeps NeMo's layer-first caches: the model is layer-first, no permutation needed."""
    w = _w()
    w["streaming"]["cache_layout"] = "layer_first"
    for t in w["encoder"]["streaming_io"]["inputs"] + w["encoder"]["streaming_io"]["outputs"]:
        if t["layout"] in ("BLTD", "BLDK"):
            t["layout"] = "L" + "B" + t["layout"][2:]
            t["shape"] = [t["shape"][1], t["shape"][0], *t["shape"][2:]]
    result = import_contract(w)
    c = result.contract
    assert c.input("cache_last_channel").shape == (24, "B", 256, 1024)
    assert c.input("cache_last_channel").axes == ("layer", "batch", "time", "channel")
    assert c.input("cache_last_channel").ref_perm is None
    assert c.feedback_for("cache_last_channel").padding.axis == 2
    batched = {p.name: p for p in c.profiles}["batched"].shapes
    assert batched["cache_last_channel"].max == (24, 8, 256, 1024)


def test_whole_model_layer_first_reference_files_for_a_batch_first_model() -> None:
    w = _w()
    w["streaming"]["cache_layout"] = {"reference": "layer_first", "model": "batch_first"}
    c = import_contract(w).contract
    assert c.input("cache_last_channel").ref_perm == (1, 0, 2, 3)
    assert c.output("cache_last_time_out").ref_perm == (1, 0, 2, 3)
    w["streaming"]["cache_layout"] = {"reference": "batch_first", "model": "layer_first"}
    result = import_contract(w)  # contradicts the tensors' own BLTD layouts: listed, not applied
    assert any(u.startswith("streaming.cache_layout") and "BLTD" not in u and "batch_first" in u
               for u in result.unmapped)
    assert result.contract.input("cache_last_channel").ref_perm is None


def test_whole_model_integer_valued_numbers_and_numbers_as_floats() -> None:
    w = _w()
    w["trt"]["tolerances"]["ort"]["cache_last_time_atol"] = 1  # 1 instead of 1.0
    w["trt"]["tolerances"]["trt"]["encoder_output_p100_max_abs"] = "1e-3"
    w["streaming"]["chunk_size"] = [41.0, 48.0]
    w["streaming"]["valid_out_len"] = 3.0
    w["streaming"]["cache_len_bounds"] = {"min": 0.0, "max": 256.0}
    w["encoder"]["streaming_io"]["inputs"][2]["shape"] = ["B", 24.0, 256.0, 1024.0]
    w["trt"]["profiles"]["encoder_streaming"][0]["audio_signal_T"] = {"min": 41.0, "opt": 57, "max": "57"}
    c = import_contract(w).contract
    assert tolerance_for(c, "cache_last_time_out", "ort-cpu", "fp32").atol == 1.0
    assert acceptance_threshold(c, "encoder_output_p100", "trt-fp32", "fp32") == 1e-3
    assert (c.streaming.chunk_frames_first, c.streaming.chunk_frames, c.streaming.valid_out_len) == (41, 57, 3)
    assert c.input("cache_last_channel").shape == ("B", 24, 256, 1024)
    assert "0 <= cache_last_channel_len_out <= 256" in {i.check for i in c.invariants}
    assert c.profiles[0].shapes["audio_signal"].max == (1, 128, 57)


@pytest.mark.parametrize("text", ["[B, 24, 256, 1024]", "B x 24 x 256 x 1024", "(B,24,256,1024)"])
def test_whole_model_shapes_written_as_text(text: str) -> None:
    w = _w()
    w["encoder"]["streaming_io"]["inputs"][2]["shape"] = text
    assert import_contract(w).contract.input("cache_last_channel").shape == ("B", 24, 256, 1024)


def test_whole_model_tensors_keyed_by_name() -> None:
    w = _w()
    io = w["encoder"]["streaming_io"]
    io["inputs"] = {t["name"]: {k: v for k, v in t.items() if k != "name"} for t in io["inputs"]}
    c = import_contract(w).contract
    assert c.input("cache_last_time").shape == ("B", 24, 1024, 4)


def test_chunk_sizes_in_encoder_frames_are_not_taken_for_mel_frames() -> None:
    w = _w()
    w["streaming"]["chunk_size"] = [6, 6]
    w["streaming"]["chunk_size_units"] = "encoder_frames"
    result = import_contract(w)
    assert result.contract.streaming.chunk_frames is None
    assert result.contract.streaming.extra["chunk_size"] == [6, 6]
    assert any(u.startswith("streaming.chunk_size_units") for u in result.unmapped)


@pytest.mark.parametrize("edit, key", [
    (lambda w: w["encoder"].pop("streaming_io"), "encoder.streaming_io is missing"),
    (lambda w: w["encoder"]["streaming_io"].pop("outputs"), "encoder.streaming_io.outputs is missing"),
    (lambda w: w["encoder"]["streaming_io"]["inputs"][2].pop("name"), "encoder.streaming_io.inputs[2].name"),
    (lambda w: w["encoder"]["streaming_io"]["outputs"][0].pop("shape"), "encoder.streaming_io.outputs[0].shape"),
])
def test_whole_model_without_what_it_needs_fails_naming_the_key(edit, key: str) -> None:  # noqa: ANN001
    from contracts import ContractError

    w = _w()
    edit(w)
    with pytest.raises(ContractError, match=re.escape(key)):
        import_contract(w, label="theirs.json")


def test_whole_model_bad_values_are_listed_by_key() -> None:
    w = _w()
    w["encoder"]["streaming_io"]["inputs"][3]["layout"] = "BLX"
    w["streaming"]["cache_len_bounds"] = "0..256"
    w["trt"]["profiles"]["encoder_streaming"][1]["batch"] = {"min": 1, "max": 8}
    result = import_contract(w)
    unmapped = " | ".join(result.unmapped)
    assert "encoder.streaming_io.inputs.cache_last_time.layout" in unmapped
    assert "streaming.cache_len_bounds" in unmapped
    assert "trt.profiles.encoder_streaming[1].batch" in unmapped
    assert [p.name for p in result.contract.profiles] == ["stream"]


def test_unknown_schema_names_what_was_found_and_what_each_schema_needs() -> None:
    from contracts import ContractError

    with pytest.raises(ContractError) as info:
        import_contract({"model": "x", "graph": {"nodes": 3, "opset": 17}}, label="theirs.json")
    msg = str(info.value)
    assert "graph {nodes, opset}" in msg
    for need in ("streaming_io", "encoder_streaming", "trt_optimization_profiles", "stateful_cache", "cache_layout"):
        assert need in msg


def test_loading_a_whole_model_contract_directly_points_to_the_importer(tmp_path: Path) -> None:
    from contracts import ContractError

    p = tmp_path / "theirs.contract.json"
    p.write_text(json.dumps(_w()))
    with pytest.raises(ContractError, match="whole_model.*inspector contract import"):
        load_contract(p)


def test_whole_model_tolerances_outside_the_trt_section() -> None:
    w = _w()
    w["tolerances"] = w["trt"].pop("tolerances")  # {"ort": {...}, "trt": {...}} at the top level
    result = import_contract(w)
    c = result.contract
    assert tolerance_for(c, "cache_last_time_out", "ort-cpu", "fp32").atol == 0.1
    assert acceptance_threshold(c, "encoder_output_p95", "trt-fp16", "fp16") == 1.8e-3
    assert [p.name for p in c.profiles] == ["stream", "batched"]
    assert not [u for u in result.unmapped if u.startswith(("tolerances", "trt"))]


def test_whole_model_onnx_dtype_words_and_tensorrt_whole_shape_profiles() -> None:
    w = _w()
    io = w["encoder"]["streaming_io"]
    io["inputs"][0]["dtype"] = "FLOAT"
    io["inputs"][1]["dtype"] = "tensor(int64)"
    w["trt"]["profiles"]["encoder_streaming"] = [
        {"name": "stream", "audio_signal": {"min": [1, 128, 41], "opt": [1, 128, 57], "max": [2, 128, 57]},
         "batch": {"min": 1, "opt": 1, "max": 2}}]
    result = import_contract(w)
    c = result.contract
    assert (c.input("audio_signal").dtype, c.input("length").dtype) == ("float32", "int64")
    (profile,) = c.profiles
    assert profile.shapes["audio_signal"].max == (2, 128, 57) and profile.shapes["cache_last_time"].max[0] == 2

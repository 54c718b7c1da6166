"""Users' own contract files, odd but valid: sparse documents, the other schema's naming style, numbers written as
text, dtype spellings from torch/numpy, TensorRT's whole-shape profiles, a UTF-8 BOM. Each imports to what it
means, and what cannot be mapped is listed (never silently dropped, never a wrong dtype)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from contracts.importers import detect_schema, import_contract, import_contract_file
from contracts.load import load_contract

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
    a["inputs"]["audio_signal"]["layout"] = "BCT"
    a["runtime_contract"]["cache_padding"]["cache_last_channel_out"]["note"] = "hi"
    result = import_contract(a)
    unmapped = " | ".join(result.unmapped)
    assert "x_custom" in unmapped and "inputs.audio_signal.layout" in unmapped and ".note" in unmapped
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

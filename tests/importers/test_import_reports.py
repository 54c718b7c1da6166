"""Parsing the seed team's parity reports: schemas, failure strings, backend and precision, what is known per chunk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from inspector.errors import InspectorError
from inspector.importers.reports import detect_schema, parse_failure, parse_report, trt_backend

DATA = Path(__file__).parent / "data"


def sample(name: str) -> dict:
    return json.loads((DATA / name).read_text())


class TestFailureStrings:
    def test_encoder_output_string_gives_its_numbers(self) -> None:
        """The seed's failure strings carry max-abs, mean-abs and max-rel of the tensor they name."""
        err = parse_failure("encoder_output: max_abs=7.322e-04 mean_abs=1.173e-04 max_rel=1.936e+01")
        assert err is not None
        assert (err.tensor, err.max_abs, err.mean_abs, err.max_rel) == ("encoder_output", 7.322e-4, 1.173e-4, 19.36)

    def test_other_tensors_and_non_finite_values(self) -> None:
        """Cache tensors fail too; an FP16 engine can report inf/nan."""
        err = parse_failure("cache_last_time_out: max_abs=inf mean_abs=nan max_rel=1.0")
        assert err.tensor == "cache_last_time_out"
        assert math.isinf(err.max_abs) and math.isnan(err.mean_abs)

    def test_dict_entries_and_strings_without_a_tensor(self) -> None:
        """A structured entry is read by its keys; a string that names no tensor is kept verbatim (None here)."""
        err = parse_failure({"tensor": "encoder_output", "max_abs": 2e-3})
        assert (err.tensor, err.max_abs, err.mean_abs) == ("encoder_output", 2e-3, None)
        assert parse_failure("shape mismatch (1, 1024, 3) vs (1, 1024, 1)") is None


class TestSchemas:
    def test_ort_report(self) -> None:
        """ORT schema: backend from providers; a chunk with 'error' raised and is not in total_chunks."""
        r = parse_report(sample("ort_functional_cpu.json"))
        assert (r.schema, r.backend, r.precision, r.mode) == ("ort", "ort-cpu", "fp32", "functional")
        assert r.claims["total_chunks"] == 49 and len(r.chunks) == 50  # 49 compared + chunk 17 that raised
        raised = [c for c in r.chunks if c.status == "raised"]
        assert [c.index for c in raised] == [17] and "RUNTIME_EXCEPTION" in raised[0].raised
        assert any("raised" in n and "total_chunks" in n for n in r.notes)

    def test_ort_passing_chunks_carry_a_bound_not_a_number(self) -> None:
        """Chunks not listed among failures passed at atol: max-abs in [0, atol], never an invented value."""
        r = parse_report(sample("ort_functional_cpu.json"))
        passed = [c for c in r.chunks if c.status == "passed"]
        assert passed and all(c.frames_max_abs.lo == 0.0 and c.frames_max_abs.hi == 1e-4 for c in passed)
        assert not r.all_frames_known
        worst = max(c.frames_max_abs.lo for c in r.chunks if c.frames_max_abs and c.frames_max_abs.exact)
        assert worst == 7.322e-4

    def test_a_chunk_failing_only_on_the_cache_passed_encoder_output(self) -> None:
        """A chunk listed for cache_last_time_out only: encoder_output is still bounded by atol."""
        r = parse_report(sample("ort_functional_cpu.json"))
        cache_only = [c for c in r.chunks if c.errors and all(e.tensor != "encoder_output" for e in c.errors)]
        assert cache_only
        assert all(c.status == "failed" and c.frames_passed and c.frames_max_abs.hi == 1e-4 for c in cache_only)

    def test_rtol_leaves_passing_chunks_unbounded(self) -> None:
        """With rtol > 0 an element may exceed atol and still pass: no upper bound is claimed."""
        r = parse_report(sample("ort_cuda_closed_loop.json"))
        assert (r.backend, r.mode) == ("ort-cuda", "closed-loop")
        assert "tf32=on" in r.math_mode  # ORT's CUDA EP default, made visible
        passed = [c for c in r.chunks if c.status == "passed"]
        assert all(math.isinf(c.frames_max_abs.hi) for c in passed)

    def test_trt_report(self) -> None:
        """TensorRT schema: chunk_stats give every chunk's max-abs; FP16 read from the engine's filename."""
        r = parse_report(sample("trt_fp16.json"))
        assert (r.schema, r.backend, r.precision, r.runtime) == ("trt", "trt-fp16", "fp16", "tensorrt")
        assert r.all_frames_known and len(r.chunks) == 50
        assert r.timing_ms == {"mean": 4.12, "p50": 4.05, "p95": 4.61, "p99": 5.2}
        assert sum(c.status == "passed" for c in r.chunks) == 3

    def test_trt_precision_and_tf32(self) -> None:
        """Fields win over the filename; TF32 off is read from names like *_notf32.engine."""
        assert trt_backend({"engine": "e/enc_fp32_notf32.engine"})[:3] == ("trt-fp32", "fp32", "tf32=off")
        assert trt_backend({"engine": "enc.plan", "precision": "FP16"})[:2] == ("trt-fp16", "fp16")
        assert trt_backend({"engine": {"path": "x.engine", "fp16": True}})[1] == "fp16"
        backend, precision, math_mode, _, found = trt_backend({"engine": "model.engine"})
        assert (backend, precision) == ("trt", "unknown") and "unknown" in math_mode and "nothing" in found

    def test_inconsistent_totals_are_noted(self) -> None:
        """A pass_rate written as a fraction (theirs is a percentage) is pointed out, not silently rescaled."""
        doc = sample("ort_functional_cpu.json")
        doc["pass_rate"] = round(doc["passed"] / doc["total_chunks"], 4)
        r = parse_report(doc)
        assert any("looks like a fraction" in n for n in r.notes)


class TestUnknown:
    def test_unknown_schema_names_both_expected_schemas(self) -> None:
        with pytest.raises(InspectorError, match="unknown report schema") as exc:
            detect_schema({"results": [], "model": "x.onnx"}, "r.json")
        text = str(exc.value)
        assert "total_chunks" in text and "chunk_stats" in text and "r.json" in text and "results" in text

    def test_bad_field_types_name_the_field(self) -> None:
        doc = sample("ort_functional_cpu.json")
        doc["total_chunks"] = "fifty"
        with pytest.raises(InspectorError, match="'total_chunks' must be a non-negative integer"):
            parse_report(doc)
        doc = sample("ort_functional_cpu.json")
        doc["failures"][0] = {"errors": ["encoder_output: max_abs=1e-3"]}
        with pytest.raises(InspectorError, match=r"failures\[0\]: has no integer 'chunk'"):
            parse_report(doc)

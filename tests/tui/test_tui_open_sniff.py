"""What `inspector tui PATH` takes a path to be, by content: reference JSONL files as another team might write them
(key order, a first line bigger than what is read, CRLF, a BOM, base64), stores, reports and summaries in their
variants; and what opening each takes (`plan_open`), with one-paragraph errors for what it cannot open."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))

from store_samples import b64, chunk_tensors, write_lines, write_reference, write_seed_reference  # noqa: E402

from inspector.errors import InspectorError  # noqa: E402
from inspector.tui.opening import HEAD_BYTES, plan_open, sniff, store_beside  # noqa: E402

IMPORT_SAMPLES = Path(__file__).parents[1] / "importers" / "data"


def test_our_format_with_and_without_header(tmp_path) -> None:
    with_header, _ = write_reference(tmp_path / "a.jsonl", n=2)
    without, _ = write_reference(tmp_path / "b.data", n=2, header=False)
    assert (sniff(with_header).kind, sniff(with_header).what) == ("reference", "reference JSONL (ours, with header)")
    assert (sniff(without).kind, sniff(without).what) == ("reference", "reference JSONL (ours)")


def test_the_seed_format_whatever_the_name(tmp_path) -> None:
    seed, _ = write_seed_reference(tmp_path / "dump", n=2)
    s = sniff(seed)
    assert (s.kind, s.what) == ("reference", "reference JSONL (seed team's format)")


def test_a_first_line_longer_than_what_is_read_with_the_index_last(tmp_path) -> None:
    """A writer that puts the tensors first and chunk_idx last: only "inputs" is within the bytes read."""
    ins, outs = chunk_tensors(0)
    ins["audio_signal"] = np.zeros((1, 128, HEAD_BYTES // 64), np.float32)  # base64 far longer than HEAD_BYTES
    line = {"inputs": {k: b64(v, "data_b64") for k, v in ins.items()},
            "outputs": {k: b64(v, "data_b64") for k, v in outs.items()}, "chunk_idx": 0}
    path = write_lines(tmp_path / "big.jsonl", [line])
    assert path.stat().st_size > 2 * HEAD_BYTES
    assert sniff(path).kind == "reference"


def test_crlf_and_a_utf8_bom(tmp_path) -> None:
    ref, _ = write_reference(tmp_path / "r.jsonl", n=2)
    data = b"\xef\xbb\xbf" + ref.read_bytes().replace(b"\n", b"\r\n")
    (tmp_path / "win.jsonl").write_bytes(data)
    assert sniff(tmp_path / "win.jsonl").kind == "reference"


@pytest.mark.parametrize("name, kind", [("ort_cuda_closed_loop.json", "report"), ("trt_fp32_growing.json", "report"),
                                        ("summary_stateful.jsonl", "summary"),
                                        ("summary_padded_last.json", "summary")])
def test_reports_and_summaries(tmp_path, name, kind) -> None:
    assert sniff(IMPORT_SAMPLES / name).kind == kind
    # the same document on one line, under a name that says nothing
    doc = IMPORT_SAMPLES / name
    if doc.suffix == ".json":
        (tmp_path / "x").write_text(json.dumps(json.loads(doc.read_text())))
        assert sniff(tmp_path / "x").kind == kind


def test_a_report_names_its_reference(tmp_path) -> None:
    s = sniff(IMPORT_SAMPLES / "ort_cuda_closed_loop.json")
    assert s.ref == "ref/ref_50chunks.jsonl" and "ONNX Runtime schema, 40 chunks" in s.what


def test_what_is_not_opened_says_why(tmp_path) -> None:
    ref, _ = write_reference(tmp_path / "r.jsonl", n=1)
    (tmp_path / "r.jsonl.gz").write_bytes(gzip.compress(ref.read_bytes()))
    (tmp_path / "other.json").write_text('{"epochs": 3, "lr": 0.1}')
    (tmp_path / "text.txt").write_text("not json")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "folder").mkdir()
    assert "gzip-compressed" in sniff(tmp_path / "r.jsonl.gz").problem
    assert "missing total_chunks" in sniff(tmp_path / "other.json").problem
    assert "does not start with a JSON object" in sniff(tmp_path / "text.txt").problem
    assert sniff(tmp_path / "empty.jsonl").problem == "is empty."
    assert "not a parity store" in sniff(tmp_path / "folder").problem
    for name in ("r.jsonl.gz", "other.json", "text.txt", "empty.jsonl", "folder"):
        assert sniff(tmp_path / name).kind == "unknown"


def test_a_store_is_described(tmp_path) -> None:
    from store.convert import convert

    ref, _ = write_reference(tmp_path / "r.jsonl", n=3, streams=("a", "b"))
    convert(ref, tmp_path / "r.zarr", progress=False, workers=1)
    s = sniff(tmp_path / "r.zarr")
    assert s.kind == "store" and s.what == "parity store · 2 streams · 6 chunks · 0 runs" and s.size > 0


# --- plan_open ---------------------------------------------------------------------------------------------------

def test_a_jsonl_converts_beside_itself_or_into_store(tmp_path) -> None:
    ref, _ = write_reference(tmp_path / "ref.jsonl", n=1)
    assert store_beside(ref) == tmp_path / "ref.zarr"
    plan = plan_open(ref)
    assert (plan.store, plan.convert_from, plan.report) == (tmp_path / "ref.zarr", ref, None)
    assert plan_open(ref, tmp_path / "s.zarr").store == tmp_path / "s.zarr"


def test_a_report_goes_to_the_reference_it_names(tmp_path) -> None:
    (tmp_path / "ref").mkdir()
    ref, _ = write_reference(tmp_path / "ref" / "ref_50chunks.jsonl", n=1)
    shutil.copy(IMPORT_SAMPLES / "ort_cuda_closed_loop.json", tmp_path / "report.json")
    plan = plan_open(tmp_path / "report.json")
    assert (plan.store, plan.convert_from, plan.report) == (tmp_path / "ref" / "ref_50chunks.zarr", ref,
                                                              tmp_path / "report.json")


def test_errors_are_one_paragraph_naming_the_path(tmp_path) -> None:
    shutil.copy(IMPORT_SAMPLES / "trt_fp16.json", tmp_path / "trt.json")
    (tmp_path / "text.txt").write_text("not json")
    with pytest.raises(InspectorError, match=r"nope\.jsonl: no such file or folder\. `inspector tui` opens"):
        plan_open(tmp_path / "nope.jsonl")
    with pytest.raises(InspectorError, match=r"text\.txt: does not start with a JSON object or list\."):
        plan_open(tmp_path / "text.txt")
    with pytest.raises(InspectorError, match=r"trt\.json: a parity report; .* Pass --store STORE\.zarr"):
        plan_open(tmp_path / "trt.json")
    with pytest.raises(InspectorError, match=r"--store .*missing\.zarr: no such store or reference JSONL"):
        plan_open(tmp_path / "trt.json", tmp_path / "missing.zarr")


def test_the_command_refuses_a_bad_path_before_opening_the_app(tmp_path) -> None:
    (tmp_path / "text.txt").write_text("not json")
    done = subprocess.run([sys.executable, "-m", "inspector.cli", "tui", str(tmp_path / "text.txt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tmp_path / 'text.txt'}: does not start with a JSON object")
    assert done.stderr.count("\n") == 1  # one paragraph, no traceback

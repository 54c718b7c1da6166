"""Bad input: each case stops with exit 2 and a message naming file, line, stream, chunk and tensor, keeps every
chunk converted before it, and with --skip-invalid converts the rest and records what was left out."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from store_samples import b64, chunk_tensors, ours_line, seed_line, write_lines

from contracts.model import Contract, TensorSpec
from inspector.cli import main
from store import Store
from store.convert import convert
from store.errors import JsonlError


def _good(i, stream="default"):
    return ours_line(stream, i, *chunk_tensors(i))


def _contract():
    ins, outs = chunk_tensors(1)
    sym = {"audio_signal": ("B", 4, "T"), "cache_last_channel": ("B", 2, 16, "D"),
           "cache_last_time": ("B", 2, "D", 4), "encoder_output": ("B", "D", 3),
           "cache_last_channel_out": ("B", 2, 16, "D"), "cache_last_time_out": ("B", 2, "D", 4)}
    spec = lambda n, a: TensorSpec(n, str(a.dtype), sym.get(n, ("B",)))  # noqa: E731
    return Contract(name="tiny-test", version=1, inputs=tuple(spec(n, a) for n, a in ins.items()),
                    outputs=tuple(spec(n, a) for n, a in outs.items()))


def _convert_fails(tmp_path, lines, *, code, match, line=None, stream=None, chunk=None, tensor=None,
                   kept=None, contract=None, newline_at_end=True):
    path = write_lines(tmp_path / "bad.jsonl", lines, newline_at_end=newline_at_end)
    shutil.rmtree(tmp_path / "s.zarr", ignore_errors=True)
    with pytest.raises(JsonlError, match=match) as info:
        convert(path, tmp_path / "s.zarr", contract=contract, workers=1, progress=False)
    err = info.value
    assert err.code == code
    assert err.where.path.endswith("bad.jsonl") and str(path) in str(err) or "bad.jsonl" in str(err)
    assert (err.where.line, err.where.stream, err.where.chunk, err.where.tensor) == (line, stream, chunk, tensor)
    if kept is not None:
        store = Store.open(tmp_path / "s.zarr")
        assert store.chunk_indices("default") == kept
        assert "Everything before it is kept" in str(err)
        assert store.attrs["conversion"]["status"] == "stopped"
    return err


def test_truncated_last_line(tmp_path):
    text = json.dumps(_good(2))
    _convert_fails(tmp_path, [_good(0), _good(1), text[: len(text) // 2]], newline_at_end=False,
                   code="truncated", match="cut off", line=3, kept=[0, 1])


def test_truncated_last_line_of_base64(tmp_path):
    text = json.dumps(ours_line("default", 1, *chunk_tensors(1), b64))
    _convert_fails(tmp_path, [_good(0), text[: len(text) - 500]], newline_at_end=False, code="truncated",
                   match="last line", line=2, kept=[0])


def test_invalid_json(tmp_path):
    text = json.dumps(_good(1)).replace('"chunk_index": 1,', '"chunk_index": 1,,')
    _convert_fails(tmp_path, [_good(0), text], code="invalid_json", match="not valid JSON", line=2, kept=[0])


def test_line_not_an_object(tmp_path):
    _convert_fails(tmp_path, [_good(0), "[1, 2, 3]"], code="not_object", match="not a JSON object but an array",
                   line=2, kept=[0])


def test_missing_tensor_vs_contract(tmp_path):
    bad = _good(1)
    del bad["inputs"]["cache_last_time"]
    err = _convert_fails(tmp_path, [_good(0), bad], code="missing_tensor", match="is missing", line=2,
                         stream="default", chunk=1, tensor="cache_last_time", kept=[0], contract=_contract())
    assert "tiny-test" in str(err) and "input 'cache_last_time'" in str(err)


def test_unexpected_tensor_vs_contract(tmp_path):
    bad = _good(1)
    bad["outputs"]["encoder_outptu"] = bad["outputs"].pop("encoder_output")
    _convert_fails(tmp_path, [_good(0), bad], code="missing_tensor", match="encoder_output", line=2,
                   stream="default", chunk=1, tensor="encoder_output", contract=_contract())
    bad = _good(1)
    bad["outputs"]["extra"] = [1.0]
    _convert_fails(tmp_path, [_good(0), bad], code="unexpected_tensor", match="not in the contract", line=2,
                   stream="default", chunk=1, tensor="extra", contract=_contract())


def test_missing_tensor_without_contract_vs_first_line(tmp_path):
    bad = _good(1)
    del bad["outputs"]["encoded_lengths"]
    _convert_fails(tmp_path, [_good(0), bad], code="missing_tensor", match="the first chunk", line=2,
                   stream="default", chunk=1, tensor="encoded_lengths", kept=[0])


def test_wrong_shape_and_dtype_vs_contract(tmp_path):
    ins, outs = chunk_tensors(1)
    ins["cache_last_time"] = ins["cache_last_time"][:, :, :, :3]
    err = _convert_fails(tmp_path, [_good(0), ours_line("default", 1, ins, outs)], code="shape",
                         match=r"axis 3 must be 4", line=2, stream="default", chunk=1, tensor="cache_last_time",
                         kept=[0], contract=_contract())
    assert "[1, 2, 8, 3]" in str(err)
    ins, outs = chunk_tensors(1)
    ins["length"] = ins["length"].astype(np.int32)
    _convert_fails(tmp_path, [_good(0), ours_line("default", 1, ins, outs)], code="tensor",
                   match="dtype int32; the contract says int64", line=2, stream="default", chunk=1, tensor="length",
                   contract=_contract())


def test_symbolic_dims_must_agree_within_a_chunk(tmp_path):
    ins, outs = chunk_tensors(1)
    outs["encoder_output"] = np.zeros((1, 5, 3), np.float32)  # D is 8 in the caches
    _convert_fails(tmp_path, [ours_line("default", 0, ins, outs)], code="shape", match="'D' is 8", line=1,
                   stream="default", chunk=0, tensor="encoder_output", contract=_contract())


def test_gap_in_chunk_index(tmp_path):
    _convert_fails(tmp_path, [_good(0), _good(1), _good(3)], code="gap", match="chunk 2 missing", line=3,
                   stream="default", chunk=3, kept=[0, 1])


def test_duplicate_chunk_index_other_streams_interleaving_is_fine(tmp_path):
    lines = [_good(0), _good(0, "b"), _good(1), _good(1, "b"), _good(1)]
    _convert_fails(tmp_path, lines, code="duplicate", match="already on line 3", line=5, stream="default", chunk=1,
                   kept=[0, 1])


def test_empty_file_and_missing_path(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(JsonlError, match="is empty"):
        convert(tmp_path / "empty.jsonl", tmp_path / "s.zarr", progress=False)
    (tmp_path / "blank.jsonl").write_bytes(b"\n\n")
    with pytest.raises(JsonlError, match="no chunk lines"):
        convert(tmp_path / "blank.jsonl", tmp_path / "s2.zarr", progress=False, workers=1)
    with pytest.raises(JsonlError, match="does not exist"):
        convert(tmp_path / "nope.jsonl", tmp_path / "s3.zarr", progress=False)
    assert not (tmp_path / "s3.zarr").exists()


def test_broken_base64(tmp_path):
    ins, outs = chunk_tensors(1)
    line = seed_line(1, ins, outs)
    line["inputs"]["cache_last_channel"]["data_b64"] = "@@" + line["inputs"]["cache_last_channel"]["data_b64"][2:]
    _convert_fails(tmp_path, [seed_line(0, *chunk_tensors(0)), line], code="tensor", match="broken base64", line=2,
                   stream="default", chunk=1, tensor="cache_last_channel", kept=[0])
    line = seed_line(1, ins, outs)
    line["inputs"]["cache_last_time"]["data_b64"] = line["inputs"]["cache_last_time"]["data_b64"][:-8]
    _convert_fails(tmp_path, [seed_line(0, *chunk_tensors(0)), line], code="tensor", match="holds 252 bytes.*needs 256",
                   line=2, stream="default", chunk=1, tensor="cache_last_time")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_npy_path_escaping_the_folder_is_refused(tmp_path, how):
    outside = tmp_path / "outside.npy"
    np.save(outside, np.zeros(3, np.float32))
    folder = tmp_path / "ref"
    folder.mkdir()
    if how == "symlink":
        os.symlink(outside, folder / "link.npy")
    rel = {"dotdot": "../outside.npy", "absolute": str(outside), "symlink": "link.npy"}[how]
    line = {"chunk_idx": 0, "inputs": {"audio_signal": {"npy_path": rel}}, "outputs": {}, "metadata": {}}
    path = write_lines(folder / "bad.jsonl", [line])
    with pytest.raises(JsonlError, match="absolute" if how == "absolute" else "outside the JSONL's folder") as info:
        convert(path, tmp_path / "s.zarr", workers=1, progress=False)
    assert info.value.where.tensor == "audio_signal" and info.value.where.line == 1


def test_ragged_nested_list_is_an_error_not_silently_flattened(tmp_path):
    big = np.zeros((40, 1000), np.float32).tolist()
    big[7] = big[7][:-1]
    big[8] = big[8] + [0.0]  # same total count, different rows: a flattening parser would not notice
    line = {"stream": "default", "chunk_index": 0, "inputs": {"x": big}, "outputs": {}}
    small = {"stream": "default", "chunk_index": 1, "inputs": {"x": [[1.0, 2.0], [3.0]]}, "outputs": {}}
    _convert_fails(tmp_path, [line], code="tensor", match="ragged", line=1, stream="default", chunk=0, tensor="x")
    _convert_fails(tmp_path, [{"stream": "default", "chunk_index": 0, "inputs": {"x": [[1.0, 2.0]]}, "outputs": {}},
                              small], code="tensor", match="ragged", line=2, stream="default", chunk=1, tensor="x")


def test_skip_invalid_converts_the_rest_and_records_what_was_skipped(tmp_path):
    bad_json = json.dumps(_good(2)).replace('"inputs"', '"inputs" "')
    lines = [_good(0), _good(1), bad_json, _good(3), _good(3), "[]", _good(4)]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    result = convert(path, tmp_path / "s.zarr", workers=1, skip_invalid=True, progress=False)
    store = Store.open(tmp_path / "s.zarr")
    assert store.chunk_indices("default") == [0, 1, 3, 4]
    skipped = store.attrs["skipped"]
    assert [(s["line"], s["code"]) for s in skipped] == [(3, "invalid_json"), (5, "duplicate"), (6, "not_object")]
    assert [(w["line"], w["code"]) for w in store.attrs["warnings"]] == [(4, "gap")]
    assert len(result.skipped) == 3 and store.info()["streams"][0]["missing"] == [2]


def test_cli_exit_code_2_and_one_paragraph(tmp_path, capsys):
    path = write_lines(tmp_path / "bad.jsonl", [_good(0), "{oops"])
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(path), "-o", str(tmp_path / "s.zarr"), "--workers", "1", "-q"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "bad.jsonl, line 2" in err and "not valid JSON" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(path), "-o", str(tmp_path / "s.zarr"), "--workers", "1", "-q", "--skip-invalid"])
    assert exit_info.value.code == 0
    assert "1 line(s) skipped" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["info", str(tmp_path / "s.zarr")])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "skipped lines (1)" in out and "line 2" in out

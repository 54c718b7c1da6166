"""Files we have never seen: the shapes real users' writers produce (line endings, BOMs, dtype spellings, byte
orders, odd names, whole-file layouts that are not JSON Lines). Each either converts to exactly the values the file
means, or stops with one clear paragraph (exit 2 through the CLI) — never a traceback, never a write outside the
store."""

from __future__ import annotations

import base64
import gzip
import json
import math

import numpy as np
import pytest
from store_samples import b64, chunk_tensors, data, ours_line, seed_line, write_lines

from inspector.cli import main
from store import Store
from store.convert import convert
from store.errors import JsonlError


def _lines(n=3, stream="s", encode=data):
    return [ours_line(stream, i, *chunk_tensors(i), encode=encode) for i in range(n)]


def _convert(tmp_path, path, **kw):
    return convert(path, tmp_path / "s.zarr", workers=1, progress=False, **kw)


def _cli(*args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


def _assert_round_trip(store_path, lines):
    store = Store.open(store_path)
    for line in lines:
        chunk = store.chunk(line.get("stream", "default"), line.get("chunk_index", line.get("chunk_idx")))
        for name, value in line["inputs"].items():
            want = np.asarray(value["data"]).reshape(value["shape"]) if isinstance(value, dict) else np.asarray(value)
            np.testing.assert_array_equal(chunk.input(name), want.astype(chunk.input(name).dtype))


@pytest.mark.parametrize("layout", ["crlf", "bom", "blank_lines", "no_final_newline", "keys_reversed",
                                    "extra_keys", "spaced"])
def test_writer_variations_convert_to_the_same_values(tmp_path, layout):
    lines = _lines()
    texts = [json.dumps(x) for x in lines]
    if layout == "keys_reversed":
        texts = [json.dumps(dict(reversed(list(x.items())))) for x in lines]
    elif layout == "extra_keys":
        texts = [json.dumps({**x, "writer": {"name": "theirs"}, "version": 7}) for x in lines]
    elif layout == "spaced":
        texts = [json.dumps(x, separators=(" , ", " : ")) for x in lines]
    sep, end, prefix = {"crlf": ("\r\n", "\r\n", ""), "bom": ("\n", "\n", "\ufeff"),
                        "blank_lines": ("\n\n  \n", "\n\n", ""), "no_final_newline": ("\n", "", "")
                        }.get(layout, ("\n", "\n", ""))
    path = tmp_path / "ref.jsonl"
    path.write_bytes((prefix + sep.join(texts) + end).encode())
    result = _convert(tmp_path, path)
    assert result.chunks_total == 3
    _assert_round_trip(tmp_path / "s.zarr", lines)


def test_long_unicode_and_path_like_stream_names_stay_inside_the_store(tmp_path):
    names = ["ü" * 200, "../../escape", "a/b", "..", ".", "a\x00b", "声"]
    lines = [ours_line(n, 0, *chunk_tensors(0)) for n in names]
    path = write_lines(tmp_path / "ref.jsonl", lines)
    _convert(tmp_path, path)
    store = Store.open(tmp_path / "s.zarr")
    assert sorted(store.streams()) == sorted(names)
    assert all(store.num_chunks(n) == 1 for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.jsonl", "s.zarr"]  # nothing written beside it
    assert store.info()["damaged"] == []


def test_tensor_names_cannot_write_outside_the_store(tmp_path):
    evil = "../../../../../../../" + str(tmp_path / "EVIL").lstrip("/")
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"][evil] = [1.0, 2.0]
    line["inputs"]["t" * 300] = [3.0]
    line["inputs"][".."] = [4.0]
    path = write_lines(tmp_path / "ref.jsonl", [line])
    _convert(tmp_path, path)
    assert not (tmp_path / "EVIL").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.jsonl", "s.zarr"]
    chunk = Store.open(tmp_path / "s.zarr").chunk("s", 0)
    np.testing.assert_array_equal(chunk.input(evil), [1.0, 2.0])
    np.testing.assert_array_equal(chunk.input("t" * 300), [3.0])
    np.testing.assert_array_equal(chunk.input(".."), [4.0])
    assert {t.name for t in chunk.tensor_infos()} >= {evil, "t" * 300, ".."}


def test_empty_tensor_name_is_refused(tmp_path):
    line = ours_line("s", 0, *chunk_tensors(0))
    line["outputs"][""] = [1.0]
    with pytest.raises(JsonlError, match="empty name"):
        _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))


@pytest.mark.parametrize("spelling", ["<f4", ">f4", "torch.float32", "np.float32", "f4"])
def test_dtype_spellings_and_byte_orders(tmp_path, spelling):
    values = np.array([1.5, -2.25, 3e-7], np.float32)
    order = ">" if spelling.startswith(">") else "<"
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"]["x"] = {"dtype": spelling, "shape": [3],
                           "b64": base64.b64encode(values.astype(values.dtype.newbyteorder(order)).tobytes()).decode()}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    got = Store.open(tmp_path / "s.zarr").chunk("s", 0).input("x")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values)


def test_byteorder_key_is_honoured_and_a_conflict_is_an_error(tmp_path):
    values = np.array([1.0, 2.0], np.float32)
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"]["x"] = {"dtype": "float32", "byteorder": "big", "shape": [2],
                           "b64": base64.b64encode(values.astype(">f4").tobytes()).decode()}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    np.testing.assert_array_equal(Store.open(tmp_path / "s.zarr").chunk("s", 0).input("x"), values)
    line["inputs"]["x"]["dtype"] = "<f4"
    with pytest.raises(JsonlError, match="byte order"):
        convert(write_lines(tmp_path / "ref2.jsonl", [line]), tmp_path / "t.zarr", workers=1, progress=False)


def test_big_endian_npy_is_read_as_its_values(tmp_path):
    ins, outs = chunk_tensors(0)
    np.save(tmp_path / "eo.npy", outs["encoder_output"].astype(">f4"))
    line = seed_line(0, ins, outs)
    line["outputs"]["encoder_output"] = {"npy_path": "eo.npy", "dtype": "float32"}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    got = Store.open(tmp_path / "s.zarr").chunk("default", 0).output("encoder_output")
    np.testing.assert_array_equal(got, outs["encoder_output"])


def test_unpadded_base64_converts_and_one_missing_character_is_still_an_error(tmp_path):
    ins, outs = chunk_tensors(0)
    values = np.arange(5, dtype=np.float32)  # 20 bytes: base64 needs one '=' of padding
    line = ours_line("s", 0, ins, outs, encode=b64)
    line["inputs"]["x"] = {"dtype": "float32", "shape": [5],
                           "b64": base64.b64encode(values.tobytes()).decode().rstrip("=")}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    np.testing.assert_array_equal(Store.open(tmp_path / "s.zarr").chunk("s", 0).input("x"), values)
    line["inputs"]["x"]["b64"] = line["inputs"]["x"]["b64"][:-1]
    with pytest.raises(JsonlError, match="needs 20"):
        convert(write_lines(tmp_path / "ref2.jsonl", [line]), tmp_path / "t.zarr", workers=1, progress=False)


def test_integral_float_chunk_index_is_accepted_and_absurd_ones_are_not(tmp_path):
    lines = _lines(3)
    lines[1]["chunk_index"] = 1.0
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", lines))
    assert Store.open(tmp_path / "s.zarr").chunk_indices("s") == [0, 1, 2]
    lines[1]["chunk_index"] = 10**30
    with pytest.raises(JsonlError, match="invalid") as info:
        convert(write_lines(tmp_path / "ref2.jsonl", lines), tmp_path / "t.zarr", workers=1, progress=False)
    assert info.value.where.line == 2


def test_huge_chunk_index_gap_with_skip_invalid_keeps_info_fast(tmp_path):
    lines = _lines(2)
    lines[1]["chunk_index"] = 10**9
    result = _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", lines), skip_invalid=True)
    assert result.chunks_total == 2 and result.warnings
    info = Store.open(tmp_path / "s.zarr").info()
    stream = info["streams"][0]
    assert stream["missing_count"] == 10**9 - 1 and len(stream["missing"]) <= 1000
    assert _cli("info", tmp_path / "s.zarr") == 0


@pytest.mark.parametrize("case, code, match", [
    ("gzip", "compressed", "gzip-compressed"),
    ("utf16", "encoding", "UTF-16"),
    ("pretty", "invalid_json", "pretty-printed"),
    ("array", "not_object", "JSON array of 3 objects"),
    ("nul_tail", "invalid_json", "NUL bytes"),
    ("cr_only", "invalid_json", "CR-only"),
])
def test_files_that_are_not_json_lines_say_what_they_are(tmp_path, case, code, match):
    lines = _lines()
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    path = tmp_path / "ref.jsonl"
    raw = {"gzip": gzip.compress(text.encode()), "utf16": text.encode("utf-16"),
           "pretty": json.dumps(lines[0], indent=2).encode(), "array": json.dumps(lines).encode(),
           "nul_tail": text.encode() + b"\x00" * 512, "cr_only": text.replace("\n", "\r").encode()}[case]
    path.write_bytes(raw)
    with pytest.raises(JsonlError, match=match) as info:
        _convert(tmp_path, path)
    assert info.value.code == code
    assert _cli("convert", path, "-o", tmp_path / "cli.zarr", "-q", "--workers", "1") == 2


def test_header_only_and_a_json_array_exit_2(tmp_path, capsys):
    path = write_lines(tmp_path / "h.jsonl", [{"format": "parity-reference", "version": 1}])
    assert _cli("convert", path, "-o", tmp_path / "h.zarr", "-q") == 2
    assert "no chunk lines" in capsys.readouterr().err


def test_skip_invalid_with_non_finite_and_odd_dtypes_keeps_values(tmp_path):
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"]["f16"] = {"dtype": "float16", "shape": [2], "data": [1.5, "Infinity"]}
    line["inputs"]["flags"] = {"dtype": "bool", "shape": [2], "data": [1, 0]}
    line["inputs"]["scalar"] = {"dtype": "int32", "shape": [], "data": [7]}
    line["inputs"]["empty"] = {"dtype": "float64", "shape": [1, 0, 4], "data": []}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    chunk = Store.open(tmp_path / "s.zarr").chunk("s", 0)
    assert chunk.input("f16").dtype == np.float16 and math.isinf(chunk.input("f16")[1])
    assert chunk.input("flags").tolist() == [True, False]
    assert chunk.input("scalar").shape == () and int(chunk.input("scalar")) == 7
    assert chunk.input("empty").shape == (1, 0, 4) and chunk.input("empty").dtype == np.float64


def _layout_contract(perm):
    from contracts.model import Contract, TensorSpec

    ins, outs = chunk_tensors(1)
    fixed = {"audio_signal": ("B", 4, "T"), "encoder_output": ("B", 8, "T_out")}

    def spec(name, a):
        caches = name.startswith(("cache_last_channel", "cache_last_time")) and a.ndim == 4
        shape = fixed.get(name, ("B", *a.shape[1:]) if a.ndim > 1 else ("B",))
        return TensorSpec(name, str(a.dtype), shape, ref_perm=perm if caches else None)

    return Contract(name="layout-test", version=1, inputs=tuple(spec(n, a) for n, a in ins.items()),
                    outputs=tuple(spec(n, a) for n, a in outs.items()))


def _layer_first_lines(n=2):
    lines = []
    for i in range(n):
        ins, outs = chunk_tensors(i)
        for k in ("cache_last_channel", "cache_last_time"):
            ins[k] = np.ascontiguousarray(np.swapaxes(ins[k], 0, 1))
            outs[k + "_out"] = np.ascontiguousarray(np.swapaxes(outs[k + "_out"], 0, 1))
        lines.append(seed_line(i, ins, outs))
    return lines


def test_layer_first_seed_file_converts_with_a_ref_perm_contract(tmp_path):
    lines = _layer_first_lines()
    result = _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", lines), contract=_layout_contract((1, 0, 2, 3)))
    assert result.chunks_total == 2
    assert Store.open(tmp_path / "s.zarr").chunk("default", 0).input("cache_last_channel").shape == (2, 1, 16, 8)


def test_layout_mismatches_say_which_layout_the_file_has(tmp_path):
    with pytest.raises(JsonlError, match="layer-first, as older seed files do"):
        _convert(tmp_path, write_lines(tmp_path / "lf.jsonl", _layer_first_lines()), contract=_layout_contract(None))
    with pytest.raises(JsonlError, match="in the model's layout already"):
        convert(write_lines(tmp_path / "bf.jsonl", _lines()), tmp_path / "t.zarr", workers=1, progress=False,
                contract=_layout_contract((1, 0, 2, 3)))


def test_data_nested_exactly_as_its_shape_is_accepted_and_otherwise_refused(tmp_path):
    big = np.random.default_rng(0).standard_normal((2, 64, 160)).astype(np.float32)  # > 64 KB of text
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"]["big"] = {"dtype": "float32", "shape": list(big.shape), "data": big.tolist()}
    line["inputs"]["small"] = {"dtype": "float32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    chunk = Store.open(tmp_path / "s.zarr").chunk("s", 0)
    np.testing.assert_array_equal(chunk.input("big"), big)
    np.testing.assert_array_equal(chunk.input("small"), [[1, 2], [3, 4]])
    line["inputs"]["small"]["shape"] = [4]
    with pytest.raises(JsonlError, match="flat list"):
        convert(write_lines(tmp_path / "ref2.jsonl", [line]), tmp_path / "t.zarr", workers=1, progress=False)


def test_info_summarises_seed_metadata_values(tmp_path, capsys):
    lines = [seed_line(i, *chunk_tensors(i), metadata={"chunk_len": 41 if i == 0 else 57, "schedule": "stateful",
                                                       "cache_len_out_raw_value": -67, "timing_ms": float("nan")})
             for i in range(3)]
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", lines))
    assert _cli("info", tmp_path / "s.zarr") == 0
    out = capsys.readouterr().out
    assert "chunk_len" in out and "41..57" in out and "stateful" in out and "-67" in out and "NaN on 3" in out


@pytest.mark.parametrize("case, match", [("nul", "NUL character"), ("folder", "is a folder"),
                                         ("strings", "holds a <U3 array"), ("complex", "complex128")])
def test_npy_paths_that_are_not_numeric_npy_files(tmp_path, case, match):
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "strings.npy", np.array(["abc"]))
    np.save(tmp_path / "complex.npy", np.array([1 + 2j]))
    rel = {"nul": "a\x00b.npy", "folder": "sub", "strings": "strings.npy", "complex": "complex.npy"}[case]
    line = seed_line(0, *chunk_tensors(0))
    line["outputs"]["encoder_output"] = {"npy_path": rel}
    with pytest.raises(JsonlError, match=match) as info:
        _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    assert info.value.where.tensor == "encoder_output"


@pytest.mark.parametrize("n_values", [3, 30000], ids=["small_line", "big_line"])
def test_an_absurd_declared_shape_is_refused_without_allocating_it(tmp_path, n_values):
    """shape [1e5, 1e5, 1e5] (4 PB) next to a few numbers: refused by counting, never built in memory."""
    line = ours_line("s", 0, *chunk_tensors(0))
    line["inputs"]["x"] = {"dtype": "float32", "shape": [100000, 100000, 100000], "data": list(range(n_values))}
    with pytest.raises(JsonlError, match="1000000000000000") as info:
        _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))
    assert info.value.where.tensor == "x"


# --- number text as other writers print it, on the direct simdjson path (tensors above 64 KB of text) ----------
def _cache(seed=0, shape=(1, 3, 64, 256)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _big_line(index, tensors, stream="s", meta=None):
    return {"stream": stream, "chunk_index": index, "inputs": tensors, "outputs": {}, "meta": meta or {}}


@pytest.mark.parametrize("style", ["exponent", "integers", "negative_zero", "spaces_and_tabs"])
def test_number_styles_of_other_writers_convert_to_exact_values(tmp_path, style):
    """C's printf("%.8e"), integer-valued floats written as integers, signed zeros, and whitespace (spaces, tabs,
    carriage returns) between numbers and brackets: all decode to the same float32 bits."""
    a = _cache()
    if style == "integers":
        a = np.round(a * 100) + np.float32(0)  # no -0.0: an integer has no sign of zero
    elif style == "negative_zero":
        a[a < 0] = -0.0
    if style == "exponent":
        flat_text = ",".join(f"{v:.8e}" for v in a.ravel().tolist())
    else:
        flat_text = ",".join(str(int(v)) if style == "integers" else repr(v) for v in a.ravel().tolist())
    nested_text = json.dumps(a.tolist())
    if style == "spaces_and_tabs":
        flat_text = flat_text.replace(",", " ,\t")
        nested_text = nested_text.replace("], [", " ] ,\r\t[ ").replace("[[", "[ [")
    text = (f'{{"stream": "s", "chunk_index": 0, "inputs": {{"flat": {{"dtype": "float32", "shape": {list(a.shape)}, '
            f'"data": [ {flat_text} ]}}, "nested": {nested_text}}}, "outputs": {{}}}}')
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [text]))
    chunk = Store.open(tmp_path / "s.zarr").chunk("s", 0)
    for name in ("flat", "nested"):
        got = chunk.input(name)
        assert got.dtype == np.float32  # 'data' has its dtype; json.dumps writes the nested floats as 13.0
        assert got.astype(np.float32).tobytes() == a.tobytes(), name  # bit-exact, -0.0 included
    if style == "negative_zero":
        assert np.signbit(chunk.input("flat")).sum() == np.signbit(a).sum()


def test_non_ascii_strings_with_brackets_beside_big_arrays(tmp_path):
    """Strings the skeleton must step over (non-ASCII, escaped quotes, brackets and commas inside) next to big
    number arrays: the arrays decode exactly, the strings come back as written."""
    a = _cache(1)
    meta = {"note": "énergie [1, 2], \"quoted\" ]] 日本語 🎙", "speaker": "Zoë"}
    line = _big_line(0, {"x": a.tolist(), "y": {"dtype": "float32", "shape": list(a.shape),
                                                "data": a.ravel().tolist()}}, stream="ütt-ö 日本", meta=meta)
    path = tmp_path / "ref.jsonl"
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    _convert(tmp_path, path)
    store = Store.open(tmp_path / "s.zarr")
    chunk = store.chunk("ütt-ö 日本", 0)
    np.testing.assert_array_equal(chunk.input("x"), a)
    np.testing.assert_array_equal(chunk.input("y"), a)
    assert chunk.meta["note"] == meta["note"] and chunk.meta["speaker"] == "Zoë"


@pytest.mark.parametrize("damage", ["short_row_late", "long_row_late", "list_in_row", "extra_block", "flat_with_list"])
def test_ragged_big_tensors_stop_with_file_line_stream_chunk_and_tensor(tmp_path, damage):
    """Damage far past the first parse piece of a ~2 MB tensor on line 2 (the counts of neighbouring rows may still
    add up): one paragraph naming where, nothing silently flattened."""
    a = _cache(2, (1, 4, 160, 512)).round(3)
    value: object = a.tolist()
    rows = value[0][3]
    if damage == "short_row_late":
        rows[150] = rows[150][:-1]
        rows[151] = rows[151] + [0.5]  # same total count
    elif damage == "long_row_late":
        rows[159] = rows[159] + [1.0]
    elif damage == "list_in_row":
        rows[100][7] = [1.0, 2.0]
        rows[100][8] = []  # same number count and row length
    elif damage == "extra_block":
        value[0].append(value[0][0][:-1])  # a fifth block, one row short
    else:
        flat = a.ravel().tolist()
        flat[-5] = [flat[-5]]
        value = {"dtype": "float32", "shape": list(a.shape), "data": flat}
    lines = [_big_line(0, {"cache": a.tolist() if damage != "flat_with_list" else
                           {"dtype": "float32", "shape": list(a.shape), "data": a.ravel().tolist()}}, "utt-7"),
             _big_line(1, {"cache": value}, "utt-7")]
    with pytest.raises(JsonlError, match="ragged|flat list") as info:
        _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", lines))
    where = info.value.where
    assert (where.line, where.stream, where.chunk, where.tensor) == (2, "utt-7", 1, "cache")
    assert where.path.endswith("ref.jsonl")
    assert Store.open(tmp_path / "s.zarr").chunk_indices("utt-7") == [0]  # the good line before it is kept


def test_bare_nan_tokens_in_a_big_tensor_convert_with_their_values(tmp_path):
    a = _cache(3)
    a[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    a[0, 2, 63, 255] = np.nan
    line = _big_line(0, {"x": a.tolist(), "y": {"dtype": "float32", "shape": list(a.shape),
                                                "data": a.ravel().tolist()}})
    _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [line]))  # json.dumps writes NaN / Infinity bare
    chunk = Store.open(tmp_path / "s.zarr").chunk("s", 0)
    np.testing.assert_array_equal(chunk.input("x"), a)
    np.testing.assert_array_equal(chunk.input("y"), a)


@pytest.mark.parametrize("value", ["-9223372036854775809", "18446744073709551616"], ids=["below_int64", "above_uint64"])
def test_integers_beyond_64_bits_in_a_big_tensor_are_one_clear_error(tmp_path, value):
    """simdjson raises RuntimeError (not ValueError) for these: still a located tensor error, never a traceback."""
    ints = ",".join(str(i) for i in range(30000))
    text = (f'{{"stream": "s", "chunk_index": 0, "inputs": {{"ids": {{"dtype": "int64", "shape": [30001], '
            f'"data": [{ints},{value}]}}}}, "outputs": {{}}}}')
    with pytest.raises(JsonlError, match="invalid number list") as info:
        _convert(tmp_path, write_lines(tmp_path / "ref.jsonl", [text]))
    assert info.value.where.tensor == "ids" and info.value.where.line == 1

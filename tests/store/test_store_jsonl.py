"""The reference reader: every tensor encoding of both formats, big values on the fast path, non-finite values,
dtype rules, and line spans."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from store_samples import b64, chunk_tensors, data, nested, ours_line, seed_b64, seed_line, write_lines

from store.jsonl import Header, ReferenceLine, iter_line_spans, read_reference


def _read(path, **kw):
    return [p for p in read_reference(path, **kw)]


@pytest.mark.parametrize("encode", [nested, data, b64], ids=["nested", "data", "b64"])
def test_our_format_each_encoding_round_trips_exactly(tmp_path, encode):
    lines, expected = [{"format": "parity-reference", "version": 1, "model": "tiny"}], []
    for i in range(3):
        ins, outs = chunk_tensors(i)
        expected.append((ins, outs))
        lines.append(ours_line("utt-1", i, ins, outs, encode, meta={"i": i}))
    parsed = _read(write_lines(tmp_path / "r.jsonl", lines))
    assert isinstance(parsed[0], Header) and parsed[0].fields["model"] == "tiny"
    for line, (ins, outs) in zip(parsed[1:], expected):
        assert isinstance(line, ReferenceLine) and line.format == "parity" and line.stream == "utt-1"
        assert line.meta == {"i": line.chunk_index}
        for name, a in {**ins, **outs}.items():
            got = line.inputs.get(name, line.outputs.get(name))
            assert got.dtype == a.dtype and got.shape == a.shape
            np.testing.assert_array_equal(got, a)


@pytest.mark.parametrize("encode", [seed_b64, nested, "npy"], ids=["data_b64", "nested", "npy_path"])
def test_seed_format_each_encoding_round_trips_with_metadata(tmp_path, encode):
    def npy(a, counter=[0]):  # noqa: B006 — a file per tensor, relative to the JSONL's folder
        counter[0] += 1
        rel = f"tensors/t{counter[0]}.npy"
        (tmp_path / "tensors").mkdir(exist_ok=True)
        np.save(tmp_path / rel, a)
        return {"npy_path": rel}

    encoder = npy if encode == "npy" else encode
    expected, lines = [], []
    for i in range(3):
        ins, outs = chunk_tensors(i)
        expected.append((ins, outs))
        lines.append(seed_line(i, ins, outs, encoder))
    parsed = _read(write_lines(tmp_path / "seed.jsonl", lines))
    assert [p.chunk_index for p in parsed] == [0, 1, 2]
    for line, (ins, outs) in zip(parsed, expected):
        assert line.format == "seed" and line.stream == "default"
        assert line.meta["chunk_len"] == ins["length"][0] and line.meta["schedule"] == "stateful"
        for name, a in ins.items():
            np.testing.assert_array_equal(line.inputs[name], a)
            assert line.inputs[name].dtype == a.dtype
        for name, a in outs.items():
            np.testing.assert_array_equal(line.outputs[name], a)


@pytest.mark.parametrize("encode", [nested, data, b64], ids=["nested", "data", "b64"])
def test_big_tensors_take_the_fast_path_and_match_exactly(tmp_path, encode):
    """Tensors far above the skeleton threshold (and above one 4 MB parse piece) are decoded from the mmap."""
    rng = np.random.default_rng(1)
    big = rng.standard_normal((1, 3, 160, 1024)).astype(np.float32)  # ~10 MB of text as numbers
    big[0, 1, 5, 7], big[0, 2, 100, 0], big[0, 0, 0, 1] = np.nan, np.inf, -np.inf
    ints = rng.integers(-2**62, 2**62, size=(40000,), dtype=np.int64)  # exact beyond float64's 2**53
    line = ours_line("s", 0, {"x": big, "i": ints}, {"y": big[:, :1]}, encode)
    (parsed,) = _read(write_lines(tmp_path / "big.jsonl", [line]))
    np.testing.assert_array_equal(parsed.inputs["x"], big)
    np.testing.assert_array_equal(parsed.inputs["i"], ints)
    np.testing.assert_array_equal(parsed.outputs["y"], big[:, :1])
    assert parsed.inputs["x"].dtype == np.float32 and parsed.inputs["i"].dtype == np.int64


def test_nonfinite_as_strings_and_bare_tokens_survive(tmp_path):
    text = ('{"stream": "s", "chunk_index": 0, "inputs": {"a": [1.5, "NaN", "Infinity", "-Infinity"], '
            '"b": [NaN, Infinity, -Infinity, 2.0], "c": {"dtype": "float32", "shape": [2], "data": ["NaN", 1]}}, '
            '"outputs": {}, "meta": {"score": NaN}}')
    (parsed,) = _read(write_lines(tmp_path / "nf.jsonl", [text]))
    a, b, c = parsed.inputs["a"], parsed.inputs["b"], parsed.inputs["c"]
    assert a.dtype == np.float32 and a[0] == 1.5 and np.isnan(a[1]) and a[2] == np.inf and a[3] == -np.inf
    assert np.isnan(b[0]) and b[1] == np.inf and b[2] == -np.inf and b[3] == 2.0
    assert np.isnan(c[0]) and c[1] == 1.0
    assert np.isnan(parsed.meta["score"])


def test_dtype_comes_from_tensor_then_contract_then_number_syntax(tmp_path):
    from contracts.model import Contract, TensorSpec

    text = json.dumps({"stream": "s", "chunk_index": 0,
                       "inputs": {"f": [1.0, 2.5], "i": [1, 2], "d": {"dtype": "float64", "shape": [1], "data": [1]},
                                  "c": [1, 2]}, "outputs": {}})
    path = write_lines(tmp_path / "d.jsonl", [text])
    (parsed,) = _read(path)
    assert [parsed.inputs[n].dtype for n in "fidc"] == [np.float32, np.int64, np.float64, np.int64]
    contract = Contract(name="t", version=1, outputs=(), inputs=(
        TensorSpec("f", "float32", ("N",)), TensorSpec("i", "int32", ("N",)),
        TensorSpec("d", "float64", (1,)), TensorSpec("c", "float16", ("N",))))
    (parsed,) = _read(path, contract=contract)
    assert [parsed.inputs[n].dtype for n in "fidc"] == [np.float32, np.int32, np.float64, np.float16]


def test_line_spans_cover_blank_lines_crlf_and_a_missing_last_newline(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n   \n{"b": 2}')
    spans = list(iter_line_spans(path, block=4))  # tiny blocks: lines cross block boundaries
    assert [(s.number, s.blank, s.terminated) for s in spans] == [(1, False, True), (2, True, True),
                                                                  (3, True, True), (4, False, False)]
    assert path.read_bytes()[spans[3].offset:spans[3].end] == b'{"b": 2}'
    assert path.read_bytes()[spans[0].offset:spans[0].end] == b'{"a": 1}\r'


def test_streams_may_interleave(tmp_path):
    lines = []
    for i in range(3):
        for s in ("a", "b"):
            lines.append(ours_line(s, i, *chunk_tensors(i)))
    parsed = _read(write_lines(tmp_path / "i.jsonl", lines))
    assert [(p.stream, p.chunk_index) for p in parsed] == [(s, i) for i in range(3) for s in ("a", "b")]


# --- number text on the direct simdjson path (store.tensors.parse_number_span) ---------------------------------
def _span(text: str | bytes, monkeypatch=None, piece: int | None = None, **kw):
    """parse_number_span on a whole text; `piece` makes the pieces tiny so that every cut (between numbers, between
    innermost lists, between lists of every depth) is exercised on small inputs."""
    from store import tensors

    if piece is not None:
        monkeypatch.setattr(tensors, "PIECE", piece)
    raw = text.encode() if isinstance(text, str) else text
    return tensors.parse_number_span(raw, 0, len(raw), kw.pop("dtype", None), tensors.ParserPool(), **kw)


def _oracle(text: str, shape=None):
    """What the text means to Python's json + numpy: the array, or None when it is not a regular number array."""
    try:
        a = np.array(json.loads(text), dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if shape is None:
        return a if a.ndim else None
    if a.ndim == 1 and a.size == math.prod(shape) or (a.ndim > 1 and tuple(a.shape) == tuple(shape) and a.size):
        return a.reshape(shape)
    return None


def test_direct_number_path_agrees_with_a_full_json_parse_on_random_lists_and_damage(monkeypatch):
    """Seeded random regular lists of rank 1-5, compact or pretty-printed, flat 'data' with a declared shape or
    nested, then damaged (a bracket or comma dropped, doubled or inserted; a number moved between rows so the count
    stays the same), parsed in pieces of 16 B to 4 KB: every accepted value matches json + numpy bit for bit, and
    every text json + numpy cannot read as a regular array is refused."""
    from store import tensors
    from store.errors import TensorProblem

    rng = np.random.default_rng(0)
    checked = refused = 0
    for case in range(300):
        monkeypatch.setattr(tensors, "PIECE", int(rng.choice([16, 37, 256, 4096])))
        monkeypatch.setattr(tensors, "SMALL_ROW", int(rng.choice([0, 1024])))  # row checks / structure string
        shape = tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 6)))
        a = np.round(rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 5), int(rng.integers(0, 6)))
        declared = shape if rng.random() < 0.4 else None
        value = a.ravel() if declared is not None and rng.random() < 0.75 else a
        text = json.dumps(value.tolist(), indent=1 if rng.random() < 0.3 else None)
        if rng.random() < 0.4:
            i = int(rng.integers(1, len(text) - 1))
            kind = rng.integers(0, 4)
            text = (text[:i] + text[i + 1:] if kind == 0 else text[:i] + text[i] + text[i:] if kind == 1 else
                    text[:i] + "[],0"[rng.integers(0, 4)] + text[i:] if kind == 2 else
                    text.replace("], [", ", ", 1).replace("], [", "], [0.5], [", 1))
        if not (text.startswith("[") and text.endswith("]")):
            continue
        want = _oracle(text, declared)
        try:
            got = _span(text, dtype=np.dtype(np.float64), shape=declared)
        except TensorProblem:
            assert want is None, f"refused a valid list: {text[:120]}"
            refused += 1
            continue
        assert want is not None, f"accepted what json + numpy refuse: {text[:120]}"
        assert got.shape == want.shape and np.array_equal(got, want), text[:120]
        checked += 1
    assert checked > 150 and refused > 40  # both outcomes were really exercised


@pytest.mark.parametrize("piece", [64, None], ids=["tiny_pieces", "default_pieces"])
def test_number_syntax_variants_keep_their_exact_float32_values(monkeypatch, piece):
    values = ["1.0", "2", "-0.0", "0", "1e-30", "-3.4028235e38", "1E+5", "2.5E-3", "-7e0", "123456789",
              "1.17549435e-38", "1.4e-45", "0.1", "-0.30000001", "16777217"]
    text = "[" + ",".join(values * 50) + "]"
    got = _span(text, monkeypatch, piece, dtype=np.dtype(np.float32), shape=(50 * len(values),))
    want = np.array([float(v) for v in values] * 50, dtype=np.float32)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()  # bit-exact: -0.0 keeps its sign
    assert np.signbit(got[2]) and not np.signbit(got[3])
    ints = _span("[" + ",".join(["1.0", "2", "-3e0"] * 40) + "]", monkeypatch, piece, dtype=np.dtype(np.int32))
    assert ints.dtype == np.int32 and ints.tolist() == [1, 2, -3] * 40  # integer-valued floats into an int dtype


@pytest.mark.parametrize("piece", [48, None], ids=["tiny_pieces", "default_pieces"])
@pytest.mark.parametrize("text, match", [
    ("[[1.5,2.5,3.5],[4.5,5.5],[6.5,7.5,8.5,9.5]]", "ragged"),               # same count as 3 × 3, rows differ
    ("[[[1,2],[3,4]],[[5,6],[7,8],[9,10]]]", "ragged"),                       # a block with an extra row
    ("[[1,2],[[3,4],[]],[5,6]]", "ragged"),                                   # a list inside a row, same counts
    ("[[1,2],3,[4,5]]", "ragged"),                                            # a number where a row belongs
    ("[[1,2],[3,4]],[[5,6],[7,8]]", "ragged|invalid"),                        # two lists, not one
    ("[[1,2],[3,4],]", "invalid|malformed"),                                  # trailing comma
    ("[[1,2],[3,\"x\"]]", "invalid"),                                         # a string among the numbers
    ("[[1,2],[3,4]", "invalid|ragged"),                                       # unclosed
], ids=["rows", "blocks", "inner_list", "number_for_row", "two_lists", "trailing_comma", "string", "unclosed"])
@pytest.mark.parametrize("row_check", ["per_row", "structure_string"])
def test_irregular_nesting_is_refused_never_flattened(monkeypatch, piece, text, match, row_check):
    from store import tensors
    from store.errors import TensorProblem

    monkeypatch.setattr(tensors, "SMALL_ROW", 0 if row_check == "per_row" else 1 << 20)
    with pytest.raises(TensorProblem, match=match):
        _span(text, monkeypatch, piece, dtype=np.dtype(np.float32))


def test_huge_flat_and_nested_arrays_round_trip_across_many_pieces(tmp_path):
    """Full-precision float32 text (~12 MB a tensor, a dozen default pieces), flat 'data' and 4-deep nesting in
    one line, pretty-printed nesting in the next (JSON whitespace inside the arrays: spaces, tabs, carriage
    returns; a newline would end the line)."""
    rng = np.random.default_rng(7)
    big = rng.standard_normal((1, 4, 256, 1024)).astype(np.float32)
    full = ",".join(big.ravel().astype("U16").tolist())  # shortest text that reads back to the same float32
    rows = "[[" + "],\r\t [".join("[" + "],[".join(",".join(r.astype("U16").tolist()) for r in block) + "]"
                                 for block in big[0]) + "]]"
    lines = [f'{{"stream":"s","chunk_index":0,"inputs":{{"flat":{{"dtype":"float32","shape":[1,4,256,1024],'
             f'"data":[{full}]}},"nested":{rows}}},"outputs":{{}}}}',
             json.dumps({"stream": "s", "chunk_index": 0, "inputs": {"pretty": big[:, :1].tolist()}, "outputs": {}},
                        indent=2).replace("\n", "\r").replace("  ", "\t")]
    (tmp_path / "compact.jsonl").write_text(lines[0] + "\n")
    (tmp_path / "pretty.jsonl").write_text(lines[1] + "\n")
    (first,), (second,) = _read(tmp_path / "compact.jsonl"), _read(tmp_path / "pretty.jsonl")
    assert first.inputs["flat"].tobytes() == big.tobytes() and first.inputs["nested"].tobytes() == big.tobytes()
    assert second.inputs["pretty"].shape == (1, 1, 256, 1024)
    np.testing.assert_array_equal(second.inputs["pretty"], big[:, :1])


def test_nonfinite_tokens_in_big_flat_and_nested_lists_take_the_other_path(tmp_path):
    big = np.random.default_rng(3).standard_normal((2, 64, 512)).astype(np.float32)  # > 64 KB: the direct path
    big[0, 0, 3], big[1, 63, 511], big[1, 10, 0] = np.nan, np.inf, -np.inf
    text = json.dumps({"stream": "s", "chunk_index": 0, "inputs": {
        "nested": big.tolist(), "flat": {"dtype": "float32", "shape": list(big.shape), "data": big.ravel().tolist()}},
        "outputs": {}})
    assert "NaN" in text and "-Infinity" in text  # Python's json writes the bare tokens
    (parsed,) = _read(write_lines(tmp_path / "nf.jsonl", [text]))
    np.testing.assert_array_equal(parsed.inputs["nested"], big)
    np.testing.assert_array_equal(parsed.inputs["flat"], big)


def test_after_a_refused_big_tensor_the_next_lines_still_parse(tmp_path):
    """A simdjson parser that raised while a document was referenced refuses every later parse: the reader must
    start afresh after each refusal (ragged nesting found mid-walk, an invalid number, a string among numbers)."""
    a = np.random.default_rng(5).standard_normal((1, 2, 64, 300)).astype(np.float32)
    ragged, bad_number, string = a.tolist(), a.tolist(), a.tolist()
    ragged[0][1][40] = ragged[0][1][40][:-1]
    good = [ours_line("s", i, {"x": a}, {}, nested) for i in range(4)]
    bad = [dict(good[1], inputs={"x": ragged}),
           json.dumps(dict(good[2], inputs={"x": bad_number})).replace(str(a[0, 1, 3, 3].item()), "1.2.3", 1),
           dict(good[3], inputs={"x": string})]
    bad[2]["inputs"]["x"][0][0][10][5] = "n/a"  # valid JSON, not a number: the whole line decides
    skipped: list = []
    lines = [good[0], *bad, dict(good[1], chunk_index=1), dict(good[2], chunk_index=2)]
    parsed = _read(write_lines(tmp_path / "mixed.jsonl", lines), skip_invalid=True, skipped=skipped)
    assert [p.chunk_index for p in parsed] == [0, 1, 2]
    for p in parsed:
        np.testing.assert_array_equal(p.inputs["x"], a)
    assert [(e.where.line, e.where.tensor) for e in skipped[:3]] == [(2, "x"), (3, "x"), (4, "x")]
    assert "ragged" in skipped[0].problem and "invalid number" in skipped[1].problem
    assert "not a number" in skipped[2].problem

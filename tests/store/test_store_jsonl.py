"""The reference reader: every tensor encoding of both formats, big values on the fast path, non-finite values,
dtype rules, and line spans."""

from __future__ import annotations

import json

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

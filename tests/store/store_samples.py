"""Writers of small reference files in every encoding the reader accepts (ours and the seed team's), for tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

INPUTS = ("audio_signal", "length", "cache_last_channel", "cache_last_time", "cache_last_channel_len")
OUTPUTS = ("encoder_output", "encoded_lengths", "cache_last_channel_out", "cache_last_time_out",
           "cache_last_channel_len_out")


def nested(a: np.ndarray) -> Any:
    return a.tolist()


def data(a: np.ndarray) -> Any:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.ravel().tolist()}


def b64(a: np.ndarray, key: str = "b64") -> Any:
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            key: base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def seed_b64(a: np.ndarray) -> Any:
    return b64(a, "data_b64")


def chunk_tensors(index: int, *, d_model: int = 8, layers: int = 2, cache: int = 16, first_frames: int = 9,
                  frames: int = 13, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Tensors shaped like the tiny streaming encoder's (batch-first caches), first chunk shorter."""
    rng = np.random.default_rng(seed * 1000 + index)
    t = first_frames if index == 0 else frames
    cache_len = min(cache, 1 + 3 * index)
    inputs = {
        "audio_signal": rng.standard_normal((1, 4, t)).astype(np.float32),
        "length": np.array([t], dtype=np.int64),
        "cache_last_channel": rng.standard_normal((1, layers, cache, d_model)).astype(np.float32),
        "cache_last_time": rng.standard_normal((1, layers, d_model, 4)).astype(np.float32),
        "cache_last_channel_len": np.array([cache_len], dtype=np.int64),
    }
    outputs = {
        "encoder_output": rng.standard_normal((1, d_model, 3)).astype(np.float32),
        "encoded_lengths": np.array([3], dtype=np.int64),
        "cache_last_channel_out": rng.standard_normal((1, layers, cache, d_model)).astype(np.float32),
        "cache_last_time_out": rng.standard_normal((1, layers, d_model, 4)).astype(np.float32),
        "cache_last_channel_len_out": np.array([min(cache, cache_len + 3)], dtype=np.int64),
    }
    return inputs, outputs


def ours_line(stream: str, index: int, inputs: dict, outputs: dict, encode: Callable = data,
              meta: dict | None = None) -> dict:
    return {"stream": stream, "chunk_index": index, "inputs": {k: encode(v) for k, v in inputs.items()},
            "outputs": {k: encode(v) for k, v in outputs.items()}, "meta": meta or {"chunk": index}}


def seed_line(index: int, inputs: dict, outputs: dict, encode: Callable = seed_b64,
              metadata: dict | None = None) -> dict:
    return {"chunk_idx": index, "inputs": {k: encode(v) for k, v in inputs.items()},
            "outputs": {k: encode(v) for k, v in outputs.items()},
            "metadata": metadata or {"chunk_len": int(inputs["length"][0]), "schedule": "stateful",
                                     "timing_ms": 1.5 + index}}


def write_lines(path: Path, lines: list[Any], *, newline_at_end: bool = True) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + ("\n" if newline_at_end else ""))
    return path


def write_reference(path: Path, n: int = 4, streams: tuple[str, ...] = ("default",), encode: Callable = data,
                    header: bool = True, **shape: Any) -> tuple[Path, dict[tuple[str, int], tuple[dict, dict]]]:
    """Our format, streams interleaved line by line; returns the file and the expected tensors."""
    lines: list[Any] = []
    expected = {}
    if header:
        lines.append({"format": "parity-reference", "version": 1, "model": "tiny"})
    for i in range(n):
        for k, s in enumerate(streams):
            ins, outs = chunk_tensors(i, seed=k, **shape)
            expected[(s, i)] = (ins, outs)
            lines.append(ours_line(s, i, ins, outs, encode))
    return write_lines(path, lines), expected


def write_seed_reference(path: Path, n: int = 4, encode: Callable = seed_b64,
                         **shape: Any) -> tuple[Path, dict[tuple[str, int], tuple[dict, dict]]]:
    lines, expected = [], {}
    for i in range(n):
        ins, outs = chunk_tensors(i, **shape)
        expected[("default", i)] = (ins, outs)
        lines.append(seed_line(i, ins, outs, encode))
    return write_lines(path, lines), expected


def assert_store_matches(store: Any, expected: dict[tuple[str, int], tuple[dict, dict]]) -> None:
    """The store holds exactly the expected chunks, each tensor bit-identical (NaN == NaN), true shapes."""
    have = {(s, i) for s in store.streams() for i in store.chunk_indices(s)}
    assert have == set(expected), f"chunks differ: missing {set(expected) - have}, extra {have - set(expected)}"
    for (s, i), (ins, outs) in expected.items():
        chunk = store.chunk(s, i)
        assert set(chunk.input_names()) == set(ins) and set(chunk.output_names()) == set(outs)
        for name, a in ins.items():
            got = chunk.input(name)
            assert got.dtype == a.dtype and got.shape == a.shape, (s, i, name, got.dtype, got.shape)
            np.testing.assert_array_equal(got, a)
        for name, a in outs.items():
            got = chunk.output(name)
            assert got.dtype == a.dtype and got.shape == a.shape, (s, i, name)
            np.testing.assert_array_equal(got, a)


def sample_contract(name: str = "tiny-sample", length_dtype: str = "int64") -> Any:
    """A `contracts.Contract` the lines of `chunk_tensors` fit (with `length` of `length_dtype`), for tests of
    conversions checked against a contract."""
    from contracts.model import Contract, TensorSpec

    sym = {"audio_signal": ("B", 4, "T"), "cache_last_channel": ("B", 2, 16, "D"), "cache_last_time": ("B", 2, "D", 4),
           "encoder_output": ("B", "D", 3), "cache_last_channel_out": ("B", 2, 16, "D"),
           "cache_last_time_out": ("B", 2, "D", 4)}
    ins, outs = chunk_tensors(1)

    def spec(n: str, a: np.ndarray) -> Any:
        return TensorSpec(n, length_dtype if n == "length" else str(a.dtype), sym.get(n, ("B",)))

    return Contract(name=name, version=1, inputs=tuple(spec(n, a) for n, a in ins.items()),
                    outputs=tuple(spec(n, a) for n, a in outs.items()))

"""docs/FORMATS.md's example files are real: every `jsonl` block is extracted, converted into a store by
`inspector convert`, and read back to the values the document says they hold."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).parents[2] / "docs" / "FORMATS.md"


def _blocks() -> dict[str, str]:
    found = dict(re.findall(r"^```jsonl (\w+)\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.M | re.S))
    assert {"minimal", "encodings", "seed"} <= set(found), f"example blocks found: {sorted(found)}"
    return found


def _convert(name: str, tmp_path: Path, capsys) -> "object":  # noqa: ANN001
    from inspector.cli import main
    from store import Store

    src = tmp_path / f"{name}.jsonl"
    src.write_text(_blocks()[name], encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["convert", str(src), "-o", str(tmp_path / f"{name}.zarr"), "--workers", "1"])
    captured = capsys.readouterr()
    assert info.value.code in (0, None), captured.err
    return Store.open(tmp_path / f"{name}.zarr")


def test_the_minimal_line_converts_to_what_it_says(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    st = _convert("minimal", tmp_path, capsys)
    assert st.streams() == ["utt-0001"] and st.num_chunks("utt-0001") == 1
    c = st.chunk("utt-0001", 0)
    np.testing.assert_array_equal(c.input("audio_signal"), np.array([[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]],
                                                                     np.float32))
    assert c.input("length").dtype == np.int64 and c.input("length").tolist() == [3]
    np.testing.assert_array_equal(c.output("cache_last_channel_out"), c.output("cache_last_time_out"))
    assert c.output("cache_last_channel_out").ravel().tolist() == [0.5, -1.25, 2.0, 0.0]
    assert c.output("encoder_output").shape == (1, 2, 1)
    assert sorted(c.inputs()) == ["audio_signal", "cache_last_channel", "cache_last_channel_len", "cache_last_time",
                                "length"]
    assert c.meta == {"audio_start_s": 0.0, "note": "any JSON"}


def test_every_encoding_gives_the_same_tensor_and_non_finite_values_survive(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    st = _convert("encodings", tmp_path, capsys)
    assert sorted(st.streams()) == ["a", "b"]
    assert (st.num_chunks("a"), st.num_chunks("b")) == (2, 3)
    assert st.attrs["header"]["nemo_version"] == "3.0.0"
    for stream in ("a", "b"):
        for k in st.chunk_indices(stream):
            x = st.chunk(stream, k).input("x")
            assert x.dtype == np.float32 and x.tolist() == [[1.0, 2.0, 3.0]], (stream, k)
    for stream in ("a", "b"):
        y = st.chunk(stream, 0).output("y").ravel().tolist()
        assert math.isnan(y[0]) and y[1:] == [math.inf, -math.inf]
    assert st.chunk("a", 1).output("y").shape == (1, 0)
    assert st.chunk("a", 1).meta == {"last": True}


def test_the_seed_example_converts(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    st = _convert("seed", tmp_path, capsys)
    assert st.streams() == ["default"] and st.attrs.get("source_format") == "seed"
    first, second = st.chunk("default", 0), st.chunk("default", 1)
    assert first.input("audio_signal").ravel().tolist() == [0.25, 0.5, -0.75]
    np.testing.assert_array_equal(first.output("encoder_output"), second.output("encoder_output"))
    assert [c.output("cache_last_channel_len_out").tolist() for c in (first, second)] == [[1], [3]]
    assert second.meta == {"chunk_start": 17}


def test_the_documented_exit_codes_are_the_ones_the_code_uses() -> None:
    from inspector.acceptance import EXIT_CODES

    text = DOC.read_text(encoding="utf-8")
    assert EXIT_CODES == {"pass": 0, "fail": 1, "undetermined": 3}
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in text

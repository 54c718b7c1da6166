"""`inspector reference`: what the reference JSONL holds, in both formats, and what the model does with its state."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nemo.collections.asr")

from inspector.errors import InspectorError  # noqa: E402
from inspector.reference import decode_tensor, iter_lines, make_reference  # noqa: E402

INPUT_SHAPES = {"length": [1], "cache_last_channel": [1, 2, 256, 64], "cache_last_time": [1, 2, 64, 4],
                "cache_last_channel_len": [1]}
OUTPUT_SHAPES = {"encoder_output": [1, 64, 3], "encoded_lengths": [1], "cache_last_channel_out": [1, 2, 256, 64],
                 "cache_last_time_out": [1, 2, 64, 4], "cache_last_channel_len_out": [1]}
DTYPES = {"length": "int64", "cache_last_channel_len": "int64", "encoded_lengths": "int64",
          "cache_last_channel_len_out": "int64"}


def test_our_jsonl_has_header_streams_shapes_and_dtypes(tiny_encoder, tmp_path):
    """Header line first (model, seed, streaming config, versions), then one line per chunk per stream, tensors in the
    export layout with the dtypes the ONNX graph uses."""
    out = tmp_path / "ref.jsonl"
    result = make_reference("tiny", model=tiny_encoder, output=out, n_chunks=3, n_streams=2)
    lines = list(iter_lines(out))
    header = lines[0]
    assert header["format"] == "parity-reference" and header["version"] == 1
    assert header["preset"] == "tiny" and header["seed"] == 0 and header["first_chunk"] == "export"
    assert header["streaming"]["chunk_size"] == [41, 48] and header["streaming"]["valid_out_len"] == 3
    assert header["versions"]["nemo"] and header["versions"]["torch"]
    assert header["streams"] == ["utt-0000", "utt-0001"]
    chunks = lines[1:]
    assert [(c["stream"], c["chunk_index"]) for c in chunks] == [
        ("utt-0000", 0), ("utt-0000", 1), ("utt-0000", 2), ("utt-0001", 0), ("utt-0001", 1), ("utt-0001", 2)]
    for c in chunks:
        assert set(c) == {"stream", "chunk_index", "inputs", "outputs", "meta"}
        frames = 41 if c["chunk_index"] == 0 else 57
        assert c["inputs"]["audio_signal"]["shape"] == [1, 128, frames]
        assert c["meta"]["chunk_len"] == frames
        for group, shapes in (("inputs", INPUT_SHAPES), ("outputs", OUTPUT_SHAPES)):
            for name, shape in shapes.items():
                t = c[group][name]
                assert t["shape"] == shape, (name, t["shape"])
                assert t["dtype"] == DTYPES.get(name, "float32")
                assert decode_tensor(t).shape == tuple(shape)
    a0 = decode_tensor(chunks[0]["inputs"]["audio_signal"])
    b0 = decode_tensor(chunks[3]["inputs"]["audio_signal"])
    assert not np.array_equal(a0, b0), "two streams must be two different utterances"
    assert result.cache_lengths == {"utt-0000": (1, 4, 7), "utt-0001": (1, 4, 7)}
    assert result.max_line_bytes > 0 and result.bytes_written == out.stat().st_size


def test_each_chunk_is_fed_the_previous_chunks_caches(tiny_encoder, tmp_path):
    """The recorded inputs of chunk i+1 are exactly chunk i's cache outputs: the reference carries its state."""
    out = tmp_path / "ref.jsonl"
    make_reference("tiny", model=tiny_encoder, output=out, n_chunks=4)
    chunks = list(iter_lines(out))[1:]
    first = chunks[0]["inputs"]
    assert not decode_tensor(first["cache_last_channel"]).any() and int(decode_tensor(
        first["cache_last_channel_len"])[0]) == 0
    for prev, cur in zip(chunks, chunks[1:]):
        for src, dst in (("cache_last_channel_out", "cache_last_channel"), ("cache_last_time_out", "cache_last_time"),
                         ("cache_last_channel_len_out", "cache_last_channel_len")):
            np.testing.assert_array_equal(decode_tensor(prev["outputs"][src]), decode_tensor(cur["inputs"][dst]))


def test_seed_format_lines_parse_back(tiny_encoder, tmp_path):
    """`--format seed`: {chunk_idx, inputs, outputs, metadata} lines with data_b64 tensors, no header line."""
    out = tmp_path / "seed.jsonl"
    make_reference("tiny", model=tiny_encoder, output=out, n_chunks=3, fmt="seed")
    lines = list(iter_lines(out))
    assert [ln["chunk_idx"] for ln in lines] == [0, 1, 2]
    for ln in lines:
        assert set(ln) == {"chunk_idx", "inputs", "outputs", "metadata"}
        t = ln["outputs"]["encoder_output"]
        assert set(t) == {"dtype", "shape", "data_b64"}
        assert decode_tensor(t).shape == (1, 64, 3)
        meta = ln["metadata"]
        assert {"chunk_len", "cache_len_out_value", "cache_len_out_raw_value", "timing_ms", "schedule"} <= set(meta)
    assert [ln["metadata"]["cache_len_out_value"] for ln in lines] == [1, 4, 7]
    assert [ln["metadata"]["chunk_len"] for ln in lines] == [41, 57, 57]


def test_seed_format_refuses_several_streams(tiny_encoder, tmp_path):
    with pytest.raises(InspectorError, match="one stream per file"):
        make_reference("tiny", model=tiny_encoder, output=tmp_path / "x.jsonl", n_chunks=2, n_streams=2, fmt="seed")


def test_output_and_store_are_exclusive(tiny_encoder, tmp_path):
    with pytest.raises(InspectorError, match="exactly one"):
        make_reference("tiny", model=tiny_encoder, output=tmp_path / "a.jsonl", store=tmp_path / "s.zarr")


def test_cache_length_sequence_is_recorded_and_saturates(tiny_encoder):
    """NeMo carries its attention cache: the length grows 1, 4, 7, … and stops at the cache size (256); with NeMo's
    own first-chunk handling it runs 3, 6, 9, …"""
    # the model does not care what the features say: random ones are enough (and fast) for 88 chunks
    feats = np.random.default_rng(5).standard_normal((128, tiny_encoder.frames_needed(88))).astype(np.float32)
    export = [int(r.outputs["cache_last_channel_len_out"][0]) for r in tiny_encoder.stream(feats, 88)]
    assert export[:4] == [1, 4, 7, 10]
    assert export[84:] == [253, 256, 256, 256]
    raw = [r.meta()["cache_len_out_raw_value"] for r in tiny_encoder.stream(feats, 88)]
    assert raw[86] == 259  # before the clamp: the meta keeps what NeMo computed
    nemo = [int(r.outputs["cache_last_channel_len_out"][0]) for r in tiny_encoder.stream(feats, 4, "nemo")]
    assert nemo == [3, 6, 9, 12]


def test_same_seed_gives_bit_identical_weights_and_audio():
    import torch

    from backends.nemo import load_reference_model
    from inspector.synthetic_audio import speech_like

    a, b, c = (load_reference_model("tiny", seed=s) for s in (7, 7, 8))
    sa, sb, sc = (m.encoder.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    np.testing.assert_array_equal(speech_like(1.0, seed=3), speech_like(1.0, seed=3))
    assert not np.array_equal(speech_like(1.0, seed=3), speech_like(1.0, seed=4))


def test_unknown_model_is_a_clear_error():
    from backends.base import BackendError
    from backends.nemo import load_reference_model

    with pytest.raises(BackendError, match="preset"):
        load_reference_model("parakeet-tiny-typo")


def test_store_sink_writes_readable_chunks(tiny_encoder, tmp_path):
    """`--store` writes the chunks straight into a Zarr store."""
    store_mod = pytest.importorskip("store.zarr_store")
    from store import Store

    result = make_reference("tiny", model=tiny_encoder, store=tmp_path / "ref.zarr", n_chunks=2)
    st = Store.open(result.path, mode="r")
    assert st.streams() == ["utt-0000"]
    assert st.chunk_indices("utt-0000") == [0, 1]
    ch = st.chunk("utt-0000", 1)
    assert ch.input("audio_signal").shape == (1, 128, 57)
    assert int(ch.output("cache_last_channel_len_out")[0]) == 4
    assert store_mod is not None
    assert st.attrs["header"]["preset"] == "tiny" and st.attrs["contract"] == "demo_streaming"


def test_seed_setup_short_first_chunk_is_refused_and_padded_is_default():
    """The seed set-up (chunk_size 73, shift 1): a 577-frame first chunk with 2 pre-encoded frames dropped keeps
    73 - 2 - 72 = -1 frames; the next step cannot run on a negative cache length, so `export` mode stops with an
    explanation and the default is a padded first chunk (9 zeros + 584 frames), whose lengths run 1, 2, 3."""
    from backends.base import BackendError
    from backends.nemo import load_reference_model
    from backends.nemo_presets import SEED_STREAMING

    model = load_reference_model("tiny", streaming=SEED_STREAMING)
    assert model.first_chunk == "padded"
    feats = np.random.default_rng(1).standard_normal((128, model.frames_needed(3))).astype(np.float32)
    with pytest.raises(BackendError, match=r"cache_last_channel_len_out = -1.*--first-chunk padded"):
        list(model.stream(feats, 3, "export"))
    padded = list(model.stream(feats, 3))
    assert [r.meta()["cache_len_out_value"] for r in padded] == [1, 2, 3]
    assert [r.meta()["chunk_len"] for r in padded] == [593, 593, 593]
    assert padded[0].meta()["zero_frames"] == 9 and not padded[0].inputs["audio_signal"][..., :9].any()
    assert [int(r.outputs["encoded_lengths"][0]) for r in padded] == [1, 1, 1]

"""Store: writing reference chunks, reading them lazily in their true shapes, info(), errors that say what exists."""

from __future__ import annotations

import numpy as np
import pytest
from store_samples import chunk_tensors

from store import Store, StoreError


def test_write_chunk_then_read_true_shapes_dtypes_and_meta(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    written = {}
    for i in range(3):
        ins, outs = chunk_tensors(i)
        ins["audio_signal"][0, 0, 0] = np.nan  # non-finite values survive
        written[i] = (ins, outs)
        store.write_chunk("utt/1 é.wav", i, ins, outs, meta={"chunk_len": i, "bad": float("inf")})
    again = Store.open(tmp_path / "s.zarr")
    assert again.streams() == ["utt/1 é.wav"]
    assert again.chunk_indices("utt/1 é.wav") == [0, 1, 2] and again.num_chunks("utt/1 é.wav") == 3
    chunk = again.chunk("utt/1 é.wav", 0)
    assert chunk.meta == {"chunk_len": 0, "bad": float("inf")}
    assert chunk.input_names() == tuple(written[0][0]) and chunk.output_names() == tuple(written[0][1])
    assert chunk.input("audio_signal").shape == (1, 4, 9)  # the first chunk is shorter
    assert again.chunk("utt/1 é.wav", 1).input("audio_signal").shape == (1, 4, 13)
    for name, a in written[0][0].items():
        np.testing.assert_array_equal(chunk.input(name), a)
        assert chunk.input(name).dtype == a.dtype
    infos = {t.name: t for t in chunk.tensor_infos()}
    assert infos["cache_last_channel"].shape == (1, 2, 16, 8) and infos["length"].dtype == "int64"
    assert infos["cache_last_channel"].nbytes == 2 * 16 * 8 * 4


def test_chunk_reads_only_the_tensors_asked_for(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    ins, outs = chunk_tensors(0)
    store.write_chunk("a", 0, ins, outs)
    chunk = Store.open(tmp_path / "s.zarr").chunk("a", 0)
    chunk.input("length")
    assert list(chunk._cache) == [("inputs", "length")]


def test_all_zero_and_empty_and_scalar_tensors_round_trip(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    tensors = {"zeros": np.zeros((2, 3), np.float32), "empty": np.zeros((0, 4), np.float32),
               "scalar": np.array(7, np.int64), "flags": np.array([True, False])}
    store.write_chunk("a", 0, tensors, {})
    chunk = Store.open(tmp_path / "s.zarr").chunk("a", 0)
    for name, a in tensors.items():
        assert chunk.input(name).shape == a.shape and chunk.input(name).dtype == a.dtype
        np.testing.assert_array_equal(chunk.input(name), a)


def test_info_reports_varying_shapes_meta_keys_and_gaps(tmp_path):
    store = Store.create(tmp_path / "s.zarr")
    for i in (0, 1, 2, 4):
        ins, outs = chunk_tensors(i)
        store.write_chunk("s1", i, ins, outs, meta={"chunk_len": i, "schedule": "x"})
    info = store.info()
    (stream,) = info["streams"]
    assert stream["chunks"] == 4 and stream["missing"] == [3]
    assert stream["meta_keys"] == ["chunk_len", "schedule"]
    audio = next(t for t in stream["tensors"] if t["name"] == "audio_signal")
    assert audio["shape_varies"] and audio["shapes"][0] == {"shape": [1, 4, 9], "first": 0, "last": 0, "count": 1}
    cache = next(t for t in stream["tensors"] if t["name"] == "cache_last_channel")
    assert not cache["shape_varies"] and cache["shape"] == [1, 2, 16, 8] and cache["nbytes"] == 4 * 2 * 16 * 8 * 4


def test_errors_name_what_exists(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("hi")
    with pytest.raises(StoreError, match="not a parity store"):
        Store.open(tmp_path / "plain")
    with pytest.raises(StoreError, match="not a parity store; refusing"):
        Store.create(tmp_path / "plain", overwrite=True)
    store = Store.create(tmp_path / "s.zarr")
    ins, outs = chunk_tensors(0)
    store.write_chunk("a", 0, ins, outs)
    with pytest.raises(StoreError, match="exists already"):
        store.write_chunk("a", 0, ins, outs)
    store.write_chunk("a", 0, ins, {"x": np.ones(2)}, overwrite=True)
    assert Store.open(tmp_path / "s.zarr").chunk("a", 0).output_names() == ("x",)
    reader = Store.open(tmp_path / "s.zarr")
    with pytest.raises(StoreError, match=r"no chunk 5; it has 0\.\.0"):
        reader.chunk("a", 5)
    with pytest.raises(StoreError, match="no stream 'b'; streams: 'a'"):
        reader.chunk("b", 0)
    with pytest.raises(StoreError, match="no input 'nope'"):
        reader.chunk("a", 0).input("nope")
    with pytest.raises(StoreError, match="read-only"):
        reader.write_chunk("a", 1, ins, outs)
    with pytest.raises(StoreError, match="already; pass --overwrite"):
        Store.create(tmp_path / "s.zarr")


def test_partials_of_a_killed_writer_are_invisible_and_cleaned(tmp_path):
    from store import layout

    store = Store.create(tmp_path / "s.zarr")
    ins, outs = chunk_tensors(0)
    partial = layout.new_partial_dir(store.path, "a-000001")
    (partial / "half-written").write_bytes(b"x")
    store.write_chunk("a", 0, ins, outs)
    assert store.chunk_indices("a") == [0]
    assert store.clean_partials() == 1
    assert not partial.exists()


@pytest.mark.parametrize("codec", ["blosc-lz4", "blosc-zstd", "zstd", "none"])
def test_arrays_are_genuine_zarr_v3_for_every_codec(tmp_path, codec):
    """Our direct single-chunk writer/reader and zarr itself agree, byte for byte, on every dtype and codec."""
    import zarr

    rng = np.random.default_rng(0)
    tensors = {"f32": rng.standard_normal((2, 3, 50)).astype(np.float32), "i64": np.array([2**62 + 1]),
               "f16": rng.standard_normal((4,)).astype(np.float16), "neg0": np.array([-0.0, 0.0], np.float32),
               "b": np.array([[True, False]]), "u8": np.arange(7, dtype=np.uint8), "big_endian": np.arange(3, dtype=">f4")}
    store = Store.create(tmp_path / "s.zarr", codec=codec)
    store.write_chunk("a", 0, tensors, {})
    chunk = Store.open(tmp_path / "s.zarr").chunk("a", 0)
    group = zarr.open_group(zarr.storage.LocalStore(tmp_path / "s.zarr", read_only=True), mode="r")
    for name, a in tensors.items():
        via_zarr = group[f"streams/a/000000/inputs/{name}"][...]
        for got in (chunk.input(name), via_zarr):
            assert got.shape == a.shape and got.dtype == a.dtype.newbyteorder("=")
            assert got.tobytes() == a.astype(a.dtype.newbyteorder("=")).tobytes()  # -0.0 keeps its sign


def test_hand_built_array_metadata_is_what_zarr_writes():
    import orjson
    import zarr
    from zarr.codecs import BloscCodec, ZstdCodec

    from store.arrays import CODECS, array_metadata

    compressors = {"blosc-lz4": lambda dt: [BloscCodec(cname="lz4", clevel=1,
                                                       shuffle="bitshuffle" if np.dtype(dt).itemsize == 1 else "shuffle")],
                   "blosc-zstd": lambda dt: [BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")],
                   "zstd": lambda dt: [ZstdCodec(level=1)], "none": lambda dt: None}
    for codec in CODECS:
        for dtype in ("float32", "float16", "float64", "int64", "int32", "uint8", "int8", "bool"):
            for shape in ((), (3,), (1, 24, 256, 1024), (0, 2)):
                zstore = zarr.storage.MemoryStore()
                zarr.create_array(zstore, shape=shape, dtype=dtype, chunks=tuple(max(1, d) for d in shape),
                                  compressors=compressors[codec](dtype), fill_value=False if dtype == "bool" else 0,
                                  write_data=False)
                raw = zarr.core.sync.sync(zstore.get("zarr.json", zarr.core.buffer.default_buffer_prototype()))
                assert array_metadata(shape, np.dtype(dtype), codec) == orjson.loads(raw.to_bytes()), (codec, dtype)

"""Writing and reading the tensors of one chunk as Zarr v3 arrays (true shape, one Zarr chunk, compressed).

Each tensor is a genuine Zarr v3 array (any Zarr reader opens it), but because every array has exactly one chunk we
read and write that chunk directly: the array's ``zarr.json`` is exactly what zarr writes (`array_metadata`), and
the chunk's bytes are encoded with the very numcodecs codec zarr would use. This
skips zarr's per-call machinery and copies (about 3× faster for a 25 MB cache tensor) and decodes straight into
the output array. Anything else (a store written by another tool with other codecs or chunking) is read by zarr.

An array whose every byte is zero (an all-zero cache early in a stream) gets no chunk file, exactly as zarr does
for chunks equal to the fill value: reading it gives zeros.

The codec is chosen per store (root attr ``codec``) from `CODECS`; `bench/convert.py` measures them. The default,
``blosc-lz4`` (LZ4 level 1 after a byte shuffle), decoded a 50 MB pair of parakeet caches in 9-16 ms where
``blosc-zstd`` (zstd 1 + bitshuffle) took 20-30 ms and plain ``zstd`` 11-31 ms, at the same size within 5%
(float32 caches: ~0.55 of raw when half filled, ~0.12 early in a stream).
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import orjson

DEFAULT_CODEC = "blosc-lz4"
CODECS = ("blosc-zstd", "blosc-lz4", "zstd", "none")


def array_metadata(shape: tuple[int, ...], dtype: np.dtype, codec: str) -> dict[str, Any]:
    """The ``zarr.json`` zarr 3 writes for a single-chunk array of this shape, dtype and codec.

    Built by hand (checked against zarr's own output in tests/store/test_store_api.py) so that conversion workers
    and readers never import zarr.
    """
    dtype = np.dtype(dtype)
    compressors: dict[str, list[dict[str, Any]]] = {
        "blosc-lz4": [{"name": "blosc", "configuration": {"typesize": dtype.itemsize, "cname": "lz4", "clevel": 1,
                                                          "shuffle": "bitshuffle" if dtype.itemsize == 1 else
                                                          "shuffle", "blocksize": 0}}],
        "blosc-zstd": [{"name": "blosc", "configuration": {"typesize": dtype.itemsize, "cname": "zstd", "clevel": 1,
                                                           "shuffle": "bitshuffle", "blocksize": 0}}],
        "zstd": [{"name": "zstd", "configuration": {"level": 1, "checksum": False}}],
        "none": [],
    }
    if codec not in compressors:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    serializer: dict[str, Any] = ({"name": "bytes"} if dtype.itemsize == 1 else
                                  {"name": "bytes", "configuration": {"endian": "little"}})
    fill: Any = False if dtype.kind == "b" else 0.0 if dtype.kind == "f" else 0
    return {
        "shape": list(shape), "data_type": str(dtype.newbyteorder("=")),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [max(1, d) for d in shape]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill, "codecs": [serializer, *compressors[codec]], "attributes": {}, "zarr_format": 3,
        "node_type": "array", "storage_transformers": [],
    }


def _chunk_key(ndim: int) -> str:
    return "c" if ndim == 0 else "c/" + "/".join(["0"] * ndim)


@functools.lru_cache(maxsize=64)
def _numcodec(config_json: str) -> Any:
    """The numcodecs object for one bytes→bytes codec entry of a zarr.json (blosc, zstd)."""
    import numcodecs

    entry = orjson.loads(config_json)
    conf = entry.get("configuration", {})
    if entry["name"] == "blosc":
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[conf.get("shuffle", "noshuffle")]
        return numcodecs.Blosc(cname=conf["cname"], clevel=conf["clevel"], shuffle=shuffle,
                               blocksize=conf.get("blocksize", 0), typesize=conf.get("typesize"))
    if entry["name"] == "zstd":
        return numcodecs.Zstd(level=conf.get("level", 0), checksum=conf.get("checksum", False))
    raise KeyError(entry["name"])


def _plan(meta: Mapping[str, Any]) -> list[Any] | None:
    """The bytes→bytes codecs of an array we can read directly, or None if zarr must read it."""
    try:
        return _plan_of(meta)
    except (AttributeError, TypeError, ValueError):  # metadata of an unexpected form: zarr decides
        return None


def _plan_of(meta: Mapping[str, Any]) -> list[Any] | None:
    grid = meta.get("chunk_grid", {})
    if grid.get("name") != "regular" or meta.get("storage_transformers"):
        return None
    chunk_shape = grid.get("configuration", {}).get("chunk_shape")
    if [max(1, d) for d in meta["shape"]] != list(chunk_shape or []):
        return None
    if meta.get("chunk_key_encoding") != {"name": "default", "configuration": {"separator": "/"}}:
        return None
    codecs = meta.get("codecs", [])
    if not codecs or codecs[0].get("name") != "bytes":
        return None
    if codecs[0].get("configuration", {}).get("endian", "little") != "little":
        return None
    try:
        return [_numcodec(orjson.dumps(c).decode()) for c in codecs[1:]]
    except KeyError:
        return None


def write_array(folder: Path, array: np.ndarray, codec: str, name: str | None = None) -> None:
    """One tensor as a single-chunk Zarr v3 array at `folder` (created).

    The array's attributes record ``chunk_bytes`` (the size of its chunk file) when one is written, so that a
    reader can tell "all zeros, no file needed" from "file deleted or truncated", and ``name`` when the folder name
    is a shortened form of the tensor name.
    """
    data = np.asarray(array, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
    dtype = data.dtype.newbyteorder("<") if data.dtype.byteorder == ">" else data.dtype
    data = data.astype(dtype, copy=False)
    meta = array_metadata(data.shape, dtype, codec)
    if name is not None and folder.name != name:
        from store.layout import tensor_name

        if tensor_name(folder.name) != name:
            meta["attributes"]["name"] = name
    folder.mkdir(parents=True, exist_ok=True)
    flat = (data.reshape(-1) if data.ndim else data.reshape(1)).view(np.uint8)
    payload: Any = None
    if data.size and flat.any():  # else equal to the fill value: no chunk file, as zarr does
        payload = flat
        for numcodec in _plan(meta) or []:
            payload = numcodec.encode(payload)
        meta["attributes"]["chunk_bytes"] = memoryview(payload).nbytes
    (folder / "zarr.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    if payload is None:
        return
    chunk = folder / _chunk_key(data.ndim)
    chunk.parent.mkdir(parents=True, exist_ok=True)
    with open(chunk, "wb") as f:
        f.write(payload)


def write_arrays(root: Path, tensors: Mapping[str, Mapping[str, np.ndarray]], codec: str = DEFAULT_CODEC) -> None:
    """Write ``tensors[kind][name]`` as arrays ``<root>/<kind>/<tensor_dirname(name)>`` (kind = "inputs" /
    "outputs" / …).

    Args:
        root: A directory (normally a fresh ``*.partial`` one) that becomes the chunk's group.
        tensors: Arrays by kind and reference name; each keeps its true shape and dtype. Names are encoded into
            safe folder names (`store.layout.tensor_dirname`), so no name can reach outside `root`.
        codec: One of `CODECS`.
    """
    from store.layout import tensor_dirname

    for kind, named in tensors.items():
        for name, array in named.items():
            write_array(Path(root) / kind / tensor_dirname(name), array, codec, name=name)


def _read_meta(folder: Path) -> dict[str, Any]:
    """An array's ``zarr.json``, or `StoreCorrupt` naming what is wrong with it."""
    from store.api import StoreCorrupt

    path = Path(folder) / "zarr.json"
    try:
        meta = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreCorrupt(f"{folder} is missing (no zarr.json): the array was deleted or never finished.") from None
    except orjson.JSONDecodeError as exc:
        raise StoreCorrupt(f"{path} is not valid JSON ({exc}): something else changed this file.") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("shape"), list) or "data_type" not in meta:
        raise StoreCorrupt(f"{path} is not a Zarr array's metadata (no shape/data_type): something else changed "
                           f"this file.")
    try:
        np.dtype(meta["data_type"])
    except TypeError:
        raise StoreCorrupt(f"{path} names data_type {meta['data_type']!r}, which is not a dtype.") from None
    return meta


def read_array_at(folder: Path) -> np.ndarray:
    """The whole array stored at `folder` (a Zarr v3 array directory).

    Raises:
        store.api.StoreCorrupt: The array's metadata or chunk file is missing, truncated or undecodable.
    """
    from store.api import StoreCorrupt

    meta = _read_meta(folder)
    plan = _plan(meta)
    if plan is None:
        import zarr

        try:
            return zarr.open_array(store=zarr.storage.LocalStore(folder, read_only=True), mode="r")[...]
        except Exception as exc:  # noqa: BLE001 — whatever zarr says about a foreign array, name the folder
            raise StoreCorrupt(f"{folder}: zarr cannot read this array ({type(exc).__name__}: {exc}).") from None
    shape = tuple(meta["shape"])
    dtype = np.dtype(meta["data_type"])
    chunk = folder / _chunk_key(len(shape))
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise StoreCorrupt(f"{folder}/zarr.json has shape {list(shape)}, which is not a shape.")
    if math.prod(shape) == 0:
        return np.zeros(shape, dtype)
    try:
        return _read_chunk(folder, meta, plan, shape, dtype, chunk)
    except MemoryError:
        size = math.prod(shape) * dtype.itemsize
        raise StoreCorrupt(f"{folder}: its metadata declares shape {list(shape)} ({size:,} bytes), more than this "
                           f"machine can hold; the file is damaged or not ours.") from None


def _read_chunk(folder: Path, meta: Mapping[str, Any], plan: list[Any], shape: tuple[int, ...], dtype: np.dtype,
                chunk: Path) -> np.ndarray:
    from store.api import StoreCorrupt

    stored = (meta.get("attributes") or {}).get("chunk_bytes")
    try:
        f = open(chunk, "rb", buffering=0)
    except FileNotFoundError:
        if stored:
            raise StoreCorrupt(f"{chunk} is missing: the array's data file was deleted ({stored} bytes were "
                               f"written).") from None
        fill = meta.get("fill_value", 0)
        return np.full(shape, fill, dtype) if fill not in (0, 0.0, False) else np.zeros(shape, dtype)
    out = np.empty(shape, dtype)
    flat = (out.reshape(-1) if out.ndim else out.reshape(1)).view(np.uint8)
    with f:
        if stored is not None and os.fstat(f.fileno()).st_size != stored:
            raise StoreCorrupt(f"{chunk} is {os.fstat(f.fileno()).st_size} bytes but {stored} were written: the "
                               f"file was truncated or changed.")
        if not plan:  # uncompressed: straight from the file into the result
            if f.readinto(memoryview(flat)) != flat.size:
                raise StoreCorrupt(f"{chunk} is shorter than its array's {flat.size} bytes: the file was truncated.")
            return out
        raw = f.read()
    try:
        payload: Any = raw
        for numcodec in reversed(plan[1:]):
            payload = numcodec.decode(payload)
        plan[0].decode(payload, out=flat)  # straight into the result, no extra copy
    except Exception as exc:  # noqa: BLE001 — blosc/zstd raise RuntimeError/ValueError on damaged data
        raise StoreCorrupt(f"{chunk} cannot be decoded ({type(exc).__name__}: {exc}): the file is damaged.") from None
    return out


def array_problem(folder: Path) -> str | None:
    """What is wrong with the array at `folder` without reading its data (metadata unreadable, chunk file missing
    or of the wrong size), or None when it looks whole."""
    from store.api import StoreCorrupt

    try:
        meta = _read_meta(Path(folder))
    except StoreCorrupt as exc:
        return str(exc)
    stored = (meta.get("attributes") or {}).get("chunk_bytes")
    if not stored:
        return None
    chunk = Path(folder) / _chunk_key(len(meta["shape"]))
    try:
        size = chunk.stat().st_size
    except FileNotFoundError:
        return f"{chunk} is missing: the array's data file was deleted ({stored} bytes were written)."
    if size != stored:
        return f"{chunk} is {size} bytes but {stored} were written: the file was truncated or changed."
    return None


def array_meta(folder: Path) -> tuple[tuple[int, ...], str]:
    """Shape and dtype name of the array at `folder`, from its ``zarr.json`` (no data read)."""
    meta = _read_meta(Path(folder))
    return tuple(meta["shape"]), str(meta["data_type"])



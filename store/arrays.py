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
SLAB_CHUNK_BYTES = 4 << 20
"""Arrays of at least this many bytes with 3+ dimensions are stored one Zarr chunk per slab: a chunk holds the last
two axes of one index of the leading ones (one layer of a [24, 1, 256, 1024] cache, 1 MB), so a reader that shows one
layer decompresses one layer, not 24. Smaller arrays keep a single chunk (fewer files)."""


def slab_chunk_shape(shape: tuple[int, ...], nbytes: int) -> tuple[int, ...] | None:
    """The chunk shape of an array stored by slabs (``[1, …, 1, rows, cols]``), or None for a single chunk."""
    if len(shape) < 3 or nbytes < SLAB_CHUNK_BYTES or math.prod(shape[:-2]) <= 1 or 0 in shape:
        return None
    return (1,) * (len(shape) - 2) + tuple(shape[-2:])


def array_metadata(shape: tuple[int, ...], dtype: np.dtype, codec: str,
                   chunk_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The ``zarr.json`` zarr 3 writes for an array of this shape, dtype and codec, in one chunk (default) or in
    chunks of `chunk_shape`.

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
        "chunk_grid": {"name": "regular", "configuration": {
            "chunk_shape": [max(1, d) for d in (shape if chunk_shape is None else chunk_shape)]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill, "codecs": [serializer, *compressors[codec]], "attributes": {}, "zarr_format": 3,
        "node_type": "array", "storage_transformers": [],
    }


def _chunk_key(ndim: int, lead: tuple[int, ...] = ()) -> str:
    """The chunk file of the single chunk, or of the slab at leading index `lead` (the other axes' index is 0)."""
    if ndim == 0:
        return "c"
    return "c/" + "/".join([str(i) for i in lead] + ["0"] * (ndim - len(lead)))


def _split_axes(meta: Mapping[str, Any]) -> int:
    """How many leading axes the chunk grid splits (0: one chunk), or -1 for a grid we do not read ourselves: the
    chunks must be 1 along the split axes and whole along the others."""
    shape = [max(1, d) for d in meta["shape"]]
    chunk_shape = list(meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape") or [])
    if len(chunk_shape) != len(shape):
        return -1
    for split in range(len(shape) + 1):
        if chunk_shape[split:] == shape[split:]:
            return split
        if chunk_shape[split] != 1:
            return -1
    return -1


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
    if _split_axes(meta) < 0:
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
    chunk_shape = slab_chunk_shape(data.shape, data.nbytes)
    meta = array_metadata(data.shape, dtype, codec, chunk_shape)
    if name is not None and folder.name != name:
        from store.layout import tensor_name

        if tensor_name(folder.name) != name:
            meta["attributes"]["name"] = name
    folder.mkdir(parents=True, exist_ok=True)
    if chunk_shape is not None:
        _write_slabs(folder, data, meta)
        return
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


def _write_slabs(folder: Path, data: np.ndarray, meta: dict[str, Any]) -> None:
    """Write `data` one chunk file per slab (see `slab_chunk_shape`); ``chunk_bytes`` lists each file's size in
    C order of the leading index (0: all zeros, no file, as zarr does)."""
    plan = _plan(meta)
    if plan is None:  # (never: slab metadata is ours) — never write raw bytes under a codec's name
        raise ValueError(f"{folder}: cannot plan the codecs of {meta['codecs']}")
    lead_shape = data.shape[:-2]
    slabs = data.reshape(math.prod(lead_shape), -1)
    sizes: list[int] = []
    for n, lead in enumerate(np.ndindex(*lead_shape)):
        flat = slabs[n].view(np.uint8)
        if not flat.any():
            sizes.append(0)
            continue
        payload: Any = flat
        for numcodec in plan:
            payload = numcodec.encode(payload)
        chunk = folder / _chunk_key(data.ndim, lead)
        chunk.parent.mkdir(parents=True, exist_ok=True)
        with open(chunk, "wb") as f:
            f.write(payload)
        sizes.append(memoryview(payload).nbytes)
    meta["attributes"]["chunk_bytes"] = sizes
    (folder / "zarr.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))


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
    return read_array_part(folder, ())


def read_array_part(folder: Path, lead: tuple[int, ...]) -> np.ndarray:
    """``array[lead]`` of the array at `folder` for integer indices `lead` of its leading axes, reading only the
    chunk files that hold it when the array is stored by slabs (`slab_chunk_shape`); other arrays are read whole.

    Raises:
        store.api.StoreCorrupt: The array's metadata or a chunk file it needs is missing, truncated or undecodable.
        IndexError: `lead` lies outside the array's shape.
    """
    from store.api import StoreCorrupt

    folder = Path(folder)
    lead = tuple(int(i) for i in lead)
    meta = _read_meta(folder)
    plan = _plan(meta)
    if plan is None:
        import zarr

        try:
            return zarr.open_array(store=zarr.storage.LocalStore(folder, read_only=True), mode="r")[lead or ...]
        except Exception as exc:  # noqa: BLE001 — whatever zarr says about a foreign array, name the folder
            raise StoreCorrupt(f"{folder}: zarr cannot read this array ({type(exc).__name__}: {exc}).") from None
    shape = tuple(meta["shape"])
    dtype = np.dtype(meta["data_type"])
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise StoreCorrupt(f"{folder}/zarr.json has shape {list(shape)}, which is not a shape.")
    if len(lead) > len(shape) or any(not -d <= i < d for i, d in zip(lead, shape)):
        raise IndexError(f"{folder}: index {list(lead)} outside shape {list(shape)}")
    lead = tuple(i % d for i, d in zip(lead, shape))
    split = _split_axes(meta)
    try:
        if math.prod(shape) == 0:
            return np.zeros(shape, dtype)[lead]
        if split == 0:  # one chunk: the whole array
            whole = _read_chunks(folder, meta, plan, shape, dtype, [()])
            return whole[lead] if lead else whole
        # by slabs: the chunks whose leading index starts with `lead`
        fixed = lead[:split]
        free = shape[len(fixed):split]
        wanted = [fixed + rest for rest in np.ndindex(*free)]
        part = _read_chunks(folder, meta, plan, shape[len(fixed):], dtype, wanted, split)
        return part[lead[split:]] if len(lead) > split else part
    except MemoryError:
        size = math.prod(shape) * dtype.itemsize
        raise StoreCorrupt(f"{folder}: its metadata declares shape {list(shape)} ({size:,} bytes), more than this "
                           f"machine can hold; the file is damaged or not ours.") from None


def _stored_sizes(meta: Mapping[str, Any], split: int) -> Any:
    """``chunk_bytes`` as written: one int for a single chunk, a list per slab (C order), or None (not ours)."""
    return (meta.get("attributes") or {}).get("chunk_bytes")


def _slab_number(lead: tuple[int, ...], shape: tuple[int, ...], split: int) -> int:
    return int(np.ravel_multi_index(lead, shape[:split])) if split else 0


def _read_chunks(folder: Path, meta: Mapping[str, Any], plan: list[Any], out_shape: tuple[int, ...],
                 dtype: np.dtype, leads: list[tuple[int, ...]], split: int = 0) -> np.ndarray:
    """Decode the chunks at leading indices `leads` (in C order) into one array of `out_shape`: each chunk is a
    contiguous run of the result's bytes, because only leading axes are split."""
    shape = tuple(meta["shape"])
    stored = _stored_sizes(meta, split)
    out = np.empty(out_shape, dtype)
    flat = (out.reshape(-1) if out.ndim else out.reshape(1)).view(np.uint8)
    step = flat.size // max(len(leads), 1)
    for n, lead in enumerate(leads):
        size = stored if split == 0 else (stored[_slab_number(lead, shape, split)]
                                          if isinstance(stored, list) else None)
        _read_chunk_into(folder / _chunk_key(len(shape), lead), size, plan, flat[n * step:(n + 1) * step],
                         meta.get("fill_value", 0), dtype)
    return out


def _read_chunk_into(chunk: Path, stored: Any, plan: list[Any], flat: np.ndarray, fill: Any, dtype: np.dtype) -> None:
    """Decode one chunk file into `flat` (its bytes in the result); a missing file is the fill value when nothing
    was written for it, else `StoreCorrupt`."""
    from store.api import StoreCorrupt

    try:
        f = open(chunk, "rb", buffering=0)
    except FileNotFoundError:
        if stored:
            raise StoreCorrupt(f"{chunk} is missing: the array's data file was deleted ({stored} bytes were "
                               f"written).") from None
        if fill in (0, 0.0, False):
            flat[:] = 0
        else:
            flat.view(dtype)[:] = fill
        return
    with f:
        if stored is not None and os.fstat(f.fileno()).st_size != stored:
            raise StoreCorrupt(f"{chunk} is {os.fstat(f.fileno()).st_size} bytes but {stored} were written: the "
                               f"file was truncated or changed.")
        if not plan:  # uncompressed: straight from the file into the result
            if f.readinto(memoryview(flat)) != flat.size:
                raise StoreCorrupt(f"{chunk} is shorter than its array's {flat.size} bytes: the file was truncated.")
            return
        raw = f.read()
    try:
        payload: Any = raw
        for numcodec in reversed(plan[1:]):
            payload = numcodec.decode(payload)
        plan[0].decode(payload, out=flat)  # straight into the result, no extra copy
    except Exception as exc:  # noqa: BLE001 — blosc/zstd raise RuntimeError/ValueError on damaged data
        raise StoreCorrupt(f"{chunk} cannot be decoded ({type(exc).__name__}: {exc}): the file is damaged.") from None


def array_problem(folder: Path) -> str | None:
    """What is wrong with the array at `folder` without reading its data (metadata unreadable, a chunk file
    missing or of the wrong size), or None when it looks whole."""
    from store.api import StoreCorrupt

    try:
        meta = _read_meta(Path(folder))
    except StoreCorrupt as exc:
        return str(exc)
    stored = (meta.get("attributes") or {}).get("chunk_bytes")
    if not stored:
        return None
    shape = tuple(meta["shape"])
    split = _split_axes(meta) if isinstance(stored, list) else 0
    if isinstance(stored, list):
        if split <= 0 or len(stored) != math.prod(shape[:split]):
            return f"{folder}/zarr.json lists {len(stored)} chunk sizes for shape {list(shape)}: the file was changed."
        checks = [(_chunk_key(len(shape), lead), size) for lead, size in zip(np.ndindex(*shape[:split]), stored)]
    else:
        checks = [(_chunk_key(len(shape)), stored)]
    for key, size_written in checks:
        if not size_written:
            continue
        chunk = Path(folder) / key
        try:
            size = chunk.stat().st_size
        except FileNotFoundError:
            return f"{chunk} is missing: the array's data file was deleted ({size_written} bytes were written)."
        if size != size_written:
            return f"{chunk} is {size} bytes but {size_written} were written: the file was truncated or changed."
    return None


def array_meta(folder: Path) -> tuple[tuple[int, ...], str]:
    """Shape and dtype name of the array at `folder`, from its ``zarr.json`` (no data read)."""
    meta = _read_meta(Path(folder))
    return tuple(meta["shape"]), str(meta["data_type"])


def list_array_names(folder: Path) -> list[str]:
    """The tensor names of the arrays in `folder` (decoded from their folder names), sorted."""
    from store.layout import tensor_name

    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = []
    for p in folder.iterdir():
        if not (p / "zarr.json").exists():
            continue
        name = tensor_name(p.name)
        if name is None:  # a shortened name: the array's metadata holds the full one
            try:
                name = (orjson.loads((p / "zarr.json").read_bytes()).get("attributes") or {}).get("name")
            except (OSError, ValueError, AttributeError):
                name = None
        names.append(name if isinstance(name, str) and name else p.name)
    return sorted(names)

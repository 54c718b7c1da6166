"""Writing and reading the tensors of one chunk as Zarr v3 arrays (true shape, one Zarr chunk, compressed).

The codec is chosen per store (root attr ``codec``) from `CODECS`; `bench/convert.py` measures them. Arrays whose
every element equals the fill value (all-zero caches early in a stream) are not written at all: Zarr reads them
back as the fill value, so they cost nothing on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

DEFAULT_CODEC = "blosc-zstd"
CODECS = ("blosc-zstd", "blosc-lz4", "zstd", "none")


def _compressors(codec: str) -> Any:
    from zarr.codecs import BloscCodec, ZstdCodec

    if codec == "blosc-zstd":
        return [BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")]
    if codec == "blosc-lz4":
        return [BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle")]
    if codec == "zstd":
        return [ZstdCodec(level=1)]
    if codec == "none":
        return None
    raise ValueError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")


def write_arrays(root: Path, tensors: Mapping[str, Mapping[str, np.ndarray]], codec: str = DEFAULT_CODEC) -> None:
    """Write ``tensors[kind][name]`` as arrays ``<root>/<kind>/<name>`` (kind = "inputs" / "outputs" / …).

    Args:
        root: A directory (normally a fresh ``*.partial`` one) that becomes the chunk's group.
        tensors: Arrays by kind and reference name; each keeps its true shape and dtype.
        codec: One of `CODECS`.
    """
    import zarr

    zstore = zarr.storage.LocalStore(root)
    compressors = _compressors(codec)
    for kind, named in tensors.items():
        for name, array in named.items():
            data = np.asarray(array, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
            fill: Any = False if data.dtype == np.bool_ else 0
            zarr.create_array(
                zstore, name=f"{kind}/{name}", data=data, chunks=tuple(max(1, d) for d in data.shape),
                compressors=compressors, fill_value=fill,
            )


def read_array(zstore: Any, path: str) -> np.ndarray:
    """The whole array at `path` (relative to the zarr store `zstore`) as a numpy array."""
    import zarr

    return zarr.open_array(store=zstore, path=path, mode="r")[...]


def array_meta(folder: Path) -> tuple[tuple[int, ...], str]:
    """Shape and dtype name of the array at `folder`, from its ``zarr.json`` (no data read)."""
    import orjson

    meta = orjson.loads((Path(folder) / "zarr.json").read_bytes())
    return tuple(meta["shape"]), str(meta["data_type"])

"""One reference chunk, read from a store and put into the model's layout, for the diagnostics.

The store keeps tensors under their reference names in the reference file's layout; backends take reference names in
the *model's* layout. A contract's `TensorSpec.ref_perm` says how to get from one to the other
(``np.transpose(ref, ref_perm)``); without a contract (``export-chunk`` on a bare store) tensors stay as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from contracts.model import Contract
from inspector.errors import InspectorError


@dataclass(frozen=True)
class ChunkData:
    """The reference's view of one chunk.

    Attributes:
        stream: Stream (utterance) name.
        index: Chunk index within the stream.
        inputs: Reference inputs by reference name, model layout.
        outputs: Reference outputs by reference name, model layout.
        meta: The chunk's metadata from the reference file.
    """

    stream: str
    index: int
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    meta: Mapping[str, Any] = field(default_factory=dict)


def to_model_layout(contract: Contract | None, ref_name: str, array: np.ndarray) -> np.ndarray:
    """`array` (reference layout) in the model's layout, per the contract's `ref_perm` (as the engine does)."""
    if contract is None:
        return array
    from inspector.engine import to_model_layout as engine_to_model

    return engine_to_model(contract, ref_name, array)


def to_reference_layout(contract: Contract | None, ref_name: str, array: np.ndarray) -> np.ndarray:
    """The inverse of `to_model_layout`."""
    if contract is None:
        return array
    from inspector.engine import to_ref_layout

    return to_ref_layout(contract, ref_name, array)


def resolve_stream(store: Any, stream: str | None) -> str:
    """`stream`, checked against the store; when None, the store's only stream.

    Raises:
        InspectorError: The stream does not exist, or the store has several and none was named.
    """
    streams = list(store.streams())
    if stream is None:
        if len(streams) == 1:
            return streams[0]
        if not streams:
            raise InspectorError(f"store {store.path} holds no streams: convert a reference into it first "
                                 "(`inspector convert`).")
        raise InspectorError(f"store {store.path} holds {len(streams)} streams ({', '.join(streams[:8])}"
                             f"{' …' if len(streams) > 8 else ''}): name one with --stream.")
    if stream not in streams:
        raise InspectorError(f"stream {stream!r} is not in store {store.path}. Note: its streams are "
                             f"{', '.join(streams[:8])}{' …' if len(streams) > 8 else ''}.")
    return stream


def check_chunk(store: Any, stream: str, index: int) -> None:
    """Raise a clear error when chunk `index` of `stream` is not in the store."""
    have = list(store.chunk_indices(stream))
    if index not in have:
        span = f"{have[0]}..{have[-1]}" if have else "none"
        raise InspectorError(f"chunk {index} of stream {stream!r} is not in store {store.path} "
                             f"(complete chunks: {span}). Pick one of those with --chunk.")


def load_chunk(store: Any, contract: Contract | None, stream: str, index: int) -> ChunkData:
    """Read chunk `index` of `stream` and return its reference inputs and outputs in model layout."""
    check_chunk(store, stream, index)
    view = store.chunk(stream, index)
    inputs = {name: to_model_layout(contract, name, np.asarray(arr)) for name, arr in view.inputs().items()}
    outputs = {name: to_model_layout(contract, name, np.asarray(arr)) for name, arr in view.outputs().items()}
    return ChunkData(stream=stream, index=index, inputs=inputs, outputs=outputs, meta=dict(view.meta or {}))


def model_feeds(contract: Contract, chunk: ChunkData) -> dict[str, np.ndarray]:
    """Every contract input of `chunk` (reference names, model layout, contract dtype), ready for `Backend.run`.

    Raises:
        InspectorError: The chunk lacks one of the contract's inputs.
    """
    feeds: dict[str, np.ndarray] = {}
    for spec in contract.inputs:
        if spec.ref_name not in chunk.inputs:
            raise InspectorError(
                f"chunk {chunk.index} of stream {chunk.stream!r} has no input {spec.ref_name!r}, which contract "
                f"{contract.name!r} requires. Note: the chunk holds {', '.join(sorted(chunk.inputs))}.")
        arr = chunk.inputs[spec.ref_name]
        if spec.dtype != "bfloat16" and arr.dtype != np.dtype(spec.dtype):
            arr = arr.astype(spec.dtype)
        feeds[spec.ref_name] = arr
    return feeds


def scalar_or_list(array: np.ndarray | None) -> Any:
    """A small integer tensor (a length) as a JSON value: a scalar when it holds one element."""
    if array is None:
        return None
    flat = np.asarray(array).reshape(-1)
    if flat.size == 1:
        return flat[0].item()
    return [v.item() for v in flat[:16]]

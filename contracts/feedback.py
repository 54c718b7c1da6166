"""The feedback map applied: a chunk's outputs become the next chunk's state inputs, padded as the contract says."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from contracts.model import Contract, Padding


def pad_to(array: np.ndarray, padding: Padding) -> np.ndarray:
    """Pad (or left/right-crop) `array` along `padding.axis` to exactly `padding.to` elements."""
    axis = padding.axis % array.ndim
    size = array.shape[axis]
    if size == padding.to:
        return array
    if size > padding.to:
        # Keep the newest entries: for a left-padded cache the newest frames are at the right end.
        sl = [slice(None)] * array.ndim
        sl[axis] = slice(size - padding.to, size) if padding.side == "left" else slice(0, padding.to)
        return array[tuple(sl)]
    widths = [(0, 0)] * array.ndim
    missing = padding.to - size
    widths[axis] = (missing, 0) if padding.side == "left" else (0, missing)
    return np.pad(array, widths, mode="constant", constant_values=padding.value)


def next_state(contract: Contract, outputs: Mapping[str, np.ndarray],
               previous: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The state inputs (reference names) for the next chunk, built from this chunk's outputs.

    An output missing from `outputs` (a backend that failed) keeps the previous value, if any.
    """
    state: dict[str, np.ndarray] = {}
    for fb in contract.feedback:
        if fb.source in outputs:
            value = np.asarray(outputs[fb.source])
            if fb.padding is not None:
                value = pad_to(value, fb.padding)
            want = contract.input(fb.target).dtype
            state[fb.target] = value.astype(want, copy=False) if want != "bfloat16" else value
        elif previous is not None and fb.target in previous:
            state[fb.target] = previous[fb.target]
    return state

"""Which axes of a tensor the heatmap draws, and which it fixes with selectors (layer, batch).

Labels come from the contract (`TensorSpec.axes`) when it has them; otherwise they are guessed from the tensor's
reference name and shape. Our exports and reference files are batch-first (`cache_last_channel [B, L, T, C]`,
`cache_last_time [B, L, C, T]`, `encoder_output [B, C, T]`); older files are layer-first (`[L, B, …]`), which the
guess recognises by a size-1 second axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorAxes:
    """How a tensor of a given shape is sliced to 2-D.

    Attributes:
        labels: One label per axis.
        row_axis, col_axis: The axes drawn vertically and horizontally (None for a 0-/1-D tensor's missing axis).
        layer_axis, batch_axis: The axes chosen with selectors, when the tensor has them.
        guessed: True when the labels were guessed rather than read from the contract.
    """

    shape: tuple[int, ...]
    labels: tuple[str, ...]
    row_axis: int | None
    col_axis: int | None
    layer_axis: int | None
    batch_axis: int | None
    guessed: bool = True

    @property
    def layers(self) -> int:
        return self.shape[self.layer_axis] if self.layer_axis is not None else 1

    @property
    def batches(self) -> int:
        return self.shape[self.batch_axis] if self.batch_axis is not None else 1

    def fixed_index(self, layer: int, batch: int) -> dict[int, int]:
        """Index of every axis that is not drawn: the selected layer and batch, 0 for any other extra axis."""
        fixed: dict[int, int] = {}
        for axis in range(len(self.shape)):
            if axis in (self.row_axis, self.col_axis):
                continue
            if axis == self.layer_axis:
                fixed[axis] = min(max(layer, 0), self.shape[axis] - 1)
            elif axis == self.batch_axis:
                fixed[axis] = min(max(batch, 0), self.shape[axis] - 1)
            else:
                fixed[axis] = 0
        return fixed

    def slice2d(self, array: np.ndarray, layer: int = 0, batch: int = 0) -> np.ndarray:
        """The 2-D view (rows × cols) drawn for the given selectors; 0-/1-D tensors become one row.

        `array` may be any array-like with ``ndim`` and ``__getitem__`` (a `inspector.tui.tensors.StoredTensor`
        reads only the slab indexed), else it is converted with `np.asarray`."""
        a = array if hasattr(array, "ndim") and hasattr(array, "__getitem__") else np.asarray(array)
        if a.ndim == 0:
            a = np.asarray(a)
            return a.reshape(1, 1)
        if a.ndim == 1:
            return np.asarray(a).reshape(1, -1)
        fixed = self.fixed_index(layer, batch)
        index = tuple(fixed.get(axis, slice(None)) for axis in range(a.ndim))
        view = a[index]
        # the remaining axes keep their order; transpose if the row axis comes after the column axis
        if self.row_axis is not None and self.col_axis is not None and self.row_axis > self.col_axis:
            view = view.T
        return view

    def full_index(self, row: int, col: int, layer: int = 0, batch: int = 0) -> tuple[int, ...]:
        """The index in the original tensor of element (row, col) of `slice2d(…, layer, batch)`."""
        n = len(self.shape)
        if n == 0:
            return ()
        if n == 1:
            return (col,)
        index = [0] * n
        for axis, value in self.fixed_index(layer, batch).items():
            index[axis] = value
        assert self.row_axis is not None and self.col_axis is not None
        index[self.row_axis] = row
        index[self.col_axis] = col
        return tuple(index)

    def locate(self, index: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(layer, batch, row, col) of an original-tensor index (inverse of `full_index`)."""
        n = len(self.shape)
        if n == 0:
            return 0, 0, 0, 0
        if n == 1:
            return 0, 0, 0, int(index[0])
        layer = int(index[self.layer_axis]) if self.layer_axis is not None else 0
        batch = int(index[self.batch_axis]) if self.batch_axis is not None else 0
        assert self.row_axis is not None and self.col_axis is not None
        return layer, batch, int(index[self.row_axis]), int(index[self.col_axis])

    def describe_range(self, rows: tuple[int, int], cols: tuple[int, int], layer: int, batch: int) -> str:
        """e.g. ``layer 3 · time 120–123 · channel 500–507`` (ranges in the original tensor, end inclusive)."""
        parts: list[str] = []
        fixed = self.fixed_index(layer, batch)
        for axis, value in sorted(fixed.items()):
            if self.shape[axis] > 1 or axis == self.layer_axis:
                parts.append(f"{self.labels[axis]} {value}")

        def span(label: str, lo: int, hi: int) -> str:
            return f"{label} {lo}" if hi - lo <= 1 else f"{label} {lo}–{hi - 1}"

        if len(self.shape) >= 2:
            assert self.row_axis is not None and self.col_axis is not None
            parts.append(span(self.labels[self.row_axis], *rows))
            parts.append(span(self.labels[self.col_axis], *cols))
        elif len(self.shape) == 1:
            parts.append(span(self.labels[0], *cols))
        return " · ".join(parts) if parts else "scalar"


def _guess_labels(name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    n = len(shape)
    lname = name.lower()
    if n == 4:
        layer_first = shape[1] == 1 and shape[0] > 1
        lead = ("layer", "batch") if layer_first else ("batch", "layer")
        if "cache_last_time" in lname:
            return (*lead, "channel", "time")
        if "cache" in lname:
            return (*lead, "time", "channel")
        return (*lead, "dim2", "dim3")
    if n == 3:
        if "audio" in lname or "signal" in lname:
            return ("batch", "feature", "time")
        if "output" in lname or "encoder" in lname:
            return ("batch", "channel", "time")
        return ("batch", "dim1", "dim2")
    if n == 2:
        return ("batch", "dim1") if shape[0] == 1 else ("dim0", "dim1")
    if n == 1:
        return ("batch",)
    return ()


def axes_for(name: str, shape: tuple[int, ...], labels: tuple[str, ...] | None = None) -> TensorAxes:
    """How to draw tensor `name` of `shape`; `labels` (from the contract) win over the guess when they fit.

    The two drawn axes are the last two that are not the layer or batch axis; of those the longer one is drawn
    horizontally, since terminal cells are wider in pixels than tall once split in two.
    """
    shape = tuple(int(s) for s in shape)
    guessed = not (labels is not None and len(labels) == len(shape))
    labels = _guess_labels(name, shape) if guessed else tuple(labels)  # type: ignore[arg-type]
    n = len(shape)
    if n < 2:
        return TensorAxes(shape, labels, None, 0 if n == 1 else None, None, None, guessed)
    layer_axis = labels.index("layer") if "layer" in labels else None
    batch_axis = labels.index("batch") if "batch" in labels else None
    free = [a for a in range(n) if a not in (layer_axis, batch_axis)]
    if len(free) < 2:  # e.g. a [B, L] tensor: draw it as it is
        free = list(range(n))
        layer_axis = batch_axis = None
        if n > 2:
            free = free[-2:]
    a, b = free[-2], free[-1]
    row_axis, col_axis = (a, b) if shape[b] >= shape[a] else (b, a)
    if n > 2 and batch_axis is None and layer_axis is None:
        # no selectors were labelled: the first extra axis becomes the "layer" selector so nothing is hidden
        extra = [ax for ax in range(n) if ax not in (row_axis, col_axis)]
        layer_axis = extra[0]
    return TensorAxes(shape, labels, row_axis, col_axis, layer_axis, batch_axis, guessed)

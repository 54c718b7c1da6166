"""One output tensor of one chunk, reference beside backend, and the views the heatmap draws of it (numpy only).

Views:
    error       |backend − reference|
    relative    |backend − reference| / (|reference| + EPS), as `inspector.metrics` computes max_rel
    reference   |reference|
    backend     |backend|
The error views need the backend's outputs, which a run keeps only when it was made with ``--save-outputs``; without
them only the reference view exists. View arrays are computed once per tensor (in a worker) and kept, so switching
layers is only pooling.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from inspector.metrics import DEFAULT_EPS
from inspector.tui.axes import TensorAxes
from inspector.tui.imaging import HeatImage, LogScale, finite_max, make_image, worst_in

VIEWS: Final = ("error", "relative", "reference", "backend")
VIEW_TITLES: Final = {
    "error": "|error|",
    "relative": "relative error",
    "reference": "|reference|",
    "backend": "|backend|",
}
SLICES_PER_PAIR: Final = 8
"""View slices kept per tensor (one layer of a parakeet-size cache is 1 MB)."""
IMAGES_PER_PAIR: Final = 4
"""Images kept per tensor (views × layers × sizes the user went through lately); each is a few KB."""
EPS: Final = DEFAULT_EPS
"""Added to |reference| in the relative error (the kernel's own epsilon), so zeros do not divide by zero."""


@dataclass(frozen=True)
class ElementValues:
    """Reference, backend and error at one element of the original tensor."""

    index: tuple[int, ...]
    reference: float
    backend: float | None

    @property
    def error(self) -> float | None:
        return None if self.backend is None else abs(self.backend - self.reference)

    @property
    def relative(self) -> float | None:
        err = self.error
        return None if err is None else err / (abs(self.reference) + EPS)


class StoredTensor:
    """A tensor in the store, read one slab at a time: indexing it with integers on its leading axes reads only the
    chunk files that hold that slab (`store.arrays.read_array_part`; one layer of a cache stored by layers), and
    `np.asarray` reads it whole once. Thread-safe; the last few slabs are kept.

    Enough of the ndarray interface for `TensorPair` and `TensorAxes.slice2d`: ``shape``, ``ndim``, ``dtype``,
    ``size``, ``__getitem__`` and ``__array__``.
    """

    SLABS: Final = 4

    def __init__(self, folder: Any, shape: tuple[int, ...], dtype: Any) -> None:
        self.folder = folder
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self._whole: np.ndarray | None = None
        self._slabs: dict[tuple[int, ...], np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"StoredTensor({self.folder}, shape={list(self.shape)}, dtype={self.dtype})"

    def whole(self) -> np.ndarray:
        from store.arrays import read_array_at

        with self._lock:
            if self._whole is None:
                self._whole = read_array_at(self.folder)
            return self._whole

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.whole()
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def slab(self, lead: tuple[int, ...]) -> np.ndarray:
        """``self[lead]`` for integers on the leading axes, reading only what holds it."""
        from store.arrays import read_array_part

        if self._whole is not None:
            return self._whole[lead]
        with self._lock:
            cached = self._slabs.get(lead)
        if cached is not None:
            return cached
        part = read_array_part(self.folder, lead)
        with self._lock:
            while len(self._slabs) >= self.SLABS:
                self._slabs.pop(next(iter(self._slabs)))
            self._slabs[lead] = part
        return part

    def __getitem__(self, index: Any) -> Any:
        index = index if isinstance(index, tuple) else (index,)
        lead: list[int] = []
        for item in index:
            if isinstance(item, (int, np.integer)) and len(lead) < max(self.ndim - 2, 0):
                lead.append(int(item))
            else:
                break
        if not lead or self._whole is not None:
            return np.asarray(self)[index]
        rest = index[len(lead):]
        part = self.slab(tuple(lead))
        return part[rest] if rest else part


@dataclass
class TensorPair:
    """The reference and (when saved) backend values of one output tensor of one chunk.

    Attributes:
        name: Reference name of the tensor.
        stream, chunk: Where it comes from.
        run_id: The run whose backend output this is ("" for reference only).
        reference: The reference array.
        backend: The run's saved output, or None.
        axes: How to slice it.
        note: Why the backend side is missing, if it is.
        worst_index: Index of the worst |error| element (from the run's metrics when recorded, else computed).
        recorded_max: The run's recorded max-abs error of the tensor (its metrics, against the reference): the
            |error| colour scale then needs no pass over the whole tensor.
    """

    name: str
    stream: str
    chunk: int
    run_id: str
    reference: np.ndarray | StoredTensor
    backend: np.ndarray | StoredTensor | None
    axes: TensorAxes
    note: str = ""
    worst_index: tuple[int, ...] | None = None
    recorded_max: float | None = None
    _views: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _slices: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict, repr=False)
    _scales: dict[str, LogScale] = field(default_factory=dict, repr=False)
    _images: dict[tuple, HeatImage] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.stream, self.name, self.chunk, self.run_id)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.reference.shape)

    @property
    def has_backend(self) -> bool:
        return self.backend is not None and self.backend.shape == self.reference.shape

    def available_views(self) -> tuple[str, ...]:
        return VIEWS if self.has_backend else ("reference",)

    def view(self, name: str) -> np.ndarray:
        """The full-tensor array of a view (computed once, thread-safe); unavailable views fall back to reference."""
        if name not in self.available_views():
            name = "reference"
        with self._lock:
            cached = self._views.get(name)
            if cached is not None:
                return cached
            ref = self._as_float(self.reference)
            if name == "reference":
                arr = np.abs(ref)
            elif name == "backend":
                arr = np.abs(self._as_float(self.backend))
            else:
                err = self._views.get("error")
                if err is None:
                    err = np.subtract(self._as_float(self.backend), ref)
                    np.abs(err, out=err)  # in place: one 25 MB temporary less for a parakeet-size cache
                    self._views["error"] = err
                arr = err if name == "error" else err / (np.abs(ref) + EPS)
            self._views[name] = arr
            return arr

    def slice_view(self, name: str, layer: int, batch: int) -> np.ndarray:
        """One layer/batch slice of a view, as drawn (`TensorAxes.slice2d`), computed on that slice only.

        A step to the next chunk draws one layer of a cache: computing |error| for that layer alone (1 MB at
        parakeet size, not 25 MB for all 24 layers) is most of what makes a step with nothing read ahead fast.
        """
        if name not in self.available_views():
            name = "reference"
        full = self._views.get(name)
        if full is not None:
            return self.axes.slice2d(full, layer, batch)
        key = (name, layer, batch)
        with self._lock:
            cached = self._slices.get(key)
            if cached is not None:
                return cached
        # slice first, then convert: a stored tensor then reads only the slab shown
        ref = self._as_float(self.axes.slice2d(self.reference, layer, batch))
        if name == "reference":
            arr = np.abs(ref)
        elif name == "backend":
            arr = np.abs(self._as_float(self.axes.slice2d(self.backend, layer, batch)))
        else:
            arr = np.abs(np.subtract(self._as_float(self.axes.slice2d(self.backend, layer, batch)), ref))
            if name == "relative":
                arr = arr / (np.abs(ref) + EPS)
        with self._lock:
            while len(self._slices) >= SLICES_PER_PAIR:
                self._slices.pop(next(iter(self._slices)))
            self._slices[key] = arr
        return arr

    def scale(self, view: str) -> LogScale:
        """The colour scale of a view: its finite maximum over the whole tensor, so layers compare (for |error|,
        the run's recorded max-abs when there is one)."""
        if view not in self.available_views():
            view = "reference"
        cached = self._scales.get(view)
        if cached is None:
            recorded = self.recorded_max
            if view == "error" and recorded is not None and math.isfinite(recorded) and recorded >= 0.0:
                cached = LogScale.for_max(recorded)
            else:
                cached = LogScale.for_max(finite_max(self.view(view)))
            self._scales[view] = cached
        return cached

    def worst(self) -> tuple[int, ...] | None:
        """Index of the worst |error| element; None without a backend output or when the two are identical."""
        if not self.has_backend:
            return None
        if self.worst_index is None or len(self.worst_index) != self.reference.ndim:
            self.worst_index = worst_in(self.view("error"))
        if self.worst_index is None:
            return None
        values = self.values_at(self.worst_index)
        value = values.error if values.error is not None else 0.0
        return self.worst_index if (value > 0.0 or value != value) else None

    def values_at(self, index: tuple[int, ...]) -> ElementValues:
        ref = float(self.reference[index]) if self.reference.ndim else float(self.reference)
        back = None
        if self.has_backend:
            assert self.backend is not None
            back = float(self.backend[index]) if self.backend.ndim else float(self.backend)
        return ElementValues(index=tuple(index), reference=ref, backend=back)

    @staticmethod
    def _as_float(a: np.ndarray | StoredTensor | None) -> np.ndarray:
        assert a is not None
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype.itemsize >= 4:
            return a
        return a.astype(np.float64)


def cached_image(pair: TensorPair, view: str, layer: int, batch: int, cell_cols: int,
                 cell_rows: int) -> HeatImage | None:
    """The image `pair_image` would return when it was made already (no work: the UI thread may ask)."""
    view = view if view in pair.available_views() else "reference"
    layer = min(max(layer, 0), pair.axes.layers - 1)
    batch = min(max(batch, 0), pair.axes.batches - 1)
    return pair._images.get((view, layer, batch, cell_cols, cell_rows))


def pair_image(pair: TensorPair, view: str, layer: int, batch: int, cell_cols: int, cell_rows: int) -> HeatImage:
    """The heatmap image of one view of one layer/batch slice of `pair`, sized to `cell_cols × cell_rows` cells.

    Heavy (reads the view array, pools, quantises): call it in a worker. The colour scale spans the whole tensor,
    so layers compare; the worst element of the whole tensor is marked when it lies in this slice.
    """
    view = view if view in pair.available_views() else "reference"
    layer = min(max(layer, 0), pair.axes.layers - 1)
    batch = min(max(batch, 0), pair.axes.batches - 1)
    key = (view, layer, batch, cell_cols, cell_rows)
    cached = pair._images.get(key)
    if cached is not None:  # made ahead by the chunk worker's read-ahead, or shown before
        return cached
    slice2d = pair.slice_view(view, layer, batch)
    worst = pair.worst()
    mark = None
    if worst is not None:
        w_layer, w_batch, w_row, w_col = pair.axes.locate(worst)
        if (w_layer, w_batch) == (layer, batch) or pair.reference.ndim < 2:
            mark = (w_row, w_col)
    image = make_image(slice2d, cell_cols, cell_rows, pair.scale(view), worst=mark,
                       params=(pair.key, view, layer, batch, cell_cols, cell_rows))
    with pair._lock:
        while len(pair._images) >= IMAGES_PER_PAIR:
            pair._images.pop(next(iter(pair._images)))
        pair._images[key] = image
    return image

"""Heatmap maths with numpy only: max-pooling a 2-D slice to the widget's pixels and quantising it to a palette.

No Textual here: the app's workers call `make_image` off the UI thread, and `widgets/heatmap.py` only looks the
resulting palette indices up. Pooling takes the maximum, never the mean, so one bad element stays visible however
far the tensor is shrunk; NaN and ±Inf propagate through `np.maximum` and get their own colour.

Palette indices (uint8):
    0            exact zero (a bit-identical element shows black, which is what parity looks like)
    1 .. 250     log10 scale from `lo` to `hi`
    NONFINITE    NaN or ±Inf in the pooled cell
    WORST        the cell that holds the worst element of the whole tensor
    CURSOR       the cursor (drawn by the widget, never baked into the image)
    BACKGROUND   outside the image
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

LEVELS: Final = 250
ZERO: Final = 0
NONFINITE: Final = 251
WORST: Final = 252
CURSOR: Final = 253
BACKGROUND: Final = 254

DECADES: Final = 6
"""How many decades below the maximum the colour scale reaches; smaller values clamp to the darkest level."""

# viridis, sampled at nine points: perceptually uniform, readable on dark and light terminals, and free of red and
# white, which the markers use.
_VIRIDIS: Final = (
    (0x44, 0x01, 0x54), (0x47, 0x2D, 0x7B), (0x3B, 0x52, 0x8B), (0x2C, 0x72, 0x8E), (0x21, 0x91, 0x8C),
    (0x28, 0xAE, 0x80), (0x5E, 0xC9, 0x62), (0xAD, 0xDC, 0x30), (0xFD, 0xE7, 0x25),
)
SPECIAL_COLOURS: Final = {
    ZERO: (0x00, 0x00, 0x00),
    NONFINITE: (0xFF, 0x00, 0xFF),
    WORST: (0xFF, 0x30, 0x30),
    CURSOR: (0xFF, 0xFF, 0xFF),
    BACKGROUND: (0x00, 0x00, 0x00),
}

_image_ids = itertools.count(1)


def _build_palette() -> tuple[tuple[int, int, int], ...]:
    anchors = np.asarray(_VIRIDIS, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, LEVELS)
    channels = [np.interp(t, positions, anchors[:, c]) for c in range(3)]
    colours: list[tuple[int, int, int]] = [SPECIAL_COLOURS[ZERO]]
    colours += [tuple(int(round(ch[i])) for ch in channels) for i in range(LEVELS)]  # type: ignore[misc]
    while len(colours) < 256:
        colours.append(SPECIAL_COLOURS.get(len(colours), (0, 0, 0)))
    return tuple(colours)


PALETTE: Final[tuple[tuple[int, int, int], ...]] = _build_palette()
"""RGB triple of every palette index (256 entries)."""


# ---- scale -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogScale:
    """A log10 colour scale from `lo` to `hi` (both > 0); values in (0, lo) clamp to the first level."""

    lo: float
    hi: float

    @classmethod
    def for_max(cls, hi: float, decades: int = DECADES) -> "LogScale":
        """A scale reaching `decades` below `hi` (a flat scale of one decade when `hi` is 0 or not finite)."""
        if not math.isfinite(hi) or hi <= 0.0:
            return cls(lo=0.1, hi=1.0)
        return cls(lo=hi * 10.0 ** (-decades), hi=hi)

    def level(self, value: float) -> int:
        """The palette index of one value (used by the legend and tests)."""
        return int(quantise(np.asarray([value], dtype=np.float64), self)[0])

    def ticks(self) -> list[float]:
        """Decade ticks inside the scale, lowest first (at least the two ends)."""
        lo_exp, hi_exp = math.ceil(math.log10(self.lo) - 1e-9), math.floor(math.log10(self.hi) + 1e-9)
        ticks = [10.0 ** e for e in range(lo_exp, hi_exp + 1)]
        return ticks if len(ticks) >= 2 else [self.lo, self.hi]

    def position(self, value: float) -> float:
        """Where `value` sits on the scale, 0.0 (lo) .. 1.0 (hi), clamped."""
        if value <= 0.0:
            return 0.0
        span = math.log10(self.hi) - math.log10(self.lo)
        return min(1.0, max(0.0, (math.log10(value) - math.log10(self.lo)) / span))


def quantise(values: np.ndarray, scale: LogScale) -> np.ndarray:
    """Map non-negative values to palette indices (uint8) on a log scale; zeros → ZERO, NaN/Inf → NONFINITE."""
    v = np.asarray(values, dtype=np.float64)
    out = np.empty(v.shape, dtype=np.uint8)
    finite = np.isfinite(v)
    positive = finite & (v > 0.0)
    log_lo, log_hi = math.log10(scale.lo), math.log10(scale.hi)
    span = (log_hi - log_lo) or 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.log10(np.where(positive, v, scale.lo)) - log_lo) / span
    levels = np.clip(np.rint(t * (LEVELS - 1)), 0, LEVELS - 1).astype(np.uint8) + 1
    out[...] = ZERO
    out[positive] = levels[positive]
    out[~finite] = NONFINITE
    return out


def finite_max(values: np.ndarray) -> float:
    """The largest finite value (0.0 when there is none)."""
    v = np.asarray(values)
    if v.size == 0:
        return 0.0
    top = float(np.max(v))
    if math.isfinite(top):
        return top
    finite = v[np.isfinite(v)]
    return float(finite.max()) if finite.size else 0.0


# ---- pooling ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bins:
    """How one source axis of length `size` maps onto `n` pixels: pixel p covers [starts[p], ends[p])."""

    size: int
    starts: np.ndarray
    ends: np.ndarray

    @property
    def n(self) -> int:
        return int(self.starts.shape[0])

    def pixel_of(self, index: int) -> int:
        """The first pixel that covers source `index`."""
        return int(np.searchsorted(self.ends, index, side="right"))

    def span(self, pixel: int) -> tuple[int, int]:
        return int(self.starts[pixel]), int(self.ends[pixel])


MAX_ZOOM: Final = 8
"""Most pixels one element may span when a small tensor is enlarged (a scalar stays a small block)."""


def make_bins(size: int, pixels: int) -> Bins:
    """Bins for `size` source elements on at most `pixels` pixels.

    Shrinking: `pixels` contiguous bins of ⌊size/pixels⌋ or ⌈size/pixels⌉ elements. Growing: each element repeated
    an integer number of times, at most `MAX_ZOOM` (so every element spans the same number of pixels).
    """
    size, pixels = max(int(size), 1), max(int(pixels), 1)
    if size >= pixels:
        edges = (np.arange(pixels + 1, dtype=np.int64) * size) // pixels
        return Bins(size, edges[:-1], edges[1:])
    factor = min(pixels // size, MAX_ZOOM)
    starts = np.repeat(np.arange(size, dtype=np.int64), factor)
    return Bins(size, starts, starts + 1)


def _pool_axis(a: np.ndarray, bins: Bins, axis: int) -> np.ndarray:
    """Max over each bin along `axis`, with one `np.take` per offset inside a bin (fast, NaN-propagating)."""
    widths = bins.ends - bins.starts
    out = np.take(a, bins.starts, axis=axis)
    last = bins.ends - 1
    for offset in range(1, int(widths.max())):
        np.maximum(out, np.take(a, np.minimum(bins.starts + offset, last), axis=axis), out=out)
    return out


def pool_max(a: np.ndarray, rows: Bins, cols: Bins) -> np.ndarray:
    """Max-pool a 2-D array onto `rows.n × cols.n` pixels (the bigger reduction first, to shrink the work)."""
    if a.shape[1] / cols.n >= a.shape[0] / rows.n:
        return _pool_axis(_pool_axis(a, cols, 1), rows, 0)
    return _pool_axis(_pool_axis(a, rows, 0), cols, 1)


# ---- the image ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatImage:
    """A quantised, pooled picture of one 2-D slice, ready for `render_line`.

    Attributes:
        key: Unique per image: strip caches key on it.
        pixels: uint8 palette indices, shape [2 * cell_rows, cell_cols] (odd pixel rows padded with BACKGROUND).
        codes: ``top * 256 + bottom`` per cell, shape [cell_rows, cell_cols], as nested lists for fast lookups.
        rows, cols: Pixel → source-range maps for the slice's row and column axes.
        scale: The colour scale.
        worst_pixel: (pixel row, pixel col) of the tensor's worst element when it lies in this slice.
        params: Whatever the caller used to make it (view, layer, batch, size) for staleness checks.
    """

    key: int
    pixels: np.ndarray
    codes: list[list[int]]
    rows: Bins
    cols: Bins
    scale: LogScale
    worst_pixel: tuple[int, int] | None
    params: tuple = field(default=())

    @property
    def cell_rows(self) -> int:
        return len(self.codes)

    @property
    def cell_cols(self) -> int:
        return self.pixels.shape[1]

    @property
    def pixel_rows(self) -> int:
        """Pixel rows that hold data (without the padding row)."""
        return self.rows.n


def make_image(
    slice2d: np.ndarray,
    cell_cols: int,
    cell_rows: int,
    scale: LogScale,
    worst: tuple[int, int] | None = None,
    params: tuple = (),
) -> HeatImage:
    """Pool and quantise a non-negative 2-D slice to fit `cell_cols × cell_rows` terminal cells (2 pixels each).

    Args:
        slice2d: The values to draw (|error|, |reference| …), rows × cols, any float or int dtype.
        cell_cols: Width in cells (= pixels).
        cell_rows: Height in cells (= half the pixels).
        scale: Colour scale (usually fixed for the whole tensor, so layers compare).
        worst: (row, col) in `slice2d` of the element to mark, or None.
        params: Stored on the image for the caller's staleness checks.

    Returns:
        The image.
    """
    a = np.asarray(slice2d)
    if a.ndim != 2:
        raise ValueError(f"make_image needs a 2-D slice, got shape {a.shape}")
    if a.size == 0:
        a = np.zeros((1, 1), dtype=np.float32)
    rows = make_bins(a.shape[0], max(2 * cell_rows, 1))
    cols = make_bins(a.shape[1], max(cell_cols, 1))
    pooled = pool_max(a, rows, cols)
    idx = quantise(pooled, scale)
    worst_pixel = None
    if worst is not None:
        worst_pixel = (rows.pixel_of(worst[0]), cols.pixel_of(worst[1]))
        idx[worst_pixel] = WORST
    if idx.shape[0] % 2:
        idx = np.vstack([idx, np.full((1, idx.shape[1]), BACKGROUND, dtype=np.uint8)])
    codes = (idx[0::2].astype(np.int32) * 256 + idx[1::2]).tolist()
    return HeatImage(
        key=next(_image_ids), pixels=idx, codes=codes, rows=rows, cols=cols, scale=scale,
        worst_pixel=worst_pixel, params=params,
    )


def worst_in(a: np.ndarray) -> tuple[int, ...] | None:
    """Index of the worst element: the first non-finite one, else the largest; None for an empty array."""
    v = np.asarray(a)
    if v.size == 0:
        return None
    flat = v.reshape(-1)
    if v.dtype.kind == "f":
        bad = ~np.isfinite(flat)
        if bad.any():
            return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), v.shape))
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(flat)), v.shape))

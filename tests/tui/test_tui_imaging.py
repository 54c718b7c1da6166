"""Heatmap maths: max-pooling keeps single bad elements visible, the log scale and palette, the pixel ↔ element maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.tui.imaging import (
    BACKGROUND, LEVELS, NONFINITE, WORST, ZERO, LogScale, make_bins, make_image, pool_max, quantise, worst_in,
)


@pytest.mark.parametrize("size,pixels", [(1024, 100), (256, 56), (70, 56), (7, 100), (1, 80), (100, 100)])
def test_bins_cover_every_element_once(size: int, pixels: int) -> None:
    bins = make_bins(size, pixels)
    assert bins.n <= pixels
    if size >= pixels:
        assert bins.starts[0] == 0 and bins.ends[-1] == size
        assert np.all(bins.starts[1:] == bins.ends[:-1])  # contiguous, no gap, no overlap
        widths = bins.ends - bins.starts
        assert widths.min() >= size // pixels and widths.max() <= -(-size // pixels)
    else:  # enlarged: every element gets the same number of pixels
        counts = np.bincount(bins.starts, minlength=size)
        assert counts.min() == counts.max() >= 1


def test_one_bad_element_survives_any_shrink() -> None:
    """The whole point of max-pooling: a single wrong element in a parakeet-size layer is still drawn."""
    rng = np.random.default_rng(0)
    layer = np.abs(rng.standard_normal((256, 1024))).astype(np.float32) * 1e-6
    layer[137, 901] = 0.5
    rows, cols = make_bins(256, 40), make_bins(1024, 60)
    pooled = pool_max(layer, rows, cols)
    r, c = rows.pixel_of(137), cols.pixel_of(901)
    assert pooled[r, c] == pytest.approx(0.5)
    assert pooled.max() == pytest.approx(0.5)
    # a mean would have drowned it: this pixel covers ~100 elements
    assert layer[rows.starts[r]:rows.ends[r], cols.starts[c]:cols.ends[c]].mean() < 0.05


def test_nan_and_inf_propagate_through_pooling_and_get_their_colour() -> None:
    a = np.full((64, 64), 1e-3, np.float32)
    a[10, 10] = np.nan
    a[50, 50] = np.inf
    rows, cols = make_bins(64, 8), make_bins(64, 8)
    idx = quantise(pool_max(a, rows, cols), LogScale.for_max(1e-3))
    assert idx[rows.pixel_of(10), cols.pixel_of(10)] == NONFINITE
    assert idx[rows.pixel_of(50), cols.pixel_of(50)] == NONFINITE
    assert (idx == NONFINITE).sum() == 2


def test_log_scale_levels() -> None:
    scale = LogScale.for_max(1e-2)  # six decades: 1e-8 .. 1e-2
    assert scale.lo == pytest.approx(1e-8)
    levels = quantise(np.array([0.0, 1e-12, 1e-8, 1e-5, 1e-2, 1.0]), scale)
    assert levels[0] == ZERO  # exact zeros are their own colour: bit-identical shows black
    assert levels[1] == levels[2] == 1  # below the scale clamps to the darkest level, never to "zero"
    assert levels[3] == 1 + round((LEVELS - 1) / 2)  # the middle decade is in the middle
    assert levels[4] == levels[5] == LEVELS
    assert scale.ticks() == pytest.approx([1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2])
    assert LogScale.for_max(0.0).hi > 0 and LogScale.for_max(math.nan).hi > 0


def test_make_image_marks_the_worst_element_and_pads_odd_rows() -> None:
    a = np.zeros((3, 10), np.float32)
    a[2, 7] = 1.0
    image = make_image(a, cell_cols=10, cell_rows=2, scale=LogScale.for_max(1.0), worst=(2, 7))
    # 3 rows into 4 pixel rows: enlarged 1× (integer zoom only), one padding row of BACKGROUND
    assert image.rows.n == 3 and image.pixels.shape == (4, 10)
    assert image.worst_pixel == (2, 7)
    assert image.pixels[2, 7] == WORST
    assert np.all(image.pixels[3] == BACKGROUND)
    assert image.codes[1][7] == WORST * 256 + BACKGROUND


def test_worst_in_prefers_non_finite() -> None:
    a = np.zeros((2, 3, 4), np.float32)
    a[1, 2, 3] = 5.0
    assert worst_in(a) == (1, 2, 3)
    a[0, 1, 1] = np.nan
    assert worst_in(a) == (0, 1, 1)

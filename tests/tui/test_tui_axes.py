"""Which axes the heatmap draws and which it selects, with and without the contract's labels."""

from __future__ import annotations

import numpy as np

from inspector.tui.axes import axes_for


def test_batch_first_cache_from_contract_labels() -> None:
    ax = axes_for("cache_last_channel_out", (1, 24, 256, 1024), ("batch", "layer", "time", "channel"))
    assert not ax.guessed
    assert (ax.layer_axis, ax.batch_axis) == (1, 0)
    assert (ax.row_axis, ax.col_axis) == (2, 3)  # the longer axis (channel) runs horizontally
    assert ax.layers == 24


def test_guesses_layer_first_files_and_time_caches() -> None:
    old = axes_for("cache_last_channel", (24, 1, 70, 1024))
    assert old.guessed and old.labels[:2] == ("layer", "batch") and old.layer_axis == 0
    time_cache = axes_for("cache_last_time_out", (1, 24, 1024, 4))
    assert time_cache.labels == ("batch", "layer", "channel", "time")
    assert (time_cache.row_axis, time_cache.col_axis) == (3, 2)  # 4 time steps drawn vertically


def test_slice_and_index_round_trip() -> None:
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    ax = axes_for("cache_last_time", (2, 3, 4, 5))  # [B, L, C=4, T=5]: rows T, cols C after the swap
    s = ax.slice2d(a, layer=2, batch=1)
    assert s.shape == (4, 5) if ax.row_axis == 2 else s.shape == (5, 4)
    for row in range(s.shape[0]):
        for col in range(s.shape[1]):
            index = ax.full_index(row, col, layer=2, batch=1)
            assert a[index] == s[row, col]
            assert ax.locate(index) == (2, 1, row, col)


def test_small_tensors() -> None:
    lengths = axes_for("encoded_lengths", (1,))
    assert lengths.slice2d(np.array([3])).shape == (1, 1)
    assert lengths.full_index(0, 0) == (0,) and lengths.layers == 1
    frames = axes_for("encoder_output", (1, 64, 3), ("batch", "channel", "time"))
    assert frames.layer_axis is None and frames.batch_axis == 0
    assert frames.slice2d(np.zeros((1, 64, 3))).shape == (3, 64)
    assert frames.describe_range((0, 1), (10, 14), 0, 0) == "time 0 · channel 10–13"

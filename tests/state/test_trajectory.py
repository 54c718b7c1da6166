"""The state trajectory's pieces on hand-made tensors and records: fingerprints, lengths, reading records back, the
first-chunk feedback shape check."""

from __future__ import annotations

import numpy as np

from contracts.load import load_contract
from inspector.state.trajectory import feedback_shapes, fingerprint, scalar, state_of, trajectory_of


def test_fingerprint_counts_filled_time_positions_in_both_cache_layouts():
    """rows = frames that hold something: NeMo's attention cache [B, L, T, D] fills from the right end, the
    convolution cache [B, L, D, T] keeps its last frames; the count is what the cache length should say."""
    att = np.zeros((1, 2, 256, 64), np.float32)
    att[:, :, -28:] = 0.5
    conv = np.zeros((1, 2, 64, 4), np.float32)
    conv[..., 1:] = 1.0
    f_att, f_conv = fingerprint(att, 2), fingerprint(conv, 3)
    assert (f_att.rows, f_conv.rows) == (28, 3)
    assert f_att.nonzero_rows == 28 / 256 and f_conv.nonzero_rows == 0.75
    assert np.isclose(f_att.norm, np.linalg.norm(att))
    empty = fingerprint(np.zeros_like(att), 2)
    assert (empty.rows, empty.norm, empty.nonzero_rows) == (0, 0.0, 0.0)


def test_fingerprint_digest_tells_equal_caches_from_different_ones():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 2, 256, 64)).astype(np.float32)
    b = a.copy()
    b[0, 1, 100, 3] += 1.0
    assert fingerprint(a, 2).digest == fingerprint(a.copy(), 2).digest
    assert fingerprint(a, 2).digest != fingerprint(b, 2).digest


def test_scalar_reads_lengths_and_refuses_a_cache_fed_as_a_length():
    assert scalar(np.array([145], np.int64)) == 145
    assert scalar(np.zeros((1, 2, 256, 64), np.int64)) is None  # a swapped feedback map feeds this into a length
    assert scalar(None) is None


def test_trajectory_reads_live_and_imported_records_alike():
    """A live run keeps the figures under extra.state, an imported streaming summary under state: same keys."""
    live = [{"chunk": i, "extra": {"state": {"cache_len_in": 3 * i, "cache_len_out": 3 * i + 1,
                                             "fp": {"cache_last_channel": {"rows": 3 * i, "norm": 1.0}}}}}
            for i in range(3)]
    imported = [{"chunk": i, "state": {"cache_len_in": 0, "cache_len_out": 0}} for i in range(3)]
    t_live, t_imp = trajectory_of(live), trajectory_of(imported)
    assert t_live.cache_len_out == (1, 4, 7) and t_live.fp_values("cache_last_channel", "rows") == [(0, 0), (1, 3),
                                                                                                    (2, 6)]
    assert t_imp.cache_len_in == (0, 0, 0) and t_imp.has_lengths
    assert state_of({"chunk": 0}) is None and trajectory_of([{"chunk": 0, "tensors": {}}]) is None


def test_feedback_shapes_flags_a_swapped_pair_and_says_what_would_fit():
    c = load_contract("demo_streaming")
    feeds = {"cache_last_channel": np.zeros((1, 2, 256, 64), np.float32),
             "cache_last_time": np.zeros((1, 2, 64, 4), np.float32),
             "cache_last_channel_len": np.zeros((1,), np.int64)}
    outputs = {"encoder_output": np.zeros((1, 64, 3), np.float32), "encoded_lengths": np.array([3]),
               "cache_last_channel_out": feeds["cache_last_channel"], "cache_last_time_out": feeds["cache_last_time"],
               "cache_last_channel_len_out": np.array([1])}
    ok = feedback_shapes(c, feeds, outputs)
    assert ok["ok"] and all(e["ok"] for e in ok["edges"])
    import dataclasses

    from contracts.model import Feedback

    swapped = dataclasses.replace(c, feedback=(Feedback("cache_last_channel_len_out", "cache_last_channel"),
                                               Feedback("cache_last_time_out", "cache_last_time"),
                                               Feedback("cache_last_channel_out", "cache_last_channel_len")))
    bad = feedback_shapes(swapped, feeds, outputs)
    wrong = {e["target"]: e for e in bad["edges"] if not e["ok"]}
    assert not bad["ok"] and set(wrong) == {"cache_last_channel", "cache_last_channel_len"}
    assert wrong["cache_last_channel"]["fits"] == ["cache_last_channel_out"]
    assert set(wrong["cache_last_channel_len"]["fits"]) == {"encoded_lengths", "cache_last_channel_len_out"}

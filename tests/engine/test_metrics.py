"""Per-tensor figures: exact on small arrays, robust to NaN/Inf and shape mismatches, exact P99 on large ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.metrics import compare_tensor


def test_figures_and_worst_index_are_in_the_tensors_shape():
    ref = np.zeros((1, 2, 3, 4), dtype=np.float32)
    out = ref.copy()
    out[0, 1, 2, 3] = 0.5
    out[0, 0, 1, 1] = -0.25
    m = compare_tensor("x", out, ref, atol=0.1)
    assert not m and m.n_fail == 2
    assert m.max_abs == pytest.approx(0.5)
    assert m.worst_index == (0, 1, 2, 3)
    assert m.worst_out == pytest.approx(0.5) and m.worst_ref == 0.0
    assert m.mean_abs == pytest.approx(0.75 / 24)
    assert "x:" in m.message and "[0, 1, 2, 3]" in m.message


def test_identical_tensors_pass_with_cosine_one_and_zero_errors():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 64, 5)).astype(np.float32)
    m = compare_tensor("enc", a, a.copy(), atol=0.0, frame_axis=2)
    assert m and m.max_abs == 0 and m.rel_l2 == 0 and m.cosine == pytest.approx(1.0)
    assert m.diverging_frames == 0 and m.n_frames == 5 and len(m.frame_cosine) == 5


def test_relative_figures_and_rtol():
    ref = np.array([1.0, 2.0, 0.0, 4.0], dtype=np.float32)
    out = np.array([1.1, 2.0, 0.0, 4.0], dtype=np.float32)
    m = compare_tensor("x", out, ref, atol=0.0, rtol=0.2)
    assert m  # 0.1 <= 0 + 0.2 * 1.0
    assert m.max_rel == pytest.approx(0.1, rel=1e-4)
    assert m.rel_l2 == pytest.approx(0.1 / math.sqrt(21), rel=1e-4)
    assert not compare_tensor("x", out, ref, atol=0.0, rtol=0.05)


def test_frames_output_counts_diverging_frames_and_per_frame_cosine():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((1, 16, 4)).astype(np.float32)
    out = ref.copy()
    out[0, :, 2] = -ref[0, :, 2]  # frame 2 flipped: cosine -1
    m = compare_tensor("encoder_output", out, ref, atol=1e-4, frame_axis=2)
    assert m.diverging_frames == 1
    assert m.frame_cosine[2] == pytest.approx(-1.0)
    assert m.min_frame_cosine == pytest.approx(-1.0)
    assert all(c == pytest.approx(1.0) for i, c in enumerate(m.frame_cosine) if i != 2)


def test_nan_in_the_backend_fails_with_counts_and_finite_figures():
    ref = np.arange(10, dtype=np.float32)
    out = ref.copy()
    out[3] = np.nan
    out[7] += 0.5
    m = compare_tensor("x", out, ref, atol=1.0)
    assert not m
    assert m.nonfinite_out == 1 and m.nonfinite_ref == 0 and m.nonfinite_mismatch == 1
    assert m.max_abs == pytest.approx(0.5) and m.worst_index == (7,)
    assert "non-finite" in m.message
    d = m.to_dict()
    assert d["nonfinite_out"] == 1


def test_nan_where_the_reference_has_it_too_is_not_a_backend_error():
    ref = np.array([1.0, np.nan, np.inf], dtype=np.float32)
    assert compare_tensor("x", ref.copy(), ref, atol=0.0)
    assert not compare_tensor("x", np.array([1.0, np.nan, -np.inf], np.float32), ref, atol=0.0)


def test_all_nan_output_is_a_clear_failure_not_a_crash():
    ref = np.ones(4, np.float32)
    m = compare_tensor("x", np.full(4, np.nan, np.float32), ref, atol=1.0)
    assert not m and m.nonfinite_out == 4
    assert m.to_dict()["max_abs"] is None  # strict JSON: no NaN


def test_shape_mismatch_is_a_failure_with_a_message():
    m = compare_tensor("cache", np.zeros((1, 2, 3)), np.zeros((1, 3, 2)), atol=1.0)
    assert not m and "shape [1, 2, 3] differs from the reference's [1, 3, 2]" in m.message


def test_integer_lengths_compare_exactly():
    assert compare_tensor("len", np.array([4]), np.array([4]), atol=0.0)
    m = compare_tensor("len", np.array([7]), np.array([4]), atol=0.0)
    assert not m and m.max_abs == 3.0


def test_p99_and_cosine_exact_on_a_parakeet_sized_cache():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((1, 4, 256, 1024)).astype(np.float32)  # 1 M values: the large-array paths
    out = ref + (rng.standard_normal(ref.shape) * 1e-3).astype(np.float32)
    m = compare_tensor("cache", out, ref, atol=1.0)
    d = np.abs(out.astype(np.float64) - ref.astype(np.float64)).ravel()
    assert m.p99_abs == pytest.approx(np.percentile(np.abs(out - ref).ravel(), 99, method="higher"), rel=1e-6)
    assert m.max_abs == pytest.approx(d.max(), rel=1e-6)
    assert m.mean_abs == pytest.approx(d.mean(), rel=1e-4)
    a, b = out.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert 1 - m.cosine == pytest.approx(1 - cos, rel=1e-3)


def test_block_parallel_figures_equal_the_serial_ones(monkeypatch):
    """Large tensors are compared in blocks on a thread pool (machines with >= 4 cores); same figures."""
    import inspector.metrics as metrics

    rng = np.random.default_rng(3)
    ref = rng.standard_normal((1, 4, 256, 1100)).astype(np.float32)
    out = ref + (rng.standard_normal(ref.shape) * 1e-4).astype(np.float32)
    out[0, 3, 17, 5] += 0.25
    results = {}
    for threads in ("0", "3"):
        monkeypatch.setenv("INSPECTOR_METRIC_THREADS", threads)
        assert (metrics._block_pool() is not None) == (threads == "3")
        results[threads] = compare_tensor("cache", out, ref, atol=3e-4, rtol=0.01)
    s, p = results["0"], results["3"]
    assert (p.max_abs, p.worst_index, p.p99_abs, p.n_fail) == (s.max_abs, s.worst_index, s.p99_abs, s.n_fail)
    assert p.max_rel == s.max_rel and p.passed == s.passed is False
    assert p.mean_abs == pytest.approx(s.mean_abs, rel=1e-5) and p.rel_l2 == pytest.approx(s.rel_l2, rel=1e-5)
    assert p.cosine == pytest.approx(s.cosine, abs=1e-9)
    bad = out.copy()
    bad[0, 0, 0, 0] = np.inf  # a non-finite block sends it down the exact serial path
    monkeypatch.setenv("INSPECTOR_METRIC_THREADS", "3")
    m = compare_tensor("cache", bad, ref, atol=3e-4)
    assert m.nonfinite_out == 1 and m.worst_index == (0, 3, 17, 5)


def _whole_array_figures(monkeypatch, out, ref, **kw):
    """The figures by whole-array passes (the blocked sweep and the bit-identity shortcut switched off)."""
    import inspector.metrics as metrics

    monkeypatch.setattr(metrics, "BLOCKED_MIN", 1 << 62)
    monkeypatch.setattr(metrics, "IDENTICAL_MIN", 1 << 62)
    try:
        return compare_tensor("cache", out, ref, **kw)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("case", ["noise", "rtol-failing", "mostly-equal", "sample-misses-the-tail"])
def test_cache_blocked_sweep_gives_the_whole_array_figures(monkeypatch, case):
    """The serial path for large tensors sweeps cache-sized blocks; every figure is the one the plain passes give
    (max, P99, worst index, failing count, max-rel exactly; sums to float rounding), whatever the error looks like,
    including a P99 the sampled threshold guesses too high."""
    monkeypatch.setenv("INSPECTOR_METRIC_THREADS", "0")
    rng = np.random.default_rng(7)
    ref = rng.standard_normal((1, 3, 256, 1000)).astype(np.float32)
    out = ref + (rng.standard_normal(ref.shape) * 1e-4).astype(np.float32)
    kw = {"atol": 3e-4}
    if case == "rtol-failing":
        out[0, 2, 100, :50] += 0.3
        kw = {"atol": 1e-4, "rtol": 0.01}
    elif case == "mostly-equal":  # a carried cache: most frames copied bit for bit, the new ones differ
        out = ref.copy()
        out[0, :, -3:, :] += 1e-5
    elif case == "sample-misses-the-tail":  # large errors exactly on the sampling stride: the guess is too high
        out = ref.copy()
        flat = out.reshape(-1)
        flat[::61] += rng.uniform(1.0, 2.0, flat[::61].size).astype(np.float32)
    want = _whole_array_figures(monkeypatch, out, ref, **kw)
    monkeypatch.setenv("INSPECTOR_METRIC_THREADS", "0")
    import inspector.metrics as metrics

    calls = []
    real_p99 = metrics._p99
    monkeypatch.setattr(metrics, "_p99", lambda d: calls.append(d.size) or real_p99(d))
    got = compare_tensor("cache", out, ref, **kw)
    assert bool(calls) == (case == "sample-misses-the-tail")  # the exact fallback ran only where needed
    assert (got.max_abs, got.worst_index, got.p99_abs, got.n_fail, got.max_rel, got.passed) == \
        (want.max_abs, want.worst_index, want.p99_abs, want.n_fail, want.max_rel, want.passed)
    assert got.mean_abs == pytest.approx(want.mean_abs, rel=1e-5) and got.rel_l2 == pytest.approx(want.rel_l2,
                                                                                                  rel=1e-5)
    assert got.cosine == pytest.approx(want.cosine, abs=1e-9)


def test_bit_identical_large_tensors_take_the_shortcut_with_the_same_figures(monkeypatch):
    rng = np.random.default_rng(8)
    ref = rng.standard_normal((1, 2, 256, 1024)).astype(np.float32)
    m = compare_tensor("cache", ref.copy(), ref, atol=0.0, rtol=0.0)
    want = _whole_array_figures(monkeypatch, ref.copy(), ref, atol=0.0, rtol=0.0)
    assert m.passed and (m.max_abs, m.p99_abs, m.mean_abs, m.rel_l2, m.max_rel, m.n_fail) == (0, 0, 0, 0, 0, 0)
    assert m.cosine == want.cosine == 1.0 and m.worst_index == want.worst_index
    nan = ref.copy()
    nan[0, 1, 5, 7] = np.nan  # identical bits, NaN included: not the shortcut, the NaN is counted
    m = compare_tensor("cache", nan.copy(), nan, atol=0.0)
    assert m.nonfinite_out == m.nonfinite_ref == 1 and m.nonfinite_mismatch == 0 and m.passed


def test_empty_tensor_has_no_figure_and_never_passes():
    m = compare_tensor("len", np.zeros((1, 0), np.float32), np.zeros((1, 0), np.float32), atol=1.0)
    assert not m and not m.determined and m.outcome == "undetermined"
    assert "empty tensor (shape [1, 0])" in m.message
    d = m.to_dict()
    assert d["determined"] is False and d["size"] == 0 and d["max_abs"] is None


def test_outcomes_are_pass_fail_or_undetermined():
    ref = np.array([1.0, 2.0], np.float32)
    assert compare_tensor("x", ref.copy(), ref, atol=0.0).outcome == "pass"
    assert compare_tensor("x", ref + 1, ref, atol=0.5).outcome == "fail"
    assert compare_tensor("x", np.zeros(0), np.zeros(0), atol=0.5).outcome == "undetermined"


def test_kernel_takes_reference_first_and_settings():
    """`compare(reference, candidate, settings)` is the kernel; `compare_tensor(name, out, ref, ...)` the same call."""
    from inspector.metrics import CompareSettings, compare

    ref = np.array([1.0, 0.0, 4.0], np.float32)
    out = np.array([1.5, 0.0, 4.0], np.float32)
    k = compare(ref, out, CompareSettings(atol=0.1, rtol=0.0), name="x")
    assert k == compare_tensor("x", out, ref, atol=0.1, rtol=0.0)
    assert k.worst_ref == 1.0 and k.worst_out == 1.5  # the reference is the first argument
    assert k.rel_l2 == pytest.approx(0.5 / math.sqrt(17), rel=1e-6)


def test_strings_compare_by_equality():
    a = np.array(["a", "b"])
    assert compare_tensor("s", a, a.copy())
    m = compare_tensor("s", np.array(["a", "c"]), a)
    assert not m and "values differ" in m.message


def test_error_map_follows_the_kernels_non_finite_rule():
    from inspector.metrics import error_map

    ref = np.array([1.0, np.nan, np.inf, 2.0], np.float32)
    out = np.array([1.5, np.nan, 3.0, np.nan], np.float32)
    np.testing.assert_array_equal(error_map(out, ref), [0.5, 0.0, np.inf, np.inf])
    with pytest.raises(ValueError, match="shapes differ"):
        error_map(np.zeros(2), np.zeros(3))


def test_another_array_type_plugs_in_behind_the_same_function():
    """Where a GPU implementation goes: `register_kernel` routes a pair of (here: torch CPU) tensors to it, and the
    figures must be the numpy kernel's; after unregistering, the numpy kernel answers again."""
    torch = pytest.importorskip("torch")
    from inspector.metrics import CompareSettings, compare, register_kernel

    seen = []

    def torch_kernel(reference, candidate, settings, name):
        seen.append(name)
        return compare(reference.numpy(), candidate.numpy(), settings, name)

    rng = np.random.default_rng(5)
    ref = rng.standard_normal((2, 3, 4)).astype(np.float32)
    out = ref + np.float32(1e-3)
    settings = CompareSettings(atol=1e-4, frame_axis=2)
    remove = register_kernel(lambda r, c: isinstance(r, torch.Tensor), torch_kernel)
    try:
        got = compare(torch.from_numpy(ref), torch.from_numpy(out), settings, "enc")
    finally:
        remove()
    assert seen == ["enc"] and got == compare(ref, out, settings, "enc") and not got
    compare(torch.from_numpy(ref), torch.from_numpy(out), settings, "again")
    assert seen == ["enc"]

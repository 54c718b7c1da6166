"""The torch judge (the GPU's kernel, run here on CPU tensors: the same code path) gives the numpy judge's figures:
bit-for-bit on counts, indices, shapes, outcomes and messages; 1e-6 relative on the other figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inspector import judge_torch  # noqa: E402
from inspector.errors import InspectorError  # noqa: E402
from inspector.metrics import CompareSettings, compare  # noqa: E402

EXACT = ("name", "passed", "determined", "shape", "ref_shape", "atol", "rtol", "worst_index", "worst_ref", "worst_out",
         "n_fail", "size", "nonfinite_ref", "nonfinite_out", "nonfinite_mismatch", "diverging_frames", "n_frames",
         "message", "max_abs", "max_rel", "p99_abs")
"""max-abs, max-rel and P99 are single elements of the same element-wise results: exact too."""
CLOSE = ("mean_abs", "rel_l2", "cosine", "min_frame_cosine")


def _same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) or abs(a - b) <= 1e-12


def _assert_same(ref: np.ndarray, out: np.ndarray, settings: CompareSettings) -> None:
    want = compare(ref, out, settings, "t")
    got = judge_torch.torch_compare(torch.from_numpy(np.ascontiguousarray(ref)),
                                    torch.from_numpy(np.ascontiguousarray(out)), settings, "t")
    for f in EXACT:
        a, b = getattr(want, f), getattr(got, f)
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            continue
        assert a == b, f"{f}: numpy {a!r} vs torch {b!r}"
    for f in CLOSE:
        assert _same_float(getattr(want, f), getattr(got, f)), f"{f}: numpy {getattr(want, f)} vs torch " \
                                                               f"{getattr(got, f)}"
    if want.frame_cosine is None:
        assert got.frame_cosine is None
    else:
        assert len(want.frame_cosine) == len(got.frame_cosine)
        assert all(_same_float(a, b) for a, b in zip(want.frame_cosine, got.frame_cosine))


SETTINGS = [CompareSettings(atol=2e-4, rtol=0.0), CompareSettings(atol=1e-4, rtol=1e-3, frame_axis=2),
            CompareSettings(atol=None), CompareSettings(atol=0.0, rtol=0.0, frame_axis=0)]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("shape", [(1, 4, 7), (1, 64, 57), (2, 1024, 160)])  # whole-array and blocked numpy paths
def test_random_float32_matches(shape: tuple[int, ...], settings: CompareSettings) -> None:
    rng = np.random.default_rng(sum(shape))
    ref = (rng.standard_normal(shape) * 3).astype(np.float32)
    out = (ref + rng.standard_normal(shape).astype(np.float32) * 1e-4).astype(np.float32)
    _assert_same(ref, out, settings)


def test_parakeet_size_cache_matches() -> None:
    """6.3 M values (a parakeet cache): the numpy kernel's block-parallel float32 sums against float64 ones."""
    rng = np.random.default_rng(7)
    ref = rng.standard_normal((24, 1, 70, 1024 * 3 + 680)).astype(np.float32)
    out = ref + rng.standard_normal(ref.shape).astype(np.float32) * 3e-5
    out[0, 0, 3, 5] += 1.0  # one clear worst element
    _assert_same(ref, out, CompareSettings(atol=1e-3, rtol=1e-4))


def test_identical_tensors_match() -> None:
    ref = np.random.default_rng(3).standard_normal((1, 300, 1000)).astype(np.float32)  # numpy's identical shortcut
    _assert_same(ref, ref.copy(), CompareSettings(atol=1e-5, frame_axis=1))


@pytest.mark.parametrize("settings", SETTINGS)
def test_nan_and_inf_match(settings: CompareSettings) -> None:
    rng = np.random.default_rng(11)
    ref = rng.standard_normal((1, 8, 50)).astype(np.float32)
    out = ref + np.float32(1e-3) * rng.standard_normal(ref.shape).astype(np.float32)
    ref[0, 1, 2] = out[0, 1, 2] = np.nan  # shared NaN: no error of the backend
    ref[0, 2, 3] = out[0, 2, 3] = np.inf  # same infinity
    out[0, 3, 4] = np.nan  # backend NaN where the reference is finite
    out[0, 4, 5] = -np.inf
    ref[0, 5, 6] = np.inf  # reference inf, backend finite
    ref[0, 6, 7], out[0, 6, 7] = np.inf, -np.inf  # different infinities
    _assert_same(ref, out, settings)


def test_nothing_finite_matches() -> None:
    ref = np.full((3, 4), np.nan, np.float32)
    _assert_same(ref, ref.copy(), CompareSettings(atol=1e-4))
    out = ref.copy()
    out[1, 1] = np.inf
    _assert_same(ref, out, CompareSettings(atol=1e-4))


def test_empty_tensor_is_undetermined_in_both() -> None:
    ref = np.zeros((1, 0, 5), np.float32)
    _assert_same(ref, ref.copy(), CompareSettings(atol=1e-4, frame_axis=1))
    got = judge_torch.torch_compare(torch.from_numpy(ref), torch.from_numpy(ref), CompareSettings(atol=1e-4), "t")
    assert got.outcome == "undetermined"


def test_shape_mismatch_fails_in_both() -> None:
    _assert_same(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32), CompareSettings(atol=1e-4))


def test_ties_take_the_first_index_in_c_order() -> None:
    ref = np.zeros((4, 5), np.float32)
    out = ref.copy()
    for i, j in ((3, 4), (1, 2), (2, 0)):  # equal errors; (1, 2) comes first in C order
        out[i, j] = 0.5
    _assert_same(ref, out, CompareSettings(atol=1e-3))
    got = judge_torch.torch_compare(torch.from_numpy(ref), torch.from_numpy(out), CompareSettings(atol=1e-3), "t")
    assert got.worst_index == (1, 2)
    big = np.zeros(1 << 19, np.float32)  # the numpy kernel's blocked path: first block wins
    bout = big.copy()
    bout[[70_000, 300_000, 500_000]] = 2.0
    _assert_same(big, bout, CompareSettings(atol=1e-3))


def test_huge_values_match() -> None:
    """Squares and differences that overflow float32 are the same inf in both."""
    ref = np.array([[1e20, -3e38, 1.0, 2e19]], np.float32)
    out = np.array([[1.1e20, 3e38, 1.0, 2e19]], np.float32)
    _assert_same(ref, out, CompareSettings(atol=1e-3, rtol=1e-2, frame_axis=1))


@pytest.mark.parametrize("dtypes", [(np.float16, np.float16), (np.float16, np.float32), (np.int32, np.int32),
                                    (np.int64, np.float32), (np.float64, np.float32), (np.bool_, np.bool_)])
def test_other_dtypes_match(dtypes: tuple[type, type]) -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3, 40)) * 50
    ref = base.astype(dtypes[0])
    out = (base + rng.integers(-1, 2, base.shape)).astype(dtypes[1])
    _assert_same(ref, out, CompareSettings(atol=0.5, frame_axis=1))


def test_rtol_boundary_is_decided_in_float32_as_numpy() -> None:
    """Elements right at atol + rtol·|ref| (where float32 and float64 arithmetic disagree) count the same."""
    rng = np.random.default_rng(9)
    ref = rng.standard_normal(100_000).astype(np.float32)
    err = (np.float32(1e-4) + np.float32(1e-3) * np.abs(ref)).astype(np.float32)
    out = (ref + err * rng.choice(np.array([1, -1], np.float32), ref.size)).astype(np.float32)
    _assert_same(ref, out, CompareSettings(atol=1e-4, rtol=1e-3))
    _assert_same(ref, ref + np.float32(1e-4), CompareSettings(atol=1e-4))


def test_compare_dispatches_torch_tensors_to_the_torch_kernel() -> None:
    """Through `inspector.metrics.compare` (what the engine's judge calls), a tensor goes to the torch kernel and a
    numpy array on the other side is brought to its device."""
    judge_torch.install()
    ref = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = ref.copy()
    out[2, 1] += 1
    got = compare(torch.from_numpy(ref), out, CompareSettings(atol=1e-3), "t")
    assert (got.n_fail, got.worst_index, got.passed) == (1, (2, 1), False)


def test_judge_placement() -> None:
    assert judge_torch.judge_device("ort-cpu", "CPUExecutionProvider", "auto")[0] is None
    assert judge_torch.judge_device("ort-cpu", "", "")[0] is None
    assert judge_torch.judge_device("ort-cuda", "CUDAExecutionProvider", "torch-cpu")[0] == "cpu"
    assert judge_torch.judge_device("ort-cuda", "CUDAExecutionProvider", "numpy")[0] is None
    dev, why = judge_torch.judge_device("ort-cuda", "CUDAExecutionProvider", "auto")
    assert (dev is not None) == torch.cuda.is_available()
    assert why.startswith("GPU") == torch.cuda.is_available()
    with pytest.raises(InspectorError, match="valid choices"):
        judge_torch.judge_device("ort-cpu", "cpu", "gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InspectorError, match="no CUDA device"):
            judge_torch.judge_device("ort-cuda", "CUDAExecutionProvider", "torch-cuda")

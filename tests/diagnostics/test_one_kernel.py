"""One comparison kernel: the engine, the triage and the perturbation checks report the same figures for the same
pair of arrays (NaN, Inf and empty tensors included), because all of them take the figures from
`inspector.metrics.compare`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts.model import Contract, TensorSpec, Tolerance, ToleranceSet
from inspector.diagnostics.perturb import movement
from inspector.diagnostics.triage import compare_tensors
from inspector.engine import ChunkJudge, ChunkJob
from inspector.metrics import CompareSettings, compare


def _contract(shape: tuple[int, ...]) -> Contract:
    return Contract(
        name="one-output", version=1,
        inputs=(TensorSpec(name="x", ref_name="x", dtype="float32", shape=shape),),
        outputs=(TensorSpec(name="y", ref_name="y", dtype="float32", shape=shape),),
        tolerances=(ToleranceSet("default", {"y": Tolerance(atol=1e-3)}),),
    )


def _engine_figures(ref: np.ndarray, cand: np.ndarray) -> dict:
    judge = ChunkJudge(_contract(ref.shape), "functional", "ort-cpu", "fp32", "s")
    record = judge.judge(ChunkJob(0, {"x": ref}, {"y": cand}, {"y": ref}, None, 0.01, {}))
    return record["tensors"]["y"]


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    ref = rng.standard_normal((2, 8, 16)).astype(np.float32)
    noisy = ref + (rng.standard_normal(ref.shape) * 1e-3).astype(np.float32)
    nan_out = noisy.copy()
    nan_out[1, 2, 3] = np.nan
    shared = ref.copy()
    shared[0, 0, 0] = np.inf
    shared_out = noisy.copy()
    shared_out[0, 0, 0] = np.inf
    inf_out = noisy.copy()
    inf_out[0, 5, 5] = -np.inf
    zeros = np.zeros((4, 4), np.float32)
    big = rng.standard_normal((1, 4, 256, 300)).astype(np.float32)  # the blocked sweep
    return {
        "noise": (ref, noisy), "nan-in-candidate": (ref, nan_out), "inf-shared": (shared, shared_out),
        "inf-in-candidate": (ref, inf_out), "zero-reference": (zeros, zeros + np.float32(0.5)),
        "identical": (ref, ref.copy()),
        "large": (big, big + (rng.standard_normal(big.shape) * 1e-4).astype(np.float32)),
    }


@pytest.mark.parametrize("case", list(_pairs()))
def test_engine_triage_and_perturbation_report_the_kernels_figures(case):
    ref, cand = _pairs()[case]
    kernel = compare(ref, cand, CompareSettings(atol=1e-3), name="y")
    engine = _engine_figures(ref, cand)
    tri = compare_tensors("y", cand, ref)
    mov = movement("y", cand, ref)

    def same(a, b):
        return (a is None and (b is None or math.isnan(b))) or a == b or (math.isnan(a) and math.isnan(b))

    for key in ("max_abs", "rel_l2", "cosine", "mean_abs", "p99_abs", "nonfinite_mismatch", "n_fail", "passed"):
        want = getattr(kernel, key)
        assert same(engine[key], want if not (isinstance(want, float) and not math.isfinite(want)) else None), key
    assert tri.nonfinite_mismatch == kernel.nonfinite_mismatch
    if kernel.nonfinite_mismatch:  # a non-finite value the baseline lacks: infinite error and movement
        assert tri.error == math.inf and mov.max_abs == math.inf and mov.moved
        assert not kernel.passed and not engine["passed"]
        return
    assert (tri.max_abs, tri.rel_l2, tri.cosine) == (kernel.max_abs, kernel.rel_l2, kernel.cosine)
    assert (mov.max_abs, mov.rel_l2, mov.cosine) == (kernel.max_abs, kernel.rel_l2, kernel.cosine)
    assert tri.error == (kernel.max_abs if math.isinf(kernel.rel_l2) else kernel.rel_l2)
    assert mov.moved == (kernel.max_abs > 0)


def test_an_empty_tensor_is_no_figure_everywhere_never_a_pass():
    ref = np.zeros((1, 0, 4), np.float32)
    kernel = compare(ref, ref.copy(), CompareSettings(atol=1.0), name="y")
    assert not kernel.determined and not kernel.passed and kernel.outcome == "undetermined"
    assert "empty" in kernel.message
    engine = _engine_figures(ref, ref.copy())
    assert engine["determined"] is False and engine["passed"] is False and engine["size"] == 0
    assert engine["max_abs"] is None  # no figure, not 0
    tri = compare_tensors("y", ref.copy(), ref)
    assert tri.missing and "no figure" in tri.missing  # not compared, so it cannot make a node look clean
    mov = movement("y", ref.copy(), ref)
    assert not mov.determined and not mov.moved and math.isnan(mov.max_abs)
    assert mov.to_dict()["max_abs"] is None and mov.to_dict()["determined"] is False


def test_a_shape_change_is_a_failure_everywhere():
    ref = np.ones((2, 3), np.float32)
    cand = np.ones((3, 2), np.float32)
    assert not compare(ref, cand, CompareSettings(atol=1.0)).passed
    assert compare_tensors("y", cand, ref).error == math.inf
    assert movement("y", cand, ref).shape_changed


def test_the_engine_records_a_chunk_with_an_empty_output_as_undetermined():
    ref = np.zeros((1, 0, 4), np.float32)
    judge = ChunkJudge(_contract(ref.shape), "functional", "ort-cpu", "fp32", "s")
    record = judge.judge(ChunkJob(0, {"x": ref}, {"y": ref.copy()}, {"y": ref}, None, 0.01, {}))
    assert record["status"] == "undetermined" and record["passed"] is False
    assert record["undetermined_tensors"] == ["y"] and record["failed_tensors"] == []
    wrong = judge.judge(ChunkJob(1, {"x": ref}, {"y": ref.astype(np.float64)}, {"y": ref}, None, 0.01, {}))
    assert wrong["status"] == "failed" and wrong["failed_tensors"] == ["y"]  # a wrong dtype is decided

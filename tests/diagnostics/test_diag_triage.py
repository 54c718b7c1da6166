"""Triage on the real tiny export: a weight edited in one node of an ONNX copy is found as the first diverging node."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.diagnostics.triage import compare_tensors, triage

CHUNK = 7


@pytest.fixture(scope="module")
def feeds(demo):
    from inspector.diagnostics.chunkdata import load_chunk, model_feeds
    from store import Store

    data = load_chunk(Store.open(demo.store), demo.contract, demo.stream, CHUNK)
    return {demo.contract.input(k).name: v for k, v in model_feeds(demo.contract, data).items()}


def test_edited_weight_is_the_first_diverging_node(demo, planted, weight_node, feeds):
    rep = triage(planted["weight"], feeds, backend="ort-cpu", baseline="ort-cpu", baseline_model=demo.onnx)
    assert rep.first is not None
    assert rep.first.name == weight_node and rep.first.op_type == "MatMul"
    assert rep.first.input_error == 0.0 and rep.first.error == pytest.approx(0.5, rel=0.05)
    assert len(rep.first.weights) == 1 and rep.weight_diffs[0].consumers == (weight_node,)
    assert rep.worst[0].name == weight_node and len(rep.worst) == 10
    # Everything before the edited node agrees exactly; the graph outputs inherit the error.
    assert all(n.error == 0.0 for n in rep.worst[1:] if n.index < rep.first.index)
    assert {t.name: t.error > 1e-3 for t in rep.graph_outputs}["encoder_output"]
    assert weight_node in rep.summary and "reads weight(s) that differ" in rep.summary
    json.dumps(rep.to_dict(), allow_nan=False)


def test_small_slices_give_the_same_answer(demo, planted, weight_node, feeds):
    """The memory bound: tensors exposed a few at a time (many sessions), same per-node figures."""
    rep = triage(planted["weight"], feeds, baseline_model=demo.onnx, batch_bytes=1_000_000)
    assert rep.slices >= 8
    assert rep.first.name == weight_node
    assert rep.missing == 0


def test_fault_appended_after_an_output_is_found_there(demo, planted, feeds):
    rep = triage(planted["scaled"], feeds, baseline_model=demo.onnx)
    assert rep.first.op_type == "Mul" and rep.first.name == "fault/cache_last_time_out/mul"
    assert not rep.weight_diffs


def test_same_export_under_other_optimizations_does_not_diverge(demo, feeds):
    rep = triage(demo.onnx, feeds, baseline_options={"graph_optimization": "disabled"})
    assert rep.first is None
    assert rep.summary.startswith("no node diverges")


def test_comparing_a_model_with_itself_is_refused(demo, feeds):
    from inspector.errors import InspectorError

    with pytest.raises(InspectorError, match="with itself"):
        triage(demo.onnx, feeds)


def test_tensor_comparison_flags_new_non_finite_values():
    a = np.array([1.0, np.nan, 3.0], np.float32)
    b = np.array([1.0, 2.0, 3.0], np.float32)
    e = compare_tensors("x", a, b)
    assert e.nonfinite_mismatch == 1 and e.error == float("inf")
    assert compare_tensors("x", b, b).error == 0.0
    assert compare_tensors("x", None, b).missing


def test_cli_triage(demo, planted, weight_node, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    out = tmp_path / "triage.json"
    args = ["triage", "--store", str(demo.store), "--model", str(planted["weight"]), "--baseline-model",
            str(demo.onnx), "--contract", "demo_streaming", "--chunk", str(CHUNK), "--json", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert f"first diverging node: #" in res.output and weight_node in res.output
    doc = json.loads(out.read_text(), parse_constant=_no_nan)
    assert doc["first_diverging"]["name"] == weight_node
    assert CliRunner().invoke(cli, [*args, "--exit-code"]).exit_code == 1


def test_models_with_external_weight_files(demo, planted, weight_node, feeds, tmp_path):
    """Parakeet-size exports keep their weights in a data file beside the .onnx: slices must still reach them."""
    import onnx

    ext = tmp_path / "ext"
    ext.mkdir()
    model = onnx.load(str(planted["weight"]))
    onnx.save(model, str(ext / "weight.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weight.onnx.data", size_threshold=1024)
    assert (ext / "weight.onnx.data").stat().st_size > 100_000
    rep = triage(ext / "weight.onnx", feeds, baseline_model=demo.onnx)
    assert rep.first.name == weight_node and [w.name for w in rep.weight_diffs] == list(rep.first.weights)


def _no_nan(name: str):
    """Strict JSON: the bare NaN/Infinity tokens Python's json writes are not JSON."""
    raise ValueError(f"non-standard JSON constant {name}")

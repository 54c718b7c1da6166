"""The reproduction bundle: written from the store, read back, re-run through ONNX Runtime from the .npz alone, and
readable by Polygraphy's JSON decoder."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from inspector.diagnostics.bundle import decode_polygraphy_json, encode_ndarray, export_chunk, load_bundle

CHUNK = 4


@pytest.fixture(scope="module")
def bundle(demo, tmp_path_factory):
    from backends import make_backend
    from store import Store

    out = tmp_path_factory.mktemp("bundle") / "chunk4"
    with make_backend("ort-cpu", demo.onnx, demo.contract) as backend:
        export_chunk(Store.open(demo.store), CHUNK, out, contract=demo.contract, backend=backend, model=demo.onnx)
    return load_bundle(out)


def test_bundle_round_trips_and_reproduces_the_backend_outputs(bundle, demo):
    import onnxruntime as ort

    names = {p.name for p in bundle.path.iterdir()}
    assert {"inputs.npz", "reference_outputs.npz", "backend_outputs.npz", "inputs.polygraphy.json",
            "reference_outputs.polygraphy.json", "meta.json", "README.txt"} <= names
    sess = ort.InferenceSession(str(demo.onnx), providers=["CPUExecutionProvider"])
    assert sorted(bundle.inputs) == sorted(i.name for i in sess.get_inputs())
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, bundle.inputs)))
    assert sorted(got) == sorted(bundle.backend_outputs)
    for name, value in got.items():
        np.testing.assert_allclose(value, bundle.backend_outputs[name], rtol=0, atol=1e-6, err_msg=name)
        assert np.abs(value.astype(np.float64) - bundle.reference_outputs[name]).max() < 1e-4
    meta = bundle.meta
    assert (meta["chunk"], meta["stream"], meta["layout"], meta["backend"]) == (CHUNK, demo.stream, "model", "ort-cpu")
    assert meta["cache_last_channel_len"] == {"in": demo.cache_lengths[CHUNK - 1],
                                              "out_reference": demo.cache_lengths[CHUNK]}


def test_polygraphy_json_decodes_to_the_feeds(bundle):
    feeds = decode_polygraphy_json((bundle.path / "inputs.polygraphy.json").read_text())
    assert isinstance(feeds, list) and len(feeds) == 1
    for name, arr in bundle.inputs.items():
        assert feeds[0][name].dtype == arr.dtype and np.array_equal(feeds[0][name], arr)
    raw = json.loads((bundle.path / "inputs.polygraphy.json").read_text())
    assert raw[0]["cache_last_time"]["polygraphy_class"] == "ndarray"
    results = decode_polygraphy_json((bundle.path / "reference_outputs.polygraphy.json").read_text())
    runner, iterations = results[0]
    assert runner == "reference" and np.array_equal(iterations[0]["outputs"]["encoder_output"],
                                                    bundle.reference_outputs["encoder_output"])


def test_encoding_matches_polygraphy_for_odd_dtypes():
    for arr in (np.arange(6, dtype=np.int64).reshape(2, 3), np.array([np.nan, np.inf], np.float32),
                np.zeros((0, 4), np.float16)):
        back = decode_polygraphy_json(json.dumps([{"x": encode_ndarray(arr)}]))[0]["x"]
        assert back.dtype == arr.dtype and back.shape == arr.shape and np.array_equal(back, arr, equal_nan=True)


def test_real_polygraphy_loads_the_bundle(bundle):
    pytest.importorskip("polygraphy", reason="optional: pip install polygraphy")
    from polygraphy.comparator import RunResults
    from polygraphy.json import load_json

    feeds = load_json(str(bundle.path / "inputs.polygraphy.json"))
    assert all(np.array_equal(feeds[0][k], v) for k, v in bundle.inputs.items())
    results = RunResults.load(str(bundle.path / "reference_outputs.polygraphy.json"))
    assert np.array_equal(results[0][1][0]["encoder_output"], bundle.reference_outputs["encoder_output"])


def test_polygraphy_run_reproduces_the_chunk(bundle, demo):
    pytest.importorskip("polygraphy", reason="optional: pip install polygraphy")
    exe = shutil.which("polygraphy")
    if exe is None:
        pytest.skip("the polygraphy command is not on PATH")
    res = subprocess.run([exe, "run", str(demo.onnx), "--onnxrt", "--load-inputs", "inputs.polygraphy.json",
                          "--load-outputs", "reference_outputs.polygraphy.json", "--atol", "1e-4", "--rtol", "0"],
                         cwd=bundle.path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "All outputs matched" in res.stdout + res.stderr


def test_bundle_without_contract_keeps_store_names_and_layout(demo, tmp_path):
    from store import Store

    out = export_chunk(Store.open(demo.store), 0, tmp_path / "b")
    b = load_bundle(out)
    assert b.backend_outputs is None and b.meta["layout"].startswith("reference")
    assert "cache_last_time" in b.inputs


def test_cli_export_chunk_refuses_a_non_empty_directory(demo, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    out = tmp_path / "b"
    args = ["export-chunk", "--store", str(demo.store), "--chunk", "2", "--contract", "demo_streaming",
            "--backend", "ort-cpu", "--model", str(demo.onnx), "-o", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert (out / "backend_outputs.npz").exists() and "polygraphy run" in res.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code != 0 and "not empty" in str(again.exception)

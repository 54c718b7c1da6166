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


# --- reproduce as printed (issue 14) --------------------------------------------------------------------------------

def _printed(output: str, prefix: str) -> str:
    line = next(ln for ln in output.splitlines() if ln.startswith(prefix))
    return line[len(prefix):].strip()


def _recorded_store(demo, tmp_path):  # noqa: ANN001, ANN202
    """A copy of the demo store that records its contract, as `inspector convert --contract` does."""
    from store import Store

    copy = tmp_path / "recorded.zarr"
    shutil.copytree(demo.store, copy)
    Store.open(copy, "a").record_contract(demo.contract)
    return copy


def _polygraphy() -> str:
    pytest.importorskip("polygraphy", reason="optional: pip install polygraphy")
    exe = shutil.which("polygraphy")
    if exe is None:
        pytest.skip("the polygraphy command is not on PATH")
    return exe


def test_printed_reproduce_command_runs_from_another_directory_with_a_relative_model(demo, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from inspector.cli import cli

    _polygraphy()
    work = tmp_path / "work"
    (work / "models").mkdir(parents=True)
    shutil.copy(demo.onnx, work / "models" / "demo.onnx")
    store = _recorded_store(demo, tmp_path)
    monkeypatch.chdir(work)
    res = CliRunner().invoke(cli, ["export-chunk", "--store", str(store), "--chunk", "3", "--backend", "ort-cpu",
                                   "--model", "models/demo.onnx", "-o", "bundle"])  # relative paths, no --contract
    assert res.exit_code == 0, res.output
    assert "contract: demo_streaming, the store's" in res.output
    command = _printed(res.output, "reproduce (from any directory):")
    assert str((work / "models" / "demo.onnx").resolve()) in command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(["bash", "-c", command], cwd=elsewhere, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "All outputs matched" in run.stdout + run.stderr
    readme = (work / "bundle" / "README.txt").read_text()
    assert command in readme and "any directory" in readme
    python = json.loads((work / "bundle" / "meta.json").read_text())["commands"]["python"]
    run = subprocess.run(["bash", "-c", python], cwd=elsewhere, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "encoder_output" in run.stdout, run.stderr[-2000:]


def test_copy_model_bundle_reproduces_after_it_is_moved(demo, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    _polygraphy()
    model = tmp_path / "m" / "demo.onnx"
    model.parent.mkdir()
    shutil.copy(demo.onnx, model)
    res = CliRunner().invoke(cli, ["export-chunk", "--store", str(_recorded_store(demo, tmp_path)), "--chunk", "2",
                                   "--model", str(model), "--copy-model", "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    in_bundle = _printed(res.output, "or, from inside the bundle wherever it is moved:")
    moved = tmp_path / "moved" / "bundle"
    shutil.move(str(tmp_path / "b"), moved)
    shutil.rmtree(model.parent)  # the original model is gone: the bundle must carry it
    run = subprocess.run(["bash", "-c", in_bundle], cwd=moved, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (moved / "demo.onnx").exists() and in_bundle in (moved / "README.txt").read_text()


def test_copy_model_takes_the_external_weights_along(demo, tmp_path):
    """Parakeet-size exports keep their weights in a data file beside the .onnx: the bundle must carry it."""
    import onnx
    from click.testing import CliRunner

    from inspector.cli import cli

    _polygraphy()
    src = tmp_path / "ext"
    src.mkdir()
    onnx.save_model(onnx.load(str(demo.onnx)), str(src / "enc.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="enc.onnx.data", size_threshold=0)
    res = CliRunner().invoke(cli, ["export-chunk", "--store", str(_recorded_store(demo, tmp_path)), "--chunk", "1",
                                   "--model", str(src / "enc.onnx"), "--copy-model", "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "enc.onnx.data").stat().st_size == (src / "enc.onnx.data").stat().st_size
    in_bundle = _printed(res.output, "or, from inside the bundle wherever it is moved:")
    moved = tmp_path / "elsewhere"
    shutil.move(str(tmp_path / "b"), moved)
    shutil.rmtree(src)
    run = subprocess.run(["bash", "-c", in_bundle], cwd=moved, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def test_copy_model_without_a_model_is_exit_2(demo, tmp_path, capsys):
    from inspector.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export-chunk", "--store", str(demo.store), "--chunk", "1", "--copy-model", "-o", str(tmp_path / "b")])
    assert info.value.code == 2 and "--copy-model needs --model" in capsys.readouterr().err


def test_export_chunk_says_when_the_given_contract_differs_from_the_stores(demo, tmp_path):
    import dataclasses

    from click.testing import CliRunner

    from contracts.load import dump_contract
    from inspector.cli import cli

    edited = dump_contract(dataclasses.replace(demo.contract, description="edited by hand"), tmp_path / "e.json")
    res = CliRunner().invoke(cli, ["export-chunk", "--store", str(_recorded_store(demo, tmp_path)), "--chunk", "1",
                                   "--contract", str(edited), "-o", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    differs = [ln for ln in res.output.splitlines() if "differs from the store's contract" in ln]
    assert len(differs) == 1 and str(edited) in differs[0]


def test_export_chunk_with_a_backend_and_no_contract_anywhere_is_exit_2(demo, tmp_path, capsys):
    from inspector.cli import main
    from store import Store

    bare = tmp_path / "bare.zarr"  # as if converted without --contract
    shutil.copytree(demo.store, bare)
    Store.open(bare, "a").update_attrs(contract=None, contract_file=None)
    (bare / "contract.json").unlink(missing_ok=True)
    with pytest.raises(SystemExit) as info:
        main(["export-chunk", "--store", str(bare), "--chunk", "1", "--backend", "ort-cpu", "--model",
              str(demo.onnx), "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "records no contract" in err and "--contract" in err
    assert not (tmp_path / "b").exists()


def test_triage_and_diagnose_default_to_the_stores_contract(demo, planted, tmp_path):
    """No --contract: the commands use the contract the store recorded at conversion, and say so."""
    from click.testing import CliRunner

    from inspector.cli import cli

    store = _recorded_store(demo, tmp_path)
    res = CliRunner().invoke(cli, ["triage", "--store", str(store), "--model", str(planted["weight"]),
                                   "--baseline-model", str(demo.onnx), "--chunk", "2"])
    assert res.exit_code == 0, res.output
    assert "contract: demo_streaming, the store's" in res.output and "first diverging node: #" in res.output
    res = CliRunner().invoke(cli, ["diagnose", "cache-time", "--store", str(store), "--chunk", "2", "--run", "nope"])
    assert "contract: demo_streaming, the store's" in res.output  # resolved before the run is looked up
    assert res.exit_code != 0 and "nope" in str(res.exception)


def test_run_batch_defaults_to_the_stores_contract(demo, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    store = _recorded_store(demo, tmp_path)
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["run", "--batch", "--store", str(store), "--model", str(demo.onnx), "--backend",
                                   "ort-cpu", "--chunks", "0:3", "--report", str(report), "--no-progress"])
    assert "contract: demo_streaming, the store's" in res.output, (res.output, res.exception)
    doc = json.loads(report.read_text())
    assert doc["contract"]["name"] == "demo_streaming" and doc["contract"]["source"].endswith("contract.json")
    assert res.exit_code == doc["exit_code"], res.output


def test_copy_model_of_a_file_that_is_not_onnx_is_exit_2(demo, tmp_path, capsys):
    from inspector.cli import main

    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x00not a model\xff" * 10)
    with pytest.raises(SystemExit) as info:
        main(["export-chunk", "--store", str(demo.store), "--chunk", "1", "--model", str(fake), "--copy-model",
              "-o", str(tmp_path / "b")])
    assert info.value.code == 2 and "is not an ONNX model" in capsys.readouterr().err
    assert not any((tmp_path / "b").glob("*.npz"))  # stopped before writing the bundle

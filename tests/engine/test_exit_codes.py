"""`inspector run --batch` exit codes as CI relies on them: 2 for every kind of bad input, before any chunk runs
and with a message that says what to do; 1 only when checks ran and failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.cli import main
from store import Store


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--batch", "--no-progress", *args])
    return int(exc.value.code)


def _args(store: Path, model: Path, contract: str = "demo_streaming") -> list[str]:
    return ["--store", str(store), "--model", str(model), "--contract", contract]


@pytest.mark.parametrize("backend", ["ort-cuda", "trt-fp32", "trt-fp16"])
def test_unavailable_backend_exits_2_naming_what_to_install(demo_artifacts, store_copy, capsys, backend):
    from backends.base import availability

    if availability(backend):
        pytest.skip(f"{backend} is available on this machine")
    code = _run(*_args(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--backend", backend)
    assert code == 2
    err = capsys.readouterr().err
    assert f"{backend}:" in err and "pip install" in err and "nothing was run" in err
    assert Store.open(store_copy).runs() == []


@pytest.mark.parametrize("opts, needle", [
    (["--backend-opt", "graph_optimization=fastest"], "graph_optimization='fastest'. Note: valid choices are all"),
    (["--backend-opt", "ort-cpu:use_tf32=0"], "unknown option(s) use_tf32"),
    (["--backend-opt", "use_tf32=0"], "apply to ort-cuda only"),
    (["--backend-opt", "intra_op_threads=two"], "intra_op_threads='two': expected a whole number"),
    (["--backend-opt", "trt-fp32:workspace_mb=1"], "not in this batch"),
    (["--backend-opt", "=1"], "KEY=VALUE"),
])
def test_a_bad_backend_option_exits_2_before_anything_runs(demo_artifacts, store_copy, capsys, opts, needle):
    code = _run(*_args(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", *opts)
    assert code == 2
    assert needle in capsys.readouterr().err
    assert Store.open(store_copy).runs() == []


def test_a_bare_option_goes_only_to_the_backends_it_means_something_to():
    from inspector.batch import parse_backend_options

    opts = parse_backend_options(["use_tf32=0", "intra_op_threads=2"], ["ort-cpu", "ort-cuda"])
    assert opts == {"ort-cpu": {"intra_op_threads": 2}, "ort-cuda": {"use_tf32": 0, "intra_op_threads": 2}}


def test_a_bad_option_of_a_later_backend_stops_the_whole_batch(demo_artifacts, store_copy, capsys):
    """The first backend must not run (and be recorded) when the batch cannot finish as asked."""
    from backends.base import availability

    if not availability("trt-fp32"):
        # trt options are checked before availability: the typo is reported even where TensorRT is missing
        code = _run(*_args(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--backend", "trt-fp32",
                    "--backend-opt", "trt-fp32:workspace=4096")
        assert code == 2
        assert "trt-fp32: unknown option(s) workspace" in capsys.readouterr().err
        assert Store.open(store_copy).runs() == []


@pytest.mark.parametrize("what", ["model", "store", "onnx", "contract-file"])
def test_missing_or_wrong_files_exit_2(demo_artifacts, store_copy, tmp_path, capsys, what):
    model, store, contract = demo_artifacts.onnx, store_copy, "demo_streaming"
    if what == "model":
        model = tmp_path / "nope.onnx"
    elif what == "store":
        store = tmp_path / "nope.zarr"
    elif what == "onnx":
        model = tmp_path / "garbage.onnx"
        model.write_bytes(b"this is not a protobuf")
    else:
        contract = str(tmp_path / "nope.contract.json")
    code = _run(*_args(store, model, contract), "--backend", "ort-cpu")
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert {"model": "no such file", "store": "no store at", "onnx": "garbage.onnx",
            "contract-file": "nope.contract.json"}[what] in err
    assert not (tmp_path / "nope.zarr").exists()


def test_a_contract_that_does_not_match_the_model_exits_2(demo_artifacts, store_copy, capsys):
    """The parakeet-size contract against the tiny export: 24 layers × 1024 channels vs 2 × 64."""
    code = _run(*_args(store_copy, demo_artifacts.onnx, "parakeet-tdt-0.6b-v3"), "--backend", "ort-cpu")
    assert code == 2
    err = capsys.readouterr().err
    assert "does not match the contract parakeet-tdt-0.6b-v3" in err and "is 2 in the model but 24" in err
    assert Store.open(store_copy).runs() == []


def test_run_without_batch_is_usage_error(demo_artifacts, store_copy, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", *_args(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu"])
    assert exc.value.code == 2 and "needs --batch" in capsys.readouterr().err


def test_undetermined_exits_3_until_accepted_and_the_report_records_the_flag(demo_artifacts, store_copy, tmp_path,
                                                                              capsys):
    """A 6-chunk closed loop cannot judge growth (8 chunks needed): nothing failed, exit 3 naming the rule and the
    flag that accepts it; accepted, exit 0 with the verdict still undetermined and the flag in every report."""
    import json
    import xml.etree.ElementTree as ET

    base = [*_args(store_copy, demo_artifacts.onnx), "--backend", "ort-cpu", "--mode", "closed-loop",
            "--chunks", "0:6"]
    assert _run(*base) == 3
    err = capsys.readouterr().err
    assert "no_growth" in err and "not enough chunks" in err and "--allow-undetermined no_growth" in err
    assert _run(*base, "--allow-undetermined", "no_gowth") == 2
    assert "did you mean 'no_growth'" in capsys.readouterr().err
    rep, junit = tmp_path / "r.json", tmp_path / "j.xml"
    assert _run(*base, "--allow-undetermined", "no_growth", "--report", str(rep), "--junit", str(junit)) == 0
    doc = json.loads(rep.read_text())
    v = next(x for x in doc["runs"][0]["verdicts"] if x["rule"] == "no_growth")
    assert v["status"] == "undetermined" and v["accepted_by"] == "--allow-undetermined no_growth"
    assert doc["allow_undetermined"] == ["no_growth"] and doc["outcome"] == "pass" and doc["exit_code"] == 0
    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "no_growth")
    assert case.find("failure") is None and "accepted by --allow-undetermined no_growth" in case.find("system-out").text

"""`inspector run --batch` covers every stream of the store unless `--stream` narrows it; nothing checked is never a
pass; the outputs of failing chunks are saved by default (on the real demo export, ONNX Runtime CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.cli import main
from store import Store

STREAMS = ("utt-a", "utt-b", "utt-c", "utt-d")
CHUNKS = 8
BAD_STREAM, BAD_CHUNK = "utt-c", 3


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--batch", "--no-progress", *args])
    return int(exc.value.code)


def four_streams(src: Path, dest: Path, bad: bool = False) -> Path:
    """The demo store's first 8 chunks as four streams; with `bad`, stream utt-c's reference encoder_output of chunk
    3 is off by 0.01 (a run on that stream fails there, the others pass)."""
    s = Store.open(src)
    first = s.streams()[0]
    st = Store.create(dest, attrs={"header": dict((s.attrs or {}).get("header") or {})})
    for name in STREAMS:
        for k in range(CHUNKS):
            view = s.chunk(first, k)
            outputs = view.outputs()
            if bad and name == BAD_STREAM and k == BAD_CHUNK:
                outputs["encoder_output"] = outputs["encoder_output"] + 0.01
            st.write_chunk(name, k, view.inputs(), outputs, dict(view.meta or {}))
    return dest


def _args(store: Path, model: Path, report: Path, *more: str) -> list[str]:
    return ["--store", str(store), "--model", str(model), "--contract", "demo_streaming", "--backend", "ort-cpu",
            "--report", str(report), *more]


def test_every_stream_is_checked_by_default(demo_artifacts, pristine_store, tmp_path, capsys):
    store = four_streams(pristine_store, tmp_path / "four.zarr")
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep, "--mode", "both", "--junit", str(tmp_path / "j.xml"))) == 0
    doc = json.loads(rep.read_text())
    runs = [(r["mode"], r["stream"]) for r in doc["runs"]]
    assert sorted(runs) == sorted((m, s) for m in ("functional", "closed-loop") for s in STREAMS)
    assert all(r["total_chunks"] == CHUNKS and r["outcome"] == "pass" for r in doc["runs"])
    assert doc["status"] == "pass" and doc["exit_code"] == 0
    assert doc["coverage"]["n_streams"] == 4 and doc["coverage"]["n_chunks"] == 8 * CHUNKS
    err = capsys.readouterr().err
    assert "8 run(s) over 4 stream(s), 64 chunk(s) checked" in err
    import xml.etree.ElementTree as ET

    suites = {s.get("name") for s in ET.parse(tmp_path / "j.xml").getroot().iter("testsuite")}
    assert suites == {f"ort-cpu/{m}/{s}" for m in ("functional", "closed-loop") for s in STREAMS}


def test_stream_option_narrows_and_repeats(demo_artifacts, pristine_store, tmp_path):
    store = four_streams(pristine_store, tmp_path / "four.zarr")
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep, "--stream", "utt-d", "--stream", "utt-b")) == 0
    doc = json.loads(rep.read_text())
    assert sorted(r["stream"] for r in doc["runs"]) == ["utt-b", "utt-d"]
    assert doc["coverage"]["n_streams"] == 2


def test_a_failure_in_the_third_stream_fails_the_batch_and_its_outputs_are_saved(demo_artifacts, pristine_store,
                                                                                tmp_path, capsys):
    """The fault is in a stream that is not the store's first: a gate that checked only the first would pass."""
    store = four_streams(pristine_store, tmp_path / "four.zarr", bad=True)
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep)) == 1
    doc = json.loads(rep.read_text())
    outcome = {r["stream"]: r["outcome"] for r in doc["runs"]}
    assert outcome == {"utt-a": "pass", "utt-b": "pass", "utt-c": "fail", "utt-d": "pass"}
    err = capsys.readouterr().err
    assert "ort-cpu functional utt-c" in err and "Parity failed" in err
    # failing chunks' outputs are saved by default, nothing else; the disk they take is logged and reported
    st = Store.open(store)
    (bad_run,) = [r for r in st.runs() if r.stream == BAD_STREAM]
    run = st.run(bad_run.run_id)
    assert run.outputs(BAD_STREAM, BAD_CHUNK) is not None
    assert all(run.outputs(BAD_STREAM, k) is None for k in range(CHUNKS) if k != BAD_CHUNK)
    assert all(not st.run(r.run_id).output_names(r.stream, 0) for r in st.runs() if r.stream != BAD_STREAM)
    saved = doc["saved_outputs"]
    assert saved["mode"] == "failing" and saved["chunks"] == 1 and saved["bytes"] > 0
    bad_doc = next(r for r in doc["runs"] if r["stream"] == BAD_STREAM)
    assert bad_doc["saved_outputs"]["chunks"] == 1 and bad_doc["saved_outputs"]["bytes"] == saved["bytes"]
    assert "saved outputs (failing): 1 chunk(s)" in err


@pytest.mark.parametrize("flag, expected", [("--save-outputs", CHUNKS), ("--no-save-outputs", 0)])
def test_save_outputs_flags_save_every_chunk_or_none(demo_artifacts, pristine_store, tmp_path, flag, expected):
    store = four_streams(pristine_store, tmp_path / "four.zarr", bad=True)
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep, "--stream", BAD_STREAM, flag)) == 1
    doc = json.loads(rep.read_text())
    assert doc["saved_outputs"]["chunks"] == expected
    st = Store.open(store)
    (rec,) = st.runs()
    assert sum(st.run(rec.run_id).outputs(BAD_STREAM, k) is not None for k in range(CHUNKS)) == expected


def test_a_store_without_chunks_is_undetermined_not_a_pass(demo_artifacts, tmp_path, capsys):
    store = tmp_path / "empty.zarr"
    Store.create(store)
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep)) == 3
    doc = json.loads(rep.read_text())
    assert doc["status"] == "undetermined" and doc["exit_code"] == 3 and doc["runs"] == []
    assert "nothing was checked" in capsys.readouterr().err


def test_a_stream_without_chunks_makes_the_batch_undetermined(demo_artifacts, pristine_store, tmp_path, capsys):
    """A conversion killed before a stream's first chunk landed: the other streams pass, that one was not checked."""
    from store import layout

    store = four_streams(pristine_store, tmp_path / "four.zarr")
    layout.ensure_group(Path(store) / layout.STREAMS / layout.stream_dirname("utt-e"), {"name": "utt-e"})
    assert "utt-e" in Store.open(store).streams()
    rep = tmp_path / "r.json"
    assert _run(*_args(store, demo_artifacts.onnx, rep)) == 3
    doc = json.loads(rep.read_text())
    assert doc["coverage"]["empty_streams"] == ["utt-e"] and len(doc["runs"]) == 4
    assert all(r["outcome"] == "pass" for r in doc["runs"]) and doc["status"] == "undetermined"
    assert "utt-e hold no complete chunk" in capsys.readouterr().err

"""The commands as a user types them: `inspector reference`, `inspector export`, `inspector demo --batch`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

pytest.importorskip("nemo.collections.asr")

from inspector.cli import cli  # noqa: E402
from inspector.reference import iter_lines  # noqa: E402


def test_reference_command_writes_jsonl_and_reports_cache_lengths(tmp_path):
    out = tmp_path / "ref.jsonl"
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--chunks", "3", "--streams", "2",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "cache_last_channel_len_out 1, 4, 7" in result.output
    lines = list(iter_lines(out))
    assert lines[0]["format"] == "parity-reference" and len(lines) == 1 + 2 * 3
    assert not (tmp_path / "ref.jsonl.partial").exists()


def test_reference_command_first_chunk_nemo_and_seed_format(tmp_path):
    out = tmp_path / "seed.jsonl"
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--chunks", "2", "--format", "seed",
                                      "--first-chunk", "nemo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = list(iter_lines(out))
    assert [ln["metadata"]["cache_len_out_value"] for ln in lines] == [3, 6]
    assert lines[0]["metadata"]["first_chunk"] == "nemo"


def test_reference_from_a_wav_file(tmp_path):
    import numpy as np
    from scipy.io import wavfile

    from inspector.synthetic_audio import speech_like

    wav = tmp_path / "utt.wav"
    wavfile.write(wav, 8000, (speech_like(3.0, 8000, seed=1) * 32767).astype(np.int16))  # resampled to 16 kHz
    out = tmp_path / "ref.jsonl"
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--chunks", "4", "--audio", str(wav),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = next(iter_lines(out))
    assert header["audio"][0]["source"] == "wav" and header["audio"][0]["path"] == str(wav)


def test_reference_wav_too_short_names_what_is_needed(tmp_path):
    import numpy as np
    from scipy.io import wavfile

    wav = tmp_path / "short.wav"
    wavfile.write(wav, 16000, np.zeros(8000, np.float32))
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--chunks", "50", "--audio", str(wav),
                                      "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code != 0
    assert "not 50" in str(result.exception) and "fewer --chunks" in str(result.exception)
    assert not (tmp_path / "r.jsonl").exists()


def test_export_command_writes_onnx_and_passes_the_contract(tmp_path):
    out = tmp_path / "enc.onnx"
    result = CliRunner().invoke(cli, ["export", "--model", "tiny", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and "encoder_output" in result.output
    assert "match" in result.output or "skipping" in result.output
    assert not list(tmp_path.glob(".export-*"))  # NeMo's temporary export is cleaned up


def test_export_of_a_nemo_checkpoint(tiny_nemo, tmp_path):
    path, _ = tiny_nemo
    out = tmp_path / "ckpt.onnx"
    result = CliRunner().invoke(cli, ["export", "--model", str(path), "-o", str(out), "--contract", "demo_streaming"])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_demo_batch_reuses_cached_artifacts(demo_artifacts, tmp_path):
    """A second `inspector demo --batch` finds the cached build (keyed by versions) and does not rebuild it."""
    import shutil

    # a private copy: the demo records runs in its store, and other tests share the session's artifacts
    shutil.copytree(demo_artifacts.folder, tmp_path / demo_artifacts.folder.name,
                    ignore=shutil.ignore_patterns(".lock"))
    result = CliRunner().invoke(cli, ["demo", "--batch", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "reusing" in result.output and "Building" not in result.output
    assert str(tmp_path / demo_artifacts.folder.name / demo_artifacts.onnx.name) in result.output


def test_reference_with_the_seed_streaming_setup_pads_the_first_chunk(tmp_path):
    """`--streaming-setup 73,1,256` (the seed's set-up) on the tiny encoder: the default first chunk is padded and
    the header says so, and no preset contract is claimed for an overridden set-up."""
    out = tmp_path / "ref.jsonl"
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--streaming-setup", "73,1,256",
                                      "--chunks", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    header, *chunks = list(iter_lines(out))
    assert header["first_chunk"] == "padded" and header["contract"] == ""
    assert header["streaming"]["chunk_size"] == [577, 584]
    assert [c["meta"]["cache_len_out_value"] for c in chunks] == [1, 2]


def test_bad_streaming_setup_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["reference", "--model", "tiny", "--streaming-setup", "6", "-o",
                                      str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "CHUNK,SHIFT" in result.output

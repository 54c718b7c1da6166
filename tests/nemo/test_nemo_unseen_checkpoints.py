""".nemo files as users have them: tokenizer files and other extra members, no ``./`` prefix, gzip, already
extracted into a folder; and broken ones (empty, cut short, unresolvable config, a preprocessor we cannot build).
The good ones give bit-identical encoder outputs to the model they were saved from; the bad ones are one clear
paragraph (exit 2 through the CLI), never a traceback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nemo.collections.asr")

from backends.base import BackendError  # noqa: E402
from backends.nemo import load_reference_model  # noqa: E402


def _members(nemo: Path) -> dict[str, bytes]:
    with tarfile.open(nemo) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _repack(src: Path, dest: Path, *, prefix: str = "./", extra: dict[str, bytes] | None = None,
            edit_config=None, mode: str = "w") -> Path:  # noqa: ANN001
    with tarfile.open(dest, mode) as tar:
        for name, data in {**_members(src), **(extra or {})}.items():
            if name.endswith("model_config.yaml") and edit_config is not None:
                data = edit_config(data.decode()).encode()
            base = name if extra and name in extra else prefix + Path(name).name
            info = tarfile.TarInfo(base)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _first_outputs(model_path) -> dict[str, np.ndarray]:  # noqa: ANN001
    ref = load_reference_model(model_path)
    audio = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    return next(iter(ref.stream(ref.features(audio), n_chunks=1))).outputs


@pytest.fixture(scope="module")
def base_outputs(tiny_nemo):
    return _first_outputs(tiny_nemo[0])


@pytest.mark.parametrize("variant", ["tokenizer_files", "no_prefix", "gzip", "extracted_folder"])
def test_real_world_nemo_layouts_give_identical_outputs(tiny_nemo, base_outputs, tmp_path, variant):
    src = tiny_nemo[0]
    if variant == "tokenizer_files":
        path = _repack(src, tmp_path / "tok.nemo", extra={"./1a2b3c_tokenizer.model": b"\x00" * 64,
                                                          "./4d5e_vocab.txt": b"a\nb\n", "./docs/README.md": b"x"})
    elif variant == "no_prefix":
        path = _repack(src, tmp_path / "plain.nemo", prefix="")
    elif variant == "gzip":
        path = _repack(src, tmp_path / "gz.nemo", mode="w:gz")
    else:
        path = tmp_path / "extracted"
        path.mkdir()
        with tarfile.open(src) as tar:
            tar.extractall(path, filter="data")
    got = _first_outputs(path)
    for name, want in base_outputs.items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)


@pytest.mark.parametrize("case, match", [
    ("empty", "empty"),
    ("cut_short", "damaged or cut short"),
    ("bad_interpolation", "cannot be resolved"),
    ("unknown_preprocessor_key", "could not build the preprocessor"),
    ("mfcc_preprocessor", "AudioToMelSpectrogramPreprocessor only"),
    ("folder_without_config", "not an extracted .nemo"),
])
def test_broken_checkpoints_are_one_clear_error(tiny_nemo, tmp_path, case, match):
    src = tiny_nemo[0]
    path = tmp_path / f"{case}.nemo"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "cut_short":
        path.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    elif case == "bad_interpolation":
        _repack(src, path, edit_config=lambda t: t.replace("  sample_rate: 16000", "  sample_rate: ${nope.rate}", 1))
    elif case == "unknown_preprocessor_key":
        _repack(src, path, edit_config=lambda t: t.replace("  dither:", "  bogus_key: 1\n  dither:", 1))
    elif case == "mfcc_preprocessor":
        _repack(src, path, edit_config=lambda t: t.replace("AudioToMelSpectrogramPreprocessor",
                                                           "AudioToMFCCPreprocessor"))
    else:
        path = tmp_path / "folder"
        path.mkdir()
        (path / "notes.txt").write_text("x")
    with pytest.raises(BackendError, match=match) as info:
        load_reference_model(path)
    assert "\n" not in str(info.value)


def test_cli_exit_2_and_no_traceback_for_a_broken_checkpoint(tmp_path, capsys):
    from inspector.cli import main

    bad = tmp_path / "empty.nemo"
    bad.write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        main(["reference", "--model", str(bad), "--chunks", "1", "-o", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err and "weights from the checkpoint" in err
    assert not (tmp_path / "r.jsonl").exists()

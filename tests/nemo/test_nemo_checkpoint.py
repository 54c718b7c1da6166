"""Loading a real `.nemo` file: the encoder and preprocessor come back exactly, and unsafe archives are refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nemo.collections.asr")

from backends.base import BackendError  # noqa: E402
from backends.nemo import load_reference_model  # noqa: E402
from backends.nemo_checkpoint import extract_nemo  # noqa: E402


def test_saved_nemo_loads_back_with_identical_encoder_outputs(tiny_nemo):
    """A tiny EncDecCTCModel saved with `save_to` loads through our loader with bit-identical weights, the same
    features and bit-identical streaming outputs."""
    import torch

    path, original = tiny_nemo
    ref = load_reference_model(path)
    assert ref.source["nemo_path"] == str(path) and ref.source["preset"] is None
    ours = ref.encoder.state_dict()
    theirs = original.encoder.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert ref.preprocessor_config["features"] == 128
    assert ref.streaming["chunk_size"] == [41, 48]  # unlimited attention context → parakeet's stateful set-up

    audio = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    feats = ref.features(audio)
    with torch.inference_mode():
        want, want_len = original.preprocessor(input_signal=torch.from_numpy(audio)[None],
                                               length=torch.tensor([audio.size]))
    np.testing.assert_array_equal(feats, want[0, :, : int(want_len[0])].numpy())

    # stream the same features through the original module with NeMo's API: identical outputs
    enc = original.encoder
    enc.setup_streaming_params(chunk_size=6, shift_size=3, max_context=256)
    ch, tm, ln = enc.get_initial_cache_state(batch_size=1)
    for result in ref.stream(feats, n_chunks=3):
        with torch.inference_mode():
            out = enc.cache_aware_stream_step(torch.from_numpy(result.inputs["audio_signal"]),
                                              torch.from_numpy(result.inputs["length"]), ch, tm, ln,
                                              keep_all_outputs=False, drop_extra_pre_encoded=2)
        np.testing.assert_array_equal(result.outputs["encoder_output"], out[0].numpy())
        np.testing.assert_array_equal(result.outputs["cache_last_channel_out"], out[2].transpose(0, 1).numpy())
        ch, tm, ln = out[2], out[3], out[4]


def _tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def test_nemo_with_path_traversal_member_is_refused(tmp_path):
    """A crafted .nemo whose member climbs out with ../ is refused before anything is written."""
    bad = _tar(tmp_path / "evil.nemo", {"./model_config.yaml": b"encoder: {}\n", "./model_weights.ckpt": b"x",
                                        "../escaped.txt": b"owned"})
    out = tmp_path / "extract"
    out.mkdir()
    with pytest.raises(BackendError, match="path traversal"):
        extract_nemo(bad, out)
    assert not (tmp_path / "escaped.txt").exists()
    assert list(out.iterdir()) == []
    with pytest.raises(BackendError, match="path traversal"):
        load_reference_model(bad)


def test_nemo_with_symlink_out_of_the_archive_is_refused(tmp_path):
    bad = _tar(tmp_path / "link.nemo", {"./model_weights.ckpt": b"x"}, links={"./model_config.yaml": "/etc/passwd"})
    out = tmp_path / "extract"
    out.mkdir()
    with pytest.raises(BackendError, match="outside"):
        extract_nemo(bad, out)


def test_nemo_without_weights_names_what_is_missing(tmp_path):
    bad = _tar(tmp_path / "half.nemo", {"./model_config.yaml": b"encoder: {}\n"})
    out = tmp_path / "extract"
    out.mkdir()
    with pytest.raises(BackendError, match="model_weights.ckpt"):
        extract_nemo(bad, out)


def test_not_a_tar_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.nemo"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(BackendError, match="not a readable .nemo archive"):
        load_reference_model(junk)

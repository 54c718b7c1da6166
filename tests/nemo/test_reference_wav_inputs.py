"""WAV files as users record them for `inspector reference --audio`: 8/16/32-bit PCM and float, stereo, other
sample rates, and broken ones (no samples, NaN samples, not a WAV) — read as the same signal, or refused with one
clear sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from inspector.errors import InspectorError
from inspector.reference import load_wav

SR = 16000
SIGNAL = 0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)


@pytest.mark.parametrize("kind", ["float32", "uint8", "int16_stereo", "int32", "float64_8k"])
def test_wav_encodings_read_as_the_same_signal(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.wav"
    if kind == "float32":
        wavfile.write(path, SR, SIGNAL.astype(np.float32))
    elif kind == "uint8":
        wavfile.write(path, SR, np.round((SIGNAL + 1) * 127.5).astype(np.uint8))
    elif kind == "int16_stereo":
        wavfile.write(path, SR, np.stack([SIGNAL, SIGNAL], 1).__mul__(32767).astype(np.int16))
    elif kind == "int32":
        wavfile.write(path, SR, (SIGNAL * 2**31 * 0.999).astype(np.int32))
    else:
        wavfile.write(path, 8000, SIGNAL[::2].astype(np.float64))
    audio = load_wav(path, SR)
    assert audio.dtype == np.float32 and abs(audio.size - SIGNAL.size) <= 2
    middle = slice(200, SIGNAL.size - 200)  # resampling edges aside
    tol = {"uint8": 1e-2, "float64_8k": 2e-2}.get(kind, 1e-3)
    np.testing.assert_allclose(audio[middle], SIGNAL[middle], atol=tol)


@pytest.mark.parametrize("case, match", [("empty", "holds no samples"), ("nan", "NaN or infinite"),
                                         ("not_a_wav", "cannot read it as a WAV file")])
def test_broken_wavs_are_refused(tmp_path: Path, case: str, match: str) -> None:
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        wavfile.write(path, SR, np.zeros(0, np.int16))
    elif case == "nan":
        wavfile.write(path, SR, np.where(np.arange(SR) < SR // 2, SIGNAL, np.nan).astype(np.float32))
    else:
        path.write_bytes(b"RIFF....garbage")
    with pytest.raises(InspectorError, match=match):
        load_wav(path, SR)

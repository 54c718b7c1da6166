"""A deterministic, speech-like test signal: voiced syllables (harmonics of a drifting f0 shaped by moving formants),
unvoiced noise bursts, pauses of near-silence and a faint noise floor.

Random weights do not care what the audio says, but the encoder's caches and normalisation do care about its
statistics: silence gaps give near-constant features (cache entries that barely change), voiced parts give strong
structured ones. Same seed → the same samples, bit for bit (numpy's PCG64, float64 maths, float32 result).
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000


def speech_like(seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A mono float32 waveform in [-1, 1] that looks like speech to a mel front end.

    Args:
        seconds: Length of the signal.
        sample_rate: Samples per second.
        seed: Seed of every random choice (syllable lengths, pitch contour, formants, noise).

    Returns:
        `int(seconds * sample_rate)` float32 samples, peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    out = np.zeros(n, dtype=np.float64)
    pos = int(rng.uniform(0.05, 0.2) * sample_rate)  # start with a little silence, as recordings do
    base_f0 = rng.uniform(95.0, 210.0)  # the "speaker"
    while pos < n:
        kind = rng.choice(["voiced", "voiced", "voiced", "unvoiced", "pause"])
        dur = int(sample_rate * (rng.uniform(0.12, 0.35) if kind != "pause" else rng.uniform(0.08, 0.45)))
        dur = min(dur, n - pos)
        if dur <= 0:
            break
        if kind == "voiced":
            out[pos:pos + dur] += _voiced(dur, sample_rate, base_f0, rng)
        elif kind == "unvoiced":
            out[pos:pos + dur] += _unvoiced(dur, sample_rate, rng)
        pos += dur
    out += 10 ** (-3.5) * rng.standard_normal(n)  # noise floor (about -70 dB below peak)
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.5 * out / peak).astype(np.float32)


def _envelope(dur: int, rng: np.random.Generator) -> np.ndarray:
    attack = max(1, int(dur * rng.uniform(0.08, 0.25)))
    release = max(1, int(dur * rng.uniform(0.15, 0.4)))
    env = np.ones(dur)
    env[:attack] = np.linspace(0.0, 1.0, attack)
    env[dur - release:] = np.minimum(env[dur - release:], np.linspace(1.0, 0.0, release))
    return env * rng.uniform(0.3, 1.0)


def _voiced(dur: int, sr: int, base_f0: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(dur) / sr
    # f0: a glide across the syllable plus a slow vibrato, around the speaker's base pitch
    start, end = base_f0 * rng.uniform(0.85, 1.25, size=2)
    f0 = np.linspace(start, end, dur) * (1.0 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    # two or three formants that move a little within the syllable (vowel-like spectral peaks)
    formants = [(rng.uniform(300, 900), rng.uniform(60, 120)), (rng.uniform(900, 2400), rng.uniform(80, 160)),
                (rng.uniform(2400, 3400), rng.uniform(120, 250))]
    sig = np.zeros(dur)
    n_harm = int(min(40, (sr / 2 - 200) // max(float(np.max(f0)), 1.0)))
    for h in range(1, n_harm + 1):
        freq = h * f0
        gain = sum(np.exp(-0.5 * ((freq - fc) / bw) ** 2) for fc, bw in formants) + 0.05 / h
        sig += gain * np.sin(h * phase)
    return sig * _envelope(dur, rng)


def _unvoiced(dur: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(dur)
    # high-pass-ish fricative: first difference, then a short smoothing to colour it
    hiss = np.diff(noise, prepend=0.0)
    k = int(rng.integers(1, 4))
    hiss = np.convolve(hiss, np.ones(k) / k, mode="same")
    return 0.4 * hiss * _envelope(dur, rng)

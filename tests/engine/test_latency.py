"""Step latency as users read it: steady percentiles without the warm-up, outliers with their cause, and the
shape-change pattern of ORT's cuDNN search named with its fix."""

from __future__ import annotations

import numpy as np

from inspector.latency import Step, shape_signature, summarize

FIRST, REST = "audio_signal=1x128x41", "audio_signal=1x128x57"


def _stream(times: list[float], offset: int = 0) -> list[Step]:
    return [Step(offset + i, ms, FIRST if i == 0 else REST) for i, ms in enumerate(times)]


def test_warmup_is_the_first_call_at_each_shape_and_steady_percentiles_exclude_it():
    steps = _stream([1500.0, 1200.0] + [28.0] * 20)
    doc = summarize(steps, backend="ort-cuda", options={"cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert doc["warmup"]["chunks"] == [0, 1]
    assert doc["p50"] == 28.0 and doc["max"] == 28.0 and doc["count"] == 20
    assert doc["all"]["max"] == 1500.0
    assert doc["outliers"] == []
    assert any("EXHAUSTIVE" in n and "HEURISTIC" in n and "chunks 0, 1" in n for n in doc["notes"])


def test_outlier_at_a_shape_change_names_the_algorithm_search():
    # a second utterance in one session: its first chunk's shape was seen before, yet it is slow again
    steps = _stream([900.0, 800.0] + [25.0] * 10) + _stream([950.0, 850.0] + [25.0] * 10, offset=12)
    doc = summarize(steps, backend="ort-cuda", options={"cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert [o["chunk"] for o in doc["outliers"]] == [12, 13]
    assert all("searches algorithms (EXHAUSTIVE)" in o["cause"] for o in doc["outliers"])
    assert doc["notes"] and "12, 13" in doc["notes"][0]


def test_slow_chunk_without_shape_change_is_an_outlier_of_unknown_cause():
    steps = _stream([30.0] + [20.0] * 10 + [400.0] + [20.0] * 5)
    doc = summarize(steps, backend="ort-cpu")
    assert [o["chunk"] for o in doc["outliers"]] == [11]
    assert doc["outliers"][0]["cause"].startswith("unknown")
    assert doc["outliers"][0]["x_median"] == 20.0
    assert doc["notes"] == []


def test_engine_rebuild_is_named():
    steps = _stream([30.0] + [20.0] * 5) + [Step(6, 900.0, REST, rebuilt=True)]
    doc = summarize(steps, backend="trt-fp32")
    assert 6 in doc["warmup"]["chunks"]


def test_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    times = list(rng.uniform(10, 40, size=57))
    doc = summarize([Step(0, 100.0, FIRST), Step(1, 90.0, REST)] + [Step(i + 2, t, REST) for i, t in enumerate(times)])
    for q in (50, 95, 99):
        assert abs(doc[f"p{q}"] - np.percentile(times, q)) < 1e-3


def test_no_timed_chunk_says_so():
    doc = summarize([Step(0, None, FIRST)])
    assert doc["count"] == 0 and "none ran" in doc["note"]


def test_shape_signature_sorts_names():
    sig = shape_signature({"length": np.zeros(1), "audio_signal": np.zeros((1, 128, 57))})
    assert sig == "audio_signal=1x128x57;length=1"

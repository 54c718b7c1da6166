"""The cache_last_time diagnostic on the real tiny export (ONNX Runtime vs the NeMo-made reference), faithful and with
planted faults, plus the checks' numerics on plain arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector.diagnostics.cache_checks import CacheAxes, distribution_check, significance_check

CHUNK = 5


def diagnose(demo, model, chunk=CHUNK, **kw):
    from backends import make_backend
    from inspector.diagnostics.cache_time import diagnose_cache_time
    from store import Store

    st = Store.open(demo.store)
    with make_backend("ort-cpu", model, demo.contract) as backend:
        return diagnose_cache_time(st, demo.contract, backend, chunk, **kw)


@pytest.fixture(scope="module")
def faithful(demo):
    return diagnose(demo, demo.onnx)


def test_faithful_export_has_no_significant_error_and_an_active_cache(faithful, demo):
    rep = faithful
    assert rep.verdict == {"nature": "none", "activity": "active", "effect": "propagating"}
    assert rep.max_abs < 1e-5 and rep.tolerance["passed"]
    assert rep.summary.startswith("no significant error in the cache")
    assert "harmless" in rep.summary
    # Perturbing the conv cache moves the frames clearly; the unperturbed rerun does not move at all (CPU).
    assert rep.activity.largest["encoder_output"].rel_l2 > 1e-2
    assert rep.activity.probe.noise_floor["encoder_output"].max_abs == 0.0
    # The propagated effect of a ~1e-7 cache difference is far below the frames tolerance.
    assert rep.propagation.max_difference < 1e-2 * rep.propagation.atol
    # cache_last_channel_len in/out of the chunk, as NeMo produced it (1, 4, 7, …).
    assert rep.cache_len_out == demo.cache_lengths[CHUNK] and rep.cache_len_in == demo.cache_lengths[CHUNK - 1]


def test_reference_holds_zeros_at_the_right_end_of_the_conv_cache(faithful):
    """What "padding side" means here: NeMo's non-causal conv cache keeps one frame of its right zero padding in the
    last position, on every chunk — the place where a runtime that mishandles padding leaves junk."""
    assert faithful.distribution.reference_zero_positions == (3,)
    assert faithful.distribution.positions == 4 and faithful.distribution.time_axis == 3
    assert len(faithful.distribution.layer_mean_abs) == 2


def test_padding_side_fault_is_called_a_padding_artefact(demo, planted):
    rep = diagnose(demo, planted["padding"])
    d, s = rep.distribution, rep.significance
    assert d.verdict == "concentrated-right" and d.edge_positions == 1 and d.edge_share > 0.99
    assert s.verdict == "padding-junk" and s.insignificant_error_share > 0.99
    assert rep.verdict["nature"] == "padding-artefact"
    assert rep.summary.startswith("padding-side artefact")
    # Reality of this export: the next chunk reads that zero-padding position (left neighbour of its first frame), so
    # junk there does reach encoder_output — the diagnostic must say so rather than wave it away.
    assert rep.verdict["effect"] == "propagating"
    assert "the next chunk reads that position" in rep.summary
    assert rep.propagation.max_difference > rep.propagation.atol


def test_error_that_feeds_the_next_chunk_is_called_propagating(demo, planted):
    rep = diagnose(demo, planted["scaled"])
    assert rep.distribution.verdict == "spread"
    assert rep.significance.verdict == "real-error" and rep.significance.correlation > 0.9
    assert rep.verdict == {"nature": "real-error", "activity": "active", "effect": "propagating"}
    steps = rep.propagation.steps
    assert [s.chunk for s in steps] == [CHUNK + 1, CHUNK + 2, CHUNK + 3]
    assert steps[0].difference["encoder_output"].max_abs > rep.propagation.atol
    # The backend's own cache makes the next chunk worse than the reference's cache does.
    assert steps[0].error_a > 10 * steps[0].error_b


def test_disconnected_cache_input_is_called_inactive_and_non_propagating(demo, planted):
    rep = diagnose(demo, planted["disconnected"])
    assert rep.verdict["activity"] == "inactive"
    assert rep.activity.largest["encoder_output"].max_abs == 0.0
    assert rep.verdict["effect"] == "non-propagating"
    assert rep.propagation.max_difference == 0.0
    assert "non-propagating because the cache_last_time input is inactive" in rep.summary
    # Layer 0's cache output never depended on its cache input here; layer 1's now misses layer 0's conv context.
    assert rep.distribution.verdict == "concentrated-layer" and rep.distribution.layer_share[1] > 0.99


def test_first_chunk_all_zero_cache_still_probed_with_noise(demo):
    rep = diagnose(demo, demo.onnx, chunk=0, propagation_chunks=1)
    assert rep.cache_len_in == 0
    assert rep.verdict["activity"] == "active"
    zeros = next(v for v in rep.activity.probe.variants if v.kind == "zeros")
    assert zeros.input_change_rms == 0.0  # zeroing an all-zero cache tests nothing, and is not counted
    assert "all zeros on this chunk" in rep.activity.text


def test_report_is_strict_json(faithful):
    doc = json.loads(json.dumps(faithful.to_dict(), allow_nan=False))
    assert doc["kind"] == "cache-time" and set(doc["checks"]) == {"distribution", "significance", "activity",
                                                                  "propagation"}
    assert doc["cache_last_channel_len"]["out"] == faithful.cache_len_out


def test_cli_writes_the_diagnosis(demo, planted, tmp_path):
    from click.testing import CliRunner

    from inspector.cli import cli

    out = tmp_path / "diag.json"
    res = CliRunner().invoke(cli, ["diagnose", "cache-time", "--store", str(demo.store), "--model",
                                   str(planted["disconnected"]), "--contract", "demo_streaming", "--backend",
                                   "ort-cpu", "--chunk", str(CHUNK), "--propagation-chunks", "2", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "verdict: " in res.output and "inactive" in res.output
    doc = json.loads(out.read_text(), parse_constant=_no_nan)
    assert doc["verdict"]["activity"] == "inactive" and len(doc["checks"]["propagation"]["steps"]) == 2


# --- the numerics on arrays -------------------------------------------------------------------------------------------
def _cache(rng: np.random.Generator) -> np.ndarray:
    ref = rng.standard_normal((1, 2, 16, 8)).astype(np.float32)
    ref[..., 7] = 0.0  # padding at the right end
    return ref


def test_distribution_left_edge_and_spread():
    rng = np.random.default_rng(0)
    ref = _cache(rng)
    axes = CacheAxes.from_spec(4, ("batch", "layer", "channel", "time"))
    left = ref.copy()
    left[..., :2] += 0.3
    d = distribution_check(left, ref, axes)
    assert (d.verdict, d.edge, d.edge_positions) == ("concentrated-left", "left", 2)
    spread = ref + 1e-3 * rng.standard_normal(ref.shape).astype(np.float32) * (ref != 0)
    d = distribution_check(spread, ref, axes)
    assert d.verdict == "spread" and d.reference_zero_positions == (7,)
    assert distribution_check(ref, ref, axes).verdict == "none"


def test_significance_separates_junk_from_real_error():
    rng = np.random.default_rng(1)
    ref = _cache(rng)
    junk = ref.copy()
    junk[..., 7] = 0.05
    s = significance_check(junk, ref, 1e-3)
    assert s.verdict == "padding-junk" and s.enrichment > 5
    real = ref * 1.02
    s = significance_check(real, ref, 1e-3)
    assert s.verdict == "real-error" and s.correlation > 0.99


def test_axes_default_to_the_batch_first_export_layout():
    assert CacheAxes.from_spec(4, None) == CacheAxes(time=3, layer=1)
    assert CacheAxes.from_spec(4, ("layer", "batch", "time", "channel")) == CacheAxes(time=2, layer=0)


def test_missing_chunk_is_a_clear_usage_error(demo, capsys):
    from inspector.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["diagnose", "cache-time", "--store", str(demo.store), "--model", str(demo.onnx), "--contract",
              "demo_streaming", "--chunk", "999"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "chunk 999" in err and "complete chunks: 0..49" in err


def _no_nan(name: str):
    """Strict JSON: the bare NaN/Infinity tokens Python's json writes are not JSON."""
    raise ValueError(f"non-standard JSON constant {name}")

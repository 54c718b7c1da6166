"""A chunk a report lists as failing, whose error names the encoder output in a spelling we cannot tie to it, has an
unknown figure: never 'within atol', so the import cannot pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("error", ["encoder_out: max_abs=2.310e-03 mean_abs=1e-04", "output[0] max abs diff 2.3e-03",
                                   "something odd"])
def test_failing_chunk_with_unrecognised_error_never_passes(tmp_path, error):
    doc = json.loads((DATA / "ort_functional_cpu.json").read_text())
    doc["failures"] = [{"chunk": 3, "errors": [error]}]
    doc["failed"], doc["passed"] = 1, doc["total_chunks"] - 1
    doc["pass_rate"] = round(100.0 * doc["passed"] / doc["total_chunks"], 2)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, "-m", "inspector.cli", "import-run", str(report), "--store",
                           str(tmp_path / "s.zarr"), "--contract", "encoder_streaming", "--json", str(tmp_path / "v.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    assert "no encoder_output figure could be read" in proc.stdout + proc.stderr
    text = (tmp_path / "v.json").read_text()
    verdicts = {}

    def walk(x):
        if isinstance(x, dict):
            if "rule" in x and "status" in x:
                verdicts[x["rule"]] = x["status"]
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(text))
    p100 = [r for r in verdicts if "p100" in r.lower() and "encoder" in r.lower()]
    assert p100 and all(verdicts[r] in ("fail", "undetermined") for r in p100), verdicts


def test_cache_only_failures_keep_the_encoder_output_bound(tmp_path):
    """Errors that name a cache say nothing against the encoder output: the seed sample still imports as before."""
    from inspector.importers.reports import other_output as _other_output

    assert _other_output("cache_last_time_out") and _other_output("cache_last_channel_len_out")
    assert not _other_output("encoder_out") and not _other_output("output[0]") and not _other_output("encoder_output")

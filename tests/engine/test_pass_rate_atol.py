"""A pass_rate rule with its own atol judges every chunk at that atol, not at the tolerance set's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_pass_rate_rule_uses_its_own_atol(demo_artifacts, store_copy, tmp_path):
    doc = json.loads(Path(demo_artifacts.contract).read_text())
    doc["acceptance"].append({"id": "eo_within_1e9", "kind": "pass_rate", "tensor": "encoder_output",
                              "threshold": 1.0, "atol": 1e-9})
    contract = tmp_path / "tight.contract.json"
    contract.write_text(json.dumps(doc))
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "inspector.cli", "run", "--batch", "--store", str(store_copy),
                           "--model", str(demo_artifacts.onnx), "--contract", str(contract), "--backend", "ort-cpu",
                           "--chunks", "0:6", "--no-progress", "--report", str(report)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    verdicts = {v["rule"]: v for run in json.loads(report.read_text())["runs"] for v in run["verdicts"]}
    assert verdicts["eo_within_1e9"]["status"] == "fail"

"""Session fixtures every test folder shares: the demo artifacts (tiny NeMo encoder, its ONNX export, a 50-chunk
reference and its store) and the tiny encoder itself.

`demo_artifacts` is built once per test session into pytest's temporary folder, or reused from
``$INSPECTOR_TEST_CACHE`` when that is set (a persistent cache: the build is keyed by versions, so a stale one is
never reused). Building takes ~10 s, mostly importing NeMo.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_artifacts(tmp_path_factory: pytest.TempPathFactory):
    """`inspector.demo.DemoArtifacts`: `.onnx`, `.reference_jsonl`, `.store`, `.contract`, `.nemo_first_chunk_jsonl`."""
    pytest.importorskip("nemo.collections.asr", reason="the demo artifacts need nemo_toolkit[asr]")
    from inspector.demo import build_demo_artifacts

    cache = os.environ.get("INSPECTOR_TEST_CACHE")
    folder = Path(cache) if cache else tmp_path_factory.mktemp("demo-artifacts")
    return build_demo_artifacts(folder)


@pytest.fixture(scope="session")
def tiny_encoder():
    """`backends.nemo.ReferenceModel` of the `tiny` preset at seed 0 (the demo's model). Do not export it (NeMo's
    export leaves the module prepared for tracing); build your own for that."""
    pytest.importorskip("nemo.collections.asr", reason="the tiny encoder needs nemo_toolkit[asr]")
    from backends.nemo import load_reference_model

    return load_reference_model("tiny", seed=0)

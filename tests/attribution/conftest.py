"""Fixtures of the attribution tests: the demo's store, contract and export, and the planted exports (float16 math,
a scaled weight, both) built by `inspector.attribution.planted`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Demo:
    onnx: Path
    store: Path
    contract: object
    stream: str


@pytest.fixture(scope="session")
def demo(demo_artifacts) -> Demo:
    from contracts.load import load_contract
    from store import Store

    if demo_artifacts.store is None:
        pytest.skip("the demo store was not built (store.convert missing)")
    (stream,) = Store.open(demo_artifacts.store).streams()
    return Demo(Path(demo_artifacts.onnx), Path(demo_artifacts.store), load_contract(demo_artifacts.contract), stream)


@pytest.fixture(scope="session")
def planted(demo, tmp_path_factory) -> dict[str, Path]:
    """``precision``, ``bug`` and ``mixed``: the three planted exports of the demo model."""
    from inspector.attribution import planted as p

    d = tmp_path_factory.mktemp("attr-planted")
    return {"precision": p.float16_math(demo.onnx, d / "fp16-math.onnx").path,
            "bug": p.scaled_weight(demo.onnx, d / "scaled-weight.onnx").path,
            "mixed": p.float16_math_and_scaled_weight(demo.onnx, d / "both.onnx").path}

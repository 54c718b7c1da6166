"""Planted causes: edited copies of an FP32 ONNX export whose failures have a known cause, for the attribution tests
and the demo's example runs.

- `float16_math`: every MatMul/Conv/Gemm input rounded through float16 by Cast round trips (a precision problem:
  the upcast step of the ladder removes it);
- `scaled_weight`: one late MatMul weight scaled (by 1.01 by default): a bug that no precision switch removes;
- `float16_math_and_scaled_weight`: both at once (a bug partly hidden behind precision).

Each reads `src`, writes `dst` atomically and returns a `Planted` saying what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.attribution.upcast import candidate_nodes, emulate_reduced_precision, load_model, save_model
from inspector.errors import InspectorError

DEFAULT_SCALE = 1.01


@dataclass(frozen=True)
class Planted:
    """One planted export: where it is, what was done, and the cause the ladder must find."""

    path: Path
    cause: str
    """``precision``, ``bug`` or ``mixed``."""
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "cause": self.cause, "what": self.what}


def _scale_last_matmul_weight(model: Any, factor: float) -> str:
    """Scale the weight initializer of the graph's last MatMul that reads one (the last layer's feed-forward);
    returns the node's name."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type == "MatMul" and any(i in inits for i in n.input)]
    if not nodes:
        raise InspectorError("cannot plant a scaled weight: the graph has no MatMul reading an initializer.")
    node = nodes[-1]
    weight = next(i for i in node.input if i in inits)
    arr = numpy_helper.to_array(inits[weight]).astype(np.float32) * np.float32(factor)
    inits[weight].CopyFrom(numpy_helper.from_array(arr, weight))
    return node.name or weight


def float16_math(src: str | Path, dst: str | Path) -> Planted:
    """Every MatMul/Conv/Gemm input of `src` rounded through float16 (Cast round trips)."""
    model = load_model(src)
    n = len(candidate_nodes(model))
    save_model(emulate_reduced_precision(model), dst)
    return Planted(Path(dst), "precision", f"inputs of all {n} MatMul/Conv/Gemm nodes rounded through float16")


def scaled_weight(src: str | Path, dst: str | Path, factor: float = DEFAULT_SCALE) -> Planted:
    """The last MatMul weight of `src` scaled by `factor`."""
    model = load_model(src)
    node = _scale_last_matmul_weight(model, factor)
    save_model(model, dst)
    return Planted(Path(dst), "bug", f"weight of {node} scaled by {factor:g}")


def float16_math_and_scaled_weight(src: str | Path, dst: str | Path, factor: float = DEFAULT_SCALE) -> Planted:
    """Both faults: the scaled weight, then float16 round trips on every MatMul/Conv/Gemm input."""
    model = load_model(src)
    node = _scale_last_matmul_weight(model, factor)
    n = len(candidate_nodes(model))
    save_model(emulate_reduced_precision(model), dst)
    return Planted(Path(dst), "mixed", f"weight of {node} scaled by {factor:g}, and inputs of all {n} "
                                       "MatMul/Conv/Gemm nodes rounded through float16")

"""Planted faults: edited copies of the demo's ONNX export (real graph edits with `onnx`, run by real ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _retarget_output(model: onnx.ModelProto, output: str) -> str:
    """Rename the tensor that produces graph output `output` to `<output>__raw`; returns the new name."""
    raw = f"{output}__raw"
    for node in model.graph.node:
        node.output[:] = [raw if o == output else o for o in node.output]
        node.input[:] = [raw if i == output else i for i in node.input]
    return raw


def perturb_weight(src: Path, dst: Path, noise: float = 0.05, seed: int = 0) -> str:
    """Add Gaussian noise (std `noise`) to the last MatMul weight of the graph (the last layer's feed-forward);
    returns the initializer's name. 0.05 moves encoder_output by ~0.3 on the demo model."""
    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    name = [n.input[1] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits][-1]
    arr = numpy_helper.to_array(inits[name])
    rng = np.random.default_rng(seed)
    inits[name].CopyFrom(numpy_helper.from_array((arr + noise * rng.standard_normal(arr.shape)).astype(np.float32), name))
    onnx.save(model, str(dst))
    return name


def scale_output(src: Path, dst: Path, output: str, scale: float) -> None:
    """Multiply one graph output by `scale` (e.g. a cache output: wrong only when fed back)."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, output)
    model.graph.initializer.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{output}__scale"))
    model.graph.node.append(helper.make_node("Mul", [raw, f"{output}__scale"], [output], name=f"{output}__fault"))
    onnx.save(model, str(dst))


def nan_on_first_chunk(src: Path, dst: Path, first_frames: int = 41) -> None:
    """encoder_output += 0 * log(length - first_frames): NaN (0 * -inf) on the 41-frame first chunk only."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, "encoder_output")
    g = model.graph
    g.initializer.append(numpy_helper.from_array(np.array([first_frames], dtype=np.int64), "nan__first"))
    g.initializer.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "nan__zero"))
    g.node.extend([
        helper.make_node("Sub", ["length", "nan__first"], ["nan__d"]),
        helper.make_node("Cast", ["nan__d"], ["nan__df"], to=TensorProto.FLOAT),
        helper.make_node("Log", ["nan__df"], ["nan__log"]),
        helper.make_node("Mul", ["nan__log", "nan__zero"], ["nan__z"]),
        helper.make_node("Unsqueeze", ["nan__z", "nan__axes"], ["nan__z3"]),
        helper.make_node("Add", [raw, "nan__z3"], ["encoder_output"]),
    ])
    g.initializer.append(numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "nan__axes"))
    onnx.save(model, str(dst))


def raise_on_first_chunk(src: Path, dst: Path, later_frames: int = 57) -> None:
    """Reshape a 57-element constant to shape `length`: fine for 57-frame chunks, a runtime error on the first."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, "encoder_output")
    g = model.graph
    g.initializer.append(numpy_helper.from_array(np.zeros(later_frames, dtype=np.float32), "err__c"))
    g.node.extend([
        helper.make_node("Reshape", ["err__c", "length"], ["err__r"]),
        helper.make_node("ReduceSum", ["err__r"], ["err__s"], keepdims=0),
        helper.make_node("Add", [raw, "err__s"], ["encoder_output"]),
    ])
    onnx.save(model, str(dst))

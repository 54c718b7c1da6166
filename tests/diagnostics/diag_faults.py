"""Planted faults: edited copies of an ONNX export, each breaking one thing the diagnostics must name.

Each function reads `src`, writes the edited model to `dst` and returns `dst` (plus what it changed where useful).
They edit the graph with `onnx` only, so the faulty model runs on any ONNX runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _retarget_output(model: onnx.ModelProto, output: str) -> str:
    """Rename the tensor that feeds graph output `output` to a fresh name; return that name."""
    inner = f"{output}__before_fault"
    for node in model.graph.node:
        node.output[:] = [inner if o == output else o for o in node.output]
        node.input[:] = [inner if i == output else i for i in node.input]
    return inner


def add_to_output_positions(src: Path, dst: Path, output: str, value: float, positions: tuple[int, ...],
                            axis: int = -1, rank: int = 4, size: int = 4) -> Path:
    """Add `value` to `output` at `positions` along `axis` only (a padding-side fault when the positions are the
    end of the cache's time axis, where NeMo's export writes zeros)."""
    model = onnx.load(str(src))
    inner = _retarget_output(model, output)
    delta = np.zeros([1] * rank, dtype=np.float32)
    delta = np.repeat(delta, size, axis=axis)
    idx = [0] * rank
    for p in positions:
        idx[axis] = p
        delta[tuple(idx)] = value
    model.graph.initializer.append(numpy_helper.from_array(delta, f"{output}__fault_delta"))
    model.graph.node.append(helper.make_node("Add", [inner, f"{output}__fault_delta"], [output],
                                             name=f"fault/{output}/add"))
    onnx.save(model, str(dst))
    return dst


def scale_output(src: Path, dst: Path, output: str, factor: float) -> Path:
    """Multiply `output` by `factor` everywhere (an error where the values matter)."""
    model = onnx.load(str(src))
    inner = _retarget_output(model, output)
    model.graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), f"{output}__fault_factor"))
    model.graph.node.append(helper.make_node("Mul", [inner, f"{output}__fault_factor"], [output],
                                             name=f"fault/{output}/mul"))
    onnx.save(model, str(dst))
    return dst


def disconnect_input(src: Path, dst: Path, input_name: str) -> Path:
    """Feed every consumer of graph input `input_name` zeros of its shape instead: the input no longer matters."""
    model = onnx.load(str(src))
    shape, zeros = f"{input_name}__fault_shape", f"{input_name}__fault_zeros"
    for node in model.graph.node:
        node.input[:] = [zeros if i == input_name else i for i in node.input]
    elem = next(i.type.tensor_type.elem_type for i in model.graph.input if i.name == input_name)
    fill = helper.make_tensor("value", elem, [1], [0.0] if elem == onnx.TensorProto.FLOAT else [0])
    new = [helper.make_node("Shape", [input_name], [shape], name="fault/disconnect/shape"),
           helper.make_node("ConstantOfShape", [shape], [zeros], value=fill, name="fault/disconnect/zeros")]
    nodes = new + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(dst))
    return dst


def edit_weight(src: Path, dst: Path, node_name: str, factor: float = 1.5) -> tuple[Path, str, str]:
    """Scale the weight initializer of the node named `node_name` (e.g. one MatMul of one layer) by `factor`.

    Returns:
        `dst`, the node's name and the initializer's name.
    """
    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    node = next(n for n in model.graph.node if n.name == node_name)
    weight = next(i for i in node.input if i in inits)
    users = [n.name for n in model.graph.node if weight in n.input]
    assert users == [node.name], f"initializer {weight} is shared by {users}"
    arr = numpy_helper.to_array(inits[weight]).copy()
    arr *= np.float32(factor)
    inits[weight].CopyFrom(numpy_helper.from_array(arr, weight))
    onnx.save(model, str(dst))
    return dst, node.name, weight


def find_node(model_path: Path, contains: str, op_type: str) -> str:
    """The name of the first node of `op_type` whose name contains `contains`."""
    model = onnx.load(str(model_path), load_external_data=False)
    return next(n.name for n in model.graph.node if n.op_type == op_type and contains in n.name)

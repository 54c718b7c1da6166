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


def _input_gate(g: onnx.GraphProto, prefix: str, op: str, value: int) -> str:
    """A bool tensor `cache_last_channel_len <op> value`: the chunk index in disguise (the demo's cache length
    input is 3k - 2 on chunk k >= 1), so a fault can hit chosen chunks only."""
    g.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64), f"{prefix}__at"))
    g.node.append(helper.make_node(op, ["cache_last_channel_len", f"{prefix}__at"], [f"{prefix}__gate"]))
    return f"{prefix}__gate"


def error_on_late_chunks(src: Path, dst: Path, len_above: int = 130, value: float = 0.01) -> None:
    """encoder_output += `value` on chunks whose cache length input exceeds `len_above` (chunk 45 on: a fault that
    appears only late in the stream)."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, "encoder_output")
    g = model.graph
    gate = _input_gate(g, "late", "Greater", len_above)
    g.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), "late__v"))
    g.node.extend([
        helper.make_node("Cast", [gate], ["late__f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["late__f", "late__v"], ["late__add"]),
        helper.make_node("Add", [raw, "late__add"], ["encoder_output"]),
    ])
    onnx.save(model, str(dst))


def add_constant(src: Path, dst: Path, output: str, value: float) -> None:
    """output += value (same dtype as the output), on every chunk."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, output)
    elem = next(o.type.tensor_type.elem_type for o in model.graph.output if o.name == output)
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    model.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=dtype), f"{output}__c"))
    model.graph.node.append(helper.make_node("Add", [raw, f"{output}__c"], [output], name=f"{output}__fault"))
    onnx.save(model, str(dst))


def cast_output(src: Path, dst: Path, output: str, to: int) -> None:
    """Declare and compute `output` in another element type (e.g. TensorProto.FLOAT16, TensorProto.INT32)."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, output)
    model.graph.node.append(helper.make_node("Cast", [raw], [output], to=to))
    for o in model.graph.output:
        if o.name == output:
            o.type.tensor_type.elem_type = to
    onnx.save(model, str(dst))


def inf_on_chunk(src: Path, dst: Path, cache_len: int = 58) -> None:
    """encoder_output += +inf on the chunk whose cache length input is `cache_len` (chunk 20): Inf, not NaN."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, "encoder_output")
    g = model.graph
    gate = _input_gate(g, "inf", "Equal", cache_len)
    g.initializer.extend([numpy_helper.from_array(np.array([np.inf], dtype=np.float32), "inf__inf"),
                          numpy_helper.from_array(np.array([0.0], dtype=np.float32), "inf__zero")])
    g.node.extend([
        helper.make_node("Where", [gate, "inf__inf", "inf__zero"], ["inf__add"]),
        helper.make_node("Add", [raw, "inf__add"], ["encoder_output"]),
    ])
    onnx.save(model, str(dst))


def short_frames_on_chunk(src: Path, dst: Path, cache_len: int = 100) -> None:
    """encoder_output keeps 2 of its 3 frames on the chunk whose cache length input is `cache_len` (chunk 34)."""
    model = onnx.load(str(src))
    raw = _retarget_output(model, "encoder_output")
    g = model.graph
    gate = _input_gate(g, "short", "Equal", cache_len)
    g.initializer.extend([numpy_helper.from_array(np.array([v], dtype=np.int64), n)
                          for v, n in ((0, "short__start"), (3, "short__three"), (2, "short__axis"))])
    g.node.extend([
        helper.make_node("Cast", [gate], ["short__i"], to=TensorProto.INT64),
        helper.make_node("Sub", ["short__three", "short__i"], ["short__end"]),
        helper.make_node("Slice", [raw, "short__start", "short__end", "short__axis"], ["encoder_output"]),
    ])
    onnx.save(model, str(dst))


def rename_outputs(src: Path, dst: Path, mapping: dict[str, str]) -> None:
    """Rename graph outputs (e.g. back to NeMo's export names)."""
    model = onnx.load(str(src))
    for node in model.graph.node:
        node.output[:] = [mapping.get(o, o) for o in node.output]
        node.input[:] = [mapping.get(i, i) for i in node.input]
    for o in model.graph.output:
        o.name = mapping.get(o.name, o.name)
    onnx.save(model, str(dst))


def drop_output(src: Path, dst: Path, output: str) -> None:
    """Remove one graph output (the tensor is still computed, just not returned)."""
    model = onnx.load(str(src))
    keep = [o for o in model.graph.output if o.name != output]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    onnx.save(model, str(dst))

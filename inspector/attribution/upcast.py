"""FP32 and reduced-precision copies of an ONNX graph, for the attribution ladder and the layer bisection.

- `upcast`: every float16/bfloat16 element of a graph made float32, the rest untouched: initializers and constant
  attributes converted, ``Cast(to=float16)`` round trips (``x → Cast(float16) → Cast(float) → …``) removed, every
  other Cast to a 16-bit float retargeted to float, ``dtype`` attributes and value-info types raised. Graph inputs and
  outputs keep their declared types (a float16 graph input is cast up on entry, a float16 output down on exit), so
  the copy plugs into the same contract. A graph that holds no 16-bit float anywhere is reported as already FP32.
- `emulate_reduced_precision`: the inverse experiment on an FP32 graph: the float inputs of MatMul/Conv/Gemm nodes
  pass through ``Cast(float16) → Cast(float)`` round trips, so those products see float16-rounded operands while the
  graph stays FP32 and runs on any runtime (the emulation of an FP16 engine used when no FP16 kernel is at hand).
  Nodes listed in ``keep`` stay FP32: that is how the bisection asks "does the chunk pass with these nodes in FP32".

Both work on `onnx.ModelProto` in memory; `save_model` writes one (large models with one external data file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from inspector.errors import InspectorError

REDUCED_OPS = ("MatMul", "Conv", "Gemm")
"""The ops whose inputs reduced precision (TF32, FP16 kernels) rounds; the bisection's candidate nodes."""

EXTERNAL_DATA_OVER = 1 << 30
"""Models larger than this are saved with their weights in one external data file (protobuf's 2 GB limit)."""

ROUND_TRIP_TAG = "fp16_round_trip"
"""Part of the names of the Cast nodes `emulate_reduced_precision` adds (so they are easy to spot in a graph)."""


@dataclass(frozen=True)
class Precision:
    """What 16-bit float content a graph holds.

    Attributes:
        float16_initializers, bfloat16_initializers: Initializer counts.
        casts_to_float16, casts_to_bfloat16: Cast nodes whose target is a 16-bit float.
        round_trips: Of those casts, the ones whose every consumer casts straight back to float.
        constants: Constant/ConstantOfShape nodes holding 16-bit floats.
        io: Graph inputs/outputs declared as 16-bit floats.
    """

    float16_initializers: int = 0
    bfloat16_initializers: int = 0
    casts_to_float16: int = 0
    casts_to_bfloat16: int = 0
    round_trips: int = 0
    constants: int = 0
    io: tuple[str, ...] = ()

    @property
    def is_fp32(self) -> bool:
        return not (self.float16_initializers or self.bfloat16_initializers or self.casts_to_float16
                    or self.casts_to_bfloat16 or self.constants or self.io)

    @property
    def label(self) -> str:
        """``float16 math``, ``bfloat16 math``, ``float16/bfloat16 math`` or ``FP32``."""
        f16 = bool(self.float16_initializers or self.casts_to_float16)
        bf16 = bool(self.bfloat16_initializers or self.casts_to_bfloat16)
        if f16 and bf16:
            return "float16/bfloat16 math"
        if bf16:
            return "bfloat16 math"
        return "FP32" if self.is_fp32 else "float16 math"

    def describe(self) -> str:
        if self.is_fp32:
            return "the graph is already FP32 (no float16/bfloat16 initializers, constants, casts or I/O)"
        parts = []
        for n, what in ((self.float16_initializers, "float16 initializers"),
                        (self.bfloat16_initializers, "bfloat16 initializers"),
                        (self.round_trips, "Cast round trips through a 16-bit float"),
                        (self.casts_to_float16 + self.casts_to_bfloat16 - self.round_trips,
                         "other casts to a 16-bit float"),
                        (self.constants, "16-bit float constants"), (len(self.io), "16-bit float graph inputs/outputs")):
            if n:
                parts.append(f"{n} {what}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"is_fp32": self.is_fp32, "label": self.label, "float16_initializers": self.float16_initializers,
                "bfloat16_initializers": self.bfloat16_initializers, "casts_to_float16": self.casts_to_float16,
                "casts_to_bfloat16": self.casts_to_bfloat16, "round_trips": self.round_trips,
                "constants": self.constants, "io": list(self.io)}


@dataclass
class UpcastReport:
    """What `upcast` changed."""

    initializers: int = 0
    round_trips_removed: int = 0
    casts_retargeted: int = 0
    constants: int = 0
    value_infos: int = 0
    io_bridged: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.initializers, "initializers converted to float32"),
            (self.round_trips_removed, "Cast round trips removed"),
            (self.casts_retargeted, "casts retargeted to float32"),
            (self.constants, "constants converted"))
            if n]
        if self.io_bridged:
            parts.append(f"16-bit graph I/O kept, cast at the boundary: {', '.join(self.io_bridged)}")
        return "; ".join(parts) or "nothing to change"


def load_model(path: str | Path) -> Any:
    """The model with its weights (external data read from the model's folder).

    Raises:
        InspectorError: The file does not exist or is not an ONNX model.
    """
    import onnx

    p = Path(path)
    if not p.exists():
        raise InspectorError(f"model {p} does not exist: pass an ONNX file with --model.")
    try:
        return onnx.load(str(p))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise InspectorError(f"{p} is not a readable ONNX model ({type(exc).__name__}: {exc}).") from exc


def save_model(model: Any, path: str | Path) -> Path:
    """Write `model` to `path` atomically (weights in one ``<name>.data`` file when it is large)."""
    import onnx

    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    if model.ByteSize() > EXTERNAL_DATA_OVER:
        onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=dst.name + ".data")
    else:
        onnx.save_model(model, str(tmp))
    tmp.replace(dst)
    return dst


def _low_types() -> dict[int, str]:
    from onnx import TensorProto

    return {TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16"}


def _graphs(graph: Any) -> Iterator[Any]:
    """`graph` and every subgraph (If/Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _attr(node: Any, name: str) -> Any:
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def _consumers(graph: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            if name:
                out.setdefault(name, []).append(node)
    return out


def _round_trip_casts(graph: Any) -> list[tuple[Any, list[Any]]]:
    """(Cast to a 16-bit float, the Casts back to float that are its only consumers), for each round trip."""
    from onnx import TensorProto

    low = _low_types()
    users = _consumers(graph)
    outputs = {o.name for o in graph.output}
    found = []
    for node in graph.node:
        if node.op_type != "Cast" or _attr(node, "to") is None or _attr(node, "to").i not in low:
            continue
        out = node.output[0]
        back = users.get(out, [])
        if out in outputs or not back:
            continue
        if all(b.op_type == "Cast" and _attr(b, "to") is not None and _attr(b, "to").i == TensorProto.FLOAT
               for b in back):
            found.append((node, back))
    return found


def precision_of(model: Any) -> Precision:
    """The 16-bit float content of `model` (all subgraphs included)."""
    from onnx import TensorProto

    low = _low_types()
    f16 = bf16 = c16 = cb16 = trips = consts = 0
    for g in _graphs(model.graph):
        for init in g.initializer:
            f16 += init.data_type == TensorProto.FLOAT16
            bf16 += init.data_type == TensorProto.BFLOAT16
        for node in g.node:
            to = _attr(node, "to")
            if node.op_type == "Cast" and to is not None:
                c16 += to.i == TensorProto.FLOAT16
                cb16 += to.i == TensorProto.BFLOAT16
            if node.op_type in ("Constant", "ConstantOfShape"):
                value = _attr(node, "value")
                if value is not None and value.HasField("t") and value.t.data_type in low:
                    consts += 1
        trips += len(_round_trip_casts(g))
    io = tuple(v.name for v in (*model.graph.input, *model.graph.output)
               if v.type.tensor_type.elem_type in low)
    return Precision(f16, bf16, c16, cb16, trips, consts, io)


def _to_float32(tensor: Any) -> Any:
    import numpy as np
    from onnx import numpy_helper

    arr = numpy_helper.to_array(tensor).astype(np.float32)
    return numpy_helper.from_array(arr, tensor.name)


def upcast(model: Any) -> tuple[Any, UpcastReport]:
    """A float32 copy of `model` (see the module docstring); `model` itself is not changed."""
    import onnx
    from onnx import TensorProto, helper

    low = _low_types()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    rep = UpcastReport()
    for g in _graphs(m.graph):
        # 1. round trips: consumers of the Cast back read the original tensor (one rebuild of the node list:
        #    protobuf copies messages on extend, so node references do not survive a rebuild)
        trips = _round_trip_casts(g)
        if trips:
            graph_outs = {o.name for o in g.output}
            renamed: dict[str, str] = {}
            drop: set[str] = set()
            bridge: dict[str, str] = {}  # a Cast back that is a graph output keeps its name, reading the original
            for first, backs in trips:
                drop.add(first.output[0])
                for b in backs:
                    if b.output[0] in graph_outs:
                        bridge[b.output[0]] = first.input[0]
                    else:
                        renamed[b.output[0]] = first.input[0]
                        drop.add(b.output[0])
            kept = []
            for node in g.node:
                if node.output and node.output[0] in drop:
                    continue
                copy = onnx.NodeProto()
                copy.CopyFrom(node)
                if copy.output and copy.output[0] in bridge:
                    copy.input[0] = bridge[copy.output[0]]
                copy.input[:] = [renamed.get(i, i) for i in copy.input]
                kept.append(copy)
            del g.node[:]
            g.node.extend(kept)
            rep.round_trips_removed += len(trips)
        # 2. 16-bit initializers, constants and type attributes
        for i, init in enumerate(g.initializer):
            if init.data_type in low:
                g.initializer[i].CopyFrom(_to_float32(init))
                rep.initializers += 1
        for node in g.node:
            for a in node.attribute:
                if a.HasField("t") and a.t.data_type in low:
                    a.t.CopyFrom(_to_float32(a.t))
                    rep.constants += 1
                if a.name in ("to", "dtype") and a.type == onnx.AttributeProto.INT and a.i in low:
                    a.i = TensorProto.FLOAT
                    rep.casts_retargeted += 1
        for vi in g.value_info:
            if vi.type.tensor_type.elem_type in low:
                vi.type.tensor_type.elem_type = TensorProto.FLOAT
                rep.value_infos += 1
    # 3. 16-bit graph inputs/outputs keep their declared type, bridged by a Cast at the boundary
    g = m.graph
    new_front, new_back = [], []
    for inp in g.input:
        if inp.type.tensor_type.elem_type in low:
            up = f"{inp.name}__upcast"
            for node in g.node:
                node.input[:] = [up if x == inp.name else x for x in node.input]
            new_front.append(helper.make_node("Cast", [inp.name], [up], to=TensorProto.FLOAT,
                                              name=f"upcast/{inp.name}"))
            rep.io_bridged.append(inp.name)
    for out in g.output:
        elem = out.type.tensor_type.elem_type
        if elem in low:
            raw = f"{out.name}__fp32"
            for node in g.node:
                node.output[:] = [raw if x == out.name else x for x in node.output]
                node.input[:] = [raw if x == out.name else x for x in node.input]
            new_back.append(helper.make_node("Cast", [raw], [out.name], to=elem, name=f"downcast/{out.name}"))
            rep.io_bridged.append(out.name)
    if new_front or new_back:
        nodes = new_front + list(g.node) + new_back
        del g.node[:]
        g.node.extend(nodes)
    return m, rep


def candidate_nodes(model: Any, ops: Iterable[str] = REDUCED_OPS) -> list[str]:
    """Names of the nodes (top-level graph, graph order) of the given op types; unnamed nodes get ``#<index>``."""
    wanted = set(ops)
    return [node_name(n, i) for i, n in enumerate(model.graph.node) if n.op_type in wanted]


def node_name(node: Any, index: int) -> str:
    return node.name or f"#{index}"


def _non_float_tensors(model: Any) -> set[str]:
    """Tensors known *not* to be float32 (initializers, graph I/O, shape inference); unknown ones count as float."""
    import onnx
    from onnx import TensorProto

    known: dict[str, int] = {}
    for init in model.graph.initializer:
        known[init.name] = init.data_type
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        vis = (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
    except Exception:  # noqa: BLE001 — inference only narrows which inputs get a round trip
        vis = (*model.graph.value_info, *model.graph.input, *model.graph.output)
    for vi in vis:
        if vi.type.tensor_type.elem_type:
            known.setdefault(vi.name, vi.type.tensor_type.elem_type)
    return {name for name, t in known.items() if t != TensorProto.FLOAT}


def emulate_reduced_precision(model: Any, keep: Iterable[str] = (), ops: Iterable[str] = REDUCED_OPS,
                              to: str = "float16") -> Any:
    """A copy of FP32 `model` whose `ops` nodes (except those named in `keep`) read float16-rounded inputs.

    Every float input of such a node (activations and weights alike) passes through its own
    ``Cast(to) → Cast(float)`` pair. Inputs known not to be float32 are left alone.

    Raises:
        InspectorError: `to` is not float16 or bfloat16.
    """
    import onnx
    from onnx import TensorProto, helper

    target = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}.get(to)
    if target is None:
        raise InspectorError(f"reduced precision {to!r}. Note: valid choices are float16, bfloat16.")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    not_float = _non_float_tensors(m)
    keep_set, wanted = set(keep), set(ops)
    nodes = []
    for i, node in enumerate(m.graph.node):
        name = node_name(node, i)
        if node.op_type in wanted and name not in keep_set:
            for slot, inp in enumerate(node.input):
                if not inp or inp in not_float:
                    continue
                low, back = f"{name}/{ROUND_TRIP_TAG}/in{slot}/{to}", f"{name}/{ROUND_TRIP_TAG}/in{slot}/float"
                nodes.append(helper.make_node("Cast", [inp], [low], to=target, name=low))
                nodes.append(helper.make_node("Cast", [low], [back], to=TensorProto.FLOAT, name=back))
                node.input[slot] = back
        nodes.append(node)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m

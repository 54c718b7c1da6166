"""`upcast` on graphs other tools write: bfloat16 weights behind Cast round trips, float16 graph I/O (an FP16
export without ``keep_io_types``), a float16 Constant node. Each upcast copy must hold no 16-bit float, keep its
interface, and run in ONNX Runtime with the FP32 result of the same (rounded) weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from inspector.attribution.upcast import precision_of, upcast


def _run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def _model(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_bfloat16_weights_and_round_trips_become_float32():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    w_bf16 = helper.make_tensor("W", TensorProto.BFLOAT16, w.shape, w.reshape(-1).tolist())
    nodes = [helper.make_node("Cast", ["X"], ["Xb"], to=TensorProto.BFLOAT16),
             helper.make_node("Cast", ["Xb"], ["Xf"], to=TensorProto.FLOAT),  # a round trip on the activation
             helper.make_node("Cast", ["W"], ["Wf"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["Xf", "Wf"], ["Y"])]
    m = _model(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 4])],
               [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3])], [w_bf16])
    p = precision_of(m)
    assert p.label == "bfloat16 math" and p.bfloat16_initializers == 1 and p.round_trips == 1
    up, rep = upcast(m)
    assert precision_of(up).is_fp32 and rep.round_trips_removed == 1 and rep.initializers == 1
    x = rng.standard_normal((2, 4)).astype(np.float32)
    w_rounded = numpy_helper.to_array(w_bf16).astype(np.float32)  # the weights stay as stored (bf16-rounded)
    np.testing.assert_allclose(_run(up, {"X": x}), x @ w_rounded, rtol=1e-6, atol=1e-6)


def test_float16_graph_io_is_kept_and_bridged_and_constants_are_converted():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3)).astype(np.float16)
    nodes = [helper.make_node("Constant", [], ["S"], value=numpy_helper.from_array(np.array(0.5, np.float16))),
             helper.make_node("MatMul", ["X", "W"], ["P"]),
             helper.make_node("Mul", ["P", "S"], ["Y"])]
    m = _model(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT16, [2, 4])],
               [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, [2, 3])], [numpy_helper.from_array(w, "W")])
    p = precision_of(m)
    assert set(p.io) == {"X", "Y"} and p.constants == 1 and p.float16_initializers == 1
    up, rep = upcast(m)
    onnx.checker.check_model(up)
    assert sorted(rep.io_bridged) == ["X", "Y"] and rep.constants == 1
    assert [i.type.tensor_type.elem_type for i in up.graph.input] == [TensorProto.FLOAT16]
    assert [o.type.tensor_type.elem_type for o in up.graph.output] == [TensorProto.FLOAT16]
    inner = precision_of(up)
    assert not (inner.float16_initializers or inner.constants) and inner.casts_to_float16 == 1  # the output bridge
    x = rng.standard_normal((2, 4)).astype(np.float16)
    want = ((x.astype(np.float32) @ w.astype(np.float32)) * 0.5).astype(np.float16)
    np.testing.assert_array_equal(_run(up, {"X": x}), want)
